//! The service graph of one tenant: services (with their operations and instances), the
//! uninstrumented peers they call (databases, brokers, external endpoints) and the CALLS edges
//! between them, each with windowed RED statistics (see [`stats`]). Fed trace by trace with the
//! facts [`trace::analyse`] extracts; bounded by [`GraphLimits`]; nodes idle for the whole window
//! are dropped, so the caps recover.
//!
//! Pure: the caller passes the time.

pub mod anomaly;
pub mod assembly;
pub mod health;
pub mod paths;
pub mod peer;
pub mod rca;
pub mod shapes;
pub mod stats;
pub mod trace;
pub mod tree;
pub mod walks;

use crate::template::TemplateId;
use hashbrown::{Equivalent, HashMap};
use peer::NodeKind;
use shapes::Shapes;
use stats::{Counts, Examples, Red, Values, Windowed};
use trace::TraceFacts;

/// Hard caps of one tenant's graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GraphLimits {
    /// Services and peers.
    pub max_nodes: usize,
    pub max_edges: usize,
    pub max_operations_per_service: usize,
    pub max_instances_per_service: usize,
    /// Error-log templates tracked per service.
    pub max_log_templates_per_service: usize,
    /// Metric series (gauges) linked to a service.
    pub max_metric_series_per_service: usize,
    /// Request shapes (operation and the set of callees) counted per service (see [`shapes`]).
    pub max_shapes_per_service: usize,
}

impl Default for GraphLimits {
    fn default() -> Self {
        Self {
            max_nodes: 2_000,
            max_edges: 10_000,
            max_operations_per_service: 200,
            max_instances_per_service: 200,
            max_log_templates_per_service: 200,
            max_metric_series_per_service: 100,
            max_shapes_per_service: 100,
        }
    }
}

/// A node: a service (entered by spans) or a peer (only called).
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// Spans entering the service (its server side); empty for peers.
    pub entered: Windowed,
    /// Self time of every span of the service.
    pub self_time: Windowed,
    pub operations: HashMap<String, Windowed>,
    pub instances: HashMap<String, Windowed>,
    /// Error (and fatal) log lines written by the service, per log template.
    pub error_logs: HashMap<TemplateId, Counts>,
    /// Example traces of the calls it served (or, for peers, of the calls made to it).
    pub examples: Examples,
    /// Gauges the service reports, by metric name.
    pub metrics: HashMap<String, Values>,
    /// CPU and memory utilisation of its instances (see [`ResourceKind::of`]), per instance.
    pub utilization: HashMap<ResourceKind, HashMap<String, Values>>,
    /// What the requests it served went on to call, per operation.
    pub shapes: Shapes,
}

impl Default for Node {
    fn default() -> Self {
        Self {
            entered: Windowed::default(),
            self_time: Windowed::without_quantiles(),
            operations: HashMap::new(),
            instances: HashMap::new(),
            error_logs: HashMap::new(),
            examples: Examples::default(),
            metrics: HashMap::new(),
            utilization: HashMap::new(),
            shapes: Shapes::default(),
        }
    }
}

/// A resource whose saturation slows a service down, as its utilisation gauge names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ResourceKind {
    Cpu,
    Memory,
}

impl ResourceKind {
    /// The resource a gauge measures the utilisation of (a ratio, 1 = all of it), by the
    /// OpenTelemetry semantic conventions' names: `container.cpu.utilization`,
    /// `k8s.pod.cpu.utilization`, `process.cpu.utilization`, `k8s.pod.memory.utilization`, ...
    /// (any name ending in `cpu.utilization` or `memory.utilization`). Node-wide gauges
    /// (`k8s.node.*`) are not a service's own: a busy node would blame every service on it.
    pub fn of(metric: &str) -> Option<Self> {
        if metric.starts_with("k8s.node.") {
            return None;
        }
        if metric.ends_with("cpu.utilization") {
            Some(Self::Cpu)
        } else if metric.ends_with("memory.utilization") {
            Some(Self::Memory)
        } else {
            None
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Cpu => "cpu",
            Self::Memory => "memory",
        }
    }
}

/// A CALLS edge.
#[derive(Debug, Clone, PartialEq)]
pub struct Edge {
    /// The calls as the caller saw them.
    pub client: Windowed,
    /// The same calls as the callee served them (instrumented callees only).
    pub server: Windowed,
    /// Per call, what the caller waited beyond the callee's serving time (instrumented callees).
    pub gap: Windowed,
}

