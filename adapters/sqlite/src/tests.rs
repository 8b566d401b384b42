//! Behaviour of the SQLite adapter beyond the conformance suite: files, pragmas, the WAL, full-text
//! search upkeep, upgrades and space reuse.

use super::*;
use otelcontext_domain::StatusCode;
use otelcontext_domain::search::TextQuery;
use otelcontext_ports::conformance::fixtures::{T0, logs_batch, rich_span, tenant, text_log};
use otelcontext_ports::{LogSort, TimeRange};

async fn open(dir: &tempfile::TempDir) -> SqliteStorage {
    SqliteStorage::open(&SqliteConfig::new(dir.path().join("o.db"))).await.unwrap()
}

/// A complete TRUNCATE checkpoint (retried while the checkpointer thread holds the lock).
async fn checkpoint(s: &SqliteStorage) -> Result<(), StorageError> {
    for _ in 0..100 {
        let busy: i64 = s
            .writer
            .run(|st| st.conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0)).map_err(writer::map_err))
            .await?;
        if busy == 0 {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Err(StorageError::Other("checkpoint stayed busy".into()))
}

/// One integer read on the writer connection.
async fn scalar(s: &SqliteStorage, sql: &'static str) -> i64 {
    s.writer.run(move |st| st.conn.query_row(sql, [], |r| r.get(0)).map_err(writer::map_err)).await.unwrap()
}

fn text(q: &str) -> LogQuery {
    LogQuery { text: TextQuery::parse(q).unwrap(), ..LogQuery::recent(100) }
}

#[test]
fn dsn_forms() {
    assert_eq!(SqliteConfig::from_dsn("").unwrap().path, PathBuf::from("otelcontext.db"));
    assert_eq!(SqliteConfig::from_dsn("data/x.db").unwrap().path, PathBuf::from("data/x.db"));
    assert_eq!(SqliteConfig::from_dsn("sqlite:///var/lib/o.db").unwrap().path, PathBuf::from("/var/lib/o.db"));
    assert_eq!(SqliteConfig::from_dsn("sqlite:rel.db").unwrap().path, PathBuf::from("rel.db"));
    assert!(SqliteConfig::from_dsn(":memory:").is_err());
    assert!(SqliteConfig::from_dsn("sqlite://x.db?mode=ro").is_err());
}

#[tokio::test]
async fn creates_the_file_and_its_directory_with_wal() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/dir/o.db");
    let s = SqliteStorage::open(&SqliteConfig::new(&path)).await.unwrap();
    assert!(path.exists());
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode").fetch_one(&s.readers).await.unwrap();
    assert_eq!(mode, "wal");
    let busy: i64 = sqlx::query_scalar("PRAGMA busy_timeout").fetch_one(&s.readers).await.unwrap();
    assert_eq!(busy, 5000);
    assert_eq!(s.writer_pragma("journal_mode").await.unwrap(), "wal");
    assert_eq!(s.writer_pragma("busy_timeout").await.unwrap(), "5000");
    assert_eq!(s.writer_pragma("auto_vacuum").await.unwrap(), "2", "incremental on new files");
    s.close().await;
}

#[tokio::test]
async fn commits_are_fsynced_in_durable_mode_only() {
    let dir = tempfile::tempdir().unwrap();
    let normal = open(&dir).await;
    assert_eq!(normal.writer_pragma("synchronous").await.unwrap(), "1", "NORMAL");
    normal.close().await;
    let cfg = SqliteConfig { durability: Durability::Full, ..SqliteConfig::new(dir.path().join("o.db")) };
    let full = SqliteStorage::open(&cfg).await.unwrap();
    assert_eq!(full.writer_pragma("synchronous").await.unwrap(), "2", "FULL");
    full.close().await;
}

