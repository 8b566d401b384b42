//! OTLP/gRPC: `TraceService`, `LogsService` and `MetricsService` `Export`.

use crate::{ExportError, OtlpMetrics, Receiver, Transport};
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_server::{LogsService, LogsServiceServer};
use opentelemetry_proto::tonic::collector::logs::v1::{ExportLogsServiceRequest, ExportLogsServiceResponse};
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{ExportMetricsServiceRequest, ExportMetricsServiceResponse};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{TraceService, TraceServiceServer};
use opentelemetry_proto::tonic::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use otelcontext_ports::{Identity, IngestError};
use otelcontext_telemetry::KeyValue;
use prost::Message;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tonic::codec::CompressionEncoding;
use tonic::metadata::MetadataMap;
use tonic::transport::Server;
use tonic::transport::server::Router;
use tonic::{Code, Request, Response, Status};
use tower::layer::util::{Identity as NoLayer, Stack};
use tracing::Instrument;

/// Limits of the gRPC server.
#[derive(Debug, Clone, PartialEq)]
pub struct GrpcLimits {
    /// Largest accepted (decompressed) message, in bytes.
    pub max_recv_bytes: usize,
    /// HTTP/2 concurrent streams per connection.
    pub max_concurrent_streams: u32,
}

/// The router [`OtlpGrpc::into_router`] builds.
pub type GrpcRouter = Router<Stack<OversizeLayer, NoLayer>>;

/// Answers an oversize request with RESOURCE_EXHAUSTED (no RetryInfo) instead of tonic's
/// OUT_OF_RANGE: the OTLP specification lists OUT_OF_RANGE as retryable, so exporters would resend
/// the same oversize batch until they give up; RESOURCE_EXHAUSTED without RetryInfo is not retried.
#[derive(Clone)]
pub struct OversizeLayer {
    metrics: Arc<OtlpMetrics>,
    limit: usize,
}

impl<S> tower::Layer<S> for OversizeLayer {
    type Service = Oversize<S>;
    fn layer(&self, inner: S) -> Oversize<S> {
        Oversize { inner, layer: self.clone() }
    }
}

/// The service of [`OversizeLayer`].
#[derive(Clone)]
pub struct Oversize<S> {
    inner: S,
    layer: OversizeLayer,
}

impl<S, ReqBody, ResBody> tower::Service<http::Request<ReqBody>> for Oversize<S>
where
    S: tower::Service<http::Request<ReqBody>, Response = http::Response<ResBody>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<ReqBody>) -> Self::Future {
        let fut = self.inner.call(req);
        let layer = self.layer.clone();
        Box::pin(async move {
            let mut resp = fut.await?;
            layer.rewrite(resp.headers_mut());
            Ok(resp)
        })
    }
}

impl OversizeLayer {
    fn rewrite(&self, h: &mut http::HeaderMap) {
        let oversize = h.get("grpc-status").is_some_and(|v| v.as_bytes() == b"11")
            && h.get("grpc-message")
                .is_some_and(|v| percent_decode(v.as_bytes()).contains("decoded message length too large"));
        if !oversize {
            return;
        }
        let found = h.get("grpc-message").map(|v| percent_decode(v.as_bytes())).unwrap_or_default();
        let size = found.split("found ").nth(1).and_then(|r| r.split(' ').next()).unwrap_or("?").to_owned();
        let message = format!(
            "request message of {size} bytes is larger than the limit of {} bytes (GRPC_MAX_RECV_MB); split the batch",
            self.limit
        );
        h.insert("grpc-status", http::HeaderValue::from_static("8"));
        if let Ok(v) = http::HeaderValue::from_str(&message) {
            h.insert("grpc-message", v);
        }
        h.remove("grpc-status-details-bin");
        self.metrics.payload_rejected(Transport::Grpc, "too_large");
    }
}

