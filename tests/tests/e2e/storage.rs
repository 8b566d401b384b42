//! Storage through the real server: full-text log search over the API on both databases, daily
//! partitions on Postgres, and a Postgres outage that the server rides out without losing
//! anything it acknowledged.

use crate::outage::OutageDatabase;
use crate::payloads::*;
use otelcontext_e2e::{Backend, TestServer, config_from, eventually, open_sqlite};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

otelcontext_e2e::on_both_databases!(2, logs_are_found_by_full_text_search_over_the_api);

async fn logs_are_found_by_full_text_search_over_the_api(backend: Backend) {
    let Some(s) = TestServer::on(backend).await else { return };
    let records = vec![
        log_record(1, 17, "Connection refused by upstream"),
        log_record(2, 9, "thread 'main' panicked at src/main.rs"),
        log_record(3, 9, "request served in 12ms"),
        log_record(4, 13, "job 100% done"),
    ];
    assert_eq!(post_proto(&s, "/v1/logs", &logs("billing", records), &[]).await.status, 200);
    s.wait_for("default", |c| c.logs == 4).await;
    let bodies = |q: &'static str| {
        let s = &s;
        async move {
            let (status, body) = s.get_json(&format!("/api/logs?{q}"), None).await;
            assert_eq!(status, 200, "{q}: {body}");
            let mut found: Vec<String> =
                body["logs"].as_array().unwrap().iter().map(|l| l["body"].as_str().unwrap().to_owned()).collect();
            found.sort();
            found
        }
    };
    assert_eq!(bodies("q=conn").await, vec!["Connection refused by upstream"]);
    assert_eq!(bodies("q=panic").await, vec!["thread 'main' panicked at src/main.rs"]);
    assert_eq!(bodies("q=100%25").await, vec!["job 100% done"]);
    assert_eq!(bodies("q=billing&severity=warn").await, vec!["Connection refused by upstream", "job 100% done"]);
    assert_eq!(bodies("q=%22%20OR%201%3D1%20--").await, Vec::<String>::new(), "operators are searched for");
    // Pages of two, then the rest with the cursor.
    let (_, first) = s.get_json("/api/logs?limit=2", None).await;
    assert_eq!(first["logs"].as_array().unwrap().len(), 2);
    let cursor = first["next_cursor"].as_str().unwrap().to_owned();
    let (_, second) = s.get_json(&format!("/api/logs?limit=2&cursor={cursor}"), None).await;
    assert_eq!(second["logs"].as_array().unwrap().len(), 2);
    assert!(second["next_cursor"].is_null());
    // The cursor is the default tenant's: another tenant cannot page with it.
    let (status, refused) = s.get_json(&format!("/api/logs?limit=2&cursor={cursor}"), Some("someone-else")).await;
    assert_eq!((status, refused["error"].as_str()), (400, Some("invalid cursor")), "{refused}");
    let id = second["logs"][0]["id"].as_i64().unwrap();
    let (status, one) = s.get_json(&format!("/api/logs/{id}"), None).await;
    assert_eq!((status, one["id"].as_i64()), (200, Some(id)));
    assert_eq!(s.get_json(&format!("/api/logs/{id}"), Some("someone-else")).await.0, 404);
    let (status, storage) = s.get_json("/api/storage", None).await;
    assert_eq!(status, 200);
    assert_eq!(storage["full_text_indexed"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_daily_partitions_are_created_at_start_and_hold_the_logs() {
    // DB_DSN is replaced by the test schema's.
    let config = config_from(&[
        ("DB_DRIVER", "postgres"),
        ("DB_DSN", "postgres://placeholder/db"),
        ("DB_POSTGRES_PARTITIONING", "daily"),
        ("DB_PARTITION_LOOKAHEAD_DAYS", "2"),
    ]);
    let Some(s) = TestServer::on_with(Backend::Postgres, config).await else { return };
    // The first partition pass runs at start: default + yesterday, today and two days ahead.
    let partitions = eventually(|| async {
        let (_, status) = s.get_json("/api/storage", None).await;
        let n: usize = status["settings"]["log_partitions"].as_str()?.parse().ok()?;
        // The gauge is set once the pass is over.
        (n == 5 && s.metrics_text().contains("otelcontext_partitions_active 5")).then_some(status)
    })
    .await
    .expect("partitions created at start");
    assert_eq!(partitions["logs_partitioned"], true);
    assert_eq!(s.metric_sum("otelcontext_partitions_dropped_total"), Some(0.0), "present before anything expires");
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64;
    let mut records = vec![log_record(0, 9, "today")];
    records[0].time_unix_nano = now;
    records.push(log_record(1, 9, "from long ago")); // 2025: lands in the default partition
    assert_eq!(post_proto(&s, "/v1/logs", &logs("svc", records), &[]).await.status, 200);
    s.wait_for("default", |c| c.logs == 2).await;
    let (_, found) = s.get_json("/api/logs?q=today", None).await;
    assert_eq!(found["logs"].as_array().unwrap().len(), 1);
}

/// Sends one-span traces in durable mode until told to stop; counts acknowledged spans.
async fn durable_load(s: Arc<TestServer>, stop: Arc<AtomicBool>, acked: Arc<AtomicU64>, sent: Arc<AtomicU64>) {
    let mut n = 0u64;
    while !stop.load(Ordering::Relaxed) {
        sent.fetch_add(10, Ordering::Relaxed);
        if grpc_traces(&s, healthy_traces(n * 10, 10), &[]).await.is_ok() {
            acked.fetch_add(10, Ordering::Relaxed);
        } else {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        n += 1;
    }
}

async fn ready_status(s: &TestServer) -> u16 {
    s.get_json("/ready", None).await.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_postgres_outage_turns_ready_off_and_on_and_loses_nothing_acknowledged() {
    let Some(mut db) = OutageDatabase::create("otelcontext_outage").await else { return };
    let dsn = db.dsn.clone();
    let config = config_from(&[
        ("INGEST_ASYNC_ENABLED", "false"),
        ("DB_DRIVER", "postgres"),
        ("DB_DSN", &dsn),
        ("DB_MAX_OPEN_CONNS", "4"),
        ("DB_MAX_IDLE_CONNS", "0"),
    ]);
    let storage = otelcontext::storage::open_adapter(&config).await.unwrap();
    let s = Arc::new(TestServer::start_on(config, storage.clone()).await);
    let db_up = |s: &TestServer| s.metrics_text().lines().any(|l| l == r#"otelcontext_db_up{driver="postgres"} 1"#);
    eventually(|| async { db_up(&s).then_some(()) }).await.expect("db_up is 1");
    let (stop, acked, sent) =
        (Arc::new(AtomicBool::new(false)), Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let load = tokio::spawn(durable_load(s.clone(), stop.clone(), acked.clone(), sent.clone()));
    eventually(|| async { (acked.load(Ordering::Relaxed) >= 200).then_some(()) }).await.expect("load acknowledged");

    // The database goes away: no new connections, existing ones killed.
    db.take_away().await;
    eventually(|| async { (ready_status(&s).await == 503).then_some(()) }).await.expect("/ready turns 503");
    eventually(|| async { s.metrics_text().contains(r#"otelcontext_db_up{driver="postgres"} 0"#).then_some(()) })
        .await
        .expect("db_up turns 0");
    let acked_during = acked.load(Ordering::Relaxed);

    // It comes back.
    db.give_back().await;
    eventually(|| async { (ready_status(&s).await == 200).then_some(()) }).await.expect("/ready turns 200 again");
    eventually(|| async { db_up(&s).then_some(()) }).await.expect("db_up is 1 again");
    eventually(|| async { (acked.load(Ordering::Relaxed) >= acked_during + 200).then_some(()) })
        .await
        .expect("exports are acknowledged again");
    stop.store(true, Ordering::Relaxed);
    load.await.unwrap();

    let stored = storage.counts(&otelcontext_domain::TenantId::parse("default").unwrap()).await.unwrap().spans;
    let (acked, sent) = (acked.load(Ordering::Relaxed), sent.load(Ordering::Relaxed));
    assert!(stored >= acked, "stored {stored} < acknowledged {acked}: acknowledged data was lost");
    assert!(stored <= sent, "stored {stored} > sent {sent}");
    drop(s);
    db.drop_database().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cursors_signed_with_a_configured_secret_survive_a_restart_and_no_other_secret_opens_them() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cursors.db");
    let with_secret = |secret: &str| config_from(&[("CURSOR_SECRET", secret)]);
    let mut s = TestServer::start_on(with_secret("shared secret"), open_sqlite(&path).await).await;
    let records = (1..=3).map(|i| log_record(i, 9, "tick")).collect();
    assert_eq!(post_proto(&s, "/v1/logs", &logs("clock", records), &[]).await.status, 200);
    s.wait_for("default", |c| c.logs == 3).await;
    let (_, first) = s.get_json("/api/logs?limit=2", None).await;
    let cursor = first["next_cursor"].as_str().expect("a next page").to_owned();
    s.shutdown().await;

    let mut s = TestServer::start_on(with_secret("shared secret"), open_sqlite(&path).await).await;
    let (status, rest) = s.get_json(&format!("/api/logs?limit=2&cursor={cursor}"), None).await;
    assert_eq!((status, rest["logs"].as_array().map(Vec::len)), (200, Some(1)), "{rest}");
    s.shutdown().await;

    let mut s = TestServer::start_on(with_secret("another secret"), open_sqlite(&path).await).await;
    let (status, _) = s.get_json(&format!("/api/logs?limit=2&cursor={cursor}"), None).await;
    assert_eq!(status, 400);
    s.shutdown().await;
}
