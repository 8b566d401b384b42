//! The query API's read routes through the real server, on both databases.

use crate::payloads::*;
use otelcontext_e2e::{Backend, TestServer};

otelcontext_e2e::on_both_databases!(2, traces_are_searched_by_service_status_duration_and_attribute);

/// Trace numbers of a search answer, in its order.
fn numbers(body: &serde_json::Value) -> Vec<u64> {
    body["traces"]
        .as_array()
        .unwrap_or_else(|| panic!("{body}"))
        .iter()
        .map(|t| {
            let id = t["trace_id"].as_str().unwrap();
            (0..100u64).find(|n| hex(&trace_id(*n)) == id).expect("a trace of this test")
        })
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

async fn traces_are_searched_by_service_status_duration_and_attribute(backend: Backend) {
    let Some(s) = TestServer::on(backend).await else { return };
    // Traces 1-6: checkout (1-3) and search (4-6); 2 and 5 fail; trace n lasts n * 100 ms; trace 3
    // has a child span with route=/pay.
    let mut checkout = Vec::new();
    let mut search = Vec::new();
    for n in 1..=6u64 {
        let root = span(n, 0, n == 2 || n == 5, n * 100);
        if n <= 3 { checkout.push(root) } else { search.push(root) }
    }
    let mut child = span(3, 1, false, 10);
    child.attributes.push(kv("http.route", "/pay"));
    checkout.push(child);
    for (service, spans) in [("checkout", checkout), ("search", search)] {
        assert_eq!(post_proto(&s, "/v1/traces", &traces(service, spans), &[]).await.status, 200);
    }
    s.wait_for("default", |c| c.spans == 7).await;
    let start = T0.to_string();
    let search = |q: String| {
        let s = &s;
        let start = start.clone();
        async move {
            let (status, body) = s.get_json(&format!("/api/traces?start={start}&{q}"), None).await;
            assert_eq!(status, 200, "{q}: {body}");
            body
        }
    };
    assert_eq!(numbers(&search(String::new()).await), [6, 5, 4, 3, 2, 1], "newest first");
    assert_eq!(numbers(&search("service_name=checkout".into()).await), [3, 2, 1]);
    assert_eq!(numbers(&search("status=error".into()).await), [5, 2]);
    assert_eq!(numbers(&search("min_duration=250ms&max_duration=450ms".into()).await), [4, 3]);
    assert_eq!(numbers(&search("attribute=http.route%3D/pay".into()).await), [3]);
    assert_eq!(numbers(&search("sort_by=duration&order_by=desc&limit=2".into()).await), [6, 5]);
    let first = search("service_name=search&status=ok".into()).await;
    assert_eq!(numbers(&first), [6, 4]);
    let t = &first["traces"][0];
    assert_eq!(
        (t["service_name"].as_str(), t["duration_ms"].as_f64(), t["span_count"].as_u64()),
        (Some("search"), Some(600.0), Some(1))
    );

    // Pages of two, then the rest.
    let page = search("limit=2".into()).await;
    assert_eq!(numbers(&page), [6, 5]);
    let cursor = page["next_cursor"].as_str().unwrap().to_owned();
    let page = search(format!("limit=2&cursor={cursor}")).await;
    assert_eq!(numbers(&page), [4, 3]);
    // Another tenant cannot page with the default tenant's cursor, nor see its traces.
    let (status, _) = s.get_json(&format!("/api/traces?start={}&cursor={cursor}", T0), Some("other")).await;
    assert_eq!(status, 400);
    let (status, body) = s.get_json(&format!("/api/traces?start={}", T0), Some("other")).await;
    assert_eq!((status, numbers(&body)), (200, vec![]));
    // The default window is the last hour: these traces are older.
    let (_, body) = s.get_json("/api/traces", None).await;
    assert_eq!(numbers(&body), Vec::<u64>::new());
    for bad in ["status=broken", "min_duration=quick", "limit=0", "sort_by=status", "offset=20", "start=later"] {
        let (status, body) = s.get_json(&format!("/api/traces?{bad}"), None).await;
        assert_eq!(status, 400, "{bad}: {body}");
    }
}

otelcontext_e2e::on_both_databases!(2, dashboard_traffic_heat_map_and_metric_series);

async fn dashboard_traffic_heat_map_and_metric_series(backend: Backend) {
    let Some(s) = TestServer::on(backend).await else { return };
    // Traces 1-12, trace n lasts n * 10 ms; checkout roots 1-10 (3 and 7 fail), search 11-12.
    let checkout: Vec<_> = (1..=10u64).map(|n| span(n, 0, n == 3 || n == 7, n * 10)).collect();
    let search: Vec<_> = (11..=12u64).map(|n| span(n, 0, false, n * 10)).collect();
    for (service, spans) in [("checkout", checkout), ("search", search)] {
        assert_eq!(post_proto(&s, "/v1/traces", &traces(service, spans), &[]).await.status, 200);
    }
    s.wait_for("default", |c| c.spans == 12).await;
    let window = format!("start={T0}&end={}", T0 + 59_000_000_000);
    let get = |path: String, tenant: Option<&'static str>| {
        let s = &s;
        async move {
            let (status, body) = s.get_json(&path, tenant).await;
            assert_eq!(status, 200, "{path}: {body}");
            body
        }
    };
    let d = get(format!("/api/metrics/dashboard?{window}"), None).await;
    assert_eq!((d["total_traces"].as_u64(), d["total_errors"].as_u64()), (Some(12), Some(2)), "{d}");
    assert_eq!(d["error_rate"].as_f64().unwrap(), 2.0 / 12.0);
    assert_eq!(d["active_services"], 2);
    assert_eq!(d["avg_latency_ms"].as_f64(), Some(65.0));
    let p = |k: &str| d[k].as_f64().unwrap();
    // Each percentile is the midpoint of the duration bucket holding the exact value.
    let reported = |ms: i64| {
        use otelcontext_domain::dashboard::{bucket_of, representative};
        representative(bucket_of(ms * 1_000_000)) as f64 / 1e6
    };
    assert_eq!(
        (p("p50_latency_ms"), p("p95_latency_ms"), p("p99_latency_ms")),
        (reported(60), reported(120), reported(120))
    );
    assert!((reported(60) - 60.0).abs() <= 60.0 / 128.0);
    assert_eq!(
        d["top_failing_services"],
        serde_json::json!([{"service_name": "checkout", "error_count": 2, "total_count": 10, "error_rate": 0.2}])
    );
    let d = get(format!("/api/metrics/dashboard?{window}&service_name=search"), None).await;
    assert_eq!((d["total_traces"].as_u64(), d["p50_latency_ms"].as_f64()), (Some(2), Some(reported(110))));
    let d = get(format!("/api/metrics/dashboard?{window}"), Some("other")).await;
    assert_eq!((d["total_traces"].as_u64(), d["p99_latency_ms"].is_null()), (Some(0), true), "{d}");

    let t = get(format!("/api/metrics/traffic?{window}&step=1m"), None).await;
    assert_eq!(t["points"].as_array().unwrap().len(), 1, "{t}");
    let point = &t["points"][0];
    assert_eq!((point["count"].as_u64(), point["error_count"].as_u64()), (Some(12), Some(2)));
    assert_eq!(point["timestamp_unix_nano"].as_u64(), Some(T0));
    let h = get(format!("/api/metrics/latency_heatmap?{window}&service_name=checkout&service_name=search"), None).await;
    let cells: Vec<(f64, u64)> = h["cells"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["le_ms"].as_f64().unwrap(), c["count"].as_u64().unwrap()))
        .collect();
    assert_eq!(cells, [(10.0, 1), (20.0, 1), (50.0, 3), (100.0, 5), (200.0, 2)], "{h}");

    // Metric series: two 30 s buckets of one series merge into one 1 m point.
    let bucket = |start_ns: i64, value: f64| otelcontext_domain::MetricBucket {
        name: "queue.depth".into(),
        service: "checkout".into(),
        attributes: otelcontext_domain::Attributes::new(),
        start_ns,
        width_ns: 30_000_000_000,
        count: 2,
        sum: 2.0 * value,
        min: value,
        max: value,
        last: value,
        last_ns: start_ns,
        histogram: otelcontext_domain::BucketHistogram::None,
    };
    let t0 = T0 as i64;
    let tenant = otelcontext_domain::TenantId::parse("default").unwrap();
    s.storage.write_buckets(&tenant, &[bucket(t0, 1.0), bucket(t0 + 30_000_000_000, 4.0)]).await.unwrap();
    let m = get(format!("/api/metrics?name=queue.depth&{window}&step=1m"), None).await;
    let series = m["series"].as_array().unwrap();
    assert_eq!((series.len(), series[0]["service_name"].as_str()), (1, Some("checkout")), "{m}");
    let point = &series[0]["points"][0];
    assert_eq!(
        (point["count"].as_u64(), point["avg"].as_f64(), point["max"].as_f64(), point["last"].as_f64()),
        (Some(4), Some(2.5), Some(4.0), Some(4.0))
    );
    assert!(point["p50"].is_null(), "a gauge has no quantiles: {point}");
    let m = get(format!("/api/metrics?name=queue.depth&{window}"), Some("other")).await;
    assert_eq!(m["series"], serde_json::json!([]));

    let many = (0..21).map(|i| format!("service_name=s{i}")).collect::<Vec<_>>().join("&");
    for bad in [
        format!("/api/metrics?{window}"),
        format!("/api/metrics?name=queue.depth&{window}&step=1ns"),
        format!("/api/metrics/traffic?{window}&step=0s"),
        format!("/api/metrics/latency_heatmap?{window}&step=10ms"),
        format!("/api/metrics/dashboard?{window}&{many}"),
        "/api/metrics/dashboard?start=later".into(),
        format!("/api/metrics/dashboard?start={}&end={T0}", T0 + 1),
    ] {
        let (status, body) = s.get_json(&bad, None).await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert!(body["error"].is_string() && body["detail"].is_string(), "{bad}: {body}");
    }
}

