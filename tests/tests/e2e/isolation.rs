//! Tenant isolation over every route of the API, enumerated from the committed OpenAPI document
//! (a route added to the spec without a case here fails the test): tenant `b`, calling each
//! route with tenant `a`'s identifiers, sees nothing of `a`; and `a`, calling the same route,
//! does get its data.

use crate::payloads::*;
use opentelemetry_proto::tonic::trace::v1::{Span, Status};
use otelcontext_domain::{GraphSnapshot, Investigation, InvestigationSeverity, InvestigationStatus, TenantId};
use otelcontext_e2e::{Backend, TestServer, config_from, eventually};
use std::collections::BTreeSet;
use std::time::Duration;

const ADMIN: &str = "admin-key-for-isolation";

fn now_ns() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64
}

/// A 16-byte trace id of a tenant: its marker byte, then `n`.
pub(crate) fn tid(marker: u8, n: u8) -> Vec<u8> {
    let mut id = vec![marker; 15];
    id.push(n);
    id
}

fn sid(marker: u8, n: u8) -> Vec<u8> {
    let mut id = vec![marker; 7];
    id.push(n);
    id
}

/// Ten traces `<name>svc` → `<name>pay`, every third failing in `<name>pay`, with error logs
/// `<name>secret …`, a gauge `<name>metric`, an investigation and a snapshot.
pub(crate) async fn tenant_data(s: &TestServer, tenant: &str, name: &str, marker: u8) {
    let h = [("x-tenant-id", tenant)];
    let start = now_ns() - 2_000_000_000;
    let (mut front, mut back, mut lines) = (Vec::new(), Vec::new(), Vec::new());
    for n in 1..=10u8 {
        let fail = n % 3 == 0;
        let span = |id: u8, parent: Option<u8>, kind: i32, offset: u64, ms: u64, failed: bool| Span {
            trace_id: tid(marker, n),
            span_id: sid(marker, n * 10 + id),
            parent_span_id: parent.map(|p| sid(marker, n * 10 + p)).unwrap_or_default(),
            name: format!("{name}op"),
            kind,
            start_time_unix_nano: start + offset,
            end_time_unix_nano: start + offset + ms * 1_000_000,
            status: Some(Status { code: if failed { 2 } else { 1 }, message: String::new() }),
            ..Default::default()
        };
        front.push(span(0, None, 2, 0, 50, fail));
        front.push(span(1, Some(0), 3, 1_000_000, 40, fail));
        back.push(span(2, Some(1), 2, 2_000_000, 30, fail));
        let mut line = log_record(0, if fail { 17 } else { 9 }, &format!("{name}secret order {n} failed"));
        line.time_unix_nano = start + 3_000_000;
        line.trace_id = tid(marker, n);
        line.span_id = sid(marker, n * 10 + 2);
        lines.push(line);
    }
    let front_svc = format!("{name}svc");
    let back_svc = format!("{name}pay");
    assert_eq!(post_proto(s, "/v1/traces", &traces(&front_svc, front), &h).await.status, 200);
    assert_eq!(post_proto(s, "/v1/traces", &traces(&back_svc, back), &h).await.status, 200);
    assert_eq!(post_proto(s, "/v1/logs", &logs(&back_svc, lines), &h).await.status, 200);
    let mut gauge = gauge(&front_svc, &format!("{name}metric"), &[1.0, 2.0]);
    for p in gauge.resource_metrics[0].scope_metrics[0].metrics[0].data.iter_mut() {
        if let opentelemetry_proto::tonic::metrics::v1::metric::Data::Gauge(g) = p {
            for (i, dp) in g.data_points.iter_mut().enumerate() {
                dp.time_unix_nano = start + i as u64;
            }
        }
    }
    assert_eq!(post_proto(s, "/v1/metrics", &gauge, &h).await.status, 200);
    s.wait_for(tenant, |c| c.spans == 30 && c.logs >= 10 && c.metric_points == 2).await;
    let t = TenantId::parse(tenant).unwrap();
    let now = now_ns() as i64;
    let inv = Investigation {
        id: format!("inv-{name}"),
        created_ns: now - 1_000,
        updated_ns: now - 1_000,
        status: InvestigationStatus::Detected,
        severity: InvestigationSeverity::Critical,
        kind: "error_rate_spike".into(),
        trigger_service: front_svc.clone(),
        trigger_operation: format!("{name}op"),
        root_service: back_svc.clone(),
        root_operation: format!("{name}op"),
        summary: format!("{name}secret errors rose"),
        evidence: serde_json::json!({"candidates": [{"service": back_svc}]}),
    };
    s.storage.save_investigation(&t, &inv).await.unwrap();
    let snap = GraphSnapshot {
        id: format!("snap-{name}"),
        created_ns: now - 1_000,
        service_count: 2,
        edge_count: 1,
        total_calls: 10,
        avg_health_score: 0.7,
        graph: serde_json::json!({"nodes": [front_svc, back_svc]}),
    };
    s.storage.save_snapshot(&t, &snap).await.unwrap();
    // The TSDB's bucket of the gauge, as its next flush would write it.
    let bucket = otelcontext_domain::MetricBucket {
        name: format!("{name}metric"),
        service: front_svc,
        attributes: otelcontext_domain::Attributes::new(),
        start_ns: otelcontext_domain::bucket::bucket_start(start as i64, otelcontext_domain::bucket::BUCKET_WIDTH_NS),
        width_ns: otelcontext_domain::bucket::BUCKET_WIDTH_NS,
        count: 2,
        sum: 3.0,
        min: 1.0,
        max: 2.0,
        last: 2.0,
        last_ns: start as i64 + 1,
        histogram: otelcontext_domain::BucketHistogram::None,
    };
    s.storage.write_buckets(&t, &[bucket]).await.unwrap();
}

