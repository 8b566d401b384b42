//! Traces as aggregates of their spans.
//!
//! A trace row is updated by every batch of its spans. [`TraceSummary::merge`] is commutative and
//! associative, so the row is the same whatever order spans arrive in: start is the minimum, end
//! the maximum, status only moves up (UNSET → OK → ERROR), and the root is the parentless span
//! (or, until one arrives, the earliest span).

use crate::ids::TraceId;
use crate::log::LogRecord;
use crate::span::{Span, StatusCode};
use std::cmp::Ordering;
use std::collections::HashMap;

/// The aggregate row of one trace.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceSummary {
    pub trace_id: TraceId,
    pub start_ns: i64,
    pub end_ns: i64,
    /// Service of the root span (or of the earliest span while no root has arrived).
    pub root_service: String,
    /// Name of the root span (or of the earliest span while no root has arrived).
    pub root_operation: String,
    /// Whether `root_*` come from a real parentless span.
    pub has_root: bool,
    /// Start of the span `root_*` come from.
    pub root_start_ns: i64,
    pub status: StatusCode,
    pub span_count: u64,
}

impl TraceSummary {
    /// The summary of a trace made of this one span.
    pub fn from_span(span: &Span) -> Self {
        Self {
            trace_id: span.trace_id,
            start_ns: span.start_ns,
            end_ns: span.end_ns.max(span.start_ns),
            root_service: span.service_name().to_owned(),
            root_operation: span.name.clone(),
            has_root: span.is_root(),
            root_start_ns: span.start_ns,
            status: span.status.code,
            span_count: 1,
        }
    }

    /// End minus start.
    pub fn duration_ns(&self) -> i64 {
        self.end_ns.saturating_sub(self.start_ns).max(0)
    }

    /// Folds another summary of the same trace into this one.
    pub fn merge(&mut self, other: &TraceSummary) {
        debug_assert_eq!(self.trace_id, other.trace_id);
        self.start_ns = self.start_ns.min(other.start_ns);
        self.end_ns = self.end_ns.max(other.end_ns);
        self.status = self.status.max(other.status);
        self.span_count += other.span_count;
        if root_rank(other, self) == Ordering::Less {
            self.root_service.clone_from(&other.root_service);
            self.root_operation.clone_from(&other.root_operation);
            self.has_root = other.has_root;
            self.root_start_ns = other.root_start_ns;
        }
    }
}

/// Which root candidate wins: a real root beats a fallback, then the earlier start, then the
/// smaller (service, operation) so that ties are broken the same way everywhere.
fn root_rank(a: &TraceSummary, b: &TraceSummary) -> Ordering {
    b.has_root
        .cmp(&a.has_root)
        .then(a.root_start_ns.cmp(&b.root_start_ns))
        .then_with(|| a.root_service.cmp(&b.root_service))
        .then_with(|| a.root_operation.cmp(&b.root_operation))
}

/// Summarises spans per trace, in order of first appearance.
pub fn summarize<'a>(spans: impl IntoIterator<Item = &'a Span>) -> Vec<TraceSummary> {
    let mut index: HashMap<TraceId, usize> = HashMap::new();
    let mut out: Vec<TraceSummary> = Vec::new();
    for span in spans {
        let s = TraceSummary::from_span(span);
        match index.get(&span.trace_id) {
            Some(&i) => out[i].merge(&s),
            None => {
                index.insert(span.trace_id, out.len());
                out.push(s);
            }
        }
    }
    out
}

/// A trace as read back: its summary, its spans (by start time) and the logs correlated with it.
#[derive(Debug, Clone, PartialEq)]
pub struct Trace {
    pub summary: TraceSummary,
    pub spans: Vec<Span>,
    pub logs: Vec<LogRecord>,
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::ids::SpanId;
    use crate::resource::{InstrumentationScope, Resource};
    use crate::span::{SpanKind, SpanStatus};
    use crate::value::Attributes;
    use proptest::prelude::*;
    use std::sync::Arc;