#[tokio::test]
async fn the_writer_never_checkpoints_and_the_wal_stays_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let limit = 1024 * 1024;
    let cfg = SqliteConfig { wal_size_limit: limit, ..SqliteConfig::new(dir.path().join("o.db")) };
    let s = SqliteStorage::open(&cfg).await.unwrap();
    assert_eq!(s.writer_pragma("wal_autocheckpoint").await.unwrap(), "0");
    assert_eq!(s.writer_pragma("journal_size_limit").await.unwrap(), limit.to_string());
    let t = tenant("acme");
    let filler = "x".repeat(400);
    let mut peak = 0;
    for batch in 0..12i64 {
        let logs = (0..2_000).map(|i| text_log(batch * 10_000 + i, "svc", &format!("{batch} {i} {filler}"))).collect();
        s.write(&logs_batch(&t, logs)).await.unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        peak = peak.max(writer::wal_size(&cfg.path));
    }
    // ~12 MB were written; the WAL never held more than about two batches plus the limit.
    assert!(peak < 6 * limit, "WAL reached {peak} bytes");
    s.close().await;
}

#[tokio::test]
async fn data_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let t = tenant("t");
    let s = open(&dir).await;
    let span = rich_span(1, 1, None, "svc", 0, 10, StatusCode::Ok);
    let trace_id = span.trace_id;
    s.write(&[TenantBatch { tenant: t.clone(), spans: vec![span.clone()], logs: vec![], metrics: vec![] }])
        .await
        .unwrap();
    s.close().await;
    let s = open(&dir).await;
    assert_eq!(s.get_trace(&t, &trace_id).await.unwrap().unwrap().spans, vec![span]);
    s.close().await;
}

#[tokio::test]
async fn closed_storage_reports_unavailable() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(&dir).await;
    s.close().await;
    assert!(matches!(s.ping().await, Err(StorageError::Unavailable(_))));
    assert!(matches!(
        s.write(&logs_batch(&tenant("t"), vec![text_log(1, "s", "x")])).await,
        Err(StorageError::Unavailable(_))
    ));
}

#[tokio::test]
async fn a_version_1_database_is_upgraded_and_its_logs_become_searchable() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("o.db");
    {
        let pool = SqlitePoolOptions::new().connect_with(connect_options(&path, Duration::from_secs(5))).await.unwrap();
        schema::migrator_up_to(1).run(&pool).await.unwrap();
        sqlx::query(
            "INSERT INTO resources (tenant_id, fingerprint, service_name, attributes_json) VALUES ('old', 7, 'legacy', '{}')",
        )
        .execute(&pool)
        .await
        .unwrap();
        for (n, (sev_num, sev_text, body)) in
            [(17, "ERROR", "connection reset by peer"), (0, "WARNING", "disk nearly full"), (9, "INFO", "started")]
                .iter()
                .enumerate()
        {
            sqlx::query(
                "INSERT INTO logs (tenant_id, timestamp_ns, dedup_key, observed_ns, severity_number, severity_text, body, \
                 body_is_json, service_name, resource_fp, scope_name, scope_version, attributes_json, flags, event_name) \
                 VALUES ('old', ?, ?, 0, ?, ?, ?, 0, 'legacy', 7, '', '', '{}', 0, '')",
            )
            .bind(T0 + n as i64)
            .bind(n as i64)
            .bind(*sev_num)
            .bind(*sev_text)
            .bind(*body)
            .execute(&pool)
            .await
            .unwrap();
        }
        pool.close().await;
    }
    let s = SqliteStorage::open(&SqliteConfig::new(&path)).await.unwrap();
    let old = tenant("old");
    let found = s.search_logs(&old, &text("connection")).await.unwrap();
    assert_eq!(found.items.len(), 1, "backfilled into the full-text index");
    let warn = LogQuery { min_severity: Some(otelcontext_domain::SeverityLevel::Warn), ..LogQuery::recent(10) };
    assert_eq!(s.search_logs(&old, &warn).await.unwrap().items.len(), 2, "levels derived for old rows");
    assert_eq!(s.tenants().await.unwrap(), vec![old.clone()], "tenants registered from old rows");
    assert_eq!(s.status().await.unwrap().schema_version, SCHEMA_VERSION);
    s.close().await;
}

