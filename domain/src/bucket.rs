//! Metric buckets: fixed time windows (30 s by default) of one series, aggregated.
//!
//! A bucket may be written more than once (late points after a flush); the stored bucket is then
//! merged with [`MetricBucket::merge`], which is commutative and associative, so the result does
//! not depend on the order of flushes.

use crate::hash::StableHasher;
use crate::metric::ExpBuckets;
use crate::value::Attributes;

/// Bucket width the TSDB uses.
pub const BUCKET_WIDTH_NS: i64 = 30_000_000_000;

/// The start of the bucket containing `time_ns` (floor, also for negative times).
pub fn bucket_start(time_ns: i64, width_ns: i64) -> i64 {
    time_ns.div_euclid(width_ns) * width_ns
}

/// Distribution detail of a bucket (explicit-bounds histogram points).
#[derive(Debug, Clone, PartialEq, Default)]
pub enum BucketHistogram {
    /// No distribution data (gauges, sums).
    #[default]
    None,
    /// Per-bucket counts for `bounds` (`counts.len() == bounds.len() + 1`).
    Buckets { bounds: Vec<f64>, counts: Vec<u64> },
    /// Exponential-bucket histogram points, merged at the coarser scale of the two.
    Exponential(ExpHistogram),
    /// Points with different bounds (or explicit with exponential) were merged; only count,
    /// sum, min and max are meaningful.
    Conflict,
}

/// Most buckets an exponential histogram keeps per sign; a wider merge is downscaled until it
/// fits (the same rule OTel SDKs apply, so memory stays bounded whatever the inputs).
pub const MAX_EXP_BUCKETS: usize = 320;

/// An exponential histogram: bucket `i` of scale `s` holds values in `(b^i, b^(i+1)]` where
/// `b = 2^(2^-s)`; negative values mirror it; `zero_count` values are (near) zero.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ExpHistogram {
    pub scale: i32,
    pub zero_count: u64,
    pub positive: ExpBuckets,
    pub negative: ExpBuckets,
}

/// One sign's buckets at a scale `by` steps coarser (index `i` becomes `i >> by`).
fn downscale_side(b: &ExpBuckets, by: u32) -> ExpBuckets {
    if by == 0 || b.counts.is_empty() {
        return b.clone();
    }
    let shift = by.min(63);
    let new_index = |i: i64| i >> shift;
    let first = new_index(i64::from(b.offset));
    let last = new_index(i64::from(b.offset) + b.counts.len() as i64 - 1);
    let mut counts = vec![0u64; (last - first + 1) as usize];
    for (k, c) in b.counts.iter().enumerate() {
        let i = new_index(i64::from(b.offset) + k as i64);
        let slot = &mut counts[(i - first) as usize];
        *slot = slot.saturating_add(*c);
    }
    ExpBuckets { offset: first as i32, counts }
}

/// The index range (first, last) of the non-empty sides, `None` when both are empty.
fn span(a: &ExpBuckets, b: &ExpBuckets) -> Option<(i64, i64)> {
    let range = |x: &ExpBuckets| {
        (!x.counts.is_empty()).then(|| (i64::from(x.offset), i64::from(x.offset) + x.counts.len() as i64 - 1))
    };
    match (range(a), range(b)) {
        (None, None) => None,
        (Some(r), None) | (None, Some(r)) => Some(r),
        (Some((a0, a1)), Some((b0, b1))) => Some((a0.min(b0), a1.max(b1))),
    }
}

/// Combines two sides at the same scale index by index.
fn combine_sides(a: &ExpBuckets, b: &ExpBuckets, f: impl Fn(u64, u64) -> u64) -> ExpBuckets {
    let Some((first, last)) = span(a, b) else { return ExpBuckets::default() };
    let at = |x: &ExpBuckets, i: i64| {
        let k = i - i64::from(x.offset);
        if k >= 0 { x.counts.get(k as usize).copied().unwrap_or(0) } else { 0 }
    };
    let counts = (first..=last).map(|i| f(at(a, i), at(b, i))).collect();
    ExpBuckets { offset: first as i32, counts }
}

impl ExpHistogram {
    /// A histogram, downscaled if a side is wider than [`MAX_EXP_BUCKETS`].
    pub fn new(scale: i32, zero_count: u64, positive: ExpBuckets, negative: ExpBuckets) -> Self {
        let h = Self { scale, zero_count, positive, negative };
        let by = h.downscale_needed(&Self::default());
        h.downscaled(by)
    }

