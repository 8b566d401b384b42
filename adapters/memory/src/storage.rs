//! Reference storage held in memory.

use async_trait::async_trait;
use otelcontext_domain::trace::TraceSummary;
use otelcontext_domain::{LogRecord, MetricPoint, Span, SpanId, StatusCode, TenantId, Trace, TraceId};
use otelcontext_ports::{LogQuery, MetricQuery, SignalCounts, Storage, StorageError, TenantBatch, WriteSummary};
use parking_lot::Mutex;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

#[derive(Default)]
struct TenantData {
    traces: HashMap<TraceId, TraceSummary>,
    spans: HashMap<(TraceId, SpanId), Span>,
    logs: Vec<LogRecord>,
    log_keys: HashSet<(i64, i64)>,
    points: Vec<MetricPoint>,
    point_keys: HashSet<(i64, i64)>,
}

/// Storage in process memory. Not durable; for tests, examples and the conformance suite.
///
/// Two test hooks simulate a struggling database: [`MemoryStorage::set_write_delay`] slows every
/// write and [`MemoryStorage::set_failing`] makes writes fail as if the database were down.
#[derive(Default)]
pub struct MemoryStorage {
    tenants: Mutex<HashMap<TenantId, TenantData>>,
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

    /// Makes writes and pings fail with `Unavailable` (test hook for outages).
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
}

fn write_tenant(data: &mut TenantData, batch: &TenantBatch, summary: &mut WriteSummary) {
    let mut new_spans = Vec::new();
    for span in &batch.spans {
        let key = (span.trace_id, span.span_id);
        if data.spans.contains_key(&key) {
            summary.duplicate_spans += 1;
            continue;
        }
        data.spans.insert(key, span.clone());
        new_spans.push(span);
        summary.spans += 1;
    }
    for s in otelcontext_domain::trace::summarize(new_spans.iter().copied()) {
        match data.traces.get_mut(&s.trace_id) {
            Some(existing) => existing.merge(&s),
            None => {
                data.traces.insert(s.trace_id, s);
            }
        }
    }
    for log in &batch.logs {
        if data.log_keys.insert((log.timestamp_ns, log.dedup_key())) {
            data.logs.push(log.clone());
            summary.logs += 1;
        } else {
            summary.duplicate_logs += 1;
        }
    }
    for point in &batch.metrics {
        if data.point_keys.insert((point.time_ns, point.series_key())) {
            data.points.push(point.clone());
            summary.metric_points += 1;
        } else {
            summary.duplicate_points += 1;
        }
    }
}

fn in_window(t: i64, start: Option<i64>, end: Option<i64>) -> bool {
    start.is_none_or(|s| t >= s) && end.is_none_or(|e| t <= e)
}

#[async_trait]
impl Storage for MemoryStorage {
    fn backend(&self) -> &'static str {
        "memory"
    }

    async fn write(&self, batches: &[TenantBatch]) -> Result<WriteSummary, StorageError> {
        let delay = self.write_delay_ms.load(Ordering::SeqCst);
        if delay > 0 {
            tokio::time::sleep(Duration::from_millis(delay)).await;
        }
        self.check_available()?;
        let mut summary = WriteSummary::default();
        let mut tenants = self.tenants.lock();
        for batch in batches.iter().filter(|b| b.items() > 0) {
            write_tenant(tenants.entry(batch.tenant.clone()).or_default(), batch, &mut summary);
        }
        Ok(summary)
    }

    async fn get_trace(&self, tenant: &TenantId, trace_id: &TraceId) -> Result<Option<Trace>, StorageError> {
        let tenants = self.tenants.lock();
        let Some(data) = tenants.get(tenant) else { return Ok(None) };
        let Some(summary) = data.traces.get(trace_id) else { return Ok(None) };
        let mut spans: Vec<Span> = data.spans.values().filter(|s| s.trace_id == *trace_id).cloned().collect();
        spans.sort_by_key(|s| (s.start_ns, s.span_id));
        let mut logs: Vec<LogRecord> = data.logs.iter().filter(|l| l.trace_id == Some(*trace_id)).cloned().collect();
        logs.sort_by_key(|l| l.timestamp_ns);
        Ok(Some(Trace { summary: summary.clone(), spans, logs }))
    }

    async fn query_logs(&self, tenant: &TenantId, q: &LogQuery) -> Result<Vec<LogRecord>, StorageError> {
        let tenants = self.tenants.lock();
        let Some(data) = tenants.get(tenant) else { return Ok(vec![]) };
        let mut hits: Vec<(usize, &LogRecord)> = data
            .logs
            .iter()
            .enumerate()
            .filter(|(_, l)| q.trace_id.is_none_or(|t| l.trace_id == Some(t)))
            .filter(|(_, l)| q.service.as_deref().is_none_or(|s| l.service_name() == s))
            .filter(|(_, l)| in_window(l.timestamp_ns, q.start_ns, q.end_ns))
            .collect();
        hits.sort_by(|a, b| b.1.timestamp_ns.cmp(&a.1.timestamp_ns).then(b.0.cmp(&a.0)));
        Ok(hits.into_iter().take(q.limit).map(|(_, l)| l.clone()).collect())
    }

    async fn query_metric_points(&self, tenant: &TenantId, q: &MetricQuery) -> Result<Vec<MetricPoint>, StorageError> {
        let tenants = self.tenants.lock();
        let Some(data) = tenants.get(tenant) else { return Ok(vec![]) };
        let mut hits: Vec<(usize, &MetricPoint)> = data
            .points
            .iter()
            .enumerate()
            .filter(|(_, p)| q.name.as_deref().is_none_or(|n| p.name == n))
            .filter(|(_, p)| q.service.as_deref().is_none_or(|s| p.service_name() == s))
            .filter(|(_, p)| in_window(p.time_ns, q.start_ns, q.end_ns))
            .collect();
        hits.sort_by(|a, b| a.1.time_ns.cmp(&b.1.time_ns).then(a.0.cmp(&b.0)));
        Ok(hits.into_iter().take(q.limit).map(|(_, p)| p.clone()).collect())
    }

    async fn counts(&self, tenant: &TenantId) -> Result<SignalCounts, StorageError> {
        let tenants = self.tenants.lock();
        let Some(data) = tenants.get(tenant) else { return Ok(SignalCounts::default()) };
        Ok(SignalCounts {
            traces: data.traces.len() as u64,
            spans: data.spans.len() as u64,
            logs: data.logs.len() as u64,
            metric_points: data.points.len() as u64,
            error_traces: data.traces.values().filter(|t| t.status == StatusCode::Error).count() as u64,
        })
    }

    async fn ping(&self) -> Result<(), StorageError> {
        self.check_available()
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
