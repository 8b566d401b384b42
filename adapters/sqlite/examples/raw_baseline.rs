//! Raw SQLite baseline: the same span rows inserted with the C API (one prepared single-row
//! statement per table, SQLITE_STATIC binds) in transactions of N rows, into the same schema.
//! The adapter's throughput is reported as a ratio to this loop in docs/benchmarks.md.
//!
//! `cargo run --release -p otelcontext-sqlite --example raw_baseline -- [spans] [per_commit] [spans_per_trace]`

use libsqlite3_sys as ffi;
use otelcontext_sqlite::{SqliteConfig, SqliteStorage};
use std::ffi::{CString, c_int};
use std::ptr;
use std::time::Instant;

struct Db(*mut ffi::sqlite3);

impl Db {
    fn exec(&self, sql: &str) {
        let c = CString::new(sql).unwrap();
        let rc = unsafe { ffi::sqlite3_exec(self.0, c.as_ptr(), None, ptr::null_mut(), ptr::null_mut()) };
        assert_eq!(rc, ffi::SQLITE_OK, "{sql}");
    }
    fn prepare(&self, sql: &str) -> *mut ffi::sqlite3_stmt {
        let c = CString::new(sql).unwrap();
        let mut stmt = ptr::null_mut();
        let rc = unsafe { ffi::sqlite3_prepare_v2(self.0, c.as_ptr(), -1, &mut stmt, ptr::null_mut()) };
        assert_eq!(rc, ffi::SQLITE_OK, "{sql}");
        stmt
    }
}

unsafe fn text(stmt: *mut ffi::sqlite3_stmt, i: c_int, s: &str) {
    unsafe { ffi::sqlite3_bind_text(stmt, i, s.as_ptr().cast(), s.len() as c_int, ffi::SQLITE_STATIC()) };
}

fn main() {
    let args: Vec<usize> = std::env::args().skip(1).map(|a| a.parse().expect("number")).collect();
    let total = *args.first().unwrap_or(&500_000);
    let per_commit = *args.get(1).unwrap_or(&10_000);
    let per_trace = *args.get(2).unwrap_or(&5);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("raw.db");
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        use otelcontext_ports::Maintenance;
        SqliteStorage::open(&SqliteConfig::new(&path)).await.unwrap().close().await;
    });
    let mut handle = ptr::null_mut();
    let cpath = CString::new(path.to_str().unwrap()).unwrap();
    assert_eq!(unsafe { ffi::sqlite3_open(cpath.as_ptr(), &mut handle) }, ffi::SQLITE_OK);
    let db = Db(handle);
    db.exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA cache_size=-65536; PRAGMA temp_store=MEMORY");
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
    let mut seed = 0x9e3779b97f4a7c15u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let now = 1_764_000_000_000_000_000i64;
    let started = Instant::now();
    let mut done = 0usize;
    while done < total {
        db.exec("BEGIN");
        let mut in_tx = 0;
        while in_tx < per_commit {
            let trace_id = format!("{:016x}{:016x}", next(), next());
            let service = format!("svc-{:03}", next() % 50);
            let start = now + done as i64 * 1000;
            let trace_ref = unsafe {
                text(trace_stmt, 1, "bench");
                text(trace_stmt, 2, &trace_id);
                ffi::sqlite3_bind_int64(trace_stmt, 3, start);
                ffi::sqlite3_bind_int64(trace_stmt, 4, start + 5_000_000);
                ffi::sqlite3_bind_int64(trace_stmt, 5, 5_000_000);
                text(trace_stmt, 6, &service);
                text(trace_stmt, 7, "GET /api/0");
                ffi::sqlite3_bind_int64(trace_stmt, 8, start);
                ffi::sqlite3_bind_int64(trace_stmt, 9, per_trace as i64);
                assert_eq!(ffi::sqlite3_step(trace_stmt), ffi::SQLITE_ROW);
                let id = ffi::sqlite3_column_int64(trace_stmt, 0);
                ffi::sqlite3_reset(trace_stmt);
                id
            };
            let root = format!("{:016x}", next());
            for i in 0..per_trace {
                let span_id = if i == 0 { root.clone() } else { format!("{:016x}", next()) };
                let mut attrs = String::from("{");
                for a in 0..10 {
                    if a > 0 {
                        attrs.push(',');
                    }
                    attrs.push_str(&format!("\"attr.{a}\":\"value-{}\"", next() % 1000));
                }
                attrs.push('}');
                let name = format!("GET /api/{}", i % 5);
                unsafe {
                    ffi::sqlite3_bind_int64(span_stmt, 1, trace_ref);
                    text(span_stmt, 2, "bench");
                    text(span_stmt, 3, &trace_id);
                    text(span_stmt, 4, &span_id);
                    if i == 0 {
                        ffi::sqlite3_bind_null(span_stmt, 5);
                    } else {
                        text(span_stmt, 5, &root);
                    }
                    text(span_stmt, 6, &name);
                    ffi::sqlite3_bind_int64(span_stmt, 7, start);
                    ffi::sqlite3_bind_int64(span_stmt, 8, start + 5_000_000);
                    ffi::sqlite3_bind_int64(span_stmt, 9, 5_000_000);
                    text(span_stmt, 10, &service);
                    ffi::sqlite3_bind_int64(span_stmt, 11, 42);
                    text(span_stmt, 12, &attrs);
                    assert_eq!(ffi::sqlite3_step(span_stmt), ffi::SQLITE_DONE);
                    ffi::sqlite3_reset(span_stmt);
                }
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
    unsafe {
        ffi::sqlite3_finalize(trace_stmt);
        ffi::sqlite3_finalize(span_stmt);
        ffi::sqlite3_close(db.0);
    }
}
