//! JSON views of domain records: snake_case keys, times as RFC 3339 plus unix nanoseconds,
//! durations named by unit, attributes as plain JSON objects.

use chrono::{DateTime, SecondsFormat};
use otelcontext_domain::{AnyValue, Attributes, LogRecord, LogTemplate, Span, Trace, TraceSummary};
use otelcontext_ports::{SignalCounts, SimilarLogHit, StorageStatus, StoredLog};
use poem_openapi::Object;
use serde_json::Value;

pub(crate) fn rfc3339(ns: i64) -> String {
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
#[oai(skip_serializing_if_is_none)]
pub struct StatusView {
    /// `UNSET`, `OK` or `ERROR`.
    pub code: String,
    pub message: String,
}

/// A span event.
#[derive(Debug, Clone, PartialEq, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct EventView {
    pub name: String,
    pub time: String,
    pub time_unix_nano: i64,
    pub attributes: Value,
}

/// A link to another span.
#[derive(Debug, Clone, PartialEq, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct LinkView {
    pub trace_id: String,
    pub span_id: String,
    pub trace_state: String,
    pub attributes: Value,
}

/// Instrumentation scope.
#[derive(Debug, Clone, PartialEq, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct ScopeView {
    pub name: String,
    pub version: String,
    pub attributes: Value,
}

/// One span.
#[derive(Debug, Clone, PartialEq, Object)]
#[oai(skip_serializing_if_is_none)]
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
#[oai(skip_serializing_if_is_none)]
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
#[oai(skip_serializing_if_is_none)]
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
#[oai(skip_serializing_if_is_none)]
pub struct LogPageView {
    pub logs: Vec<LogEntryView>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    #[oai(skip_serializing_if_is_none)]
    pub next_cursor: Option<String>,
}

/// One event of a live tail.
#[derive(Debug, Clone, PartialEq, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct TailItemView {
    /// `log` (a record, in `log`) or `lagged` (the reader fell behind: `skipped` commits of
    /// records were not sent).
    pub kind: String,
    #[oai(skip_serializing_if_is_none)]
    pub log: Option<LogView>,
    #[oai(skip_serializing_if_is_none)]
    pub skipped: Option<u64>,
}

/// A log record like the query text.
#[derive(Debug, Clone, PartialEq, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct SimilarLogView {
    /// Cosine similarity of its words to the query's, 0..1.
    pub score: f64,
    /// Id of the stored record, when known (for `GET /api/logs/{id}`).
    #[oai(skip_serializing_if_is_none)]
    pub log_id: Option<i64>,
    pub timestamp: String,
    pub timestamp_unix_nano: i64,
    pub service_name: String,
    pub severity: String,
    /// The body, clipped to 1 KiB.
    pub body: String,
    #[oai(skip_serializing_if_is_none)]
    pub trace_id: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub span_id: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub template_id: Option<String>,
}

impl From<&SimilarLogHit> for SimilarLogView {
    fn from(h: &SimilarLogHit) -> Self {
        Self {
            score: h.score,
            log_id: h.id.map(|i| i.0),
            timestamp: rfc3339(h.timestamp_ns),
            timestamp_unix_nano: h.timestamp_ns,
            service_name: h.service.clone(),
            severity: h.severity.clone(),
            body: h.body.clone(),
            trace_id: h.trace_id.map(|t| t.to_hex()),
            span_id: h.span_id.map(|s| s.to_hex()),
            template_id: h.template_id.map(|t| t.to_string()),
        }
    }
}

/// The answer of a similar-log search.
#[derive(Debug, Clone, PartialEq, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct SimilarLogsView {
    pub query: String,
    pub count: u64,
    /// Best first.
    pub results: Vec<SimilarLogView>,
}

/// Records of a pattern per severity level.
#[derive(Debug, Clone, PartialEq, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct SeverityCountsView {
    pub trace: u64,
    pub debug: u64,
    pub info: u64,
    pub warn: u64,
    pub error: u64,
    pub fatal: u64,
}

