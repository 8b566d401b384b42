//! The REST query API (`/api/*`), built with poem-openapi so the OpenAPI document is generated
//! from the code and committed at `openapi/openapi.yaml`.
//!
//! Every route is tenant-scoped: the tenant bound to the caller's credential, else the
//! `X-Tenant-ID` header, else the default tenant. Errors are JSON `{"error": "...", "detail": ...}`.

mod params;
mod views;

use otelcontext_domain::{TenantHeaderError, TenantId, TraceId, request_tenant};
use otelcontext_ports::{Cursor, CursorKey, GraphQueries, Identity, LogId, Queries, QueryError};
use poem::Request;
use poem_openapi::param::{Header, Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi, OpenApiService, Tags};
use std::sync::Arc;

pub use params::{DEFAULT_LOG_LIMIT, MAX_LOG_LIMIT, parse_time};
pub use views::{
    LogEntryView, LogPageView, LogView, RcaCandidateView, RcaEvidenceView, RcaView, SpanView, StatsView,
    StorageStatusView, TracePageView, TraceSummaryView, TraceView,
};

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
    /// Log records and full-text search.
    Logs,
    /// Counts and health of the stored data.
    Stats,
    /// The live service graph: root causes.
    Graph,
    /// Names in use: services, their operations, metrics.
    Metadata,
}

#[derive(ApiResponse)]
enum TraceResponse {
    /// The trace with its spans (by start time) and correlated logs.
    #[oai(status = 200)]
    Ok(Json<TraceView>),
    /// The trace id or tenant is malformed.
    #[oai(status = 400)]
    BadRequest(Json<ErrorBody>),
    /// The credential is bound to another tenant than `X-Tenant-ID` names.
    #[oai(status = 403)]
    Forbidden(Json<ErrorBody>),
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
enum TracesResponse {
    /// One page of traces, newest first unless sorted otherwise.
    #[oai(status = 200)]
    Ok(Json<TracePageView>),
    /// A parameter is malformed (time, range, duration, status, attribute, sort, limit, cursor,
    /// tenant).
    #[oai(status = 400)]
    BadRequest(Json<ErrorBody>),
    /// The credential is bound to another tenant than `X-Tenant-ID` names.
    #[oai(status = 403)]
    Forbidden(Json<ErrorBody>),
    /// The database is unavailable; retry later.
    #[oai(status = 503)]
    Unavailable(Json<ErrorBody>),
    /// Unexpected failure.
    #[oai(status = 500)]
    Internal(Json<ErrorBody>),
}

#[derive(ApiResponse)]
enum NamesResponse {
    /// The names, sorted.
    #[oai(status = 200)]
    Ok(Json<Vec<String>>),
    /// A parameter is malformed (time, range, limit, tenant) or missing.
    #[oai(status = 400)]
    BadRequest(Json<ErrorBody>),
    /// The credential is bound to another tenant than `X-Tenant-ID` names.
    #[oai(status = 403)]
    Forbidden(Json<ErrorBody>),
    /// The database is unavailable; retry later.
    #[oai(status = 503)]
    Unavailable(Json<ErrorBody>),
    /// Unexpected failure.
    #[oai(status = 500)]
    Internal(Json<ErrorBody>),
}

#[derive(ApiResponse)]
enum LogsResponse {
    /// One page of log records, newest first unless sorted otherwise.
    #[oai(status = 200)]
    Ok(Json<LogPageView>),
    /// A parameter is malformed (time, limit, id, severity, sort, cursor, tenant).
    #[oai(status = 400)]
    BadRequest(Json<ErrorBody>),
    /// The credential is bound to another tenant than `X-Tenant-ID` names.
    #[oai(status = 403)]
    Forbidden(Json<ErrorBody>),
    /// The database is unavailable; retry later.
    #[oai(status = 503)]
    Unavailable(Json<ErrorBody>),
    /// Unexpected failure.
    #[oai(status = 500)]
    Internal(Json<ErrorBody>),
}

// One response per request: its size does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(ApiResponse)]
enum LogResponse {
    /// The log record.
    #[oai(status = 200)]
    Ok(Json<LogEntryView>),
    /// The tenant is malformed.
    #[oai(status = 400)]
    BadRequest(Json<ErrorBody>),
    /// The credential is bound to another tenant than `X-Tenant-ID` names.
    #[oai(status = 403)]
    Forbidden(Json<ErrorBody>),
    /// No such log record for this tenant.
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
enum StorageResponse {
    /// Backend, size and settings of the database.
    #[oai(status = 200)]
    Ok(Json<StorageStatusView>),
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
    /// The credential is bound to another tenant than `X-Tenant-ID` names.
    #[oai(status = 403)]
    Forbidden(Json<ErrorBody>),
    /// The database is unavailable; retry later.
    #[oai(status = 503)]
    Unavailable(Json<ErrorBody>),
    /// Unexpected failure.
    #[oai(status = 500)]
    Internal(Json<ErrorBody>),
}

#[derive(ApiResponse)]
enum RcaResponse {
    /// Ranked candidates with their evidence (empty when nothing changed).
    #[oai(status = 200)]
    Ok(Json<RcaView>),
    /// A parameter is malformed (time, range, limit, tenant).
    #[oai(status = 400)]
    BadRequest(Json<ErrorBody>),
    /// The credential is bound to another tenant than `X-Tenant-ID` names.
    #[oai(status = 403)]
    Forbidden(Json<ErrorBody>),
    /// The service asked about has no spans in the graph (the last hour).
    #[oai(status = 404)]
    NotFound(Json<ErrorBody>),
    /// The database is unavailable; retry later.
    #[oai(status = 503)]
    Unavailable(Json<ErrorBody>),
    /// Unexpected failure.
    #[oai(status = 500)]
    Internal(Json<ErrorBody>),
}

/// The query API over the `Queries` and `GraphQueries` use cases.
pub struct QueryApi {
    queries: Arc<dyn Queries>,
    graph: Arc<dyn GraphQueries>,
    default_tenant: TenantId,
    /// Signs the cursors of list routes (bound to the tenant and the route).
    cursor_key: CursorKey,
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
        Self { queries, graph, default_tenant, cursor_key: CursorKey::random() }
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

#[OpenApi]
impl QueryApi {
    /// Get a trace by id, with its spans and the logs correlated with it.
    #[oai(path = "/traces/:trace_id", method = "get", tag = "ApiTags::Traces", operation_id = "getTrace")]
    async fn get_trace(
        &self,
        req: &Request,
        /// Trace id: 32 hexadecimal characters.
        trace_id: Path<String>,
        /// Tenant to read from (default tenant when absent); a credential bound to a tenant may
        /// only name its own.
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
            Ok(trace) => TraceResponse::Ok(Json(TraceView::from(&trace))),
            Err(QueryError::NotFound(_)) => {
                TraceResponse::NotFound(ErrorBody::new("trace not found", Some(id.to_hex())))
            }
            Err(e) => Failure::from(e).into(),
        }
    }

