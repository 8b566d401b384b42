//! Dead letters: batches the pipeline accepted but could not store go to the dead-letter queue,
//! and are replayed from there every `DLQ_REPLAY_INTERVAL` with exponential backoff until they
//! are stored, given up after `DLQ_MAX_RETRIES`, or found unreadable and quarantined.
//!
//! Replays go through the same storage writer as the pipeline, whose writes are idempotent, so
//! a batch replayed twice (a crash between the write and the file's removal) is stored once.

use otelcontext_domain::dlq::ReplayPolicy;
use otelcontext_ports::{Clock, DeadLetterQueue, DlqError, TelemetryWriter, TenantBatch};
use otelcontext_telemetry::{Counter, Gauge, KeyValue, Meter, counter, gauge};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The dead-letter queue's metrics (scope `otelcontext.dlq`).
pub struct DlqMetrics {
    enqueued: Counter<u64>,
    enqueued_records: Counter<u64>,
    size: Gauge<i64>,
    disk_bytes: Gauge<i64>,
    max_disk_bytes: Gauge<i64>,
    replay_success: Counter<u64>,
    replay_failure: Counter<u64>,
    evicted: Counter<u64>,
    evicted_bytes: Counter<u64>,
    dropped: Counter<u64>,
    quarantined: Counter<u64>,
}

impl DlqMetrics {
    /// Registers the instruments.
    pub fn new(meter: &Meter) -> Self {
        let m = Self {
            enqueued: counter(meter, "otelcontext_dlq_enqueued_total", "Batches written to the dead-letter queue."),
            enqueued_records: counter(
                meter,
                "otelcontext_dlq_enqueued_records_total",
                "Records (spans, log records, metric points) written to the dead-letter queue.",
            ),
            size: gauge(meter, "otelcontext_dlq_size", "Batches waiting in the dead-letter queue."),
            disk_bytes: gauge(meter, "otelcontext_dlq_disk_bytes", "Bytes the dead-letter queue takes on disk."),
            max_disk_bytes: gauge(
                meter,
                "otelcontext_dlq_max_disk_bytes",
                "The dead-letter queue's byte cap (DLQ_MAX_DISK_MB in bytes; 0 = unlimited).",
            ),
            replay_success: counter(
                meter,
                "otelcontext_dlq_replay_success_total",
                "Dead-letter batches replayed into storage.",
            ),
            replay_failure: counter(
                meter,
                "otelcontext_dlq_replay_failure_total",
                "Failed replays of dead-letter batches (each is retried with backoff).",
            ),
            evicted: counter(
                meter,
                "otelcontext_dlq_evicted_total",
                "Oldest dead-letter batches deleted to stay under DLQ_MAX_FILES / DLQ_MAX_DISK_MB.",
            ),
            evicted_bytes: counter(
                meter,
                "otelcontext_dlq_evicted_bytes_total",
                "Bytes of evicted dead-letter batches.",
            ),
            dropped: counter(
                meter,
                "otelcontext_dlq_dropped_total",
                "Batches lost by the dead-letter queue, by reason (max_retries: DLQ_MAX_RETRIES replays failed; write_failed: the queue could not store it).",
            ),
            quarantined: counter(
                meter,
                "otelcontext_dlq_quarantined_total",
                "Unreadable dead-letter files moved to the quarantine directory.",
            ),
        };
        for c in [&m.enqueued, &m.replay_success, &m.replay_failure, &m.evicted, &m.evicted_bytes, &m.quarantined] {
            c.add(0, &[]);
        }
        for reason in ["max_retries", "write_failed"] {
            m.dropped.add(0, &[KeyValue::new("reason", reason)]);
        }
        m
    }
}

/// What one replay pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ReplayPass {
    pub replayed: u64,
    pub failed: u64,
    pub given_up: u64,
    pub quarantined: u64,
    /// Batches not yet due (backing off).
    pub waiting: u64,
}

/// Feeds and replays the dead-letter queue.
pub struct DeadLetterService {
    queue: Arc<dyn DeadLetterQueue>,
    storage: Arc<dyn TelemetryWriter>,
    clock: Arc<dyn Clock>,
    policy: ReplayPolicy,
    metrics: DlqMetrics,
    /// Told what a replay stored.
    observers: Vec<Arc<dyn otelcontext_ports::CommitObserver>>,
}

impl DeadLetterService {
    /// A service over these ports.
    pub fn new(
        queue: Arc<dyn DeadLetterQueue>,
        storage: Arc<dyn TelemetryWriter>,
        clock: Arc<dyn Clock>,
        policy: ReplayPolicy,
        meter: &Meter,
    ) -> Self {
        let s = Self { queue, storage, clock, policy, metrics: DlqMetrics::new(meter), observers: Vec::new() };
        s.publish_stats();
        s
    }

    /// The same service, telling `observers` what each replay stored.
    pub fn with_observers(mut self, observers: Vec<Arc<dyn otelcontext_ports::CommitObserver>>) -> Self {
        self.observers = observers;
        self
    }

    /// The replay schedule.
    pub fn policy(&self) -> ReplayPolicy {
        self.policy
    }

    /// Updates the size gauges from the queue.
    pub fn publish_stats(&self) {
        let s = self.queue.stats();
        self.metrics.size.record(i64::try_from(s.files).unwrap_or(i64::MAX), &[]);
        self.metrics.disk_bytes.record(i64::try_from(s.bytes).unwrap_or(i64::MAX), &[]);
        self.metrics.max_disk_bytes.record(i64::try_from(s.max_bytes).unwrap_or(i64::MAX), &[]);
    }

