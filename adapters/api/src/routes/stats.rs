//! Counts and storage status: the routes.

use crate::*;

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

responses!(
    StatsResponse,
    ok(Json<StatsView>): "Row counts of the tenant.",
    bad: "The tenant is malformed.",
    unavailable: "The database is unavailable; retry later."
);

/// Counts and storage status.
pub struct StatsRoutes(pub(crate) Arc<QueryApi>);

#[OpenApi]
impl StatsRoutes {
    /// Backend, size on disk, schema version and settings of the database.
    #[oai(path = "/storage", method = "get", tag = "ApiTags::Stats", operation_id = "getStorageStatus")]
    async fn get_storage_status(&self) -> StorageResponse {
        match self.0.queries.storage_status().await {
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
        let tenant = or_return!(self.0.tenant(req, x_tenant_id.0.as_deref()));
        match self.0.queries.stats(&tenant).await {
            Ok(c) => StatsResponse::Ok(Json(StatsView::from(c))),
            Err(e) => Failure::from(e).into(),
        }
    }
}
