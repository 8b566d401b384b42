//! The REST query API (`/api/*`), built with poem-openapi so the OpenAPI document is generated
//! from the code and committed at `openapi/openapi.yaml`.
//!
//! Every route is tenant-scoped: the tenant bound to the caller's credential, else the
//! `X-Tenant-ID` header, else the default tenant. Errors are JSON `{"error": "...", "detail": ...}`.

mod graph_views;
mod params;
pub mod spec;
mod views;

use otelcontext_domain::{TemplateId, TenantHeaderError, TenantId, TraceId, request_tenant};
use otelcontext_ports::{Cursor, CursorKey, GraphQueries, Identity, LogContextQuery, LogId, Queries, QueryError};
use poem::Request;
use poem_openapi::param::{Header, Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi, OpenApiService, Tags};
use std::sync::Arc;

pub use graph_views::*;
pub use params::{DEFAULT_LOG_LIMIT, MAX_LOG_LIMIT, parse_time};
pub use views::{
    DashboardView, FailingServiceView, HeatCellView, HeatmapView, MetricPointView, MetricSeriesItemView,
    MetricSeriesView, TrafficPointView, TrafficView,
};
pub use views::{
    LogEntryView, LogPageView, LogView, PatternPageView, PatternView, RcaCandidateView, RcaEvidenceView, RcaView,
    SeverityCountsView, SimilarLogView, SimilarLogsView, SpanView, StatsView, StorageStatusView, TailItemView,
    TracePageView, TraceSummaryView, TraceView,
};

/// JSON error body of every failed request.
#[derive(Debug, Clone, PartialEq, Object)]
#[oai(skip_serializing_if_is_none)]
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
    /// Log records and full-text search.
    Logs,
    /// Counts and health of the stored data.
    Stats,
    /// The live service graph: service map, root causes, impact, error chains, anomalies,
    /// investigations and snapshots.
    Graph,
    /// Names in use: services, their operations, metrics.
    Metadata,
    /// Metric series and trace aggregates: dashboard, traffic, latency heat map.
    Metrics,
    /// Administration of the caller's tenant (needs the admin key).
    Admin,
    /// The caller's tenant as OTLP/JSON lines.
    Export,
}

/// The query API over the `Queries` and `GraphQueries` use cases.
pub struct QueryApi {
    queries: Arc<dyn Queries>,
    graph: Arc<dyn GraphQueries>,
    default_tenant: TenantId,
    /// Signs the cursors of list routes (bound to the tenant and the route).
    cursor_key: CursorKey,
    /// The live tail of log records, when the server runs one.
    tail: Option<Arc<dyn otelcontext_ports::LogTail>>,
    /// The admin routes' use cases, when the server offers them.
    admin: Option<Arc<dyn otelcontext_ports::Admin>>,
    /// Export of a tenant's records, when the server offers it.
    export: Option<Arc<dyn otelcontext_ports::Export>>,
    /// The server's readiness checks, for `GET /api/health`.
    readiness: Option<Arc<dyn otelcontext_ports::Readiness>>,
    /// When the API was built (the server's start), for the uptime.
    started: std::time::Instant,
}

enum Failure {
    BadRequest(Json<ErrorBody>),
    Forbidden(Json<ErrorBody>),
    NotFound(Json<ErrorBody>),
    Unavailable(Json<ErrorBody>),
    Internal(Json<ErrorBody>),
}

impl Failure {
    fn bad(error: &str, detail: impl Into<String>) -> Self {
        Failure::BadRequest(ErrorBody::new(error, Some(detail.into())))
    }
}

