//! OTLP protobuf messages → domain records.
//!
//! Records that cannot be represented (bad trace/span ids) are counted as rejected with a short
//! reason; everything else is kept whole: every attribute type, any log body type, all five
//! metric types, span events and links, resource and scope attributes.

use crate::tenant::{BadTenant, RequestTenant, TenantPolicy};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1 as pc;
use opentelemetry_proto::tonic::metrics::v1 as pm;
use opentelemetry_proto::tonic::trace::v1 as pt;
use otelcontext_domain::metric::ExpBuckets;
use otelcontext_domain::{
    AnyValue, Attributes, InstrumentationScope, KeyValue, LogRecord, MetricPoint, PointValue, Resource, Span,
    SpanEvent, SpanId, SpanKind, SpanLink, SpanStatus, StatusCode, Temporality, TenantId, TraceId,
};
use otelcontext_ports::{TenantLogs, TenantMetrics, TenantSpans};
use std::sync::Arc;

/// Records of one export, grouped by tenant, plus what could not be mapped.
#[derive(Debug)]
pub struct Mapped<T> {
    pub parts: Vec<T>,
    pub received: u64,
    pub rejected: u64,
    /// The first rejection reason, for `partial_success.error_message`.
    pub first_error: Option<String>,
}

impl<T> Default for Mapped<T> {
    fn default() -> Self {
        Self { parts: Vec::new(), received: 0, rejected: 0, first_error: None }
    }
}

impl<T> Mapped<T> {
    fn reject(&mut self, what: impl FnOnce() -> String) {
        self.rejected += 1;
        if self.first_error.is_none() {
            self.first_error = Some(what());
        }
    }
}

/// Converts an OTLP value.
pub fn any_value(v: Option<pc::AnyValue>) -> AnyValue {
    use pc::any_value::Value;
    match v.and_then(|v| v.value) {
        None | Some(Value::StringValueStrindex(_)) => AnyValue::Empty,
        Some(Value::StringValue(s)) => AnyValue::String(s),
        Some(Value::BoolValue(b)) => AnyValue::Bool(b),
        Some(Value::IntValue(i)) => AnyValue::Int(i),
        Some(Value::DoubleValue(d)) => AnyValue::Double(d),
        Some(Value::BytesValue(b)) => AnyValue::Bytes(b),
        Some(Value::ArrayValue(a)) => AnyValue::Array(a.values.into_iter().map(|v| any_value(Some(v))).collect()),
        Some(Value::KvlistValue(kv)) => AnyValue::KvList(key_values(kv.values)),
    }
}

fn key_values(kvs: Vec<pc::KeyValue>) -> Vec<KeyValue> {
    kvs.into_iter().map(|kv| KeyValue { key: kv.key, value: any_value(kv.value) }).collect()
}

/// Converts OTLP attributes.
pub fn attributes(kvs: Vec<pc::KeyValue>) -> Attributes {
    Attributes(key_values(kvs))
}

fn resource(r: Option<opentelemetry_proto::tonic::resource::v1::Resource>) -> Resource {
    Resource::new(attributes(r.map(|r| r.attributes).unwrap_or_default()))
}

fn scope(s: Option<pc::InstrumentationScope>) -> Arc<InstrumentationScope> {
    Arc::new(match s {
        Some(s) => InstrumentationScope { name: s.name, version: s.version, attributes: attributes(s.attributes) },
        None => InstrumentationScope::default(),
    })
}

