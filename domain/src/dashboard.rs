//! Per-minute rollups of traces and logs, the rows dashboards read instead of every trace.
//!
//! A rollup holds, for one tenant, one minute and one root service (or log service): the number
//! of traces, how many failed, and a [`DurationSketch`] of their durations. Rollups are kept by
//! deltas: a new trace adds its rollup, a trace whose summary changes (a late span moved its start,
//! its root arrived, it failed) subtracts its old rollup and adds its new one, and a purged trace
//! subtracts its rollup. Counts are therefore exact; percentiles come from the sketch, whose
//! buckets are narrow enough that a reported percentile is within 1/128 (0.8 %) of the exact
//! nearest-rank value — it is the midpoint of the bucket that holds that value.

use crate::{StatusCode, TraceSummary};
use std::collections::{BTreeMap, HashMap};

/// One minute in nanoseconds: the width of a rollup.
pub const MINUTE_NS: i64 = 60_000_000_000;

/// The start of the minute holding `t` (floored, also for times before 1970). The lowest minute,
/// which would start before `i64::MIN`, starts at `i64::MIN`.
pub fn minute_of(t: i64) -> i64 {
    t.saturating_sub(t.rem_euclid(MINUTE_NS))
}

/// Bits of mantissa a bucket keeps: 64 buckets per power of two.
const SUB_BITS: u32 = 6;
const SUB: i64 = 1 << SUB_BITS;
/// The bucket of `i64::MAX`, the highest there is.
pub const MAX_BUCKET: u16 = bucket_of(i64::MAX);

/// The bucket of a duration (ns). Durations below 128 ns have a bucket each; above, every power
/// of two is cut into 64 buckets of equal width. Negative durations share bucket 0 with zero.
pub const fn bucket_of(d: i64) -> u16 {
    if d <= 0 {
        return 0;
    }
    let log2 = 63 - d.leading_zeros() as i64;
    let shift = if log2 > SUB_BITS as i64 { log2 - SUB_BITS as i64 } else { 0 };
    (shift * SUB + (d >> shift)) as u16
}

/// The lowest and highest duration (inclusive) of a bucket.
pub fn bucket_bounds(b: u16) -> (i64, i64) {
    let b = i64::from(b.min(MAX_BUCKET));
    if b < 2 * SUB {
        return (b, b);
    }
    let shift = b / SUB - 1;
    let mantissa = b - shift * SUB;
    let low = mantissa << shift;
    (low, low + ((1i64 << shift) - 1))
}

/// The duration a bucket reports: its midpoint.
pub fn representative(b: u16) -> i64 {
    let (low, high) = bucket_bounds(b);
    low + (high - low) / 2
}

/// A mergeable histogram of durations with bounded relative error, plus their exact sum. Counts
/// are signed so that a sketch can also be a delta (a change to subtract and add); a stored sketch
/// has only positive counts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DurationSketch {
    counts: BTreeMap<u16, i64>,
    sum: i128,
}

/// Why stored sketch bytes were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("duration sketch: {0}")]
pub struct SketchError(String);

const SKETCH_FORMAT: u8 = 1;

fn put_varint(out: &mut Vec<u8>, mut v: u128) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn get_varint(bytes: &[u8], at: &mut usize) -> Result<u128, SketchError> {
    let mut v: u128 = 0;
    for shift in (0..128).step_by(7) {
        let byte = *bytes.get(*at).ok_or_else(|| SketchError("truncated".into()))?;
        *at += 1;
        v |= u128::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok(v);
        }
    }
    Err(SketchError("varint longer than 128 bits".into()))
}

fn zigzag(v: i128) -> u128 {
    ((v << 1) ^ (v >> 127)) as u128
}

fn unzigzag(v: u128) -> i128 {
    ((v >> 1) as i128) ^ -((v & 1) as i128)
}

impl DurationSketch {
    /// Adds `weight` durations `d` (a negative weight removes them).
    pub fn add(&mut self, d: i64, weight: i64) {
        if weight == 0 {
            return;
        }
        self.sum = self.sum.saturating_add(i128::from(d.max(0)) * i128::from(weight));
        let b = bucket_of(d);
        let c = self.counts.entry(b).or_default();
        *c = c.saturating_add(weight);
        if *c == 0 {
            self.counts.remove(&b);
        }
    }

