//! Log patterns (Drain templates): the routes.

use crate::*;

responses!(
    PatternsResponse,
    ok(Json<PatternPageView>): "One page of patterns, most records first unless sorted by last seen.",
    bad: "A parameter is malformed (time, range, sort, limit, cursor, tenant).",
    unavailable: "The database is unavailable; retry later."
);

responses!(
    PatternResponse,
    ok(Json<PatternView>): "The pattern.",
    bad: "The id or tenant is malformed.",
    not_found: "No such pattern for this tenant.",
    unavailable: "The database is unavailable; retry later."
);

/// Log patterns.
pub struct PatternRoutes(pub(crate) Arc<QueryApi>);

#[OpenApi]
impl PatternRoutes {
    /// Log patterns: the shapes log records share (Drain templates), with how many records each
    /// matched, when it was first and last seen, a sample, the services and severities it
    /// appeared with, and whether it is new (first seen in the last hour) or spiking.
    #[allow(clippy::too_many_arguments)]
    #[oai(path = "/patterns", method = "get", tag = "ApiTags::Logs", operation_id = "searchPatterns")]
    async fn search_patterns(
        &self,
        req: &Request,
        /// Only patterns that appeared in this service (exact).
        service_name: Query<Option<String>>,
        /// Seen at or after: RFC 3339 or unix nanoseconds (default: everything retained).
        start: Query<Option<String>>,
        /// Seen at or before: RFC 3339 or unix nanoseconds.
        end: Query<Option<String>>,
        /// Instead of `start`: how far back from `end` (or now), e.g. `1h`.
        time_range: Query<Option<String>>,
        /// Only patterns first seen in the last hour.
        new: Query<Option<bool>>,
        /// Only patterns spiking when last evaluated.
        spiking: Query<Option<bool>>,
        /// `count` (default: most records first) or `last_seen` (most recent first).
        sort: Query<Option<String>>,
        /// Patterns per page, 1 to 1000 (default 100).
        #[oai(validator(minimum(value = "1"), maximum(value = "1000")))]
        limit: Query<Option<i64>>,
        /// `next_cursor` of the previous page.
        cursor: Query<Option<String>>,
        /// Tenant to read from (default tenant when absent); a credential bound to a tenant may
        /// only name its own.
        #[oai(name = "X-Tenant-ID")]
        x_tenant_id: Header<Option<String>>,
    ) -> PatternsResponse {
        let tenant = or_return!(self.0.tenant(req, x_tenant_id.0.as_deref()));
        let cursor = or_return!(self.0.open(cursor.0, &tenant, "patterns"));
        let now = now_ns();
        let raw = params::PatternParams {
            service: service_name.0,
            start: start.0,
            end: end.0,
            time_range: time_range.0,
            new: new.0,
            spiking: spiking.0,
            sort: sort.0,
            limit: limit.0,
        };
        let query = or_return!(raw.into_query(cursor, now));
        match self.0.queries.patterns(&tenant, &query).await {
            Ok(page) => PatternsResponse::Ok(Json(PatternPageView {
                patterns: page.items.iter().map(|t| PatternView::new(t, now)).collect(),
                next_cursor: page.next.map(|c| self.0.seal(c, &tenant, "patterns")),
            })),
            Err(e) => Failure::from(e).into(),
        }
    }

    /// One log pattern by id.
    #[oai(path = "/patterns/:template_id", method = "get", tag = "ApiTags::Logs", operation_id = "getPattern")]
    async fn get_pattern(
        &self,
        req: &Request,
        /// Template id: 1-16 hex characters, as in log records and pattern lists.
        template_id: Path<String>,
        /// Tenant to read from (default tenant when absent); a credential bound to a tenant may
        /// only name its own.
        #[oai(name = "X-Tenant-ID")]
        x_tenant_id: Header<Option<String>>,
    ) -> PatternResponse {
        let tenant = or_return!(self.0.tenant(req, x_tenant_id.0.as_deref()));
        let Some(id) = TemplateId::parse_hex(template_id.0.trim()) else {
            return Failure::bad("invalid template_id", "expected 1-16 hex characters").into();
        };
        match self.0.queries.pattern(&tenant, id).await {
            Ok(t) => PatternResponse::Ok(Json(PatternView::new(&t, now_ns()))),
            Err(QueryError::NotFound(_)) => {
                PatternResponse::NotFound(ErrorBody::new("pattern not found", Some(id.to_string())))
            }
            Err(e) => Failure::from(e).into(),
        }
    }
}
