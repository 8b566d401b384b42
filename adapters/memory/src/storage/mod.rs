//! Reference storage held in memory: every port implemented as plainly as possible, so the
//! conformance suite has an obviously correct model to agree with.

mod paging;
mod reads;

use async_trait::async_trait;
use otelcontext_domain::retention::Day;
use otelcontext_domain::{
    GraphSnapshot, Investigation, LogRecord, LogTemplate, MetricBucket, MetricPoint, Span, SpanId, StatusCode,
    TemplateId, TenantId, TraceId, TraceSummary,
};
use otelcontext_ports::{
    LogPartition, Maintenance, PoolStats, RetentionTarget, SignalCounts, StorageError, StorageStatus, TelemetryWriter,
    TenantBatch, WriteSummary,
};
use parking_lot::Mutex;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

/// A stored row: its never-reused id and the value.
#[derive(Debug, Clone)]
struct Row<T> {
    id: i64,
    value: T,
}

#[derive(Default)]
struct TenantData {
    traces: HashMap<TraceId, Row<TraceSummary>>,
    spans: HashMap<(TraceId, SpanId), Row<Span>>,
    logs: Vec<Row<LogRecord>>,
    log_keys: HashSet<(i64, i64)>,
    points: Vec<Row<MetricPoint>>,
    point_keys: HashSet<(i64, i64)>,
    buckets: HashMap<(i64, i64), Row<MetricBucket>>,
    templates: BTreeMap<TemplateId, LogTemplate>,
    investigations: HashMap<String, Row<Investigation>>,
    snapshots: HashMap<String, Row<GraphSnapshot>>,
}

impl TenantData {
    fn is_empty(&self) -> bool {
        self.traces.is_empty() && self.logs.is_empty() && self.points.is_empty() && self.buckets.is_empty()
    }
}

/// Storage in process memory. Not durable; for tests, examples and the conformance suite.
///
/// Two test hooks simulate a struggling database: [`MemoryStorage::set_write_delay`] slows every
/// write and [`MemoryStorage::set_failing`] makes writes fail as if the database were down.
#[derive(Default)]
pub struct MemoryStorage {
    tenants: Mutex<HashMap<TenantId, TenantData>>,
    next_id: AtomicU64,
    write_delay_ms: AtomicU64,
    failing: AtomicBool,
    closed: AtomicBool,
}

impl MemoryStorage {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Delays every subsequent write (test hook for back-pressure).
    pub fn set_write_delay(&self, delay: Duration) {
        self.write_delay_ms.store(delay.as_millis() as u64, Ordering::SeqCst);
    }

    /// Makes every operation fail with `Unavailable` (test hook for outages).
    pub fn set_failing(&self, failing: bool) {
        self.failing.store(failing, Ordering::SeqCst);
    }

    fn check_available(&self) -> Result<(), StorageError> {
        if self.closed.load(Ordering::SeqCst) {
            return Err(StorageError::Unavailable("storage is closed".into()));
        }
        if self.failing.load(Ordering::SeqCst) {
            return Err(StorageError::Unavailable("simulated outage".into()));
        }
        Ok(())
    }

    fn id(&self) -> i64 {
        self.next_id.fetch_add(1, Ordering::SeqCst) as i64 + 1
    }

    /// Runs `f` on a tenant's data (created if missing) after the availability check.
    fn with_tenant<R>(&self, tenant: &TenantId, f: impl FnOnce(&mut TenantData) -> R) -> Result<R, StorageError> {
        self.check_available()?;
        let mut tenants = self.tenants.lock();
        Ok(f(tenants.entry(tenant.clone()).or_default()))
    }

    /// Runs `f` on a tenant's data (an empty one when the tenant is unknown).
    fn read<R>(&self, tenant: &TenantId, f: impl FnOnce(&TenantData) -> R) -> Result<R, StorageError> {
        self.check_available()?;
        let tenants = self.tenants.lock();
        Ok(match tenants.get(tenant) {
            Some(d) => f(d),
            None => f(&TenantData::default()),
        })
    }