/// Decodes gRPC's percent-encoding of `grpc-message`.
fn percent_decode(raw: &[u8]) -> String {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if raw[i] == b'%'
            && i + 2 < raw.len()
            && let (Some(a), Some(b)) = (hex(raw[i + 1]), hex(raw[i + 2]))
        {
            out.push((a * 16 + b) as u8);
            i += 3;
            continue;
        }
        out.push(raw[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The three OTLP gRPC services over one [`Receiver`].
#[derive(Clone)]
pub struct OtlpGrpc {
    receiver: Receiver,
}

#[derive(Clone, PartialEq, Message)]
struct ProtoDuration {
    #[prost(int64, tag = "1")]
    seconds: i64,
    #[prost(int32, tag = "2")]
    nanos: i32,
}

#[derive(Clone, PartialEq, Message)]
struct RetryInfo {
    #[prost(message, optional, tag = "1")]
    retry_delay: Option<ProtoDuration>,
}

#[derive(Clone, PartialEq, Message)]
struct ProtoAny {
    #[prost(string, tag = "1")]
    type_url: String,
    #[prost(bytes = "vec", tag = "2")]
    value: Vec<u8>,
}

#[derive(Clone, PartialEq, Message)]
struct StatusWithDetails {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
    #[prost(message, repeated, tag = "3")]
    details: Vec<ProtoAny>,
}

/// RESOURCE_EXHAUSTED with a `google.rpc.RetryInfo` detail: OTLP clients only retry this code
/// when the server says recovery is possible.
fn throttled(message: String, retry_after_secs: u32) -> Status {
    let retry = RetryInfo { retry_delay: Some(ProtoDuration { seconds: retry_after_secs.into(), nanos: 0 }) };
    let details = StatusWithDetails {
        code: Code::ResourceExhausted as i32,
        message: message.clone(),
        details: vec![ProtoAny {
            type_url: "type.googleapis.com/google.rpc.RetryInfo".into(),
            value: retry.encode_to_vec(),
        }],
    };
    Status::with_details(Code::ResourceExhausted, message, details.encode_to_vec().into())
}

impl OtlpGrpc {
    /// Services over `receiver`.
    pub fn new(receiver: Receiver) -> Self {
        Self { receiver }
    }

    /// A tonic router with the three services, gzip, the size limit and the keepalive policy.
    pub fn into_router(self, limits: &GrpcLimits) -> GrpcRouter {
        let oversize = OversizeLayer { metrics: self.receiver.metrics.clone(), limit: limits.max_recv_bytes };
        Server::builder()
            .layer(oversize)
            .max_concurrent_streams(limits.max_concurrent_streams)
            .http2_keepalive_interval(Some(Duration::from_secs(60)))
            .http2_keepalive_timeout(Some(Duration::from_secs(10)))
            .max_connection_age(Duration::from_secs(2 * 3600))
            .max_connection_age_grace(Duration::from_secs(30))
            .tcp_nodelay(true)
            .add_service(
                TraceServiceServer::new(self.clone())
                    .max_decoding_message_size(limits.max_recv_bytes)
                    .accept_compressed(CompressionEncoding::Gzip)
                    .send_compressed(CompressionEncoding::Gzip),
            )
            .add_service(
                LogsServiceServer::new(self.clone())
                    .max_decoding_message_size(limits.max_recv_bytes)
                    .accept_compressed(CompressionEncoding::Gzip)
                    .send_compressed(CompressionEncoding::Gzip),
            )
            .add_service(
                MetricsServiceServer::new(self)
                    .max_decoding_message_size(limits.max_recv_bytes)
                    .accept_compressed(CompressionEncoding::Gzip)
                    .send_compressed(CompressionEncoding::Gzip),
            )
    }

    fn authenticate(&self, md: &MetadataMap) -> Result<Identity, Status> {
        let header = md.get("authorization").and_then(|v| v.to_str().ok());
        self.receiver.auth.authenticate(header).map_err(|e| {
            self.receiver
                .metrics
                .auth_failures
                .add(1, &[KeyValue::new("surface", "grpc"), KeyValue::new("reason", e.reason())]);
            self.reject("unauthorized");
            Status::unauthenticated(e.to_string())
        })
    }

    fn reject(&self, reason: &'static str) {
        self.receiver.metrics.payload_rejected(Transport::Grpc, reason);
    }

    fn to_status(&self, e: ExportError) -> Status {
        match e {
            ExportError::InvalidTenant(m) => {
                self.reject("invalid_tenant");
                Status::invalid_argument(m)
            }
            ExportError::ForbiddenTenant(m) => {
                self.reject("forbidden_tenant");
                Status::permission_denied(m)
            }
            ExportError::Ingest(IngestError::Throttled { retry_after_secs }) => {
                self.reject("throttled");
                throttled(IngestError::Throttled { retry_after_secs }.to_string(), retry_after_secs)
            }
            ExportError::Ingest(e @ (IngestError::Unavailable(_) | IngestError::ShuttingDown)) => {
                self.reject("unavailable");
                Status::unavailable(e.to_string())
            }
        }
    }

    /// Runs a handler in its own task so that a panic becomes INTERNAL (and the export, once
    /// accepted, completes even if the client goes away), and records the call's metrics.
    async fn run<T, F, Fut>(&self, method: &'static str, md: &MetadataMap, f: F) -> Result<Response<T>, Status>
    where
        T: Send + 'static,
        F: FnOnce(Identity, Option<String>) -> Fut,
        Fut: Future<Output = Result<T, ExportError>> + Send + 'static,
    {
        let started = Instant::now();
        let span = if md.contains_key(crate::SELF_TELEMETRY_HEADER) {
            tracing::Span::none()
        } else {
            tracing::info_span!(
                "otelcontext.grpc",
                otel.name = method,
                otel.kind = "server",
                rpc.system = "grpc",
                rpc.method = method,
                rpc.grpc.status_code = tracing::field::Empty,
            )
        };
        let result = self.call(method, md, f).instrument(span.clone()).await;
        let code = match &result {
            Ok(_) => Code::Ok,
            Err(s) => s.code(),
        };
        span.record("rpc.grpc.status_code", code as i32);
        let m = &self.receiver.metrics;
        m.grpc_requests.add(1, &[KeyValue::new("method", method), KeyValue::new("code", format!("{code:?}"))]);
        m.grpc_duration.record(started.elapsed().as_secs_f64(), &[KeyValue::new("method", method)]);
        result
    }

    async fn call<T, F, Fut>(&self, method: &'static str, md: &MetadataMap, f: F) -> Result<Response<T>, Status>
    where
        T: Send + 'static,
        F: FnOnce(Identity, Option<String>) -> Fut,
        Fut: Future<Output = Result<T, ExportError>> + Send + 'static,
    {
        match self.authenticate(md) {
            Err(status) => Err(status),
            Ok(identity) => {
                // A present but unreadable value must be refused, not treated as absent.
                let tenant = md.get("x-tenant-id").map(|v| v.to_str().unwrap_or("<non-ASCII value>").to_owned());
                match tokio::spawn(f(identity, tenant)).await {
                    Ok(Ok(resp)) => Ok(Response::new(resp)),
                    Ok(Err(e)) => Err(self.to_status(e)),
                    Err(join) => {
                        tracing::error!(method, error = %join, "OTLP gRPC handler panicked");
                        self.receiver.metrics.panics.add(1, &[KeyValue::new("subsystem", "grpc")]);
                        Err(Status::internal("internal error"))
                    }
                }
            }
        }
    }
}

#[tonic::async_trait]
impl TraceService for OtlpGrpc {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        let (md, _, body) = request.into_parts();
        let receiver = self.receiver.clone();
        self.run("TraceService/Export", &md, move |id, tenant| async move {
            receiver.export_traces(Transport::Grpc, Some(&id), tenant.as_deref(), body).await
        })
        .await
    }
}

#[tonic::async_trait]
impl LogsService for OtlpGrpc {
    async fn export(
        &self,
        request: Request<ExportLogsServiceRequest>,
    ) -> Result<Response<ExportLogsServiceResponse>, Status> {
        let (md, _, body) = request.into_parts();
        let receiver = self.receiver.clone();
        self.run("LogsService/Export", &md, move |id, tenant| async move {
            receiver.export_logs(Transport::Grpc, Some(&id), tenant.as_deref(), body).await
        })
        .await
    }
}

#[tonic::async_trait]
impl MetricsService for OtlpGrpc {
    async fn export(
        &self,
        request: Request<ExportMetricsServiceRequest>,
    ) -> Result<Response<ExportMetricsServiceResponse>, Status> {
        let (md, _, body) = request.into_parts();
        let receiver = self.receiver.clone();
        self.run("MetricsService/Export", &md, move |id, tenant| async move {
            receiver.export_metrics(Transport::Grpc, Some(&id), tenant.as_deref(), body).await
        })
        .await
    }
}

/// Decodes the `google.rpc.RetryInfo` delay of a status, if any (for tests and clients).
pub fn retry_delay_secs(status: &Status) -> Option<i64> {
    let details = StatusWithDetails::decode(status.details()).ok()?;
    details
        .details
        .iter()
        .find(|d| d.type_url.ends_with("google.rpc.RetryInfo"))
        .and_then(|d| RetryInfo::decode(d.value.as_slice()).ok())
        .and_then(|r| r.retry_delay)
        .map(|d| d.seconds)
}
