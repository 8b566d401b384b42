use super::*;
use otelcontext_domain::TenantId;
use otelcontext_ports::conformance::fixtures::text_log;
use otelcontext_ports::{
    DeadLetter, DlqStats, Enqueued, MockClock, MockDeadLetterQueue, MockTelemetryWriter, StorageError, WriteSummary,
};
use otelcontext_telemetry::Telemetry;

const NOW: i64 = 1_000_000_000_000;
const MIN: i64 = 60_000_000_000;

fn clock() -> Arc<MockClock> {
    let mut c = MockClock::new();
    c.expect_now_ns().return_const(NOW);
    Arc::new(c)
}

fn batch() -> Vec<TenantBatch> {
    let mut b = TenantBatch::new(TenantId::parse("t").unwrap());
    b.logs = vec![text_log(1, "svc", "a"), text_log(2, "svc", "b")];
    vec![b]
}

fn entry(id: &str, failures: u32, last_attempt_ns: i64) -> DeadLetter {
    DeadLetter { id: id.into(), failures, last_attempt_ns, bytes: 100 }
}

fn policy() -> ReplayPolicy {
    ReplayPolicy { interval: Duration::from_secs(60), max_retries: 3 }
}

fn service(q: MockDeadLetterQueue, w: MockTelemetryWriter, t: &Telemetry) -> DeadLetterService {
    DeadLetterService::new(Arc::new(q), Arc::new(w), clock(), policy(), &t.meter())
}

fn with_stats(q: &mut MockDeadLetterQueue) {
    q.expect_stats().returning(|| DlqStats { files: 1, bytes: 100, max_files: 10, max_bytes: 1000 });
}

#[tokio::test]
async fn a_failed_batch_is_queued_and_counted_with_its_evictions() {
    let mut q = MockDeadLetterQueue::new();
    with_stats(&mut q);
    q.expect_enqueue()
        .withf(|b, now| b.len() == 1 && b[0].logs.len() == 2 && *now == NOW)
        .returning(|_, _| Ok(Enqueued { id: "x".into(), bytes: 100, evicted_files: 2, evicted_bytes: 300 }));
    let t = Telemetry::new();
    let s = service(q, MockTelemetryWriter::new(), &t);
    s.dead_letter(&batch()).await.unwrap();
    let text = t.render();
    for line in [
        "otelcontext_dlq_enqueued_total 1",
        "otelcontext_dlq_enqueued_records_total 2",
        "otelcontext_dlq_evicted_total 2",
        "otelcontext_dlq_evicted_bytes_total 300",
        "otelcontext_dlq_size 1",
        "otelcontext_dlq_disk_bytes 100",
        "otelcontext_dlq_max_disk_bytes 1000",
    ] {
        assert!(text.contains(line), "{line} missing in\n{text}");
    }
    assert!((s.fullness() - 0.1).abs() < 1e-9);
}

