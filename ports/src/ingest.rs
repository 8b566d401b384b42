//! The ingest use case, called by the OTLP receivers.

use async_trait::async_trait;
use otelcontext_domain::{LogRecord, MetricPoint, Span, TenantId};

/// The three OTLP signals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Signal {
    Traces,
    Logs,
    Metrics,
}

impl Signal {
    /// Label value for metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Signal::Traces => "traces",
            Signal::Logs => "logs",
            Signal::Metrics => "metrics",
        }
    }

    /// All signals.
    pub const ALL: [Signal; 3] = [Signal::Traces, Signal::Logs, Signal::Metrics];
}

/// Spans of one tenant.
#[derive(Debug, Clone, PartialEq)]
pub struct TenantSpans {
    pub tenant: TenantId,
    pub spans: Vec<Span>,
}

/// Log records of one tenant.
#[derive(Debug, Clone, PartialEq)]
pub struct TenantLogs {
    pub tenant: TenantId,
    pub logs: Vec<LogRecord>,
}

/// Metric points of one tenant.
#[derive(Debug, Clone, PartialEq)]
pub struct TenantMetrics {
    pub tenant: TenantId,
    pub points: Vec<MetricPoint>,
}

/// The answer to an accepted export. `rejected` counts records not kept for reasons the sender
/// should know about (filters, back-pressure); it becomes OTLP `partial_success`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct IngestReceipt {
    pub rejected: u64,
    pub message: Option<String>,
}

/// Why an export was refused as a whole.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IngestError {
    /// The pipeline is full; retry later (gRPC RESOURCE_EXHAUSTED, HTTP 429).
    #[error("ingest pipeline at capacity, retry after {retry_after_secs}s")]
    Throttled { retry_after_secs: u32 },
    /// The data could not be committed (durable mode); retry later (gRPC UNAVAILABLE, HTTP 503).
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// The server is stopping and no longer accepts data.
    #[error("server is shutting down")]
    ShuttingDown,
}

/// Accepts telemetry for storage.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait Ingest: Send + Sync {
    /// Accepts spans (already grouped by tenant).
    async fn ingest_spans(&self, parts: Vec<TenantSpans>) -> Result<IngestReceipt, IngestError>;
    /// Accepts log records (already grouped by tenant).
    async fn ingest_logs(&self, parts: Vec<TenantLogs>) -> Result<IngestReceipt, IngestError>;
    /// Accepts metric points (already grouped by tenant).
    async fn ingest_metrics(&self, parts: Vec<TenantMetrics>) -> Result<IngestReceipt, IngestError>;

    /// `Err` when any export would be refused right now (queue full), so a receiver can answer
    /// before mapping `records` records of `signal`; a refusal is counted like a full queue's.
    fn check_capacity(&self, signal: Signal, records: u64) -> Result<(), IngestError>;
}
