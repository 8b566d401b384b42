//! Read-side use cases called by the query API, and readiness.

use crate::storage::{
    HeatCell, InvestigationQuery, LogId, LogQuery, MAX_SERIES_STEPS, MetricQuery, Page, RetentionTarget, SeriesQuery,
    SignalCounts, SnapshotQuery, StorageError, StorageStatus, StoredLog, TemplateQuery, TimeRange, TraceQuery,
    TraceStats, TraceStatsQuery, TrafficPoint,
};
use async_trait::async_trait;
use otelcontext_domain::{
    GraphSnapshot, Investigation, LogRecord, LogTemplate, MetricPoint, RolledSeries, SpanId, TemplateId, TenantId,
    Trace, TraceId, TraceSummary,
};

/// Why a query failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    /// The request is wrong (bad cursor, reversed range, limit out of bounds): a client error.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// What was asked for does not exist in this tenant.
    #[error("not found: {0}")]
    NotFound(String),
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    #[error("query failed: {0}")]
    Internal(String),
}

impl From<StorageError> for QueryError {
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::InvalidArgument(m) => QueryError::InvalidArgument(m),
            StorageError::Unavailable(m) => QueryError::Unavailable(m),
            other => QueryError::Internal(other.to_string()),
        }
    }
}

/// A log record like a query text, from the similar-log index (WARN and above).
#[derive(Debug, Clone, PartialEq)]
pub struct SimilarLogHit {
    /// Cosine similarity to the query, 0..1.
    pub score: f64,
    /// The stored id, when the index knows it (records indexed at start).
    pub id: Option<LogId>,
    pub timestamp_ns: i64,
    pub service: String,
    pub severity: String,
    /// The body, clipped to 1 KiB.
    pub body: String,
    pub trace_id: Option<TraceId>,
    pub span_id: Option<SpanId>,
    pub template_id: Option<TemplateId>,
}

/// The log records around a moment.
#[derive(Debug, Clone, PartialEq)]
pub struct LogContextQuery {
    pub around_ns: i64,
    /// How far before and after.
    pub window_ns: i64,
    pub service: Option<String>,
    /// At most this many records, about half before the moment and half after.
    pub limit: usize,
}

/// What a live tail of log records yields next.
#[derive(Debug, Clone, PartialEq)]
pub enum TailEvent {
    /// Records of the subscriber's tenant committed since the last event (unfiltered: filtering
    /// is the subscriber's).
    Records(std::sync::Arc<Vec<LogRecord>>),
    /// The subscriber fell behind and this many commits were skipped.
    Lagged(u64),
    /// The feed ended (the server is stopping).
    Closed,
}

/// A subscription to one tenant's committed log records.
#[async_trait]
pub trait TailSubscription: Send {
    async fn next(&mut self) -> TailEvent;
}

/// The live tail of committed log records.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait LogTail: Send + Sync {
    /// A subscription to `tenant`'s records committed from now on; `Unavailable` when too many
    /// tails are open.
    fn subscribe(&self, tenant: &TenantId) -> Result<Box<dyn TailSubscription>, QueryError>;
}

/// Most series one metric query returns.
pub const MAX_METRIC_SERIES: usize = 100;
/// Most stored buckets one metric query reads; a wider query is refused (narrow it).
pub const MAX_METRIC_BUCKETS_READ: usize = 100_000;

/// One metric's series over a range, re-bucketed to a step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricSeriesQuery {
    pub name: String,
    pub service: Option<String>,
    pub start_ns: i64,
    pub end_ns: i64,
    pub step_ns: i64,
}

impl MetricSeriesQuery {
    /// Checks the name, the range and the step (positive, at most [`MAX_SERIES_STEPS`] steps).
    pub fn validate(&self) -> Result<(), QueryError> {
        if self.name.trim().is_empty() {
            return Err(QueryError::InvalidArgument("metric name is required".into()));
        }
        if self.start_ns > self.end_ns {
            return Err(QueryError::InvalidArgument(format!(
                "time range starts ({}) after it ends ({})",
                self.start_ns, self.end_ns
            )));
        }
        if self.step_ns <= 0 {
            return Err(QueryError::InvalidArgument("step must be positive".into()));
        }
        let steps = (self.end_ns - self.start_ns) / self.step_ns + 1;
        if steps > MAX_SERIES_STEPS {
            return Err(QueryError::InvalidArgument(format!(
                "{steps} steps: at most {MAX_SERIES_STEPS}; use a larger step or a shorter range"
            )));
        }
        Ok(())
    }
}

/// The series of a metric query, sorted by service and attributes.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricSeriesAnswer {
    pub series: Vec<RolledSeries>,
    /// More than [`MAX_METRIC_SERIES`] series matched; filter by service to see the rest.
    pub truncated: bool,
}

/// What an admin purge deleted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PurgeReport {
    pub cutoff_ns: i64,
    /// Rows deleted per table (spans go with their traces).
    pub deleted: Vec<(RetentionTarget, u64)>,
}

/// Why an admin request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminRefusal {
    /// No admin key is configured: the admin routes are off.
    Disabled,
    /// No admin key was presented.
    Missing,
    /// The key presented is not the admin key.
    Wrong,
}

