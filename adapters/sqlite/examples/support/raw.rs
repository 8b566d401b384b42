//! Shared by the raw C-API loops (`raw_baseline`, `append_ceiling`): a thin handle over
//! `sqlite3*`, static text binds and the generator of span-sized rows both loops insert.

#![allow(dead_code)]

use libsqlite3_sys as ffi;
use std::ffi::{CString, c_int};
use std::path::Path;
use std::ptr;

pub struct Db(pub *mut ffi::sqlite3);

impl Db {
    /// Opens `path` with the adapter's write pragmas (WAL, `synchronous=NORMAL`, 64 MiB cache).
    pub fn open(path: &Path) -> Self {
        let mut handle = ptr::null_mut();
        let cpath = CString::new(path.to_str().unwrap()).unwrap();
        assert_eq!(unsafe { ffi::sqlite3_open(cpath.as_ptr(), &mut handle) }, ffi::SQLITE_OK);
        let db = Db(handle);
        db.exec(
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA cache_size=-65536; PRAGMA temp_store=MEMORY",
        );
        db
    }
    pub fn exec(&self, sql: &str) {
        let c = CString::new(sql).unwrap();
        let rc = unsafe { ffi::sqlite3_exec(self.0, c.as_ptr(), None, ptr::null_mut(), ptr::null_mut()) };
        assert_eq!(rc, ffi::SQLITE_OK, "{sql}");
    }
    pub fn last_rowid(&self) -> i64 {
        unsafe { ffi::sqlite3_last_insert_rowid(self.0) }
    }
    pub fn prepare(&self, sql: &str) -> Stmt {
        let c = CString::new(sql).unwrap();
        let mut stmt = ptr::null_mut();
        let rc = unsafe { ffi::sqlite3_prepare_v2(self.0, c.as_ptr(), -1, &mut stmt, ptr::null_mut()) };
        assert_eq!(rc, ffi::SQLITE_OK, "{sql}");
        Stmt(stmt)
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        unsafe { ffi::sqlite3_close(self.0) };
    }
}

pub struct Stmt(pub *mut ffi::sqlite3_stmt);

impl Stmt {
    pub fn text(&self, i: c_int, s: &str) {
        unsafe { ffi::sqlite3_bind_text(self.0, i, s.as_ptr().cast(), s.len() as c_int, ffi::SQLITE_STATIC()) };
    }
    pub fn blob(&self, i: c_int, b: &[u8]) {
        unsafe { ffi::sqlite3_bind_blob(self.0, i, b.as_ptr().cast(), b.len() as c_int, ffi::SQLITE_STATIC()) };
    }
    pub fn int(&self, i: c_int, v: i64) {
        unsafe { ffi::sqlite3_bind_int64(self.0, i, v) };
    }
    pub fn null(&self, i: c_int) {
        unsafe { ffi::sqlite3_bind_null(self.0, i) };
    }
    /// Steps once and resets; returns the first column of a returned row, if any.
    pub fn run(&self) -> Option<i64> {
        unsafe {
            let rc = ffi::sqlite3_step(self.0);
            let out = match rc {
                ffi::SQLITE_ROW => Some(ffi::sqlite3_column_int64(self.0, 0)),
                ffi::SQLITE_DONE => None,
                _ => panic!("step failed: {rc}"),
            };
            ffi::sqlite3_reset(self.0);
            out
        }
    }
}

impl Drop for Stmt {
    fn drop(&mut self) {
        unsafe { ffi::sqlite3_finalize(self.0) };
    }
}

/// One span row as the loops insert it.
pub struct RawSpan {
    pub trace_id: String,
    pub span_id: String,
    pub parent: Option<String>,
    pub name: String,
    pub service: String,
    pub start: i64,
    /// Ten string attributes as a JSON object.
    pub attributes: String,
}

/// Span-sized rows: traces of `per_trace` spans over 50 services, ten attributes each.
pub struct RowGen {
    seed: u64,
    per_trace: usize,
    made: usize,
}

