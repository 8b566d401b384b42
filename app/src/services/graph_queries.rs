//! The questions asked of the service graph ([`GraphQueries`]): answered from the live graph,
//! and — for what the graph keeps only as numbers (the spans of a trace, the text of a log
//! template) — from storage. The graph keeps example trace ids per minute, not the traces
//! themselves: those are read back from the database, which already holds them.

use super::anomalies::AnomalyService;
use super::graph::GraphService;
use super::templates::TemplateService;
use async_trait::async_trait;
use otelcontext_domain::graph::peer::NodeKind;
use otelcontext_domain::graph::trace::GraphSpan;
use otelcontext_domain::graph::tree::{ErrorChain, TraceGraph, error_chain, trace_graph};
use otelcontext_domain::graph::{NodeKey, ServiceGraph, rca};
use otelcontext_domain::similar::SimilarIndex;
use otelcontext_domain::{SeverityLevel, StatusCode, TemplateId, TenantId, Trace, TraceId};
use otelcontext_ports::graph::{check_depth, check_limit, required_name};
use otelcontext_ports::{
    Clock, ErrorChainAnswer, ErrorChainQuery, ErrorOrigin, GraphQueries, ImpactAnswer, ImpactQuery, IntelligenceStore,
    MAX_ERROR_CHAINS, MAX_GRAPH_LIMIT, MAX_GRAPH_RANGE_NS, MAX_TIMELINE_RANGE_NS, MapAnswer, MapQuery, PathAnswer,
    PathQuery, QueryError, RcaAnswer, RcaQuery, SignalsAnswer, SignalsQuery, SimilarError, SimilarErrorsAnswer,
    SimilarErrorsQuery, SortOrder, SpanQuery, TimeRange, TimelineAnswer, TimelineQuery, TraceErrorChain, TraceStore,
};
use std::collections::HashMap;
use std::sync::Arc;

/// Error-log templates and gauges listed per service at most in a signals answer.
pub const SIGNALS_MAX: usize = 20;
/// Log lines of the failing span given with an error chain, each clipped to [`LOG_CLIP`] chars.
pub const CHAIN_LOGS: usize = 3;
pub const LOG_CLIP: usize = 500;

/// Answers graph questions for every tenant.
pub struct GraphQueryService {
    graph: Arc<GraphService>,
    anomalies: Arc<AnomalyService>,
    traces: Arc<dyn TraceStore>,
    /// Template texts: the live miners first (they hold what the last flush has not written).
    miners: Arc<TemplateService>,
    templates: Arc<dyn IntelligenceStore>,
    clock: Arc<dyn Clock>,
}

/// Above this many templates missing from the miners, the whole stored list is read at once.
const TEMPLATE_LOOKUPS: usize = 20;

fn not_seen(name: &str) -> QueryError {
    QueryError::NotFound(format!("the service graph has not seen {name:?} in the last hour"))
}

/// The node a name means: the service of that exact name, else a peer (database, broker,
/// endpoint) of that exact name.
fn node_named(g: &ServiceGraph, name: &str) -> Option<NodeKey> {
    [NodeKind::Service, NodeKind::Database, NodeKind::Messaging, NodeKind::External]
        .into_iter()
        .find(|k| g.node(*k, name).is_some())
        .map(|k| (k, name.to_owned()))
}

fn clip(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_owned(),
    }
}

fn graph_spans(trace: &Trace) -> Vec<GraphSpan> {
    trace.spans.iter().map(GraphSpan::from).collect()
}

