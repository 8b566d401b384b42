//! Questions about the topology over a range: the map around a node (or what it depends on),
//! the blast radius of a failure, the call path between two nodes, and the signals linked to a
//! service (its error-log templates and gauges, recent against baseline). Only edges with calls
//! in the range are walked.

use super::paths::{Adjacency, Reached};
use super::peer::NodeKind;
use super::stats::{Red, ValueSummary};
use super::{MapEdge, NodeKey, ServiceGraph, ServiceMap};
use crate::ids::TraceId;
use crate::template::TemplateId;
use std::collections::HashSet;

/// Which way to walk the calls from a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// What it calls, transitively (its dependencies).
    Downstream,
    /// What calls it, transitively (who feels its failure).
    Upstream,
    Both,
}

/// A node reached by an impact walk, with the calls on the edge it was reached by.
#[derive(Debug, Clone, PartialEq)]
pub struct ImpactedNode {
    pub kind: NodeKind,
    pub name: String,
    pub hops: usize,
    /// The node it was reached from.
    pub via_kind: NodeKind,
    pub via: String,
    /// Calls on the edge between it and `via` in the range.
    pub edge_calls: u64,
    /// The node's own numbers in the range (what callers saw, for peers).
    pub red: Red,
}

/// The blast radius of a node: what it calls (a failure there reaches it) and what calls it (a
/// failure of it reaches them), nearest first.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Impact {
    pub downstream: Vec<ImpactedNode>,
    pub upstream: Vec<ImpactedNode>,
}

/// Error lines of one template a service wrote, in the range and in the baseline before it.
#[derive(Debug, Clone, PartialEq)]
pub struct LogSignal {
    pub template: TemplateId,
    pub count: u64,
    pub baseline_count: u64,
    /// Lines per second in each.
    pub rate_per_s: f64,
    pub baseline_rate_per_s: f64,
}

/// A gauge of a service, in the range and in the baseline before it.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricSignal {
    pub name: String,
    pub recent: ValueSummary,
    pub baseline: ValueSummary,
    /// Recent mean against the baseline, in baseline standard deviations (0 without a baseline).
    pub z: f64,
}

/// What moved with a service: its RED numbers, error-log templates (most lines first) and gauges
/// (largest |z| first), and failed traces of the range.
#[derive(Debug, Clone, PartialEq)]
pub struct Signals {
    pub red: Red,
    pub baseline_red: Red,
    pub error_logs: Vec<LogSignal>,
    pub metrics: Vec<MetricSignal>,
    pub failed_traces: Vec<TraceId>,
}

/// Failed traces given with [`Signals`].
pub const SIGNAL_EXAMPLE_TRACES: usize = 5;

fn per_s(n: u64, start_ns: i64, end_ns: i64) -> f64 {
    n as f64 / ((end_ns - start_ns).max(1) as f64 / 1e9)
}

impl ServiceGraph {
    /// The CALLS edges with calls in `[start_ns, end_ns)`.
    pub fn adjacency_in(&self, start_ns: i64, end_ns: i64) -> Adjacency {
        let keys: Vec<(NodeKey, NodeKey)> = self
            .edges
            .iter()
            .filter(|(_, e)| e.client.calls(start_ns, end_ns) > 0)
            .map(|((from, to), _)| ((NodeKind::Service, from.clone()), to.clone()))
            .collect();
        Adjacency::from_edges(keys.iter().map(|(a, b)| (a, b)))
    }

    /// The service map over the range, restricted to `node` and what lies within `depth` calls
    /// of it in `direction` (`Downstream` is its dependency chain).
    pub fn neighbourhood(
        &self,
        node: &NodeKey,
        depth: usize,
        direction: Direction,
        start_ns: i64,
        end_ns: i64,
    ) -> ServiceMap {
        let adj = self.adjacency_in(start_ns, end_ns);
        let mut keep: HashSet<NodeKey> = HashSet::from([node.clone()]);
        if direction != Direction::Upstream {
            keep.extend(adj.downstream(node, depth).into_iter().map(|r| r.node));
        }
        if direction != Direction::Downstream {
            keep.extend(adj.upstream(node, depth).into_iter().map(|r| r.node));
        }
        let mut map = self.service_map(start_ns, end_ns);
        map.nodes.retain(|n| keep.contains(&(n.kind, n.name.clone())));
        map.edges.retain(|e| {
            keep.contains(&(NodeKind::Service, e.from.clone())) && keep.contains(&(e.to_kind, e.to.clone()))
        });
        map
    }

