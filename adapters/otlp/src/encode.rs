//! Domain records → OTLP/JSON export requests (the inverse of [`crate::map`]), for exports that
//! `POST /v1/*` accepts again: ids in hex, 64-bit integers as strings, enums as numbers, as the
//! OTLP/JSON mapping writes them.

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1 as pc;
use opentelemetry_proto::tonic::logs::v1 as pl;
use opentelemetry_proto::tonic::metrics::v1 as pm;
use opentelemetry_proto::tonic::resource::v1::Resource as PResource;
use opentelemetry_proto::tonic::trace::v1 as pt;
use otelcontext_domain::metric::ExpBuckets;
use otelcontext_domain::{
    AnyValue, Attributes, InstrumentationScope, LogRecord, MetricPoint, PointValue, Resource, Span,
};
use otelcontext_ports::OtlpEncoder;
use std::sync::Arc;

/// Converts a domain value.
pub fn any_value(v: &AnyValue) -> Option<pc::AnyValue> {
    use pc::any_value::Value;
    let value = match v {
        AnyValue::Empty => return Some(pc::AnyValue { value: None }),
        AnyValue::String(s) => Value::StringValue(s.clone()),
        AnyValue::Bool(b) => Value::BoolValue(*b),
        AnyValue::Int(i) => Value::IntValue(*i),
        AnyValue::Double(d) => Value::DoubleValue(*d),
        AnyValue::Bytes(b) => Value::BytesValue(b.clone()),
        AnyValue::Array(a) => Value::ArrayValue(pc::ArrayValue { values: a.iter().filter_map(any_value).collect() }),
        AnyValue::KvList(kvs) => Value::KvlistValue(pc::KeyValueList {
            values: kvs
                .iter()
                .map(|kv| pc::KeyValue { key: kv.key.clone(), value: any_value(&kv.value), ..Default::default() })
                .collect(),
        }),
    };
    Some(pc::AnyValue { value: Some(value) })
}

fn attributes(a: &Attributes) -> Vec<pc::KeyValue> {
    a.0.iter()
        .map(|kv| pc::KeyValue { key: kv.key.clone(), value: any_value(&kv.value), ..Default::default() })
        .collect()
}

fn resource(r: &Resource) -> Option<PResource> {
    Some(PResource { attributes: attributes(&r.attributes), ..Default::default() })
}

fn scope(s: &InstrumentationScope) -> Option<pc::InstrumentationScope> {
    Some(pc::InstrumentationScope {
        name: s.name.clone(),
        version: s.version.clone(),
        attributes: attributes(&s.attributes),
        ..Default::default()
    })
}

fn unsigned(ns: i64) -> u64 {
    u64::try_from(ns).unwrap_or(0)
}

/// Records grouped by resource, then scope, in order of first appearance (records of one
/// batch usually share a few `Arc`s, compared by pointer first).
struct Groups<'a, T> {
    resources: Vec<(&'a Arc<Resource>, Vec<ScopeGroup<'a, T>>)>,
}

/// A scope and its records.
type ScopeGroup<'a, T> = (&'a Arc<InstrumentationScope>, Vec<&'a T>);

impl<'a, T> Groups<'a, T> {
    fn of(records: &'a [T], keys: impl Fn(&'a T) -> (&'a Arc<Resource>, &'a Arc<InstrumentationScope>)) -> Self {
        let mut resources: Vec<(&'a Arc<Resource>, Vec<ScopeGroup<'a, T>>)> = Vec::new();
        for r in records {
            let (res, sc) = keys(r);
            let i = match resources.iter().position(|(x, _)| Arc::ptr_eq(x, res) || ***x == **res) {
                Some(i) => i,
                None => {
                    resources.push((res, Vec::new()));
                    resources.len() - 1
                }
            };
            let scopes = &mut resources[i].1;
            match scopes.iter_mut().find(|(x, _)| Arc::ptr_eq(x, sc) || ***x == **sc) {
                Some((_, v)) => v.push(r),
                None => scopes.push((sc, vec![r])),
            }
        }
        Self { resources }
    }
}