    pub(crate) fn span(
        trace: u8,
        id: u8,
        parent: Option<u8>,
        service: &str,
        start: i64,
        end: i64,
        code: StatusCode,
    ) -> Span {
        Span {
            trace_id: TraceId::from_array([trace; 16]).unwrap(),
            span_id: SpanId::from_array([id; 8]).unwrap(),
            parent_span_id: parent.map(|p| SpanId::from_array([p; 8]).unwrap()),
            trace_state: String::new(),
            flags: 0,
            name: format!("op-{id}"),
            kind: SpanKind::Server,
            start_ns: start,
            end_ns: end,
            attributes: Attributes::new(),
            dropped_attributes_count: 0,
            events: vec![],
            links: vec![],
            status: SpanStatus { code, message: String::new() },
            resource: Arc::new(Resource::for_service(service)),
            scope: Arc::new(InstrumentationScope::default()),
        }
    }

    fn trace_spans() -> Vec<Span> {
        vec![
            span(1, 1, None, "frontend", 100, 900, StatusCode::Unset),
            span(1, 2, Some(1), "checkout", 200, 700, StatusCode::Ok),
            span(1, 3, Some(2), "payments", 300, 950, StatusCode::Error),
            span(1, 4, Some(2), "db", 50, 400, StatusCode::Unset),
        ]
    }

    #[test]
    fn summary_takes_min_start_max_end_root_and_worst_status() {
        let s = &summarize(&trace_spans())[0];
        assert_eq!((s.start_ns, s.end_ns, s.duration_ns()), (50, 950, 900));
        assert_eq!((s.root_service.as_str(), s.root_operation.as_str(), s.has_root), ("frontend", "op-1", true));
        assert_eq!((s.status, s.span_count), (StatusCode::Error, 4));
    }

    #[test]
    fn without_a_root_the_earliest_span_stands_in_until_the_root_arrives() {
        let spans = trace_spans();
        let mut s = summarize(&spans[1..])[0].clone();
        assert_eq!((s.root_service.as_str(), s.has_root), ("db", false));
        s.merge(&TraceSummary::from_span(&spans[0]));
        assert_eq!((s.root_service.as_str(), s.has_root), ("frontend", true));
    }

    #[test]
    fn status_never_downgrades() {
        let spans = trace_spans();
        let mut s = TraceSummary::from_span(&spans[2]);
        s.merge(&TraceSummary::from_span(&spans[1]));
        assert_eq!(s.status, StatusCode::Error);
    }

    #[test]
    fn groups_by_trace_in_first_seen_order() {
        let spans = vec![
            span(2, 1, None, "a", 0, 1, StatusCode::Unset),
            span(1, 1, None, "b", 0, 1, StatusCode::Unset),
            span(2, 2, Some(1), "a", 0, 1, StatusCode::Unset),
        ];
        let s = summarize(&spans);
        assert_eq!(s.len(), 2);
        assert_eq!((s[0].trace_id.as_bytes()[0], s[0].span_count), (2, 2));
        assert_eq!((s[1].trace_id.as_bytes()[0], s[1].span_count), (1, 1));
    }

    proptest! {
        #[test]
        fn any_arrival_order_and_batching_gives_the_same_row(
            order in Just((0..4usize).collect::<Vec<_>>()).prop_shuffle(),
            split in 0..=4usize,
        ) {
            let spans = trace_spans();
            let shuffled: Vec<Span> = order.iter().map(|i| spans[*i].clone()).collect();
            let mut merged = summarize(&shuffled[..split.max(1)])[0].clone();
            if (1..4).contains(&split) {
                merged.merge(&summarize(&shuffled[split..])[0]);
            } else if split == 0 {
                merged = summarize(&shuffled)[0].clone();
            }
            prop_assert_eq!(merged, summarize(&spans)[0].clone());
        }
    }
}
