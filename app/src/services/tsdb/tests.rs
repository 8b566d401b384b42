use super::*;
use crate::services::test_support::{clock_at as clock, tenant};
use otelcontext_domain::PointValue;
use otelcontext_ports::conformance::fixtures::{T0, point};
use otelcontext_ports::{MockMetricStore, StorageError};
use otelcontext_telemetry::Telemetry;
use std::sync::atomic::{AtomicI64, Ordering};

const S: i64 = 1_000_000_000;

/// A batch of gauges of `series` distinct routes at `T0 + at`.
fn gauges(t: &str, series: usize, at: i64) -> TenantBatch {
    let mut b = TenantBatch::new(tenant(t));
    b.metrics = (0..series)
        .map(|n| {
            let mut p = point("cpu", "api", at, PointValue::Gauge { value: n as f64 });
            p.attributes = otelcontext_domain::Attributes::new();
            p.attributes.push("route", otelcontext_domain::AnyValue::String(format!("/{n}")));
            p
        })
        .collect();
    b
}

type Written = Arc<parking_lot::Mutex<Vec<(String, MetricBucket)>>>;

fn recording_store(fail_first: usize) -> (MockMetricStore, Written) {
    let written: Written = Default::default();
    let sink = written.clone();
    let mut store = MockMetricStore::new();
    let mut failures = fail_first;
    store.expect_write_buckets().returning(move |tenant, buckets| {
        if failures > 0 {
            failures -= 1;
            return Err(StorageError::Unavailable("down".into()));
        }
        sink.lock().extend(buckets.iter().map(|b| (tenant.as_str().to_owned(), b.clone())));
        Ok(())
    });
    (store, written)
}

fn window_start() -> i64 {
    otelcontext_domain::bucket::bucket_start(T0, otelcontext_domain::bucket::BUCKET_WIDTH_NS)
}

#[tokio::test]
async fn closed_windows_are_written_by_the_writer_and_open_ones_at_finish() {
    let (store, written) = recording_store(0);
    let now = Arc::new(AtomicI64::new(window_start() + S));
    let t = Telemetry::new();
    let s = Arc::new(TsdbService::new(Arc::new(store), clock(now.clone()), tsdb_config(0, 0), &t.meter()));
    let (stop_tx, stop) = watch::channel(false);
    let timer = s.clone().spawn(stop);
    let start = window_start() - T0;
    s.committed(&[gauges("a", 3, start + S), gauges("b", 1, start + 2 * S)]);
    s.committed(&[gauges("a", 1, start + 3 * S)]);
    assert!(t.render().contains("otelcontext_tsdb_open_series 4"), "{}", t.render());
    // The window closes at its end plus the grace.
    now.store(window_start() + 36 * S, Ordering::Relaxed);
    assert_eq!(s.flush_closed(), 4);
    s.committed(&[gauges("a", 2, start + 40 * S)]);
    let _ = stop_tx.send(true);
    timer.await.unwrap();
    s.finish().await;
    let written = written.lock();
    assert_eq!(written.len(), 6, "four closed, two still open at shutdown");
    let first: Vec<&MetricBucket> =
        written.iter().filter(|(t, b)| t == "a" && b.start_ns == window_start()).map(|(_, b)| b).collect();
    assert_eq!(first.len(), 3);
    let route0 = first.iter().find(|b| b.attributes.to_json().contains("\"/0\"")).unwrap();
    assert_eq!((route0.count, route0.sum), (2, 0.0), "two points of route /0 in the window");
    let text = t.render();
    assert!(text.contains("otelcontext_tsdb_buckets_written_total 6"), "{text}");
    assert!(text.contains("otelcontext_tsdb_ingest_total 7"), "{text}");
}

#[tokio::test]
async fn overflow_is_counted_per_tenant_and_limit() {
    let (store, written) = recording_store(0);
    let now = Arc::new(AtomicI64::new(window_start() + S));
    let t = Telemetry::new();
    let s = TsdbService::new(Arc::new(store), clock(now), tsdb_config(4, 2), &t.meter());
    let start = window_start() - T0;
    s.ingest(&[gauges("noisy", 4, start + S), gauges("calm", 1, start + S), gauges("big", 6, start + S)]);
    let text = t.render();
    assert!(text.contains("otelcontext_tsdb_cardinality_overflow_by_tenant_total{tenant_id=\"noisy\"} 2"), "{text}");
    assert!(text.contains("otelcontext_tsdb_cardinality_overflow_by_tenant_total{tenant_id=\"big\"} 5"), "{text}");
    assert!(text.contains("otelcontext_tsdb_cardinality_overflow_total{limit=\"tenant\"} 2"), "{text}");
    assert!(text.contains("otelcontext_tsdb_cardinality_overflow_total{limit=\"global\"} 5"), "{text}");
    assert!(text.contains("otelcontext_tsdb_series_limit 4"), "{text}");
    s.finish().await;
    let overflow: u64 = written
        .lock()
        .iter()
        .filter(|(_, b)| b.name == otelcontext_domain::tsdb::OVERFLOW_NAME)
        .map(|(_, b)| b.count)
        .sum();
    assert_eq!(overflow, 7, "every overflowing point is counted in its tenant's __overflow__ series");
}

#[tokio::test(start_paused = true)]
async fn a_failed_write_is_tried_once_more_then_counted() {
    let (store, written) = recording_store(1);
    let now = Arc::new(AtomicI64::new(window_start() + S));
    let t = Telemetry::new();
    let s = TsdbService::new(Arc::new(store), clock(now.clone()), tsdb_config(0, 0), &t.meter());
    s.ingest(&[gauges("a", 2, window_start() - T0 + S)]);
    s.finish().await;
    assert_eq!(written.lock().len(), 2, "the second attempt stored them");

    let (store, written) = recording_store(2);
    let s = TsdbService::new(Arc::new(store), clock(now), tsdb_config(0, 0), &t.meter());
    s.ingest(&[gauges("a", 2, window_start() - T0 + S)]);
    s.finish().await;
    assert!(written.lock().is_empty());
    assert!(t.render().contains("otelcontext_tsdb_buckets_dropped_total{reason=\"write_failed\"} 2"));
}

#[tokio::test]
async fn a_full_write_queue_drops_and_counts() {
    let (store, _written) = recording_store(0);
    let now = Arc::new(AtomicI64::new(window_start() + S));
    let t = Telemetry::new();
    let s = TsdbService::new(Arc::new(store), clock(now.clone()), tsdb_config(0, 0), &t.meter());
    // One batch per tenant; no writer is running, so the queue fills.
    let batches: Vec<TenantBatch> =
        (0..WRITE_QUEUE + 10).map(|n| gauges(&format!("t{n}"), 1, window_start() - T0 + S)).collect();
    s.ingest(&batches);
    now.store(window_start() + 40 * S, Ordering::Relaxed);
    assert_eq!(s.flush_closed(), WRITE_QUEUE);
    let text = t.render();
    assert!(text.contains("otelcontext_tsdb_batches_dropped_total 10"), "{text}");
    assert!(text.contains("otelcontext_tsdb_buckets_dropped_total{reason=\"queue_full\"} 10"), "{text}");
}
