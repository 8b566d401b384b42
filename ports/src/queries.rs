//! Read-side use cases called by the query API, and readiness.

use crate::storage::{
    LogId, LogQuery, MetricQuery, Page, SignalCounts, StorageError, StorageStatus, StoredLog, TraceQuery,
};
use async_trait::async_trait;
use otelcontext_domain::graph::rca::RcaResult;
use otelcontext_domain::{MetricPoint, TenantId, Trace, TraceId, TraceSummary};

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

/// Read access to stored telemetry, always inside one tenant.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait Queries: Send + Sync {
    /// One trace with spans and logs; `NotFound` when absent.
    async fn trace(&self, tenant: &TenantId, trace_id: &TraceId) -> Result<Trace, QueryError>;
    /// Trace search.
    async fn traces(&self, tenant: &TenantId, query: &TraceQuery) -> Result<Page<TraceSummary>, QueryError>;
    /// Log search (full text and filters).
    async fn logs(&self, tenant: &TenantId, query: &LogQuery) -> Result<Page<StoredLog>, QueryError>;
    /// One log record; `NotFound` when absent.
    async fn log(&self, tenant: &TenantId, id: LogId) -> Result<StoredLog, QueryError>;
    /// Metric point search.
    async fn metric_points(&self, tenant: &TenantId, query: &MetricQuery) -> Result<Page<MetricPoint>, QueryError>;
    /// Row counts.
    async fn stats(&self, tenant: &TenantId) -> Result<SignalCounts, QueryError>;
    /// Size and settings of the database (not tenant data).
    async fn storage_status(&self) -> Result<StorageStatus, QueryError>;
}

/// Default range of a root-cause question: the last 15 minutes.
pub const DEFAULT_RCA_RANGE_NS: i64 = 15 * 60 * 1_000_000_000;
/// The graph holds one hour: the longest range a root-cause question may cover.
pub const MAX_RCA_RANGE_NS: i64 = 60 * 60 * 1_000_000_000;
/// Most candidates one answer holds.
pub const MAX_RCA_LIMIT: usize = 100;

/// A root-cause question: which service (or peer) changed, within a range, optionally only
/// among what `service` calls (transitively) and `service` itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RcaQuery {
    pub service: Option<String>,
    /// Range ends; absent `end` is now, absent `start` is `end - last_ns`.
    pub start_ns: Option<i64>,
    pub end_ns: Option<i64>,
    pub last_ns: i64,
    pub limit: usize,
}

impl Default for RcaQuery {
    fn default() -> Self {
        Self { service: None, start_ns: None, end_ns: None, last_ns: DEFAULT_RCA_RANGE_NS, limit: 10 }
    }
}

impl RcaQuery {
    /// The range `[start, end)` at `now_ns`, checked: start before end, at most
    /// [`MAX_RCA_RANGE_NS`] long, limit 1..=[`MAX_RCA_LIMIT`].
    pub fn resolve(&self, now_ns: i64) -> Result<(i64, i64), QueryError> {
        if self.limit == 0 || self.limit > MAX_RCA_LIMIT {
            return Err(QueryError::InvalidArgument(format!("limit {}: expected 1 to {MAX_RCA_LIMIT}", self.limit)));
        }
        if self.last_ns <= 0 {
            return Err(QueryError::InvalidArgument("time_range must be positive".into()));
        }
        let end = self.end_ns.unwrap_or(now_ns);
        let start = self.start_ns.unwrap_or(end.saturating_sub(self.last_ns));
        if start >= end {
            return Err(QueryError::InvalidArgument(format!("start ({start}) must be before end ({end})")));
        }
        if end - start > MAX_RCA_RANGE_NS {
            return Err(QueryError::InvalidArgument(
                "the service graph holds the last hour: ask about at most 1h".into(),
            ));
        }
        Ok((start, end))
    }
}

/// Answers asked of the live service graph, always inside one tenant.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait GraphQueries: Send + Sync {
    /// Ranked root-cause candidates with their evidence; `NotFound` when `service` is given but
    /// the graph has not seen it.
    async fn root_causes(&self, tenant: &TenantId, query: &RcaQuery) -> Result<RcaAnswer, QueryError>;
}

/// A root-cause answer: the range it covered and the ranking.
#[derive(Debug, Clone, PartialEq)]
pub struct RcaAnswer {
    pub start_ns: i64,
    pub end_ns: i64,
    pub result: RcaResult,
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

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_700_000_000_000_000_000;
    const MIN: i64 = 60_000_000_000;

    #[test]
    fn rca_ranges_resolve_against_now_and_are_checked() {
        assert_eq!(RcaQuery::default().resolve(NOW), Ok((NOW - 15 * MIN, NOW)));
        let q = RcaQuery { start_ns: Some(NOW - 5 * MIN), ..RcaQuery::default() };
        assert_eq!(q.resolve(NOW), Ok((NOW - 5 * MIN, NOW)));
        let q = RcaQuery { end_ns: Some(NOW - MIN), last_ns: 2 * MIN, ..RcaQuery::default() };
        assert_eq!(q.resolve(NOW), Ok((NOW - 3 * MIN, NOW - MIN)));
        let bad = [
            RcaQuery { limit: 0, ..RcaQuery::default() },
            RcaQuery { limit: MAX_RCA_LIMIT + 1, ..RcaQuery::default() },
            RcaQuery { last_ns: 0, ..RcaQuery::default() },
            RcaQuery { last_ns: 2 * MAX_RCA_RANGE_NS, ..RcaQuery::default() },
            RcaQuery { start_ns: Some(NOW), end_ns: Some(NOW - 1), ..RcaQuery::default() },
        ];
        for q in bad {
            assert!(matches!(q.resolve(NOW), Err(QueryError::InvalidArgument(_))), "{q:?}");
        }
    }
}
