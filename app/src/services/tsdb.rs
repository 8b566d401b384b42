//! Metric buckets: committed metric points are aggregated into 30 s windows per (tenant, metric,
//! service, attribute set) by the domain's [`Tsdb`], under the cardinality caps
//! (`METRIC_MAX_CARDINALITY`, `METRIC_MAX_CARDINALITY_PER_TENANT`). Every [`FLUSH_EVERY`] the
//! windows that closed are handed to a bounded queue; one writer task stores them
//! (`metric_buckets`, merged with what a window already holds). At shutdown, after the pipeline
//! has drained, every open window is written ([`TsdbService::finish`]).
//!
//! The raw points stay in `metric_points`, so a bucket write that fails (after the storage's
//! own retries and one more attempt here) is counted and logged, and the data is not gone.

use otelcontext_domain::tsdb::{Admitted, Tsdb, TsdbConfig};
use otelcontext_domain::{MetricBucket, TenantId};
use otelcontext_ports::{Clock, CommitObserver, MetricStore, TenantBatch};
use otelcontext_telemetry::{Counter, Gauge, Histogram, KeyValue, Meter, counter, gauge, histogram};
use parking_lot::Mutex;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

/// How often closed windows are handed to the writer.
pub const FLUSH_EVERY: Duration = Duration::from_secs(5);
/// Batches of buckets waiting for the writer; past it a batch is dropped and counted.
pub const WRITE_QUEUE: usize = 256;
/// Most buckets per write.
const CHUNK: usize = 2_000;
/// Open series (of a global cap below it) past which closed windows are flushed at once.
const EARLY_FLUSH_MIN: usize = 10_000;
/// Pause before the one extra attempt at a failed write.
const RETRY_AFTER: Duration = Duration::from_secs(1);

enum Message {
    Write(TenantId, Vec<MetricBucket>),
    Done,
}

struct TsdbMetrics {
    ingested: Counter<u64>,
    skipped: Counter<u64>,
    overflow: Counter<u64>,
    overflow_by_tenant: Counter<u64>,
    open_series: Gauge<i64>,
    series_limit: Gauge<i64>,
    sources: Gauge<i64>,
    sources_limit: Gauge<i64>,
    written: Counter<u64>,
    batches_dropped: Counter<u64>,
    buckets_dropped: Counter<u64>,
    flush_duration: Histogram<f64>,
}

impl TsdbMetrics {
    fn new(meter: &Meter, config: &TsdbConfig) -> Self {
        let m = Self {
            ingested: counter(meter, "otelcontext_tsdb_ingest_total", "Metric points offered to the TSDB."),
            skipped: counter(
                meter,
                "otelcontext_tsdb_points_skipped_total",
                "Points not aggregated (too_old, too_new, stale resends, untracked cumulative sources); still stored raw.",
            ),
            overflow: counter(
                meter,
                "otelcontext_tsdb_cardinality_overflow_total",
                "Points counted in an __overflow__ series because a cardinality cap was reached (limit: tenant, global).",
            ),
            overflow_by_tenant: counter(
                meter,
                "otelcontext_tsdb_cardinality_overflow_by_tenant_total",
                "Points sent to __overflow__, by the tenant that sent them.",
            ),
            open_series: gauge(meter, "otelcontext_tsdb_open_series", "Series held in open windows (all tenants)."),
            series_limit: gauge(
                meter,
                "otelcontext_tsdb_series_limit",
                "METRIC_MAX_CARDINALITY: series per window over all tenants (0 = unlimited).",
            ),
            sources: gauge(
                meter,
                "otelcontext_tsdb_cumulative_sources",
                "Cumulative sources remembered to compute deltas.",
            ),
            sources_limit: gauge(
                meter,
                "otelcontext_tsdb_cumulative_sources_limit",
                "Most cumulative sources remembered (0 = unlimited).",
            ),
            written: counter(meter, "otelcontext_tsdb_buckets_written_total", "Metric buckets written to storage."),
            batches_dropped: counter(
                meter,
                "otelcontext_tsdb_batches_dropped_total",
                "Batches of buckets dropped because the write queue was full.",
            ),
            buckets_dropped: counter(
                meter,
                "otelcontext_tsdb_buckets_dropped_total",
                "Buckets not written (queue_full, write_failed); their raw points remain in metric_points.",
            ),
            flush_duration: histogram(
                meter,
                "otelcontext_tsdb_flush_duration_seconds",
                "Time to write one batch of buckets.",
                otelcontext_telemetry::LATENCY_BUCKETS,
            ),
        };
        m.ingested.add(0, &[]);
        for limit in ["tenant", "global"] {
            m.overflow.add(0, &[KeyValue::new("limit", limit)]);
        }
        for reason in ["queue_full", "write_failed"] {
            m.buckets_dropped.add(0, &[KeyValue::new("reason", reason)]);
        }
        m.batches_dropped.add(0, &[]);
        m.written.add(0, &[]);
        m.open_series.record(0, &[]);
        m.sources.record(0, &[]);
        m.series_limit.record(i64::try_from(config.max_series).unwrap_or(i64::MAX), &[]);
        m.sources_limit.record(i64::try_from(config.max_sources).unwrap_or(i64::MAX), &[]);
        m
    }
}

