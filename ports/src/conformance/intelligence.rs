//! Conformance cases of [`crate::IntelligenceStore`].

use super::fixtures::*;
use crate::storage::{InvestigationQuery, SnapshotQuery, Storage, TemplateQuery, TemplateSort, TimeRange};
use otelcontext_domain::{
    Activity, GraphSnapshot, Investigation, InvestigationSeverity, InvestigationStatus, LogTemplate, SeverityMix,
    TemplateId,
};
use serde_json::json;
use std::collections::HashSet;

fn template(id: u64, count: u64, first: i64, last: i64, text: &str) -> LogTemplate {
    LogTemplate {
        id: TemplateId(id),
        template: text.into(),
        count,
        first_seen_ns: T0 + first,
        last_seen_ns: T0 + last,
        sample: format!("{text} (sample)"),
        service: "api".into(),
        services: vec!["api".into()],
        ..LogTemplate::default()
    }
}

/// Templates are inserted, merged when upserted again, listed by id, and kept per tenant.
pub async fn templates_are_upserted_merged_and_listed(st: &dyn Storage) {
    let (a, b) = (tenant("a"), tenant("b"));
    let first = vec![template(u64::MAX - 1, 10, 0, 100, "user <*> logged in"), template(1, 3, 5, 50, "disk <*> full")];
    st.upsert_templates(&a, &first).await.unwrap();
    let mut listed = st.list_templates(&a).await.unwrap();
    listed.sort_by_key(|t| t.id);
    let mut want = first.clone();
    want.sort_by_key(|t| t.id);
    assert_eq!(listed, want);
    let later = template(1, 8, 20, 500, "disk <*> almost full");
    st.upsert_templates(&a, std::slice::from_ref(&later)).await.unwrap();
    let mut merged = first[1].clone();
    merged.merge(&later);
    assert_eq!(st.get_template(&a, TemplateId(1)).await.unwrap(), Some(merged));
    assert_eq!(st.list_templates(&a).await.unwrap().len(), 2);
    assert!(st.list_templates(&b).await.unwrap().is_empty());
    assert_eq!(st.get_template(&b, TemplateId(1)).await.unwrap(), None);
}

/// A template's pattern fields (services, severity mix, activity, spiking) round-trip and merge:
/// counters keep the larger value, services are united, the later activity and flag win.
pub async fn template_pattern_fields_round_trip_and_merge(st: &dyn Storage) {
    let a = tenant("a");
    let mut first = template(9, 10, 0, 100, "GET <*> took <*> ms");
    first.services = vec!["api".into(), "web\u{0}\"quoted\"".into()];
    first.severities = SeverityMix { info: 7, error: 3, ..Default::default() };
    first.activity = Activity::from_minutes([(28_000_000, 4), (28_000_001, 6)]);
    first.spiking = true;
    st.upsert_templates(&a, std::slice::from_ref(&first)).await.unwrap();
    let got = st.get_template(&a, first.id).await.unwrap().unwrap();
    assert_eq!(got.severities, first.severities);
    assert_eq!(got.activity, first.activity);
    assert!(got.spiking);
    assert_eq!(got.services.len(), 2);
    let mut later = template(9, 12, 10, 200, "GET <*> took <*> ms");
    later.services = vec!["worker".into()];
    later.severities = SeverityMix { info: 9, warn: 1, ..Default::default() };
    later.activity = Activity::from_minutes([(28_000_002, 2)]);
    later.spiking = false;
    st.upsert_templates(&a, std::slice::from_ref(&later)).await.unwrap();
    let got = st.get_template(&a, first.id).await.unwrap().unwrap();
    assert_eq!(got.severities, SeverityMix { info: 9, warn: 1, error: 3, ..Default::default() });
    assert_eq!(got.activity, later.activity);
    assert!(!got.spiking);
    assert_eq!(got.services.len(), 3);
    assert!(got.services.contains(&"worker".to_owned()) && got.services.contains(&"api".to_owned()));
    assert_eq!((got.count, got.first_seen_ns, got.last_seen_ns), (12, T0, T0 + 200));
}

