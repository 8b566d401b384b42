//! JSON views of the live graph's answers, investigations and snapshots: snake_case keys,
//! durations in milliseconds named so, rates as fractions 0..1, times as RFC 3339 plus unix
//! nanoseconds.

use crate::views::rfc3339;
use otelcontext_domain::graph::anomaly::Anomaly;
use otelcontext_domain::graph::health::health;
use otelcontext_domain::graph::peer::{NodeKind, Peer};
use otelcontext_domain::graph::stats::Red;
use otelcontext_domain::graph::tree::{ChainHop, TraceGraph};
use otelcontext_domain::graph::walks::ImpactedNode;
use otelcontext_domain::graph::{MapEdge, MapNode};
use otelcontext_domain::{GraphSnapshot, Investigation};
use otelcontext_ports::{
    ErrorChainAnswer, ImpactAnswer, MapAnswer, PathAnswer, SignalsAnswer, SimilarErrorsAnswer, TimelineAnswer,
};
use poem_openapi::Object;
use serde_json::Value;

/// A finite float (JSON has no NaN or infinity).
fn finite(v: f64) -> f64 {
    if v.is_finite() { v } else { 0.0 }
}

fn ms(ns: f64) -> f64 {
    finite(ns / 1e6)
}

/// The range an answer covers.
#[derive(Debug, Clone, PartialEq, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct RangeView {
    pub start: String,
    pub start_unix_nano: i64,
    pub end: String,
    pub end_unix_nano: i64,
}

impl RangeView {
    pub fn new(start_ns: i64, end_ns: i64) -> Self {
        Self { start: rfc3339(start_ns), start_unix_nano: start_ns, end: rfc3339(end_ns), end_unix_nano: end_ns }
    }
}

/// Rate, errors and duration of calls over the range.
#[derive(Debug, Clone, PartialEq, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct RedView {
    pub calls: u64,
    pub errors: u64,
    /// Calls per second over the range.
    pub rate_per_s: f64,
    /// `errors / calls`, 0..1.
    pub error_rate: f64,
    pub avg_latency_ms: f64,
    pub p50_latency_ms: f64,
    pub p95_latency_ms: f64,
    pub p99_latency_ms: f64,
}

impl From<&Red> for RedView {
    fn from(r: &Red) -> Self {
        Self {
            calls: r.calls,
            errors: r.errors,
            rate_per_s: finite(r.rate_per_s),
            error_rate: finite(r.error_rate),
            avg_latency_ms: ms(r.mean_ns),
            p50_latency_ms: ms(r.p50_ns),
            p95_latency_ms: ms(r.p95_ns),
            p99_latency_ms: ms(r.p99_ns),
        }
    }
}

/// A node of the service map.
#[derive(Debug, Clone, PartialEq, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct MapNodeView {
    pub name: String,
    /// `service` (sends its own spans), `database`, `messaging` or `external` (named from its
    /// callers' client spans).
    pub kind: String,
    /// What the service served (its server spans), or what callers saw of a peer.
    pub red: RedView,
    /// Operations seen (services only).
    pub operations: u64,
    /// Instances (pods or hosts) seen (services only).
    pub instances: u64,
}

impl From<&MapNode> for MapNodeView {
    fn from(n: &MapNode) -> Self {
        Self {
            name: n.name.clone(),
            kind: n.kind.as_str().into(),
            red: RedView::from(&n.red),
            operations: n.operations as u64,
            instances: n.instances as u64,
        }
    }
}

/// Calls from a service to another service or a peer.
#[derive(Debug, Clone, PartialEq, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct MapEdgeView {
    pub source: String,
    pub target: String,
    /// Kind of the target node.
    pub target_kind: String,
    /// What the caller saw (its client spans).
    pub client: RedView,
    /// What the target served of these calls (its server spans); absent for peers.
    #[oai(skip_serializing_if_is_none)]
    pub server: Option<RedView>,
}

impl From<&MapEdge> for MapEdgeView {
    fn from(e: &MapEdge) -> Self {
        Self {
            source: e.from.clone(),
            target: e.to.clone(),
            target_kind: e.to_kind.as_str().into(),
            client: RedView::from(&e.client),
            server: e.server.as_ref().map(RedView::from),
        }
    }
}

