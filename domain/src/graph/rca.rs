//! Root-cause analysis over one tenant's graph: which service changed, and how.
//!
//! The range asked about is split in two at the moment that best separates "before" from "after"
//! (the split, on a 10 s slot boundary with at least two slots each side, where the largest
//! change of any service is largest), so the caller need not know when the fault began. Each
//! node is then scored by the largest of its changes against *its own* baseline (the time before
//! the split):
//! - **self time**: the typical time its spans spend on their own work (not waiting on calls),
//!   as the change of the mean `ln(1 + ms)`, so a slow leaf is blamed, not its callers;
//! - **errors**: the rise of the error rate of the calls entering it (×3, so a rise of a third is
//!   worth a doubling of latency);
//! - every change is discounted by how sure it is (Welch's t for latencies, a two-proportion z
//!   for errors; three standard errors count fully), so noise over few calls does not win;
//! - **edge gap**: the time a caller waits beyond what the node itself took to serve the call —
//!   a network delay towards a node shows as its callers' wait growing while its own serving
//!   time does not, and is charged to the node; but the part of the rise that *every* call of
//!   that caller shows (the median over its edges) is the caller's (a starved caller is late to
//!   read every answer), charged to it as `waits_on_every_call`; the waits of all its callers
//!   are also taken together, so a delay towards a rarely called service shows even when no
//!   single caller called it often enough before;
//! - for peers (databases, brokers, external APIs), the latency its callers see;
//! - **error logs**, **fan-out** and **stopping early** (requests that no longer make the calls
//!   requests of their operation used to make; see their functions);
//! - **cpu** / **memory**: the utilisation of its busiest instance against its own baseline.
//!
//! With `focus` (a symptomatic service), only that service and what it calls, transitively, are
//! candidates.

use super::peer::NodeKind;
use super::stats::{Red, SLOT_NS};
use super::{NodeKey, ServiceGraph};
use crate::ids::TraceId;
use crate::template::TemplateId;
use std::collections::HashSet;

/// Calls needed after the split (and, for error rates and fan-out, before it) for a signal to
/// count.
pub const MIN_CALLS: u64 = 5;
/// Calls a latency baseline needs: a rarely called service often has only a few before a
/// change; with [`LOG_VAR_FLOOR`] and the t discount two are enough to show a large shift.
pub const MIN_BASELINE_CALLS: u64 = 2;
/// The most a fan-out change scores.
const FAN_OUT_MAX: f64 = 1.0;
/// Latency floor of the ratios (1 ms), so tiny absolute changes of very fast things do not dominate.
const ERROR_WEIGHT: f64 = 3.0;

/// A signal scoring less than this did not move: it is not shown as evidence.
pub const EVIDENCE_MIN_SCORE: f64 = 0.01;

/// One signal that moved.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Evidence {
    /// `self_time`, `errors`, `error_logs`, `edge_gap`, `waits_on_every_call`, `fan_out`,
    /// `stops_early`, `peer_latency`, `cpu` or `memory`.
    pub signal: &'static str,
    /// The caller, for an edge gap.
    pub via: Option<String>,
    /// The instance (pod, host) whose utilisation rose, for `cpu` and `memory`.
    pub instance: Option<String>,
    /// The log template that rose most, for error logs.
    pub template: Option<TemplateId>,
    /// The operation whose requests changed, for `stops_early`.
    pub operation: Option<String>,
    /// What those requests no longer call, for `stops_early`.
    pub no_longer_calls: Vec<String>,
    /// A trace that shows the change, when the signal has one of its own (`stops_early`: a
    /// request that stopped short).
    pub example: Option<TraceId>,
    /// Before and after the split: mean ns (latencies) or a rate 0..1 (errors).
    pub baseline: f64,
    pub recent: f64,
    /// The signal's contribution to the score.
    pub score: f64,
    pub baseline_calls: u64,
    pub recent_calls: u64,
}

