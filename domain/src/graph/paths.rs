//! Walks over the CALLS edges: the shortest call path between two nodes and the blast radius of
//! a node (what it calls, transitively, and what calls it), breadth first, with hop counts.

use super::NodeKey;
use std::collections::{HashMap, HashSet, VecDeque};

/// A node found by a walk: how many calls away, and the node it was reached from (its caller
/// going downstream, its callee going upstream).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reached {
    pub node: NodeKey,
    pub hops: usize,
    pub via: NodeKey,
}

/// Directed adjacency: caller → callees (sorted, so walks are deterministic).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Adjacency {
    down: HashMap<NodeKey, Vec<NodeKey>>,
    up: HashMap<NodeKey, Vec<NodeKey>>,
}

impl Adjacency {
    /// From (caller, callee) pairs.
    pub fn from_edges<'a>(edges: impl IntoIterator<Item = (&'a NodeKey, &'a NodeKey)>) -> Self {
        let mut a = Adjacency::default();
        for (from, to) in edges {
            a.down.entry(from.clone()).or_default().push(to.clone());
            a.up.entry(to.clone()).or_default().push(from.clone());
        }
        for v in a.down.values_mut().chain(a.up.values_mut()) {
            v.sort();
            v.dedup();
        }
        a
    }

    /// The fewest-hops path of calls from `from` to `to` (both included); `None` when `to` is
    /// not reachable by following calls.
    pub fn shortest_path(&self, from: &NodeKey, to: &NodeKey) -> Option<Vec<NodeKey>> {
        if from == to {
            return Some(vec![from.clone()]);
        }
        let mut previous: HashMap<&NodeKey, &NodeKey> = HashMap::new();
        let mut queue = VecDeque::from([from]);
        let mut seen: HashSet<&NodeKey> = HashSet::from([from]);
        while let Some(n) = queue.pop_front() {
            for next in self.down.get(n).into_iter().flatten() {
                if !seen.insert(next) {
                    continue;
                }
                previous.insert(next, n);
                if next == to {
                    let mut path = vec![to.clone()];
                    let mut cur = to;
                    while let Some(p) = previous.get(cur) {
                        path.push((*p).clone());
                        cur = p;
                    }
                    path.reverse();
                    return Some(path);
                }
                queue.push_back(next);
            }
        }
        None
    }

    fn walk(map: &HashMap<NodeKey, Vec<NodeKey>>, start: &NodeKey, max_hops: usize) -> Vec<Reached> {
        let mut out = Vec::new();
        let mut seen: HashSet<&NodeKey> = HashSet::from([start]);
        let mut queue = VecDeque::from([(start, 0usize)]);
        while let Some((n, hops)) = queue.pop_front() {
            if hops == max_hops {
                continue;
            }
            for next in map.get(n).into_iter().flatten() {
                if seen.insert(next) {
                    out.push(Reached { node: next.clone(), hops: hops + 1, via: n.clone() });
                    queue.push_back((next, hops + 1));
                }
            }
        }
        out
    }

    /// What `node` calls, transitively, up to `max_hops` (nearest first).
    pub fn downstream(&self, node: &NodeKey, max_hops: usize) -> Vec<Reached> {
        Self::walk(&self.down, node, max_hops)
    }

    /// What calls `node`, transitively, up to `max_hops` (nearest first): the blast radius of a
    /// failure of `node`.
    pub fn upstream(&self, node: &NodeKey, max_hops: usize) -> Vec<Reached> {
        Self::walk(&self.up, node, max_hops)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::peer::NodeKind;
    use proptest::prelude::*;

    fn k(n: u8) -> NodeKey {
        (NodeKind::Service, format!("s{n}"))
    }

    fn adjacency(edges: &[(u8, u8)]) -> Adjacency {
        let keys: Vec<(NodeKey, NodeKey)> = edges.iter().map(|(a, b)| (k(*a), k(*b))).collect();
        Adjacency::from_edges(keys.iter().map(|(a, b)| (a, b)))
    }

    #[test]
    fn paths_and_blast_radius_follow_the_calls() {
        // frontend(0) → checkout(1) → payment(2) → db(3); frontend → catalog(4) → db
        let a = adjacency(&[(0, 1), (1, 2), (2, 3), (0, 4), (4, 3)]);
        assert_eq!(a.shortest_path(&k(0), &k(3)).unwrap(), [k(0), k(4), k(3)]);
        assert_eq!(a.shortest_path(&k(3), &k(0)), None, "calls have a direction");
        assert_eq!(a.shortest_path(&k(2), &k(2)).unwrap(), [k(2)]);
        let hops = |r: Vec<Reached>| r.into_iter().map(|r| (r.node, r.hops, r.via)).collect::<Vec<_>>();
        assert_eq!(hops(a.upstream(&k(3), 10)), [(k(2), 1, k(3)), (k(4), 1, k(3)), (k(1), 2, k(2)), (k(0), 2, k(4))]);
        assert_eq!(hops(a.downstream(&k(0), 1)), [(k(1), 1, k(0)), (k(4), 1, k(0))]);
    }

    /// The fewest hops from `a` to `b` by trying every simple path.
    fn brute(edges: &[(u8, u8)], a: u8, b: u8) -> Option<usize> {
        fn go(edges: &[(u8, u8)], at: u8, b: u8, seen: &mut Vec<u8>) -> Option<usize> {
            if at == b {
                return Some(0);
            }
            let mut best: Option<usize> = None;
            for (x, y) in edges {
                if *x == at && !seen.contains(y) {
                    seen.push(*y);
                    if let Some(d) = go(edges, *y, b, seen) {
                        best = Some(best.map_or(d + 1, |v| v.min(d + 1)));
                    }
                    seen.pop();
                }
            }
            best
        }
        go(edges, a, b, &mut vec![a])
    }

    proptest! {
        #[test]
        fn shortest_paths_agree_with_a_brute_force_search(
            edges in proptest::collection::vec((0u8..7, 0u8..7), 0..16),
            a in 0u8..7,
            b in 0u8..7,
        ) {
            let adj = adjacency(&edges);
            let got = adj.shortest_path(&k(a), &k(b));
            prop_assert_eq!(got.as_ref().map(|p| p.len() - 1), brute(&edges, a, b));
            if let Some(p) = got {
                prop_assert!(p.windows(2).all(|w| edges.iter().any(|(x, y)| k(*x) == w[0] && k(*y) == w[1])));
            }
        }
    }
}
