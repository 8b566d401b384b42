//! The tools: their definitions (JSON Schemas written for an agent) and their calls. Every
//! argument is checked (unknown names, types and ranges are a tool error naming the argument and
//! what is accepted); results are structured JSON without tenant ids plus a one-line summary.

use crate::Inner;
use otelcontext_domain::duration::parse_duration;
use otelcontext_domain::{SeverityLevel, StatusCode, TenantId, TraceId};
use otelcontext_ports::{
    GraphWindow, ImpactQuery, LogQuery, LogSort, MapQuery, QueryError, RcaQuery, TimeRange, TimelineQuery, TraceQuery,
    TraceSort,
};
use rmcp::model::{CallToolResult, ContentBlock, ErrorData, JsonObject, Tool};
use serde_json::{Map, Value, json};
use std::sync::Arc;

/// Highest `page` of the original's paging (each page before it is read to get there).
const MAX_PAGE_NUMBER: i64 = 20;

/// The tools this server offers.
pub const TOOL_NAMES: [&str; 29] = [
    "get_system_graph",
    "get_service_health",
    "search_logs",
    "tail_logs",
    "get_trace",
    "search_traces",
    "get_metrics",
    "get_dashboard_stats",
    "get_storage_status",
    "find_similar_logs",
    "get_alerts",
    "get_service_map",
    "get_error_chains",
    "trace_graph",
    "impact_analysis",
    "root_cause_analysis",
    "correlated_signals",
    "get_investigations",
    "get_investigation",
    "get_graph_snapshot",
    "get_anomaly_timeline",
    "get_log_patterns",
    "list_services",
    "list_operations",
    "query_metric",
    "compare_periods",
    "explain_trace",
    "get_span",
    "list_attributes",
];

fn schema(properties: Value, required: &[&str]) -> Arc<JsonObject> {
    let mut s = Map::new();
    s.insert("type".into(), json!("object"));
    s.insert("properties".into(), properties);
    if !required.is_empty() {
        s.insert("required".into(), json!(required));
    }
    s.insert("additionalProperties".into(), json!(false));
    Arc::new(s)
}

const TIME_RANGE: &str = "Relative window ending now, e.g. 15m, 2h (default 15m; at most 1h for graph tools).";

/// The tool definitions of `tools/list`: every tool that reads a window takes `time_range` or
/// `start`/`end`.
pub fn tool_definitions() -> Vec<Tool> {
    DEFINITIONS.get_or_init(build_definitions).clone()
}

/// Built once: `tools/list` and every call's argument check read them.
static DEFINITIONS: std::sync::OnceLock<Vec<Tool>> = std::sync::OnceLock::new();

/// The argument names `tool` takes (empty for an unknown tool).
fn arguments_of(tool: &str) -> Vec<&'static str> {
    DEFINITIONS
        .get_or_init(build_definitions)
        .iter()
        .find(|t| t.name == tool)
        .and_then(|t| t.input_schema.get("properties").and_then(Value::as_object))
        .map(|p| p.keys().map(String::as_str).collect())
        .unwrap_or_default()
}

fn build_definitions() -> Vec<Tool> {
    let mut tools = definitions();
    for t in &mut tools {
        let mut schema = (*t.input_schema).clone();
        if let Some(props) = schema.get_mut("properties").and_then(Value::as_object_mut)
            && props.contains_key("time_range")
            && !props.contains_key("start")
        {
            props.insert(
                "start".into(),
                json!({"type": "string", "description": "RFC 3339 or unix ns; not with time_range."}),
            );
            props.insert("end".into(), json!({"type": "string", "description": "RFC 3339 or unix ns; default now."}));
        }
        t.input_schema = Arc::new(schema);
    }
    tools
}