/// A ranked candidate.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub kind: NodeKind,
    pub name: String,
    /// The operation and the instance (pod, host) of the service that changed most, if any did.
    pub operation: Option<String>,
    pub instance: Option<String>,
    pub score: f64,
    /// The signals behind the score, largest first.
    pub evidence: Vec<Evidence>,
    /// Traces after the change that show it: failed ones for error signals, else the slowest.
    pub example_traces: Vec<TraceId>,
}

/// The answer: where the range was split and the candidates, best first.
#[derive(Debug, Clone, PartialEq)]
pub struct RcaResult {
    pub split_ns: i64,
    pub candidates: Vec<Candidate>,
}

/// The least variance of `ln(1 + ms)` assumed of a side (≈ a ±30 % spread of latencies), so two
/// calls that happen to agree do not make a baseline look certain.
const LOG_VAR_FLOOR: f64 = 0.1;

/// How sure a change is: its t statistic over this, capped at 1 (a change of three standard
/// errors counts fully, a smaller one in proportion), so noise on a handful of calls does not
/// outrank a real shift.
const SURE_AT: f64 = 3.0;

/// A latency change: the difference of the mean `ln(1 + ms)` (the log of the ratio of typical
/// latencies, with a 1 ms floor), discounted by how sure it is (Welch's t).
fn latency_score(before: &Red, after: &Red) -> Option<f64> {
    if before.calls < MIN_BASELINE_CALLS || after.calls < MIN_CALLS {
        return None;
    }
    let effect = after.log_mean - before.log_mean;
    let se = (before.log_var.max(LOG_VAR_FLOOR) / before.calls as f64
        + after.log_var.max(LOG_VAR_FLOOR) / after.calls as f64)
        .sqrt();
    let sure = if se > 0.0 { (effect.abs() / se / SURE_AT).min(1.0) } else { 1.0 };
    Some(effect * sure)
}

/// An error-rate rise, weighted and discounted by a two-proportion z statistic.
fn error_score(before: &Red, after: &Red) -> Option<f64> {
    if before.calls < MIN_CALLS || after.calls < MIN_CALLS {
        return None;
    }
    let effect = after.error_rate - before.error_rate;
    let pooled = (before.errors + after.errors) as f64 / (before.calls + after.calls) as f64;
    let se = (pooled * (1.0 - pooled) * (1.0 / before.calls as f64 + 1.0 / after.calls as f64)).sqrt();
    let sure = if se > 0.0 { (effect.abs() / se / SURE_AT).min(1.0) } else { 1.0 };
    Some(ERROR_WEIGHT * effect * sure)
}

fn evidence(signal: &'static str, via: Option<String>, b: &Red, a: &Red, score: f64, latency: bool) -> Evidence {
    Evidence {
        signal,
        via,
        baseline: if latency { b.mean_ns } else { b.error_rate },
        recent: if latency { a.mean_ns } else { a.error_rate },
        score,
        baseline_calls: b.calls,
        recent_calls: a.calls,
        ..Evidence::default()
    }
}

/// Gap changes of every edge into an instrumented service for one split, split into what is
/// common to all of a caller's calls (the caller's own slowness: a starved caller is late to
/// read every answer) and what is specific to one callee (a network delay towards it).
struct Gaps {
    /// Per callee: (caller, specific score, before, after).
    into: Vec<(NodeKey, String, f64, Red, Red)>,
    /// Per callee with two or more callers: the waits of all its callers together (specific
    /// score, before, after, callers) — a delay towards a rarely called service shows on every
    /// caller, each with too few calls to tell alone.
    pooled: Vec<(NodeKey, f64, Red, Red, usize)>,
    /// Per caller: the median of its edges' gap scores, with how many edges.
    caller_wide: Vec<(String, f64, usize)>,
}

