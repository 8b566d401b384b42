//! The ingest use case: filters, trace sampling, logs derived from span events, then admission
//! into the bounded queue (or, in durable mode, admission plus waiting for the commit).

use async_trait::async_trait;
use otelcontext_domain::admission::BatchClass;
use otelcontext_domain::filter::{ServiceFilter, SeverityFilter};
use otelcontext_domain::sampling::{SamplingPolicy, TraceSampler};
use otelcontext_domain::span_logs::logs_from_spans;
use otelcontext_domain::{LogRecord, SeverityLevel};
use otelcontext_ports::{
    Ingest, IngestError, IngestQueue, IngestReceipt, QueueItem, Signal, SubmitOutcome, TenantBatch, TenantLogs,
    TenantMetrics, TenantSpans,
};
use otelcontext_telemetry::{Counter, KeyValue, Meter, counter};
use parking_lot::Mutex;
use std::sync::Arc;

/// What the ingest service keeps and how it acknowledges.
#[derive(Debug, Clone)]
pub struct IngestPolicy {
    pub services: ServiceFilter,
    pub severity: SeverityFilter,
    pub sampling: SamplingPolicy,
    /// Acknowledge only after commit (`INGEST_ASYNC_ENABLED=false`).
    pub durable: bool,
}

/// Implements [`Ingest`] over the ingest queue.
pub struct IngestService {
    queue: Arc<dyn IngestQueue>,
    policy: IngestPolicy,
    sampler: Mutex<TraceSampler>,
    queue_metrics: super::QueueMetrics,
    rejected: Counter<u64>,
    sampler_spans: Counter<u64>,
}

/// Records turned away for reasons the sender should hear about (`partial_success`).
#[derive(Default)]
struct Rejections {
    count: u64,
    message: Option<String>,
}

impl Rejections {
    fn add(&mut self, n: usize, message: impl FnOnce() -> String) {
        if n > 0 {
            self.count += n as u64;
            self.message.get_or_insert_with(message);
        }
    }

    fn receipt(self) -> IngestReceipt {
        IngestReceipt { rejected: self.count, message: self.message }
    }
}

impl IngestService {
    /// A service submitting to `queue`.
    pub fn new(queue: Arc<dyn IngestQueue>, policy: IngestPolicy, meter: &Meter) -> Self {
        let sampler = Mutex::new(TraceSampler::new(policy.sampling.clone()));
        let queue_metrics = super::QueueMetrics::new(meter);
        queue_metrics.zero();
        let sampler_spans = counter(
            meter,
            "otelcontext_sampler_spans_total",
            "Spans seen by the trace sampler, by decision (kept, dropped) and reason.",
        );
        Self {
            queue,
            policy,
            sampler,
            queue_metrics,
            rejected: otelcontext_telemetry::ingest_rejected(meter),
            sampler_spans,
        }
    }

    fn count_rejected(&self, signal: Signal, reason: &'static str, n: usize) {
        if n > 0 {
            self.rejected.add(n as u64, &[KeyValue::new("signal", signal.as_str()), KeyValue::new("reason", reason)]);
        }
    }

    /// Counts records the pipeline turned away for `reason` (client records, not derived logs).
    fn count_dropped(&self, signal: Signal, reason: &'static str, records: u64) {
        self.queue_metrics.dropped(signal, reason, records);
        self.count_rejected(signal, reason, records as usize);
    }

    /// The answer to an export that finds the queue full.
    fn refuse_full(&self, signal: Signal, records: u64) -> IngestError {
        self.count_dropped(signal, "queue_full", records);
        IngestError::Throttled { retry_after_secs: 1 }
    }

    fn update_depth(&self) {
        self.queue_metrics.publish_depth(&*self.queue);
    }

    /// Drops records of filtered services; returns how many were dropped.
    fn filter_services<T>(&self, items: &mut Vec<T>, service: impl Fn(&T) -> &str) -> usize {
        if self.policy.services.is_open() {
            return 0;
        }
        let before = items.len();
        items.retain(|x| self.policy.services.admits(service(x)));
        before - items.len()
    }

    /// Offers a batch to the queue and turns the outcome into the export's answer.
    async fn submit(
        &self,
        signal: Signal,
        batches: Vec<TenantBatch>,
        class: BatchClass,
        client_records: usize,
        mut rejections: Rejections,
    ) -> Result<IngestReceipt, IngestError> {
        let items: usize = batches.iter().map(TenantBatch::items).sum();
        if items == 0 {
            return Ok(rejections.receipt());
        }
        let (notify, committed) = if self.policy.durable {
            let (tx, rx) = tokio::sync::oneshot::channel::<Result<(), String>>();
            let notify: otelcontext_ports::CommitNotifier = Box::new(move |r| {
                let _ = tx.send(r);
            });
            (Some(notify), Some(rx))
        } else {
            (None, None)
        };
        let item = QueueItem { signal, batches, items, class, on_commit: notify };
        let outcome = self.queue.try_submit(item);
        self.update_depth();
        match outcome {
            SubmitOutcome::Accepted => {}
            SubmitOutcome::SoftDropped(_) => {
                self.count_dropped(signal, "soft_backpressure", client_records as u64);
                rejections
                    .add(client_records, || "dropped under back-pressure: the ingest queue is over 90% full".into());
                return Ok(rejections.receipt());
            }
            SubmitOutcome::Full(_) => return Err(self.refuse_full(signal, client_records as u64)),
            SubmitOutcome::Closed(_) => {
                self.count_rejected(signal, "shutting_down", client_records);
                return Err(IngestError::ShuttingDown);
            }
        }
        if let Some(rx) = committed {
            match rx.await {
                Ok(Ok(())) => {}
                Ok(Err(message)) => return Err(IngestError::Unavailable(message)),
                Err(_) => return Err(IngestError::Unavailable("the ingest pipeline stopped before committing".into())),
            }
        }
        Ok(rejections.receipt())
    }
}

