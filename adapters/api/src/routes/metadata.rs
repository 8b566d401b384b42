//! Names in use: the routes.

use crate::*;

responses!(
    NamesResponse,
    ok(Json<Vec<String>>): "The names, sorted.",
    bad: "A parameter is malformed (time, range, limit, tenant) or missing.",
    unavailable: "The database is unavailable; retry later."
);

/// Names in use.
pub struct MetadataRoutes(pub(crate) Arc<QueryApi>);

#[OpenApi]
impl MetadataRoutes {
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
        #[oai(validator(minimum(value = "1"), maximum(value = "10000")))]
        limit: Query<Option<i64>>,
        /// Tenant to read from (default tenant when absent); a credential bound to a tenant may
        /// only name its own.
        #[oai(name = "X-Tenant-ID")]
        x_tenant_id: Header<Option<String>>,
    ) -> NamesResponse {
        let (tenant, (time, limit)) =
            or_return!(self.0.names_request(req, &x_tenant_id, start, end, time_range, limit));
        self.0
            .queries
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
        #[oai(validator(minimum(value = "1"), maximum(value = "10000")))]
        limit: Query<Option<i64>>,
        /// Tenant to read from (default tenant when absent); a credential bound to a tenant may
        /// only name its own.
        #[oai(name = "X-Tenant-ID")]
        x_tenant_id: Header<Option<String>>,
    ) -> NamesResponse {
        let (tenant, (time, limit)) =
            or_return!(self.0.names_request(req, &x_tenant_id, start, end, time_range, limit));
        let Some(service) = params::present(service_name.0) else {
            return Failure::bad("missing service_name", "give the service whose operations to list").into();
        };
        self.0
            .queries
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
        #[oai(validator(minimum(value = "1"), maximum(value = "10000")))]
        limit: Query<Option<i64>>,
        /// Tenant to read from (default tenant when absent); a credential bound to a tenant may
        /// only name its own.
        #[oai(name = "X-Tenant-ID")]
        x_tenant_id: Header<Option<String>>,
    ) -> NamesResponse {
        let (tenant, (time, limit)) =
            or_return!(self.0.names_request(req, &x_tenant_id, start, end, time_range, limit));
        let service = params::present(service_name.0);
        self.0
            .queries
            .metric_names(&tenant, service, time, limit)
            .await
            .map_or_else(|e| Failure::from(e).into(), |v| NamesResponse::Ok(Json(v)))
    }
}
