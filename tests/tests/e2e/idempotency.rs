//! Re-sent exports are stored once; trace rows do not depend on arrival order.

use crate::payloads::*;
use otelcontext_e2e::{Backend, TestServer};

otelcontext_e2e::on_both_databases!(2, the_same_export_sent_twice_is_stored_once);

async fn the_same_export_sent_twice_is_stored_once(backend: Backend) {
    let Some(s) = TestServer::on(backend).await else { return };
    let spans = traces("svc", (0..5).map(|i| span(1, i, i == 4, 1)).collect());
    let records = logs("svc", (0..4).map(|n| log_record(n, 9, &format!("line {n}"))).collect());
    let points = gauge("svc", "queue.depth", &[1.0, 2.0, 3.0]);
    for _ in 0..2 {
        grpc_traces(&s, spans.clone(), &[]).await.unwrap();
        assert_eq!(post_proto(&s, "/v1/traces", &spans, &[]).await.status, 200);
        grpc_logs(&s, records.clone(), &[]).await.unwrap();
        assert_eq!(post_proto(&s, "/v1/logs", &records, &[]).await.status, 200);
        grpc_metrics(&s, points.clone(), &[]).await.unwrap();
    }
    // 5 spans + 1 log derived from the error span; 4 log records; 3 points.
    let c = s.wait_for("default", |c| c.spans == 5 && c.logs == 5 && c.metric_points == 3).await;
    assert_eq!(c.traces, 1);
    let (_, trace) = s.get_json(&format!("/api/traces/{}", hex(&trace_id(1))), None).await;
    assert_eq!(trace["span_count"], 5);
    // Every later copy was a duplicate; wait for the pipeline to have seen them all.
    otelcontext_e2e::eventually(|| async {
        let m = s.metrics_text();
        m.contains(r#"otelcontext_ingest_duplicates_total{signal="traces"} 15"#).then_some(())
    })
    .await
    .expect("15 duplicate spans counted");
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

otelcontext_e2e::on_both_databases!(2, spans_arriving_in_reverse_order_give_the_same_trace_row);

async fn spans_arriving_in_reverse_order_give_the_same_trace_row(backend: Backend) {
    let Some(s) = TestServer::on(backend).await else { return };
    let shape = |t: u64| -> Vec<_> {
        (0..4)
            .map(|i| {
                let mut sp = span(t, i, i == 2, 10 + i);
                // Same relative timing for both traces.
                sp.start_time_unix_nano = T0 + i * 1_000;
                sp.end_time_unix_nano = sp.start_time_unix_nano + (10 + i) * 1_000_000;
                sp
            })
            .collect()
    };
    grpc_traces(&s, traces("svc", shape(1)), &[]).await.unwrap();
    for sp in shape(2).into_iter().rev() {
        grpc_traces(&s, traces("svc", vec![sp]), &[]).await.unwrap();
    }
    s.wait_for("default", |c| c.spans == 8).await;
    let (_, a) = s.get_json(&format!("/api/traces/{}", hex(&trace_id(1))), None).await;
    let (_, b) = s.get_json(&format!("/api/traces/{}", hex(&trace_id(2))), None).await;
    for field in [
        "service_name",
        "operation",
        "has_root",
        "status",
        "start_time_unix_nano",
        "end_time_unix_nano",
        "duration_ns",
        "span_count",
    ] {
        assert_eq!(a[field], b[field], "{field}");
    }
    assert_eq!(
        (a["operation"].as_str(), a["status"].as_str(), a["span_count"].as_i64()),
        (Some("op-0"), Some("ERROR"), Some(4))
    );
}
