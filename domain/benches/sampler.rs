//! Trace sampler decisions per span (rate 0.1, batches of 1,000 spans in 200 traces).
//!
//! `cargo bench -p otelcontext-domain --bench sampler`

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use otelcontext_domain::sampling::{SamplingPolicy, TraceSampler};
use otelcontext_domain::{
    Attributes, InstrumentationScope, Resource, Span, SpanId, SpanKind, SpanStatus, StatusCode, TenantId, TraceId,
};
use std::hint::black_box;
use std::sync::Arc;

fn spans() -> Vec<Span> {
    let resource = Arc::new(Resource::for_service("svc"));
    let scope = Arc::new(InstrumentationScope::default());
    (0..1_000u64)
        .map(|i| {
            let trace = i / 5;
            let mut tid = [0x5au8; 16];
            tid[8..].copy_from_slice(&trace.to_be_bytes());
            Span {
                trace_id: TraceId::from_array(tid).unwrap(),
                span_id: SpanId::from_array((i + 1).to_be_bytes()).unwrap(),
                parent_span_id: None,
                trace_state: String::new(),
                flags: 0,
                name: "op".into(),
                kind: SpanKind::Server,
                start_ns: 0,
                end_ns: 1_000_000,
                attributes: Attributes::new(),
                dropped_attributes_count: 0,
                events: vec![],
                links: vec![],
                status: SpanStatus {
                    code: if trace % 20 == 0 { StatusCode::Error } else { StatusCode::Ok },
                    message: String::new(),
                },
                resource: resource.clone(),
                scope: scope.clone(),
            }
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let tenant = TenantId::parse("bench").unwrap();
    let input = spans();
    let mut sampler = TraceSampler::new(SamplingPolicy { rate: 0.1, ..SamplingPolicy::default() });
    let mut g = c.benchmark_group("sampler");
    g.throughput(Throughput::Elements(input.len() as u64));
    g.bench_function("rate_0.1_per_span", |b| {
        b.iter_batched(|| input.clone(), |s| black_box(sampler.sample(&tenant, s)), BatchSize::LargeInput)
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
