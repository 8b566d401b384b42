//! Probes and Prometheus metrics through the real HTTP port.

use crate::payloads::*;
use otelcontext_e2e::{TestServer, config_from, eventually};
use otelcontext_memory::MemoryStorage;
use std::sync::Arc;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ready_reports_the_failing_database_and_recovers() {
    let storage = Arc::new(MemoryStorage::new());
    let s = TestServer::start_on(config_from(&[]), storage.clone()).await;
    let (status, body) = s.get_json("/live", None).await;
    assert_eq!((status, body), (200, serde_json::json!({"status": "alive"})));
    assert_eq!(s.get_json("/ready", None).await.0, 200);
    storage.set_failing(true);
    let (status, body) = s.get_json("/ready", None).await;
    assert_eq!(status, 503);
    assert_eq!(body["ready"], false);
    assert!(body["checks"]["database"].as_str().unwrap().contains("simulated outage"), "{body}");
    assert_eq!(body["checks"]["pipeline"], "ok");
    assert_eq!(body["checks"]["service_graph"], "ok", "{body}");
    assert_eq!(s.get_json("/live", None).await.0, 200, "liveness does not depend on the database");
    // /api/health tells the same, with the reason, version and uptime (200 either way).
    let (status, body) = s.get_json("/api/health", None).await;
    assert_eq!((status, body["ready"].as_bool()), (200, Some(false)), "{body}");
    let db = body["checks"].as_array().unwrap().iter().find(|c| c["name"] == "database").unwrap().clone();
    assert_eq!(db["status"], "failed");
    assert!(db["detail"].as_str().unwrap().contains("simulated outage"));
    storage.set_failing(false);
    assert_eq!(s.get_json("/ready", None).await.0, 200);
    let (_, body) = s.get_json("/api/health", None).await;
    assert_eq!((body["ready"].as_bool(), body["version"].as_str()), (Some(true), Some(env!("CARGO_PKG_VERSION"))));
    // Public even when keys are configured.
    let keyed = TestServer::start_with(config_from(&[("API_KEY", "k3y-for-tests")])).await;
    assert_eq!(keyed.get_json("/api/health", None).await.0, 200);
    assert_eq!(keyed.get_json("/api/stats", None).await.0, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_exposes_db_up_ingest_counters_and_http_latency_by_route_and_status() {
    let s = TestServer::start().await;
    grpc_traces(&s, healthy_traces(1, 3), &[]).await.unwrap();
    post_proto(&s, "/v1/logs", &logs("svc", vec![log_record(1, 9, "hello")]), &[]).await;
    grpc_metrics(&s, gauge("svc", "cpu", &[0.5]), &[]).await.unwrap();
    s.wait_for("default", |c| c.spans == 3 && c.logs == 1 && c.metric_points == 1).await;
    s.get_json("/api/stats", None).await;
    let text = eventually(|| async {
        let r = s.http.get(s.url("/metrics/prometheus")).send().await.ok()?;
        assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/plain; version=0.0.4"));
        let t = r.text().await.ok()?;
        t.contains(r#"otelcontext_ingest_stored_total{signal="metrics"} 1"#).then_some(t)
    })
    .await
    .expect("metrics exposed");
    for needle in [
        r#"otelcontext_db_up{driver="sqlite"} 1"#,
        r#"otelcontext_ingest_received_total{signal="traces",transport="grpc"} 3"#,
        r#"otelcontext_ingest_received_total{signal="logs",transport="http"} 1"#,
        r#"otelcontext_ingest_received_total{signal="metrics",transport="grpc"} 1"#,
        r#"otelcontext_ingest_stored_total{signal="traces"} 3"#,
        r#"otelcontext_ingest_stored_total{signal="logs"} 1"#,
        r#"otelcontext_http_requests_total{method="POST",route="/v1/logs",status="200"} 1"#,
        r#"otelcontext_http_requests_total{method="GET",route="/api/stats",status="200"} 1"#,
        r#"otelcontext_http_request_duration_seconds_bucket{method="GET",route="/api/stats",status="200","#,
        r#"otelcontext_grpc_requests_total{code="Ok",method="TraceService/Export"} 1"#,
        r#"otelcontext_ingest_duration_seconds_count{signal="traces"} 1"#,
        "otelcontext_ingest_pipeline_queue_capacity 50000",
        "process_resident_memory_bytes",
    ] {
        assert!(text.contains(needle), "missing {needle}");
    }
    // Every sample line has a HELP and TYPE for its family.
    for family in
        text.lines().filter(|l| !l.starts_with('#') && !l.is_empty()).map(|l| l.split(['{', ' ']).next().unwrap())
    {
        let base = family.trim_end_matches("_bucket").trim_end_matches("_sum").trim_end_matches("_count");
        assert!(text.contains(&format!("# TYPE {base} ")) || text.contains(&format!("# TYPE {family} ")), "{family}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_filters_apply_to_every_signal_and_are_reported() {
    let s =
        TestServer::start_with(config_from(&[("INGEST_EXCLUDED_SERVICES", "noisy"), ("INGEST_MIN_SEVERITY", "WARN")]))
            .await;
    let resp = grpc_traces(&s, traces("noisy", vec![span(1, 0, false, 1)]), &[]).await.unwrap();
    assert_eq!(resp.partial_success.unwrap().rejected_spans, 1);
    grpc_traces(&s, traces("quiet", vec![span(2, 0, false, 1)]), &[]).await.unwrap();
    grpc_logs(&s, logs("quiet", vec![log_record(1, 9, "info is below WARN"), log_record(2, 13, "warn is kept")]), &[])
        .await
        .unwrap();
    grpc_metrics(&s, gauge("noisy", "cpu", &[1.0]), &[]).await.unwrap();
    let c = s.wait_for("default", |c| c.spans == 1 && c.logs == 1).await;
    assert_eq!(c.metric_points, 0);
    let m = s.metrics_text();
    assert!(m.contains(r#"otelcontext_ingest_rejected_total{reason="service_filtered",signal="traces"} 1"#), "{m}");
    assert!(m.contains(r#"otelcontext_ingest_rejected_total{reason="severity_filtered",signal="logs"} 1"#));
    assert!(m.contains(r#"otelcontext_ingest_rejected_total{reason="service_filtered",signal="metrics"} 1"#));
}
