//! Retention: every hour, batched purges of everything older than `HOT_RETENTION_DAYS` (and of
//! graph snapshots older than 7 days), daily partition upkeep on Postgres (create ahead, drop
//! wholly expired days), and a daily maintenance pass (planner statistics, vacuum) — all off the
//! write path and cross-tenant by design. Each job counts its failures and successes; a tick
//! arriving while a job still runs is skipped.

use otelcontext_domain::retention::{DAY_NS, RetentionPolicy, partition_days};
use otelcontext_ports::{Clock, Maintenance, RetentionTarget, StorageError};
use otelcontext_telemetry::{Counter, Gauge, Histogram, KeyValue, Meter, counter, gauge, histogram};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How long graph snapshots are kept, whatever `HOT_RETENTION_DAYS` says.
pub const SNAPSHOT_RETENTION_DAYS: u32 = 7;
/// Purge (and partition upkeep) period.
pub const PURGE_EVERY: Duration = Duration::from_secs(3_600);
/// Maintenance period (the first run is one period after start).
pub const MAINTAIN_EVERY: Duration = Duration::from_secs(24 * 3_600);

/// Retention settings.
#[derive(Debug, Clone, PartialEq)]
pub struct RetentionSettings {
    pub policy: RetentionPolicy,
    /// Rows one purge statement deletes.
    pub batch_size: usize,
    /// Pause between purge statements.
    pub batch_sleep: Duration,
    /// Daily log partitions created ahead of today.
    pub lookahead_days: u32,
}

/// Rows deleted per table by one purge pass.
pub type PurgeReport = BTreeMap<&'static str, u64>;

/// The storage jobs' metrics.
struct RetentionMetrics {
    rows_purged: Counter<u64>,
    rows_behind: Gauge<i64>,
    purge_duration: Histogram<f64>,
    vacuum_duration: Histogram<f64>,
    consecutive_failures: Gauge<i64>,
    last_success: Gauge<i64>,
    partitions_dropped: Counter<u64>,
    partitions_active: Gauge<i64>,
}

impl RetentionMetrics {
    fn new(meter: &Meter) -> Self {
        let buckets = otelcontext_telemetry::MAINTENANCE_BUCKETS;
        let m = Self {
            rows_purged: counter(meter, "otelcontext_retention_rows_purged_total", "Rows deleted by retention."),
            rows_behind: gauge(
                meter,
                "otelcontext_retention_rows_behind",
                "Rows older than the retention cutoff still stored (measured before each purge).",
            ),
            purge_duration: histogram(
                meter,
                "otelcontext_retention_purge_duration_seconds",
                "Duration of one retention purge pass over every table.",
                buckets,
            ),
            vacuum_duration: histogram(
                meter,
                "otelcontext_retention_vacuum_duration_seconds",
                "Duration of the daily maintenance (statistics and vacuum).",
                buckets,
            ),
            consecutive_failures: gauge(
                meter,
                "otelcontext_retention_consecutive_failures",
                "Consecutive failed runs of a storage job (purge, maintenance, partitions); 0 after a success.",
            ),
            last_success: gauge(
                meter,
                "otelcontext_retention_last_success_timestamp",
                "Unix seconds of the last successful run of a storage job.",
            ),
            partitions_dropped: counter(
                meter,
                "otelcontext_partitions_dropped_total",
                "Daily log partitions dropped because they were wholly older than the retention.",
            ),
            partitions_active: gauge(
                meter,
                "otelcontext_partitions_active",
                "Partitions attached to the partitioned logs table (daily ones and the default one).",
            ),
        };
        m.partitions_dropped.add(0, &[]);
        m
    }
}

/// The scheduled storage jobs.
pub struct RetentionService {
    storage: Arc<dyn Maintenance>,
    clock: Arc<dyn Clock>,
    metrics: RetentionMetrics,
    settings: RetentionSettings,
    busy: AtomicBool,
    /// Consecutive failures by job.
    failures: parking_lot::Mutex<BTreeMap<&'static str, i64>>,
    /// When the service was made, and when the purge last succeeded (unix ns).
    started_ns: i64,
    last_purge_ns: std::sync::atomic::AtomicI64,
}

