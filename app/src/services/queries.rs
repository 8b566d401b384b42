//! Read-side use cases: thin, tenant-scoped access to storage.

use async_trait::async_trait;
use otelcontext_domain::{LogRecord, MetricPoint, TenantId, Trace, TraceId};
use otelcontext_ports::{LogQuery, MetricQuery, Queries, QueryError, SignalCounts, Storage, StorageError};
use std::sync::Arc;

/// Upper bound of rows one log or metric query returns.
pub const MAX_QUERY_ROWS: usize = 10_000;

/// Implements [`Queries`] over a storage adapter.
pub struct QueryService {
    storage: Arc<dyn Storage>,
}

impl QueryService {
    /// Queries over `storage`.
    pub fn new(storage: Arc<dyn Storage>) -> Self {
        Self { storage }
    }
}

fn map(e: StorageError) -> QueryError {
    if e.is_transient() { QueryError::Unavailable(e.to_string()) } else { QueryError::Internal(e.to_string()) }
}

#[async_trait]
impl Queries for QueryService {
    async fn trace(&self, tenant: &TenantId, trace_id: &TraceId) -> Result<Option<Trace>, QueryError> {
        self.storage.get_trace(tenant, trace_id).await.map_err(map)
    }

    async fn stats(&self, tenant: &TenantId) -> Result<SignalCounts, QueryError> {
        self.storage.counts(tenant).await.map_err(map)
    }

    async fn logs(&self, tenant: &TenantId, query: &LogQuery) -> Result<Vec<LogRecord>, QueryError> {
        let q = LogQuery { limit: query.limit.min(MAX_QUERY_ROWS), ..query.clone() };
        self.storage.query_logs(tenant, &q).await.map_err(map)
    }

    async fn metric_points(&self, tenant: &TenantId, query: &MetricQuery) -> Result<Vec<MetricPoint>, QueryError> {
        let q = MetricQuery { limit: query.limit.min(MAX_QUERY_ROWS), ..query.clone() };
        self.storage.query_metric_points(tenant, &q).await.map_err(map)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use otelcontext_ports::MockStorage;

    #[tokio::test]
    async fn transient_storage_errors_are_unavailable_others_internal() {
        let mut s = MockStorage::new();
        s.expect_counts().times(1).returning(|_| Err(StorageError::Unavailable("locked".into())));
        s.expect_counts().times(1).returning(|_| Err(StorageError::Corrupt("bad row".into())));
        let q = QueryService::new(Arc::new(s));
        let t = TenantId::parse("t").unwrap();
        assert!(matches!(q.stats(&t).await, Err(QueryError::Unavailable(_))));
        assert!(matches!(q.stats(&t).await, Err(QueryError::Internal(_))));
    }

    #[tokio::test]
    async fn query_limits_are_capped() {
        let mut s = MockStorage::new();
        s.expect_query_logs().withf(|_, q| q.limit == MAX_QUERY_ROWS).returning(|_, _| Ok(vec![]));
        let q = QueryService::new(Arc::new(s));
        let t = TenantId::parse("t").unwrap();
        q.logs(&t, &LogQuery { limit: usize::MAX, ..Default::default() }).await.unwrap();
    }
}