    /// Search traces: by service, operation, status, duration and span attributes (all of which
    /// one span of the trace must match), over a time window (the last hour by default), newest
    /// first unless sorted; page on with `cursor`.
    #[allow(clippy::too_many_arguments)]
    #[oai(path = "/traces", method = "get", tag = "ApiTags::Traces", operation_id = "searchTraces")]
    async fn search_traces(
        &self,
        req: &Request,
        /// Service of a span of the trace (exact).
        service_name: Query<Option<Vec<String>>>,
        /// Span name of a span of the trace (exact).
        operation: Query<Option<String>>,
        /// Trace status: `ok`, `error` or `unset`.
        status: Query<Option<String>>,
        /// Shortest trace duration, e.g. `250ms`, `1.5s`.
        min_duration: Query<Option<String>>,
        /// Longest trace duration, e.g. `2s`.
        max_duration: Query<Option<String>>,
        /// `key=value` span attribute a span of the trace must have (repeatable, at most 16;
        /// values compared as text).
        attribute: Query<Option<Vec<String>>>,
        /// Earliest trace start: RFC 3339 or unix nanoseconds.
        start: Query<Option<String>>,
        /// Latest trace start: RFC 3339 or unix nanoseconds (default: now).
        end: Query<Option<String>>,
        /// Instead of `start`: how far back from `end`, e.g. `15m`, `6h` (default `1h`).
        time_range: Query<Option<String>>,
        /// `timestamp` (default) or `duration`.
        sort_by: Query<Option<String>>,
        /// `desc` (default) or `asc`.
        order_by: Query<Option<String>>,
        /// Traces per page, 1 to 1000 (default 20).
        limit: Query<Option<i64>>,
        /// Only 0 is accepted: pages continue with `cursor`.
        offset: Query<Option<i64>>,
        /// `next_cursor` of the previous page.
        cursor: Query<Option<String>>,
        /// Tenant to read from (default tenant when absent); a credential bound to a tenant may
        /// only name its own.
        #[oai(name = "X-Tenant-ID")]
        x_tenant_id: Header<Option<String>>,
    ) -> TracesResponse {
        let tenant = match self.tenant(req, x_tenant_id.0.as_deref()) {
            Ok(t) => t,
            Err(f) => return f.into(),
        };
        let cursor = match self.open(cursor.0, &tenant, "traces") {
            Ok(c) => c,
            Err(f) => return f.into(),
        };
        let raw = params::TraceParams {
            service: service_name.0.unwrap_or_default(),
            operation: operation.0,
            status: status.0,
            min_duration: min_duration.0,
            max_duration: max_duration.0,
            attributes: attribute.0.unwrap_or_default(),
            start: start.0,
            end: end.0,
            time_range: time_range.0,
            sort_by: sort_by.0,
            order_by: order_by.0,
            limit: limit.0,
            offset: offset.0,
        };
        let query = match raw.into_query(cursor, now_ns()) {
            Ok(q) => q,
            Err((error, detail)) => return Failure::bad(error, detail).into(),
        };
        match self.queries.traces(&tenant, &query).await {
            Ok(page) => TracesResponse::Ok(Json(TracePageView {
                traces: page.items.iter().map(TraceSummaryView::from).collect(),
                next_cursor: page.next.map(|c| self.seal(c, &tenant, "traces")),
            })),
            Err(e) => Failure::from(e).into(),
        }
    }

