//! Conformance cases of [`crate::MetricStore`].

use super::fixtures::*;
use crate::storage::{AttributeFilter, BucketQuery, MetricQuery, SortOrder, Storage, TimeRange};
use otelcontext_domain::bucket::BUCKET_WIDTH_NS;
use otelcontext_domain::{Attributes, BucketHistogram, MetricBucket, PointValue, Temporality};

fn all_points() -> MetricQuery {
    MetricQuery { limit: 1_000, ..MetricQuery::default() }
}

/// Gauges, sums, histograms, exponential histograms and summaries survive.
pub async fn metric_points_of_every_kind_read_back(st: &dyn Storage) {
    let t = &tenant("acme");
    let points = every_kind_of_point();
    assert_eq!(st.write(&metrics_batch(t, points.clone())).await.unwrap().metric_points, 6);
    let got = st.search_metric_points(t, &all_points()).await.unwrap();
    assert_eq!(got.items.len(), 6);
    for (g, w) in got.items.iter().zip(points.iter()) {
        assert_eq!(g, w);
    }
}

/// Re-sent metric points are stored once.
pub async fn resent_metric_points_are_stored_once(st: &dyn Storage) {
    let t = &tenant("acme");
    write(st, metrics_batch(t, every_kind_of_point())).await;
    let again = st.write(&metrics_batch(t, every_kind_of_point())).await.unwrap();
    assert_eq!((again.metric_points, again.duplicates()), (0, 6));
    assert_eq!(st.counts(t).await.unwrap().metric_points, 6);
}

/// Name, service, attribute and time filters; oldest first by default; pages without gaps.
pub async fn metric_point_search_filters_orders_and_pages(st: &dyn Storage) {
    let t = &tenant("acme");
    let mut points = Vec::new();
    for i in 0..10 {
        let service = if i < 5 { "a" } else { "b" };
        let mut cpu = point("cpu", service, i * 1_000, PointValue::Gauge { value: i as f64 });
        cpu.attributes.push("core", otelcontext_domain::AnyValue::Int(i % 2));
        points.push(cpu);
        points.push(point("mem", service, i * 1_000, PointValue::Gauge { value: 1.0 }));
    }
    write(st, metrics_batch(t, points)).await;
    let values = |q: MetricQuery| async move {
        st.search_metric_points(t, &q)
            .await
            .unwrap()
            .items
            .iter()
            .map(|p| p.value.number().unwrap())
            .collect::<Vec<_>>()
    };
    let cpu = MetricQuery { name: Some("cpu".into()), ..all_points() };
    assert_eq!(values(cpu.clone()).await, (0..10).map(f64::from).collect::<Vec<_>>());
    assert_eq!(values(MetricQuery { sort: SortOrder::NewestFirst, limit: 2, ..cpu.clone() }).await, vec![9.0, 8.0]);
    assert_eq!(values(MetricQuery { service: Some("b".into()), ..cpu.clone() }).await.len(), 5);
    let core1 = vec![AttributeFilter { key: "core".into(), value: "1".into() }];
    assert_eq!(values(MetricQuery { attributes: core1, ..cpu.clone() }).await, vec![1.0, 3.0, 5.0, 7.0, 9.0]);
    let window = MetricQuery { time: TimeRange::between(T0 + 2_000, T0 + 4_000), ..cpu.clone() };
    assert_eq!(values(window).await, vec![2.0, 3.0, 4.0]);
    let paged = all_pages(
        |cursor| {
            let q = MetricQuery { limit: 3, cursor, ..all_points() };
            async move { st.search_metric_points(t, &q).await }
        },
        nothing,
    )
    .await;
    assert_eq!(paged.len(), 20);
    assert!(paged.windows(2).all(|w| w[0].time_ns <= w[1].time_ns));
}

fn bucket(name: &str, service: &str, window: i64, count: u64, sum: f64) -> MetricBucket {
    MetricBucket {
        name: name.into(),
        service: service.into(),
        attributes: attrs(&[("route", s("/a"))]),
        start_ns: T0 + window * BUCKET_WIDTH_NS,
        width_ns: BUCKET_WIDTH_NS,
        count,
        sum,
        min: 1.0,
        max: sum,
        last: sum,
        last_ns: T0 + window * BUCKET_WIDTH_NS + 1,
        histogram: BucketHistogram::Buckets { bounds: vec![10.0, 100.0], counts: vec![count, 0, 0] },
    }
}