otelcontext_e2e::on_both_databases!(2, services_operations_and_metric_names_are_listed);

async fn services_operations_and_metric_names_are_listed(backend: Backend) {
    let Some(s) = TestServer::on(backend).await else { return };
    let mut checkout = vec![span(1, 0, false, 10)];
    let mut child = span(1, 1, false, 5);
    child.name = "charge card".into();
    checkout.push(child);
    assert_eq!(post_proto(&s, "/v1/traces", &traces("checkout", checkout), &[]).await.status, 200);
    assert_eq!(post_proto(&s, "/v1/traces", &traces("search", vec![span(2, 0, false, 10)]), &[]).await.status, 200);
    assert_eq!(post_proto(&s, "/v1/metrics", &gauge("checkout", "queue.depth", &[1.0, 2.0]), &[]).await.status, 200);
    s.wait_for("default", |c| c.spans == 3 && c.metric_points == 2).await;
    let names = |path: &'static str, tenant: Option<&'static str>| {
        let s = &s;
        async move {
            let (status, body) = s.get_json(path, tenant).await;
            assert_eq!(status, 200, "{path}: {body}");
            serde_json::from_value::<Vec<String>>(body).unwrap()
        }
    };
    assert_eq!(names("/api/metadata/services", None).await, ["checkout", "search"]);
    assert_eq!(names("/api/metadata/operations?service_name=checkout", None).await, ["charge card", "op-0"]);
    assert_eq!(names("/api/metadata/metrics", None).await, ["queue.depth"]);
    assert_eq!(names("/api/metadata/metrics?service_name=search", None).await, Vec::<String>::new());
    assert_eq!(names("/api/metadata/services?limit=1", None).await, ["checkout"]);
    // The payloads are stamped long ago: a window of the last hour holds none of them.
    assert_eq!(names("/api/metadata/services?time_range=1h", None).await, Vec::<String>::new());
    assert_eq!(names("/api/metadata/services", Some("other")).await, Vec::<String>::new());
    assert_eq!(s.get_json("/api/metadata/operations", None).await.0, 400);
}

