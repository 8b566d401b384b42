//! What the requests a service serves go on to call, per operation: each request's *shape* is
//! the set of services and peers it called (however often). A service that starts to answer
//! early — it throws, or returns a wrong value its own callers then act on — serves requests
//! that stop short of the calls requests of their kind used to make, and that is often the
//! only trace of the fault: nothing slows down and nothing is marked failed.
//!
//! Bounded: at most 63 distinct callees per service get a bit of their own (any further callee
//! shares the last bit) and at most the cap given to [`Shapes::record`] shapes are kept.

use super::NodeKey;
use super::peer::NodeKind;
use super::stats::Counts;
use crate::ids::TraceId;
use hashbrown::{Equivalent, HashMap};

/// The bit shared by callees past the first 63.
const OVERFLOW_BIT: u32 = 63;

/// Requests of one service, counted per (operation, shape) in 10 s slots over the hour.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Shapes {
    /// The callees seen, by bit (bit `i` of a shape stands for `callees[i]`).
    callees: Vec<NodeKey>,
    /// Per (operation, shape): the counts and the latest trace that had it.
    counts: HashMap<(String, u64), (Counts, Option<TraceId>)>,
}

/// A borrowed shape key, to count without allocating.
#[derive(Hash)]
struct ShapeRef<'a>(&'a str, u64);

impl Equivalent<(String, u64)> for ShapeRef<'_> {
    fn equivalent(&self, key: &(String, u64)) -> bool {
        self.0 == key.0 && self.1 == key.1
    }
}

/// One (operation, shape) and its counts.
#[derive(Debug, Clone, Copy)]
pub struct Shape<'a> {
    pub operation: &'a str,
    /// The callees, as bits of [`Shapes::callee_names`].
    pub mask: u64,
    pub counts: &'a Counts,
    /// The latest trace with a request of this shape, when the trace was known.
    pub example: Option<TraceId>,
}

impl Shapes {
    /// Counts one request of `operation` ending at `time_ns` that called `callees` (in `trace`);
    /// false when the shape is new and `cap` shapes are already kept (it is not counted).
    pub fn record<'c>(
        &mut self,
        operation: &str,
        callees: impl Iterator<Item = (NodeKind, &'c str)>,
        trace: Option<TraceId>,
        time_ns: i64,
        now_ns: i64,
        cap: usize,
    ) -> bool {
        let mut mask = 0u64;
        for (kind, name) in callees {
            mask |= 1 << self.bit_of(kind, name);
        }
        let key = ShapeRef(operation, mask);
        if !self.counts.contains_key(&key) {
            if self.counts.len() >= cap {
                return false;
            }
            self.counts.insert((operation.to_owned(), mask), (Counts::default(), None));
        }
        if let Some((c, example)) = self.counts.get_mut(&key) {
            c.record(time_ns, now_ns);
            if trace.is_some() {
                *example = trace;
            }
        }
        true
    }

    fn bit_of(&mut self, kind: NodeKind, name: &str) -> u32 {
        if let Some(i) = self.callees.iter().position(|(k, n)| *k == kind && n == name) {
            return i as u32;
        }
        if self.callees.len() < OVERFLOW_BIT as usize {
            self.callees.push((kind, name.to_owned()));
            return (self.callees.len() - 1) as u32;
        }
        OVERFLOW_BIT
    }

    /// Drops counts older than the hour before `now_ns`, and the shapes left without any.
    pub fn expire(&mut self, now_ns: i64) {
        for (c, _) in self.counts.values_mut() {
            c.expire(now_ns);
        }
        self.counts.retain(|_, (c, _)| !c.is_empty());
    }

    pub fn is_empty(&self) -> bool {
        self.counts.is_empty()
    }

    pub fn len(&self) -> usize {
        self.counts.len()
    }

    /// Every (operation, shape) kept, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = Shape<'_>> {
        self.counts.iter().map(|((operation, mask), (counts, example))| Shape {
            operation,
            mask: *mask,
            counts,
            example: *example,
        })
    }

    /// The names of the callees in `mask`, sorted.
    pub fn callee_names(&self, mask: u64) -> Vec<String> {
        let mut out: Vec<String> = self
            .callees
            .iter()
            .enumerate()
            .filter(|(i, _)| mask & (1 << i) != 0)
            .map(|(_, (_, n))| n.clone())
            .collect();
        out.sort();
        if mask & (1 << OVERFLOW_BIT) != 0 {
            out.push("(other callees)".to_owned());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000_000;
    const NOW: i64 = 1_700_000_000 * S;

    #[test]
    fn requests_are_counted_per_operation_and_set_of_callees() {
        let mut s = Shapes::default();
        let db = (NodeKind::Database, "postgresql");
        let pay = (NodeKind::Service, "payment");
        assert!(s.record("GET /a", [pay, db, pay].into_iter(), None, NOW - 5 * S, NOW, 10));
        assert!(s.record("GET /a", [db, pay].into_iter(), None, NOW - 4 * S, NOW, 10));
        assert!(s.record("GET /a", [db].into_iter(), None, NOW - 3 * S, NOW, 10));
        assert!(s.record("GET /b", [db].into_iter(), None, NOW - 3 * S, NOW, 10));
        assert!(s.record("GET /b", std::iter::empty(), None, NOW - 2 * S, NOW, 10));
        let mut seen: Vec<(&str, Vec<String>, u64)> =
            s.iter().map(|x| (x.operation, s.callee_names(x.mask), x.counts.count(NOW - 60 * S, NOW + S))).collect();
        seen.sort();
        assert_eq!(
            seen,
            [
                ("GET /a", vec!["payment".to_owned(), "postgresql".to_owned()], 2),
                ("GET /a", vec!["postgresql".to_owned()], 1),
                ("GET /b", vec![], 1),
                ("GET /b", vec!["postgresql".to_owned()], 1),
            ]
        );
    }

    #[test]
    fn shapes_and_callee_bits_are_bounded_and_expire() {
        let mut s = Shapes::default();
        assert!(s.record("op", std::iter::empty(), None, NOW, NOW, 2));
        assert!(s.record("op", [(NodeKind::Service, "a")].into_iter(), None, NOW, NOW, 2));
        assert!(!s.record("op", [(NodeKind::Service, "b")].into_iter(), None, NOW, NOW, 2), "a third shape is refused");
        assert!(s.record("op", [(NodeKind::Service, "a")].into_iter(), None, NOW, NOW, 2), "known shapes still count");
        assert_eq!(s.len(), 2);

        let names: Vec<String> = (0..100).map(|i| format!("svc-{i}")).collect();
        let mut wide = Shapes::default();
        wide.record("op", names.iter().map(|n| (NodeKind::Service, n.as_str())), None, NOW, NOW, 10);
        let shape = wide.iter().next().unwrap();
        assert_eq!(shape.mask, u64::MAX, "63 callees of their own, the rest share the last bit");
        let listed = wide.callee_names(shape.mask);
        assert_eq!((listed.len(), listed.last().map(String::as_str)), (64, Some("(other callees)")));

        s.expire(NOW + 2 * 3_600 * S);
        assert!(s.is_empty());
    }
}
