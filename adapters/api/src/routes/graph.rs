//! The live service graph, investigations and snapshots: the routes.

use crate::*;
use otelcontext_ports::{
    DEFAULT_DEPTH, DEFAULT_GRAPH_RANGE_NS, ErrorChainQuery, ImpactQuery, MAX_DEPTH, MAX_ERROR_CHAINS, MAX_GRAPH_LIMIT,
    MapQuery, PathQuery, SignalsQuery, SimilarErrorsQuery, SnapshotQuery, TimelineQuery,
};

/// How far back the anomaly timeline looks by default.
const DEFAULT_TIMELINE_RANGE_NS: i64 = 3_600_000_000_000;

responses!(
    ServiceMapResponse,
    ok(Json<ServiceMapView>): "The map: typed nodes and edges with rate, errors and latency.",
    bad: "A parameter is malformed (time, range, depth, direction, tenant).",
    not_found: "The service asked about has no spans in the graph's range.",
    unavailable: "The graph is unavailable; retry later."
);

responses!(
    SystemGraphResponse,
    ok(Json<SystemGraphView>): "Every node with its health, alerts and totals.",
    bad: "A parameter is malformed (time, range, tenant).",
    unavailable: "The graph is unavailable; retry later."
);

responses!(
    ImpactResponse,
    ok(Json<ImpactView>): "What the node calls and what calls it, nearest first.",
    bad: "A parameter is malformed or missing (service, depth, time, range, tenant).",
    not_found: "The graph has not seen the node in the range.",
    unavailable: "The graph is unavailable; retry later."
);

responses!(
    PathResponse,
    ok(Json<PathView>): "The edges from one node to the other.",
    bad: "A parameter is malformed or missing (from, to, time, range, tenant).",
    not_found: "A node is unknown, or neither reaches the other.",
    unavailable: "The graph is unavailable; retry later."
);

responses!(
    ErrorChainsResponse,
    ok(Json<ErrorChainsView>): "Where the service's failures started, and each failed trace's chain.",
    bad: "A parameter is malformed or missing (service, limit, time, range, tenant).",
    not_found: "The graph has not seen the service in the range.",
    unavailable: "The graph or the database is unavailable; retry later."
);

responses!(
    SignalsResponse,
    ok(Json<SignalsView>): "What moved with the service against its baseline.",
    bad: "A parameter is malformed or missing (service, time, range, tenant).",
    not_found: "The graph has not seen the service in the range.",
    unavailable: "The graph is unavailable; retry later."
);

responses!(
    TimelineResponse,
    ok(Json<AnomalyTimelineView>): "Anomalies, newest first.",
    bad: "A parameter is malformed (service, limit, time, range, tenant).",
    unavailable: "The graph is unavailable; retry later."
);

responses!(
    SimilarErrorsResponse,
    ok(Json<SimilarErrorsView>): "Error templates like the one asked about, best first.",
    bad: "A parameter is malformed or missing (template_id, limit, time, range, tenant).",
    not_found: "The template is unknown.",
    unavailable: "The similarity index or the database is unavailable; retry later."
);

responses!(
    TraceGraphResponse,
    ok(Json<TraceGraphView>): "The trace as a tree with self times, the critical path and the calls between services.",
    bad: "The trace id or the tenant is malformed.",
    not_found: "No such trace in this tenant.",
    unavailable: "The database is unavailable; retry later."
);

responses!(
    InvestigationsResponse,
    ok(Json<InvestigationPageView>): "Investigations, newest first.",
    bad: "A parameter is malformed (status, severity, time, range, limit, cursor, tenant).",
    unavailable: "The database is unavailable; retry later."
);

responses!(
    InvestigationResponse,
    ok(Json<InvestigationView>): "The investigation.",
    bad: "The tenant is malformed.",
    not_found: "No such investigation in this tenant.",
    unavailable: "The database is unavailable; retry later."
);

