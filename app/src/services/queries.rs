//! Read-side use cases: tenant-scoped access to the storage ports, with limits capped and
//! storage errors mapped to query errors (client mistakes stay client mistakes).

use crate::services::SimilarLogService;
use async_trait::async_trait;
use otelcontext_domain::{LogTemplate, MetricPoint, TemplateId, TenantId, Trace, TraceId, TraceSummary};
use otelcontext_ports::{
    IntelligenceStore, LogContextQuery, LogId, LogQuery, LogSort, LogStore, Maintenance, MetricQuery, MetricStore,
    Page, Queries, QueryError, SignalCounts, SimilarLogHit, StorageStatus, StoredLog, TemplateQuery, TimeRange,
    TraceQuery, TraceStore,
};
use std::sync::Arc;

/// Upper bound of rows one page of a list query returns.
pub const MAX_PAGE_ROWS: usize = 10_000;

/// Implements [`Queries`] over the read ports.
pub struct QueryService {
    traces: Arc<dyn TraceStore>,
    logs: Arc<dyn LogStore>,
    metrics: Arc<dyn MetricStore>,
    maintenance: Arc<dyn Maintenance>,
    intelligence: Arc<dyn IntelligenceStore>,
    similar: Option<Arc<SimilarLogService>>,
}

impl QueryService {
    /// Queries over these ports.
    pub fn new(
        traces: Arc<dyn TraceStore>,
        logs: Arc<dyn LogStore>,
        metrics: Arc<dyn MetricStore>,
        maintenance: Arc<dyn Maintenance>,
        intelligence: Arc<dyn IntelligenceStore>,
    ) -> Self {
        Self { traces, logs, metrics, maintenance, intelligence, similar: None }
    }

    /// Answers similar-log searches from `index`.
    pub fn with_similar_logs(mut self, index: Arc<SimilarLogService>) -> Self {
        self.similar = Some(index);
        self
    }

    /// Queries over every port of one storage.
    pub fn over(storage: Arc<dyn otelcontext_ports::Storage>) -> Self {
        Self::new(storage.clone(), storage.clone(), storage.clone(), storage.clone(), storage)
    }
}

fn capped(limit: usize) -> usize {
    limit.min(MAX_PAGE_ROWS)
}

#[async_trait]
impl Queries for QueryService {
    async fn trace(&self, tenant: &TenantId, trace_id: &TraceId) -> Result<Trace, QueryError> {
        self.traces.get_trace(tenant, trace_id).await?.ok_or_else(|| QueryError::NotFound(format!("trace {trace_id}")))
    }

    async fn traces(&self, tenant: &TenantId, query: &TraceQuery) -> Result<Page<TraceSummary>, QueryError> {
        let q = TraceQuery { limit: capped(query.limit), ..query.clone() };
        Ok(self.traces.search_traces(tenant, &q).await?)
    }

    async fn logs(&self, tenant: &TenantId, query: &LogQuery) -> Result<Page<StoredLog>, QueryError> {
        let q = LogQuery { limit: capped(query.limit), ..query.clone() };
        Ok(self.logs.search_logs(tenant, &q).await?)
    }

    async fn log(&self, tenant: &TenantId, id: LogId) -> Result<StoredLog, QueryError> {
        self.logs.get_log(tenant, id).await?.ok_or_else(|| QueryError::NotFound(format!("log {}", id.0)))
    }

    async fn log_context(&self, tenant: &TenantId, query: &LogContextQuery) -> Result<Vec<StoredLog>, QueryError> {
        let limit = capped(query.limit).max(1);
        let around = LogQuery { service: query.service.clone(), limit: limit.div_ceil(2), ..LogQuery::default() };
        // Up to half the records at or before the moment (nearest first), the rest after it.
        let before = LogQuery {
            time: TimeRange::between(query.around_ns.saturating_sub(query.window_ns), query.around_ns),
            sort: LogSort::Newest,
            ..around.clone()
        };
        let mut records = self.logs.search_logs(tenant, &before).await?.items;
        records.reverse();
        let after = LogQuery {
            time: TimeRange::between(
                query.around_ns.saturating_add(1),
                query.around_ns.saturating_add(query.window_ns),
            ),
            sort: LogSort::Oldest,
            limit: limit - records.len(),
            ..around
        };
        if after.limit > 0 {
            records.extend(self.logs.search_logs(tenant, &after).await?.items);
        }
        Ok(records)
    }

