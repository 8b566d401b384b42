//! Traces assemble before the graph reads them: the spans of one trace arrive in several exports
//! (each service sends its own), and self time and caller/callee pairs need the whole tree. A
//! trace is released once no span of it arrived for `settle_ns`, or `max_wait_ns` after its
//! first span, whichever comes first. Bounded: past `max_traces` pending traces the oldest is
//! released early (analysed with what it has), and a trace holds at most `max_spans_per_trace`.

use super::trace::GraphSpan;
use crate::ids::TraceId;
use hashbrown::HashMap;
use std::collections::BTreeSet;

/// How traces assemble.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AssemblyConfig {
    pub settle_ns: i64,
    pub max_wait_ns: i64,
    pub max_traces: usize,
    pub max_spans_per_trace: usize,
}

impl Default for AssemblyConfig {
    fn default() -> Self {
        Self { settle_ns: 5_000_000_000, max_wait_ns: 30_000_000_000, max_traces: 50_000, max_spans_per_trace: 2_000 }
    }
}

struct Pending {
    spans: Vec<GraphSpan>,
    first_ns: i64,
    last_ns: i64,
}

/// What an [`Assembly::add`] could not keep.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Overflow {
    /// Traces released before they settled, because `max_traces` were pending.
    pub released_early: u64,
    /// Spans past `max_spans_per_trace`, not kept.
    pub spans_dropped: u64,
}

/// Pending traces of one tenant.
pub struct Assembly {
    config: AssemblyConfig,
    pending: HashMap<TraceId, Pending>,
    /// (first seen, trace) — the release order for the cap and `max_wait_ns`.
    by_age: BTreeSet<(i64, TraceId)>,
    early: Vec<(TraceId, Vec<GraphSpan>)>,
    spans: usize,
}

impl Assembly {
    pub fn new(config: AssemblyConfig) -> Self {
        Self { config, pending: HashMap::new(), by_age: BTreeSet::new(), early: Vec::new(), spans: 0 }
    }

    /// Pending traces.
    pub fn traces(&self) -> usize {
        self.pending.len()
    }

    /// Spans held by pending traces.
    pub fn spans(&self) -> usize {
        self.spans
    }

    fn release(&mut self, id: TraceId) -> Option<(TraceId, Vec<GraphSpan>)> {
        let p = self.pending.remove(&id)?;
        self.by_age.remove(&(p.first_ns, id));
        self.spans -= p.spans.len();
        Some((id, p.spans))
    }

    /// Adds a span of trace `trace` seen at `now_ns`.
    pub fn add(&mut self, trace: TraceId, span: GraphSpan, now_ns: i64) -> Overflow {
        let mut overflow = Overflow::default();
        if !self.pending.contains_key(&trace) {
            while self.pending.len() >= self.config.max_traces.max(1) {
                let Some(&(_, oldest)) = self.by_age.iter().next() else { break };
                if let Some(trace) = self.release(oldest) {
                    self.early.push(trace);
                    overflow.released_early += 1;
                }
            }
            self.pending.insert(trace, Pending { spans: Vec::new(), first_ns: now_ns, last_ns: now_ns });
            self.by_age.insert((now_ns, trace));
        }
        let p = self.pending.get_mut(&trace).expect("inserted above");
        p.last_ns = now_ns;
        if p.spans.len() < self.config.max_spans_per_trace {
            p.spans.push(span);
            self.spans += 1;
        } else {
            overflow.spans_dropped += 1;
        }
        overflow
    }

    /// Takes the traces ready at `now_ns` (settled, waited long enough, or released early).
    pub fn take_ready(&mut self, now_ns: i64) -> Vec<(TraceId, Vec<GraphSpan>)> {
        let mut ready = std::mem::take(&mut self.early);
        let c = self.config;
        let due: Vec<TraceId> = self
            .pending
            .iter()
            .filter(|(_, p)| now_ns - p.last_ns >= c.settle_ns || now_ns - p.first_ns >= c.max_wait_ns)
            .map(|(id, _)| *id)
            .collect();
        for id in due {
            ready.extend(self.release(id));
        }
        ready
    }