/// Groups chains by where they started, most traces first.
fn origins(chains: &[TraceErrorChain]) -> Vec<ErrorOrigin> {
    let mut out: Vec<ErrorOrigin> = Vec::new();
    for c in chains {
        let o = c.chain.origin();
        match out.iter_mut().find(|x| {
            x.service == o.service && x.operation == o.operation && x.message == o.message && x.peer == o.peer
        }) {
            Some(x) => x.traces += 1,
            None => out.push(ErrorOrigin {
                service: o.service.clone(),
                operation: o.operation.clone(),
                message: o.message.clone(),
                peer: o.peer.clone(),
                traces: 1,
                example_trace: c.trace_id,
            }),
        }
    }
    out.sort_by_key(|o| std::cmp::Reverse(o.traces));
    out
}

impl GraphQueryService {
    pub fn new(
        graph: Arc<GraphService>,
        anomalies: Arc<AnomalyService>,
        traces: Arc<dyn TraceStore>,
        miners: Arc<TemplateService>,
        templates: Arc<dyn IntelligenceStore>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self { graph, anomalies, traces, miners, templates, clock }
    }

    /// The texts of `ids` (those neither the miners nor the store know are left out).
    async fn texts(&self, tenant: &TenantId, ids: &[TemplateId]) -> Result<HashMap<TemplateId, String>, QueryError> {
        let mut out = self.miners.texts(tenant, ids);
        let missing: Vec<TemplateId> = ids.iter().filter(|id| !out.contains_key(id)).copied().collect();
        if missing.len() > TEMPLATE_LOOKUPS {
            let stored = self.templates.list_templates(tenant).await?;
            out.extend(stored.into_iter().filter(|t| missing.contains(&t.id)).map(|t| (t.id, t.template)));
        } else {
            for id in missing {
                if let Some(t) = self.templates.get_template(tenant, id).await? {
                    out.insert(id, t.template);
                }
            }
        }
        Ok(out)
    }

    fn now(&self) -> i64 {
        self.clock.now_ns()
    }

    /// The chain of one stored trace, with the log lines its failing span wrote.
    async fn chain_of(
        &self,
        tenant: &TenantId,
        id: TraceId,
        service: &str,
    ) -> Result<Option<TraceErrorChain>, QueryError> {
        let Some(trace) = self.traces.get_trace(tenant, &id).await? else { return Ok(None) };
        let spans = graph_spans(&trace);
        let Some(chain): Option<ErrorChain> = error_chain(&spans, service) else { return Ok(None) };
        let origin = chain.origin().span_id;
        let logs = trace
            .logs
            .iter()
            .filter(|l| l.span_id == Some(origin) && l.level() >= SeverityLevel::Error)
            .take(CHAIN_LOGS)
            .map(|l| clip(&l.body_text(), LOG_CLIP))
            .collect();
        let start_ns = spans.iter().map(|s| s.start_ns).min().unwrap_or_default();
        Ok(Some(TraceErrorChain { trace_id: id, start_ns, chain, logs }))
    }
}

#[async_trait]
impl GraphQueries for GraphQueryService {
    async fn root_causes(&self, tenant: &TenantId, query: &RcaQuery) -> Result<RcaAnswer, QueryError> {
        let (start_ns, end_ns) = query.resolve(self.now())?;
        let service = query.service.as_deref().map(str::trim).filter(|s| !s.is_empty());
        self.graph.with_graph(tenant, |g| {
            if let Some(s) = service
                && g.node(NodeKind::Service, s).is_none()
            {
                return Err(not_seen(s));
            }
            Ok(RcaAnswer { start_ns, end_ns, result: rca::rank(g, start_ns, end_ns, service, query.limit) })
        })
    }

    async fn service_map(&self, tenant: &TenantId, query: &MapQuery) -> Result<MapAnswer, QueryError> {
        let (start_ns, end_ns) = query.window.resolve(self.now(), MAX_GRAPH_RANGE_NS)?;
        let depth = check_depth(query.depth)?;
        let centre = query.service.as_deref().map(str::trim).filter(|s| !s.is_empty());
        self.graph.with_graph(tenant, |g| {
            let map = match centre {
                None => g.service_map(start_ns, end_ns),
                Some(name) => {
                    let node = node_named(g, name).ok_or_else(|| not_seen(name))?;
                    g.neighbourhood(&node, depth, query.direction, start_ns, end_ns)
                }
            };
            Ok(MapAnswer { start_ns, end_ns, map })
        })
    }