/// Aggregates committed points and writes the buckets.
pub struct TsdbService {
    tsdb: Mutex<Tsdb>,
    store: Arc<dyn MetricStore>,
    clock: Arc<dyn Clock>,
    tx: mpsc::Sender<Message>,
    rx: Mutex<Option<mpsc::Receiver<Message>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
    metrics: TsdbMetrics,
    /// Open series past which closed windows are flushed at once.
    early_flush_at: usize,
}

/// The TSDB configuration from the two cardinality caps (sources to remember: twice the global
/// cap, so every live series can be a cumulative one from two instances).
pub fn tsdb_config(max_series: usize, max_series_per_tenant: usize) -> TsdbConfig {
    TsdbConfig { max_series, max_series_per_tenant, max_sources: max_series.saturating_mul(2), ..TsdbConfig::default() }
}

impl TsdbService {
    pub fn new(store: Arc<dyn MetricStore>, clock: Arc<dyn Clock>, config: TsdbConfig, meter: &Meter) -> Self {
        let (tx, rx) = mpsc::channel(WRITE_QUEUE);
        Self {
            metrics: TsdbMetrics::new(meter, &config),
            tsdb: Mutex::new(Tsdb::new(config)),
            store,
            clock,
            tx,
            rx: Mutex::new(Some(rx)),
            writer: Mutex::new(None),
            early_flush_at: config.max_series.max(EARLY_FLUSH_MIN).saturating_mul(2),
        }
    }

    /// Aggregates the metric points of committed batches.
    pub fn ingest(&self, batches: &[TenantBatch]) {
        let now = self.clock.now_ns();
        let (mut offered, mut skipped) = (0u64, [0u64; 4]);
        let mut overflow: Vec<(&TenantId, Admitted, u64)> = Vec::new();
        let (open, sources) = {
            let mut t = self.tsdb.lock();
            for b in batches.iter().filter(|b| !b.metrics.is_empty()) {
                let (mut of_tenant, mut global) = (0u64, 0u64);
                for p in &b.metrics {
                    offered += 1;
                    match t.ingest(&b.tenant, p, now) {
                        Admitted::Series | Admitted::Baseline => {}
                        Admitted::TenantOverflow => of_tenant += 1,
                        Admitted::GlobalOverflow => global += 1,
                        Admitted::TooOld => skipped[0] += 1,
                        Admitted::TooNew => skipped[1] += 1,
                        Admitted::Stale => skipped[2] += 1,
                        Admitted::Untracked => skipped[3] += 1,
                    }
                }
                for (why, n) in [(Admitted::TenantOverflow, of_tenant), (Admitted::GlobalOverflow, global)] {
                    if n > 0 {
                        overflow.push((&b.tenant, why, n));
                    }
                }
            }
            (t.open_series(), t.sources())
        };
        let m = &self.metrics;
        m.ingested.add(offered, &[]);
        for (reason, n) in ["too_old", "too_new", "stale", "untracked"].into_iter().zip(skipped) {
            if n > 0 {
                m.skipped.add(n, &[KeyValue::new("reason", reason)]);
            }
        }
        for (tenant, why, n) in overflow {
            let limit = if why == Admitted::TenantOverflow { "tenant" } else { "global" };
            m.overflow.add(n, &[KeyValue::new("limit", limit)]);
            m.overflow_by_tenant.add(n, &[KeyValue::new("tenant_id", tenant.as_str().to_owned())]);
        }
        self.publish(open, sources);
        if open > self.early_flush_at {
            // Late points (a replay, a backfill) fill windows that are already closed: hand them
            // to the writer now rather than at the next tick, so memory stays bounded.
            self.flush_closed();
        }
    }

