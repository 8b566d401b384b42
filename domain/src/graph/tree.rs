//! One trace as a tree: each span with its depth, self time and place on the critical path, the
//! calls between services it contains (the trace graph), and the error chain of a service — the
//! path from the trace's root down to the span where the failure started, with its message.

use super::peer::{NodeKind, Peer};
use super::trace::GraphSpan;
use crate::ids::SpanId;
use crate::span::SpanKind;
use hashbrown::HashMap;

/// Parent and children of each span of one trace, by index into its span slice; a span whose
/// parent is not in the trace is a root.
#[derive(Debug, Clone)]
pub struct SpanTree {
    pub parent: Vec<Option<usize>>,
    /// Children of each span, by start time.
    pub children: Vec<Vec<usize>>,
    /// Roots, by start time.
    pub roots: Vec<usize>,
}

impl SpanTree {
    pub fn new(spans: &[GraphSpan]) -> Self {
        let by_id: HashMap<SpanId, usize> = spans.iter().enumerate().map(|(i, s)| (s.span_id, i)).collect();
        let parent: Vec<Option<usize>> = spans
            .iter()
            .enumerate()
            .map(|(i, s)| s.parent_span_id.and_then(|p| by_id.get(&p).copied()).filter(|p| *p != i))
            .collect();
        let mut children: Vec<Vec<usize>> = vec![Vec::new(); spans.len()];
        let mut roots = Vec::new();
        for (i, p) in parent.iter().enumerate() {
            match p {
                Some(p) => children[*p].push(i),
                None => roots.push(i),
            }
        }
        let by_start = |v: &mut Vec<usize>| v.sort_by_key(|i| (spans[*i].start_ns, spans[*i].span_id));
        children.iter_mut().for_each(by_start);
        by_start(&mut roots);
        let mut tree = Self { parent, children, roots };
        tree.break_cycles(spans.len());
        tree
    }

    /// Spans in a parent cycle (a corrupt trace) have no root above them: the first span no
    /// root reaches becomes a root (losing its parent) until every span is reachable, once.
    fn break_cycles(&mut self, n: usize) {
        let mut reached = vec![false; n];
        let mut stack: Vec<usize> = self.roots.clone();
        while let Some(i) = stack.pop() {
            reached[i] = true;
            stack.extend(self.children[i].iter().copied());
        }
        for i in 0..n {
            if reached[i] {
                continue;
            }
            if let Some(p) = self.parent[i].take() {
                self.children[p].retain(|c| *c != i);
            }
            self.roots.push(i);
            let mut stack = vec![i];
            while let Some(j) = stack.pop() {
                reached[j] = true;
                stack.extend(self.children[j].iter().copied().filter(|c| !reached[*c]));
            }
        }
    }

