//! Back-pressure through the real receivers: with a tiny queue and a slowed writer, healthy
//! batches are shed with success at 90 %, and a batch that does not fit is refused with
//! 429 + Retry-After (HTTP) or RESOURCE_EXHAUSTED with RetryInfo (gRPC).

use crate::payloads::*;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use otelcontext_e2e::{TestServer, config_from};
use otelcontext_memory::MemoryStorage;
use prost::Message;
use std::sync::Arc;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn healthy_batches_are_shed_and_priority_batches_throttled_when_the_writer_falls_behind() {
    let storage = Arc::new(MemoryStorage::new());
    storage.set_write_delay(Duration::from_millis(400));
    let config = config_from(&[
        ("INGEST_PIPELINE_QUEUE_SIZE", "10"),
        ("INGEST_PIPELINE_WORKERS", "1"),
        ("INGEST_PIPELINE_COMMIT_ITEMS", "1"),
    ]);
    let s = TestServer::start_on(config, storage.clone()).await;
    let mut accepted = 0u64;
    let mut next = 1u64;
    // Healthy one-span batches until the queue sheds one.
    let mut shed = false;
    for _ in 0..40 {
        let a = post_proto(&s, "/v1/traces", &healthy_traces(next, 1), &[]).await;
        next += 1;
        assert_eq!(a.status, 200);
        let resp = ExportTraceServiceResponse::decode(a.body.as_slice()).unwrap();
        match resp.partial_success {
            Some(p) => {
                assert_eq!(p.rejected_spans, 1);
                assert!(p.error_message.contains("back-pressure"), "{}", p.error_message);
                shed = true;
                break;
            }
            None => accepted += 1,
        }
    }
    assert!(shed, "a healthy batch is shed once the queue is 90% full");
    // Priority (error) batches are still admitted at 90% and refused only when nothing fits.
    let mut throttled = None;
    for _ in 0..40 {
        let a = post_proto(&s, "/v1/traces", &traces("svc", vec![span(next, 0, true, 1)]), &[]).await;
        next += 1;
        if a.status == 429 {
            throttled = Some(a);
            break;
        }
        assert_eq!(a.status, 200);
        accepted += 1;
    }
    let throttled = throttled.expect("a priority batch is refused when the queue is full");
    assert_eq!(throttled.retry_after.as_deref(), Some("1"));
    assert_eq!(throttled.content_type, "application/x-protobuf");
    assert!(throttled.status_message().contains("ingest pipeline at capacity"));
    let err = grpc_traces(&s, traces("svc", vec![span(next, 0, true, 1)]), &[]).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::ResourceExhausted);
    assert_eq!(otelcontext_otlp::grpc::retry_delay_secs(&err), Some(1), "RetryInfo tells clients to retry");

    let m = s.metrics_text();
    assert!(
        m.contains(r#"otelcontext_ingest_pipeline_dropped_total{reason="soft_backpressure",signal="traces"} 1"#),
        "{m}"
    );
    // Two refused exports of one error span each.
    assert!(m.contains(r#"otelcontext_ingest_pipeline_dropped_total{reason="queue_full",signal="traces"} 2"#), "{m}");
    assert!(m.contains(r#"otelcontext_http_otlp_throttled_total{signal="traces"} 1"#), "{m}");
    assert!(m.contains("otelcontext_ingest_pipeline_queue_depth{signal=\"traces\"}"));

    // Everything acknowledged without a rejection is stored once the writer catches up.
    storage.set_write_delay(Duration::ZERO);
    s.wait_for("default", |c| c.spans == accepted).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn logs_are_throttled_the_same_way() {
    let storage = Arc::new(MemoryStorage::new());
    storage.set_write_delay(Duration::from_secs(2));
    let config = config_from(&[
        ("INGEST_PIPELINE_QUEUE_SIZE", "3"),
        ("INGEST_PIPELINE_WORKERS", "1"),
        ("INGEST_PIPELINE_COMMIT_ITEMS", "1"),
    ]);
    let s = TestServer::start_on(config, storage).await;
    let mut statuses = Vec::new();
    for n in 0..10 {
        statuses.push(post_proto(&s, "/v1/logs", &logs("svc", vec![log_record(n, 17, "boom")]), &[]).await.status);
    }
    assert!(statuses.contains(&429), "{statuses:?}");
    let err = grpc_logs(&s, logs("svc", vec![log_record(99, 17, "boom")]), &[]).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::ResourceExhausted);
    assert!(s.metrics_text().contains(r#"otelcontext_http_otlp_throttled_total{signal="logs"}"#));
}
