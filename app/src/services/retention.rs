//! Retention: every hour, batched purges of everything older than `HOT_RETENTION_DAYS` (and of
//! graph snapshots older than 7 days), daily partition upkeep on Postgres (create ahead, drop
//! wholly expired days), and a daily maintenance pass (planner statistics, vacuum) — all off the
//! write path and cross-tenant by design. Each job counts its failures and successes; a tick
//! arriving while a job still runs is skipped.

use otelcontext_domain::retention::{DAY_NS, RetentionPolicy, partition_days};
use otelcontext_ports::{Clock, Maintenance, RetentionTarget, StorageError};
use otelcontext_telemetry::Metrics;
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

/// The scheduled storage jobs.
pub struct RetentionService {
    storage: Arc<dyn Maintenance>,
    clock: Arc<dyn Clock>,
    metrics: Arc<Metrics>,
    settings: RetentionSettings,
    busy: AtomicBool,
}

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
        metrics: Arc<Metrics>,
        settings: RetentionSettings,
    ) -> Self {
        Self { storage, clock, metrics, settings, busy: AtomicBool::new(false) }
    }

    fn begin(&self, job: &str) -> Option<Busy<'_>> {
        if self.busy.swap(true, Ordering::SeqCst) {
            tracing::warn!(job, "previous storage job still running; skipping this tick");
            return None;
        }
        Some(Busy(&self.busy))
    }

    fn record<T>(&self, job: &str, result: &Result<T, StorageError>) {
        let failures = self.metrics.retention_consecutive_failures.with_label_values(&[job]);
        match result {
            Ok(_) => {
                failures.set(0);
                let now_s = self.clock.now_ns() / 1_000_000_000;
                self.metrics.retention_last_success.with_label_values(&[job]).set(now_s);
            }
            Err(e) => {
                failures.inc();
                tracing::error!(job, error = %e, "storage job failed");
            }
        }
    }

    /// One purge pass over every table; `None` when another job was running.
    pub async fn purge_once(&self) -> Option<Result<PurgeReport, StorageError>> {
        let _busy = self.begin("purge")?;
        let started = Instant::now();
        let result = self.purge().await;
        let driver = self.storage.backend();
        self.metrics.retention_purge_duration.with_label_values(&[driver]).observe(started.elapsed().as_secs_f64());
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
            self.metrics.retention_rows_behind.with_label_values(&[target.as_str(), driver]).set(behind as i64);
            let mut deleted = 0;
            loop {
                let n = self.storage.purge(target, cutoff, self.settings.batch_size).await?;
                deleted += n;
                self.metrics.retention_rows_purged.with_label_values(&[target.as_str(), driver]).inc_by(n);
                if n < self.settings.batch_size as u64 {
                    break;
                }
                tokio::time::sleep(self.settings.batch_sleep).await;
            }
            self.metrics
                .retention_rows_behind
                .with_label_values(&[target.as_str(), driver])
                .set(behind.saturating_sub(deleted) as i64);
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
        self.metrics.partitions_dropped.inc_by(dropped.len() as u64);
        self.metrics.partitions_active.set(self.storage.log_partitions().await?.len() as i64);
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
        self.metrics
            .retention_vacuum_duration
            .with_label_values(&[driver, "all"])
            .observe(started.elapsed().as_secs_f64());
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

#[cfg(test)]
mod tests;
