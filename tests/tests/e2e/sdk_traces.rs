//! Traces exported by the Rust OpenTelemetry SDK over gRPC, HTTP/protobuf and HTTP/JSON, read
//! back with `GET /api/traces/{id}` and compared field by field.

use crate::sdk::{self, Target, Transport, blocking};
use opentelemetry::trace::{Span as _, SpanKind, Status, TraceContextExt, Tracer, TracerProvider as _};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;
use otelcontext_e2e::{Backend, TestServer};
use serde_json::{Value, json};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// What the SDK sent, to compare with what the API returns.
pub struct SentTrace {
    pub trace_id: String,
    pub root_span_id: String,
    pub child_span_id: String,
    pub start_ns: u64,
}

const BASE_NS: u64 = 1_764_000_000_000_000_000;

fn at(ns: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_nanos(ns)
}

/// Exports one two-span trace (a server root and a failing client child with an exception).
pub async fn export_trace(target: Target, transport: Transport, service: &'static str, offset_ns: u64) -> SentTrace {
    blocking(move || {
        let provider = SdkTracerProvider::builder()
            .with_batch_exporter(target.span_exporter(transport))
            .with_resource(
                Resource::builder()
                    .with_service_name(service)
                    .with_attribute(KeyValue::new("deployment.environment", "e2e"))
                    .build(),
            )
            .build();
        let tracer = provider.tracer("e2e-tracer");
        let start = BASE_NS + offset_ns;
        let mut root = tracer
            .span_builder("GET /checkout")
            .with_kind(SpanKind::Server)
            .with_start_time(at(start))
            .with_attributes(vec![
                KeyValue::new("http.method", "GET"),
                KeyValue::new("http.status_code", 502i64),
                KeyValue::new("sampled.ratio", 0.25),
                KeyValue::new("cache.hit", false),
            ])
            .start(&tracer);
        root.set_status(Status::Ok);
        let parent = Context::new().with_remote_span_context(root.span_context().clone());
        let mut child = tracer
            .span_builder("charge card")
            .with_kind(SpanKind::Client)
            .with_start_time(at(start + 10_000_000))
            .with_attributes(vec![KeyValue::new("peer.service", "payments")])
            .start_with_context(&tracer, &parent);
        child.add_event_with_timestamp(
            "exception",
            at(start + 20_000_000),
            vec![KeyValue::new("exception.message", "card declined"), KeyValue::new("exception.type", "PaymentError")],
        );
        child.set_status(Status::error("card declined"));
        let sent = SentTrace {
            trace_id: root.span_context().trace_id().to_string(),
            root_span_id: root.span_context().span_id().to_string(),
            child_span_id: child.span_context().span_id().to_string(),
            start_ns: start,
        };
        child.end_with_timestamp(at(start + 40_000_000));
        root.end_with_timestamp(at(start + 50_000_000));
        provider.shutdown().expect("spans exported");
        sent
    })
    .await
}

fn span<'a>(trace: &'a Value, id: &str) -> &'a Value {
    trace["spans"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["span_id"] == id)
        .unwrap_or_else(|| panic!("span {id} in {trace}"))
}

