//! loadsim: sends OTLP load to an otelcontext server and checks that everything acknowledged is
//! stored.
//!
//! Each connection is one producer sending batches of realistic traces (a root span and children
//! across services, a share of them failing) at its share of the target rate. At the end it
//! queries `/api/stats` for the run's tenant until the stored counts stop changing and reports
//! sent, acknowledged, rejected and stored, and the server's peak resident memory.
//!
//! `cargo run --release -p otelcontext --bin loadsim -- --help`

use clap::Parser;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_client::LogsServiceClient;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_client::MetricsServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::{
    Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, metric, number_data_point,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status, span};
use prost::Message;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

#[derive(Parser, Debug, Clone)]
#[command(name = "loadsim", version, about = "OTLP load generator with an acknowledged = stored check.")]
struct Args {
    /// OTLP/gRPC endpoint.
    #[arg(long, default_value = "http://localhost:4317")]
    endpoint: String,
    /// Base URL of the server's HTTP port (OTLP/HTTP when --protocol http, and /api/stats).
    #[arg(long, default_value = "http://localhost:8080")]
    http_endpoint: String,
    /// grpc or http (OTLP/HTTP protobuf).
    #[arg(long, default_value = "grpc")]
    protocol: String,
    /// Number of distinct services (resources).
    #[arg(long, default_value_t = 200)]
    services: u32,
    /// Spans per second per service.
    #[arg(long, default_value_t = 50.0)]
    rate: f64,
    /// How long to send, e.g. 60s, 2m.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    duration: Duration,
    /// Producers start spread evenly over this time.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    warmup: Duration,
    /// Tenant of the run (default: a fresh one, so stored counts belong to this run only).
    #[arg(long)]
    tenant_id: Option<String>,
    /// Spans per export request.
    #[arg(long, default_value_t = 500)]
    batch: usize,
    /// Spans per trace (a root and children).
    #[arg(long, default_value_t = 5)]
    spans_per_trace: usize,
    /// Fraction of traces with a failing span.
    #[arg(long, default_value_t = 0.05)]
    error_rate: f64,
    /// Log records per second (in total).
    #[arg(long, default_value_t = 0.0)]
    logs_rate: f64,
    /// Metric data points per second (in total).
    #[arg(long, default_value_t = 0.0)]
    metrics_rate: f64,
    /// Concurrent producers (one connection each).
    #[arg(long, default_value_t = 4)]
    connections: usize,
    /// Bearer token when the server has API_KEY set.
    #[arg(long)]
    api_key: Option<String>,
    /// How long to wait for the server to store everything after sending.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    settle: Duration,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(s.len()));
    let n: f64 = num.parse().map_err(|_| format!("invalid duration {s:?}"))?;
    let secs = match unit {
        "" | "s" => n,
        "ms" => n / 1000.0,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(format!("invalid duration unit in {s:?} (use ms, s, m, h)")),
    };
    Ok(Duration::from_secs_f64(secs))
}

#[derive(Default)]
struct Counters {
    spans_sent: AtomicU64,
    spans_acked: AtomicU64,
    spans_rejected: AtomicU64,
    spans_throttled: AtomicU64,
    spans_failed: AtomicU64,
    logs_sent: AtomicU64,
    logs_acked: AtomicU64,
    logs_not_acked: AtomicU64,
    points_sent: AtomicU64,
    points_acked: AtomicU64,
    points_not_acked: AtomicU64,
}

/// xorshift64*: cheap ids for load generation.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn chance(&mut self, p: f64) -> bool {
        ((self.next() >> 11) as f64 / (1u64 << 53) as f64) < p
    }
}

fn now_ns() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_nanos() as u64
}

fn kv(k: &str, v: &str) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: Some(AnyValue { value: Some(any_value::Value::StringValue(v.into())) }),
        ..Default::default()
    }
}

fn kv_int(k: &str, v: i64) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: Some(AnyValue { value: Some(any_value::Value::IntValue(v)) }),
        ..Default::default()
    }
}

const OPERATIONS: [&str; 5] =
    ["GET /api/items", "POST /api/orders", "GET /health", "GET /api/users", "POST /api/payments"];