/// A log pattern: a Drain template and what is known of it.
#[derive(Debug, Clone, PartialEq, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct PatternView {
    /// 16 hex characters, as `template_id` of log records (`/api/logs?template_id=`).
    pub template_id: String,
    /// The template: the words the records share, variable parts as `<*>`.
    pub template: String,
    /// Records matched so far.
    pub count: u64,
    pub first_seen: String,
    pub first_seen_unix_nano: i64,
    pub last_seen: String,
    pub last_seen_unix_nano: i64,
    /// One record that matched, and its service.
    pub sample: String,
    pub service_name: String,
    /// Services it appeared in.
    pub services: Vec<String>,
    pub severity_counts: SeverityCountsView,
    /// Records in the last hour (of its per-minute activity).
    pub records_last_hour: u64,
    /// First seen within the last hour.
    pub new: bool,
    /// Its recent rate was at least three times its trailing hour's when it was last evaluated.
    pub spiking: bool,
}

impl PatternView {
    /// The view of `t` as of `now_ns` (for `new` and the last hour's records).
    pub fn new(t: &LogTemplate, now_ns: i64) -> Self {
        let s = &t.severities;
        Self {
            template_id: t.id.to_string(),
            template: t.template.clone(),
            count: t.count,
            first_seen: rfc3339(t.first_seen_ns),
            first_seen_unix_nano: t.first_seen_ns,
            last_seen: rfc3339(t.last_seen_ns),
            last_seen_unix_nano: t.last_seen_ns,
            sample: t.sample.clone(),
            service_name: t.service.clone(),
            services: t.services.clone(),
            severity_counts: SeverityCountsView {
                trace: s.trace,
                debug: s.debug,
                info: s.info,
                warn: s.warn,
                error: s.error,
                fatal: s.fatal,
            },
            records_last_hour: t.activity.records_in_last(60, now_ns),
            new: otelcontext_domain::pattern::is_new(t.first_seen_ns, now_ns),
            spiking: t.spiking,
        }
    }
}

/// One page of log patterns.
#[derive(Debug, Clone, PartialEq, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct PatternPageView {
    pub patterns: Vec<PatternView>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    #[oai(skip_serializing_if_is_none)]
    pub next_cursor: Option<String>,
}

/// Size and settings of the database.
#[derive(Debug, Clone, PartialEq, Object)]
#[oai(skip_serializing_if_is_none)]
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

/// A trace in a search result: the aggregate of its spans.
#[derive(Debug, Clone, PartialEq, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct TraceSummaryView {
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
}

impl From<&TraceSummary> for TraceSummaryView {
    fn from(s: &TraceSummary) -> Self {
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
        }
    }
}

/// One page of a trace search.
#[derive(Debug, Clone, PartialEq, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct TracePageView {
    pub traces: Vec<TraceSummaryView>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    #[oai(skip_serializing_if_is_none)]
    pub next_cursor: Option<String>,
}

/// A trace with its spans and the logs correlated with it.
#[derive(Debug, Clone, PartialEq, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct TraceView {
    #[oai(flatten)]
    pub summary: TraceSummaryView,
    pub spans: Vec<SpanView>,
    pub logs: Vec<LogView>,
}

impl From<&Trace> for TraceView {
    fn from(t: &Trace) -> Self {
        Self {
            summary: TraceSummaryView::from(&t.summary),
            spans: t.spans.iter().map(SpanView::from).collect(),
            logs: t.logs.iter().map(LogView::from).collect(),
        }
    }
}

/// Row counts of a tenant.
#[derive(Debug, Clone, PartialEq, Object)]
#[oai(skip_serializing_if_is_none)]
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

