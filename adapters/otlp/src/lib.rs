//! Inbound OTLP adapters: the gRPC services (tonic) and the HTTP endpoints (poem), and the
//! translation from OTLP protobuf messages to the domain model. Translation ([`map`]) is separate
//! from transport so it is testable without a server; both transports share [`Receiver`].

pub mod grpc;
pub mod http;
pub mod json;
pub mod map;
pub mod reply;
pub mod tenant;

pub use grpc::{GrpcLimits, OtlpGrpc};
pub use http::{HttpLimits, OtlpHttp};
pub use tenant::TenantPolicy;

use opentelemetry_proto::tonic::collector::logs::v1::{ExportLogsServiceRequest, ExportLogsServiceResponse};
use opentelemetry_proto::tonic::collector::metrics::v1::{ExportMetricsServiceRequest, ExportMetricsServiceResponse};
use opentelemetry_proto::tonic::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use otelcontext_domain::TenantId;
use otelcontext_ports::{Authenticator, Identity, Ingest, IngestError, IngestReceipt, Signal};
use otelcontext_telemetry::Metrics;
use std::sync::Arc;
use std::time::Instant;

/// Everything both receivers need.
#[derive(Clone)]
pub struct Receiver {
    pub ingest: Arc<dyn Ingest>,
    pub auth: Arc<dyn Authenticator>,
    pub metrics: Arc<Metrics>,
    pub tenants: TenantPolicy,
    /// Receive-time clock (unix ns) for log records that carry no timestamp.
    pub now_ns: Arc<dyn Fn() -> i64 + Send + Sync>,
}

/// Why an export failed as a whole.
#[derive(Debug, Clone, PartialEq)]
pub enum ExportError {
    /// The tenant header or resource attribute is not a valid tenant id.
    InvalidTenant(String),
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
        self.tenants.for_request(bound, header).map_err(|e| ExportError::InvalidTenant(e.to_string()))
    }

    fn account(&self, signal: Signal, transport: Transport, received: u64, rejected: u64, started: Instant) {
        let m = &self.metrics;
        m.ingest_received.with_label_values(&[signal.as_str(), transport.as_str()]).inc_by(received);
        if rejected > 0 {
            m.ingest_rejected.with_label_values(&[signal.as_str(), "invalid"]).inc_by(rejected);
        }
        m.ingest_duration.with_label_values(&[signal.as_str()]).observe(started.elapsed().as_secs_f64());
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
