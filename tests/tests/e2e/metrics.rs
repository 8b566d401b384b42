//! Every metric the operations guide (the seed) names exists under its lowercase `otelcontext_`
//! name with the seed's meaning, and moves under a workload that exercises it; the exposition
//! passes `promtool check metrics` and the shipped alert rules pass `promtool check rules`
//! (both checked when promtool is installed, as `.ci/run` makes sure it is).

use crate::dead_letters::Flaky;
use crate::payloads::*;
use otelcontext_e2e::{TestServer, config_from, eventually, open_sqlite};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// What a metric must show after the workload.
enum Moved {
    /// Some series above zero.
    Positive,
    /// Present (a gauge whose value depends on the machine, or a counter this workload cannot
    /// move without days-old data).
    Present,
}

/// The seed's metrics (its alerts and runbook) and the others this issue owns, by their
/// lowercase names. Graph, TSDB, MCP and dashboard metrics join with their features.
const EXPECTED: &[(&str, Moved)] = &[
    ("otelcontext_db_up", Moved::Positive),
    ("otelcontext_tsdb_ingest_total", Moved::Present),
    ("otelcontext_tsdb_cardinality_overflow_total", Moved::Present),
    ("otelcontext_tsdb_batches_dropped_total", Moved::Present),
    ("otelcontext_tsdb_open_series", Moved::Present),
    ("otelcontext_vector_index_entries", Moved::Present),
    ("otelcontext_drain_templates", Moved::Present),
    ("otelcontext_graphrag_events_dropped_total", Moved::Present),
    ("otelcontext_graphrag_nodes", Moved::Present),
    ("otelcontext_graphrag_anomalies_total", Moved::Present),
    ("otelcontext_graphrag_investigations_open", Moved::Present),
    ("otelcontext_graphrag_investigations_opened_total", Moved::Present),
    ("otelcontext_graphrag_investigations_resolved_total", Moved::Present),
    ("otelcontext_graphrag_investigation_save_failures_total", Moved::Present),
    ("otelcontext_db_pool_in_use", Moved::Present),
    ("otelcontext_db_pool_max_open", Moved::Positive),
    ("otelcontext_db_pool_open_connections", Moved::Present),
    ("otelcontext_db_pool_idle", Moved::Present),
    ("otelcontext_hot_db_size_bytes", Moved::Positive),
    ("otelcontext_db_operation_duration_seconds_count", Moved::Positive),
    ("otelcontext_db_operation_errors_total", Moved::Positive),
    ("otelcontext_db_operation_retries_total", Moved::Positive),
    ("otelcontext_dlq_enqueued_total", Moved::Positive),
    ("otelcontext_dlq_enqueued_records_total", Moved::Positive),
    ("otelcontext_dlq_size", Moved::Present),
    ("otelcontext_dlq_disk_bytes", Moved::Present),
    ("otelcontext_dlq_max_disk_bytes", Moved::Positive),
    ("otelcontext_dlq_replay_success_total", Moved::Positive),
    ("otelcontext_dlq_replay_failure_total", Moved::Positive),
    ("otelcontext_dlq_evicted_total", Moved::Positive),
    ("otelcontext_dlq_evicted_bytes_total", Moved::Positive),
    ("otelcontext_dlq_dropped_total", Moved::Present),
    ("otelcontext_dlq_quarantined_total", Moved::Present),
    ("otelcontext_retention_consecutive_failures", Moved::Present),
    ("otelcontext_retention_last_success_timestamp", Moved::Positive),
    ("otelcontext_retention_rows_behind", Moved::Present),
    ("otelcontext_retention_rows_purged_total", Moved::Present),
    ("otelcontext_retention_purge_duration_seconds_count", Moved::Positive),
    ("otelcontext_otlp_payload_rejected_total", Moved::Positive),
    ("otelcontext_ingest_received_total", Moved::Positive),
    ("otelcontext_ingest_stored_total", Moved::Positive),
    ("otelcontext_ingest_rejected_total", Moved::Positive),
    ("otelcontext_ingest_duration_seconds_count", Moved::Positive),
    ("otelcontext_ingest_pipeline_queue_depth", Moved::Present),
    ("otelcontext_ingest_pipeline_queue_capacity", Moved::Positive),
    ("otelcontext_ingest_pipeline_dropped_total", Moved::Positive),
    ("otelcontext_http_otlp_throttled_total", Moved::Positive),
    ("otelcontext_storage_write_items_count", Moved::Positive),
    ("otelcontext_http_requests_total", Moved::Positive),
    ("otelcontext_http_request_duration_seconds_count", Moved::Positive),
    ("otelcontext_grpc_requests_total", Moved::Positive),
    ("otelcontext_grpc_request_duration_seconds_count", Moved::Positive),
    ("otelcontext_api_auth_failures_total", Moved::Positive),
    ("otelcontext_panics_recovered_total", Moved::Present),
    ("otelcontext_build_info", Moved::Positive),
    ("process_resident_memory_bytes", Moved::Positive),
];