/// One signal behind a root-cause candidate: what moved, from what to what.
#[derive(Debug, Clone, PartialEq, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct RcaEvidenceView {
    /// `self_time` (time its spans spend on their own work), `errors` (error rate of the calls
    /// entering it), `error_logs` (ERROR lines beyond each log template's earlier rate),
    /// `edge_gap` (what a caller waits beyond the time the service took: network delay towards
    /// it), `waits_on_every_call` (every call it makes waits longer: it is slow to read answers),
    /// `fan_out` (calls it makes per call it serves), `stops_early` (requests of one operation
    /// that now end without making calls such requests used to make: it answers early),
    /// `peer_latency` (a database, broker or external endpoint as its callers see it), `cpu` or
    /// `memory` (utilisation of its busiest instance, from gauges such as
    /// `k8s.pod.cpu.utilization`).
    pub signal: String,
    /// The change in words, e.g. "self time 12.3 ms → 80.1 ms (mean of 120 → 98 spans)".
    pub description: String,
    /// The caller, for `edge_gap` (absent when the waits of all its callers are taken together).
    #[oai(skip_serializing_if_is_none)]
    pub via: Option<String>,
    /// The operation whose requests changed, for `stops_early`.
    #[oai(skip_serializing_if_is_none)]
    pub operation: Option<String>,
    /// The services and peers those requests no longer call, for `stops_early`.
    #[oai(skip_serializing_if_is_empty)]
    pub no_longer_calls: Vec<String>,
    /// The instance (pod or host) whose utilisation rose, for `cpu` and `memory`.
    #[oai(skip_serializing_if_is_none)]
    pub instance: Option<String>,
    /// The log template that rose most, for `error_logs` (hex, as in `/api/logs?template_id=`).
    #[oai(skip_serializing_if_is_none)]
    pub template_id: Option<String>,
    /// Before the change: see `unit`.
    pub baseline: f64,
    /// After the change: see `unit`.
    pub recent: f64,
    /// `ms` (mean latency), `ratio` (error rate 0..1; for `stops_early` the share of the
    /// operation's requests that stop short), `lines_per_s`, `calls_per_request`, `utilization`
    /// (share of the resource used, 1 = all of it) or `none` (`waits_on_every_call`: baseline and
    /// recent are not given).
    pub unit: String,
    /// Calls (or log lines, or the caller's edges) behind `baseline` and `recent`.
    pub baseline_count: u64,
    pub recent_count: u64,
    /// The signal's contribution to the candidate's score.
    pub score: f64,
}

/// A ranked root-cause candidate.
#[derive(Debug, Clone, PartialEq, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct RcaCandidateView {
    /// 1 for the most likely.
    pub rank: u32,
    /// Service (or peer) name, exactly as in the service map.
    pub service: String,
    /// `service`, `database`, `messaging` or `external`.
    pub kind: String,
    /// The operation of the service whose calls changed most, if one did.
    #[oai(skip_serializing_if_is_none)]
    pub operation: Option<String>,
    /// The instance (pod or host) whose calls changed most, if one did.
    #[oai(skip_serializing_if_is_none)]
    pub instance: Option<String>,
    /// How much it changed: the largest of its signals' scores (≈ the log of a latency ratio; an
    /// error-rate rise counts three times its size). Compare within one answer.
    pub score: f64,
    /// Its signals, strongest first.
    pub evidence: Vec<RcaEvidenceView>,
    /// Traces after the change that show it (failed ones for error signals, else the slowest),
    /// for `/api/traces/{trace_id}`.
    pub example_trace_ids: Vec<String>,
}

/// Root-cause analysis over a range.
#[derive(Debug, Clone, PartialEq, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct RcaView {
    /// The symptomatic service asked about (only it and what it calls were candidates).
    #[oai(skip_serializing_if_is_none)]
    pub service: Option<String>,
    pub start: String,
    pub start_unix_nano: i64,
    pub end: String,
    pub end_unix_nano: i64,
    /// Where the range was split into baseline (before) and recent (after): the moment the
    /// largest change is largest.
    pub change_at: String,
    pub change_at_unix_nano: i64,
    /// Candidates whose signals moved, most likely first (empty when nothing changed).
    pub candidates: Vec<RcaCandidateView>,
}

