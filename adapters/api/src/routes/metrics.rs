//! Metrics and trace aggregates: the routes.

use crate::*;
use otelcontext_ports::{MetricSeriesQuery, SeriesQuery, TraceStatsQuery};

responses!(
    MetricSeriesResponse,
    ok(Json<MetricSeriesView>): "The metric's series, one point per step.",
    bad: "A parameter is malformed or missing (name, time, range, step, tenant), or the query reads too many buckets.",
    unavailable: "The database is unavailable; retry later."
);

responses!(
    DashboardResponse,
    ok(Json<DashboardView>): "Totals of the traces that started in the window.",
    bad: "A parameter is malformed (time, range, services, tenant).",
    unavailable: "The database is unavailable; retry later."
);

responses!(
    TrafficResponse,
    ok(Json<TrafficView>): "Traces and failed traces per step.",
    bad: "A parameter is malformed (time, range, step, services, tenant).",
    unavailable: "The database is unavailable; retry later."
);

responses!(
    HeatmapResponse,
    ok(Json<HeatmapView>): "Trace durations per step.",
    bad: "A parameter is malformed (time, range, step, services, tenant).",
    unavailable: "The database is unavailable; retry later."
);

/// Metrics and trace aggregates.
pub struct MetricRoutes(pub(crate) Arc<QueryApi>);

impl MetricRoutes {
    /// The trace rows an aggregate reads.
    fn rows(
        start: Query<Option<String>>,
        end: Query<Option<String>>,
        time_range: Query<Option<String>>,
        service_name: Query<Vec<String>>,
    ) -> Result<TraceStatsQuery, Failure> {
        let (start_ns, end_ns) =
            params::closed_window(start.0, end.0, time_range.0, params::DEFAULT_AGGREGATE_WINDOW_NS, now_ns())?;
        Ok(TraceStatsQuery { start_ns, end_ns, services: params::services_of(service_name.0)? })
    }

    fn series(rows: TraceStatsQuery, step: Query<Option<String>>) -> Result<SeriesQuery, Failure> {
        let step_ns = params::step_of(step.0, rows.start_ns, rows.end_ns, params::DEFAULT_STEP_NS)?;
        Ok(SeriesQuery { rows, step_ns })
    }
}

#[OpenApi]
impl MetricRoutes {
    /// A metric's series over a range, one point per step.
    ///
    /// Reads the TSDB's 30-second buckets of the metric and merges them per step: count, sum,
    /// min, max, average and latest value, and for histograms the p50, p95 and p99. One series
    /// per service and attribute set, at most 100 (`truncated` says when there were more).
    #[allow(clippy::too_many_arguments)]
    #[oai(path = "/metrics", method = "get", tag = "ApiTags::Metrics", operation_id = "getMetricSeries")]
    async fn get_metric_series(
        &self,
        req: &Request,
        /// The metric (exact name, required).
        name: Query<Option<String>>,
        /// Only this service's series.
        service_name: Query<Option<String>>,
        /// Start of the range: RFC 3339 or unix nanoseconds (default: `end` minus 1h).
        start: Query<Option<String>>,
        /// End of the range: RFC 3339 or unix nanoseconds (default now).
        end: Query<Option<String>>,
        /// Instead of `start`: how far back from `end`, e.g. `6h`.
        time_range: Query<Option<String>>,
        /// Width of a point, e.g. `30s`, `5m` (default 30s, or wider so that the range has at
        /// most 1440 points).
        step: Query<Option<String>>,
        /// Tenant to read from (default tenant when absent); a credential bound to a tenant may
        /// only name its own.
        #[oai(name = "X-Tenant-ID")]
        x_tenant_id: Header<Option<String>>,
    ) -> MetricSeriesResponse {
        let tenant = or_return!(self.0.tenant(req, x_tenant_id.0.as_deref()));
        let Some(name) = params::present(name.0) else {
            return Failure::bad("metric name is required", "pass name=<metric>; GET /api/metadata/metrics lists them")
                .into();
        };
        let (start_ns, end_ns) =
            or_return!(params::closed_window(start.0, end.0, time_range.0, params::DEFAULT_WINDOW_NS, now_ns()));
        let step_ns =
            or_return!(params::step_of(step.0, start_ns, end_ns, otelcontext_domain::bucket::BUCKET_WIDTH_NS));
        let service = params::present(service_name.0);
        let query = MetricSeriesQuery { name, service, start_ns, end_ns, step_ns };
        match self.0.queries.metric_series(&tenant, &query).await {
            Ok(a) => MetricSeriesResponse::Ok(Json(MetricSeriesView::new(&query, &a))),
            Err(e) => Failure::from(e).into(),
        }
    }