    /// Adds every count and the sum of `other`.
    pub fn merge(&mut self, other: &DurationSketch) {
        for (&b, &n) in &other.counts {
            let c = self.counts.entry(b).or_default();
            *c = c.saturating_add(n);
            if *c == 0 {
                self.counts.remove(&b);
            }
        }
        self.sum = self.sum.saturating_add(other.sum);
    }

    /// Subtracts every count and the sum of `other`.
    pub fn subtract(&mut self, other: &DurationSketch) {
        let negated = DurationSketch {
            counts: other.counts.iter().map(|(&b, &n)| (b, n.saturating_neg())).collect(),
            sum: other.sum.saturating_neg(),
        };
        self.merge(&negated);
    }

    /// No count and no sum: adds nothing when merged.
    pub fn is_empty(&self) -> bool {
        self.counts.is_empty() && self.sum == 0
    }

    /// Total of the counts.
    pub fn total(&self) -> i64 {
        self.counts.values().fold(0i64, |a, &n| a.saturating_add(n))
    }

    /// Exact sum of the durations added (negative durations count as zero).
    pub fn sum(&self) -> i128 {
        self.sum
    }

    /// Whether some bucket holds fewer than zero durations (a stored rollup never does).
    pub fn has_negative(&self) -> bool {
        self.counts.values().any(|&n| n < 0)
    }

    /// The reported value of the `rank`-th smallest duration (1-based): the midpoint of its
    /// bucket. `None` when the sketch holds fewer than `rank` durations or has negative counts.
    pub fn value_at_rank(&self, rank: u64) -> Option<i64> {
        if rank == 0 || self.has_negative() {
            return None;
        }
        let mut seen: u64 = 0;
        for (&b, &n) in &self.counts {
            seen = seen.saturating_add(n as u64);
            if seen >= rank {
                return Some(representative(b));
            }
        }
        None
    }

    /// The stored form: a format byte, the sum, then each bucket (as the gap from the previous
    /// one) with its count, as LEB128 varints (signed ones zigzagged).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(4 + self.counts.len() * 3);
        out.push(SKETCH_FORMAT);
        put_varint(&mut out, zigzag(self.sum));
        let mut previous = 0u16;
        for (&b, &n) in &self.counts {
            put_varint(&mut out, u128::from(b - previous));
            put_varint(&mut out, zigzag(i128::from(n)));
            previous = b;
        }
        out
    }

    /// Reads the stored form back, refusing anything [`DurationSketch::encode`] cannot produce.
    pub fn decode(bytes: &[u8]) -> Result<Self, SketchError> {
        let Some((&format, _)) = bytes.split_first() else {
            return Err(SketchError("empty".into()));
        };
        if format != SKETCH_FORMAT {
            return Err(SketchError(format!("unknown format {format}")));
        }
        let mut at = 1;
        let sum = unzigzag(get_varint(bytes, &mut at)?);
        let mut counts = BTreeMap::new();
        let mut bucket: u32 = 0;
        while at < bytes.len() {
            let gap = get_varint(bytes, &mut at)?;
            if gap == 0 && !counts.is_empty() {
                return Err(SketchError("buckets out of order".into()));
            }
            bucket = u32::try_from(u128::from(bucket) + gap)
                .ok()
                .filter(|&b| b <= u32::from(MAX_BUCKET))
                .ok_or_else(|| SketchError("bucket out of range".into()))?;
            let n = i64::try_from(unzigzag(get_varint(bytes, &mut at)?))
                .map_err(|_| SketchError("count out of range".into()))?;
            if n == 0 {
                return Err(SketchError("zero count".into()));
            }
            counts.insert(bucket as u16, n);
        }
        Ok(DurationSketch { counts, sum })
    }
}

/// The traces of one tenant, minute and root service.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TraceRollup {
    pub traces: i64,
    pub errors: i64,
    pub durations: DurationSketch,
}

impl TraceRollup {
    /// One trace with this status and duration, counted `weight` times (−1 removes it).
    pub fn of(status: StatusCode, duration_ns: i64, weight: i64) -> Self {
        let mut durations = DurationSketch::default();
        durations.add(duration_ns, weight);
        TraceRollup { traces: weight, errors: if status == StatusCode::Error { weight } else { 0 }, durations }
    }

