//! The instrumented decorator: times every storage operation and counts its errors.

use super::decorate::{OperationKind, decorate_storage};
use otelcontext_ports::Storage;
use otelcontext_telemetry::Metrics;
use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

/// Storage whose every call is measured in `otelcontext_db_operation_duration_seconds` and whose
/// failures are counted in `otelcontext_db_operation_errors_total`.
pub struct Instrumented {
    inner: Arc<dyn Storage>,
    metrics: Arc<Metrics>,
}

impl Instrumented {
    /// Wraps `inner`.
    pub fn new(inner: Arc<dyn Storage>, metrics: Arc<Metrics>) -> Self {
        Self { inner, metrics }
    }

    async fn around<T, F, Fut>(&self, op: &'static str, _kind: OperationKind, call: F) -> Result<T, StorageError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, StorageError>>,
    {
        let driver = self.inner.backend();
        let started = Instant::now();
        let result = call().await;
        self.metrics.db_operation_duration.with_label_values(&[driver, op]).observe(started.elapsed().as_secs_f64());
        if let Err(e) = &result {
            self.metrics.db_operation_errors.with_label_values(&[driver, op, e.kind()]).inc();
        }
        result
    }
}

decorate_storage!(Instrumented);

#[cfg(test)]
mod tests {
    use super::*;
    use otelcontext_memory::MemoryStorage;

    #[tokio::test]
    async fn every_call_is_timed_and_failures_are_counted_by_kind() {
        let memory = Arc::new(MemoryStorage::new());
        let metrics = Arc::new(Metrics::new());
        let s = Instrumented::new(memory.clone(), metrics.clone());
        let t = TenantId::parse("t").unwrap();
        s.counts(&t).await.unwrap();
        memory.set_failing(true);
        assert!(s.search_logs(&t, &LogQuery::recent(1)).await.is_err());
        let text = metrics.render();
        assert!(
            text.contains(r#"otelcontext_db_operation_duration_seconds_count{driver="memory",operation="counts"} 1"#)
        );
        assert!(text.contains(
            r#"otelcontext_db_operation_errors_total{driver="memory",kind="unavailable",operation="search_logs"} 1"#
        ));
    }
}