impl Default for Edge {
    fn default() -> Self {
        Self { client: Windowed::default(), server: Windowed::default(), gap: Windowed::without_quantiles() }
    }
}

/// Identity of a node.
pub type NodeKey = (NodeKind, String);

/// A borrowed [`NodeKey`], to look nodes up without allocating (hashes as the tuple does).
#[derive(Hash)]
struct KeyRef<'a>(NodeKind, &'a str);

impl Equivalent<NodeKey> for KeyRef<'_> {
    fn equivalent(&self, key: &NodeKey) -> bool {
        self.0 == key.0 && self.1 == key.1
    }
}

/// A borrowed edge key: caller, then the callee's [`KeyRef`].
#[derive(Hash)]
struct EdgeRef<'a>(&'a str, KeyRef<'a>);

impl Equivalent<(String, NodeKey)> for EdgeRef<'_> {
    fn equivalent(&self, key: &(String, NodeKey)) -> bool {
        self.0 == key.0 && self.1.equivalent(&key.1)
    }
}

/// What did not fit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Dropped {
    pub nodes: u64,
    pub edges: u64,
    pub operations: u64,
    pub instances: u64,
    pub log_templates: u64,
    pub metric_series: u64,
    pub shapes: u64,
}

/// One tenant's graph.
#[derive(Debug, Clone, Default)]
pub struct ServiceGraph {
    limits: GraphLimits,
    nodes: HashMap<NodeKey, Node>,
    edges: HashMap<(String, NodeKey), Edge>,
}

/// An error log line of a service (after Drain gave it a template).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogFact {
    pub service: String,
    pub time_ns: i64,
    pub template: TemplateId,
}

/// A gauge value reported by a service.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricFact {
    pub service: String,
    /// The instance (pod, host) that reported it, empty when unknown.
    pub instance: String,
    pub name: String,
    pub time_ns: i64,
    pub value: f64,
}

/// A node of the service map with its numbers over the range asked for.
#[derive(Debug, Clone, PartialEq)]
pub struct MapNode {
    pub kind: NodeKind,
    pub name: String,
    /// Server side (services) or what callers saw (peers).
    pub red: Red,
    pub operations: usize,
    pub instances: usize,
}

/// An edge of the service map.
#[derive(Debug, Clone, PartialEq)]
pub struct MapEdge {
    pub from: String,
    pub to_kind: NodeKind,
    pub to: String,
    pub client: Red,
    /// `None` for peers.
    pub server: Option<Red>,
}

/// The service map over a range.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ServiceMap {
    pub nodes: Vec<MapNode>,
    pub edges: Vec<MapEdge>,
}

/// The entry of `key`, made with `new` when absent and there is room under `cap` (else counted
/// in `dropped`).
fn bounded<'a, T>(
    map: &'a mut HashMap<String, T>,
    key: &str,
    cap: usize,
    dropped: &mut u64,
    new: impl FnOnce() -> T,
) -> Option<&'a mut T> {
    if !map.contains_key(key) {
        if map.len() >= cap {
            *dropped += 1;
            return None;
        }
        map.insert(key.to_owned(), new());
    }
    map.get_mut(key)
}

impl ServiceGraph {
    pub fn new(limits: GraphLimits) -> Self {
        Self { limits, nodes: HashMap::new(), edges: HashMap::new() }
    }

    /// The services and peers, in no particular order.
    pub fn nodes(&self) -> impl Iterator<Item = (&NodeKey, &Node)> {
        self.nodes.iter()
    }

    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    pub fn edge_count(&self) -> usize {
        self.edges.len()
    }

    /// A node by kind and exact name.
    pub fn node(&self, kind: NodeKind, name: &str) -> Option<&Node> {
        self.nodes.get(&KeyRef(kind, name))
    }

    /// An edge by caller and callee.
    pub fn edge(&self, from: &str, to_kind: NodeKind, to: &str) -> Option<&Edge> {
        self.edges.get(&EdgeRef(from, KeyRef(to_kind, to)))
    }

    fn node_mut(&mut self, kind: NodeKind, name: &str, dropped: &mut Dropped) -> Option<&mut Node> {
        let key = KeyRef(kind, name);
        if !self.nodes.contains_key(&key) {
            if self.nodes.len() >= self.limits.max_nodes {
                dropped.nodes += 1;
                return None;
            }
            self.nodes.insert((kind, name.to_owned()), Node::default());
        }
        self.nodes.get_mut(&key)
    }

