use super::*;
use crate::services::test_support::{clock_at, tenant};
use otelcontext_ports::MockIntelligenceStore;
use otelcontext_ports::conformance::fixtures::{T0, text_log};
use otelcontext_telemetry::Telemetry;

fn batch(t: &str, bodies: &[&str]) -> TenantBatch {
    let mut b = TenantBatch::new(tenant(t));
    b.logs = bodies.iter().enumerate().map(|(i, body)| text_log(i as i64 + 1, "svc", body)).collect();
    b
}

fn fixed_clock() -> Arc<dyn Clock> {
    clock_at(Arc::new(std::sync::atomic::AtomicI64::new(T0 + 1_000)))
}

fn service(store: MockIntelligenceStore, t: &Telemetry) -> TemplateService {
    TemplateService::new(Arc::new(store), fixed_clock(), DrainConfig::default(), &t.meter())
}

#[tokio::test]
async fn every_log_gets_its_template_id_per_tenant() {
    let t = Telemetry::new();
    let s = service(MockIntelligenceStore::new(), &t);
    let mut batches = vec![
        batch("a", &["job 1 started on node-3", "job 2 started on node-7", "disk full"]),
        batch("b", &["job 9 started on node-1"]),
    ];
    batches[0].logs.push({
        let mut l = text_log(9, "svc", "x");
        l.body = None;
        l
    });
    s.assign(&mut batches);
    let a = &batches[0].logs;
    assert!(a[0].template_id.is_some());
    assert_eq!(a[0].template_id, a[1].template_id, "one shape, one template");
    assert_ne!(a[0].template_id, a[2].template_id);
    assert_eq!(a[3].template_id, None, "no body, no template");
    // Tenants mine apart; the same first form hashes to the same id in each.
    assert!(batches[1].logs[0].template_id.is_some());
    let text = t.render();
    assert!(text.contains("otelcontext_drain_lines_total 4"), "{text}");
    assert!(text.contains("otelcontext_drain_templates 3"), "{text}");
}

#[tokio::test]
async fn changed_templates_are_flushed_once_and_a_failed_flush_is_retried() {
    let mut store = MockIntelligenceStore::new();
    let mut calls = 0;
    store.expect_upsert_templates().times(2).returning(move |tenant, templates| {
        calls += 1;
        assert_eq!(tenant.as_str(), "a");
        assert_eq!(templates.len(), 1);
        let t = &templates[0];
        assert_eq!(t.template, "job <*> started on <*>");
        assert_eq!((t.count, t.first_seen_ns, t.last_seen_ns), (2, T0 + 1, T0 + 2));
        assert_eq!(t.sample, "job 1 started on node-3");
        assert_eq!(t.service, "svc");
        if calls == 1 { Err(StorageError::Unavailable("down".into())) } else { Ok(()) }
    });
    let t = Telemetry::new();
    let s = service(store, &t);
    s.assign(&mut [batch("a", &["job 1 started on node-3", "job 2 started on node-7"])]);
    assert!(s.flush().await.is_err());
    assert!(t.render().contains("otelcontext_drain_flush_failures_total 1"));
    assert_eq!(s.flush().await.unwrap(), 1, "kept for the next flush");
    assert_eq!(s.flush().await.unwrap(), 0, "nothing changed since");
}

#[tokio::test]
async fn restored_templates_keep_ids_and_counts_and_the_cap_keeps_the_newest() {
    let stored = vec![
        LogTemplate {
            id: TemplateId(42),
            template: "job <*> started on <*>".into(),
            count: 10,
            first_seen_ns: 1,
            last_seen_ns: 50,
            sample: "job 1 started on node-3".into(),
            service: "svc".into(),
            ..LogTemplate::default()
        },
        LogTemplate {
            id: TemplateId(7),
            template: "old shape nobody sends".into(),
            count: 3,
            first_seen_ns: 1,
            last_seen_ns: 2,
            sample: "old shape nobody sends".into(),
            service: "svc".into(),
            ..LogTemplate::default()
        },
    ];
    let mut store = MockIntelligenceStore::new();
    store.expect_list_templates().returning(move |_| Ok(stored.clone()));
    store.expect_upsert_templates().returning(|_, templates| {
        assert_eq!(templates[0].id, TemplateId(42));
        assert_eq!(templates[0].count, 11, "counts continue");
        assert_eq!(templates[0].first_seen_ns, 1);
        Ok(())
    });
    let t = Telemetry::new();
    let s = TemplateService::new(
        Arc::new(store),
        fixed_clock(),
        DrainConfig { max_clusters: 1, ..DrainConfig::default() },
        &t.meter(),
    );
    assert_eq!(s.restore(&[tenant("a")]).await.unwrap(), 2);
    let mut b = [batch("a", &["job 5 started on node-2"])];
    s.assign(&mut b);
    assert_eq!(b[0].logs[0].template_id, Some(TemplateId(42)), "the restored id is used");
    assert_eq!(s.flush().await.unwrap(), 1);
    assert!(t.render().contains("otelcontext_drain_templates 1"), "the older one fell to the cap");
}

