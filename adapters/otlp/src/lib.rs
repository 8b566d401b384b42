//! Inbound OTLP adapters: the gRPC services (tonic) and the HTTP endpoints (poem), and the
//! translation from OTLP protobuf messages to the domain model. Translation ([`map`]) is separate
//! from transport so it is testable without a server; both transports share [`Receiver`].

pub mod encode;
pub mod grpc;
pub mod http;
pub mod json;
pub mod map;
pub mod reply;
pub mod tenant;

pub use encode::OtlpJson;
pub use grpc::{GrpcLimits, OtlpGrpc};
pub use http::{HttpLimits, OtlpHttp};
pub use tenant::TenantPolicy;

use opentelemetry_proto::tonic::collector::logs::v1::{ExportLogsServiceRequest, ExportLogsServiceResponse};
use opentelemetry_proto::tonic::collector::metrics::v1::{ExportMetricsServiceRequest, ExportMetricsServiceResponse};
use opentelemetry_proto::tonic::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use otelcontext_domain::{TenantHeaderError, TenantId};
use otelcontext_ports::{Authenticator, Identity, Ingest, IngestError, IngestReceipt, Signal};
use otelcontext_telemetry::{Counter, Histogram, KeyValue, Meter, counter, histogram};
use std::sync::Arc;
use std::time::Instant;

/// Header (HTTP) or metadata key (gRPC) marking an export of otelcontext's own telemetry: such
/// requests are not traced, so a server that exports to itself makes no spans about storing its
/// own spans (no feedback loop).
pub const SELF_TELEMETRY_HEADER: &str = "x-otelcontext-self";

/// Everything both receivers need.
#[derive(Clone)]
pub struct Receiver {
    pub ingest: Arc<dyn Ingest>,
    pub auth: Arc<dyn Authenticator>,
    pub metrics: Arc<OtlpMetrics>,
    pub tenants: TenantPolicy,
    /// Receive-time clock (unix ns) for log records that carry no timestamp.
    pub now_ns: Arc<dyn Fn() -> i64 + Send + Sync>,
}

/// The receivers' metrics.
pub struct OtlpMetrics {
    received: Counter<u64>,
    rejected: Counter<u64>,
    duration: Histogram<f64>,
    pub(crate) payload_rejected: Counter<u64>,
    pub(crate) http_throttled: Counter<u64>,
    pub(crate) grpc_requests: Counter<u64>,
    pub(crate) grpc_duration: Histogram<f64>,
    pub(crate) auth_failures: Counter<u64>,
    pub(crate) panics: Counter<u64>,
}

impl OtlpMetrics {
    /// Registers the instruments.
    pub fn new(meter: &Meter) -> Self {
        let m = Self {
            received: counter(
                meter,
                "otelcontext_ingest_received_total",
                "Records (spans, log records, metric points) received by the OTLP receivers.",
            ),
            rejected: otelcontext_telemetry::ingest_rejected(meter),
            duration: histogram(
                meter,
                "otelcontext_ingest_duration_seconds",
                "Time to handle one OTLP Export call.",
                otelcontext_telemetry::LATENCY_BUCKETS,
            ),
            payload_rejected: counter(
                meter,
                "otelcontext_otlp_payload_rejected_total",
                "Whole OTLP payloads refused, by reason (too_large, invalid_content_type, decode_error, bad_encoding, invalid_tenant, forbidden_tenant, unauthorized, throttled, unavailable).",
            ),
            http_throttled: counter(
                meter,
                "otelcontext_http_otlp_throttled_total",
                "OTLP/HTTP requests answered 429 because the pipeline was full.",
            ),
            grpc_requests: counter(meter, "otelcontext_grpc_requests_total", "gRPC requests handled."),
            grpc_duration: histogram(
                meter,
                "otelcontext_grpc_request_duration_seconds",
                "gRPC request latency.",
                otelcontext_telemetry::LATENCY_BUCKETS,
            ),
            auth_failures: otelcontext_telemetry::auth_failures(meter),
            panics: otelcontext_telemetry::panics_recovered(meter),
        };
        for transport in ["grpc", "http"] {
            for reason in [
                "too_large",
                "decode_error",
                "invalid_tenant",
                "forbidden_tenant",
                "unauthorized",
                "throttled",
                "unavailable",
            ] {
                m.payload_rejected.add(0, &[KeyValue::new("transport", transport), KeyValue::new("reason", reason)]);
            }
        }
        for signal in Signal::ALL {
            m.http_throttled.add(0, &[KeyValue::new("signal", signal.as_str())]);
        }
        m.panics.add(0, &[KeyValue::new("subsystem", "grpc")]);
        m
    }

    /// Counts a refused payload.
    pub fn payload_rejected(&self, transport: Transport, reason: &'static str) {
        self.payload_rejected
            .add(1, &[KeyValue::new("transport", transport.as_str()), KeyValue::new("reason", reason)]);
    }
}

