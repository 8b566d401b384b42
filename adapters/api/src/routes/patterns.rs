//! Log patterns (Drain templates): the routes.

use crate::*;

#[derive(ApiResponse)]
enum PatternsResponse {
    /// One page of patterns, most records first unless sorted by last seen.
    #[oai(status = 200)]
    Ok(Json<PatternPageView>),
    /// A parameter is malformed (time, range, sort, limit, cursor, tenant).
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
enum PatternResponse {
    /// The pattern.
    #[oai(status = 200)]
    Ok(Json<PatternView>),
    /// The id or tenant is malformed.
    #[oai(status = 400)]
    BadRequest(Json<ErrorBody>),
    /// The credential is bound to another tenant than `X-Tenant-ID` names.
    #[oai(status = 403)]
    Forbidden(Json<ErrorBody>),
    /// No such pattern for this tenant.
    #[oai(status = 404)]
    NotFound(Json<ErrorBody>),
    /// The database is unavailable; retry later.
    #[oai(status = 503)]
    Unavailable(Json<ErrorBody>),
    /// Unexpected failure.
    #[oai(status = 500)]
    Internal(Json<ErrorBody>),
}

failure_into!(PatternsResponse);
failure_into!(PatternResponse, not_found);

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
        limit: Query<Option<i64>>,
        /// `next_cursor` of the previous page.
        cursor: Query<Option<String>>,
        /// Tenant to read from (default tenant when absent); a credential bound to a tenant may
        /// only name its own.
        #[oai(name = "X-Tenant-ID")]
        x_tenant_id: Header<Option<String>>,
    ) -> PatternsResponse {
        let tenant = match self.0.tenant(req, x_tenant_id.0.as_deref()) {
            Ok(t) => t,
            Err(f) => return f.into(),
        };
        let cursor = match self.0.open(cursor.0, &tenant, "patterns") {
            Ok(c) => c,
            Err(f) => return f.into(),
        };
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
        let query = match raw.into_query(cursor, now) {
            Ok(q) => q,
            Err((error, detail)) => return Failure::bad(error, detail).into(),
        };
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
        let tenant = match self.0.tenant(req, x_tenant_id.0.as_deref()) {
            Ok(t) => t,
            Err(f) => return f.into(),
        };
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
