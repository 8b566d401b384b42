use super::*;
use crate::services::AnomalySettings;
use crate::services::graph::GraphSettings;
use crate::services::test_support::{clock_at, tenant};
use otelcontext_domain::graph::LogFact;
use otelcontext_domain::graph::walks::Direction;
use otelcontext_domain::{LogTemplate, Span, SpanKind, SpanStatus, TraceSummary};
use otelcontext_ports::conformance::fixtures::{T0, log, plain_span, sid, tid16};
use otelcontext_ports::{GraphWindow, MockIntelligenceStore, MockTraceStore, Page};
use otelcontext_telemetry::Telemetry;
use std::sync::atomic::AtomicI64;

const S: i64 = 1_000_000_000;
const MS: i64 = 1_000_000;

/// frontend → checkout → payment; payment fails with "card declined" when `fail`.
fn trace(n: u16, fail: bool) -> Vec<Span> {
    let t = tid16(n);
    let at = i64::from(n) * 10 * MS;
    let mut checkout = plain_span(t, 3, Some(2), "checkout", "POST /checkout", at + 2 * MS, at + 40 * MS);
    checkout.kind = SpanKind::Server;
    let mut payment = plain_span(t, 5, Some(4), "payment", "Charge", at + 6 * MS, at + 30 * MS);
    payment.kind = SpanKind::Server;
    if fail {
        payment.status = SpanStatus { code: StatusCode::Error, message: "card declined".into() };
        checkout.status = SpanStatus { code: StatusCode::Error, message: "payment failed".into() };
    }
    vec![
        plain_span(t, 1, None, "frontend", "GET /", at, at + 45 * MS),
        plain_span(t, 2, Some(1), "frontend", "call checkout", at + MS, at + 42 * MS),
        checkout,
        plain_span(t, 4, Some(3), "checkout", "call payment", at + 5 * MS, at + 35 * MS),
        payment,
    ]
}

struct Rig {
    graph: Arc<GraphService>,
    anomalies: Arc<AnomalyService>,
    clock: Arc<dyn Clock>,
}

fn rig() -> Rig {
    let now = Arc::new(AtomicI64::new(T0 + 60 * S));
    let t = Telemetry::new();
    let graph = Arc::new(GraphService::new(GraphSettings::default(), clock_at(now.clone()), &t.meter()));
    let anomalies = Arc::new(AnomalyService::new(
        graph.clone(),
        Arc::new(MockIntelligenceStore::new()),
        clock_at(now.clone()),
        AnomalySettings::default(),
        &t.meter(),
    ));
    for n in 0..20 {
        let spans = trace(n, n % 4 == 0);
        graph.process(&tenant("a"), spans.iter().map(|s| (s.trace_id, GraphSpan::from(s))).collect());
    }
    graph.settle_all();
    Rig { graph, anomalies, clock: clock_at(now) }
}

fn service(r: &Rig, traces: MockTraceStore, templates: MockIntelligenceStore) -> GraphQueryService {
    let t = Telemetry::new();
    let miners = Arc::new(TemplateService::new(
        Arc::new(MockIntelligenceStore::new()),
        r.clock.clone(),
        otelcontext_domain::drain::DrainConfig::default(),
        &t.meter(),
    ));
    GraphQueryService::new(
        r.graph.clone(),
        r.anomalies.clone(),
        Arc::new(traces),
        miners,
        Arc::new(templates),
        r.clock.clone(),
    )
}

fn stored(n: u16, fail: bool) -> Trace {
    let spans = trace(n, fail);
    let mut logs =
        vec![log(1, "payment", Some(otelcontext_domain::AnyValue::String("declined by issuer".into())), None, 17)];
    logs[0].trace_id = Some(tid16(n));
    logs[0].span_id = Some(sid(5));
    Trace { summary: TraceSummary::from_span(&spans[0]), spans, logs }
}

fn names(map: &otelcontext_domain::graph::ServiceMap) -> Vec<&str> {
    map.nodes.iter().map(|n| n.name.as_str()).collect()
}

