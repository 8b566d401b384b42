//! Behaviour of the PostgreSQL adapter beyond the conformance suite. Every test uses a schema of
//! its own in `OTELCONTEXT_TEST_POSTGRES_URL` and skips (saying so) when the variable is unset.

use super::*;
use crate::testing::{TestSchema, test_url, with_search_path};
use otelcontext_domain::retention::{DAY_NS, partition_days};
use otelcontext_domain::search::TextQuery;
use otelcontext_ports::conformance::fixtures::{T0, logs_batch, tenant, text_log};
use otelcontext_ports::{AccessToken, Cursor, LogSort, TimeRange};
use sqlx::Connection;
use std::sync::atomic::{AtomicU64, Ordering};

mod conformance {
    use super::*;
    use otelcontext_ports::conformance::TestStorage;

    async fn fresh() -> Option<TestStorage> {
        let schema = TestSchema::create("conf").await?;
        let storage = PostgresStorage::open(&schema.config()).await.expect("adapter opens");
        Some(TestStorage { storage: Arc::new(storage), guard: Box::new(schema) })
    }

    otelcontext_ports::storage_conformance_tests!(optional fresh);
}

async fn open(schema: &TestSchema) -> PostgresStorage {
    PostgresStorage::open(&schema.config()).await.expect("adapter opens")
}

#[tokio::test]
async fn every_primary_key_and_unique_constraint_starts_with_tenant_id() {
    let Some(schema) = TestSchema::create("catalog").await else { return };
    let s = open(&schema).await;
    let rows: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT t.relname::text, i.relname::text, a.attname::text FROM pg_index x \
         JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid \
         JOIN pg_namespace n ON n.oid = t.relnamespace \
         JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = x.indkey[0] \
         WHERE n.nspname = current_schema() AND x.indisunique \
         AND t.relname NOT IN ('_sqlx_migrations', 'rollup_backfill')",
        // (rollup_backfill lists upgrade work left to do, no tenant's data)
    )
    .fetch_all(s.pool())
    .await
    .unwrap();
    let tables: std::collections::BTreeSet<&str> = rows.iter().map(|(t, _, _)| t.as_str()).collect();
    for table in [
        "tenants",
        "resources",
        "traces",
        "spans",
        "logs",
        "metric_points",
        "metric_buckets",
        "drain_templates",
        "investigations",
        "graph_snapshots",
        "trace_rollups",
        "log_rollups",
    ] {
        assert!(tables.contains(table), "{table} has no primary key: {rows:?}");
    }
    for (table, index, first) in &rows {
        assert_eq!(first, "tenant_id", "{table}.{index} does not start with tenant_id");
    }
    let constraints: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace \
         WHERE n.nspname = current_schema() AND c.contype IN ('p', 'u')",
    )
    .fetch_one(s.pool())
    .await
    .unwrap();
    assert!(constraints >= 10, "primary keys and unique constraints: {constraints}");
    s.close().await;
}

#[tokio::test]
async fn without_automigrate_an_empty_schema_is_refused_until_migrated() {
    let Some(schema) = TestSchema::create("nomigrate").await else { return };
    let cfg = PostgresConfig { automigrate: false, ..schema.config() };
    let err = PostgresStorage::open(&cfg).await.err().expect("refused");
    assert!(matches!(&err, StorageError::Schema(m) if m.contains("otelcontext migrate")), "{err}");
    assert_eq!(PostgresStorage::migrate(&schema.config()).await.unwrap(), SCHEMA_VERSION);
    PostgresStorage::open(&cfg).await.expect("opens once migrated").close().await;
}

