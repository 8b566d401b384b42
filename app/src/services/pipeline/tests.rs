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
    let metrics = Arc::new(Metrics::new());
    Pipeline::start(q, Arc::new(s), "mock", metrics.clone(), settings(1)).drain().await;
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
    let metrics = Arc::new(Metrics::new());
    Pipeline::start(q, Arc::new(s), "mock", metrics.clone(), settings(1)).drain().await;
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
    let metrics = Arc::new(Metrics::new());
    Pipeline::start(q, Arc::new(s), "mock", metrics.clone(), settings(1)).drain().await;
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
    Pipeline::start(q, Arc::new(s), "mock", Arc::new(Metrics::new()), settings(1)).drain().await;
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
        Arc::new(Metrics::new()),
        PipelineSettings { commit_items: 64, ..settings(4) },
    )
    .drain()
    .await;
    let counts = storage.counts(&TenantId::parse("t").unwrap()).await.unwrap();
    assert_eq!(counts.logs, 500);
}
