//! Spans.

use crate::ids::{SpanId, TraceId};
use crate::resource::{InstrumentationScope, Resource};
use crate::value::Attributes;
use std::sync::Arc;

/// The role of a span in a trace (OTel `SpanKind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SpanKind {
    #[default]
    Unspecified,
    Internal,
    Server,
    Client,
    Producer,
    Consumer,
}

impl SpanKind {
    /// From the OTLP enum number; unknown numbers are `Unspecified`.
    pub fn from_otlp(n: i32) -> Self {
        match n {
            1 => Self::Internal,
            2 => Self::Server,
            3 => Self::Client,
            4 => Self::Producer,
            5 => Self::Consumer,
            _ => Self::Unspecified,
        }
    }

    /// The OTLP enum number.
    pub fn as_otlp(self) -> i32 {
        match self {
            Self::Unspecified => 0,
            Self::Internal => 1,
            Self::Server => 2,
            Self::Client => 3,
            Self::Producer => 4,
            Self::Consumer => 5,
        }
    }

    /// Upper-case short name, e.g. `SERVER`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unspecified => "UNSPECIFIED",
            Self::Internal => "INTERNAL",
            Self::Server => "SERVER",
            Self::Client => "CLIENT",
            Self::Producer => "PRODUCER",
            Self::Consumer => "CONSUMER",
        }
    }
}

/// Span status code, ordered so that a trace's status can only move up: UNSET < OK < ERROR.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum StatusCode {
    #[default]
    Unset,
    Ok,
    Error,
}

impl StatusCode {
    /// From the OTLP enum number; unknown numbers are `Unset`.
    pub fn from_otlp(n: i32) -> Self {
        match n {
            1 => Self::Ok,
            2 => Self::Error,
            _ => Self::Unset,
        }
    }

    /// The OTLP enum number.
    pub fn as_otlp(self) -> i32 {
        match self {
            Self::Unset => 0,
            Self::Ok => 1,
            Self::Error => 2,
        }
    }

    /// Upper-case short name: `UNSET`, `OK`, `ERROR`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unset => "UNSET",
            Self::Ok => "OK",
            Self::Error => "ERROR",
        }
    }
}

/// Span status.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SpanStatus {
    pub code: StatusCode,
    pub message: String,
}

/// A timed event inside a span (e.g. an exception).
#[derive(Debug, Clone, PartialEq)]
pub struct SpanEvent {
    pub time_ns: i64,
    pub name: String,
    pub attributes: Attributes,
    pub dropped_attributes_count: u32,
}

/// A link from a span to a span of another (or the same) trace.
#[derive(Debug, Clone, PartialEq)]
pub struct SpanLink {
    pub trace_id: TraceId,
    pub span_id: SpanId,
    pub trace_state: String,
    pub attributes: Attributes,
    pub flags: u32,
}

/// One span, with its resource and scope.
#[derive(Debug, Clone, PartialEq)]
pub struct Span {
    pub trace_id: TraceId,
    pub span_id: SpanId,
    pub parent_span_id: Option<SpanId>,
    pub trace_state: String,
    pub flags: u32,
    pub name: String,
    pub kind: SpanKind,
    pub start_ns: i64,
    pub end_ns: i64,
    pub attributes: Attributes,
    pub dropped_attributes_count: u32,
    pub events: Vec<SpanEvent>,
    pub links: Vec<SpanLink>,
    pub status: SpanStatus,
    pub resource: Arc<Resource>,
    pub scope: Arc<InstrumentationScope>,
}

impl Span {
    /// End minus start, in nanoseconds (never negative: a span ending before it starts lasts 0).
    pub fn duration_ns(&self) -> i64 {
        self.end_ns.saturating_sub(self.start_ns).max(0)
    }

    /// The service that produced the span.
    pub fn service_name(&self) -> &str {
        &self.resource.service_name
    }

    /// True when the span's status is ERROR.
    pub fn is_error(&self) -> bool {
        self.status.code == StatusCode::Error
    }

    /// True for a span without a parent (the entry point of its trace).
    pub fn is_root(&self) -> bool {
        self.parent_span_id.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enums_round_trip_through_otlp_numbers() {
        for n in 0..=5 {
            assert_eq!(SpanKind::from_otlp(n).as_otlp(), n);
        }
        for n in 0..=2 {
            assert_eq!(StatusCode::from_otlp(n).as_otlp(), n);
        }
        assert_eq!(SpanKind::from_otlp(42), SpanKind::Unspecified);
        assert_eq!(StatusCode::from_otlp(-1), StatusCode::Unset);
    }

    #[test]
    fn status_codes_order_unset_ok_error() {
        assert!(StatusCode::Unset < StatusCode::Ok && StatusCode::Ok < StatusCode::Error);
    }
}
