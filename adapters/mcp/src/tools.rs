//! The tools: their definitions (JSON Schemas written for an agent) and their calls. Every
//! argument is checked (unknown names, types and ranges are a tool error naming the argument and
//! what is accepted); results are structured JSON without tenant ids plus a one-line summary.

use crate::Inner;
use otelcontext_domain::duration::parse_duration;
use otelcontext_domain::{SeverityLevel, StatusCode, TenantId, TraceId};
use otelcontext_ports::{
    GraphWindow, ImpactQuery, LogQuery, LogSort, MapQuery, QueryError, RcaQuery, TimeRange, TraceQuery, TraceSort,
};
use rmcp::model::{CallToolResult, ContentBlock, ErrorData, JsonObject, Tool};
use serde_json::{Map, Value, json};
use std::sync::Arc;

/// The tools this server offers.
pub const TOOL_NAMES: [&str; 6] =
    ["get_service_map", "root_cause_analysis", "impact_analysis", "search_logs", "search_traces", "get_trace"];

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

/// The tool definitions of `tools/list`.
pub fn tool_definitions() -> Vec<Tool> {
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
            schema(json!({"service": service, "depth": depth}), &["service"]),
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
                    "cursor": {"type": "string"}
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
                    "limit": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20}
                }),
                &[],
            ),
        ),
        Tool::new(
            "get_trace",
            "One trace: summary, then its spans in start order (service, operation, duration, status, parent) — bodies and attributes clipped to fit the answer budget.",
            schema(json!({"trace_id": {"type": "string", "description": "32 hex characters."}}), &["trace_id"]),
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
        let allowed: Vec<String> = tool_definitions()
            .into_iter()
            .find(|t| t.name == tool)
            .and_then(|t| {
                t.input_schema.get("properties").and_then(Value::as_object).map(|p| p.keys().cloned().collect())
            })
            .unwrap_or_default();
        if let Some(unknown) = map.keys().find(|k| !allowed.contains(k)) {
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

    fn graph_window(&self) -> Result<GraphWindow, CallToolResult> {
        Ok(match self.duration_ns("time_range")? {
            Some(last_ns) => GraphWindow::last(last_ns),
            None => GraphWindow::default(),
        })
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

/// Runs tool `name` for `tenant`.
pub(crate) async fn call(
    inner: &Inner,
    tenant: &TenantId,
    name: &str,
    args: JsonObject,
) -> Result<CallToolResult, ErrorData> {
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
            let mut q = RcaQuery { service: Some(service.clone()), ..RcaQuery::default() };
            if let Some(last) = arg!(args.duration_ns("time_range")) {
                q.last_ns = last;
            }
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
                window: GraphWindow::default(),
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
            let cursor = match arg!(args.string("cursor")) {
                Some(c) => Some(arg!(
                    otelcontext_ports::Cursor::open(&c, &inner.settings.cursor_key, &[tenant.as_str(), name])
                        .map_err(|_| refuse("search_logs: cursor is not a next_cursor this tool gave this tenant"))
                )),
                None => None,
            };
            let q = LogQuery {
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
            match inner.queries.logs(tenant, &q).await {
                Ok(page) => {
                    let entries: Vec<Value> = page
                        .items
                        .iter()
                        .map(|l| {
                            let r = &l.record;
                            json!({
                                "id": l.id.0, "timestamp_unix_nano": r.timestamp_ns, "severity": r.severity_label(),
                                "service": r.service_name(), "body": clip(&r.body_text(), 1_024),
                                "trace_id": r.trace_id.map(|t| t.to_hex()), "span_id": r.span_id.map(|s| s.to_hex())
                            })
                        })
                        .collect();
                    let n = entries.len();
                    let (entries, truncated) = within_budget(entries, budget);
                    let next = page.next.map(|c| c.seal(&inner.settings.cursor_key, &[tenant.as_str(), name]));
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
                    Ok(answer(summary, json!({"traces": traces, "truncated": truncated})))
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
        other => Ok(refuse(format!("unknown tool {other:?}; the tools are {}", TOOL_NAMES.join(", ")))),
    }
}
