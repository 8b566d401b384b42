use super::*;
use otelcontext_domain::admission::{AdmissionPolicy, BatchClass};
use otelcontext_domain::{AnyValue, Attributes, InstrumentationScope, LogRecord, Resource, TenantId};
use otelcontext_memory::MemoryQueue;
use otelcontext_ports::{Maintenance, MockTelemetryWriter, SubmitOutcome};
use parking_lot::Mutex;

fn item(lines: usize, notify: Option<otelcontext_ports::CommitNotifier>) -> QueueItem {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let logs = (0..lines)
        .map(|i| LogRecord {
            timestamp_ns: i as i64,
            observed_ns: 0,
            severity_number: 9,
            severity_text: String::new(),
            body: Some(AnyValue::String(format!("{n}-{i}"))),
            attributes: Attributes::new(),
            trace_id: None,
            span_id: None,
            flags: 0,
            event_name: String::new(),
            resource: Arc::new(Resource::for_service("s")),
            scope: Arc::new(InstrumentationScope::default()),
            template_id: None,
        })
        .collect();
    let batch = TenantBatch { tenant: TenantId::parse("t").unwrap(), spans: vec![], logs, metrics: vec![] };
    QueueItem {
        signal: Signal::Logs,
        batches: vec![batch],
        items: lines,
        class: BatchClass::Priority,
        on_commit: notify,
    }
}

fn queue() -> Arc<MemoryQueue> {
    Arc::new(MemoryQueue::new(AdmissionPolicy { capacity: 1_000, soft_threshold: 0.9, soft_drop: true }))
}

fn settings(workers: usize) -> PipelineSettings {
    PipelineSettings { workers, commit_items: 1_000 }
}

type Results = Arc<Mutex<Vec<Result<(), String>>>>;

fn recorder() -> (Results, impl Fn() -> otelcontext_ports::CommitNotifier) {
    let results = Arc::new(Mutex::new(Vec::new()));
    let r = results.clone();
    (results, move || {
        let r = r.clone();
        Box::new(move |res| r.lock().push(res)) as otelcontext_ports::CommitNotifier
    })
}

fn submit(q: &MemoryQueue, i: QueueItem) {
    assert!(matches!(q.try_submit(i), SubmitOutcome::Accepted));
}