    /// Each span's duration minus the time its children cover (clipped to the span).
    pub fn self_times(&self, spans: &[GraphSpan]) -> Vec<i64> {
        spans
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let mut iv: Vec<(i64, i64)> =
                    self.children[i].iter().map(|c| (spans[*c].start_ns, spans[*c].end_ns)).collect();
                (s.duration_ns() - covered(s.start_ns, s.end_ns, &mut iv)).max(0)
            })
            .collect()
    }

    /// The spans the trace's end waited on: from the root that ends last, the child that ended
    /// last, then the one that ended last before that child started, and so on, down the tree.
    pub fn critical_path(&self, spans: &[GraphSpan]) -> Vec<bool> {
        let mut on = vec![false; spans.len()];
        let Some(root) = self.roots.iter().copied().max_by_key(|i| (spans[*i].end_ns, std::cmp::Reverse(*i))) else {
            return on;
        };
        let mut stack = vec![root];
        while let Some(i) = stack.pop() {
            on[i] = true;
            let mut until = spans[i].end_ns;
            loop {
                let next = self.children[i]
                    .iter()
                    .copied()
                    .filter(|c| !on[*c] && spans[*c].start_ns < until)
                    .max_by_key(|c| (spans[*c].end_ns.min(until), std::cmp::Reverse(*c)));
                let Some(c) = next else { break };
                on[c] = true;
                stack.push(c);
                until = spans[c].start_ns;
            }
        }
        on
    }

    /// The first failed span below `i` (not `i`), depth first with children by start time.
    pub fn first_failed_below(&self, spans: &[GraphSpan], i: usize) -> Option<usize> {
        let mut stack: Vec<usize> = self.children[i].iter().rev().copied().collect();
        while let Some(j) = stack.pop() {
            if spans[j].error {
                return Some(j);
            }
            stack.extend(self.children[j].iter().rev().copied());
        }
        None
    }

    /// The path from the root down to `i` (both included).
    pub fn ancestry(&self, i: usize) -> Vec<usize> {
        let mut path = vec![i];
        let mut cur = i;
        while let Some(p) = self.parent[cur] {
            path.push(p);
            cur = p;
        }
        path.reverse();
        path
    }

    /// Depth-first order (children by start time), with each span's depth.
    pub fn depth_first(&self) -> Vec<(usize, usize)> {
        let mut out = Vec::with_capacity(self.parent.len());
        let mut stack: Vec<(usize, usize)> = self.roots.iter().rev().map(|r| (*r, 0)).collect();
        while let Some((i, depth)) = stack.pop() {
            out.push((i, depth));
            stack.extend(self.children[i].iter().rev().map(|c| (*c, depth + 1)));
        }
        out
    }
}

/// The time `[start, end)` covered by `children`, clipped to it.
pub(crate) fn covered(start: i64, end: i64, children: &mut [(i64, i64)]) -> i64 {
    children.sort_unstable();
    let (mut total, mut cur_start, mut cur_end) = (0i64, i64::MIN, i64::MIN);
    for &(s, e) in children.iter() {
        let (s, e) = (s.max(start), e.min(end));
        if e <= s {
            continue;
        }
        if s > cur_end {
            total += cur_end.saturating_sub(cur_start).max(0);
            (cur_start, cur_end) = (s, e);
        } else {
            cur_end = cur_end.max(e);
        }
    }
    total + cur_end.saturating_sub(cur_start).max(0)
}

/// A span of the trace graph.
#[derive(Debug, Clone, PartialEq)]
pub struct TreeSpan {
    pub span_id: SpanId,
    /// The parent in this trace (`None` for a root, also when the parent never arrived).
    pub parent_span_id: Option<SpanId>,
    pub depth: usize,
    pub service: String,
    pub operation: String,
    pub kind: SpanKind,
    pub start_ns: i64,
    pub duration_ns: i64,
    pub self_ns: i64,
    pub error: bool,
    pub message: String,
    /// The database, broker or endpoint it calls, for client spans that name one.
    pub peer: Option<Peer>,
    /// On the critical path.
    pub critical: bool,
}

/// Calls from one service to another service or peer within a trace.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceCall {
    pub from: String,
    pub to_kind: NodeKind,
    pub to: String,
    pub calls: u64,
    pub errors: u64,
    /// Summed duration of the calls.
    pub duration_ns: i64,
}

/// One trace as a graph: spans in depth-first order and the calls between services.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TraceGraph {
    pub start_ns: i64,
    pub end_ns: i64,
    pub services: Vec<String>,
    pub spans: Vec<TreeSpan>,
    /// Sorted by caller and callee.
    pub calls: Vec<TraceCall>,
}

