//! A synthetic shop of ten services (with a database, a cache, a message broker and an external
//! API) sends its traces over OTLP, one export per service as real services do, through the
//! real server: seven minutes of normal traffic, one trace a second, then a fault in the last
//! minute — a latency-only slowdown of a leaf service (no errors), a network delay on one
//! edge, or a service that starts to answer early (nothing slower, nothing failed). The anomaly loop must detect it and open investigations that name the faulty service as
//! the root cause, and `GET /api/rca` must rank it first, with the signal that says how it
//! changed and example traces that open.

use crate::payloads::*;
use opentelemetry_proto::tonic::trace::v1::{Span, Status};
use otelcontext_domain::{InvestigationStatus, TenantId};
use otelcontext_e2e::{TestServer, config_from, eventually};
use otelcontext_ports::InvestigationQuery;
use std::collections::BTreeMap;

const MS: u64 = 1_000_000;
const SECONDS: u64 = 480;
const FAULT_AT: u64 = 420;

fn now_ns() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64
}

/// A service call in the shop's call tree: the service, its own work, what it calls (in order),
/// and the peers (database, broker, external API) it calls, as CLIENT span attributes.
struct Node {
    service: &'static str,
    self_ms: u64,
    calls: Vec<Node>,
    peers: Vec<(&'static str, &'static str, u64)>,
}

fn n(service: &'static str, self_ms: u64, calls: Vec<Node>) -> Node {
    Node { service, self_ms, calls, peers: Vec::new() }
}

fn shop() -> Node {
    let mut cart = n("cart", 3, vec![]);
    cart.peers.push(("db.system", "redis", 1));
    let mut payment = n("payment", 10, vec![]);
    payment.peers.push(("db.system", "postgresql", 4));
    let mut shipping = n("shipping", 5, vec![]);
    shipping.peers.push(("server.address", "api.carrier.example", 20));
    let mut checkout = n("checkout", 6, vec![payment, shipping, n("email", 3, vec![])]);
    checkout.peers.push(("messaging.system", "kafka", 1));
    n(
        "frontend",
        5,
        vec![
            cart,
            n("catalog", 4, vec![]),
            n("currency", 2, vec![]),
            checkout,
            n("ads", 2, vec![]),
            n("recommendation", 4, vec![n("catalog", 4, vec![])]),
        ],
    )
}

