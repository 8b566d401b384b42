//! OTLP decode + mapping to domain spans, per span (10 attributes each), for protobuf and JSON.
//!
//! `cargo bench -p otelcontext-otlp --bench decode_map`

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};
use otelcontext_domain::TenantId;
use otelcontext_otlp::map;
use otelcontext_otlp::tenant::{RequestTenant, TenantPolicy};
use prost::Message;
use std::hint::black_box;

const SPANS: usize = 1_000;

fn kv(k: &str, v: any_value::Value) -> KeyValue {
    KeyValue { key: k.into(), value: Some(AnyValue { value: Some(v) }), ..Default::default() }
}

fn request() -> ExportTraceServiceRequest {
    let per_resource = SPANS / 10;
    let resource_spans = (0..10)
        .map(|r| ResourceSpans {
            resource: Some(Resource {
                attributes: vec![
                    kv("service.name", any_value::Value::StringValue(format!("svc-{r}"))),
                    kv("host.name", any_value::Value::StringValue("node-1".into())),
                ],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope { name: "bench".into(), ..Default::default() }),
                spans: (0..per_resource)
                    .map(|i| {
                        let n = (r * per_resource + i) as u64;
                        Span {
                            trace_id: [n.to_be_bytes(), (n | 1).to_be_bytes()].concat(),
                            span_id: (n + 1).to_be_bytes().to_vec(),
                            parent_span_id: if i % 5 == 0 { vec![] } else { (n | 0x100).to_be_bytes().to_vec() },
                            name: "GET /api/items".into(),
                            kind: 2,
                            start_time_unix_nano: 1_764_000_000_000_000_000 + n,
                            end_time_unix_nano: 1_764_000_000_050_000_000 + n,
                            attributes: vec![
                                kv("http.request.method", any_value::Value::StringValue("GET".into())),
                                kv("url.path", any_value::Value::StringValue("/api/items".into())),
                                kv("http.response.status_code", any_value::Value::IntValue(200)),
                                kv("server.address", any_value::Value::StringValue("api.internal".into())),
                                kv("server.port", any_value::Value::IntValue(8443)),
                                kv("network.protocol.version", any_value::Value::StringValue("1.1".into())),
                                kv("user_agent.original", any_value::Value::StringValue("bench/1.0".into())),
                                kv("bench.sequence", any_value::Value::IntValue(n as i64)),
                                kv("bench.ratio", any_value::Value::DoubleValue(0.5)),
                                kv("bench.cached", any_value::Value::BoolValue(false)),
                            ],
                            status: Some(Status { code: 1, message: String::new() }),
                            ..Default::default()
                        }
                    })
                    .collect(),
                ..Default::default()
            }],
            ..Default::default()
        })
        .collect();
    ExportTraceServiceRequest { resource_spans }
}

fn bench(c: &mut Criterion) {
    let policy = TenantPolicy { default_tenant: TenantId::parse("default").unwrap(), trust_resource_attribute: false };
    let req = request();
    let proto = req.encode_to_vec();
    let json = serde_json::to_vec(&req).unwrap();
    let mut g = c.benchmark_group("otlp_traces");
    g.throughput(Throughput::Elements(SPANS as u64));
    g.bench_function("protobuf_decode_and_map", |b| {
        b.iter(|| {
            let msg = ExportTraceServiceRequest::decode(black_box(proto.as_slice())).unwrap();
            black_box(map::traces(msg, &policy, &RequestTenant::PerResource).unwrap())
        })
    });
    g.bench_function("json_decode_and_map", |b| {
        b.iter(|| {
            let msg: ExportTraceServiceRequest = serde_json::from_slice(black_box(json.as_slice())).unwrap();
            black_box(map::traces(msg, &policy, &RequestTenant::PerResource).unwrap())
        })
    });
    g.bench_function("map_only", |b| {
        b.iter_batched(
            || req.clone(),
            |msg| black_box(map::traces(msg, &policy, &RequestTenant::PerResource).unwrap()),
            criterion::BatchSize::LargeInput,
        )
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