otelcontext_e2e::on_both_databases!(2, log_context_and_similar_logs);

async fn log_context_and_similar_logs(backend: Backend) {
    let Some(s) = TestServer::on(backend).await else { return };
    let bodies = [
        (9, "cache warmed"),
        (17, "connection refused by upstream db-1"),
        (13, "disk almost full on /var"),
        (17, "connection refused by upstream db-2"),
        (9, "request served"),
    ];
    let records = bodies.iter().enumerate().map(|(i, (sev, body))| log_record(i as u64 + 1, *sev, body)).collect();
    assert_eq!(post_proto(&s, "/v1/logs", &logs("api", records), &[]).await.status, 200);
    s.wait_for("default", |c| c.logs == 5).await;
    let (_, found) = s.get_json("/api/logs?q=disk", None).await;
    let id = found["logs"][0]["id"].as_i64().expect("the WARN line");
    let (status, around) = s.get_json(&format!("/api/logs/context?id={id}&limit=3"), None).await;
    assert_eq!(status, 200, "{around}");
    let got: Vec<&str> = around.as_array().unwrap().iter().map(|l| l["body"].as_str().unwrap()).collect();
    assert_eq!(
        got,
        ["connection refused by upstream db-1", "disk almost full on /var", "connection refused by upstream db-2"]
    );
    let (status, _) = s.get_json(&format!("/api/logs/context?id={id}"), Some("other")).await;
    assert_eq!(status, 404, "another tenant's record");

    // WARN and above are indexed as they are stored.
    let similar = otelcontext_e2e::eventually(|| async {
        let (status, body) = s.get_json("/api/logs/similar?q=connection%20refused%20by%20db", None).await;
        assert_eq!(status, 200, "{body}");
        (body["count"].as_u64() == Some(2)).then_some(body)
    })
    .await
    .expect("both refusals are found");
    let first = &similar["results"][0];
    assert!(first["body"].as_str().unwrap().starts_with("connection refused"), "{similar}");
    assert!(first["score"].as_f64().unwrap() > 0.3, "{similar}");
    let (_, none) = s.get_json("/api/logs/similar?q=connection%20refused", Some("other")).await;
    assert_eq!(none["count"], 0, "another tenant sees none");
}