/// What is wrong, from [`FAULT_AT`] on.
#[derive(Clone, Copy)]
enum Fault {
    /// This service's own work takes this much longer.
    Slow(&'static str, u64),
    /// Calls from the first service to the second spend this much longer on the network.
    Delay(&'static str, &'static str, u64),
    /// This service answers right after its first call (it throws, or acts on a wrong answer),
    /// without an error status and no slower.
    StopsEarly(&'static str),
}

struct Builder {
    trace: u64,
    next: u64,
    faulty: bool,
    fault: Fault,
    spans: BTreeMap<&'static str, Vec<Span>>,
}

impl Builder {
    fn id(&mut self) -> u64 {
        self.next += 1;
        self.trace * 1_000 + self.next
    }

    fn push(
        &mut self,
        service: &'static str,
        id: u64,
        parent: Option<u64>,
        kind: i32,
        start: u64,
        end: u64,
    ) -> &mut Span {
        let list = self.spans.entry(service).or_default();
        list.push(Span {
            trace_id: trace_id(self.trace),
            span_id: span_id(id),
            parent_span_id: parent.map(span_id).unwrap_or_default(),
            name: format!("{service} {}", if kind == 2 { "serve" } else { "call" }),
            kind,
            start_time_unix_nano: start,
            end_time_unix_nano: end,
            status: Some(Status::default()),
            ..Default::default()
        });
        list.last_mut().expect("pushed")
    }

    /// Lays out `node`'s SERVER span from `start` (its parent the caller's CLIENT span) and
    /// everything under it; returns when it ends.
    fn serve(&mut self, node: &Node, parent: Option<u64>, start: u64) -> u64 {
        let mut own = node.self_ms * MS;
        if self.faulty
            && let Fault::Slow(s, extra) = self.fault
            && s == node.service
        {
            own += extra * MS;
        }
        let server = self.id();
        let mut cursor = start + own / 2;
        for (key, value, ms) in &node.peers {
            let id = self.id();
            let client = self.push(node.service, id, Some(server), 3, cursor, cursor + ms * MS);
            client.name = format!("{} {value}", node.service);
            client.attributes = vec![kv(key, value)];
            cursor += ms * MS;
        }
        let stops_early = self.faulty && matches!(self.fault, Fault::StopsEarly(s) if s == node.service);
        for (i, callee) in node.calls.iter().enumerate() {
            if stops_early && i >= 1 {
                break;
            }
            let mut network = MS;
            if self.faulty
                && let Fault::Delay(from, to, extra) = self.fault
                && (from, to) == (node.service, callee.service)
            {
                network += extra * MS;
            }
            let client = self.id();
            let served_until = self.serve(callee, Some(client), cursor + network / 2);
            let end = served_until + network - network / 2;
            self.push(node.service, client, Some(server), 3, cursor, end);
            cursor = end;
        }
        let end = cursor + own - own / 2;
        self.push(node.service, server, parent, 2, start, end);
        end
    }
}

/// Traces each service exports at a time: every service sends a minute of its spans, then the
/// next minute follows, as exporters flushing on a timer do — so a trace's spans arrive within
/// one round of exports, well inside the graph's settle time even on a busy machine.
const TRACES_PER_EXPORT: u64 = 60;

/// Sends the shop's traffic of the last [`SECONDS`] (ending now) as `tenant`; returns the
/// number of spans.
async fn run_shop(s: &TestServer, tenant: &str, fault: Fault) -> u64 {
    let shop = shop();
    let begin = now_ns() - SECONDS * 1_000 * MS;
    let mut total = 0;
    for round in 0..SECONDS.div_ceil(TRACES_PER_EXPORT) {
        let mut spans = BTreeMap::<&'static str, Vec<Span>>::new();
        for sec in round * TRACES_PER_EXPORT..((round + 1) * TRACES_PER_EXPORT).min(SECONDS) {
            let mut b = Builder { trace: sec + 1, next: 0, faulty: sec >= FAULT_AT, fault, spans: BTreeMap::new() };
            b.serve(&shop, None, begin + sec * 1_000 * MS);
            for (service, list) in b.spans {
                total += list.len() as u64;
                spans.entry(service).or_default().extend(list);
            }
        }
        for (service, list) in spans {
            let answer = post_proto(s, "/v1/traces", &traces(service, list), &[("X-Tenant-ID", tenant)]).await;
            assert_eq!(answer.status, 200, "{service}");
        }
    }
    total
}

async fn root_causes(s: &TestServer, tenant: &str, fault: Fault) -> serde_json::Value {
    let spans = run_shop(s, tenant, fault).await;
    s.wait_for(tenant, |c| c.spans == spans).await;
    // Every stored span reaches the graph; fold the traces still settling.
    otelcontext_e2e::eventually(|| async { (s.graph().queued() == 0).then_some(()) })
        .await
        .expect("graph queue drains");
    s.graph().settle_all();
    let (status, body) = s.get_json("/api/rca?time_range=9m&service=frontend", Some(tenant)).await;
    assert_eq!(status, 200, "{body}");
    body
}

/// Waits until the anomaly loop has opened an investigation for each of `services`.
async fn investigations(s: &TestServer, tenant: &str, services: &[&str]) -> Vec<otelcontext_domain::Investigation> {
    let t = TenantId::parse(tenant).unwrap();
    let q = InvestigationQuery { status: Some(InvestigationStatus::Detected), limit: 100, ..Default::default() };
    let found = eventually(|| async {
        let page = s.storage.search_investigations(&t, &q).await.expect("investigations");
        let picked: Vec<_> =
            services.iter().filter_map(|svc| page.items.iter().find(|i| i.trigger_service == *svc).cloned()).collect();
        (picked.len() == services.len()).then_some(picked)
    })
    .await;
    found.unwrap_or_else(|| panic!("no investigation opened for {services:?} in {tenant}"))
}

fn top(body: &serde_json::Value) -> (&str, &str) {
    let c = &body["candidates"][0];
    (c["service"].as_str().unwrap_or_default(), c["evidence"][0]["signal"].as_str().unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_leaf_a_delayed_edge_and_an_early_answer_are_each_ranked_first() {
    let mut s = TestServer::start_with(config_from(&[("GRAPHRAG_ANOMALY_INTERVAL", "1s")])).await;

    let body = root_causes(&s, "leaf", Fault::Slow("payment", 150)).await;
    assert_eq!(top(&body), ("payment", "self_time"), "{body:#}");
    let change_at = body["change_at_unix_nano"].as_i64().unwrap();
    // The traffic ended a moment before the question (sending and storing it takes seconds).
    let fault_at = body["end_unix_nano"].as_i64().unwrap() - ((SECONDS - FAULT_AT) * 1_000 * MS) as i64;
    assert!((change_at - fault_at).abs() <= 20_000_000_000, "the change is found where the fault began: {body:#}");
    let example = body["candidates"][0]["example_trace_ids"][0].as_str().expect("an example trace").to_owned();
    let (status, trace) = s.get_json(&format!("/api/traces/{example}"), Some("leaf")).await;
    assert_eq!(status, 200, "the example trace opens");
    let payment_ms: f64 = trace["spans"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|sp| sp["service_name"] == "payment" && sp["kind"] == "SERVER")
        .map(|sp| sp["duration_ms"].as_f64().unwrap())
        .sum();
    assert!(payment_ms > 150.0, "the example shows the slow payment: {trace:#}");
    let others: Vec<f64> =
        body["candidates"].as_array().unwrap()[1..].iter().map(|c| c["score"].as_f64().unwrap()).collect();
    assert!(others.iter().all(|o| *o < body["candidates"][0]["score"].as_f64().unwrap() / 2.0), "{body:#}");

    // Detected by the anomaly loop: payment's own p95, and the frontend's that waits on it,
    // each with payment as the root cause.
    let opened = investigations(&s, "leaf", &["payment", "frontend"]).await;
    for inv in &opened {
        assert_eq!((inv.kind.as_str(), inv.root_service.as_str()), ("latency_degradation", "payment"), "{inv:?}");
    }

    let body = root_causes(&s, "network", Fault::Delay("checkout", "shipping", 120)).await;
    assert_eq!(top(&body), ("shipping", "edge_gap"), "{body:#}");
    assert_eq!(body["candidates"][0]["evidence"][0]["via"], "checkout");
    // Shipping itself is not slower; checkout, which waits on the network, is detected, and its
    // investigation blames the delayed edge's callee.
    let opened = investigations(&s, "network", &["checkout"]).await;
    assert_eq!(opened[0].root_service, "shipping", "{:?}", opened[0]);

    // The whole tenant, the same answer; an unknown service is a 404 that says so.
    let (status, whole) = s.get_json("/api/rca?time_range=9m", Some("network")).await;
    assert_eq!(status, 200);
    assert_eq!(top(&whole).0, "shipping", "{whole:#}");
    // A service that starts to answer early, with nothing slower and nothing failed: checkout
    // stops calling shipping and email after payment.
    let body = root_causes(&s, "early", Fault::StopsEarly("checkout")).await;
    assert_eq!(top(&body), ("checkout", "stops_early"), "{body:#}");
    let e = &body["candidates"][0]["evidence"][0];
    assert_eq!(
        (e["operation"].as_str(), &e["no_longer_calls"]),
        (Some("checkout serve"), &serde_json::json!(["email", "shipping"])),
        "{e:#}"
    );
    let example = body["candidates"][0]["example_trace_ids"][0].as_str().expect("an example trace").to_owned();
    let (status, trace) = s.get_json(&format!("/api/traces/{example}"), Some("early")).await;
    assert_eq!(status, 200, "the example trace opens");
    let services: Vec<&str> =
        trace["spans"].as_array().unwrap().iter().filter_map(|sp| sp["service_name"].as_str()).collect();
    assert!(
        services.contains(&"payment") && !services.contains(&"shipping"),
        "it shows an order that stopped short: {services:?}"
    );

    let (status, body) = s.get_json("/api/rca?service=nope", Some("network")).await;
    assert_eq!(status, 404, "{body}");
    let (status, _) = s.get_json("/api/rca?time_range=2h", Some("network")).await;
    assert_eq!(status, 400);
    s.shutdown().await;
}