fn evidence_view(e: &otelcontext_domain::graph::rca::Evidence) -> RcaEvidenceView {
    let (baseline, recent, unit) = match e.signal {
        "self_time" | "edge_gap" | "peer_latency" => (e.baseline / 1e6, e.recent / 1e6, "ms"),
        "errors" | "stops_early" => (e.baseline, e.recent, "ratio"),
        "error_logs" => (e.baseline, e.recent, "lines_per_s"),
        "fan_out" => (e.baseline, e.recent, "calls_per_request"),
        "cpu" | "memory" => (e.baseline, e.recent, "utilization"),
        _ => (0.0, 0.0, "none"),
    };
    let (b, r) = (e.baseline_calls, e.recent_calls);
    let description = match e.signal {
        "self_time" => format!("self time {baseline:.1} ms → {recent:.1} ms (mean of {b} → {r} spans)"),
        "edge_gap" => format!(
            "{} {baseline:.1} ms → {recent:.1} ms per call beyond what this service took (mean of {b} → {r} calls)",
            e.via.as_deref().map_or_else(|| "its callers together wait".to_owned(), |v| format!("{v} waits"))
        ),
        "peer_latency" => format!("calls to it took {baseline:.1} ms → {recent:.1} ms (mean of {b} → {r} calls)"),
        "errors" => {
            format!("error rate of calls into it {:.1} % → {:.1} % ({b} → {r} calls)", baseline * 100.0, recent * 100.0)
        }
        "error_logs" => {
            format!("ERROR lines {baseline:.3}/s → {recent:.3}/s ({b} → {r} lines), new or risen templates")
        }
        "fan_out" => {
            format!("calls made per call served {baseline:.2} → {recent:.2} (median edge; {b} → {r} calls served)")
        }
        "cpu" | "memory" => format!(
            "{} utilisation of {} {:.1} % → {:.1} % (mean of {b} → {r} points)",
            e.signal,
            e.instance.as_deref().unwrap_or("its busiest instance"),
            baseline * 100.0,
            recent * 100.0
        ),
        "stops_early" => format!(
            "{} requests that end without calling {}: {:.1} % → {:.1} % ({b} → {r} requests)",
            e.operation.as_deref().unwrap_or("its"),
            e.no_longer_calls.join(", "),
            baseline * 100.0,
            recent * 100.0
        ),
        "waits_on_every_call" => format!("every call it makes waits longer (the median rise over its {b} edges)"),
        other => other.to_owned(),
    };
    RcaEvidenceView {
        signal: e.signal.to_owned(),
        description,
        via: e.via.clone(),
        operation: e.operation.clone(),
        no_longer_calls: e.no_longer_calls.clone(),
        instance: e.instance.clone(),
        template_id: e.template.map(|t| t.to_string()),
        baseline,
        recent,
        unit: unit.to_owned(),
        baseline_count: b,
        recent_count: r,
        score: e.score,
    }
}

impl RcaView {
    pub fn new(service: Option<String>, answer: &otelcontext_ports::RcaAnswer) -> Self {
        let r = &answer.result;
        Self {
            service,
            start: rfc3339(answer.start_ns),
            start_unix_nano: answer.start_ns,
            end: rfc3339(answer.end_ns),
            end_unix_nano: answer.end_ns,
            change_at: rfc3339(r.split_ns),
            change_at_unix_nano: r.split_ns,
            candidates: r
                .candidates
                .iter()
                .enumerate()
                .map(|(i, c)| RcaCandidateView {
                    rank: i as u32 + 1,
                    service: c.name.clone(),
                    kind: c.kind.as_str().to_owned(),
                    operation: c.operation.clone(),
                    instance: c.instance.clone(),
                    score: c.score,
                    evidence: c.evidence.iter().map(evidence_view).collect(),
                    example_trace_ids: c.example_traces.iter().map(|t| t.to_hex()).collect(),
                })
                .collect(),
        }
    }
}

/// A finite float, `None` otherwise (JSON has no NaN or infinity).
fn finite(v: f64) -> Option<f64> {
    v.is_finite().then_some(v)
}

/// Failures of `errors` out of `total`, as a fraction 0..1 (0 without traces).
fn rate(errors: u64, total: u64) -> f64 {
    if total == 0 { 0.0 } else { errors as f64 / total as f64 }
}

