//! Pipeline workers: take groups of queued exports, write each group in one transaction (group
//! commit), isolate poison items, and report commits to durable exports. Transient failures are
//! retried by the storage's retrying decorator, not here.
//!
//! A group that still fails is not lost: acknowledged (asynchronous) exports go to the
//! dead-letter queue, to be replayed when the database is back; durable exports are answered
//! with the error, so their senders retry. At shutdown, what the workers have not stored when
//! the grace period runs out is dead-lettered the same way ([`Pipeline::drain_until`]).

use super::{DeadLetterService, QueueMetrics, TemplateService};
use otelcontext_ports::{
    CommitObserver, IngestQueue, QueueItem, Signal, StorageError, TelemetryWriter, TenantBatch, WriteSummary,
};
use otelcontext_telemetry::{Counter, Histogram, KeyValue, Meter, counter, histogram};
use std::sync::Arc;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// How the workers run.
#[derive(Debug, Clone)]
pub struct PipelineSettings {
    pub workers: usize,
    /// Most records one transaction takes from the queue.
    pub commit_items: usize,
}

impl Default for PipelineSettings {
    fn default() -> Self {
        Self { workers: 8, commit_items: 10_000 }
    }
}

/// What the workers do besides writing.
#[derive(Clone, Default)]
pub struct PipelineStages {
    /// Where acknowledged records that cannot be written go (without it they are counted lost).
    pub dead_letters: Option<Arc<DeadLetterService>>,
    /// Gives every log record its template id before the write.
    pub templates: Option<Arc<TemplateService>>,
    /// Told what each commit stored (the TSDB, the similar-log index).
    pub observers: Vec<Arc<dyn CommitObserver>>,
}

/// The running workers.
pub struct Pipeline {
    workers: Vec<JoinHandle<()>>,
    spill: watch::Sender<bool>,
}

struct PipelineMetrics {
    queue: QueueMetrics,
    stored: Counter<u64>,
    duplicates: Counter<u64>,
    write_items: Histogram<f64>,
}

impl PipelineMetrics {
    fn new(meter: &Meter) -> Self {
        let m = Self {
            queue: QueueMetrics::new(meter),
            stored: counter(meter, "otelcontext_ingest_stored_total", "Records committed to storage."),
            duplicates: counter(
                meter,
                "otelcontext_ingest_duplicates_total",
                "Re-sent records already in storage (not stored again).",
            ),
            write_items: histogram(
                meter,
                "otelcontext_storage_write_items",
                "Records per group-commit write transaction.",
                otelcontext_telemetry::SIZE_BUCKETS,
            ),
        };
        m.queue.zero();
        for s in Signal::ALL {
            m.stored.add(0, &[KeyValue::new("signal", s.as_str())]);
        }
        m
    }
}

struct Worker {
    queue: Arc<dyn IngestQueue>,
    storage: Arc<dyn TelemetryWriter>,
    driver: &'static str,
    metrics: Arc<PipelineMetrics>,
    settings: PipelineSettings,
    dead_letters: Option<Arc<DeadLetterService>>,
    templates: Option<Arc<TemplateService>>,
    observers: Vec<Arc<dyn CommitObserver>>,
    spill: watch::Receiver<bool>,
}

impl Pipeline {
    /// Starts the workers on the current runtime with no stages: no template mining, and no
    /// dead-letter queue (records that cannot be written are counted as lost). `driver` labels
    /// the metrics.
    pub fn start(
        queue: Arc<dyn IngestQueue>,
        storage: Arc<dyn TelemetryWriter>,
        driver: &'static str,
        meter: &Meter,
        settings: PipelineSettings,
    ) -> Self {
        Self::start_with(queue, storage, driver, meter, settings, PipelineStages::default())
    }

    /// Starts the workers with these stages.
    pub fn start_with(
        queue: Arc<dyn IngestQueue>,
        storage: Arc<dyn TelemetryWriter>,
        driver: &'static str,
        meter: &Meter,
        settings: PipelineSettings,
        stages: PipelineStages,
    ) -> Self {
        let metrics = Arc::new(PipelineMetrics::new(meter));
        metrics.queue.capacity.record(queue.capacity() as i64, &[]);
        let (spill, spill_rx) = watch::channel(false);
        let workers = (0..settings.workers.max(1))
            .map(|_| {
                let w = Worker {
                    queue: queue.clone(),
                    storage: storage.clone(),
                    driver,
                    metrics: metrics.clone(),
                    settings: settings.clone(),
                    dead_letters: stages.dead_letters.clone(),
                    templates: stages.templates.clone(),
                    observers: stages.observers.clone(),
                    spill: spill_rx.clone(),
                };
                tokio::spawn(async move { w.run().await })
            })
            .collect();
        Self { workers, spill }
    }

    /// Waits for the workers to finish; they do once the queue is closed and drained.
    pub async fn drain(self) {
        for w in self.workers {
            if let Err(e) = w.await {
                tracing::error!(error = %e, "pipeline worker ended abnormally");
            }
        }
    }

