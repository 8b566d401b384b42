//! Drain: online log template mining with a fixed-depth parse tree (He et al., ICWS 2017).
//!
//! A line is masked ([`mask`]), split into tokens, and routed through the tree: first by its
//! token count, then by its first `depth - 2` tokens (a token with a masked part, or any token
//! once a node has `max_children` children, goes to the wildcard branch). The leaf holds
//! clusters; the line joins the most similar one — the share of positions the cluster already
//! accepts (equal tokens, or the cluster's wildcards) — when that share reaches `similarity`,
//! turning the positions that differ into `<*>`; otherwise it starts a cluster. With the default
//! 0.7, a line may differ from a template in at most 30 % of its (masked) tokens: variables are
//! mostly masked already, so a template only generalises over the few unmasked ones (user names,
//! states), and two messages that share a prefix but differ in several words stay apart.
//!
//! A cluster's id is a hash of its first template and never changes as the template generalises,
//! so ids are stable across restarts (clusters are restored with their ids by [`Drain::restore`]).
//! The number of clusters is capped; the least recently matched one is evicted.

pub mod mask;

use crate::template::TemplateId;
use mask::WILDCARD;
use std::collections::HashMap;

/// Tuning of the tree; one configuration serves every input.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DrainConfig {
    /// Levels of the tree including the root and the length layer (so `depth - 2` prefix tokens).
    pub depth: usize,
    /// Least share of a line's positions a cluster must accept (equal token or wildcard) for the
    /// line to join it, in (0, 1].
    pub similarity: f64,
    /// Most children of an inner node; further tokens share the wildcard branch.
    pub max_children: usize,
    /// Most clusters kept; the least recently matched is evicted beyond it.
    pub max_clusters: usize,
}

impl Default for DrainConfig {
    fn default() -> Self {
        Self { depth: 4, similarity: 0.7, max_children: 100, max_clusters: 50_000 }
    }
}

/// A template as the miner holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cluster {
    pub id: TemplateId,
    pub tokens: Vec<String>,
    pub count: u64,
}

impl Cluster {
    /// The template text (tokens joined by single spaces).
    pub fn template(&self) -> String {
        self.tokens.join(" ")
    }
}

/// What adding a line did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Matched {
    pub id: TemplateId,
    /// A new cluster was created for the line.
    pub created: bool,
    /// An existing cluster's template became more general.
    pub generalised: bool,
}

/// The id of a template first seen as `tokens`: xxh3 of the tokens, NUL-separated.
pub fn template_id(tokens: &[String]) -> TemplateId {
    let mut h = crate::hash::StableHasher::new();
    for t in tokens {
        h.field(t.as_bytes());
    }
    TemplateId(h.finish())
}

#[derive(Default)]
struct Node {
    children: HashMap<String, Node>,
    wildcard: Option<Box<Node>>,
    /// Leaf: indices into `Drain::slots`.
    clusters: Vec<usize>,
}

struct Slot {
    cluster: Cluster,
    /// Least-recently-used list (indices into `slots`).
    prev: Option<usize>,
    next: Option<usize>,
}

/// The template miner (one per tenant).
pub struct Drain {
    config: DrainConfig,
    roots: HashMap<usize, Node>,
    slots: Vec<Option<Slot>>,
    free: Vec<usize>,
    by_id: HashMap<TemplateId, usize>,
    /// Most recently used first.
    head: Option<usize>,
    tail: Option<usize>,
    live: usize,
    evicted: u64,
    /// Ids evicted since the last [`Drain::take_evicted`].
    evicted_ids: Vec<TemplateId>,
    /// Reused masking buffers.
    buf: String,
    ranges: Vec<(usize, usize)>,
}

fn is_variable(token: &str) -> bool {
    token.contains(WILDCARD)
}

impl Drain {
    /// An empty miner.
    pub fn new(config: DrainConfig) -> Self {
        let config = DrainConfig {
            depth: config.depth.max(3),
            similarity: config.similarity.clamp(f64::MIN_POSITIVE, 1.0),
            max_children: config.max_children.max(1),
            max_clusters: config.max_clusters.max(1),
        };
        Self {
            config,
            roots: HashMap::new(),
            slots: Vec::new(),
            free: Vec::new(),
            by_id: HashMap::new(),
            head: None,
            tail: None,
            live: 0,
            evicted: 0,
            evicted_ids: Vec::new(),
            buf: String::new(),
            ranges: Vec::new(),
        }
    }