fn is_priority_log(l: &LogRecord) -> bool {
    l.level() >= SeverityLevel::Error
}

#[async_trait]
impl Ingest for IngestService {
    async fn ingest_spans(&self, parts: Vec<TenantSpans>) -> Result<IngestReceipt, IngestError> {
        let mut rejections = Rejections::default();
        let mut batches = Vec::with_capacity(parts.len());
        let mut priority = false;
        let mut client_records = 0;
        let threshold = self.policy.sampling.latency_threshold_ns;
        for TenantSpans { tenant, mut spans } in parts {
            let filtered = self.filter_services(&mut spans, |s| s.service_name());
            self.count_rejected(Signal::Traces, "service_filtered", filtered);
            rejections.add(filtered, || {
                format!("{filtered} spans from services excluded by INGEST_ALLOWED_SERVICES/INGEST_EXCLUDED_SERVICES")
            });
            let kept = {
                let mut sampler = self.sampler.lock();
                if sampler.keeps_everything() {
                    spans
                } else {
                    let outcome = sampler.sample(&tenant, spans);
                    for (reason, n) in &outcome.kept_by_reason {
                        let labels = [KeyValue::new("decision", "kept"), KeyValue::new("reason", reason.as_str())];
                        self.sampler_spans.add(*n as u64, &labels);
                    }
                    if outcome.dropped > 0 {
                        let labels = [KeyValue::new("decision", "dropped"), KeyValue::new("reason", "ratio")];
                        self.sampler_spans.add(outcome.dropped as u64, &labels);
                    }
                    outcome.kept
                }
            };
            if kept.is_empty() {
                continue;
            }
            priority |= kept.iter().any(|s| s.is_error() || threshold.is_some_and(|t| s.duration_ns() >= t));
            let mut logs = logs_from_spans(&kept);
            logs.retain(|l| self.policy.severity.admits(l.level()));
            client_records += kept.len();
            batches.push(TenantBatch { tenant, spans: kept, logs, metrics: Vec::new() });
        }
        let class = if priority { BatchClass::Priority } else { BatchClass::Healthy };
        self.submit(Signal::Traces, batches, class, client_records, rejections).await
    }

    async fn ingest_logs(&self, parts: Vec<TenantLogs>) -> Result<IngestReceipt, IngestError> {
        let mut rejections = Rejections::default();
        let mut batches = Vec::with_capacity(parts.len());
        let mut priority = false;
        let mut client_records = 0;
        for TenantLogs { tenant, mut logs } in parts {
            let filtered = self.filter_services(&mut logs, |l| l.service_name());
            self.count_rejected(Signal::Logs, "service_filtered", filtered);
            rejections.add(filtered, || {
                format!(
                    "{filtered} log records from services excluded by INGEST_ALLOWED_SERVICES/INGEST_EXCLUDED_SERVICES"
                )
            });
            let before = logs.len();
            logs.retain(|l| self.policy.severity.admits(l.level()));
            let quiet = before - logs.len();
            self.count_rejected(Signal::Logs, "severity_filtered", quiet);
            let min = self.policy.severity.min.as_str();
            rejections.add(quiet, || format!("{quiet} log records below INGEST_MIN_SEVERITY={min}"));
            if logs.is_empty() {
                continue;
            }
            priority |= logs.iter().any(is_priority_log);
            client_records += logs.len();
            batches.push(TenantBatch { tenant, spans: Vec::new(), logs, metrics: Vec::new() });
        }
        let class = if priority { BatchClass::Priority } else { BatchClass::Healthy };
        self.submit(Signal::Logs, batches, class, client_records, rejections).await
    }

    fn check_capacity(&self, signal: Signal, records: u64) -> Result<(), IngestError> {
        if self.queue.is_full() { Err(self.refuse_full(signal, records)) } else { Ok(()) }
    }

    async fn ingest_metrics(&self, parts: Vec<TenantMetrics>) -> Result<IngestReceipt, IngestError> {
        let mut rejections = Rejections::default();
        let mut batches = Vec::with_capacity(parts.len());
        let mut client_records = 0;
        for TenantMetrics { tenant, mut points } in parts {
            let filtered = self.filter_services(&mut points, |p| p.service_name());
            self.count_rejected(Signal::Metrics, "service_filtered", filtered);
            rejections.add(filtered, || {
                format!(
                    "{filtered} data points from services excluded by INGEST_ALLOWED_SERVICES/INGEST_EXCLUDED_SERVICES"
                )
            });
            if points.is_empty() {
                continue;
            }
            client_records += points.len();
            batches.push(TenantBatch { tenant, spans: Vec::new(), logs: Vec::new(), metrics: points });
        }
        // Metric points are aggregates; they are never shed at the soft threshold.
        self.submit(Signal::Metrics, batches, BatchClass::Priority, client_records, rejections).await
    }
}

#[cfg(test)]
mod tests;
