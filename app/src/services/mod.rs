//! Use-case services: they combine domain policies with the driven ports and implement the
//! driving ports the inbound adapters call.

pub mod auth;
pub mod clock;
pub mod ingest;
pub mod pipeline;
pub mod queries;
pub mod readiness;

pub use auth::StaticKeyAuthenticator;
pub use clock::SystemClock;
pub use ingest::{IngestPolicy, IngestService};
pub use pipeline::{Pipeline, PipelineSettings};
pub use queries::QueryService;
pub use readiness::ReadinessService;
