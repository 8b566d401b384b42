//! Trace sampling.
//!
//! The decision is made per **trace**, so all spans of a trace share it: a hash of the trace id
//! is compared with the rate (like OTel's `TraceIdRatioBased`, but hashed so that non-random ids
//! sample evenly too). Error spans and slow spans are always kept, and so are the spans of their
//! whole trace within the batch; the trace is then remembered (bounded memory) so that its later
//! spans are kept too.

use crate::hash::StableHasher;
use crate::ids::TraceId;
use crate::span::Span;
use crate::tenant::TenantId;
use std::collections::{HashMap, HashSet, VecDeque};

/// Sampling configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct SamplingPolicy {
    /// Fraction of healthy traces kept, 0.0..=1.0.
    pub rate: f64,
    /// Keep every trace that contains an error span.
    pub always_on_errors: bool,
    /// Keep every trace that contains a span at least this long; `None` disables the rule.
    pub latency_threshold_ns: Option<i64>,
    /// How many interesting (error/slow) traces are remembered so their later spans are kept.
    pub remembered_traces: usize,
}

impl Default for SamplingPolicy {
    fn default() -> Self {
        Self { rate: 1.0, always_on_errors: true, latency_threshold_ns: Some(500_000_000), remembered_traces: 100_000 }
    }
}

/// Why spans were kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeepReason {
    /// The rate is 1.0: everything is kept.
    All,
    /// The trace id hash fell under the rate.
    Ratio,
    /// The trace contains an error span.
    Error,
    /// The trace contains a slow span.
    Slow,
    /// An earlier batch of the trace was kept for an error or a slow span.
    Remembered,
}

impl KeepReason {
    /// Label value for metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::All => "all",
            Self::Ratio => "ratio",
            Self::Error => "error",
            Self::Slow => "slow",
            Self::Remembered => "remembered",
        }
    }
}

/// Result of sampling one batch.
#[derive(Debug, Default)]
pub struct SampleOutcome {
    pub kept: Vec<Span>,
    pub dropped: usize,
    /// Spans kept, by reason.
    pub kept_by_reason: Vec<(KeepReason, usize)>,
}

/// Stateful sampler (the only state is the bounded memory of interesting traces).
#[derive(Debug)]
pub struct TraceSampler {
    policy: SamplingPolicy,
    threshold: u64,
    remembered: RecentSet,
}

impl TraceSampler {
    /// A sampler for this policy.
    pub fn new(policy: SamplingPolicy) -> Self {
        let rate = policy.rate.clamp(0.0, 1.0);
        // Keep when hash < threshold; rate 1.0 is handled separately (u64::MAX would miss one value).
        let threshold = (rate * (u64::MAX as f64)) as u64;
        let remembered = RecentSet::new(policy.remembered_traces);
        Self { policy, threshold, remembered }
    }

    /// The policy in force.
    pub fn policy(&self) -> &SamplingPolicy {
        &self.policy
    }

    /// True when sampling keeps every span (rate 1.0), so callers can skip it.
    pub fn keeps_everything(&self) -> bool {
        self.policy.rate >= 1.0
    }

    /// Whether the hash of `trace_id` falls under the rate.
    pub fn ratio_keeps(&self, trace_id: &TraceId) -> bool {
        if self.policy.rate >= 1.0 {
            return true;
        }
        StableHasher::new().field(trace_id.as_bytes()).finish() < self.threshold
    }

    fn is_slow(&self, span: &Span) -> bool {
        matches!(self.policy.latency_threshold_ns, Some(t) if span.duration_ns() >= t)
    }

    /// Samples one tenant's batch; the decision is the same for every span of a trace.
    pub fn sample(&mut self, tenant: &TenantId, spans: Vec<Span>) -> SampleOutcome {
        let total = spans.len();
        if self.keeps_everything() {
            return SampleOutcome { kept: spans, dropped: 0, kept_by_reason: vec![(KeepReason::All, total)] };
        }
        // Decide per trace over the whole batch first.
        let mut decisions: HashMap<TraceId, Option<KeepReason>> = HashMap::new();
        for span in &spans {
            let error = self.policy.always_on_errors && span.is_error();
            let slow = self.is_slow(span);
            let entry = decisions.entry(span.trace_id).or_insert(None);
            if error {
                *entry = Some(KeepReason::Error);
            } else if slow && *entry != Some(KeepReason::Error) {
                *entry = Some(KeepReason::Slow);
            }
        }
        let tenant_key = StableHasher::new().field(tenant.as_str().as_bytes()).finish();
        for (trace_id, decision) in decisions.iter_mut() {
            let key = (tenant_key, *trace_id);
            match decision {
                Some(_) => self.remembered.insert(key),
                None if self.remembered.contains(&key) => *decision = Some(KeepReason::Remembered),
                None if self.ratio_keeps(trace_id) => *decision = Some(KeepReason::Ratio),
                None => {}
            }
        }
        let mut by_reason: HashMap<KeepReason, usize> = HashMap::new();
        let kept: Vec<Span> = spans
            .into_iter()
            .filter(|s| match decisions[&s.trace_id] {
                Some(reason) => {
                    *by_reason.entry(reason).or_default() += 1;
                    true
                }
                None => false,
            })
            .collect();
        let dropped = total - kept.len();
        let mut kept_by_reason: Vec<(KeepReason, usize)> = by_reason.into_iter().collect();
        kept_by_reason.sort_by_key(|(r, _)| r.as_str());
        SampleOutcome { kept, dropped, kept_by_reason }
    }
}

