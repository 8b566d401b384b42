use super::*;
use otelcontext_domain::{
    AnyValue, Attributes, InstrumentationScope, LogRecord, MetricPoint, PointValue, Resource, Span, SpanEvent, SpanId,
    SpanKind, SpanStatus, StatusCode, TenantId, TraceId,
};
use otelcontext_ports::MockIngestQueue;
use std::sync::Arc;

fn tenant() -> TenantId {
    TenantId::parse("acme").unwrap()
}

fn span(trace: u8, service: &str, code: StatusCode, duration_ms: i64) -> Span {
    Span {
        trace_id: TraceId::from_array([trace; 16]).unwrap(),
        span_id: SpanId::from_array([trace; 8]).unwrap(),
        parent_span_id: None,
        trace_state: String::new(),
        flags: 0,
        name: "op".into(),
        kind: SpanKind::Server,
        start_ns: 0,
        end_ns: duration_ms * 1_000_000,
        attributes: Attributes::new(),
        dropped_attributes_count: 0,
        events: vec![],
        links: vec![],
        status: SpanStatus { code, message: String::new() },
        resource: Arc::new(Resource::for_service(service)),
        scope: Arc::new(InstrumentationScope::default()),
    }
}

fn log(service: &str, severity: i32) -> LogRecord {
    LogRecord {
        timestamp_ns: 1,
        observed_ns: 1,
        severity_number: severity,
        severity_text: String::new(),
        body: Some(AnyValue::String("line".into())),
        attributes: Attributes::new(),
        trace_id: None,
        span_id: None,
        flags: 0,
        event_name: String::new(),
        resource: Arc::new(Resource::for_service(service)),
        scope: Arc::new(InstrumentationScope::default()),
        template_id: None,
    }
}

fn point(service: &str) -> MetricPoint {
    MetricPoint {
        name: "m".into(),
        description: String::new(),
        unit: String::new(),
        attributes: Attributes::new(),
        start_ns: 0,
        time_ns: 1,
        flags: 0,
        value: PointValue::Gauge { value: 1.0 },
        resource: Arc::new(Resource::for_service(service)),
        scope: Arc::new(InstrumentationScope::default()),
    }
}

fn policy() -> IngestPolicy {
    IngestPolicy {
        services: ServiceFilter::default(),
        severity: SeverityFilter { min: SeverityLevel::Info },
        sampling: SamplingPolicy { latency_threshold_ns: Some(500_000_000), ..SamplingPolicy::default() },
        durable: false,
    }
}

/// What the queue mock saw: signal, class, item count and batches of each submission.
type Seen = Arc<Mutex<Vec<(Signal, BatchClass, usize, Vec<TenantBatch>)>>>;

/// A queue mock that records what was submitted and answers with `outcome`.
fn queue(outcome: fn(QueueItem) -> SubmitOutcome, seen: Seen) -> MockIngestQueue {
    let mut q = MockIngestQueue::new();
    q.expect_try_submit().returning(move |mut item| {
        seen.lock().push((item.signal, item.class, item.items, std::mem::take(&mut item.batches)));
        outcome(item)
    });
    q.expect_depth().returning(|_| 0);
    q
}

fn service(
    policy: IngestPolicy,
    outcome: fn(QueueItem) -> SubmitOutcome,
) -> (IngestService, Seen, Arc<otelcontext_telemetry::Telemetry>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let metrics = Arc::new(otelcontext_telemetry::Telemetry::new());
    (IngestService::new(Arc::new(queue(outcome, seen.clone())), policy, &metrics.meter()), seen, metrics)
}

fn accepted(_: QueueItem) -> SubmitOutcome {
    SubmitOutcome::Accepted
}

