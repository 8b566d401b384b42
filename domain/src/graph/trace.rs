//! What one trace says about the system: where each service was entered, which service (or
//! uninstrumented peer) called which with what latency seen from both sides, and each span's
//! self time (its duration minus the time its children cover), so a slow leaf is not blamed on
//! every caller and a network delay shows as a caller-side gap.

use super::peer::{NodeKind, Peer, infer_peer_into};
use super::tree::SpanTree;
use crate::ids::{SpanId, TraceId};
use crate::resource::Resource;
use crate::span::{Span, SpanKind};
use std::sync::Arc;

/// What the graph keeps of a span while its trace assembles: the tree, the times, the outcome
/// and the peer it calls (inferred once), not its attributes, events or links.
#[derive(Debug, Clone, PartialEq)]
pub struct GraphSpan {
    pub span_id: SpanId,
    pub parent_span_id: Option<SpanId>,
    /// Its service (`service.name` of its resource), shared (see [`Sharing`]); the resource
    /// itself is not kept.
    pub service: Arc<str>,
    /// Shared, so spans of one operation hold one copy (see [`Sharing`]).
    pub name: Arc<str>,
    pub kind: SpanKind,
    pub start_ns: i64,
    pub end_ns: i64,
    pub error: bool,
    /// The status message of a failed span.
    pub message: String,
    pub peer: Option<Peer>,
    /// The instance it ran on (see [`instance_of_resource`]).
    pub instance: Arc<str>,
}

impl From<&Span> for GraphSpan {
    fn from(s: &Span) -> Self {
        let mut sharing = Sharing::new(0);
        let (service, instance) = sharing.names_of(&s.resource);
        sharing.keep(s, service, instance)
    }
}

/// Strings shared between the spans waiting in the graph: operation, peer and instance names
/// repeat, so most spans are kept without allocating. Bounded: past `cap` names it starts over.
#[derive(Debug, Default)]
pub struct Sharing {
    names: hashbrown::HashSet<Arc<str>>,
    cap: usize,
    buf: String,
}

impl Sharing {
    pub fn new(cap: usize) -> Self {
        Self { cap, ..Self::default() }
    }

    /// The shared copy of `name`.
    pub fn name(&mut self, name: &str) -> Arc<str> {
        if let Some(n) = self.names.get(name) {
            return n.clone();
        }
        if self.names.len() >= self.cap {
            self.names.clear();
        }
        let n: Arc<str> = Arc::from(name);
        if self.cap > 0 {
            self.names.insert(n.clone());
        }
        n
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// What the graph keeps of each span of a batch (spans of one resource share its names,
    /// looked up once).
    pub fn graph_spans(&mut self, spans: &[Span]) -> Vec<(TraceId, GraphSpan)> {
        let mut resources: hashbrown::HashMap<*const Resource, (Arc<str>, Arc<str>)> = hashbrown::HashMap::new();
        spans
            .iter()
            .map(|s| {
                let (service, instance) =
                    resources.entry(Arc::as_ptr(&s.resource)).or_insert_with(|| self.names_of(&s.resource)).clone();
                (s.trace_id, self.keep(s, service, instance))
            })
            .collect()
    }

    /// The service and instance a resource names.
    fn names_of(&mut self, resource: &Resource) -> (Arc<str>, Arc<str>) {
        (self.name(&resource.service_name), self.name(instance_of_resource(resource)))
    }

    fn keep(&mut self, s: &Span, service: Arc<str>, instance: Arc<str>) -> GraphSpan {
        let mut buf = std::mem::take(&mut self.buf);
        let peer = infer_peer_into(s, &mut buf).map(|kind| Peer { kind, name: self.name(&buf) });
        self.buf = buf;
        GraphSpan {
            span_id: s.span_id,
            parent_span_id: s.parent_span_id,
            service,
            name: self.name(&s.name),
            kind: s.kind,
            start_ns: s.start_ns,
            end_ns: s.end_ns,
            error: s.is_error(),
            message: if s.is_error() { s.status.message.clone() } else { String::new() },
            peer,
            instance,
        }
    }
}

impl GraphSpan {
    pub fn duration_ns(&self) -> i64 {
        self.end_ns.saturating_sub(self.start_ns).max(0)
    }