/// The service map over a range.
#[derive(Debug, Clone, PartialEq, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct ServiceMapView {
    pub range: RangeView,
    pub nodes: Vec<MapNodeView>,
    pub edges: Vec<MapEdgeView>,
}

impl From<&MapAnswer> for ServiceMapView {
    fn from(a: &MapAnswer) -> Self {
        Self {
            range: RangeView::new(a.start_ns, a.end_ns),
            nodes: a.map.nodes.iter().map(MapNodeView::from).collect(),
            edges: a.map.edges.iter().map(MapEdgeView::from).collect(),
        }
    }
}

/// A node of the system graph with its health.
#[derive(Debug, Clone, PartialEq, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct SystemNodeView {
    pub id: String,
    /// `service`, `database`, `messaging` or `external`.
    #[oai(rename = "type")]
    pub kind: String,
    /// 1 − 5 × error rate − (p99 ms − 500) / 2000 beyond 500 ms, clamped to 0..1.
    pub health_score: f64,
    /// `healthy` (≥ 0.9), `degraded` (≥ 0.7) or `critical`.
    pub status: String,
    pub red: RedView,
    /// Why it is not healthy, one line each.
    pub alerts: Vec<String>,
}

/// An edge of the system graph with its health.
#[derive(Debug, Clone, PartialEq, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct SystemEdgeView {
    pub source: String,
    pub target: String,
    pub red: RedView,
    pub health_score: f64,
    pub status: String,
}

/// Totals of the system graph.
#[derive(Debug, Clone, PartialEq, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct SystemSummaryView {
    pub total_services: u64,
    pub healthy: u64,
    pub degraded: u64,
    pub critical: u64,
    /// Mean health of the services.
    pub overall_health_score: f64,
    /// Failed calls over all calls the services served, 0..1.
    pub total_error_rate: f64,
}

/// The whole system: every node with its health and alerts.
#[derive(Debug, Clone, PartialEq, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct SystemGraphView {
    pub range: RangeView,
    pub system: SystemSummaryView,
    pub nodes: Vec<SystemNodeView>,
    pub edges: Vec<SystemEdgeView>,
}

impl From<&MapAnswer> for SystemGraphView {
    fn from(a: &MapAnswer) -> Self {
        let nodes: Vec<SystemNodeView> = a
            .map
            .nodes
            .iter()
            .map(|n| {
                let h = health(&n.red);
                SystemNodeView {
                    id: n.name.clone(),
                    kind: n.kind.as_str().into(),
                    health_score: h.score,
                    status: h.status.into(),
                    red: RedView::from(&n.red),
                    alerts: h.alerts,
                }
            })
            .collect();
        let services: Vec<&MapNode> = a.map.nodes.iter().filter(|n| n.kind == NodeKind::Service).collect();
        let count =
            |s: &str| nodes.iter().filter(|n| n.kind == NodeKind::Service.as_str() && n.status == s).count() as u64;
        let (calls, errors) = services.iter().fold((0u64, 0u64), |(c, e), n| (c + n.red.calls, e + n.red.errors));
        let mean_health = if services.is_empty() {
            1.0
        } else {
            services.iter().map(|n| health(&n.red).score).sum::<f64>() / services.len() as f64
        };
        Self {
            range: RangeView::new(a.start_ns, a.end_ns),
            system: SystemSummaryView {
                total_services: services.len() as u64,
                healthy: count("healthy"),
                degraded: count("degraded"),
                critical: count("critical"),
                overall_health_score: (mean_health * 100.0).round() / 100.0,
                total_error_rate: if calls == 0 { 0.0 } else { errors as f64 / calls as f64 },
            },
            edges: a
                .map
                .edges
                .iter()
                .map(|e| {
                    let h = health(&e.client);
                    SystemEdgeView {
                        source: e.from.clone(),
                        target: e.to.clone(),
                        red: RedView::from(&e.client),
                        health_score: h.score,
                        status: h.status.into(),
                    }
                })
                .collect(),
            nodes,
        }
    }
}

/// A node an impact walk reached.
#[derive(Debug, Clone, PartialEq, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct ImpactedNodeView {
    pub name: String,
    pub kind: String,
    /// Calls away from the node asked about.
    pub hops: u64,
    /// The node it was reached from.
    pub via: String,
    pub via_kind: String,
    /// Calls on the edge between it and `via` in the range.
    pub edge_calls: u64,
    pub red: RedView,
}

