//! The storage ports: what otelcontext persists and reads back, split by concern so that each
//! service depends on (and each test mocks) only what it uses. [`Storage`] bundles them for
//! composition: an adapter implements every trait and is handed over as one `Arc<dyn Storage>`.
//!
//! Every method takes a [`TenantId`] and never sees another tenant's data, except the
//! maintenance methods named as cross-tenant.

mod aggregate;
mod catalog;
mod maintenance;
mod page;
mod query;

pub use aggregate::{
    DASHBOARD_PERCENTILES, FailingService, HeatCell, LATENCY_BOUNDS_NS, MAX_SERIES_STEPS, MAX_STATS_SERVICES,
    SeriesQuery, StatsBuilder, TOP_FAILING_SERVICES, TraceStats, TraceStatsQuery, TrafficPoint, WindowSplit,
    latency_row, nearest_rank,
};
pub use catalog::{CATALOG_SLACK_NS, CatalogCache, CatalogEntry, CatalogSignal, MAX_CATALOG_LIMIT, catalog_entries};
pub use maintenance::{LogPartition, PoolStats, RetentionTarget, StorageStatus};
pub use page::{Cursor, CursorKey, Page};
pub use query::{
    AttributeFilter, BucketQuery, InvestigationQuery, LogId, LogQuery, LogSort, MAX_ATTRIBUTE_FILTERS, MetricQuery,
    SnapshotQuery, SortOrder, SpanQuery, StoredLog, TemplateQuery, TemplateSort, TimeRange, TraceQuery, TraceSort,
    validate_catalog_read, validate_limit,
};

use async_trait::async_trait;
use otelcontext_domain::retention::Day;
use otelcontext_domain::{
    GraphSnapshot, Investigation, LogRecord, LogTemplate, MetricBucket, MetricPoint, Span, TemplateId, TenantId, Trace,
    TraceId, TraceSummary,
};

/// Errors of a storage adapter, mapped from its library's errors at the seam.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StorageError {
    /// The database cannot be reached or is busy; the operation may succeed later.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// The request itself is wrong (malformed cursor, reversed range, zero limit).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
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

    /// Short label for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            StorageError::Unavailable(_) => "unavailable",
            StorageError::InvalidArgument(_) => "invalid_argument",
            StorageError::Rejected(_) => "rejected",
            StorageError::Corrupt(_) => "corrupt",
            StorageError::Schema(_) => "schema",
            StorageError::Other(_) => "other",
        }
    }
}

impl From<otelcontext_domain::codec::CodecError> for StorageError {
    fn from(e: otelcontext_domain::codec::CodecError) -> Self {
        StorageError::Corrupt(e.to_string())
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

/// Writes ingested telemetry.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait TelemetryWriter: Send + Sync {
    /// Writes all parts atomically (one transaction). Idempotent: a span is unique on
    /// (tenant, trace id, span id); a log record on (tenant, timestamp, dedup key); a metric
    /// point on (tenant, time, series). Trace rows are merged as
    /// [`otelcontext_domain::TraceSummary::merge`] says.
    async fn write(&self, batches: &[TenantBatch]) -> Result<WriteSummary, StorageError>;
}

/// Reads traces and spans.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait TraceStore: Send + Sync {
    /// A trace with its spans (by start time) and correlated logs; `None` when absent.
    async fn get_trace(&self, tenant: &TenantId, trace_id: &TraceId) -> Result<Option<Trace>, StorageError>;

    /// Trace rows matching the query, in its order.
    async fn search_traces(&self, tenant: &TenantId, query: &TraceQuery) -> Result<Page<TraceSummary>, StorageError>;

    /// Spans matching the query, by start time.
    async fn search_spans(&self, tenant: &TenantId, query: &SpanQuery) -> Result<Page<Span>, StorageError>;

