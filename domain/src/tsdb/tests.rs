use super::*;
use crate::AnyValue;
use crate::bucket::{BUCKET_WIDTH_NS, ExpHistogram, MAX_EXP_BUCKETS};
use crate::metric::ExpBuckets;
use crate::resource::{InstrumentationScope, Resource};
use proptest::prelude::*;
use std::sync::Arc;

const S: i64 = 1_000_000_000;
/// A window start well after the epoch.
const T0: i64 = 1_700_000_010 * S;

fn tenant(t: &str) -> TenantId {
    TenantId::parse(t).unwrap()
}

fn point_of(service: &str, name: &str, route: &str, at: i64, value: PointValue) -> MetricPoint {
    let mut attributes = Attributes::new();
    attributes.push("route", AnyValue::String(route.into()));
    MetricPoint {
        name: name.into(),
        description: String::new(),
        unit: String::new(),
        attributes,
        start_ns: 0,
        time_ns: at,
        flags: 0,
        value,
        resource: Arc::new(Resource::for_service(service)),
        scope: Arc::new(InstrumentationScope::default()),
    }
}

fn gauge(route: &str, at: i64, v: f64) -> MetricPoint {
    point_of("api", "cpu", route, at, PointValue::Gauge { value: v })
}

fn counter(start: i64, at: i64, v: f64) -> MetricPoint {
    let mut p = point_of(
        "api",
        "requests",
        "/",
        at,
        PointValue::Sum { value: v, temporality: Temporality::Cumulative, monotonic: true },
    );
    p.start_ns = start;
    p
}

fn all(tsdb: &mut Tsdb) -> Vec<MetricBucket> {
    let mut out: Vec<MetricBucket> = tsdb.take_all().into_iter().flat_map(|(_, b)| b).collect();
    out.sort_by(|a, b| {
        (a.start_ns, &a.name, a.attributes.to_json()).cmp(&(b.start_ns, &b.name, b.attributes.to_json()))
    });
    out
}

fn unlimited() -> TsdbConfig {
    TsdbConfig { max_series: 0, max_series_per_tenant: 0, max_sources: 0, ..TsdbConfig::default() }
}

#[test]
fn gauges_aggregate_per_series_and_window() {
    let mut t = Tsdb::new(unlimited());
    let a = tenant("a");
    for (route, at, v) in [("/x", T0 + S, 3.0), ("/x", T0 + 2 * S, 1.0), ("/x", T0 + 3 * S, 5.0), ("/y", T0 + S, 7.0)] {
        assert_eq!(t.ingest(&a, &gauge(route, at, v), T0), Admitted::Series);
    }
    t.ingest(&a, &gauge("/x", T0 + 31 * S, 9.0), T0);
    assert_eq!((t.open_series(), t.open_windows()), (3, 2));
    let b = all(&mut t);
    let x = &b[0];
    assert_eq!((x.start_ns, x.count, x.sum, x.min, x.max, x.last, x.last_ns), (T0, 3, 9.0, 1.0, 5.0, 5.0, T0 + 3 * S));
    assert_eq!(x.width_ns, BUCKET_WIDTH_NS);
    assert_eq!(x.attributes.to_json(), "{\"route\":\"/x\"}");
    assert_eq!((b[1].count, b[1].sum), (1, 7.0));
    assert_eq!((b[2].start_ns, b[2].count), (T0 + 30 * S, 1));
}

/// (global cap, per-tenant cap), series sent by tenants a, b, c, normal series kept, overflow
/// points per tenant.
type CapCase = ((usize, usize), [usize; 3], usize, [u64; 3]);

#[test]
fn caps_send_new_series_to_the_tenants_overflow_series() {
    let cases: Vec<CapCase> = vec![
        ((0, 0), [50, 0, 0], 50, [0, 0, 0]),
        ((5, 0), [7, 0, 0], 5, [2, 0, 0]),
        ((0, 3), [5, 2, 0], 5, [2, 0, 0]),
        ((4, 2), [3, 3, 3], 4, [1, 1, 3]),
    ];
    for ((global, per_tenant), series, want_series, want_overflow) in cases {
        let mut t = Tsdb::new(TsdbConfig { max_series: global, max_series_per_tenant: per_tenant, ..unlimited() });
        let mut admitted = Vec::new();
        for (i, name) in ["a", "b", "c"].iter().enumerate() {
            for n in 0..series[i] {
                admitted.push(t.ingest(&tenant(name), &gauge(&format!("/{n}"), T0 + S, 1.0), T0));
            }
        }
        let taken = t.take_all();
        let normal: usize = taken.iter().flat_map(|(_, b)| b).filter(|b| b.name != OVERFLOW_NAME).count();
        assert_eq!(normal, want_series, "caps {global}/{per_tenant}");
        for (i, name) in ["a", "b", "c"].iter().enumerate() {
            let overflow: u64 = taken
                .iter()
                .filter(|(t, _)| t.as_str() == *name)
                .flat_map(|(_, b)| b)
                .filter(|b| b.name == OVERFLOW_NAME)
                .map(|b| b.count)
                .sum();
            assert_eq!(overflow, want_overflow[i], "caps {global}/{per_tenant}, tenant {name}");
        }
        let overflowed = admitted.iter().filter(|a| **a != Admitted::Series).count() as u64;
        assert_eq!(overflowed, want_overflow.iter().sum::<u64>());
    }
}