    fn write_tenant(&self, data: &mut TenantData, batch: &TenantBatch, summary: &mut WriteSummary) {
        let mut new_spans = Vec::new();
        for span in &batch.spans {
            let key = (span.trace_id, span.span_id);
            if data.spans.contains_key(&key) {
                summary.duplicate_spans += 1;
                continue;
            }
            data.spans.insert(key, Row { id: self.id(), value: span.clone() });
            new_spans.push(span);
            summary.spans += 1;
        }
        for s in otelcontext_domain::trace::summarize(new_spans.iter().copied()) {
            match data.traces.get_mut(&s.trace_id) {
                Some(existing) => existing.value.merge(&s),
                None => {
                    data.traces.insert(s.trace_id, Row { id: self.id(), value: s });
                }
            }
        }
        for log in &batch.logs {
            if data.log_keys.insert((log.timestamp_ns, log.dedup_key())) {
                data.logs.push(Row { id: self.id(), value: log.clone() });
                summary.logs += 1;
            } else {
                summary.duplicate_logs += 1;
            }
        }
        for point in &batch.metrics {
            if data.point_keys.insert((point.time_ns, point.series_key())) {
                data.points.push(Row { id: self.id(), value: point.clone() });
                summary.metric_points += 1;
            } else {
                summary.duplicate_points += 1;
            }
        }
    }
}

#[async_trait]
impl TelemetryWriter for MemoryStorage {
    async fn write(&self, batches: &[TenantBatch]) -> Result<WriteSummary, StorageError> {
        let delay = self.write_delay_ms.load(Ordering::SeqCst);
        if delay > 0 {
            tokio::time::sleep(Duration::from_millis(delay)).await;
        }
        self.check_available()?;
        let mut summary = WriteSummary::default();
        let mut tenants = self.tenants.lock();
        for batch in batches.iter().filter(|b| b.items() > 0) {
            self.write_tenant(tenants.entry(batch.tenant.clone()).or_default(), batch, &mut summary);
        }
        Ok(summary)
    }
}

/// Deletes up to `budget` entries of a map whose value is older than the cutoff.
fn purge_map<K: Clone + Eq + std::hash::Hash, V>(
    map: &mut HashMap<K, V>,
    is_old: impl Fn(&V) -> bool,
    budget: &mut usize,
) -> u64 {
    let old: Vec<K> = map.iter().filter(|(_, v)| is_old(v)).map(|(k, _)| k.clone()).take(*budget).collect();
    for k in &old {
        map.remove(k);
    }
    *budget -= old.len();
    old.len() as u64
}

/// Deletes up to `budget` rows of a vector older than the cutoff.
fn purge_vec<T>(rows: &mut Vec<Row<T>>, is_old: impl Fn(&T) -> bool, budget: &mut usize) -> u64 {
    let before = rows.len();
    rows.retain(|r| {
        if *budget > 0 && is_old(&r.value) {
            *budget -= 1;
            false
        } else {
            true
        }
    });
    (before - rows.len()) as u64
}

/// Deletes up to `budget` rows of one tenant's `target` older than the cutoff.
fn purge_in(data: &mut TenantData, target: RetentionTarget, cutoff_ns: i64, budget: &mut usize) -> u64 {
    match target {
        RetentionTarget::Logs => {
            let n = purge_vec(&mut data.logs, |l| l.timestamp_ns < cutoff_ns, budget);
            data.log_keys = data.logs.iter().map(|r| (r.value.timestamp_ns, r.value.dedup_key())).collect();
            n
        }
        RetentionTarget::Traces => {
            let old: Vec<TraceId> = data
                .traces
                .iter()
                .filter(|(_, t)| t.value.start_ns < cutoff_ns)
                .map(|(id, _)| *id)
                .take(*budget)
                .collect();
            for id in &old {
                data.traces.remove(id);
            }
            data.spans.retain(|(trace, _), _| !old.contains(trace));
            *budget -= old.len();
            old.len() as u64
        }
        RetentionTarget::MetricPoints => {
            let n = purge_vec(&mut data.points, |p| p.time_ns < cutoff_ns, budget);
            data.point_keys = data.points.iter().map(|r| (r.value.time_ns, r.value.series_key())).collect();
            n
        }
        RetentionTarget::MetricBuckets => purge_map(&mut data.buckets, |b| b.value.start_ns < cutoff_ns, budget),
        RetentionTarget::GraphSnapshots => purge_map(&mut data.snapshots, |s| s.value.created_ns < cutoff_ns, budget),
        RetentionTarget::Investigations => {
            purge_map(&mut data.investigations, |i| i.value.created_ns < cutoff_ns, budget)
        }
        RetentionTarget::Templates => {
            let old: Vec<_> = data
                .templates
                .iter()
                .filter(|(_, t)| t.last_seen_ns < cutoff_ns)
                .map(|(id, _)| *id)
                .take(*budget)
                .collect();
            for id in &old {
                data.templates.remove(id);
            }
            *budget -= old.len();
            old.len() as u64
        }
    }
}