    async fn similar_logs(
        &self,
        tenant: &TenantId,
        text: &str,
        limit: usize,
    ) -> Result<Vec<SimilarLogHit>, QueryError> {
        let Some(index) = &self.similar else {
            return Err(QueryError::Unavailable("the similar-log index is not running".into()));
        };
        Ok(index
            .search(tenant, text, limit)
            .into_iter()
            .map(|h| SimilarLogHit {
                score: h.score,
                id: h.payload.id,
                timestamp_ns: h.payload.timestamp_ns,
                service: h.payload.service,
                severity: h.payload.severity,
                body: h.payload.body,
                trace_id: h.payload.trace_id,
                span_id: h.payload.span_id,
                template_id: h.payload.template_id,
            })
            .collect())
    }

    async fn patterns(&self, tenant: &TenantId, query: &TemplateQuery) -> Result<Page<LogTemplate>, QueryError> {
        let q = TemplateQuery { limit: capped(query.limit), ..query.clone() };
        Ok(self.intelligence.search_templates(tenant, &q).await?)
    }

    async fn pattern(&self, tenant: &TenantId, id: TemplateId) -> Result<LogTemplate, QueryError> {
        self.intelligence.get_template(tenant, id).await?.ok_or_else(|| QueryError::NotFound(format!("pattern {id}")))
    }

    async fn metric_points(&self, tenant: &TenantId, query: &MetricQuery) -> Result<Page<MetricPoint>, QueryError> {
        let q = MetricQuery { limit: capped(query.limit), ..query.clone() };
        Ok(self.metrics.search_metric_points(tenant, &q).await?)
    }

    async fn services(&self, tenant: &TenantId, time: TimeRange, limit: usize) -> Result<Vec<String>, QueryError> {
        Ok(self.traces.services(tenant, time, limit).await?)
    }

    async fn operations(
        &self,
        tenant: &TenantId,
        service: &str,
        time: TimeRange,
        limit: usize,
    ) -> Result<Vec<String>, QueryError> {
        Ok(self.traces.operations(tenant, service, time, limit).await?)
    }

    async fn metric_names(
        &self,
        tenant: &TenantId,
        service: Option<String>,
        time: TimeRange,
        limit: usize,
    ) -> Result<Vec<String>, QueryError> {
        Ok(self.metrics.metric_names(tenant, service.as_deref(), time, limit).await?)
    }

    async fn stats(&self, tenant: &TenantId) -> Result<SignalCounts, QueryError> {
        Ok(self.maintenance.counts(tenant).await?)
    }