fn resource(service: u32) -> Resource {
    Resource {
        attributes: vec![
            kv("service.name", &format!("loadsim-svc-{service:03}")),
            kv("service.version", "1.4.2"),
            kv("host.name", &format!("node-{}", service % 16)),
            kv("k8s.pod.name", &format!("loadsim-svc-{service:03}-7d9f6c")),
        ],
        ..Default::default()
    }
}

/// One trace of `n` spans: a server root in `service` and client children calling other services.
fn trace(rng: &mut Rng, services: u32, service: u32, n: usize, error: bool, now: u64) -> Vec<(u32, Span)> {
    let trace_id: Vec<u8> = [rng.next().to_be_bytes(), rng.next().to_be_bytes()].concat();
    let root_id = rng.next().to_be_bytes().to_vec();
    let root_ms = 5 + rng.next() % 200;
    let start = now - root_ms * 1_000_000;
    let mut spans = Vec::with_capacity(n);
    for i in 0..n {
        let is_root = i == 0;
        let failing = error && i == n - 1;
        let (svc, id) = if is_root {
            (service, root_id.clone())
        } else {
            ((service + i as u32) % services, rng.next().to_be_bytes().to_vec())
        };
        let op = OPERATIONS[(rng.next() % 5) as usize];
        let child_start = start + (i as u64) * 1_000_000;
        let end = if is_root { now } else { child_start + (rng.next() % (root_ms.max(2) / 2)) * 1_000_000 };
        spans.push((
            svc,
            Span {
                trace_id: trace_id.clone(),
                span_id: id,
                parent_span_id: if is_root { vec![] } else { root_id.clone() },
                name: op.into(),
                kind: if is_root { span::SpanKind::Server as i32 } else { span::SpanKind::Client as i32 },
                start_time_unix_nano: if is_root { start } else { child_start },
                end_time_unix_nano: end,
                attributes: vec![
                    kv("http.request.method", if op.starts_with("GET") { "GET" } else { "POST" }),
                    kv("url.path", &op[op.find(' ').unwrap_or(0) + 1..]),
                    kv_int("http.response.status_code", if failing { 500 } else { 200 }),
                    kv("server.address", "api.internal"),
                    kv_int("server.port", 8443),
                    kv("network.protocol.version", "1.1"),
                    kv("user_agent.original", "loadsim/1.0"),
                    kv_int("loadsim.sequence", (rng.next() % 100_000) as i64),
                    kv("deployment.environment", "load"),
                    kv("peer.service", &format!("loadsim-svc-{:03}", (svc + 1) % services)),
                ],
                status: Some(Status {
                    code: if failing { 2 } else { 1 },
                    message: if failing { "simulated error".into() } else { String::new() },
                }),
                events: if failing {
                    vec![span::Event {
                        time_unix_nano: end,
                        name: "exception".into(),
                        attributes: vec![
                            kv("exception.type", "SimulatedError"),
                            kv("exception.message", "fake failure"),
                        ],
                        ..Default::default()
                    }]
                } else {
                    vec![]
                },
                ..Default::default()
            },
        ));
    }
    spans
}

/// Groups spans by service into one request.
fn trace_request(spans: Vec<(u32, Span)>, resources: &[Resource]) -> ExportTraceServiceRequest {
    let mut by_service: std::collections::BTreeMap<u32, Vec<Span>> = Default::default();
    for (svc, s) in spans {
        by_service.entry(svc).or_default().push(s);
    }
    let scope = InstrumentationScope { name: "loadsim".into(), version: "1.0".into(), ..Default::default() };
    ExportTraceServiceRequest {
        resource_spans: by_service
            .into_iter()
            .map(|(svc, spans)| ResourceSpans {
                resource: Some(resources[svc as usize].clone()),
                scope_spans: vec![ScopeSpans { scope: Some(scope.clone()), spans, ..Default::default() }],
                ..Default::default()
            })
            .collect(),
    }
}

/// A pre-encoded trace export: built and encoded once, then sent many times as a copy with fresh
/// trace ids and shifted timestamps, so generating the load costs a `memcpy` and a few patches per
/// request instead of building and encoding every span (the server and loadsim share two cores).
struct Template {
    bytes: Vec<u8>,
    spans: u64,
    /// Offsets of every span's 16-byte trace id.
    trace_ids: Vec<usize>,
    /// Offsets of every 8-byte little-endian timestamp (span start and end, event time).
    times: Vec<usize>,
    /// The time the template's timestamps are relative to.
    base_ns: u64,
}