/// A set that forgets its oldest entries beyond a capacity.
#[derive(Debug)]
struct RecentSet {
    capacity: usize,
    set: HashSet<(u64, TraceId)>,
    order: VecDeque<(u64, TraceId)>,
}

impl RecentSet {
    fn new(capacity: usize) -> Self {
        Self { capacity, set: HashSet::new(), order: VecDeque::new() }
    }

    fn insert(&mut self, key: (u64, TraceId)) {
        if self.capacity == 0 || !self.set.insert(key) {
            return;
        }
        self.order.push_back(key);
        while self.order.len() > self.capacity {
            if let Some(old) = self.order.pop_front() {
                self.set.remove(&old);
            }
        }
    }

    fn contains(&self, key: &(u64, TraceId)) -> bool {
        self.set.contains(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::span::StatusCode;
    use crate::trace::tests::span;
    use proptest::prelude::*;

    fn tenant() -> TenantId {
        TenantId::parse("t").unwrap()
    }

    fn policy(rate: f64) -> SamplingPolicy {
        SamplingPolicy { rate, latency_threshold_ns: Some(1_000), ..SamplingPolicy::default() }
    }

    fn trace_of(n: u32, code: StatusCode, duration: i64) -> Vec<Span> {
        let mut tid = [0u8; 16];
        tid[..4].copy_from_slice(&n.to_be_bytes());
        tid[15] = 1;
        let trace_id = TraceId::from_array(tid).unwrap();
        (1..=3u8)
            .map(|i| {
                let mut s = span(
                    1,
                    i,
                    if i == 1 { None } else { Some(1) },
                    "svc",
                    0,
                    if i == 3 { duration } else { 10 },
                    if i == 3 { code } else { StatusCode::Unset },
                );
                s.trace_id = trace_id;
                s
            })
            .collect()
    }

    #[test]
    fn rate_one_keeps_everything() {
        let mut s = TraceSampler::new(policy(1.0));
        let out = s.sample(&tenant(), trace_of(1, StatusCode::Unset, 10));
        assert_eq!((out.kept.len(), out.dropped), (3, 0));
    }

    #[test]
    fn rate_zero_keeps_only_errors_and_slow_traces_whole() {
        let mut s = TraceSampler::new(policy(0.0));
        assert_eq!(s.sample(&tenant(), trace_of(1, StatusCode::Unset, 10)).kept.len(), 0);
        assert_eq!(s.sample(&tenant(), trace_of(2, StatusCode::Error, 10)).kept.len(), 3);
        assert_eq!(s.sample(&tenant(), trace_of(3, StatusCode::Unset, 5_000)).kept.len(), 3);
    }

    #[test]
    fn errors_are_not_forced_when_always_on_errors_is_off() {
        let mut s = TraceSampler::new(SamplingPolicy { always_on_errors: false, ..policy(0.0) });
        assert_eq!(s.sample(&tenant(), trace_of(2, StatusCode::Error, 10)).kept.len(), 0);
    }

    #[test]
    fn no_latency_threshold_means_no_slow_rule() {
        let mut s = TraceSampler::new(SamplingPolicy { latency_threshold_ns: None, ..policy(0.0) });
        assert_eq!(s.sample(&tenant(), trace_of(3, StatusCode::Unset, i64::MAX)).kept.len(), 0);
    }

    #[test]
    fn later_spans_of_an_error_trace_are_kept() {
        let mut s = TraceSampler::new(policy(0.0));
        let spans = trace_of(7, StatusCode::Error, 10);
        let (error_part, later) = (vec![spans[2].clone()], vec![spans[0].clone(), spans[1].clone()]);
        assert_eq!(s.sample(&tenant(), error_part).kept.len(), 1);
        let out = s.sample(&tenant(), later);
        assert_eq!(out.kept.len(), 2);
        assert_eq!(out.kept_by_reason, vec![(KeepReason::Remembered, 2)]);
        // The memory is per tenant.
        let other = TenantId::parse("other").unwrap();
        assert_eq!(s.sample(&other, vec![spans[0].clone()]).kept.len(), 0);
    }

    #[test]
    fn memory_is_bounded() {
        let mut set = RecentSet::new(2);
        let id = |n: u8| (0u64, TraceId::from_array([n; 16]).unwrap());
        for n in 1..=3 {
            set.insert(id(n));
        }
        assert!(!set.contains(&id(1)) && set.contains(&id(2)) && set.contains(&id(3)));
        assert_eq!(set.order.len(), 2);
    }

    #[test]
    fn kept_fraction_follows_the_rate() {
        for rate in [0.01, 0.1, 0.5, 0.9] {
            let s = TraceSampler::new(policy(rate));
            let n = 20_000u32;
            let kept = (0..n).filter(|i| s.ratio_keeps(&trace_of(*i, StatusCode::Unset, 1)[0].trace_id)).count();
            let frac = kept as f64 / n as f64;
            assert!((frac - rate).abs() < 0.02, "rate {rate}: kept {frac}");
        }
    }

    proptest! {
        #[test]
        fn all_spans_of_a_trace_share_the_decision(n in any::<u32>(), rate in 0.0f64..1.0) {
            let mut s = TraceSampler::new(policy(rate));
            let kept = s.sample(&tenant(), trace_of(n, StatusCode::Unset, 10)).kept.len();
            prop_assert!(kept == 0 || kept == 3);
        }

        #[test]
        fn error_traces_are_always_kept(n in any::<u32>(), rate in 0.0f64..1.0) {
            let mut s = TraceSampler::new(policy(rate));
            prop_assert_eq!(s.sample(&tenant(), trace_of(n, StatusCode::Error, 10)).kept.len(), 3);
        }
    }
}
