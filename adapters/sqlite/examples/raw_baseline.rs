//! Raw SQLite baseline: the same span rows inserted with the C API (one prepared single-row
//! statement per table, SQLITE_STATIC binds) in transactions of N rows, into the adapter's schema
//! with its indexes. The adapter's throughput is reported as a ratio to this loop in
//! docs/benchmarks.md; `append_ceiling` is the same loop without any index.
//!
//! `cargo run --release -p otelcontext-sqlite --example raw_baseline -- [spans] [per_commit] [spans_per_trace]`

#[path = "support/raw.rs"]
mod raw;

use otelcontext_sqlite::{SqliteConfig, SqliteStorage};
use std::time::Instant;

fn main() {
    let (total, per_commit, per_trace) = raw::args();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("raw.db");
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        use otelcontext_ports::Maintenance;
        SqliteStorage::open(&SqliteConfig::new(&path)).await.unwrap().close().await;
    });
    let db = raw::Db::open(&path);
    let trace_stmt = db.prepare(
        "INSERT INTO traces (tenant_id, trace_id, start_ns, end_ns, duration_ns, root_service, root_operation, has_root, root_start_ns, status, span_count) \
         VALUES (?,?,?,?,?,?,?,1,?,0,?) ON CONFLICT (tenant_id, trace_id) DO UPDATE SET end_ns = max(end_ns, excluded.end_ns), span_count = span_count + excluded.span_count RETURNING id",
    );
    let span_stmt = db.prepare(
        "INSERT INTO spans (trace_ref, tenant_id, trace_id, span_id, parent_span_id, name, kind, start_ns, end_ns, duration_ns, \
         service_name, status_code, status_message, trace_state, flags, resource_fp, scope_name, scope_version, \
         scope_attributes_json, attributes_json, dropped_attributes_count, events_json, links_json) \
         VALUES (?,?,?,?,?,?,2,?,?,?,?,0,'','',1,?,'bench','',NULL,?,0,NULL,NULL) ON CONFLICT DO NOTHING",
    );
    let mut rows = raw::RowGen::new(per_trace);
    let started = Instant::now();
    let mut done = 0usize;
    while done < total {
        db.exec("BEGIN");
        let mut in_tx = 0;
        while in_tx < per_commit {
            let spans = rows.trace();
            let root = &spans[0];
            let t = &trace_stmt;
            t.text(1, "bench");
            t.text(2, &root.trace_id);
            t.int(3, root.start);
            t.int(4, root.start + 5_000_000);
            t.int(5, 5_000_000);
            t.text(6, &root.service);
            t.text(7, "GET /api/0");
            t.int(8, root.start);
            t.int(9, spans.len() as i64);
            let trace_ref = t.run().expect("trace id");
            for s in &spans {
                let q = &span_stmt;
                q.int(1, trace_ref);
                q.text(2, "bench");
                q.text(3, &s.trace_id);
                q.text(4, &s.span_id);
                match &s.parent {
                    Some(p) => q.text(5, p),
                    None => q.null(5),
                }
                q.text(6, &s.name);
                q.int(7, s.start);
                q.int(8, s.start + 5_000_000);
                q.int(9, 5_000_000);
                q.text(10, &s.service);
                q.int(11, 42);
                q.text(12, &s.attributes);
                q.run();
                in_tx += 1;
            }
        }
        db.exec("COMMIT");
        done += in_tx;
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "raw: spans={done} commit={per_commit} per_trace={per_trace} secs={secs:.2} spans_per_sec={:.0}",
        done as f64 / secs
    );
}