    pub fn merge(&mut self, other: &TraceRollup) {
        self.traces = self.traces.saturating_add(other.traces);
        self.errors = self.errors.saturating_add(other.errors);
        self.durations.merge(&other.durations);
    }

    /// Adds nothing when merged.
    pub fn is_empty(&self) -> bool {
        self.traces == 0 && self.errors == 0 && self.durations.is_empty()
    }
}

/// Where a trace summary is counted: its tenant, the minute of its start and its root service.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RollupKey {
    pub tenant: String,
    pub minute_ns: i64,
    pub service: String,
}

/// The rollup changes one write (or one purge) makes, summed per key.
#[derive(Debug, Clone, Default)]
pub struct RollupDeltas {
    traces: HashMap<RollupKey, TraceRollup>,
    logs: HashMap<RollupKey, i64>,
}

impl RollupDeltas {
    /// Counts `summary` `weight` times (+1 for a new trace, −1 for a stored one that goes away).
    pub fn trace(&mut self, tenant: &str, summary: &TraceSummary, weight: i64) {
        self.trace_row(tenant, summary.start_ns, &summary.root_service, summary.status, summary.duration_ns(), weight);
    }

    /// Counts a trace row given by its columns.
    pub fn trace_row(
        &mut self,
        tenant: &str,
        start_ns: i64,
        root_service: &str,
        status: StatusCode,
        duration_ns: i64,
        weight: i64,
    ) {
        let key =
            RollupKey { tenant: tenant.to_owned(), minute_ns: minute_of(start_ns), service: root_service.to_owned() };
        self.traces.entry(key).or_default().merge(&TraceRollup::of(status, duration_ns, weight));
    }

    /// A stored trace summary that became `merged`: nothing when the counted parts are unchanged.
    pub fn trace_changed(&mut self, tenant: &str, stored: &TraceSummary, merged: &TraceSummary) {
        let counted = |s: &TraceSummary| (minute_of(s.start_ns), s.root_service.clone(), s.status, s.duration_ns());
        if counted(stored) != counted(merged) {
            self.trace(tenant, stored, -1);
            self.trace(tenant, merged, 1);
        }
    }

    /// Counts `weight` log records of `service` at `timestamp_ns`.
    pub fn log(&mut self, tenant: &str, timestamp_ns: i64, service: &str, weight: i64) {
        let key =
            RollupKey { tenant: tenant.to_owned(), minute_ns: minute_of(timestamp_ns), service: service.to_owned() };
        *self.logs.entry(key).or_default() += weight;
    }

    /// The trace rollup changes that do something, in key order (writers lock rows in this order).
    pub fn trace_changes(&self) -> Vec<(&RollupKey, &TraceRollup)> {
        let mut v: Vec<_> = self.traces.iter().filter(|(_, r)| !r.is_empty()).collect();
        v.sort_by(|a, b| a.0.cmp(b.0));
        v
    }

