//! The live service graph: the routes.

use crate::*;

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
}
