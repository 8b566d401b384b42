//! TSDB and similar-log index speed.
//! - `tsdb`: points per second aggregated into buckets (1,000 series of gauges and cumulative
//!   counters, ten points each, as a pipeline batch would bring them).
//! - `similar`: records indexed per second, and search latency over 100,000 indexed records
//!   (Loghub `Content` lines from `../shared/data/loghub-2k`, repeated; synthetic lines when absent).

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use otelcontext_domain::metric::{MetricPoint, PointValue, Temporality};
use otelcontext_domain::similar::SimilarIndex;
use otelcontext_domain::tsdb::{Tsdb, TsdbConfig};
use otelcontext_domain::{AnyValue, Attributes, InstrumentationScope, Resource, TenantId};
use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;

const T0: i64 = 1_700_000_010_000_000_000;

fn points() -> Vec<MetricPoint> {
    let resource = Arc::new(Resource::for_service("api"));
    let scope = Arc::new(InstrumentationScope::default());
    let mut out = Vec::new();
    for step in 0..10i64 {
        for series in 0..1_000 {
            let mut attributes = Attributes::new();
            attributes.push("route", AnyValue::String(format!("/route/{series}")));
            attributes.push("code", AnyValue::Int(200));
            let value = if series % 2 == 0 {
                PointValue::Gauge { value: (series + step) as f64 }
            } else {
                PointValue::Sum { value: (step * 10) as f64, temporality: Temporality::Cumulative, monotonic: true }
            };
            out.push(MetricPoint {
                name: if series % 2 == 0 { "cpu" } else { "requests" }.into(),
                description: String::new(),
                unit: String::new(),
                attributes,
                start_ns: T0 - 1,
                time_ns: T0 + step * 1_000_000_000,
                flags: 0,
                value,
                resource: resource.clone(),
                scope: scope.clone(),
            });
        }
    }
    out
}

fn lines() -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/loghub-2k");
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(&dir) {
        for d in entries.filter_map(Result::ok).map(|e| e.path()).filter(|p| p.is_dir()) {
            let name = d.file_name().unwrap().to_string_lossy().into_owned();
            if let Ok(text) = std::fs::read_to_string(d.join(format!("{name}_2k.log"))) {
                out.extend(text.lines().map(str::to_owned));
            }
        }
    }
    if out.is_empty() {
        eprintln!("similar bench: ../shared/data/loghub-2k is absent; synthetic lines");
        let words = ["connection", "refused", "timeout", "payment", "database", "retry", "failed", "user", "disk"];
        out = (0..14_000)
            .map(|n| (0..8).map(|k| words[(n * 7 + k * 3) % words.len()]).collect::<Vec<_>>().join(" "))
            .collect();
    }
    out
}

fn tsdb(c: &mut Criterion) {
    let pts = points();
    let tenant = TenantId::parse("bench").unwrap();
    let mut g = c.benchmark_group("tsdb");
    g.throughput(Throughput::Elements(pts.len() as u64));
    g.bench_function("ingest 10k points, 1k series", |b| {
        b.iter(|| {
            let mut t = Tsdb::new(TsdbConfig::default());
            for p in &pts {
                black_box(t.ingest(&tenant, p, T0));
            }
            black_box(t.take_all().len())
        })
    });
    g.finish();
}

fn similar(c: &mut Criterion) {
    let lines = lines();
    let mut g = c.benchmark_group("similar");
    g.throughput(Throughput::Elements(lines.len() as u64));
    g.bench_function("index Loghub lines", |b| {
        b.iter(|| {
            let mut ix = SimilarIndex::new(100_000);
            for (i, l) in lines.iter().enumerate() {
                ix.insert(l, i);
            }
            black_box(ix.len())
        })
    });
    let mut full = SimilarIndex::new(100_000);
    let mut n = 0usize;
    while full.len() < 100_000 {
        full.insert(&lines[n % lines.len()], n);
        n += 1;
    }
    let queries: Vec<&String> = lines.iter().step_by(lines.len() / 100).take(100).collect();
    g.throughput(Throughput::Elements(queries.len() as u64));
    g.bench_function("100 searches over 100k records", |b| {
        b.iter(|| {
            for q in &queries {
                black_box(full.search(q, 10));
            }
        })
    });
    g.finish();
}

criterion_group!(benches, tsdb, similar);
criterion_main!(benches);