    /// Services that sent spans within `time` (to within [`CATALOG_SLACK_NS`]), sorted by name;
    /// at most `limit` (1 to [`MAX_CATALOG_LIMIT`]).
    async fn services(&self, tenant: &TenantId, time: TimeRange, limit: usize) -> Result<Vec<String>, StorageError>;

    /// Span names of `service` seen within `time` (as [`TraceStore::services`]), sorted; at most
    /// `limit`.
    async fn operations(
        &self,
        tenant: &TenantId,
        service: &str,
        time: TimeRange,
        limit: usize,
    ) -> Result<Vec<String>, StorageError>;

    /// Totals, exact duration percentiles and the most failing root services of the trace rows
    /// of the query, and the count of log records in the same window (and services).
    async fn trace_stats(&self, tenant: &TenantId, query: &TraceStatsQuery) -> Result<TraceStats, StorageError>;

    /// Traces and failed traces per step, oldest first; steps without traces are left out.
    async fn traffic(&self, tenant: &TenantId, query: &SeriesQuery) -> Result<Vec<TrafficPoint>, StorageError>;

    /// Traces per step and duration row of [`LATENCY_BOUNDS_NS`], by step then row; empty cells
    /// are left out.
    async fn latency_heatmap(&self, tenant: &TenantId, query: &SeriesQuery) -> Result<Vec<HeatCell>, StorageError>;
}

/// Reads log records.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait LogStore: Send + Sync {
    /// Log records matching the query, in its order.
    async fn search_logs(&self, tenant: &TenantId, query: &LogQuery) -> Result<Page<StoredLog>, StorageError>;

    /// One log record by id; `None` when absent or another tenant's.
    async fn get_log(&self, tenant: &TenantId, id: LogId) -> Result<Option<StoredLog>, StorageError>;
}

/// Reads metric points and writes and reads metric buckets.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait MetricStore: Send + Sync {
    /// Metric points matching the query, in its order.
    async fn search_metric_points(
        &self,
        tenant: &TenantId,
        query: &MetricQuery,
    ) -> Result<Page<MetricPoint>, StorageError>;

    /// Writes buckets; a bucket already stored for the same series and start is merged with
    /// [`MetricBucket::merge`].
    async fn write_buckets(&self, tenant: &TenantId, buckets: &[MetricBucket]) -> Result<(), StorageError>;

    /// Buckets matching the query, oldest first.
    async fn search_buckets(&self, tenant: &TenantId, query: &BucketQuery) -> Result<Page<MetricBucket>, StorageError>;

    /// Names of the metrics reported within `time` (to within [`CATALOG_SLACK_NS`]), by
    /// `service` when given, sorted; at most `limit` (1 to [`MAX_CATALOG_LIMIT`]).
    async fn metric_names<'a>(
        &self,
        tenant: &TenantId,
        service: Option<&'a str>,
        time: TimeRange,
        limit: usize,
    ) -> Result<Vec<String>, StorageError>;
}

/// Persists what the intelligence features derive: log templates, investigations, graph
/// snapshots.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait IntelligenceStore: Send + Sync {
    /// Inserts templates, or merges them into the stored ones with [`LogTemplate::merge`].
    async fn upsert_templates(&self, tenant: &TenantId, templates: &[LogTemplate]) -> Result<(), StorageError>;

    /// Every template of the tenant (bounded by the miner's per-tenant cap), by id.
    async fn list_templates(&self, tenant: &TenantId) -> Result<Vec<LogTemplate>, StorageError>;

    /// One template; `None` when absent.
    async fn get_template(&self, tenant: &TenantId, id: TemplateId) -> Result<Option<LogTemplate>, StorageError>;

    /// Templates (log patterns) matching the query's filters ([`TemplateQuery::matches`]), in its
    /// order (largest first, ties by id descending), one page at a time.
    async fn search_templates(
        &self,
        tenant: &TenantId,
        query: &TemplateQuery,
    ) -> Result<Page<LogTemplate>, StorageError>;

    /// Inserts or replaces an investigation (by id).
    async fn save_investigation(&self, tenant: &TenantId, investigation: &Investigation) -> Result<(), StorageError>;

    /// One investigation; `None` when absent.
    async fn get_investigation(&self, tenant: &TenantId, id: &str) -> Result<Option<Investigation>, StorageError>;

    /// Investigations matching the query, newest first.
    async fn search_investigations(
        &self,
        tenant: &TenantId,
        query: &InvestigationQuery,
    ) -> Result<Page<Investigation>, StorageError>;

    /// Inserts or replaces a snapshot (by id).
    async fn save_snapshot(&self, tenant: &TenantId, snapshot: &GraphSnapshot) -> Result<(), StorageError>;

    /// One snapshot; `None` when absent.
    async fn get_snapshot(&self, tenant: &TenantId, id: &str) -> Result<Option<GraphSnapshot>, StorageError>;

    /// Snapshots matching the query, newest first.
    async fn search_snapshots(
        &self,
        tenant: &TenantId,
        query: &SnapshotQuery,
    ) -> Result<Page<GraphSnapshot>, StorageError>;
}

