//! What the exact dashboard percentiles cost on SQLite: `trace_stats` (totals, exact
//! p50/p95/p99 by nearest rank over every trace, failing services, log count) against `traffic`
//! (one GROUP BY pass over the same rows) on a window of N one-span traces, alternating in the
//! same run.
//!
//! `cargo run --release -p otelcontext-sqlite --example aggregate_cost -- [traces] [rounds]`

use otelcontext_domain::{
    Attributes, InstrumentationScope, Resource, Span, SpanId, SpanKind, SpanStatus, StatusCode, TenantId, TraceId,
};
use otelcontext_ports::{SeriesQuery, TelemetryWriter, TenantBatch, TraceStatsQuery, TraceStore};
use otelcontext_sqlite::{SqliteConfig, SqliteStorage};
use std::sync::Arc;
use std::time::Instant;

fn main() {
    let args: Vec<usize> = std::env::args().skip(1).map(|a| a.parse().expect("number")).collect();
    let total = *args.first().unwrap_or(&1_000_000);
    let rounds = *args.get(1).unwrap_or(&5);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async move {
        let dir = tempfile::tempdir().unwrap();
        let storage = SqliteStorage::open(&SqliteConfig::new(dir.path().join("bench.db"))).await.unwrap();
        let tenant = TenantId::parse("bench").unwrap();
        let resources: Vec<Arc<Resource>> =
            (0..20).map(|i| Arc::new(Resource::for_service(&format!("svc-{i:02}")))).collect();
        let scope = Arc::new(InstrumentationScope { name: "bench".into(), ..Default::default() });
        let mut seed = 0x9e3779b97f4a7c15u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let start = 1_764_000_000_000_000_000i64;
        let hour = 3_600_000_000_000i64;
        let mut built = 0usize;
        let loading = Instant::now();
        while built < total {
            let n = (total - built).min(20_000);
            let spans: Vec<Span> = (0..n)
                .map(|i| {
                    let mut tid = [0u8; 16];
                    tid[..8].copy_from_slice(&next().to_le_bytes());
                    tid[8..].copy_from_slice(&next().to_le_bytes());
                    let at = start + ((built + i) as i64 * hour / total as i64);
                    // Durations spread over four orders of magnitude.
                    let duration = 100_000i64 << (next() % 14);
                    Span {
                        trace_id: TraceId::from_array(tid).unwrap(),
                        span_id: SpanId::from_array(next().to_le_bytes()).unwrap(),
                        parent_span_id: None,
                        trace_state: String::new(),
                        flags: 1,
                        name: "GET /api".into(),
                        kind: SpanKind::Server,
                        start_ns: at,
                        end_ns: at + duration,
                        attributes: Attributes::new(),
                        dropped_attributes_count: 0,
                        events: vec![],
                        links: vec![],
                        status: SpanStatus {
                            code: if next() % 50 == 0 { StatusCode::Error } else { StatusCode::Ok },
                            message: String::new(),
                        },
                        resource: resources[(next() % 20) as usize].clone(),
                        scope: scope.clone(),
                    }
                })
                .collect();
            built += n;
            storage
                .write(&[TenantBatch { tenant: tenant.clone(), spans, logs: vec![], metrics: vec![] }])
                .await
                .unwrap();
        }
        println!("loaded {total} traces in {:.1}s", loading.elapsed().as_secs_f64());
        let rows = TraceStatsQuery { start_ns: start, end_ns: start + hour, services: vec![] };
        let series = SeriesQuery { rows: rows.clone(), step_ns: 60_000_000_000 };
        let (mut stats_ms, mut traffic_ms) = (Vec::new(), Vec::new());
        for _ in 0..rounds {
            let t = Instant::now();
            let s = storage.trace_stats(&tenant, &rows).await.unwrap();
            stats_ms.push(t.elapsed().as_secs_f64() * 1e3);
            assert_eq!(s.traces, total as u64);
            let t = Instant::now();
            let p = storage.traffic(&tenant, &series).await.unwrap();
            traffic_ms.push(t.elapsed().as_secs_f64() * 1e3);
            assert_eq!(p.iter().map(|x| x.traces).sum::<u64>(), total as u64);
        }
        let median = |v: &mut Vec<f64>| {
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        let (s, t) = (median(&mut stats_ms), median(&mut traffic_ms));
        println!("traces={total} rounds={rounds} trace_stats_ms={s:.0} traffic_ms={t:.0} ratio={:.2} (medians)", s / t);
    });
}