fn definitions() -> Vec<Tool> {
    let service = json!({"type": "string", "description": "Exact service (or database/broker/endpoint) name as in get_service_map."});
    let time_range = json!({"type": "string", "description": TIME_RANGE});
    let depth =
        json!({"type": "integer", "minimum": 1, "maximum": 10, "default": 5, "description": "Calls away to follow."});
    vec![
        Tool::new(
            "get_service_map",
            "The service map: services, databases, brokers and external endpoints with calls/s, error rate and p50/p95/p99 latency, and the calls between them. Use first to learn names and spot unhealthy nodes; give `service` to see only its neighbourhood.",
            schema(json!({"service": service, "depth": depth, "time_range": time_range}), &[]),
        ),
        Tool::new(
            "root_cause_analysis",
            "Ranks what most likely caused a service's problem (slower work, errors, error logs, network delay, calls that stopped) with the evidence for each candidate: baseline vs recent values and example trace ids. Use when a service is slow or failing.",
            schema(json!({"service": service, "time_range": time_range}), &["service"]),
        ),
        Tool::new(
            "impact_analysis",
            "Blast radius of a node: what it depends on (downstream) and who depends on it (upstream), nearest first, with each node's rate and errors.",
            schema(json!({"service": service, "depth": depth, "time_range": time_range}), &["service"]),
        ),
        Tool::new(
            "search_logs",
            "Log records, newest first: full-text `query` (every word must match), minimum `severity`, `service`, `trace_id`, time window. Page with `cursor` (the `next_cursor` of the previous answer).",
            schema(
                json!({
                    "query": {"type": "string", "description": "Words that must all appear (prefix match)."},
                    "severity": {"type": "string", "enum": ["trace", "debug", "info", "warn", "error", "fatal"], "description": "Minimum level."},
                    "service": service,
                    "trace_id": {"type": "string", "description": "32 hex characters."},
                    "start": {"type": "string", "description": "RFC 3339 or unix ns; default: now minus time_range."},
                    "end": {"type": "string", "description": "RFC 3339 or unix ns; default now."},
                    "time_range": {"type": "string", "description": "Relative window, e.g. 1h (default 24h). Not with start."},
                    "limit": {"type": "integer", "minimum": 1, "maximum": 200, "default": 50},
                    "cursor": {"type": "string"},
                    "page": {"type": "integer", "minimum": 0, "maximum": 20, "description": "Page number from 0 (the original's paging); cursor is cheaper."}
                }),
                &[],
            ),
        ),
        Tool::new(
            "search_traces",
            "Traces, newest first, by `service` (any span), `status`, minimum duration and window. Each has its root service, operation, duration and span count; open one with get_trace.",
            schema(
                json!({
                    "service": service,
                    "status": {"type": "string", "enum": ["ok", "error", "unset"]},
                    "min_duration_ms": {"type": "number", "minimum": 0},
                    "start": {"type": "string", "description": "RFC 3339 or unix ns; default: now minus time_range."},
                    "end": {"type": "string", "description": "RFC 3339 or unix ns; default now."},
                    "time_range": {"type": "string", "description": "Relative window, e.g. 1h (default 1h). Not with start."},
                    "limit": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20},
                    "cursor": {"type": "string", "description": "next_cursor of the previous answer."}
                }),
                &[],
            ),
        ),
        Tool::new(
            "get_trace",
            "One trace: summary, then its spans in start order (service, operation, duration, status, parent) — bodies and attributes clipped to fit the answer budget.",
            schema(json!({"trace_id": {"type": "string", "description": "32 hex characters."}}), &["trace_id"]),
        ),
        Tool::new(
            "get_system_graph",
            "Every node with a health score (1 = healthy), status and alerts, plus totals. Use for \"is anything wrong right now?\".",
            schema(json!({"time_range": time_range}), &[]),
        ),
        Tool::new(
            "get_service_health",
            "One service's rate, error rate, latency percentiles, health score and alerts.",
            schema(json!({"service_name": service, "time_range": time_range}), &["service_name"]),
        ),
        Tool::new(
            "tail_logs",
            "The newest log records (of `service`, at least `severity`): what is being logged right now.",
            schema(
                json!({
                    "service": service,
                    "severity": {"type": "string", "enum": ["trace", "debug", "info", "warn", "error", "fatal"]},
                    "limit": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20}
                }),
                &[],
            ),
        ),
        Tool::new(
            "get_metrics",
            "A metric's series per service and attributes, one point per step: count, sum, min, max, avg, last, and p50/p95/p99 for histograms. Find names with get_service_health or the API's /api/metadata/metrics.",
            schema(
                json!({
                    "name": {"type": "string", "description": "Exact metric name."},
                    "service": service,
                    "start": {"type": "string"}, "end": {"type": "string"},
                    "time_range": {"type": "string", "description": "Default 1h."},
                    "step": {"type": "string", "description": "Point width, e.g. 1m (default: fits 60 points)."}
                }),
                &["name"],
            ),
        ),
        Tool::new(
            "get_dashboard_stats",
            "Totals over the window's traces: count, errors, error rate, logs, active services, p50/p95/p99 (within 0.8 %) and the most failing services.",
            schema(
                json!({"start": {"type": "string"}, "end": {"type": "string"}, "time_range": {"type": "string", "description": "Default 1h."}}),
                &[],
            ),
        ),
        Tool::new(
            "get_storage_status",
            "Row counts of this tenant (traces, spans, logs, metric points, error traces) and the database backend.",
            schema(json!({}), &[]),
        ),
        Tool::new(
            "find_similar_logs",
            "WARN-and-above log records whose words are most like `query`, best first with a 0..1 score: find other occurrences of an error.",
            schema(
                json!({"query": {"type": "string"}, "limit": {"type": "integer", "minimum": 1, "maximum": 50, "default": 10}}),
                &["query"],
            ),
        ),
        Tool::new(
            "get_alerts",
            "What needs attention now: services with an error rate above 5 % or p99 above 500 ms, and anomalies of the last hour.",
            schema(json!({}), &[]),
        ),
        Tool::new(
            "get_error_chains",
            "Where a service's failures started: each recent failed trace's chain from the service down to the failing span, and the origins counted.",
            schema(
                json!({"service": service, "time_range": time_range, "limit": {"type": "integer", "minimum": 1, "maximum": 50, "default": 10}}),
                &["service"],
            ),
        ),
        Tool::new(
            "trace_graph",
            "One trace as a tree: spans depth first with self time and the critical path, and the calls between services.",
            schema(json!({"trace_id": {"type": "string", "description": "32 hex characters."}}), &["trace_id"]),
        ),
        Tool::new(
            "correlated_signals",
            "What moved with a service against the baseline before the range: rate, errors, latency, error-log templates, gauges, anomalies.",
            schema(json!({"service": service, "time_range": time_range}), &["service"]),
        ),
        Tool::new(
            "get_investigations",
            "Investigations the graph opened on detected problems, newest first.",
            schema(
                json!({
                    "service": service,
                    "severity": {"type": "string", "enum": ["info", "warning", "critical"], "description": "Minimum."},
                    "status": {"type": "string", "enum": ["detected", "triaged", "resolved"]},
                    "limit": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20},
                    "cursor": {"type": "string", "description": "next_cursor of the previous answer."}
                }),
                &[],
            ),
        ),
        Tool::new(
            "get_investigation",
            "One investigation with its evidence and ranked root-cause candidates.",
            schema(json!({"investigation_id": {"type": "string"}}), &["investigation_id"]),
        ),
        Tool::new(
            "get_graph_snapshot",
            "The service graph as it was: the newest snapshot (taken every 15 minutes) at or before `time`.",
            schema(json!({"time": {"type": "string", "description": "RFC 3339 or unix ns (default now)."}}), &[]),
        ),
        Tool::new(
            "get_anomaly_timeline",
            "Anomalies (error spikes, latency, throughput drops, gauges), newest first, since a moment (default 1h ago).",
            schema(
                json!({"since": {"type": "string", "description": "RFC 3339 or unix ns."}, "service": service}),
                &[],
            ),
        ),
        Tool::new(
            "get_log_patterns",
            "Log patterns (templates mined from log lines) with count, first/last seen, a sample, services, and new/spiking flags; most frequent first. Use to see what is being logged without reading every line.",
            schema(
                json!({
                    "service": service, "time_range": {"type": "string", "description": "Seen in this window, e.g. 1h (default: all)."},
                    "new": {"type": "boolean", "description": "Only patterns first seen in the last hour."},
                    "spiking": {"type": "boolean", "description": "Only patterns whose rate jumped."},
                    "limit": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20}, "cursor": {"type": "string"}
                }),
                &[],
            ),
        ),
        Tool::new(
            "list_services",
            "Instrumented services with calls/s, error rate and p50/p95/p99 over the window, worst error rate first.",
            schema(json!({"time_range": time_range}), &[]),
        ),
        Tool::new(
            "list_operations",
            "A service's operations (span names) in its recent spans, with how often each appeared and failed and its p50/p95.",
            schema(
                json!({"service": service, "time_range": {"type": "string", "description": "Default 1h."}}),
                &["service"],
            ),
        ),
        Tool::new(
            "query_metric",
            "The same as get_metrics: a metric's series over a range with a step, histogram quantiles included.",
            schema(
                json!({
                    "name": {"type": "string"}, "service": service, "start": {"type": "string"}, "end": {"type": "string"},
                    "time_range": {"type": "string", "description": "Default 1h."}, "step": {"type": "string", "description": "e.g. 1m"}
                }),
                &["name"],
            ),
        ),
        Tool::new(
            "compare_periods",
            "A service now against its baseline (the rest of the last hour before the window): calls/s, error rate, latency, and its error-log patterns with counts in each. Use to answer \"what changed?\".",
            schema(json!({"service": service, "time_range": time_range}), &["service"]),
        ),
        Tool::new(
            "explain_trace",
            "A trace condensed: its critical path, the failed spans with their messages, and the spans with the most time of their own. Read this before get_trace; ask get_span for one span's details.",
            schema(json!({"trace_id": {"type": "string", "description": "32 hex characters."}}), &["trace_id"]),
        ),
        Tool::new(
            "get_span",
            "One span in full: attributes, resource, events, links and status (long values clipped).",
            schema(
                json!({"trace_id": {"type": "string", "description": "32 hex characters."}, "span_id": {"type": "string", "description": "16 hex characters."}}),
                &["trace_id", "span_id"],
            ),
        ),
        Tool::new(
            "list_attributes",
            "Attribute keys of a service's recent spans or logs with their most common values, to discover what to filter on.",
            schema(
                json!({"service": service, "signal": {"type": "string", "enum": ["spans", "logs"], "default": "spans"},
                       "time_range": {"type": "string", "description": "Default 1h."}}),
                &["service"],
            ),
        ),
    ]
}

/// A tool error an agent can act on (the message names the argument and what is accepted).
fn refuse(message: impl Into<String>) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(message.into())])
}

/// A result: a summary line first, the structured JSON as well.
fn answer(summary: String, value: Value) -> CallToolResult {
    let mut r = CallToolResult::success(vec![ContentBlock::text(summary), ContentBlock::text(value.to_string())]);
    r.structured_content = Some(value);
    r
}

/// The arguments of a call, checked against the names the tool takes.
struct Args {
    tool: String,
    map: JsonObject,
}

impl Args {
    fn new(tool: &str, map: JsonObject) -> Result<Self, CallToolResult> {
        let allowed = arguments_of(tool);
        if let Some(unknown) = map.keys().find(|k| !allowed.contains(&k.as_str())) {
            return Err(refuse(format!("{tool}: unknown argument {unknown:?}; it takes {}", allowed.join(", "))));
        }
        Ok(Self { tool: tool.to_owned(), map })
    }

