//! Hand-built OTLP requests and raw HTTP/gRPC calls.

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_client::LogsServiceClient;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_client::MetricsServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::{
    Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, metric, number_data_point,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};
use otelcontext_e2e::TestServer;
use prost::Message;

pub const T0: u64 = 1_764_000_000_000_000_000;

pub fn kv(k: &str, v: &str) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: Some(AnyValue { value: Some(any_value::Value::StringValue(v.into())) }),
        ..Default::default()
    }
}

pub fn resource(service: &str) -> Option<Resource> {
    Some(Resource { attributes: vec![kv("service.name", service)], ..Default::default() })
}

/// A trace id made of a number (big-endian in the last 8 bytes, 0xa1 first byte).
pub fn trace_id(n: u64) -> Vec<u8> {
    let mut id = vec![0xa1u8; 8];
    id.extend_from_slice(&n.to_be_bytes());
    id
}

pub fn span_id(n: u64) -> Vec<u8> {
    let mut id = (n + 1).to_be_bytes().to_vec();
    id[0] = 0x5b;
    id
}

/// One span of trace `trace` (span `index`, parent = span 0 unless it is span 0).
pub fn span(trace: u64, index: u64, error: bool, duration_ms: u64) -> Span {
    let start = T0 + trace * 1_000 + index;
    Span {
        trace_id: trace_id(trace),
        span_id: span_id(trace * 100 + index),
        parent_span_id: if index == 0 { vec![] } else { span_id(trace * 100) },
        name: format!("op-{index}"),
        kind: if index == 0 { 2 } else { 3 },
        start_time_unix_nano: start,
        end_time_unix_nano: start + duration_ms * 1_000_000,
        attributes: vec![kv("k", "v")],
        status: Some(Status {
            code: if error { 2 } else { 1 },
            message: if error { "failed".into() } else { String::new() },
        }),
        ..Default::default()
    }
}

/// A request holding these spans for one service.
pub fn traces(service: &str, spans: Vec<Span>) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: resource(service),
            scope_spans: vec![ScopeSpans { spans, ..Default::default() }],
            ..Default::default()
        }],
    }
}

/// `n` healthy one-span traces starting at trace number `first`.
pub fn healthy_traces(first: u64, n: u64) -> ExportTraceServiceRequest {
    traces("svc", (first..first + n).map(|t| span(t, 0, false, 1)).collect())
}

pub fn log_record(n: u64, severity: i32, body: &str) -> LogRecord {
    LogRecord {
        time_unix_nano: T0 + n,
        severity_number: severity,
        body: Some(AnyValue { value: Some(any_value::Value::StringValue(body.into())) }),
        ..Default::default()
    }
}

pub fn logs(service: &str, records: Vec<LogRecord>) -> ExportLogsServiceRequest {
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: resource(service),
            scope_logs: vec![ScopeLogs { log_records: records, ..Default::default() }],
            ..Default::default()
        }],
    }
}

pub fn gauge(service: &str, name: &str, values: &[f64]) -> ExportMetricsServiceRequest {
    let points = values
        .iter()
        .enumerate()
        .map(|(i, v)| NumberDataPoint {
            time_unix_nano: T0 + i as u64,
            value: Some(number_data_point::Value::AsDouble(*v)),
            ..Default::default()
        })
        .collect();
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: resource(service),
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![Metric {
                    name: name.into(),
                    data: Some(metric::Data::Gauge(Gauge { data_points: points })),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

/// An HTTP answer.
pub struct HttpAnswer {
    pub status: u16,
    pub content_type: String,
    pub retry_after: Option<String>,
    pub body: Vec<u8>,
}

impl HttpAnswer {
    /// The `google.rpc.Status` message of an error body, in whichever encoding it came.
    pub fn status_message(&self) -> String {
        if self.content_type.contains("json") {
            let v: serde_json::Value = serde_json::from_slice(&self.body).expect("JSON status body");
            v["message"].as_str().unwrap_or_default().to_owned()
        } else {
            otelcontext_otlp::reply::RpcStatus::decode(self.body.as_slice()).expect("protobuf status body").message
        }
    }
}

/// POSTs raw bytes.
pub async fn post(server: &TestServer, path: &str, headers: &[(&str, &str)], body: Vec<u8>) -> HttpAnswer {
    let mut req = server.http.post(server.url(path)).body(body);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = req.send().await.expect("request sent");
    let header = |n: &str| resp.headers().get(n).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let content_type = header("content-type").unwrap_or_default();
    let retry_after = header("retry-after");
    let status = resp.status().as_u16();
    HttpAnswer { status, content_type, retry_after, body: resp.bytes().await.unwrap().to_vec() }
}

/// POSTs a protobuf message.
pub async fn post_proto(server: &TestServer, path: &str, msg: &impl Message, headers: &[(&str, &str)]) -> HttpAnswer {
    let mut all = vec![("content-type", "application/x-protobuf")];
    all.extend_from_slice(headers);
    post(server, path, &all, msg.encode_to_vec()).await
}

/// A gRPC request with metadata.
pub fn grpc_request<T>(msg: T, metadata: &[(&'static str, &str)]) -> tonic::Request<T> {
    let mut req = tonic::Request::new(msg);
    for (k, v) in metadata {
        req.metadata_mut().insert(*k, v.parse().unwrap());
    }
    req
}

pub async fn grpc_traces(
    server: &TestServer,
    msg: ExportTraceServiceRequest,
    md: &[(&'static str, &str)],
) -> Result<ExportTraceServiceResponse, tonic::Status> {
    let mut client = TraceServiceClient::connect(server.grpc_endpoint())
        .await
        .map_err(|e| tonic::Status::unavailable(format!("cannot connect: {e}")))?;
    client.export(grpc_request(msg, md)).await.map(tonic::Response::into_inner)
}

pub async fn grpc_logs(
    server: &TestServer,
    msg: ExportLogsServiceRequest,
    md: &[(&'static str, &str)],
) -> Result<(), tonic::Status> {
    let mut client = LogsServiceClient::connect(server.grpc_endpoint())
        .await
        .map_err(|e| tonic::Status::unavailable(format!("cannot connect: {e}")))?;
    client.export(grpc_request(msg, md)).await.map(|_| ())
}

pub async fn grpc_metrics(
    server: &TestServer,
    msg: ExportMetricsServiceRequest,
    md: &[(&'static str, &str)],
) -> Result<(), tonic::Status> {
    let mut client = MetricsServiceClient::connect(server.grpc_endpoint())
        .await
        .map_err(|e| tonic::Status::unavailable(format!("cannot connect: {e}")))?;
    client.export(grpc_request(msg, md)).await.map(|_| ())
}