impl Template {
    fn new(req: &ExportTraceServiceRequest, base_ns: u64) -> Self {
        let bytes = req.encode_to_vec();
        let spans = req.resource_spans.iter().flat_map(|r| &r.scope_spans).map(|s| s.spans.len() as u64).sum();
        let mut t = Self { bytes, spans, trace_ids: Vec::new(), times: Vec::new(), base_ns };
        let (mut trace_ids, mut times) = (Vec::new(), Vec::new());
        locate(&t.bytes, Level::Request, 0, &mut trace_ids, &mut times);
        assert_eq!(trace_ids.len() as u64, t.spans, "every span's trace id is located");
        (t.trace_ids, t.times) = (trace_ids, times);
        t
    }

    /// The request again, its trace ids XOR-ed with `salt` (traces stay whole and distinct from
    /// the template's other instances) and its timestamps moved to `now_ns`.
    fn instance(&self, salt: u64, now_ns: u64) -> Vec<u8> {
        let mut b = self.bytes.clone();
        for &o in &self.trace_ids {
            let v = u64::from_le_bytes(b[o..o + 8].try_into().expect("8 bytes")) ^ salt;
            b[o..o + 8].copy_from_slice(&v.to_le_bytes());
        }
        let delta = now_ns.wrapping_sub(self.base_ns);
        for &o in &self.times {
            let v = u64::from_le_bytes(b[o..o + 8].try_into().expect("8 bytes")).wrapping_add(delta);
            b[o..o + 8].copy_from_slice(&v.to_le_bytes());
        }
        b
    }
}

/// The messages `locate` walks into, outermost first.
#[derive(Clone, Copy)]
enum Level {
    Request,
    ResourceSpans,
    ScopeSpans,
    Span,
    Event,
}

/// Walks the protobuf wire format of an encoded `ExportTraceServiceRequest` (in `buf`, which
/// starts at `base` in the whole encoding) and records where trace ids and timestamps sit.
fn locate(buf: &[u8], level: Level, base: usize, trace_ids: &mut Vec<usize>, times: &mut Vec<usize>) {
    let mut rest = buf;
    while !rest.is_empty() {
        let key = prost::encoding::decode_varint(&mut rest).expect("a field key");
        let (field, wire) = (key >> 3, key & 7);
        let at = base + (buf.len() - rest.len());
        let len = match wire {
            0 => {
                prost::encoding::decode_varint(&mut rest).expect("a varint");
                continue;
            }
            1 => 8,
            5 => 4,
            2 => {
                let n = prost::encoding::decode_varint(&mut rest).expect("a length") as usize;
                let start = base + (buf.len() - rest.len());
                let inner = &rest[..n];
                let child = match (level, field) {
                    (Level::Request, 1) => Some(Level::ResourceSpans),
                    (Level::ResourceSpans, 2) => Some(Level::ScopeSpans),
                    (Level::ScopeSpans, 2) => Some(Level::Span),
                    (Level::Span, 11) => Some(Level::Event),
                    _ => None,
                };
                match child {
                    Some(child) => locate(inner, child, start, trace_ids, times),
                    None if matches!(level, Level::Span) && field == 1 && n == 16 => trace_ids.push(start),
                    None => {}
                }
                rest = &rest[n..];
                continue;
            }
            other => panic!("unexpected wire type {other}"),
        };
        if wire == 1 && matches!((level, field), (Level::Span, 7 | 8) | (Level::Event, 1)) {
            times.push(at);
        }
        rest = &rest[len..];
    }
}

/// An already encoded request body, sent as it is through tonic's prost codec.
#[derive(Clone, Default, Debug)]
struct Encoded(Vec<u8>);

impl prost::Message for Encoded {
    fn encode_raw(&self, buf: &mut impl prost::bytes::BufMut) {
        buf.put_slice(&self.0);
    }
    fn merge_field(
        &mut self,
        tag: u32,
        wire_type: prost::encoding::WireType,
        buf: &mut impl prost::bytes::Buf,
        ctx: prost::encoding::DecodeContext,
    ) -> Result<(), prost::DecodeError> {
        prost::encoding::skip_field(wire_type, tag, buf, ctx)
    }
    fn encoded_len(&self) -> usize {
        self.0.len()
    }
    fn clear(&mut self) {
        self.0.clear();
    }
}

