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

/// One readiness check.
#[derive(Debug, Clone, PartialEq, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct HealthCheckView {
    /// `database`, `pipeline`, `dead_letter_queue`, `retention`, `service_graph`, …
    pub name: String,
    /// `ok` or `failed`.
    pub status: String,
    /// Why it failed.
    pub detail: Option<String>,
}

/// The server's health: its readiness checks, version and uptime (no tenant data).
#[derive(Debug, Clone, PartialEq, Object)]
pub struct HealthView {
    /// Every check passed: the server accepts and answers requests.
    pub ready: bool,
    pub checks: Vec<HealthCheckView>,
    pub version: String,
    pub uptime_seconds: u64,
}

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

    /// Health of the server: readiness checks (database, pipeline, dead-letter queue, retention,
    /// service graph), version and uptime. Public (no key needed); the probe for orchestrators
    /// is `/ready`, which answers 503 when a check fails.
    #[oai(path = "/health", method = "get", tag = "ApiTags::Stats", operation_id = "getHealth")]
    async fn get_health(&self) -> Json<HealthView> {
        let checks = match &self.0.readiness {
            Some(r) => r
                .check()
                .await
                .checks
                .into_iter()
                .map(|(name, status)| match status {
                    otelcontext_ports::CheckStatus::Ok => HealthCheckView { name, status: "ok".into(), detail: None },
                    otelcontext_ports::CheckStatus::Failed(m) => {
                        HealthCheckView { name, status: "failed".into(), detail: Some(m) }
                    }
                })
                .collect(),
            None => Vec::new(),
        };
        Json(HealthView {
            ready: checks.iter().all(|c| c.status == "ok"),
            checks,
            version: env!("CARGO_PKG_VERSION").into(),
            uptime_seconds: self.0.started.elapsed().as_secs(),
        })
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