impl From<&ImpactedNode> for ImpactedNodeView {
    fn from(n: &ImpactedNode) -> Self {
        Self {
            name: n.name.clone(),
            kind: n.kind.as_str().into(),
            hops: n.hops as u64,
            via: n.via.clone(),
            via_kind: n.via_kind.as_str().into(),
            edge_calls: n.edge_calls,
            red: RedView::from(&n.red),
        }
    }
}

/// The blast radius of a node.
#[derive(Debug, Clone, PartialEq, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct ImpactView {
    pub range: RangeView,
    pub service: String,
    pub kind: String,
    /// What it calls, transitively: a failure there reaches it. Nearest first.
    pub downstream: Vec<ImpactedNodeView>,
    /// What calls it, transitively: its failure reaches them. Nearest first.
    pub upstream: Vec<ImpactedNodeView>,
}

impl ImpactView {
    pub fn new(service: String, a: &ImpactAnswer) -> Self {
        Self {
            range: RangeView::new(a.start_ns, a.end_ns),
            service,
            kind: a.kind.as_str().into(),
            downstream: a.impact.downstream.iter().map(ImpactedNodeView::from).collect(),
            upstream: a.impact.upstream.iter().map(ImpactedNodeView::from).collect(),
        }
    }
}

/// The fewest calls between two nodes.
#[derive(Debug, Clone, PartialEq, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct PathView {
    pub range: RangeView,
    pub from: String,
    pub to: String,
    /// `to` calls `from` rather than the reverse: the edges lead from `to` to `from`.
    pub reversed: bool,
    /// The edges in order; empty when both name the same node.
    pub edges: Vec<MapEdgeView>,
}

impl PathView {
    pub fn new(from: String, to: String, a: &PathAnswer) -> Self {
        Self {
            range: RangeView::new(a.start_ns, a.end_ns),
            from,
            to,
            reversed: a.reversed,
            edges: a.edges.iter().map(MapEdgeView::from).collect(),
        }
    }
}

fn peer_name(p: &Option<Peer>) -> Option<String> {
    p.as_ref().map(|p| p.name.to_string())
}

/// One span of an error chain.
#[derive(Debug, Clone, PartialEq, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct ChainHopView {
    pub span_id: String,
    pub service: String,
    pub operation: String,
    /// `SERVER`, `CLIENT`, `INTERNAL`, `PRODUCER`, `CONSUMER` or `UNSPECIFIED`.
    pub span_kind: String,
    pub duration_ms: f64,
    pub error: bool,
    /// The span's status message.
    pub message: String,
    /// The database, broker or endpoint it called, if any.
    #[oai(skip_serializing_if_is_none)]
    pub peer: Option<String>,
}

impl From<&ChainHop> for ChainHopView {
    fn from(h: &ChainHop) -> Self {
        Self {
            span_id: h.span_id.to_hex(),
            service: h.service.clone(),
            operation: h.operation.clone(),
            span_kind: h.kind.as_str().into(),
            duration_ms: ms(h.duration_ns as f64),
            error: h.error,
            message: h.message.clone(),
            peer: peer_name(&h.peer),
        }
    }
}

/// How a failure travelled through one trace: from the service's failed span down to the span
/// where it started.
#[derive(Debug, Clone, PartialEq, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct TraceErrorChainView {
    pub trace_id: String,
    pub start: String,
    pub start_unix_nano: i64,
    /// From the service asked about to the origin (last).
    pub hops: Vec<ChainHopView>,
    /// Error lines the origin span wrote (a few).
    pub logs: Vec<String>,
}

/// Where failures started, counted over the chains.
#[derive(Debug, Clone, PartialEq, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct ErrorOriginView {
    pub service: String,
    pub operation: String,
    pub message: String,
    #[oai(skip_serializing_if_is_none)]
    pub peer: Option<String>,
    /// Traces whose chain ends here.
    pub traces: u64,
    pub example_trace_id: String,
}

/// Error chains of a service.
#[derive(Debug, Clone, PartialEq, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct ErrorChainsView {
    pub range: RangeView,
    pub service: String,
    /// Most traces first.
    pub origins: Vec<ErrorOriginView>,
    /// Newest first.
    pub chains: Vec<TraceErrorChainView>,
}

