//! Queries at scale: seeds the configured database (`DB_DRIVER`, `DB_DSN`, as the server reads them)
//! with `spans` spans (5 per trace, 50 services, ten attributes)
//! and `logs` log records spread over one hour, then times the reads the API serves most: a trace
//! by id, full-text log search (two common words, then a rare term), trace search by service and
//! time, and the dashboard's exact stats.
//! Prints p50/p95/p99 of each (wall time through the adapter, one caller, warm cache).
//!
//! ```sh
//! DB_DSN=/path/scale.db cargo run --release -p otelcontext --example query_scale -- [spans] [logs]
//! DB_DRIVER=postgres DB_DSN=postgres://postgres@127.0.0.1:5432/scale \
//!     cargo run --release -p otelcontext --example query_scale -- [spans] [logs]
//! ```
//!
//! On a database that already holds the data seeding is skipped (the ids to look up are re-derived
//! from the same generator), so the queries can be re-run without re-seeding.

use otelcontext::Config;
use otelcontext_domain::search::TextQuery;
use otelcontext_domain::{
    AnyValue, Attributes, InstrumentationScope, LogRecord, Resource, Span, SpanId, SpanKind, SpanStatus, StatusCode,
    TenantId, TraceId,
};
use otelcontext_ports::{LogQuery, Storage, TenantBatch, TimeRange, TraceQuery, TraceStatsQuery};
use std::sync::Arc;
use std::time::{Duration, Instant};

const HOUR_NS: i64 = 3_600_000_000_000;
const T0: i64 = 1_764_000_000_000_000_000;
const WORDS: [&str; 16] = [
    "checkout",
    "payment",
    "inventory",
    "timeout",
    "refused",
    "cache",
    "retry",
    "shipping",
    "invoice",
    "login",
    "session",
    "quota",
    "upstream",
    "deadline",
    "replica",
    "failover",
];

struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn trace_id_of(n: u64) -> TraceId {
    let mut g = Gen(n.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let mut id = [0u8; 16];
    id[..8].copy_from_slice(&g.next().to_le_bytes());
    id[8..].copy_from_slice(&g.next().to_le_bytes());
    TraceId::from_array(id).expect("non-zero")
}

fn service(n: u64) -> String {
    format!("svc-{:03}", n % 50)
}

fn percentiles(mut d: Vec<Duration>) -> String {
    d.sort();
    let at = |q: f64| d[((d.len() as f64 * q).ceil() as usize).clamp(1, d.len()) - 1].as_secs_f64() * 1e3;
    format!("n={} p50={:.2} ms p95={:.2} ms p99={:.2} ms", d.len(), at(0.5), at(0.95), at(0.99))
}

async fn seed(storage: &dyn Storage, tenant: &TenantId, spans: u64, logs: u64) {
    let resources: Vec<Arc<Resource>> = (0..50).map(|i| Arc::new(Resource::for_service(&service(i)))).collect();
    let scope = Arc::new(InstrumentationScope { name: "bench".into(), ..Default::default() });
    let traces = spans / 5;
    let started = Instant::now();
    let mut g = Gen(0x2545_f491_4f6c_dd1d);
    let mut t = 0u64;
    while t < traces {
        let mut batch = Vec::with_capacity(10_000);
        while batch.len() < 10_000 && t < traces {
            let trace_id = trace_id_of(t);
            let start = T0 + (t as i128 * HOUR_NS as i128 / traces as i128) as i64;
            let root = SpanId::from_array((t + 1).to_be_bytes()).expect("non-zero");
            let svc = g.next();
            let duration = 1_000_000 + (g.next() % 400) as i64 * 1_000_000;
            for i in 0..5u64 {
                let mut attributes = Attributes::new();
                for a in 0..10 {
                    attributes.push(format!("attr.{a}"), AnyValue::String(format!("value-{}", g.next() % 1000)));
                }
                batch.push(Span {
                    trace_id,
                    span_id: if i == 0 { root } else { SpanId::from_array(g.next().max(1).to_be_bytes()).unwrap() },
                    parent_span_id: (i > 0).then_some(root),
                    trace_state: String::new(),
                    flags: 1,
                    name: format!("GET /api/{}", (svc + i) % 20),
                    kind: if i == 0 { SpanKind::Server } else { SpanKind::Client },
                    start_ns: start + i as i64 * 1000,
                    end_ns: start + duration / (i as i64 + 1),
                    attributes,
                    dropped_attributes_count: 0,
                    events: vec![],
                    links: vec![],
                    status: SpanStatus {
                        code: if g.next().is_multiple_of(50) { StatusCode::Error } else { StatusCode::Ok },
                        message: String::new(),
                    },
                    resource: resources[((svc + i) % 50) as usize].clone(),
                    scope: scope.clone(),
                });
            }
            t += 1;
        }
        storage
            .write(&[TenantBatch { tenant: tenant.clone(), spans: batch, logs: vec![], metrics: vec![] }])
            .await
            .unwrap();
    }
    println!("seeded {spans} spans in {:.1} s", started.elapsed().as_secs_f64());
    let started = Instant::now();
    let mut n = 0u64;
    while n < logs {
        let mut batch = Vec::with_capacity(10_000);
        while batch.len() < 10_000 && n < logs {
            let w = |g: &mut Gen| WORDS[(g.next() % WORDS.len() as u64) as usize];
            let body = format!(
                "{} {} for order {} after {} ms ({} {})",
                w(&mut g),
                w(&mut g),
                g.next() % 1_000_000,
                g.next() % 5000,
                w(&mut g),
                w(&mut g)
            );
            let mut attributes = Attributes::new();
            for a in 0..5 {
                attributes.push(format!("log.attr.{a}"), AnyValue::String(format!("v{}", g.next() % 100)));
            }
            batch.push(LogRecord {
                timestamp_ns: T0 + (n as i128 * HOUR_NS as i128 / logs as i128) as i64,
                observed_ns: 0,
                severity_number: if g.next().is_multiple_of(20) { 17 } else { 9 },
                severity_text: String::new(),
                body: Some(AnyValue::String(body)),
                attributes,
                trace_id: Some(trace_id_of(n % traces.max(1))),
                span_id: None,
                flags: 0,
                event_name: String::new(),
                resource: resources[(g.next() % 50) as usize].clone(),
                scope: scope.clone(),
                template_id: None,
            });
            n += 1;
        }
        storage
            .write(&[TenantBatch { tenant: tenant.clone(), spans: vec![], logs: batch, metrics: vec![] }])
            .await
            .unwrap();
    }
    println!("seeded {logs} logs in {:.1} s", started.elapsed().as_secs_f64());
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let spans: u64 = args.first().map(|a| a.parse().expect("spans")).unwrap_or(10_000_000);
    let logs: u64 = args.get(1).map(|a| a.parse().expect("logs")).unwrap_or(10_000_000);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async move {
        let config = Config::from_env().expect("configuration");
        let storage = otelcontext::storage::open_adapter(&config).await.expect("storage");
        let storage = storage.as_ref();
        let tenant = TenantId::parse("bench").unwrap();
        let counts = storage.counts(&tenant).await.unwrap();
        if counts.spans < spans || counts.logs < logs {
            seed(storage, &tenant, spans, logs).await;
        }
        let counts = storage.counts(&tenant).await.unwrap();
        println!("database: {} spans, {} traces, {} logs", counts.spans, counts.traces, counts.logs);
        let traces = spans / 5;
        let mut g = Gen(42);

        let mut d = Vec::new();
        for _ in 0..1000 {
            let id = trace_id_of(g.next() % traces);
            let at = Instant::now();
            let trace = storage.get_trace(&tenant, &id).await.unwrap().expect("seeded trace");
            d.push(at.elapsed());
            assert_eq!(trace.spans.len(), 5);
        }
        println!("trace by id:                      {}", percentiles(d));

        let mut d = Vec::new();
        for _ in 0..200 {
            let text = format!("{} {}", WORDS[(g.next() % 16) as usize], WORDS[(g.next() % 16) as usize]);
            let q = LogQuery { text: TextQuery::parse(&text).unwrap(), ..LogQuery::recent(100) };
            let at = Instant::now();
            let page = storage.search_logs(&tenant, &q).await.unwrap();
            d.push(at.elapsed());
            assert!(!page.items.is_empty());
        }
        println!("log full-text search (100 newest): {}", percentiles(d));

        // A rare term: an order number (each is in about logs / 1,000,000 bodies).
        let mut d = Vec::new();
        for _ in 0..200 {
            let q = LogQuery {
                text: TextQuery::parse(&format!("order {}", g.next() % 1_000_000)).unwrap(),
                ..LogQuery::recent(100)
            };
            let at = Instant::now();
            storage.search_logs(&tenant, &q).await.unwrap();
            d.push(at.elapsed());
        }
        println!("log search, rare term:            {}", percentiles(d));

        let mut d = Vec::new();
        for _ in 0..200 {
            let from = T0 + (g.next() % 55) as i64 * 60_000_000_000;
            let q = TraceQuery {
                time: TimeRange { start_ns: Some(from), end_ns: Some(from + 5 * 60_000_000_000) },
                service: Some(service(g.next())),
                limit: 50,
                ..TraceQuery::default()
            };
            let at = Instant::now();
            let page = storage.search_traces(&tenant, &q).await.unwrap();
            d.push(at.elapsed());
            assert!(!page.items.is_empty());
        }
        println!("trace search, service + 5 min:    {}", percentiles(d));

        for (label, window) in [("15 min", HOUR_NS / 4), ("1 hour", HOUR_NS)] {
            let mut d = Vec::new();
            for _ in 0..5 {
                let q = TraceStatsQuery { start_ns: T0 + HOUR_NS - window, end_ns: T0 + HOUR_NS, services: vec![] };
                let at = Instant::now();
                let stats = storage.trace_stats(&tenant, &q).await.unwrap();
                d.push(at.elapsed());
                assert!(stats.traces > 0);
            }
            println!("dashboard stats, {label}:           {}", percentiles(d));
        }
        storage.close().await;
    });
}