/// Saturating u64 → i64 for nanosecond timestamps (valid until year 2262).
fn ns(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn optional_span_id(bytes: &[u8]) -> Result<Option<SpanId>, String> {
    if bytes.is_empty() || bytes.iter().all(|b| *b == 0) {
        Ok(None)
    } else {
        SpanId::from_bytes(bytes).map(Some).map_err(|e| e.to_string())
    }
}

/// Groups records per tenant, keeping tenants in order of appearance.
struct ByTenant<T> {
    groups: Vec<(TenantId, Vec<T>)>,
}

impl<T> ByTenant<T> {
    fn new() -> Self {
        Self { groups: Vec::new() }
    }
    fn slot(&mut self, tenant: TenantId) -> &mut Vec<T> {
        let i = match self.groups.iter().position(|(t, _)| *t == tenant) {
            Some(i) => i,
            None => {
                self.groups.push((tenant, Vec::new()));
                self.groups.len() - 1
            }
        };
        &mut self.groups[i].1
    }
}

fn span(s: pt::Span, resource: &Arc<Resource>, scope: &Arc<InstrumentationScope>) -> Result<Span, String> {
    let trace_id = TraceId::from_bytes(&s.trace_id).map_err(|e| e.to_string())?;
    let span_id = SpanId::from_bytes(&s.span_id).map_err(|e| e.to_string())?;
    let parent_span_id = optional_span_id(&s.parent_span_id).map_err(|e| format!("parent {e}"))?;
    let events = s
        .events
        .into_iter()
        .map(|e| SpanEvent {
            time_ns: ns(e.time_unix_nano),
            name: e.name,
            attributes: attributes(e.attributes),
            dropped_attributes_count: e.dropped_attributes_count,
        })
        .collect();
    let links = s
        .links
        .into_iter()
        .filter_map(|l| {
            Some(SpanLink {
                trace_id: TraceId::from_bytes(&l.trace_id).ok()?,
                span_id: SpanId::from_bytes(&l.span_id).ok()?,
                trace_state: l.trace_state,
                attributes: attributes(l.attributes),
                flags: l.flags,
            })
        })
        .collect();
    let status =
        s.status.map(|st| SpanStatus { code: StatusCode::from_otlp(st.code), message: st.message }).unwrap_or_default();
    Ok(Span {
        trace_id,
        span_id,
        parent_span_id,
        trace_state: s.trace_state,
        flags: s.flags,
        name: s.name,
        kind: SpanKind::from_otlp(s.kind),
        start_ns: ns(s.start_time_unix_nano),
        end_ns: ns(s.end_time_unix_nano),
        attributes: attributes(s.attributes),
        dropped_attributes_count: s.dropped_attributes_count,
        events,
        links,
        status,
        resource: resource.clone(),
        scope: scope.clone(),
    })
}

/// Maps a trace export. Fails as a whole only on an invalid tenant.
pub fn traces(
    req: ExportTraceServiceRequest,
    policy: &TenantPolicy,
    tenant: &RequestTenant,
) -> Result<Mapped<TenantSpans>, BadTenant> {
    let mut out = Mapped::default();
    let mut groups = ByTenant::new();
    for rs in req.resource_spans {
        let resource = resource(rs.resource);
        let tenant = policy.for_resource(tenant, &resource.attributes)?;
        let resource = Arc::new(resource);
        let slot = groups.slot(tenant);
        for ss in rs.scope_spans {
            let scope = scope(ss.scope);
            for s in ss.spans {
                out.received += 1;
                match span(s, &resource, &scope) {
                    Ok(s) => slot.push(s),
                    Err(e) => out.reject(|| format!("span rejected: {e}")),
                }
            }
        }
    }
    out.parts = groups
        .groups
        .into_iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(tenant, spans)| TenantSpans { tenant, spans })
        .collect();
    Ok(out)
}

/// Maps a logs export; a record without a timestamp gets its observed time, else `now_ns`.
pub fn logs(
    req: ExportLogsServiceRequest,
    policy: &TenantPolicy,
    tenant: &RequestTenant,
    now_ns: i64,
) -> Result<Mapped<TenantLogs>, BadTenant> {
    let mut out = Mapped::default();
    let mut groups = ByTenant::new();
    for rl in req.resource_logs {
        let resource = resource(rl.resource);
        let tenant = policy.for_resource(tenant, &resource.attributes)?;
        let resource = Arc::new(resource);
        let slot = groups.slot(tenant);
        for sl in rl.scope_logs {
            let scope = scope(sl.scope);
            for l in sl.log_records {
                out.received += 1;
                let trace_id = if l.trace_id.is_empty() || l.trace_id.iter().all(|b| *b == 0) {
                    None
                } else {
                    match TraceId::from_bytes(&l.trace_id) {
                        Ok(t) => Some(t),
                        Err(e) => {
                            out.reject(|| format!("log record rejected: {e}"));
                            continue;
                        }
                    }
                };
                let span_id = match optional_span_id(&l.span_id) {
                    Ok(s) => s,
                    Err(e) => {
                        out.reject(|| format!("log record rejected: {e}"));
                        continue;
                    }
                };
                let observed = ns(l.observed_time_unix_nano);
                let timestamp = match (ns(l.time_unix_nano), observed) {
                    (0, 0) => now_ns,
                    (0, o) => o,
                    (t, _) => t,
                };
                slot.push(LogRecord {
                    timestamp_ns: timestamp,
                    observed_ns: if observed == 0 { now_ns } else { observed },
                    severity_number: l.severity_number,
                    severity_text: l.severity_text,
                    body: l.body.map(|b| any_value(Some(b))),
                    attributes: attributes(l.attributes),
                    trace_id,
                    span_id,
                    flags: l.flags,
                    event_name: l.event_name,
                    resource: resource.clone(),
                    scope: scope.clone(),
                });
            }
        }
    }
    out.parts = groups
        .groups
        .into_iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(tenant, logs)| TenantLogs { tenant, logs })
        .collect();
    Ok(out)
}

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
                    let n = count_points(&m);
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