enum Answer {
    Ok { rejected: u64 },
    Throttled,
    Failed,
}

struct Sender {
    args: Args,
    http: reqwest::Client,
    grpc: Option<tonic::transport::Channel>,
    tenant: String,
}

impl Sender {
    fn request<T>(&self, msg: T) -> tonic::Request<T> {
        let mut req = tonic::Request::new(msg);
        req.metadata_mut().insert("x-tenant-id", self.tenant.parse().expect("ascii tenant"));
        if let Some(k) = &self.args.api_key {
            req.metadata_mut().insert("authorization", format!("Bearer {k}").parse().expect("ascii key"));
        }
        req
    }

    fn grpc_answer<R>(result: Result<tonic::Response<R>, tonic::Status>, rejected: impl FnOnce(&R) -> u64) -> Answer {
        match result {
            Ok(r) => Answer::Ok { rejected: rejected(r.get_ref()) },
            Err(s) if s.code() == tonic::Code::ResourceExhausted => Answer::Throttled,
            Err(_) => Answer::Failed,
        }
    }

    async fn http_post(&self, path: &str, body: Vec<u8>) -> Result<reqwest::Response, reqwest::Error> {
        let mut req = self
            .http
            .post(format!("{}{path}", self.args.http_endpoint))
            .header("content-type", "application/x-protobuf")
            .header("x-tenant-id", &self.tenant)
            .body(body);
        if let Some(k) = &self.args.api_key {
            req = req.bearer_auth(k);
        }
        req.send().await
    }

    /// Sends one pre-encoded trace export.
    async fn traces(&self, body: Vec<u8>) -> Answer {
        match &self.grpc {
            Some(ch) => {
                let mut grpc = tonic::client::Grpc::new(ch.clone());
                if grpc.ready().await.is_err() {
                    return Answer::Failed;
                }
                let path = tonic::codegen::http::uri::PathAndQuery::from_static(
                    "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
                );
                let codec = tonic_prost::ProstCodec::<Encoded, ExportTraceServiceResponse>::default();
                let r = grpc.unary(self.request(Encoded(body)), path, codec).await;
                Self::grpc_answer(r, |r| r.partial_success.as_ref().map(|p| p.rejected_spans as u64).unwrap_or(0))
            }
            None => match self.http_post("/v1/traces", body).await {
                Ok(r) if r.status() == 200 => {
                    let body = r.bytes().await.unwrap_or_default();
                    let resp = ExportTraceServiceResponse::decode(body.as_ref()).unwrap_or_default();
                    Answer::Ok { rejected: resp.partial_success.map(|p| p.rejected_spans as u64).unwrap_or(0) }
                }
                Ok(r) if r.status() == 429 => Answer::Throttled,
                _ => Answer::Failed,
            },
        }
    }

    async fn logs(&self, msg: ExportLogsServiceRequest) -> Answer {
        match &self.grpc {
            Some(ch) => {
                let r = LogsServiceClient::new(ch.clone()).export(self.request(msg)).await;
                Self::grpc_answer(r, |r| r.partial_success.as_ref().map(|p| p.rejected_log_records as u64).unwrap_or(0))
            }
            None => match self.http_post("/v1/logs", msg.encode_to_vec()).await {
                Ok(r) if r.status() == 200 => Answer::Ok { rejected: 0 },
                Ok(r) if r.status() == 429 => Answer::Throttled,
                _ => Answer::Failed,
            },
        }
    }

    async fn metrics(&self, msg: ExportMetricsServiceRequest) -> Answer {
        match &self.grpc {
            Some(ch) => {
                let r = MetricsServiceClient::new(ch.clone()).export(self.request(msg)).await;
                Self::grpc_answer(r, |r| r.partial_success.as_ref().map(|p| p.rejected_data_points as u64).unwrap_or(0))
            }
            None => match self.http_post("/v1/metrics", msg.encode_to_vec()).await {
                Ok(r) if r.status() == 200 => Answer::Ok { rejected: 0 },
                Ok(r) if r.status() == 429 => Answer::Throttled,
                _ => Answer::Failed,
            },
        }
    }
}

