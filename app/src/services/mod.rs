//! Use-case services: they combine domain policies with the driven ports and implement the
//! driving ports the inbound adapters call.

pub mod auth;
pub mod clock;
pub mod ingest;
pub mod pipeline;
pub mod queries;
pub mod readiness;
pub mod retention;

pub use auth::StaticKeyAuthenticator;
pub use clock::SystemClock;
pub use ingest::{IngestPolicy, IngestService};
pub use pipeline::{Pipeline, PipelineSettings};
pub use queries::QueryService;
pub use readiness::ReadinessService;
pub use retention::{RetentionService, RetentionSettings};

/// Publishes `otelcontext_ingest_pipeline_queue_depth{signal}`; called on every enqueue and
/// dequeue so the gauge is current even when the pipeline is idle.
pub(crate) fn publish_queue_depth(
    queue: &dyn otelcontext_ports::IngestQueue,
    metrics: &otelcontext_telemetry::Metrics,
) {
    for s in otelcontext_ports::Signal::ALL {
        metrics.pipeline_queue_depth.with_label_values(&[s.as_str()]).set(queue.depth(s) as i64);
    }
}
