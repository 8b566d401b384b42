//! The real binary as a process: command line, configuration errors, the production guard,
//! `.env`, the default database file, SIGTERM and restart.

use crate::payloads::healthy_traces;
use otelcontext_domain::TenantId;
use otelcontext_e2e::{Process, open_sqlite, run_binary};
use prost::Message;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_otelcontext-under-test");

#[test]
fn help_and_version() {
    let dir = tempfile::tempdir().unwrap();
    let (code, out, _) = run_binary(BIN, dir.path(), &["--help"], &[]);
    assert_eq!(code, 0);
    for needle in ["Usage:", "check-config", "migrate", "serve", "--version"] {
        assert!(out.contains(needle), "--help lacks {needle}: {out}");
    }
    let (code, out, _) = run_binary(BIN, dir.path(), &["--version"], &[]);
    assert_eq!((code, out.trim()), (0, format!("otelcontext {}", env!("CARGO_PKG_VERSION")).as_str()));
}

#[test]
fn check_config_prints_the_effective_configuration_with_secrets_redacted() {
    let dir = tempfile::tempdir().unwrap();
    let (code, out, _) =
        run_binary(BIN, dir.path(), &["check-config"], &[("API_KEY", "topsecret"), ("HTTP_PORT", "9090")]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("API_KEY=<redacted>"));
    assert!(out.contains("HTTP_PORT=9090  # set"));
    assert!(out.contains("GRPC_PORT=4317  # default"));
    assert!(!out.contains("topsecret"));
}

