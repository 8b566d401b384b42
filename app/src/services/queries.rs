//! Read-side use cases: tenant-scoped access to the storage ports, with limits capped and
//! storage errors mapped to query errors (client mistakes stay client mistakes).

use crate::services::SimilarLogService;
use async_trait::async_trait;
use otelcontext_domain::{
    GraphSnapshot, Investigation, LogTemplate, MetricPoint, TemplateId, TenantId, Trace, TraceId, TraceSummary,
};
use otelcontext_ports::{
    BucketQuery, HeatCell, IntelligenceStore, InvestigationQuery, LogContextQuery, LogId, LogQuery, LogSort, LogStore,
    MAX_METRIC_BUCKETS_READ, MAX_METRIC_SERIES, Maintenance, MetricQuery, MetricSeriesAnswer, MetricSeriesQuery,
    MetricStore, Page, Queries, QueryError, SeriesQuery, SignalCounts, SimilarLogHit, SnapshotQuery, StorageStatus,
    StoredLog, TemplateQuery, TimeRange, TraceQuery, TraceStats, TraceStatsQuery, TraceStore, TrafficPoint,
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

    async fn spans(
        &self,
        tenant: &TenantId,
        query: &otelcontext_ports::SpanQuery,
    ) -> Result<Page<otelcontext_domain::Span>, QueryError> {
        let q = otelcontext_ports::SpanQuery { limit: capped(query.limit), ..query.clone() };
        Ok(self.traces.search_spans(tenant, &q).await?)
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

    async fn metric_series(
        &self,
        tenant: &TenantId,
        query: &MetricSeriesQuery,
    ) -> Result<MetricSeriesAnswer, QueryError> {
        query.validate()?;
        let mut q = BucketQuery {
            time: TimeRange::between(query.start_ns, query.end_ns),
            name: Some(query.name.trim().to_owned()),
            service: query.service.clone(),
            limit: MAX_PAGE_ROWS,
            cursor: None,
        };
        let mut buckets = Vec::new();
        loop {
            let page = self.metrics.search_buckets(tenant, &q).await?;
            buckets.extend(page.items);
            if buckets.len() > MAX_METRIC_BUCKETS_READ {
                return Err(QueryError::InvalidArgument(format!(
                    "the query covers more than {MAX_METRIC_BUCKETS_READ} stored buckets: filter by service or \
                     shorten the range"
                )));
            }
            match page.next {
                Some(c) => q.cursor = Some(c),
                None => break,
            }
        }
        let mut series = otelcontext_domain::rollup(&buckets, query.start_ns, query.step_ns);
        let truncated = series.len() > MAX_METRIC_SERIES;
        series.truncate(MAX_METRIC_SERIES);
        Ok(MetricSeriesAnswer { series, truncated })
    }

    async fn dashboard(&self, tenant: &TenantId, query: &TraceStatsQuery) -> Result<TraceStats, QueryError> {
        Ok(self.traces.trace_stats(tenant, query).await?)
    }

    async fn traffic(&self, tenant: &TenantId, query: &SeriesQuery) -> Result<Vec<TrafficPoint>, QueryError> {
        Ok(self.traces.traffic(tenant, query).await?)
    }

    async fn latency_heatmap(&self, tenant: &TenantId, query: &SeriesQuery) -> Result<Vec<HeatCell>, QueryError> {
        Ok(self.traces.latency_heatmap(tenant, query).await?)
    }

    async fn investigations(
        &self,
        tenant: &TenantId,
        query: &InvestigationQuery,
    ) -> Result<Page<Investigation>, QueryError> {
        let q = InvestigationQuery { limit: capped(query.limit), ..query.clone() };
        Ok(self.intelligence.search_investigations(tenant, &q).await?)
    }

    async fn investigation(&self, tenant: &TenantId, id: &str) -> Result<Investigation, QueryError> {
        self.intelligence
            .get_investigation(tenant, id)
            .await?
            .ok_or_else(|| QueryError::NotFound(format!("investigation {id}")))
    }

    async fn snapshots(&self, tenant: &TenantId, query: &SnapshotQuery) -> Result<Page<GraphSnapshot>, QueryError> {
        let q = SnapshotQuery { limit: capped(query.limit), ..query.clone() };
        Ok(self.intelligence.search_snapshots(tenant, &q).await?)
    }

    async fn snapshot(&self, tenant: &TenantId, id: &str) -> Result<GraphSnapshot, QueryError> {
        self.intelligence.get_snapshot(tenant, id).await?.ok_or_else(|| QueryError::NotFound(format!("snapshot {id}")))
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

    fn bucket(service: &str, start_ns: i64, value: f64) -> otelcontext_domain::MetricBucket {
        otelcontext_domain::MetricBucket {
            name: "queue.depth".into(),
            service: service.into(),
            attributes: otelcontext_domain::Attributes::new(),
            start_ns,
            width_ns: 30,
            count: 1,
            sum: value,
            min: value,
            max: value,
            last: value,
            last_ns: start_ns,
            histogram: otelcontext_domain::BucketHistogram::None,
        }
    }

    fn over_metrics(metrics: MockMetricStore) -> QueryService {
        QueryService::new(
            Arc::new(MockTraceStore::new()),
            Arc::new(MockLogStore::new()),
            Arc::new(metrics),
            Arc::new(MockMaintenance::new()),
            Arc::new(otelcontext_ports::MockIntelligenceStore::new()),
        )
    }

    #[tokio::test]
    async fn metric_series_read_every_page_and_roll_up_per_step() {
        let mut metrics = MockMetricStore::new();
        let next = otelcontext_ports::Cursor::After { key: 30, id: 2 };
        metrics
            .expect_search_buckets()
            .withf(|_, q| {
                q.cursor.is_none() && q.name.as_deref() == Some("queue.depth") && q.time == TimeRange::between(0, 119)
            })
            .returning(move |_, _| {
                Ok(Page { items: vec![bucket("a", 0, 1.0), bucket("a", 30, 3.0)], next: Some(next) })
            });
        metrics
            .expect_search_buckets()
            .withf(move |_, q| q.cursor == Some(next))
            .returning(|_, _| Ok(Page { items: vec![bucket("a", 60, 5.0), bucket("b", 90, 7.0)], next: None }));
        let q = over_metrics(metrics);
        let query =
            MetricSeriesQuery { name: " queue.depth ".into(), service: None, start_ns: 0, end_ns: 119, step_ns: 60 };
        let answer = q.metric_series(&t(), &query).await.unwrap();
        assert!(!answer.truncated);
        let a = &answer.series[0];
        assert_eq!(
            a.points.iter().map(|p| (p.start_ns, p.count, p.sum)).collect::<Vec<_>>(),
            vec![(0, 2, 4.0), (60, 1, 5.0)]
        );
        assert_eq!(answer.series[1].service, "b");
        let bad = MetricSeriesQuery { step_ns: 0, ..query.clone() };
        assert!(matches!(q.metric_series(&t(), &bad).await, Err(QueryError::InvalidArgument(_))));
        let unnamed = MetricSeriesQuery { name: " ".into(), ..query };
        assert!(
            matches!(q.metric_series(&t(), &unnamed).await, Err(QueryError::InvalidArgument(m)) if m.contains("name"))
        );
    }

    #[tokio::test]
    async fn metric_series_refuse_to_read_without_bound_and_cap_the_series() {
        let mut metrics = MockMetricStore::new();
        metrics.expect_search_buckets().returning(|_, q| {
            let start = q.cursor.map_or(0, |c| match c {
                otelcontext_ports::Cursor::After { key, .. } => key + 1,
                otelcontext_ports::Cursor::Skip(_) => 0,
            });
            let items = (start..start + q.limit as i64).map(|i| bucket(&format!("s{i}"), 0, 1.0)).collect();
            Ok(Page { items, next: Some(otelcontext_ports::Cursor::After { key: start + q.limit as i64, id: 0 }) })
        });
        let query = MetricSeriesQuery { name: "m".into(), service: None, start_ns: 0, end_ns: 10, step_ns: 10 };
        let e = over_metrics(metrics).metric_series(&t(), &query).await.unwrap_err();
        assert!(matches!(e, QueryError::InvalidArgument(m) if m.contains("filter by service")));

        let mut metrics = MockMetricStore::new();
        metrics.expect_search_buckets().returning(|_, _| {
            Ok(Page {
                items: (0..MAX_METRIC_SERIES + 1).map(|i| bucket(&format!("s{i:04}"), 0, 1.0)).collect(),
                next: None,
            })
        });
        let answer = over_metrics(metrics).metric_series(&t(), &query).await.unwrap();
        assert!(answer.truncated);
        assert_eq!(answer.series.len(), MAX_METRIC_SERIES);
    }
}
