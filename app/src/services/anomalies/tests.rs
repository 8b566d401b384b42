use super::*;
use crate::services::graph::GraphSettings;
use crate::services::test_support::{clock_at, tenant};
use otelcontext_domain::graph::trace::GraphSpan;
use otelcontext_domain::{Span, SpanKind};
use otelcontext_ports::conformance::fixtures::{T0, plain_span, tid16};
use otelcontext_ports::{MockIntelligenceStore, Page};
use otelcontext_telemetry::Telemetry;
use parking_lot::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};

const S: i64 = 1_000_000_000;
const MS: i64 = 1_000_000;

/// frontend → checkout; checkout takes `checkout_ms`; the trace starts `at` after T0.
fn trace(n: u16, at: i64, checkout_ms: i64) -> Vec<Span> {
    let t = tid16(n);
    let c = checkout_ms * MS;
    let mut server = plain_span(t, 3, Some(2), "checkout", "POST /checkout", at + 2 * MS, at + 2 * MS + c);
    server.kind = SpanKind::Server;
    vec![
        plain_span(t, 1, None, "frontend", "GET /", at, at + c + 5 * MS),
        plain_span(t, 2, Some(1), "frontend", "call checkout", at + MS, at + c + 3 * MS),
        server,
    ]
}

struct Rig {
    now: Arc<AtomicI64>,
    graph: Arc<GraphService>,
    service: AnomalyService,
    saved: Arc<Mutex<Vec<Investigation>>>,
    next: u16,
    telemetry: Telemetry,
}

fn settings() -> AnomalySettings {
    AnomalySettings {
        thresholds: Thresholds { baseline_ns: 10 * 60 * S, ..Thresholds::default() },
        ..AnomalySettings::default()
    }
}

fn rig(store: MockIntelligenceStore, saved: Arc<Mutex<Vec<Investigation>>>) -> Rig {
    let now = Arc::new(AtomicI64::new(T0));
    let telemetry = Telemetry::new();
    let graph = Arc::new(GraphService::new(GraphSettings::default(), clock_at(now.clone()), &telemetry.meter()));
    let service =
        AnomalyService::new(graph.clone(), Arc::new(store), clock_at(now.clone()), settings(), &telemetry.meter());
    Rig { now, graph, service, saved, next: 1, telemetry }
}

fn saving_store(saved: &Arc<Mutex<Vec<Investigation>>>) -> MockIntelligenceStore {
    let mut store = MockIntelligenceStore::new();
    let s = saved.clone();
    store.expect_save_investigation().returning(move |_, inv| {
        s.lock().push(inv.clone());
        Ok(())
    });
    store
}

impl Rig {
    /// Five traces a second from `from` to `to` seconds after T0; the clock moves to `to`.
    fn traffic(&mut self, from: i64, to: i64, checkout_ms: i64) {
        self.now.store(T0 + to * S, Ordering::Relaxed);
        let tenant = tenant("shop");
        for ms in (from * 1_000..to * 1_000).step_by(200) {
            let spans: Vec<(otelcontext_domain::TraceId, GraphSpan)> =
                trace(self.next, ms * MS, checkout_ms).iter().map(|s| (s.trace_id, GraphSpan::from(s))).collect();
            self.next = self.next.wrapping_add(1).max(1);
            self.graph.process(&tenant, spans);
        }
        self.graph.settle_all();
    }

    fn last_saved(&self, service: &str) -> Investigation {
        self.saved.lock().iter().rev().find(|i| i.trigger_service == service).cloned().expect("saved")
    }
}

