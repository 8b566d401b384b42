//! Spans per second through the PostgreSQL adapter, beside a raw `COPY` of the same span and
//! trace rows into tables with the same columns and indexes, in the same run.
//!
//! `OTELCONTEXT_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test \
//!  cargo run --release -p otelcontext-postgres --example write_throughput -- [spans] [per_commit] [spans_per_trace] [writers]`
//!
//! `writers` concurrent writers (the server's pipeline workers; default 4) share the commits, for
//! the adapter and the COPY loop alike. Each run uses a schema of its own, dropped at the end.

use otelcontext_domain::{
    AnyValue, Attributes, InstrumentationScope, Resource, Span, SpanId, SpanKind, SpanStatus, StatusCode, TenantId,
    TraceId,
};
use otelcontext_ports::{Maintenance, TelemetryWriter, TenantBatch};
use otelcontext_postgres::{PostgresConfig, PostgresStorage};
use sqlx::Connection;
use std::sync::Arc;
use std::time::Instant;

fn spans(total: usize, per_trace: usize) -> Vec<Span> {
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
    let mut out = Vec::with_capacity(total);
    while out.len() < total {
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
            let start = now + (out.len() as i64) * 1_000;
            out.push(Span {
                trace_id,
                span_id,
                parent_span_id: (i > 0).then_some(root),
                trace_state: String::new(),
                flags: 1,
                name: format!("op-{}", next() % 20),
                kind: if i == 0 { SpanKind::Server } else { SpanKind::Client },
                start_ns: start,
                end_ns: start + 5_000_000,
                attributes,
                dropped_attributes_count: 0,
                events: vec![],
                links: vec![],
                status: SpanStatus { code: StatusCode::Ok, message: String::new() },
                resource: resources[(next() % 50) as usize].clone(),
                scope: scope.clone(),
            });
        }
    }
    out.truncate(total);
    out
}

/// COPY text format: tab-separated, `\N` for NULL, backslash escapes.
fn field(out: &mut String, v: Option<&str>) {
    match v {
        None => out.push_str("\\N"),
        Some(s) => {
            for c in s.chars() {
                match c {
                    '\\' => out.push_str("\\\\"),
                    '\t' => out.push_str("\\t"),
                    '\n' => out.push_str("\\n"),
                    '\r' => out.push_str("\\r"),
                    c => out.push(c),
                }
            }
        }
    }
}

fn row(out: &mut String, fields: &[Option<&str>]) {
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            out.push('\t');
        }
        field(out, *f);
    }
    out.push('\n');
}

/// The raw loop numbers trace rows itself, as the database's sequence does for the adapter.
fn trace_refs(spans: &[Span], first_ref: i64) -> std::collections::HashMap<TraceId, i64> {
    let mut refs = std::collections::HashMap::new();
    for s in spans {
        let next = first_ref + refs.len() as i64;
        refs.entry(s.trace_id).or_insert(next);
    }
    refs
}

fn span_copy_rows(tenant: &str, spans: &[Span], refs: &std::collections::HashMap<TraceId, i64>) -> String {
    let mut out = String::new();
    for s in spans {
        let trace_ref = refs[&s.trace_id].to_string();
        let n = |v: i64| v.to_string();
        let (kind, start, end, dur, status, flags, fp) = (
            n(s.kind.as_otlp().into()),
            n(s.start_ns),
            n(s.end_ns),
            n(s.duration_ns()),
            n(s.status.code.as_otlp().into()),
            n(s.flags.into()),
            n(s.resource.fingerprint),
        );
        let (trace, span, parent) = (s.trace_id.to_hex(), s.span_id.to_hex(), s.parent_span_id.map(|p| p.to_hex()));
        let attributes = s.attributes.to_json();
        row(
            &mut out,
            &[
                Some(&trace_ref),
                Some(tenant),
                Some(&trace),
                Some(&span),
                parent.as_deref(),
                Some(&s.name),
                Some(&kind),
                Some(&start),
                Some(&end),
                Some(&dur),
                Some(s.service_name()),
                Some(&status),
                Some(&s.status.message),
                Some(&s.trace_state),
                Some(&flags),
                Some(&fp),
                Some(&s.scope.name),
                Some(&s.scope.version),
                None,
                Some(&attributes),
                Some("0"),
                None,
                None,
            ],
        );
    }
    out
}

fn trace_copy_rows(tenant: &str, spans: &[Span], refs: &std::collections::HashMap<TraceId, i64>) -> String {
    let mut out = String::new();
    for t in otelcontext_domain::trace::summarize(spans) {
        let id = refs[&t.trace_id].to_string();
        let n = |v: i64| v.to_string();
        let (start, end, dur, root_start, count) =
            (n(t.start_ns), n(t.end_ns), n(t.duration_ns()), n(t.root_start_ns), n(t.span_count as i64));
        let (hex, has_root, status) = (t.trace_id.to_hex(), t.has_root.to_string(), n(t.status.as_otlp().into()));
        row(
            &mut out,
            &[
                Some(&id),
                Some(tenant),
                Some(&hex),
                Some(&start),
                Some(&end),
                Some(&dur),
                Some(&t.root_service),
                Some(&t.root_operation),
                Some(&has_root),
                Some(&root_start),
                Some(&status),
                Some(&count),
            ],
        );
    }
    out
}

