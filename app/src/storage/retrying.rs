//! The retrying decorator: transient failures (`StorageError::Unavailable`) are retried after
//! pauses, so the pipeline, the query API and later the dead-letter replay all get the same
//! policy. Every storage operation is idempotent, so a retried write stores its data once.

use super::decorate::{OperationKind, decorate_storage};
use otelcontext_ports::Storage;
use otelcontext_telemetry::{Counter, KeyValue, Meter, counter};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// Pauses before each retry, by kind of operation; the number of pauses is the number of retries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    pub writes: Vec<Duration>,
    pub reads: Vec<Duration>,
}

impl Default for RetryPolicy {
    /// Writes: 3 retries after 100 ms, 500 ms and 2 s (a database restart or lock storm passes
    /// unnoticed). Reads: one retry after 50 ms (a person or agent is waiting).
    fn default() -> Self {
        Self {
            writes: vec![Duration::from_millis(100), Duration::from_millis(500), Duration::from_secs(2)],
            reads: vec![Duration::from_millis(50)],
        }
    }
}

impl RetryPolicy {
    fn delays(&self, kind: OperationKind) -> &[Duration] {
        match kind {
            OperationKind::Write => &self.writes,
            OperationKind::Read => &self.reads,
            OperationKind::Probe => &[],
        }
    }
}

/// Storage whose transient failures are retried by policy, counted in
/// `otelcontext_db_operation_retries_total{outcome="retry"|"gave_up"}`.
pub struct Retrying {
    inner: Arc<dyn Storage>,
    policy: RetryPolicy,
    retries: Counter<u64>,
}

impl Retrying {
    /// Wraps `inner`.
    pub fn new(inner: Arc<dyn Storage>, policy: RetryPolicy, meter: &Meter) -> Self {
        let retries = counter(
            meter,
            "otelcontext_db_operation_retries_total",
            "Transient storage failures: retried (outcome=retry) or given up after the last retry (outcome=gave_up).",
        );
        Self { inner, policy, retries }
    }

    fn count(&self, driver: &'static str, op: &'static str, outcome: &'static str) {
        let labels =
            [KeyValue::new("driver", driver), KeyValue::new("operation", op), KeyValue::new("outcome", outcome)];
        self.retries.add(1, &labels);
    }

    async fn around<T, F, Fut>(&self, op: &'static str, kind: OperationKind, call: F) -> Result<T, StorageError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, StorageError>>,
    {
        let driver = self.inner.backend();
        let delays = self.policy.delays(kind);
        let mut attempt = 0;
        loop {
            match call().await {
                Err(e) if e.is_transient() && attempt < delays.len() => {
                    self.count(driver, op, "retry");
                    tracing::warn!(operation = op, error = %e, attempt = attempt + 1, "storage operation failed, retrying");
                    tokio::time::sleep(delays[attempt]).await;
                    attempt += 1;
                }
                Err(e) => {
                    if e.is_transient() && !delays.is_empty() {
                        self.count(driver, op, "gave_up");
                    }
                    return Err(e);
                }
                ok => return ok,
            }
        }
    }
}

decorate_storage!(Retrying);

#[cfg(test)]
mod tests {
    use super::*;
    use otelcontext_memory::MemoryStorage;

    fn quick() -> RetryPolicy {
        RetryPolicy { writes: vec![Duration::from_millis(1); 3], reads: vec![Duration::from_millis(1)] }
    }

    fn batch() -> Vec<TenantBatch> {
        otelcontext_ports::conformance::fixtures::logs_batch(
            &TenantId::parse("t").unwrap(),
            vec![otelcontext_ports::conformance::fixtures::text_log(1, "svc", "hello")],
        )
    }

    #[tokio::test]
    async fn a_write_that_fails_transiently_is_retried_until_it_succeeds() {
        let memory = Arc::new(MemoryStorage::new());
        memory.set_failing(true);
        let metrics = otelcontext_telemetry::Telemetry::new();
        let s = Arc::new(Retrying::new(
            memory.clone(),
            RetryPolicy { writes: vec![Duration::from_millis(30); 3], ..quick() },
            &metrics.meter(),
        ));
        let writing = tokio::spawn({
            let s = s.clone();
            async move { s.write(&batch()).await }
        });
        tokio::time::sleep(Duration::from_millis(40)).await;
        memory.set_failing(false);
        let summary = writing.await.unwrap().unwrap();
        assert_eq!(summary.logs, 1);
        assert!(
            metrics.render().contains(
                r#"otelcontext_db_operation_retries_total{driver="memory",operation="write",outcome="retry"}"#
            )
        );
    }

    #[tokio::test]
    async fn after_the_last_retry_the_error_is_returned_and_counted() {
        let memory = Arc::new(MemoryStorage::new());
        memory.set_failing(true);
        let metrics = otelcontext_telemetry::Telemetry::new();
        let s = Retrying::new(memory, quick(), &metrics.meter());
        assert!(matches!(s.write(&batch()).await, Err(StorageError::Unavailable(_))));
        let text = metrics.render();
        assert!(text.contains(
            r#"otelcontext_db_operation_retries_total{driver="memory",operation="write",outcome="retry"} 3"#
        ));
        assert!(text.contains(
            r#"otelcontext_db_operation_retries_total{driver="memory",operation="write",outcome="gave_up"} 1"#
        ));
    }

    #[tokio::test]
    async fn probes_and_client_errors_are_not_retried() {
        let memory = Arc::new(MemoryStorage::new());
        let metrics = otelcontext_telemetry::Telemetry::new();
        let s = Retrying::new(memory.clone(), quick(), &metrics.meter());
        assert!(matches!(
            s.search_logs(&TenantId::parse("t").unwrap(), &LogQuery::recent(0)).await,
            Err(StorageError::InvalidArgument(_))
        ));
        memory.set_failing(true);
        assert!(s.ping().await.is_err());
        assert!(!metrics.render().contains("otelcontext_db_operation_retries_total{"));
    }
}