otelcontext_e2e::on_both_databases!(2, log_patterns_are_listed_with_counts_samples_and_flags);

async fn log_patterns_are_listed_with_counts_samples_and_flags(backend: Backend) {
    let Some(s) = TestServer::on(backend).await else { return };
    // Three shapes from two services: 6 timeouts, 3 logins, 2 disk warnings.
    let mut n = 0;
    let mut line = |body: String, severity: i32| {
        n += 1;
        log_record(n, severity, &body)
    };
    let api: Vec<_> = (0..6).map(|i| line(format!("request {i} timed out after {}ms", 100 + i), 17)).collect();
    let mut auth: Vec<_> = (0..3).map(|i| line(format!("user u{i} logged in"), 9)).collect();
    auth.push(line("request 9 timed out after 900ms".into(), 17));
    let disk: Vec<_> = (0..2).map(|i| line(format!("disk /dev/sd{i} almost full"), 13)).collect();
    for (service, records) in [("api", api), ("auth", auth), ("api", disk)] {
        assert_eq!(post_proto(&s, "/v1/logs", &logs(service, records), &[]).await.status, 200);
    }
    s.wait_for("default", |c| c.logs == 12).await;
    s.templates().flush().await.unwrap();
    let (status, body) = s.get_json("/api/patterns", None).await;
    assert_eq!(status, 200, "{body}");
    let patterns = body["patterns"].as_array().unwrap();
    let counts: Vec<u64> = patterns.iter().map(|p| p["count"].as_u64().unwrap()).collect();
    assert_eq!(counts, [7, 3, 2], "most records first: {body}");
    let top = &patterns[0];
    assert!(top["template"].as_str().unwrap().contains("timed out"), "{top}");
    assert_eq!(top["services"], serde_json::json!(["api", "auth"]));
    assert_eq!(top["severity_counts"]["error"], 7);
    assert!(top["sample"].as_str().unwrap().starts_with("request "), "{top}");
    // Its records are found by its id.
    let id = top["template_id"].as_str().unwrap();
    let (_, found) = s.get_json(&format!("/api/logs?template_id={id}"), None).await;
    assert_eq!(found["logs"].as_array().unwrap().len(), 7);
    let (status, one) = s.get_json(&format!("/api/patterns/{id}"), None).await;
    assert_eq!((status, one["count"].as_u64()), (200, Some(7)));
    assert_eq!(s.get_json(&format!("/api/patterns/{id}"), Some("other")).await.0, 404);
    // By service, and paged.
    let (_, by_auth) = s.get_json("/api/patterns?service_name=auth", None).await;
    assert_eq!(by_auth["patterns"].as_array().unwrap().len(), 2);
    let (_, page) = s.get_json("/api/patterns?limit=2", None).await;
    let cursor = page["next_cursor"].as_str().unwrap();
    let (_, rest) = s.get_json(&format!("/api/patterns?limit=2&cursor={cursor}"), None).await;
    assert_eq!(rest["patterns"][0]["count"], 2);
    for bad in ["sort=random", "limit=0", "start=soon", "new=maybe"] {
        assert_eq!(s.get_json(&format!("/api/patterns?{bad}"), None).await.0, 400, "{bad}");
    }
    assert_eq!(s.get_json("/api/patterns/xyz", None).await.0, 400);
}

