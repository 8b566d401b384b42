//! The trace sampler through gRPC: at rate 0.1 over 10,000 traces the kept fraction follows the
//! rate, every kept trace is complete, and every error trace is kept, even when its error span
//! arrives before the rest of the trace.

use crate::payloads::*;
use otelcontext_domain::{TenantId, TraceId};
use otelcontext_e2e::{TestServer, config_from};

const TRACES: u64 = 10_000;

fn is_error_trace(t: u64) -> bool {
    t.is_multiple_of(20)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rate_point_one_keeps_a_tenth_of_healthy_traces_whole_and_every_error_trace() {
    // Durable acknowledgements: when Export returns, the kept spans are committed.
    let s = TestServer::start_with(config_from(&[
        ("SAMPLING_RATE", "0.1"),
        ("SAMPLING_LATENCY_THRESHOLD_MS", "0"),
        ("INGEST_ASYNC_ENABLED", "false"),
    ]))
    .await;
    let mut sent_spans = 0;
    for chunk in (0..TRACES).collect::<Vec<_>>().chunks(500) {
        // Healthy traces whole; of error traces only the failing span now, the rest later.
        let mut first = Vec::new();
        let mut later = Vec::new();
        for &t in chunk {
            if is_error_trace(t) {
                first.push(span(t, 2, true, 1));
                later.push(span(t, 0, false, 1));
                later.push(span(t, 1, false, 1));
            } else {
                first.extend((0..3).map(|i| span(t, i, false, 1)));
            }
        }
        sent_spans += first.len() + later.len();
        grpc_traces(&s, traces("svc", first), &[]).await.unwrap();
        grpc_traces(&s, traces("svc", later), &[]).await.unwrap();
    }
    assert_eq!(sent_spans as u64, TRACES * 3);
    let errors = TRACES / 20;
    let c = s.counts("default").await;
    assert_eq!(c.error_traces, errors);
    assert_eq!(c.spans, c.traces * 3);
    let healthy_kept = (c.traces - errors) as f64 / (TRACES - errors) as f64;
    assert!((healthy_kept - 0.1).abs() < 0.015, "kept {healthy_kept:.4} of healthy traces at rate 0.1");

    let tenant = TenantId::parse("default").unwrap();
    let mut kept = 0;
    for t in 0..TRACES {
        let id = TraceId::from_bytes(&trace_id(t)).unwrap();
        match s.storage.get_trace(&tenant, &id).await.unwrap() {
            Some(trace) => {
                kept += 1;
                assert_eq!(trace.spans.len(), 3, "trace {t} is complete");
                assert_eq!(trace.summary.span_count, 3);
            }
            None => assert!(!is_error_trace(t), "error trace {t} was dropped"),
        }
    }
    assert_eq!(kept, c.traces);
    let m = s.metrics_text();
    assert!(m.contains(r#"otelcontext_sampler_spans_total{decision="kept",reason="remembered"} 1000"#), "{m}");
    assert!(m.contains(r#"otelcontext_sampler_spans_total{decision="kept",reason="error"} 500"#), "{m}");
}