#[tokio::test]
async fn log_search_uses_the_trigram_indexes() {
    let Some(schema) = TestSchema::create("trgm").await else { return };
    let s = open(&schema).await;
    assert!(s.trigram_indexed());
    let t = tenant("acme");
    let logs: Vec<_> = (0..500).map(|i| text_log(i, "svc", &format!("request item{i:04}x served"))).collect();
    s.write(&logs_batch(&t, logs)).await.unwrap();
    sqlx::query("ANALYZE logs").execute(s.pool()).await.unwrap();
    let mut conn = s.pool().acquire().await.unwrap();
    sqlx::query("SET enable_seqscan = off").execute(&mut *conn).await.unwrap();
    let plan: Vec<String> = sqlx::query_scalar("EXPLAIN SELECT id FROM logs WHERE body ILIKE '%item0042x%'")
        .fetch_all(&mut *conn)
        .await
        .unwrap();
    assert!(plan.iter().any(|l| l.contains("logs_body_trgm")), "{plan:#?}");
    drop(conn);
    let found = s
        .search_logs(&t, &LogQuery { text: TextQuery::parse("request item0042x").unwrap(), ..LogQuery::recent(10) })
        .await
        .unwrap();
    assert_eq!(found.items.len(), 1);
    s.close().await;
}

#[tokio::test]
async fn search_works_by_sequential_scan_when_pg_trgm_cannot_be_installed() {
    let Some(url) = test_url() else { return };
    let db = format!("otelcontext_notrgm_{}", std::process::id());
    let role = "otelcontext_no_create";
    let mut admin = sqlx::PgConnection::connect(&url).await.unwrap();
    let setup = [
        format!("DROP DATABASE IF EXISTS {db}"),
        format!("CREATE DATABASE {db}"),
        format!("DO $$ BEGIN CREATE ROLE {role} LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$"),
        format!("REVOKE CREATE ON DATABASE {db} FROM PUBLIC"),
    ];
    for sql in &setup {
        sqlx::query(sqlx::AssertSqlSafe(sql.clone())).execute(&mut admin).await.unwrap();
    }
    let db_url = {
        let (base, _) = url.rsplit_once('/').unwrap();
        format!("{base}/{db}")
    };
    let mut in_db = sqlx::PgConnection::connect(&db_url).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA app AUTHORIZATION {role}")))
        .execute(&mut in_db)
        .await
        .unwrap();
    in_db.close().await.unwrap();
    let role_url = db_url.replacen("postgres@", &format!("{role}@"), 1);
    let cfg = PostgresConfig { max_open: 2, max_idle: 0, ..PostgresConfig::new(with_search_path(&role_url, "app")) };
    let s = PostgresStorage::open(&cfg).await.expect("opens without pg_trgm");
    assert!(!s.trigram_indexed());
    assert!(!s.status().await.unwrap().full_text_indexed);
    let t = tenant("acme");
    s.write(&logs_batch(&t, vec![text_log(1, "api", "Connection refused"), text_log(2, "api", "fine")])).await.unwrap();
    let q = LogQuery { text: TextQuery::parse("conn").unwrap(), sort: LogSort::Relevance, ..LogQuery::recent(10) };
    assert_eq!(s.search_logs(&t, &q).await.unwrap().items.len(), 1);
    s.close().await;
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)")))
        .execute(&mut admin)
        .await
        .unwrap();
}

async fn partitioned(schema: &TestSchema) -> PostgresStorage {
    PostgresStorage::open(&PostgresConfig { daily_partitions: true, ..schema.config() })
        .await
        .expect("partitioned opens")
}