    /// The same histogram `by` scale steps coarser.
    pub fn downscaled(&self, by: u32) -> Self {
        Self {
            scale: self.scale - by as i32,
            zero_count: self.zero_count,
            positive: downscale_side(&self.positive, by),
            negative: downscale_side(&self.negative, by),
        }
    }

    /// Extra steps needed so that both sides of `self` and `other` (at `self`'s scale) fit.
    fn downscale_needed(&self, other: &Self) -> u32 {
        let mut by = 0u32;
        loop {
            let fits = [(&self.positive, &other.positive), (&self.negative, &other.negative)].iter().all(|(a, b)| {
                span(&downscale_side(a, by), &downscale_side(b, by))
                    .is_none_or(|(f, l)| (l - f + 1) as usize <= MAX_EXP_BUCKETS)
            });
            if fits || by >= 63 {
                return by;
            }
            by += 1;
        }
    }

    /// Both histograms at one common scale that fits.
    fn aligned(&self, other: &Self) -> (Self, Self) {
        let scale = self.scale.min(other.scale);
        let a = self.downscaled((self.scale - scale) as u32);
        let b = other.downscaled((other.scale - scale) as u32);
        let by = a.downscale_needed(&b);
        (a.downscaled(by), b.downscaled(by))
    }

    /// Both histograms at a common scale, combined count by count with `f`.
    fn combine(&self, other: &Self, f: fn(u64, u64) -> u64) -> Self {
        let (a, b) = self.aligned(other);
        Self {
            scale: a.scale,
            zero_count: f(a.zero_count, b.zero_count),
            positive: combine_sides(&a.positive, &b.positive, f),
            negative: combine_sides(&a.negative, &b.negative, f),
        }
    }

    /// The sum of two histograms.
    pub fn merge(&self, other: &Self) -> Self {
        self.combine(other, u64::saturating_add)
    }

    /// `self − earlier` (counts never below zero): the observations since `earlier`.
    pub fn minus(&self, earlier: &Self) -> Self {
        self.combine(earlier, u64::saturating_sub)
    }

    /// Observations in the histogram.
    pub fn total(&self) -> u64 {
        self.positive.counts.iter().chain(&self.negative.counts).fold(self.zero_count, |a, c| a.saturating_add(*c))
    }

    /// The `q` quantile (0..=1), interpolated linearly inside its bucket; `None` when empty.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let total = self.total();
        if total == 0 {
            return None;
        }
        let base = 2f64.powf(2f64.powi(-self.scale));
        let bound = |i: i64| base.powf(i as f64);
        // Buckets in ascending value order: (lower, upper, count).
        let mut ordered: Vec<(f64, f64, u64)> = Vec::new();
        for (k, c) in self.negative.counts.iter().enumerate().rev() {
            let i = i64::from(self.negative.offset) + k as i64;
            ordered.push((-bound(i + 1), -bound(i), *c));
        }
        ordered.push((0.0, 0.0, self.zero_count));
        for (k, c) in self.positive.counts.iter().enumerate() {
            let i = i64::from(self.positive.offset) + k as i64;
            ordered.push((bound(i), bound(i + 1), *c));
        }
        interpolate(&ordered, total, q)
    }
}

/// The value at rank `q·total` over buckets `(lower, upper, count)` in ascending order.
fn interpolate(ordered: &[(f64, f64, u64)], total: u64, q: f64) -> Option<f64> {
    let rank = q.clamp(0.0, 1.0) * total as f64;
    let mut before = 0f64;
    let mut last_nonempty = None;
    for &(lo, hi, c) in ordered {
        if c == 0 {
            continue;
        }
        let after = before + c as f64;
        if rank <= after {
            let within = ((rank - before) / c as f64).clamp(0.0, 1.0);
            return Some(lo + (hi - lo) * within);
        }
        before = after;
        last_nonempty = Some(hi);
    }
    last_nonempty
}

