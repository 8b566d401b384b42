//! The dead-letter queue end to end: exports acknowledged while the database cannot store them
//! wait on disk and arrive once it can — across restarts, exactly once, with unreadable files
//! quarantined — on SQLite (a storage wrapper failing writes as a full disk does) and on
//! Postgres (the database refusing connections).

use crate::outage::OutageDatabase;
use crate::payloads::*;
use otelcontext_e2e::{TestServer, config_from, eventually, open_sqlite};
use otelcontext_ports::Storage;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

pub(crate) mod flaky {
    use otelcontext::storage::decorate::OperationKind;
    use std::future::Future;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    /// Storage whose writes fail, as SQLite's do on a full disk, while `failing` is set, and
    /// never return (a database that hangs) while `hanging` is.
    pub struct Flaky {
        pub inner: Arc<dyn otelcontext_ports::Storage>,
        pub failing: AtomicBool,
        pub hanging: AtomicBool,
    }

    impl Flaky {
        /// Over `inner`, failing from the start when `failing`.
        pub fn new(inner: Arc<dyn otelcontext_ports::Storage>, failing: bool) -> Self {
            Self { inner, failing: AtomicBool::new(failing), hanging: AtomicBool::new(false) }
        }
    }

    impl Flaky {
        async fn around<T, F, Fut>(
            &self,
            op: &'static str,
            kind: OperationKind,
            call: F,
        ) -> Result<T, otelcontext_ports::StorageError>
        where
            F: Fn() -> Fut,
            Fut: Future<Output = Result<T, otelcontext_ports::StorageError>>,
        {
            if op == "write" && self.hanging.load(Ordering::SeqCst) {
                std::future::pending::<()>().await;
            }
            if kind == OperationKind::Write && self.failing.load(Ordering::SeqCst) {
                return Err(otelcontext_ports::StorageError::Unavailable("database or disk is full".into()));
            }
            call().await
        }
    }

    otelcontext::decorate_storage!(Flaky);
}
pub(crate) use flaky::Flaky;

/// The value of an unlabelled metric (0 when absent).
fn metric(s: &TestServer, name: &str) -> f64 {
    s.metrics_text()
        .lines()
        .find_map(|l| l.strip_prefix(name).and_then(|rest| rest.strip_prefix(' ')))
        .map_or(0.0, |v| v.trim().parse().unwrap())
}

fn queued_files(dlq: &Path) -> Vec<std::path::PathBuf> {
    let Ok(dir) = std::fs::read_dir(dlq) else { return Vec::new() };
    let mut v: Vec<_> = dir.map(|e| e.unwrap().path()).filter(|p| p.extension().is_some_and(|e| e == "dlq")).collect();
    v.sort();
    v
}

fn dlq_config(dlq: &Path) -> otelcontext::Config {
    config_from(&[("DLQ_PATH", dlq.to_str().unwrap()), ("DLQ_REPLAY_INTERVAL", "200ms")])
}