/// Waits until `deadline`, pacing a producer at `per_sec` units of `unit` each.
async fn pace(next: &mut Instant, unit: usize, per_sec: f64) {
    *next += Duration::from_secs_f64(unit as f64 / per_sec.max(1e-9));
    let now = Instant::now();
    if *next > now {
        tokio::time::sleep(*next - now).await;
    } else if now - *next > Duration::from_secs(1) {
        // Far behind: do not try to catch up with a burst.
        *next = now;
    }
}

/// Distinct pre-encoded requests per producer (each sent many times with fresh trace ids).
const TEMPLATES_PER_PRODUCER: usize = 8;

async fn span_producer(id: usize, sender: Arc<Sender>, c: Arc<Counters>, end: Instant, start_at: Instant) {
    let a = &sender.args;
    let resources: Vec<Resource> = (0..a.services).map(resource).collect();
    let per_sec = a.services as f64 * a.rate / a.connections as f64;
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ ((id as u64 + 1) << 32) ^ now_ns());
    let base = now_ns();
    let templates: Vec<Template> = (0..TEMPLATES_PER_PRODUCER)
        .map(|_| {
            let mut spans = Vec::with_capacity(a.batch);
            while spans.len() < a.batch {
                let service = (rng.next() % u64::from(a.services)) as u32;
                let error = rng.chance(a.error_rate);
                spans.extend(trace(&mut rng, a.services, service, a.spans_per_trace.max(1), error, base));
            }
            Template::new(&trace_request(spans, &resources), base)
        })
        .collect();
    tokio::time::sleep_until(start_at.into()).await;
    let mut next = Instant::now();
    let mut sent = 0usize;
    while Instant::now() < end {
        let template = &templates[sent % templates.len()];
        sent += 1;
        let n = template.spans;
        let body = template.instance(rng.next(), now_ns());
        c.spans_sent.fetch_add(n, Ordering::Relaxed);
        match sender.traces(body).await {
            Answer::Ok { rejected } => {
                c.spans_acked.fetch_add(n - rejected.min(n), Ordering::Relaxed);
                c.spans_rejected.fetch_add(rejected.min(n), Ordering::Relaxed);
            }
            Answer::Throttled => {
                c.spans_throttled.fetch_add(n, Ordering::Relaxed);
            }
            Answer::Failed => {
                c.spans_failed.fetch_add(n, Ordering::Relaxed);
            }
        }
        pace(&mut next, n as usize, per_sec).await;
    }
}

async fn log_producer(sender: Arc<Sender>, c: Arc<Counters>, end: Instant) {
    let a = &sender.args;
    let mut rng = Rng(now_ns() | 1);
    let batch = (a.logs_rate as usize / 10).clamp(1, 1000);
    let mut next = Instant::now();
    let mut seq = 0u64;
    while Instant::now() < end {
        let now = now_ns();
        let records: Vec<LogRecord> = (0..batch)
            .map(|i| {
                seq += 1;
                let error = rng.chance(0.05);
                LogRecord {
                    time_unix_nano: now + i as u64,
                    severity_number: if error { 17 } else { 9 },
                    severity_text: if error { "ERROR".into() } else { "INFO".into() },
                    body: Some(AnyValue {
                        value: Some(any_value::Value::StringValue(format!(
                            "request {seq} handled for user {} in {} ms",
                            rng.next() % 10_000,
                            rng.next() % 500
                        ))),
                    }),
                    attributes: vec![kv("code.function", "handle"), kv_int("loadsim.sequence", seq as i64)],
                    ..Default::default()
                }
            })
            .collect();
        let service = (rng.next() % u64::from(a.services)) as u32;
        let req = ExportLogsServiceRequest {
            resource_logs: vec![ResourceLogs {
                resource: Some(resource(service)),
                scope_logs: vec![ScopeLogs { log_records: records, ..Default::default() }],
                ..Default::default()
            }],
        };
        c.logs_sent.fetch_add(batch as u64, Ordering::Relaxed);
        match sender.logs(req).await {
            Answer::Ok { rejected } => {
                c.logs_acked.fetch_add(batch as u64 - rejected.min(batch as u64), Ordering::Relaxed);
                c.logs_not_acked.fetch_add(rejected.min(batch as u64), Ordering::Relaxed);
            }
            _ => {
                c.logs_not_acked.fetch_add(batch as u64, Ordering::Relaxed);
            }
        }
        pace(&mut next, batch, a.logs_rate).await;
    }
}