const SPAN_COLUMNS: &str = "trace_ref, tenant_id, trace_id, span_id, parent_span_id, name, kind, start_ns, end_ns, duration_ns, \
    service_name, status_code, status_message, trace_state, flags, resource_fp, scope_name, scope_version, \
    scope_attributes_json, attributes_json, dropped_attributes_count, events_json, links_json";
const TRACE_COLUMNS: &str = "id, tenant_id, trace_id, start_ns, end_ns, duration_ns, root_service, root_operation, \
    has_root, root_start_ns, status, span_count";

#[tokio::main]
async fn main() {
    let args: Vec<usize> = std::env::args().skip(1).map(|a| a.parse().expect("number")).collect();
    let total = *args.first().unwrap_or(&300_000);
    let per_commit = *args.get(1).unwrap_or(&10_000);
    let per_trace = *args.get(2).unwrap_or(&5);
    let writers = (*args.get(3).unwrap_or(&4)).max(1);
    let url = std::env::var("OTELCONTEXT_TEST_POSTGRES_URL").expect("set OTELCONTEXT_TEST_POSTGRES_URL");
    let schema = format!("bench_{}", std::process::id());
    let mut admin = sqlx::PgConnection::connect(&url).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}"))).execute(&mut admin).await.unwrap();
    let dsn = format!("{url}?options=-c%20search_path%3D{schema}%2Cpublic");
    let storage = Arc::new(PostgresStorage::open(&PostgresConfig::new(dsn.clone())).await.unwrap());
    let tenant = TenantId::parse("bench").unwrap();
    let chunks: Vec<Vec<Span>> = spans(total, per_trace).chunks(per_commit).map(<[Span]>::to_vec).collect();
    let chunks = Arc::new(chunks);
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));

    let started = Instant::now();
    let tasks: Vec<_> = (0..writers)
        .map(|_| {
            let (storage, chunks, next, tenant) = (storage.clone(), chunks.clone(), next.clone(), tenant.clone());
            tokio::spawn(async move {
                while let Some(chunk) = chunks.get(next.fetch_add(1, std::sync::atomic::Ordering::SeqCst)) {
                    let batch =
                        TenantBatch { tenant: tenant.clone(), spans: chunk.clone(), logs: vec![], metrics: vec![] };
                    storage.write(&[batch]).await.unwrap();
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let adapter = total as f64 / started.elapsed().as_secs_f64();
    assert_eq!(storage.counts(&tenant).await.unwrap().spans, total as u64);
    storage.close().await;

    let mut conn = sqlx::PgConnection::connect(&dsn).await.unwrap();
    for sql in
        ["CREATE TABLE spans_raw (LIKE spans INCLUDING ALL)", "CREATE TABLE traces_raw (LIKE traces INCLUDING ALL)"]
    {
        sqlx::query(sql).execute(&mut conn).await.unwrap();
    }
    conn.close().await.unwrap();
    next.store(0, std::sync::atomic::Ordering::SeqCst);
    let started = Instant::now();
    let tasks: Vec<_> = (0..writers)
        .map(|_| {
            let (chunks, next, dsn) = (chunks.clone(), next.clone(), dsn.clone());
            tokio::spawn(async move {
                let mut conn = sqlx::PgConnection::connect(&dsn).await.unwrap();
                loop {
                    let n = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let Some(chunk) = chunks.get(n) else { break };
                    let refs = trace_refs(chunk, (n * chunk.len()) as i64 + 1);
                    let (span_rows, trace_rows) =
                        (span_copy_rows("bench", chunk, &refs), trace_copy_rows("bench", chunk, &refs));
                    let mut tx = conn.begin().await.unwrap();
                    let mut copy =
                        tx.copy_in_raw(&format!("COPY traces_raw ({TRACE_COLUMNS}) FROM STDIN")).await.unwrap();
                    copy.send(trace_rows.as_bytes()).await.unwrap();
                    copy.finish().await.unwrap();
                    let mut copy =
                        tx.copy_in_raw(&format!("COPY spans_raw ({SPAN_COLUMNS}) FROM STDIN")).await.unwrap();
                    copy.send(span_rows.as_bytes()).await.unwrap();
                    copy.finish().await.unwrap();
                    tx.commit().await.unwrap();
                }
                conn.close().await.unwrap();
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let raw = total as f64 / started.elapsed().as_secs_f64();
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE"))).execute(&mut admin).await.unwrap();
    println!(
        "spans={total} per_commit={per_commit} spans_per_trace={per_trace} writers={writers} adapter={adapter:.0} spans/s raw_copy={raw:.0} spans/s ratio={:.2}",
        adapter / raw
    );
}