    /// Adds what one trace says, as seen at `now_ns`.
    pub fn apply(&mut self, facts: &TraceFacts, now_ns: i64) -> Dropped {
        let mut dropped = Dropped::default();
        let limits = self.limits;
        for e in &facts.entries {
            let Some(node) = self.node_mut(NodeKind::Service, e.service, &mut dropped) else { continue };
            node.entered.record(e.end_ns, e.duration_ns, e.error, now_ns);
            if let Some(trace) = facts.trace_id {
                node.examples.record(trace, e.end_ns, e.duration_ns, e.error, now_ns);
            }
            if let Some(w) = bounded(
                &mut node.operations,
                e.operation,
                limits.max_operations_per_service,
                &mut dropped.operations,
                // Operations and instances are compared by their means, never by quantiles.
                Windowed::without_quantiles,
            ) {
                w.record(e.end_ns, e.duration_ns, e.error, now_ns);
            }
            if !e.instance.is_empty()
                && let Some(w) = bounded(
                    &mut node.instances,
                    e.instance,
                    limits.max_instances_per_service,
                    &mut dropped.instances,
                    Windowed::without_quantiles,
                )
            {
                w.record(e.end_ns, e.duration_ns, e.error, now_ns);
            }
        }
        let mut reached = facts.reached.as_slice();
        for (r, s) in facts.self_times.iter().enumerate() {
            // This request's callees (`reached` is sorted by request).
            let skip = reached.iter().take_while(|x| x.request < r).count();
            let mine = reached[skip..].iter().take_while(|x| x.request == r).count();
            let callees = &reached[skip..skip + mine];
            reached = &reached[skip + mine..];
            if let Some(node) = self.node_mut(NodeKind::Service, s.service, &mut dropped) {
                node.self_time.record(s.end_ns, s.self_ns, s.error, now_ns);
                let kept = node.shapes.record(
                    s.operation,
                    callees.iter().map(|c| (c.kind, c.callee)),
                    facts.trace_id,
                    s.end_ns,
                    now_ns,
                    limits.max_shapes_per_service,
                );
                dropped.shapes += u64::from(!kept);
            }
        }
        for c in &facts.calls {
            if self.node_mut(NodeKind::Service, c.caller, &mut dropped).is_none() {
                continue;
            }
            let Some(callee) = self.node_mut(c.callee_kind, c.callee, &mut dropped) else { continue };
            if c.callee_kind != NodeKind::Service {
                // A peer's only view of itself is what its callers saw.
                callee.entered.record(c.end_ns, c.client_ns, c.error, now_ns);
                if let Some(trace) = facts.trace_id {
                    callee.examples.record(trace, c.end_ns, c.client_ns, c.error, now_ns);
                }
            }
            let key = EdgeRef(c.caller, KeyRef(c.callee_kind, c.callee));
            if !self.edges.contains_key(&key) {
                if self.edges.len() >= limits.max_edges {
                    dropped.edges += 1;
                    continue;
                }
                self.edges.insert((c.caller.to_owned(), (c.callee_kind, c.callee.to_owned())), Edge::default());
            }
            let Some(edge) = self.edges.get_mut(&key) else { continue };
            edge.client.record(c.end_ns, c.client_ns, c.error, now_ns);
            if let Some(server) = c.server_ns {
                edge.server.record(c.end_ns, server, c.error, now_ns);
                edge.gap.record(c.end_ns, (c.client_ns - server).max(0), false, now_ns);
            }
        }
        dropped
    }

    /// Counts error log lines per service and template (at most
    /// `max_log_templates_per_service` templates each). A service not yet in the graph is added
    /// (within the node cap): its lines may arrive before its first trace has settled, and a
    /// service that only logs is still a place errors come from. It shows on the map only once
    /// it has calls.
    pub fn apply_logs(&mut self, logs: &[LogFact], now_ns: i64) -> Dropped {
        let mut dropped = Dropped::default();
        let cap = self.limits.max_log_templates_per_service;
        for l in logs {
            let Some(node) = self.node_mut(NodeKind::Service, &l.service, &mut dropped) else { continue };
            if !node.error_logs.contains_key(&l.template) {
                if node.error_logs.len() >= cap {
                    dropped.log_templates += 1;
                    continue;
                }
                node.error_logs.insert(l.template, Counts::default());
            }
            if let Some(c) = node.error_logs.get_mut(&l.template) {
                c.record(l.time_ns, now_ns);
            }
        }
        dropped
    }

