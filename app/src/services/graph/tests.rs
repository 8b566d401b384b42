use super::*;
use crate::services::test_support::{clock_at as clock, tenant};
use otelcontext_domain::PointValue;
use otelcontext_domain::TemplateId;
use otelcontext_domain::graph::peer::NodeKind;
use otelcontext_ports::conformance::fixtures::{T0, log, plain_span, point, tid16};
use otelcontext_ports::{MockLogStore, MockMetricStore, MockTraceStore, Page, StoredLog};
use otelcontext_telemetry::Telemetry;
use std::sync::atomic::AtomicI64;

const S: i64 = 1_000_000_000;

/// frontend → checkout, trace `n`, ending at `T0 + n ms`.
fn trace(n: u16) -> Vec<otelcontext_domain::Span> {
    let t = tid16(n + 1);
    let base = i64::from(n) * 1_000_000;
    vec![
        plain_span(t, 1, None, "frontend", "GET /", base, base + 100_000),
        plain_span(t, 2, Some(1), "frontend", "call checkout", base + 5_000, base + 95_000),
        {
            let mut s = plain_span(t, 3, Some(2), "checkout", "POST /checkout", base + 20_000, base + 80_000);
            s.kind = otelcontext_domain::SpanKind::Server;
            s
        },
    ]
}

fn batch(t: &str, spans: Vec<otelcontext_domain::Span>) -> TenantBatch {
    let mut b = TenantBatch::new(tenant(t));
    b.spans = spans;
    b
}

fn as_events(spans: &[otelcontext_domain::Span]) -> Vec<(TraceId, GraphSpan)> {
    spans.iter().map(|s| (s.trace_id, GraphSpan::from(s))).collect()
}

#[test]
fn settled_traces_build_each_tenants_map() {
    let now = Arc::new(AtomicI64::new(T0 + S));
    let t = Telemetry::new();
    let g = GraphService::new(GraphSettings::default(), clock(now.clone()), &t.meter());
    for n in 0..10 {
        g.process(&tenant("a"), as_events(&trace(n)));
    }
    g.process(&tenant("b"), as_events(&trace(99)));
    assert!(g.service_map(&tenant("a"), T0 - 60 * S, T0 + 60 * S).nodes.is_empty(), "still assembling");
    now.store(T0 + 10 * S, Ordering::Relaxed);
    g.tick();
    let map = g.service_map(&tenant("a"), T0 - 60 * S, T0 + 60 * S);
    let names: Vec<&str> = map.nodes.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(names, ["checkout", "frontend"]);
    assert_eq!(map.nodes[0].red.calls, 10);
    assert_eq!(
        (map.edges[0].from.as_str(), map.edges[0].to.as_str(), map.edges[0].client.calls),
        ("frontend", "checkout", 10)
    );
    assert_eq!(g.service_map(&tenant("b"), T0 - 60 * S, T0 + 60 * S).edges[0].client.calls, 1, "tenants apart");
    assert!(g.service_map(&tenant("nobody"), T0 - 60 * S, T0 + 60 * S).nodes.is_empty());
    let text = t.render();
    assert!(text.contains("otelcontext_graphrag_traces_total 11"), "{text}");
    assert!(text.contains("otelcontext_graphrag_nodes 4"), "{text}");
    assert!(text.contains("otelcontext_graphrag_edges 2"), "{text}");
}

#[test]
fn a_full_event_queue_drops_and_counts() {
    let now = Arc::new(AtomicI64::new(T0 + S));
    let t = Telemetry::new();
    let g = GraphService::new(GraphSettings { queue_spans: 5, ..GraphSettings::default() }, clock(now), &t.meter());
    g.committed(&[batch("a", trace(0))]);
    g.committed(&[batch("a", trace(1))]);
    assert!(t.render().contains("otelcontext_graphrag_events_dropped_total 3"), "{}", t.render());
}

