//! Log records: the routes.

use crate::*;
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use otelcontext_ports::TailEvent;
use poem_openapi::payload::EventStream;
use poem_openapi::types::ToJSON;

responses!(
    LogsResponse,
    ok(Json<LogPageView>): "One page of log records, newest first unless sorted otherwise.",
    bad: "A parameter is malformed (time, limit, id, severity, sort, cursor, tenant).",
    unavailable: "The database is unavailable; retry later."
);

responses!(
    LogResponse,
    ok(Json<LogEntryView>): "The log record.",
    bad: "The tenant is malformed.",
    not_found: "No such log record for this tenant.",
    unavailable: "The database is unavailable; retry later."
);

responses!(
    ContextResponse,
    ok(Json<Vec<LogEntryView>>): "The records around the moment, oldest first.",
    bad: "A parameter is malformed or missing (timestamp or id, window, limit, tenant).",
    not_found: "The log record named by `id` is not this tenant's.",
    unavailable: "The database is unavailable; retry later."
);

responses!(
    SimilarResponse,
    ok(Json<SimilarLogsView>): "The most similar records, best first (WARN and above, recent ones).",
    bad: "`q` is missing or too long, or the limit or tenant is malformed.",
    unavailable: "The similar-log index is not running; retry later."
);

responses!(
    TailResponse,
    ok(EventStream<BoxStream<'static, TailItemView>>): "Server-sent events as records are stored: `log` events (one record each, as in search results but without an id) and `lagged` events (how many commits a slow reader missed); a comment every 15 s keeps the connection open.",
    bad: "A filter is malformed (q, severity, trace_id, template_id, tenant).",
    unavailable: "Too many tails are open, or the server is stopping; retry later."
);

/// Log records.
pub struct LogRoutes(pub(crate) Arc<QueryApi>);

#[OpenApi]
impl LogRoutes {
    /// Search log records: full text (`q`), service, minimum severity, trace, template and time,
    /// newest first; page on with `cursor`.
    ///
    /// `search`, `service_name` and `offset=0` are accepted under the original's names.
    #[allow(clippy::too_many_arguments)]
    #[oai(path = "/logs", method = "get", tag = "ApiTags::Logs", operation_id = "searchLogs")]
    async fn search_logs(
        &self,
        req: &Request,
        /// Full-text query: whitespace-separated words, all of which must match the body or the
        /// service name, each as the start of a word (`conn` finds `connection`).
        q: Query<Option<String>>,
        /// The same as `q` (the original's name).
        search: Query<Option<String>>,
        /// Exact service name.
        service: Query<Option<String>>,
        /// The same as `service` (the original's name).
        service_name: Query<Option<String>>,
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
    ) -> LogsResponse {
        let tenant = or_return!(self.0.tenant(req, x_tenant_id.0.as_deref()));
        let merged = params::either(q.0, search.0, ("q", "search")).and_then(|q| {
            let service = params::either(service.0, service_name.0, ("service", "service_name"))?;
            params::no_offset(offset.0)?;
            Ok((q, service))
        });
        let (q, service) = or_return!(merged);
        let raw = params::LogParams {
            q,
            service,
            severity: severity.0,
            trace_id: trace_id.0,
            template_id: template_id.0,
            start: start.0,
            end: end.0,
            sort: sort.0,
            limit: limit.0,
        };
        let cursor = or_return!(self.0.open(cursor.0, &tenant, "logs"));
        let query = or_return!(raw.into_query(cursor));
        match self.0.queries.logs(&tenant, &query).await {
            Ok(page) => LogsResponse::Ok(Json(LogPageView {
                logs: page.items.iter().map(LogEntryView::from).collect(),
                next_cursor: page.next.map(|c| self.0.seal(c, &tenant, "logs")),
            })),
            Err(e) => Failure::from(e).into(),
        }
    }

    /// The log records around a moment (or around one record), oldest first: about half
    /// before it and half after, within `window` either side.
    #[allow(clippy::too_many_arguments)]
    #[oai(path = "/logs/context", method = "get", tag = "ApiTags::Logs", operation_id = "getLogContext")]
    async fn get_log_context(
        &self,
        req: &Request,
        /// The moment: RFC 3339 or unix nanoseconds. Give this or `id`.
        timestamp: Query<Option<String>>,
        /// A log record's id: the moment is its timestamp.
        id: Query<Option<i64>>,
        /// Only this service's records (exact).
        service_name: Query<Option<String>>,
        /// How far before and after, e.g. `30s`; default `1m`, at most `1h`.
        window: Query<Option<String>>,
        /// Records to return, 1 to 1000 (default 100).
        #[oai(validator(minimum(value = "1"), maximum(value = "1000")))]
        limit: Query<Option<i64>>,
        /// Tenant to read from (default tenant when absent); a credential bound to a tenant may
        /// only name its own.
        #[oai(name = "X-Tenant-ID")]
        x_tenant_id: Header<Option<String>>,
    ) -> ContextResponse {
        let tenant = or_return!(self.0.tenant(req, x_tenant_id.0.as_deref()));
        let (window_ns, limit) = or_return!(params::context_window(window.0, limit.0));
        let timestamp = timestamp.0.map(|t| t.trim().to_owned()).filter(|t| !t.is_empty());
        let around_ns = match (timestamp, id.0) {
            (Some(_), Some(_)) => return Failure::bad("invalid moment", "give timestamp or id, not both").into(),
            (None, None) => {
                return Failure::bad("missing timestamp", "give timestamp or the id of a log record").into();
            }
            (Some(t), None) => match parse_time(&t) {
                Ok(ns) => ns,
                Err(e) => return Failure::bad("invalid timestamp", e).into(),
            },
            (None, Some(id)) => match self.0.queries.log(&tenant, LogId(id)).await {
                Ok(log) => log.record.timestamp_ns,
                Err(e) => return Failure::from(e).into(),
            },
        };
        let service = params::present(service_name.0);
        let query = LogContextQuery { around_ns, window_ns, service, limit };
        match self.0.queries.log_context(&tenant, &query).await {
            Ok(logs) => ContextResponse::Ok(Json(logs.iter().map(LogEntryView::from).collect())),
            Err(e) => Failure::from(e).into(),
        }
    }

    /// Log records (WARN and above, recent) whose words are most like `q`: the same failure
    /// in other words, from other services, at other times.
    #[oai(path = "/logs/similar", method = "get", tag = "ApiTags::Logs", operation_id = "getSimilarLogs")]
    async fn get_similar_logs(
        &self,
        req: &Request,
        /// The text to compare with, e.g. a log body.
        q: Query<Option<String>>,
        /// Results, 1 to 50 (default 10).
        #[oai(validator(minimum(value = "1"), maximum(value = "50")))]
        limit: Query<Option<i64>>,
        /// Tenant to read from (default tenant when absent); a credential bound to a tenant may
        /// only name its own.
        #[oai(name = "X-Tenant-ID")]
        x_tenant_id: Header<Option<String>>,
    ) -> SimilarResponse {
        let tenant = or_return!(self.0.tenant(req, x_tenant_id.0.as_deref()));
        let (text, limit) = or_return!(params::similar_query(q.0, limit.0));
        match self.0.queries.similar_logs(&tenant, &text, limit).await {
            Ok(hits) => SimilarResponse::Ok(Json(SimilarLogsView {
                count: hits.len() as u64,
                results: hits.iter().map(SimilarLogView::from).collect(),
                query: text,
            })),
            Err(e) => Failure::from(e).into(),
        }
    }

    /// Live tail: log records as they are stored, with the same filters as the search (no time
    /// range, sort or paging), as server-sent events.
    #[allow(clippy::too_many_arguments)]
    #[oai(path = "/logs/tail", method = "get", tag = "ApiTags::Logs", operation_id = "tailLogs")]
    async fn tail_logs(
        &self,
        req: &Request,
        /// Full-text query (as in the search).
        q: Query<Option<String>>,
        /// Exact service name.
        service: Query<Option<String>>,
        /// The same as `service` (the original's name).
        service_name: Query<Option<String>>,
        /// Minimum level: TRACE, DEBUG, INFO, WARN, ERROR or FATAL.
        severity: Query<Option<String>>,
        /// Trace id (32 hex characters).
        trace_id: Query<Option<String>>,
        /// Log template id (hex).
        template_id: Query<Option<String>>,
        /// Tenant to read from (default tenant when absent); a credential bound to a tenant may
        /// only name its own.
        #[oai(name = "X-Tenant-ID")]
        x_tenant_id: Header<Option<String>>,
    ) -> TailResponse {
        let tenant = or_return!(self.0.tenant(req, x_tenant_id.0.as_deref()));
        let service = or_return!(params::either(service.0, service_name.0, ("service", "service_name")));
        let raw = params::LogParams {
            q: q.0,
            service,
            severity: severity.0,
            trace_id: trace_id.0,
            template_id: template_id.0,
            start: None,
            end: None,
            sort: None,
            limit: None,
        };
        let filter = or_return!(raw.into_query(None));
        let Some(tail) = &self.0.tail else {
            return Failure::from(QueryError::Unavailable("the live tail is not running".into())).into();
        };
        let subscription = match tail.subscribe(&tenant) {
            Ok(s) => s,
            Err(e) => return Failure::from(e).into(),
        };
        let events = futures_util::stream::unfold(subscription, move |mut sub| {
            let filter = filter.clone();
            async move {
                let items: Vec<TailItemView> = match sub.next().await {
                    TailEvent::Closed => return None,
                    TailEvent::Lagged(n) => {
                        vec![TailItemView { kind: "lagged".into(), log: None, skipped: Some(n) }]
                    }
                    TailEvent::Records(records) => records
                        .iter()
                        .filter(|r| filter.matches(r))
                        .map(|r| TailItemView { kind: "log".into(), log: Some(LogView::from(r)), skipped: None })
                        .collect(),
                };
                Some((futures_util::stream::iter(items), sub))
            }
        })
        .flatten()
        .boxed();
        TailResponse::Ok(EventStream::new(events).keep_alive(std::time::Duration::from_secs(15)).to_event(|item| {
            let kind = item.kind.clone();
            poem::web::sse::Event::message(item.to_json_string()).event_type(kind)
        }))
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
        let tenant = or_return!(self.0.tenant(req, x_tenant_id.0.as_deref()));
        match self.0.queries.log(&tenant, LogId(id.0)).await {
            Ok(log) => LogResponse::Ok(Json(LogEntryView::from(&log))),
            Err(e) => Failure::from(e).into(),
        }
    }
}
