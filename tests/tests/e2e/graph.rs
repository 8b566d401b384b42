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
