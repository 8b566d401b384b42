//! Durable acknowledgement and graceful shutdown: nothing acknowledged is lost.

use crate::payloads::*;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use otelcontext_domain::TenantId;
use otelcontext_e2e::{Backend, TestServer, config_from, open_sqlite};
use prost::Message;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

otelcontext_e2e::on_both_databases!(2, in_durable_mode_acknowledged_data_is_in_the_database_when_export_returns);

async fn in_durable_mode_acknowledged_data_is_in_the_database_when_export_returns(backend: Backend) {
    let Some(s) = TestServer::on_with(backend, config_from(&[("INGEST_ASYNC_ENABLED", "false")])).await else { return };
    for n in 0..20u64 {
        grpc_traces(&s, healthy_traces(n * 10, 10), &[]).await.unwrap();
        assert_eq!(s.counts("default").await.spans, (n + 1) * 10, "committed before the gRPC answer");
        let a = post_proto(&s, "/v1/logs", &logs("svc", vec![log_record(n, 9, "durable")]), &[]).await;
        assert_eq!(a.status, 200);
        assert_eq!(s.counts("default").await.logs, n + 1, "committed before the HTTP answer");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn durable_mode_reports_a_failed_commit_as_unavailable() {
    let storage = Arc::new(otelcontext_memory::MemoryStorage::new());
    let s = TestServer::start_on(config_from(&[("INGEST_ASYNC_ENABLED", "false")]), storage.clone()).await;
    storage.set_failing(true);
    let err = grpc_traces(&s, healthy_traces(1, 1), &[]).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unavailable);
    let a = post_proto(&s, "/v1/traces", &healthy_traces(2, 1), &[]).await;
    assert_eq!((a.status, a.retry_after.as_deref()), (503, Some("1")));
    storage.set_failing(false);
    grpc_traces(&s, healthy_traces(3, 1), &[]).await.unwrap();
}

/// Sends batches of unique spans from several clients until told to stop; counts spans whose
/// export was acknowledged.
async fn load(s: Arc<TestServer>, client: u64, stop: Arc<AtomicBool>, acked: Arc<AtomicU64>) {
    let mut batch = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let first = client * 10_000_000 + batch * 50;
        // Acknowledged = answered OK minus what partial_success says was shed.
        let acknowledged = if client.is_multiple_of(2) {
            grpc_traces(&s, healthy_traces(first, 50), &[])
                .await
                .ok()
                .map(|r| 50 - r.partial_success.map(|p| p.rejected_spans as u64).unwrap_or(0))
        } else {
            let r = s
                .http
                .post(s.url("/v1/traces"))
                .header("content-type", "application/x-protobuf")
                .body(healthy_traces(first, 50).encode_to_vec())
                .send()
                .await;
            match r {
                Ok(r) if r.status() == 200 => {
                    let body = r.bytes().await.unwrap_or_default();
                    let resp = ExportTraceServiceResponse::decode(body.as_ref()).unwrap_or_default();
                    Some(50 - resp.partial_success.map(|p| p.rejected_spans as u64).unwrap_or(0))
                }
                _ => None,
            }
        };
        if let Some(n) = acknowledged {
            acked.fetch_add(n, Ordering::Relaxed);
        }
        batch += 1;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn graceful_shutdown_under_load_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("shutdown.db");
    let s = Arc::new(TestServer::start_on(config_from(&[]), open_sqlite(&db).await).await);
    let (stop, acked) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicU64::new(0)));
    let clients: Vec<_> = (0..4).map(|c| tokio::spawn(load(s.clone(), c, stop.clone(), acked.clone()))).collect();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    // Shut down while the clients are still sending; they see errors once intake stops.
    s.begin_shutdown();
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.await.unwrap();
    }
    let mut server = Arc::try_unwrap(s).ok().expect("clients are done");
    server.shutdown().await;
    let acked = acked.load(Ordering::Relaxed);
    assert!(acked > 0, "the load ran");
    let storage = open_sqlite(&db).await;
    let stored = storage.counts(&TenantId::parse("default").unwrap()).await.unwrap().spans;
    assert_eq!(stored, acked, "every acknowledged span is stored, nothing more");
    storage.close().await;
}
