//! The live service graph end to end: traces sent by two services over OTLP (each its own
//! export, as real services send them) become a map of services, the database they call and
//! the CALLS edges, with the caller-side and server-side latency of each call; after a restart
//! the graph is rebuilt from storage.

use crate::payloads::*;
use opentelemetry_proto::tonic::trace::v1::{Span, Status};
use otelcontext_domain::TenantId;
use otelcontext_domain::graph::ServiceMap;
use otelcontext_domain::graph::peer::NodeKind;
use otelcontext_e2e::{TestServer, eventually, open_sqlite, test_config};

fn now_ns() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64
}

fn sp(trace: u64, id: u64, parent: Option<u64>, kind: i32, start: u64, ms: u64, attrs: &[(&str, &str)]) -> Span {
    Span {
        trace_id: trace_id(trace),
        span_id: span_id(trace * 100 + id),
        parent_span_id: parent.map(|p| span_id(trace * 100 + p)).unwrap_or_default(),
        name: format!("op-{id}"),
        kind,
        start_time_unix_nano: start,
        end_time_unix_nano: start + ms * 1_000_000,
        attributes: attrs.iter().map(|(k, v)| kv(k, v)).collect(),
        status: Some(Status::default()),
        ..Default::default()
    }
}

/// frontend SERVER (100 ms) → CLIENT (90 ms) → checkout SERVER (60 ms) → CLIENT to postgresql (20 ms).
async fn send_traces(s: &TestServer, first: u64, n: u64) {
    let start = now_ns() - 1_000_000_000;
    let (mut front, mut check) = (Vec::new(), Vec::new());
    for t in first..first + n {
        front.push(sp(t, 0, None, 2, start, 100, &[]));
        front.push(sp(t, 1, Some(0), 3, start + 5_000_000, 90, &[]));
        check.push(sp(t, 2, Some(1), 2, start + 20_000_000, 60, &[]));
        check.push(sp(t, 3, Some(2), 3, start + 30_000_000, 20, &[("db.system", "postgresql"), ("db.name", "orders")]));
    }
    assert_eq!(post_proto(s, "/v1/traces", &traces("frontend", front), &[]).await.status, 200);
    assert_eq!(post_proto(s, "/v1/traces", &traces("checkout", check), &[]).await.status, 200);
}

async fn map_with_edges(s: &TestServer, edges: usize) -> ServiceMap {
    let tenant = TenantId::parse("default").unwrap();
    let now = now_ns() as i64;
    eventually(|| async {
        let map = s.graph().service_map(&tenant, now - 3_600_000_000_000, now + 60_000_000_000);
        (map.edges.len() == edges).then_some(map)
    })
    .await
    .expect("the graph settles")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traces_become_a_typed_service_map_that_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("otelcontext.db");
    let mut s = TestServer::start_on(test_config(), open_sqlite(&db).await).await;
    send_traces(&s, 1, 20).await;
    s.wait_for("default", |c| c.spans == 80).await;
    let map = map_with_edges(&s, 2).await;
    let nodes: Vec<(&str, NodeKind, u64)> = map.nodes.iter().map(|n| (n.name.as_str(), n.kind, n.red.calls)).collect();
    assert_eq!(
        nodes,
        [
            ("checkout", NodeKind::Service, 20),
            ("frontend", NodeKind::Service, 20),
            ("postgresql:orders", NodeKind::Database, 20)
        ]
    );
    let call = map.edges.iter().find(|e| e.from == "frontend").unwrap();
    assert_eq!((call.to.as_str(), call.client.calls), ("checkout", 20));
    let server = call.server.unwrap();
    assert!(call.client.p50_ns > server.p50_ns * 1.3, "90 ms seen by the caller, 60 ms served: {call:?}");
    let text = s.metrics_text();
    assert!(text.contains("otelcontext_graphrag_events_dropped_total 0"), "{text}");
    s.shutdown().await;

    let s = TestServer::start_on(test_config(), open_sqlite(&db).await).await;
    let tenant = TenantId::parse("default").unwrap();
    let now = now_ns() as i64;
    let rebuilt = s.graph().service_map(&tenant, now - 3_600_000_000_000, now + 60_000_000_000);
    assert_eq!(rebuilt.edges.len(), 2, "rebuilt from the stored spans at start: {rebuilt:?}");
    assert_eq!(rebuilt.nodes.iter().map(|n| n.red.calls).sum::<u64>(), 60);
}

