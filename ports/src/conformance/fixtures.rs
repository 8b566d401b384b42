//! Records the conformance cases write, and small helpers to read them back.

use crate::storage::{Page, Storage, StorageError, TenantBatch};
use otelcontext_domain::metric::ExpBuckets;
use otelcontext_domain::{
    AnyValue, Attributes, InstrumentationScope, KeyValue, LogRecord, MetricPoint, PointValue, Resource, Span,
    SpanEvent, SpanId, SpanKind, SpanLink, SpanStatus, StatusCode, Temporality, TenantId, TraceId,
};
use std::future::Future;
use std::sync::Arc;

/// A base time (2025-11-24T16:00:00Z); fixtures place records relative to it.
pub const T0: i64 = 1_764_000_000_000_000_000;

/// A valid tenant id.
pub fn tenant(name: &str) -> TenantId {
    TenantId::parse(name).unwrap()
}

/// Trace id number `n`.
pub fn tid(n: u8) -> TraceId {
    let mut b = [0u8; 16];
    b[0] = 0xa0;
    b[15] = n;
    TraceId::from_array(b).unwrap()
}

/// Trace id number `n` for larger sets.
pub fn tid16(n: u16) -> TraceId {
    let mut b = [0u8; 16];
    b[0] = 0xb0;
    b[14..16].copy_from_slice(&n.to_be_bytes());
    TraceId::from_array(b).unwrap()
}

/// Span id number `n`.
pub fn sid(n: u8) -> SpanId {
    let mut b = [0u8; 8];
    b[0] = 0x5a;
    b[7] = n;
    SpanId::from_array(b).unwrap()
}

/// Attributes from pairs.
pub fn attrs(pairs: &[(&str, AnyValue)]) -> Attributes {
    Attributes(pairs.iter().map(|(k, v)| KeyValue::new(*k, v.clone())).collect())
}

/// A string value.
pub fn s(v: &str) -> AnyValue {
    AnyValue::String(v.into())
}

/// The resource of a service.
pub fn resource(service: &str) -> Arc<Resource> {
    Arc::new(Resource::new(attrs(&[
        ("service.name", s(service)),
        ("host.name", s("node-1")),
        ("k8s.pod.name", s(&format!("{service}-7d9f"))),
    ])))
}

/// An instrumentation scope with attributes.
pub fn scope() -> Arc<InstrumentationScope> {
    Arc::new(InstrumentationScope {
        name: "io.opentelemetry.http".into(),
        version: "1.2.3".into(),
        attributes: attrs(&[("scope.attr", AnyValue::Bool(true))]),
    })
}

/// A fully populated span.
pub fn rich_span(trace: u8, id: u8, parent: Option<u8>, service: &str, start: i64, end: i64, code: StatusCode) -> Span {
    Span {
        trace_id: tid(trace),
        span_id: sid(id),
        parent_span_id: parent.map(sid),
        trace_state: "vendor=x".into(),
        flags: 1,
        name: format!("GET /items/{id}"),
        kind: if parent.is_none() { SpanKind::Server } else { SpanKind::Client },
        start_ns: T0 + start,
        end_ns: T0 + end,
        attributes: attrs(&[
            ("http.method", s("GET")),
            ("http.status_code", AnyValue::Int(200)),
            ("ratio", AnyValue::Double(0.25)),
            ("cached", AnyValue::Bool(false)),
            ("tags", AnyValue::Array(vec![s("a"), s("b")])),
            ("nested", AnyValue::KvList(vec![KeyValue::new("k", s("v"))])),
        ]),
        dropped_attributes_count: 2,
        events: vec![SpanEvent {
            time_ns: T0 + start + 1,
            name: "cache.miss".into(),
            attributes: attrs(&[("key", s("user:1"))]),
            dropped_attributes_count: 0,
        }],
        links: vec![SpanLink {
            trace_id: tid(200),
            span_id: sid(200),
            trace_state: "".into(),
            attributes: attrs(&[("link.kind", s("follows"))]),
            flags: 0,
        }],
        status: SpanStatus { code, message: if code == StatusCode::Error { "boom".into() } else { String::new() } },
        resource: resource(service),
        scope: scope(),
    }
}

/// A minimal span of a given trace, service and operation.
pub fn plain_span(trace: TraceId, id: u8, parent: Option<u8>, service: &str, name: &str, start: i64, end: i64) -> Span {
    Span {
        trace_id: trace,
        span_id: sid(id),
        parent_span_id: parent.map(sid),
        trace_state: String::new(),
        flags: 0,
        name: name.into(),
        kind: if parent.is_none() { SpanKind::Server } else { SpanKind::Client },
        start_ns: T0 + start,
        end_ns: T0 + end,
        attributes: Attributes::new(),
        dropped_attributes_count: 0,
        events: vec![],
        links: vec![],
        status: SpanStatus::default(),
        resource: resource(service),
        scope: scope(),
    }
}

/// The spans of a three-service trace: frontend → checkout → payments (which fails).
pub fn trace_spans() -> Vec<Span> {
    vec![
        rich_span(1, 1, None, "frontend", 0, 1_000, StatusCode::Unset),
        rich_span(1, 2, Some(1), "checkout", 100, 800, StatusCode::Ok),
        rich_span(1, 3, Some(2), "payments", 200, 1_200, StatusCode::Error),
    ]
}