impl From<(&'static str, String)> for Failure {
    fn from((error, detail): (&'static str, String)) -> Self {
        Failure::bad(error, detail)
    }
}

impl From<QueryError> for Failure {
    fn from(e: QueryError) -> Self {
        match e {
            QueryError::InvalidArgument(m) => Failure::BadRequest(ErrorBody::new("invalid argument", Some(m))),
            QueryError::NotFound(m) => Failure::NotFound(ErrorBody::new("not found", Some(m))),
            QueryError::Unavailable(m) => Failure::Unavailable(ErrorBody::new("database unavailable", Some(m))),
            QueryError::Internal(m) => {
                tracing::error!(error = %m, "query failed");
                Failure::Internal(ErrorBody::new("internal error", None))
            }
        }
    }
}

impl QueryApi {
    /// The API over `queries` and the live `graph`; requests without a tenant use
    /// `default_tenant`.
    pub fn new(queries: Arc<dyn Queries>, graph: Arc<dyn GraphQueries>, default_tenant: TenantId) -> Self {
        Self {
            queries,
            graph,
            default_tenant,
            cursor_key: CursorKey::random(),
            tail: None,
            admin: None,
            export: None,
            readiness: None,
            started: std::time::Instant::now(),
        }
    }

    /// Serves `GET /api/logs/tail` from `tail`.
    pub fn with_log_tail(mut self, tail: Arc<dyn otelcontext_ports::LogTail>) -> Self {
        self.tail = Some(tail);
        self
    }

    /// Serves the admin routes from `admin` (which checks the admin key).
    pub fn with_admin(mut self, admin: Arc<dyn otelcontext_ports::Admin>) -> Self {
        self.admin = Some(admin);
        self
    }

    /// Answers `GET /api/health` with `readiness`'s checks.
    pub fn with_readiness(mut self, readiness: Arc<dyn otelcontext_ports::Readiness>) -> Self {
        self.readiness = Some(readiness);
        self
    }

    /// Serves `GET /api/export` from `export`.
    pub fn with_export(mut self, export: Arc<dyn otelcontext_ports::Export>) -> Self {
        self.export = Some(export);
        self
    }

    /// Signs cursors with `key` (e.g. from a configured secret) instead of a random key.
    pub fn with_cursor_key(mut self, key: CursorKey) -> Self {
        self.cursor_key = key;
        self
    }

    /// The tenant, window and limit of a metadata list.
    fn names_request(
        &self,
        req: &Request,
        x_tenant_id: &Header<Option<String>>,
        start: Query<Option<String>>,
        end: Query<Option<String>>,
        time_range: Query<Option<String>>,
        limit: Query<Option<i64>>,
    ) -> Result<(TenantId, (otelcontext_ports::TimeRange, usize)), Failure> {
        let tenant = self.tenant(req, x_tenant_id.0.as_deref())?;
        let window = params::names_query(start.0, end.0, time_range.0, limit.0, now_ns())
            .map_err(|(error, detail)| Failure::bad(error, detail))?;
        Ok((tenant, window))
    }

    /// The cursor a client gets to continue `route` of `tenant`.
    fn seal(&self, cursor: Cursor, tenant: &TenantId, route: &str) -> String {
        cursor.seal(&self.cursor_key, &[tenant.as_str(), route])
    }

    /// The `cursor` parameter of `route`, when it was issued to `tenant` for that route.
    fn open(&self, cursor: Option<String>, tenant: &TenantId, route: &str) -> Result<Option<Cursor>, Failure> {
        let Some(text) = cursor.map(|c| c.trim().to_owned()).filter(|c| !c.is_empty()) else { return Ok(None) };
        Cursor::open(&text, &self.cursor_key, &[tenant.as_str(), route]).map(Some).map_err(|_| {
            Failure::bad("invalid cursor", "use the next_cursor of a previous page of the same query and tenant")
        })
    }

    /// The tenant the request acts as (see [`request_tenant`]): a credential bound to a tenant
    /// acting as another is 403, a malformed header 400.
    fn tenant(&self, req: &Request, header: Option<&str>) -> Result<TenantId, Failure> {
        let bound = req.extensions().get::<Identity>().and_then(|i| i.tenant.as_ref());
        match request_tenant(bound, header) {
            Ok(t) => Ok(t.unwrap_or_else(|| self.default_tenant.clone())),
            Err(e @ TenantHeaderError::NotYours { .. }) => {
                Err(Failure::Forbidden(ErrorBody::new("forbidden tenant", Some(e.to_string()))))
            }
            Err(TenantHeaderError::Invalid { reason, .. }) => {
                Err(Failure::BadRequest(ErrorBody::new("invalid tenant id", Some(reason.to_string()))))
            }
        }
    }
}

/// Maps failures onto a response enum; routes without a 404 answer NotFound as 500 (they
/// never produce it).
macro_rules! failure_into {
    ($resp:ident, not_found) => {
        impl From<Failure> for $resp {
            fn from(f: Failure) -> Self {
                match f {
                    Failure::BadRequest(b) => Self::BadRequest(b),
                    Failure::Forbidden(b) => Self::Forbidden(b),
                    Failure::NotFound(b) => Self::NotFound(b),
                    Failure::Unavailable(b) => Self::Unavailable(b),
                    Failure::Internal(b) => Self::Internal(b),
                }
            }
        }
    };
    ($resp:ident) => {
        impl From<Failure> for $resp {
            fn from(f: Failure) -> Self {
                match f {
                    Failure::BadRequest(b) => Self::BadRequest(b),
                    Failure::Forbidden(b) => Self::Forbidden(b),
                    Failure::Unavailable(b) => Self::Unavailable(b),
                    Failure::NotFound(_) | Failure::Internal(_) => {
                        Self::Internal(ErrorBody::new("internal error", None))
                    }
                }
            }
        }
    };
}

/// A route's response: `Ok`, and the failures of every tenant-scoped route — 400, 403, 503,
/// 500, and 404 when `not_found` is given — each documented for the spec, with
/// [`Failure`] mapped onto it.
macro_rules! responses {
    ($name:ident, ok($ok:ty): $ok_doc:literal, bad: $bad_doc:literal, unavailable: $un_doc:literal) => {
        #[derive(ApiResponse)]
        enum $name {
            #[doc = $ok_doc]
            #[oai(status = 200)]
            Ok($ok),
            #[doc = $bad_doc]
            #[oai(status = 400)]
            BadRequest(Json<ErrorBody>),
            /// The credential is bound to another tenant than `X-Tenant-ID` names.
            #[oai(status = 403)]
            Forbidden(Json<ErrorBody>),
            #[doc = $un_doc]
            #[oai(status = 503)]
            Unavailable(Json<ErrorBody>),
            /// Unexpected failure.
            #[oai(status = 500)]
            Internal(Json<ErrorBody>),
        }
        failure_into!($name);
    };
    ($name:ident, ok($ok:ty): $ok_doc:literal, bad: $bad_doc:literal, not_found: $nf_doc:literal, unavailable: $un_doc:literal) => {
        // One response per request: its size does not matter.
        #[allow(clippy::large_enum_variant)]
        #[derive(ApiResponse)]
        enum $name {
            #[doc = $ok_doc]
            #[oai(status = 200)]
            Ok($ok),
            #[doc = $bad_doc]
            #[oai(status = 400)]
            BadRequest(Json<ErrorBody>),
            /// The credential is bound to another tenant than `X-Tenant-ID` names.
            #[oai(status = 403)]
            Forbidden(Json<ErrorBody>),
            #[doc = $nf_doc]
            #[oai(status = 404)]
            NotFound(Json<ErrorBody>),
            #[doc = $un_doc]
            #[oai(status = 503)]
            Unavailable(Json<ErrorBody>),
            /// Unexpected failure.
            #[oai(status = 500)]
            Internal(Json<ErrorBody>),
        }
        failure_into!($name, not_found);
    };
}

/// The value of a `Result<_, Failure>`, or the route returns the failure as its response.
macro_rules! or_return {
    ($result:expr) => {
        match $result {
            Ok(v) => v,
            Err(f) => return Failure::from(f).into(),
        }
    };
}

/// Now, in unix nanoseconds (for relative time windows).
fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

/// Title of the OpenAPI document.
pub const API_TITLE: &str = "otelcontext query API";

/// The route groups of the API, one per tag.
pub type Routes = (
    routes::traces::TraceRoutes,
    routes::logs::LogRoutes,
    routes::metadata::MetadataRoutes,
    routes::patterns::PatternRoutes,
    routes::stats::StatsRoutes,
    routes::graph::GraphRoutes,
    routes::metrics::MetricRoutes,
    routes::admin::AdminRoutes,
    routes::export::ExportRoutes,
);

/// The OpenAPI service, mounted under `/api`.
pub fn service(api: QueryApi) -> OpenApiService<Routes, ()> {
    let api = Arc::new(api);
    let routes = (
        routes::traces::TraceRoutes(api.clone()),
        routes::logs::LogRoutes(api.clone()),
        routes::metadata::MetadataRoutes(api.clone()),
        routes::patterns::PatternRoutes(api.clone()),
        routes::stats::StatsRoutes(api.clone()),
        routes::graph::GraphRoutes(api.clone()),
        routes::metrics::MetricRoutes(api.clone()),
        routes::admin::AdminRoutes(api.clone()),
        routes::export::ExportRoutes(api),
    );
    OpenApiService::new(routes, API_TITLE, env!("CARGO_PKG_VERSION"))
        .server("/api")
        .description("Read traces, logs and metrics stored by otelcontext. Every route is scoped to one tenant.")
}

/// `endpoint` (the API service) with every error poem raises before a handler runs — a
/// parameter that does not parse as its type, a missing path, a wrong method — answered as the
/// same JSON `{"error": ..., "detail": ...}` the handlers give, with poem's status.
pub fn with_json_errors<E>(endpoint: E) -> impl poem::Endpoint<Output = poem::Response>
where
    E: poem::IntoEndpoint,
    E::Endpoint: 'static,
{
    use poem::{EndpointExt, IntoResponse};
    endpoint.into_endpoint().map_to_response().catch_all_error(|e: poem::Error| async move {
        let status = e.status();
        // A parameter poem-openapi refused (its type or its documented range): named like the
        // handlers' own refusals, e.g. "invalid limit".
        if let Some(p) = e.downcast_ref::<poem_openapi::error::ParseParamError>() {
            let body = ErrorBody { error: format!("invalid {}", p.name), detail: Some(e.to_string()) };
            return Json(body).with_status(status).into_response();
        }
        let error = if status == poem::http::StatusCode::NOT_FOUND {
            "not found"
        } else if status == poem::http::StatusCode::METHOD_NOT_ALLOWED {
            "method not allowed"
        } else if status.is_client_error() {
            "bad request"
        } else {
            "internal error"
        };
        let detail = status.is_client_error().then(|| e.to_string());
        Json(ErrorBody { error: error.into(), detail }).with_status(status).into_response()
    })
}

/// The OpenAPI document (YAML) as committed in `openapi/openapi.yaml`.
pub fn spec_yaml(queries: Arc<dyn Queries>, graph: Arc<dyn GraphQueries>) -> String {
    let service = service(QueryApi::new(queries, graph, TenantId::parse("default").expect("valid")));
    spec::yaml(&spec::document(&service.spec()))
}

/// Paths under the API's mount point that need no credential: the document and its page.
pub const PUBLIC_PATHS: [&str; 3] = ["/openapi.yaml", "/docs", "/health"];

/// The API to mount under `/api`: the routes (refusing query parameters a route does not take),
/// the OpenAPI document at `/openapi.yaml` and a browsable page of it at `/docs`, every error
/// as JSON. Also returns the document (YAML) and its routes (for labels).
pub fn endpoint(api: QueryApi) -> (impl poem::Endpoint<Output = poem::Response> + 'static, String, spec::QueryParams) {
    use poem::web::Html;
    use poem::{Route, endpoint::make_sync, get};
    let service = service(api);
    let generated = service.spec();
    let doc = spec::document(&generated);
    let yaml = spec::yaml(&doc);
    let html = service
        .rapidoc_html()
        .replace(&generated, &serde_json::to_string_pretty(&doc).unwrap_or_else(|_| generated.clone()));
    let params = spec::QueryParams::of(&doc, "/api");
    let body = yaml.clone();
    let route = Route::new()
        .at(
            "/openapi.yaml",
            get(make_sync(move |_| poem::Response::builder().content_type("application/yaml").body(body.clone()))),
        )
        .at("/docs", get(make_sync(move |_| Html(html.clone()))))
        .nest("/", spec::refusing_unknown_parameters(params.clone(), service));
    (with_json_errors(route), yaml, params)
}

// After the macros it uses.
mod routes;

#[cfg(test)]
mod tests;