#[tokio::test]
async fn daily_partitions_are_created_filled_moved_and_dropped() {
    let Some(schema) = TestSchema::create("parts").await else { return };
    let s = partitioned(&schema).await;
    let kind: String = sqlx::query_scalar(
        "SELECT relkind::text FROM pg_class WHERE relname = 'logs' AND relnamespace = current_schema()::regnamespace",
    )
    .fetch_one(s.pool())
    .await
    .unwrap();
    assert_eq!(kind, "p");
    let parts = s.log_partitions().await.unwrap();
    assert_eq!(parts, vec![LogPartition { name: "logs_default".into(), range: None }], "only the default at first");
    let days = partition_days(T0, 2);
    assert_eq!(s.create_log_partitions(&days).await.unwrap(), 4);
    assert_eq!(s.create_log_partitions(&days).await.unwrap(), 0, "idempotent");
    let t = tenant("acme");
    // Today, yesterday, and one far beyond the lookahead (lands in the default partition).
    let far = 10 * DAY_NS;
    s.write(&logs_batch(
        &t,
        vec![text_log(0, "svc", "today"), text_log(-DAY_NS, "svc", "yesterday"), text_log(far, "svc", "future")],
    ))
    .await
    .unwrap();
    let in_default: i64 = sqlx::query_scalar("SELECT count(*) FROM logs_default").fetch_one(s.pool()).await.unwrap();
    assert_eq!(in_default, 1);
    // Creating the far day's partition moves its row out of the default partition.
    let far_day = Day::of(T0 + far);
    assert_eq!(s.create_log_partitions(&[far_day]).await.unwrap(), 1);
    let in_default: i64 = sqlx::query_scalar("SELECT count(*) FROM logs_default").fetch_one(s.pool()).await.unwrap();
    assert_eq!(in_default, 0);
    assert_eq!(s.counts(&t).await.unwrap().logs, 3, "nothing lost while moving");
    let names: Vec<String> = s.log_partitions().await.unwrap().into_iter().map(|p| p.name).collect();
    assert!(names.contains(&format!("logs_{}", far_day.suffix())), "{names:?}");
    // Drop yesterday's partition: its rows go; the default one can never be dropped.
    s.drop_log_partition(&format!("logs_{}", Day::of(T0).plus(-1).suffix())).await.unwrap();
    assert_eq!(s.counts(&t).await.unwrap().logs, 2);
    assert!(matches!(s.drop_log_partition("logs_default").await, Err(StorageError::InvalidArgument(_))));
    assert!(matches!(s.drop_log_partition("spans").await, Err(StorageError::InvalidArgument(_))));
    // Row-by-row retention on partitioned logs only touches the default partition.
    s.write(&logs_batch(&t, vec![text_log(-30 * DAY_NS, "svc", "ancient")])).await.unwrap();
    assert_eq!(s.count_older_than(RetentionTarget::Logs, T0 - DAY_NS).await.unwrap(), 1);
    assert_eq!(s.purge(RetentionTarget::Logs, T0 - DAY_NS, 100).await.unwrap(), 1);
    assert_eq!(s.counts(&t).await.unwrap().logs, 2);
    let status = s.status().await.unwrap();
    assert!(status.logs_partitioned);
    s.close().await;
}

#[tokio::test]
async fn a_plain_logs_table_refuses_daily_partitioning_with_the_reason() {
    let Some(schema) = TestSchema::create("plain").await else { return };
    open(&schema).await.close().await;
    let err = PostgresStorage::open(&PostgresConfig { daily_partitions: true, ..schema.config() })
        .await
        .err()
        .expect("refused");
    assert!(matches!(&err, StorageError::Schema(m) if m.contains("greenfield")), "{err}");
}

#[tokio::test]
async fn a_partitioned_logs_table_refuses_to_run_without_the_flag() {
    let Some(schema) = TestSchema::create("flagoff").await else { return };
    partitioned(&schema).await.close().await;
    let err = open_err(&schema).await;
    assert!(matches!(&err, StorageError::Schema(m) if m.contains("DB_POSTGRES_PARTITIONING=daily")), "{err}");
}

async fn open_err(schema: &TestSchema) -> StorageError {
    PostgresStorage::open(&schema.config()).await.err().expect("refused")
}

/// Hands out `tok-1`, `tok-2`, … each valid for `valid_for` seconds, counting calls.
struct FakeTokens {
    calls: AtomicU64,
    valid_for: i64,
}

#[async_trait]
impl TokenSource for FakeTokens {
    async fn token(&self) -> Result<AccessToken, String> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
        Ok(AccessToken { secret: format!("tok-{n}"), expires_at_unix: now + self.valid_for })
    }
}