impl BucketHistogram {
    /// The `q` quantile (0..=1) of the distribution; `min` and `max` (NaN when unknown) close
    /// the open-ended first and last explicit buckets and clamp the answer. `None` when the
    /// bucket holds no distribution (gauges, sums, conflicting bounds) or is empty.
    pub fn quantile(&self, q: f64, min: f64, max: f64) -> Option<f64> {
        let value = match self {
            BucketHistogram::None | BucketHistogram::Conflict => return None,
            BucketHistogram::Exponential(h) => h.quantile(q)?,
            BucketHistogram::Buckets { bounds, counts } => {
                let total = counts.iter().fold(0u64, |a, c| a.saturating_add(*c));
                if total == 0 {
                    return None;
                }
                let ordered: Vec<(f64, f64, u64)> = counts
                    .iter()
                    .enumerate()
                    .map(|(i, c)| {
                        let lower = match i {
                            0 if min.is_finite() => min,
                            0 => bounds.first().map_or(0.0, |b| if *b > 0.0 { 0.0 } else { *b }),
                            _ => bounds[i - 1],
                        };
                        let upper = match bounds.get(i) {
                            Some(b) => *b,
                            None if max.is_finite() => max,
                            None => bounds.last().copied().unwrap_or(lower),
                        };
                        (lower, upper.max(lower), *c)
                    })
                    .collect();
                interpolate(&ordered, total, q)?
            }
        };
        let value = if min.is_finite() { value.max(min) } else { value };
        Some(if max.is_finite() { value.min(max) } else { value })
    }
}

impl BucketHistogram {
    /// Combines two distributions (a commutative monoid with `None` as identity).
    pub fn merge(&self, other: &BucketHistogram) -> BucketHistogram {
        match (self, other) {
            (BucketHistogram::None, x) | (x, BucketHistogram::None) => x.clone(),
            (BucketHistogram::Conflict, _) | (_, BucketHistogram::Conflict) => BucketHistogram::Conflict,
            (BucketHistogram::Exponential(a), BucketHistogram::Exponential(b)) => {
                BucketHistogram::Exponential(a.merge(b))
            }
            (BucketHistogram::Exponential(_), BucketHistogram::Buckets { .. })
            | (BucketHistogram::Buckets { .. }, BucketHistogram::Exponential(_)) => BucketHistogram::Conflict,
            (
                BucketHistogram::Buckets { bounds: b1, counts: c1 },
                BucketHistogram::Buckets { bounds: b2, counts: c2 },
            ) => {
                if b1 == b2 && c1.len() == c2.len() {
                    BucketHistogram::Buckets {
                        bounds: b1.clone(),
                        counts: c1.iter().zip(c2).map(|(a, b)| a.saturating_add(*b)).collect(),
                    }
                } else {
                    BucketHistogram::Conflict
                }
            }
        }
    }
}

/// Identity of a bucket series: metric name, service and attributes (as JSON).
pub fn series_key(name: &str, service: &str, attributes_json: &str) -> i64 {
    StableHasher::new().field(name.as_bytes()).field(service.as_bytes()).field(attributes_json.as_bytes()).finish_i64()
}

/// One window of one series of one tenant.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricBucket {
    pub name: String,
    pub service: String,
    /// Attributes of the series (the cardinality overflow series has none).
    pub attributes: Attributes,
    pub start_ns: i64,
    pub width_ns: i64,
    /// Observations aggregated (points, or histogram counts).
    pub count: u64,
    pub sum: f64,
    pub min: f64,
    pub max: f64,
    /// The value of the latest point and its time.
    pub last: f64,
    pub last_ns: i64,
    pub histogram: BucketHistogram,
}

impl MetricBucket {
    /// Identity of the series: name, service and attributes (the time is not part of it).
    pub fn series_key(&self) -> i64 {
        self.series_key_for_attributes(&self.attributes.to_json())
    }

    /// [`MetricBucket::series_key`] for a caller that already holds the attributes' JSON.
    pub fn series_key_for_attributes(&self, attributes_json: &str) -> i64 {
        series_key(&self.name, &self.service, attributes_json)
    }

    /// Folds one observation (count, sum, min, max, the value at `time_ns`, distribution) into
    /// this bucket, as [`MetricBucket::merge`] would fold a bucket holding only it.
    pub fn absorb(&mut self, count: u64, sum: f64, min: f64, max: f64, last: (f64, i64), histogram: &BucketHistogram) {
        self.count = self.count.saturating_add(count);
        self.sum += sum;
        self.min = min_f64(self.min, min);
        self.max = max_f64(self.max, max);
        let later = last.1.cmp(&self.last_ns).then(last.0.total_cmp(&self.last));
        if later == std::cmp::Ordering::Greater {
            self.last = last.0;
            self.last_ns = last.1;
        }
        if *histogram != BucketHistogram::None {
            self.histogram = self.histogram.merge(histogram);
        }
    }

    /// The `q` quantile (0..=1) of a histogram bucket (see [`BucketHistogram::quantile`]).
    pub fn quantile(&self, q: f64) -> Option<f64> {
        self.histogram.quantile(q, self.min, self.max)
    }

