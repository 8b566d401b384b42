//! TLS on both listeners: a self-signed certificate generated, cached and reused across
//! restarts; certificate files, reloaded without a restart when they change; clients that trust
//! the certificate (reqwest, and the Rust OTLP exporter over gRPC); plaintext refused; an
//! unreadable file a clear start error.

use crate::sdk::blocking;
use opentelemetry::trace::{Tracer, TracerProvider as _};
use opentelemetry_otlp::{WithExportConfig, WithTonicConfig};
use opentelemetry_sdk::trace::SdkTracerProvider;
use otelcontext_e2e::{TestServer, config_from, eventually};
use std::path::Path;
use std::time::Duration;

fn client(ca_pem: &[u8]) -> reqwest::Client {
    reqwest::Client::builder().add_root_certificate(reqwest::Certificate::from_pem(ca_pem).unwrap()).build().unwrap()
}

/// Serial number and names of the certificate a TLS server presents, via a handshake.
async fn https_live(s: &TestServer, ca_pem: &[u8]) -> u16 {
    let url = format!("https://localhost:{}/live", s.http_addr().port());
    client(ca_pem).get(url).send().await.unwrap().status().as_u16()
}

fn export_span_over_tls(grpc_port: u16, ca_pem: Vec<u8>) -> impl FnOnce() + Send + 'static {
    move || {
        let tls = tonic::transport::ClientTlsConfig::new()
            .ca_certificate(tonic::transport::Certificate::from_pem(ca_pem))
            .domain_name("localhost");
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .with_endpoint(format!("https://localhost:{grpc_port}"))
            .with_tls_config(tls)
            .build()
            .unwrap();
        let provider = SdkTracerProvider::builder().with_batch_exporter(exporter).build();
        drop(provider.tracer("tls").start("over-tls"));
        provider.shutdown().unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_self_signed_certificate_serves_both_listeners_and_is_reused_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("tls");
    let config = config_from(&[
        ("TLS_AUTO_SELFSIGNED", "true"),
        ("TLS_CACHE_DIR", cache.to_str().unwrap()),
        ("TLS_EXTRA_SANS", "otel.test.internal"),
    ]);
    let mut s = TestServer::start_with(config.clone()).await;
    let pem = std::fs::read(cache.join("cert.pem")).unwrap();
    assert_eq!(https_live(&s, &pem).await, 200);
    // Plaintext is refused on both listeners.
    assert!(reqwest::get(s.url("/live")).await.is_err(), "HTTP must be TLS only");
    let plain = opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient::connect(
        s.grpc_endpoint(),
    )
    .await;
    if let Ok(mut c) = plain {
        assert!(c.export(crate::payloads::healthy_traces(1, 1)).await.is_err(), "gRPC must be TLS only");
    }
    // The Rust OTLP exporter over gRPC with TLS.
    blocking(export_span_over_tls(s.grpc_addr().port(), pem.clone())).await;
    s.wait_for("default", |c| c.spans == 1).await;
    assert!(s.metrics_text().contains("otelcontext_tls_certificate_expiry_timestamp_seconds "));
    s.shutdown().await;

    // A restart reuses the cached certificate.
    let s = TestServer::start_with(config).await;
    assert_eq!(std::fs::read(cache.join("cert.pem")).unwrap(), pem, "the cached certificate is reused");
    assert_eq!(https_live(&s, &pem).await, 200);
}

fn write_pair(dir: &Path, sans: &[&str]) -> (std::path::PathBuf, std::path::PathBuf, String) {
    let sans: Vec<String> = sans.iter().map(|s| (*s).to_owned()).collect();
    let (cert, key) =
        otelcontext_tls::generate_self_signed(&sans, std::time::SystemTime::now(), Duration::from_secs(86_400 * 30))
            .unwrap();
    let (c, k) = (dir.join("server.crt"), dir.join("server.key"));
    std::fs::write(&c, &cert).unwrap();
    std::fs::write(&k, &key).unwrap();
    (c, k, cert)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificate_files_are_served_and_reloaded_when_they_change() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key, first) = write_pair(dir.path(), &["localhost"]);
    let config = config_from(&[
        ("TLS_CERT_FILE", cert.to_str().unwrap()),
        ("TLS_KEY_FILE", key.to_str().unwrap()),
        // Files win over self-signed (a notice is logged).
        ("TLS_AUTO_SELFSIGNED", "true"),
        ("TLS_CACHE_DIR", dir.path().join("unused").to_str().unwrap()),
        ("TLS_RELOAD_INTERVAL", "100ms"),
    ]);
    let s = TestServer::start_with(config).await;
    assert!(!dir.path().join("unused").exists(), "no self-signed certificate is made when files are given");
    assert_eq!(https_live(&s, first.as_bytes()).await, 200);
    blocking(export_span_over_tls(s.grpc_addr().port(), first.clone().into_bytes())).await;
    s.wait_for("default", |c| c.spans == 1).await;

    // The secret rotates: a new certificate and key replace the files.
    let (_, _, second) = write_pair(dir.path(), &["localhost"]);
    let served = eventually(|| async {
        let url = format!("https://localhost:{}/live", s.http_addr().port());
        // A fresh client per try: no pooled connection with the old certificate.
        client(second.as_bytes()).get(url).send().await.ok().map(|r| r.status().as_u16())
    })
    .await;
    assert_eq!(served, Some(200), "the new certificate is served without a restart");
    assert!(s.metrics_text().contains(r#"otelcontext_tls_reloads_total{result="ok"} 1"#), "{}", s.metrics_text());
    let url = format!("https://localhost:{}/live", s.http_addr().port());
    assert!(client(first.as_bytes()).get(url).send().await.is_err(), "the old certificate is no longer served");
}

#[tokio::test]
async fn tls_settings_that_cannot_work_are_start_errors_naming_the_variable() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, _, _) = write_pair(dir.path(), &["localhost"]);
    let missing = dir.path().join("missing.key");
    let source = otelcontext::config::EnvSource::from_pairs(vec![
        ("TLS_CERT_FILE".to_owned(), cert.to_str().unwrap().to_owned()),
        ("TLS_KEY_FILE".to_owned(), missing.to_str().unwrap().to_owned()),
    ]);
    let err = otelcontext::Config::from_source(&source).unwrap_err().to_string();
    assert!(err.contains("TLS_KEY_FILE") && err.contains("missing.key") && err.contains("readable"), "{err}");
    let only_cert = otelcontext::config::EnvSource::from_pairs(vec![(
        "TLS_CERT_FILE".to_owned(),
        cert.to_str().unwrap().to_owned(),
    )]);
    let err = otelcontext::Config::from_source(&only_cert).unwrap_err().to_string();
    assert!(err.contains("TLS_KEY_FILE") && err.contains("both or neither"), "{err}");
    // A key file that is not a key: the server refuses to start and says which file.
    let junk = dir.path().join("junk.key");
    std::fs::write(&junk, "not a key").unwrap();
    let dlq = dir.path().join("dlq");
    let config = config_from(&[
        ("TLS_CERT_FILE", cert.to_str().unwrap()),
        ("TLS_KEY_FILE", junk.to_str().unwrap()),
        ("DLQ_PATH", dlq.to_str().unwrap()),
    ]);
    let storage = otelcontext_e2e::open_sqlite(&dir.path().join("o.db")).await;
    let server = otelcontext::Server::builder(config).storage(storage).build().await.unwrap();
    let err = format!("{:#}", server.start().await.err().expect("start fails"));
    assert!(err.contains("TLS_KEY_FILE") && err.contains("junk.key"), "{err}");
}
