//! Inbound OTLP adapters: the gRPC services (tonic) and the HTTP endpoints (poem), and the
//! translation from OTLP protobuf messages to the domain model. Translation ([`map`]) is separate
//! from transport so it is testable without a server.

pub mod grpc;
pub mod http;
pub mod map;
pub mod reply;
pub mod tenant;

pub use grpc::{GrpcLimits, OtlpGrpc};
pub use http::{HttpLimits, OtlpHttp};
pub use tenant::TenantPolicy;

use otelcontext_ports::{Authenticator, Ingest};
use otelcontext_telemetry::Metrics;
use std::sync::Arc;

/// Everything both receivers need.
#[derive(Clone)]
pub struct Receiver {
    pub ingest: Arc<dyn Ingest>,
    pub auth: Arc<dyn Authenticator>,
    pub metrics: Arc<Metrics>,
    pub tenants: TenantPolicy,
    /// Receive-time clock for records that carry no timestamp.
    pub now_ns: Arc<dyn Fn() -> i64 + Send + Sync>,
}