    pub fn service_name(&self) -> &str {
        &self.service
    }
}

/// A service entered by a span (the root, a span whose parent is in another service, or a
/// SERVER / CONSUMER span).
#[derive(Debug, Clone, PartialEq)]
pub struct Entry<'a> {
    pub service: &'a str,
    pub operation: &'a str,
    /// Pod or host (`k8s.pod.name`, `host.name`, `service.instance.id`), empty when unknown.
    pub instance: &'a str,
    pub end_ns: i64,
    pub duration_ns: i64,
    /// The entered span's own time, without the time its children cover.
    pub self_ns: i64,
    pub error: bool,
}

/// One call between two nodes.
#[derive(Debug, Clone, PartialEq)]
pub struct Call<'a> {
    pub caller: &'a str,
    pub callee_kind: NodeKind,
    pub callee: &'a str,
    pub end_ns: i64,
    /// The call as the caller saw it (its CLIENT span, else the callee's span).
    pub client_ns: i64,
    /// The call as the callee served it; `None` for uninstrumented peers.
    pub server_ns: Option<i64>,
    pub error: bool,
}

/// The self time of a request a service served: the time its spans under one entered span
/// spent on the service's own work (not waiting on a call to another service or a peer), so a
/// slow step deep inside the service counts whole, not diluted among its many short spans.
#[derive(Debug, Clone, PartialEq)]
pub struct SelfTime<'a> {
    pub service: &'a str,
    pub operation: &'a str,
    pub end_ns: i64,
    pub self_ns: i64,
    pub error: bool,
}

/// A service or peer that one request went on to call, so a request that starts to end early — an exception, a wrong answer
/// — shows as one that no longer calls what requests of its kind used to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Reached<'a> {
    /// The request: its index in [`TraceFacts::self_times`].
    pub request: usize,
    pub kind: NodeKind,
    pub callee: &'a str,
}

/// What a trace adds to the graph, borrowing the names from its spans.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TraceFacts<'a> {
    /// The trace, kept as an example of what the graph saw (set by the caller).
    pub trace_id: Option<TraceId>,
    pub entries: Vec<Entry<'a>>,
    pub calls: Vec<Call<'a>>,
    /// One per request served (entered span), in the order of `entries`.
    pub self_times: Vec<SelfTime<'a>>,
    /// What each request called, sorted by request (a callee may repeat).
    pub reached: Vec<Reached<'a>>,
}

/// The instance a span ran on.
pub fn instance_of(span: &GraphSpan) -> &str {
    &span.instance
}

/// The instance (pod, host) a resource describes: `k8s.pod.name`, else `host.name`, else
/// `service.instance.id`; empty when none is set.
pub fn instance_of_resource(resource: &Resource) -> &str {
    let a = &resource.attributes;
    ["k8s.pod.name", "host.name", "service.instance.id"].iter().find_map(|k| a.get_str(k)).unwrap_or("")
}

/// Whether span `i` is its service's side of a call: a CLIENT or PRODUCER span, or, without
/// kinds, a span whose children are all in other services (it does nothing but call).
fn is_call(spans: &[GraphSpan], children: &[Vec<usize>], i: usize) -> bool {
    let s = &spans[i];
    matches!(s.kind, SpanKind::Client | SpanKind::Producer)
        || (matches!(s.kind, SpanKind::Unspecified | SpanKind::Internal)
            && !children[i].is_empty()
            && children[i].iter().all(|c| spans[*c].service_name() != s.service_name()))
}