/// Pattern search filters by service, time, first seen and the spiking flag, orders by count or
/// last seen, and pages without gaps — the same answer as [`TemplateQuery::matches`].
pub async fn template_search_filters_orders_and_pages(st: &dyn Storage) {
    let (a, b) = (tenant("a"), tenant("b"));
    let mut all = Vec::new();
    for n in 0..30u64 {
        let mut t = template(n + 1, 100 - n % 7, n as i64 * 10, n as i64 * 10 + 50, &format!("event {n} <*>"));
        t.services = match n % 3 {
            0 => vec!["api".into()],
            1 => vec!["api".into(), "worker".into()],
            _ => vec!["worker".into()],
        };
        t.spiking = n % 5 == 0;
        all.push(t);
    }
    st.upsert_templates(&a, &all).await.unwrap();
    st.upsert_templates(&b, &all[..3]).await.unwrap();
    let queries = [
        TemplateQuery { limit: 100, ..Default::default() },
        TemplateQuery { service: Some("worker".into()), limit: 100, ..Default::default() },
        TemplateQuery { service: Some("nope".into()), limit: 100, ..Default::default() },
        TemplateQuery { spiking_only: true, limit: 100, ..Default::default() },
        TemplateQuery { first_seen_since_ns: Some(T0 + 200), limit: 100, ..Default::default() },
        TemplateQuery { time: TimeRange::between(T0 + 100, T0 + 120), limit: 100, ..Default::default() },
        TemplateQuery { sort: TemplateSort::LastSeen, service: Some("api".into()), limit: 100, ..Default::default() },
    ];
    for q in queries {
        let got: Vec<TemplateId> = st.search_templates(&a, &q).await.unwrap().items.iter().map(|t| t.id).collect();
        let mut want: Vec<&LogTemplate> = all.iter().filter(|t| q.matches(t)).collect();
        want.sort_by_key(|t| std::cmp::Reverse((q.sort_key(t), t.id.as_i64())));
        assert_eq!(got, want.iter().map(|t| t.id).collect::<Vec<_>>(), "{q:?}");
    }
    let counts: Vec<u64> = st
        .search_templates(&a, &TemplateQuery { limit: 5, ..Default::default() })
        .await
        .unwrap()
        .items
        .iter()
        .map(|t| t.count)
        .collect();
    assert_eq!(counts, [100, 100, 100, 100, 100], "most records first");
    let paged = all_pages(
        |cursor| {
            let q = TemplateQuery { limit: 7, cursor, ..Default::default() };
            let a = &a;
            async move { st.search_templates(a, &q).await }
        },
        nothing,
    )
    .await;
    assert_eq!(paged.iter().map(|t| t.id).collect::<HashSet<_>>().len(), 30);
    let in_b = st.search_templates(&b, &TemplateQuery { limit: 100, ..Default::default() }).await.unwrap();
    assert_eq!(in_b.items.len(), 3, "another tenant's templates stay out");
}

pub(super) fn investigation(
    n: i64,
    service: &str,
    status: InvestigationStatus,
    severity: InvestigationSeverity,
) -> Investigation {
    Investigation {
        id: format!("inv_{n:04}"),
        created_ns: T0 + n * 1_000,
        updated_ns: T0 + n * 1_000 + 5,
        status,
        severity,
        kind: "error_rate_spike".into(),
        trigger_service: service.into(),
        trigger_operation: "GET /x".into(),
        root_service: "db".into(),
        root_operation: "SELECT".into(),
        summary: format!("errors rose on {service}"),
        evidence: json!({"trace_ids": ["a0"], "score": 0.9, "candidates": [{"service": "db", "score": 0.9}]}),
    }
}