fn gaps(graph: &ServiceGraph, start: i64, split: i64, end: i64) -> Gaps {
    type Sides = (NodeKey, Option<f64>, Red, Red);
    let mut per_caller: std::collections::BTreeMap<&str, Vec<Sides>> = Default::default();
    for ((caller, to), edge) in &graph.edges {
        if to.0 != NodeKind::Service {
            continue;
        }
        let (b, a) = (edge.gap.summary(start, split), edge.gap.summary(split, end));
        if b.calls + a.calls > 0 {
            per_caller.entry(caller.as_str()).or_default().push((to.clone(), latency_score(&b, &a), b, a));
        }
    }
    let mut out = Gaps { into: Vec::new(), pooled: Vec::new(), caller_wide: Vec::new() };
    // Per callee: (what its caller explains, before, after) of every edge into it.
    let mut by_callee: std::collections::BTreeMap<NodeKey, Vec<(f64, Red, Red)>> = Default::default();
    for (caller, edges) in per_caller {
        let mut scores: Vec<f64> = edges.iter().filter_map(|e| e.1).collect();
        scores.sort_by(f64::total_cmp);
        // The lower median: the rise most of the caller's edges share. With one edge nothing
        // separates caller from callee: all of it is the callee's.
        let common = if scores.len() >= 2 { scores[(scores.len() - 1) / 2].max(0.0) } else { 0.0 };
        if !scores.is_empty() {
            out.caller_wide.push((caller.to_owned(), common, scores.len()));
        }
        // A caller whose own CPU ran out is late to read its answers: that much of every wait
        // is explained by the caller, not by the network towards its callees.
        let starved = graph
            .node(NodeKind::Service, caller)
            .and_then(|n| utilization_rise(n, start, split, end).into_iter().find(|e| e.signal == "cpu"))
            .map_or(0.0, |e| e.score.max(0.0));
        let explained = common.max(starved);
        for (to, score, b, a) in edges {
            if let Some(score) = score {
                out.into.push((to.clone(), caller.to_owned(), score - explained, b, a));
            }
            by_callee.entry(to).or_default().push((explained, b, a));
        }
    }
    for (to, parts) in by_callee {
        if parts.len() < 2 {
            continue;
        }
        let (b, a) = (Red::pooled(parts.iter().map(|p| &p.1)), Red::pooled(parts.iter().map(|p| &p.2)));
        let Some(score) = latency_score(&b, &a) else { continue };
        // What the callers explain, weighted by their calls after the split.
        let explained = parts.iter().map(|p| p.0 * p.2.calls as f64).sum::<f64>() / a.calls.max(1) as f64;
        out.pooled.push((to, score - explained, b, a, parts.len()));
    }
    out
}

/// Every signal of one node for the split at `split`.
fn signals(graph: &ServiceGraph, gaps: &Gaps, key: &NodeKey, start: i64, split: i64, end: i64) -> Vec<Evidence> {
    let Some(node) = graph.nodes.get(key) else { return Vec::new() };
    let mut out = Vec::new();
    let (eb, ea) = (node.entered.summary(start, split), node.entered.summary(split, end));
    if key.0 == NodeKind::Service {
        let (sb, sa) = (node.self_time.summary(start, split), node.self_time.summary(split, end));
        if let Some(score) = latency_score(&sb, &sa) {
            out.push(evidence("self_time", None, &sb, &sa, score, true));
        }
        for (_, common, edges) in gaps.caller_wide.iter().filter(|(c, _, _)| *c == key.1) {
            out.push(Evidence {
                signal: "waits_on_every_call",
                baseline: 0.0,
                recent: 0.0,
                score: *common,
                baseline_calls: *edges as u64,
                recent_calls: *edges as u64,
                ..Evidence::default()
            });
        }
        for (_, via, score, b, a) in gaps.into.iter().filter(|g| g.0 == *key) {
            out.push(evidence("edge_gap", Some(via.clone()), b, a, *score, true));
        }
        for (_, score, b, a, _) in gaps.pooled.iter().filter(|g| g.0 == *key) {
            out.push(evidence("edge_gap", None, b, a, *score, true));
        }
    } else if let Some(score) = latency_score(&eb, &ea) {
        out.push(evidence("peer_latency", None, &eb, &ea, score, true));
    }
    if let Some(score) = error_score(&eb, &ea) {
        out.push(evidence("errors", None, &eb, &ea, score, false));
    }
    if let Some(e) = error_log_rise(node, &eb, &ea, start, split, end) {
        out.push(e);
    }
    if let Some(e) = fan_out_change(graph, key, &eb, &ea, start, split, end) {
        out.push(e);
    }
    if let Some(e) = stops_early(node, start, split, end) {
        out.push(e);
    }
    out.extend(utilization_rise(node, start, split, end));
    out.sort_by(|a, b| b.score.total_cmp(&a.score));
    out
}