/// Retention is stale when the purge has not succeeded for this long (two hourly runs).
pub const RETENTION_STALE_AFTER: Duration = Duration::from_secs(2 * 3600);
/// …or has failed this many times in a row.
pub const RETENTION_MAX_FAILURES: i64 = 3;

/// Marks the service busy for the duration of one job.
struct Busy<'a>(&'a AtomicBool);

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::SeqCst);
    }
}

impl RetentionService {
    /// The jobs over this storage.
    pub fn new(
        storage: Arc<dyn Maintenance>,
        clock: Arc<dyn Clock>,
        meter: &Meter,
        settings: RetentionSettings,
    ) -> Self {
        let metrics = RetentionMetrics::new(meter);
        let failures = parking_lot::Mutex::new(BTreeMap::new());
        let started_ns = clock.now_ns();
        let last_purge_ns = std::sync::atomic::AtomicI64::new(0);
        Self { storage, clock, metrics, settings, busy: AtomicBool::new(false), failures, started_ns, last_purge_ns }
    }

    /// `Err` with the reason when retention is falling behind: the purge failed more than
    /// [`RETENTION_MAX_FAILURES`] times in a row, or has not succeeded for
    /// [`RETENTION_STALE_AFTER`] (counted from the start while it never has).
    pub fn freshness(&self) -> Result<(), String> {
        let failures = self.failures.lock().get("purge").copied().unwrap_or(0);
        if failures > RETENTION_MAX_FAILURES {
            return Err(format!("retention purge failed {failures} times in a row"));
        }
        let last = self.last_purge_ns.load(Ordering::SeqCst);
        let since = if last == 0 { self.started_ns } else { last };
        let age = Duration::from_nanos(self.clock.now_ns().saturating_sub(since).max(0) as u64);
        if age > RETENTION_STALE_AFTER {
            let what = if last == 0 { "since start" } else { "for" };
            return Err(format!("retention purge has not succeeded {what} {}", format_age(age)));
        }
        Ok(())
    }