#[tokio::test]
async fn entra_tokens_are_the_password_of_new_connections_and_are_refreshed() {
    let Some(schema) = TestSchema::create("entra").await else { return };
    // The local server accepts any password over TLS (trust auth), so the token path is tested
    // end to end: a DSN without password and with sslmode=require, a token fetched for the pool.
    let dsn = format!("{}&sslmode=require", schema.dsn());
    let tokens = Arc::new(FakeTokens { calls: AtomicU64::new(0), valid_for: 3_600 });
    let cfg = PostgresConfig { token_source: Some(tokens.clone()), ..PostgresConfig { dsn, ..schema.config() } };
    let s = PostgresStorage::open(&cfg).await.expect("opens with a token");
    assert_eq!(tokens.calls.load(Ordering::SeqCst), 1);
    s.write(&logs_batch(&tenant("acme"), vec![text_log(1, "svc", "over tls")])).await.unwrap();
    assert_eq!(s.counts(&tenant("acme")).await.unwrap().logs, 1);
    s.close().await;
    // A token about to expire is replaced (after the 30 s floor of the refresher).
    assert_eq!(refresh_in(1_000, 1_000 - 60), Duration::from_secs(30));
    // The DSN rules are enforced at open.
    for bad in [
        format!("{}&sslmode=disable", schema.dsn()),
        schema.dsn().replacen("postgres@", "postgres:pw@", 1) + "&sslmode=require",
    ] {
        let cfg = PostgresConfig {
            token_source: Some(tokens.clone()),
            ..PostgresConfig { dsn: bad.clone(), ..schema.config() }
        };
        assert!(matches!(PostgresStorage::open(&cfg).await, Err(StorageError::InvalidArgument(_))), "{bad}");
    }
}

#[tokio::test]
async fn nul_characters_are_stored_as_replacement_characters() {
    let Some(schema) = TestSchema::create("nul").await else { return };
    let s = open(&schema).await;
    let t = tenant("acme");
    let mut l = text_log(1, "svc\0x", "body \0 with nul");
    l.attributes.push("k\0", otelcontext_domain::AnyValue::String("v\0".into()));
    s.write(&logs_batch(&t, vec![l])).await.unwrap();
    let got = s.search_logs(&t, &LogQuery::recent(5)).await.unwrap();
    assert_eq!(got.items[0].record.body_text(), "body \u{FFFD} with nul");
    assert_eq!(got.items[0].record.attributes.get_str("k\u{FFFD}"), Some("v\u{FFFD}"));
    s.close().await;
}

#[tokio::test]
async fn a_cursor_of_another_order_is_refused() {
    let Some(schema) = TestSchema::create("cursor").await else { return };
    let s = open(&schema).await;
    let q = LogQuery {
        sort: LogSort::Relevance,
        text: TextQuery::parse("x").unwrap(),
        cursor: Some(Cursor::After { key: 1, id: 1 }),
        ..LogQuery::recent(5)
    };
    assert!(matches!(s.search_logs(&tenant("t"), &q).await, Err(StorageError::InvalidArgument(_))));
    s.close().await;
}

/// Every page of `q` searched window by window and in one query, as (id, timestamp) in page order.
async fn all_pages(
    s: &PostgresStorage,
    t: &TenantId,
    q: &LogQuery,
    windows: search::Windows,
) -> (Vec<(i64, i64)>, Vec<(i64, i64)>) {
    let mut out = (Vec::new(), Vec::new());
    for windowed in [true, false] {
        let mut q = q.clone();
        loop {
            let page = if windowed {
                search::search_logs_by_window(s.pool(), t, &q, windows).await.unwrap()
            } else {
                search::search_logs_in_one_query(s.pool(), t, &q, true).await.unwrap()
            };
            let found = if windowed { &mut out.0 } else { &mut out.1 };
            found.extend(page.items.iter().map(|l| (l.id.0, l.record.timestamp_ns)));
            match page.next {
                Some(c) => q.cursor = Some(c),
                None => break,
            }
        }
    }
    out
}