#[tokio::test]
async fn error_chains_read_the_failed_traces_and_end_where_the_failure_started() {
    let r = rig();
    let mut traces = MockTraceStore::new();
    traces
        .expect_search_spans()
        .withf(|t, q| {
            t.as_str() == "a" && q.service.as_deref() == Some("checkout") && q.status == Some(StatusCode::Error)
        })
        .returning(|_, _| {
            // Newest first, two spans of trace 8 (only read once).
            let mut items: Vec<Span> = [8u16, 8, 4, 0].iter().map(|n| trace(*n, true)[2].clone()).collect();
            items[1].span_id = sid(9);
            Ok(Page { items, next: None })
        });
    traces.expect_get_trace().withf(|t, _| t.as_str() == "a").times(3).returning(|_, id| {
        let n = u16::from_be_bytes([id.as_bytes()[14], id.as_bytes()[15]]);
        Ok(Some(stored(n, true)))
    });
    let q = service(&r, traces, MockIntelligenceStore::new());
    let query = ErrorChainQuery { service: "checkout".into(), limit: 10, window: GraphWindow::default() };
    let a = q.error_chains(&tenant("a"), &query).await.unwrap();
    let ids: Vec<TraceId> = a.chains.iter().map(|c| c.trace_id).collect();
    assert_eq!(ids, [tid16(8), tid16(4), tid16(0)]);
    let origin = a.chains[0].chain.origin();
    assert_eq!((origin.service.as_str(), origin.message.as_str()), ("payment", "card declined"));
    assert_eq!(a.chains[0].chain.hops.first().unwrap().service, "frontend");
    assert_eq!(a.chains[0].logs, ["declined by issuer"]);
    assert_eq!(a.origins.len(), 1);
    assert_eq!((a.origins[0].traces, a.origins[0].example_trace), (3, tid16(8)));

    let bad = ErrorChainQuery { limit: MAX_ERROR_CHAINS + 1, ..query.clone() };
    assert!(matches!(q.error_chains(&tenant("a"), &bad).await, Err(QueryError::InvalidArgument(_))));
    let unknown = ErrorChainQuery { service: "check".into(), ..query.clone() };
    assert!(
        matches!(q.error_chains(&tenant("a"), &unknown).await, Err(QueryError::NotFound(_))),
        "services match exactly, never by prefix"
    );
    assert!(matches!(q.error_chains(&tenant("b"), &query).await, Err(QueryError::NotFound(_))), "tenants apart");
}

#[tokio::test]
async fn maps_impact_and_paths_come_from_the_live_graph() {
    let r = rig();
    let q = service(&r, MockTraceStore::new(), MockIntelligenceStore::new());
    let a = tenant("a");
    let whole = q.service_map(&a, &MapQuery::default()).await.unwrap();
    assert_eq!(names(&whole.map), ["checkout", "frontend", "payment"]);
    let deps = MapQuery { service: Some("checkout".into()), direction: Direction::Downstream, ..MapQuery::default() };
    assert_eq!(names(&q.service_map(&a, &deps).await.unwrap().map), ["checkout", "payment"]);
    let shallow = MapQuery { service: Some("payment".into()), depth: 1, ..MapQuery::default() };
    assert_eq!(names(&q.service_map(&a, &shallow).await.unwrap().map), ["checkout", "payment"]);
    for bad in [MapQuery { depth: 0, ..MapQuery::default() }, MapQuery { depth: MAX_DEPTH_PLUS, ..MapQuery::default() }]
    {
        assert!(matches!(q.service_map(&a, &bad).await, Err(QueryError::InvalidArgument(_))));
    }

    let impact = q
        .impact(&a, &ImpactQuery { service: "payment".into(), depth: 5, window: GraphWindow::default() })
        .await
        .unwrap();
    let up: Vec<(&str, usize)> = impact.impact.upstream.iter().map(|n| (n.name.as_str(), n.hops)).collect();
    assert_eq!(up, [("checkout", 1), ("frontend", 2)]);
    assert!(impact.impact.downstream.is_empty());
    assert_eq!(impact.impact.upstream[0].edge_calls, 20);

    let path = |from: &str, to: &str| PathQuery { from: from.into(), to: to.into(), window: GraphWindow::default() };
    let p = q.call_path(&a, &path("frontend", "payment")).await.unwrap();
    assert_eq!((p.edges.len(), p.reversed), (2, false));
    let back = q.call_path(&a, &path("payment", "frontend")).await.unwrap();
    assert!(back.reversed);
    assert_eq!(back.edges[0].from, "frontend");
    assert!(matches!(q.call_path(&a, &path("payment", "nope")).await, Err(QueryError::NotFound(_))));
    assert!(matches!(q.call_path(&a, &path(" ", "payment")).await, Err(QueryError::InvalidArgument(_))));
    let hours = PathQuery { window: GraphWindow::last(2 * MAX_GRAPH_RANGE_NS), ..path("frontend", "payment") };
    assert!(matches!(q.call_path(&a, &hours).await, Err(QueryError::InvalidArgument(_))));
}