#[test]
fn a_known_series_keeps_aggregating_past_the_cap_and_each_window_counts_afresh() {
    let mut t = Tsdb::new(TsdbConfig { max_series: 1, ..unlimited() });
    let a = tenant("a");
    assert_eq!(t.ingest(&a, &gauge("/x", T0 + S, 1.0), T0), Admitted::Series);
    assert_eq!(t.ingest(&a, &gauge("/y", T0 + S, 1.0), T0), Admitted::GlobalOverflow);
    assert_eq!(t.ingest(&a, &gauge("/x", T0 + 2 * S, 1.0), T0), Admitted::Series);
    // The next window has its own count.
    assert_eq!(t.ingest(&a, &gauge("/y", T0 + 31 * S, 1.0), T0 + 31 * S), Admitted::Series);
    let overflow: Vec<_> = all(&mut t).into_iter().filter(|b| b.name == OVERFLOW_NAME).collect();
    assert_eq!(overflow.len(), 1);
    assert_eq!((overflow[0].count, overflow[0].service.as_str()), (1, ""));
}

#[test]
fn cumulative_counters_become_deltas_with_resets_detected() {
    let mut t = Tsdb::new(unlimited());
    let a = tenant("a");
    let start = T0 - 3_600 * S;
    // (point, expected admission)
    let steps = [
        (counter(start, T0 + S, 100.0), Admitted::Baseline),
        (counter(start, T0 + 2 * S, 130.0), Admitted::Series),
        (counter(start, T0 + 2 * S, 130.0), Admitted::Stale),
        (counter(start, T0 + 3 * S, 150.0), Admitted::Series),
        // The process restarted: the value went down, all of it is new.
        (counter(start, T0 + 4 * S, 7.0), Admitted::Series),
        // A new start time: also a restart.
        (counter(T0 + 4 * S + 1, T0 + 5 * S, 12.0), Admitted::Series),
        (counter(T0 + 4 * S + 1, T0 + 6 * S, 20.0), Admitted::Series),
    ];
    for (p, want) in &steps {
        assert_eq!(t.ingest(&a, p, T0), *want);
    }
    let b = all(&mut t);
    assert_eq!(b.len(), 1);
    // Deltas: 30, 20, 7, 12, 8.
    assert_eq!((b[0].count, b[0].sum, b[0].min, b[0].max), (5, 77.0, 7.0, 30.0));
    assert_eq!(b[0].last, 20.0, "last is the counter's total");
}

#[test]
fn a_source_that_started_in_the_window_counts_whole_and_two_sources_add_up() {
    let mut t = Tsdb::new(unlimited());
    let a = tenant("a");
    assert_eq!(t.ingest(&a, &counter(T0 + 1, T0 + S, 5.0), T0), Admitted::Series);
    // Same series, another pod: its own deltas, same bucket.
    let mut other = counter(T0 - 100 * S, T0 + S, 1_000.0);
    let mut pod = other.resource.attributes.clone();
    pod.push("k8s.pod.name", AnyValue::String("api-2".into()));
    other.resource = Arc::new(Resource::new(pod));
    assert_eq!(t.ingest(&a, &other, T0), Admitted::Baseline);
    other.time_ns = T0 + 2 * S;
    other.value = PointValue::Sum { value: 1_010.0, temporality: Temporality::Cumulative, monotonic: true };
    assert_eq!(t.ingest(&a, &other, T0), Admitted::Series);
    let b = all(&mut t);
    assert_eq!((b.len(), b[0].count, b[0].sum), (1, 2, 15.0));
}

