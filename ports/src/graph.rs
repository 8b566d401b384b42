//! Questions asked of the live service graph, always inside one tenant, each over a checked time
//! range with checked limits: the service map (or the part of it around a service), impact,
//! call paths, error chains, correlated signals, the anomaly timeline, similar errors, the graph
//! of one trace and root-cause analysis.

use crate::queries::QueryError;
use async_trait::async_trait;
use otelcontext_domain::graph::MapEdge;
use otelcontext_domain::graph::ServiceMap;
use otelcontext_domain::graph::anomaly::Anomaly;
use otelcontext_domain::graph::peer::{NodeKind, Peer};
use otelcontext_domain::graph::rca::RcaResult;
use otelcontext_domain::graph::tree::{ErrorChain, TraceGraph};
use otelcontext_domain::graph::walks::{Direction, Impact, Signals};
use otelcontext_domain::{TemplateId, TenantId, TraceId};

const MINUTE_NS: i64 = 60 * 1_000_000_000;

/// Default range of a graph question: the last 15 minutes.
pub const DEFAULT_GRAPH_RANGE_NS: i64 = 15 * MINUTE_NS;
/// The graph holds one hour: the longest range a question of it may cover.
pub const MAX_GRAPH_RANGE_NS: i64 = 60 * MINUTE_NS;
/// The anomaly timeline holds a day.
pub const MAX_TIMELINE_RANGE_NS: i64 = 24 * 60 * MINUTE_NS;
/// Default and largest number of calls a walk goes from the service asked about.
pub const DEFAULT_DEPTH: usize = 5;
pub const MAX_DEPTH: usize = 10;
/// Most items one answer lists.
pub const MAX_GRAPH_LIMIT: usize = 100;
/// Most traces an error-chain answer reads.
pub const MAX_ERROR_CHAINS: usize = 50;

/// Names kept for the root-cause route.
pub const DEFAULT_RCA_RANGE_NS: i64 = DEFAULT_GRAPH_RANGE_NS;
pub const MAX_RCA_RANGE_NS: i64 = MAX_GRAPH_RANGE_NS;
pub const MAX_RCA_LIMIT: usize = MAX_GRAPH_LIMIT;

fn invalid(message: impl Into<String>) -> QueryError {
    QueryError::InvalidArgument(message.into())
}

/// The range of a question: explicit ends, or the last `last_ns` before the end (now when absent).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GraphWindow {
    pub start_ns: Option<i64>,
    pub end_ns: Option<i64>,
    pub last_ns: i64,
}

impl Default for GraphWindow {
    fn default() -> Self {
        Self { start_ns: None, end_ns: None, last_ns: DEFAULT_GRAPH_RANGE_NS }
    }
}

impl GraphWindow {
    /// The last `last_ns` before now.
    pub fn last(last_ns: i64) -> Self {
        Self { last_ns, ..Self::default() }
    }

    /// The range `[start, end)` at `now_ns`, checked: start before end, at most `max_ns` long.
    pub fn resolve(&self, now_ns: i64, max_ns: i64) -> Result<(i64, i64), QueryError> {
        if self.last_ns <= 0 {
            return Err(invalid("time_range must be positive"));
        }
        let end = self.end_ns.unwrap_or(now_ns);
        let start = self.start_ns.unwrap_or(end.saturating_sub(self.last_ns));
        if start >= end {
            return Err(invalid(format!("start ({start}) must be before end ({end})")));
        }
        if end - start > max_ns {
            let hours = max_ns / (60 * MINUTE_NS);
            return Err(invalid(format!("this answer covers at most the last {hours}h: ask about a shorter range")));
        }
        Ok((start, end))
    }
}

/// Checks a limit against `1..=max`.
pub fn check_limit(limit: usize, max: usize) -> Result<usize, QueryError> {
    if limit == 0 || limit > max {
        return Err(invalid(format!("limit {limit}: expected 1 to {max}")));
    }
    Ok(limit)
}

/// Checks a walk depth against `1..=`[`MAX_DEPTH`].
pub fn check_depth(depth: usize) -> Result<usize, QueryError> {
    if depth == 0 || depth > MAX_DEPTH {
        return Err(invalid(format!("depth {depth}: expected 1 to {MAX_DEPTH}")));
    }
    Ok(depth)
}

/// A required service name, trimmed.
pub fn required_name(what: &str, name: &str) -> Result<String, QueryError> {
    let n = name.trim();
    if n.is_empty() {
        return Err(invalid(format!("{what} is required")));
    }
    Ok(n.to_owned())
}

/// A root-cause question: which service (or peer) changed, within a range, optionally only
/// among what `service` calls (transitively) and `service` itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RcaQuery {
    pub service: Option<String>,
    /// Range ends; absent `end` is now, absent `start` is `end - last_ns`.
    pub start_ns: Option<i64>,
    pub end_ns: Option<i64>,
    pub last_ns: i64,
    pub limit: usize,
}

