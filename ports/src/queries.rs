//! Read-side use cases called by the query API, and readiness.

use crate::storage::{LogQuery, MetricQuery, SignalCounts};
use async_trait::async_trait;
use otelcontext_domain::{LogRecord, MetricPoint, TenantId, Trace, TraceId};

/// Why a query failed (client mistakes are validated before reaching this port).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    #[error("query failed: {0}")]
    Internal(String),
}

/// Read access to stored telemetry, always inside one tenant.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait Queries: Send + Sync {
    /// One trace with spans and logs.
    async fn trace(&self, tenant: &TenantId, trace_id: &TraceId) -> Result<Option<Trace>, QueryError>;
    /// Row counts.
    async fn stats(&self, tenant: &TenantId) -> Result<SignalCounts, QueryError>;
    /// Log search.
    async fn logs(&self, tenant: &TenantId, query: &LogQuery) -> Result<Vec<LogRecord>, QueryError>;
    /// Metric point search.
    async fn metric_points(&self, tenant: &TenantId, query: &MetricQuery) -> Result<Vec<MetricPoint>, QueryError>;
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