#[test]
fn delta_and_non_monotonic_sums_are_values() {
    let mut t = Tsdb::new(unlimited());
    let a = tenant("a");
    let up_down = PointValue::Sum { value: -4.0, temporality: Temporality::Cumulative, monotonic: false };
    let delta = PointValue::Sum { value: 3.0, temporality: Temporality::Delta, monotonic: true };
    assert_eq!(t.ingest(&a, &point_of("api", "queue", "/", T0 + S, up_down), T0), Admitted::Series);
    assert_eq!(t.ingest(&a, &point_of("api", "sent", "/", T0 + S, delta), T0), Admitted::Series);
    let b = all(&mut t);
    assert_eq!(b.iter().map(|b| (b.name.as_str(), b.sum)).collect::<Vec<_>>(), [("queue", -4.0), ("sent", 3.0)]);
}

fn histogram(at: i64, counts: &[u64], temporality: Temporality) -> MetricPoint {
    let count = counts.iter().sum();
    point_of(
        "api",
        "latency",
        "/",
        at,
        PointValue::Histogram {
            count,
            sum: Some(count as f64 * 10.0),
            min: None,
            max: None,
            bounds: vec![5.0, 10.0, 50.0],
            bucket_counts: counts.to_vec(),
            temporality,
        },
    )
}

#[test]
fn histograms_merge_bucket_wise_and_cumulative_ones_become_deltas() {
    let mut t = Tsdb::new(unlimited());
    let a = tenant("a");
    t.ingest(&a, &histogram(T0 + S, &[10, 20, 0, 0], Temporality::Delta), T0);
    t.ingest(&a, &histogram(T0 + 2 * S, &[0, 50, 20, 0], Temporality::Delta), T0);
    let b = all(&mut t);
    assert_eq!(b[0].histogram, BucketHistogram::Buckets { bounds: vec![5.0, 10.0, 50.0], counts: vec![10, 70, 20, 0] });
    assert_eq!(b[0].count, 100);
    // p50 is the 50th of 100: 40 into the second bucket's 70 → 5 + 5·40/70.
    let p50 = b[0].quantile(0.5).unwrap();
    assert!((p50 - (5.0 + 5.0 * 40.0 / 70.0)).abs() < 1e-9, "{p50}");
    assert!(b[0].quantile(0.99).unwrap() > 10.0);

    let mut t = Tsdb::new(unlimited());
    assert_eq!(t.ingest(&a, &histogram(T0 + S, &[10, 10, 0, 0], Temporality::Cumulative), T0), Admitted::Baseline);
    assert_eq!(t.ingest(&a, &histogram(T0 + 2 * S, &[15, 30, 1, 0], Temporality::Cumulative), T0), Admitted::Series);
    let b = all(&mut t);
    assert_eq!(b[0].histogram, BucketHistogram::Buckets { bounds: vec![5.0, 10.0, 50.0], counts: vec![5, 20, 1, 0] });
    assert_eq!(b[0].count, 26);
}

fn exp(scale: i32, offset: i32, counts: &[u64]) -> ExpHistogram {
    ExpHistogram::new(scale, 0, ExpBuckets { offset, counts: counts.to_vec() }, ExpBuckets::default())
}

#[test]
fn exponential_histograms_merge_at_the_coarser_scale() {
    // Scale 1: bucket i holds (2^(i/2), 2^((i+1)/2)]. Scale 0: (2^i, 2^(i+1)].
    let fine = exp(1, 2, &[1, 1, 1, 1]); // indexes 2..=5 → scale 0 indexes 1, 1, 2, 2
    let coarse = exp(0, 1, &[3]);
    let m = fine.merge(&coarse);
    assert_eq!((m.scale, m.positive.offset, m.positive.counts.clone()), (0, 1, vec![5, 2]));
    assert_eq!(m.total(), 7);
    assert_eq!(m.minus(&coarse).total(), 4);
    // All seven values lie in (2, 8]; the median in (2, 4].
    let p50 = m.quantile(0.5).unwrap();
    assert!(p50 > 2.0 && p50 <= 4.0, "{p50}");
    // A side far wider than the cap is downscaled to fit.
    let wide = ExpHistogram::new(
        5,
        0,
        ExpBuckets { offset: -5_000, counts: vec![1; 10_000] },
        ExpBuckets { offset: 0, counts: vec![1] },
    );
    assert!(wide.positive.counts.len() <= MAX_EXP_BUCKETS);
    assert_eq!(wide.total(), 10_001);
}

