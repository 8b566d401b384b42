//! What full-text indexing costs the log write path: log records per second through the SQLite
//! adapter with the FTS5 index (kept by the writer, as shipped) and without it (index dropped),
//! alternating in the same run.
//!
//! `cargo run --release -p otelcontext-sqlite --example log_throughput -- [records] [per_commit] [rounds]`

use otelcontext_domain::{AnyValue, Attributes, InstrumentationScope, LogRecord, Resource, TenantId};
use otelcontext_ports::{Maintenance, TelemetryWriter, TenantBatch};
use otelcontext_sqlite::{SqliteConfig, SqliteStorage};
use std::sync::Arc;
use std::time::Instant;

const WORDS: &[&str] = &[
    "connection",
    "refused",
    "timeout",
    "user",
    "request",
    "served",
    "payment",
    "declined",
    "cache",
    "miss",
    "retry",
    "failed",
    "database",
    "query",
    "slow",
    "order",
    "created",
    "shipped",
    "token",
    "expired",
    "upstream",
    "error",
];

fn records(total: usize) -> Vec<LogRecord> {
    let resources: Vec<Arc<Resource>> =
        (0..50).map(|i| Arc::new(Resource::for_service(&format!("svc-{i:03}")))).collect();
    let scope = Arc::new(InstrumentationScope { name: "bench".into(), ..Default::default() });
    let mut seed = 0x2545f4914f6cdd1du64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    (0..total)
        .map(|i| {
            let body: Vec<String> = (0..12)
                .map(|_| {
                    let r = next();
                    if r % 4 == 0 {
                        format!("id={}", r % 100_000)
                    } else {
                        WORDS[(r % WORDS.len() as u64) as usize].to_owned()
                    }
                })
                .collect();
            let mut attributes = Attributes::new();
            for a in 0..5 {
                attributes.push(format!("attr.{a}"), AnyValue::String(format!("value-{}", next() % 1000)));
            }
            LogRecord {
                timestamp_ns: 1_764_000_000_000_000_000 + i as i64 * 1_000,
                observed_ns: 1_764_000_000_000_000_000 + i as i64 * 1_000,
                severity_number: 9,
                severity_text: "INFO".into(),
                body: Some(AnyValue::String(body.join(" "))),
                attributes,
                trace_id: None,
                span_id: None,
                flags: 0,
                event_name: String::new(),
                resource: resources[(next() % 50) as usize].clone(),
                scope: scope.clone(),
                template_id: None,
            }
        })
        .collect()
}

async fn run(logs: &[LogRecord], per_commit: usize, fts: bool) -> f64 {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bench.db");
    if !fts {
        // Create the schema, then remove the index before the writer starts (it keeps it only
        // when it exists).
        SqliteStorage::open(&SqliteConfig::new(&path)).await.unwrap().close().await;
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch("DROP TRIGGER logs_fts_au; DROP TABLE logs_fts;").unwrap();
    }
    let storage = SqliteStorage::open(&SqliteConfig::new(&path)).await.unwrap();
    let tenant = TenantId::parse("bench").unwrap();
    let started = Instant::now();
    for chunk in logs.chunks(per_commit) {
        let batch = TenantBatch { tenant: tenant.clone(), spans: vec![], logs: chunk.to_vec(), metrics: vec![] };
        storage.write(&[batch]).await.unwrap();
    }
    let rate = logs.len() as f64 / started.elapsed().as_secs_f64();
    assert_eq!(storage.counts(&tenant).await.unwrap().logs, logs.len() as u64);
    storage.close().await;
    rate
}

#[tokio::main]
async fn main() {
    let args: Vec<usize> = std::env::args().skip(1).map(|a| a.parse().expect("number")).collect();
    let total = *args.first().unwrap_or(&300_000);
    let per_commit = *args.get(1).unwrap_or(&10_000);
    let rounds = *args.get(2).unwrap_or(&3);
    let logs = records(total);
    for round in 1..=rounds {
        let with = run(&logs, per_commit, true).await;
        let without = run(&logs, per_commit, false).await;
        println!(
            "round={round} records={total} per_commit={per_commit} with_fts={with:.0}/s without_fts={without:.0}/s ratio={:.2}",
            with / without
        );
    }
}