async fn flaky_server(db: &Path, dlq: &Path, failing: bool) -> (TestServer, Arc<Flaky>) {
    let flaky = Arc::new(Flaky::new(open_sqlite(db).await, failing));
    (TestServer::start_on(dlq_config(dlq), flaky.clone()).await, flaky)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exports_acknowledged_while_storage_fails_wait_in_the_dead_letter_queue_and_arrive_when_it_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let (db, dlq) = (dir.path().join("otelcontext.db"), dir.path().join("dlq"));
    let (s, flaky) = flaky_server(&db, &dlq, true).await;
    for n in 0..5 {
        grpc_traces(&s, healthy_traces(n * 10, 10), &[]).await.expect("acknowledged: the pipeline is asynchronous");
    }
    eventually(|| async { (metric(&s, "otelcontext_dlq_enqueued_records_total") >= 50.0).then_some(()) })
        .await
        .expect("the failed batches reach the dead-letter queue");
    assert!(!queued_files(&dlq).is_empty());
    assert_eq!(s.counts("default").await.spans, 0);
    assert!(metric(&s, "otelcontext_dlq_size") >= 1.0);
    assert!(metric(&s, "otelcontext_dlq_disk_bytes") > 0.0);
    let (_, ready) = s.get_json("/ready", None).await;
    assert_eq!(ready["checks"]["dead_letter_queue"], "ok", "{ready}");

    flaky.failing.store(false, Ordering::SeqCst);
    s.wait_for("default", |c| c.spans == 50).await;
    eventually(|| async { queued_files(&dlq).is_empty().then_some(()) }).await.expect("replayed files are deleted");
    eventually(|| async { (metric(&s, "otelcontext_dlq_size") == 0.0).then_some(()) }).await.expect("size drops to 0");
    assert!(metric(&s, "otelcontext_dlq_replay_success_total") >= 1.0);
    assert_eq!(metric(&s, "otelcontext_dlq_evicted_total"), 0.0);
    assert_eq!(s.counts("default").await.spans, 50, "stored = acknowledged");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_in_the_middle_of_replay_stores_each_batch_once_and_an_unreadable_file_is_quarantined() {
    let dir = tempfile::tempdir().unwrap();
    let (db, dlq, saved) = (dir.path().join("otelcontext.db"), dir.path().join("dlq"), dir.path().join("saved"));
    // A first run whose storage fails: its batches are on disk when it stops.
    let (mut s, _) = flaky_server(&db, &dlq, true).await;
    for n in 0..3 {
        grpc_traces(&s, healthy_traces(n * 10, 10), &[]).await.unwrap();
    }
    eventually(|| async { (metric(&s, "otelcontext_dlq_enqueued_records_total") >= 30.0).then_some(()) })
        .await
        .expect("dead-lettered");
    s.shutdown().await;
    let files = queued_files(&dlq);
    assert!(!files.is_empty());
    std::fs::create_dir_all(&saved).unwrap();
    for f in &files {
        std::fs::copy(f, saved.join(f.file_name().unwrap())).unwrap();
    }
    let corrupt = dlq.join("batch-00000000000000000001-0badf00d.r0.dlq");
    std::fs::write(&corrupt, b"{\"format\":\"otelcontext-dlq\",\"version\":1}\n[not the body").unwrap();

    // The second run replays them, and sets the unreadable one aside.
    let (mut s, _) = flaky_server(&db, &dlq, false).await;
    s.wait_for("default", |c| c.spans == 30).await;
    eventually(|| async { queued_files(&dlq).is_empty().then_some(()) }).await.expect("queue emptied");
    assert_eq!(metric(&s, "otelcontext_dlq_quarantined_total"), 1.0);
    assert!(dlq.join("quarantine").join(corrupt.file_name().unwrap()).exists());
    s.shutdown().await;

    // As if the second run had died after storing the batches and before deleting their files:
    // a third run replays them again, and storage keeps one copy.
    for f in &files {
        std::fs::copy(saved.join(f.file_name().unwrap()), f).unwrap();
    }
    let (s, _) = flaky_server(&db, &dlq, false).await;
    eventually(|| async { queued_files(&dlq).is_empty().then_some(()) }).await.expect("replayed again");
    assert!(metric(&s, "otelcontext_dlq_replay_success_total") >= 1.0);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let counts = s.counts("default").await;
    assert_eq!(counts.spans, 30, "a batch replayed twice is stored once");
    assert_eq!(counts.traces, 30);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_oldest_batches_are_evicted_at_the_cap_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let dlq = dir.path().join("dlq");
    let flaky = Arc::new(Flaky::new(open_sqlite(&dir.path().join("o.db")).await, true));
    let config =
        config_from(&[("DLQ_PATH", dlq.to_str().unwrap()), ("DLQ_MAX_FILES", "2"), ("INGEST_PIPELINE_WORKERS", "4")]);
    let s = TestServer::start_on(config, flaky).await;
    for n in 0..4 {
        grpc_traces(&s, healthy_traces(n * 10, 10), &[]).await.unwrap();
        // One export per group commit.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eventually(|| async { (metric(&s, "otelcontext_dlq_enqueued_records_total") >= 40.0).then_some(()) })
        .await
        .expect("all dead-lettered");
    assert!(queued_files(&dlq).len() <= 2);
    assert!(metric(&s, "otelcontext_dlq_evicted_total") >= 1.0);
    assert!(metric(&s, "otelcontext_dlq_evicted_bytes_total") > 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_postgres_outage_under_asynchronous_ingest_loses_nothing_acknowledged() {
    let Some(mut db) = OutageDatabase::create("otelcontext_dlq").await else { return };
    let dsn = db.dsn.clone();
    let dir = tempfile::tempdir().unwrap();
    let config = config_from(&[
        ("DB_DRIVER", "postgres"),
        ("DB_DSN", &dsn),
        ("DB_MAX_OPEN_CONNS", "4"),
        ("DB_MAX_IDLE_CONNS", "0"),
        ("DLQ_PATH", dir.path().join("dlq").to_str().unwrap()),
        ("DLQ_REPLAY_INTERVAL", "300ms"),
    ]);
    let storage: Arc<dyn Storage> = otelcontext::storage::open_adapter(&config).await.unwrap();
    let s = Arc::new(TestServer::start_on(config, storage.clone()).await);
    let (stop, acked) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicU64::new(0)));
    let load = tokio::spawn({
        let (s, stop, acked) = (s.clone(), stop.clone(), acked.clone());
        async move {
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                if grpc_traces(&s, healthy_traces(n * 10, 10), &[]).await.is_ok() {
                    acked.fetch_add(10, Ordering::Relaxed);
                }
                n += 1;
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    });
    eventually(|| async { (acked.load(Ordering::Relaxed) >= 200).then_some(()) }).await.expect("load acknowledged");

    db.take_away().await;
    eventually(|| async { (metric(&s, "otelcontext_dlq_enqueued_total") >= 1.0).then_some(()) })
        .await
        .expect("batches acknowledged during the outage are dead-lettered");

    db.give_back().await;
    let during = acked.load(Ordering::Relaxed);
    eventually(|| async { (acked.load(Ordering::Relaxed) >= during + 200).then_some(()) }).await.expect("load goes on");
    stop.store(true, Ordering::Relaxed);
    load.await.unwrap();
    let acked = acked.load(Ordering::Relaxed);
    let tenant = otelcontext_domain::TenantId::parse("default").unwrap();
    let stored = eventually(|| async {
        let stored = storage.counts(&tenant).await.ok()?.spans;
        (stored == acked && metric(&s, "otelcontext_dlq_size") == 0.0).then_some(stored)
    })
    .await;
    assert_eq!(stored, Some(acked), "stored = acknowledged once the dead-letter queue is replayed");
    assert!(metric(&s, "otelcontext_dlq_replay_success_total") >= 1.0);
    drop(s);
    db.drop_database().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_is_bounded_by_the_grace_and_what_a_hung_database_never_took_is_replayed_later() {
    let dir = tempfile::tempdir().unwrap();
    let (db, dlq) = (dir.path().join("otelcontext.db"), dir.path().join("dlq"));
    let (mut s, flaky) = flaky_server(&db, &dlq, false).await;
    flaky.hanging.store(true, Ordering::SeqCst);
    for n in 0..3 {
        grpc_traces(&s, healthy_traces(n * 10, 10), &[]).await.expect("acknowledged");
    }
    let started = std::time::Instant::now();
    s.shutdown().await;
    let took = started.elapsed();
    assert!(took <= otelcontext::server::SHUTDOWN_GRACE + Duration::from_secs(2), "shutdown took {took:?}");
    assert!(metric(&s, "otelcontext_dlq_enqueued_records_total") == 30.0, "{}", s.metrics_text());
    assert!(!queued_files(&dlq).is_empty());
    // The next start, with a database that answers, stores them.
    let (s, _) = flaky_server(&db, &dlq, false).await;
    s.wait_for("default", |c| c.spans == 30).await;
}
