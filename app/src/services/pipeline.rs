//! Pipeline workers: take groups of queued exports, write each group in one transaction (group
//! commit), isolate poison items, and report commits to durable exports. Transient failures are
//! retried by the storage's retrying decorator, not here.

use otelcontext_ports::{IngestQueue, QueueItem, Signal, StorageError, TelemetryWriter, TenantBatch, WriteSummary};
use otelcontext_telemetry::Metrics;
use std::sync::Arc;
use tokio::task::JoinHandle;

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

/// The running workers.
pub struct Pipeline {
    workers: Vec<JoinHandle<()>>,
}

struct Worker {
    queue: Arc<dyn IngestQueue>,
    storage: Arc<dyn TelemetryWriter>,
    driver: &'static str,
    metrics: Arc<Metrics>,
    settings: PipelineSettings,
}

impl Pipeline {
    /// Starts the workers on the current runtime.
    /// `driver` labels the metrics (the storage backend's name).
    pub fn start(
        queue: Arc<dyn IngestQueue>,
        storage: Arc<dyn TelemetryWriter>,
        driver: &'static str,
        metrics: Arc<Metrics>,
        settings: PipelineSettings,
    ) -> Self {
        metrics.pipeline_queue_capacity.set(queue.capacity() as i64);
        let workers = (0..settings.workers.max(1))
            .map(|_| {
                let w = Worker {
                    queue: queue.clone(),
                    storage: storage.clone(),
                    driver,
                    metrics: metrics.clone(),
                    settings: settings.clone(),
                };
                tokio::spawn(async move { w.run().await })
            })
            .collect();
        Self { workers }
    }

    /// Waits for the workers to finish; they do once the queue is closed and drained.
    pub async fn drain(self) {
        for w in self.workers {
            if let Err(e) = w.await {
                tracing::error!(error = %e, "pipeline worker ended abnormally");
            }
        }
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
            self.update_depth();
        }
    }

    fn update_depth(&self) {
        super::publish_queue_depth(&*self.queue, &self.metrics);
    }

    /// Writes one group; counts its size when it succeeds.
    async fn write(&self, batches: &[TenantBatch]) -> Result<WriteSummary, StorageError> {
        let summary = self.storage.write(batches).await?;
        let items: usize = batches.iter().map(TenantBatch::items).sum();
        self.metrics.storage_write_items.with_label_values(&[self.driver]).observe(items as f64);
        Ok(summary)
    }

    fn record_success(&self, s: &WriteSummary) {
        let m = &self.metrics;
        m.ingest_stored.with_label_values(&["traces"]).inc_by(s.spans);
        m.ingest_stored.with_label_values(&["logs"]).inc_by(s.logs);
        m.ingest_stored.with_label_values(&["metrics"]).inc_by(s.metric_points);
        m.ingest_duplicates.with_label_values(&["traces"]).inc_by(s.duplicate_spans);
        m.ingest_duplicates.with_label_values(&["logs"]).inc_by(s.duplicate_logs);
        m.ingest_duplicates.with_label_values(&["metrics"]).inc_by(s.duplicate_points);
    }

    fn record_loss(&self, item: &QueueItem, error: &StorageError) {
        tracing::error!(signal = item.signal.as_str(), records = item.items, error = %error, "dropping records the database refused");
        self.metrics
            .pipeline_dropped
            .with_label_values(&[item.signal.as_str(), "write_failed"])
            .inc_by(item.items as u64);
    }

    async fn commit(&self, mut group: Vec<QueueItem>) {
        let counts: Vec<usize> = group.iter().map(|i| i.batches.len()).collect();
        let batches: Vec<TenantBatch> = group.iter_mut().flat_map(|i| std::mem::take(&mut i.batches)).collect();
        match self.write(&batches).await {
            Ok(summary) => {
                self.record_success(&summary);
                for item in group {
                    if let Some(notify) = item.on_commit {
                        notify(Ok(()));
                    }
                }
            }
            Err(e) if group.len() > 1 && !e.is_transient() => {
                // One item may be poisoning the whole group: write items one by one.
                let mut offset = 0;
                for (item, n) in group.into_iter().zip(counts) {
                    let own = &batches[offset..offset + n];
                    offset += n;
                    match self.write(own).await {
                        Ok(summary) => {
                            self.record_success(&summary);
                            if let Some(notify) = item.on_commit {
                                notify(Ok(()));
                            }
                        }
                        Err(e) => {
                            self.record_loss(&item, &e);
                            if let Some(notify) = item.on_commit {
                                notify(Err(e.to_string()));
                            }
                        }
                    }
                }
            }
            Err(e) => {
                for item in group {
                    self.record_loss(&item, &e);
                    if let Some(notify) = item.on_commit {
                        notify(Err(e.to_string()));
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