/// A root service with failed traces.
#[derive(Debug, Clone, PartialEq, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct FailingServiceView {
    pub service_name: String,
    pub error_count: u64,
    pub total_count: u64,
    /// `error_count / total_count`, 0..1.
    pub error_rate: f64,
}

/// Dashboard totals of the traces that started in the window.
#[derive(Debug, Clone, PartialEq, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct DashboardView {
    pub start: String,
    pub start_unix_nano: i64,
    pub end: String,
    pub end_unix_nano: i64,
    pub total_traces: u64,
    /// Traces whose status is ERROR.
    pub total_errors: u64,
    /// `total_errors / total_traces`, 0..1.
    pub error_rate: f64,
    /// Log records in the window (of the services, when filtered).
    pub total_logs: u64,
    /// Distinct root services.
    pub active_services: u64,
    /// Mean trace duration; absent without traces.
    pub avg_latency_ms: Option<f64>,
    /// Percentiles of the trace durations by nearest rank over every trace, to within 0.8 % (the
    /// midpoint of the duration bucket holding the exact value); absent without traces.
    pub p50_latency_ms: Option<f64>,
    pub p95_latency_ms: Option<f64>,
    pub p99_latency_ms: Option<f64>,
    /// At most 5, most failed traces first.
    pub top_failing_services: Vec<FailingServiceView>,
}

impl DashboardView {
    pub fn new(start_ns: i64, end_ns: i64, s: &otelcontext_ports::TraceStats) -> Self {
        let p = |i: usize| s.percentiles_ns.get(i).map(|&ns| ms(ns));
        Self {
            start: rfc3339(start_ns),
            start_unix_nano: start_ns,
            end: rfc3339(end_ns),
            end_unix_nano: end_ns,
            total_traces: s.traces,
            total_errors: s.errors,
            error_rate: rate(s.errors, s.traces),
            total_logs: s.logs,
            active_services: s.services,
            avg_latency_ms: s.mean_duration_ns.map(|ns| ns / 1e6),
            p50_latency_ms: p(0),
            p95_latency_ms: p(1),
            p99_latency_ms: p(2),
            top_failing_services: s
                .top_failing
                .iter()
                .map(|f| FailingServiceView {
                    service_name: f.service.clone(),
                    error_count: f.errors,
                    total_count: f.traces,
                    error_rate: rate(f.errors, f.traces),
                })
                .collect(),
        }
    }
}

/// Traces that started in one step.
#[derive(Debug, Clone, PartialEq, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct TrafficPointView {
    /// Start of the step.
    pub timestamp: String,
    pub timestamp_unix_nano: i64,
    pub count: u64,
    pub error_count: u64,
    /// `error_count / count`, 0..1.
    pub error_rate: f64,
}

/// Traces per step; steps without traces are left out.
#[derive(Debug, Clone, PartialEq, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct TrafficView {
    pub start_unix_nano: i64,
    pub end_unix_nano: i64,
    pub step_ns: i64,
    pub points: Vec<TrafficPointView>,
}

impl TrafficView {
    pub fn new(q: &otelcontext_ports::SeriesQuery, points: &[otelcontext_ports::TrafficPoint]) -> Self {
        Self {
            start_unix_nano: q.rows.start_ns,
            end_unix_nano: q.rows.end_ns,
            step_ns: q.step_ns,
            points: points
                .iter()
                .map(|p| TrafficPointView {
                    timestamp: rfc3339(p.start_ns),
                    timestamp_unix_nano: p.start_ns,
                    count: p.traces,
                    error_count: p.errors,
                    error_rate: rate(p.errors, p.traces),
                })
                .collect(),
        }
    }
}

/// Traces of one step whose duration falls in one row.
#[derive(Debug, Clone, PartialEq, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct HeatCellView {
    /// Start of the step.
    pub timestamp: String,
    pub timestamp_unix_nano: i64,
    /// Index into `bounds_ms`; `bounds_ms.len()` for the open last row.
    pub row: u32,
    /// Upper bound of the row's durations (inclusive); absent for the open last row.
    pub le_ms: Option<f64>,
    pub count: u64,
}