/// What the caller `a` must see of its own data on a route.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Own {
    /// 200 and a marker of `a` in the body (besides what the request itself names).
    Shown,
    /// 200 (the route answers numbers or status, or may rightly be empty).
    Answered,
}

/// One call of the table: method, path and query with `a`'s identifiers.
struct Call {
    method: &'static str,
    path: String,
    query: String,
    own: Own,
}

/// The body with every value the request itself named removed (an answer may echo them).
fn without_request_values(body: &str, call: &Call) -> String {
    let mut out = body.to_owned();
    let values = call.query.split('&').filter_map(|kv| kv.split_once('=').map(|(_, v)| v.to_owned()));
    let segments = call.path.split('/').map(str::to_owned);
    for v in values.chain(segments).filter(|v| v.len() > 2) {
        out = out.replace(&v, "");
    }
    out
}

/// Markers of tenant `a`: its names and its ids in hex.
pub(crate) fn shows_a(text: &str) -> bool {
    text.to_ascii_lowercase().contains("alpha") || text.contains(&"aa".repeat(8))
}

async fn call(s: &TestServer, c: &Call, tenant: &str) -> (u16, String) {
    let url = s.url(&format!("/api{}{}{}", c.path, if c.query.is_empty() { "" } else { "?" }, c.query));
    let req = match c.method {
        "get" => s.http.get(url),
        "post" => s.http.post(url),
        "delete" => s.http.delete(url),
        other => panic!("method {other}"),
    };
    let r = req.header("x-tenant-id", tenant).header("x-admin-key", ADMIN).send().await.unwrap();
    let status = r.status().as_u16();
    let body = if c.path == "/logs/tail" {
        // A stream: what arrives within a second.
        let mut r = r;
        let mut text = String::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(1);
        while let Ok(Ok(Some(chunk))) = tokio::time::timeout_at(deadline, r.chunk()).await {
            text.push_str(&String::from_utf8_lossy(&chunk));
        }
        text
    } else {
        r.text().await.unwrap()
    };
    (status, body)
}

otelcontext_e2e::on_both_databases!(2, no_route_shows_one_tenant_anything_of_another);

