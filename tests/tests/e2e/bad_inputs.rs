//! Every bad input gets a clear status and message, never a 500 or a panic, and the server stays
//! healthy afterwards.

use crate::payloads::*;
use flate2::Compression;
use flate2::write::GzEncoder;
use otelcontext_e2e::{TestServer, config_from};
use prost::Message;
use std::io::Write;

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

async fn assert_still_healthy(server: &TestServer) {
    let (status, body) = server.get_json("/ready", None).await;
    assert_eq!((status, &body["ready"]), (200, &serde_json::json!(true)), "{body}");
    let ok = post_proto(server, "/v1/traces", &healthy_traces(900_000, 1), &[]).await;
    assert_eq!(ok.status, 200, "a valid export still succeeds");
}

/// Path, headers, body, expected status, expected message fragment.
type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, Vec<u8>, u16, &'a str);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_and_unsupported_http_payloads_get_4xx_with_a_message() {
    let server = TestServer::start().await;
    let valid = healthy_traces(1, 2).encode_to_vec();
    let long_tenant = "t".repeat(65);
    let cases: Vec<Case<'_>> = vec![
        ("/v1/traces", vec![("content-type", "text/plain")], b"hello".to_vec(), 415, "unsupported Content-Type"),
        ("/v1/logs", vec![("content-type", "application/xml")], b"<x/>".to_vec(), 415, "unsupported Content-Type"),
        (
            "/v1/traces",
            vec![("content-type", "application/x-protobuf")],
            vec![0xff, 0xff, 0xff, 0x0f],
            400,
            "failed to decode protobuf body",
        ),
        (
            "/v1/metrics",
            vec![("content-type", "application/json")],
            b"{\"resourceMetrics\": [".to_vec(),
            400,
            "failed to decode JSON body",
        ),
        (
            "/v1/logs",
            vec![("content-type", "application/json; charset=utf-8")],
            b"[1,2]".to_vec(),
            400,
            "failed to decode JSON body",
        ),
        (
            "/v1/traces",
            vec![("content-type", "application/x-protobuf"), ("content-encoding", "gzip")],
            gzip(&valid)[..10].to_vec(),
            400,
            "invalid gzip body",
        ),
        (
            "/v1/traces",
            vec![("content-type", "application/x-protobuf"), ("content-encoding", "gzip")],
            b"not gzip at all".to_vec(),
            400,
            "invalid gzip body",
        ),
        (
            "/v1/traces",
            vec![("content-type", "application/x-protobuf"), ("content-encoding", "br")],
            valid.clone(),
            415,
            "unsupported Content-Encoding",
        ),
        (
            "/v1/traces",
            vec![("content-type", "application/x-protobuf"), ("x-tenant-id", "bad tenant!")],
            valid.clone(),
            400,
            "invalid tenant id",
        ),
        (
            "/v1/traces",
            vec![("content-type", "application/x-protobuf"), ("x-tenant-id", long_tenant.as_str())],
            valid.clone(),
            400,
            "longer than 64",
        ),
    ];
    for (path, headers, body, status, message) in cases {
        let answer = post(&server, path, &headers, body).await;
        assert_eq!(answer.status, status, "{path} {headers:?}");
        let got = answer.status_message();
        assert!(got.contains(message), "{path} {headers:?}: {got:?} should contain {message:?}");
    }
    assert_still_healthy(&server).await;
    let m = server.metrics_text();
    assert!(m.contains(r#"otelcontext_otlp_payload_rejected_total{reason="decode_error",transport="http"} 3"#), "{m}");
    assert!(m.contains(r#"otelcontext_otlp_payload_rejected_total{reason="invalid_content_type",transport="http"} 2"#));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_errors_come_back_as_json_status_bodies() {
    let server = TestServer::start().await;
    let answer = post(&server, "/v1/traces", &[("content-type", "application/json")], b"{nope".to_vec()).await;
    assert_eq!((answer.status, answer.content_type.as_str()), (400, "application/json"));
    let body: serde_json::Value = serde_json::from_slice(&answer.body).unwrap();
    assert_eq!(body["code"], 3, "google.rpc.Code INVALID_ARGUMENT");
    assert!(body["message"].as_str().unwrap().starts_with("failed to decode JSON body"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversize_bodies_and_gzip_bombs_are_413() {
    let server = TestServer::start().await;
    // 5 MiB on the wire: over the 4 MiB limit.
    let big = vec![0u8; 5 * 1024 * 1024];
    let answer = post(&server, "/v1/traces", &[("content-type", "application/x-protobuf")], big).await;
    assert_eq!(answer.status, 413);
    assert!(answer.status_message().contains("exceeds 4194304 bytes"));
    // A bomb: ~70 KiB on the wire that inflates to 70 MiB (over the 64 MiB limit).
    let bomb = gzip(&vec![0u8; 70 * 1024 * 1024]);
    assert!(bomb.len() < 1024 * 1024);
    let answer =
        post(&server, "/v1/logs", &[("content-type", "application/x-protobuf"), ("content-encoding", "gzip")], bomb)
            .await;
    assert_eq!(answer.status, 413);
    assert!(answer.status_message().contains("decompressed body exceeds"));
    // Just under the limit inflates fine (and is a valid, if odd, empty request).
    let fine = gzip(&healthy_traces(5, 3).encode_to_vec());
    let answer =
        post(&server, "/v1/traces", &[("content-type", "application/x-protobuf"), ("content-encoding", "gzip")], fine)
            .await;
    assert_eq!(answer.status, 200);
    assert_still_healthy(&server).await;
    assert!(
        server
            .metrics_text()
            .contains(r#"otelcontext_otlp_payload_rejected_total{reason="too_large",transport="http"} 2"#)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_paths_are_404_wrong_methods_405_and_bad_trace_ids_400() {
    let server = TestServer::start().await;
    let answer = post(&server, "/v1/profiles", &[("content-type", "application/x-protobuf")], vec![]).await;
    assert_eq!(answer.status, 404);
    let (status, body) = server.get_json("/v1/traces", None).await;
    assert_eq!((status, body["error"].as_str()), (405, Some("method not allowed")));
    let (status, body) = server.get_json("/no/such/route", None).await;
    assert_eq!((status, body["error"].as_str()), (404, Some("not found")));
    for bad in ["xyz", "123", &"g".repeat(32), &"0".repeat(32), &"a".repeat(33)] {
        let (status, body) = server.get_json(&format!("/api/traces/{bad}"), None).await;
        assert_eq!((status, body["error"].as_str()), (400, Some("invalid trace id")), "{bad}");
    }
    let (status, body) = server.get_json(&format!("/api/traces/{}", "ab".repeat(16)), Some("bad tenant")).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid tenant id")));
    assert_still_healthy(&server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_with_bad_ids_are_rejected_in_partial_success_and_the_rest_stored() {
    let server = TestServer::start().await;
    let mut bad = span(2, 0, false, 1);
    bad.trace_id = vec![1, 2, 3];
    let req = traces("svc", vec![span(1, 0, false, 1), bad]);
    let resp = grpc_traces(&server, req.clone(), &[]).await.unwrap();
    let partial = resp.partial_success.expect("partial success reported");
    assert_eq!(partial.rejected_spans, 1);
    assert!(partial.error_message.contains("trace id must be 16 bytes"), "{}", partial.error_message);
    let http = post_proto(&server, "/v1/traces", &req, &[]).await;
    assert_eq!(http.status, 200);
    let resp =
        opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse::decode(http.body.as_slice())
            .unwrap();
    assert_eq!(resp.partial_success.unwrap().rejected_spans, 1);
    server.wait_for("default", |c| c.spans == 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_rejects_invalid_tenants_and_oversize_messages() {
    let server = TestServer::start_with(config_from(&[("GRPC_MAX_RECV_MB", "1")])).await;
    let err = grpc_traces(&server, healthy_traces(1, 1), &[("x-tenant-id", "no/slashes")]).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    assert!(err.message().contains("invalid tenant id"), "{}", err.message());
    // A non-ASCII value is refused too, never taken for "no tenant given".
    let mut req = tonic::Request::new(healthy_traces(1, 1));
    req.metadata_mut().insert("x-tenant-id", tonic::metadata::MetadataValue::try_from(&b"caf\xc3\xa9"[..]).unwrap());
    let mut client =
        opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient::connect(
            server.grpc_endpoint(),
        )
        .await
        .unwrap();
    let err = client.export(req).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument, "{err:?}");
    let mut huge = span(1, 0, false, 1);
    huge.attributes = vec![kv("blob", &"x".repeat(2 * 1024 * 1024))];
    let err = grpc_traces(&server, traces("svc", vec![huge]), &[]).await.unwrap_err();
    // RESOURCE_EXHAUSTED without RetryInfo: OTLP exporters do not resend it (OUT_OF_RANGE, tonic's
    // own answer, is retryable in the OTLP specification).
    assert_eq!(err.code(), tonic::Code::ResourceExhausted, "{err:?}");
    assert!(err.details().is_empty(), "no RetryInfo: {err:?}");
    assert!(err.message().contains("GRPC_MAX_RECV_MB"), "{}", err.message());
    assert!(
        server
            .metrics_text()
            .contains(r#"otelcontext_otlp_payload_rejected_total{reason="too_large",transport="grpc"} 1"#)
    );
    // Still healthy.
    grpc_traces(&server, healthy_traces(2, 1), &[]).await.unwrap();
    server.wait_for("default", |c| c.spans == 1).await;
}