/// The live tail: server-sent events of records as they are stored, filtered, per tenant.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_live_tail_streams_stored_records_that_match_as_server_sent_events() {
    let s = TestServer::start().await;
    let mut tail = s.http.get(s.url("/api/logs/tail?severity=warn")).header("x-tenant-id", "a").send().await.unwrap();
    assert_eq!(tail.status().as_u16(), 200);
    assert!(tail.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
    // The tail is open once the server counts it.
    otelcontext_e2e::eventually(|| async { s.metrics_text().contains("otelcontext_api_log_tails 1").then_some(()) })
        .await
        .expect("the tail is open");
    let a = vec![log_record(1, 9, "an info line nobody tails"), log_record(2, 13, "disk almost full")];
    assert_eq!(post_proto(&s, "/v1/logs", &logs("api", a), &[("x-tenant-id", "a")]).await.status, 200);
    let b = vec![log_record(3, 17, "another tenant's error")];
    assert_eq!(post_proto(&s, "/v1/logs", &logs("api", b), &[("x-tenant-id", "b")]).await.status, 200);
    let c = vec![log_record(4, 17, "a second warning or worse")];
    assert_eq!(post_proto(&s, "/v1/logs", &logs("api", c), &[("x-tenant-id", "a")]).await.status, 200);

    let mut seen = String::new();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    // Two exports may be committed by two pipeline workers in either order.
    while !(seen.contains("a second warning or worse") && seen.contains("disk almost full")) {
        let chunk = tokio::time::timeout_at(deadline, tail.chunk()).await.expect("events in time").unwrap().unwrap();
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    let events: Vec<serde_json::Value> =
        seen.lines().filter_map(|l| l.strip_prefix("data: ")).map(|d| serde_json::from_str(d).unwrap()).collect();
    let mut bodies: Vec<&str> = events.iter().map(|e| e["log"]["body"].as_str().unwrap()).collect();
    bodies.sort_unstable();
    assert_eq!(bodies, ["a second warning or worse", "disk almost full"], "{seen}");
    assert!(seen.contains("event: log"), "{seen}");
    assert_eq!(events[0]["kind"], "log");
    drop(tail);
    let (status, body) = s.get_json("/api/logs/tail?severity=loud", None).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid severity")));
}

otelcontext_e2e::on_both_databases!(2, admin_purge_empties_only_the_callers_tenant);

/// `DELETE /api/admin/purge` needs the admin key, acts on the caller's tenant only and empties
/// every table of it; `POST /api/admin/vacuum` answers; without `ADMIN_API_KEY` both are off.
async fn admin_purge_empties_only_the_callers_tenant(backend: Backend) {
    const ADMIN: &str = "admin-key-for-tests";
    let config = otelcontext_e2e::config_from(&[("ADMIN_API_KEY", ADMIN)]);
    let Some(s) = TestServer::on_with(backend, config).await else { return };
    for tenant in ["a", "b"] {
        let h = [("x-tenant-id", tenant)];
        assert_eq!(post_proto(&s, "/v1/traces", &healthy_traces(1, 3), &h).await.status, 200);
        let records = (0..4).map(|n| log_record(n, 9, &format!("user {n} signed in"))).collect();
        assert_eq!(post_proto(&s, "/v1/logs", &logs("auth", records), &h).await.status, 200);
        assert_eq!(post_proto(&s, "/v1/metrics", &gauge("auth", "queue.depth", &[1.0]), &h).await.status, 200);
        s.wait_for(tenant, |c| c.spans == 3 && c.logs == 4 && c.metric_points == 1).await;
    }
    let purge = |query: &str, key: Option<&str>, tenant: &str| {
        let mut req = s.http.delete(s.url(&format!("/api/admin/purge{query}"))).header("x-tenant-id", tenant);
        if let Some(k) = key {
            req = req.header("x-admin-key", k);
        }
        async move {
            let r = req.send().await.unwrap();
            (r.status().as_u16(), r.json::<serde_json::Value>().await.unwrap())
        }
    };
    assert_eq!(purge("?days=0", None, "a").await.0, 401);
    assert_eq!(purge("?days=0", Some("wrong"), "a").await.0, 401);
    for bad in ["?days=-1", "?days=0&before=2025-01-01T00:00:00Z", "?before=yesterday"] {
        let (status, body) = purge(bad, Some(ADMIN), "a").await;
        assert_eq!(status, 400, "{bad}: {body}");
    }
    // The default keeps the last 7 days: these records are from 2025, so they go too; first
    // with a cutoff before them, which deletes nothing.
    let (status, body) = purge(&format!("?before={}", T0 - 1), Some(ADMIN), "a").await;
    assert_eq!((status, body["total_deleted"].as_u64()), (200, Some(0)), "{body}");
    let (status, body) = purge("?days=0", Some(ADMIN), "a").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["tenant"], "a");
    assert_eq!(
        (
            body["deleted"]["traces"].as_u64(),
            body["deleted"]["logs"].as_u64(),
            body["deleted"]["metric_points"].as_u64()
        ),
        (Some(3), Some(4), Some(1)),
        "{body}"
    );
    let a = s.counts("a").await;
    assert_eq!((a.traces, a.spans, a.logs, a.metric_points), (0, 0, 0, 0));
    let b = s.counts("b").await;
    assert_eq!((b.traces, b.spans, b.logs, b.metric_points), (3, 3, 4, 1), "another tenant is untouched");
    let (_, services) = s.get_json("/api/metadata/services", Some("a")).await;
    assert_eq!(services, serde_json::json!([]));
    let (_, services) = s.get_json("/api/metadata/services", Some("b")).await;
    assert_eq!(services, serde_json::json!(["svc"]));
    assert!(s.metric_sum("otelcontext_admin_purged_rows_total").unwrap() >= 8.0);

    let vacuum = s.http.post(s.url("/api/admin/vacuum")).header("x-admin-key", ADMIN).send().await.unwrap();
    assert_eq!(vacuum.status().as_u16(), 200);
    assert_eq!(s.http.post(s.url("/api/admin/vacuum")).send().await.unwrap().status().as_u16(), 401);

    // Without ADMIN_API_KEY the admin routes are off.
    let off = TestServer::start().await;
    let r = off.http.delete(off.url("/api/admin/purge")).header("x-admin-key", ADMIN).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 403);
}