impl ErrorChainsView {
    pub fn new(service: String, a: &ErrorChainAnswer) -> Self {
        Self {
            range: RangeView::new(a.start_ns, a.end_ns),
            service,
            origins: a
                .origins
                .iter()
                .map(|o| ErrorOriginView {
                    service: o.service.clone(),
                    operation: o.operation.clone(),
                    message: o.message.clone(),
                    peer: peer_name(&o.peer),
                    traces: o.traces,
                    example_trace_id: o.example_trace.to_hex(),
                })
                .collect(),
            chains: a
                .chains
                .iter()
                .map(|c| TraceErrorChainView {
                    trace_id: c.trace_id.to_hex(),
                    start: rfc3339(c.start_ns),
                    start_unix_nano: c.start_ns,
                    hops: c.chain.hops.iter().map(ChainHopView::from).collect(),
                    logs: c.logs.clone(),
                })
                .collect(),
        }
    }
}

/// An anomaly the detector raised.
#[derive(Debug, Clone, PartialEq, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct AnomalyView {
    /// `error_rate_spike`, `latency_degradation`, `throughput_drop` or `metric_zscore`.
    pub kind: String,
    pub service: String,
    /// The gauge, for `metric_zscore`.
    #[oai(skip_serializing_if_is_none)]
    pub metric: Option<String>,
    /// `info`, `warning` or `critical`.
    pub severity: String,
    /// End of the recent window it compared.
    pub at: String,
    pub at_unix_nano: i64,
    /// Recent and baseline values: error rate 0..1, p95 in ns, calls per second, or the gauge's
    /// mean, as `kind` says.
    pub value: f64,
    pub baseline: f64,
    pub recent_count: u64,
    pub baseline_count: u64,
    /// One line for people.
    pub summary: String,
}

impl From<&Anomaly> for AnomalyView {
    fn from(a: &Anomaly) -> Self {
        Self {
            kind: a.kind.as_str().into(),
            service: a.service.clone(),
            metric: a.metric.clone(),
            severity: a.severity.as_str().into(),
            at: rfc3339(a.at_ns),
            at_unix_nano: a.at_ns,
            value: finite(a.value),
            baseline: finite(a.baseline),
            recent_count: a.recent_count,
            baseline_count: a.baseline_count,
            summary: a.summary(),
        }
    }
}

/// Anomalies, newest first.
#[derive(Debug, Clone, PartialEq, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct AnomalyTimelineView {
    pub range: RangeView,
    pub anomalies: Vec<AnomalyView>,
}

impl From<&TimelineAnswer> for AnomalyTimelineView {
    fn from(a: &TimelineAnswer) -> Self {
        Self {
            range: RangeView::new(a.start_ns, a.end_ns),
            anomalies: a.anomalies.iter().map(AnomalyView::from).collect(),
        }
    }
}

/// Error lines of one log template, against the baseline before the range.
#[derive(Debug, Clone, PartialEq, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct LogSignalView {
    pub template_id: String,
    /// The template's text, when the template store has it.
    #[oai(skip_serializing_if_is_none)]
    pub template: Option<String>,
    pub count: u64,
    pub baseline_count: u64,
    pub rate_per_s: f64,
    pub baseline_rate_per_s: f64,
}

/// A gauge of the service, against the baseline.
#[derive(Debug, Clone, PartialEq, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct MetricSignalView {
    pub name: String,
    pub mean: f64,
    pub baseline_mean: f64,
    pub baseline_std_dev: f64,
    /// Recent mean against the baseline, in baseline standard deviations.
    pub z: f64,
}

/// What moved with a service over the range.
#[derive(Debug, Clone, PartialEq, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct SignalsView {
    pub range: RangeView,
    pub service: String,
    /// The baseline is from here to the range's start.
    pub baseline_start: String,
    pub baseline_start_unix_nano: i64,
    pub red: RedView,
    pub baseline_red: RedView,
    /// Most lines first.
    pub error_logs: Vec<LogSignalView>,
    /// Largest |z| first.
    pub metrics: Vec<MetricSignalView>,
    pub failed_trace_ids: Vec<String>,
    /// Newest first.
    pub anomalies: Vec<AnomalyView>,
}