    /// Services that sent spans (everything retained unless a window is given), sorted.
    #[oai(path = "/metadata/services", method = "get", tag = "ApiTags::Metadata", operation_id = "listServices")]
    async fn list_services(
        &self,
        req: &Request,
        /// Seen at or after: RFC 3339 or unix nanoseconds.
        start: Query<Option<String>>,
        /// Seen at or before: RFC 3339 or unix nanoseconds.
        end: Query<Option<String>>,
        /// Instead of `start`: how far back from `end` (or now), e.g. `24h`.
        time_range: Query<Option<String>>,
        /// Most names returned, 1 to 10000 (default 1000).
        limit: Query<Option<i64>>,
        /// Tenant to read from (default tenant when absent); a credential bound to a tenant may
        /// only name its own.
        #[oai(name = "X-Tenant-ID")]
        x_tenant_id: Header<Option<String>>,
    ) -> NamesResponse {
        let (tenant, (time, limit)) = match self.names_request(req, &x_tenant_id, start, end, time_range, limit) {
            Ok(r) => r,
            Err(f) => return f.into(),
        };
        self.queries
            .services(&tenant, time, limit)
            .await
            .map_or_else(|e| Failure::from(e).into(), |v| NamesResponse::Ok(Json(v)))
    }

    /// Operations (span names) of one service, sorted.
    #[allow(clippy::too_many_arguments)]
    #[oai(path = "/metadata/operations", method = "get", tag = "ApiTags::Metadata", operation_id = "listOperations")]
    async fn list_operations(
        &self,
        req: &Request,
        /// The service (exact).
        service_name: Query<Option<String>>,
        /// Seen at or after: RFC 3339 or unix nanoseconds.
        start: Query<Option<String>>,
        /// Seen at or before: RFC 3339 or unix nanoseconds.
        end: Query<Option<String>>,
        /// Instead of `start`: how far back from `end` (or now), e.g. `24h`.
        time_range: Query<Option<String>>,
        /// Most names returned, 1 to 10000 (default 1000).
        limit: Query<Option<i64>>,
        /// Tenant to read from (default tenant when absent); a credential bound to a tenant may
        /// only name its own.
        #[oai(name = "X-Tenant-ID")]
        x_tenant_id: Header<Option<String>>,
    ) -> NamesResponse {
        let (tenant, (time, limit)) = match self.names_request(req, &x_tenant_id, start, end, time_range, limit) {
            Ok(r) => r,
            Err(f) => return f.into(),
        };
        let Some(service) = service_name.0.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()) else {
            return Failure::bad("missing service_name", "give the service whose operations to list").into();
        };
        self.queries
            .operations(&tenant, &service, time, limit)
            .await
            .map_or_else(|e| Failure::from(e).into(), |v| NamesResponse::Ok(Json(v)))
    }