    fn string(&self, name: &str) -> Result<Option<String>, CallToolResult> {
        match self.map.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.trim().to_owned())),
            Some(other) => Err(refuse(format!("{}: {name} must be a string, not {other}", self.tool))),
        }
    }

    fn required(&self, name: &str) -> Result<String, CallToolResult> {
        self.string(name)?.ok_or_else(|| refuse(format!("{}: {name} is required", self.tool)))
    }

    fn integer(&self, name: &str, min: i64, max: i64, default: i64) -> Result<i64, CallToolResult> {
        match self.map.get(name) {
            None | Some(Value::Null) => Ok(default),
            Some(v) => match v.as_i64() {
                Some(n) if (min..=max).contains(&n) => Ok(n),
                _ => Err(refuse(format!("{}: {name} must be an integer from {min} to {max}, not {v}", self.tool))),
            },
        }
    }

    fn boolean(&self, name: &str) -> Result<bool, CallToolResult> {
        match self.map.get(name) {
            None | Some(Value::Null) => Ok(false),
            Some(Value::Bool(b)) => Ok(*b),
            Some(other) => Err(refuse(format!("{}: {name} must be true or false, not {other}", self.tool))),
        }
    }

    fn number(&self, name: &str) -> Result<Option<f64>, CallToolResult> {
        match self.map.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => match v.as_f64() {
                Some(n) if n >= 0.0 => Ok(Some(n)),
                _ => Err(refuse(format!("{}: {name} must be a number of at least 0, not {v}", self.tool))),
            },
        }
    }

    fn duration_ns(&self, name: &str) -> Result<Option<i64>, CallToolResult> {
        self.string(name)?
            .map(|r| {
                parse_duration(&r)
                    .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
                    .ok()
                    .filter(|ns| *ns > 0)
                    .ok_or_else(|| refuse(format!("{}: {name} {r:?} is not a duration such as 15m or 2h", self.tool)))
            })
            .transpose()
    }

    fn time(&self, name: &str) -> Result<Option<i64>, CallToolResult> {
        self.string(name)?
            .map(|t| {
                t.parse::<i64>()
                    .ok()
                    .or_else(|| chrono::DateTime::parse_from_rfc3339(&t).ok().and_then(|d| d.timestamp_nanos_opt()))
                    .ok_or_else(|| refuse(format!("{}: {name} {t:?} is not RFC 3339 or unix nanoseconds", self.tool)))
            })
            .transpose()
    }

    /// `start`/`end`/`time_range` as a closed window (the end defaults to now).
    fn window(&self, default_ns: i64, now_ns: i64) -> Result<(i64, i64), CallToolResult> {
        let (start, end, range) = (self.time("start")?, self.time("end")?, self.duration_ns("time_range")?);
        if start.is_some() && range.is_some() {
            return Err(refuse(format!("{}: give start or time_range, not both", self.tool)));
        }
        let end = end.unwrap_or(now_ns);
        let start = start.unwrap_or(end.saturating_sub(range.unwrap_or(default_ns)));
        if start > end {
            return Err(refuse(format!("{}: start is after end", self.tool)));
        }
        Ok((start, end))
    }

    /// `time_range` (relative to `end` or now) or `start`/`end`, checked by the graph.
    fn graph_window(&self) -> Result<GraphWindow, CallToolResult> {
        let (start, end, range) = (self.time("start")?, self.time("end")?, self.duration_ns("time_range")?);
        if start.is_some() && range.is_some() {
            return Err(refuse(format!("{}: give start or time_range, not both", self.tool)));
        }
        Ok(GraphWindow { start_ns: start, end_ns: end, last_ns: range.unwrap_or(GraphWindow::default().last_ns) })
    }
}

fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

/// A query failure as the agent sees it: its mistakes and "not found" as tool errors, an
/// unavailable database as a tool error to retry, anything else as an internal error.
fn failed(tool: &str, e: QueryError) -> Result<CallToolResult, ErrorData> {
    match e {
        QueryError::InvalidArgument(m) => Ok(refuse(format!("{tool}: {m}"))),
        QueryError::NotFound(m) => Ok(refuse(format!(
            "{tool}: not found: {m}. Names are exact: list them with get_service_map; the graph holds the last hour."
        ))),
        QueryError::Unavailable(m) => Ok(refuse(format!("{tool}: the database is unavailable ({m}); retry shortly"))),
        QueryError::Internal(m) => {
            tracing::error!(tool, error = %m, "tool failed");
            Err(ErrorData::internal_error(format!("{tool} failed"), None))
        }
    }
}

fn ms(ns: f64) -> f64 {
    (ns / 1e4).round() / 100.0
}

fn red(r: &otelcontext_domain::graph::stats::Red) -> Value {
    json!({
        "calls": r.calls, "errors": r.errors, "rate_per_s": r.rate_per_s, "error_rate": r.error_rate,
        "p50_ms": ms(r.p50_ns), "p95_ms": ms(r.p95_ns), "p99_ms": ms(r.p99_ns)
    })
}

/// Clips a text to `max` bytes with a marker.
fn clip(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…[clipped {} bytes]", &s[..end], s.len() - end)
}

/// Keeps items while the JSON stays under `budget` bytes; says whether some were left out.
fn within_budget(items: Vec<Value>, budget: usize) -> (Vec<Value>, bool) {
    let mut used = 0;
    let mut kept = Vec::with_capacity(items.len());
    let total = items.len();
    for item in items {
        let size = item.to_string().len() + 1;
        if used + size > budget && !kept.is_empty() {
            break;
        }
        used += size;
        kept.push(item);
    }
    let truncated = kept.len() < total;
    (kept, truncated)
}

fn finite(v: f64) -> Option<f64> {
    v.is_finite().then_some(v)
}

/// A map node with its health (see [`otelcontext_domain::graph::health::health`]).
fn health_of(n: &otelcontext_domain::graph::MapNode) -> Value {
    let h = otelcontext_domain::graph::health::health(&n.red);
    json!({"name": n.name, "kind": n.kind.as_str(), "health_score": h.score, "status": h.status, "alerts": h.alerts, "red": red(&n.red)})
}

fn anomaly(a: &otelcontext_domain::graph::anomaly::Anomaly) -> Value {
    json!({"kind": a.kind.as_str(), "service": a.service, "severity": a.severity.as_str(), "at_unix_nano": a.at_ns,
        "summary": a.summary()})
}

fn investigation(i: &otelcontext_domain::Investigation, evidence: bool) -> Value {
    let mut v = json!({"id": i.id, "created_unix_nano": i.created_ns, "status": i.status.as_str(), "severity": i.severity.as_str(),
        "kind": i.kind, "trigger_service": i.trigger_service, "root_service": i.root_service, "root_operation": i.root_operation,
        "summary": i.summary});
    if evidence {
        v["evidence"] = i.evidence.clone();
    }
    v
}

fn log_entry(l: &otelcontext_ports::StoredLog) -> Value {
    let r = &l.record;
    json!({
        "id": l.id.0, "timestamp_unix_nano": r.timestamp_ns, "severity": r.severity_label(),
        "service": r.service_name(), "body": clip(&r.body_text(), 1_024),
        "trace_id": r.trace_id.map(|t| t.to_hex()), "span_id": r.span_id.map(|s| s.to_hex())
    })
}

/// The three names nearest `name` (edit distance), for a "did you mean".
fn closest<'a>(name: &str, names: &[&'a str]) -> Vec<&'a str> {
    fn distance(a: &str, b: &str) -> usize {
        let b: Vec<char> = b.chars().collect();
        let mut row: Vec<usize> = (0..=b.len()).collect();
        for (i, ca) in a.chars().enumerate() {
            let mut prev = row[0];
            row[0] = i + 1;
            for (j, cb) in b.iter().enumerate() {
                let cur = row[j + 1];
                row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
                prev = cur;
            }
        }
        row[b.len()]
    }
    let mut sorted: Vec<&str> = names.to_vec();
    sorted.sort_by_key(|n| (distance(name, n), *n));
    sorted.truncate(3);
    sorted
}

/// The `cursor` argument, when it is a `next_cursor` this tool gave this tenant.
fn cursor_of(
    args: &Args,
    inner: &Inner,
    tenant: &TenantId,
) -> Result<Option<otelcontext_ports::Cursor>, CallToolResult> {
    match args.string("cursor")? {
        Some(c) => otelcontext_ports::Cursor::open(&c, &inner.settings.cursor_key, &[tenant.as_str(), &args.tool])
            .map(Some)
            .map_err(|_| refuse(format!("{}: cursor is not a next_cursor this tool gave this tenant", args.tool))),
        None => Ok(None),
    }
}

/// The `next_cursor` to hand out for `next`.
fn next_cursor(
    next: Option<otelcontext_ports::Cursor>,
    inner: &Inner,
    tenant: &TenantId,
    tool: &str,
) -> Option<String> {
    next.map(|c| c.seal(&inner.settings.cursor_key, &[tenant.as_str(), tool]))
}