#[tokio::test]
async fn text_search_window_by_window_returns_the_pages_of_one_query() {
    let Some(schema) = TestSchema::create("windows").await else { return };
    let s = open(&schema).await;
    let (a, b) = (tenant("a"), tenant("b"));
    let hour = 3_600_000_000_000i64;
    // Pairs at the same time, every 97th an hour late, three a day ahead (future-dated), and
    // another tenant's logs in between.
    let logs: Vec<_> = (1..=3_000i64)
        .map(|n| {
            let at = match n {
                5 | 50 | 500 => n * 1_000 + 24 * hour,
                _ if n % 97 == 0 => n * 1_000 - hour,
                _ => n / 2 * 1_000,
            };
            text_log(at, "svc", &format!("alpha {} {n}", if n % 3 == 0 { "beta" } else { "gamma" }))
        })
        .collect();
    s.write(&logs_batch(&a, logs)).await.unwrap();
    s.write(&logs_batch(&b, (0..500).map(|i| text_log(i * 3_000, "svc", &format!("alpha other {i}"))).collect()))
        .await
        .unwrap();
    sqlx::query("ANALYZE logs").execute(s.pool()).await.unwrap();

    let q = |w: &str, sort: LogSort, limit: usize| LogQuery {
        text: TextQuery::parse(w).unwrap(),
        sort,
        ..LogQuery::recent(limit)
    };
    let windowed = LogQuery { time: TimeRange::between(T0 + 200_000, T0 + 900_000), ..q("alpha", LogSort::Newest, 50) };
    for (query, expected) in [
        (q("alpha", LogSort::Newest, 250), 3_000),
        (q("alpha", LogSort::Oldest, 250), 3_000),
        (q("beta", LogSort::Newest, 7), 1_000),
        (q("nothing-matches", LogSort::Newest, 10), 0),
        (windowed, 1_387),
    ] {
        // Many small windows; small windows then the rest in one; the server's sizes.
        let small = search::Windows { first_rows: 16.0, last_rows: 1e9 };
        let then_rest = search::Windows { first_rows: 16.0, last_rows: 200.0 };
        for windows in [small, then_rest, search::WINDOWS] {
            let (by_window, one_query) = all_pages(&s, &a, &query, windows).await;
            assert_eq!(by_window.len(), expected, "{query:?}");
            assert_eq!(by_window, one_query, "{query:?} in {windows:?}");
        }
    }
    s.close().await;
}