    /// How full the queue is, 0..1 (for readiness).
    pub fn fullness(&self) -> f64 {
        self.queue.stats().fullness()
    }

    /// Stores batches that could not be written; `Ok` once they are durably queued.
    pub async fn dead_letter(&self, batches: &[TenantBatch]) -> Result<(), DlqError> {
        let records: usize = batches.iter().map(TenantBatch::items).sum();
        let result = self.queue.enqueue(batches, self.clock.now_ns()).await;
        match &result {
            Ok(e) => {
                self.metrics.enqueued.add(1, &[]);
                self.metrics.enqueued_records.add(records as u64, &[]);
                self.metrics.evicted.add(e.evicted_files, &[]);
                self.metrics.evicted_bytes.add(e.evicted_bytes, &[]);
                tracing::warn!(batch = %e.id, records, "storage write failed: batch kept in the dead-letter queue for replay");
            }
            Err(e) => {
                self.metrics.dropped.add(1, &[KeyValue::new("reason", "write_failed")]);
                tracing::error!(records, error = %e, "storage write failed and the dead-letter queue could not keep the batch: records lost");
            }
        }
        self.publish_stats();
        result.map(|_| ())
    }

    /// Replays every batch that is due, oldest first. A failure that says the database is
    /// unavailable ends the pass (the others would fail the same way and burn their retries).
    pub async fn replay_once(&self) -> ReplayPass {
        let entries = match self.queue.list().await {
            Ok(e) => e,
            Err(e) => {
                tracing::error!(error = %e, "cannot list the dead-letter queue");
                return ReplayPass::default();
            }
        };
        if entries.is_empty() {
            self.publish_stats();
            return ReplayPass::default();
        }
        let span = tracing::info_span!("otelcontext.dlq.replay", batches = entries.len());
        tracing::Instrument::instrument(self.replay(entries), span).await
    }

    async fn replay(&self, entries: Vec<otelcontext_ports::DeadLetter>) -> ReplayPass {
        let mut pass = ReplayPass::default();
        for entry in entries {
            let now = self.clock.now_ns();
            if !self.policy.is_due(entry.failures, entry.last_attempt_ns, now) {
                pass.waiting += 1;
                continue;
            }
            let batches = match self.queue.load(&entry.id).await {
                Ok(b) => b,
                Err(DlqError::Corrupt(reason)) => {
                    tracing::error!(batch = %entry.id, %reason, "unreadable dead-letter batch: quarantined");
                    match self.queue.quarantine(&entry.id, &reason).await {
                        Ok(()) => {
                            self.metrics.quarantined.add(1, &[]);
                            pass.quarantined += 1;
                        }
                        Err(e) => {
                            tracing::error!(batch = %entry.id, error = %e, "cannot quarantine a dead-letter batch")
                        }
                    }
                    continue;
                }
                Err(DlqError::NotFound(_)) => continue,
                Err(e) => {
                    tracing::error!(batch = %entry.id, error = %e, "cannot read a dead-letter batch");
                    continue;
                }
            };
            match self.storage.write(&batches).await {
                Ok(_) => {
                    for o in &self.observers {
                        o.committed(&batches);
                    }
                    if let Err(e) = self.queue.remove(&entry.id).await {
                        // Replayed again later: idempotent writes store it once.
                        tracing::error!(batch = %entry.id, error = %e, "replayed a dead-letter batch but cannot delete it");
                    }
                    self.metrics.replay_success.add(1, &[]);
                    pass.replayed += 1;
                    tracing::info!(batch = %entry.id, "dead-letter batch replayed into storage");
                }
                Err(e) => {
                    self.metrics.replay_failure.add(1, &[]);
                    pass.failed += 1;
                    let failures = match self.queue.record_failure(&entry.id, self.clock.now_ns()).await {
                        Ok(d) => d.failures,
                        Err(err) => {
                            tracing::error!(batch = %entry.id, error = %err, "cannot record a failed replay");
                            entry.failures.saturating_add(1)
                        }
                    };
                    if self.policy.exhausted(failures) {
                        let records: usize = batches.iter().map(TenantBatch::items).sum();
                        tracing::error!(batch = %entry.id, failures, records, error = %e, "dead-letter batch given up after DLQ_MAX_RETRIES failed replays: records lost");
                        if let Err(err) = self.queue.remove(&entry.id).await {
                            tracing::error!(batch = %entry.id, error = %err, "cannot delete a given-up dead-letter batch");
                        }
                        self.metrics.dropped.add(1, &[KeyValue::new("reason", "max_retries")]);
                        pass.given_up += 1;
                    } else {
                        tracing::warn!(batch = %entry.id, failures, error = %e, next_in = ?self.policy.backoff(failures), "dead-letter replay failed");
                    }
                    if e.is_transient() {
                        break;
                    }
                }
            }
        }
        self.publish_stats();
        pass
    }

    /// Replays every `interval` until `stop` fires (the first pass runs at once, so batches
    /// left by the previous run are stored as soon as the database answers).
    pub fn spawn(self: Arc<Self>, mut stop: watch::Receiver<bool>) -> JoinHandle<()> {
        tokio::spawn(async move {
            loop {
                let pass = self.replay_once().await;
                if pass != ReplayPass::default() {
                    tracing::debug!(?pass, "dead-letter replay pass");
                }
                let wait: Duration = self.policy.interval;
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = stop.changed() => return,
                }
                if *stop.borrow() {
                    return;
                }
            }
        })
    }
}

#[cfg(test)]
mod tests;