/// Runs tool `name` for `tenant`.
pub(crate) async fn call(
    inner: &Inner,
    tenant: &TenantId,
    name: &str,
    args: JsonObject,
) -> Result<CallToolResult, ErrorData> {
    let service =
        ["service", "service_name"].iter().find_map(|k| args.get(*k).and_then(Value::as_str).map(str::to_owned));
    let mut result = Box::pin(dispatch(inner, tenant, name, args)).await?;
    // A cut list says so where the agent reads first, and how to get the rest.
    if result.structured_content.as_ref().is_some_and(|v| v["truncated"] == true)
        && let Some(first) = result.content.first_mut()
        && let Some(text) = first.as_text()
    {
        let hint = if result.structured_content.as_ref().is_some_and(|v| v["next_cursor"].is_string()) {
            "truncated to fit the answer: lower `limit` and page with `cursor`, or narrow the filters"
        } else {
            "truncated to fit the answer: narrow the filters or the window"
        };
        *first = ContentBlock::text(format!("{} ({hint})", text.text));
    }
    // An unknown service: name the closest the graph knows.
    match service {
        Some(service) if result.is_error == Some(true) && first_text(&result).contains("not found") => {
            let map = inner
                .graph
                .service_map(tenant, &MapQuery { window: GraphWindow::last(3_600_000_000_000), ..MapQuery::default() })
                .await;
            let names: Vec<String> = map.map(|a| a.map.nodes.into_iter().map(|n| n.name).collect()).unwrap_or_default();
            let names: Vec<&str> = names.iter().map(String::as_str).collect();
            if names.is_empty() {
                return Ok(result);
            }
            Ok(refuse(format!(
                "{} Closest known to {service:?}: {}.",
                first_text(&result),
                closest(&service, &names).join(", ")
            )))
        }
        _ => Ok(result),
    }
}

fn first_text(r: &CallToolResult) -> String {
    r.content.first().and_then(|c| c.as_text()).map(|t| t.text.clone()).unwrap_or_default()
}

