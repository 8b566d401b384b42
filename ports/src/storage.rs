//! The storage port: everything otelcontext persists and reads back.

use async_trait::async_trait;
use otelcontext_domain::{LogRecord, MetricPoint, Span, TenantId, Trace, TraceId};

/// Errors of a storage adapter, mapped from its library's errors at the seam.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StorageError {
    /// The database cannot be reached or is busy; the operation may succeed later.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// The database refused the data (constraint, size); retrying will not help.
    #[error("storage rejected the data: {0}")]
    Rejected(String),
    /// Data read back could not be decoded.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// The schema is not the one this binary expects.
    #[error("schema mismatch: {0}")]
    Schema(String),
    /// Anything else.
    #[error("storage error: {0}")]
    Other(String),
}

impl StorageError {
    /// Whether retrying the same operation later can succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, StorageError::Unavailable(_))
    }
}

/// One tenant's share of a write.
#[derive(Debug, Clone, PartialEq)]
pub struct TenantBatch {
    pub tenant: TenantId,
    pub spans: Vec<Span>,
    pub logs: Vec<LogRecord>,
    pub metrics: Vec<MetricPoint>,
}

impl TenantBatch {
    /// An empty batch for a tenant.
    pub fn new(tenant: TenantId) -> Self {
        Self { tenant, spans: Vec::new(), logs: Vec::new(), metrics: Vec::new() }
    }

    /// Number of records (spans + logs + metric points).
    pub fn items(&self) -> usize {
        self.spans.len() + self.logs.len() + self.metrics.len()
    }
}

/// What a write stored. Re-sent records that already existed are counted as duplicates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WriteSummary {
    pub spans: u64,
    pub logs: u64,
    pub metric_points: u64,
    pub duplicate_spans: u64,
    pub duplicate_logs: u64,
    pub duplicate_points: u64,
}

impl WriteSummary {
    /// Adds another summary.
    pub fn add(&mut self, o: &WriteSummary) {
        self.spans += o.spans;
        self.logs += o.logs;
        self.metric_points += o.metric_points;
        self.duplicate_spans += o.duplicate_spans;
        self.duplicate_logs += o.duplicate_logs;
        self.duplicate_points += o.duplicate_points;
    }

    /// All re-sent records that were already stored.
    pub fn duplicates(&self) -> u64 {
        self.duplicate_spans + self.duplicate_logs + self.duplicate_points
    }
}

/// Row counts of one tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SignalCounts {
    pub traces: u64,
    pub spans: u64,
    pub logs: u64,
    pub metric_points: u64,
    /// Traces whose status is ERROR.
    pub error_traces: u64,
}

/// A log search. Times are unix nanoseconds, inclusive; results are newest first.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LogQuery {
    pub trace_id: Option<TraceId>,
    pub service: Option<String>,
    pub start_ns: Option<i64>,
    pub end_ns: Option<i64>,
    pub limit: usize,
}

/// A metric point search. Times are unix nanoseconds, inclusive; results are oldest first.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MetricQuery {
    pub name: Option<String>,
    pub service: Option<String>,
    pub start_ns: Option<i64>,
    pub end_ns: Option<i64>,
    pub limit: usize,
}

/// Persistent storage of all signals. Every read is scoped to one tenant; a write carries the
/// tenant of each of its parts.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait Storage: Send + Sync {
    /// Short name of the backend (`sqlite`, `postgres`, `memory`), used as a metric label.
    fn backend(&self) -> &'static str;

    /// Writes all parts atomically (one transaction). Idempotent: a span is unique on
    /// (tenant, trace id, span id); a log record on (tenant, timestamp, dedup key); a metric
    /// point on (tenant, time, series). Trace rows are merged as [`otelcontext_domain::TraceSummary::merge`] says.
    async fn write(&self, batches: &[TenantBatch]) -> Result<WriteSummary, StorageError>;

    /// A trace with its spans (by start time) and correlated logs; `None` when absent.
    async fn get_trace(&self, tenant: &TenantId, trace_id: &TraceId) -> Result<Option<Trace>, StorageError>;

    /// Log records matching the query.
    async fn query_logs(&self, tenant: &TenantId, query: &LogQuery) -> Result<Vec<LogRecord>, StorageError>;

    /// Metric points matching the query.
    async fn query_metric_points(
        &self,
        tenant: &TenantId,
        query: &MetricQuery,
    ) -> Result<Vec<MetricPoint>, StorageError>;

    /// Row counts of a tenant.
    async fn counts(&self, tenant: &TenantId) -> Result<SignalCounts, StorageError>;

    /// Checks that the database answers.
    async fn ping(&self) -> Result<(), StorageError>;

    /// Flushes and closes connections; later calls fail with `Unavailable`.
    async fn close(&self);
}