    /// Metric names, of one service when `service_name` is given, sorted.
    #[allow(clippy::too_many_arguments)]
    #[oai(path = "/metadata/metrics", method = "get", tag = "ApiTags::Metadata", operation_id = "listMetricNames")]
    async fn list_metric_names(
        &self,
        req: &Request,
        /// The service reporting them (exact); all services when absent.
        service_name: Query<Option<String>>,
        /// Seen at or after: RFC 3339 or unix nanoseconds.
        start: Query<Option<String>>,
        /// Seen at or before: RFC 3339 or unix nanoseconds.
        end: Query<Option<String>>,
        /// Instead of `start`: how far back from `end` (or now), e.g. `24h`.
        time_range: Query<Option<String>>,
        /// Most names returned, 1 to 10000 (default 1000).
        limit: Query<Option<i64>>,
        /// Tenant to read from (default tenant when absent); a credential bound to a tenant may
        /// only name its own.
        #[oai(name = "X-Tenant-ID")]
        x_tenant_id: Header<Option<String>>,
    ) -> NamesResponse {
        let (tenant, (time, limit)) = match self.names_request(req, &x_tenant_id, start, end, time_range, limit) {
            Ok(r) => r,
            Err(f) => return f.into(),
        };
        let service = service_name.0.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
        self.queries
            .metric_names(&tenant, service, time, limit)
            .await
            .map_or_else(|e| Failure::from(e).into(), |v| NamesResponse::Ok(Json(v)))
    }

    /// Search log records: full text (`q`), service, minimum severity, trace, template and time,
    /// newest first; page on with `cursor`.
    #[allow(clippy::too_many_arguments)]
    #[oai(path = "/logs", method = "get", tag = "ApiTags::Logs", operation_id = "searchLogs")]
    async fn search_logs(
        &self,
        req: &Request,
        /// Full-text query: whitespace-separated words, all of which must match the body or the
        /// service name, each as the start of a word (`conn` finds `connection`).
        q: Query<Option<String>>,
        /// Exact service name.
        service: Query<Option<String>>,
        /// Minimum level: TRACE, DEBUG, INFO, WARN, ERROR or FATAL.
        severity: Query<Option<String>>,
        /// Trace id (32 hex characters).
        trace_id: Query<Option<String>>,
        /// Log template id (hex).
        template_id: Query<Option<String>>,
        /// Earliest timestamp: RFC 3339 or unix nanoseconds.
        start: Query<Option<String>>,
        /// Latest timestamp: RFC 3339 or unix nanoseconds.
        end: Query<Option<String>>,
        /// `newest` (default), `oldest` or `relevance` (best full-text match first).
        sort: Query<Option<String>>,
        /// Records per page, 1 to 1000 (default 100).
        limit: Query<Option<i64>>,
        /// `next_cursor` of the previous page.
        cursor: Query<Option<String>>,
        /// Tenant to read from (default tenant when absent); a credential bound to a tenant may
        /// only name its own.
        #[oai(name = "X-Tenant-ID")]
        x_tenant_id: Header<Option<String>>,
    ) -> LogsResponse {
        let tenant = match self.tenant(req, x_tenant_id.0.as_deref()) {
            Ok(t) => t,
            Err(f) => return f.into(),
        };
        let raw = params::LogParams {
            q: q.0,
            service: service.0,
            severity: severity.0,
            trace_id: trace_id.0,
            template_id: template_id.0,
            start: start.0,
            end: end.0,
            sort: sort.0,
            limit: limit.0,
        };
        let cursor = match self.open(cursor.0, &tenant, "logs") {
            Ok(c) => c,
            Err(f) => return f.into(),
        };
        let query = match raw.into_query(cursor) {
            Ok(q) => q,
            Err((error, detail)) => return Failure::bad(error, detail).into(),
        };
        match self.queries.logs(&tenant, &query).await {
            Ok(page) => LogsResponse::Ok(Json(LogPageView {
                logs: page.items.iter().map(LogEntryView::from).collect(),
                next_cursor: page.next.map(|c| self.seal(c, &tenant, "logs")),
            })),
            Err(e) => Failure::from(e).into(),
        }
    }