#[tokio::test]
async fn healthy_spans_are_queued_as_healthy_and_errors_or_slow_spans_as_priority() {
    let (svc, seen, _) = service(policy(), accepted);
    let spans = |s: Vec<Span>| vec![TenantSpans { tenant: tenant(), spans: s }];
    svc.ingest_spans(spans(vec![span(1, "a", StatusCode::Ok, 10)])).await.unwrap();
    svc.ingest_spans(spans(vec![span(2, "a", StatusCode::Error, 10)])).await.unwrap();
    svc.ingest_spans(spans(vec![span(3, "a", StatusCode::Ok, 900)])).await.unwrap();
    let classes: Vec<_> = seen.lock().iter().map(|(_, c, _, _)| *c).collect();
    assert_eq!(classes, vec![BatchClass::Healthy, BatchClass::Priority, BatchClass::Priority]);
}

#[tokio::test]
async fn span_events_and_failed_spans_add_derived_logs_to_the_batch() {
    let (svc, seen, _) = service(policy(), accepted);
    let mut s = span(1, "a", StatusCode::Error, 10);
    s.events.push(SpanEvent {
        time_ns: 5,
        name: "cache.miss".into(),
        attributes: Attributes::new(),
        dropped_attributes_count: 0,
    });
    svc.ingest_spans(vec![TenantSpans { tenant: tenant(), spans: vec![s] }]).await.unwrap();
    let seen = seen.lock();
    let (_, _, items, batches) = &seen[0];
    assert_eq!((batches[0].spans.len(), batches[0].logs.len(), *items), (1, 2, 3));
}