#[test]
fn windows_close_after_the_grace_and_late_points_reopen_them() {
    let mut t = Tsdb::new(unlimited());
    let a = tenant("a");
    t.ingest(&a, &gauge("/x", T0 + S, 1.0), T0 + S);
    assert!(t.take_closed(T0 + 30 * S).is_empty(), "still in its grace");
    let closed = t.take_closed(T0 + 35 * S);
    assert_eq!(closed.len(), 1);
    assert_eq!(t.open_windows(), 0);
    // A late point within the limit re-opens the window (the store merges both writes).
    assert_eq!(t.ingest(&a, &gauge("/x", T0 + 2 * S, 4.0), T0 + 60 * S), Admitted::Series);
    assert_eq!(t.take_closed(T0 + 61 * S)[0].1[0].start_ns, T0);
    let c = *t.config();
    assert_eq!(t.ingest(&a, &gauge("/x", T0, 1.0), T0 + c.max_late_ns + 1), Admitted::TooOld);
    assert_eq!(t.ingest(&a, &gauge("/x", T0 + c.max_future_ns + 1, 1.0), T0), Admitted::TooNew);
    assert_eq!(t.open_windows(), 0);
}

#[test]
fn cumulative_sources_are_capped_and_idle_ones_forgotten() {
    let mut t = Tsdb::new(TsdbConfig { max_sources: 2, ..unlimited() });
    let a = tenant("a");
    let source = |n: usize, at: i64| {
        let mut p = counter(T0 - 100 * S, at, 10.0);
        p.name = format!("requests_{n}");
        p
    };
    assert_eq!(t.ingest(&a, &source(1, T0 + S), T0), Admitted::Baseline);
    assert_eq!(t.ingest(&a, &source(2, T0 + S), T0), Admitted::Baseline);
    assert_eq!(t.ingest(&a, &source(3, T0 + S), T0), Admitted::Untracked);
    assert_eq!(t.sources(), 2);
    let ttl = t.config().source_ttl_ns;
    t.take_closed(T0 + S + ttl + 1);
    assert_eq!(t.sources(), 0, "idle sources are forgotten");
    assert_eq!(t.ingest(&a, &source(3, T0 + 2 * S + ttl), T0 + 2 * S + ttl), Admitted::Baseline);
}

proptest! {
    #[test]
    fn ingest_never_panics_and_stays_within_its_caps(
        points in proptest::collection::vec((0usize..3, 0usize..40, -100i64..100, -1e6f64..1e6, 0u8..4), 0..300)
    ) {
        let cap = 10;
        let mut t = Tsdb::new(TsdbConfig { max_series: cap, max_series_per_tenant: 6, max_sources: 8, ..TsdbConfig::default() });
        let now = T0 + 50 * S;
        for (tn, series, at, v, kind) in points {
            let at = T0 + at * S;
            let value = match kind {
                0 => PointValue::Gauge { value: v },
                1 => PointValue::Sum { value: v.abs(), temporality: Temporality::Cumulative, monotonic: true },
                2 => PointValue::Sum { value: v, temporality: Temporality::Delta, monotonic: true },
                _ => PointValue::ExponentialHistogram {
                    count: 2, sum: Some(v), min: None, max: None, scale: (series % 5) as i32 - 1, zero_count: 0,
                    zero_threshold: 0.0, positive: ExpBuckets { offset: at as i32 % 7, counts: vec![1, 1] },
                    negative: ExpBuckets::default(), temporality: Temporality::Delta,
                },
            };
            t.ingest(&tenant(["a", "b", "c"][tn]), &point_of("api", "m", &format!("/{series}"), at, value), now);
        }
        // Per window: at most `cap` normal series plus one overflow series per tenant.
        prop_assert!(t.open_series() <= t.open_windows() * (cap + 3));
        prop_assert!(t.sources() <= 8);
        for (_, buckets) in t.take_all() {
            for b in buckets {
                if let Some(q50) = b.quantile(0.5) {
                    let q99 = b.quantile(0.99).unwrap();
                    prop_assert!(q50 <= q99);
                }
            }
        }
    }

    #[test]
    fn exponential_merge_keeps_every_observation(
        a in (-3i32..6, -50i32..50, proptest::collection::vec(0u64..20, 0..40)),
        b in (-3i32..6, -50i32..50, proptest::collection::vec(0u64..20, 0..40)),
    ) {
        let (x, y) = (exp(a.0, a.1, &a.2), exp(b.0, b.1, &b.2));
        let m = x.merge(&y);
        prop_assert_eq!(m.total(), x.total() + y.total());
        prop_assert!(m.scale <= x.scale.min(y.scale));
        prop_assert_eq!(m.minus(&y).total(), x.total());
        prop_assert_eq!(m.merge(&ExpHistogram::default()).total(), m.total());
    }
}