#[test]
fn caps_are_counted() {
    let now = Arc::new(AtomicI64::new(T0 + S));
    let t = Telemetry::new();
    let limits = GraphLimits { max_nodes: 1, ..GraphLimits::default() };
    let g = GraphService::new(GraphSettings { limits, ..GraphSettings::default() }, clock(now.clone()), &t.meter());
    g.process(&tenant("a"), as_events(&trace(0)));
    now.store(T0 + 10 * S, Ordering::Relaxed);
    g.tick();
    assert_eq!(g.with_graph(&tenant("a"), |gr| gr.node_count()), 1);
    // checkout is refused as an entry, for its self time and as the callee.
    assert!(t.render().contains("otelcontext_graphrag_capped_total{what=\"nodes\"} 3"), "{}", t.render());
}

#[tokio::test]
async fn the_graph_is_rebuilt_from_recent_spans_in_storage() {
    let now = Arc::new(AtomicI64::new(T0 + S));
    let mut store = MockTraceStore::new();
    store.expect_search_spans().returning(|tenant, q| {
        assert!(q.time.start_ns.is_some());
        let items = if tenant.as_str() == "a" { (0..3).flat_map(trace).collect() } else { Vec::new() };
        Ok(Page { items, next: None })
    });
    let mut logs = MockLogStore::new();
    logs.expect_search_logs().returning(|tenant, q| {
        assert_eq!(q.min_severity, Some(SeverityLevel::Error), "only error logs are counted");
        let items = if tenant.as_str() == "a" {
            (0..2)
                .map(|n| {
                    let mut record = log(n, "checkout", None, None, 17);
                    record.template_id = Some(TemplateId(7));
                    StoredLog { id: otelcontext_ports::LogId(n), record }
                })
                .collect()
        } else {
            Vec::new()
        };
        Ok(Page { items, next: None })
    });
    let mut metrics = MockMetricStore::new();
    metrics.expect_search_metric_points().returning(|tenant, q| {
        assert!(q.time.start_ns.is_some() && q.limit > 0);
        let items = if tenant.as_str() == "a" {
            vec![
                point("k8s.pod.cpu.utilization", "checkout", 0, PointValue::Gauge { value: 0.4 }),
                point(
                    "http.requests",
                    "checkout",
                    0,
                    PointValue::Sum {
                        value: 9.0,
                        monotonic: true,
                        temporality: otelcontext_domain::Temporality::Cumulative,
                    },
                ),
            ]
        } else {
            Vec::new()
        };
        Ok(Page { items, next: None })
    });
    let t = Telemetry::new();
    let g = GraphService::new(GraphSettings::default(), clock(now), &t.meter());
    let rebuilt = g.rebuild(&store, &logs, &metrics, &[tenant("a"), tenant("b")]).await.unwrap();
    assert_eq!(rebuilt, Rebuilt { spans: 9, error_logs: 2, metric_points: 2 });
    let calls = g.with_graph(&tenant("a"), |gr| {
        gr.edge("frontend", NodeKind::Service, "checkout").map(|e| e.client.summary(T0 - 60 * S, T0 + 60 * S).calls)
    });
    assert_eq!(calls, Some(3));
    let lines = g.with_graph(&tenant("a"), |gr| {
        gr.node(NodeKind::Service, "checkout").map(|n| n.error_logs[&TemplateId(7)].count(T0 - 60 * S, T0 + 60 * S))
    });
    assert_eq!(lines, Some(2), "the error logs of checkout are counted again");
    let gauges = g.with_graph(&tenant("a"), |gr| {
        gr.node(NodeKind::Service, "checkout").map(|n| (n.metrics.len(), n.utilization.len()))
    });
    assert_eq!(gauges, Some((1, 1)), "its gauge is recorded again, the counter is not a gauge");
}

