//! The storage conformance suite: one behavioural specification that every storage adapter
//! (memory, SQLite, Postgres, or a user's own) must pass.
//!
//! Use it from an adapter's tests with [`crate::storage_conformance_tests!`], giving an async
//! factory that returns a fresh, empty [`TestStorage`] per test.

use crate::storage::{LogQuery, MetricQuery, Storage, TenantBatch};
use otelcontext_domain::metric::ExpBuckets;
use otelcontext_domain::trace::summarize;
use otelcontext_domain::{
    AnyValue, Attributes, InstrumentationScope, KeyValue, LogRecord, MetricPoint, PointValue, Resource, Span,
    SpanEvent, SpanId, SpanKind, SpanLink, SpanStatus, StatusCode, Temporality, TenantId, TraceId,
};
use std::any::Any;
use std::sync::Arc;

/// A storage under test plus whatever must live as long as it (a temp dir, a schema guard).
pub struct TestStorage {
    pub storage: Arc<dyn Storage>,
    pub guard: Box<dyn Any + Send>,
}

/// Generates one `#[tokio::test]` per conformance case. `$factory` is an expression evaluating
/// to an async closure/fn returning [`TestStorage`].
#[macro_export]
macro_rules! storage_conformance_tests {
    ($factory:expr) => {
        $crate::storage_conformance_tests!(@cases $factory;
            written_trace_reads_back_field_by_field,
            absent_trace_is_none,
            resent_spans_are_stored_once,
            trace_row_is_the_same_whatever_the_arrival_order,
            trace_status_upgrades_to_error_and_never_back,
            tenants_never_see_each_others_data,
            same_trace_id_in_two_tenants_is_two_traces,
            logs_of_every_body_type_read_back,
            resent_logs_are_stored_once,
            log_queries_filter_order_and_limit,
            trace_includes_its_logs,
            metric_points_of_every_kind_read_back,
            resent_metric_points_are_stored_once,
            metric_queries_filter_and_order,
            counts_are_per_tenant,
            large_batches_are_written_whole,
            awkward_strings_survive,
            empty_write_is_a_no_op,
            ping_answers
        );
    };
    (@cases $factory:expr; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let ts: $crate::conformance::TestStorage = ($factory)().await;
                $crate::conformance::$case(&*ts.storage).await;
                drop(ts);
            }
        )*
    };
}

fn tenant(name: &str) -> TenantId {
    TenantId::parse(name).unwrap()
}

fn tid(n: u8) -> TraceId {
    let mut b = [0u8; 16];
    b[0] = 0xa0;
    b[15] = n;
    TraceId::from_array(b).unwrap()
}

fn sid(n: u8) -> SpanId {
    let mut b = [0u8; 8];
    b[0] = 0x5a;
    b[7] = n;
    SpanId::from_array(b).unwrap()
}

fn attrs(pairs: &[(&str, AnyValue)]) -> Attributes {
    Attributes(pairs.iter().map(|(k, v)| KeyValue::new(*k, v.clone())).collect())
}

fn s(v: &str) -> AnyValue {
    AnyValue::String(v.into())
}

const T0: i64 = 1_764_000_000_000_000_000;

fn resource(service: &str) -> Arc<Resource> {
    Arc::new(Resource::new(attrs(&[
        ("service.name", s(service)),
        ("host.name", s("node-1")),
        ("k8s.pod.name", s(&format!("{service}-7d9f"))),
    ])))
}

fn scope() -> Arc<InstrumentationScope> {
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

fn spans_batch(t: &TenantId, spans: Vec<Span>) -> Vec<TenantBatch> {
    vec![TenantBatch { tenant: t.clone(), spans, logs: vec![], metrics: vec![] }]
}

fn trace_spans() -> Vec<Span> {
    vec![
        rich_span(1, 1, None, "frontend", 0, 1_000, StatusCode::Unset),
        rich_span(1, 2, Some(1), "checkout", 100, 800, StatusCode::Ok),
        rich_span(1, 3, Some(2), "payments", 200, 1_200, StatusCode::Error),
    ]
}

fn log(n: i64, service: &str, body: Option<AnyValue>, trace: Option<(u8, u8)>, severity: i32) -> LogRecord {
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
    }
}