/// Investigations round-trip, are replaced by id, filter by status, severity, service and time,
/// and page newest first.
pub async fn investigations_round_trip_filter_and_page(st: &dyn Storage) {
    let t = &tenant("acme");
    use InvestigationSeverity::*;
    use InvestigationStatus::*;
    for n in 0..12 {
        let service = if n % 3 == 0 { "checkout" } else { "api" };
        let status = if n < 4 { Resolved } else { Detected };
        let severity = if n % 2 == 0 { Critical } else { Warning };
        st.save_investigation(t, &investigation(n, service, status, severity)).await.unwrap();
    }
    let mut updated = investigation(5, "api", Triaged, Info);
    updated.evidence = json!({"note": "triaged by on-call"});
    st.save_investigation(t, &updated).await.unwrap();
    assert_eq!(st.get_investigation(t, "inv_0005").await.unwrap(), Some(updated));
    assert_eq!(st.get_investigation(t, "inv_9999").await.unwrap(), None);
    assert_eq!(st.get_investigation(&tenant("other"), "inv_0005").await.unwrap(), None);
    let q = InvestigationQuery { limit: 100, ..InvestigationQuery::default() };
    let ids = |q: InvestigationQuery| async move {
        st.search_investigations(t, &q).await.unwrap().items.into_iter().map(|i| i.id).collect::<Vec<_>>()
    };
    let all = ids(q.clone()).await;
    assert_eq!(all.len(), 12);
    assert_eq!(all[0], "inv_0011", "newest first");
    assert_eq!(ids(InvestigationQuery { status: Some(Resolved), ..q.clone() }).await.len(), 4);
    assert_eq!(ids(InvestigationQuery { min_severity: Some(Critical), ..q.clone() }).await.len(), 6);
    assert_eq!(ids(InvestigationQuery { min_severity: Some(Warning), ..q.clone() }).await.len(), 11, "one is info");
    assert_eq!(ids(InvestigationQuery { service: Some("checkout".into()), ..q.clone() }).await.len(), 4);
    assert_eq!(ids(InvestigationQuery { service: Some("db".into()), ..q.clone() }).await.len(), 12, "root service");
    let window = TimeRange::between(T0 + 2_000, T0 + 3_000);
    assert_eq!(ids(InvestigationQuery { time: window, ..q.clone() }).await, vec!["inv_0003", "inv_0002"]);
    let q0 = &q;
    let paged = all_pages(
        |cursor| {
            let q = InvestigationQuery { limit: 5, cursor, ..q0.clone() };
            async move { st.search_investigations(t, &q).await }
        },
        nothing,
    )
    .await;
    assert_eq!(paged.iter().map(|i| i.id.clone()).collect::<HashSet<_>>().len(), 12);
}

/// Snapshots round-trip, page newest first and stay in their tenant.
pub async fn snapshots_round_trip_and_page(st: &dyn Storage) {
    let t = &tenant("acme");
    for n in 0..7 {
        let snap = GraphSnapshot {
            id: format!("snap_{n}"),
            created_ns: T0 + n * 900_000_000_000,
            service_count: n as u64,
            edge_count: 2 * n as u64,
            total_calls: 1_000 * n as u64,
            avg_health_score: 0.5 + n as f64 / 100.0,
            graph: json!({"nodes": [{"id": "api"}], "edges": []}),
        };
        st.save_snapshot(t, &snap).await.unwrap();
    }
    let got = st.get_snapshot(t, "snap_3").await.unwrap().unwrap();
    assert_eq!((got.service_count, got.edge_count, got.total_calls), (3, 6, 3_000));
    assert_eq!(got.graph, json!({"nodes": [{"id": "api"}], "edges": []}));
    assert_eq!(st.get_snapshot(&tenant("other"), "snap_3").await.unwrap(), None);
    let paged = all_pages(
        |cursor| {
            let q = SnapshotQuery { limit: 3, cursor, ..SnapshotQuery::default() };
            async move { st.search_snapshots(t, &q).await }
        },
        nothing,
    )
    .await;
    assert_eq!(
        paged.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(),
        vec!["snap_6", "snap_5", "snap_4", "snap_3", "snap_2", "snap_1", "snap_0"]
    );
}