    /// Takes only the traces released early at the cap.
    pub fn take_early(&mut self) -> Vec<(TraceId, Vec<GraphSpan>)> {
        std::mem::take(&mut self.early)
    }

    /// Takes every pending trace (at shutdown).
    pub fn take_all(&mut self) -> Vec<(TraceId, Vec<GraphSpan>)> {
        let mut ready = std::mem::take(&mut self.early);
        let ids: Vec<TraceId> = self.pending.keys().copied().collect();
        for id in ids {
            ready.extend(self.release(id));
        }
        ready
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::SpanId;
    use crate::span::SpanKind;
    use proptest::prelude::*;

    const S: i64 = 1_000_000_000;

    fn tid(n: u8) -> TraceId {
        TraceId::from_array([n.wrapping_add(1).max(1); 16]).unwrap()
    }

    fn gs(n: u8) -> GraphSpan {
        GraphSpan {
            span_id: SpanId::from_array([n.wrapping_add(1).max(1); 8]).unwrap(),
            parent_span_id: None,
            service: "svc".into(),
            name: "op".into(),
            kind: SpanKind::Server,
            start_ns: 0,
            end_ns: 1,
            error: false,
            message: String::new(),
            peer: None,
            instance: "".into(),
        }
    }

    #[test]
    fn a_trace_is_released_once_settled_or_after_the_longest_wait() {
        let mut a = Assembly::new(AssemblyConfig::default());
        a.add(tid(1), gs(1), 0);
        a.add(tid(1), gs(2), 3 * S);
        assert!(a.take_ready(7 * S).is_empty(), "a span arrived 4 s ago");
        assert_eq!(a.take_ready(8 * S).len(), 1);
        // A trace that keeps receiving spans is released after the longest wait.
        for t in 0..40 {
            a.add(tid(2), gs(t), t as i64 * S);
            let ready = a.take_ready(t as i64 * S);
            if t < 30 {
                assert!(ready.is_empty(), "at {t} s");
            } else {
                assert_eq!(ready.len(), 1, "at {t} s");
                break;
            }
        }
        assert_eq!(a.traces(), 0);
    }

    #[test]
    fn caps_release_the_oldest_early_and_bound_spans_per_trace() {
        let mut a = Assembly::new(AssemblyConfig { max_traces: 2, max_spans_per_trace: 3, ..Default::default() });
        assert_eq!(a.add(tid(1), gs(1), 0), Overflow::default());
        a.add(tid(2), gs(1), S);
        let o = a.add(tid(3), gs(1), 2 * S);
        assert_eq!(o.released_early, 1);
        assert_eq!(a.traces(), 2);
        let ready = a.take_ready(2 * S);
        assert_eq!(ready.len(), 1, "the oldest, released early");
        assert_eq!(ready[0].0, tid(1));
        let dropped: u64 = (0..5).map(|n| a.add(tid(3), gs(n), 2 * S).spans_dropped).sum();
        assert_eq!(dropped, 3, "three already held one, room for two more");
        assert_eq!(a.take_all().iter().map(|t| t.1.len()).sum::<usize>(), 1 + 3);
        assert_eq!((a.traces(), a.spans()), (0, 0));
    }

    proptest! {
        #[test]
        fn nothing_is_lost_or_duplicated_and_the_caps_hold(
            adds in proptest::collection::vec((0u8..30, 0i64..100), 0..300),
            cap in 1usize..10,
        ) {
            let mut a = Assembly::new(AssemblyConfig { max_traces: cap, max_spans_per_trace: 1_000, ..Default::default() });
            let mut out = 0usize;
            let mut now = 0;
            for (t, dt) in &adds {
                now += dt * 100_000_000;
                a.add(tid(*t), gs(0), now);
                prop_assert!(a.traces() <= cap);
                out += a.take_ready(now).iter().map(|t| t.1.len()).sum::<usize>();
            }
            out += a.take_all().iter().map(|t| t.1.len()).sum::<usize>();
            prop_assert_eq!(out, adds.len());
            prop_assert_eq!(a.spans(), 0);
        }
    }
}
