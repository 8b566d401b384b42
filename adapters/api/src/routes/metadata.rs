//! Names in use: the routes.

use crate::*;

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

failure_into!(NamesResponse);

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
        limit: Query<Option<i64>>,
        /// Tenant to read from (default tenant when absent); a credential bound to a tenant may
        /// only name its own.
        #[oai(name = "X-Tenant-ID")]
        x_tenant_id: Header<Option<String>>,
    ) -> NamesResponse {
        let (tenant, (time, limit)) = match self.0.names_request(req, &x_tenant_id, start, end, time_range, limit) {
            Ok(r) => r,
            Err(f) => return f.into(),
        };
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
        limit: Query<Option<i64>>,
        /// Tenant to read from (default tenant when absent); a credential bound to a tenant may
        /// only name its own.
        #[oai(name = "X-Tenant-ID")]
        x_tenant_id: Header<Option<String>>,
    ) -> NamesResponse {
        let (tenant, (time, limit)) = match self.0.names_request(req, &x_tenant_id, start, end, time_range, limit) {
            Ok(r) => r,
            Err(f) => return f.into(),
        };
        let Some(service) = service_name.0.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()) else {
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
        limit: Query<Option<i64>>,
        /// Tenant to read from (default tenant when absent); a credential bound to a tenant may
        /// only name its own.
        #[oai(name = "X-Tenant-ID")]
        x_tenant_id: Header<Option<String>>,
    ) -> NamesResponse {
        let (tenant, (time, limit)) = match self.0.names_request(req, &x_tenant_id, start, end, time_range, limit) {
            Ok(r) => r,
            Err(f) => return f.into(),
        };
        let service = service_name.0.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
        self.0
            .queries
            .metric_names(&tenant, service, time, limit)
            .await
            .map_or_else(|e| Failure::from(e).into(), |v| NamesResponse::Ok(Json(v)))
    }
}
