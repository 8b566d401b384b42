//! Measures raw group-commit throughput of the SQLite adapter (no network, no pipeline).
//!
//! `cargo run --release -p otelcontext-sqlite --example write_throughput -- [spans] [per_commit] [spans_per_trace]`

use otelcontext_domain::{
    AnyValue, Attributes, InstrumentationScope, Resource, Span, SpanId, SpanKind, SpanStatus, StatusCode, TenantId,
    TraceId,
};
use otelcontext_ports::{Maintenance, TelemetryWriter, TenantBatch};
use otelcontext_sqlite::{SqliteConfig, SqliteStorage};
use std::sync::Arc;
use std::time::Instant;

fn main() {
    let args: Vec<usize> = std::env::args().skip(1).map(|a| a.parse().expect("number")).collect();
    let total = *args.first().unwrap_or(&500_000);
    let per_commit = *args.get(1).unwrap_or(&10_000);
    let per_trace = *args.get(2).unwrap_or(&5);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async move {
        let dir = tempfile::tempdir().unwrap();
        let storage = SqliteStorage::open(&SqliteConfig::new(dir.path().join("bench.db"))).await.unwrap();
        let tenant = TenantId::parse("bench").unwrap();
        let resources: Vec<Arc<Resource>> =
            (0..50).map(|i| Arc::new(Resource::for_service(&format!("svc-{i:03}")))).collect();
        let scope = Arc::new(InstrumentationScope { name: "bench".into(), ..Default::default() });
        let mut seed = 0x9e3779b97f4a7c15u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let now = 1_764_000_000_000_000_000i64;
        let mut built = 0usize;
        let started = Instant::now();
        while built < total {
            let mut spans = Vec::with_capacity(per_commit);
            while spans.len() < per_commit {
                let mut tid = [0u8; 16];
                tid[..8].copy_from_slice(&next().to_le_bytes());
                tid[8..].copy_from_slice(&next().to_le_bytes());
                let trace_id = TraceId::from_array(tid).unwrap();
                let root = SpanId::from_array(next().to_le_bytes()).unwrap();
                for i in 0..per_trace {
                    let span_id = if i == 0 { root } else { SpanId::from_array(next().to_le_bytes()).unwrap() };
                    let mut attributes = Attributes::new();
                    for a in 0..10 {
                        attributes.push(format!("attr.{a}"), AnyValue::String(format!("value-{}", next() % 1000)));
                    }
                    spans.push(Span {
                        trace_id,
                        span_id,
                        parent_span_id: (i > 0).then_some(root),
                        trace_state: String::new(),
                        flags: 1,
                        name: format!("GET /api/{}", i % 5),
                        kind: SpanKind::Server,
                        start_ns: now + built as i64 * 1000,
                        end_ns: now + built as i64 * 1000 + 5_000_000,
                        attributes,
                        dropped_attributes_count: 0,
                        events: vec![],
                        links: vec![],
                        status: SpanStatus { code: StatusCode::Unset, message: String::new() },
                        resource: resources[(next() % 50) as usize].clone(),
                        scope: scope.clone(),
                    });
                }
            }
            built += spans.len();
            storage
                .write(&[TenantBatch { tenant: tenant.clone(), spans, logs: vec![], metrics: vec![] }])
                .await
                .unwrap();
        }
        let secs = started.elapsed().as_secs_f64();
        let counts = storage.counts(&tenant).await.unwrap();
        println!(
            "spans={} commit={} per_trace={} secs={:.2} spans_per_sec={:.0} stored={}",
            built,
            per_commit,
            per_trace,
            secs,
            built as f64 / secs,
            counts.spans
        );
        storage.close().await;
    });
}
