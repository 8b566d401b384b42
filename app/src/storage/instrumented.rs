//! The instrumented decorator: times every storage operation and counts its errors.

use super::decorate::{OperationKind, decorate_storage};
use otelcontext_ports::Storage;
use otelcontext_telemetry::{Counter, Histogram, KeyValue, Meter, counter, histogram};
use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

/// Storage whose every call is measured in `otelcontext_db_operation_duration_seconds` and whose
/// failures are counted in `otelcontext_db_operation_errors_total`.
pub struct Instrumented {
    inner: Arc<dyn Storage>,
    duration: Histogram<f64>,
    errors: Counter<u64>,
}

impl Instrumented {
    /// Wraps `inner`.
    pub fn new(inner: Arc<dyn Storage>, meter: &Meter) -> Self {
        Self {
            inner,
            duration: histogram(
                meter,
                "otelcontext_db_operation_duration_seconds",
                "Duration of each storage operation (every attempt).",
                otelcontext_telemetry::LATENCY_BUCKETS,
            ),
            errors: counter(
                meter,
                "otelcontext_db_operation_errors_total",
                "Failed storage operation attempts, by error kind (unavailable, invalid_argument, rejected, corrupt, schema, other).",
            ),
        }
    }

    async fn around<T, F, Fut>(&self, op: &'static str, _kind: OperationKind, call: F) -> Result<T, StorageError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, StorageError>>,
    {
        let driver = self.inner.backend();
        let started = Instant::now();
        let result = call().await;
        let labels = [KeyValue::new("driver", driver), KeyValue::new("operation", op)];
        self.duration.record(started.elapsed().as_secs_f64(), &labels);
        if let Err(e) = &result {
            let [d, o] = labels;
            self.errors.add(1, &[d, o, KeyValue::new("kind", e.kind())]);
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
        let metrics = otelcontext_telemetry::Telemetry::new();
        let s = Instrumented::new(memory.clone(), &metrics.meter());
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