fn span(s: &Span) -> pt::Span {
    pt::Span {
        trace_id: s.trace_id.as_bytes().to_vec(),
        span_id: s.span_id.as_bytes().to_vec(),
        trace_state: s.trace_state.clone(),
        parent_span_id: s.parent_span_id.map(|p| p.as_bytes().to_vec()).unwrap_or_default(),
        flags: s.flags,
        name: s.name.clone(),
        kind: s.kind.as_otlp(),
        start_time_unix_nano: unsigned(s.start_ns),
        end_time_unix_nano: unsigned(s.end_ns),
        attributes: attributes(&s.attributes),
        dropped_attributes_count: s.dropped_attributes_count,
        events: s
            .events
            .iter()
            .map(|e| pt::span::Event {
                time_unix_nano: unsigned(e.time_ns),
                name: e.name.clone(),
                attributes: attributes(&e.attributes),
                dropped_attributes_count: e.dropped_attributes_count,
            })
            .collect(),
        links: s
            .links
            .iter()
            .map(|l| pt::span::Link {
                trace_id: l.trace_id.as_bytes().to_vec(),
                span_id: l.span_id.as_bytes().to_vec(),
                trace_state: l.trace_state.clone(),
                attributes: attributes(&l.attributes),
                flags: l.flags,
                ..Default::default()
            })
            .collect(),
        status: Some(pt::Status { code: s.status.code.as_otlp(), message: s.status.message.clone() }),
        ..Default::default()
    }
}

fn log(l: &LogRecord) -> pl::LogRecord {
    pl::LogRecord {
        time_unix_nano: unsigned(l.timestamp_ns),
        observed_time_unix_nano: unsigned(l.observed_ns),
        severity_number: l.severity_number,
        severity_text: l.severity_text.clone(),
        body: l.body.as_ref().and_then(any_value),
        attributes: attributes(&l.attributes),
        flags: l.flags,
        trace_id: l.trace_id.map(|t| t.as_bytes().to_vec()).unwrap_or_default(),
        span_id: l.span_id.map(|s| s.as_bytes().to_vec()).unwrap_or_default(),
        event_name: l.event_name.clone(),
        ..Default::default()
    }
}

fn exp_buckets(b: &ExpBuckets) -> Option<pm::exponential_histogram_data_point::Buckets> {
    Some(pm::exponential_histogram_data_point::Buckets { offset: b.offset, bucket_counts: b.counts.clone() })
}

/// One metric per point (OTLP allows a metric name to repeat within a scope); the point's
/// identity is all in its own fields.
fn metric(p: &MetricPoint) -> pm::Metric {
    use pm::metric::Data;
    let attributes = attributes(&p.attributes);
    let (start, time, flags) = (unsigned(p.start_ns), unsigned(p.time_ns), p.flags);
    let number = |value: f64| pm::NumberDataPoint {
        attributes: attributes.clone(),
        start_time_unix_nano: start,
        time_unix_nano: time,
        flags,
        value: Some(pm::number_data_point::Value::AsDouble(value)),
        ..Default::default()
    };
    let data = match &p.value {
        PointValue::Gauge { value } => Data::Gauge(pm::Gauge { data_points: vec![number(*value)] }),
        PointValue::Sum { value, temporality, monotonic } => Data::Sum(pm::Sum {
            data_points: vec![number(*value)],
            aggregation_temporality: temporality.as_otlp(),
            is_monotonic: *monotonic,
        }),
        PointValue::Histogram { count, sum, min, max, bounds, bucket_counts, temporality } => {
            Data::Histogram(pm::Histogram {
                data_points: vec![pm::HistogramDataPoint {
                    attributes: attributes.clone(),
                    start_time_unix_nano: start,
                    time_unix_nano: time,
                    count: *count,
                    sum: *sum,
                    bucket_counts: bucket_counts.clone(),
                    explicit_bounds: bounds.clone(),
                    flags,
                    min: *min,
                    max: *max,
                    ..Default::default()
                }],
                aggregation_temporality: temporality.as_otlp(),
            })
        }
        PointValue::ExponentialHistogram {
            count,
            sum,
            min,
            max,
            scale,
            zero_count,
            zero_threshold,
            positive,
            negative,
            temporality,
        } => Data::ExponentialHistogram(pm::ExponentialHistogram {
            data_points: vec![pm::ExponentialHistogramDataPoint {
                attributes: attributes.clone(),
                start_time_unix_nano: start,
                time_unix_nano: time,
                count: *count,
                sum: *sum,
                scale: *scale,
                zero_count: *zero_count,
                positive: exp_buckets(positive),
                negative: exp_buckets(negative),
                flags,
                min: *min,
                max: *max,
                zero_threshold: *zero_threshold,
                ..Default::default()
            }],
            aggregation_temporality: temporality.as_otlp(),
        }),
        PointValue::Summary { count, sum, quantiles } => Data::Summary(pm::Summary {
            data_points: vec![pm::SummaryDataPoint {
                attributes: attributes.clone(),
                start_time_unix_nano: start,
                time_unix_nano: time,
                count: *count,
                sum: *sum,
                quantile_values: quantiles
                    .iter()
                    .map(|(quantile, value)| pm::summary_data_point::ValueAtQuantile {
                        quantile: *quantile,
                        value: *value,
                    })
                    .collect(),
                flags,
            }],
        }),
    };
    pm::Metric {
        name: p.name.clone(),
        description: p.description.clone(),
        unit: p.unit.clone(),
        data: Some(data),
        ..Default::default()
    }
}