otelcontext_e2e::on_both_databases!(2, an_export_loads_again_into_another_tenant_unchanged);

/// `GET /api/export` streams a tenant's records as OTLP/JSON lines; posting them to `/v1/*` as
/// another tenant stores the same records, field by field.
async fn an_export_loads_again_into_another_tenant_unchanged(backend: Backend) {
    use otelcontext_ports::{LogQuery, LogSort, MetricQuery, SortOrder, SpanQuery};
    let Some(s) = TestServer::on(backend).await else { return };
    let a = [("x-tenant-id", "a")];
    // 1,200 spans (more than one exported line), logs of several bodies, gauges.
    let mut spans = Vec::new();
    for t in 1..=600u64 {
        let mut child = span(t, 1, false, 3);
        child.attributes.push(kv("http.route", "/pay"));
        spans.extend([span(t, 0, false, 5), child]);
    }
    assert_eq!(post_proto(&s, "/v1/traces", &traces("checkout", spans), &a).await.status, 200);
    let records = (0..50).map(|n| log_record(n, if n % 5 == 0 { 17 } else { 9 }, &format!("order {n} paid"))).collect();
    assert_eq!(post_proto(&s, "/v1/logs", &logs("checkout", records), &a).await.status, 200);
    assert_eq!(
        post_proto(&s, "/v1/metrics", &gauge("checkout", "queue.depth", &[1.0, 2.5, 4.0]), &a).await.status,
        200
    );
    let want = s.wait_for("a", |c| c.spans == 1_200 && c.logs == 50 && c.metric_points == 3).await;

    for (signal, path) in [("traces", "/v1/traces"), ("logs", "/v1/logs"), ("metrics", "/v1/metrics")] {
        let r =
            s.http.get(s.url(&format!("/api/export?signal={signal}"))).header("x-tenant-id", "a").send().await.unwrap();
        assert_eq!(r.status().as_u16(), 200, "{signal}");
        assert!(r.headers()["content-type"].to_str().unwrap().starts_with("application/x-ndjson"));
        let text = r.text().await.unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert!(!lines.is_empty(), "{signal}");
        if signal == "traces" {
            assert_eq!(lines.len(), 2, "1,000 spans a line");
        }
        for line in lines {
            let h = [("content-type", "application/json"), ("x-tenant-id", "b")];
            let answer = post(&s, path, &h, line.as_bytes().to_vec()).await;
            assert_eq!(answer.status, 200, "{signal}: {}", String::from_utf8_lossy(&answer.body));
        }
    }
    let got = s.wait_for("b", |c| c.spans == 1_200 && c.logs == 50 && c.metric_points == 3).await;
    assert_eq!((got.traces, got.error_traces), (want.traces, want.error_traces));

    let (ta, tb) =
        (otelcontext_domain::TenantId::parse("a").unwrap(), otelcontext_domain::TenantId::parse("b").unwrap());
    let spans = |t| {
        let q = SpanQuery { sort: SortOrder::OldestFirst, limit: 2_000, ..SpanQuery::default() };
        let st = s.storage.clone();
        async move { st.search_spans(&t, &q).await.unwrap().items }
    };
    let (sa, sb) = (spans(ta.clone()).await, spans(tb.clone()).await);
    assert_eq!(sa.len(), 1_200);
    assert_eq!(sa, sb, "every span field survives the round trip");
    let logs_of = |t| {
        let q = LogQuery { sort: LogSort::Oldest, limit: 100, ..LogQuery::default() };
        let st = s.storage.clone();
        async move {
            st.search_logs(&t, &q)
                .await
                .unwrap()
                .items
                .into_iter()
                .map(|l| otelcontext_domain::LogRecord { template_id: None, ..l.record })
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(logs_of(ta.clone()).await, logs_of(tb.clone()).await);
    let points = |t| {
        let q = MetricQuery { limit: 100, ..MetricQuery::default() };
        let st = s.storage.clone();
        async move { st.search_metric_points(&t, &q).await.unwrap().items }
    };
    assert_eq!(points(ta).await, points(tb).await);

    // A window narrows it; bad parameters are 400 before anything streams.
    let (status, _) = s.get_json(&format!("/api/export?signal=logs&start={}&end={}", T0, T0 + 9), Some("a")).await;
    assert_eq!(status, 200);
    let narrow = s
        .http
        .get(s.url(&format!("/api/export?signal=logs&start={}&end={}", T0, T0 + 9)))
        .header("x-tenant-id", "a")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let line: serde_json::Value = serde_json::from_str(narrow.lines().next().unwrap()).unwrap();
    assert_eq!(line["resourceLogs"][0]["scopeLogs"][0]["logRecords"].as_array().unwrap().len(), 10);
    for bad in ["/api/export", "/api/export?signal=profiles", "/api/export?signal=logs&start=later"] {
        assert_eq!(s.get_json(bad, Some("a")).await.0, 400, "{bad}");
    }
    let empty = s.http.get(s.url("/api/export?signal=traces")).header("x-tenant-id", "c").send().await.unwrap();
    assert_eq!((empty.status().as_u16(), empty.text().await.unwrap()), (200, String::new()));
}

/// The document and its page are served under `/api` without a key; a query parameter a route
/// does not take is refused rather than silently ignored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_spec_is_served_and_unknown_parameters_are_refused() {
    let s = TestServer::start_with(otelcontext_e2e::config_from(&[("API_KEY", "k3y-for-tests")])).await;
    let spec = s.http.get(s.url("/api/openapi.yaml")).send().await.unwrap();
    assert_eq!(spec.status().as_u16(), 200);
    let text = spec.text().await.unwrap();
    assert_eq!(text, std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../openapi/openapi.yaml")).unwrap());
    let docs = s.http.get(s.url("/api/docs")).send().await.unwrap();
    assert_eq!(docs.status().as_u16(), 200);
    let html = docs.text().await.unwrap();
    assert!(html.contains("rapi-doc") && html.contains("securitySchemes"), "the page embeds the whole document");
    assert_eq!(s.http.get(s.url("/api/stats")).send().await.unwrap().status().as_u16(), 401);
    for (path, name) in
        [("/api/traces?servce=checkout", "servce"), ("/api/logs/42?limit=1", "limit"), ("/api/stats?x=1", "x")]
    {
        let r = s.http.get(s.url(path)).bearer_auth("k3y-for-tests").send().await.unwrap();
        assert_eq!(r.status().as_u16(), 400, "{path}");
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["error"], "unknown parameter");
        assert!(body["detail"].as_str().unwrap().contains(name), "{body}");
    }
    let ok = s.http.get(s.url("/api/traces?service_name=checkout&limit=5")).bearer_auth("k3y-for-tests").send().await;
    assert_eq!(ok.unwrap().status().as_u16(), 200);
    // Request metrics are labelled by the spec's route, whatever the ids in the path.
    for id in ["5b8efff798038103d269b633813fc60c", "0af7651916cd43dd8448eb211c80319c"] {
        let r = s.http.get(s.url(&format!("/api/traces/{id}/graph"))).bearer_auth("k3y-for-tests").send().await;
        assert_eq!(r.unwrap().status().as_u16(), 404);
    }
    let m = s.metrics_text();
    assert!(m.contains(r#"route="/api/traces/{trace_id}/graph",status="404"} 2"#), "{m}");
}
