//! The physical ceiling of span writes on this machine: the same span-sized rows as
//! `raw_baseline` (same columns, ten attributes as JSON), appended by a C-API loop to a table with
//! **no index** besides its rowid, in transactions of N rows, with the adapter's pragmas. No trace
//! rows, no keys, no conflict checks: what SQLite costs when nothing is looked up.
//! docs/benchmarks.md states the server's stored rate as a ratio to this loop, measured in the same
//! run.
//!
//! `cargo run --release -p otelcontext-sqlite --example append_ceiling -- [spans] [per_commit] [spans_per_trace]`

#[path = "support/raw.rs"]
mod raw;

fn main() {
    let (total, per_commit, per_trace) = raw::args();
    let dir = tempfile::tempdir().unwrap();
    let db = raw::Db::open(&dir.path().join("append.db"));
    db.exec(
        "CREATE TABLE spans (id INTEGER PRIMARY KEY, trace_ref INTEGER NOT NULL, tenant_id TEXT NOT NULL, \
         trace_id TEXT NOT NULL, span_id TEXT NOT NULL, parent_span_id TEXT, name TEXT NOT NULL, kind INTEGER NOT NULL, \
         start_ns INTEGER NOT NULL, end_ns INTEGER NOT NULL, duration_ns INTEGER NOT NULL, service_name TEXT NOT NULL, \
         status_code INTEGER NOT NULL, status_message TEXT NOT NULL, trace_state TEXT NOT NULL, flags INTEGER NOT NULL, \
         resource_fp INTEGER NOT NULL, scope_name TEXT NOT NULL, scope_version TEXT NOT NULL, scope_attributes_json TEXT, \
         attributes_json TEXT NOT NULL, dropped_attributes_count INTEGER NOT NULL, events_json TEXT, links_json TEXT)",
    );
    let stmt = db.prepare(
        "INSERT INTO spans (trace_ref, tenant_id, trace_id, span_id, parent_span_id, name, kind, start_ns, end_ns, duration_ns, \
         service_name, status_code, status_message, trace_state, flags, resource_fp, scope_name, scope_version, \
         scope_attributes_json, attributes_json, dropped_attributes_count, events_json, links_json) \
         VALUES (?,?,?,?,?,?,2,?,?,?,?,0,'','',1,?,'bench','',NULL,?,0,NULL,NULL)",
    );
    let mut rows = raw::RowGen::new(per_trace);
    let mut trace_ref = 0i64;
    raw::run_commits(&db, "append", (total, per_commit, per_trace), || {
        trace_ref += 1;
        let spans = rows.trace();
        for s in &spans {
            s.bind_text(&stmt, trace_ref);
            stmt.run();
        }
        spans.len()
    });
}
