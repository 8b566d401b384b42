//! Administration behind `ADMIN_API_KEY`: purging one tenant's data from every table (in
//! batches, so ingest keeps going) and reclaiming space.

use crate::services::auth::constant_time_eq;
use async_trait::async_trait;
use otelcontext_domain::TenantId;
use otelcontext_ports::{Admin, AdminRefusal, Clock, Maintenance, PurgeReport, QueryError, RetentionTarget};
use otelcontext_telemetry::{Counter, KeyValue, Meter, counter};
use std::sync::Arc;
use std::time::Duration;

/// Something the server holds of a tenant in memory, dropped when all its data is purged.
pub type Forget = Arc<dyn Fn(&TenantId) + Send + Sync>;

/// The admin use cases.
pub struct AdminService {
    key: String,
    maintenance: Arc<dyn Maintenance>,
    clock: Arc<dyn Clock>,
    batch: usize,
    pause: Duration,
    forget: Vec<Forget>,
    purged: Counter<u64>,
}

impl AdminService {
    /// Admin over `maintenance`, behind `key` (empty: the admin routes are off); purges delete
    /// `batch` rows a transaction with `pause` between batches.
    pub fn new(
        key: String,
        maintenance: Arc<dyn Maintenance>,
        clock: Arc<dyn Clock>,
        batch: usize,
        pause: Duration,
        meter: &Meter,
    ) -> Self {
        let purged = counter(meter, "otelcontext_admin_purged_rows_total", "Rows deleted by admin purges, by table.");
        Self { key, maintenance, clock, batch: batch.max(1), pause, forget: Vec::new(), purged }
    }

    /// Also drops what `forget` holds of a tenant when a purge covers all its data.
    pub fn forgetting(mut self, forget: Forget) -> Self {
        self.forget.push(forget);
        self
    }
}

#[async_trait]
impl Admin for AdminService {
    fn check_key(&self, presented: Option<&str>) -> Result<(), AdminRefusal> {
        if self.key.is_empty() {
            return Err(AdminRefusal::Disabled);
        }
        let presented = presented.map(str::trim).filter(|k| !k.is_empty()).ok_or(AdminRefusal::Missing)?;
        if constant_time_eq(presented.as_bytes(), self.key.as_bytes()) { Ok(()) } else { Err(AdminRefusal::Wrong) }
    }

    async fn purge(&self, tenant: &TenantId, cutoff_ns: i64) -> Result<PurgeReport, QueryError> {
        if cutoff_ns >= self.clock.now_ns() {
            for forget in &self.forget {
                forget(tenant);
            }
        }
        let mut deleted = Vec::new();
        for target in RetentionTarget::ALL {
            let mut total = 0;
            loop {
                let n = self.maintenance.purge_tenant(tenant, target, cutoff_ns, self.batch).await?;
                total += n;
                if n < self.batch as u64 {
                    break;
                }
                if !self.pause.is_zero() {
                    tokio::time::sleep(self.pause).await;
                }
            }
            self.purged.add(total, &[KeyValue::new("table", target.as_str())]);
            deleted.push((target, total));
        }
        tracing::info!(tenant = %tenant, cutoff_ns, ?deleted, "admin purge");
        Ok(PurgeReport { cutoff_ns, deleted })
    }

    async fn vacuum(&self) -> Result<(), QueryError> {
        Ok(self.maintenance.optimize().await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use otelcontext_ports::{MockClock, MockMaintenance, StorageError};
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn service(maintenance: MockMaintenance, key: &str, now: i64) -> AdminService {
        let mut clock = MockClock::new();
        clock.expect_now_ns().return_const(now);
        let meter = otelcontext_telemetry::Telemetry::new().meter();
        AdminService::new(key.into(), Arc::new(maintenance), Arc::new(clock), 2, Duration::ZERO, &meter)
    }

    #[test]
    fn the_admin_key_must_be_configured_and_presented() {
        let s = service(MockMaintenance::new(), "s3cret-admin", 0);
        assert_eq!(s.check_key(Some("s3cret-admin")), Ok(()));
        assert_eq!(s.check_key(Some(" s3cret-admin ")), Ok(()));
        assert_eq!(s.check_key(Some("s3cret")), Err(AdminRefusal::Wrong));
        assert_eq!(s.check_key(None), Err(AdminRefusal::Missing));
        assert_eq!(s.check_key(Some("")), Err(AdminRefusal::Missing));
        let off = service(MockMaintenance::new(), "", 0);
        assert_eq!(off.check_key(Some("anything")), Err(AdminRefusal::Disabled));
    }

    #[tokio::test]
    async fn a_purge_empties_every_table_of_the_tenant_in_batches() {
        let t = TenantId::parse("acme").unwrap();
        let mut m = MockMaintenance::new();
        // Logs take three batches (2, 2, 1); every other table one empty batch.
        let calls = Arc::new(AtomicUsize::new(0));
        let c = calls.clone();
        m.expect_purge_tenant()
            .withf(|t, _, cutoff, batch| t.as_str() == "acme" && *cutoff == 50 && *batch == 2)
            .returning(move |_, target, _, _| {
                if target != RetentionTarget::Logs {
                    return Ok(0);
                }
                Ok([2, 2, 1][c.fetch_add(1, Ordering::SeqCst).min(2)])
            });
        let forgotten = Arc::new(AtomicUsize::new(0));
        let f = forgotten.clone();
        let s = service(m, "k", 100).forgetting(Arc::new(move |_| {
            f.fetch_add(1, Ordering::SeqCst);
        }));
        let report = s.purge(&t, 50).await.unwrap();
        assert_eq!(report.deleted.len(), RetentionTarget::ALL.len());
        assert_eq!(report.deleted[0], (RetentionTarget::Logs, 5));
        assert_eq!(calls.load(Ordering::SeqCst), 3);
        assert_eq!(forgotten.load(Ordering::SeqCst), 0, "an older-than purge keeps what is held in memory");
    }

    #[tokio::test]
    async fn a_purge_of_everything_forgets_the_tenant_and_storage_errors_surface() {
        let t = TenantId::parse("acme").unwrap();
        let mut m = MockMaintenance::new();
        m.expect_purge_tenant().returning(|_, _, _, _| Err(StorageError::Unavailable("locked".into())));
        let forgotten = Arc::new(AtomicUsize::new(0));
        let f = forgotten.clone();
        let s = service(m, "k", 100).forgetting(Arc::new(move |_| {
            f.fetch_add(1, Ordering::SeqCst);
        }));
        assert!(matches!(s.purge(&t, 100).await, Err(QueryError::Unavailable(_))));
        assert_eq!(forgotten.load(Ordering::SeqCst), 1);
    }
}