const MAX_DEPTH_PLUS: usize = otelcontext_ports::MAX_DEPTH + 1;

fn template(id: u64, text: &str) -> LogTemplate {
    LogTemplate { id: TemplateId(id), template: text.into(), ..LogTemplate::default() }
}

#[tokio::test]
async fn signals_and_similar_errors_name_their_templates() {
    let r = rig();
    let a = tenant("a");
    let lines = |service: &str, id: u64, n: i64| -> Vec<LogFact> {
        (0..n).map(|i| LogFact { service: service.into(), time_ns: T0 + i * MS, template: TemplateId(id) }).collect()
    };
    r.graph.process_logs(&a, &lines("payment", 1, 6));
    r.graph.process_logs(&a, &lines("checkout", 2, 3));
    r.graph.process_logs(&a, &lines("frontend", 3, 2));
    let mut templates = MockIntelligenceStore::new();
    // Not mined here (the miners hold nothing): read from the store.
    templates.expect_get_template().returning(|_, id| {
        Ok(match id.0 {
            1 => Some(template(1, "card declined for order <*> by issuer")),
            2 => Some(template(2, "payment for order <*> declined")),
            3 => Some(template(3, "rendering page <*> took too long")),
            _ => None,
        })
    });
    let q = service(&r, MockTraceStore::new(), templates);
    let s = q
        .correlated_signals(&a, &SignalsQuery { service: "payment".into(), window: GraphWindow::default() })
        .await
        .unwrap();
    assert_eq!(s.signals.error_logs.len(), 1);
    assert_eq!(s.signals.error_logs[0].count, 6);
    assert_eq!(s.template_texts, [Some("card declined for order <*> by issuer".to_owned())]);
    assert_eq!(s.signals.failed_traces.len(), 5.min(s.signals.failed_traces.len()));
    assert!(!s.signals.failed_traces.is_empty(), "failed payments are given as examples");
    assert!(s.baseline_start_ns < s.start_ns);

    let sim = q
        .similar_errors(&a, &SimilarErrorsQuery { template: TemplateId(1), limit: 5, window: GraphWindow::default() })
        .await
        .unwrap();
    assert_eq!(sim.text, "card declined for order <*> by issuer");
    assert_eq!(sim.similar.len(), 1, "the asked template is left out; unrelated ones score nothing");
    assert_eq!(sim.similar[0].template, TemplateId(2));
    assert_eq!(sim.similar[0].services, [("checkout".to_owned(), 3)]);
    let unknown = SimilarErrorsQuery { template: TemplateId(9), limit: 5, window: GraphWindow::default() };
    assert!(matches!(q.similar_errors(&a, &unknown).await, Err(QueryError::NotFound(_))));
}

#[tokio::test]
async fn trace_graphs_timeline_ranges_and_missing_traces() {
    let r = rig();
    let mut traces = MockTraceStore::new();
    traces.expect_get_trace().returning(|_, id| Ok((*id == tid16(4)).then(|| stored(4, true))));
    let q = service(&r, traces, MockIntelligenceStore::new());
    let a = tenant("a");
    let g = q.trace_graph(&a, &tid16(4)).await.unwrap();
    assert_eq!(g.spans.len(), 5);
    assert_eq!(g.services, ["checkout", "frontend", "payment"]);
    assert!(g.spans.iter().all(|s| s.critical), "a chain of nested calls is all on the critical path");
    assert!(matches!(q.trace_graph(&a, &tid16(5)).await, Err(QueryError::NotFound(_))));

    let day = TimelineQuery { service: None, limit: 10, window: GraphWindow::last(MAX_TIMELINE_RANGE_NS) };
    assert!(q.anomaly_timeline(&a, &day).await.unwrap().anomalies.is_empty());
    let longer = TimelineQuery { window: GraphWindow::last(MAX_TIMELINE_RANGE_NS + 1), ..day.clone() };
    assert!(matches!(q.anomaly_timeline(&a, &longer).await, Err(QueryError::InvalidArgument(_))));
    let none = TimelineQuery { limit: 0, ..day };
    assert!(matches!(q.anomaly_timeline(&a, &none).await, Err(QueryError::InvalidArgument(_))));
}