#[tokio::test]
async fn an_upgrade_to_version_4_rolls_up_the_rows_already_stored() {
    use otelcontext_ports::TraceStatsQuery;
    let Some(schema) = TestSchema::create("rollup").await else { return };
    let sec = 1_000_000_000i64;
    {
        let pool = sqlx::postgres::PgPoolOptions::new().connect(&schema.dsn()).await.unwrap();
        schema::migrator_up_to(3).run(&pool).await.unwrap();
        for i in 0..300i64 {
            sqlx::query(
                "INSERT INTO traces (tenant_id, trace_id, start_ns, end_ns, duration_ns, root_service, root_operation, \
                 has_root, root_start_ns, status, span_count) VALUES ('old', $1, $2, $3, $4, $5, 'op', true, $2, $6, 1)",
            )
            .bind(format!("{:032x}", i + 1))
            .bind(T0 + i * sec)
            .bind(T0 + i * sec + (i % 50 + 1) * 1_000_000)
            .bind((i % 50 + 1) * 1_000_000)
            .bind(if i % 2 == 0 { "a" } else { "b" })
            .bind(if i % 9 == 0 { 2i16 } else { 1 })
            .execute(&pool)
            .await
            .unwrap();
        }
        for i in 0..120i64 {
            sqlx::query(
                "INSERT INTO logs (tenant_id, timestamp_ns, dedup_key, observed_ns, severity_number, severity_text, \
                 level, body, body_is_json, service_name, resource_fp, scope_name, scope_version, attributes_json, \
                 flags, event_name) VALUES ('old', $1, $2, $1, 9, 'INFO', 3, 'line', false, 'a', 0, '', '', '{}', 0, '')",
            )
            .bind(T0 + i * 2 * sec + 1)
            .bind(i)
            .execute(&pool)
            .await
            .unwrap();
        }
        pool.close().await;
    }
    let s = open(&schema).await;
    let old = tenant("old");
    let stored = s
        .search_traces(&old, &otelcontext_ports::TraceQuery { limit: 1_000, ..Default::default() })
        .await
        .unwrap()
        .items;
    assert_eq!(stored.len(), 300);
    for (from, to) in [(0, 600 * sec), (17 * sec, 200 * sec + 3), (60 * sec, 120 * sec - 1)] {
        let q = TraceStatsQuery { start_ns: T0 + from, end_ns: T0 + to, services: vec![] };
        let logs = (0..120i64).filter(|i| (from..=to).contains(&(i * 2 * sec + 1))).count() as u64;
        assert_eq!(s.trace_stats(&old, &q).await.unwrap(), q.stats_of(stored.iter(), logs), "{from}..={to}");
    }
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM rollup_backfill").fetch_one(s.pool()).await.unwrap();
    assert_eq!(left, 0, "done once");
    // An operator's repair: both lists again, the rollups emptied; the next start rebuilds them.
    let whole = TraceStatsQuery { start_ns: T0, end_ns: T0 + 600 * sec, services: vec![] };
    let before = s.trace_stats(&old, &whole).await.unwrap();
    sqlx::query("DELETE FROM trace_rollups").execute(s.pool()).await.unwrap();
    sqlx::query("UPDATE log_rollups SET logs = logs + 5").execute(s.pool()).await.unwrap();
    sqlx::query("INSERT INTO rollup_backfill VALUES ('traces'), ('logs')").execute(s.pool()).await.unwrap();
    s.close().await;
    let s = open(&schema).await;
    assert_eq!(s.trace_stats(&old, &whole).await.unwrap(), before);
    assert_eq!(before.logs, 120);
    s.close().await;
}

#[tokio::test]
async fn concurrent_writers_share_rollups_without_deadlocks_or_lost_counts() {
    use otelcontext_ports::TraceStatsQuery;
    use otelcontext_ports::conformance::fixtures::{plain_span, tid16};
    let Some(schema) = TestSchema::create("rollwrite").await else { return };
    let s = Arc::new(open(&schema).await);
    let t = tenant("t");
    let sec = 1_000_000_000i64;
    let mut tasks = Vec::new();
    for w in 0..6i64 {
        let (s, t) = (s.clone(), t.clone());
        tasks.push(tokio::spawn(async move {
            for round in 0..6i64 {
                // Every writer touches the same minutes and services, and half the traces of
                // the others (spans of one trace arrive from several writers).
                let spans = (0..40i64)
                    .map(|i| {
                        let n = (round * 40 + i) as u16;
                        let service = ["a", "b", "c"][(i % 3) as usize];
                        let id = if i % 2 == 0 { n + 1 } else { (w as u16 + 1) * 1_000 + n };
                        let start = (i % 4) * 30 * sec + w;
                        plain_span(tid16(id), (w + 1) as u8, None, service, "op", start, start + (w + 1) * 1_000_000)
                    })
                    .collect();
                let logs = (0..20).map(|i| text_log(i * 7 * sec + w, ["a", "b"][(i % 2) as usize], "x")).collect();
                s.write(&[TenantBatch { tenant: t.clone(), spans, logs, metrics: vec![] }]).await.unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let stored =
        s.search_traces(&t, &otelcontext_ports::TraceQuery { limit: 1_000, ..Default::default() }).await.unwrap().items;
    let q = TraceStatsQuery { start_ns: T0, end_ns: T0 + 10 * 60 * sec, services: vec![] };
    assert_eq!(stored.len(), 120 + 6 * 120);
    // Each writer sends the same 20 log records every round: 20 distinct records per writer.
    assert_eq!(s.trace_stats(&t, &q).await.unwrap(), q.stats_of(stored.iter(), 6 * 20));
    s.close().await;
}
