//! Types of the maintenance port.

/// What retention purges.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RetentionTarget {
    Logs,
    /// Trace rows with their spans (by trace start).
    Traces,
    MetricPoints,
    MetricBuckets,
    GraphSnapshots,
    /// Investigations, by creation time.
    Investigations,
    /// Log templates (Drain), by the last time a record matched them.
    Templates,
}

impl RetentionTarget {
    /// Table name, used as a metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Logs => "logs",
            Self::Traces => "traces",
            Self::MetricPoints => "metric_points",
            Self::MetricBuckets => "metric_buckets",
            Self::GraphSnapshots => "graph_snapshots",
            Self::Investigations => "investigations",
            Self::Templates => "drain_templates",
        }
    }

    /// The targets kept for `HOT_RETENTION_DAYS`.
    pub const HOT: [RetentionTarget; 4] = [Self::Logs, Self::Traces, Self::MetricPoints, Self::MetricBuckets];

    /// Every table of tenant data (an admin purge empties them all).
    pub const ALL: [RetentionTarget; 7] = [
        Self::Logs,
        Self::Traces,
        Self::MetricPoints,
        Self::MetricBuckets,
        Self::GraphSnapshots,
        Self::Investigations,
        Self::Templates,
    ];
}

/// One daily partition of `logs`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogPartition {
    pub name: String,
    /// `[start, end)` in unix nanoseconds; `None` for the default partition.
    pub range: Option<(i64, i64)>,
}

/// Connection pool usage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PoolStats {
    pub open: u32,
    pub idle: u32,
    pub in_use: u32,
    pub max_open: u32,
}

/// Size and settings of the database, for the status route and metrics.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StorageStatus {
    pub backend: String,
    /// Bytes on disk (database file plus WAL, or the database size on Postgres).
    pub size_bytes: Option<u64>,
    /// Schema version applied.
    pub schema_version: i64,
    /// Whether full-text search uses an index (FTS5 / pg_trgm) rather than scanning.
    pub full_text_indexed: bool,
    /// Whether logs are partitioned by day.
    pub logs_partitioned: bool,
    /// Backend settings worth showing (`journal_mode`, `synchronous`, …).
    pub settings: Vec<(String, String)>,
}
