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
//!   read every answer), charged to it as `waits_on_every_call`;
//! - for peers (databases, brokers, external APIs), the latency its callers see;
//! - **error logs** and **fan-out** (see their functions);
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
#[derive(Debug, Clone, PartialEq)]
pub struct Evidence {
    /// `self_time`, `errors`, `error_logs`, `edge_gap`, `waits_on_every_call`, `fan_out`,
    /// `peer_latency`, `cpu` or `memory`.
    pub signal: &'static str,
    /// The caller, for an edge gap.
    pub via: Option<String>,
    /// The instance (pod, host) whose utilisation rose, for `cpu` and `memory`.
    pub instance: Option<String>,
    /// The log template that rose most, for error logs.
    pub template: Option<TemplateId>,
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
        instance: None,
        template: None,
        baseline: if latency { b.mean_ns } else { b.error_rate },
        recent: if latency { a.mean_ns } else { a.error_rate },
        score,
        baseline_calls: b.calls,
        recent_calls: a.calls,
    }
}

/// Gap changes of every edge into an instrumented service for one split, split into what is
/// common to all of a caller's calls (the caller's own slowness: a starved caller is late to
/// read every answer) and what is specific to one callee (a network delay towards it).
struct Gaps {
    /// Per callee: (caller, specific score, before, after).
    into: Vec<(NodeKey, String, f64, Red, Red)>,
    /// Per caller: the median of its edges' gap scores, with how many edges.
    caller_wide: Vec<(String, f64, usize)>,
}