async fn metric_producer(sender: Arc<Sender>, c: Arc<Counters>, end: Instant) {
    let a = &sender.args;
    let batch = (a.metrics_rate as usize / 10).clamp(1, 1000);
    let mut rng = Rng(now_ns() | 3);
    let mut next = Instant::now();
    let mut tick = 0u64;
    while Instant::now() < end {
        let now = now_ns();
        tick += 1;
        let points: Vec<NumberDataPoint> = (0..batch)
            .map(|i| NumberDataPoint {
                time_unix_nano: now,
                value: Some(number_data_point::Value::AsDouble((rng.next() % 1000) as f64 / 10.0)),
                attributes: vec![kv("series", &format!("s{i}")), kv_int("tick", tick as i64)],
                ..Default::default()
            })
            .collect();
        let service = (rng.next() % u64::from(a.services)) as u32;
        let req = ExportMetricsServiceRequest {
            resource_metrics: vec![ResourceMetrics {
                resource: Some(resource(service)),
                scope_metrics: vec![ScopeMetrics {
                    metrics: vec![Metric {
                        name: "loadsim.cpu.utilization".into(),
                        unit: "%".into(),
                        data: Some(metric::Data::Gauge(Gauge { data_points: points })),
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        };
        c.points_sent.fetch_add(batch as u64, Ordering::Relaxed);
        match sender.metrics(req).await {
            Answer::Ok { rejected } => {
                c.points_acked.fetch_add(batch as u64 - rejected.min(batch as u64), Ordering::Relaxed);
                c.points_not_acked.fetch_add(rejected.min(batch as u64), Ordering::Relaxed);
            }
            _ => {
                c.points_not_acked.fetch_add(batch as u64, Ordering::Relaxed);
            }
        }
        pace(&mut next, batch, a.metrics_rate).await;
    }
}

/// A value of the server's Prometheus endpoint (`process_resident_memory_bytes`, ...).
async fn server_metric(sender: &Sender, name: &str) -> Option<f64> {
    let text = sender
        .http
        .get(format!("{}/metrics/prometheus", sender.args.http_endpoint))
        .send()
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    text.lines()
        .find(|l| l.strip_prefix(name).is_some_and(|rest| rest.starts_with(' ')))
        .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
}

async fn server_rss(sender: &Sender) -> Option<u64> {
    server_metric(sender, "process_resident_memory_bytes").await.map(|v| v as u64)
}

/// CPU seconds (user + system) loadsim itself has used, from `/proc/self/stat` (Linux reports
/// them in ticks of 1/100 s); `None` elsewhere.
fn own_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let fields: Vec<&str> = stat[stat.rfind(')')? + 1..].split_whitespace().collect();
    let ticks = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

async fn stored(sender: &Sender) -> Option<(u64, u64, u64)> {
    let mut req =
        sender.http.get(format!("{}/api/stats", sender.args.http_endpoint)).header("x-tenant-id", &sender.tenant);
    if let Some(k) = &sender.args.api_key {
        req = req.bearer_auth(k);
    }
    let v: serde_json::Value = req.send().await.ok()?.json().await.ok()?;
    Some((v["span_count"].as_u64()?, v["log_count"].as_u64()?, v["metric_point_count"].as_u64()?))
}

fn mib(b: u64) -> f64 {
    b as f64 / 1024.0 / 1024.0
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    if args.protocol != "grpc" && args.protocol != "http" {
        eprintln!("--protocol must be grpc or http");
        return ExitCode::FAILURE;
    }
    let tenant = args.tenant_id.clone().unwrap_or_else(|| format!("loadsim-{}", now_ns() / 1_000_000));
    let grpc = if args.protocol == "grpc" {
        match tonic::transport::Endpoint::from_shared(args.endpoint.clone()) {
            Ok(e) => match e.connect().await {
                Ok(ch) => Some(ch),
                Err(e) => {
                    eprintln!("cannot connect to {}: {e}", args.endpoint);
                    return ExitCode::FAILURE;
                }
            },
            Err(e) => {
                eprintln!("invalid --endpoint: {e}");
                return ExitCode::FAILURE;
            }
        }
    } else {
        None
    };
    let total_rate = args.services as f64 * args.rate;
    println!(
        "loadsim: {} services x {} spans/s = {:.0} spans/s for {:?} over {} ({} connections, batch {}), tenant {tenant}",
        args.services, args.rate, total_rate, args.duration, args.protocol, args.connections, args.batch
    );
    let counters = Arc::new(Counters::default());
    let cpu_at_start = own_cpu_seconds();
    let started = Instant::now();
    let end = started + args.warmup + args.duration;
    let mut tasks = Vec::new();
    let senders: Vec<Arc<Sender>> = (0..args.connections.max(1))
        .map(|_| {
            Arc::new(Sender {
                args: args.clone(),
                http: reqwest::Client::new(),
                grpc: grpc.clone(),
                tenant: tenant.clone(),
            })
        })
        .collect();
    for (i, s) in senders.iter().enumerate() {
        let start_at = started + args.warmup.mul_f64(i as f64 / senders.len() as f64);
        tasks.push(tokio::spawn(span_producer(i, s.clone(), counters.clone(), end, start_at)));
    }
    if args.logs_rate > 0.0 {
        tasks.push(tokio::spawn(log_producer(senders[0].clone(), counters.clone(), end)));
    }
    if args.metrics_rate > 0.0 {
        tasks.push(tokio::spawn(metric_producer(senders[0].clone(), counters.clone(), end)));
    }
    let probe = senders[0].clone();
    let server_cpu_at_start = server_metric(&probe, "process_cpu_seconds_total").await;
    let mut peak_rss = 0u64;
    let mut last = (Instant::now(), 0u64);
    let mut measured_from: Option<(Instant, u64)> = None;
    while Instant::now() < end {
        tokio::time::sleep(Duration::from_secs(5).min(end.saturating_duration_since(Instant::now()))).await;
        let acked = counters.spans_acked.load(Ordering::Relaxed);
        if measured_from.is_none() && Instant::now() >= started + args.warmup {
            measured_from = Some((Instant::now(), acked));
        }
        let rss = server_rss(&probe).await.unwrap_or(0);
        peak_rss = peak_rss.max(rss);
        let rate = (acked - last.1) as f64 / last.0.elapsed().as_secs_f64();
        println!(
            "[T+{:>4.0}s] spans sent={} acked={} rejected={} throttled={} failed={} ack_rate={:.0}/s server_rss={:.0}MiB",
            started.elapsed().as_secs_f64(),
            counters.spans_sent.load(Ordering::Relaxed),
            acked,
            counters.spans_rejected.load(Ordering::Relaxed),
            counters.spans_throttled.load(Ordering::Relaxed),
            counters.spans_failed.load(Ordering::Relaxed),
            rate,
            mib(rss)
        );
        last = (Instant::now(), acked);
    }
    for t in tasks {
        let _ = t.await;
    }
    let send_secs = started.elapsed().as_secs_f64();
    let c = &counters;
    let acked = (
        c.spans_acked.load(Ordering::Relaxed),
        c.logs_acked.load(Ordering::Relaxed),
        c.points_acked.load(Ordering::Relaxed),
    );
    let sustained = measured_from
        .map(|(at, n)| (acked.0 - n) as f64 / at.elapsed().as_secs_f64())
        .unwrap_or(acked.0 as f64 / send_secs);

    // Wait for the server to store everything: until counts reach acked or stop moving.
    let settle_start = Instant::now();
    let mut stored_now = (0, 0, 0);
    let mut stable_since = Instant::now();
    while settle_start.elapsed() < args.settle {
        let s = stored(&probe).await.unwrap_or(stored_now);
        peak_rss = peak_rss.max(server_rss(&probe).await.unwrap_or(0));
        if s != stored_now {
            stored_now = s;
            stable_since = Instant::now();
        }
        let logs_done = stored_now.1 >= acked.1;
        if stored_now.0 >= acked.0 && logs_done && stored_now.2 >= acked.2 {
            break;
        }
        if stable_since.elapsed() > Duration::from_secs(10) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let settle_secs = settle_start.elapsed().as_secs_f64();
    println!("--- loadsim result (tenant {tenant}) ---");
    println!("send time            {send_secs:.1}s (warmup {:?}), settle {settle_secs:.1}s", args.warmup);
    println!(
        "spans   sent {} | acknowledged {} | rejected (partial success) {} | throttled {} | failed {} | stored {}",
        c.spans_sent.load(Ordering::Relaxed),
        acked.0,
        c.spans_rejected.load(Ordering::Relaxed),
        c.spans_throttled.load(Ordering::Relaxed),
        c.spans_failed.load(Ordering::Relaxed),
        stored_now.0
    );
    if args.logs_rate > 0.0 {
        println!(
            "logs    sent {} | acknowledged {} | not acknowledged {} | stored {} (incl. logs derived from span events)",
            c.logs_sent.load(Ordering::Relaxed),
            acked.1,
            c.logs_not_acked.load(Ordering::Relaxed),
            stored_now.1
        );
    }
    if args.metrics_rate > 0.0 {
        println!(
            "points  sent {} | acknowledged {} | not acknowledged {} | stored {}",
            c.points_sent.load(Ordering::Relaxed),
            acked.2,
            c.points_not_acked.load(Ordering::Relaxed),
            stored_now.2
        );
    }
    println!("sustained ack rate   {sustained:.0} spans/s (after warmup)");
    println!(
        "stored rate          {:.0} spans/s (stored / (send + settle time))",
        stored_now.0 as f64 / (send_secs + settle_secs)
    );
    println!("server peak RSS      {:.0} MiB", mib(peak_rss));
    let wall = started.elapsed().as_secs_f64();
    if let (Some(a), Some(b)) = (cpu_at_start, own_cpu_seconds()) {
        println!("loadsim CPU          {:.1} s over {wall:.1} s ({:.2} cores)", b - a, (b - a) / wall);
    }
    let server_cpu_at_end = server_metric(&probe, "process_cpu_seconds_total").await;
    if let (Some(a), Some(b)) = (server_cpu_at_start, server_cpu_at_end) {
        println!("server CPU           {:.1} s over {wall:.1} s ({:.2} cores)", b - a, (b - a) / wall);
    }
    let spans_ok = stored_now.0 == acked.0;
    let points_ok = args.metrics_rate == 0.0 || stored_now.2 == acked.2;
    if spans_ok && points_ok {
        println!("zero-loss check      PASS (acknowledged = stored)");
        ExitCode::SUCCESS
    } else {
        println!(
            "zero-loss check      FAIL (acknowledged {} spans / {} points, stored {} / {})",
            acked.0, acked.2, stored_now.0, stored_now.2
        );
        ExitCode::FAILURE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_template_instance_is_the_request_with_new_trace_ids_and_moved_times() {
        let mut rng = Rng(7);
        let resources: Vec<Resource> = (0..4).map(resource).collect();
        let base = 1_700_000_000_000_000_000u64;
        let mut spans = trace(&mut rng, 4, 1, 5, true, base);
        spans.extend(trace(&mut rng, 4, 2, 5, false, base));
        let req = trace_request(spans, &resources);
        let template = Template::new(&req, base);
        assert_eq!(template.spans, 10);
        // Five spans per trace with start and end, and one exception event in the failing trace.
        assert_eq!(template.times.len(), 21);

        let (salt, shift) = (0x0123_4567_89ab_cdef_u64, 42_000_000_000u64);
        let sent = ExportTraceServiceRequest::decode(template.instance(salt, base + shift).as_slice()).unwrap();
        let pairs = req.resource_spans.iter().zip(&sent.resource_spans);
        let mut seen = 0;
        for (a, b) in pairs.flat_map(|(a, b)| a.scope_spans.iter().zip(&b.scope_spans)) {
            for (x, y) in a.spans.iter().zip(&b.spans) {
                let mut id = x.trace_id.clone();
                let first = u64::from_le_bytes(id[..8].try_into().unwrap()) ^ salt;
                id[..8].copy_from_slice(&first.to_le_bytes());
                assert_eq!(y.trace_id, id);
                assert_eq!(
                    (y.start_time_unix_nano, y.end_time_unix_nano),
                    (x.start_time_unix_nano + shift, x.end_time_unix_nano + shift)
                );
                assert_eq!(
                    y.events.iter().map(|e| e.time_unix_nano).collect::<Vec<_>>(),
                    x.events.iter().map(|e| e.time_unix_nano + shift).collect::<Vec<_>>()
                );
                assert_eq!(
                    (&y.span_id, &y.name, &y.attributes, &y.status),
                    (&x.span_id, &x.name, &x.attributes, &x.status)
                );
                seen += 1;
            }
        }
        assert_eq!(seen, 10);
        assert_ne!(template.instance(1, base), template.instance(2, base), "each salt gives other trace ids");
    }
}