#[tokio::test]
async fn a_queue_that_cannot_write_counts_the_batch_as_dropped() {
    let mut q = MockDeadLetterQueue::new();
    with_stats(&mut q);
    q.expect_enqueue().returning(|_, _| Err(DlqError::Io("disk full".into())));
    let t = Telemetry::new();
    let s = service(q, MockTelemetryWriter::new(), &t);
    assert!(s.dead_letter(&batch()).await.is_err());
    assert!(t.render().contains(r#"otelcontext_dlq_dropped_total{reason="write_failed"} 1"#));
}

#[tokio::test]
async fn due_batches_are_replayed_oldest_first_and_removed_the_others_wait() {
    let mut q = MockDeadLetterQueue::new();
    with_stats(&mut q);
    // a: never failed (due); b: failed twice 1 min ago (waits 2 min); c: failed once 1 min ago (due).
    q.expect_list().returning(|| Ok(vec![entry("a", 0, NOW), entry("b", 2, NOW - MIN), entry("c", 1, NOW - MIN)]));
    q.expect_load().times(2).returning(|id| {
        assert_ne!(id, "b", "b is backing off");
        Ok(batch())
    });
    let removed = Arc::new(parking_lot::Mutex::new(Vec::new()));
    let r = removed.clone();
    q.expect_remove().returning(move |id| {
        r.lock().push(id.to_owned());
        Ok(())
    });
    let mut w = MockTelemetryWriter::new();
    w.expect_write().times(2).returning(|_| Ok(WriteSummary { logs: 2, ..Default::default() }));
    let t = Telemetry::new();
    let pass = service(q, w, &t).replay_once().await;
    assert_eq!(pass, ReplayPass { replayed: 2, waiting: 1, ..Default::default() });
    assert_eq!(*removed.lock(), vec!["a".to_owned(), "c".to_owned()]);
    assert!(t.render().contains("otelcontext_dlq_replay_success_total 2"));
}

#[tokio::test]
async fn an_unavailable_database_fails_one_replay_and_ends_the_pass() {
    let mut q = MockDeadLetterQueue::new();
    with_stats(&mut q);
    q.expect_list().returning(|| Ok(vec![entry("a", 0, 0), entry("b", 0, 0)]));
    q.expect_load().times(1).returning(|_| Ok(batch()));
    q.expect_record_failure()
        .times(1)
        .withf(|id, now| id == "a" && *now == NOW)
        .returning(|id, now| Ok(entry(id, 1, now)));
    q.expect_remove().never();
    let mut w = MockTelemetryWriter::new();
    w.expect_write().times(1).returning(|_| Err(StorageError::Unavailable("down".into())));
    let t = Telemetry::new();
    let pass = service(q, w, &t).replay_once().await;
    assert_eq!(pass, ReplayPass { failed: 1, ..Default::default() });
    assert!(t.render().contains("otelcontext_dlq_replay_failure_total 1"));
}

#[tokio::test]
async fn a_batch_that_keeps_failing_is_given_up_after_max_retries() {
    let mut q = MockDeadLetterQueue::new();
    with_stats(&mut q);
    // Two failures so far, the last long ago; the third failure exhausts DLQ_MAX_RETRIES=3.
    q.expect_list().returning(|| Ok(vec![entry("a", 2, 0), entry("b", 0, 0)]));
    q.expect_load().times(2).returning(|_| Ok(batch()));
    q.expect_record_failure().times(2).returning(|id, now| Ok(entry(id, if id == "a" { 3 } else { 1 }, now)));
    q.expect_remove().times(1).withf(|id| id == "a").returning(|_| Ok(()));
    let mut w = MockTelemetryWriter::new();
    // A rejection (not an outage): the pass goes on to the next batch.
    w.expect_write().times(2).returning(|_| Err(StorageError::Rejected("constraint".into())));
    let t = Telemetry::new();
    let pass = service(q, w, &t).replay_once().await;
    assert_eq!(pass, ReplayPass { failed: 2, given_up: 1, ..Default::default() });
    assert!(t.render().contains(r#"otelcontext_dlq_dropped_total{reason="max_retries"} 1"#));
}

#[tokio::test]
async fn an_unreadable_batch_is_quarantined_not_retried() {
    let mut q = MockDeadLetterQueue::new();
    with_stats(&mut q);
    q.expect_list().returning(|| Ok(vec![entry("bad", 0, 0), entry("good", 0, 0)]));
    q.expect_load().returning(|id| if id == "bad" { Err(DlqError::Corrupt("checksum".into())) } else { Ok(batch()) });
    q.expect_quarantine().times(1).withf(|id, why| id == "bad" && why == "checksum").returning(|_, _| Ok(()));
    q.expect_remove().times(1).withf(|id| id == "good").returning(|_| Ok(()));
    let mut w = MockTelemetryWriter::new();
    w.expect_write().times(1).returning(|_| Ok(WriteSummary::default()));
    let t = Telemetry::new();
    let pass = service(q, w, &t).replay_once().await;
    assert_eq!(pass, ReplayPass { replayed: 1, quarantined: 1, ..Default::default() });
    assert!(t.render().contains("otelcontext_dlq_quarantined_total 1"));
}
