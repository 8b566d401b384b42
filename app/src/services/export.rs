//! Export of a tenant's records as OTLP/JSON lines: each step reads one page of the signal,
//! oldest first, and encodes it as one export request.

use async_trait::async_trait;
use otelcontext_domain::TenantId;
use otelcontext_ports::{
    Cursor, Export, ExportChunk, ExportQuery, ExportSignal, LogQuery, LogSort, LogStore, MetricQuery, MetricStore,
    OtlpEncoder, QueryError, SortOrder, SpanQuery, TimeRange, TraceStore,
};
use std::sync::Arc;

/// Records per exported line.
pub const EXPORT_LINE_RECORDS: usize = 1_000;

/// Implements [`Export`] over the read ports.
pub struct ExportService {
    traces: Arc<dyn TraceStore>,
    logs: Arc<dyn LogStore>,
    metrics: Arc<dyn MetricStore>,
    encoder: Arc<dyn OtlpEncoder>,
}

impl ExportService {
    pub fn new(
        traces: Arc<dyn TraceStore>,
        logs: Arc<dyn LogStore>,
        metrics: Arc<dyn MetricStore>,
        encoder: Arc<dyn OtlpEncoder>,
    ) -> Self {
        Self { traces, logs, metrics, encoder }
    }
}

#[async_trait]
impl Export for ExportService {
    async fn chunk(
        &self,
        tenant: &TenantId,
        q: &ExportQuery,
        cursor: Option<Cursor>,
    ) -> Result<ExportChunk, QueryError> {
        if q.start_ns > q.end_ns {
            return Err(QueryError::InvalidArgument(format!(
                "time range starts ({}) after it ends ({})",
                q.start_ns, q.end_ns
            )));
        }
        let time = TimeRange::between(q.start_ns, q.end_ns);
        let limit = EXPORT_LINE_RECORDS;
        let (line, next) = match q.signal {
            ExportSignal::Traces => {
                let query = SpanQuery { time, sort: SortOrder::OldestFirst, limit, cursor, ..SpanQuery::default() };
                let page = self.traces.search_spans(tenant, &query).await?;
                ((!page.items.is_empty()).then(|| self.encoder.spans(&page.items)), page.next)
            }
            ExportSignal::Logs => {
                let query = LogQuery { time, sort: LogSort::Oldest, limit, cursor, ..LogQuery::default() };
                let page = self.logs.search_logs(tenant, &query).await?;
                let records: Vec<_> = page.items.into_iter().map(|l| l.record).collect();
                ((!records.is_empty()).then(|| self.encoder.logs(&records)), page.next)
            }
            ExportSignal::Metrics => {
                let query = MetricQuery { time, sort: SortOrder::OldestFirst, limit, cursor, ..MetricQuery::default() };
                let page = self.metrics.search_metric_points(tenant, &query).await?;
                ((!page.items.is_empty()).then(|| self.encoder.metrics(&page.items)), page.next)
            }
        };
        Ok(ExportChunk { lines: line.into_iter().collect(), next })
    }
}