#[tokio::test]
async fn the_per_tenant_cap_evicts_and_counts() {
    let t = Telemetry::new();
    let s = TemplateService::new(
        Arc::new(MockIntelligenceStore::new()),
        fixed_clock(),
        DrainConfig { max_clusters: 2, ..DrainConfig::default() },
        &t.meter(),
    );
    s.assign(&mut [batch("a", &["alpha", "beta gamma", "delta epsilon zeta", "eta theta iota kappa"])]);
    let text = t.render();
    assert!(text.contains("otelcontext_drain_templates 2"), "{text}");
    assert!(text.contains("otelcontext_drain_templates_evicted_total 2"), "{text}");
}

/// Logs of `service` with `body` at `T0 + at_ns[i]`, at severity `level`.
fn logs_at(t: &str, service_name: &str, level: i32, body: &str, at_ns: &[i64]) -> TenantBatch {
    let mut b = TenantBatch::new(tenant(t));
    b.logs = at_ns
        .iter()
        .map(|at| {
            let mut l = text_log(*at, service_name, body);
            l.severity_number = level;
            l
        })
        .collect();
    b
}

#[tokio::test]
async fn patterns_keep_services_severities_and_flag_a_spike_until_it_ends() {
    const MIN: i64 = 60_000_000_000;
    let written: Arc<Mutex<Vec<LogTemplate>>> = Default::default();
    let mut store = MockIntelligenceStore::new();
    let sink = written.clone();
    store.expect_upsert_templates().returning(move |_, templates| {
        sink.lock().extend_from_slice(templates);
        Ok(())
    });
    let now = Arc::new(std::sync::atomic::AtomicI64::new(T0 + 120 * MIN));
    let t = Telemetry::new();
    let s = TemplateService::new(Arc::new(store), clock_at(now.clone()), DrainConfig::default(), &t.meter());
    // Two records a minute for the first 115 minutes: a steady template, first seen long ago.
    let steady: Vec<i64> = (0..115).flat_map(|m| [m * MIN, m * MIN + 1]).collect();
    s.assign(&mut [logs_at("a", "api", 9, "request served in 5 ms", &steady)]);
    s.assign(&mut [logs_at("a", "worker", 17, "request served in 7 ms", &[115 * MIN])]);
    s.flush().await.unwrap();
    let last = written.lock().last().cloned().unwrap();
    assert_eq!(last.services, ["api", "worker"]);
    assert_eq!((last.severities.info, last.severities.error), (230, 1));
    assert!(!last.spiking, "steady");
    assert!(!last.flags(T0 + 120 * MIN).new, "first seen two hours ago");
    // Then 30 a minute for the last five minutes: at least 3x the trailing hour.
    let burst: Vec<i64> = (115..120).flat_map(|m| (0..30).map(move |i| m * MIN + i)).collect();
    s.assign(&mut [logs_at("a", "api", 9, "request served in 9 ms", &burst)]);
    s.flush().await.unwrap();
    assert!(written.lock().last().unwrap().spiking, "spiking");
    written.lock().clear();
    // Ten minutes later with nothing new: the flag is written back as ended.
    now.store(T0 + 130 * MIN, std::sync::atomic::Ordering::Relaxed);
    assert_eq!(s.flush().await.unwrap(), 1);
    assert!(!written.lock()[0].spiking, "the spike ended");
    assert_eq!(s.flush().await.unwrap(), 0, "nothing changed since");
}
