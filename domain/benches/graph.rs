//! Service-graph cost per span: assembling traces and folding them into a tenant's graph
//! (`analyse` + `apply`), on traces of 10 spans over 5 services (a front service calling 4
//! backends), from the slim per-span copy the graph is given after commit. Also the ranking of a
//! 200-service graph over 10 minutes, the answer `/api/rca` computes.

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use otelcontext_domain::graph::assembly::{Assembly, AssemblyConfig};
use otelcontext_domain::graph::trace::{GraphSpan, analyse};
use otelcontext_domain::graph::{GraphLimits, ServiceGraph, rca};
use otelcontext_domain::{Resource, SpanId, SpanKind, TraceId};
use std::hint::black_box;
use std::sync::Arc;

const S: i64 = 1_000_000_000;
const MS: i64 = 1_000_000;
const NOW: i64 = 1_700_000_000 * S;

fn span(id: u64, parent: Option<u64>, resource: &Arc<Resource>, kind: SpanKind, start: i64, ms: i64) -> GraphSpan {
    GraphSpan {
        span_id: SpanId::from_array(id.to_be_bytes()).unwrap(),
        parent_span_id: parent.map(|p| SpanId::from_array(p.to_be_bytes()).unwrap()),
        service: resource.service_name.as_str().into(),
        name: format!("op-{}", id % 4).into(),
        kind,
        start_ns: start,
        end_ns: start + ms * MS,
        error: false,
        message: String::new(),
        peer: None,
        instance: otelcontext_domain::graph::trace::instance_of_resource(resource).into(),
    }
}

/// Traces of 10 spans: the frontend SERVER span, and per backend a CLIENT span and the
/// backend's SERVER span (4 backends), plus one more frontend span.
fn traces(n: u64, services: usize) -> Vec<(TraceId, Vec<GraphSpan>)> {
    let resources: Vec<Arc<Resource>> =
        (0..services).map(|i| Arc::new(Resource::for_service(&format!("svc-{i}")))).collect();
    (0..n)
        .map(|t| {
            let start = NOW - 600 * S + (t as i64) * 10 * MS;
            let base = (t + 1) * 100;
            let front = &resources[(t as usize) % services];
            let mut spans = vec![span(base, None, front, SpanKind::Server, start, 50)];
            for b in 0..4u64 {
                let backend = &resources[((t + b + 1) as usize) % services];
                spans.push(span(base + 1 + 2 * b, Some(base), front, SpanKind::Client, start + MS, 10));
                spans.push(span(
                    base + 2 + 2 * b,
                    Some(base + 1 + 2 * b),
                    backend,
                    SpanKind::Server,
                    start + 2 * MS,
                    8,
                ));
            }
            spans.push(span(base + 9, Some(base), front, SpanKind::Internal, start + 45 * MS, 2));
            let mut id = [0u8; 16];
            id[8..].copy_from_slice(&(t + 1).to_be_bytes());
            (TraceId::from_array(id).unwrap(), spans)
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let batch = traces(1_000, 5);
    let spans: usize = batch.iter().map(|t| t.1.len()).sum();
    let mut g = c.benchmark_group("graph");
    g.throughput(Throughput::Elements(spans as u64));
    g.bench_function("assemble_analyse_apply_1000_traces", |b| {
        b.iter_batched(
            || (batch.clone(), ServiceGraph::new(GraphLimits::default())),
            |(batch, mut graph)| {
                let mut assembly = Assembly::new(AssemblyConfig::default());
                for (id, spans) in batch {
                    for s in spans {
                        assembly.add(id, s, NOW);
                    }
                }
                for (id, spans) in assembly.take_all() {
                    let mut facts = analyse(&spans);
                    facts.trace_id = Some(id);
                    graph.apply(&facts, NOW);
                }
                black_box(graph.node_count())
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();

    let mut big = ServiceGraph::new(GraphLimits::default());
    for (id, spans) in traces(60_000, 200) {
        let mut facts = analyse(&spans);
        facts.trace_id = Some(id);
        big.apply(&facts, NOW);
    }
    c.bench_function("graph/rca_200_services_10_minutes", |b| {
        b.iter(|| black_box(rca::rank(&big, NOW - 600 * S, NOW, None, 10).candidates.len()))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