#[tokio::test]
async fn search_falls_back_to_like_when_the_full_text_index_is_broken() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(&dir).await;
    let t = tenant("acme");
    s.write(&logs_batch(&t, vec![text_log(1, "api", "Connection refused"), text_log(2, "api", "all good")]))
        .await
        .unwrap();
    let raw = rusqlite::Connection::open(dir.path().join("o.db")).unwrap();
    raw.execute_batch("DROP TABLE logs_fts").unwrap();
    drop(raw);
    let found = s.search_logs(&t, &text("connection")).await.unwrap();
    assert_eq!(found.items.len(), 1);
    assert_eq!(found.items[0].record.body_text(), "Connection refused");
    assert!(!s.status().await.unwrap().full_text_indexed);
    s.close().await;
}

#[tokio::test]
async fn the_file_stops_growing_when_retention_frees_space_for_new_data() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(&dir).await;
    let t = tenant("acme");
    let filler = "y".repeat(300);
    let write_round = |round: i64| {
        let logs: Vec<_> =
            (0..3_000).map(|i| text_log(round * 1_000_000 + i, "svc", &format!("{round} {i} {filler}"))).collect();
        logs_batch(&t, logs)
    };
    for round in 0..3 {
        s.write(&write_round(round)).await.unwrap();
    }
    checkpoint(&s).await.unwrap();
    let full = std::fs::metadata(dir.path().join("o.db")).unwrap().len();
    // Steady state: every round, retention removes the oldest round and a new one arrives.
    for round in 3..9 {
        let cutoff = T0 + (round - 2) * 1_000_000;
        while s.purge(RetentionTarget::Logs, cutoff, 1_000).await.unwrap() > 0 {}
        s.write(&write_round(round)).await.unwrap();
        checkpoint(&s).await.unwrap();
    }
    s.optimize().await.unwrap();
    let after = std::fs::metadata(dir.path().join("o.db")).unwrap().len();
    assert!(after <= full + full / 10, "file grew from {full} to {after} bytes");
    assert_eq!(s.counts(&t).await.unwrap().logs, 9_000, "three rounds are kept");
    s.close().await;
}

#[tokio::test]
async fn optimize_returns_freed_pages_to_the_file_system() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(&dir).await;
    let t = tenant("acme");
    let filler = "z".repeat(500);
    s.write(&logs_batch(&t, (0..5_000).map(|i| text_log(i, "svc", &format!("{i} {filler}"))).collect())).await.unwrap();
    while s.purge(RetentionTarget::Logs, T0 + 10_000, 2_000).await.unwrap() > 0 {}
    checkpoint(&s).await.unwrap();
    let before = std::fs::metadata(dir.path().join("o.db")).unwrap().len();
    s.optimize().await.unwrap();
    checkpoint(&s).await.unwrap();
    let after = std::fs::metadata(dir.path().join("o.db")).unwrap().len();
    assert!(after < before / 2, "{before} -> {after}");
    assert_eq!(s.writer_pragma("freelist_count").await.unwrap(), "0");
    s.close().await;
}

