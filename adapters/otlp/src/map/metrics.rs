//! Metric exports → domain data points (all five OTLP metric types).

use super::{ByTenant, Mapped, attributes, ns, resource, scope};
use crate::tenant::{BadTenant, RequestTenant, TenantPolicy};
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1 as pc;
use opentelemetry_proto::tonic::metrics::v1 as pm;
use otelcontext_domain::metric::ExpBuckets;
use otelcontext_domain::{InstrumentationScope, MetricPoint, PointValue, Resource, Temporality};
use otelcontext_ports::TenantMetrics;
use std::sync::Arc;

fn number(v: Option<pm::number_data_point::Value>) -> f64 {
    match v {
        Some(pm::number_data_point::Value::AsDouble(d)) => d,
        Some(pm::number_data_point::Value::AsInt(i)) => i as f64,
        None => f64::NAN,
    }
}

struct PointCtx<'a> {
    name: &'a str,
    description: &'a str,
    unit: &'a str,
    resource: &'a Arc<Resource>,
    scope: &'a Arc<InstrumentationScope>,
}

impl PointCtx<'_> {
    fn point(&self, attrs: Vec<pc::KeyValue>, start: u64, time: u64, flags: u32, value: PointValue) -> MetricPoint {
        MetricPoint {
            name: self.name.to_owned(),
            description: self.description.to_owned(),
            unit: self.unit.to_owned(),
            attributes: attributes(attrs),
            start_ns: ns(start),
            time_ns: ns(time),
            flags,
            value,
            resource: self.resource.clone(),
            scope: self.scope.clone(),
        }
    }
}

fn metric_points(
    m: pm::Metric,
    resource: &Arc<Resource>,
    scope: &Arc<InstrumentationScope>,
    sink: &mut Vec<MetricPoint>,
) -> usize {
    use pm::metric::Data;
    let ctx = PointCtx { name: &m.name, description: &m.description, unit: &m.unit, resource, scope };
    let before = sink.len();
    match m.data {
        None => {}
        Some(Data::Gauge(g)) => {
            for p in g.data_points {
                let value = PointValue::Gauge { value: number(p.value) };
                sink.push(ctx.point(p.attributes, p.start_time_unix_nano, p.time_unix_nano, p.flags, value));
            }
        }
        Some(Data::Sum(s)) => {
            let temporality = Temporality::from_otlp(s.aggregation_temporality);
            for p in s.data_points {
                let value = PointValue::Sum { value: number(p.value), temporality, monotonic: s.is_monotonic };
                sink.push(ctx.point(p.attributes, p.start_time_unix_nano, p.time_unix_nano, p.flags, value));
            }
        }
        Some(Data::Histogram(h)) => {
            let temporality = Temporality::from_otlp(h.aggregation_temporality);
            for p in h.data_points {
                let value = PointValue::Histogram {
                    count: p.count,
                    sum: p.sum,
                    min: p.min,
                    max: p.max,
                    bounds: p.explicit_bounds,
                    bucket_counts: p.bucket_counts,
                    temporality,
                };
                sink.push(ctx.point(p.attributes, p.start_time_unix_nano, p.time_unix_nano, p.flags, value));
            }
        }
        Some(Data::ExponentialHistogram(h)) => {
            let temporality = Temporality::from_otlp(h.aggregation_temporality);
            for p in h.data_points {
                let buckets = |b: Option<pm::exponential_histogram_data_point::Buckets>| {
                    b.map(|b| ExpBuckets { offset: b.offset, counts: b.bucket_counts }).unwrap_or_default()
                };
                let value = PointValue::ExponentialHistogram {
                    count: p.count,
                    sum: p.sum,
                    min: p.min,
                    max: p.max,
                    scale: p.scale,
                    zero_count: p.zero_count,
                    zero_threshold: p.zero_threshold,
                    positive: buckets(p.positive),
                    negative: buckets(p.negative),
                    temporality,
                };
                sink.push(ctx.point(p.attributes, p.start_time_unix_nano, p.time_unix_nano, p.flags, value));
            }
        }
        Some(Data::Summary(s)) => {
            for p in s.data_points {
                let value = PointValue::Summary {
                    count: p.count,
                    sum: p.sum,
                    quantiles: p.quantile_values.into_iter().map(|q| (q.quantile, q.value)).collect(),
                };
                sink.push(ctx.point(p.attributes, p.start_time_unix_nano, p.time_unix_nano, p.flags, value));
            }
        }
    }
    sink.len() - before
}