    /// One log record by id.
    #[oai(path = "/logs/:id", method = "get", tag = "ApiTags::Logs", operation_id = "getLog")]
    async fn get_log(
        &self,
        req: &Request,
        /// Log record id, as `id` in search results.
        id: Path<i64>,
        /// Tenant to read from (default tenant when absent); a credential bound to a tenant may
        /// only name its own.
        #[oai(name = "X-Tenant-ID")]
        x_tenant_id: Header<Option<String>>,
    ) -> LogResponse {
        let tenant = match self.tenant(req, x_tenant_id.0.as_deref()) {
            Ok(t) => t,
            Err(f) => return f.into(),
        };
        match self.queries.log(&tenant, LogId(id.0)).await {
            Ok(log) => LogResponse::Ok(Json(LogEntryView::from(&log))),
            Err(e) => Failure::from(e).into(),
        }
    }

    /// Backend, size on disk, schema version and settings of the database.
    #[oai(path = "/storage", method = "get", tag = "ApiTags::Stats", operation_id = "getStorageStatus")]
    async fn get_storage_status(&self) -> StorageResponse {
        match self.queries.storage_status().await {
            Ok(s) => StorageResponse::Ok(Json(StorageStatusView::from(s))),
            Err(QueryError::Unavailable(m)) => {
                StorageResponse::Unavailable(ErrorBody::new("database unavailable", Some(m)))
            }
            Err(e) => {
                tracing::error!(error = %e, "storage status failed");
                StorageResponse::Internal(ErrorBody::new("internal error", None))
            }
        }
    }

    /// Root-cause analysis: rank what changed in the live service graph.
    ///
    /// Which service (or database, broker, external endpoint) changed in the range, ranked, with the evidence behind each candidate — the signals that moved
    /// (self time, errors, error-log templates, the gap a caller waits beyond a service's own
    /// time, calls made per request), from what baseline to what, and example traces. The
    /// range is split where the change is largest (`change_at`), so the fault's start need not
    /// be known. With `service` (the symptom, e.g. the entry service), only it and what it
    /// calls, transitively, are candidates. The graph holds the last hour.
    #[oai(path = "/rca", method = "get", tag = "ApiTags::Graph", operation_id = "getRootCauses")]
    #[allow(clippy::too_many_arguments)]
    async fn get_root_causes(
        &self,
        req: &Request,
        /// The symptomatic service (exact name); absent: the whole tenant.
        service: Query<Option<String>>,
        /// Relative range ending at `end` (or now): e.g. `15m` (default), `1h`, `90s`; at most `1h`.
        /// Not with `start`.
        time_range: Query<Option<String>>,
        /// Start of the range: RFC 3339 or unix nanoseconds.
        start: Query<Option<String>>,
        /// End of the range: RFC 3339 or unix nanoseconds (default now).
        end: Query<Option<String>>,
        /// Candidates to return, 1 to 100 (default 10).
        limit: Query<Option<i64>>,
        /// Tenant to read from (default tenant when absent); a credential bound to a tenant may
        /// only name its own.
        #[oai(name = "X-Tenant-ID")]
        x_tenant_id: Header<Option<String>>,
    ) -> RcaResponse {
        let tenant = match self.tenant(req, x_tenant_id.0.as_deref()) {
            Ok(t) => t,
            Err(f) => return f.into(),
        };
        let query = match params::rca_query(service.0, time_range.0, start.0, end.0, limit.0) {
            Ok(q) => q,
            Err((error, detail)) => return Failure::bad(error, detail).into(),
        };
        match self.graph.root_causes(&tenant, &query).await {
            Ok(answer) => RcaResponse::Ok(Json(RcaView::new(query.service.clone(), &answer))),
            Err(e) => Failure::from(e).into(),
        }
    }

    /// Row counts of the tenant: traces, spans, logs, metric points, error traces.
    #[oai(path = "/stats", method = "get", tag = "ApiTags::Stats", operation_id = "getStats")]
    async fn get_stats(
        &self,
        req: &Request,
        /// Tenant to read from (default tenant when absent); a credential bound to a tenant may
        /// only name its own.
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

failure_into!(TraceResponse, not_found);
failure_into!(LogResponse, not_found);
failure_into!(LogsResponse);
failure_into!(TracesResponse);
failure_into!(NamesResponse);
failure_into!(StatsResponse);
failure_into!(RcaResponse, not_found);

/// Now, in unix nanoseconds (for relative time windows).
fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
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
pub fn spec_yaml(queries: Arc<dyn Queries>, graph: Arc<dyn GraphQueries>) -> String {
    service(QueryApi::new(queries, graph, TenantId::parse("default").expect("valid"))).spec_yaml()
}

#[cfg(test)]
mod tests;