#[tokio::test]
async fn traces_written_before_version_5_are_found_by_their_new_key_and_still_merge() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("o.db");
    let first = rich_span(0xab, 1, None, "svc", 0, 10, StatusCode::Ok);
    let trace_id = first.trace_id;
    {
        let pool = SqlitePoolOptions::new().connect_with(connect_options(&path, Duration::from_secs(5))).await.unwrap();
        schema::migrator_up_to(4).run(&pool).await.unwrap();
        // Two tenants, the same trace id: the rows version 4 kept apart by its unique index.
        for (n, t) in ["old", "other"].iter().enumerate() {
            sqlx::query(
                "INSERT INTO traces (tenant_id, trace_id, start_ns, end_ns, duration_ns, root_service, root_operation, \
                 has_root, root_start_ns, status, span_count) VALUES (?, ?, ?, ?, 10, 'svc', 'op', 1, ?, 1, 0)",
            )
            .bind(*t)
            .bind(trace_id.to_hex())
            .bind(T0 + n as i64)
            .bind(T0 + 10)
            .bind(T0)
            .execute(&pool)
            .await
            .unwrap();
        }
        pool.close().await;
    }
    let s = SqliteStorage::open(&SqliteConfig::new(&path)).await.unwrap();
    let key = scalar(&s, "SELECT trace_key FROM traces WHERE tenant_id = 'old'").await;
    assert_eq!(key, write::trace_key(&trace_id), "the migration's key is the writer's");
    let old = tenant("old");
    assert!(s.get_trace(&old, &trace_id).await.unwrap().is_some(), "found by the new index");
    // A span of the old trace joins its row instead of starting another.
    s.write(&[TenantBatch { tenant: old.clone(), spans: vec![first.clone()], logs: vec![], metrics: vec![] }])
        .await
        .unwrap();
    let rows = scalar(&s, "SELECT count(*) FROM traces WHERE tenant_id = 'old'").await;
    assert_eq!(rows, 1);
    let trace = s.get_trace(&old, &trace_id).await.unwrap().unwrap();
    assert_eq!((trace.spans.len(), trace.summary.span_count), (1, 1));
    let other = s.get_trace(&tenant("other"), &trace_id).await.unwrap().unwrap();
    assert_eq!((other.spans.len(), other.summary.start_ns), (0, T0 + 1), "the other tenant's row is its own");
    s.close().await;
}

#[tokio::test]
async fn rollups_of_rows_stored_before_version_6_are_filled_once_at_open() {
    use otelcontext_ports::TraceStatsQuery;
    use otelcontext_ports::conformance::fixtures::{plain_span, spans_batch, tid16};
    let dir = tempfile::tempdir().unwrap();
    let t = tenant("t");
    let sec = 1_000_000_000i64;
    let windows: Vec<TraceStatsQuery> = [(0, 600 * sec), (17 * sec, 301 * sec + 5), (60 * sec, 120 * sec - 1)]
        .iter()
        .map(|&(a, b)| TraceStatsQuery { start_ns: T0 + a, end_ns: T0 + b, services: vec![] })
        .collect();
    let before = {
        let s = open(&dir).await;
        let spans = (0..500i64)
            .map(|i| {
                let service = ["a", "b"][(i % 2) as usize];
                plain_span(tid16(i as u16 + 1), 1, None, service, "op", i * sec, i * sec + (i % 40 + 1) * 1_000_000)
            })
            .collect();
        s.write(&spans_batch(&t, spans)).await.unwrap();
        s.write(&logs_batch(&t, (0..300).map(|n| text_log(n * 2 * sec, "a", "line")).collect())).await.unwrap();
        let mut stats = Vec::new();
        for q in &windows {
            stats.push(s.trace_stats(&t, q).await.unwrap());
        }
        // As a database of version 5 upgraded by the migration: no rollups, both tables listed.
        s.writer
            .run(|st| {
                st.conn
                    .execute_batch(
                        "DELETE FROM trace_rollups; DELETE FROM log_rollups;                          INSERT INTO rollup_backfill VALUES ('traces', 0), ('logs', 0);",
                    )
                    .map_err(writer::map_err)
            })
            .await
            .unwrap();
        assert_eq!(s.trace_stats(&t, &windows[0]).await.unwrap().traces, 0, "the rollups are gone");
        s.close().await;
        stats
    };
    let s = open(&dir).await;
    for (q, want) in windows.iter().zip(&before) {
        let got = s.trace_stats(&t, q).await.unwrap();
        assert_eq!(&got, want, "{q:?}");
    }
    assert_eq!((before[0].traces, before[0].logs), (500, 300));
    assert_eq!(scalar(&s, "SELECT count(*) FROM rollup_backfill").await, 0, "done once");
    s.close().await;
}

