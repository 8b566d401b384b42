//! Implements every storage port for a decorator by passing each call through the decorator's
//! `around(operation, kind, call)` (written once here, so the instrumented and the retrying
//! decorators cannot drift from the ports). `call` may be run more than once (retries): every
//! storage operation is idempotent.

/// What an operation does, for retry policies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OperationKind {
    /// Reads data.
    Read,
    /// Writes data (idempotent).
    Write,
    /// Health checks: answered at once, never retried.
    Probe,
}

/// `decorate_storage!(Type)`: `Type` has a field `inner: Arc<dyn Storage>` and an inherent
/// `async fn around<T, F, Fut>(&self, op: &'static str, kind: OperationKind, call: F) -> Result<T, StorageError>`
/// where `F: Fn() -> Fut`. Exported so that users (and tests) can write their own decorators
/// around any storage; the calling crate needs `async-trait`, `otelcontext-domain` and
/// `otelcontext-ports` as dependencies.
#[macro_export]
macro_rules! decorate_storage {
    ($ty:ty) => {
        use otelcontext_domain::retention::Day;
        use otelcontext_domain::{
            GraphSnapshot, Investigation, LogTemplate, MetricBucket, MetricPoint, Span, TemplateId, TenantId, Trace,
            TraceId, TraceSummary,
        };
        use otelcontext_ports::{
            BucketQuery, IntelligenceStore, InvestigationQuery, LogId, LogPartition, LogQuery, LogStore, Maintenance,
            MetricQuery, MetricStore, Page, PoolStats, RetentionTarget, SignalCounts, SnapshotQuery, SpanQuery,
            StorageError, StorageStatus, StoredLog, TelemetryWriter, TemplateQuery, TenantBatch, TimeRange, TraceQuery,
            TraceStore, WriteSummary,
        };
        use $crate::storage::decorate::OperationKind::{Probe, Read, Write};

        #[async_trait::async_trait]
        impl TelemetryWriter for $ty {
            async fn write(&self, batches: &[TenantBatch]) -> Result<WriteSummary, StorageError> {
                self.around("write", Write, || self.inner.write(batches)).await
            }
        }

        #[async_trait::async_trait]
        impl TraceStore for $ty {
            async fn get_trace(&self, t: &TenantId, id: &TraceId) -> Result<Option<Trace>, StorageError> {
                self.around("get_trace", Read, || self.inner.get_trace(t, id)).await
            }
            async fn search_traces(&self, t: &TenantId, q: &TraceQuery) -> Result<Page<TraceSummary>, StorageError> {
                self.around("search_traces", Read, || self.inner.search_traces(t, q)).await
            }
            async fn search_spans(&self, t: &TenantId, q: &SpanQuery) -> Result<Page<Span>, StorageError> {
                self.around("search_spans", Read, || self.inner.search_spans(t, q)).await
            }
            async fn services(&self, t: &TenantId, time: TimeRange, limit: usize) -> Result<Vec<String>, StorageError> {
                self.around("services", Read, || self.inner.services(t, time, limit)).await
            }
            async fn operations(
                &self,
                t: &TenantId,
                service: &str,
                time: TimeRange,
                limit: usize,
            ) -> Result<Vec<String>, StorageError> {
                self.around("operations", Read, || self.inner.operations(t, service, time, limit)).await
            }
            async fn trace_stats(
                &self,
                t: &TenantId,
                q: &otelcontext_ports::TraceStatsQuery,
            ) -> Result<otelcontext_ports::TraceStats, StorageError> {
                self.around("trace_stats", Read, || self.inner.trace_stats(t, q)).await
            }
            async fn traffic(
                &self,
                t: &TenantId,
                q: &otelcontext_ports::SeriesQuery,
            ) -> Result<Vec<otelcontext_ports::TrafficPoint>, StorageError> {
                self.around("traffic", Read, || self.inner.traffic(t, q)).await
            }
            async fn latency_heatmap(
                &self,
                t: &TenantId,
                q: &otelcontext_ports::SeriesQuery,
            ) -> Result<Vec<otelcontext_ports::HeatCell>, StorageError> {
                self.around("latency_heatmap", Read, || self.inner.latency_heatmap(t, q)).await
            }
        }

        #[async_trait::async_trait]
        impl LogStore for $ty {
            async fn search_logs(&self, t: &TenantId, q: &LogQuery) -> Result<Page<StoredLog>, StorageError> {
                self.around("search_logs", Read, || self.inner.search_logs(t, q)).await
            }
            async fn get_log(&self, t: &TenantId, id: LogId) -> Result<Option<StoredLog>, StorageError> {
                self.around("get_log", Read, || self.inner.get_log(t, id)).await
            }
        }

        #[async_trait::async_trait]
        impl MetricStore for $ty {
            async fn search_metric_points(
                &self,
                t: &TenantId,
                q: &MetricQuery,
            ) -> Result<Page<MetricPoint>, StorageError> {
                self.around("search_metric_points", Read, || self.inner.search_metric_points(t, q)).await
            }
            async fn write_buckets(&self, t: &TenantId, b: &[MetricBucket]) -> Result<(), StorageError> {
                self.around("write_buckets", Write, || self.inner.write_buckets(t, b)).await
            }
            async fn search_buckets(&self, t: &TenantId, q: &BucketQuery) -> Result<Page<MetricBucket>, StorageError> {
                self.around("search_buckets", Read, || self.inner.search_buckets(t, q)).await
            }
            async fn metric_names<'a>(
                &self,
                t: &TenantId,
                service: Option<&'a str>,
                time: TimeRange,
                limit: usize,
            ) -> Result<Vec<String>, StorageError> {
                self.around("metric_names", Read, || self.inner.metric_names(t, service, time, limit)).await
            }
        }

        #[async_trait::async_trait]
        impl IntelligenceStore for $ty {
            async fn upsert_templates(&self, t: &TenantId, templates: &[LogTemplate]) -> Result<(), StorageError> {
                self.around("upsert_templates", Write, || self.inner.upsert_templates(t, templates)).await
            }
            async fn list_templates(&self, t: &TenantId) -> Result<Vec<LogTemplate>, StorageError> {
                self.around("list_templates", Read, || self.inner.list_templates(t)).await
            }
            async fn get_template(&self, t: &TenantId, id: TemplateId) -> Result<Option<LogTemplate>, StorageError> {
                self.around("get_template", Read, || self.inner.get_template(t, id)).await
            }
            async fn search_templates(
                &self,
                t: &TenantId,
                q: &TemplateQuery,
            ) -> Result<Page<LogTemplate>, StorageError> {
                self.around("search_templates", Read, || self.inner.search_templates(t, q)).await
            }
            async fn save_investigation(&self, t: &TenantId, i: &Investigation) -> Result<(), StorageError> {
                self.around("save_investigation", Write, || self.inner.save_investigation(t, i)).await
            }
            async fn get_investigation(&self, t: &TenantId, id: &str) -> Result<Option<Investigation>, StorageError> {
                self.around("get_investigation", Read, || self.inner.get_investigation(t, id)).await
            }
            async fn search_investigations(
                &self,
                t: &TenantId,
                q: &InvestigationQuery,
            ) -> Result<Page<Investigation>, StorageError> {
                self.around("search_investigations", Read, || self.inner.search_investigations(t, q)).await
            }
            async fn save_snapshot(&self, t: &TenantId, s: &GraphSnapshot) -> Result<(), StorageError> {
                self.around("save_snapshot", Write, || self.inner.save_snapshot(t, s)).await
            }
            async fn get_snapshot(&self, t: &TenantId, id: &str) -> Result<Option<GraphSnapshot>, StorageError> {
                self.around("get_snapshot", Read, || self.inner.get_snapshot(t, id)).await
            }
            async fn search_snapshots(
                &self,
                t: &TenantId,
                q: &SnapshotQuery,
            ) -> Result<Page<GraphSnapshot>, StorageError> {
                self.around("search_snapshots", Read, || self.inner.search_snapshots(t, q)).await
            }
        }

        #[async_trait::async_trait]
        impl Maintenance for $ty {
            fn backend(&self) -> &'static str {
                self.inner.backend()
            }
            async fn ping(&self) -> Result<(), StorageError> {
                self.around("ping", Probe, || self.inner.ping()).await
            }
            async fn counts(&self, t: &TenantId) -> Result<SignalCounts, StorageError> {
                self.around("counts", Read, || self.inner.counts(t)).await
            }
            async fn tenants(&self) -> Result<Vec<TenantId>, StorageError> {
                self.around("tenants", Read, || self.inner.tenants()).await
            }
            async fn purge(&self, target: RetentionTarget, cutoff_ns: i64, batch: usize) -> Result<u64, StorageError> {
                self.around("purge", Write, || self.inner.purge(target, cutoff_ns, batch)).await
            }
            async fn purge_tenant(
                &self,
                t: &TenantId,
                target: RetentionTarget,
                cutoff_ns: i64,
                batch: usize,
            ) -> Result<u64, StorageError> {
                self.around("purge_tenant", Write, || self.inner.purge_tenant(t, target, cutoff_ns, batch)).await
            }
            async fn count_older_than(&self, target: RetentionTarget, cutoff_ns: i64) -> Result<u64, StorageError> {
                self.around("count_older_than", Read, || self.inner.count_older_than(target, cutoff_ns)).await
            }
            async fn optimize(&self) -> Result<(), StorageError> {
                self.around("optimize", Write, || self.inner.optimize()).await
            }
            async fn status(&self) -> Result<StorageStatus, StorageError> {
                self.around("status", Probe, || self.inner.status()).await
            }
            fn pool_stats(&self) -> Option<PoolStats> {
                self.inner.pool_stats()
            }
            async fn log_partitions(&self) -> Result<Vec<LogPartition>, StorageError> {
                self.around("log_partitions", Read, || self.inner.log_partitions()).await
            }
            async fn create_log_partitions(&self, days: &[Day]) -> Result<usize, StorageError> {
                self.around("create_log_partitions", Write, || self.inner.create_log_partitions(days)).await
            }
            async fn drop_log_partition(&self, name: &str) -> Result<(), StorageError> {
                self.around("drop_log_partition", Write, || self.inner.drop_log_partition(name)).await
            }
            async fn close(&self) {
                self.inner.close().await
            }
        }
    };
}

pub use decorate_storage;