    /// Clusters held.
    pub fn len(&self) -> usize {
        self.live
    }

    /// Whether no cluster is held.
    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// Clusters evicted by the cap so far.
    pub fn evicted(&self) -> u64 {
        self.evicted
    }

    /// The ids of the clusters evicted since the last call (so a caller can drop what it keeps
    /// about them).
    pub fn take_evicted(&mut self) -> Vec<TemplateId> {
        std::mem::take(&mut self.evicted_ids)
    }

    /// A cluster by id.
    pub fn get(&self, id: TemplateId) -> Option<&Cluster> {
        self.by_id.get(&id).and_then(|i| self.slots[*i].as_ref()).map(|s| &s.cluster)
    }

    /// Every cluster, most recently matched first.
    pub fn clusters(&self) -> Vec<&Cluster> {
        let mut out = Vec::with_capacity(self.live);
        let mut at = self.head;
        while let Some(i) = at {
            let s = self.slots[i].as_ref().expect("listed slots are live");
            out.push(&s.cluster);
            at = s.next;
        }
        out
    }

    /// Adds a line; `None` when it has no tokens.
    pub fn add(&mut self, line: &str) -> Option<Matched> {
        let (mut buf, mut ranges) = (std::mem::take(&mut self.buf), std::mem::take(&mut self.ranges));
        mask::mask_into(line, &mut buf, &mut ranges);
        let matched = if ranges.is_empty() {
            None
        } else {
            let tokens: Vec<&str> = ranges.iter().map(|&(a, b)| &buf[a..b]).collect();
            Some(self.add_tokens(&tokens))
        };
        (self.buf, self.ranges) = (buf, ranges);
        matched
    }

    /// The cluster a line would join, without changing anything.
    pub fn find(&self, line: &str) -> Option<TemplateId> {
        let owned = mask::mask_line(line);
        let tokens: Vec<&str> = owned.iter().map(String::as_str).collect();
        let leaf = self.leaf(&tokens)?;
        self.best(leaf, &tokens).map(|(i, _)| self.slots[i].as_ref().expect("live").cluster.id)
    }

    /// Puts a persisted cluster back (with its id and count), most recent last.
    pub fn restore(&mut self, cluster: Cluster) {
        if cluster.tokens.is_empty() || self.by_id.contains_key(&cluster.id) {
            return;
        }
        let tokens = cluster.tokens.clone();
        let idx = self.insert_slot(cluster);
        let refs: Vec<&str> = tokens.iter().map(String::as_str).collect();
        self.leaf_mut(&refs).clusters.push(idx);
        self.enforce_cap();
    }

    fn add_tokens(&mut self, tokens: &[&str]) -> Matched {
        let found = self.leaf(tokens).and_then(|leaf| self.best(leaf, tokens));
        match found {
            Some((idx, _)) => {
                let slot = self.slots[idx].as_mut().expect("live");
                let mut generalised = false;
                for (t, l) in slot.cluster.tokens.iter_mut().zip(tokens) {
                    if t != l && t != WILDCARD {
                        *t = WILDCARD.to_owned();
                        generalised = true;
                    }
                }
                slot.cluster.count += 1;
                let id = slot.cluster.id;
                self.touch(idx);
                Matched { id, created: false, generalised }
            }
            None => {
                let owned: Vec<String> = tokens.iter().map(|t| (*t).to_owned()).collect();
                let mut id = template_id(&owned);
                // Another template first seen with the same tokens (it generalised since):
                // derive a distinct id deterministically.
                let mut salt = 0u64;
                while self.by_id.contains_key(&id) {
                    salt += 1;
                    let mut h = crate::hash::StableHasher::new();
                    h.u64(id.0).u64(salt);
                    id = TemplateId(h.finish());
                }
                let cluster = Cluster { id, tokens: owned, count: 1 };
                let idx = self.insert_slot(cluster);
                self.leaf_mut(tokens).clusters.push(idx);
                self.enforce_cap();
                Matched { id, created: true, generalised: false }
            }
        }
    }

    fn prefix_len(&self, n: usize) -> usize {
        (self.config.depth - 2).min(n)
    }

    fn leaf(&self, tokens: &[&str]) -> Option<&Node> {
        let mut node = self.roots.get(&tokens.len())?;
        for t in &tokens[..self.prefix_len(tokens.len())] {
            node = match (is_variable(t), node.children.get(*t)) {
                (false, Some(child)) => child,
                _ => node.wildcard.as_deref()?,
            };
        }
        Some(node)
    }