#[test]
fn the_trace_key_is_the_first_60_bits_of_the_id() {
    let id = otelcontext_domain::TraceId::parse_hex("0123456789abcdef0011223344556677").unwrap();
    assert_eq!(write::trace_key(&id), 0x0012_3456_789a_bcde);
    let top = otelcontext_domain::TraceId::parse_hex("ffffffffffffffffffffffffffffffff").unwrap();
    assert_eq!(write::trace_key(&top), (1i64 << 60) - 1, "never negative");
}

#[tokio::test]
async fn a_write_waits_for_another_connections_write_lock_instead_of_failing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("o.db");
    let s = SqliteStorage::open(&SqliteConfig::new(&path)).await.unwrap();
    let t = tenant("t");
    let batch = |id: u8| TenantBatch {
        tenant: t.clone(),
        spans: vec![rich_span(1, id, None, "svc", 0, 10, StatusCode::Ok)],
        logs: vec![],
        metrics: vec![],
    };
    s.write(&[batch(1)]).await.unwrap();
    // Another connection commits while holding the write lock for a while. The next write starts
    // by reading (its trace exists): begun deferred, its snapshot would be stale by the time it
    // could write, and it would fail with SQLITE_BUSY instead of waiting.
    let (locked, lock_taken) = std::sync::mpsc::channel();
    let other = std::thread::spawn(move || {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch("BEGIN IMMEDIATE; INSERT OR IGNORE INTO tenants (tenant_id) VALUES ('other')").unwrap();
        locked.send(()).unwrap();
        std::thread::sleep(Duration::from_millis(300));
        conn.execute_batch("COMMIT").unwrap();
    });
    lock_taken.recv().unwrap();
    s.write(&[batch(2)]).await.expect("waits for the lock");
    other.join().unwrap();
    assert_eq!(
        s.get_trace(&t, &rich_span(1, 1, None, "svc", 0, 10, StatusCode::Ok).trace_id)
            .await
            .unwrap()
            .unwrap()
            .spans
            .len(),
        2
    );
    s.close().await;
}

#[tokio::test]
async fn a_traces_logs_are_read_through_the_trace_index_not_the_tenants_time_index() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(&dir).await;
    s.write(&logs_batch(&tenant("t"), vec![text_log(1, "s", "x")])).await.unwrap();
    let plan: Vec<String> = s
        .writer
        .run(|st| {
            let mut stmt = st
                .conn
                .prepare(&format!("EXPLAIN QUERY PLAN {}", read::logs_of_trace_sql()))
                .map_err(writer::map_err)?;
            let rows = stmt
                .query_map(rusqlite::params!["t", "0123"], |r| r.get::<_, String>(3))
                .map_err(writer::map_err)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(writer::map_err)?;
            Ok(rows)
        })
        .await
        .unwrap();
    assert!(plan.iter().any(|p| p.contains("logs_tenant_trace")), "{plan:?}");
}

/// Every page of `q` (all of them, following the cursors) from `search`, as (id, timestamp).
async fn all_pages<F, Fut>(q: &LogQuery, search: F) -> Vec<(i64, i64)>
where
    F: Fn(LogQuery) -> Fut,
    Fut: std::future::Future<Output = Page<StoredLog>>,
{
    let (mut found, mut q) = (Vec::new(), q.clone());
    loop {
        let page = search(q.clone()).await;
        found.extend(page.items.iter().map(|l| (l.id.0, l.record.timestamp_ns)));
        match page.next {
            Some(c) => q.cursor = Some(c),
            None => return found,
        }
    }
}