/// Error log lines beyond what each template's rate before the split predicts (with half a line
/// of prior, so a template never seen before counts nearly whole), each discounted by how sure its rise is (a Poisson z: the excess
/// over the square root of the expected count plus one), as a share of the calls entering the
/// service after the split (at least [`MIN_CALLS`]), weighted like an error-rate rise. A wrong
/// answer or a swallowed exception often shows only here: in new error lines of the service
/// that produced it, while its calls still succeed.
fn error_log_rise(
    node: &super::Node,
    entered_before: &Red,
    entered_after: &Red,
    start: i64,
    split: i64,
    end: i64,
) -> Option<Evidence> {
    // Lines are news only against a time the service was seen working.
    if entered_before.calls < MIN_CALLS {
        return None;
    }
    let (before_s, after_s) = ((split - start).max(1) as f64, (end - split).max(1) as f64);
    let (mut excess, mut lines_before, mut lines_after) = (0.0, 0u64, 0u64);
    let mut top: Option<(f64, TemplateId)> = None;
    for (template, counts) in &node.error_logs {
        let (b, a) = (counts.count(start, split), counts.count(split, end));
        lines_before += b;
        lines_after += a;
        // Half a line of prior: a template unseen before the split is new only when the
        // baseline was long enough to have shown it — a short baseline makes weak news.
        let expected = (b as f64 + 0.5) * after_s / before_s;
        let rise = a as f64 - expected;
        if rise <= 0.0 {
            continue;
        }
        let sure = (rise / (expected + 1.0).sqrt() / SURE_AT).min(1.0);
        excess += rise * sure;
        if top.is_none_or(|(r, _)| rise * sure > r) {
            top = Some((rise * sure, *template));
        }
    }
    let (_, template) = top?;
    let calls = entered_after.calls.max(MIN_CALLS) as f64;
    let share = (excess / calls).min(1.0);
    Some(Evidence {
        signal: "error_logs",
        template: Some(template),
        baseline: lines_before as f64 / (before_s / 1e9),
        recent: lines_after as f64 / (after_s / 1e9),
        score: ERROR_WEIGHT * share,
        baseline_calls: lines_before,
        recent_calls: lines_after,
        ..Evidence::default()
    })
}

/// Utilisation below this share of a resource is idle headroom: a rise from 1 % to 5 % is no
/// news, one from 10 % to 100 % is.
const UTILIZATION_FLOOR: f64 = 0.1;