    fn impacted(&self, r: Reached, downstream: bool, start_ns: i64, end_ns: i64) -> ImpactedNode {
        let ((kind, name), (via_kind, via)) = (r.node, r.via);
        let edge = if downstream { self.edge(&via, kind, &name) } else { self.edge(&name, via_kind, &via) };
        ImpactedNode {
            edge_calls: edge.map_or(0, |e| e.client.calls(start_ns, end_ns)),
            red: self.node(kind, &name).map(|n| n.entered.summary(start_ns, end_ns)).unwrap_or_default(),
            kind,
            name,
            hops: r.hops,
            via_kind,
            via,
        }
    }

    /// The blast radius of `node` within `depth` calls over the range.
    pub fn impact(&self, node: &NodeKey, depth: usize, start_ns: i64, end_ns: i64) -> Impact {
        let adj = self.adjacency_in(start_ns, end_ns);
        Impact {
            downstream: adj
                .downstream(node, depth)
                .into_iter()
                .map(|r| self.impacted(r, true, start_ns, end_ns))
                .collect(),
            upstream: adj
                .upstream(node, depth)
                .into_iter()
                .map(|r| self.impacted(r, false, start_ns, end_ns))
                .collect(),
        }
    }

    /// The fewest-calls path from `from` to `to` over the range, as the edges along it with
    /// their numbers; empty when `from == to`, `None` when `to` is not reached by calls.
    pub fn call_path(&self, from: &NodeKey, to: &NodeKey, start_ns: i64, end_ns: i64) -> Option<Vec<MapEdge>> {
        let path = self.adjacency_in(start_ns, end_ns).shortest_path(from, to)?;
        Some(
            path.windows(2)
                .filter_map(|w| {
                    let ((_, a), (kind, b)) = (&w[0], &w[1]);
                    self.edge(a, *kind, b).map(|e| MapEdge {
                        from: a.clone(),
                        to_kind: *kind,
                        to: b.clone(),
                        client: e.client.summary(start_ns, end_ns),
                        server: (*kind == NodeKind::Service).then(|| e.server.summary(start_ns, end_ns)),
                    })
                })
                .collect(),
        )
    }