/// Health, size, retention and partitions of the database.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait Maintenance: Send + Sync {
    /// Short name of the backend (`sqlite`, `postgres`, `memory`), used as a metric label.
    fn backend(&self) -> &'static str;

    /// Checks that the database answers.
    async fn ping(&self) -> Result<(), StorageError>;

    /// Row counts of a tenant.
    async fn counts(&self, tenant: &TenantId) -> Result<SignalCounts, StorageError>;

    /// Every tenant that has data (cross-tenant).
    async fn tenants(&self) -> Result<Vec<TenantId>, StorageError>;

    /// Deletes up to `batch` records of `target` older than `cutoff_ns`, across all tenants
    /// (cross-tenant); returns how many were deleted. A trace is deleted with its spans.
    async fn purge(&self, target: RetentionTarget, cutoff_ns: i64, batch: usize) -> Result<u64, StorageError>;

    /// Records of `target` older than `cutoff_ns`, across all tenants (cross-tenant).
    async fn count_older_than(&self, target: RetentionTarget, cutoff_ns: i64) -> Result<u64, StorageError>;

    /// Deletes up to `batch` rows of `tenant` in `target` older than `cutoff_ns` (a trace with its
    /// spans; catalogue names only those rows used go too); the number deleted. Only that
    /// tenant's rows are touched.
    async fn purge_tenant(
        &self,
        tenant: &TenantId,
        target: RetentionTarget,
        cutoff_ns: i64,
        batch: usize,
    ) -> Result<u64, StorageError>;

    /// Refreshes planner statistics and reclaims free space, without blocking writes for long.
    async fn optimize(&self) -> Result<(), StorageError>;

    /// Size and settings of the database.
    async fn status(&self) -> Result<StorageStatus, StorageError>;

    /// Connection pool usage, when the adapter has a pool.
    fn pool_stats(&self) -> Option<PoolStats>;

    /// The daily partitions of `logs`; empty when logs is not partitioned.
    async fn log_partitions(&self) -> Result<Vec<LogPartition>, StorageError>;

    /// Creates the partitions of these days that do not exist yet (moving rows of those days out
    /// of the default partition); returns how many were created. A no-op when not partitioned.
    async fn create_log_partitions(&self, days: &[Day]) -> Result<usize, StorageError>;

    /// Drops one daily partition of `logs` (with its rows).
    async fn drop_log_partition(&self, name: &str) -> Result<(), StorageError>;

    /// Flushes and closes connections; later calls fail with `Unavailable`.
    async fn close(&self);
}

/// Every storage port, implemented by one adapter: what the composition root and the server
/// builder take.
pub trait Storage: TelemetryWriter + TraceStore + LogStore + MetricStore + IntelligenceStore + Maintenance {}

impl<T> Storage for T where T: TelemetryWriter + TraceStore + LogStore + MetricStore + IntelligenceStore + Maintenance {}