    fn leaf_mut(&mut self, tokens: &[&str]) -> &mut Node {
        let max_children = self.config.max_children;
        let depth = self.prefix_len(tokens.len());
        let mut node = self.roots.entry(tokens.len()).or_default();
        for t in &tokens[..depth] {
            let literal = !is_variable(t) && (node.children.contains_key(*t) || node.children.len() < max_children);
            node = if literal {
                node.children.entry((*t).to_owned()).or_default()
            } else {
                node.wildcard.get_or_insert_with(Default::default)
            };
        }
        node
    }

    /// The most similar cluster of a leaf at or above the threshold: (slot, similarity).
    fn best(&self, leaf: &Node, tokens: &[&str]) -> Option<(usize, f64)> {
        let mut best: Option<(usize, f64, usize)> = None;
        for &idx in &leaf.clusters {
            let c = &self.slots[idx].as_ref().expect("live").cluster;
            let (mut same, mut wild) = (0usize, 0usize);
            for (t, l) in c.tokens.iter().zip(tokens) {
                if t == WILDCARD {
                    wild += 1;
                } else if t == *l {
                    same += 1;
                }
            }
            let sim = (same + wild) as f64 / tokens.len() as f64;
            let better = match best {
                None => true,
                Some((_, s, w)) => sim > s || (sim == s && wild > w),
            };
            if better {
                best = Some((idx, sim, wild));
            }
        }
        best.filter(|(_, s, _)| *s >= self.config.similarity).map(|(i, s, _)| (i, s))
    }

    fn insert_slot(&mut self, cluster: Cluster) -> usize {
        let id = cluster.id;
        let slot = Slot { cluster, prev: None, next: self.head };
        let idx = match self.free.pop() {
            Some(i) => {
                self.slots[i] = Some(slot);
                i
            }
            None => {
                self.slots.push(Some(slot));
                self.slots.len() - 1
            }
        };
        if let Some(h) = self.head {
            self.slots[h].as_mut().expect("live").prev = Some(idx);
        }
        self.head = Some(idx);
        if self.tail.is_none() {
            self.tail = Some(idx);
        }
        self.by_id.insert(id, idx);
        self.live += 1;
        idx
    }

    fn unlink(&mut self, idx: usize) {
        let (prev, next) = {
            let s = self.slots[idx].as_ref().expect("live");
            (s.prev, s.next)
        };
        match prev {
            Some(p) => self.slots[p].as_mut().expect("live").next = next,
            None => self.head = next,
        }
        match next {
            Some(n) => self.slots[n].as_mut().expect("live").prev = prev,
            None => self.tail = prev,
        }
    }

    fn touch(&mut self, idx: usize) {
        if self.head == Some(idx) {
            return;
        }
        self.unlink(idx);
        let old = self.head;
        {
            let s = self.slots[idx].as_mut().expect("live");
            s.prev = None;
            s.next = old;
        }
        if let Some(h) = old {
            self.slots[h].as_mut().expect("live").prev = Some(idx);
        }
        self.head = Some(idx);
        if self.tail.is_none() {
            self.tail = Some(idx);
        }
    }

    fn enforce_cap(&mut self) {
        while self.live > self.config.max_clusters {
            let Some(victim) = self.tail else { return };
            self.unlink(victim);
            let slot = self.slots[victim].take().expect("live");
            self.by_id.remove(&slot.cluster.id);
            self.evicted_ids.push(slot.cluster.id);
            self.free.push(victim);
            self.live -= 1;
            self.evicted += 1;
            let tokens = slot.cluster.tokens;
            self.remove_from_leaf(&tokens, victim);
        }
    }

    /// Removes a slot from the leaf its original routing put it in (the routing of a cluster's
    /// prefix tokens never changes: they are not generalised at or above the leaf).
    fn remove_from_leaf(&mut self, tokens: &[String], idx: usize) {
        let depth = self.prefix_len(tokens.len());
        let Some(mut node) = self.roots.get_mut(&tokens.len()) else { return };
        for t in &tokens[..depth] {
            let next = if !is_variable(t) && node.children.contains_key(t.as_str()) {
                node.children.get_mut(t.as_str())
            } else {
                node.wildcard.as_deref_mut()
            };
            match next {
                Some(n) => node = n,
                None => return,
            }
        }
        node.clusters.retain(|i| *i != idx);
    }
}

#[cfg(test)]
mod tests;