#[tokio::test]
async fn filtered_services_are_reported_in_the_receipt() {
    let p = IngestPolicy { services: ServiceFilter::new(Vec::<String>::new(), ["noisy"]), ..policy() };
    let (svc, seen, metrics) = service(p, accepted);
    let receipt = svc
        .ingest_spans(vec![TenantSpans {
            tenant: tenant(),
            spans: vec![span(1, "noisy", StatusCode::Ok, 1), span(2, "ok", StatusCode::Ok, 1)],
        }])
        .await
        .unwrap();
    assert_eq!(receipt.rejected, 1);
    assert!(receipt.message.unwrap().contains("INGEST_EXCLUDED_SERVICES"));
    assert_eq!(seen.lock()[0].3[0].spans.len(), 1);
    assert!(
        metrics.render().contains(r#"otelcontext_ingest_rejected_total{reason="service_filtered",signal="traces"} 1"#)
    );
}

#[tokio::test]
async fn logs_below_the_minimum_severity_are_dropped_and_reported() {
    let (svc, seen, _) = service(policy(), accepted);
    let receipt = svc
        .ingest_logs(vec![TenantLogs { tenant: tenant(), logs: vec![log("a", 5), log("a", 9), log("a", 17)] }])
        .await
        .unwrap();
    assert_eq!(receipt.rejected, 1);
    assert!(receipt.message.unwrap().contains("INGEST_MIN_SEVERITY=INFO"));
    let seen = seen.lock();
    assert_eq!(
        (seen[0].3[0].logs.len(), seen[0].1),
        (2, BatchClass::Priority),
        "an ERROR record makes the batch priority"
    );
}

#[tokio::test]
async fn sampled_out_spans_are_not_reported_as_rejected() {
    let p = IngestPolicy { sampling: SamplingPolicy { rate: 0.0, ..policy().sampling }, ..policy() };
    let (svc, seen, metrics) = service(p, accepted);
    let receipt = svc
        .ingest_spans(vec![TenantSpans { tenant: tenant(), spans: vec![span(1, "a", StatusCode::Ok, 1)] }])
        .await
        .unwrap();
    assert_eq!(receipt, IngestReceipt::default());
    assert!(seen.lock().is_empty(), "nothing left to queue");
    assert!(metrics.render().contains(r#"otelcontext_sampler_spans_total{decision="dropped",reason="ratio"} 1"#));
}

#[tokio::test]
async fn soft_dropped_batches_are_acknowledged_with_partial_success() {
    let (svc, _, metrics) = service(policy(), SubmitOutcome::SoftDropped);
    let receipt = svc
        .ingest_spans(vec![TenantSpans { tenant: tenant(), spans: vec![span(1, "a", StatusCode::Ok, 1)] }])
        .await
        .unwrap();
    assert_eq!(receipt.rejected, 1);
    assert!(receipt.message.unwrap().contains("back-pressure"));
    assert!(
        metrics
            .render()
            .contains(r#"otelcontext_ingest_pipeline_dropped_total{reason="soft_backpressure",signal="traces"} 1"#)
    );
}

#[tokio::test]
async fn a_full_queue_throttles_and_a_closed_one_reports_shutdown() {
    let (svc, _, metrics) = service(policy(), SubmitOutcome::Full);
    let err = svc.ingest_logs(vec![TenantLogs { tenant: tenant(), logs: vec![log("a", 17)] }]).await.unwrap_err();
    assert_eq!(err, IngestError::Throttled { retry_after_secs: 1 });
    assert!(
        metrics.render().contains(r#"otelcontext_ingest_pipeline_dropped_total{reason="queue_full",signal="logs"} 1"#)
    );
    let (svc, _, _) = service(policy(), SubmitOutcome::Closed);
    let err = svc.ingest_metrics(vec![TenantMetrics { tenant: tenant(), points: vec![point("a")] }]).await.unwrap_err();
    assert_eq!(err, IngestError::ShuttingDown);
}

#[tokio::test]
async fn metrics_are_always_priority() {
    let (svc, seen, _) = service(policy(), accepted);
    svc.ingest_metrics(vec![TenantMetrics { tenant: tenant(), points: vec![point("a")] }]).await.unwrap();
    assert_eq!(seen.lock()[0].1, BatchClass::Priority);
}

#[tokio::test]
async fn durable_mode_answers_only_after_the_commit_and_reports_its_failure() {
    let p = IngestPolicy { durable: true, ..policy() };
    let ok = |item: QueueItem| {
        (item.on_commit.expect("durable items carry a notifier"))(Ok(()));
        SubmitOutcome::Accepted
    };
    let (svc, _, _) = service(p.clone(), ok);
    svc.ingest_logs(vec![TenantLogs { tenant: tenant(), logs: vec![log("a", 9)] }]).await.unwrap();
    let failed = |item: QueueItem| {
        (item.on_commit.unwrap())(Err("disk full".into()));
        SubmitOutcome::Accepted
    };
    let (svc, _, _) = service(p.clone(), failed);
    let err = svc.ingest_logs(vec![TenantLogs { tenant: tenant(), logs: vec![log("a", 9)] }]).await.unwrap_err();
    assert_eq!(err, IngestError::Unavailable("disk full".into()));
    let dropped = |item: QueueItem| {
        drop(item.on_commit);
        SubmitOutcome::Accepted
    };
    let (svc, _, _) = service(p, dropped);
    assert!(matches!(
        svc.ingest_logs(vec![TenantLogs { tenant: tenant(), logs: vec![log("a", 9)] }]).await,
        Err(IngestError::Unavailable(_))
    ));
}

#[tokio::test]
async fn capacity_check_refuses_only_when_the_queue_is_completely_full() {
    for (depth, want) in [(0, Ok(())), (99, Ok(())), (100, Err(IngestError::Throttled { retry_after_secs: 1 }))] {
        let q = otelcontext_memory::MemoryQueue::new(otelcontext_domain::admission::AdmissionPolicy {
            capacity: 100,
            soft_threshold: 0.9,
            soft_drop: true,
        });
        if depth > 0 {
            let item = QueueItem {
                signal: Signal::Logs,
                batches: vec![],
                items: depth,
                class: BatchClass::Priority,
                on_commit: None,
            };
            assert!(matches!(q.try_submit(item), SubmitOutcome::Accepted));
        }
        let svc = IngestService::new(Arc::new(q), policy(), &otelcontext_telemetry::Telemetry::new().meter());
        assert_eq!(svc.check_capacity(Signal::Logs, 1), want, "depth {depth}");
    }
}