/// Why an export failed as a whole.
#[derive(Debug, Clone, PartialEq)]
pub enum ExportError {
    /// The tenant header or resource attribute is not a valid tenant id.
    InvalidTenant(String),
    /// The tenant header names another tenant than the one the credential is bound to.
    ForbiddenTenant(String),
    /// The core refused the export.
    Ingest(IngestError),
}

/// The transport label of metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Grpc,
    Http,
}

impl Transport {
    /// Label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Grpc => "grpc",
            Transport::Http => "http",
        }
    }
}

fn combine(mapped_rejected: u64, first_error: Option<String>, receipt: IngestReceipt) -> (u64, Option<String>) {
    (mapped_rejected + receipt.rejected, first_error.or(receipt.message))
}

impl Receiver {
    /// Refuses early (before mapping) when the pipeline cannot take anything.
    fn early_refusal(&self, signal: Signal, records: u64) -> Result<(), ExportError> {
        self.ingest.check_capacity(signal, records).map_err(ExportError::Ingest)
    }

    fn request_tenant(
        &self,
        identity: Option<&Identity>,
        header: Option<&str>,
    ) -> Result<tenant::RequestTenant, ExportError> {
        let bound: Option<&TenantId> = identity.and_then(|i| i.tenant.as_ref());
        self.tenants.for_request(bound, header).map_err(|e| match e {
            e @ TenantHeaderError::NotYours { .. } => ExportError::ForbiddenTenant(e.to_string()),
            e @ TenantHeaderError::Invalid { .. } => ExportError::InvalidTenant(format!("in the tenant header: {e}")),
        })
    }

    fn account(&self, signal: Signal, transport: Transport, received: u64, rejected: u64, started: Instant) {
        let m = &self.metrics;
        let sig = KeyValue::new("signal", signal.as_str());
        m.received.add(received, &[sig.clone(), KeyValue::new("transport", transport.as_str())]);
        if rejected > 0 {
            m.rejected.add(rejected, &[sig.clone(), KeyValue::new("reason", "invalid")]);
        }
        m.duration.record(started.elapsed().as_secs_f64(), &[sig]);
    }

    /// Handles a trace export.
    pub async fn export_traces(
        &self,
        transport: Transport,
        identity: Option<&Identity>,
        tenant_header: Option<&str>,
        req: ExportTraceServiceRequest,
    ) -> Result<ExportTraceServiceResponse, ExportError> {
        let started = Instant::now();
        let tenant = self.request_tenant(identity, tenant_header)?;
        self.early_refusal(Signal::Traces, map::count_spans(&req))?;
        let mapped = map::traces(req, &self.tenants, &tenant).map_err(|e| ExportError::InvalidTenant(e.to_string()))?;
        self.account(Signal::Traces, transport, mapped.received, mapped.rejected, started);
        let receipt = self.ingest.ingest_spans(mapped.parts).await.map_err(ExportError::Ingest)?;
        let (rejected, message) = combine(mapped.rejected, mapped.first_error, receipt);
        Ok(reply::traces_response(rejected, message))
    }

    /// Handles a logs export.
    pub async fn export_logs(
        &self,
        transport: Transport,
        identity: Option<&Identity>,
        tenant_header: Option<&str>,
        req: ExportLogsServiceRequest,
    ) -> Result<ExportLogsServiceResponse, ExportError> {
        let started = Instant::now();
        let tenant = self.request_tenant(identity, tenant_header)?;
        let mapped = map::logs(req, &self.tenants, &tenant, (self.now_ns)())
            .map_err(|e| ExportError::InvalidTenant(e.to_string()))?;
        self.account(Signal::Logs, transport, mapped.received, mapped.rejected, started);
        let receipt = self.ingest.ingest_logs(mapped.parts).await.map_err(ExportError::Ingest)?;
        let (rejected, message) = combine(mapped.rejected, mapped.first_error, receipt);
        Ok(reply::logs_response(rejected, message))
    }

    /// Handles a metrics export.
    pub async fn export_metrics(
        &self,
        transport: Transport,
        identity: Option<&Identity>,
        tenant_header: Option<&str>,
        req: ExportMetricsServiceRequest,
    ) -> Result<ExportMetricsServiceResponse, ExportError> {
        let started = Instant::now();
        let tenant = self.request_tenant(identity, tenant_header)?;
        let mapped =
            map::metrics(req, &self.tenants, &tenant).map_err(|e| ExportError::InvalidTenant(e.to_string()))?;
        self.account(Signal::Metrics, transport, mapped.received, mapped.rejected, started);
        let receipt = self.ingest.ingest_metrics(mapped.parts).await.map_err(ExportError::Ingest)?;
        let (rejected, message) = combine(mapped.rejected, mapped.first_error, receipt);
        Ok(reply::metrics_response(rejected, message))
    }
}
