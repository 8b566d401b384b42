//! Raw SQLite baseline: the same span rows inserted with the C API (one prepared single-row
//! statement per table, SQLITE_STATIC binds) in transactions of N rows, into the adapter's schema
//! with its indexes. The adapter's throughput is reported as a ratio to this loop in
//! docs/benchmarks.md; `append_ceiling` is the same loop without any index.
//!
//! `cargo run --release -p otelcontext-sqlite --example raw_baseline -- [spans] [per_commit] [spans_per_trace]`

#[path = "support/raw.rs"]
mod raw;

use otelcontext_sqlite::{SqliteConfig, SqliteStorage};

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
    // The adapter's trace path (schema version 5): look the trace up by its integer key, insert it
    // when absent.
    let find_stmt = db.prepare("SELECT id FROM traces WHERE trace_key = ?3 AND tenant_id = ?1 AND trace_id = ?2");
    let trace_stmt = db.prepare(
        "INSERT INTO traces (tenant_id, trace_id, trace_key, start_ns, end_ns, duration_ns, root_service, root_operation, \
         has_root, root_start_ns, status, span_count) VALUES (?1, ?2, ?3, ?4, ?5, 5000000, ?6, 'GET /api/0', 1, ?4, 0, ?7)",
    );
    let span_stmt = db.prepare(
        "INSERT INTO spans (trace_ref, tenant_id, trace_id, span_id, parent_span_id, name, kind, start_ns, end_ns, duration_ns, \
         service_name, status_code, status_message, trace_state, flags, resource_fp, scope_name, scope_version, \
         scope_attributes_json, attributes_json, dropped_attributes_count, events_json, links_json) \
         VALUES (?,?,?,?,?,?,2,?,?,?,?,0,'','',1,?,'bench','',NULL,?,0,NULL,NULL) ON CONFLICT DO NOTHING",
    );
    let mut rows = raw::RowGen::new(per_trace);
    raw::run_commits(&db, "raw", (total, per_commit, per_trace), || {
        let spans = rows.trace();
        let root = &spans[0];
        let key = i64::from_str_radix(&root.trace_id[..15], 16).expect("hex");
        let id = |st: &raw::Stmt| st.text(2, &root.trace_id);
        root.bind_trace(&find_stmt, key, None, id);
        let trace_ref = match find_stmt.run() {
            Some(id) => id,
            None => {
                root.bind_trace(&trace_stmt, key, Some(spans.len()), id);
                trace_stmt.run();
                db.last_rowid()
            }
        };
        for s in &spans {
            s.bind_text(&span_stmt, trace_ref);
            span_stmt.run();
        }
        spans.len()
    });
}
