//! Admission of batches into the bounded ingest queue (back-pressure policy).
//!
//! The queue is sized in items (spans, log records, metric points). At or above the soft
//! threshold, *healthy* batches (no error, no slow span, no ERROR log) are dropped with success
//! so that the space left goes to the telemetry that matters; when a batch does not fit at all it
//! is refused, whatever its class, and the client is told to retry.

/// How much a batch matters under pressure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchClass {
    /// May be shed at the soft threshold.
    Healthy,
    /// Errors, slow spans, ERROR+ logs, metrics: only refused when the queue is full.
    Priority,
}

/// What to do with a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    Accept,
    /// Dropped on purpose, acknowledged as success.
    SoftDrop,
    /// Refused: the client should retry later (gRPC RESOURCE_EXHAUSTED / HTTP 429).
    Full,
}

/// Back-pressure policy of the queue.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdmissionPolicy {
    /// Capacity in items.
    pub capacity: usize,
    /// Fraction of capacity at which healthy batches are shed (0.9).
    pub soft_threshold: f64,
    /// Whether healthy batches may be shed at all (off in durable mode).
    pub soft_drop: bool,
}

/// The default soft threshold.
pub const SOFT_THRESHOLD: f64 = 0.9;

impl AdmissionPolicy {
    /// Decides for a batch of `items` arriving when `depth` items are queued.
    ///
    /// A batch larger than the whole queue is accepted when the queue is empty, so that a
    /// legitimate large export can always make progress (its size is bounded by the body limits).
    pub fn decide(&self, depth: usize, items: usize, class: BatchClass) -> Admission {
        let fullness = if self.capacity == 0 { 1.0 } else { depth as f64 / self.capacity as f64 };
        if depth > 0 && depth.saturating_add(items) > self.capacity {
            return Admission::Full;
        }
        debug_assert!(!self.is_full(depth), "a full queue refuses every batch");
        if self.soft_drop && class == BatchClass::Healthy && fullness >= self.soft_threshold {
            return Admission::SoftDrop;
        }
        Admission::Accept
    }
}

impl AdmissionPolicy {
    /// True when `depth` leaves no room at all: every batch, whatever its size and class, would
    /// get [`Admission::Full`] (lets a receiver refuse before decoding and mapping).
    pub fn is_full(&self, depth: usize) -> bool {
        depth > 0 && depth >= self.capacity
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use BatchClass::*;

    const P: AdmissionPolicy = AdmissionPolicy { capacity: 10, soft_threshold: SOFT_THRESHOLD, soft_drop: true };

    #[test]
    fn admission_table() {
        let cases = [
            (0, 1, Healthy, Admission::Accept),
            (8, 1, Healthy, Admission::Accept),
            (9, 1, Healthy, Admission::SoftDrop),
            (9, 1, Priority, Admission::Accept),
            (10, 1, Priority, Admission::Full),
            (10, 1, Healthy, Admission::Full),
            (9, 2, Healthy, Admission::Full),
            (5, 6, Priority, Admission::Full),
            (5, 5, Priority, Admission::Accept),
            (0, 50, Priority, Admission::Accept),
            (1, 50, Priority, Admission::Full),
        ];
        for (depth, items, class, want) in cases {
            assert_eq!(P.decide(depth, items, class), want, "depth {depth} items {items} {class:?}");
        }
    }

    #[test]
    fn full_means_even_a_one_item_priority_batch_is_refused() {
        for depth in 0..=12 {
            assert_eq!(P.is_full(depth), P.decide(depth, 1, Priority) == Admission::Full, "depth {depth}");
        }
    }

    #[test]
    fn durable_mode_never_sheds() {
        let p = AdmissionPolicy { soft_drop: false, ..P };
        assert_eq!(p.decide(9, 1, Healthy), Admission::Accept);
        assert_eq!(p.decide(10, 1, Healthy), Admission::Full);
    }
}
