//! Metric buckets: fixed time windows (30 s by default) of one series, aggregated.
//!
//! A bucket may be written more than once (late points after a flush); the stored bucket is then
//! merged with [`MetricBucket::merge`], which is commutative and associative, so the result does
//! not depend on the order of flushes.

use crate::hash::StableHasher;
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
    /// Points with different bounds were merged; only count, sum, min and max are meaningful.
    Conflict,
}

impl BucketHistogram {
    /// Combines two distributions (a commutative monoid with `None` as identity).
    pub fn merge(&self, other: &BucketHistogram) -> BucketHistogram {
        match (self, other) {
            (BucketHistogram::None, x) | (x, BucketHistogram::None) => x.clone(),
            (BucketHistogram::Conflict, _) | (_, BucketHistogram::Conflict) => BucketHistogram::Conflict,
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
        StableHasher::new()
            .field(self.name.as_bytes())
            .field(self.service.as_bytes())
            .field(attributes_json.as_bytes())
            .finish_i64()
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
