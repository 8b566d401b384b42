//! JSON views of domain records: snake_case keys, times as RFC 3339 plus unix nanoseconds,
//! durations named by unit, attributes as plain JSON objects.

use chrono::{DateTime, SecondsFormat};
use otelcontext_domain::{AnyValue, Attributes, LogRecord, Span, Trace};
use otelcontext_ports::{SignalCounts, StorageStatus, StoredLog};
use poem_openapi::Object;
use serde_json::Value;

fn rfc3339(ns: i64) -> String {
    DateTime::from_timestamp_nanos(ns).to_rfc3339_opts(SecondsFormat::Nanos, true)
}

fn json(a: &Attributes) -> Value {
    serde_json::to_value(a).unwrap_or(Value::Null)
}

fn ms(ns: i64) -> f64 {
    ns as f64 / 1e6
}

/// Span status.
#[derive(Debug, Clone, PartialEq, Object)]
pub struct StatusView {
    /// `UNSET`, `OK` or `ERROR`.
    pub code: String,
    pub message: String,
}

/// A span event.
#[derive(Debug, Clone, PartialEq, Object)]
pub struct EventView {
    pub name: String,
    pub time: String,
    pub time_unix_nano: i64,
    pub attributes: Value,
}

/// A link to another span.
#[derive(Debug, Clone, PartialEq, Object)]
pub struct LinkView {
    pub trace_id: String,
    pub span_id: String,
    pub trace_state: String,
    pub attributes: Value,
}

/// Instrumentation scope.
#[derive(Debug, Clone, PartialEq, Object)]
pub struct ScopeView {
    pub name: String,
    pub version: String,
    pub attributes: Value,
}

/// One span.
#[derive(Debug, Clone, PartialEq, Object)]
pub struct SpanView {
    pub trace_id: String,
    pub span_id: String,
    /// Absent for a root span.
    pub parent_span_id: Option<String>,
    /// The span name.
    pub operation_name: String,
    /// `SERVER`, `CLIENT`, `PRODUCER`, `CONSUMER`, `INTERNAL` or `UNSPECIFIED`.
    pub kind: String,
    pub service_name: String,
    pub start_time: String,
    pub start_time_unix_nano: i64,
    pub end_time: String,
    pub end_time_unix_nano: i64,
    pub duration_ns: i64,
    pub duration_ms: f64,
    pub status: StatusView,
    pub trace_state: String,
    pub flags: u32,
    pub attributes: Value,
    pub dropped_attributes_count: u32,
    pub resource_attributes: Value,
    pub scope: ScopeView,
    pub events: Vec<EventView>,
    pub links: Vec<LinkView>,
}

impl From<&Span> for SpanView {
    fn from(s: &Span) -> Self {
        Self {
            trace_id: s.trace_id.to_hex(),
            span_id: s.span_id.to_hex(),
            parent_span_id: s.parent_span_id.map(|p| p.to_hex()),
            operation_name: s.name.clone(),
            kind: s.kind.as_str().to_owned(),
            service_name: s.service_name().to_owned(),
            start_time: rfc3339(s.start_ns),
            start_time_unix_nano: s.start_ns,
            end_time: rfc3339(s.end_ns),
            end_time_unix_nano: s.end_ns,
            duration_ns: s.duration_ns(),
            duration_ms: ms(s.duration_ns()),
            status: StatusView { code: s.status.code.as_str().to_owned(), message: s.status.message.clone() },
            trace_state: s.trace_state.clone(),
            flags: s.flags,
            attributes: json(&s.attributes),
            dropped_attributes_count: s.dropped_attributes_count,
            resource_attributes: json(&s.resource.attributes),
            scope: ScopeView {
                name: s.scope.name.clone(),
                version: s.scope.version.clone(),
                attributes: json(&s.scope.attributes),
            },
            events: s
                .events
                .iter()
                .map(|e| EventView {
                    name: e.name.clone(),
                    time: rfc3339(e.time_ns),
                    time_unix_nano: e.time_ns,
                    attributes: json(&e.attributes),
                })
                .collect(),
            links: s
                .links
                .iter()
                .map(|l| LinkView {
                    trace_id: l.trace_id.to_hex(),
                    span_id: l.span_id.to_hex(),
                    trace_state: l.trace_state.clone(),
                    attributes: json(&l.attributes),
                })
                .collect(),
        }
    }
}

/// One log record.
#[derive(Debug, Clone, PartialEq, Object)]
pub struct LogView {
    pub timestamp: String,
    pub timestamp_unix_nano: i64,
    pub observed_timestamp_unix_nano: i64,
    pub trace_id: Option<String>,
    pub span_id: Option<String>,
    /// The sender's severity text, else the level derived from the number.
    pub severity: String,
    pub severity_number: i32,
    /// A string, or the structured body as JSON; null when absent.
    pub body: Value,
    pub service_name: String,
    pub event_name: String,
    pub attributes: Value,
    pub resource_attributes: Value,
    pub scope_name: String,
    /// The log template (16 hex characters) the body belongs to, once mined.
    pub template_id: Option<String>,
}

