//! `API_KEY` protects OTLP over HTTP and gRPC and the query API; probes and metrics stay public.

use crate::payloads::*;
use crate::sdk::{Target, Transport};
use crate::sdk_traces::export_trace;
use otelcontext_e2e::{TestServer, config_from};

const KEY: &str = "k3y-for-tests";

async fn server() -> TestServer {
    TestServer::start_with(config_from(&[("API_KEY", KEY)])).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn http_requires_the_bearer_key_on_v1_and_api_only() {
    let s = server().await;
    let body = healthy_traces(1, 1);
    for (headers, want) in [
        (vec![], 401),
        (vec![("authorization", "Bearer wrong")], 401),
        (vec![("authorization", "Token k3y-for-tests")], 401),
        (vec![("authorization", "Bearer k3y-for-tests")], 200),
    ] {
        let a = post_proto(&s, "/v1/traces", &body, &headers).await;
        assert_eq!(a.status, want, "{headers:?}");
        if want == 401 {
            let v: serde_json::Value = serde_json::from_slice(&a.body).unwrap();
            assert_eq!(v, serde_json::json!({"error": "unauthorized"}));
        }
    }
    let (status, _) = s.get_json("/api/stats", None).await;
    assert_eq!(status, 401);
    let ok = s.http.get(s.url("/api/stats")).bearer_auth(KEY).send().await.unwrap();
    assert_eq!(ok.status().as_u16(), 200);
    for public in ["/live", "/ready", "/metrics/prometheus"] {
        assert_eq!(s.http.get(s.url(public)).send().await.unwrap().status().as_u16(), 200, "{public}");
    }
    let m = s.metrics_text();
    assert!(m.contains(r#"otelcontext_api_auth_failures_total{reason="missing_header",surface="http"} 2"#), "{m}");
    assert!(m.contains(r#"otelcontext_api_auth_failures_total{reason="bad_key",surface="http"} 1"#));
    assert!(m.contains(r#"otelcontext_api_auth_failures_total{reason="bad_scheme",surface="http"} 1"#));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn grpc_requires_the_bearer_key_in_metadata() {
    let s = server().await;
    let err = grpc_traces(&s, healthy_traces(1, 1), &[]).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unauthenticated);
    let err =
        grpc_logs(&s, logs("svc", vec![log_record(1, 9, "x")]), &[("authorization", "Bearer nope")]).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unauthenticated);
    let err =
        grpc_metrics(&s, gauge("svc", "g", &[1.0]), &[("authorization", "Basic k3y-for-tests")]).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unauthenticated);
    grpc_traces(&s, healthy_traces(1, 1), &[("authorization", "Bearer k3y-for-tests")]).await.unwrap();
    s.wait_for("default", |c| c.spans == 1).await;
    let m = s.metrics_text();
    assert!(m.contains(r#"otelcontext_api_auth_failures_total{reason="missing_header",surface="grpc"} 1"#), "{m}");
    assert!(m.contains(r#"otelcontext_api_auth_failures_total{reason="bad_key",surface="grpc"} 1"#));
    assert!(m.contains(r#"otelcontext_api_auth_failures_total{reason="bad_scheme",surface="grpc"} 1"#));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sdk_exporters_with_the_key_get_through_on_both_transports() {
    let s = server().await;
    for t in [Transport::Grpc, Transport::HttpProtobuf] {
        let sent =
            export_trace(Target::of(&s).with_header("authorization", "Bearer k3y-for-tests"), t, "keyed", 0).await;
        let path = format!("/api/traces/{}", sent.trace_id);
        let trace = otelcontext_e2e::eventually(|| async {
            let r = s.http.get(s.url(&path)).bearer_auth(KEY).send().await.ok()?;
            if r.status() != 200 {
                return None;
            }
            r.json::<serde_json::Value>().await.ok().filter(|v| v["span_count"] == 2)
        })
        .await
        .expect("trace readable with the key");
        assert_eq!(trace["service_name"], "keyed");
    }
}

const KEY_A: &str = "tenant-a-key-0123456789";
const KEY_B: &str = "tenant-b-key-0123456789";
const KEY_C: &str = "tenant-c-key-0123456789";

/// Per-tenant keys pin the tenant on every surface: OTLP over HTTP and gRPC and the query API.
/// A header naming another tenant is refused (403 / PERMISSION_DENIED), never an override; the
/// keys file is reloaded while the server runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_tenant_key_always_acts_as_its_tenant_and_the_keys_file_reloads() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("keys");
    std::fs::write(&file, format!("# per-team keys\n{KEY_A} a\n{KEY_B} b\n")).unwrap();
    let path = file.display().to_string();
    let s = TestServer::start_with(config_from(&[
        ("API_KEY", KEY),
        ("API_KEYS_FILE", &path),
        ("API_KEYS_RELOAD_INTERVAL", "100ms"),
    ]))
    .await;
    let bearer = |k: &str| format!("Bearer {k}");
    let (auth_a, auth_b) = (bearer(KEY_A), bearer(KEY_B));

    // OTLP/HTTP: a's key writes to a, with or without naming it; naming b is 403.
    let one = |n| logs("svc", vec![log_record(n, 9, "from a")]);
    assert_eq!(post_proto(&s, "/v1/logs", &one(1), &[("authorization", &auth_a)]).await.status, 200);
    assert_eq!(
        post_proto(&s, "/v1/logs", &one(2), &[("authorization", &auth_a), ("x-tenant-id", "a")]).await.status,
        200
    );
    let refused = post_proto(&s, "/v1/logs", &one(3), &[("authorization", &auth_a), ("x-tenant-id", "b")]).await;
    assert_eq!(refused.status, 403);
    // gRPC: the same.
    let err = grpc_logs(&s, one(4), &[("authorization", &auth_a), ("x-tenant-id", "b")]).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::PermissionDenied, "{err:?}");
    grpc_traces(&s, healthy_traces(1, 1), &[("authorization", &auth_b)]).await.unwrap();
    // The shared key still chooses its tenant by header.
    assert_eq!(
        post_proto(&s, "/v1/logs", &one(5), &[("authorization", &bearer(KEY)), ("x-tenant-id", "b")]).await.status,
        200
    );
    s.wait_for("a", |c| c.logs == 2).await;
    s.wait_for("b", |c| c.logs == 1 && c.spans == 1).await;
    assert_eq!(s.counts("default").await.logs, 0);

    // The query API: b's key reads b, and cannot read a by naming it.
    let get = |key: &str, tenant: Option<&str>| {
        let mut r = s.http.get(s.url("/api/logs")).bearer_auth(key);
        if let Some(t) = tenant {
            r = r.header("x-tenant-id", t);
        }
        async move {
            let resp = r.send().await.unwrap();
            (resp.status().as_u16(), resp.json::<serde_json::Value>().await.unwrap())
        }
    };
    let (status, body) = get(KEY_B, None).await;
    assert_eq!((status, body["logs"].as_array().map(Vec::len)), (200, Some(1)), "{body}");
    let (status, body) = get(KEY_B, Some("a")).await;
    assert_eq!((status, body["error"].as_str()), (403, Some("forbidden tenant")), "{body}");
    let m = s.metrics_text();
    assert!(
        m.contains(r#"otelcontext_otlp_payload_rejected_total{reason="forbidden_tenant",transport="http"} 1"#),
        "{m}"
    );
    assert!(m.contains(r#"otelcontext_otlp_payload_rejected_total{reason="forbidden_tenant",transport="grpc"} 1"#));
    assert!(m.contains("otelcontext_api_tenant_keys 2"), "{m}");

    // Rotate: c gets a key, a's is withdrawn; picked up without a restart.
    std::fs::write(&file, format!("{KEY_B} b\n{KEY_C} c\n")).unwrap();
    let reloaded = otelcontext_e2e::eventually(|| async {
        let status = s.http.get(s.url("/api/stats")).bearer_auth(KEY_C).send().await.unwrap().status().as_u16();
        (status == 200).then_some(())
    })
    .await;
    assert!(reloaded.is_some(), "the new key works after the reload");
    assert_eq!(post_proto(&s, "/v1/logs", &one(6), &[("authorization", &auth_a)]).await.status, 401);
    // A broken file keeps the keys there were.
    std::fs::write(&file, "not a key file\n").unwrap();
    let failed = otelcontext_e2e::eventually(|| async {
        s.metrics_text().contains(r#"otelcontext_api_keys_reloads_total{result="error"} 1"#).then_some(())
    })
    .await;
    assert!(failed.is_some(), "{}", s.metrics_text());
    assert_eq!(get(KEY_C, None).await.0, 200);
}

/// `API_RATE_LIMIT_RPS` limits each client on `/api/*` (429 with `Retry-After` and a JSON body)
/// but never OTLP ingest, probes or metrics; forwarded addresses count only when trusted.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_query_api_is_rate_limited_per_client_and_ingest_never_is() {
    let get = |s: &TestServer, path: &str, xff: Option<&str>| {
        let mut req = s.http.get(s.url(path));
        if let Some(ip) = xff {
            req = req.header("x-forwarded-for", ip);
        }
        req.send()
    };
    // A rate this low refills nothing noticeable while the test runs.
    let s = TestServer::start_with(config_from(&[("API_RATE_LIMIT_RPS", "1")])).await;
    assert_eq!(get(&s, "/api/stats", None).await.unwrap().status().as_u16(), 200);
    let refused = get(&s, "/api/stats", None).await.unwrap();
    assert_eq!(refused.status().as_u16(), 429);
    let retry: u64 = refused.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=2).contains(&retry), "{retry}");
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["error"], "rate limit exceeded");
    // Another address in X-Forwarded-For is the same client unless proxies are trusted.
    assert_eq!(get(&s, "/api/stats", Some("203.0.113.9")).await.unwrap().status().as_u16(), 429);
    for _ in 0..5 {
        assert_eq!(post_proto(&s, "/v1/traces", &healthy_traces(1, 1), &[]).await.status, 200);
        for public in ["/live", "/ready", "/metrics/prometheus"] {
            assert_eq!(get(&s, public, None).await.unwrap().status().as_u16(), 200, "{public}");
        }
    }
    assert!(s.metrics_text().contains(r#"otelcontext_api_rate_limited_total{surface="api"} 2"#));

    let s = TestServer::start_with(config_from(&[("API_RATE_LIMIT_RPS", "1"), ("TRUST_PROXY_HEADERS", "true")])).await;
    assert_eq!(get(&s, "/api/stats", Some("203.0.113.9")).await.unwrap().status().as_u16(), 200);
    assert_eq!(get(&s, "/api/stats", Some("203.0.113.9, 10.0.0.1")).await.unwrap().status().as_u16(), 429);
    assert_eq!(get(&s, "/api/stats", Some("198.51.100.4")).await.unwrap().status().as_u16(), 200);
    // Limits off: no 429 however fast.
    let s = TestServer::start_with(config_from(&[("API_RATE_LIMIT_RPS", "0")])).await;
    for _ in 0..200 {
        assert_eq!(get(&s, "/api/stats", None).await.unwrap().status().as_u16(), 200);
    }
}