fn logs_batch(t: &TenantId, logs: Vec<LogRecord>) -> Vec<TenantBatch> {
    vec![TenantBatch { tenant: t.clone(), spans: vec![], logs, metrics: vec![] }]
}

fn point(name: &str, service: &str, at: i64, value: PointValue) -> MetricPoint {
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

fn every_kind_of_point() -> Vec<MetricPoint> {
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

fn metrics_batch(t: &TenantId, metrics: Vec<MetricPoint>) -> Vec<TenantBatch> {
    vec![TenantBatch { tenant: t.clone(), spans: vec![], logs: vec![], metrics }]
}

fn all_points() -> MetricQuery {
    MetricQuery { limit: 1_000, ..MetricQuery::default() }
}

fn all_logs() -> LogQuery {
    LogQuery { limit: 1_000, ..LogQuery::default() }
}

/// Every field of every span survives a write and a read.
pub async fn written_trace_reads_back_field_by_field(st: &dyn Storage) {
    let t = tenant("acme");
    let spans = trace_spans();
    let summary = st.write(&spans_batch(&t, spans.clone())).await.unwrap();
    assert_eq!(summary.spans, 3);
    let trace = st.get_trace(&t, &tid(1)).await.unwrap().expect("trace stored");
    assert_eq!(trace.summary, summarize(&spans)[0]);
    assert_eq!(trace.spans.len(), 3);
    for (got, want) in trace.spans.iter().zip(spans.iter()) {
        assert_eq!(got, want, "span {}", want.span_id);
    }
}

/// An unknown trace id reads as `None`, not an error.
pub async fn absent_trace_is_none(st: &dyn Storage) {
    assert!(st.get_trace(&tenant("acme"), &tid(99)).await.unwrap().is_none());
}

/// Writing the same spans again stores nothing new and leaves the trace row unchanged.
pub async fn resent_spans_are_stored_once(st: &dyn Storage) {
    let t = tenant("acme");
    st.write(&spans_batch(&t, trace_spans())).await.unwrap();
    let again = st.write(&spans_batch(&t, trace_spans())).await.unwrap();
    assert_eq!((again.spans, again.duplicates()), (0, 3));
    // Duplicates inside one batch too.
    let mut twice = trace_spans();
    twice.extend(trace_spans());
    st.write(&spans_batch(&t, twice)).await.unwrap();
    let trace = st.get_trace(&t, &tid(1)).await.unwrap().unwrap();
    assert_eq!(trace.spans.len(), 3);
    assert_eq!(trace.summary.span_count, 3);
    assert_eq!(st.counts(&t).await.unwrap().spans, 3);
}

/// Spans written one by one in reverse order give the same trace row as all at once.
pub async fn trace_row_is_the_same_whatever_the_arrival_order(st: &dyn Storage) {
    let t = tenant("acme");
    let spans = trace_spans();
    for span in spans.iter().rev() {
        st.write(&spans_batch(&t, vec![span.clone()])).await.unwrap();
    }
    let trace = st.get_trace(&t, &tid(1)).await.unwrap().unwrap();
    assert_eq!(trace.summary, summarize(&spans)[0]);
    assert_eq!((trace.summary.root_service.as_str(), trace.summary.has_root), ("frontend", true));
    assert_eq!(trace.summary.duration_ns(), 1_200);
}

/// A trace's status moves up to ERROR and an OK span arriving later does not bring it back.
pub async fn trace_status_upgrades_to_error_and_never_back(st: &dyn Storage) {
    let t = tenant("acme");
    let spans = trace_spans();
    st.write(&spans_batch(&t, vec![spans[0].clone()])).await.unwrap();
    assert_eq!(st.get_trace(&t, &tid(1)).await.unwrap().unwrap().summary.status, StatusCode::Unset);
    st.write(&spans_batch(&t, vec![spans[2].clone()])).await.unwrap();
    st.write(&spans_batch(&t, vec![spans[1].clone()])).await.unwrap();
    assert_eq!(st.get_trace(&t, &tid(1)).await.unwrap().unwrap().summary.status, StatusCode::Error);
}

/// Nothing written for one tenant is visible to another.
pub async fn tenants_never_see_each_others_data(st: &dyn Storage) {
    let (a, b) = (tenant("a"), tenant("b"));
    st.write(&spans_batch(&a, trace_spans())).await.unwrap();
    st.write(&logs_batch(&a, vec![log(1, "svc", Some(s("hello")), Some((1, 1)), 9)])).await.unwrap();
    st.write(&metrics_batch(&a, every_kind_of_point())).await.unwrap();
    assert!(st.get_trace(&b, &tid(1)).await.unwrap().is_none());
    assert!(st.query_logs(&b, &all_logs()).await.unwrap().is_empty());
    assert!(st.query_metric_points(&b, &all_points()).await.unwrap().is_empty());
    assert_eq!(st.counts(&b).await.unwrap(), Default::default());
    assert!(st.get_trace(&a, &tid(1)).await.unwrap().is_some());
}

/// The same trace id under two tenants is two independent traces.
pub async fn same_trace_id_in_two_tenants_is_two_traces(st: &dyn Storage) {
    let (a, b) = (tenant("a"), tenant("b"));
    let spans = trace_spans();
    st.write(&[
        TenantBatch { tenant: a.clone(), spans: vec![spans[0].clone()], logs: vec![], metrics: vec![] },
        TenantBatch {
            tenant: b.clone(),
            spans: vec![spans[1].clone(), spans[2].clone()],
            logs: vec![],
            metrics: vec![],
        },
    ])
    .await
    .unwrap();
    let ta = st.get_trace(&a, &tid(1)).await.unwrap().unwrap();
    let tb = st.get_trace(&b, &tid(1)).await.unwrap().unwrap();
    assert_eq!((ta.spans.len(), ta.summary.span_count, ta.summary.status), (1, 1, StatusCode::Unset));
    assert_eq!((tb.spans.len(), tb.summary.span_count, tb.summary.status), (2, 2, StatusCode::Error));
}

/// String, structured and absent bodies, severities and trace context survive.
pub async fn logs_of_every_body_type_read_back(st: &dyn Storage) {
    let t = tenant("acme");
    let logs = vec![
        log(1, "api", Some(s("user logged in")), Some((1, 1)), 9),
        log(
            2,
            "api",
            Some(AnyValue::KvList(vec![KeyValue::new("event", s("login")), KeyValue::new("n", AnyValue::Int(3))])),
            None,
            17,
        ),
        log(3, "api", Some(AnyValue::Int(42)), None, 13),
        log(4, "api", Some(AnyValue::Array(vec![s("x"), AnyValue::Bool(true)])), None, 5),
        log(5, "api", None, None, 0),
    ];
    let summary = st.write(&logs_batch(&t, logs.clone())).await.unwrap();
    assert_eq!(summary.logs, 5);
    let mut got = st.query_logs(&t, &all_logs()).await.unwrap();
    got.reverse(); // newest first → oldest first
    assert_eq!(got.len(), 5);
    for (g, w) in got.iter().zip(logs.iter()) {
        assert_eq!(g, w);
    }
}

/// Re-sent log records are stored once.
pub async fn resent_logs_are_stored_once(st: &dyn Storage) {
    let t = tenant("acme");
    let logs: Vec<_> = (0..10).map(|i| log(i, "api", Some(s(&format!("line {i}"))), None, 9)).collect();
    st.write(&logs_batch(&t, logs.clone())).await.unwrap();
    let again = st.write(&logs_batch(&t, logs.clone())).await.unwrap();
    assert_eq!((again.logs, again.duplicates()), (0, 10));
    // Same timestamp, different body: both kept.
    let mut other = logs[0].clone();
    other.body = Some(s("another line"));
    assert_eq!(st.write(&logs_batch(&t, vec![other])).await.unwrap().logs, 1);
    assert_eq!(st.counts(&t).await.unwrap().logs, 11);
}

/// Log queries filter by trace, service and time, return newest first and honour the limit.
pub async fn log_queries_filter_order_and_limit(st: &dyn Storage) {
    let t = tenant("acme");
    let mut logs = Vec::new();
    for i in 0..20 {
        let service = if i % 2 == 0 { "even" } else { "odd" };
        let trace = if i < 5 { Some((7, 1)) } else { None };
        logs.push(log(i * 10, service, Some(s(&format!("line {i}"))), trace, 9));
    }
    st.write(&logs_batch(&t, logs)).await.unwrap();
    let by_trace = st.query_logs(&t, &LogQuery { trace_id: Some(tid(7)), ..all_logs() }).await.unwrap();
    assert_eq!(by_trace.len(), 5);
    let odd = st.query_logs(&t, &LogQuery { service: Some("odd".into()), ..all_logs() }).await.unwrap();
    assert_eq!(odd.len(), 10);
    assert!(odd.iter().all(|l| l.service_name() == "odd"));
    let window =
        st.query_logs(&t, &LogQuery { start_ns: Some(T0 + 50), end_ns: Some(T0 + 100), ..all_logs() }).await.unwrap();
    assert_eq!(window.iter().map(|l| l.timestamp_ns - T0).collect::<Vec<_>>(), vec![100, 90, 80, 70, 60, 50]);
    let limited = st.query_logs(&t, &LogQuery { limit: 3, ..all_logs() }).await.unwrap();
    assert_eq!(limited.iter().map(|l| l.timestamp_ns - T0).collect::<Vec<_>>(), vec![190, 180, 170]);
}

/// Reading a trace also returns the logs correlated with it, oldest first.
pub async fn trace_includes_its_logs(st: &dyn Storage) {
    let t = tenant("acme");
    st.write(&[TenantBatch {
        tenant: t.clone(),
        spans: trace_spans(),
        logs: vec![
            log(300, "payments", Some(s("card declined")), Some((1, 3)), 17),
            log(100, "frontend", Some(s("request in")), Some((1, 1)), 9),
            log(200, "other", Some(s("unrelated")), Some((2, 1)), 9),
        ],
        metrics: vec![],
    }])
    .await
    .unwrap();
    let trace = st.get_trace(&t, &tid(1)).await.unwrap().unwrap();
    let bodies: Vec<_> = trace.logs.iter().map(|l| l.body_text()).collect();
    assert_eq!(bodies, vec!["request in", "card declined"]);
}

/// Gauges, sums, histograms, exponential histograms and summaries survive.
pub async fn metric_points_of_every_kind_read_back(st: &dyn Storage) {
    let t = tenant("acme");
    let points = every_kind_of_point();
    assert_eq!(st.write(&metrics_batch(&t, points.clone())).await.unwrap().metric_points, 6);
    let got = st.query_metric_points(&t, &all_points()).await.unwrap();
    assert_eq!(got.len(), 6);
    for (g, w) in got.iter().zip(points.iter()) {
        assert_eq!(g, w);
    }
}

/// Re-sent metric points are stored once.
pub async fn resent_metric_points_are_stored_once(st: &dyn Storage) {
    let t = tenant("acme");
    st.write(&metrics_batch(&t, every_kind_of_point())).await.unwrap();
    let again = st.write(&metrics_batch(&t, every_kind_of_point())).await.unwrap();
    assert_eq!((again.metric_points, again.duplicates()), (0, 6));
    assert_eq!(st.counts(&t).await.unwrap().metric_points, 6);
}

/// Metric queries filter by name, service and time, oldest first, with a limit.
pub async fn metric_queries_filter_and_order(st: &dyn Storage) {
    let t = tenant("acme");
    let mut points = Vec::new();
    for i in 0..10 {
        let service = if i < 5 { "a" } else { "b" };
        points.push(point("cpu", service, i * 1_000, PointValue::Gauge { value: i as f64 }));
        points.push(point("mem", service, i * 1_000, PointValue::Gauge { value: 1.0 }));
    }
    st.write(&metrics_batch(&t, points)).await.unwrap();
    let cpu = st.query_metric_points(&t, &MetricQuery { name: Some("cpu".into()), ..all_points() }).await.unwrap();
    assert_eq!(
        cpu.iter().map(|p| p.value.number().unwrap()).collect::<Vec<_>>(),
        (0..10).map(f64::from).collect::<Vec<_>>()
    );
    let cpu_b = st
        .query_metric_points(&t, &MetricQuery { name: Some("cpu".into()), service: Some("b".into()), ..all_points() })
        .await
        .unwrap();
    assert_eq!(cpu_b.len(), 5);
    let window = st
        .query_metric_points(
            &t,
            &MetricQuery {
                name: Some("cpu".into()),
                start_ns: Some(T0 + 2_000),
                end_ns: Some(T0 + 4_000),
                ..all_points()
            },
        )
        .await
        .unwrap();
    assert_eq!(window.len(), 3);
    let limited = st.query_metric_points(&t, &MetricQuery { limit: 4, ..all_points() }).await.unwrap();
    assert_eq!(limited.len(), 4);
}

/// Counts cover traces, spans, logs, points and error traces of one tenant.
pub async fn counts_are_per_tenant(st: &dyn Storage) {
    let t = tenant("acme");
    let mut spans = trace_spans();
    spans.push(rich_span(2, 1, None, "frontend", 0, 10, StatusCode::Ok));
    st.write(&[TenantBatch {
        tenant: t.clone(),
        spans,
        logs: vec![log(1, "x", Some(s("a")), None, 9), log(2, "x", Some(s("b")), None, 9)],
        metrics: every_kind_of_point(),
    }])
    .await
    .unwrap();
    let c = st.counts(&t).await.unwrap();
    assert_eq!((c.traces, c.spans, c.logs, c.metric_points, c.error_traces), (2, 4, 2, 6, 1));
}

/// A batch far larger than any statement chunk is written completely.
pub async fn large_batches_are_written_whole(st: &dyn Storage) {
    let t = tenant("bulk");
    let mut spans = Vec::new();
    for tr in 0..250u16 {
        for sp in 0..20u8 {
            let mut span =
                rich_span(1, sp + 1, if sp == 0 { None } else { Some(1) }, "bulk", i64::from(sp), 100, StatusCode::Ok);
            let mut b = *span.trace_id.as_bytes();
            b[1..3].copy_from_slice(&tr.to_be_bytes());
            span.trace_id = TraceId::from_array(b).unwrap();
            spans.push(span);
        }
    }
    let logs: Vec<_> = (0..3_000).map(|i| log(i, "bulk", Some(s(&format!("bulk line {i}"))), None, 9)).collect();
    let summary = st.write(&[TenantBatch { tenant: t.clone(), spans, logs, metrics: vec![] }]).await.unwrap();
    assert_eq!((summary.spans, summary.logs), (5_000, 3_000));
    let c = st.counts(&t).await.unwrap();
    assert_eq!((c.traces, c.spans, c.logs), (250, 5_000, 3_000));
}

/// Quotes, newlines, SQL fragments and non-ASCII text are stored verbatim.
pub async fn awkward_strings_survive(st: &dyn Storage) {
    let t = tenant("acme");
    let nasty = "it's \"quoted\"; DROP TABLE spans; -- ünïcødé 🚀\nline2\t\\";
    let mut span = rich_span(9, 1, None, nasty, 0, 10, StatusCode::Error);
    span.name = nasty.into();
    span.status.message = nasty.into();
    span.attributes.push(nasty, s(nasty));
    st.write(&spans_batch(&t, vec![span.clone()])).await.unwrap();
    let trace = st.get_trace(&t, &tid(9)).await.unwrap().unwrap();
    assert_eq!(trace.spans[0], span);
    assert_eq!(trace.summary.root_service, nasty);
    let l = log(1, nasty, Some(s(nasty)), None, 9);
    st.write(&logs_batch(&t, vec![l.clone()])).await.unwrap();
    assert_eq!(st.query_logs(&t, &all_logs()).await.unwrap()[0], l);
}

/// Writing nothing succeeds and changes nothing.
pub async fn empty_write_is_a_no_op(st: &dyn Storage) {
    assert_eq!(st.write(&[]).await.unwrap(), Default::default());
    assert_eq!(st.write(&[TenantBatch::new(tenant("acme"))]).await.unwrap(), Default::default());
}

/// A healthy storage answers a ping.
pub async fn ping_answers(st: &dyn Storage) {
    st.ping().await.unwrap();
}