    fn begin(&self, job: &str) -> Option<Busy<'_>> {
        if self.busy.swap(true, Ordering::SeqCst) {
            tracing::warn!(job, "previous storage job still running; skipping this tick");
            return None;
        }
        Some(Busy(&self.busy))
    }

    fn record<T>(&self, job: &'static str, result: &Result<T, StorageError>) {
        let label = [KeyValue::new("job", job)];
        let mut failures = self.failures.lock();
        let count = failures.entry(job).or_insert(0);
        match result {
            Ok(_) => {
                *count = 0;
                let now = self.clock.now_ns();
                if job == "purge" {
                    self.last_purge_ns.store(now.max(1), Ordering::SeqCst);
                }
                let now_s = now / 1_000_000_000;
                self.metrics.last_success.record(now_s, &label);
            }
            Err(e) => {
                *count += 1;
                tracing::error!(job, error = %e, "storage job failed");
            }
        }
        self.metrics.consecutive_failures.record(*count, &label);
    }

    /// One purge pass over every table; `None` when another job was running.
    pub async fn purge_once(&self) -> Option<Result<PurgeReport, StorageError>> {
        let _busy = self.begin("purge")?;
        let started = Instant::now();
        let result =
            tracing::Instrument::instrument(self.purge(), tracing::info_span!("otelcontext.retention.purge")).await;
        let driver = self.storage.backend();
        self.metrics.purge_duration.record(started.elapsed().as_secs_f64(), &[KeyValue::new("driver", driver)]);
        self.record("purge", &result);
        Some(result)
    }

    async fn purge(&self) -> Result<PurgeReport, StorageError> {
        let now = self.clock.now_ns();
        let hot = self.settings.policy.cutoff_ns(now);
        let snapshots = now.saturating_sub(i64::from(SNAPSHOT_RETENTION_DAYS) * DAY_NS);
        let driver = self.storage.backend();
        let mut report = PurgeReport::new();
        let targets =
            RetentionTarget::HOT.into_iter().map(|t| (t, hot)).chain([(RetentionTarget::GraphSnapshots, snapshots)]);
        for (target, cutoff) in targets {
            let behind = self.storage.count_older_than(target, cutoff).await?;
            let labels = [KeyValue::new("table", target.as_str()), KeyValue::new("driver", driver)];
            self.metrics.rows_behind.record(behind as i64, &labels);
            let mut deleted = 0;
            loop {
                let n = self.storage.purge(target, cutoff, self.settings.batch_size).await?;
                deleted += n;
                self.metrics.rows_purged.add(n, &labels);
                if n < self.settings.batch_size as u64 {
                    break;
                }
                tokio::time::sleep(self.settings.batch_sleep).await;
            }
            self.metrics.rows_behind.record(behind.saturating_sub(deleted) as i64, &labels);
            report.insert(target.as_str(), deleted);
        }
        Ok(report)
    }

    /// Creates the partitions of yesterday to today + lookahead and drops the partitions wholly
    /// older than the retention (Postgres with daily partitioning; a no-op elsewhere). Returns
    /// the names dropped; `None` when another job was running.
    pub async fn partitions_once(&self) -> Option<Result<Vec<String>, StorageError>> {
        let _busy = self.begin("partitions")?;
        let result = self.partitions().await;
        self.record("partitions", &result);
        Some(result)
    }

    async fn partitions(&self) -> Result<Vec<String>, StorageError> {
        if self.storage.log_partitions().await?.is_empty() {
            return Ok(Vec::new());
        }
        let now = self.clock.now_ns();
        self.storage.create_log_partitions(&partition_days(now, self.settings.lookahead_days)).await?;
        let mut dropped = Vec::new();
        for p in self.storage.log_partitions().await? {
            if let Some((_, end)) = p.range
                && self.settings.policy.partition_expired(end, now)
            {
                self.storage.drop_log_partition(&p.name).await?;
                dropped.push(p.name);
            }
        }
        self.metrics.partitions_dropped.add(dropped.len() as u64, &[]);
        self.metrics.partitions_active.record(self.storage.log_partitions().await?.len() as i64, &[]);
        if !dropped.is_empty() {
            tracing::info!(dropped = ?dropped, "dropped expired log partitions");
        }
        Ok(dropped)
    }

    /// Statistics and vacuum; `None` when another job was running.
    pub async fn maintain_once(&self) -> Option<Result<(), StorageError>> {
        let _busy = self.begin("maintenance")?;
        let started = Instant::now();
        let result = self.storage.optimize().await;
        let driver = self.storage.backend();
        let labels = [KeyValue::new("driver", driver), KeyValue::new("table", "all")];
        self.metrics.vacuum_duration.record(started.elapsed().as_secs_f64(), &labels);
        self.record("maintenance", &result);
        Some(result)
    }

    /// Runs the jobs until `stop` turns true: partitions and a purge at once, then every hour;
    /// maintenance every day.
    pub fn spawn(self: Arc<Self>, mut stop: watch::Receiver<bool>) -> JoinHandle<()> {
        tokio::spawn(async move {
            let mut hourly = tokio::time::interval(PURGE_EVERY);
            let mut daily = tokio::time::interval_at(tokio::time::Instant::now() + MAINTAIN_EVERY, MAINTAIN_EVERY);
            hourly.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            daily.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            loop {
                tokio::select! {
                    _ = hourly.tick() => {
                        self.partitions_once().await;
                        self.purge_once().await;
                    }
                    _ = daily.tick() => {
                        self.maintain_once().await;
                    }
                    changed = stop.changed() => {
                        if changed.is_err() || *stop.borrow() {
                            return;
                        }
                    }
                }
            }
        })
    }
}

fn format_age(d: Duration) -> String {
    otelcontext_domain::duration::format_duration(Duration::from_secs(d.as_secs()))
}

#[cfg(test)]
mod tests;
