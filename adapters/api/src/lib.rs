//! The REST query API (`/api/*`), built with poem-openapi so the OpenAPI document is generated
//! from the code and committed at `openapi/openapi.yaml`.
//!
//! Every route is tenant-scoped: the tenant bound to the caller's credential, else the
//! `X-Tenant-ID` header, else the default tenant. Errors are JSON `{"error": "...", "detail": ...}`.

mod views;

use otelcontext_domain::{TenantId, TraceId};
use otelcontext_ports::{Identity, Queries, QueryError};
use poem::Request;
use poem_openapi::param::{Header, Path};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi, OpenApiService, Tags};
use std::sync::Arc;

pub use views::{LogView, SpanView, StatsView, TraceView};

/// JSON error body of every failed request.
#[derive(Debug, Clone, PartialEq, Object)]
pub struct ErrorBody {
    /// Short, stable description of the problem.
    pub error: String,
    /// More detail when available.
    #[oai(skip_serializing_if_is_none)]
    pub detail: Option<String>,
}

impl ErrorBody {
    fn new(error: impl Into<String>, detail: Option<String>) -> Json<Self> {
        Json(Self { error: error.into(), detail })
    }
}

#[derive(Tags)]
enum ApiTags {
    /// Traces and spans.
    Traces,
    /// Counts and health of the stored data.
    Stats,
}

#[derive(ApiResponse)]
enum TraceResponse {
    /// The trace with its spans (by start time) and correlated logs.
    #[oai(status = 200)]
    Ok(Json<TraceView>),
    /// The trace id or tenant is malformed.
    #[oai(status = 400)]
    BadRequest(Json<ErrorBody>),
    /// No such trace for this tenant.
    #[oai(status = 404)]
    NotFound(Json<ErrorBody>),
    /// The database is unavailable; retry later.
    #[oai(status = 503)]
    Unavailable(Json<ErrorBody>),
    /// Unexpected failure.
    #[oai(status = 500)]
    Internal(Json<ErrorBody>),
}

#[derive(ApiResponse)]
enum StatsResponse {
    /// Row counts of the tenant.
    #[oai(status = 200)]
    Ok(Json<StatsView>),
    /// The tenant is malformed.
    #[oai(status = 400)]
    BadRequest(Json<ErrorBody>),
    /// The database is unavailable; retry later.
    #[oai(status = 503)]
    Unavailable(Json<ErrorBody>),
    /// Unexpected failure.
    #[oai(status = 500)]
    Internal(Json<ErrorBody>),
}

/// The query API over the `Queries` use case.
pub struct QueryApi {
    queries: Arc<dyn Queries>,
    default_tenant: TenantId,
}

enum Failure {
    BadRequest(Json<ErrorBody>),
    Unavailable(Json<ErrorBody>),
    Internal(Json<ErrorBody>),
}

impl From<QueryError> for Failure {
    fn from(e: QueryError) -> Self {
        match e {
            QueryError::Unavailable(m) => Failure::Unavailable(ErrorBody::new("database unavailable", Some(m))),
            QueryError::Internal(m) => {
                tracing::error!(error = %m, "query failed");
                Failure::Internal(ErrorBody::new("internal error", None))
            }
        }
    }
}

impl QueryApi {
    /// The API over `queries`; requests without a tenant use `default_tenant`.
    pub fn new(queries: Arc<dyn Queries>, default_tenant: TenantId) -> Self {
        Self { queries, default_tenant }
    }

    fn tenant(&self, req: &Request, header: Option<&str>) -> Result<TenantId, Failure> {
        if let Some(bound) = req.extensions().get::<Identity>().and_then(|i| i.tenant.clone()) {
            return Ok(bound);
        }
        match header {
            Some(raw) if !raw.trim().is_empty() => TenantId::parse(raw)
                .map_err(|e| Failure::BadRequest(ErrorBody::new("invalid tenant id", Some(e.to_string())))),
            _ => Ok(self.default_tenant.clone()),
        }
    }
}

#[OpenApi]
impl QueryApi {
    /// Get a trace by id, with its spans and the logs correlated with it.
    #[oai(path = "/traces/:trace_id", method = "get", tag = "ApiTags::Traces", operation_id = "getTrace")]
    async fn get_trace(
        &self,
        req: &Request,
        /// Trace id: 32 hexadecimal characters.
        trace_id: Path<String>,
        /// Tenant to read from (default tenant when absent; ignored when the credential is bound to a tenant).
        #[oai(name = "X-Tenant-ID")]
        x_tenant_id: Header<Option<String>>,
    ) -> TraceResponse {
        let tenant = match self.tenant(req, x_tenant_id.0.as_deref()) {
            Ok(t) => t,
            Err(f) => return f.into(),
        };
        let id = match TraceId::parse_hex(trace_id.0.trim()) {
            Ok(id) => id,
            Err(e) => return TraceResponse::BadRequest(ErrorBody::new("invalid trace id", Some(e.to_string()))),
        };
        match self.queries.trace(&tenant, &id).await {
            Ok(Some(trace)) => TraceResponse::Ok(Json(TraceView::from(&trace))),
            Ok(None) => TraceResponse::NotFound(ErrorBody::new("trace not found", Some(id.to_hex()))),
            Err(e) => Failure::from(e).into(),
        }
    }

    /// Row counts of the tenant: traces, spans, logs, metric points, error traces.
    #[oai(path = "/stats", method = "get", tag = "ApiTags::Stats", operation_id = "getStats")]
    async fn get_stats(
        &self,
        req: &Request,
        /// Tenant to read from (default tenant when absent; ignored when the credential is bound to a tenant).
        #[oai(name = "X-Tenant-ID")]
        x_tenant_id: Header<Option<String>>,
    ) -> StatsResponse {
        let tenant = match self.tenant(req, x_tenant_id.0.as_deref()) {
            Ok(t) => t,
            Err(f) => return f.into(),
        };
        match self.queries.stats(&tenant).await {
            Ok(c) => StatsResponse::Ok(Json(StatsView::from(c))),
            Err(e) => Failure::from(e).into(),
        }
    }
}

impl From<Failure> for TraceResponse {
    fn from(f: Failure) -> Self {
        match f {
            Failure::BadRequest(b) => Self::BadRequest(b),
            Failure::Unavailable(b) => Self::Unavailable(b),
            Failure::Internal(b) => Self::Internal(b),
        }
    }
}

impl From<Failure> for StatsResponse {
    fn from(f: Failure) -> Self {
        match f {
            Failure::BadRequest(b) => Self::BadRequest(b),
            Failure::Unavailable(b) => Self::Unavailable(b),
            Failure::Internal(b) => Self::Internal(b),
        }
    }
}

/// Title of the OpenAPI document.
pub const API_TITLE: &str = "otelcontext query API";

/// The OpenAPI service, mounted under `/api`.
pub fn service(api: QueryApi) -> OpenApiService<QueryApi, ()> {
    OpenApiService::new(api, API_TITLE, env!("CARGO_PKG_VERSION"))
        .server("/api")
        .description("Read traces, logs and metrics stored by otelcontext. Every route is scoped to one tenant.")
}

/// The OpenAPI document (YAML) as committed in `openapi/openapi.yaml`.
pub fn spec_yaml(queries: Arc<dyn Queries>) -> String {
    service(QueryApi::new(queries, TenantId::parse("default").expect("valid"))).spec_yaml()
}

#[cfg(test)]
mod tests;
