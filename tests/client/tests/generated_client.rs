//! The client generated from the committed spec drives a running server: OTLP/JSON in over HTTP,
//! then traces, logs, patterns, services, the service map and root causes read back through the
//! generated methods and types.

use otelcontext_e2e::TestServer;
use otelcontext_generated_client::Client;
use serde_json::json;

fn now_ns() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64
}

/// A trace `frontend` → `checkout` (ids end in `n`), the checkout span failing when `fail`.
fn trace(n: u8, start: u64, fail: bool) -> (serde_json::Value, serde_json::Value) {
    let t = format!("{:030x}{n:02x}", 0xc0ffee);
    let span = |id: u8, parent: Option<u8>, kind: u8, offset: u64, ms: u64, code: u8| {
        json!({
            "traceId": t, "spanId": format!("{:014x}{:02x}", n, id),
            "parentSpanId": parent.map(|p| format!("{:014x}{:02x}", n, p)).unwrap_or_default(),
            "name": format!("op-{id}"), "kind": kind,
            "startTimeUnixNano": (start + offset).to_string(),
            "endTimeUnixNano": (start + offset + ms * 1_000_000).to_string(),
            "status": {"code": code}
        })
    };
    (
        json!([span(0, None, 2, 0, 80, 1), span(1, Some(0), 3, 1_000_000, 70, 1)]),
        json!([span(2, Some(1), 2, 2_000_000, 60, if fail { 2 } else { 1 })]),
    )
}

fn export(service: &str, spans: Vec<serde_json::Value>) -> serde_json::Value {
    json!({"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": service}}]},
        "scopeSpans": [{"spans": spans}]
    }]})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_generated_client_reads_what_otlp_wrote() {
    let s = TestServer::start().await;
    let start = now_ns() - 2_000_000_000;
    let (mut front, mut back) = (Vec::new(), Vec::new());
    for n in 1..=6u8 {
        let (f, b) = trace(n, start, n % 2 == 0);
        front.extend(f.as_array().unwrap().iter().cloned());
        back.extend(b.as_array().unwrap().iter().cloned());
    }
    let post = |path: &'static str, body: serde_json::Value| {
        let http = s.http.clone();
        let url = s.url(path);
        async move { http.post(url).json(&body).send().await.unwrap().status().as_u16() }
    };
    assert_eq!(post("/v1/traces", export("frontend", front)).await, 200);
    assert_eq!(post("/v1/traces", export("checkout", back)).await, 200);
    let records: Vec<_> = (1..=4)
        .map(|i| {
            json!({"timeUnixNano": (start + i).to_string(), "severityNumber": 17,
                   "body": {"stringValue": format!("payment {i} declined by the bank")}})
        })
        .collect();
    let logs = json!({"resourceLogs": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "checkout"}}]},
        "scopeLogs": [{"logRecords": records}]
    }]});
    assert_eq!(post("/v1/logs", logs).await, 200);
    s.wait_for("default", |c| c.spans == 18 && c.logs >= 4).await;
    s.templates().flush().await.unwrap();

    let api = Client::new(&s.url("/api"));
    let checkout = vec!["checkout".to_owned()];
    let traces = api
        .search_traces(
            None,
            None,
            None,
            None,
            None,
            None,
            None,
            None,
            None,
            Some(&checkout),
            None,
            None,
            None,
            Some("1h"),
            None,
        )
        .await
        .unwrap()
        .into_inner();
    assert_eq!(traces.traces.len(), 6);
    let id = &traces.traces[0].trace_id;
    let one = api.get_trace(id, None).await.unwrap().into_inner();
    assert_eq!(one.spans.len(), 3);
    assert_eq!((one.service_name.as_str(), one.span_count), ("frontend", 3));

    let found = api
        .search_logs(None, None, None, None, Some("declined"), None, None, None, None, None, None, None, None, None)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(found.logs.len(), 4, "{found:?}");
    let patterns =
        api.search_patterns(None, None, None, None, None, None, None, None, None, None).await.unwrap().into_inner();
    assert!(patterns.patterns.iter().any(|p| p.template.contains("declined by the bank")), "{patterns:?}");
    let services = api.list_services(None, None, None, None, None).await.unwrap().into_inner();
    assert_eq!(services, ["checkout", "frontend"]);

    // The graph settles its traces a few seconds after they end.
    let map = loop {
        let map = api.get_service_map(None, None, None, None, None, Some("1h"), None).await.unwrap().into_inner();
        if !map.edges.is_empty() {
            break map;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    assert_eq!((map.edges[0].source.as_str(), map.edges[0].target.as_str()), ("frontend", "checkout"));
    assert_eq!(map.edges[0].client.calls, 6);
    let rca = api.get_root_causes(None, None, None, None, Some("1h"), None).await.unwrap().into_inner();
    assert!(rca.start_unix_nano < rca.end_unix_nano);

    // Errors come back as the spec's ErrorBody.
    match api.get_trace("not-hex", None).await {
        Err(otelcontext_generated_client::Error::ErrorResponse(r)) => {
            assert_eq!(r.status().as_u16(), 400);
            assert_eq!(r.into_inner().error, "invalid trace id");
        }
        other => panic!("expected a 400 ErrorBody, got {other:?}"),
    }
    match api.get_trace(id, Some("another-tenant")).await {
        Err(otelcontext_generated_client::Error::ErrorResponse(r)) => assert_eq!(r.status().as_u16(), 404),
        other => panic!("expected a 404, got {other:?}"),
    }
}