/// Trace durations per step: a heat map with fixed rows (a 1-2-5 series of upper bounds from
/// 0.1 ms to 100 s, then everything longer). Empty cells are left out.
#[derive(Debug, Clone, PartialEq, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct HeatmapView {
    pub start_unix_nano: i64,
    pub end_unix_nano: i64,
    pub step_ns: i64,
    /// Upper bounds of the rows, ascending.
    pub bounds_ms: Vec<f64>,
    pub cells: Vec<HeatCellView>,
}

impl HeatmapView {
    pub fn new(q: &otelcontext_ports::SeriesQuery, cells: &[otelcontext_ports::HeatCell]) -> Self {
        use otelcontext_ports::LATENCY_BOUNDS_NS;
        Self {
            start_unix_nano: q.rows.start_ns,
            end_unix_nano: q.rows.end_ns,
            step_ns: q.step_ns,
            bounds_ms: LATENCY_BOUNDS_NS.iter().map(|&b| ms(b)).collect(),
            cells: cells
                .iter()
                .map(|c| HeatCellView {
                    timestamp: rfc3339(c.start_ns),
                    timestamp_unix_nano: c.start_ns,
                    row: u32::try_from(c.row).unwrap_or(u32::MAX),
                    le_ms: LATENCY_BOUNDS_NS.get(c.row).map(|&b| ms(b)),
                    count: c.traces,
                })
                .collect(),
        }
    }
}

/// One step of a metric series: what the stored buckets in it aggregate.
#[derive(Debug, Clone, PartialEq, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct MetricPointView {
    /// Start of the step.
    pub timestamp: String,
    pub timestamp_unix_nano: i64,
    /// Observations: points for gauges and sums, recorded values for histograms.
    pub count: u64,
    pub sum: Option<f64>,
    pub min: Option<f64>,
    pub max: Option<f64>,
    /// `sum / count`.
    pub avg: Option<f64>,
    /// The latest value in the step (gauges: the level; cumulative sums: the running total).
    pub last: Option<f64>,
    /// Histogram quantiles, interpolated inside their histogram bucket; absent for gauges and
    /// sums.
    pub p50: Option<f64>,
    pub p95: Option<f64>,
    pub p99: Option<f64>,
}

/// One series (service and attributes) of a metric.
#[derive(Debug, Clone, PartialEq, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct MetricSeriesItemView {
    pub service_name: String,
    pub attributes: Value,
    /// Oldest first; steps without data are left out.
    pub points: Vec<MetricPointView>,
}

/// A metric's series over the range, one point per step.
#[derive(Debug, Clone, PartialEq, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct MetricSeriesView {
    pub name: String,
    pub start_unix_nano: i64,
    pub end_unix_nano: i64,
    pub step_ns: i64,
    /// Sorted by service, then attributes.
    pub series: Vec<MetricSeriesItemView>,
    /// More than 100 series matched and only the first 100 are here: filter by `service_name`.
    pub truncated: bool,
}

impl MetricSeriesView {
    pub fn new(q: &otelcontext_ports::MetricSeriesQuery, a: &otelcontext_ports::MetricSeriesAnswer) -> Self {
        let point = |b: &otelcontext_domain::MetricBucket| MetricPointView {
            timestamp: rfc3339(b.start_ns),
            timestamp_unix_nano: b.start_ns,
            count: b.count,
            sum: finite(b.sum),
            min: finite(b.min),
            max: finite(b.max),
            avg: b.mean().and_then(finite),
            last: finite(b.last),
            p50: b.quantile(0.5).and_then(finite),
            p95: b.quantile(0.95).and_then(finite),
            p99: b.quantile(0.99).and_then(finite),
        };
        Self {
            name: q.name.trim().to_owned(),
            start_unix_nano: q.start_ns,
            end_unix_nano: q.end_ns,
            step_ns: q.step_ns,
            series: a
                .series
                .iter()
                .map(|s| MetricSeriesItemView {
                    service_name: s.service.clone(),
                    attributes: json(&s.attributes),
                    points: s.points.iter().map(point).collect(),
                })
                .collect(),
            truncated: a.truncated,
        }
    }
}
