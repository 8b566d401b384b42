//! Pure domain logic of otelcontext.
//!
//! Everything here is deterministic and free of IO: the telemetry model (spans, logs, metric
//! points, resources), identifiers and tenancy, and the ingest policies (sampling, filtering,
//! queue admission, span-event logs, trace aggregation). Functions that depend on time take it as
//! an argument; nothing here reads a clock.

pub mod admission;
pub mod filter;
pub mod hash;
pub mod ids;
pub mod log;
pub mod metric;
pub mod resource;
pub mod sampling;
pub mod span;
pub mod span_logs;
pub mod tenant;
pub mod trace;
pub mod value;

pub use ids::{IdError, SpanId, TraceId};
pub use log::{LogRecord, SeverityLevel};
pub use metric::{MetricPoint, PointValue, Temporality};
pub use resource::{InstrumentationScope, Resource};
pub use span::{Span, SpanEvent, SpanKind, SpanLink, SpanStatus, StatusCode};
pub use tenant::{InvalidTenantId, TenantId};
pub use trace::{Trace, TraceSummary};
pub use value::{AnyValue, Attributes, KeyValue};

/// The service name used when a resource carries no `service.name`.
pub const UNKNOWN_SERVICE: &str = "unknown_service";
