//! Log records: the routes.

use crate::*;

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

failure_into!(LogsResponse);
failure_into!(LogResponse, not_found);

/// Log records.
pub struct LogRoutes(pub(crate) Arc<QueryApi>);

#[OpenApi]
impl LogRoutes {
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
        let tenant = match self.0.tenant(req, x_tenant_id.0.as_deref()) {
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
        let cursor = match self.0.open(cursor.0, &tenant, "logs") {
            Ok(c) => c,
            Err(f) => return f.into(),
        };
        let query = match raw.into_query(cursor) {
            Ok(q) => q,
            Err((error, detail)) => return Failure::bad(error, detail).into(),
        };
        match self.0.queries.logs(&tenant, &query).await {
            Ok(page) => LogsResponse::Ok(Json(LogPageView {
                logs: page.items.iter().map(LogEntryView::from).collect(),
                next_cursor: page.next.map(|c| self.0.seal(c, &tenant, "logs")),
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
        let tenant = match self.0.tenant(req, x_tenant_id.0.as_deref()) {
            Ok(t) => t,
            Err(f) => return f.into(),
        };
        match self.0.queries.log(&tenant, LogId(id.0)).await {
            Ok(log) => LogResponse::Ok(Json(LogEntryView::from(&log))),
            Err(e) => Failure::from(e).into(),
        }
    }
}
