use super::*;
use otelcontext_domain::retention::Day;
use otelcontext_memory::MemoryStorage;
use otelcontext_ports::conformance::fixtures::{T0, logs_batch, tenant, text_log};
use otelcontext_ports::{LogPartition, MockMaintenance, TelemetryWriter};
use std::sync::atomic::AtomicI64;

/// A clock the test moves.
struct FakeClock(AtomicI64);

impl Clock for FakeClock {
    fn now_ns(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

fn settings(batch: usize) -> RetentionSettings {
    RetentionSettings {
        policy: RetentionPolicy::new(1).unwrap(),
        batch_size: batch,
        batch_sleep: Duration::ZERO,
        lookahead_days: 2,
    }
}

#[tokio::test]
async fn a_purge_deletes_what_is_older_than_the_retention_in_batches_and_reports_it() {
    let storage = Arc::new(MemoryStorage::new());
    let t = tenant("acme");
    let logs = (0..10).map(|i| text_log(i * DAY_NS / 4, "svc", &format!("line {i}"))).collect();
    storage.write(&logs_batch(&t, logs)).await.unwrap();
    let clock = Arc::new(FakeClock(AtomicI64::new(T0 + 2 * DAY_NS)));
    let metrics = Arc::new(otelcontext_telemetry::Telemetry::new());
    let service = RetentionService::new(storage.clone(), clock.clone(), &metrics.meter(), settings(2));
    // Cutoff = T0 + 1 day: lines 0..3 (at 0, 6 h, 12 h, 18 h) are older.
    let report = service.purge_once().await.unwrap().unwrap();
    assert_eq!(report["logs"], 4);
    assert_eq!(storage.counts(&t).await.unwrap().logs, 6);
    let text = metrics.render();
    assert!(text.contains(r#"otelcontext_retention_rows_purged_total{driver="memory",table="logs"} 4"#), "{text}");
    assert!(text.contains(r#"otelcontext_retention_rows_behind{driver="memory",table="logs"} 0"#));
    assert!(text.contains(r#"otelcontext_retention_consecutive_failures{job="purge"} 0"#));
    assert!(text.contains(&format!(
        r#"otelcontext_retention_last_success_timestamp{{job="purge"}} {}"#,
        (T0 + 2 * DAY_NS) / 1_000_000_000
    )));
    // A day later the rest goes too.
    clock.0.store(T0 + 5 * DAY_NS, Ordering::SeqCst);
    assert_eq!(service.purge_once().await.unwrap().unwrap()["logs"], 6);
}

#[tokio::test]
async fn failures_are_counted_until_a_run_succeeds() {
    let storage = Arc::new(MemoryStorage::new());
    let metrics = Arc::new(otelcontext_telemetry::Telemetry::new());
    let clock = Arc::new(FakeClock(AtomicI64::new(T0)));
    let service = RetentionService::new(storage.clone(), clock, &metrics.meter(), settings(10));
    storage.set_failing(true);
    assert!(service.purge_once().await.unwrap().is_err());
    assert!(service.purge_once().await.unwrap().is_err());
    assert!(metrics.render().contains(r#"otelcontext_retention_consecutive_failures{job="purge"} 2"#));
    storage.set_failing(false);
    service.purge_once().await.unwrap().unwrap();
    assert!(metrics.render().contains(r#"otelcontext_retention_consecutive_failures{job="purge"} 0"#));
}

fn partition(day: Day) -> LogPartition {
    LogPartition { name: format!("logs_{}", day.suffix()), range: Some((day.start_ns(), day.end_ns())) }
}

#[tokio::test]
async fn partitions_are_created_ahead_and_wholly_expired_ones_dropped() {
    let today = Day::of(T0);
    let mut m = MockMaintenance::new();
    m.expect_backend().return_const("postgres");
    let listed = vec![
        LogPartition { name: "logs_default".into(), range: None },
        partition(today.plus(-3)),
        partition(today.plus(-2)),
        partition(today.plus(-1)),
        partition(today),
    ];
    let after_drop: Vec<LogPartition> =
        listed.iter().filter(|p| p.name != format!("logs_{}", today.plus(-3).suffix())).cloned().collect();
    let mut seq = mockall::Sequence::new();
    m.expect_log_partitions().times(2).in_sequence(&mut seq).returning(move || Ok(listed.clone()));
    m.expect_create_log_partitions()
        .withf(move |days| {
            days.first() == Some(&today.plus(-1)) && days.last() == Some(&today.plus(2)) && days.len() == 4
        })
        .returning(|days| Ok(days.len()));
    // Retention 1 day at noon: the cutoff is yesterday noon, so only the day before yesterday
    // and older are wholly expired.
    let dropped_name = format!("logs_{}", today.plus(-3).suffix());
    let also_expired = format!("logs_{}", today.plus(-2).suffix());
    m.expect_drop_log_partition().withf(move |n| n == dropped_name || n == also_expired).times(2).returning(|_| Ok(()));
    m.expect_log_partitions().times(1).in_sequence(&mut seq).returning(move || Ok(after_drop.clone()));
    let metrics = Arc::new(otelcontext_telemetry::Telemetry::new());
    let clock = Arc::new(FakeClock(AtomicI64::new(today.start_ns() + DAY_NS / 2)));
    let service = RetentionService::new(Arc::new(m), clock, &metrics.meter(), settings(10));
    let dropped = service.partitions_once().await.unwrap().unwrap();
    assert_eq!(dropped.len(), 2);
    let text = metrics.render();
    assert!(text.contains("otelcontext_partitions_dropped_total 2"), "{text}");
    assert!(text.contains("otelcontext_partitions_active 4"));
}

#[tokio::test]
async fn without_partitions_the_partition_job_does_nothing() {
    let storage = Arc::new(MemoryStorage::new());
    let service = RetentionService::new(
        storage,
        Arc::new(FakeClock(AtomicI64::new(T0))),
        &otelcontext_telemetry::Telemetry::new().meter(),
        settings(10),
    );
    assert_eq!(service.partitions_once().await.unwrap().unwrap(), Vec::<String>::new());
}

#[tokio::test]
async fn maintenance_runs_the_storage_optimisation_and_is_measured() {
    let mut m = MockMaintenance::new();
    m.expect_backend().return_const("mock");
    m.expect_optimize().times(1).returning(|| Ok(()));
    let metrics = Arc::new(otelcontext_telemetry::Telemetry::new());
    let service =
        RetentionService::new(Arc::new(m), Arc::new(FakeClock(AtomicI64::new(T0))), &metrics.meter(), settings(10));
    service.maintain_once().await.unwrap().unwrap();
    let text = metrics.render();
    assert!(text.contains(r#"otelcontext_retention_vacuum_duration_seconds_count{driver="mock",table="all"} 1"#));
    assert!(text.contains(r#"otelcontext_retention_consecutive_failures{job="maintenance"} 0"#));
}

#[tokio::test]
async fn a_tick_during_a_running_job_is_skipped() {
    let service = RetentionService::new(
        Arc::new(MemoryStorage::new()),
        Arc::new(FakeClock(AtomicI64::new(T0))),
        &otelcontext_telemetry::Telemetry::new().meter(),
        settings(10),
    );
    let busy = service.begin("test").unwrap();
    assert!(service.purge_once().await.is_none());
    assert!(service.maintain_once().await.is_none());
    drop(busy);
    assert!(service.purge_once().await.is_some());
}

#[tokio::test(start_paused = true)]
async fn the_schedule_purges_hourly_and_maintains_daily() {
    let purges = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let optimizes = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut m = MockMaintenance::new();
    m.expect_backend().return_const("mock");
    m.expect_log_partitions().returning(|| Ok(vec![]));
    m.expect_count_older_than().returning(|_, _| Ok(0));
    let p = purges.clone();
    m.expect_purge().returning(move |target, _, _| {
        if target == RetentionTarget::Logs {
            p.fetch_add(1, Ordering::SeqCst);
        }
        Ok(0)
    });
    let o = optimizes.clone();
    m.expect_optimize().returning(move || {
        o.fetch_add(1, Ordering::SeqCst);
        Ok(())
    });
    let service = Arc::new(RetentionService::new(
        Arc::new(m),
        Arc::new(FakeClock(AtomicI64::new(T0))),
        &otelcontext_telemetry::Telemetry::new().meter(),
        settings(10),
    ));
    let (stop, rx) = watch::channel(false);
    let task = service.spawn(rx);
    for _ in 0..(24 * 60 + 30) {
        tokio::time::sleep(Duration::from_secs(60)).await;
    }
    stop.send(true).unwrap();
    task.await.unwrap();
    // At start, then after each of the 24 hours.
    assert_eq!(purges.load(Ordering::SeqCst), 25);
    assert_eq!(optimizes.load(Ordering::SeqCst), 1);
}