/// The trace graph of one trace's spans (any order).
pub fn trace_graph(spans: &[GraphSpan]) -> TraceGraph {
    let tree = SpanTree::new(spans);
    let self_ns = tree.self_times(spans);
    let critical = tree.critical_path(spans);
    let mut out = TraceGraph {
        start_ns: spans.iter().map(|s| s.start_ns).min().unwrap_or(0),
        end_ns: spans.iter().map(|s| s.end_ns).max().unwrap_or(0),
        ..TraceGraph::default()
    };
    let mut calls: HashMap<(&str, NodeKind, &str), TraceCall> = HashMap::new();
    for (i, depth) in tree.depth_first() {
        let s = &spans[i];
        out.spans.push(TreeSpan {
            span_id: s.span_id,
            parent_span_id: tree.parent[i].map(|p| spans[p].span_id),
            depth,
            service: s.service_name().to_owned(),
            operation: s.name.to_string(),
            kind: s.kind,
            start_ns: s.start_ns,
            duration_ns: s.duration_ns(),
            self_ns: self_ns[i],
            error: s.error,
            message: s.message.clone(),
            peer: s.peer.clone(),
            critical: critical[i],
        });
        let answered = tree.children[i].iter().any(|c| spans[*c].service_name() != s.service_name());
        let to = match (tree.parent[i].map(|p| &spans[p]), &s.peer) {
            (Some(p), _) if p.service_name() != s.service_name() => {
                Some((p.service_name(), NodeKind::Service, s.service_name()))
            }
            (_, Some(peer)) if !answered => Some((s.service_name(), peer.kind, &*peer.name)),
            _ => None,
        };
        if let Some((from, kind, to)) = to {
            let c = calls.entry((from, kind, to)).or_insert_with(|| TraceCall {
                from: from.to_owned(),
                to_kind: kind,
                to: to.to_owned(),
                calls: 0,
                errors: 0,
                duration_ns: 0,
            });
            c.calls += 1;
            c.errors += u64::from(s.error);
            c.duration_ns += s.duration_ns();
        }
    }
    let mut services: Vec<String> = spans.iter().map(|s| s.service_name().to_owned()).collect();
    services.sort();
    services.dedup();
    out.services = services;
    out.calls = calls.into_values().collect();
    out.calls.sort_by(|a, b| (&a.from, a.to_kind, &a.to).cmp(&(&b.from, b.to_kind, &b.to)));
    out
}

/// One span of an error chain.
#[derive(Debug, Clone, PartialEq)]
pub struct ChainHop {
    pub span_id: SpanId,
    pub service: String,
    pub operation: String,
    pub kind: SpanKind,
    pub duration_ns: i64,
    pub error: bool,
    pub message: String,
    pub peer: Option<Peer>,
}

impl ChainHop {
    fn of(s: &GraphSpan) -> Self {
        Self {
            span_id: s.span_id,
            service: s.service_name().to_owned(),
            operation: s.name.to_string(),
            kind: s.kind,
            duration_ns: s.duration_ns(),
            error: s.error,
            message: s.message.clone(),
            peer: s.peer.clone(),
        }
    }
}

/// How a failure of a service travelled through one trace: the spans from the root down to the
/// failing span where it started (the last hop, the deepest failed span below the service's
/// first failed span; a failure can start in a service the asked one calls).
#[derive(Debug, Clone, PartialEq)]
pub struct ErrorChain {
    pub hops: Vec<ChainHop>,
}

impl ErrorChain {
    /// The span where the failure started.
    pub fn origin(&self) -> &ChainHop {
        self.hops.last().expect("an error chain has at least one span")
    }
}