/// Data points in a metrics export.
pub fn count_points(req: &ExportMetricsServiceRequest) -> u64 {
    req.resource_metrics
        .iter()
        .flat_map(|r| &r.scope_metrics)
        .flat_map(|s| &s.metrics)
        .map(|m| count_metric_points(m) as u64)
        .sum()
}

/// Maps a metrics export.
pub fn metrics(
    req: ExportMetricsServiceRequest,
    policy: &TenantPolicy,
    tenant: &RequestTenant,
) -> Result<Mapped<TenantMetrics>, BadTenant> {
    let mut out = Mapped::default();
    let mut groups = ByTenant::new();
    for rm in req.resource_metrics {
        let resource = resource(rm.resource);
        let tenant = policy.for_resource(tenant, &resource.attributes)?;
        let resource = Arc::new(resource);
        let slot = groups.slot(tenant);
        for sm in rm.scope_metrics {
            let scope = scope(sm.scope);
            for m in sm.metrics {
                if m.name.is_empty() {
                    let n = count_metric_points(&m);
                    out.received += n as u64;
                    for _ in 0..n {
                        out.reject(|| "metric rejected: empty metric name".to_owned());
                    }
                    continue;
                }
                out.received += metric_points(m, &resource, &scope, slot) as u64;
            }
        }
    }
    out.parts = groups
        .groups
        .into_iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(tenant, points)| TenantMetrics { tenant, points })
        .collect();
    Ok(out)
}

fn count_metric_points(m: &pm::Metric) -> usize {
    use pm::metric::Data;
    match &m.data {
        None => 0,
        Some(Data::Gauge(g)) => g.data_points.len(),
        Some(Data::Sum(s)) => s.data_points.len(),
        Some(Data::Histogram(h)) => h.data_points.len(),
        Some(Data::ExponentialHistogram(h)) => h.data_points.len(),
        Some(Data::Summary(s)) => s.data_points.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::map::test_support::*;

    #[test]
    fn all_metric_kinds_become_points() {
        use pm::metric::Data;
        let nd = |v: f64| pm::NumberDataPoint {
            value: Some(pm::number_data_point::Value::AsDouble(v)),
            time_unix_nano: 5,
            ..Default::default()
        };
        let metric = |name: &str, data: Data| pm::Metric { name: name.into(), data: Some(data), ..Default::default() };
        let req = ExportMetricsServiceRequest {
            resource_metrics: vec![pm::ResourceMetrics {
                resource: res(Some("api"), vec![]),
                scope_metrics: vec![pm::ScopeMetrics {
                    metrics: vec![
                        metric("g", Data::Gauge(pm::Gauge { data_points: vec![nd(1.0), nd(2.0)] })),
                        metric(
                            "s",
                            Data::Sum(pm::Sum {
                                data_points: vec![nd(3.0)],
                                aggregation_temporality: 2,
                                is_monotonic: true,
                            }),
                        ),
                        metric(
                            "h",
                            Data::Histogram(pm::Histogram {
                                data_points: vec![pm::HistogramDataPoint {
                                    count: 2,
                                    explicit_bounds: vec![1.0],
                                    bucket_counts: vec![1, 1],
                                    ..Default::default()
                                }],
                                aggregation_temporality: 1,
                            }),
                        ),
                        metric(
                            "e",
                            Data::ExponentialHistogram(pm::ExponentialHistogram {
                                data_points: vec![pm::ExponentialHistogramDataPoint {
                                    count: 1,
                                    scale: 3,
                                    ..Default::default()
                                }],
                                aggregation_temporality: 1,
                            }),
                        ),
                        metric(
                            "q",
                            Data::Summary(pm::Summary {
                                data_points: vec![pm::SummaryDataPoint {
                                    count: 4,
                                    sum: 8.0,
                                    quantile_values: vec![pm::summary_data_point::ValueAtQuantile {
                                        quantile: 0.5,
                                        value: 2.0,
                                    }],
                                    ..Default::default()
                                }],
                            }),
                        ),
                        metric("", Data::Gauge(pm::Gauge { data_points: vec![nd(1.0)] })),
                    ],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        };
        let m = metrics(req, &policy(), &RequestTenant::PerResource).unwrap();
        assert_eq!((m.received, m.rejected), (7, 1));
        let kinds: Vec<_> = m.parts[0].points.iter().map(|p| p.value.kind().as_str()).collect();
        assert_eq!(kinds, vec!["gauge", "gauge", "sum", "histogram", "exponential_histogram", "summary"]);
        assert_eq!(
            m.parts[0].points[2].value,
            PointValue::Sum { value: 3.0, temporality: Temporality::Cumulative, monotonic: true }
        );
    }
}