async fn no_route_shows_one_tenant_anything_of_another(backend: Backend) {
    let config = config_from(&[("ADMIN_API_KEY", ADMIN)]);
    let Some(s) = TestServer::on_with(backend, config).await else { return };
    tenant_data(&s, "a", "alpha", 0xaa).await;
    tenant_data(&s, "b", "bravo", 0xbb).await;
    s.templates().flush().await.unwrap();
    eventually(|| async { (s.graph().queued() == 0).then_some(()) }).await.expect("graph queue drains");
    let ta = TenantId::parse("a").unwrap();
    let now = now_ns() as i64;
    eventually(|| async {
        let map = s.graph().service_map(&ta, now - 3_600_000_000_000, now + 60_000_000_000);
        (!map.edges.is_empty()).then_some(())
    })
    .await
    .expect("a's graph settles");

    // a's identifiers, read as a.
    let (_, logs) = s.get_json("/api/logs?q=alphasecret&limit=1", Some("a")).await;
    let log_id = logs["logs"][0]["id"].as_i64().unwrap_or_else(|| panic!("{logs}"));
    let (_, patterns) = s.get_json("/api/patterns?service_name=alphapay", Some("a")).await;
    let template_id =
        patterns["patterns"][0]["template_id"].as_str().unwrap_or_else(|| panic!("{patterns}")).to_owned();
    let trace = hex(&tid(0xaa, 3));

    let w = "time_range=1h";
    let calls = vec![
        ("searchTraces", Call { method: "get", path: "/traces".into(), query: w.into(), own: Own::Shown }),
        ("getTrace", Call { method: "get", path: format!("/traces/{trace}"), query: String::new(), own: Own::Shown }),
        (
            "getTraceGraph",
            Call { method: "get", path: format!("/traces/{trace}/graph"), query: String::new(), own: Own::Shown },
        ),
        ("searchLogs", Call { method: "get", path: "/logs".into(), query: "q=order".into(), own: Own::Shown }),
        ("getLog", Call { method: "get", path: format!("/logs/{log_id}"), query: String::new(), own: Own::Shown }),
        (
            "getLogContext",
            Call { method: "get", path: "/logs/context".into(), query: format!("id={log_id}"), own: Own::Shown },
        ),
        (
            "getSimilarLogs",
            Call { method: "get", path: "/logs/similar".into(), query: "q=order failed".into(), own: Own::Shown },
        ),
        ("tailLogs", Call { method: "get", path: "/logs/tail".into(), query: String::new(), own: Own::Answered }),
        ("searchPatterns", Call { method: "get", path: "/patterns".into(), query: String::new(), own: Own::Shown }),
        (
            "getPattern",
            Call { method: "get", path: format!("/patterns/{template_id}"), query: String::new(), own: Own::Shown },
        ),
        (
            "listServices",
            Call { method: "get", path: "/metadata/services".into(), query: String::new(), own: Own::Shown },
        ),
        (
            "listOperations",
            Call {
                method: "get",
                path: "/metadata/operations".into(),
                query: "service_name=alphasvc".into(),
                own: Own::Shown,
            },
        ),
        (
            "listMetricNames",
            Call { method: "get", path: "/metadata/metrics".into(), query: String::new(), own: Own::Shown },
        ),
        (
            "getMetricSeries",
            Call { method: "get", path: "/metrics".into(), query: format!("name=alphametric&{w}"), own: Own::Shown },
        ),
        ("getDashboard", Call { method: "get", path: "/metrics/dashboard".into(), query: w.into(), own: Own::Shown }),
        ("getTraffic", Call { method: "get", path: "/metrics/traffic".into(), query: w.into(), own: Own::Answered }),
        (
            "getLatencyHeatmap",
            Call { method: "get", path: "/metrics/latency_heatmap".into(), query: w.into(), own: Own::Answered },
        ),
        (
            "getServiceMap",
            Call { method: "get", path: "/metrics/service-map".into(), query: w.into(), own: Own::Shown },
        ),
        ("getSystemGraph", Call { method: "get", path: "/system/graph".into(), query: w.into(), own: Own::Shown }),
        ("getRootCauses", Call { method: "get", path: "/rca".into(), query: w.into(), own: Own::Answered }),
        (
            "getImpact",
            Call {
                method: "get",
                path: "/graph/impact".into(),
                query: format!("service=alphasvc&{w}"),
                own: Own::Shown,
            },
        ),
        (
            "getCallPath",
            Call {
                method: "get",
                path: "/graph/path".into(),
                query: format!("from=alphasvc&to=alphapay&{w}"),
                own: Own::Answered,
            },
        ),
        (
            "getErrorChains",
            Call {
                method: "get",
                path: "/graph/error-chains".into(),
                query: format!("service=alphasvc&{w}"),
                own: Own::Shown,
            },
        ),
        (
            "getCorrelatedSignals",
            Call {
                method: "get",
                path: "/graph/signals".into(),
                query: format!("service=alphapay&{w}"),
                own: Own::Shown,
            },
        ),
        (
            "getAnomalyTimeline",
            Call { method: "get", path: "/graph/anomalies".into(), query: "time_range=24h".into(), own: Own::Answered },
        ),
        (
            "getSimilarErrors",
            Call {
                method: "get",
                path: "/graph/similar-errors".into(),
                query: format!("template_id={template_id}&{w}"),
                own: Own::Shown,
            },
        ),
        (
            "listInvestigations",
            Call { method: "get", path: "/investigations".into(), query: String::new(), own: Own::Shown },
        ),
        (
            "getInvestigation",
            Call { method: "get", path: "/investigations/inv-alpha".into(), query: String::new(), own: Own::Shown },
        ),
        (
            "listSnapshots",
            Call { method: "get", path: "/graph/snapshots".into(), query: String::new(), own: Own::Shown },
        ),
        (
            "getSnapshot",
            Call { method: "get", path: "/graph/snapshots/snap-alpha".into(), query: String::new(), own: Own::Shown },
        ),
        ("getStats", Call { method: "get", path: "/stats".into(), query: String::new(), own: Own::Answered }),
        ("getStorageStatus", Call { method: "get", path: "/storage".into(), query: String::new(), own: Own::Answered }),
        ("getHealth", Call { method: "get", path: "/health".into(), query: String::new(), own: Own::Answered }),
        (
            "exportTelemetry",
            Call { method: "get", path: "/export".into(), query: "signal=logs".into(), own: Own::Shown },
        ),
        ("vacuum", Call { method: "post", path: "/admin/vacuum".into(), query: String::new(), own: Own::Answered }),
        // Last: b purges what it may (its own data), then a checks its own is intact.
        (
            "purgeTenant",
            Call { method: "delete", path: "/admin/purge".into(), query: "days=0".into(), own: Own::Answered },
        ),
    ];

    // Every operation of the spec has a case, and every case is an operation of the spec.
    let spec: serde_json::Value = serde_yaml::from_str(
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../openapi/openapi.yaml")).unwrap(),
    )
    .unwrap();
    let mut in_spec = BTreeSet::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            in_spec.insert((op["operationId"].as_str().unwrap().to_owned(), method.clone(), path.clone()));
        }
    }
    let ids: BTreeSet<String> = in_spec.iter().map(|(id, _, _)| id.clone()).collect();
    let cased: BTreeSet<String> = calls.iter().map(|(id, _)| (*id).to_owned()).collect();
    assert_eq!(ids, cased, "every operation of openapi/openapi.yaml needs a case here (and only those)");
    for (id, c) in &calls {
        let (_, method, _) = in_spec.iter().find(|(i, _, _)| i == id).unwrap();
        assert_eq!(method, c.method, "{id}");
    }

    for (id, c) in &calls {
        if *id == "purgeTenant" {
            continue;
        }
        // a sees its own data.
        let (status, body) = call(&s, c, "a").await;
        assert_eq!(status, 200, "{id} as a: {body}");
        if c.own == Own::Shown {
            assert!(shows_a(&without_request_values(&body, c)), "{id} as a shows a's data: {body}");
        }
        // b sees none of it: an empty answer or 404, never a's names or ids.
        let (status, body) = call(&s, c, "b").await;
        assert!(status == 200 || status == 404, "{id} as b: {status} {body}");
        assert!(!shows_a(&without_request_values(&body, c)), "{id} as b leaks a's data: {body}");
        if c.path.contains(&trace)
            || c.path.ends_with("-alpha")
            || c.path.contains(&template_id)
            || c.path == format!("/logs/{log_id}")
        {
            assert_eq!(status, 404, "{id}: a's record by id is not found as b");
        }
    }
    let before = s.counts("a").await;
    let (_, purge) = calls.iter().find(|(id, _)| *id == "purgeTenant").unwrap();
    let (status, body) = call(&s, purge, "b").await;
    assert_eq!(status, 200, "{body}");
    assert!(!shows_a(&without_request_values(&body, purge)), "{body}");
    assert_eq!(s.counts("b").await.spans, 0, "b purged its own data");
    let after = s.counts("a").await;
    assert_eq!(
        (after.traces, after.spans, after.logs, after.metric_points),
        (before.traces, before.spans, before.logs, before.metric_points)
    );
    let (_, inv) = s.get_json("/api/investigations/inv-alpha", Some("a")).await;
    assert_eq!(inv["id"], "inv-alpha", "a's investigation survives b's purge");
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