/// Per resource (CPU, memory), the instance whose utilisation rose most: the change of
/// `ln(floor + mean utilisation)` from before the split to after (so it reads like a latency
/// ratio: a saturated core from 10 % is ≈ 1.7), discounted by how far the rise is beyond the
/// baseline's own spread (at least half the floor; three spreads count fully). A starved or
/// leaking instance shows here even when its spans are the only other witness.
fn utilization_rise(node: &super::Node, start: i64, split: i64, end: i64) -> Vec<Evidence> {
    let mut out = Vec::new();
    let mut resources: Vec<_> = node.utilization.iter().collect();
    resources.sort_by_key(|(r, _)| **r);
    for (resource, per_instance) in resources {
        let best = per_instance
            .iter()
            .filter_map(|(instance, values)| {
                let (b, a) = (values.summary(start, split), values.summary(split, end));
                if b.count == 0 || a.count == 0 {
                    return None;
                }
                let effect = ((UTILIZATION_FLOOR + a.mean.max(0.0)) / (UTILIZATION_FLOOR + b.mean.max(0.0))).ln();
                let spread = b.std_dev.max(UTILIZATION_FLOOR / 2.0);
                let sure = ((a.mean - b.mean).abs() / spread / SURE_AT).min(1.0);
                Some((effect * sure, instance, b, a))
            })
            .max_by(|x, y| x.0.total_cmp(&y.0).then_with(|| y.1.cmp(x.1)));
        if let Some((score, instance, b, a)) = best {
            out.push(Evidence {
                signal: resource.as_str(),
                instance: (!instance.is_empty()).then(|| instance.clone()),
                baseline: b.mean,
                recent: a.mean,
                score,
                baseline_calls: b.count,
                recent_calls: a.count,
                ..Evidence::default()
            });
        }
    }
    out
}

/// How many calls a service makes per call it serves, edge by edge, before and after the split:
/// a service that starts to answer differently (a wrong value, an early return, a retry loop)
/// changes what it calls next on most of its edges at once, while a change of its traffic mix
/// moves only some. Scored as the (lower) median over its edges of the change of
/// `ln(calls per request)`, each discounted by a Poisson standard error; needs two edges.
fn fan_out_change(
    graph: &ServiceGraph,
    key: &NodeKey,
    entered_before: &Red,
    entered_after: &Red,
    start: i64,
    split: i64,
    end: i64,
) -> Option<Evidence> {
    if key.0 != NodeKind::Service || entered_before.calls < MIN_CALLS || entered_after.calls < MIN_CALLS {
        return None;
    }
    let (nb, na) = (entered_before.calls as f64, entered_after.calls as f64);
    let mut changes: Vec<(f64, f64, f64)> = Vec::new();
    for ((caller, _), edge) in &graph.edges {
        if *caller != key.1 {
            continue;
        }
        let (b, a) = (edge.client.summary(start, split).calls as f64, edge.client.summary(split, end).calls as f64);
        if b + a < MIN_CALLS as f64 {
            continue;
        }
        let (b, a) = (b + 0.5, a + 0.5);
        let effect = (a / na).ln() - (b / nb).ln();
        let se = (1.0 / a + 1.0 / b + 1.0 / na + 1.0 / nb).sqrt();
        let sure = (effect.abs() / se / SURE_AT).min(1.0);
        changes.push((effect.abs() * sure, b / nb, a / na));
    }
    if changes.len() < 2 {
        return None;
    }
    changes.sort_by(|x, y| x.0.total_cmp(&y.0));
    let (score, before, after) = changes[(changes.len() - 1) / 2];
    // A change of what it calls is indirect evidence (a new request mix moves it too): at most
    // as strong as an e-fold change of latency.
    let score = score.min(FAN_OUT_MAX);
    Some(Evidence {
        signal: "fan_out",
        baseline: before,
        recent: after,
        score,
        baseline_calls: entered_before.calls,
        recent_calls: entered_after.calls,
        ..Evidence::default()
    })
}

/// How much the share of `n_before` / `n_after` requests that `before` / `after` make changed:
/// the log of the ratio of shares (half a request of prior each, so a shape never seen before
/// counts nearly whole), discounted by a Poisson z of the count after against what the share
/// before predicts (three standard errors count fully).
fn share_change(before: u64, after: u64, n_before: u64, n_after: u64) -> f64 {
    let (b, a, nb, na) = (before as f64 + 0.5, after as f64 + 0.5, n_before as f64, n_after as f64);
    let expected = b * na / nb;
    let z = (after as f64 - expected).abs() / (expected + 1.0).sqrt();
    ((a / na).ln() - (b / nb).ln()) * (z / SURE_AT).min(1.0)
}