#[tokio::test]
async fn common_words_checked_row_by_row_give_the_pages_of_the_index_query() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(&dir).await;
    let (a, b) = (tenant("a"), tenant("b"));
    let hour = 3_600_000_000_000i64;
    // 12,500 logs of `a` in five commits and 500 of `b` after each. `alpha` and `delta` are in
    // every log (common), `beta` in a third and `gamma` in the rest (rare, under 10,000). Pairs
    // share a time, every 97th is an hour late, three are a day ahead.
    let mut n = 0i64;
    for commit in 0..5 {
        let logs: Vec<_> = (0..2_500)
            .map(|_| {
                n += 1;
                let at = match n {
                    5 | 50 | 500 => n * 1_000 + 24 * hour,
                    _ if n % 97 == 0 => n * 1_000 - hour,
                    _ => n / 2 * 1_000,
                };
                let word = if n % 3 == 0 { "beta" } else { "gamma" };
                text_log(at, "svc", &format!("Alpha delta {word} {n}"))
            })
            .collect();
        s.write(&logs_batch(&a, logs)).await.unwrap();
        let other = (0..500).map(|i| text_log(commit * 2_500_000 + i, "svc", &format!("alpha delta {commit} {i}")));
        s.write(&logs_batch(&b, other.collect())).await.unwrap();
    }
    let split = |w: &str| {
        let text = TextQuery::parse(w).unwrap().unwrap();
        let pool = s.readers.clone();
        async move { text_plan::split_terms(&pool, &text).await.unwrap() }
    };
    let terms = |rare: &[&str], common: &[&str]| text_plan::Terms {
        rare: rare.iter().map(|t| t.to_string()).collect(),
        common: common.iter().map(|t| t.to_string()).collect(),
    };
    assert_eq!(split("alpha beta").await, terms(&["beta"], &["alpha"]));
    assert_eq!(split("gamma -- DELTA").await, terms(&["gamma"], &["DELTA"]), "terms without letters are not probed");

    let q = |w: &str, sort: LogSort, limit: usize| LogQuery { sort, ..LogQuery { limit, ..text(w) } };
    let window = TimeRange::between(T0 + 2_000_000, T0 + 4_000_000);
    for (query, expected) in [
        (q("alpha", LogSort::Newest, 1_000), 12_500),
        (q("ALPHA delta", LogSort::Oldest, 1_000), 12_500),
        (q("alpha beta", LogSort::Newest, 7), 4_166),
        (q("beta", LogSort::Newest, 500), 4_166),
        (q("delta gamma", LogSort::Oldest, 999), 8_334),
        (LogQuery { time: window, ..q("alpha", LogSort::Newest, 50) }, 3_961),
        (LogQuery { service: Some("svc".into()), ..q("alpha", LogSort::Newest, 3_000) }, 12_500),
    ] {
        let mode = search::TextMode::Index;
        let (st, tn) = (&s, &a);
        let planned = all_pages(&query, |q| async move { st.search_logs(tn, &q).await.unwrap() }).await;
        let one_query = all_pages(&query, |q| {
            let pool = s.readers.clone();
            let a = a.clone();
            async move { search::search_logs_in_one_query(&pool, &a, &q, mode).await.unwrap() }
        })
        .await;
        assert_eq!(planned.len(), expected, "{query:?}");
        assert_eq!(planned, one_query, "{query:?}");
    }

    // Common words that do not fill the page within the budget give way to the index query; a
    // rare term narrows the rows, so no budget applies to it.
    let all_common = split("alpha").await;
    let page = q("alpha", LogSort::Newest, 10);
    assert!(text_plan::search(&s.readers, &a, &page, &all_common, 1).await.unwrap().is_some(), "filled at once");
    let big_page = q("alpha", LogSort::Newest, 5_000);
    let over = text_plan::search(&s.readers, &a, &big_page, &all_common, 1).await.unwrap();
    assert!(over.is_none(), "a chunk of 4,096 rows cannot fill a page of 5,000");
    let narrowed = LogQuery { text: TextQuery::parse("alpha 4").unwrap(), ..big_page };
    let found = text_plan::search(&s.readers, &b, &narrowed, &split("alpha 4").await, 1).await.unwrap();
    assert_eq!(found.map(|p| p.items.len()), Some(944), "commit 4, or a number from 4 or 40 to 49 or 400 to 499");
    s.close().await;
}
