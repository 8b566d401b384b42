//! The cost of recording one measurement through the OpenTelemetry metrics API (what the server
//! does now) against the `prometheus` crate's labelled counters and histograms (what it did
//! before), for the shapes the ingest path records per export: a counter with two labels and a
//! latency histogram with one.

use criterion::{Criterion, criterion_group, criterion_main};
use otelcontext_telemetry::{KeyValue, LATENCY_BUCKETS, Telemetry, counter, histogram};
use std::hint::black_box;

fn record(c: &mut Criterion) {
    let t = Telemetry::new();
    let m = t.meter();
    let otel_counter = counter(&m, "otelcontext_bench_received_total", "bench");
    let otel_histogram = histogram(&m, "otelcontext_bench_duration_seconds", "bench", LATENCY_BUCKETS);
    let reg = prometheus::Registry::new();
    let prom_counter = prometheus::IntCounterVec::new(
        prometheus::Opts::new("bench_received_total", "bench"),
        &["signal", "transport"],
    )
    .unwrap();
    let prom_histogram = prometheus::HistogramVec::new(
        prometheus::HistogramOpts::new("bench_duration_seconds", "bench").buckets(LATENCY_BUCKETS.to_vec()),
        &["signal"],
    )
    .unwrap();
    reg.register(Box::new(prom_counter.clone())).unwrap();
    reg.register(Box::new(prom_histogram.clone())).unwrap();

    let mut g = c.benchmark_group("record");
    g.bench_function("otel counter, 2 labels", |b| {
        b.iter(|| {
            otel_counter.add(
                black_box(500),
                &[KeyValue::new("signal", black_box("traces")), KeyValue::new("transport", "grpc")],
            )
        })
    });
    g.bench_function("prometheus counter, 2 labels", |b| {
        b.iter(|| prom_counter.with_label_values(&[black_box("traces"), "grpc"]).inc_by(black_box(500)))
    });
    g.bench_function("otel histogram, 1 label", |b| {
        b.iter(|| otel_histogram.record(black_box(0.0042), &[KeyValue::new("signal", black_box("traces"))]))
    });
    g.bench_function("prometheus histogram, 1 label", |b| {
        b.iter(|| prom_histogram.with_label_values(&[black_box("traces")]).observe(black_box(0.0042)))
    });
    g.finish();
}

criterion_group!(benches, record);
criterion_main!(benches);