/// Requests that stop short: for one operation of the service, requests that call a set of
/// services and peers became more common while requests of the same operation that call
/// strictly more became rarer (the lesser of the two changes, see [`share_change`]). A service
/// that starts to throw or to return a wrong value answers before making the calls it used to
/// make after that point, while nothing slows down or is marked failed. Compared within an
/// operation, so a new mix of requests is not taken for it.
fn stops_early(node: &super::Node, start: i64, split: i64, end: i64) -> Option<Evidence> {
    /// Per operation: requests before and after, and each shape's (mask, before, after, example).
    type PerOperation = (u64, u64, Vec<(u64, u64, u64, Option<TraceId>)>);
    let mut ops: hashbrown::HashMap<&str, PerOperation> = hashbrown::HashMap::new();
    for shape in node.shapes.iter() {
        let (b, a) = (shape.counts.count(start, split), shape.counts.count(split, end));
        if b + a == 0 {
            continue;
        }
        let e = ops.entry(shape.operation).or_default();
        e.0 += b;
        e.1 += a;
        e.2.push((shape.mask, b, a, shape.example));
    }
    type Best<'a> = (f64, &'a str, u64, u64, (u64, u64), (u64, u64), Option<TraceId>);
    let mut best: Option<Best> = None;
    for (op, (nb, na, shapes)) in &ops {
        if *nb < MIN_CALLS || *na < MIN_CALLS {
            continue;
        }
        for &(short, b1, a1, example) in shapes {
            let rise = share_change(b1, a1, *nb, *na);
            if rise <= 0.0 {
                continue;
            }
            for &(long, b0, a0, _) in shapes {
                if long == short || short & !long != 0 {
                    continue;
                }
                let score = rise.min(-share_change(b0, a0, *nb, *na));
                let better = best.is_none_or(|(s, o, l, sh, ..)| {
                    score.total_cmp(&s).then_with(|| (o, l, sh).cmp(&(op, long, short))).is_gt()
                });
                if score > 0.0 && better {
                    best = Some((score, op, long, short, (b1, a1), (*nb, *na), example));
                }
            }
        }
    }
    let (score, op, long, short, (b1, a1), (nb, na), example) = best?;
    Some(Evidence {
        example,
        signal: "stops_early",
        operation: Some(op.to_owned()),
        no_longer_calls: node.shapes.callee_names(long & !short),
        baseline: b1 as f64 / nb as f64,
        recent: a1 as f64 / na as f64,
        // At most what a wrong answer shows as otherwise: errors or new error lines.
        score: score.min(ERROR_WEIGHT),
        baseline_calls: nb,
        recent_calls: na,
        ..Evidence::default()
    })
}

/// The key (operation or instance) whose calls changed most (latency or errors), if one did.
fn most_changed(
    parts: &hashbrown::HashMap<String, super::stats::Windowed>,
    start: i64,
    split: i64,
    end: i64,
) -> Option<String> {
    parts
        .iter()
        .filter_map(|(k, w)| {
            let (b, a) = (w.summary(start, split), w.summary(split, end));
            let s = latency_score(&b, &a).unwrap_or(0.0).max(error_score(&b, &a).unwrap_or(0.0));
            (s > 1e-9).then_some((s, k))
        })
        .max_by(|x, y| x.0.total_cmp(&y.0).then_with(|| y.1.cmp(x.1)))
        .map(|(_, k)| k.clone())
}

fn score_of(evidence: &[Evidence]) -> f64 {
    evidence.first().map_or(0.0, |e| e.score.max(0.0))
}