    async fn impact(&self, tenant: &TenantId, query: &ImpactQuery) -> Result<ImpactAnswer, QueryError> {
        let (start_ns, end_ns) = query.window.resolve(self.now(), MAX_GRAPH_RANGE_NS)?;
        let depth = check_depth(query.depth)?;
        let name = required_name("service", &query.service)?;
        self.graph.with_graph(tenant, |g| {
            let node = node_named(g, &name).ok_or_else(|| not_seen(&name))?;
            Ok(ImpactAnswer { start_ns, end_ns, kind: node.0, impact: g.impact(&node, depth, start_ns, end_ns) })
        })
    }

    async fn call_path(&self, tenant: &TenantId, query: &PathQuery) -> Result<PathAnswer, QueryError> {
        let (start_ns, end_ns) = query.window.resolve(self.now(), MAX_GRAPH_RANGE_NS)?;
        let (from, to) = (required_name("from", &query.from)?, required_name("to", &query.to)?);
        self.graph.with_graph(tenant, |g| {
            let a = node_named(g, &from).ok_or_else(|| not_seen(&from))?;
            let b = node_named(g, &to).ok_or_else(|| not_seen(&to))?;
            if let Some(edges) = g.call_path(&a, &b, start_ns, end_ns) {
                return Ok(PathAnswer { start_ns, end_ns, edges, reversed: false });
            }
            match g.call_path(&b, &a, start_ns, end_ns) {
                Some(edges) => Ok(PathAnswer { start_ns, end_ns, edges, reversed: true }),
                None => {
                    Err(QueryError::NotFound(format!("no calls lead from {from:?} to {to:?} or back in the range")))
                }
            }
        })
    }