/// A log record at `T0 + n` with attributes `user.id = n` and `path = /x`.
pub fn log(n: i64, service: &str, body: Option<AnyValue>, trace: Option<(u8, u8)>, severity: i32) -> LogRecord {
    LogRecord {
        timestamp_ns: T0 + n,
        observed_ns: T0 + n + 5,
        severity_number: severity,
        severity_text: if severity >= 17 { "ERROR".into() } else { "INFO".into() },
        body,
        attributes: attrs(&[("user.id", AnyValue::Int(n)), ("path", s("/x"))]),
        trace_id: trace.map(|(t, _)| tid(t)),
        span_id: trace.map(|(_, sp)| sid(sp)),
        flags: 1,
        event_name: if n % 2 == 0 { String::new() } else { "app.event".into() },
        resource: resource(service),
        scope: scope(),
        template_id: None,
    }
}

/// A log record with a text body.
pub fn text_log(n: i64, service: &str, body: &str) -> LogRecord {
    log(n, service, Some(s(body)), None, 9)
}

/// A metric point at `T0 + at`.
pub fn point(name: &str, service: &str, at: i64, value: PointValue) -> MetricPoint {
    MetricPoint {
        name: name.into(),
        description: format!("{name} description"),
        unit: "ms".into(),
        attributes: attrs(&[("route", s("/checkout")), ("code", AnyValue::Int(200))]),
        start_ns: T0,
        time_ns: T0 + at,
        flags: 0,
        value,
        resource: resource(service),
        scope: scope(),
    }
}

/// One point of each of the five kinds.
pub fn every_kind_of_point() -> Vec<MetricPoint> {
    vec![
        point("queue.depth", "worker", 1, PointValue::Gauge { value: 42.5 }),
        point(
            "requests",
            "worker",
            2,
            PointValue::Sum { value: 7.0, temporality: Temporality::Cumulative, monotonic: true },
        ),
        point(
            "balance",
            "worker",
            3,
            PointValue::Sum { value: -3.0, temporality: Temporality::Delta, monotonic: false },
        ),
        point(
            "latency",
            "worker",
            4,
            PointValue::Histogram {
                count: 6,
                sum: Some(123.5),
                min: Some(1.0),
                max: Some(80.0),
                bounds: vec![5.0, 10.0, 50.0],
                bucket_counts: vec![1, 2, 2, 1],
                temporality: Temporality::Delta,
            },
        ),
        point(
            "latency.exp",
            "worker",
            5,
            PointValue::ExponentialHistogram {
                count: 5,
                sum: Some(20.0),
                min: None,
                max: Some(9.0),
                scale: 2,
                zero_count: 1,
                zero_threshold: 0.0,
                positive: ExpBuckets { offset: -1, counts: vec![1, 2, 1] },
                negative: ExpBuckets { offset: 0, counts: vec![] },
                temporality: Temporality::Cumulative,
            },
        ),
        point(
            "rpc.duration",
            "worker",
            6,
            PointValue::Summary { count: 10, sum: 55.0, quantiles: vec![(0.5, 4.0), (0.99, 9.5)] },
        ),
    ]
}

/// One tenant's spans as a write.
pub fn spans_batch(t: &TenantId, spans: Vec<Span>) -> Vec<TenantBatch> {
    vec![TenantBatch { tenant: t.clone(), spans, logs: vec![], metrics: vec![] }]
}

/// One tenant's logs as a write.
pub fn logs_batch(t: &TenantId, logs: Vec<LogRecord>) -> Vec<TenantBatch> {
    vec![TenantBatch { tenant: t.clone(), spans: vec![], logs, metrics: vec![] }]
}

/// One tenant's points as a write.
pub fn metrics_batch(t: &TenantId, metrics: Vec<MetricPoint>) -> Vec<TenantBatch> {
    vec![TenantBatch { tenant: t.clone(), spans: vec![], logs: vec![], metrics }]
}

/// Writes and unwraps.
pub async fn write(st: &dyn Storage, batches: Vec<TenantBatch>) {
    st.write(&batches).await.expect("write succeeds");
}

/// Follows cursors from the first page to the last, calling `between` after every page (to
/// write while paging); returns every item in order. Stops after 10,000 pages.
pub async fn all_pages<T, F, Fut, B, BFut>(mut fetch: F, mut between: B) -> Vec<T>
where
    F: FnMut(Option<crate::storage::Cursor>) -> Fut,
    Fut: Future<Output = Result<Page<T>, StorageError>>,
    B: FnMut(usize) -> BFut,
    BFut: Future<Output = ()>,
{
    let mut out = Vec::new();
    let mut cursor = None;
    for n in 0..10_000 {
        let page = fetch(cursor).await.expect("page reads");
        out.extend(page.items);
        match page.next {
            Some(c) => cursor = Some(c),
            None => return out,
        }
        between(n).await;
    }
    panic!("pagination did not end");
}

/// No writes between pages.
pub async fn nothing(_: usize) {}

/// Debug text, to compare values holding NaN (which is never equal to itself).
pub fn bits<T: std::fmt::Debug>(v: &T) -> String {
    format!("{v:?}")
}