/// Checks every field of the trace the API returns against what was sent.
pub fn assert_trace_matches(trace: &Value, sent: &SentTrace, service: &str) {
    let s = sent.start_ns as i64;
    assert_eq!(trace["trace_id"], sent.trace_id.as_str());
    assert_eq!(trace["service_name"], service);
    assert_eq!(trace["operation"], "GET /checkout");
    assert_eq!(trace["has_root"], true);
    assert_eq!(trace["status"], "ERROR", "the failing child makes the trace ERROR");
    assert_eq!(trace["start_time_unix_nano"], s);
    assert_eq!(trace["end_time_unix_nano"], s + 50_000_000);
    assert_eq!(trace["duration_ns"], 50_000_000);
    assert_eq!(trace["duration_ms"], 50.0);
    assert_eq!(trace["span_count"], 2);

    let root = span(trace, &sent.root_span_id);
    assert_eq!(root["trace_id"], sent.trace_id.as_str());
    assert_eq!(root["parent_span_id"], Value::Null);
    assert_eq!(root["operation_name"], "GET /checkout");
    assert_eq!(root["kind"], "SERVER");
    assert_eq!(root["service_name"], service);
    assert_eq!(root["start_time_unix_nano"], s);
    assert_eq!(root["end_time_unix_nano"], s + 50_000_000);
    let offset = sent.start_ns - BASE_NS;
    let expected_start = format!("2025-11-24T16:00:{:02}.{:09}Z", offset / 1_000_000_000, offset % 1_000_000_000);
    assert_eq!(root["start_time"], expected_start.as_str());
    assert_eq!(root["status"], json!({"code": "OK", "message": ""}));
    assert_eq!(
        root["attributes"],
        json!({"http.method": "GET", "http.status_code": 502, "sampled.ratio": 0.25, "cache.hit": false})
    );
    assert_eq!(root["resource_attributes"]["service.name"], service);
    assert_eq!(root["resource_attributes"]["deployment.environment"], "e2e");
    assert_eq!(root["resource_attributes"]["telemetry.sdk.language"], "rust");
    assert_eq!(root["scope"]["name"], "e2e-tracer");

    let child = span(trace, &sent.child_span_id);
    assert_eq!(child["parent_span_id"], sent.root_span_id.as_str());
    assert_eq!(child["operation_name"], "charge card");
    assert_eq!(child["kind"], "CLIENT");
    assert_eq!(child["start_time_unix_nano"], s + 10_000_000);
    assert_eq!(child["end_time_unix_nano"], s + 40_000_000);
    assert_eq!(child["duration_ns"], 30_000_000);
    assert_eq!(child["status"], json!({"code": "ERROR", "message": "card declined"}));
    assert_eq!(child["attributes"], json!({"peer.service": "payments"}));
    let event = &child["events"][0];
    assert_eq!(event["name"], "exception");
    assert_eq!(event["time_unix_nano"], s + 20_000_000);
    assert_eq!(event["attributes"], json!({"exception.message": "card declined", "exception.type": "PaymentError"}));

    // The exception event is also searchable as an ERROR log correlated with the span.
    let logs = trace["logs"].as_array().unwrap();
    assert_eq!(logs.len(), 1, "{logs:?}");
    assert_eq!(logs[0]["body"], "card declined");
    assert_eq!(logs[0]["severity"], "ERROR");
    assert_eq!(logs[0]["span_id"], sent.child_span_id.as_str());
    assert_eq!(logs[0]["timestamp_unix_nano"], s + 20_000_000);
}

pub async fn read_trace(server: &TestServer, trace_id: &str, tenant: Option<&str>) -> Value {
    let path = format!("/api/traces/{trace_id}");
    otelcontext_e2e::eventually(|| async {
        let (status, body) = server.get_json(&path, tenant).await;
        (status == 200 && body["span_count"] == 2).then_some(body)
    })
    .await
    .unwrap_or_else(|| panic!("trace {trace_id} never became readable"))
}

otelcontext_e2e::on_both_databases!(4, sdk_traces_over_every_transport_read_back_field_by_field);

async fn sdk_traces_over_every_transport_read_back_field_by_field(backend: Backend) {
    let Some(server) = TestServer::on(backend).await else { return };
    for (i, transport) in sdk::ALL.into_iter().enumerate() {
        let service = ["grpc-svc", "http-proto-svc", "http-json-svc"][i];
        let sent = export_trace(Target::of(&server), transport, service, i as u64 * 1_000_000_000).await;
        let trace = read_trace(&server, &sent.trace_id, None).await;
        assert_trace_matches(&trace, &sent, service);
    }
}

otelcontext_e2e::on_both_databases!(4, gzip_compressed_sdk_exports_are_accepted);

async fn gzip_compressed_sdk_exports_are_accepted(backend: Backend) {
    use opentelemetry_otlp::{Compression, WithExportConfig, WithTonicConfig};
    let Some(server) = TestServer::on(backend).await else { return };
    let grpc = server.grpc_endpoint();
    let trace_id = blocking(move || {
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .with_endpoint(grpc)
            .with_compression(Compression::Gzip)
            .build()
            .unwrap();
        let provider = SdkTracerProvider::builder().with_batch_exporter(exporter).build();
        let tracer = provider.tracer("gz");
        let span = tracer.start("compressed");
        let id = span.span_context().trace_id().to_string();
        drop(span);
        provider.shutdown().unwrap();
        id
    })
    .await;
    let (status, body) = otelcontext_e2e::eventually(|| async {
        let r = server.get_json(&format!("/api/traces/{trace_id}"), None).await;
        (r.0 == 200).then_some(r)
    })
    .await
    .unwrap();
    assert_eq!((status, body["operation"].as_str()), (200, Some("compressed")));
    let service = body["service_name"].as_str().unwrap();
    assert!(service.starts_with("unknown_service"), "the SDK's default service name is kept as sent: {service}");
}