    fn publish(&self, open: usize, sources: usize) {
        self.metrics.open_series.record(i64::try_from(open).unwrap_or(i64::MAX), &[]);
        self.metrics.sources.record(i64::try_from(sources).unwrap_or(i64::MAX), &[]);
    }

    /// Hands the windows closed by now to the writer; returns how many buckets were queued.
    pub fn flush_closed(&self) -> usize {
        let (closed, open, sources) = {
            let mut t = self.tsdb.lock();
            let closed = t.take_closed(self.clock.now_ns());
            (closed, t.open_series(), t.sources())
        };
        self.publish(open, sources);
        let mut queued = 0;
        for (tenant, buckets) in closed {
            for chunk in buckets.chunks(CHUNK) {
                match self.tx.try_send(Message::Write(tenant.clone(), chunk.to_vec())) {
                    Ok(()) => queued += chunk.len(),
                    Err(_) => {
                        self.metrics.batches_dropped.add(1, &[]);
                        self.metrics.buckets_dropped.add(chunk.len() as u64, &[KeyValue::new("reason", "queue_full")]);
                        tracing::warn!(
                            tenant = tenant.as_str(),
                            buckets = chunk.len(),
                            "TSDB write queue full: buckets dropped"
                        );
                    }
                }
            }
        }
        queued
    }

    async fn write(&self, tenant: &TenantId, buckets: &[MetricBucket]) {
        let started = std::time::Instant::now();
        let mut result = self.store.write_buckets(tenant, buckets).await;
        if let Err(e) = &result {
            tracing::warn!(tenant = tenant.as_str(), error = %e, "writing metric buckets failed; trying once more");
            tokio::time::sleep(RETRY_AFTER).await;
            result = self.store.write_buckets(tenant, buckets).await;
        }
        self.metrics.flush_duration.record(started.elapsed().as_secs_f64(), &[]);
        match result {
            Ok(()) => self.metrics.written.add(buckets.len() as u64, &[]),
            Err(e) => {
                self.metrics.buckets_dropped.add(buckets.len() as u64, &[KeyValue::new("reason", "write_failed")]);
                tracing::error!(tenant = tenant.as_str(), buckets = buckets.len(), error = %e,
                    "metric buckets not written (the raw points are stored)");
            }
        }
    }

    /// Starts the writer and the flush timer (which stops when `stop` fires; the final flush is
    /// [`TsdbService::finish`], after the pipeline has drained).
    pub fn spawn(self: Arc<Self>, mut stop: watch::Receiver<bool>) -> JoinHandle<()> {
        if let Some(mut rx) = self.rx.lock().take() {
            let me = self.clone();
            let writer = tokio::spawn(async move {
                while let Some(Message::Write(tenant, buckets)) = rx.recv().await {
                    me.write(&tenant, &buckets).await;
                }
            });
            *self.writer.lock() = Some(writer);
        }
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(FLUSH_EVERY) => {}
                    _ = stop.wait_for(|v| *v) => return,
                }
                self.flush_closed();
            }
        })
    }

    /// Writes every open window and waits for the writer to finish (without a running writer,
    /// writes them itself).
    pub async fn finish(&self) {
        let (all, sources) = {
            let mut t = self.tsdb.lock();
            (t.take_all(), t.sources())
        };
        self.publish(0, sources);
        let writer = self.writer.lock().take();
        let Some(writer) = writer else {
            let mut queued = Vec::new();
            if let Some(rx) = self.rx.lock().as_mut() {
                while let Ok(Message::Write(tenant, buckets)) = rx.try_recv() {
                    queued.push((tenant, buckets));
                }
            }
            for (tenant, buckets) in queued.into_iter().chain(all) {
                for chunk in buckets.chunks(CHUNK) {
                    self.write(&tenant, chunk).await;
                }
            }
            return;
        };
        for (tenant, buckets) in all {
            for chunk in buckets.chunks(CHUNK) {
                if self.tx.send(Message::Write(tenant.clone(), chunk.to_vec())).await.is_err() {
                    break;
                }
            }
        }
        let _ = self.tx.send(Message::Done).await;
        if let Err(e) = writer.await {
            tracing::error!(error = %e, "TSDB writer ended abnormally");
        }
    }
}

impl CommitObserver for TsdbService {
    fn committed(&self, batches: &[TenantBatch]) {
        self.ingest(batches);
    }
}

#[cfg(test)]
mod tests;