/// Like [`send_traces`], but every third checkout → postgresql call fails with a deadlock, and
/// checkout and the frontend log it (with the failing span's ids).
async fn send_failing_traces(s: &TestServer, n: u64) {
    let start = now_ns() - 2_000_000_000;
    let failed = |mut span: Span, message: &str| {
        span.status = Some(Status { code: 2, message: message.into() });
        span
    };
    let (mut front, mut check, mut check_logs, mut front_logs) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for t in 1..=n {
        let fail = t % 3 == 0;
        let (root, client) = (sp(t, 0, None, 2, start, 100, &[]), sp(t, 1, Some(0), 3, start + 5_000_000, 90, &[]));
        let server = sp(t, 2, Some(1), 2, start + 20_000_000, 60, &[]);
        let db = sp(t, 3, Some(2), 3, start + 30_000_000, 20, &[("db.system", "postgresql"), ("db.name", "orders")]);
        if fail {
            front.extend([failed(root, "checkout failed"), client]);
            check.extend([failed(server, "could not save the order"), failed(db, "deadlock detected")]);
            let mut line = log_record(0, 17, &format!("deadlock detected while saving order {t} to table orders"));
            line.time_unix_nano = start + 45_000_000;
            line.trace_id = trace_id(t);
            line.span_id = span_id(t * 100 + 3);
            check_logs.push(line);
            let mut line = log_record(0, 17, &format!("checkout of order {t} failed after a deadlock on orders"));
            line.time_unix_nano = start + 95_000_000;
            front_logs.push(line);
        } else {
            front.extend([root, client]);
            check.extend([server, db]);
        }
    }
    assert_eq!(post_proto(s, "/v1/traces", &traces("frontend", front), &[]).await.status, 200);
    assert_eq!(post_proto(s, "/v1/traces", &traces("checkout", check), &[]).await.status, 200);
    assert_eq!(post_proto(s, "/v1/logs", &logs("checkout", check_logs), &[]).await.status, 200);
    assert_eq!(post_proto(s, "/v1/logs", &logs("frontend", front_logs), &[]).await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_graph_answers_error_chains_impact_paths_signals_and_trace_graphs() {
    use otelcontext_ports::{
        ErrorChainQuery, GraphQueries, GraphWindow, ImpactQuery, MapQuery, PathQuery, QueryError, SignalsQuery,
        SimilarErrorsQuery, TimelineQuery,
    };
    let s = TestServer::start_with(test_config()).await;
    send_failing_traces(&s, 30).await;
    // 20 lines logged, and one per failed span (30) from their status.
    s.wait_for("default", |c| c.spans == 120 && c.logs == 50).await;
    let q = s.graph_queries();
    let tenant = TenantId::parse("default").unwrap();
    let other = TenantId::parse("other").unwrap();
    map_with_edges(&s, 2).await;
    eventually(|| async { (s.graph().queued() == 0).then_some(()) }).await.expect("graph queue drains");
    let hour = GraphWindow::last(3_600_000_000_000);

    // The error chain of the frontend ends at the database call that failed, with the log it wrote.
    let chains =
        q.error_chains(&tenant, &ErrorChainQuery { service: "frontend".into(), limit: 5, window: hour }).await.unwrap();
    assert_eq!(chains.chains.len(), 5, "the newest five failed traces");
    let origin = chains.chains[0].chain.origin();
    assert_eq!((origin.service.as_str(), origin.message.as_str()), ("checkout", "deadlock detected"));
    assert_eq!(origin.peer.as_ref().map(|p| p.kind), Some(NodeKind::Database));
    assert!(chains.chains[0].logs[0].starts_with("deadlock detected while saving order"), "{chains:?}");
    assert_eq!((chains.origins.len(), chains.origins[0].traces), (1, 5));
    let unknown = ErrorChainQuery { service: "front".into(), limit: 5, window: hour };
    assert!(matches!(q.error_chains(&tenant, &unknown).await, Err(QueryError::NotFound(_))), "no prefix matching");
    let elsewhere = ErrorChainQuery { service: "frontend".into(), limit: 5, window: hour };
    assert!(matches!(q.error_chains(&other, &elsewhere).await, Err(QueryError::NotFound(_))), "tenants apart");

    // Impact, dependencies and the call path, over the same graph.
    let impact =
        q.impact(&tenant, &ImpactQuery { service: "postgresql:orders".into(), depth: 5, window: hour }).await.unwrap();
    let up: Vec<(&str, usize)> = impact.impact.upstream.iter().map(|n| (n.name.as_str(), n.hops)).collect();
    assert_eq!((impact.kind, up), (NodeKind::Database, vec![("checkout", 1), ("frontend", 2)]));
    let deps = MapQuery {
        service: Some("checkout".into()),
        direction: otelcontext_domain::graph::walks::Direction::Downstream,
        window: hour,
        ..MapQuery::default()
    };
    let deps = q.service_map(&tenant, &deps).await.unwrap();
    assert_eq!(deps.map.nodes.iter().map(|n| n.name.as_str()).collect::<Vec<_>>(), ["checkout", "postgresql:orders"]);
    let path = q
        .call_path(&tenant, &PathQuery { from: "frontend".into(), to: "postgresql:orders".into(), window: hour })
        .await
        .unwrap();
    assert_eq!(path.edges.iter().map(|e| e.to.as_str()).collect::<Vec<_>>(), ["checkout", "postgresql:orders"]);
    assert_eq!(path.edges[1].client.errors, 10);

    // Signals: checkout's error-log templates, by their text, with failed example traces.
    let signals =
        q.correlated_signals(&tenant, &SignalsQuery { service: "checkout".into(), window: hour }).await.unwrap();
    let logged = signals
        .template_texts
        .iter()
        .position(|t| t.as_deref().is_some_and(|t| t.starts_with("deadlock detected while saving order")))
        .unwrap_or_else(|| panic!("the logged line's template is among the signals: {signals:?}"));
    assert_eq!(signals.signals.error_logs[logged].count, 10);
    assert!(!signals.signals.failed_traces.is_empty());

    // Similar errors: the frontend's line about the same deadlock reads like checkout's.
    let template = signals.signals.error_logs[logged].template;
    let similar = q.similar_errors(&tenant, &SimilarErrorsQuery { template, limit: 10, window: hour }).await.unwrap();
    assert!(similar.similar.iter().all(|e| e.template != template));
    let front = similar
        .similar
        .iter()
        .find(|e| e.text.starts_with("checkout of order"))
        .unwrap_or_else(|| panic!("the frontend's deadlock line is similar: {similar:?}"));
    assert_eq!(front.services, [("frontend".to_owned(), 10)]);
    assert!(
        similar.similar.iter().all(|e| !e.text.contains("checkout failed") || e.score <= front.score),
        "{similar:?}"
    );

    // The graph of one failed trace, and the anomaly timeline (quiet here).
    let g = q.trace_graph(&tenant, &chains.chains[0].trace_id).await.unwrap();
    assert_eq!(g.spans.len(), 4);
    assert_eq!(g.calls.len(), 2);
    assert!(g.spans.iter().filter(|s| s.error).count() >= 2);
    let missing = otelcontext_domain::TraceId::from_array([9; 16]).unwrap();
    assert!(matches!(q.trace_graph(&tenant, &missing).await, Err(QueryError::NotFound(_))));
    let timeline = TimelineQuery { service: None, limit: 10, window: GraphWindow::last(86_400_000_000_000) };
    assert!(q.anomaly_timeline(&tenant, &timeline).await.is_ok());
}

otelcontext_e2e::on_both_databases!(2, the_graph_routes_answer_over_http);

/// Every graph route through the real server and its middleware: the map, the system graph,
/// impact, the call path, error chains, signals, anomalies, similar errors, the trace graph,
/// investigations and snapshots; bad parameters are 400, unknown nodes 404, other tenants see
/// nothing.
async fn the_graph_routes_answer_over_http(backend: otelcontext_e2e::Backend) {
    use otelcontext_domain::{GraphSnapshot, Investigation, InvestigationSeverity, InvestigationStatus};
    let Some(s) = TestServer::on(backend).await else { return };
    send_failing_traces(&s, 30).await;
    s.wait_for("default", |c| c.spans == 120 && c.logs == 50).await;
    map_with_edges(&s, 2).await;
    eventually(|| async { (s.graph().queued() == 0).then_some(()) }).await.expect("graph queue drains");
    let get = |path: String, tenant: Option<&'static str>| {
        let s = &s;
        async move {
            let (status, body) = s.get_json(&path, tenant).await;
            assert_eq!(status, 200, "{path}: {body}");
            body
        }
    };
    let hour = "time_range=1h";

    let map = get(format!("/api/metrics/service-map?{hour}"), None).await;
    let mut nodes: Vec<(&str, &str)> = map["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| (n["name"].as_str().unwrap(), n["kind"].as_str().unwrap()))
        .collect();
    nodes.sort();
    assert_eq!(nodes, [("checkout", "service"), ("frontend", "service"), ("postgresql:orders", "database")], "{map}");
    let db_edge = map["edges"].as_array().unwrap().iter().find(|e| e["target"] == "postgresql:orders").unwrap();
    assert_eq!((db_edge["client"]["calls"].as_u64(), db_edge["client"]["errors"].as_u64()), (Some(30), Some(10)));
    assert!((db_edge["client"]["error_rate"].as_f64().unwrap() - 1.0 / 3.0).abs() < 1e-9);
    let deps = get(format!("/api/metrics/service-map?{hour}&service=checkout&direction=downstream"), None).await;
    assert_eq!(deps["nodes"].as_array().unwrap().len(), 2, "{deps}");

    let system = get(format!("/api/system/graph?{hour}"), None).await;
    assert_eq!(system["system"]["total_services"], 2, "{system}");
    let front = system["nodes"].as_array().unwrap().iter().find(|n| n["id"] == "frontend").unwrap();
    assert_eq!((front["type"].as_str(), front["status"].as_str()), (Some("service"), Some("critical")), "{front}");
    assert!(front["alerts"][0].as_str().unwrap().starts_with("error rate 33.3 %"), "{front}");

    let impact = get(format!("/api/graph/impact?{hour}&service=postgresql:orders"), None).await;
    let up: Vec<(&str, u64)> = impact["upstream"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| (n["name"].as_str().unwrap(), n["hops"].as_u64().unwrap()))
        .collect();
    assert_eq!((impact["kind"].as_str(), up), (Some("database"), vec![("checkout", 1), ("frontend", 2)]));
    let path = get(format!("/api/graph/path?{hour}&from=frontend&to=postgresql:orders"), None).await;
    let hops: Vec<&str> = path["edges"].as_array().unwrap().iter().map(|e| e["target"].as_str().unwrap()).collect();
    assert_eq!(hops, ["checkout", "postgresql:orders"]);

    let chains = get(format!("/api/graph/error-chains?{hour}&service=frontend&limit=5"), None).await;
    assert_eq!(chains["chains"].as_array().unwrap().len(), 5, "{chains}");
    let origin = chains["chains"][0]["hops"].as_array().unwrap().last().unwrap().clone();
    assert_eq!((origin["service"].as_str(), origin["message"].as_str()), (Some("checkout"), Some("deadlock detected")));
    assert_eq!(origin["peer"].as_str(), Some("postgresql:orders"));
    let trace_id = chains["chains"][0]["trace_id"].as_str().unwrap().to_owned();

    let signals = get(format!("/api/graph/signals?{hour}&service=checkout"), None).await;
    let logged = signals["error_logs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["template"].as_str().is_some_and(|t| t.starts_with("deadlock detected while saving order")))
        .unwrap_or_else(|| panic!("{signals}"))
        .clone();
    assert_eq!(logged["count"], 10);
    let template = logged["template_id"].as_str().unwrap();
    let similar = get(format!("/api/graph/similar-errors?{hour}&template_id={template}"), None).await;
    assert!(
        similar["similar"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["template"].as_str().unwrap().starts_with("checkout of order")),
        "{similar}"
    );
    let anomalies = get("/api/graph/anomalies?time_range=24h".into(), None).await;
    assert!(anomalies["anomalies"].is_array(), "{anomalies}");

    let graph = get(format!("/api/traces/{trace_id}/graph"), None).await;
    assert_eq!(graph["spans"].as_array().unwrap().len(), 4, "{graph}");
    assert_eq!(graph["services"], serde_json::json!(["checkout", "frontend"]));
    assert!(graph["spans"].as_array().unwrap().iter().any(|s| s["critical"] == true));

    // Investigations and snapshots, stored as the graph stores them.
    let tenant = TenantId::parse("default").unwrap();
    let now = now_ns() as i64;
    for (n, severity) in [(1, InvestigationSeverity::Warning), (2, InvestigationSeverity::Critical)] {
        let inv = Investigation {
            id: format!("inv-{n}"),
            created_ns: now - 1_000 + n,
            updated_ns: now - 1_000 + n,
            status: InvestigationStatus::Detected,
            severity,
            kind: "error_rate_spike".into(),
            trigger_service: "frontend".into(),
            trigger_operation: "op-0".into(),
            root_service: "checkout".into(),
            root_operation: "op-2".into(),
            summary: format!("investigation {n}"),
            evidence: serde_json::json!({"candidates": []}),
        };
        s.storage.save_investigation(&tenant, &inv).await.unwrap();
        let snap = GraphSnapshot {
            id: format!("snap-{n}"),
            created_ns: now - 1_000 + n,
            service_count: 2,
            edge_count: 2,
            total_calls: 60,
            avg_health_score: 0.5,
            graph: serde_json::json!({"nodes": [], "edges": []}),
        };
        s.storage.save_snapshot(&tenant, &snap).await.unwrap();
    }
    let page = get("/api/investigations?limit=1".into(), None).await;
    assert_eq!(page["investigations"][0]["id"], "inv-2", "{page}");
    let cursor = page["next_cursor"].as_str().unwrap().to_owned();
    let page = get(format!("/api/investigations?limit=1&cursor={cursor}"), None).await;
    assert_eq!((page["investigations"][0]["id"].as_str(), page["next_cursor"].is_null()), (Some("inv-1"), true));
    let critical = get("/api/investigations?severity=critical&service=checkout".into(), None).await;
    assert_eq!(critical["investigations"].as_array().unwrap().len(), 1, "{critical}");
    let one = get("/api/investigations/inv-1".into(), None).await;
    assert_eq!((one["severity"].as_str(), one["root_service"].as_str()), (Some("warning"), Some("checkout")));
    let at = get(format!("/api/graph/snapshots?at={}&limit=1", now - 1_000 + 1), None).await;
    assert_eq!(at["snapshots"][0]["id"], "snap-1", "{at}");
    let one = get("/api/graph/snapshots/snap-2".into(), None).await;
    assert_eq!(one["total_calls"], 60);

    // Other tenants see none of it; unknown nodes are 404, bad parameters 400.
    let other = get(format!("/api/metrics/service-map?{hour}"), Some("other")).await;
    assert_eq!(other["nodes"], serde_json::json!([]));
    assert_eq!(get("/api/investigations".into(), Some("other")).await["investigations"], serde_json::json!([]));
    for (path, want) in [
        ("/api/investigations/inv-1".to_owned(), 404),
        ("/api/graph/snapshots/snap-1".to_owned(), 404),
        (format!("/api/traces/{trace_id}/graph"), 404),
        (format!("/api/graph/impact?{hour}&service=checkout"), 404),
    ] {
        assert_eq!(s.get_json(&path, Some("other")).await.0, want, "{path} as another tenant");
    }
    for (path, want) in [
        (format!("/api/graph/impact?{hour}&service=check"), 404),
        (format!("/api/graph/impact?{hour}"), 400),
        (format!("/api/graph/impact?{hour}&service=checkout&depth=0"), 400),
        ("/api/metrics/service-map?time_range=2h".to_owned(), 400),
        (format!("/api/metrics/service-map?{hour}&direction=sideways"), 400),
        (format!("/api/graph/error-chains?{hour}&service=frontend&limit=500"), 400),
        (format!("/api/graph/similar-errors?{hour}&template_id=xyz"), 400),
        ("/api/graph/anomalies?time_range=48h".to_owned(), 400),
        ("/api/traces/abc/graph".to_owned(), 400),
        ("/api/investigations?severity=bad".to_owned(), 400),
        ("/api/investigations?cursor=forged".to_owned(), 400),
        ("/api/graph/snapshots?at=1&end=2".to_owned(), 400),
        ("/api/investigations/nope".to_owned(), 404),
    ] {
        let (status, body) = s.get_json(&path, None).await;
        assert_eq!(status, want, "{path}: {body}");
        assert!(body["error"].is_string(), "{path}: {body}");
    }
}
