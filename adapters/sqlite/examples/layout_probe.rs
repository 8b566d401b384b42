//! Span layouts compared by one C-API loop (the rows of `raw_baseline`), to choose the schema:
//! which indexes a span write pays for and what they cost as the database grows.
//!
//! `cargo run --release -p otelcontext-sqlite --example layout_probe -- <layout> [spans] [per_commit] [spans_per_trace]`
//!
//! Layouts: `text` (trace rows unique on (tenant, hex trace id); the schema before version 5),
//! `intkey` (trace rows found by an integer key, the first 8 bytes of the id, in a non-unique
//! index; binary ids), `intkey-slim` (same, spans without the columns their trace row implies),
//! `none` (span rows alone, no index: the ceiling).

#[path = "support/raw.rs"]
mod raw;

const SPAN_COLS: &str = "id INTEGER PRIMARY KEY, trace_ref INTEGER NOT NULL, tenant_id TEXT NOT NULL, \
    span_id BLOB NOT NULL, parent_span_id BLOB, name TEXT NOT NULL, kind INTEGER NOT NULL, \
    start_ns INTEGER NOT NULL, end_ns INTEGER NOT NULL, duration_ns INTEGER NOT NULL, service_name TEXT NOT NULL, \
    status_code INTEGER NOT NULL, status_message TEXT NOT NULL, trace_state TEXT NOT NULL, flags INTEGER NOT NULL, \
    resource_fp INTEGER NOT NULL, scope_name TEXT NOT NULL, scope_version TEXT NOT NULL, scope_attributes_json TEXT, \
    attributes_json TEXT NOT NULL, dropped_attributes_count INTEGER NOT NULL, events_json TEXT, links_json TEXT";

fn main() {
    let layout = std::env::args().nth(1).expect("layout: text | intkey | intkey-slim | none");
    let args: Vec<usize> = std::env::args().skip(2).map(|a| a.parse().expect("number")).collect();
    let total = *args.first().unwrap_or(&1_000_000);
    let per_commit = *args.get(1).unwrap_or(&10_000);
    let per_trace = *args.get(2).unwrap_or(&5);
    let dir = tempfile::tempdir().unwrap();
    let db = raw::Db::open(&dir.path().join("probe.db"));
    let (text_ids, slim, indexed) = match layout.as_str() {
        "text" => (true, false, true),
        "intkey" => (false, false, true),
        "intkey-slim" => (false, true, true),
        "none" => (false, true, false),
        other => panic!("unknown layout {other}"),
    };
    let trace_id_col = if text_ids { "trace_id TEXT NOT NULL" } else { "trace_id BLOB NOT NULL" };
    db.exec(&format!(
        "CREATE TABLE traces (id INTEGER PRIMARY KEY, tenant_id TEXT NOT NULL, trace_key INTEGER NOT NULL, {trace_id_col}, \
         start_ns INTEGER NOT NULL, end_ns INTEGER NOT NULL, duration_ns INTEGER NOT NULL, root_service TEXT NOT NULL, \
         root_operation TEXT NOT NULL, has_root INTEGER NOT NULL, root_start_ns INTEGER NOT NULL, status INTEGER NOT NULL, \
         span_count INTEGER NOT NULL)"
    ));
    let span_cols = if slim { SPAN_COLS.to_owned() } else { format!("{SPAN_COLS}, trace_id BLOB") };
    db.exec(&format!("CREATE TABLE spans ({span_cols})"));
    // PROBE_SKIP lists indexes not to create (to price each one).
    let skip = std::env::var("PROBE_SKIP").unwrap_or_default();
    let index = |sql: &str| {
        if !skip.split(',').any(|name| !name.is_empty() && sql.contains(&format!(" {name} "))) {
            db.exec(sql);
        }
    };
    if indexed {
        if text_ids {
            index("CREATE UNIQUE INDEX traces_tenant_trace ON traces (tenant_id, trace_id)");
        } else {
            index("CREATE INDEX traces_key ON traces (trace_key)");
        }
        index("CREATE INDEX traces_tenant_start ON traces (tenant_id, start_ns)");
        index("CREATE UNIQUE INDEX spans_trace_span ON spans (trace_ref, span_id)");
        index("CREATE INDEX spans_tenant_start ON spans (tenant_id, start_ns)");
    }
    let find = db.prepare(if text_ids {
        "SELECT id FROM traces WHERE tenant_id = ?1 AND trace_id = ?2"
    } else {
        "SELECT id FROM traces WHERE trace_key = ?3 AND trace_id = ?2 AND tenant_id = ?1"
    });
    let insert_trace = db.prepare(
        "INSERT INTO traces (tenant_id, trace_id, trace_key, start_ns, end_ns, duration_ns, root_service, root_operation, \
         has_root, root_start_ns, status, span_count) VALUES (?1, ?2, ?3, ?4, ?5, 5000000, ?6, 'GET /api/0', 1, ?4, 0, ?7)",
    );
    let insert_span = db.prepare(&format!(
        "INSERT INTO spans (trace_ref, tenant_id, span_id, parent_span_id, name, kind, start_ns, end_ns, duration_ns, \
         service_name, status_code, status_message, trace_state, flags, resource_fp, scope_name, scope_version, \
         scope_attributes_json, attributes_json, dropped_attributes_count, events_json, links_json{}) \
         VALUES (?1, 'bench', ?2, ?3, ?4, 2, ?5, ?6, 5000000, ?7, 0, '', '', 1, 42, 'bench', '', NULL, ?8, 0, NULL, NULL{})",
        if slim { "" } else { ", trace_id" },
        if slim { "" } else { ", ?9" }
    ));
    let mut rows = raw::RowGen::new(per_trace);
    let mut trace_ref = 0i64;
    raw::run_commits(&db, &format!("layout={layout}"), (total, per_commit, per_trace), || {
        let spans = rows.trace();
        let root = &spans[0];
        let id_bytes = hex(&root.trace_id);
        let key = i64::from_le_bytes(id_bytes[..8].try_into().unwrap());
        if indexed {
            let id = |st: &raw::Stmt| if text_ids { st.text(2, &root.trace_id) } else { st.blob(2, &id_bytes) };
            root.bind_trace(&find, key, None, id);
            assert!(find.run().is_none());
            root.bind_trace(&insert_trace, key, Some(spans.len()), id);
            insert_trace.run();
            trace_ref = db.last_rowid();
        } else {
            trace_ref += 1;
        }
        for s in &spans {
            let q = &insert_span;
            let span_id = hex(&s.span_id);
            let parent = s.parent.as_deref().map(hex);
            q.int(1, trace_ref);
            q.blob(2, &span_id);
            match &parent {
                Some(p) => q.blob(3, p),
                None => q.null(3),
            }
            q.text(4, &s.name);
            q.int(5, s.start);
            q.int(6, s.start + 5_000_000);
            q.text(7, &s.service);
            q.text(8, &s.attributes);
            if !slim {
                q.blob(9, &id_bytes);
            }
            q.run();
        }
        spans.len()
    });
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}