/// Spans as one trace export request.
pub fn traces_request(spans: &[Span]) -> ExportTraceServiceRequest {
    let groups = Groups::of(spans, |s| (&s.resource, &s.scope));
    ExportTraceServiceRequest {
        resource_spans: groups
            .resources
            .into_iter()
            .map(|(r, scopes)| pt::ResourceSpans {
                resource: resource(r),
                scope_spans: scopes
                    .into_iter()
                    .map(|(sc, spans)| pt::ScopeSpans {
                        scope: scope(sc),
                        spans: spans.into_iter().map(span).collect(),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            })
            .collect(),
    }
}

/// Log records as one logs export request.
pub fn logs_request(logs: &[LogRecord]) -> ExportLogsServiceRequest {
    let groups = Groups::of(logs, |l| (&l.resource, &l.scope));
    ExportLogsServiceRequest {
        resource_logs: groups
            .resources
            .into_iter()
            .map(|(r, scopes)| pl::ResourceLogs {
                resource: resource(r),
                scope_logs: scopes
                    .into_iter()
                    .map(|(sc, logs)| pl::ScopeLogs {
                        scope: scope(sc),
                        log_records: logs.into_iter().map(log).collect(),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            })
            .collect(),
    }
}

/// Metric points as one metrics export request.
pub fn metrics_request(points: &[MetricPoint]) -> ExportMetricsServiceRequest {
    let groups = Groups::of(points, |p| (&p.resource, &p.scope));
    ExportMetricsServiceRequest {
        resource_metrics: groups
            .resources
            .into_iter()
            .map(|(r, scopes)| pm::ResourceMetrics {
                resource: resource(r),
                scope_metrics: scopes
                    .into_iter()
                    .map(|(sc, points)| pm::ScopeMetrics {
                        scope: scope(sc),
                        metrics: points.into_iter().map(metric).collect(),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            })
            .collect(),
    }
}

/// The OTLP/JSON encoder of exports.
#[derive(Debug, Clone, Copy, Default)]
pub struct OtlpJson;

fn to_json(v: &impl serde::Serialize) -> String {
    // These messages hold only plain data: encoding cannot fail (non-finite floats become null).
    serde_json::to_string(v).unwrap_or_else(|e| {
        tracing::error!(error = %e, "OTLP/JSON encoding failed");
        String::from("{}")
    })
}

impl OtlpEncoder for OtlpJson {
    fn spans(&self, spans: &[Span]) -> String {
        to_json(&traces_request(spans))
    }

    fn logs(&self, logs: &[LogRecord]) -> String {
        to_json(&logs_request(logs))
    }

    fn metrics(&self, points: &[MetricPoint]) -> String {
        to_json(&metrics_request(points))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::map::test_support::{kv, policy, res};
    use crate::tenant::RequestTenant;
    use pc::any_value::Value as V;

    fn every_value() -> Vec<pc::KeyValue> {
        vec![
            kv("s", V::StringValue("x".into())),
            kv("b", V::BoolValue(true)),
            kv("i", V::IntValue(-7)),
            kv("d", V::DoubleValue(0.25)),
            kv("bytes", V::BytesValue(vec![0, 255])),
            kv("arr", V::ArrayValue(pc::ArrayValue { values: vec![pc::AnyValue { value: Some(V::IntValue(1)) }] })),
            kv("kv", V::KvlistValue(pc::KeyValueList { values: vec![kv("n", V::StringValue("v".into()))] })),
        ]
    }

    fn sc() -> Option<pc::InstrumentationScope> {
        Some(pc::InstrumentationScope {
            name: "lib".into(),
            version: "2".into(),
            attributes: vec![kv("a", V::StringValue("b".into()))],
            ..Default::default()
        })
    }

    /// Decodes OTLP/JSON text as `POST /v1/*` does.
    fn again<T: serde::de::DeserializeOwned>(json: &str) -> T {
        crate::json::decode(json.as_bytes()).expect("the export decodes")
    }

    #[test]
    fn spans_survive_encoding_and_decoding_field_by_field() {
        let span = |id: u8, parent: Vec<u8>| pt::Span {
            trace_id: vec![1; 16],
            span_id: vec![id; 8],
            parent_span_id: parent,
            trace_state: "k=v".into(),
            flags: 257,
            name: format!("op{id}"),
            kind: 3,
            start_time_unix_nano: 1_764_000_000_000_000_001,
            end_time_unix_nano: 1_764_000_000_000_000_901,
            attributes: every_value(),
            dropped_attributes_count: 2,
            events: vec![pt::span::Event {
                time_unix_nano: 1_764_000_000_000_000_002,
                name: "exception".into(),
                attributes: every_value(),
                dropped_attributes_count: 1,
            }],
            links: vec![pt::span::Link {
                trace_id: vec![3; 16],
                span_id: vec![4; 8],
                trace_state: "t".into(),
                attributes: every_value(),
                flags: 1,
                ..Default::default()
            }],
            status: Some(pt::Status { code: 2, message: "bad".into() }),
            ..Default::default()
        };
        let req = ExportTraceServiceRequest {
            resource_spans: vec![
                pt::ResourceSpans {
                    resource: res(Some("api"), every_value()),
                    scope_spans: vec![pt::ScopeSpans {
                        scope: sc(),
                        spans: vec![span(2, vec![]), span(3, vec![2; 8])],
                        ..Default::default()
                    }],
                    ..Default::default()
                },
                pt::ResourceSpans {
                    resource: res(Some("db"), vec![]),
                    scope_spans: vec![pt::ScopeSpans {
                        scope: None,
                        spans: vec![span(4, vec![3; 8])],
                        ..Default::default()
                    }],
                    ..Default::default()
                },
            ],
        };
        let first = crate::map::traces(req, &policy(), &RequestTenant::PerResource).unwrap().parts.remove(0).spans;
        let json = OtlpJson.spans(&first);
        let second =
            crate::map::traces(again(&json), &policy(), &RequestTenant::PerResource).unwrap().parts.remove(0).spans;
        assert_eq!(second, first);
        assert!(json.contains(&"01".repeat(16)), "ids are hex: {json}");
        assert!(json.contains("\"1764000000000000001\""), "64-bit times are strings: {json}");
        assert_eq!(traces_request(&first).resource_spans.len(), 2, "grouped by resource");
    }

    #[test]
    fn logs_of_every_body_survive_encoding_and_decoding() {
        let record = |body: Option<V>| pl::LogRecord {
            time_unix_nano: 10,
            observed_time_unix_nano: 20,
            severity_number: 17,
            severity_text: "ERROR".into(),
            body: body.map(|v| pc::AnyValue { value: Some(v) }),
            attributes: every_value(),
            flags: 1,
            trace_id: vec![5; 16],
            span_id: vec![6; 8],
            event_name: "e".into(),
            ..Default::default()
        };
        let req = ExportLogsServiceRequest {
            resource_logs: vec![pl::ResourceLogs {
                resource: res(Some("api"), vec![]),
                scope_logs: vec![pl::ScopeLogs {
                    scope: sc(),
                    log_records: vec![
                        record(Some(V::StringValue("hi".into()))),
                        record(Some(V::KvlistValue(pc::KeyValueList { values: every_value() }))),
                        record(None),
                    ],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        };
        let first = crate::map::logs(req, &policy(), &RequestTenant::PerResource, 1).unwrap().parts.remove(0).logs;
        let json = OtlpJson.logs(&first);
        let second =
            crate::map::logs(again(&json), &policy(), &RequestTenant::PerResource, 1).unwrap().parts.remove(0).logs;
        assert_eq!(second, first);
    }

    #[test]
    fn points_of_every_kind_survive_encoding_and_decoding() {
        let dp = |v: f64| pm::NumberDataPoint {
            attributes: every_value(),
            start_time_unix_nano: 5,
            time_unix_nano: 9,
            flags: 1,
            value: Some(pm::number_data_point::Value::AsDouble(v)),
            ..Default::default()
        };
        let metric = |name: &str, data: pm::metric::Data| pm::Metric {
            name: name.into(),
            description: "d".into(),
            unit: "ms".into(),
            data: Some(data),
            ..Default::default()
        };
        use pm::metric::Data;
        let metrics = vec![
            metric("g", Data::Gauge(pm::Gauge { data_points: vec![dp(1.5), dp(2.5)] })),
            metric(
                "s",
                Data::Sum(pm::Sum { data_points: vec![dp(3.0)], aggregation_temporality: 2, is_monotonic: true }),
            ),
            metric(
                "h",
                Data::Histogram(pm::Histogram {
                    data_points: vec![pm::HistogramDataPoint {
                        attributes: every_value(),
                        time_unix_nano: 9,
                        count: 3,
                        sum: Some(6.0),
                        bucket_counts: vec![1, 2],
                        explicit_bounds: vec![1.0],
                        min: Some(0.5),
                        max: Some(4.0),
                        ..Default::default()
                    }],
                    aggregation_temporality: 1,
                }),
            ),
            metric(
                "e",
                Data::ExponentialHistogram(pm::ExponentialHistogram {
                    data_points: vec![pm::ExponentialHistogramDataPoint {
                        time_unix_nano: 9,
                        count: 4,
                        sum: Some(8.0),
                        scale: 2,
                        zero_count: 1,
                        zero_threshold: 0.001,
                        positive: Some(pm::exponential_histogram_data_point::Buckets {
                            offset: -1,
                            bucket_counts: vec![1, 2],
                        }),
                        negative: None,
                        ..Default::default()
                    }],
                    aggregation_temporality: 2,
                }),
            ),
            metric(
                "q",
                Data::Summary(pm::Summary {
                    data_points: vec![pm::SummaryDataPoint {
                        time_unix_nano: 9,
                        count: 2,
                        sum: 3.0,
                        quantile_values: vec![pm::summary_data_point::ValueAtQuantile { quantile: 0.5, value: 1.0 }],
                        ..Default::default()
                    }],
                }),
            ),
        ];
        let req = ExportMetricsServiceRequest {
            resource_metrics: vec![pm::ResourceMetrics {
                resource: res(Some("api"), vec![]),
                scope_metrics: vec![pm::ScopeMetrics { scope: sc(), metrics, ..Default::default() }],
                ..Default::default()
            }],
        };
        let first = crate::map::metrics(req, &policy(), &RequestTenant::PerResource).unwrap().parts.remove(0).points;
        assert_eq!(first.len(), 6);
        let json = OtlpJson.metrics(&first);
        let second =
            crate::map::metrics(again(&json), &policy(), &RequestTenant::PerResource).unwrap().parts.remove(0).points;
        assert_eq!(second, first);
    }
}