impl Default for RcaQuery {
    fn default() -> Self {
        Self { service: None, start_ns: None, end_ns: None, last_ns: DEFAULT_RCA_RANGE_NS, limit: 10 }
    }
}

impl RcaQuery {
    /// The range `[start, end)` at `now_ns`, checked: start before end, at most
    /// [`MAX_RCA_RANGE_NS`] long, limit 1..=[`MAX_RCA_LIMIT`].
    pub fn resolve(&self, now_ns: i64) -> Result<(i64, i64), QueryError> {
        check_limit(self.limit, MAX_RCA_LIMIT)?;
        GraphWindow { start_ns: self.start_ns, end_ns: self.end_ns, last_ns: self.last_ns }
            .resolve(now_ns, MAX_RCA_RANGE_NS)
    }
}

/// A root-cause answer: the range it covered and the ranking.
#[derive(Debug, Clone, PartialEq)]
pub struct RcaAnswer {
    pub start_ns: i64,
    pub end_ns: i64,
    pub result: RcaResult,
}

/// The service map, whole or around one service (or one peer: a database, broker or endpoint).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapQuery {
    /// The node at the centre; `None` for the whole map.
    pub service: Option<String>,
    /// How many calls away from `service` to go.
    pub depth: usize,
    /// `Downstream` from `service` is its dependency chain; `Upstream` who depends on it.
    pub direction: Direction,
    pub window: GraphWindow,
}

impl Default for MapQuery {
    fn default() -> Self {
        Self { service: None, depth: DEFAULT_DEPTH, direction: Direction::Both, window: GraphWindow::default() }
    }
}

/// A map over the range asked for.
#[derive(Debug, Clone, PartialEq)]
pub struct MapAnswer {
    pub start_ns: i64,
    pub end_ns: i64,
    pub map: ServiceMap,
}

/// The blast radius of a node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImpactQuery {
    pub service: String,
    pub depth: usize,
    pub window: GraphWindow,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ImpactAnswer {
    pub start_ns: i64,
    pub end_ns: i64,
    pub kind: NodeKind,
    pub impact: Impact,
}

/// The fewest calls between two nodes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathQuery {
    pub from: String,
    pub to: String,
    pub window: GraphWindow,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PathAnswer {
    pub start_ns: i64,
    pub end_ns: i64,
    /// The edges from `from` to `to`; when `to` calls `from` rather than the reverse, the path
    /// from `to` to `from` with `reversed` set. Empty when both name the same node.
    pub edges: Vec<MapEdge>,
    pub reversed: bool,
}

/// Error chains of a service: how its failures travelled through recent traces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorChainQuery {
    pub service: String,
    /// Traces read at most (the newest failed ones).
    pub limit: usize,
    pub window: GraphWindow,
}

/// The chain of one failed trace.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceErrorChain {
    pub trace_id: TraceId,
    /// Start of the trace's first span.
    pub start_ns: i64,
    pub chain: ErrorChain,
    /// Bodies of the log lines the failing span wrote (ERROR and above), at most a few.
    pub logs: Vec<String>,
}

/// Where failures started, counted over the chains.
#[derive(Debug, Clone, PartialEq)]
pub struct ErrorOrigin {
    pub service: String,
    pub operation: String,
    pub message: String,
    pub peer: Option<Peer>,
    pub traces: u64,
    pub example_trace: TraceId,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ErrorChainAnswer {
    pub start_ns: i64,
    pub end_ns: i64,
    /// Newest first.
    pub chains: Vec<TraceErrorChain>,
    /// Most traces first.
    pub origins: Vec<ErrorOrigin>,
}

/// What moved with a service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignalsQuery {
    pub service: String,
    pub window: GraphWindow,
}

/// A service's signals over the range.
#[derive(Debug, Clone, PartialEq)]
pub struct SignalsAnswer {
    pub start_ns: i64,
    pub end_ns: i64,
    /// The baseline is `[baseline_start_ns, start_ns)`: the rest of the graph's hour.
    pub baseline_start_ns: i64,
    pub signals: Signals,
    /// Text of each template of `signals.error_logs`, in the same order (`None` when the
    /// template store does not have it).
    pub template_texts: Vec<Option<String>>,
    /// The service's anomalies in the range, newest first.
    pub anomalies: Vec<Anomaly>,
}

/// Anomalies of a tenant (or of one service), newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimelineQuery {
    pub service: Option<String>,
    pub limit: usize,
    /// At most [`MAX_TIMELINE_RANGE_NS`].
    pub window: GraphWindow,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TimelineAnswer {
    pub start_ns: i64,
    pub end_ns: i64,
    pub anomalies: Vec<Anomaly>,
}

/// Error-log templates that read like a given one, among those the graph saw in the range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimilarErrorsQuery {
    pub template: TemplateId,
    pub limit: usize,
    pub window: GraphWindow,
}