    async fn storage_status(&self) -> Result<StorageStatus, QueryError> {
        Ok(self.maintenance.status().await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use otelcontext_ports::{MockLogStore, MockMaintenance, MockMetricStore, MockTraceStore, StorageError};

    fn service(traces: MockTraceStore, logs: MockLogStore, maintenance: MockMaintenance) -> QueryService {
        QueryService::new(
            Arc::new(traces),
            Arc::new(logs),
            Arc::new(MockMetricStore::new()),
            Arc::new(maintenance),
            Arc::new(otelcontext_ports::MockIntelligenceStore::new()),
        )
    }

    fn t() -> TenantId {
        TenantId::parse("t").unwrap()
    }

    #[tokio::test]
    async fn storage_errors_map_to_query_errors() {
        let mut m = MockMaintenance::new();
        m.expect_counts().times(1).returning(|_| Err(StorageError::Unavailable("locked".into())));
        m.expect_counts().times(1).returning(|_| Err(StorageError::Corrupt("bad row".into())));
        m.expect_counts().times(1).returning(|_| Err(StorageError::InvalidArgument("bad cursor".into())));
        let q = service(MockTraceStore::new(), MockLogStore::new(), m);
        assert!(matches!(q.stats(&t()).await, Err(QueryError::Unavailable(_))));
        assert!(matches!(q.stats(&t()).await, Err(QueryError::Internal(_))));
        assert!(matches!(q.stats(&t()).await, Err(QueryError::InvalidArgument(_))));
    }

    #[tokio::test]
    async fn an_absent_trace_or_log_is_not_found() {
        let mut traces = MockTraceStore::new();
        traces.expect_get_trace().returning(|_, _| Ok(None));
        let mut logs = MockLogStore::new();
        logs.expect_get_log().returning(|_, _| Ok(None));
        let q = service(traces, logs, MockMaintenance::new());
        let id = TraceId::from_array([7; 16]).unwrap();
        assert!(matches!(q.trace(&t(), &id).await, Err(QueryError::NotFound(m)) if m.contains("0707")));
        assert!(matches!(q.log(&t(), LogId(5)).await, Err(QueryError::NotFound(_))));
    }

    fn stored(id: i64, at: i64) -> StoredLog {
        use otelcontext_domain::{Attributes, InstrumentationScope, LogRecord, Resource};
        let record = LogRecord {
            timestamp_ns: at,
            observed_ns: at,
            severity_number: 9,
            severity_text: String::new(),
            body: None,
            attributes: Attributes::new(),
            trace_id: None,
            span_id: None,
            flags: 0,
            event_name: String::new(),
            resource: Arc::new(Resource::for_service("api")),
            scope: Arc::new(InstrumentationScope::default()),
            template_id: None,
        };
        StoredLog { id: LogId(id), record }
    }

    #[tokio::test]
    async fn log_context_is_half_before_and_half_after_oldest_first() {
        let mut logs = MockLogStore::new();
        // Before: [900, 1000], nearest first, 3 of them; after: (1000, 1100], oldest first.
        logs.expect_search_logs()
            .withf(|_, q| {
                q.sort == LogSort::Newest
                    && q.time == TimeRange::between(900, 1_000)
                    && q.limit == 3
                    && q.service.as_deref() == Some("api")
            })
            .times(1)
            .returning(|_, _| Ok(Page { items: vec![stored(3, 1_000), stored(2, 990)], next: None }));
        logs.expect_search_logs()
            .withf(|_, q| q.sort == LogSort::Oldest && q.time == TimeRange::between(1_001, 1_100) && q.limit == 3)
            .times(1)
            .returning(|_, _| Ok(Page { items: vec![stored(4, 1_010), stored(5, 1_020)], next: None }));
        let q = service(MockTraceStore::new(), logs, MockMaintenance::new());
        let got = q
            .log_context(
                &t(),
                &LogContextQuery { around_ns: 1_000, window_ns: 100, service: Some("api".into()), limit: 5 },
            )
            .await
            .unwrap();
        assert_eq!(got.iter().map(|l| l.id.0).collect::<Vec<_>>(), [2, 3, 4, 5]);
    }

    #[tokio::test]
    async fn similar_logs_without_an_index_are_unavailable() {
        let q = service(MockTraceStore::new(), MockLogStore::new(), MockMaintenance::new());
        assert!(matches!(q.similar_logs(&t(), "timeout", 5).await, Err(QueryError::Unavailable(_))));
    }

    #[tokio::test]
    async fn page_sizes_are_capped() {
        let mut logs = MockLogStore::new();
        logs.expect_search_logs().withf(|_, q| q.limit == MAX_PAGE_ROWS).returning(|_, _| Ok(Page::empty()));
        let q = service(MockTraceStore::new(), logs, MockMaintenance::new());
        q.logs(&t(), &LogQuery::recent(usize::MAX)).await.unwrap();
    }
}