impl RowGen {
    pub fn new(per_trace: usize) -> Self {
        Self { seed: 0x9e3779b97f4a7c15, per_trace: per_trace.max(1), made: 0 }
    }
    fn next(&mut self) -> u64 {
        self.seed ^= self.seed << 13;
        self.seed ^= self.seed >> 7;
        self.seed ^= self.seed << 17;
        self.seed
    }
    /// The next trace's spans (the first is the root).
    pub fn trace(&mut self) -> Vec<RawSpan> {
        let trace_id = format!("{:016x}{:016x}", self.next(), self.next());
        let service = format!("svc-{:03}", self.next() % 50);
        let start = 1_764_000_000_000_000_000i64 + self.made as i64 * 1000;
        let root = format!("{:016x}", self.next());
        (0..self.per_trace)
            .map(|i| {
                let span_id = if i == 0 { root.clone() } else { format!("{:016x}", self.next()) };
                let mut attributes = String::from("{");
                for a in 0..10 {
                    if a > 0 {
                        attributes.push(',');
                    }
                    attributes.push_str(&format!("\"attr.{a}\":\"value-{}\"", self.next() % 1000));
                }
                attributes.push('}');
                self.made += 1;
                RawSpan {
                    trace_id: trace_id.clone(),
                    span_id,
                    parent: (i > 0).then(|| root.clone()),
                    name: format!("GET /api/{}", i % 5),
                    service: service.clone(),
                    start,
                    attributes,
                }
            })
            .collect()
    }
}

impl RawSpan {
    /// Binds the twelve parameters of the span insert `raw_baseline` and `append_ceiling` share.
    pub fn bind_text(&self, stmt: &Stmt, trace_ref: i64) {
        stmt.int(1, trace_ref);
        stmt.text(2, "bench");
        stmt.text(3, &self.trace_id);
        stmt.text(4, &self.span_id);
        match &self.parent {
            Some(p) => stmt.text(5, p),
            None => stmt.null(5),
        }
        stmt.text(6, &self.name);
        stmt.int(7, self.start);
        stmt.int(8, self.start + 5_000_000);
        stmt.int(9, 5_000_000);
        stmt.text(10, &self.service);
        stmt.int(11, 42);
        stmt.text(12, &self.attributes);
    }

    /// Binds the trace lookup's (tenant, id, key) or the trace insert's seven parameters (tenant,
    /// id, key, start, end, root service, span count) for this root span; `id` binds parameter 2.
    pub fn bind_trace(&self, stmt: &Stmt, key: i64, span_count: Option<usize>, id: impl Fn(&Stmt)) {
        stmt.text(1, "bench");
        id(stmt);
        stmt.int(3, key);
        if let Some(n) = span_count {
            stmt.int(4, self.start);
            stmt.int(5, self.start + 5_000_000);
            stmt.text(6, &self.service);
            stmt.int(7, n as i64);
        }
    }
}

/// Runs `write_trace` (which writes one trace and returns its span count) in transactions of at
/// least `per_commit` spans until `total` are written, then prints the rate under `label`.
pub fn run_commits(
    db: &Db,
    label: &str,
    (total, per_commit, per_trace): (usize, usize, usize),
    mut write_trace: impl FnMut() -> usize,
) {
    let started = std::time::Instant::now();
    let mut done = 0usize;
    while done < total {
        db.exec("BEGIN");
        let mut in_tx = 0;
        while in_tx < per_commit {
            in_tx += write_trace();
        }
        db.exec("COMMIT");
        done += in_tx;
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{label}: spans={done} commit={per_commit} per_trace={per_trace} secs={secs:.2} spans_per_sec={:.0}",
        done as f64 / secs
    );
}

/// Reads `[spans] [per_commit] [spans_per_trace]` from the command line.
pub fn args() -> (usize, usize, usize) {
    let args: Vec<usize> = std::env::args().skip(1).map(|a| a.parse().expect("number")).collect();
    (*args.first().unwrap_or(&500_000), *args.get(1).unwrap_or(&10_000), *args.get(2).unwrap_or(&5))
}