responses!(
    SnapshotsResponse,
    ok(Json<SnapshotPageView>): "Snapshots, newest first.",
    bad: "A parameter is malformed (at, time, range, limit, cursor, tenant).",
    unavailable: "The database is unavailable; retry later."
);

responses!(
    SnapshotResponse,
    ok(Json<SnapshotView>): "The snapshot.",
    bad: "The tenant is malformed.",
    not_found: "No such snapshot in this tenant.",
    unavailable: "The database is unavailable; retry later."
);

responses!(
    RcaResponse,
    ok(Json<RcaView>): "Ranked candidates with their evidence (empty when nothing changed).",
    bad: "A parameter is malformed (time, range, limit, tenant).",
    not_found: "The service asked about has no spans in the graph (the last hour).",
    unavailable: "The database is unavailable; retry later."
);

/// The live service graph.
pub struct GraphRoutes(pub(crate) Arc<QueryApi>);

#[OpenApi]
impl GraphRoutes {
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
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))]
        limit: Query<Option<i64>>,
        /// Tenant to read from (default tenant when absent); a credential bound to a tenant may
        /// only name its own.
        #[oai(name = "X-Tenant-ID")]
        x_tenant_id: Header<Option<String>>,
    ) -> RcaResponse {
        let tenant = or_return!(self.0.tenant(req, x_tenant_id.0.as_deref()));
        let query = or_return!(params::rca_query(service.0, time_range.0, start.0, end.0, limit.0));
        match self.0.graph.root_causes(&tenant, &query).await {
            Ok(answer) => RcaResponse::Ok(Json(RcaView::new(query.service.clone(), &answer))),
            Err(e) => Failure::from(e).into(),
        }
    }

    /// The service map: typed nodes and the calls between them, with rate, errors and latency.
    ///
    /// Nodes are services (they send spans) and the databases, brokers and external endpoints
    /// their client spans call. Each edge has what the caller saw and, towards a service, what
    /// the service served. With `service`, only the nodes within `depth` calls of it (in
    /// `direction`). The graph holds the last hour.
    #[allow(clippy::too_many_arguments)]
    #[oai(path = "/metrics/service-map", method = "get", tag = "ApiTags::Graph", operation_id = "getServiceMap")]
    async fn get_service_map(
        &self,
        req: &Request,
        /// Centre the map on this node (exact name); absent: the whole map.
        service: Query<Option<String>>,
        /// Calls away from `service` to include, 1 to 10 (default 5).
        #[oai(validator(minimum(value = "1"), maximum(value = "10")))]
        depth: Query<Option<i64>>,
        /// `downstream` (what it calls), `upstream` (what calls it) or `both` (default).
        direction: Query<Option<String>>,
        /// Relative range ending at `end` (or now), e.g. `15m` (default), at most `1h`.
        time_range: Query<Option<String>>,
        /// Start of the range: RFC 3339 or unix nanoseconds. Not with `time_range`.
        start: Query<Option<String>>,
        /// End of the range: RFC 3339 or unix nanoseconds (default now).
        end: Query<Option<String>>,
        /// Tenant to read from (default tenant when absent); a credential bound to a tenant may
        /// only name its own.
        #[oai(name = "X-Tenant-ID")]
        x_tenant_id: Header<Option<String>>,
    ) -> ServiceMapResponse {
        let tenant = or_return!(self.0.tenant(req, x_tenant_id.0.as_deref()));
        let query = MapQuery {
            service: params::present(service.0),
            depth: or_return!(params::count_of("invalid depth", depth.0, DEFAULT_DEPTH, MAX_DEPTH)),
            direction: or_return!(params::direction(direction.0)),
            window: or_return!(params::graph_window(time_range.0, start.0, end.0, DEFAULT_GRAPH_RANGE_NS)),
        };
        match self.0.graph.service_map(&tenant, &query).await {
            Ok(a) => ServiceMapResponse::Ok(Json(ServiceMapView::from(&a))),
            Err(e) => Failure::from(e).into(),
        }
    }

    /// The system graph: every node with a health score, a status and alerts, and totals.
    #[oai(path = "/system/graph", method = "get", tag = "ApiTags::Graph", operation_id = "getSystemGraph")]
    async fn get_system_graph(
        &self,
        req: &Request,
        /// Relative range ending at `end` (or now), e.g. `15m` (default), at most `1h`.
        time_range: Query<Option<String>>,
        /// Start of the range: RFC 3339 or unix nanoseconds. Not with `time_range`.
        start: Query<Option<String>>,
        /// End of the range: RFC 3339 or unix nanoseconds (default now).
        end: Query<Option<String>>,
        /// Tenant to read from (default tenant when absent); a credential bound to a tenant may
        /// only name its own.
        #[oai(name = "X-Tenant-ID")]
        x_tenant_id: Header<Option<String>>,
    ) -> SystemGraphResponse {
        let tenant = or_return!(self.0.tenant(req, x_tenant_id.0.as_deref()));
        let window = or_return!(params::graph_window(time_range.0, start.0, end.0, DEFAULT_GRAPH_RANGE_NS));
        let query = MapQuery { window, ..MapQuery::default() };
        match self.0.graph.service_map(&tenant, &query).await {
            Ok(a) => SystemGraphResponse::Ok(Json(SystemGraphView::from(&a))),
            Err(e) => Failure::from(e).into(),
        }
    }

    /// Impact: what a node depends on and who depends on it (its blast radius).
    #[allow(clippy::too_many_arguments)]
    #[oai(path = "/graph/impact", method = "get", tag = "ApiTags::Graph", operation_id = "getImpact")]
    async fn get_impact(
        &self,
        req: &Request,
        /// The node (service, database, broker or endpoint; exact name).
        service: Query<Option<String>>,
        /// Calls away to walk, 1 to 10 (default 5).
        #[oai(validator(minimum(value = "1"), maximum(value = "10")))]
        depth: Query<Option<i64>>,
        /// Relative range ending at `end` (or now), e.g. `15m` (default), at most `1h`.
        time_range: Query<Option<String>>,
        /// Start of the range: RFC 3339 or unix nanoseconds. Not with `time_range`.
        start: Query<Option<String>>,
        /// End of the range: RFC 3339 or unix nanoseconds (default now).
        end: Query<Option<String>>,
        /// Tenant to read from (default tenant when absent); a credential bound to a tenant may
        /// only name its own.
        #[oai(name = "X-Tenant-ID")]
        x_tenant_id: Header<Option<String>>,
    ) -> ImpactResponse {
        let tenant = or_return!(self.0.tenant(req, x_tenant_id.0.as_deref()));
        let query = ImpactQuery {
            service: or_return!(params::required("service", service.0)),
            depth: or_return!(params::count_of("invalid depth", depth.0, DEFAULT_DEPTH, MAX_DEPTH)),
            window: or_return!(params::graph_window(time_range.0, start.0, end.0, DEFAULT_GRAPH_RANGE_NS)),
        };
        match self.0.graph.impact(&tenant, &query).await {
            Ok(a) => ImpactResponse::Ok(Json(ImpactView::new(query.service, &a))),
            Err(e) => Failure::from(e).into(),
        }
    }

    /// Call path: the fewest calls from one node to another.
    #[allow(clippy::too_many_arguments)]
    #[oai(path = "/graph/path", method = "get", tag = "ApiTags::Graph", operation_id = "getCallPath")]
    async fn get_call_path(
        &self,
        req: &Request,
        /// The node the path starts from.
        from: Query<Option<String>>,
        /// The node the path leads to.
        to: Query<Option<String>>,
        /// Relative range ending at `end` (or now), e.g. `15m` (default), at most `1h`.
        time_range: Query<Option<String>>,
        /// Start of the range: RFC 3339 or unix nanoseconds. Not with `time_range`.
        start: Query<Option<String>>,
        /// End of the range: RFC 3339 or unix nanoseconds (default now).
        end: Query<Option<String>>,
        /// Tenant to read from (default tenant when absent); a credential bound to a tenant may
        /// only name its own.
        #[oai(name = "X-Tenant-ID")]
        x_tenant_id: Header<Option<String>>,
    ) -> PathResponse {
        let tenant = or_return!(self.0.tenant(req, x_tenant_id.0.as_deref()));
        let query = PathQuery {
            from: or_return!(params::required("from", from.0)),
            to: or_return!(params::required("to", to.0)),
            window: or_return!(params::graph_window(time_range.0, start.0, end.0, DEFAULT_GRAPH_RANGE_NS)),
        };
        match self.0.graph.call_path(&tenant, &query).await {
            Ok(a) => PathResponse::Ok(Json(PathView::new(query.from, query.to, &a))),
            Err(e) => Failure::from(e).into(),
        }
    }

    /// Error chains: where a service's failures started, through its recent failed traces.
    #[allow(clippy::too_many_arguments)]
    #[oai(path = "/graph/error-chains", method = "get", tag = "ApiTags::Graph", operation_id = "getErrorChains")]
    async fn get_error_chains(
        &self,
        req: &Request,
        /// The service whose failed spans to follow (exact name).
        service: Query<Option<String>>,
        /// Failed traces to read, newest first, 1 to 50 (default 10).
        #[oai(validator(minimum(value = "1"), maximum(value = "50")))]
        limit: Query<Option<i64>>,
        /// Relative range ending at `end` (or now), e.g. `15m` (default), at most `1h`.
        time_range: Query<Option<String>>,
        /// Start of the range: RFC 3339 or unix nanoseconds. Not with `time_range`.
        start: Query<Option<String>>,
        /// End of the range: RFC 3339 or unix nanoseconds (default now).
        end: Query<Option<String>>,
        /// Tenant to read from (default tenant when absent); a credential bound to a tenant may
        /// only name its own.
        #[oai(name = "X-Tenant-ID")]
        x_tenant_id: Header<Option<String>>,
    ) -> ErrorChainsResponse {
        let tenant = or_return!(self.0.tenant(req, x_tenant_id.0.as_deref()));
        let query = ErrorChainQuery {
            service: or_return!(params::required("service", service.0)),
            limit: or_return!(params::count_of("invalid limit", limit.0, 10, MAX_ERROR_CHAINS)),
            window: or_return!(params::graph_window(time_range.0, start.0, end.0, DEFAULT_GRAPH_RANGE_NS)),
        };
        match self.0.graph.error_chains(&tenant, &query).await {
            Ok(a) => ErrorChainsResponse::Ok(Json(ErrorChainsView::new(query.service, &a))),
            Err(e) => Failure::from(e).into(),
        }
    }

    /// Correlated signals: a service's rate, errors and latency, error-log templates, gauges and
    /// anomalies, each against the baseline before the range.
    #[oai(path = "/graph/signals", method = "get", tag = "ApiTags::Graph", operation_id = "getCorrelatedSignals")]
    async fn get_correlated_signals(
        &self,
        req: &Request,
        /// The service (exact name).
        service: Query<Option<String>>,
        /// Relative range ending at `end` (or now), e.g. `15m` (default), at most `1h`.
        time_range: Query<Option<String>>,
        /// Start of the range: RFC 3339 or unix nanoseconds. Not with `time_range`.
        start: Query<Option<String>>,
        /// End of the range: RFC 3339 or unix nanoseconds (default now).
        end: Query<Option<String>>,
        /// Tenant to read from (default tenant when absent); a credential bound to a tenant may
        /// only name its own.
        #[oai(name = "X-Tenant-ID")]
        x_tenant_id: Header<Option<String>>,
    ) -> SignalsResponse {
        let tenant = or_return!(self.0.tenant(req, x_tenant_id.0.as_deref()));
        let query = SignalsQuery {
            service: or_return!(params::required("service", service.0)),
            window: or_return!(params::graph_window(time_range.0, start.0, end.0, DEFAULT_GRAPH_RANGE_NS)),
        };
        match self.0.graph.correlated_signals(&tenant, &query).await {
            Ok(a) => SignalsResponse::Ok(Json(SignalsView::new(query.service, &a))),
            Err(e) => Failure::from(e).into(),
        }
    }

    /// Anomaly timeline: what the detector raised (error spikes, latency, throughput drops,
    /// gauges), newest first.
    #[allow(clippy::too_many_arguments)]
    #[oai(path = "/graph/anomalies", method = "get", tag = "ApiTags::Graph", operation_id = "getAnomalyTimeline")]
    async fn get_anomaly_timeline(
        &self,
        req: &Request,
        /// Only this service's anomalies.
        service: Query<Option<String>>,
        /// Most anomalies returned, 1 to 100 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))]
        limit: Query<Option<i64>>,
        /// Relative range ending at `end` (or now), e.g. `1h` (default), at most `24h`.
        time_range: Query<Option<String>>,
        /// Start of the range: RFC 3339 or unix nanoseconds. Not with `time_range`.
        start: Query<Option<String>>,
        /// End of the range: RFC 3339 or unix nanoseconds (default now).
        end: Query<Option<String>>,
        /// Tenant to read from (default tenant when absent); a credential bound to a tenant may
        /// only name its own.
        #[oai(name = "X-Tenant-ID")]
        x_tenant_id: Header<Option<String>>,
    ) -> TimelineResponse {
        let tenant = or_return!(self.0.tenant(req, x_tenant_id.0.as_deref()));
        let query = TimelineQuery {
            service: params::present(service.0),
            limit: or_return!(params::count_of("invalid limit", limit.0, 50, MAX_GRAPH_LIMIT)),
            window: or_return!(params::graph_window(time_range.0, start.0, end.0, DEFAULT_TIMELINE_RANGE_NS)),
        };
        match self.0.graph.anomaly_timeline(&tenant, &query).await {
            Ok(a) => TimelineResponse::Ok(Json(AnomalyTimelineView::from(&a))),
            Err(e) => Failure::from(e).into(),
        }
    }

    /// Similar errors: error-log templates that read like a given one, and who wrote them.
    #[allow(clippy::too_many_arguments)]
    #[oai(path = "/graph/similar-errors", method = "get", tag = "ApiTags::Graph", operation_id = "getSimilarErrors")]
    async fn get_similar_errors(
        &self,
        req: &Request,
        /// The template (`template_id` of a pattern or a log record; hex).
        template_id: Query<Option<String>>,
        /// Most templates returned, 1 to 100 (default 10).
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))]
        limit: Query<Option<i64>>,
        /// Relative range ending at `end` (or now), e.g. `15m` (default), at most `1h`.
        time_range: Query<Option<String>>,
        /// Start of the range: RFC 3339 or unix nanoseconds. Not with `time_range`.
        start: Query<Option<String>>,
        /// End of the range: RFC 3339 or unix nanoseconds (default now).
        end: Query<Option<String>>,
        /// Tenant to read from (default tenant when absent); a credential bound to a tenant may
        /// only name its own.
        #[oai(name = "X-Tenant-ID")]
        x_tenant_id: Header<Option<String>>,
    ) -> SimilarErrorsResponse {
        let tenant = or_return!(self.0.tenant(req, x_tenant_id.0.as_deref()));
        let text = or_return!(params::required("template_id", template_id.0));
        let Some(template) = TemplateId::parse_hex(&text) else {
            return Failure::bad("invalid template_id", format!("{text:?}: expected 1-16 hex characters")).into();
        };
        let query = SimilarErrorsQuery {
            template,
            limit: or_return!(params::count_of("invalid limit", limit.0, 10, MAX_GRAPH_LIMIT)),
            window: or_return!(params::graph_window(time_range.0, start.0, end.0, DEFAULT_GRAPH_RANGE_NS)),
        };
        match self.0.graph.similar_errors(&tenant, &query).await {
            Ok(a) => SimilarErrorsResponse::Ok(Json(SimilarErrorsView::new(template.to_string(), &a))),
            Err(e) => Failure::from(e).into(),
        }
    }

    /// One trace as a graph: the span tree with self times, the critical path, and the calls
    /// between services.
    #[oai(path = "/traces/:trace_id/graph", method = "get", tag = "ApiTags::Graph", operation_id = "getTraceGraph")]
    async fn get_trace_graph(
        &self,
        req: &Request,
        /// The trace id: 32 hex characters.
        trace_id: Path<String>,
        /// Tenant to read from (default tenant when absent); a credential bound to a tenant may
        /// only name its own.
        #[oai(name = "X-Tenant-ID")]
        x_tenant_id: Header<Option<String>>,
    ) -> TraceGraphResponse {
        let tenant = or_return!(self.0.tenant(req, x_tenant_id.0.as_deref()));
        let id = match TraceId::parse_hex(trace_id.0.trim()) {
            Ok(id) => id,
            Err(e) => return Failure::bad("invalid trace id", e.to_string()).into(),
        };
        match self.0.graph.trace_graph(&tenant, &id).await {
            Ok(g) => TraceGraphResponse::Ok(Json(TraceGraphView::new(id.to_hex(), &g))),
            Err(e) => Failure::from(e).into(),
        }
    }

    /// Investigations the graph opened when it detected a problem, newest first.
    #[allow(clippy::too_many_arguments)]
    #[oai(path = "/investigations", method = "get", tag = "ApiTags::Graph", operation_id = "listInvestigations")]
    async fn list_investigations(
        &self,
        req: &Request,
        /// `detected`, `triaged` or `resolved`.
        status: Query<Option<String>>,
        /// At least this severity: `info`, `warning` or `critical`.
        severity: Query<Option<String>>,
        /// The trigger or root service (exact name).
        service: Query<Option<String>>,
        /// Created at or after: RFC 3339 or unix nanoseconds (default: all retained).
        start: Query<Option<String>>,
        /// Created at or before: RFC 3339 or unix nanoseconds.
        end: Query<Option<String>>,
        /// Instead of `start`: how far back from `end` (or now), e.g. `24h`.
        time_range: Query<Option<String>>,
        /// Page size, 1 to 100 (default 20).
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))]
        limit: Query<Option<i64>>,
        /// `next_cursor` of the previous page.
        cursor: Query<Option<String>>,
        /// Tenant to read from (default tenant when absent); a credential bound to a tenant may
        /// only name its own.
        #[oai(name = "X-Tenant-ID")]
        x_tenant_id: Header<Option<String>>,
    ) -> InvestigationsResponse {
        const ROUTE: &str = "investigations";
        let tenant = or_return!(self.0.tenant(req, x_tenant_id.0.as_deref()));
        let cursor = or_return!(self.0.open(cursor.0, &tenant, ROUTE));
        let query = or_return!(params::investigation_query(
            status.0,
            severity.0,
            service.0,
            start.0,
            end.0,
            time_range.0,
            limit.0,
            cursor,
            now_ns()
        ));
        match self.0.queries.investigations(&tenant, &query).await {
            Ok(page) => InvestigationsResponse::Ok(Json(InvestigationPageView {
                investigations: page.items.iter().map(InvestigationView::from).collect(),
                next_cursor: page.next.map(|c| self.0.seal(c, &tenant, ROUTE)),
            })),
            Err(e) => Failure::from(e).into(),
        }
    }

    /// One investigation by id.
    #[oai(path = "/investigations/:id", method = "get", tag = "ApiTags::Graph", operation_id = "getInvestigation")]
    async fn get_investigation(
        &self,
        req: &Request,
        /// The investigation id.
        id: Path<String>,
        /// Tenant to read from (default tenant when absent); a credential bound to a tenant may
        /// only name its own.
        #[oai(name = "X-Tenant-ID")]
        x_tenant_id: Header<Option<String>>,
    ) -> InvestigationResponse {
        let tenant = or_return!(self.0.tenant(req, x_tenant_id.0.as_deref()));
        match self.0.queries.investigation(&tenant, id.0.trim()).await {
            Ok(i) => InvestigationResponse::Ok(Json(InvestigationView::from(&i))),
            Err(e) => Failure::from(e).into(),
        }
    }

    /// Graph snapshots (copies of the service graph taken every 15 minutes), newest first.
    ///
    /// With `at`, the newest snapshot taken at or before that moment comes first: the graph as
    /// it was then.
    #[allow(clippy::too_many_arguments)]
    #[oai(path = "/graph/snapshots", method = "get", tag = "ApiTags::Graph", operation_id = "listSnapshots")]
    async fn list_snapshots(
        &self,
        req: &Request,
        /// The moment to look back from: RFC 3339 or unix nanoseconds (same as `end`).
        at: Query<Option<String>>,
        /// Taken at or after: RFC 3339 or unix nanoseconds (default: all retained).
        start: Query<Option<String>>,
        /// Taken at or before: RFC 3339 or unix nanoseconds.
        end: Query<Option<String>>,
        /// Instead of `start`: how far back from `end` (or now), e.g. `24h`.
        time_range: Query<Option<String>>,
        /// Page size, 1 to 100 (default 20).
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))]
        limit: Query<Option<i64>>,
        /// `next_cursor` of the previous page.
        cursor: Query<Option<String>>,
        /// Tenant to read from (default tenant when absent); a credential bound to a tenant may
        /// only name its own.
        #[oai(name = "X-Tenant-ID")]
        x_tenant_id: Header<Option<String>>,
    ) -> SnapshotsResponse {
        const ROUTE: &str = "snapshots";
        let tenant = or_return!(self.0.tenant(req, x_tenant_id.0.as_deref()));
        if at.0.is_some() && end.0.is_some() {
            return Failure::bad("invalid time range", "give at or end, not both").into();
        }
        let cursor = or_return!(self.0.open(cursor.0, &tenant, ROUTE));
        let (time, _) = or_return!(params::names_query(start.0, at.0.or(end.0), time_range.0, None, now_ns()));
        let limit = or_return!(params::count_of(
            "invalid limit",
            limit.0,
            params::DEFAULT_INVESTIGATION_LIMIT,
            params::MAX_INVESTIGATION_LIMIT
        ));
        match self.0.queries.snapshots(&tenant, &SnapshotQuery { time, limit, cursor }).await {
            Ok(page) => SnapshotsResponse::Ok(Json(SnapshotPageView {
                snapshots: page.items.iter().map(SnapshotView::from).collect(),
                next_cursor: page.next.map(|c| self.0.seal(c, &tenant, ROUTE)),
            })),
            Err(e) => Failure::from(e).into(),
        }
    }

    /// One graph snapshot by id.
    #[oai(path = "/graph/snapshots/:id", method = "get", tag = "ApiTags::Graph", operation_id = "getSnapshot")]
    async fn get_snapshot(
        &self,
        req: &Request,
        /// The snapshot id.
        id: Path<String>,
        /// Tenant to read from (default tenant when absent); a credential bound to a tenant may
        /// only name its own.
        #[oai(name = "X-Tenant-ID")]
        x_tenant_id: Header<Option<String>>,
    ) -> SnapshotResponse {
        let tenant = or_return!(self.0.tenant(req, x_tenant_id.0.as_deref()));
        match self.0.queries.snapshot(&tenant, id.0.trim()).await {
            Ok(s) => SnapshotResponse::Ok(Json(SnapshotView::from(&s))),
            Err(e) => Failure::from(e).into(),
        }
    }
}