fn check_with_promtool(args: &[&str], input: Option<&str>) {
    use std::io::Write;
    let Ok(mut child) = std::process::Command::new("promtool")
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
    else {
        eprintln!("promtool is not installed: skipping `promtool {}` (.ci/run installs it)", args.join(" "));
        return;
    };
    if let Some(text) = input {
        child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    } else {
        drop(child.stdin.take());
    }
    let out = child.wait_with_output().unwrap();
    let report = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "promtool {}: {report}", args.join(" "));
    assert!(!report.contains("problem"), "promtool {} reports lint problems: {report}", args.join(" "));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_seed_metric_exists_and_moves_and_the_exposition_passes_promtool() {
    let dir = tempfile::tempdir().unwrap();
    let dlq = dir.path().join("dlq");
    let flaky = Arc::new(Flaky::new(open_sqlite(&dir.path().join("o.db")).await, false));
    let config = config_from(&[
        ("API_KEY", "secret"),
        ("DLQ_PATH", dlq.to_str().unwrap()),
        ("DLQ_MAX_FILES", "1"),
        ("DLQ_REPLAY_INTERVAL", "100ms"),
        ("INGEST_PIPELINE_QUEUE_SIZE", "100"),
        ("INGEST_PIPELINE_WORKERS", "1"),
    ]);
    let s = TestServer::start_on(config, flaky.clone()).await;
    let auth = [("authorization", "Bearer secret")];
    // Healthy traffic on both transports.
    grpc_traces(&s, healthy_traces(0, 10), &auth).await.unwrap();
    assert_eq!(post_proto(&s, "/v1/logs", &logs("svc", vec![log_record(1, 9, "hello")]), &auth).await.status, 200);
    s.wait_for("default", |c| c.spans == 10 && c.logs == 1).await;
    // Refusals: no key, a bad content type.
    assert_eq!(post_proto(&s, "/v1/logs", &logs("svc", vec![]), &[]).await.status, 401);
    assert_eq!(post(&s, "/v1/traces", &[("content-type", "text/plain"), auth[0]], b"x".to_vec()).await.status, 415);
    // The database fails: two batches go to the dead-letter queue (cap 1: the first is evicted),
    // their replays fail, then succeed once it is back.
    flaky.failing.store(true, Ordering::SeqCst);
    grpc_traces(&s, healthy_traces(1000, 5), &auth).await.unwrap();
    eventually(|| async { (s.metric_sum("otelcontext_dlq_enqueued_total") >= Some(1.0)).then_some(()) })
        .await
        .expect("dead-lettered");
    grpc_traces(&s, healthy_traces(2000, 5), &auth).await.unwrap();
    eventually(|| async { (s.metric_sum("otelcontext_dlq_evicted_total") >= Some(1.0)).then_some(()) })
        .await
        .expect("evicted at the cap");
    eventually(|| async { (s.metric_sum("otelcontext_dlq_replay_failure_total") >= Some(1.0)).then_some(()) })
        .await
        .expect("a replay failed");
    // While writes hang in retries, error batches fill the queue until one is refused.
    let mut statuses = Vec::new();
    for n in 0..8u64 {
        let batch = traces("svc", (0..40).map(|i| span(3000 + n * 40 + i, 0, true, 1)).collect());
        statuses.push(post_proto(&s, "/v1/traces", &batch, &auth).await.status);
    }
    assert!(statuses.contains(&429), "{statuses:?}");
    flaky.failing.store(false, Ordering::SeqCst);
    eventually(|| async { (s.metric_sum("otelcontext_dlq_size") == Some(0.0)).then_some(()) })
        .await
        .expect("the dead-letter queue empties");
    eventually(|| async { (s.metric_sum("otelcontext_dlq_replay_success_total") >= Some(1.0)).then_some(()) })
        .await
        .expect("replayed");
    // The health loop has run at least once (every 5 s, first at start).
    eventually(|| async { s.metric_sum("otelcontext_hot_db_size_bytes").filter(|v| *v > 0.0) })
        .await
        .expect("database size published");
    tokio::time::sleep(Duration::from_millis(100)).await;

    let mut missing = Vec::new();
    for (name, moved) in EXPECTED {
        match (s.metric_sum(name), moved) {
            (None, _) => missing.push(format!("{name}: absent")),
            (Some(v), Moved::Positive) if v <= 0.0 => missing.push(format!("{name}: did not move ({v})")),
            _ => {}
        }
    }
    let text = s.metrics_text();
    assert!(missing.is_empty(), "{missing:#?}\n{text}");
    for line in text.lines().filter(|l| !l.starts_with('#') && !l.is_empty()) {
        let name = line.split(['{', ' ']).next().unwrap();
        assert!(name.starts_with("otelcontext_") || name.starts_with("process_"), "unexpected metric {name}");
        assert_eq!(name, name.to_lowercase(), "metric names are lowercase");
    }
    check_with_promtool(&["check", "metrics"], Some(&text));
    let rules = concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/prometheus/otelcontext-rules.yml");
    check_with_promtool(&["check", "rules", rules], None);
}