    /// Average of the observations, `None` when empty.
    pub fn mean(&self) -> Option<f64> {
        (self.count > 0).then(|| self.sum / self.count as f64)
    }

    /// Folds another write of the same series and window into this one.
    pub fn merge(&mut self, other: &MetricBucket) {
        self.count = self.count.saturating_add(other.count);
        self.sum += other.sum;
        self.min = min_f64(self.min, other.min);
        self.max = max_f64(self.max, other.max);
        // The later point's value wins; equal times keep the larger value so order does not matter.
        let later = other.last_ns.cmp(&self.last_ns).then(other.last.total_cmp(&self.last));
        if later == std::cmp::Ordering::Greater {
            self.last = other.last;
            self.last_ns = other.last_ns;
        }
        self.histogram = self.histogram.merge(&other.histogram);
    }
}

/// Minimum that ignores NaN unless both are NaN.
fn min_f64(a: f64, b: f64) -> f64 {
    if a.is_nan() {
        b
    } else if b.is_nan() {
        a
    } else {
        a.min(b)
    }
}

/// Maximum that ignores NaN unless both are NaN.
fn max_f64(a: f64, b: f64) -> f64 {
    if a.is_nan() {
        b
    } else if b.is_nan() {
        a
    } else {
        a.max(b)
    }
}

/// One series of a metric (its service and attributes) over a range, re-bucketed to a step.
#[derive(Debug, Clone, PartialEq)]
pub struct RolledSeries {
    pub service: String,
    pub attributes: Attributes,
    /// One bucket per step with data, oldest first; each starts at its step and is `step` wide.
    pub points: Vec<MetricBucket>,
}