impl SignalsView {
    pub fn new(service: String, a: &SignalsAnswer) -> Self {
        let s = &a.signals;
        Self {
            range: RangeView::new(a.start_ns, a.end_ns),
            service,
            baseline_start: rfc3339(a.baseline_start_ns),
            baseline_start_unix_nano: a.baseline_start_ns,
            red: RedView::from(&s.red),
            baseline_red: RedView::from(&s.baseline_red),
            error_logs: s
                .error_logs
                .iter()
                .enumerate()
                .map(|(i, l)| LogSignalView {
                    template_id: l.template.to_string(),
                    template: a.template_texts.get(i).cloned().flatten(),
                    count: l.count,
                    baseline_count: l.baseline_count,
                    rate_per_s: finite(l.rate_per_s),
                    baseline_rate_per_s: finite(l.baseline_rate_per_s),
                })
                .collect(),
            metrics: s
                .metrics
                .iter()
                .map(|m| MetricSignalView {
                    name: m.name.clone(),
                    mean: finite(m.recent.mean),
                    baseline_mean: finite(m.baseline.mean),
                    baseline_std_dev: finite(m.baseline.std_dev),
                    z: finite(m.z),
                })
                .collect(),
            failed_trace_ids: s.failed_traces.iter().map(|t| t.to_hex()).collect(),
            anomalies: a.anomalies.iter().map(AnomalyView::from).collect(),
        }
    }
}

/// An error template that reads like the one asked about.
#[derive(Debug, Clone, PartialEq, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct SimilarErrorView {
    pub template_id: String,
    pub template: String,
    /// Cosine similarity of the template texts, 0..1.
    pub score: f64,
    /// Services that wrote it in the range, most lines first.
    pub services: Vec<ServiceLinesView>,
}

/// Lines one service wrote.
#[derive(Debug, Clone, PartialEq, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct ServiceLinesView {
    pub service: String,
    pub lines: u64,
}

/// Error templates like the one asked about.
#[derive(Debug, Clone, PartialEq, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct SimilarErrorsView {
    pub range: RangeView,
    pub template_id: String,
    pub template: String,
    /// Best first.
    pub similar: Vec<SimilarErrorView>,
}

impl SimilarErrorsView {
    pub fn new(template_id: String, a: &SimilarErrorsAnswer) -> Self {
        Self {
            range: RangeView::new(a.start_ns, a.end_ns),
            template_id,
            template: a.text.clone(),
            similar: a
                .similar
                .iter()
                .map(|s| SimilarErrorView {
                    template_id: s.template.to_string(),
                    template: s.text.clone(),
                    score: finite(s.score),
                    services: s
                        .services
                        .iter()
                        .map(|(service, lines)| ServiceLinesView { service: service.clone(), lines: *lines })
                        .collect(),
                })
                .collect(),
        }
    }
}

/// One span of a trace graph, depth first.
#[derive(Debug, Clone, PartialEq, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct TreeSpanView {
    pub span_id: String,
    #[oai(skip_serializing_if_is_none)]
    pub parent_span_id: Option<String>,
    pub depth: u64,
    pub service: String,
    pub operation: String,
    pub span_kind: String,
    pub start_unix_nano: i64,
    pub duration_ms: f64,
    /// Time not covered by its children.
    pub self_ms: f64,
    pub error: bool,
    pub message: String,
    #[oai(skip_serializing_if_is_none)]
    pub peer: Option<String>,
    /// On the critical path (what the trace's duration waited on).
    pub critical: bool,
}

/// Calls from one service to another (or a peer) within the trace.
#[derive(Debug, Clone, PartialEq, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct TraceCallView {
    pub source: String,
    pub target: String,
    pub target_kind: String,
    pub calls: u64,
    pub errors: u64,
    /// Summed duration of the calls.
    pub duration_ms: f64,
}

/// One trace as a tree with self times, the critical path and the calls between services.
#[derive(Debug, Clone, PartialEq, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct TraceGraphView {
    pub trace_id: String,
    pub start_unix_nano: i64,
    pub end_unix_nano: i64,
    pub duration_ms: f64,
    pub services: Vec<String>,
    pub spans: Vec<TreeSpanView>,
    pub calls: Vec<TraceCallView>,
}