/// The error chain of `service` in one trace; `None` when none of its spans failed.
pub fn error_chain(spans: &[GraphSpan], service: &str) -> Option<ErrorChain> {
    let tree = SpanTree::new(spans);
    // The service's first failed span that is not below another failed span of it.
    let first = tree.depth_first().into_iter().map(|(i, _)| i).find(|i| {
        let s = &spans[*i];
        s.error
            && s.service_name() == service
            && !tree.ancestry(*i).iter().rev().skip(1).any(|a| spans[*a].error && spans[*a].service_name() == service)
    })?;
    // Down to where the failure started: the first failed span below (depth first, earliest
    // first; spans in between may not be marked, e.g. a client span around a failed call),
    // again and again.
    let mut origin = first;
    while let Some(next) = tree.first_failed_below(spans, origin) {
        origin = next;
    }
    Some(ErrorChain { hops: tree.ancestry(origin).into_iter().map(|i| ChainHop::of(&spans[i])).collect() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::AnyValue;
    use crate::ids::TraceId;
    use crate::resource::{InstrumentationScope, Resource};
    use crate::span::{Span, SpanStatus};
    use crate::value::Attributes;
    use proptest::prelude::*;
    use std::sync::Arc;

    const MS: i64 = 1_000_000;

    fn span(id: u8, parent: Option<u8>, service: &str, kind: SpanKind, start: i64, end: i64) -> GraphSpan {
        let mut attrs = Attributes::new();
        attrs.push("service.name", AnyValue::String(service.into()));
        GraphSpan::from(&Span {
            trace_id: TraceId::from_array([1; 16]).unwrap(),
            span_id: SpanId::from_array([id; 8]).unwrap(),
            parent_span_id: parent.map(|p| SpanId::from_array([p; 8]).unwrap()),
            trace_state: String::new(),
            flags: 0,
            name: format!("op{id}"),
            kind,
            start_ns: start * MS,
            end_ns: end * MS,
            attributes: Attributes::new(),
            dropped_attributes_count: 0,
            events: Vec::new(),
            links: Vec::new(),
            status: SpanStatus::default(),
            resource: Arc::new(Resource::new(attrs)),
            scope: Arc::new(InstrumentationScope::default()),
        })
    }

    fn failed(mut s: GraphSpan, message: &str) -> GraphSpan {
        s.error = true;
        s.message = message.into();
        s
    }

    fn id(n: u8) -> SpanId {
        SpanId::from_array([n; 8]).unwrap()
    }

    /// frontend(1) → checkout(2, 3 CLIENT) → payment(4) → db CLIENT(5); checkout also calls
    /// cart(6) before payment.
    fn shop(fail_at_db: bool) -> Vec<GraphSpan> {
        let mut db = span(5, Some(4), "payment", SpanKind::Client, 40, 90);
        db.peer = Some(Peer { kind: NodeKind::Database, name: "postgresql".into() });
        let (payment, checkout, client, front) = (
            span(4, Some(3), "payment", SpanKind::Server, 35, 95),
            span(2, Some(1), "checkout", SpanKind::Server, 10, 100),
            span(3, Some(2), "checkout", SpanKind::Client, 30, 98),
            span(1, None, "frontend", SpanKind::Server, 0, 110),
        );
        let cart = span(6, Some(2), "cart", SpanKind::Server, 12, 28);
        if fail_at_db {
            vec![
                failed(front, "upstream failed"),
                failed(checkout, "payment failed"),
                failed(client, "500"),
                failed(payment, "db error"),
                failed(db, "deadlock detected"),
                cart,
            ]
        } else {
            vec![front, checkout, client, payment, db, cart]
        }
    }

    #[test]
    fn the_trace_graph_orders_spans_depth_first_with_self_time_and_the_critical_path() {
        let g = trace_graph(&shop(false));
        let order: Vec<(u8, usize, bool)> =
            g.spans.iter().map(|s| (s.span_id.as_bytes()[0], s.depth, s.critical)).collect();
        // cart (12-28) ends before the payment call starts: it is not what the trace waited on.
        assert_eq!(order, [(1, 0, true), (2, 1, true), (6, 2, true), (3, 2, true), (4, 3, true), (5, 4, true)]);
        let cart = g.spans.iter().find(|s| s.service == "cart").unwrap();
        assert!(cart.critical, "cart ran before the payment call, in sequence: the trace waited on it too");
        let checkout = g.spans.iter().find(|s| s.span_id == id(2)).unwrap();
        assert_eq!(checkout.self_ns, 90 * MS - 16 * MS - 68 * MS);
        assert_eq!(g.services, ["cart", "checkout", "frontend", "payment"]);
        let calls: Vec<(&str, NodeKind, &str, u64)> =
            g.calls.iter().map(|c| (c.from.as_str(), c.to_kind, c.to.as_str(), c.calls)).collect();
        assert_eq!(
            calls,
            [
                ("checkout", NodeKind::Service, "cart", 1),
                ("checkout", NodeKind::Service, "payment", 1),
                ("frontend", NodeKind::Service, "checkout", 1),
                ("payment", NodeKind::Database, "postgresql", 1),
            ]
        );
        assert_eq!((g.start_ns, g.end_ns), (0, 110 * MS));
    }

    #[test]
    fn overlapping_children_are_not_all_critical() {
        // A parent 0-100 with children 0-90 and 10-50 in parallel: only the long one is waited on.
        let spans = [
            span(1, None, "a", SpanKind::Server, 0, 100),
            span(2, Some(1), "a", SpanKind::Internal, 0, 90),
            span(3, Some(1), "a", SpanKind::Internal, 10, 50),
        ];
        let g = trace_graph(&spans);
        let critical: Vec<bool> = g.spans.iter().map(|s| s.critical).collect();
        assert_eq!(critical, [true, true, false]);
    }

    #[test]
    fn an_error_chain_ends_at_the_span_where_the_failure_started() {
        let chain = error_chain(&shop(true), "checkout").unwrap();
        let path: Vec<&str> = chain.hops.iter().map(|h| h.service.as_str()).collect();
        assert_eq!(path, ["frontend", "checkout", "checkout", "payment", "payment"]);
        let origin = chain.origin();
        assert_eq!((origin.service.as_str(), origin.message.as_str()), ("payment", "deadlock detected"));
        assert_eq!(origin.peer.as_ref().map(|p| p.kind), Some(NodeKind::Database));
        // Asked of the frontend, the same trace's failure still started at the database call.
        assert_eq!(error_chain(&shop(true), "frontend").unwrap().origin().span_id, id(5));
        assert_eq!(error_chain(&shop(true), "cart"), None, "cart did not fail");
        assert_eq!(error_chain(&shop(false), "checkout"), None);
    }

    #[test]
    fn a_failure_below_a_healthy_span_starts_its_own_chain() {
        // frontend OK → checkout failed; asked of checkout, the chain starts at the root.
        let spans = [
            span(1, None, "frontend", SpanKind::Server, 0, 10),
            failed(span(2, Some(1), "checkout", SpanKind::Server, 1, 9), "x"),
        ];
        let chain = error_chain(&spans, "checkout").unwrap();
        assert_eq!(chain.hops.len(), 2);
        assert!(!chain.hops[0].error);
        assert_eq!(chain.origin().message, "x");
        // A failed span under an unmarked client span is still where it started.
        let spans = [
            failed(span(1, None, "checkout", SpanKind::Server, 0, 10), "payment failed"),
            span(2, Some(1), "checkout", SpanKind::Client, 1, 9),
            failed(span(3, Some(2), "payment", SpanKind::Server, 2, 8), "card declined"),
        ];
        assert_eq!(error_chain(&spans, "checkout").unwrap().origin().message, "card declined");
        assert_eq!(error_chain(&spans[..2], "checkout").unwrap().origin().message, "payment failed");
    }

    proptest! {
        #[test]
        fn every_span_appears_once_in_the_graph_even_with_cycles(
            parents in proptest::collection::vec((0u8..12, 0i64..50, 1i64..50, any::<bool>()), 1..12)
        ) {
            let spans: Vec<GraphSpan> = parents
                .iter()
                .enumerate()
                .map(|(i, (p, start, len, err))| {
                    let s = span(i as u8 + 1, Some(p % 12 + 1), ["a", "b"][i % 2], SpanKind::Server, *start, start + len);
                    if *err { failed(s, "e") } else { s }
                })
                .collect();
            let g = trace_graph(&spans);
            prop_assert_eq!(g.spans.len(), spans.len());
            let mut ids: Vec<SpanId> = g.spans.iter().map(|s| s.span_id).collect();
            ids.sort();
            ids.dedup();
            prop_assert_eq!(ids.len(), spans.len());
            prop_assert!(g.spans.iter().any(|s| s.critical));
            for svc in ["a", "b"] {
                if let Some(chain) = error_chain(&spans, svc) {
                    prop_assert!(chain.hops.iter().any(|h| h.service == svc && h.error));
                    prop_assert!(chain.origin().error);
                }
            }
        }
    }
}