#[tokio::test]
async fn queued_exports_are_committed_together_in_one_write() {
    let q = queue();
    let (results, notifier) = recorder();
    for _ in 0..3 {
        submit(&q, item(2, Some(notifier())));
    }
    q.close();
    let mut s = MockTelemetryWriter::new();
    s.expect_write().times(1).withf(|b| b.len() == 3).returning(|_| Ok(WriteSummary { logs: 6, ..Default::default() }));
    let metrics = Arc::new(otelcontext_telemetry::Telemetry::new());
    Pipeline::start(q, Arc::new(s), "mock", &metrics.meter(), settings(1)).drain().await;
    assert_eq!(*results.lock(), vec![Ok(()), Ok(()), Ok(())]);
    assert!(metrics.render().contains(r#"otelcontext_ingest_stored_total{signal="logs"} 6"#));
}

#[tokio::test]
async fn group_sizes_are_measured() {
    let q = queue();
    submit(&q, item(4, None));
    q.close();
    let mut s = MockTelemetryWriter::new();
    s.expect_write().returning(|_| Ok(WriteSummary { logs: 4, ..Default::default() }));
    let metrics = Arc::new(otelcontext_telemetry::Telemetry::new());
    Pipeline::start(q, Arc::new(s), "mock", &metrics.meter(), settings(1)).drain().await;
    assert!(metrics.render().contains(r#"otelcontext_storage_write_items_sum{driver="mock"} 4"#));
}

#[tokio::test]
async fn a_poison_item_is_isolated_and_the_rest_of_the_group_is_stored() {
    let q = queue();
    let (results, notifier) = recorder();
    submit(&q, item(1, Some(notifier())));
    submit(&q, item(3, Some(notifier())));
    q.close();
    let mut s = MockTelemetryWriter::new();
    s.expect_write().returning(|b| {
        if b.iter().any(|b| b.logs.len() == 3) {
            Err(StorageError::Rejected("constraint".into()))
        } else {
            Ok(WriteSummary { logs: 1, ..Default::default() })
        }
    });
    let metrics = Arc::new(otelcontext_telemetry::Telemetry::new());
    Pipeline::start(q, Arc::new(s), "mock", &metrics.meter(), settings(1)).drain().await;
    let results = results.lock();
    assert_eq!(results[0], Ok(()));
    assert!(results[1].as_ref().unwrap_err().contains("constraint"));
    assert!(
        metrics
            .render()
            .contains(r#"otelcontext_ingest_pipeline_dropped_total{reason="write_failed",signal="logs"} 3"#)
    );
}

#[tokio::test]
async fn an_outage_fails_every_item_of_the_group_once() {
    let q = queue();
    let (results, notifier) = recorder();
    submit(&q, item(1, Some(notifier())));
    submit(&q, item(1, Some(notifier())));
    q.close();
    let mut s = MockTelemetryWriter::new();
    // Transient errors reach the pipeline only after the retrying decorator gave up: the group is
    // not split (every item would fail the same way).
    s.expect_write().times(1).returning(|_| Err(StorageError::Unavailable("down".into())));
    Pipeline::start(q, Arc::new(s), "mock", &otelcontext_telemetry::Telemetry::new().meter(), settings(1))
        .drain()
        .await;
    assert_eq!(results.lock().len(), 2);
    assert!(results.lock().iter().all(|r| r.is_err()));
}

#[tokio::test]
async fn drain_finishes_everything_queued_before_close() {
    let q = queue();
    for _ in 0..50 {
        submit(&q, item(10, None));
    }
    q.close();
    let storage = Arc::new(otelcontext_memory::MemoryStorage::new());
    Pipeline::start(
        q,
        storage.clone(),
        "memory",
        &otelcontext_telemetry::Telemetry::new().meter(),
        PipelineSettings { commit_items: 64, ..settings(4) },
    )
    .drain()
    .await;
    let counts = storage.counts(&TenantId::parse("t").unwrap()).await.unwrap();
    assert_eq!(counts.logs, 500);
}

fn stages(dead_letters: Arc<DeadLetterService>) -> PipelineStages {
    PipelineStages { dead_letters: Some(dead_letters), ..PipelineStages::default() }
}

fn dead_letter_service(
    dlq: otelcontext_ports::MockDeadLetterQueue,
    meter: &otelcontext_telemetry::Meter,
) -> Arc<DeadLetterService> {
    let mut clock = otelcontext_ports::MockClock::new();
    clock.expect_now_ns().return_const(5i64);
    Arc::new(DeadLetterService::new(
        Arc::new(dlq),
        Arc::new(MockTelemetryWriter::new()),
        Arc::new(clock),
        otelcontext_domain::dlq::ReplayPolicy { interval: std::time::Duration::from_secs(60), max_retries: 0 },
        meter,
    ))
}

#[tokio::test]
async fn acknowledged_records_that_fail_to_store_go_to_the_dead_letter_queue() {
    let q = queue();
    let (results, notifier) = recorder();
    submit(&q, item(2, None));
    submit(&q, item(3, None));
    submit(&q, item(1, Some(notifier())));
    q.close();
    let mut s = MockTelemetryWriter::new();
    s.expect_write().times(1).returning(|_| Err(StorageError::Unavailable("disk full".into())));
    let mut dlq = otelcontext_ports::MockDeadLetterQueue::new();
    dlq.expect_stats().returning(otelcontext_ports::DlqStats::default);
    // The two acknowledged items, together, in one dead-letter batch; the durable one is told.
    dlq.expect_enqueue()
        .times(1)
        .withf(|b, _| b.len() == 2 && b.iter().map(TenantBatch::items).sum::<usize>() == 5)
        .returning(|_, _| Ok(otelcontext_ports::Enqueued::default()));
    let metrics = Arc::new(otelcontext_telemetry::Telemetry::new());
    let dl = dead_letter_service(dlq, &metrics.meter());
    Pipeline::start_with(q, Arc::new(s), "mock", &metrics.meter(), settings(1), stages(dl)).drain().await;
    assert!(results.lock()[0].as_ref().unwrap_err().contains("disk full"));
    let text = metrics.render();
    assert!(text.contains("otelcontext_dlq_enqueued_records_total 5"), "{text}");
    // Only the durable record (whose sender was told) counts as not kept.
    assert!(
        text.contains(r#"otelcontext_ingest_pipeline_dropped_total{reason="write_failed",signal="logs"} 1"#),
        "{text}"
    );
}

#[tokio::test]
async fn without_room_in_the_dead_letter_queue_the_loss_is_counted() {
    let q = queue();
    submit(&q, item(4, None));
    q.close();
    let mut s = MockTelemetryWriter::new();
    s.expect_write().returning(|_| Err(StorageError::Unavailable("down".into())));
    let mut dlq = otelcontext_ports::MockDeadLetterQueue::new();
    dlq.expect_stats().returning(otelcontext_ports::DlqStats::default);
    dlq.expect_enqueue().returning(|_, _| Err(otelcontext_ports::DlqError::Io("no space left on device".into())));
    let metrics = Arc::new(otelcontext_telemetry::Telemetry::new());
    let dl = dead_letter_service(dlq, &metrics.meter());
    Pipeline::start_with(q, Arc::new(s), "mock", &metrics.meter(), settings(1), stages(dl)).drain().await;
    let text = metrics.render();
    assert!(
        text.contains(r#"otelcontext_ingest_pipeline_dropped_total{reason="write_failed",signal="logs"} 4"#),
        "{text}"
    );
    assert!(text.contains(r#"otelcontext_dlq_dropped_total{reason="write_failed"} 1"#), "{text}");
}

#[tokio::test(start_paused = true)]
async fn at_the_end_of_the_grace_what_is_not_stored_is_dead_lettered() {
    let q = queue();
    for _ in 0..3 {
        submit(&q, item(2, None));
    }
    q.close();
    // The database hangs: a write that never returns.
    let hanging = Arc::new(Hanging);
    let mut dlq = otelcontext_ports::MockDeadLetterQueue::new();
    dlq.expect_stats().returning(otelcontext_ports::DlqStats::default);
    let spilled = Arc::new(Mutex::new(0usize));
    let sp = spilled.clone();
    dlq.expect_enqueue().returning(move |b, _| {
        *sp.lock() += b.iter().map(TenantBatch::items).sum::<usize>();
        Ok(otelcontext_ports::Enqueued::default())
    });
    let metrics = Arc::new(otelcontext_telemetry::Telemetry::new());
    let dl = dead_letter_service(dlq, &metrics.meter());
    let p = Pipeline::start_with(
        q,
        hanging,
        "mock",
        &metrics.meter(),
        PipelineSettings { workers: 1, commit_items: 2 },
        stages(dl),
    );
    let done = p.drain_until(tokio::time::Instant::now() + std::time::Duration::from_secs(5)).await;
    assert!(!done, "the grace ran out");
    assert_eq!(*spilled.lock(), 6, "every record, in flight or queued, went to the dead-letter queue");
}

/// A writer whose writes never finish.
struct Hanging;

#[async_trait::async_trait]
impl otelcontext_ports::TelemetryWriter for Hanging {
    async fn write(&self, _: &[TenantBatch]) -> Result<WriteSummary, StorageError> {
        std::future::pending().await
    }
}