impl TraceGraphView {
    pub fn new(trace_id: String, g: &TraceGraph) -> Self {
        Self {
            trace_id,
            start_unix_nano: g.start_ns,
            end_unix_nano: g.end_ns,
            duration_ms: ms((g.end_ns - g.start_ns) as f64),
            services: g.services.clone(),
            spans: g
                .spans
                .iter()
                .map(|s| TreeSpanView {
                    span_id: s.span_id.to_hex(),
                    parent_span_id: s.parent_span_id.map(|p| p.to_hex()),
                    depth: s.depth as u64,
                    service: s.service.clone(),
                    operation: s.operation.clone(),
                    span_kind: s.kind.as_str().into(),
                    start_unix_nano: s.start_ns,
                    duration_ms: ms(s.duration_ns as f64),
                    self_ms: ms(s.self_ns as f64),
                    error: s.error,
                    message: s.message.clone(),
                    peer: peer_name(&s.peer),
                    critical: s.critical,
                })
                .collect(),
            calls: g
                .calls
                .iter()
                .map(|c| TraceCallView {
                    source: c.from.clone(),
                    target: c.to.clone(),
                    target_kind: c.to_kind.as_str().into(),
                    calls: c.calls,
                    errors: c.errors,
                    duration_ms: ms(c.duration_ns as f64),
                })
                .collect(),
        }
    }
}

/// An investigation the graph opened when it detected a problem.
#[derive(Debug, Clone, PartialEq, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct InvestigationView {
    pub id: String,
    pub created: String,
    pub created_unix_nano: i64,
    pub updated: String,
    pub updated_unix_nano: i64,
    /// `detected`, `triaged` or `resolved`.
    pub status: String,
    /// `info`, `warning` or `critical`.
    pub severity: String,
    /// What was detected, e.g. `error_rate_spike`.
    pub kind: String,
    pub trigger_service: String,
    pub trigger_operation: String,
    pub root_service: String,
    pub root_operation: String,
    pub summary: String,
    /// The evidence and ranked root-cause candidates, as the graph recorded them.
    pub evidence: Value,
}

impl From<&Investigation> for InvestigationView {
    fn from(i: &Investigation) -> Self {
        Self {
            id: i.id.clone(),
            created: rfc3339(i.created_ns),
            created_unix_nano: i.created_ns,
            updated: rfc3339(i.updated_ns),
            updated_unix_nano: i.updated_ns,
            status: i.status.as_str().into(),
            severity: i.severity.as_str().into(),
            kind: i.kind.clone(),
            trigger_service: i.trigger_service.clone(),
            trigger_operation: i.trigger_operation.clone(),
            root_service: i.root_service.clone(),
            root_operation: i.root_operation.clone(),
            summary: i.summary.clone(),
            evidence: i.evidence.clone(),
        }
    }
}

/// A page of investigations, newest first.
#[derive(Debug, Clone, PartialEq, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct InvestigationPageView {
    pub investigations: Vec<InvestigationView>,
    /// Pass as `cursor` for the next page; absent on the last.
    #[oai(skip_serializing_if_is_none)]
    pub next_cursor: Option<String>,
}

/// A point-in-time copy of the service graph.
#[derive(Debug, Clone, PartialEq, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct SnapshotView {
    pub id: String,
    pub created: String,
    pub created_unix_nano: i64,
    pub service_count: u64,
    pub edge_count: u64,
    pub total_calls: u64,
    pub avg_health_score: f64,
    /// Nodes and edges as the graph held them.
    pub graph: Value,
}

impl From<&GraphSnapshot> for SnapshotView {
    fn from(s: &GraphSnapshot) -> Self {
        Self {
            id: s.id.clone(),
            created: rfc3339(s.created_ns),
            created_unix_nano: s.created_ns,
            service_count: s.service_count,
            edge_count: s.edge_count,
            total_calls: s.total_calls,
            avg_health_score: finite(s.avg_health_score),
            graph: s.graph.clone(),
        }
    }
}

/// A page of snapshots, newest first.
#[derive(Debug, Clone, PartialEq, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct SnapshotPageView {
    pub snapshots: Vec<SnapshotView>,
    #[oai(skip_serializing_if_is_none)]
    pub next_cursor: Option<String>,
}