    /// Records gauge values per service (added as [`ServiceGraph::apply_logs`] adds them); at
    /// most `max_metric_series_per_service` series each.
    pub fn apply_metrics(&mut self, points: &[MetricFact], now_ns: i64) -> Dropped {
        let mut dropped = Dropped::default();
        let limits = self.limits;
        let cap = limits.max_metric_series_per_service;
        for p in points {
            let Some(node) = self.node_mut(NodeKind::Service, &p.service, &mut dropped) else { continue };
            if let Some(series) = bounded(&mut node.metrics, &p.name, cap, &mut dropped.metric_series, Values::default)
            {
                series.record(p.time_ns, p.value, now_ns);
            }
            if let Some(resource) = ResourceKind::of(&p.name)
                && let Some(series) = bounded(
                    node.utilization.entry(resource).or_default(),
                    &p.instance,
                    limits.max_instances_per_service,
                    &mut dropped.instances,
                    Values::default,
                )
            {
                series.record(p.time_ns, p.value, now_ns);
            }
        }
        dropped
    }

    /// Drops statistics older than the window and the nodes and edges left without any.
    pub fn expire(&mut self, now_ns: i64) {
        for n in self.nodes.values_mut() {
            n.entered.expire(now_ns);
            n.self_time.expire(now_ns);
            for w in n.operations.values_mut().chain(n.instances.values_mut()) {
                w.expire(now_ns);
            }
            for c in n.error_logs.values_mut() {
                c.expire(now_ns);
            }
            n.error_logs.retain(|_, c| !c.is_empty());
            for v in n.metrics.values_mut() {
                v.expire(now_ns);
            }
            n.metrics.retain(|_, v| !v.is_empty());
            for per_instance in n.utilization.values_mut() {
                for v in per_instance.values_mut() {
                    v.expire(now_ns);
                }
                per_instance.retain(|_, v| !v.is_empty());
            }
            n.utilization.retain(|_, m| !m.is_empty());
            n.operations.retain(|_, w| !w.is_empty());
            n.instances.retain(|_, w| !w.is_empty());
            n.shapes.expire(now_ns);
        }
        self.edges.retain(|_, e| {
            e.client.expire(now_ns);
            e.server.expire(now_ns);
            e.gap.expire(now_ns);
            !e.client.is_empty()
        });
        self.nodes.retain(|_, n| {
            !n.entered.is_empty() || !n.self_time.is_empty() || !n.error_logs.is_empty() || !n.metrics.is_empty()
        });
    }

    /// The CALLS edges as an adjacency for walks (shortest path, blast radius).
    pub fn adjacency(&self) -> paths::Adjacency {
        let keys: Vec<(NodeKey, NodeKey)> =
            self.edges.keys().map(|(from, to)| ((NodeKind::Service, from.clone()), to.clone())).collect();
        paths::Adjacency::from_edges(keys.iter().map(|(a, b)| (a, b)))
    }

    /// The service map over `[start_ns, end_ns)`: nodes and edges with calls in the range,
    /// sorted by name.
    pub fn service_map(&self, start_ns: i64, end_ns: i64) -> ServiceMap {
        let mut nodes: Vec<MapNode> = self
            .nodes
            .iter()
            .map(|((kind, name), n)| MapNode {
                kind: *kind,
                name: name.clone(),
                red: n.entered.summary(start_ns, end_ns),
                operations: n.operations.len(),
                instances: n.instances.len(),
            })
            .filter(|n| n.red.calls > 0)
            .collect();
        nodes.sort_by(|a, b| (&a.name, a.kind).cmp(&(&b.name, b.kind)));
        let mut edges: Vec<MapEdge> = self
            .edges
            .iter()
            .map(|((from, (kind, to)), e)| MapEdge {
                from: from.clone(),
                to_kind: *kind,
                to: to.clone(),
                client: e.client.summary(start_ns, end_ns),
                server: (*kind == NodeKind::Service).then(|| e.server.summary(start_ns, end_ns)),
            })
            .filter(|e| e.client.calls > 0)
            .collect();
        edges.sort_by(|a, b| (&a.from, &a.to).cmp(&(&b.from, &b.to)));
        ServiceMap { nodes, edges }
    }
}

#[cfg(test)]
mod tests;