#[test]
fn invalid_configuration_stops_the_start_naming_variable_value_and_range() {
    let dir = tempfile::tempdir().unwrap();
    for args in [&["check-config"][..], &[][..]] {
        let (code, _, err) = run_binary(BIN, dir.path(), args, &[("HTTP_PORT", "eighty"), ("SAMPLING_RATE", "2")]);
        assert_eq!(code, 1, "{args:?}");
        assert!(err.contains(r#"HTTP_PORT="eighty" is invalid: expected an integer from 0 to 65535"#), "{err}");
        assert!(err.contains(r#"SAMPLING_RATE="2" is invalid: expected a number from 0 to 1"#), "{err}");
    }
}

#[test]
fn production_refuses_sqlite_unless_explicitly_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let (code, _, err) = run_binary(BIN, dir.path(), &["check-config"], &[("APP_ENV", "production")]);
    assert_eq!(code, 1);
    assert!(err.contains("OTELCONTEXT_ALLOW_SQLITE_PROD"), "{err}");
    let (code, _, _) = run_binary(
        BIN,
        dir.path(),
        &["check-config"],
        &[("APP_ENV", "production"), ("OTELCONTEXT_ALLOW_SQLITE_PROD", "true")],
    );
    assert_eq!(code, 0);
}

#[test]
fn dotenv_in_the_working_directory_fills_in_but_the_environment_wins() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(".env"), "HTTP_PORT=9999\nDEFAULT_TENANT=from-dotenv\n").unwrap();
    let (code, out, err) = run_binary(BIN, dir.path(), &["check-config"], &[("HTTP_PORT", "7777")]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("HTTP_PORT=7777  # set"), "{out}");
    assert!(out.contains("DEFAULT_TENANT=from-dotenv  # set"), "{out}");
}

#[test]
fn without_automigrate_an_empty_database_is_refused_and_migrate_fixes_it() {
    let dir = tempfile::tempdir().unwrap();
    let (code, _, err) =
        run_binary(BIN, dir.path(), &[], &[("DB_AUTOMIGRATE", "false"), ("HTTP_PORT", "0"), ("GRPC_PORT", "0")]);
    assert_eq!(code, 1);
    assert!(err.contains("otelcontext migrate"), "{err}");
    let (code, out, err) = run_binary(BIN, dir.path(), &["migrate"], &[]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(&format!("schema is at version {}", otelcontext_sqlite::SCHEMA_VERSION)), "{out}");
    let p = Process::start(BIN, dir.path(), &[("DB_AUTOMIGRATE", "false")]).expect("starts on a migrated database");
    assert_eq!(p.terminate().0, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_and_exits_cleanly_and_data_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let p = Process::start(BIN, dir.path(), &[]).expect("server starts");
    assert!(dir.path().join("otelcontext.db").exists(), "default database file in the working directory");
    let client = reqwest::Client::new();
    let mut sent = 0;
    for n in 0..20u64 {
        let r = client
            .post(p.url("/v1/traces"))
            .header("content-type", "application/x-protobuf")
            .body(healthy_traces(n * 25, 25).encode_to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        sent += 25;
    }
    // SIGTERM right away: whatever is still queued must be committed before exit.
    let (code, log) = tokio::task::spawn_blocking(move || p.terminate()).await.unwrap();
    assert_eq!(code, 0, "{log:?}");
    assert!(log.iter().any(|l| l.contains("otelcontext stopped")), "{log:?}");
    let warning = log.iter().find(|l| l.contains("API_KEY is empty")).expect("a warning about the missing API key");
    assert!(warning.contains(r#""level":"WARN""#), "{warning}");
    let storage = open_sqlite(&dir.path().join("otelcontext.db")).await;
    assert_eq!(storage.counts(&TenantId::parse("default").unwrap()).await.unwrap().spans, sent);
    storage.close().await;

    let p = Process::start(BIN, dir.path(), &[]).expect("restarts");
    let body: serde_json::Value = client.get(p.url("/api/stats")).send().await.unwrap().json().await.unwrap();
    assert_eq!(body["span_count"], sent);
    let ready = client.get(p.url("/ready")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    assert_eq!(tokio::task::spawn_blocking(move || p.terminate()).await.unwrap().0, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_durable_mode_kill_9_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let p = Process::start(BIN, dir.path(), &[("INGEST_ASYNC_ENABLED", "false")]).expect("server starts");
    let client = reqwest::Client::new();
    let mut acknowledged = 0;
    for n in 0..30u64 {
        let r = client
            .post(p.url("/v1/traces"))
            .header("content-type", "application/x-protobuf")
            .body(healthy_traces(n * 40, 40).encode_to_vec())
            .send()
            .await
            .unwrap();
        if r.status() == 200 {
            acknowledged += 40;
        }
    }
    assert_eq!(acknowledged, 1200);
    tokio::task::spawn_blocking(move || p.kill_hard()).await.unwrap();
    let storage = open_sqlite(&dir.path().join("otelcontext.db")).await;
    assert_eq!(storage.counts(&TenantId::parse("default").unwrap()).await.unwrap().spans, acknowledged);
    storage.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pointed_at_itself_over_grpc_the_server_stores_its_own_spans_once_and_no_loop_grows() {
    exports_to_itself("grpc").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pointed_at_itself_over_http_the_server_stores_its_own_spans_once_and_no_loop_grows() {
    exports_to_itself("http/protobuf").await;
}

async fn exports_to_itself(protocol: &str) {
    let dir = tempfile::tempdir().unwrap();
    let free = || std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port().to_string();
    let (grpc_port, http_port) = (free(), free());
    let port = if protocol == "grpc" { &grpc_port } else { &http_port };
    let endpoint = format!("http://127.0.0.1:{port}");
    let p = Process::start(
        BIN,
        dir.path(),
        &[
            ("GRPC_PORT", &grpc_port),
            ("HTTP_PORT", &http_port),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", protocol),
            ("OTEL_BSP_SCHEDULE_DELAY", "100"),
            ("OTEL_METRIC_EXPORT_INTERVAL", "300"),
        ],
    )
    .expect("server starts");
    let client = reqwest::Client::new();
    for _ in 0..5 {
        assert_eq!(client.get(p.url("/live")).send().await.unwrap().status(), 200);
    }
    let stats = || async {
        let v: serde_json::Value = client.get(p.url("/api/stats")).send().await.unwrap().json().await.unwrap();
        (v["span_count"].as_u64().unwrap(), v["metric_point_count"].as_u64().unwrap())
    };
    let arrived = otelcontext_e2e::eventually(|| async {
        let (spans, points) = stats().await;
        (spans >= 5 && points > 0).then_some(())
    })
    .await;
    assert!(arrived.is_some(), "the server's own spans and metrics arrive: {:?}", stats().await);
    // Quiet: between two reads only the span of the first read may arrive. A feedback loop
    // (spans about storing spans) would keep adding spans with every export.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (a, _) = stats().await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (b, _) = stats().await;
    assert!(b <= a + 1, "spans grew from {a} to {b} without requests: a loop");
    let (code, log) = tokio::task::spawn_blocking(move || p.terminate()).await.unwrap();
    assert_eq!(code, 0, "{log:?}");

    let storage = open_sqlite(&dir.path().join("otelcontext.db")).await;
    let query = otelcontext_ports::SpanQuery { service: Some("otelcontext".into()), limit: 1000, ..Default::default() };
    let spans = storage.search_spans(&TenantId::parse("default").unwrap(), &query).await.unwrap().items;
    let names: Vec<&str> = spans.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names.iter().filter(|n| **n == "GET /live").count(), 5, "each request traced once: {names:?}");
    assert!(
        names.iter().all(|n| !n.contains("Export") && !n.starts_with("POST /v1/")),
        "the server's own exports are not traced: {names:?}"
    );
    storage.close().await;
}

/// A SIGTERM right after the server says it listens drains it and exits 0: the handlers are in
/// place before the announcement (before, the signal's default action could kill it).
#[test]
fn sigterm_at_once_after_start_is_a_clean_shutdown() {
    for _ in 0..5 {
        let dir = tempfile::tempdir().unwrap();
        let p = Process::start(BIN, dir.path(), &[]).expect("server starts");
        assert_eq!(p.terminate().0, 0);
    }
}

/// A few seconds of loadsim against the real binary (traces, logs and metrics over gRPC): every
/// acknowledged record is stored. Throughput is measured in docs/benchmarks.md, not here.
#[test]
fn loadsim_smoke_run_stores_everything_it_had_acknowledged() {
    const LOADSIM: &str = env!("CARGO_BIN_EXE_loadsim-under-test");
    let dir = tempfile::tempdir().unwrap();
    let p = Process::start(BIN, dir.path(), &[]).expect("server starts");
    let http = format!("http://{}", p.http_addr);
    let grpc = format!("http://{}", p.grpc_addr);
    let args = [
        "--endpoint",
        &grpc,
        "--http-endpoint",
        &http,
        "--services",
        "20",
        "--rate",
        "50",
        "--duration",
        "3s",
        "--warmup",
        "0s",
        "--connections",
        "2",
        "--batch",
        "100",
        "--logs-rate",
        "200",
        "--metrics-rate",
        "100",
        "--settle",
        "60s",
    ];
    let (code, out, err) = run_binary(LOADSIM, dir.path(), &args, &[]);
    assert_eq!(code, 0, "loadsim failed: {out}\n{err}");
    assert!(out.contains("zero-loss check      PASS"), "{out}");
    let stored = |what: &str| -> u64 {
        let line = out.lines().find(|l| l.starts_with(what)).unwrap_or_else(|| panic!("no {what} line: {out}"));
        line.rsplit("stored ").next().and_then(|n| n.split_whitespace().next()?.parse().ok()).expect("a count")
    };
    assert!(stored("spans") >= 1_000, "{out}");
    assert!(stored("points") > 0, "{out}");
    p.terminate();
}
