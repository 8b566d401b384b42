//! Tenant isolation through the real interfaces, and persistence across restarts.

use crate::sdk::{Target, Transport};
use crate::sdk_traces::{assert_trace_matches, export_trace, read_trace};
use otelcontext_e2e::{Backend, TestServer, open_sqlite, test_config};

otelcontext_e2e::on_both_databases!(4, a_trace_written_as_tenant_a_is_404_for_tenant_b);

async fn a_trace_written_as_tenant_a_is_404_for_tenant_b(backend: Backend) {
    let Some(server) = TestServer::on(backend).await else { return };
    for transport in [Transport::Grpc, Transport::HttpProtobuf] {
        let sent = export_trace(Target::of(&server).with_header("x-tenant-id", "a"), transport, "svc", 0).await;
        let trace = read_trace(&server, &sent.trace_id, Some("a")).await;
        assert_trace_matches(&trace, &sent, "svc");
        let (status, body) = server.get_json(&format!("/api/traces/{}", sent.trace_id), Some("b")).await;
        assert_eq!((status, body["error"].as_str()), (404, Some("trace not found")));
        let (status, _) = server.get_json(&format!("/api/traces/{}", sent.trace_id), None).await;
        assert_eq!(status, 404, "not visible to the default tenant either");
        assert_eq!(server.counts("b").await.spans, 0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn data_written_before_a_restart_is_readable_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("restart.db");
    let sent = {
        let mut server = TestServer::start_on(test_config(), open_sqlite(&db).await).await;
        let sent = export_trace(Target::of(&server), Transport::Grpc, "before-restart", 0).await;
        read_trace(&server, &sent.trace_id, None).await;
        server.shutdown().await;
        sent
    };
    let mut server = TestServer::start_on(test_config(), open_sqlite(&db).await).await;
    let trace = read_trace(&server, &sent.trace_id, None).await;
    assert_trace_matches(&trace, &sent, "before-restart");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_resource_tenant_attribute_is_used_only_when_trusted_and_never_over_the_header() {
    use crate::payloads::*;
    use otelcontext_e2e::config_from;
    let mut req = traces("svc", vec![span(1, 0, false, 1)]);
    req.resource_spans[0].resource.as_mut().unwrap().attributes.push(kv("tenant.id", "from-resource"));

    let trusted = TestServer::start_with(config_from(&[("OTLP_TRUST_RESOURCE_TENANT", "true")])).await;
    grpc_traces(&trusted, req.clone(), &[]).await.unwrap();
    trusted.wait_for("from-resource", |c| c.spans == 1).await;
    grpc_traces(
        &trusted,
        {
            let mut r = req.clone();
            r.resource_spans[0].scope_spans[0].spans[0].span_id = span_id(77);
            r
        },
        &[("x-tenant-id", "from-header")],
    )
    .await
    .unwrap();
    trusted.wait_for("from-header", |c| c.spans == 1).await;

    let untrusted = TestServer::start().await;
    grpc_traces(&untrusted, req, &[]).await.unwrap();
    untrusted.wait_for("default", |c| c.spans == 1).await;
    assert_eq!(untrusted.counts("from-resource").await.spans, 0);
}