/// NaN and infinities survive in points (gauges, histogram sums and bounds, summary quantiles)
/// and buckets.
pub async fn non_finite_floats_round_trip(st: &dyn Storage) {
    let t = &tenant("acme");
    let points = vec![
        point("g.nan", "svc", 1, PointValue::Gauge { value: f64::NAN }),
        point("g.inf", "svc", 2, PointValue::Gauge { value: f64::INFINITY }),
        point(
            "g.ninf",
            "svc",
            3,
            PointValue::Sum { value: f64::NEG_INFINITY, temporality: Temporality::Delta, monotonic: false },
        ),
        point(
            "h",
            "svc",
            4,
            PointValue::Histogram {
                count: 2,
                sum: Some(f64::NAN),
                min: Some(f64::NEG_INFINITY),
                max: Some(f64::INFINITY),
                bounds: vec![1.0, f64::INFINITY],
                bucket_counts: vec![1, 1, 0],
                temporality: Temporality::Cumulative,
            },
        ),
        point(
            "summary",
            "svc",
            5,
            PointValue::Summary { count: 4, sum: f64::NAN, quantiles: vec![(0.5, f64::NAN), (0.99, f64::INFINITY)] },
        ),
    ];
    write(st, metrics_batch(t, points.clone())).await;
    let got = st.search_metric_points(t, &all_points()).await.unwrap();
    assert_eq!(got.items.iter().map(bits).collect::<Vec<_>>(), points.iter().map(bits).collect::<Vec<_>>());
    let mut b = bucket("odd", "svc", 0, 3, f64::NAN);
    (b.min, b.max, b.last) = (f64::NEG_INFINITY, f64::INFINITY, f64::NAN);
    st.write_buckets(t, std::slice::from_ref(&b)).await.unwrap();
    let back = st.search_buckets(t, &BucketQuery { limit: 10, ..BucketQuery::default() }).await.unwrap();
    assert_eq!(back.items.iter().map(bits).collect::<Vec<_>>(), vec![bits(&b)]);
}

/// Buckets read back as written; writing the same series and window again merges.
pub async fn buckets_round_trip_and_merge_when_written_again(st: &dyn Storage) {
    let t = &tenant("acme");
    let first = vec![bucket("latency", "api", 0, 2, 20.0), bucket("latency", "api", 1, 1, 5.0)];
    st.write_buckets(t, &first).await.unwrap();
    let q = BucketQuery { limit: 10, ..BucketQuery::default() };
    assert_eq!(st.search_buckets(t, &q).await.unwrap().items, first);
    let mut late = bucket("latency", "api", 0, 3, 9.0);
    (late.min, late.last_ns) = (0.5, T0 + 2);
    st.write_buckets(t, &[late.clone()]).await.unwrap();
    let mut merged = first[0].clone();
    merged.merge(&late);
    let got = st.search_buckets(t, &q).await.unwrap().items;
    assert_eq!(got, vec![merged, first[1].clone()]);
    assert_eq!((got[0].count, got[0].sum, got[0].min), (5, 29.0, 0.5));
    // Same window, other attributes: another series.
    let mut other = bucket("latency", "api", 0, 1, 1.0);
    other.attributes = Attributes::new();
    st.write_buckets(t, &[other]).await.unwrap();
    assert_eq!(st.search_buckets(t, &q).await.unwrap().items.len(), 3);
}

/// Bucket search filters by name, service and window start, oldest first, and pages.
pub async fn bucket_search_filters_and_pages(st: &dyn Storage) {
    let t = &tenant("acme");
    let mut buckets = Vec::new();
    for w in 0..6 {
        buckets.push(bucket("latency", "api", w, 1, 1.0));
        buckets.push(bucket("latency", "db", w, 1, 1.0));
        buckets.push(bucket("errors", "api", w, 1, 1.0));
    }
    st.write_buckets(t, &buckets).await.unwrap();
    let q = BucketQuery { limit: 100, ..BucketQuery::default() };
    let count = |q: BucketQuery| async move { st.search_buckets(t, &q).await.unwrap().items.len() };
    assert_eq!(count(BucketQuery { name: Some("latency".into()), ..q.clone() }).await, 12);
    assert_eq!(count(BucketQuery { name: Some("latency".into()), service: Some("db".into()), ..q.clone() }).await, 6);
    let window = TimeRange::between(T0 + BUCKET_WIDTH_NS, T0 + 2 * BUCKET_WIDTH_NS);
    assert_eq!(count(BucketQuery { time: window, ..q.clone() }).await, 6);
    let q0 = &q;
    let paged = all_pages(
        |cursor| {
            let q = BucketQuery { limit: 4, cursor, ..q0.clone() };
            async move { st.search_buckets(t, &q).await }
        },
        nothing,
    )
    .await;
    assert_eq!(paged.len(), 18);
    assert!(paged.windows(2).all(|w| w[0].start_ns <= w[1].start_ns));
}