async fn dispatch(inner: &Inner, tenant: &TenantId, name: &str, args: JsonObject) -> Result<CallToolResult, ErrorData> {
    let args = match Args::new(name, args) {
        Ok(a) => a,
        Err(refusal) => return Ok(refusal),
    };
    let budget = inner.settings.max_result_bytes;
    macro_rules! arg {
        ($e:expr) => {
            match $e {
                Ok(v) => v,
                Err(refusal) => return Ok(refusal),
            }
        };
    }
    match name {
        "get_service_map" => {
            let q = MapQuery {
                service: arg!(args.string("service")),
                depth: arg!(args.integer("depth", 1, 10, 5)) as usize,
                window: arg!(args.graph_window()),
                ..MapQuery::default()
            };
            match inner.graph.service_map(tenant, &q).await {
                Ok(a) => {
                    let nodes: Vec<Value> = a
                        .map
                        .nodes
                        .iter()
                        .map(|n| json!({"name": n.name, "kind": n.kind.as_str(), "red": red(&n.red)}))
                        .collect();
                    let edges: Vec<Value> = a
                        .map
                        .edges
                        .iter()
                        .map(|e| json!({"from": e.from, "to": e.to, "to_kind": e.to_kind.as_str(), "client": red(&e.client)}))
                        .collect();
                    let (n, e) = (nodes.len(), edges.len());
                    let (edges, truncated) = within_budget(edges, budget / 2);
                    let (nodes, nodes_truncated) = within_budget(nodes, budget / 2);
                    let summary = if n == 0 {
                        "No services in this window: nothing was received in it, or the name is not in this tenant. Try a longer time_range (at most 1h).".to_owned()
                    } else {
                        format!("{n} nodes, {e} edges")
                    };
                    Ok(answer(
                        summary,
                        json!({"nodes": nodes, "edges": edges, "truncated": truncated || nodes_truncated}),
                    ))
                }
                Err(e) => failed(name, e),
            }
        }
        "root_cause_analysis" => {
            let service = arg!(args.required("service"));
            let window = arg!(args.graph_window());
            let q = RcaQuery {
                service: Some(service.clone()),
                start_ns: window.start_ns,
                end_ns: window.end_ns,
                last_ns: window.last_ns,
                ..RcaQuery::default()
            };
            match inner.graph.root_causes(tenant, &q).await {
                Ok(a) => {
                    let candidates: Vec<Value> = a
                        .result
                        .candidates
                        .iter()
                        .map(|c| {
                            json!({
                                "service": c.name, "kind": c.kind.as_str(), "operation": c.operation, "score": c.score,
                                "evidence": c.evidence.iter().map(|e| json!({
                                    "signal": e.signal, "baseline": e.baseline, "recent": e.recent,
                                    "score": e.score
                                })).collect::<Vec<_>>(),
                                "example_trace_ids": c.example_traces.iter().map(|t| t.to_hex()).collect::<Vec<_>>()
                            })
                        })
                        .collect();
                    let summary = match candidates.first() {
                        Some(top) => format!("most likely: {} ({} candidates)", top["service"], candidates.len()),
                        None => format!("nothing changed around {service} in the window: no candidate"),
                    };
                    let (candidates, truncated) = within_budget(candidates, budget);
                    Ok(answer(summary, json!({"service": service, "candidates": candidates, "truncated": truncated})))
                }
                Err(e) => failed(name, e),
            }
        }
        "impact_analysis" => {
            let service = arg!(args.required("service"));
            let q = ImpactQuery {
                service: service.clone(),
                depth: arg!(args.integer("depth", 1, 10, 5)) as usize,
                window: arg!(args.graph_window()),
            };
            match inner.graph.impact(tenant, &q).await {
                Ok(a) => {
                    let node = |n: &otelcontext_domain::graph::walks::ImpactedNode| json!({"name": n.name, "kind": n.kind.as_str(), "hops": n.hops, "via": n.via, "red": red(&n.red)});
                    let down: Vec<Value> = a.impact.downstream.iter().map(node).collect();
                    let up: Vec<Value> = a.impact.upstream.iter().map(node).collect();
                    let summary = format!("{service}: {} downstream, {} upstream", down.len(), up.len());
                    Ok(answer(summary, json!({"service": service, "downstream": down, "upstream": up})))
                }
                Err(e) => failed(name, e),
            }
        }
        "search_logs" => {
            let (start, end) = arg!(args.window(24 * 3_600_000_000_000, now_ns()));
            let text = match arg!(args.string("query")) {
                Some(q) => arg!(
                    otelcontext_domain::search::TextQuery::parse(&q)
                        .map_err(|e| refuse(format!("search_logs: query: {e}")))
                ),
                None => None,
            };
            let min_severity = match arg!(args.string("severity")) {
                Some(s) => Some(arg!(SeverityLevel::parse_config(&s).ok_or_else(|| refuse(format!(
                    "search_logs: severity {s:?}: expected trace, debug, info, warn, error or fatal"
                ))))),
                None => None,
            };
            let trace_id = match arg!(args.string("trace_id")) {
                Some(t) => {
                    Some(arg!(TraceId::parse_hex(&t).map_err(|e| refuse(format!("search_logs: trace_id: {e}")))))
                }
                None => None,
            };
            let cursor = arg!(cursor_of(&args, inner, tenant));
            let page_number = arg!(args.integer("page", 0, MAX_PAGE_NUMBER, 0));
            if page_number > 0 && cursor.is_some() {
                return Ok(refuse("search_logs: give cursor or page, not both"));
            }
            let mut q = LogQuery {
                time: TimeRange::between(start, end),
                text,
                service: arg!(args.string("service")),
                min_severity,
                trace_id,
                sort: LogSort::Newest,
                limit: arg!(args.integer("limit", 1, 200, 50)) as usize,
                cursor,
                ..LogQuery::default()
            };
            // `page` (the original's argument) walks the pages before it.
            for _ in 0..page_number {
                match inner.queries.logs(tenant, &q).await {
                    Ok(p) if p.next.is_some() => q.cursor = p.next,
                    Ok(_) => {
                        return Ok(answer(
                            format!("No page {page_number}: fewer records match."),
                            json!({"logs": [], "truncated": false}),
                        ));
                    }
                    Err(e) => return failed(name, e),
                }
            }
            match inner.queries.logs(tenant, &q).await {
                Ok(page) => {
                    let entries: Vec<Value> = page.items.iter().map(log_entry).collect();
                    let n = entries.len();
                    let (entries, truncated) = within_budget(entries, budget);
                    let next = next_cursor(page.next, inner, tenant, name);
                    let summary = if n == 0 {
                        "No log records match: widen time_range, drop a filter, or check the service name with get_service_map.".to_owned()
                    } else {
                        format!(
                            "{n} log records, newest first{}",
                            if next.is_some() { "; more with cursor" } else { "" }
                        )
                    };
                    Ok(answer(summary, json!({"logs": entries, "next_cursor": next, "truncated": truncated})))
                }
                Err(e) => failed(name, e),
            }
        }
        "search_traces" => {
            let (start, end) = arg!(args.window(3_600_000_000_000, now_ns()));
            let status = match arg!(args.string("status")) {
                Some(s) => Some(match s.to_ascii_lowercase().as_str() {
                    "ok" => StatusCode::Ok,
                    "error" => StatusCode::Error,
                    "unset" => StatusCode::Unset,
                    _ => return Ok(refuse(format!("search_traces: status {s:?}: expected ok, error or unset"))),
                }),
                None => None,
            };
            let q = TraceQuery {
                time: TimeRange::between(start, end),
                service: arg!(args.string("service")),
                status,
                min_duration_ns: arg!(args.number("min_duration_ms")).map(|ms| (ms * 1e6) as i64),
                sort: TraceSort::Newest,
                limit: arg!(args.integer("limit", 1, 100, 20)) as usize,
                cursor: arg!(cursor_of(&args, inner, tenant)),
                ..TraceQuery::default()
            };
            match inner.queries.traces(tenant, &q).await {
                Ok(page) => {
                    let traces: Vec<Value> = page
                        .items
                        .iter()
                        .map(|t| {
                            json!({
                                "trace_id": t.trace_id.to_hex(), "service": t.root_service, "operation": t.root_operation,
                                "status": t.status.as_str(), "duration_ms": ms(t.duration_ns() as f64),
                                "span_count": t.span_count, "start_unix_nano": t.start_ns
                            })
                        })
                        .collect();
                    let n = traces.len();
                    let (traces, truncated) = within_budget(traces, budget);
                    let summary = if n == 0 {
                        "No traces match: widen time_range or drop a filter.".to_owned()
                    } else {
                        format!("{n} traces, newest first")
                    };
                    let next = next_cursor(page.next, inner, tenant, name);
                    Ok(answer(summary, json!({"traces": traces, "next_cursor": next, "truncated": truncated})))
                }
                Err(e) => failed(name, e),
            }
        }
        "get_trace" => {
            let text = arg!(args.required("trace_id"));
            let id = arg!(TraceId::parse_hex(&text).map_err(|e| refuse(format!("get_trace: trace_id: {e}"))));
            match inner.queries.trace(tenant, &id).await {
                Ok(t) => {
                    let s = &t.summary;
                    let spans: Vec<Value> = t
                        .spans
                        .iter()
                        .map(|sp| {
                            json!({
                                "span_id": sp.span_id.to_hex(), "parent_span_id": sp.parent_span_id.map(|p| p.to_hex()),
                                "service": sp.service_name(), "operation": sp.name, "duration_ms": ms((sp.end_ns - sp.start_ns) as f64),
                                "status": sp.status.code.as_str(), "message": clip(&sp.status.message, 256)
                            })
                        })
                        .collect();
                    let n = spans.len();
                    let (spans, truncated) = within_budget(spans, budget);
                    let summary = format!(
                        "{} {} took {} ms, {} spans, status {}",
                        s.root_service,
                        s.root_operation,
                        ms(s.duration_ns() as f64),
                        n,
                        s.status.as_str()
                    );
                    Ok(answer(summary, json!({"trace_id": id.to_hex(), "spans": spans, "truncated": truncated})))
                }
                Err(e) => failed(name, e),
            }
        }
        "get_system_graph" | "get_alerts" => {
            let window =
                if name == "get_alerts" { GraphWindow::last(3_600_000_000_000) } else { arg!(args.graph_window()) };
            let q = MapQuery { window, ..MapQuery::default() };
            let map = match inner.graph.service_map(tenant, &q).await {
                Ok(a) => a,
                Err(e) => return failed(name, e),
            };
            let nodes: Vec<Value> = map.map.nodes.iter().map(health_of).collect();
            if name == "get_system_graph" {
                let unhealthy = nodes.iter().filter(|n| n["status"] != "healthy").count();
                let summary = format!("{} nodes, {unhealthy} not healthy", nodes.len());
                let (nodes, truncated) = within_budget(nodes, budget);
                return Ok(answer(summary, json!({"nodes": nodes, "truncated": truncated})));
            }
            let alerting: Vec<Value> =
                nodes.into_iter().filter(|n| n["alerts"].as_array().is_some_and(|a| !a.is_empty())).collect();
            let tq = TimelineQuery { service: None, limit: 50, window: GraphWindow::last(3_600_000_000_000) };
            let anomalies = match inner.graph.anomaly_timeline(tenant, &tq).await {
                Ok(t) => t.anomalies.iter().map(anomaly).collect::<Vec<_>>(),
                Err(e) => return failed(name, e),
            };
            let summary = if alerting.is_empty() && anomalies.is_empty() {
                "No alerts: every service is healthy and no anomaly was raised in the last hour.".to_owned()
            } else {
                format!("{} services alerting, {} anomalies in the last hour", alerting.len(), anomalies.len())
            };
            Ok(answer(summary, json!({"services": alerting, "anomalies": anomalies})))
        }
        "get_service_health" => {
            let service = arg!(args.required("service_name"));
            let window = arg!(args.graph_window());
            let all = match inner.graph.service_map(tenant, &MapQuery { window, ..MapQuery::default() }).await {
                Ok(a) => a,
                Err(e) => return failed(name, e),
            };
            match all.map.nodes.iter().find(|n| n.name == service) {
                Some(n) => {
                    let h = health_of(n);
                    Ok(answer(format!("{service}: {} (health {})", h["status"], h["health_score"]), h))
                }
                None => {
                    let names: Vec<&str> = all.map.nodes.iter().map(|n| n.name.as_str()).collect();
                    Ok(refuse(format!(
                        "get_service_health: no service {service:?} in the window; closest: {}",
                        closest(&service, &names).join(", ")
                    )))
                }
            }
        }
        "tail_logs" => {
            let min_severity = match arg!(args.string("severity")) {
                Some(s) => Some(arg!(SeverityLevel::parse_config(&s).ok_or_else(|| refuse(format!(
                    "tail_logs: severity {s:?}: expected trace, debug, info, warn, error or fatal"
                ))))),
                None => None,
            };
            let q = LogQuery {
                service: arg!(args.string("service")),
                min_severity,
                limit: arg!(args.integer("limit", 1, 100, 20)) as usize,
                ..LogQuery::default()
            };
            match inner.queries.logs(tenant, &q).await {
                Ok(page) => {
                    let entries: Vec<Value> = page.items.iter().map(log_entry).collect();
                    let summary = format!("{} newest log records", entries.len());
                    let (entries, truncated) = within_budget(entries, budget);
                    Ok(answer(summary, json!({"logs": entries, "truncated": truncated})))
                }
                Err(e) => failed(name, e),
            }
        }
        "get_metrics" => {
            let metric = arg!(args.required("name"));
            let (start, end) = arg!(args.window(3_600_000_000_000, now_ns()));
            let step = match arg!(args.duration_ns("step")) {
                Some(s) => s,
                None => ((end - start) / 60).max(30_000_000_000),
            };
            let q = otelcontext_ports::MetricSeriesQuery {
                name: metric.clone(),
                service: arg!(args.string("service")),
                start_ns: start,
                end_ns: end,
                step_ns: step,
            };
            match inner.queries.metric_series(tenant, &q).await {
                Ok(a) => {
                    let series: Vec<Value> = a
                        .series
                        .iter()
                        .map(|s| {
                            json!({
                                "service": s.service,
                                "attributes": serde_json::to_value(&s.attributes).unwrap_or(Value::Null),
                                "points": s.points.iter().map(|b| json!({
                                    "start_unix_nano": b.start_ns, "count": b.count, "avg": b.mean().filter(|v| v.is_finite()),
                                    "min": finite(b.min), "max": finite(b.max), "last": finite(b.last),
                                    "p50": b.quantile(0.5).filter(|v| v.is_finite()), "p95": b.quantile(0.95).filter(|v| v.is_finite()),
                                    "p99": b.quantile(0.99).filter(|v| v.is_finite())
                                })).collect::<Vec<_>>()
                            })
                        })
                        .collect();
                    let summary = if series.is_empty() {
                        format!("No data for {metric:?} in the window: check the name and widen time_range.")
                    } else {
                        format!("{metric}: {} series, step {} s", series.len(), step / 1_000_000_000)
                    };
                    let (series, truncated) = within_budget(series, budget);
                    Ok(answer(
                        summary,
                        json!({"name": metric, "step_ns": step, "series": series, "truncated": truncated || a.truncated}),
                    ))
                }
                Err(e) => failed(name, e),
            }
        }
        "get_dashboard_stats" => {
            let (start, end) = arg!(args.window(3_600_000_000_000, now_ns()));
            let q = otelcontext_ports::TraceStatsQuery { start_ns: start, end_ns: end, services: vec![] };
            match inner.queries.dashboard(tenant, &q).await {
                Ok(d) => {
                    let p = |i: usize| d.percentiles_ns.get(i).map(|&ns| ms(ns as f64));
                    let rate = if d.traces == 0 { 0.0 } else { d.errors as f64 / d.traces as f64 };
                    let value = json!({
                        "total_traces": d.traces, "total_errors": d.errors, "error_rate": rate, "total_logs": d.logs,
                        "active_services": d.services, "avg_latency_ms": d.mean_duration_ns.map(ms),
                        "p50_latency_ms": p(0), "p95_latency_ms": p(1), "p99_latency_ms": p(2),
                        "top_failing_services": d.top_failing.iter().map(|f| json!({"service": f.service, "errors": f.errors, "traces": f.traces})).collect::<Vec<_>>()
                    });
                    Ok(answer(format!("{} traces, {:.1} % failed", d.traces, rate * 100.0), value))
                }
                Err(e) => failed(name, e),
            }
        }
        "get_storage_status" => {
            let counts = match inner.queries.stats(tenant).await {
                Ok(c) => c,
                Err(e) => return failed(name, e),
            };
            let backend = inner.queries.storage_status().await.map(|s| s.backend).unwrap_or_default();
            let value = json!({
                "backend": backend, "traces": counts.traces, "spans": counts.spans, "logs": counts.logs,
                "metric_points": counts.metric_points, "error_traces": counts.error_traces
            });
            Ok(answer(
                format!("{} traces, {} logs, {} metric points", counts.traces, counts.logs, counts.metric_points),
                value,
            ))
        }
        "find_similar_logs" => {
            let query = arg!(args.required("query"));
            let limit = arg!(args.integer("limit", 1, 50, 10)) as usize;
            match inner.queries.similar_logs(tenant, &query, limit).await {
                Ok(hits) => {
                    let results: Vec<Value> = hits
                        .iter()
                        .map(|h| json!({"score": h.score, "service": h.service, "severity": h.severity, "body": clip(&h.body, 1_024),
                            "timestamp_unix_nano": h.timestamp_ns, "trace_id": h.trace_id.map(|t| t.to_hex())}))
                        .collect();
                    let summary = if results.is_empty() {
                        "No similar WARN-or-above records (only those are indexed).".to_owned()
                    } else {
                        format!("{} similar records, best first", results.len())
                    };
                    Ok(answer(summary, json!({"results": results})))
                }
                Err(e) => failed(name, e),
            }
        }
        "get_error_chains" => {
            let service = arg!(args.required("service"));
            let q = otelcontext_ports::ErrorChainQuery {
                service: service.clone(),
                limit: arg!(args.integer("limit", 1, 50, 10)) as usize,
                window: arg!(args.graph_window()),
            };
            match inner.graph.error_chains(tenant, &q).await {
                Ok(a) => {
                    let origins: Vec<Value> = a
                        .origins
                        .iter()
                        .map(|o| {
                            json!({"service": o.service, "operation": o.operation, "message": clip(&o.message, 256),
                            "traces": o.traces, "example_trace_id": o.example_trace.to_hex()})
                        })
                        .collect();
                    let chains: Vec<Value> = a
                        .chains
                        .iter()
                        .map(|c| json!({"trace_id": c.trace_id.to_hex(), "hops": c.chain.hops.iter().map(|h| json!({
                            "service": h.service, "operation": h.operation, "error": h.error, "message": clip(&h.message, 256),
                            "peer": h.peer.as_ref().map(|p| p.name.to_string())})).collect::<Vec<_>>(),
                            "logs": c.logs.iter().map(|l| clip(l, 256)).collect::<Vec<_>>()}))
                        .collect();
                    let summary = match origins.first() {
                        Some(o) => {
                            format!("failures of {service} start most often in {} {}", o["service"], o["operation"])
                        }
                        None => format!("no failed trace of {service} in the window"),
                    };
                    let (chains, truncated) = within_budget(chains, budget / 2);
                    Ok(answer(
                        summary,
                        json!({"service": service, "origins": origins, "chains": chains, "truncated": truncated}),
                    ))
                }
                Err(e) => failed(name, e),
            }
        }
        "trace_graph" => {
            let text = arg!(args.required("trace_id"));
            let id = arg!(TraceId::parse_hex(&text).map_err(|e| refuse(format!("trace_graph: trace_id: {e}"))));
            match inner.graph.trace_graph(tenant, &id).await {
                Ok(g) => {
                    let spans: Vec<Value> = g
                        .spans
                        .iter()
                        .map(|sp| json!({"span_id": sp.span_id.to_hex(), "depth": sp.depth, "service": sp.service,
                            "operation": sp.operation, "duration_ms": ms(sp.duration_ns as f64), "self_ms": ms(sp.self_ns as f64),
                            "error": sp.error, "critical": sp.critical}))
                        .collect();
                    let critical = g.spans.iter().filter(|s| s.critical).count();
                    let summary = format!(
                        "{} spans over {} services, {critical} on the critical path",
                        spans.len(),
                        g.services.len()
                    );
                    let (spans, truncated) = within_budget(spans, budget);
                    Ok(answer(
                        summary,
                        json!({"trace_id": id.to_hex(), "services": g.services, "spans": spans, "truncated": truncated}),
                    ))
                }
                Err(e) => failed(name, e),
            }
        }
        "correlated_signals" => {
            let service = arg!(args.required("service"));
            let q = otelcontext_ports::SignalsQuery { service: service.clone(), window: arg!(args.graph_window()) };
            match inner.graph.correlated_signals(tenant, &q).await {
                Ok(a) => {
                    let logs: Vec<Value> = a
                        .signals
                        .error_logs
                        .iter()
                        .zip(&a.template_texts)
                        .map(|(l, t)| json!({"template": t.as_deref().map(|t| clip(t, 256)), "count": l.count, "baseline_count": l.baseline_count}))
                        .collect();
                    let value = json!({
                        "service": service, "red": red(&a.signals.red), "baseline_red": red(&a.signals.baseline_red),
                        "error_logs": logs,
                        "metrics": a.signals.metrics.iter().map(|m| json!({"name": m.name, "mean": finite(m.recent.mean), "baseline_mean": finite(m.baseline.mean), "z": finite(m.z)})).collect::<Vec<_>>(),
                        "anomalies": a.anomalies.iter().map(anomaly).collect::<Vec<_>>(),
                        "failed_trace_ids": a.signals.failed_traces.iter().map(|t| t.to_hex()).collect::<Vec<_>>()
                    });
                    Ok(answer(
                        format!(
                            "{service}: {} error-log templates, {} anomalies",
                            a.signals.error_logs.len(),
                            a.anomalies.len()
                        ),
                        value,
                    ))
                }
                Err(e) => failed(name, e),
            }
        }
        "get_investigations" => {
            use otelcontext_domain::{InvestigationSeverity, InvestigationStatus};
            let status = match arg!(args.string("status")) {
                Some(v) => Some(arg!(InvestigationStatus::parse(&v).ok_or_else(|| refuse(format!(
                    "get_investigations: status {v:?}: expected detected, triaged or resolved"
                ))))),
                None => None,
            };
            let min_severity = match arg!(args.string("severity")) {
                Some(v) => Some(arg!(InvestigationSeverity::parse(&v).ok_or_else(|| refuse(format!(
                    "get_investigations: severity {v:?}: expected info, warning or critical"
                ))))),
                None => None,
            };
            let q = otelcontext_ports::InvestigationQuery {
                status,
                min_severity,
                service: arg!(args.string("service")),
                limit: arg!(args.integer("limit", 1, 100, 20)) as usize,
                cursor: arg!(cursor_of(&args, inner, tenant)),
                ..Default::default()
            };
            match inner.queries.investigations(tenant, &q).await {
                Ok(page) => {
                    let items: Vec<Value> = page.items.iter().map(|i| investigation(i, false)).collect();
                    let summary = format!("{} investigations, newest first", items.len());
                    let (items, truncated) = within_budget(items, budget);
                    let next = next_cursor(page.next, inner, tenant, name);
                    Ok(answer(summary, json!({"investigations": items, "next_cursor": next, "truncated": truncated})))
                }
                Err(e) => failed(name, e),
            }
        }
        "get_investigation" => {
            let id = arg!(args.required("investigation_id"));
            match inner.queries.investigation(tenant, &id).await {
                Ok(i) => Ok(answer(i.summary.clone(), investigation(&i, true))),
                Err(e) => failed(name, e),
            }
        }
        "get_graph_snapshot" => {
            let at = arg!(args.time("time")).unwrap_or_else(now_ns);
            let q = otelcontext_ports::SnapshotQuery {
                time: TimeRange { start_ns: None, end_ns: Some(at) },
                limit: 1,
                cursor: None,
            };
            match inner.queries.snapshots(tenant, &q).await {
                Ok(page) => match page.items.first() {
                    Some(s) => {
                        let value = json!({"id": s.id, "created_unix_nano": s.created_ns, "service_count": s.service_count,
                            "edge_count": s.edge_count, "total_calls": s.total_calls, "avg_health_score": finite(s.avg_health_score),
                            "graph": s.graph});
                        Ok(answer(format!("snapshot {} with {} services", s.id, s.service_count), value))
                    }
                    None => Ok(refuse(
                        "get_graph_snapshot: no snapshot at or before that time (one is taken every 15 minutes while data arrives)",
                    )),
                },
                Err(e) => failed(name, e),
            }
        }
        "get_anomaly_timeline" => {
            let now = now_ns();
            let since = arg!(args.time("since")).unwrap_or(now - 3_600_000_000_000);
            let window = GraphWindow { start_ns: Some(since), end_ns: Some(now), last_ns: 3_600_000_000_000 };
            let q = TimelineQuery { service: arg!(args.string("service")), limit: 100, window };
            match inner.graph.anomaly_timeline(tenant, &q).await {
                Ok(t) => {
                    let items: Vec<Value> = t.anomalies.iter().map(anomaly).collect();
                    let summary = if items.is_empty() {
                        "No anomaly in the window.".to_owned()
                    } else {
                        format!("{} anomalies, newest first", items.len())
                    };
                    Ok(answer(summary, json!({"anomalies": items})))
                }
                Err(e) => failed(name, e),
            }
        }
        "get_log_patterns" => {
            let now = now_ns();
            let (start, end, back) =
                (arg!(args.time("start")), arg!(args.time("end")), arg!(args.duration_ns("time_range")));
            if start.is_some() && back.is_some() {
                return Ok(refuse("get_log_patterns: give start or time_range, not both"));
            }
            let time = TimeRange { start_ns: start.or(back.map(|b| end.unwrap_or(now) - b)), end_ns: end };
            let cursor = arg!(cursor_of(&args, inner, tenant));
            let q = otelcontext_ports::TemplateQuery {
                time,
                service: arg!(args.string("service")),
                first_seen_since_ns: arg!(args.boolean("new"))
                    .then_some(now - otelcontext_domain::pattern::NEW_WINDOW_NS),
                spiking_only: arg!(args.boolean("spiking")),
                limit: arg!(args.integer("limit", 1, 100, 20)) as usize,
                cursor,
                ..Default::default()
            };
            match inner.queries.patterns(tenant, &q).await {
                Ok(page) => {
                    let items: Vec<Value> = page
                        .items
                        .iter()
                        .map(|t| json!({"template_id": t.id.to_string(), "template": clip(&t.template, 512), "count": t.count,
                            "first_seen_unix_nano": t.first_seen_ns, "last_seen_unix_nano": t.last_seen_ns,
                            "sample": clip(&t.sample, 512), "services": t.services,
                            "new": otelcontext_domain::pattern::is_new(t.first_seen_ns, now), "spiking": t.spiking}))
                        .collect();
                    let summary = if items.is_empty() {
                        "No log patterns match: widen time_range or drop a filter.".to_owned()
                    } else {
                        format!("{} patterns, most frequent first", items.len())
                    };
                    let (items, truncated) = within_budget(items, budget);
                    let next = next_cursor(page.next, inner, tenant, name);
                    Ok(answer(summary, json!({"patterns": items, "next_cursor": next, "truncated": truncated})))
                }
                Err(e) => failed(name, e),
            }
        }
        "list_services" => {
            let q = MapQuery { window: arg!(args.graph_window()), ..MapQuery::default() };
            match inner.graph.service_map(tenant, &q).await {
                Ok(a) => {
                    let mut nodes: Vec<&otelcontext_domain::graph::MapNode> = a
                        .map
                        .nodes
                        .iter()
                        .filter(|n| n.kind == otelcontext_domain::graph::peer::NodeKind::Service)
                        .collect();
                    nodes.sort_by(|x, y| {
                        y.red.error_rate.total_cmp(&x.red.error_rate).then_with(|| x.name.cmp(&y.name))
                    });
                    let items: Vec<Value> = nodes
                        .iter()
                        .map(|n| json!({"name": n.name, "operations": n.operations, "instances": n.instances, "red": red(&n.red)}))
                        .collect();
                    let summary = if items.is_empty() {
                        "No services in the window: try a longer time_range (at most 1h).".to_owned()
                    } else {
                        format!("{} services, worst error rate first", items.len())
                    };
                    Ok(answer(summary, json!({"services": items})))
                }
                Err(e) => failed(name, e),
            }
        }
        "list_operations" => {
            let service = arg!(args.required("service"));
            let (start, end) = arg!(args.window(3_600_000_000_000, now_ns()));
            let q = otelcontext_ports::SpanQuery {
                time: TimeRange::between(start, end),
                service: Some(service.clone()),
                limit: 1_000,
                ..Default::default()
            };
            match inner.queries.spans(tenant, &q).await {
                Ok(page) => {
                    let mut ops: std::collections::BTreeMap<&str, (u64, u64, Vec<i64>)> =
                        std::collections::BTreeMap::new();
                    for sp in &page.items {
                        let e = ops.entry(sp.name.as_str()).or_default();
                        e.0 += 1;
                        e.1 += u64::from(sp.status.code == StatusCode::Error);
                        e.2.push(sp.end_ns - sp.start_ns);
                    }
                    let mut items: Vec<Value> = ops
                        .into_iter()
                        .map(|(op, (n, errors, mut d))| {
                            d.sort_unstable();
                            let pct = |q: f64| ms(d[((q * d.len() as f64).ceil() as usize).clamp(1, d.len()) - 1] as f64);
                            json!({"operation": op, "spans": n, "errors": errors, "error_rate": errors as f64 / n as f64,
                                   "p50_ms": pct(0.5), "p95_ms": pct(0.95)})
                        })
                        .collect();
                    items.sort_by(|a, b| b["spans"].as_u64().cmp(&a["spans"].as_u64()));
                    let summary = if items.is_empty() {
                        format!(
                            "No spans of {service:?} in the window: check the name with list_services or widen time_range."
                        )
                    } else {
                        format!("{} operations of {service} over its {} newest spans", items.len(), page.items.len())
                    };
                    Ok(answer(
                        summary,
                        json!({"service": service, "operations": items, "sampled_spans": page.items.len()}),
                    ))
                }
                Err(e) => failed(name, e),
            }
        }
        "compare_periods" => {
            let service = arg!(args.required("service"));
            let q = otelcontext_ports::SignalsQuery { service: service.clone(), window: arg!(args.graph_window()) };
            match inner.graph.correlated_signals(tenant, &q).await {
                Ok(a) => {
                    let (now, base) = (&a.signals.red, &a.signals.baseline_red);
                    let ratio = |x: f64, y: f64| if y > 0.0 { Some(((x / y) * 100.0).round() / 100.0) } else { None };
                    let patterns: Vec<Value> = a
                        .signals
                        .error_logs
                        .iter()
                        .zip(&a.template_texts)
                        .map(|(l, t)| json!({"pattern": t.as_deref().map(|t| clip(t, 256)), "now": l.count, "baseline": l.baseline_count}))
                        .collect();
                    let value = json!({
                        "service": service, "window_start_unix_nano": a.start_ns, "baseline_start_unix_nano": a.baseline_start_ns,
                        "now": red(now), "baseline": red(base),
                        "change": {"rate_ratio": ratio(now.rate_per_s, base.rate_per_s), "p95_ratio": ratio(now.p95_ns, base.p95_ns),
                                   "error_rate_delta": now.error_rate - base.error_rate},
                        "error_log_patterns": patterns
                    });
                    let summary = format!(
                        "{service}: error rate {:.1} % (baseline {:.1} %), p95 {} ms (baseline {} ms)",
                        now.error_rate * 100.0,
                        base.error_rate * 100.0,
                        ms(now.p95_ns),
                        ms(base.p95_ns)
                    );
                    Ok(answer(summary, value))
                }
                Err(e) => failed(name, e),
            }
        }
        "explain_trace" => {
            let text = arg!(args.required("trace_id"));
            let id = arg!(TraceId::parse_hex(&text).map_err(|e| refuse(format!("explain_trace: trace_id: {e}"))));
            match inner.graph.trace_graph(tenant, &id).await {
                Ok(g) => {
                    let brief = |sp: &otelcontext_domain::graph::tree::TreeSpan| {
                        json!({"span_id": sp.span_id.to_hex(), "service": sp.service, "operation": sp.operation,
                            "duration_ms": ms(sp.duration_ns as f64), "self_ms": ms(sp.self_ns as f64)})
                    };
                    let critical: Vec<Value> = g.spans.iter().filter(|s| s.critical).map(brief).collect();
                    let failed_spans: Vec<Value> = g
                        .spans
                        .iter()
                        .filter(|s| s.error)
                        .map(|s| {
                            let mut v = brief(s);
                            v["message"] = json!(clip(&s.message, 256));
                            v
                        })
                        .collect();
                    let mut by_self: Vec<&otelcontext_domain::graph::tree::TreeSpan> = g.spans.iter().collect();
                    by_self.sort_by_key(|s| std::cmp::Reverse(s.self_ns));
                    let slowest: Vec<Value> = by_self.into_iter().take(5).map(brief).collect();
                    let summary = format!(
                        "{} spans over {} services in {} ms; {} failed; {} on the critical path",
                        g.spans.len(),
                        g.services.len(),
                        ms((g.end_ns - g.start_ns) as f64),
                        failed_spans.len(),
                        critical.len()
                    );
                    Ok(answer(
                        summary,
                        json!({"trace_id": id.to_hex(), "services": g.services, "critical_path": critical,
                            "failed_spans": failed_spans, "most_self_time": slowest}),
                    ))
                }
                Err(e) => failed(name, e),
            }
        }
        "get_span" => {
            let trace = arg!(args.required("trace_id"));
            let span = arg!(args.required("span_id"));
            let id = arg!(TraceId::parse_hex(&trace).map_err(|e| refuse(format!("get_span: trace_id: {e}"))));
            let span_id = arg!(
                otelcontext_domain::SpanId::parse_hex(&span).map_err(|e| refuse(format!("get_span: span_id: {e}")))
            );
            match inner.queries.trace(tenant, &id).await {
                Ok(t) => match t.spans.iter().find(|s| s.span_id == span_id) {
                    Some(sp) => {
                        let attrs = |a: &otelcontext_domain::Attributes| -> Value {
                            a.0.iter()
                                .map(|kv| (kv.key.clone(), json!(clip(&kv.value.to_text(), 512))))
                                .collect::<Map<String, Value>>()
                                .into()
                        };
                        let value = json!({
                            "trace_id": id.to_hex(), "span_id": span_id.to_hex(), "parent_span_id": sp.parent_span_id.map(|p| p.to_hex()),
                            "service": sp.service_name(), "operation": sp.name, "kind": sp.kind.as_str(),
                            "start_unix_nano": sp.start_ns, "duration_ms": ms((sp.end_ns - sp.start_ns) as f64),
                            "status": sp.status.code.as_str(), "message": clip(&sp.status.message, 512),
                            "attributes": attrs(&sp.attributes), "resource": attrs(&sp.resource.attributes),
                            "events": sp.events.iter().take(20).map(|e| json!({"name": e.name, "time_unix_nano": e.time_ns, "attributes": attrs(&e.attributes)})).collect::<Vec<_>>(),
                            "links": sp.links.iter().map(|l| json!({"trace_id": l.trace_id.to_hex(), "span_id": l.span_id.to_hex()})).collect::<Vec<_>>()
                        });
                        Ok(answer(format!("{} {} ({})", sp.service_name(), sp.name, sp.status.code.as_str()), value))
                    }
                    None => {
                        Ok(refuse(format!("get_span: trace {trace} has no span {span}; list its spans with get_trace")))
                    }
                },
                Err(e) => failed(name, e),
            }
        }
        "list_attributes" => {
            let service = arg!(args.required("service"));
            let signal = arg!(args.string("signal")).unwrap_or_else(|| "spans".into());
            let (start, end) = arg!(args.window(3_600_000_000_000, now_ns()));
            let time = TimeRange::between(start, end);
            let sets: Vec<otelcontext_domain::Attributes> = match signal.as_str() {
                "spans" => {
                    let q = otelcontext_ports::SpanQuery {
                        time,
                        service: Some(service.clone()),
                        limit: 500,
                        ..Default::default()
                    };
                    match inner.queries.spans(tenant, &q).await {
                        Ok(p) => p.items.into_iter().map(|s| s.attributes).collect(),
                        Err(e) => return failed(name, e),
                    }
                }
                "logs" => {
                    let q = LogQuery { time, service: Some(service.clone()), limit: 500, ..LogQuery::default() };
                    match inner.queries.logs(tenant, &q).await {
                        Ok(p) => p.items.into_iter().map(|l| l.record.attributes).collect(),
                        Err(e) => return failed(name, e),
                    }
                }
                other => return Ok(refuse(format!("list_attributes: signal {other:?}: expected spans or logs"))),
            };
            let mut keys: std::collections::BTreeMap<String, std::collections::HashMap<String, u64>> =
                std::collections::BTreeMap::new();
            for set in &sets {
                for kv in &set.0 {
                    let values = keys.entry(kv.key.clone()).or_default();
                    let value = clip(&kv.value.to_text(), 128);
                    // At most 1,000 distinct values a key are counted (the rest are not shown anyway).
                    if values.len() < 1_000 || values.contains_key(&value) {
                        *values.entry(value).or_default() += 1;
                    }
                }
            }
            let items: Vec<Value> = keys
                .into_iter()
                .map(|(k, values)| {
                    let distinct = values.len();
                    let mut top: Vec<(String, u64)> = values.into_iter().collect();
                    top.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
                    top.truncate(5);
                    json!({"key": k, "distinct_values": distinct,
                        "top_values": top.into_iter().map(|(v, n)| json!({"value": v, "count": n})).collect::<Vec<_>>()})
                })
                .collect();
            let summary = if items.is_empty() {
                format!("No attributes on {service}'s recent {signal}: check the name or widen time_range.")
            } else {
                format!("{} attribute keys over {} recent {signal} of {service}", items.len(), sets.len())
            };
            let (items, truncated) = within_budget(items, budget);
            Ok(answer(
                summary,
                json!({"service": service, "signal": signal, "attributes": items, "truncated": truncated}),
            ))
        }
        "query_metric" => Box::pin(dispatch(inner, tenant, "get_metrics", args.map)).await,
        other => Ok(refuse(format!("unknown tool {other:?}; the tools are {}", TOOL_NAMES.join(", ")))),
    }
}