/// Administration of a tenant's stored data, behind the admin key.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait Admin: Send + Sync {
    /// Whether `presented` is the admin key (compared in constant time).
    // The lifetime is named for mockall.
    #[allow(clippy::needless_lifetimes)]
    fn check_key<'a>(&self, presented: Option<&'a str>) -> Result<(), AdminRefusal>;
    /// Deletes `tenant`'s data older than `cutoff_ns` from every table, in batches (a cutoff at
    /// or after now also drops what the server holds of the tenant in memory).
    async fn purge(&self, tenant: &TenantId, cutoff_ns: i64) -> Result<PurgeReport, QueryError>;
    /// Reclaims free space and refreshes the planner's statistics (the whole database).
    async fn vacuum(&self) -> Result<(), QueryError>;
}

/// Read access to stored telemetry, always inside one tenant.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait Queries: Send + Sync {
    /// One trace with spans and logs; `NotFound` when absent.
    async fn trace(&self, tenant: &TenantId, trace_id: &TraceId) -> Result<Trace, QueryError>;
    /// Trace search.
    async fn traces(&self, tenant: &TenantId, query: &TraceQuery) -> Result<Page<TraceSummary>, QueryError>;
    /// Span search (spans of any trace), by start time.
    async fn spans(
        &self,
        tenant: &TenantId,
        query: &crate::storage::SpanQuery,
    ) -> Result<Page<otelcontext_domain::Span>, QueryError>;
    /// Log search (full text and filters).
    async fn logs(&self, tenant: &TenantId, query: &LogQuery) -> Result<Page<StoredLog>, QueryError>;
    /// One log record; `NotFound` when absent.
    async fn log(&self, tenant: &TenantId, id: LogId) -> Result<StoredLog, QueryError>;
    /// The records around a moment, oldest first.
    async fn log_context(&self, tenant: &TenantId, query: &LogContextQuery) -> Result<Vec<StoredLog>, QueryError>;
    /// The records most like `text`, best first; `Unavailable` when the index is off.
    async fn similar_logs(&self, tenant: &TenantId, text: &str, limit: usize)
    -> Result<Vec<SimilarLogHit>, QueryError>;
    /// Log patterns (Drain templates) matching the query, in its order.
    async fn patterns(&self, tenant: &TenantId, query: &TemplateQuery) -> Result<Page<LogTemplate>, QueryError>;
    /// One log pattern; `NotFound` when absent.
    async fn pattern(&self, tenant: &TenantId, id: TemplateId) -> Result<LogTemplate, QueryError>;
    /// Metric point search.
    async fn metric_points(&self, tenant: &TenantId, query: &MetricQuery) -> Result<Page<MetricPoint>, QueryError>;
    /// Services that sent spans within `time`, sorted; at most `limit`.
    async fn services(&self, tenant: &TenantId, time: TimeRange, limit: usize) -> Result<Vec<String>, QueryError>;
    /// Span names of `service` within `time`, sorted; at most `limit`.
    async fn operations(
        &self,
        tenant: &TenantId,
        service: &str,
        time: TimeRange,
        limit: usize,
    ) -> Result<Vec<String>, QueryError>;
    /// Metric names (of `service`, when given) within `time`, sorted; at most `limit`.
    async fn metric_names(
        &self,
        tenant: &TenantId,
        service: Option<String>,
        time: TimeRange,
        limit: usize,
    ) -> Result<Vec<String>, QueryError>;
    /// A metric's series over a range, re-bucketed to the step.
    async fn metric_series(
        &self,
        tenant: &TenantId,
        query: &MetricSeriesQuery,
    ) -> Result<MetricSeriesAnswer, QueryError>;
    /// Dashboard totals of the traces in a window: exact duration percentiles, failing services.
    async fn dashboard(&self, tenant: &TenantId, query: &TraceStatsQuery) -> Result<TraceStats, QueryError>;
    /// Traces and failed traces per step.
    async fn traffic(&self, tenant: &TenantId, query: &SeriesQuery) -> Result<Vec<TrafficPoint>, QueryError>;
    /// Traces per step and duration row.
    async fn latency_heatmap(&self, tenant: &TenantId, query: &SeriesQuery) -> Result<Vec<HeatCell>, QueryError>;
    /// Investigations, newest first.
    async fn investigations(
        &self,
        tenant: &TenantId,
        query: &InvestigationQuery,
    ) -> Result<Page<Investigation>, QueryError>;
    /// One investigation; `NotFound` when absent.
    async fn investigation(&self, tenant: &TenantId, id: &str) -> Result<Investigation, QueryError>;
    /// Graph snapshots, newest first.
    async fn snapshots(&self, tenant: &TenantId, query: &SnapshotQuery) -> Result<Page<GraphSnapshot>, QueryError>;
    /// One graph snapshot; `NotFound` when absent.
    async fn snapshot(&self, tenant: &TenantId, id: &str) -> Result<GraphSnapshot, QueryError>;
    /// Row counts.
    async fn stats(&self, tenant: &TenantId) -> Result<SignalCounts, QueryError>;
    /// Size and settings of the database (not tenant data).
    async fn storage_status(&self) -> Result<StorageStatus, QueryError>;
}

/// Result of one readiness check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckStatus {
    Ok,
    Failed(String),
}

/// Readiness of the server: a named result per dependency.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReadinessReport {
    pub checks: Vec<(String, CheckStatus)>,
}

impl ReadinessReport {
    /// Ready when every check is OK.
    pub fn is_ready(&self) -> bool {
        self.checks.iter().all(|(_, s)| *s == CheckStatus::Ok)
    }
}

/// Computes readiness.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait Readiness: Send + Sync {
    /// Runs every check.
    async fn check(&self) -> ReadinessReport;
}