    /// The log count changes that do something, in key order.
    pub fn log_changes(&self) -> Vec<(&RollupKey, i64)> {
        let mut v: Vec<_> = self.logs.iter().filter(|(_, n)| **n != 0).map(|(k, n)| (k, *n)).collect();
        v.sort_by(|a, b| a.0.cmp(b.0));
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn buckets_are_exact_below_128_and_64_per_octave_above() {
        for d in 0..128 {
            assert_eq!(bucket_bounds(bucket_of(d)), (d, d));
        }
        assert_eq!(bucket_of(-5), 0);
        assert_eq!(bucket_of(128), 128);
        assert_eq!(bucket_bounds(128), (128, 129));
        assert_eq!(bucket_of(255), 191);
        assert_eq!(bucket_bounds(191), (254, 255));
        assert_eq!(bucket_of(256), 192);
        assert_eq!(bucket_bounds(MAX_BUCKET).1, i64::MAX);
        assert_eq!(representative(bucket_of(1_000_000)), 999_424 + 8_191 / 2);
    }

    #[test]
    fn minutes_floor_also_before_1970() {
        assert_eq!(minute_of(0), 0);
        assert_eq!(minute_of(MINUTE_NS - 1), 0);
        assert_eq!(minute_of(MINUTE_NS), MINUTE_NS);
        assert_eq!(minute_of(-1), -MINUTE_NS);
        assert_eq!(minute_of(i64::MIN), i64::MIN);
        assert_eq!(minute_of(i64::MAX) % MINUTE_NS, 0);
    }

    #[test]
    fn undecodable_bytes_are_refused() {
        for bad in
            [&[][..], &[2, 0], &[1], &[1, 0, 5, 0], &[1, 0, 5, 2, 0, 2], &[1, 0, 0xff, 0xff, 0x7f, 2], &[1, 0, 5]]
        {
            assert!(DurationSketch::decode(bad).is_err(), "{bad:?}");
        }
        assert_eq!(DurationSketch::decode(&[1, 0]).unwrap(), DurationSketch::default());
    }

    #[test]
    fn a_changed_trace_moves_between_rollups_and_an_unchanged_one_does_nothing() {
        let s = TraceSummary {
            trace_id: crate::TraceId::from_array([1; 16]).unwrap(),
            start_ns: 59 * 1_000_000_000,
            end_ns: 61 * 1_000_000_000,
            root_service: "a".into(),
            root_operation: "op".into(),
            has_root: true,
            root_start_ns: 59 * 1_000_000_000,
            status: StatusCode::Ok,
            span_count: 1,
        };
        let mut d = RollupDeltas::default();
        d.trace("t", &s, 1);
        d.trace_changed("t", &s, &TraceSummary { span_count: 9, root_operation: "x".into(), ..s.clone() });
        assert_eq!(d.trace_changes().len(), 1);
        let failed_later = TraceSummary { start_ns: MINUTE_NS + 1, status: StatusCode::Error, ..s.clone() };
        d.trace_changed("t", &s, &failed_later);
        let changes = d.trace_changes();
        assert_eq!(changes.len(), 1, "{changes:?}");
        assert_eq!(changes[0].0.minute_ns, MINUTE_NS);
        assert_eq!((changes[0].1.traces, changes[0].1.errors), (1, 1));
        d.log("t", -1, "a", 2);
        d.log("t", -1, "a", -2);
        assert!(d.log_changes().is_empty());
    }

    proptest! {
        #[test]
        fn every_duration_lies_in_its_bucket_within_1_128(d in any::<i64>()) {
            let b = bucket_of(d);
            let (low, high) = bucket_bounds(b);
            let d = d.max(0);
            prop_assert!(low <= d && d <= high);
            let r = representative(b);
            prop_assert!((r as i128 - d as i128).abs() * 128 <= d as i128);
            prop_assert_eq!(bucket_of(r), b);
        }

        #[test]
        fn ranks_land_in_the_bucket_of_the_exact_value(mut ds in proptest::collection::vec(0i64..10_000_000_000, 1..300), q in 0.0f64..=1.0) {
            let mut s = DurationSketch::default();
            for &d in &ds {
                s.add(d, 1);
            }
            ds.sort_unstable();
            let rank = ((q * ds.len() as f64).ceil() as u64).clamp(1, ds.len() as u64);
            let got = s.value_at_rank(rank).unwrap();
            prop_assert_eq!(bucket_of(got), bucket_of(ds[rank as usize - 1]));
            prop_assert_eq!(s.sum(), ds.iter().map(|&d| i128::from(d)).sum::<i128>());
            prop_assert_eq!(s.value_at_rank(ds.len() as u64 + 1), None);
        }

        #[test]
        fn encoding_round_trips_and_subtracting_undoes_merging(
            a in proptest::collection::vec((any::<i64>(), -3i64..4), 0..50),
            b in proptest::collection::vec((any::<i64>(), -3i64..4), 0..50),
        ) {
            let build = |v: &[(i64, i64)]| {
                let mut s = DurationSketch::default();
                for &(d, w) in v {
                    s.add(d, w);
                }
                s
            };
            let (x, y) = (build(&a), build(&b));
            prop_assert_eq!(DurationSketch::decode(&x.encode()).unwrap(), x.clone());
            let mut z = x.clone();
            z.merge(&y);
            z.subtract(&y);
            prop_assert_eq!(z, x);
        }

        #[test]
        fn decoding_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..40)) {
            let _ = DurationSketch::decode(&bytes);
        }
    }
}