#[tokio::test]
async fn workers_drain_the_queue() {
    let now = Arc::new(AtomicI64::new(T0 + S));
    let t = Telemetry::new();
    let g = Arc::new(GraphService::new(
        GraphSettings { workers: 2, ..GraphSettings::default() },
        clock(now.clone()),
        &t.meter(),
    ));
    let (stop_tx, stop) = watch::channel(false);
    let tasks = g.clone().spawn(stop);
    g.committed(&[batch("a", trace(0)), batch("a", trace(1))]);
    for _ in 0..200 {
        if g.queued.load(Ordering::Acquire) == 0 && g.with_graph(&tenant("a"), |gr| gr.node_count()) == 0 {
            // Processed but still assembling: settle and look.
            now.store(T0 + 10 * S, Ordering::Relaxed);
            g.tick();
            if g.with_graph(&tenant("a"), |gr| gr.node_count()) == 2 {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(g.with_graph(&tenant("a"), |gr| gr.node_count()), 2);
    let _ = stop_tx.send(true);
    for task in tasks {
        task.await.unwrap();
    }
}

#[tokio::test]
async fn every_tenant_with_a_map_is_snapshotted() {
    let now = Arc::new(AtomicI64::new(T0 + S));
    let t = Telemetry::new();
    let g = GraphService::new(GraphSettings::default(), clock(now.clone()), &t.meter());
    for n in 0..4 {
        g.process(&tenant("a"), as_events(&trace(n)));
    }
    now.store(T0 + 10 * S, Ordering::Relaxed);
    g.tick();
    let mut store = otelcontext_ports::MockIntelligenceStore::new();
    store.expect_save_snapshot().times(1).returning(|tenant, snap| {
        assert_eq!(tenant.as_str(), "a");
        assert_eq!((snap.service_count, snap.edge_count, snap.total_calls), (2, 1, 4));
        assert_eq!(snap.avg_health_score, 1.0);
        assert_eq!(snap.graph["edges"][0]["from"], "frontend");
        assert_eq!(snap.graph["nodes"][0]["kind"], "service");
        assert!(snap.id.starts_with("snap_"));
        Ok(())
    });
    g.process(&tenant("idle"), Vec::new());
    assert_eq!(g.snapshot(&store).await.unwrap(), 1, "a tenant without calls gets none");
}

#[test]
fn committed_error_logs_with_a_template_are_counted_for_known_services() {
    let now = Arc::new(AtomicI64::new(T0 + S));
    let t = Telemetry::new();
    let g = GraphService::new(GraphSettings::default(), clock(now.clone()), &t.meter());
    g.process(&tenant("a"), as_events(&trace(0)));
    now.store(T0 + 10 * S, Ordering::Relaxed);
    g.tick();
    let with_template = |mut l: otelcontext_domain::LogRecord, id: u64| {
        l.template_id = Some(TemplateId(id));
        l
    };
    let mut b = TenantBatch::new(tenant("a"));
    b.logs = vec![
        with_template(log(1, "checkout", None, None, 17), 1),
        with_template(log(2, "checkout", None, None, 21), 1),
        with_template(log(3, "checkout", None, None, 9), 2),
        log(4, "checkout", None, None, 17),
    ];
    let facts: Vec<LogFact> = b.logs.iter().filter_map(log_fact).collect();
    assert_eq!(facts.len(), 2, "INFO lines and lines without a template are not counted");
    g.process_logs(&tenant("a"), &facts);
    let counted = g.with_graph(&tenant("a"), |gr| {
        let n = gr.node(NodeKind::Service, "checkout").unwrap();
        (n.error_logs.len(), n.error_logs[&TemplateId(1)].count(T0 - 60 * S, T0 + 60 * S))
    });
    assert_eq!(counted, (1, 2));
}

#[test]
fn health_fails_when_the_graph_stalls_or_its_queue_is_full() {
    let now = Arc::new(AtomicI64::new(T0));
    let t = Telemetry::new();
    let g =
        GraphService::new(GraphSettings { queue_spans: 2, ..GraphSettings::default() }, clock(now.clone()), &t.meter());
    assert_eq!(g.health(), Ok(()), "not started yet: nothing to judge");
    g.tick();
    now.store(T0 + 10 * S, Ordering::Relaxed);
    assert_eq!(g.health(), Ok(()));
    now.store(T0 + 31 * S, Ordering::Relaxed);
    assert!(g.health().unwrap_err().contains("not advanced for 31 s"));
    g.tick();
    g.committed(&[batch("a", trace(0)[..2].to_vec())]);
    assert!(g.health().unwrap_err().contains("queue is full"), "{:?}", g.health());
}