    /// Waits for the workers until `deadline`; then tells them to stop writing and dead-letter
    /// what they hold and what is still queued, and waits for that. Returns `false` when the
    /// deadline was reached.
    pub async fn drain_until(self, deadline: Instant) -> bool {
        let Pipeline { mut workers, spill } = self;
        let all = async {
            for w in workers.iter_mut() {
                if let Err(e) = w.await {
                    tracing::error!(error = %e, "pipeline worker ended abnormally");
                }
            }
        };
        if tokio::time::timeout_at(deadline, all).await.is_ok() {
            return true;
        }
        tracing::warn!("shutdown grace ran out with records not yet stored: moving them to the dead-letter queue");
        let _ = spill.send(true);
        for w in workers {
            if !w.is_finished()
                && let Err(e) = w.await
            {
                tracing::error!(error = %e, "pipeline worker ended abnormally");
            }
        }
        false
    }
}

/// Resolves once shutdown asks the workers to stop writing.
async fn spill_requested(mut spill: watch::Receiver<bool>) {
    if spill.wait_for(|v| *v).await.is_err() {
        std::future::pending::<()>().await;
    }
}

impl Worker {
    async fn run(self) {
        loop {
            let group = self.queue.next_group(self.settings.commit_items).await;
            if group.is_empty() {
                return;
            }
            let taken: Vec<(Signal, usize)> = group.iter().map(|i| (i.signal, i.items)).collect();
            self.commit(group).await;
            for (signal, items) in taken {
                self.queue.complete(signal, items);
            }
            self.metrics.queue.publish_depth(&*self.queue);
        }
    }

    /// Writes one group; counts its size when it succeeds.
    async fn write(&self, batches: &[TenantBatch]) -> Result<WriteSummary, StorageError> {
        let summary = self.storage.write(batches).await?;
        for o in &self.observers {
            o.committed(batches);
        }
        let items: usize = batches.iter().map(TenantBatch::items).sum();
        self.metrics.write_items.record(items as f64, &[KeyValue::new("driver", self.driver)]);
        Ok(summary)
    }

    fn record_success(&self, s: &WriteSummary) {
        let m = &self.metrics;
        for (signal, stored, dup) in [
            ("traces", s.spans, s.duplicate_spans),
            ("logs", s.logs, s.duplicate_logs),
            ("metrics", s.metric_points, s.duplicate_points),
        ] {
            let label = [KeyValue::new("signal", signal)];
            m.stored.add(stored, &label);
            m.duplicates.add(dup, &label);
        }
    }

    /// Items that were not stored: durable ones hear the error (their senders retry), the
    /// others go to the dead-letter queue (or are counted as lost without one).
    async fn fail(&self, items: Vec<(QueueItem, &[TenantBatch])>, error: &str) {
        let mut keep: Vec<TenantBatch> = Vec::new();
        let mut kept_items: Vec<(Signal, usize)> = Vec::new();
        for (item, batches) in items {
            match item.on_commit {
                Some(notify) => {
                    // Not acknowledged: the sender hears the error and keeps its data.
                    self.metrics.queue.dropped(item.signal, "write_failed", item.items as u64);
                    notify(Err(error.to_owned()));
                }
                None => {
                    keep.extend_from_slice(batches);
                    kept_items.push((item.signal, item.items));
                }
            }
        }
        if keep.is_empty() {
            return;
        }
        let kept = match &self.dead_letters {
            Some(dl) => dl.dead_letter(&keep).await.is_ok(),
            None => false,
        };
        if !kept {
            for (signal, records) in kept_items {
                tracing::error!(signal = signal.as_str(), records, error, "dropping records the database refused");
                self.metrics.queue.dropped(signal, "write_failed", records as u64);
            }
        }
    }

    async fn commit(&self, mut group: Vec<QueueItem>) {
        let counts: Vec<usize> = group.iter().map(|i| i.batches.len()).collect();
        let mut batches: Vec<TenantBatch> = group.iter_mut().flat_map(|i| std::mem::take(&mut i.batches)).collect();
        if let Some(t) = &self.templates {
            t.assign(&mut batches);
        }
        let per_item = |group: Vec<QueueItem>| -> Vec<(QueueItem, &[TenantBatch])> {
            let mut offset = 0;
            group
                .into_iter()
                .zip(&counts)
                .map(|(item, n)| {
                    let own = &batches[offset..offset + n];
                    offset += n;
                    (item, own)
                })
                .collect()
        };
        if *self.spill.borrow() {
            self.fail(per_item(group), "server shut down before the records were stored").await;
            return;
        }
        let outcome = tokio::select! {
            r = self.write(&batches) => Some(r),
            _ = spill_requested(self.spill.clone()) => None,
        };
        match outcome {
            None => self.fail(per_item(group), "server shut down before the records were stored").await,
            Some(Ok(summary)) => {
                self.record_success(&summary);
                for item in group {
                    if let Some(notify) = item.on_commit {
                        notify(Ok(()));
                    }
                }
            }
            Some(Err(e)) if group.len() > 1 && !e.is_transient() => {
                // One item may be poisoning the whole group: write items one by one.
                for (item, own) in per_item(group) {
                    match self.write(own).await {
                        Ok(summary) => {
                            self.record_success(&summary);
                            if let Some(notify) = item.on_commit {
                                notify(Ok(()));
                            }
                        }
                        Err(e) => self.fail(vec![(item, own)], &e.to_string()).await,
                    }
                }
            }
            Some(Err(e)) => self.fail(per_item(group), &e.to_string()).await,
        }
    }
}

#[cfg(test)]
mod tests;