    async fn error_chains(&self, tenant: &TenantId, query: &ErrorChainQuery) -> Result<ErrorChainAnswer, QueryError> {
        let (start_ns, end_ns) = query.window.resolve(self.now(), MAX_GRAPH_RANGE_NS)?;
        let limit = check_limit(query.limit, MAX_ERROR_CHAINS)?;
        let service = required_name("service", &query.service)?;
        if !self.graph.with_graph(tenant, |g| g.node(NodeKind::Service, &service).is_some()) {
            return Err(not_seen(&service));
        }
        // The newest failed spans of the service; their traces, newest first, once each.
        let q = SpanQuery {
            time: TimeRange::between(start_ns, end_ns),
            service: Some(service.clone()),
            status: Some(StatusCode::Error),
            sort: SortOrder::NewestFirst,
            limit: (limit * 4).min(500),
            ..SpanQuery::default()
        };
        let page = self.traces.search_spans(tenant, &q).await?;
        let mut ids: Vec<TraceId> = Vec::with_capacity(limit);
        for s in &page.items {
            if !ids.contains(&s.trace_id) && ids.len() < limit {
                ids.push(s.trace_id);
            }
        }
        let mut chains = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(c) = self.chain_of(tenant, id, &service).await? {
                chains.push(c);
            }
        }
        Ok(ErrorChainAnswer { start_ns, end_ns, origins: origins(&chains), chains })
    }

    async fn correlated_signals(&self, tenant: &TenantId, query: &SignalsQuery) -> Result<SignalsAnswer, QueryError> {
        let now = self.now();
        let (start_ns, end_ns) = query.window.resolve(now, MAX_GRAPH_RANGE_NS)?;
        let service = required_name("service", &query.service)?;
        let baseline_start_ns = (now - MAX_GRAPH_RANGE_NS).min(start_ns);
        let mut signals = self
            .graph
            .with_graph(tenant, |g| g.signals(&service, baseline_start_ns, start_ns, end_ns))
            .ok_or_else(|| not_seen(&service))?;
        signals.error_logs.truncate(SIGNALS_MAX);
        signals.metrics.truncate(SIGNALS_MAX);
        let ids: Vec<TemplateId> = signals.error_logs.iter().map(|l| l.template).collect();
        let mut texts = self.texts(tenant, &ids).await?;
        let template_texts = ids.iter().map(|id| texts.remove(id)).collect();
        let anomalies = self
            .anomalies
            .timeline(tenant, start_ns, Some(&service), MAX_GRAPH_LIMIT)
            .await
            .into_iter()
            .filter(|a| a.at_ns <= end_ns)
            .collect();
        Ok(SignalsAnswer { start_ns, end_ns, baseline_start_ns, signals, template_texts, anomalies })
    }

    async fn anomaly_timeline(&self, tenant: &TenantId, query: &TimelineQuery) -> Result<TimelineAnswer, QueryError> {
        let (start_ns, end_ns) = query.window.resolve(self.now(), MAX_TIMELINE_RANGE_NS)?;
        let limit = check_limit(query.limit, MAX_GRAPH_LIMIT)?;
        let service = query.service.as_deref().map(str::trim).filter(|s| !s.is_empty());
        let anomalies = self
            .anomalies
            .timeline(tenant, start_ns, service, usize::MAX)
            .await
            .into_iter()
            .filter(|a| a.at_ns <= end_ns)
            .take(limit)
            .collect();
        Ok(TimelineAnswer { start_ns, end_ns, anomalies })
    }

    async fn similar_errors(
        &self,
        tenant: &TenantId,
        query: &SimilarErrorsQuery,
    ) -> Result<SimilarErrorsAnswer, QueryError> {
        let (start_ns, end_ns) = query.window.resolve(self.now(), MAX_GRAPH_RANGE_NS)?;
        let limit = check_limit(query.limit, MAX_GRAPH_LIMIT)?;
        let target = self
            .texts(tenant, &[query.template])
            .await?
            .remove(&query.template)
            .ok_or_else(|| QueryError::NotFound(format!("no log template {}", query.template)))?;
        // The error templates the graph saw in the range, with the services that wrote them.
        let seen: HashMap<TemplateId, Vec<(String, u64)>> = self.graph.with_graph(tenant, |g| {
            let mut seen: HashMap<TemplateId, Vec<(String, u64)>> = HashMap::new();
            for ((kind, name), node) in g.nodes() {
                if *kind != NodeKind::Service {
                    continue;
                }
                for (t, counts) in &node.error_logs {
                    let n = counts.count(start_ns, end_ns);
                    if n > 0 && *t != query.template {
                        seen.entry(*t).or_default().push((name.clone(), n));
                    }
                }
            }
            seen
        });
        let ids: Vec<TemplateId> = seen.keys().copied().collect();
        let texts = self.texts(tenant, &ids).await?;
        let mut index = SimilarIndex::new(texts.len().max(1));
        for (id, text) in &texts {
            index.insert(text, *id);
        }
        let similar = index
            .search(&target, limit)
            .into_iter()
            .map(|hit| {
                let mut services = seen.get(&hit.payload).cloned().unwrap_or_default();
                services.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
                SimilarError { template: hit.payload, text: texts[&hit.payload].clone(), score: hit.score, services }
            })
            .collect();
        Ok(SimilarErrorsAnswer { start_ns, end_ns, text: target, similar })
    }

    async fn trace_graph(&self, tenant: &TenantId, trace_id: &TraceId) -> Result<TraceGraph, QueryError> {
        match self.traces.get_trace(tenant, trace_id).await? {
            Some(t) if !t.spans.is_empty() => Ok(trace_graph(&graph_spans(&t))),
            _ => Err(QueryError::NotFound(format!("trace {} not found", trace_id.to_hex()))),
        }
    }
}

#[cfg(test)]
mod tests;