#[tokio::test]
async fn a_slow_service_opens_one_investigation_per_service_and_kind_that_resolves_on_recovery() {
    let saved = Arc::new(Mutex::new(Vec::new()));
    let mut r = rig(saving_store(&saved), saved.clone());
    r.traffic(0, 600, 10);
    assert_eq!(r.service.run_once().await, Pass::default(), "steady traffic: nothing to investigate");
    r.traffic(600, 660, 200);
    let p = r.service.run_once().await;
    assert_eq!((p.opened, p.updated, p.resolved), (2, 0, 0), "checkout and the frontend that waits on it: {p:?}");
    let inv = r.last_saved("checkout");
    assert_eq!((inv.kind.as_str(), inv.status), ("latency_degradation", InvestigationStatus::Detected));
    assert_eq!(inv.root_service, "checkout", "{:#}", inv.evidence);
    assert_eq!(r.last_saved("frontend").root_service, "checkout", "the frontend's slowness is checkout's");
    let candidates = &inv.evidence["root_causes"]["candidates"];
    assert_eq!(candidates[0]["evidence"][0]["signal"], "self_time", "{:#}", inv.evidence);
    assert!(inv.evidence["anomaly"]["value"].as_f64().unwrap() > 100e6, "p95 in ns: {:#}", inv.evidence);
    assert!(inv.summary.starts_with("p95 latency of checkout"), "{}", inv.summary);

    // Still slow: the same investigations are updated, not duplicated.
    r.traffic(660, 670, 200);
    let p = r.service.run_once().await;
    assert_eq!((p.opened, p.updated), (0, 2));
    assert_eq!(r.last_saved("checkout").id, inv.id);
    let timeline = r.service.timeline(&tenant("shop"), T0, Some("checkout"), 10).await;
    assert_eq!(timeline.len(), 2, "two detections of checkout");
    assert!(timeline[0].at_ns > timeline[1].at_ns, "newest first");

    // Recovered: resolved once normal for the recovery period, then gone from the open set.
    r.traffic(670, 740, 10);
    let first = r.service.run_once().await;
    r.traffic(740, 760, 10);
    let second = r.service.run_once().await;
    assert_eq!(first.resolved + second.resolved, 2, "{first:?} {second:?}");
    let done = r.last_saved("checkout");
    assert_eq!((done.id, done.status), (inv.id, InvestigationStatus::Resolved));
    assert!(done.evidence["resolved_unix_nano"].as_i64().is_some());
    let text = r.telemetry.render();
    assert!(text.contains("otelcontext_graphrag_investigations_open 0"), "{text}");
    assert!(text.contains("otelcontext_graphrag_investigations_opened_total 2"), "{text}");
    assert!(text.contains("otelcontext_graphrag_anomalies_total{kind=\"latency_degradation\"} 4"), "{text}");
}

#[tokio::test]
async fn open_investigations_survive_a_restart_and_failed_saves_are_retried() {
    let saved = Arc::new(Mutex::new(Vec::new()));
    let mut store = MockIntelligenceStore::new();
    store.expect_search_investigations().returning(|t, q| {
        assert_eq!(q.status, Some(InvestigationStatus::Detected));
        let items = if t.as_str() == "shop" {
            vec![Investigation {
                id: "inv-before".into(),
                created_ns: T0,
                updated_ns: T0,
                status: InvestigationStatus::Detected,
                severity: InvestigationSeverity::Info,
                kind: "latency_degradation".into(),
                trigger_service: "checkout".into(),
                trigger_operation: String::new(),
                root_service: String::new(),
                root_operation: String::new(),
                summary: String::new(),
                evidence: json!({}),
            }]
        } else {
            Vec::new()
        };
        Ok(Page { items, next: None })
    });
    let failures = Arc::new(AtomicI64::new(1));
    let s = saved.clone();
    store.expect_save_investigation().returning(move |_, inv| {
        if failures.fetch_sub(1, Ordering::Relaxed) > 0 {
            return Err(StorageError::Unavailable("disk full".into()));
        }
        s.lock().push(inv.clone());
        Ok(())
    });
    let mut r = rig(store, saved.clone());
    assert_eq!(r.service.restore(&[tenant("shop"), tenant("other")]).await.unwrap(), 1);
    r.traffic(0, 600, 10);
    r.traffic(600, 660, 200);
    let p = r.service.run_once().await;
    assert_eq!((p.opened, p.updated), (1, 1), "checkout's was open before the restart: {p:?}");
    let ids: Vec<String> = saved.lock().iter().map(|i| i.id.clone()).collect();
    assert_eq!(ids.len(), 1, "one of the two saves failed: {ids:?}");
    r.traffic(660, 670, 200);
    r.service.run_once().await;
    assert!(saved.lock().iter().any(|i| i.id == "inv-before"), "the restored one is updated in place");
    assert!(r.telemetry.render().contains("otelcontext_graphrag_investigation_save_failures_total 1"));
}