fn count_points(m: &pm::Metric) -> usize {
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
    use opentelemetry_proto::tonic::logs::v1 as pl;
    use opentelemetry_proto::tonic::resource::v1::Resource as PResource;

    fn kv(k: &str, v: pc::any_value::Value) -> pc::KeyValue {
        pc::KeyValue { key: k.into(), value: Some(pc::AnyValue { value: Some(v) }), ..Default::default() }
    }

    fn res(service: Option<&str>, extra: Vec<pc::KeyValue>) -> Option<PResource> {
        let mut attributes = extra;
        if let Some(s) = service {
            attributes.push(kv("service.name", pc::any_value::Value::StringValue(s.into())));
        }
        Some(PResource { attributes, ..Default::default() })
    }

    fn policy() -> TenantPolicy {
        TenantPolicy { default_tenant: TenantId::parse("default").unwrap(), trust_resource_attribute: true }
    }

    fn pspan(trace: Vec<u8>, span: Vec<u8>, parent: Vec<u8>) -> pt::Span {
        pt::Span {
            trace_id: trace,
            span_id: span,
            parent_span_id: parent,
            name: "op".into(),
            kind: 2,
            start_time_unix_nano: 100,
            end_time_unix_nano: 250,
            attributes: vec![kv("n", pc::any_value::Value::IntValue(7))],
            status: Some(pt::Status { code: 2, message: "bad".into() }),
            events: vec![pt::span::Event { time_unix_nano: 120, name: "exception".into(), ..Default::default() }],
            links: vec![pt::span::Link { trace_id: vec![3; 16], span_id: vec![4; 8], ..Default::default() }],
            ..Default::default()
        }
    }

    fn trace_req(spans: Vec<pt::Span>, resource: Option<PResource>) -> ExportTraceServiceRequest {
        ExportTraceServiceRequest {
            resource_spans: vec![pt::ResourceSpans {
                resource,
                scope_spans: vec![pt::ScopeSpans {
                    scope: Some(pc::InstrumentationScope {
                        name: "lib".into(),
                        version: "1".into(),
                        ..Default::default()
                    }),
                    spans,
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }
    }

    #[test]
    fn spans_map_every_field() {
        let req = trace_req(vec![pspan(vec![1; 16], vec![2; 8], vec![])], res(Some("api"), vec![]));
        let m = traces(req, &policy(), &RequestTenant::PerResource).unwrap();
        assert_eq!((m.received, m.rejected), (1, 0));
        let s = &m.parts[0].spans[0];
        assert_eq!(m.parts[0].tenant.as_str(), "default");
        assert_eq!(
            (s.trace_id.to_hex(), s.span_id.to_hex(), s.parent_span_id),
            ("01".repeat(16), "02".repeat(8), None)
        );
        assert_eq!(
            (s.kind, s.start_ns, s.end_ns, s.status.code, s.status.message.as_str()),
            (SpanKind::Server, 100, 250, StatusCode::Error, "bad")
        );
        assert_eq!(s.attributes.get("n"), Some(&AnyValue::Int(7)));
        assert_eq!((s.events.len(), s.links.len()), (1, 1));
        assert_eq!((s.service_name(), s.scope.name.as_str(), s.scope.version.as_str()), ("api", "lib", "1"));
    }

    #[test]
    fn bad_ids_are_rejected_and_counted_but_good_spans_kept() {
        let spans = vec![
            pspan(vec![1; 16], vec![2; 8], vec![9; 8]),
            pspan(vec![1; 15], vec![2; 8], vec![]),
            pspan(vec![0; 16], vec![2; 8], vec![]),
            pspan(vec![1; 16], vec![], vec![]),
            pspan(vec![1; 16], vec![2; 8], vec![9; 3]),
        ];
        let m = traces(trace_req(spans, res(Some("api"), vec![])), &policy(), &RequestTenant::PerResource).unwrap();
        assert_eq!((m.received, m.rejected, m.parts[0].spans.len()), (5, 4, 1));
        assert!(m.first_error.unwrap().contains("trace id must be 16 bytes"));
    }

    #[test]
    fn missing_service_name_is_unknown_service_and_resource_tenant_is_used_when_trusted() {
        let tenant_attr = kv("tenant.id", pc::any_value::Value::StringValue("acme".into()));
        let m = traces(
            trace_req(vec![pspan(vec![1; 16], vec![2; 8], vec![])], res(None, vec![tenant_attr])),
            &policy(),
            &RequestTenant::PerResource,
        )
        .unwrap();
        assert_eq!(m.parts[0].tenant.as_str(), "acme");
        assert_eq!(m.parts[0].spans[0].service_name(), "unknown_service");
    }

    #[test]
    fn invalid_resource_tenant_fails_the_export() {
        let tenant_attr = kv("tenant.id", pc::any_value::Value::StringValue("a b".into()));
        let err = traces(trace_req(vec![], res(None, vec![tenant_attr])), &policy(), &RequestTenant::PerResource)
            .unwrap_err();
        assert!(err.to_string().contains("a b"));
    }

    #[test]
    fn logs_keep_any_body_and_fall_back_to_observed_then_receive_time() {
        let record = |time: u64, observed: u64, body: Option<pc::any_value::Value>| pl::LogRecord {
            time_unix_nano: time,
            observed_time_unix_nano: observed,
            severity_number: 17,
            body: body.map(|v| pc::AnyValue { value: Some(v) }),
            trace_id: vec![5; 16],
            span_id: vec![6; 8],
            ..Default::default()
        };
        let req = ExportLogsServiceRequest {
            resource_logs: vec![pl::ResourceLogs {
                resource: res(Some("api"), vec![]),
                scope_logs: vec![pl::ScopeLogs {
                    log_records: vec![
                        record(10, 20, Some(pc::any_value::Value::StringValue("hi".into()))),
                        record(0, 20, Some(pc::any_value::Value::IntValue(3))),
                        record(0, 0, None),
                    ],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        };
        let m = logs(req, &policy(), &RequestTenant::PerResource, 999).unwrap();
        let l = &m.parts[0].logs;
        assert_eq!(l.iter().map(|r| r.timestamp_ns).collect::<Vec<_>>(), vec![10, 20, 999]);
        assert_eq!(l[1].body, Some(AnyValue::Int(3)));
        assert_eq!(l[2].body, None);
        assert_eq!(l[0].trace_id.unwrap().to_hex(), "05".repeat(16));
    }

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

    #[test]
    fn every_value_type_converts() {
        use pc::any_value::Value as V;
        let cases = vec![
            (V::StringValue("s".into()), AnyValue::String("s".into())),
            (V::BoolValue(true), AnyValue::Bool(true)),
            (V::IntValue(-4), AnyValue::Int(-4)),
            (V::DoubleValue(1.5), AnyValue::Double(1.5)),
            (V::BytesValue(vec![1, 2]), AnyValue::Bytes(vec![1, 2])),
            (
                V::ArrayValue(pc::ArrayValue { values: vec![pc::AnyValue { value: Some(V::IntValue(1)) }] }),
                AnyValue::Array(vec![AnyValue::Int(1)]),
            ),
            (
                V::KvlistValue(pc::KeyValueList { values: vec![kv("k", V::BoolValue(false))] }),
                AnyValue::KvList(vec![KeyValue::new("k", AnyValue::Bool(false))]),
            ),
        ];
        for (input, want) in cases {
            assert_eq!(any_value(Some(pc::AnyValue { value: Some(input) })), want);
        }
        assert_eq!(any_value(None), AnyValue::Empty);
    }
}