/// The facts of one trace's spans (any order; spans whose parent is missing count as roots).
pub fn analyse(spans: &[GraphSpan]) -> TraceFacts<'_> {
    let tree = SpanTree::new(spans);
    let self_ns = tree.self_times(spans);
    let (parent, children) = (&tree.parent, &tree.children);
    let mut facts = TraceFacts::default();
    let entered: Vec<bool> = spans
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let parent_span = parent[i].map(|p| &spans[p]);
            parent_span.is_none_or(|p| p.service_name() != s.service_name())
                || matches!(s.kind, SpanKind::Server | SpanKind::Consumer)
        })
        .collect();
    // The request each span works for: its nearest entered ancestor (itself when entered),
    // handed down from the roots (the tree has no cycles; roots are entered).
    let mut owner: Vec<usize> = (0..spans.len()).collect();
    let mut stack: Vec<usize> = tree.roots.clone();
    while let Some(i) = stack.pop() {
        for &c in &children[i] {
            if !entered[c] {
                owner[c] = owner[i];
            }
            stack.push(c);
        }
    }
    let mut own = vec![0i64; spans.len()];
    // The request index (in `self_times`, pushed below in span order) of each entered span.
    let mut request = vec![usize::MAX; spans.len()];
    for (n, i) in (0..spans.len()).filter(|i| entered[*i]).enumerate() {
        request[i] = n;
    }
    for (i, s) in spans.iter().enumerate() {
        let service = s.service_name();
        let parent_span = parent[i].map(|p| &spans[p]);
        let remote_parent = parent_span.is_some_and(|p| p.service_name() != service);
        if entered[i] {
            facts.entries.push(Entry {
                service,
                operation: &s.name,
                instance: instance_of(s),
                end_ns: s.end_ns,
                duration_ns: s.duration_ns(),
                self_ns: self_ns[i],
                error: s.error,
            });
        }
        // A service's own work: not the time a client span waits on another service or a peer
        // (that is the call's, seen on its edge). Summed per request the service served.
        let answered = children[i].iter().any(|c| spans[*c].service_name() != service);
        if !is_call(spans, children, i) && s.peer.is_none() {
            own[owner[i]] += self_ns[i];
        }
        if let (Some(p), Some(pi)) = (parent_span.filter(|_| remote_parent), parent[i]) {
            // The caller's view of the call: its CLIENT span; without kinds, a span of the caller
            // whose children are all in other services (it does nothing but call).
            let client_side = is_call(spans, children, pi);
            facts.reached.push(Reached { request: request[owner[pi]], kind: NodeKind::Service, callee: service });
            facts.calls.push(Call {
                caller: p.service_name(),
                callee_kind: NodeKind::Service,
                callee: service,
                end_ns: s.end_ns,
                client_ns: if client_side { p.duration_ns() } else { s.duration_ns() },
                server_ns: Some(s.duration_ns()),
                error: s.error,
            });
        }
        // A client span no instrumented service answered: a call to a peer, when it names one.
        if !answered && let Some(Peer { kind, name }) = &s.peer {
            let name: &str = name;
            facts.reached.push(Reached { request: request[owner[i]], kind: *kind, callee: name });
            facts.calls.push(Call {
                caller: service,
                callee_kind: *kind,
                callee: name,
                end_ns: s.end_ns,
                client_ns: s.duration_ns(),
                server_ns: None,
                error: s.error,
            });
        }
    }
    for (i, s) in spans.iter().enumerate().filter(|(i, _)| entered[*i]) {
        facts.self_times.push(SelfTime {
            service: s.service_name(),
            operation: &s.name,
            end_ns: s.end_ns,
            // At most the request's own length (children may overlap or outlast their parent).
            self_ns: own[i].min(s.duration_ns()),
            error: s.error,
        });
    }
    // Grouped by request; a callee called twice is listed twice (it is one member of the set).
    facts.reached.sort_unstable_by_key(|r| r.request);
    facts
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::AnyValue;
    use crate::graph::tree::covered;
    use crate::ids::{SpanId, TraceId};
    use crate::resource::{InstrumentationScope, Resource};
    use crate::span::{SpanStatus, StatusCode};
    use crate::value::Attributes;
    use proptest::prelude::*;
    use std::sync::Arc;

    const MS: i64 = 1_000_000;

    fn span(id: u8, parent: Option<u8>, service: &str, kind: SpanKind, start_ms: i64, end_ms: i64) -> Span {
        let mut attrs = Attributes::new();
        attrs.push("service.name", AnyValue::String(service.into()));
        attrs.push("k8s.pod.name", AnyValue::String(format!("{service}-0")));
        Span {
            trace_id: TraceId::from_array([1; 16]).unwrap(),
            span_id: SpanId::from_array([id; 8]).unwrap(),
            parent_span_id: parent.map(|p| SpanId::from_array([p; 8]).unwrap()),
            trace_state: String::new(),
            flags: 0,
            name: format!("op{id}"),
            kind,
            start_ns: start_ms * MS,
            end_ns: end_ms * MS,
            attributes: Attributes::new(),
            dropped_attributes_count: 0,
            events: Vec::new(),
            links: Vec::new(),
            status: SpanStatus::default(),
            resource: Arc::new(Resource::new(attrs)),
            scope: Arc::new(InstrumentationScope::default()),
        }
    }

    #[test]
    fn self_time_subtracts_the_union_of_children() {
        let cases = [
            (vec![], 100),
            (vec![(10, 30)], 80),
            (vec![(10, 30), (20, 40)], 70),
            (vec![(10, 30), (50, 60)], 70),
            (vec![(-10, 10), (90, 150)], 80),
            (vec![(200, 300)], 100),
            (vec![(0, 100), (20, 30)], 0),
        ];
        for (kids, want) in cases {
            let mut iv: Vec<(i64, i64)> = kids.clone();
            assert_eq!(100 - covered(0, 100, &mut iv), want, "{kids:?}");
        }
    }

    #[test]
    fn a_trace_yields_entries_calls_seen_from_both_sides_and_peer_calls() {
        // frontend (0-100) → CLIENT (5-95) → checkout SERVER (20-80) → CLIENT db (30-70)
        let mut db = span(4, Some(3), "checkout", SpanKind::Client, 30, 70);
        db.attributes.push("db.system", AnyValue::String("postgresql".into()));
        let mut server = span(3, Some(2), "checkout", SpanKind::Server, 20, 80);
        server.status = SpanStatus { code: StatusCode::Error, message: "boom".into() };
        let spans = [
            db,
            server,
            span(1, None, "frontend", SpanKind::Server, 0, 100),
            span(2, Some(1), "frontend", SpanKind::Client, 5, 95),
        ];
        let graph_spans: Vec<GraphSpan> = spans.iter().map(GraphSpan::from).collect();
        let f = analyse(&graph_spans);
        let entries: Vec<(&str, i64, i64)> =
            f.entries.iter().map(|e| (e.service, e.duration_ns / MS, e.self_ns / MS)).collect();
        assert_eq!(entries, [("checkout", 60, 20), ("frontend", 100, 10)]);
        assert_eq!(f.entries[0].instance, "checkout-0");
        assert!(f.entries[0].error);
        let calls: Vec<(&str, NodeKind, &str, i64, Option<i64>)> = f
            .calls
            .iter()
            .map(|c| (c.caller, c.callee_kind, c.callee, c.client_ns / MS, c.server_ns.map(|s| s / MS)))
            .collect();
        assert_eq!(
            calls,
            [
                ("checkout", NodeKind::Database, "postgresql", 40, None),
                ("frontend", NodeKind::Service, "checkout", 90, Some(60)),
            ]
        );
        // The network gap of the frontend → checkout call is 30 ms (90 seen by the client, 60 served).
        assert!(f.calls[1].error);
        assert!(
            !f.self_times.iter().any(|s| s.operation == "op2" || s.operation == "op4"),
            "client spans waiting on a service or a peer are not their service's own work"
        );
        let own: Vec<(&str, i64)> = f.self_times.iter().map(|s| (s.service, s.self_ns / MS)).collect();
        assert_eq!(own, [("checkout", 20), ("frontend", 10)]);
        // What each request went on to call: checkout's the database, the frontend's checkout.
        let reached: Vec<(&str, NodeKind, &str)> =
            f.reached.iter().map(|r| (f.self_times[r.request].service, r.kind, r.callee)).collect();
        assert_eq!(
            reached,
            [("checkout", NodeKind::Database, "postgresql"), ("frontend", NodeKind::Service, "checkout")]
        );
    }

    #[test]
    fn self_time_is_summed_per_request_so_a_slow_step_deep_inside_counts_whole() {
        // api SERVER (0-100) → internal (0-100) → internal (10-90) → db CLIENT (40-50), and a
        // second request of the same service under a remote caller.
        let mut db = span(4, Some(3), "api", SpanKind::Client, 40, 50);
        db.attributes.push("db.system", AnyValue::String("mysql".into()));
        let spans = [
            span(1, None, "api", SpanKind::Server, 0, 100),
            span(2, Some(1), "api", SpanKind::Internal, 0, 100),
            span(3, Some(2), "api", SpanKind::Internal, 10, 90),
            db,
            span(5, Some(3), "auth", SpanKind::Server, 60, 70),
            span(6, Some(5), "auth", SpanKind::Internal, 61, 69),
        ];
        let graph_spans: Vec<GraphSpan> = spans.iter().map(GraphSpan::from).collect();
        let f = analyse(&graph_spans);
        let own: Vec<(&str, &str, i64)> =
            f.self_times.iter().map(|s| (s.service, s.operation, s.self_ns / MS)).collect();
        // api: 20 ms in span 2, 80 − 10 (db) − 10 (auth) = 60 in span 3; auth: 2 + 8.
        assert_eq!(own, [("api", "op1", 80), ("auth", "op5", 10)]);
    }

    #[test]
    fn names_are_shared_and_bounded() {
        let mut names = Sharing::new(2);
        let (a, b) = (names.name("GET /a"), names.name("GET /a"));
        assert!(Arc::ptr_eq(&a, &b) && &*a == "GET /a");
        names.name("GET /b");
        assert_eq!(names.len(), 2);
        let c = names.name("GET /c");
        assert_eq!((names.len(), &*c), (1, "GET /c"), "past the cap it starts over");
    }

    #[test]
    fn a_batch_keeps_what_each_span_would_keep_alone() {
        let mut db = span(3, Some(1), "api", SpanKind::Client, 2, 8);
        db.attributes.push("db.system", AnyValue::String("mysql".into()));
        let spans = [
            span(1, None, "api", SpanKind::Server, 0, 10),
            span(2, Some(1), "auth", SpanKind::Server, 1, 5),
            db,
            span(4, Some(1), "api", SpanKind::Internal, 8, 9),
        ];
        let mut sharing = Sharing::new(100);
        let batch = sharing.graph_spans(&spans);
        let alone: Vec<GraphSpan> = spans.iter().map(GraphSpan::from).collect();
        assert_eq!(batch.iter().map(|(_, g)| g.clone()).collect::<Vec<_>>(), alone);
        assert!(batch.iter().all(|(t, _)| *t == spans[0].trace_id));
        assert_eq!((&*batch[2].1.service, &*batch[2].1.instance), ("api", "api-0"));
        assert_eq!(batch[2].1.peer.as_ref().map(|p| &*p.name), Some("mysql"));
        assert!(Arc::ptr_eq(&batch[0].1.service, &batch[3].1.service), "one copy per name");
    }

    #[test]
    fn without_span_kinds_calls_are_found_from_the_tree() {
        let spans = [
            span(1, None, "gateway", SpanKind::Unspecified, 0, 50),
            span(2, Some(1), "orders", SpanKind::Unspecified, 10, 40),
            span(3, Some(9), "orphan", SpanKind::Unspecified, 0, 5),
        ];
        let graph_spans: Vec<GraphSpan> = spans.iter().map(GraphSpan::from).collect();
        let f = analyse(&graph_spans);
        assert_eq!(f.entries.len(), 3, "root, remote child and a span whose parent is missing");
        assert_eq!(f.calls.len(), 1);
        assert_eq!(
            (f.calls[0].client_ns, f.calls[0].server_ns),
            (50 * MS, Some(30 * MS)),
            "the gateway span does nothing but call: it is the client side"
        );
    }

    proptest! {
        #[test]
        fn self_times_are_never_negative_nor_longer_than_the_span(
            shape in proptest::collection::vec((0u8..20, 0i64..100, 1i64..100, 0usize..3), 1..20)
        ) {
            let services = ["a", "b", "c"];
            let spans: Vec<Span> = shape
                .iter()
                .enumerate()
                .map(|(i, (p, start, len, svc))| {
                    let parent = (i > 0).then(|| *p % i as u8 + 1);
                    span(i as u8 + 1, parent, services[*svc], SpanKind::Unspecified, *start, start + len)
                })
                .collect();
            let graph_spans: Vec<GraphSpan> = spans.iter().map(GraphSpan::from).collect();
        let f = analyse(&graph_spans);
            prop_assert_eq!(f.self_times.len(), f.entries.len(), "one per request served");
            for st in &f.self_times {
                let s = spans.iter().find(|s| s.name == st.operation).unwrap();
                prop_assert!(st.self_ns >= 0 && st.self_ns <= s.duration_ns());
            }
            prop_assert!(f.calls.iter().all(|c| c.caller != c.callee));
            prop_assert!(f.reached.windows(2).all(|w| w[0].request <= w[1].request), "grouped by request");
            prop_assert_eq!(f.reached.len(), f.calls.len(), "every call was made by one request");
            for r in &f.reached {
                prop_assert!(r.request < f.self_times.len());
                prop_assert!(f.self_times[r.request].service != r.callee);
            }
        }
    }
}