#[async_trait]
impl Maintenance for MemoryStorage {
    fn backend(&self) -> &'static str {
        "memory"
    }

    async fn ping(&self) -> Result<(), StorageError> {
        self.check_available()
    }

    async fn counts(&self, tenant: &TenantId) -> Result<SignalCounts, StorageError> {
        self.read(tenant, |data| SignalCounts {
            traces: data.traces.len() as u64,
            spans: data.spans.len() as u64,
            logs: data.logs.len() as u64,
            metric_points: data.points.len() as u64,
            error_traces: data.traces.values().filter(|t| t.value.status == StatusCode::Error).count() as u64,
        })
    }

    async fn tenants(&self) -> Result<Vec<TenantId>, StorageError> {
        self.check_available()?;
        let tenants = self.tenants.lock();
        let mut out: Vec<TenantId> = tenants.iter().filter(|(_, d)| !d.is_empty()).map(|(t, _)| t.clone()).collect();
        out.sort();
        Ok(out)
    }

    async fn purge(&self, target: RetentionTarget, cutoff_ns: i64, batch: usize) -> Result<u64, StorageError> {
        self.check_available()?;
        let mut tenants = self.tenants.lock();
        let mut budget = batch;
        let mut deleted = 0;
        for data in tenants.values_mut() {
            if budget == 0 {
                break;
            }
            deleted += purge_in(data, target, cutoff_ns, &mut budget);
        }
        Ok(deleted)
    }

    async fn purge_tenant(
        &self,
        tenant: &TenantId,
        target: RetentionTarget,
        cutoff_ns: i64,
        batch: usize,
    ) -> Result<u64, StorageError> {
        self.check_available()?;
        if batch == 0 {
            return Err(StorageError::InvalidArgument("purge batch must be at least 1".into()));
        }
        let mut budget = batch;
        Ok(self.tenants.lock().get_mut(tenant).map_or(0, |data| purge_in(data, target, cutoff_ns, &mut budget)))
    }

    async fn count_older_than(&self, target: RetentionTarget, cutoff_ns: i64) -> Result<u64, StorageError> {
        self.check_available()?;
        let tenants = self.tenants.lock();
        Ok(tenants
            .values()
            .map(|d| match target {
                RetentionTarget::Logs => d.logs.iter().filter(|l| l.value.timestamp_ns < cutoff_ns).count(),
                RetentionTarget::Traces => d.traces.values().filter(|t| t.value.start_ns < cutoff_ns).count(),
                RetentionTarget::MetricPoints => d.points.iter().filter(|p| p.value.time_ns < cutoff_ns).count(),
                RetentionTarget::MetricBuckets => d.buckets.values().filter(|b| b.value.start_ns < cutoff_ns).count(),
                RetentionTarget::GraphSnapshots => {
                    d.snapshots.values().filter(|s| s.value.created_ns < cutoff_ns).count()
                }
                RetentionTarget::Investigations => {
                    d.investigations.values().filter(|i| i.value.created_ns < cutoff_ns).count()
                }
                RetentionTarget::Templates => d.templates.values().filter(|t| t.last_seen_ns < cutoff_ns).count(),
            } as u64)
            .sum())
    }

    async fn optimize(&self) -> Result<(), StorageError> {
        self.check_available()
    }

    async fn status(&self) -> Result<StorageStatus, StorageError> {
        self.check_available()?;
        Ok(StorageStatus { backend: "memory".into(), full_text_indexed: false, ..StorageStatus::default() })
    }

    fn pool_stats(&self) -> Option<PoolStats> {
        None
    }

    async fn log_partitions(&self) -> Result<Vec<LogPartition>, StorageError> {
        self.check_available().map(|()| Vec::new())
    }

    async fn create_log_partitions(&self, _days: &[Day]) -> Result<usize, StorageError> {
        self.check_available().map(|()| 0)
    }

    async fn drop_log_partition(&self, name: &str) -> Result<(), StorageError> {
        self.check_available()?;
        Err(StorageError::InvalidArgument(format!("no partition {name:?}: logs are not partitioned")))
    }

    async fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod conformance {
    use super::MemoryStorage;
    use otelcontext_ports::conformance::TestStorage;
    use std::sync::Arc;

    async fn fresh() -> TestStorage {
        TestStorage { storage: Arc::new(MemoryStorage::new()), guard: Box::new(()) }
    }

    otelcontext_ports::storage_conformance_tests!(fresh);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn failing_mode_refuses_writes_and_pings() {
        let s = MemoryStorage::new();
        s.set_failing(true);
        assert!(matches!(s.ping().await, Err(StorageError::Unavailable(_))));
        assert!(s.write(&[]).await.is_err());
        s.set_failing(false);
        s.ping().await.unwrap();
    }

    #[tokio::test]
    async fn closed_storage_is_unavailable() {
        let s = MemoryStorage::new();
        s.close().await;
        assert!(matches!(s.ping().await, Err(StorageError::Unavailable(_))));
    }
}