/// Groups `buckets` by series (service, then attributes) and merges those whose start falls in
/// the same step of `step_ns` counted from `start_ns` (buckets before `start_ns` are dropped).
/// Series come sorted by service and attributes' JSON, points oldest first.
pub fn rollup(buckets: &[MetricBucket], start_ns: i64, step_ns: i64) -> Vec<RolledSeries> {
    use std::collections::BTreeMap;
    /// A series' attributes and its points by step.
    type Points<'a> = (&'a Attributes, BTreeMap<i64, MetricBucket>);
    let step_ns = step_ns.max(1);
    let mut series: BTreeMap<(&str, String), Points> = BTreeMap::new();
    for b in buckets.iter().filter(|b| b.start_ns >= start_ns) {
        let step = start_ns + (b.start_ns - start_ns) / step_ns * step_ns;
        let (_, points) = series
            .entry((b.service.as_str(), b.attributes.to_json()))
            .or_insert_with(|| (&b.attributes, BTreeMap::new()));
        match points.get_mut(&step) {
            Some(p) => p.merge(b),
            None => {
                points.insert(step, MetricBucket { start_ns: step, width_ns: step_ns, ..b.clone() });
            }
        }
    }
    series
        .into_iter()
        .map(|((service, _), (attributes, points))| RolledSeries {
            service: service.to_owned(),
            attributes: attributes.clone(),
            points: points.into_values().collect(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn bucket(count: u64, sum: f64, min: f64, max: f64, last: (f64, i64), h: BucketHistogram) -> MetricBucket {
        MetricBucket {
            name: "latency".into(),
            service: "api".into(),
            attributes: Attributes::new(),
            start_ns: 0,
            width_ns: BUCKET_WIDTH_NS,
            count,
            sum,
            min,
            max,
            last: last.0,
            last_ns: last.1,
            histogram: h,
        }
    }

    fn hist(bounds: &[f64], counts: &[u64]) -> BucketHistogram {
        BucketHistogram::Buckets { bounds: bounds.to_vec(), counts: counts.to_vec() }
    }

    #[test]
    fn bucket_start_floors_to_the_window() {
        assert_eq!(bucket_start(29_999_999_999, BUCKET_WIDTH_NS), 0);
        assert_eq!(bucket_start(30_000_000_000, BUCKET_WIDTH_NS), 30_000_000_000);
        assert_eq!(bucket_start(-1, BUCKET_WIDTH_NS), -BUCKET_WIDTH_NS);
    }

    #[test]
    fn merge_adds_counts_and_keeps_extremes_and_the_latest_value() {
        let mut a = bucket(2, 10.0, 1.0, 9.0, (9.0, 20), hist(&[5.0], &[1, 1]));
        a.merge(&bucket(3, 6.0, 0.5, 4.0, (4.0, 10), hist(&[5.0], &[3, 0])));
        assert_eq!((a.count, a.sum, a.min, a.max, a.last, a.last_ns), (5, 16.0, 0.5, 9.0, 9.0, 20));
        assert_eq!(a.histogram, hist(&[5.0], &[4, 1]));
        assert_eq!(a.mean(), Some(3.2));
    }

    #[test]
    fn histograms_with_different_bounds_conflict() {
        let a = hist(&[1.0], &[1, 1]);
        let b = hist(&[2.0], &[1, 1]);
        assert_eq!(a.merge(&b), BucketHistogram::Conflict);
        assert_eq!(a.merge(&BucketHistogram::None), a);
        assert_eq!(BucketHistogram::Conflict.merge(&a), BucketHistogram::Conflict);
    }

    #[test]
    fn nan_extremes_do_not_poison_min_and_max() {
        let mut a = bucket(1, 1.0, f64::NAN, f64::NAN, (1.0, 1), BucketHistogram::None);
        a.merge(&bucket(1, 2.0, 2.0, 2.0, (2.0, 2), BucketHistogram::None));
        assert_eq!((a.min, a.max), (2.0, 2.0));
    }

    fn arb_hist() -> impl Strategy<Value = BucketHistogram> {
        prop_oneof![
            Just(BucketHistogram::None),
            Just(BucketHistogram::Conflict),
            (prop::sample::select(vec![1.0, 2.0]), 0u64..5, 0u64..5)
                .prop_map(|(b, c1, c2)| BucketHistogram::Buckets { bounds: vec![b], counts: vec![c1, c2] }),
        ]
    }

    fn arb_bucket() -> impl Strategy<Value = MetricBucket> {
        (0u64..100, -50i32..50, -50i32..50, -50i32..50, -50i32..50, 0i64..5, arb_hist()).prop_map(
            |(count, sum, a, b, last, last_ns, h)| {
                let (min, max) = (f64::from(a.min(b)), f64::from(a.max(b)));
                bucket(count, f64::from(sum), min, max, (f64::from(last), last_ns), h)
            },
        )
    }

    #[test]
    fn rollup_groups_series_and_merges_buckets_per_step() {
        let at = |service: &str, key: &str, start_ns: i64, value: f64| MetricBucket {
            service: service.into(),
            attributes: Attributes(vec![crate::value::KeyValue::new("route", crate::AnyValue::String(key.into()))]),
            start_ns,
            ..bucket(1, value, value, value, (value, start_ns), BucketHistogram::None)
        };
        let w = BUCKET_WIDTH_NS;
        let buckets = vec![
            at("b", "/x", 0, 1.0),
            at("a", "/y", w, 2.0),
            at("a", "/x", 0, 3.0),
            at("a", "/x", w, 4.0),
            at("a", "/x", 2 * w, 5.0),
            at("a", "/x", -w, 9.0), // before the range
        ];
        let series = rollup(&buckets, 0, 2 * w);
        let keys: Vec<(&str, String)> = series.iter().map(|s| (s.service.as_str(), s.attributes.to_json())).collect();
        assert_eq!(keys.len(), 3);
        assert_eq!((keys[0].0, keys[1].0, keys[2].0), ("a", "a", "b"));
        assert!(keys[0].1 < keys[1].1);
        let ax = &series[0].points;
        assert_eq!(
            ax.iter().map(|p| (p.start_ns, p.width_ns, p.count)).collect::<Vec<_>>(),
            vec![(0, 2 * w, 2), (2 * w, 2 * w, 1)]
        );
        assert_eq!((ax[0].sum, ax[0].min, ax[0].max, ax[0].last), (7.0, 3.0, 4.0, 4.0));
        assert!(rollup(&[], 0, w).is_empty());
    }

    proptest! {
        #[test]
        fn merge_is_commutative(a in arb_bucket(), b in arb_bucket()) {
            let mut ab = a.clone();
            ab.merge(&b);
            let mut ba = b.clone();
            ba.merge(&a);
            prop_assert_eq!(ab, ba);
        }

        #[test]
        fn merge_is_associative(a in arb_bucket(), b in arb_bucket(), c in arb_bucket()) {
            let mut left = a.clone();
            left.merge(&b);
            left.merge(&c);
            let mut bc = b.clone();
            bc.merge(&c);
            let mut right = a.clone();
            right.merge(&bc);
            prop_assert_eq!(left, right);
        }
    }
}
