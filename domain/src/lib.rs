//! Pure domain logic of otelcontext.
//!
//! Everything here is deterministic and free of IO: the telemetry model (spans, logs, metric
//! points, resources), identifiers and tenancy, and the ingest policies (sampling, filtering,
//! queue admission, span-event logs, trace aggregation), the stored shapes of what the
//! intelligence features persist (log templates, metric buckets, investigations, snapshots), the
//! retention calendar and the shared JSON storage format. Functions that depend on time take it as
//! an argument; nothing here reads a clock.

pub mod admission;
pub mod bucket;
pub mod codec;
pub mod dashboard;
pub mod dlq;
pub mod drain;
pub mod duration;
pub mod filter;
pub mod graph;
pub mod hash;
pub mod ids;
pub mod investigation;
pub mod keys;
pub mod log;
pub mod metric;
pub mod pattern;
pub mod ratelimit;
pub mod resource;
pub mod retention;
pub mod sampling;
pub mod search;
pub mod similar;
pub mod span;
pub mod span_logs;
pub mod template;
pub mod tenant;
pub mod trace;
pub mod tsdb;
pub mod value;

pub use bucket::{BucketHistogram, ExpHistogram, MetricBucket, RolledSeries, rollup};
pub use ids::{IdError, SpanId, TraceId};
pub use investigation::{GraphSnapshot, Investigation, InvestigationSeverity, InvestigationStatus};
pub use log::{LogRecord, SeverityLevel};
pub use metric::{MetricPoint, PointValue, Temporality};
pub use pattern::{Activity, PatternFlags, SeverityMix};
pub use resource::{InstrumentationScope, Resource};
pub use span::{Span, SpanEvent, SpanKind, SpanLink, SpanStatus, StatusCode};
pub use template::{LogTemplate, TemplateId};
pub use tenant::{InvalidTenantId, TenantHeaderError, TenantId, request_tenant};
pub use trace::{Trace, TraceSummary};
pub use value::{AnyValue, Attributes, KeyValue};

/// The service name used when a resource carries no `service.name`.
pub const UNKNOWN_SERVICE: &str = "unknown_service";
