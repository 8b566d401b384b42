//! Traces and spans: the routes.

use crate::*;

responses!(
    TraceResponse,
    ok(Json<TraceView>): "The trace with its spans (by start time) and correlated logs.",
    bad: "The trace id or tenant is malformed.",
    not_found: "No such trace for this tenant.",
    unavailable: "The database is unavailable; retry later."
);

responses!(
    TracesResponse,
    ok(Json<TracePageView>): "One page of traces, newest first unless sorted otherwise.",
    bad: "A parameter is malformed (time, range, duration, status, attribute, sort, limit, cursor, tenant).",
    unavailable: "The database is unavailable; retry later."
);

/// Traces and spans.
pub struct TraceRoutes(pub(crate) Arc<QueryApi>);

#[OpenApi]
impl TraceRoutes {
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
        let tenant = or_return!(self.0.tenant(req, x_tenant_id.0.as_deref()));
        let id = match TraceId::parse_hex(trace_id.0.trim()) {
            Ok(id) => id,
            Err(e) => return TraceResponse::BadRequest(ErrorBody::new("invalid trace id", Some(e.to_string()))),
        };
        match self.0.queries.trace(&tenant, &id).await {
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
        #[oai(validator(minimum(value = "1"), maximum(value = "1000")))]
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
        let tenant = or_return!(self.0.tenant(req, x_tenant_id.0.as_deref()));
        let cursor = or_return!(self.0.open(cursor.0, &tenant, "traces"));
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
        let query = or_return!(raw.into_query(cursor, now_ns()));
        match self.0.queries.traces(&tenant, &query).await {
            Ok(page) => TracesResponse::Ok(Json(TracePageView {
                traces: page.items.iter().map(TraceSummaryView::from).collect(),
                next_cursor: page.next.map(|c| self.0.seal(c, &tenant, "traces")),
            })),
            Err(e) => Failure::from(e).into(),
        }
    }
}