impl From<&LogRecord> for LogView {
    fn from(l: &LogRecord) -> Self {
        Self {
            timestamp: rfc3339(l.timestamp_ns),
            timestamp_unix_nano: l.timestamp_ns,
            observed_timestamp_unix_nano: l.observed_ns,
            trace_id: l.trace_id.map(|t| t.to_hex()),
            span_id: l.span_id.map(|s| s.to_hex()),
            severity: l.severity_label(),
            severity_number: l.severity_number,
            body: match &l.body {
                None => Value::Null,
                Some(AnyValue::String(s)) => Value::String(s.clone()),
                Some(other) => serde_json::to_value(other).unwrap_or(Value::Null),
            },
            service_name: l.service_name().to_owned(),
            event_name: l.event_name.clone(),
            attributes: json(&l.attributes),
            resource_attributes: json(&l.resource.attributes),
            scope_name: l.scope.name.clone(),
            template_id: l.template_id.map(|t| t.to_string()),
        }
    }
}

/// A stored log record with its id.
#[derive(Debug, Clone, PartialEq, Object)]
pub struct LogEntryView {
    /// Id of the record (for `GET /api/logs/{id}`).
    pub id: i64,
    #[oai(flatten)]
    pub log: LogView,
}

impl From<&StoredLog> for LogEntryView {
    fn from(l: &StoredLog) -> Self {
        Self { id: l.id.0, log: LogView::from(&l.record) }
    }
}

/// One page of log records.
#[derive(Debug, Clone, PartialEq, Object)]
pub struct LogPageView {
    pub logs: Vec<LogEntryView>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    #[oai(skip_serializing_if_is_none)]
    pub next_cursor: Option<String>,
}

/// Size and settings of the database.
#[derive(Debug, Clone, PartialEq, Object)]
pub struct StorageStatusView {
    /// `sqlite`, `postgres` or the name of a custom adapter.
    pub backend: String,
    /// Bytes on disk, when known.
    pub size_bytes: Option<u64>,
    pub schema_version: i64,
    /// Whether full-text log search uses an index (SQLite FTS5, Postgres pg_trgm).
    pub full_text_indexed: bool,
    /// Whether logs are partitioned by day (Postgres).
    pub logs_partitioned: bool,
    /// Backend settings (`journal_mode`, `synchronous`, …).
    pub settings: std::collections::BTreeMap<String, String>,
}

impl From<StorageStatus> for StorageStatusView {
    fn from(s: StorageStatus) -> Self {
        Self {
            backend: s.backend,
            size_bytes: s.size_bytes,
            schema_version: s.schema_version,
            full_text_indexed: s.full_text_indexed,
            logs_partitioned: s.logs_partitioned,
            settings: s.settings.into_iter().collect(),
        }
    }
}

/// A trace: the aggregate of its spans.
#[derive(Debug, Clone, PartialEq, Object)]
pub struct TraceView {
    pub trace_id: String,
    /// Service of the root span (of the earliest span while the root has not arrived).
    pub service_name: String,
    /// Name of the root span (of the earliest span while the root has not arrived).
    pub operation: String,
    /// Whether the root span has been received.
    pub has_root: bool,
    /// `ERROR` if any span failed, else `OK` if any span is OK, else `UNSET`.
    pub status: String,
    pub start_time: String,
    pub start_time_unix_nano: i64,
    pub end_time: String,
    pub end_time_unix_nano: i64,
    pub duration_ns: i64,
    pub duration_ms: f64,
    pub span_count: u64,
    pub spans: Vec<SpanView>,
    pub logs: Vec<LogView>,
}

impl From<&Trace> for TraceView {
    fn from(t: &Trace) -> Self {
        let s = &t.summary;
        Self {
            trace_id: s.trace_id.to_hex(),
            service_name: s.root_service.clone(),
            operation: s.root_operation.clone(),
            has_root: s.has_root,
            status: s.status.as_str().to_owned(),
            start_time: rfc3339(s.start_ns),
            start_time_unix_nano: s.start_ns,
            end_time: rfc3339(s.end_ns),
            end_time_unix_nano: s.end_ns,
            duration_ns: s.duration_ns(),
            duration_ms: ms(s.duration_ns()),
            span_count: s.span_count,
            spans: t.spans.iter().map(SpanView::from).collect(),
            logs: t.logs.iter().map(LogView::from).collect(),
        }
    }
}

/// Row counts of a tenant.
#[derive(Debug, Clone, PartialEq, Object)]
pub struct StatsView {
    pub trace_count: u64,
    pub span_count: u64,
    pub log_count: u64,
    pub metric_point_count: u64,
    pub error_trace_count: u64,
}

impl From<SignalCounts> for StatsView {
    fn from(c: SignalCounts) -> Self {
        Self {
            trace_count: c.traces,
            span_count: c.spans,
            log_count: c.logs,
            metric_point_count: c.metric_points,
            error_trace_count: c.error_traces,
        }
    }
}