    /// Dashboard totals: traces, errors, logs, services and latency percentiles.
    ///
    /// Over the traces that started in the window (of the root services given): exact counts,
    /// the error rate as a fraction, the mean, and the p50, p95 and p99 of trace durations
    /// (every trace counted, no sampling or row cap; each within 0.8 % of the exact value), and
    /// the five root services with the most failed traces. Served from per-minute rollups.
    #[oai(path = "/metrics/dashboard", method = "get", tag = "ApiTags::Metrics", operation_id = "getDashboard")]
    async fn get_dashboard(
        &self,
        req: &Request,
        /// Start of the window: RFC 3339 or unix nanoseconds (default: `end` minus 30m).
        start: Query<Option<String>>,
        /// End of the window: RFC 3339 or unix nanoseconds (default now).
        end: Query<Option<String>>,
        /// Instead of `start`: how far back from `end`, e.g. `1h`.
        time_range: Query<Option<String>>,
        /// Only traces whose root span belongs to one of these services (repeat the parameter,
        /// at most 20).
        service_name: Query<Vec<String>>,
        /// Tenant to read from (default tenant when absent); a credential bound to a tenant may
        /// only name its own.
        #[oai(name = "X-Tenant-ID")]
        x_tenant_id: Header<Option<String>>,
    ) -> DashboardResponse {
        let tenant = or_return!(self.0.tenant(req, x_tenant_id.0.as_deref()));
        let rows = or_return!(Self::rows(start, end, time_range, service_name));
        match self.0.queries.dashboard(&tenant, &rows).await {
            Ok(s) => DashboardResponse::Ok(Json(DashboardView::new(rows.start_ns, rows.end_ns, &s))),
            Err(e) => Failure::from(e).into(),
        }
    }

    /// Traffic: traces and failed traces per step.
    #[allow(clippy::too_many_arguments)]
    #[oai(path = "/metrics/traffic", method = "get", tag = "ApiTags::Metrics", operation_id = "getTraffic")]
    async fn get_traffic(
        &self,
        req: &Request,
        /// Start of the window: RFC 3339 or unix nanoseconds (default: `end` minus 30m).
        start: Query<Option<String>>,
        /// End of the window: RFC 3339 or unix nanoseconds (default now).
        end: Query<Option<String>>,
        /// Instead of `start`: how far back from `end`, e.g. `1h`.
        time_range: Query<Option<String>>,
        /// Width of a step, e.g. `1m` (default 1m, or wider so that the window has at most 1440
        /// steps).
        step: Query<Option<String>>,
        /// Only traces whose root span belongs to one of these services (repeat, at most 20).
        service_name: Query<Vec<String>>,
        /// Tenant to read from (default tenant when absent); a credential bound to a tenant may
        /// only name its own.
        #[oai(name = "X-Tenant-ID")]
        x_tenant_id: Header<Option<String>>,
    ) -> TrafficResponse {
        let tenant = or_return!(self.0.tenant(req, x_tenant_id.0.as_deref()));
        let rows = or_return!(Self::rows(start, end, time_range, service_name));
        let q = or_return!(Self::series(rows, step));
        match self.0.queries.traffic(&tenant, &q).await {
            Ok(points) => TrafficResponse::Ok(Json(TrafficView::new(&q, &points))),
            Err(e) => Failure::from(e).into(),
        }
    }

    /// Latency heat map: trace durations per step, in fixed duration rows.
    #[allow(clippy::too_many_arguments)]
    #[oai(
        path = "/metrics/latency_heatmap",
        method = "get",
        tag = "ApiTags::Metrics",
        operation_id = "getLatencyHeatmap"
    )]
    async fn get_latency_heatmap(
        &self,
        req: &Request,
        /// Start of the window: RFC 3339 or unix nanoseconds (default: `end` minus 30m).
        start: Query<Option<String>>,
        /// End of the window: RFC 3339 or unix nanoseconds (default now).
        end: Query<Option<String>>,
        /// Instead of `start`: how far back from `end`, e.g. `1h`.
        time_range: Query<Option<String>>,
        /// Width of a step, e.g. `1m` (default 1m, or wider so that the window has at most 1440
        /// steps).
        step: Query<Option<String>>,
        /// Only traces whose root span belongs to one of these services (repeat, at most 20).
        service_name: Query<Vec<String>>,
        /// Tenant to read from (default tenant when absent); a credential bound to a tenant may
        /// only name its own.
        #[oai(name = "X-Tenant-ID")]
        x_tenant_id: Header<Option<String>>,
    ) -> HeatmapResponse {
        let tenant = or_return!(self.0.tenant(req, x_tenant_id.0.as_deref()));
        let rows = or_return!(Self::rows(start, end, time_range, service_name));
        let q = or_return!(Self::series(rows, step));
        match self.0.queries.latency_heatmap(&tenant, &q).await {
            Ok(cells) => HeatmapResponse::Ok(Json(HeatmapView::new(&q, &cells))),
            Err(e) => Failure::from(e).into(),
        }
    }
}
