//! Use-case services: they combine domain policies with the driven ports and implement the
//! driving ports the inbound adapters call.

pub mod admin;
pub mod anomalies;
pub mod auth;
pub mod clock;
pub mod dead_letters;
pub mod export;
pub mod graph;
pub mod graph_queries;
pub mod ingest;
pub mod pipeline;
pub mod queries;
pub mod rate_limit;
pub mod readiness;
pub mod retention;
pub mod similar;
pub mod tail;
pub mod templates;
#[cfg(test)]
mod test_support;
pub mod tsdb;

pub use admin::AdminService;
pub use anomalies::{AnomalyService, AnomalySettings};
pub use auth::KeyRing;
pub use clock::SystemClock;
pub use dead_letters::{DeadLetterService, DlqMetrics, ReplayPass};
pub use export::ExportService;
pub use graph::{GraphService, GraphSettings};
pub use graph_queries::GraphQueryService;
pub use ingest::{IngestPolicy, IngestService};
pub use pipeline::{Pipeline, PipelineSettings, PipelineStages};
pub use queries::QueryService;
pub use rate_limit::RateLimiter;
pub use readiness::ReadinessService;
pub use retention::{RetentionService, RetentionSettings};
pub use similar::{SimilarLog, SimilarLogService};
pub use tail::LogTailService;
pub use templates::TemplateService;
pub use tsdb::{TsdbService, tsdb_config};

/// The ingest queue's instruments, registered by both sides of the queue (the ingest service
/// and the pipeline): one meter makes them one set of series.
pub(crate) struct QueueMetrics {
    depth: otelcontext_telemetry::Gauge<i64>,
    pub(crate) capacity: otelcontext_telemetry::Gauge<i64>,
    dropped: otelcontext_telemetry::Counter<u64>,
}

impl QueueMetrics {
    pub(crate) fn new(meter: &otelcontext_telemetry::Meter) -> Self {
        use otelcontext_telemetry::{counter, gauge};
        Self {
            depth: gauge(meter, "otelcontext_ingest_pipeline_queue_depth", "Records waiting in the ingest pipeline."),
            capacity: gauge(
                meter,
                "otelcontext_ingest_pipeline_queue_capacity",
                "Capacity of the ingest pipeline in records.",
            ),
            dropped: counter(
                meter,
                "otelcontext_ingest_pipeline_dropped_total",
                "Records dropped by the ingest pipeline (soft_backpressure, queue_full, write_failed).",
            ),
        }
    }

    /// Publishes `otelcontext_ingest_pipeline_queue_depth{signal}`; called on every enqueue and
    /// dequeue so the gauge is current even when the pipeline is idle.
    pub(crate) fn publish_depth(&self, queue: &dyn otelcontext_ports::IngestQueue) {
        for s in otelcontext_ports::Signal::ALL {
            self.depth.record(queue.depth(s) as i64, &[otelcontext_telemetry::KeyValue::new("signal", s.as_str())]);
        }
    }

    /// Counts records the pipeline lost or refused.
    pub(crate) fn dropped(&self, signal: otelcontext_ports::Signal, reason: &'static str, records: u64) {
        use otelcontext_telemetry::KeyValue;
        self.dropped.add(records, &[KeyValue::new("signal", signal.as_str()), KeyValue::new("reason", reason)]);
    }

    /// Makes every (signal, reason) series visible at 0 before anything is dropped.
    pub(crate) fn zero(&self) {
        for s in otelcontext_ports::Signal::ALL {
            for reason in ["soft_backpressure", "queue_full", "write_failed"] {
                self.dropped(s, reason, 0);
            }
        }
    }
}