/// A similar error template, the services that wrote it and how often.
#[derive(Debug, Clone, PartialEq)]
pub struct SimilarError {
    pub template: TemplateId,
    pub text: String,
    /// Cosine similarity of the template texts, in (0, 1].
    pub score: f64,
    /// (service, lines in the range), most lines first.
    pub services: Vec<(String, u64)>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SimilarErrorsAnswer {
    pub start_ns: i64,
    pub end_ns: i64,
    pub text: String,
    /// Best first; never the template asked about.
    pub similar: Vec<SimilarError>,
}

/// Answers asked of the live service graph, always inside one tenant. A service (or node) that
/// the graph has not seen in the last hour is `NotFound`; bad ranges, depths and limits are
/// `InvalidArgument`.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait GraphQueries: Send + Sync {
    /// Ranked root-cause candidates with their evidence.
    async fn root_causes(&self, tenant: &TenantId, query: &RcaQuery) -> Result<RcaAnswer, QueryError>;
    /// The service map (typed nodes, edges with RED numbers from both sides), whole or around a node.
    async fn service_map(&self, tenant: &TenantId, query: &MapQuery) -> Result<MapAnswer, QueryError>;
    /// What a node calls and what calls it, transitively.
    async fn impact(&self, tenant: &TenantId, query: &ImpactQuery) -> Result<ImpactAnswer, QueryError>;
    /// The fewest calls between two nodes; `NotFound` when neither reaches the other.
    async fn call_path(&self, tenant: &TenantId, query: &PathQuery) -> Result<PathAnswer, QueryError>;
    /// How a service's failures travelled through its recent failed traces.
    async fn error_chains(&self, tenant: &TenantId, query: &ErrorChainQuery) -> Result<ErrorChainAnswer, QueryError>;
    /// A service's RED numbers, error-log templates and gauges against their baseline, and anomalies.
    async fn correlated_signals(&self, tenant: &TenantId, query: &SignalsQuery) -> Result<SignalsAnswer, QueryError>;
    /// Anomalies, newest first.
    async fn anomaly_timeline(&self, tenant: &TenantId, query: &TimelineQuery) -> Result<TimelineAnswer, QueryError>;
    /// Error templates that read like the given one; `NotFound` for an unknown template.
    async fn similar_errors(
        &self,
        tenant: &TenantId,
        query: &SimilarErrorsQuery,
    ) -> Result<SimilarErrorsAnswer, QueryError>;
    /// One trace as a tree with self times, the critical path and the calls between services.
    async fn trace_graph(&self, tenant: &TenantId, trace_id: &TraceId) -> Result<TraceGraph, QueryError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_700_000_000_000_000_000;
    const MIN: i64 = MINUTE_NS;

    #[test]
    fn rca_ranges_resolve_against_now_and_are_checked() {
        assert_eq!(RcaQuery::default().resolve(NOW), Ok((NOW - 15 * MIN, NOW)));
        let q = RcaQuery { start_ns: Some(NOW - 5 * MIN), ..RcaQuery::default() };
        assert_eq!(q.resolve(NOW), Ok((NOW - 5 * MIN, NOW)));
        let q = RcaQuery { end_ns: Some(NOW - MIN), last_ns: 2 * MIN, ..RcaQuery::default() };
        assert_eq!(q.resolve(NOW), Ok((NOW - 3 * MIN, NOW - MIN)));
        let bad = [
            RcaQuery { limit: 0, ..RcaQuery::default() },
            RcaQuery { limit: MAX_RCA_LIMIT + 1, ..RcaQuery::default() },
            RcaQuery { last_ns: 0, ..RcaQuery::default() },
            RcaQuery { last_ns: 2 * MAX_RCA_RANGE_NS, ..RcaQuery::default() },
            RcaQuery { start_ns: Some(NOW), end_ns: Some(NOW - 1), ..RcaQuery::default() },
        ];
        for q in bad {
            assert!(matches!(q.resolve(NOW), Err(QueryError::InvalidArgument(_))), "{q:?}");
        }
    }

    #[test]
    fn windows_depths_limits_and_names_are_checked() {
        let day = GraphWindow::last(20 * 60 * MIN);
        assert!(day.resolve(NOW, MAX_GRAPH_RANGE_NS).is_err());
        assert_eq!(day.resolve(NOW, MAX_TIMELINE_RANGE_NS), Ok((NOW - 20 * 60 * MIN, NOW)));
        assert_eq!(check_depth(1), Ok(1));
        assert!(check_depth(0).is_err() && check_depth(MAX_DEPTH + 1).is_err());
        assert_eq!(check_limit(MAX_ERROR_CHAINS, MAX_ERROR_CHAINS), Ok(MAX_ERROR_CHAINS));
        assert!(check_limit(MAX_ERROR_CHAINS + 1, MAX_ERROR_CHAINS).is_err());
        assert_eq!(required_name("service", " cart "), Ok("cart".into()));
        assert!(
            matches!(required_name("service", "  "), Err(QueryError::InvalidArgument(m)) if m == "service is required")
        );
    }
}