    /// The signals of `service` in `[start_ns, end_ns)` against `[baseline_start_ns, start_ns)`;
    /// `None` when the graph has no such service.
    pub fn signals(&self, service: &str, baseline_start_ns: i64, start_ns: i64, end_ns: i64) -> Option<Signals> {
        let node = self.node(NodeKind::Service, service)?;
        let b = baseline_start_ns.min(start_ns);
        let mut error_logs: Vec<LogSignal> = node
            .error_logs
            .iter()
            .map(|(t, c)| {
                let (count, baseline_count) = (c.count(start_ns, end_ns), c.count(b, start_ns));
                LogSignal {
                    template: *t,
                    count,
                    baseline_count,
                    rate_per_s: per_s(count, start_ns, end_ns),
                    baseline_rate_per_s: if b < start_ns { per_s(baseline_count, b, start_ns) } else { 0.0 },
                }
            })
            .filter(|l| l.count > 0)
            .collect();
        error_logs.sort_by(|x, y| y.count.cmp(&x.count).then(x.template.cmp(&y.template)));
        let mut metrics: Vec<MetricSignal> = node
            .metrics
            .iter()
            .map(|(name, v)| {
                let (recent, baseline) = (v.summary(start_ns, end_ns), v.summary(b, start_ns));
                let z = if baseline.count >= 2 && recent.count > 0 { recent.z_against(&baseline) } else { 0.0 };
                MetricSignal { name: name.clone(), recent, baseline, z }
            })
            .filter(|m| m.recent.count > 0)
            .collect();
        metrics.sort_by(|x, y| y.z.abs().total_cmp(&x.z.abs()).then(x.name.cmp(&y.name)));
        Some(Signals {
            red: node.entered.summary(start_ns, end_ns),
            baseline_red: node.entered.summary(b, start_ns),
            error_logs,
            metrics,
            failed_traces: node.examples.pick(start_ns, end_ns, true, SIGNAL_EXAMPLE_TRACES),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::trace::{Call, Entry, TraceFacts};
    use crate::graph::{GraphLimits, LogFact, MetricFact};

    const NOW: i64 = 1_700_000_000 * 1_000_000_000;
    const MIN: i64 = 60_000_000_000;

    fn svc(name: &str) -> NodeKey {
        (NodeKind::Service, name.to_owned())
    }

    fn call(from: &'static str, kind: NodeKind, to: &'static str, at: i64) -> Call<'static> {
        Call {
            caller: from,
            callee_kind: kind,
            callee: to,
            end_ns: at,
            client_ns: 10_000_000,
            server_ns: (kind == NodeKind::Service).then_some(8_000_000),
            error: false,
        }
    }

    fn entry(service: &str, at: i64) -> Entry<'_> {
        Entry {
            service,
            operation: "op",
            instance: "",
            end_ns: at,
            duration_ns: 8_000_000,
            self_ns: 1_000_000,
            error: false,
        }
    }

    /// frontend → checkout → payment → postgresql; frontend → catalog; admin → catalog, and an
    /// old edge checkout → legacy seen only 50 minutes ago.
    fn shop() -> ServiceGraph {
        let mut g = ServiceGraph::new(GraphLimits::default());
        let edges = [
            ("frontend", NodeKind::Service, "checkout"),
            ("checkout", NodeKind::Service, "payment"),
            ("payment", NodeKind::Database, "postgresql"),
            ("frontend", NodeKind::Service, "catalog"),
            ("admin", NodeKind::Service, "catalog"),
        ];
        for t in [NOW - 10 * MIN, NOW - 2 * MIN] {
            let mut f = TraceFacts::default();
            for s in ["frontend", "checkout", "payment", "catalog", "admin"] {
                f.entries.push(entry(s, t));
            }
            f.calls = edges.iter().map(|(a, k, b)| call(a, *k, b, t)).collect();
            g.apply(&f, NOW);
        }
        let old = TraceFacts {
            entries: vec![entry("legacy", NOW - 50 * MIN), entry("checkout", NOW - 50 * MIN)],
            calls: vec![call("checkout", NodeKind::Service, "legacy", NOW - 50 * MIN)],
            ..TraceFacts::default()
        };
        g.apply(&old, NOW);
        g
    }

    fn names(map: &ServiceMap) -> Vec<&str> {
        map.nodes.iter().map(|n| n.name.as_str()).collect()
    }

    #[test]
    fn neighbourhoods_follow_the_direction_and_the_range() {
        let g = shop();
        let (start, end) = (NOW - 15 * MIN, NOW);
        let deps = g.neighbourhood(&svc("checkout"), 5, Direction::Downstream, start, end);
        assert_eq!(names(&deps), ["checkout", "payment", "postgresql"], "legacy was called before the range");
        assert_eq!(deps.edges.len(), 2);
        let around = g.neighbourhood(&svc("catalog"), 1, Direction::Both, start, end);
        assert_eq!(names(&around), ["admin", "catalog", "frontend"]);
        assert!(around.edges.iter().all(|e| e.to == "catalog"));
        let hour = g.neighbourhood(&svc("checkout"), 1, Direction::Downstream, NOW - 60 * MIN, end);
        assert_eq!(names(&hour), ["checkout", "legacy", "payment"]);
    }

    #[test]
    fn impact_names_both_sides_with_the_edge_that_reached_each() {
        let g = shop();
        let i = g.impact(&svc("payment"), 5, NOW - 15 * MIN, NOW);
        let down: Vec<(&str, usize, &str, u64)> =
            i.downstream.iter().map(|n| (n.name.as_str(), n.hops, n.via.as_str(), n.edge_calls)).collect();
        assert_eq!(down, [("postgresql", 1, "payment", 2)]);
        let up: Vec<(&str, usize, &str)> =
            i.upstream.iter().map(|n| (n.name.as_str(), n.hops, n.via.as_str())).collect();
        assert_eq!(up, [("checkout", 1, "payment"), ("frontend", 2, "checkout")]);
        assert_eq!(i.upstream[0].edge_calls, 2);
        assert_eq!(i.upstream[1].red.calls, 2);
        assert_eq!(g.impact(&svc("payment"), 1, NOW - 15 * MIN, NOW).upstream.len(), 1, "depth limits the walk");
    }

    #[test]
    fn call_paths_have_the_edges_along_them() {
        let g = shop();
        let p = g.call_path(&svc("frontend"), &(NodeKind::Database, "postgresql".into()), NOW - 15 * MIN, NOW).unwrap();
        let hops: Vec<(&str, &str)> = p.iter().map(|e| (e.from.as_str(), e.to.as_str())).collect();
        assert_eq!(hops, [("frontend", "checkout"), ("checkout", "payment"), ("payment", "postgresql")]);
        assert_eq!(p[0].client.calls, 2);
        assert!(p[2].server.is_none());
        assert_eq!(g.call_path(&svc("payment"), &svc("frontend"), NOW - 15 * MIN, NOW), None);
        assert_eq!(g.call_path(&svc("checkout"), &svc("legacy"), NOW - 15 * MIN, NOW), None, "outside the range");
        assert_eq!(g.call_path(&svc("admin"), &svc("admin"), NOW - 15 * MIN, NOW), Some(vec![]));
    }

    #[test]
    fn signals_compare_the_range_with_the_baseline() {
        let mut g = shop();
        let t = TemplateId(7);
        let quiet = TemplateId(8);
        let mut logs: Vec<LogFact> =
            (0..30).map(|i| LogFact { service: "payment".into(), time_ns: NOW - 4 * MIN + i, template: t }).collect();
        logs.push(LogFact { service: "payment".into(), time_ns: NOW - 40 * MIN, template: t });
        logs.push(LogFact { service: "payment".into(), time_ns: NOW - 40 * MIN, template: quiet });
        g.apply_logs(&logs, NOW);
        let mut points = Vec::new();
        for m in 0..60 {
            let time_ns = NOW - 59 * MIN + m * MIN;
            let recent = time_ns >= NOW - 5 * MIN;
            points.push(MetricFact {
                service: "payment".into(),
                instance: String::new(),
                name: "cpu".into(),
                time_ns,
                value: if recent { 0.9 } else { 0.2 + (m % 3) as f64 * 0.01 },
            });
            points.push(MetricFact {
                service: "payment".into(),
                instance: String::new(),
                name: "memory".into(),
                time_ns,
                value: 100.0,
            });
        }
        g.apply_metrics(&points, NOW);
        let s = g.signals("payment", NOW - 60 * MIN, NOW - 5 * MIN, NOW).unwrap();
        assert_eq!(s.error_logs.len(), 1, "a template with no lines in the range is left out");
        assert_eq!((s.error_logs[0].template, s.error_logs[0].count, s.error_logs[0].baseline_count), (t, 30, 1));
        assert!(s.error_logs[0].rate_per_s > 10.0 * s.error_logs[0].baseline_rate_per_s);
        let m: Vec<&str> = s.metrics.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(m, ["cpu", "memory"], "the gauge that moved comes first");
        assert!(s.metrics[0].z > 10.0 && s.metrics[1].z.abs() < 1e-9);
        assert_eq!(s.red.calls, 1);
        assert!(g.signals("nope", NOW - 60 * MIN, NOW - 5 * MIN, NOW).is_none());
    }
}