/// Ranks the nodes of `graph` by how much they changed within `[start_ns, end_ns)`; at most
/// `limit` candidates, only those with a positive score.
pub fn rank(graph: &ServiceGraph, start_ns: i64, end_ns: i64, focus: Option<&str>, limit: usize) -> RcaResult {
    let candidates: Vec<NodeKey> = match focus {
        Some(service) => {
            let root = (NodeKind::Service, service.to_owned());
            let mut set: HashSet<NodeKey> =
                graph.adjacency().downstream(&root, usize::MAX).into_iter().map(|r| r.node).collect();
            set.insert(root);
            let mut v: Vec<NodeKey> = set.into_iter().collect();
            v.sort();
            v
        }
        None => {
            let mut v: Vec<NodeKey> = graph.nodes.keys().cloned().collect();
            v.sort();
            v
        }
    };
    // The baseline starts where the spans do: a range reaching back before any data would
    // otherwise offer splits whose "before" is empty, and everything would look new after them.
    let start_ns = graph
        .nodes
        .values()
        .filter_map(|n| n.entered.first_slot_start(start_ns, end_ns))
        .min()
        .map_or(start_ns, |first| first.max(start_ns));
    let first_slot = -(-start_ns).div_euclid(SLOT_NS);
    let last_slot = end_ns.div_euclid(SLOT_NS);
    let splits: Vec<i64> = ((first_slot + 2)..=(last_slot - 1)).map(|s| s * SLOT_NS).collect();
    let splits = if splits.is_empty() { vec![start_ns + (end_ns - start_ns) / 2] } else { splits };
    // The split where the largest change of any node is largest.
    let mut best: Option<(f64, i64)> = None;
    for split in &splits {
        let g = gaps(graph, start_ns, *split, end_ns);
        let top =
            candidates.iter().map(|k| score_of(&signals(graph, &g, k, start_ns, *split, end_ns))).fold(0.0, f64::max);
        if best.is_none_or(|(s, _)| top > s) {
            best = Some((top, *split));
        }
    }
    let split = best.map_or(splits[0], |(_, s)| s);
    let g = gaps(graph, start_ns, split, end_ns);
    let mut ranked: Vec<Candidate> = candidates
        .into_iter()
        .map(|(kind, name)| {
            let mut evidence = signals(graph, &g, &(kind, name.clone()), start_ns, split, end_ns);
            let score = score_of(&evidence);
            // Only the signals that moved are evidence.
            evidence.retain(|e| e.score >= EVIDENCE_MIN_SCORE);
            let node = graph.node(kind, &name);
            // A saturated instance is named by its utilisation; otherwise by its calls.
            let saturated = evidence.first().and_then(|e| e.instance.clone());
            let failures = evidence.first().is_some_and(|e| matches!(e.signal, "errors" | "error_logs"));
            Candidate {
                kind,
                operation: node.and_then(|n| most_changed(&n.operations, start_ns, split, end_ns)),
                instance: saturated.or_else(|| node.and_then(|n| most_changed(&n.instances, start_ns, split, end_ns))),
                example_traces: {
                    // The top signal's own example first, then the node's (failed or slowest).
                    let mut traces: Vec<TraceId> = evidence.first().and_then(|e| e.example).into_iter().collect();
                    for t in node.map(|n| n.examples.pick(split, end_ns, failures, 3)).unwrap_or_default() {
                        if traces.len() < 3 && !traces.contains(&t) {
                            traces.push(t);
                        }
                    }
                    traces
                },
                name,
                score,
                evidence,
            }
        })
        // A node none of whose signals moved is not a candidate.
        .filter(|c| c.score >= EVIDENCE_MIN_SCORE)
        .collect();
    ranked.sort_by(|a, b| b.score.total_cmp(&a.score).then_with(|| a.name.cmp(&b.name)));
    ranked.truncate(limit);
    RcaResult { split_ns: split, candidates: ranked }
}

#[cfg(test)]
#[path = "rca_tests.rs"]
mod tests;
