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