fn gaps(graph: &ServiceGraph, start: i64, split: i64, end: i64) -> Gaps {
    let mut per_caller: std::collections::BTreeMap<&str, Vec<(NodeKey, f64, Red, Red)>> = Default::default();
    for ((caller, to), edge) in &graph.edges {
        if to.0 != NodeKind::Service {
            continue;
        }
        let (b, a) = (edge.gap.summary(start, split), edge.gap.summary(split, end));
        if let Some(score) = latency_score(&b, &a) {
            per_caller.entry(caller.as_str()).or_default().push((to.clone(), score, b, a));
        }
    }
    let mut out = Gaps { into: Vec::new(), caller_wide: Vec::new() };
    for (caller, edges) in per_caller {
        let mut scores: Vec<f64> = edges.iter().map(|e| e.1).collect();
        scores.sort_by(f64::total_cmp);
        // The lower median: the rise most of the caller's edges share. With one edge nothing
        // separates caller from callee: all of it is the callee's.
        let common = if scores.len() >= 2 { scores[(scores.len() - 1) / 2].max(0.0) } else { 0.0 };
        out.caller_wide.push((caller.to_owned(), common, scores.len()));
        // A caller whose own CPU ran out is late to read its answers: that much of every wait
        // is explained by the caller, not by the network towards its callees.
        let starved = graph
            .node(NodeKind::Service, caller)
            .and_then(|n| utilization_rise(n, start, split, end).into_iter().find(|e| e.signal == "cpu"))
            .map_or(0.0, |e| e.score.max(0.0));
        let explained = common.max(starved);
        for (to, score, b, a) in edges {
            out.into.push((to, caller.to_owned(), score - explained, b, a));
        }
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
                via: None,
                instance: None,
                template: None,
                baseline: 0.0,
                recent: 0.0,
                score: *common,
                baseline_calls: *edges as u64,
                recent_calls: *edges as u64,
            });
        }
        for (_, via, score, b, a) in gaps.into.iter().filter(|g| g.0 == *key) {
            out.push(evidence("edge_gap", Some(via.clone()), b, a, *score, true));
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
        via: None,
        instance: None,
        template: Some(template),
        baseline: lines_before as f64 / (before_s / 1e9),
        recent: lines_after as f64 / (after_s / 1e9),
        score: ERROR_WEIGHT * share,
        baseline_calls: lines_before,
        recent_calls: lines_after,
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
                via: None,
                instance: (!instance.is_empty()).then(|| instance.clone()),
                template: None,
                baseline: b.mean,
                recent: a.mean,
                score,
                baseline_calls: b.count,
                recent_calls: a.count,
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
        via: None,
        instance: None,
        template: None,
        baseline: before,
        recent: after,
        score,
        baseline_calls: entered_before.calls,
        recent_calls: entered_after.calls,
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
                example_traces: node.map(|n| n.examples.pick(split, end_ns, failures, 3)).unwrap_or_default(),
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
mod tests {
    use super::*;
    use crate::graph::GraphLimits;
    use crate::graph::trace::{Call, Entry, SelfTime, TraceFacts};

    const S: i64 = 1_000_000_000;
    const MS: i64 = 1_000_000;
    const NOW: i64 = 1_700_000_000 * S;

    /// frontend → checkout → payment, one trace per second for 3 minutes; from `fault_at` on,
    /// `fault` changes the numbers.
    fn system(fault: &dyn Fn(&mut Timings), fault_at: i64) -> ServiceGraph {
        let mut g = ServiceGraph::new(GraphLimits::default());
        for sec in 0..180 {
            let t = NOW - (180 - sec) * S;
            let mut tm = Timings::default();
            if sec >= fault_at {
                fault(&mut tm);
            }
            let e = |service: &'static str, d: i64, error: bool| Entry {
                service,
                operation: "op",
                instance: "",
                end_ns: t,
                duration_ns: d,
                self_ns: 0,
                error,
            };
            let own = |service: &'static str, d: i64| SelfTime {
                service,
                operation: "op",
                end_ns: t,
                self_ns: d,
                error: false,
            };
            let payment = tm.payment_self;
            let checkout_serve = tm.checkout_self + tm.gap_to_payment + payment;
            let facts = TraceFacts {
                trace_id: None,
                entries: vec![
                    e("frontend", 2 * MS + checkout_serve + 2 * MS, false),
                    e("checkout", checkout_serve, false),
                    e("payment", payment, tm.payment_errors && sec % 2 == 0),
                ],
                calls: vec![
                    Call {
                        caller: "frontend",
                        callee_kind: NodeKind::Service,
                        callee: "checkout",
                        end_ns: t,
                        client_ns: checkout_serve + 2 * MS,
                        server_ns: Some(checkout_serve),
                        error: false,
                    },
                    Call {
                        caller: "checkout",
                        callee_kind: NodeKind::Service,
                        callee: "payment",
                        end_ns: t,
                        client_ns: payment + tm.gap_to_payment,
                        server_ns: Some(payment),
                        error: false,
                    },
                ],
                self_times: vec![own("frontend", 2 * MS), own("checkout", tm.checkout_self), own("payment", payment)],
            };
            g.apply(&facts, NOW);
        }
        g
    }

    /// An entry into `service` at `t` that took 5 ms, all of it its own.
    fn plain_entry(service: &'static str, t: i64) -> Entry<'static> {
        Entry { service, operation: "op", instance: "", end_ns: t, duration_ns: 5 * MS, self_ns: 5 * MS, error: false }
    }

    struct Timings {
        checkout_self: i64,
        payment_self: i64,
        gap_to_payment: i64,
        payment_errors: bool,
    }

    impl Default for Timings {
        fn default() -> Self {
            Self { checkout_self: 5 * MS, payment_self: 10 * MS, gap_to_payment: MS, payment_errors: false }
        }
    }

    #[test]
    fn the_changed_service_ranks_first_whatever_the_kind_of_change() {
        type Fault = Box<dyn Fn(&mut Timings)>;
        let cases: Vec<(&str, Fault, &str, &str)> = vec![
            ("slow leaf", Box::new(|t| t.payment_self = 80 * MS), "payment", "self_time"),
            ("slow middle", Box::new(|t| t.checkout_self = 60 * MS), "checkout", "self_time"),
            ("network delay towards payment", Box::new(|t| t.gap_to_payment = 70 * MS), "payment", "edge_gap"),
            ("payment fails half its calls", Box::new(|t| t.payment_errors = true), "payment", "errors"),
        ];
        for (name, fault, want, signal) in cases {
            let g = system(&*fault, 100);
            let r = rank(&g, NOW - 180 * S, NOW, None, 5);
            assert_eq!(r.candidates[0].name, want, "{name}: {:?}", r.candidates);
            assert_eq!(r.candidates[0].evidence[0].signal, signal, "{name}");
            let split_s = (r.split_ns - (NOW - 180 * S)) / S;
            assert!((90..=110).contains(&split_s), "{name}: split at {split_s} s");
            let focused = rank(&g, NOW - 180 * S, NOW, Some("frontend"), 5);
            assert_eq!(focused.candidates[0].name, want, "{name}, asked from the entry service");
        }
    }

    #[test]
    fn a_caller_late_on_every_call_is_blamed_not_its_callees() {
        let mut g = ServiceGraph::new(GraphLimits::default());
        for sec in 0..180 {
            let t = NOW - (180 - sec) * S;
            let late = if sec >= 100 { 40 * MS } else { MS };
            let mut facts = TraceFacts::default();
            for callee in ["ads", "cart", "catalog"] {
                facts.entries.push(Entry {
                    service: callee,
                    operation: "op",
                    instance: "",
                    end_ns: t,
                    duration_ns: 5 * MS,
                    self_ns: 5 * MS,
                    error: false,
                });
                facts.self_times.push(SelfTime {
                    service: callee,
                    operation: "op",
                    end_ns: t,
                    self_ns: 5 * MS,
                    error: false,
                });
                facts.calls.push(Call {
                    caller: "frontend",
                    callee_kind: NodeKind::Service,
                    callee,
                    end_ns: t,
                    client_ns: 5 * MS + late,
                    server_ns: Some(5 * MS),
                    error: false,
                });
            }
            g.apply(&facts, NOW);
        }
        let r = rank(&g, NOW - 180 * S, NOW, None, 5);
        assert_eq!(r.candidates[0].name, "frontend", "{:?}", r.candidates);
        assert_eq!(r.candidates[0].evidence[0].signal, "waits_on_every_call");
        assert!(r.candidates.iter().skip(1).all(|c| c.score < 0.1), "{:?}", r.candidates);
    }

    #[test]
    fn new_error_lines_blame_the_service_that_writes_them() {
        let mut g = system(&|_| {}, 0);
        let line = |service: &'static str, sec: i64, template: u64| crate::graph::LogFact {
            service: service.into(),
            time_ns: NOW - (180 - sec) * S,
            template: TemplateId(template),
        };
        let mut logs = Vec::new();
        for sec in 0..180 {
            // checkout always logs one error every 10 s; payment starts a new one at 100 s.
            if sec % 10 == 0 {
                logs.push(line("checkout", sec, 1));
            }
            if sec >= 100 && sec % 2 == 0 {
                logs.push(line("payment", sec, 2));
            }
        }
        g.apply_logs(&logs, NOW);
        let r = rank(&g, NOW - 180 * S, NOW, None, 5);
        assert_eq!(r.candidates[0].name, "payment", "{:?}", r.candidates);
        let e = &r.candidates[0].evidence[0];
        assert_eq!((e.signal, e.template), ("error_logs", Some(TemplateId(2))));
        assert!(r.candidates.iter().all(|c| c.name != "checkout" || c.score < 0.1), "steady lines are no news");
        // Asked over a range reaching two minutes before any data, the baseline still starts
        // where the data does: checkout's steady lines are not "new" after an empty before.
        let wide = rank(&g, NOW - 300 * S, NOW, None, 5);
        assert_eq!(wide.candidates[0].name, "payment", "{:?}", wide.candidates);
        assert!(wide.candidates.iter().all(|c| c.name != "checkout" || c.score < 0.1), "{:?}", wide.candidates);
        assert!(wide.split_ns >= NOW - 160 * S, "split at {} s", (wide.split_ns - NOW) / S);
    }

    #[test]
    fn a_service_that_stops_calling_what_it_called_is_blamed() {
        let mut g = ServiceGraph::new(GraphLimits::default());
        for sec in 0..180 {
            let t = NOW - (180 - sec) * S;
            let mut facts = TraceFacts::default();
            let entry = |service| plain_entry(service, t);
            facts.entries.push(entry("frontend"));
            // From 100 s on, the frontend answers early and calls its backends one time in four.
            if sec < 100 || sec % 4 == 0 {
                for callee in ["ads", "cart", "catalog"] {
                    facts.entries.push(entry(callee));
                    facts.calls.push(Call {
                        caller: "frontend",
                        callee_kind: NodeKind::Service,
                        callee,
                        end_ns: t,
                        client_ns: 5 * MS,
                        server_ns: Some(5 * MS),
                        error: false,
                    });
                }
            }
            g.apply(&facts, NOW);
        }
        let r = rank(&g, NOW - 180 * S, NOW, None, 5);
        assert_eq!(r.candidates[0].name, "frontend", "{:?}", r.candidates);
        let e = &r.candidates[0].evidence[0];
        assert_eq!(e.signal, "fan_out");
        assert!(e.baseline > 0.9 && e.recent < 0.4, "{e:?}");
    }

    #[test]
    fn candidates_name_the_operation_and_instance_that_changed_and_example_traces() {
        let mut g = ServiceGraph::new(GraphLimits::default());
        for sec in 0..180i64 {
            let t = NOW - (180 - sec) * S;
            for (op, pod) in [("GET /pay", "payment-1"), ("GET /refund", "payment-2")] {
                let slow = sec >= 100 && pod == "payment-1";
                let d = if slow { 90 * MS } else { 10 * MS };
                let facts = TraceFacts {
                    trace_id: Some(TraceId::from_array([(sec % 250 + 1) as u8; 16]).unwrap()),
                    entries: vec![Entry {
                        service: "payment",
                        operation: op,
                        instance: pod,
                        end_ns: t,
                        duration_ns: d,
                        self_ns: d,
                        error: false,
                    }],
                    calls: Vec::new(),
                    self_times: vec![SelfTime {
                        service: "payment",
                        operation: op,
                        end_ns: t,
                        self_ns: d,
                        error: false,
                    }],
                };
                g.apply(&facts, NOW);
            }
        }
        let r = rank(&g, NOW - 180 * S, NOW, None, 5);
        let c = &r.candidates[0];
        assert_eq!(
            (c.name.as_str(), c.operation.as_deref(), c.instance.as_deref()),
            ("payment", Some("GET /pay"), Some("payment-1"))
        );
        assert!(!c.example_traces.is_empty() && c.example_traces.len() <= 3);
        // Trace ids hold the second they were made at, plus one.
        let late = |t: &TraceId| i64::from(t.as_bytes()[0]) > 90;
        assert!(c.example_traces.iter().all(late), "examples come from after the change: {:?}", c.example_traces);
    }

    #[test]
    fn a_saturated_instance_is_blamed_by_its_utilisation() {
        // Nothing moves in the spans; one pod of payment runs out of CPU at 100 s, while
        // checkout's pod idles up and down inside its headroom and the node is busy throughout.
        let mut g = system(&|_| {}, 0);
        let point =
            |service: &'static str, instance: &str, name: &str, sec: i64, value: f64| crate::graph::MetricFact {
                service: service.into(),
                instance: instance.into(),
                name: name.into(),
                time_ns: NOW - (180 - sec) * S,
                value,
            };
        let mut points = Vec::new();
        for sec in (0..180).step_by(30) {
            let hot = sec >= 100;
            points.push(point("payment", "payment-1", "k8s.pod.cpu.utilization", sec, if hot { 0.97 } else { 0.08 }));
            points.push(point("payment", "payment-2", "k8s.pod.cpu.utilization", sec, 0.08));
            points.push(point(
                "checkout",
                "checkout-1",
                "container.cpu.utilization",
                sec,
                [0.01, 0.04][(sec / 30 % 2) as usize],
            ));
            points.push(point("frontend", "frontend-1", "k8s.node.cpu.utilization", sec, if hot { 1.0 } else { 0.1 }));
        }
        g.apply_metrics(&points, NOW);
        let r = rank(&g, NOW - 180 * S, NOW, None, 5);
        let c = &r.candidates[0];
        assert_eq!((c.name.as_str(), c.instance.as_deref()), ("payment", Some("payment-1")), "{:?}", r.candidates);
        let e = &c.evidence[0];
        assert_eq!((e.signal, e.instance.as_deref()), ("cpu", Some("payment-1")));
        assert!(e.baseline < 0.1 && e.recent > 0.9 && e.score > 1.5, "{e:?}");
        assert!(
            r.candidates.iter().skip(1).all(|c| c.score < 0.2),
            "idle wobble and node gauges are no news: {:?}",
            r.candidates
        );
    }

    #[test]
    fn a_starved_caller_is_blamed_for_its_waits_even_on_its_only_edge() {
        // frontend → payment only. From 100 s the frontend's CPU is saturated and it reads
        // payment's answers 40 ms late; payment serves as fast as ever.
        let mut g = ServiceGraph::new(GraphLimits::default());
        let mut points = Vec::new();
        for sec in 0..180 {
            let t = NOW - (180 - sec) * S;
            let late = if sec >= 100 { 40 * MS } else { MS };
            let entry = |service: &'static str, d: i64| Entry {
                service,
                operation: "op",
                instance: if service == "frontend" { "frontend-1" } else { "payment-1" },
                end_ns: t,
                duration_ns: d,
                self_ns: 2 * MS,
                error: false,
            };
            let own =
                |service: &'static str| SelfTime { service, operation: "op", end_ns: t, self_ns: 2 * MS, error: false };
            g.apply(
                &TraceFacts {
                    trace_id: None,
                    entries: vec![entry("frontend", 10 * MS + late), entry("payment", 5 * MS)],
                    calls: vec![Call {
                        caller: "frontend",
                        callee_kind: NodeKind::Service,
                        callee: "payment",
                        end_ns: t,
                        client_ns: 5 * MS + late,
                        server_ns: Some(5 * MS),
                        error: false,
                    }],
                    self_times: vec![own("frontend"), own("payment")],
                },
                NOW,
            );
            if sec % 30 == 0 {
                points.push(crate::graph::MetricFact {
                    service: "frontend".into(),
                    instance: "frontend-1".into(),
                    name: "k8s.pod.cpu.utilization".into(),
                    time_ns: t,
                    value: if sec >= 100 { 0.98 } else { 0.05 },
                });
            }
        }
        g.apply_metrics(&points, NOW);
        let r = rank(&g, NOW - 180 * S, NOW, None, 5);
        assert_eq!(r.candidates[0].name, "frontend", "{:?}", r.candidates);
        assert_eq!(r.candidates[0].evidence[0].signal, "cpu");
        let payment = r.candidates.iter().find(|c| c.name == "payment").map_or(0.0, |c| c.score);
        // The raw rise of the wait is ln(41 / 2) ≈ 3.0; the starved caller's share is taken out.
        assert!(payment < 1.5, "the wait is mostly the starved caller's: {:?}", r.candidates);
    }

    #[test]
    fn a_rarely_called_service_with_a_thin_baseline_is_still_blamed_for_a_large_delay() {
        // auth → verify: two calls before the change, eight after, each waiting 2 s more on the
        // network; auth's other callee (users) is busy and steady throughout.
        let mut g = ServiceGraph::new(GraphLimits::default());
        for sec in 0..180 {
            let t = NOW - (180 - sec) * S;
            let call = |callee: &'static str, client_ns: i64| Call {
                caller: "auth",
                callee_kind: NodeKind::Service,
                callee,
                end_ns: t,
                client_ns,
                server_ns: Some(5 * MS),
                error: false,
            };
            let entry = |service| plain_entry(service, t);
            let mut facts = TraceFacts { entries: vec![entry("auth"), entry("users")], ..TraceFacts::default() };
            facts.calls.push(call("users", 6 * MS));
            let rare = [40, 80].contains(&sec) || (sec >= 100 && sec % 10 == 5);
            if rare {
                facts.entries.push(entry("verify"));
                facts.calls.push(call("verify", if sec >= 100 { 2_005 * MS } else { 6 * MS }));
            }
            g.apply(&facts, NOW);
        }
        let r = rank(&g, NOW - 180 * S, NOW, None, 5);
        let c = &r.candidates[0];
        assert_eq!((c.name.as_str(), c.evidence[0].signal), ("verify", "edge_gap"), "{:?}", r.candidates);
        assert_eq!(c.evidence[0].baseline_calls, 2);
    }

    #[test]
    fn utilisation_gauges_are_recognised_by_their_conventional_names() {
        use crate::graph::ResourceKind;
        let cases = [
            ("k8s.pod.cpu.utilization", Some(ResourceKind::Cpu)),
            ("container.cpu.utilization", Some(ResourceKind::Cpu)),
            ("process.cpu.utilization", Some(ResourceKind::Cpu)),
            ("k8s.pod.memory.utilization", Some(ResourceKind::Memory)),
            ("system.memory.utilization", Some(ResourceKind::Memory)),
            ("k8s.node.cpu.utilization", None),
            ("k8s.pod.cpu.usage", None),
            ("cpu", None),
            ("http.server.request.duration", None),
        ];
        for (name, want) in cases {
            assert_eq!(ResourceKind::of(name), want, "{name}");
        }
    }

    #[test]
    fn nothing_changed_means_no_candidate_stands_out() {
        let g = system(&|_| {}, 0);
        let r = rank(&g, NOW - 180 * S, NOW, None, 5);
        assert!(r.candidates.iter().all(|c| c.score < 0.05), "{:?}", r.candidates);
        let only_payment = rank(&g, NOW - 180 * S, NOW, Some("payment"), 5);
        assert!(only_payment.candidates.iter().all(|c| c.name == "payment"));
    }
}
