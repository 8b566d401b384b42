use super::*;
use otelcontext_domain::trace::TraceSummary;
use otelcontext_domain::{
    AnyValue, Attributes, InstrumentationScope, Resource, Span, SpanId, SpanKind, SpanStatus, StatusCode, Trace,
};
use otelcontext_ports::{MockQueries, SignalCounts};
use poem::test::TestClient;
use poem::{EndpointExt, Route};

fn trace() -> Trace {
    let mut attributes = Attributes::new();
    attributes.push("http.method", AnyValue::String("GET".into()));
    let span = Span {
        trace_id: TraceId::from_array([0xab; 16]).unwrap(),
        span_id: SpanId::from_array([0xcd; 8]).unwrap(),
        parent_span_id: None,
        trace_state: String::new(),
        flags: 1,
        name: "GET /items".into(),
        kind: SpanKind::Server,
        start_ns: 1_700_000_000_000_000_000,
        end_ns: 1_700_000_000_250_000_000,
        attributes,
        dropped_attributes_count: 0,
        events: vec![],
        links: vec![],
        status: SpanStatus { code: StatusCode::Error, message: "boom".into() },
        resource: std::sync::Arc::new(Resource::for_service("api")),
        scope: std::sync::Arc::new(InstrumentationScope::default()),
    };
    let summary = otelcontext_domain::trace::summarize(std::slice::from_ref(&span)).remove(0);
    let _: &TraceSummary = &summary;
    Trace { summary, spans: vec![span], logs: vec![] }
}

fn client(q: MockQueries) -> TestClient<impl poem::Endpoint> {
    let api = QueryApi::new(Arc::new(q), TenantId::parse("default").unwrap());
    TestClient::new(Route::new().nest("/api", service(api)).map_to_response())
}

#[tokio::test]
async fn trace_is_returned_with_snake_case_fields() {
    let mut q = MockQueries::new();
    q.expect_trace().returning(|t, _| {
        assert_eq!(t.as_str(), "default");
        Ok(Some(trace()))
    });
    let resp = client(q).get(format!("/api/traces/{}", "ab".repeat(16))).send().await;
    resp.assert_status_is_ok();
    let body: serde_json::Value = resp.json().await.value().deserialize();
    assert_eq!(body["trace_id"], "ab".repeat(16));
    assert_eq!(body["service_name"], "api");
    assert_eq!(body["operation"], "GET /items");
    assert_eq!(body["status"], "ERROR");
    assert_eq!(body["duration_ns"], 250_000_000);
    assert_eq!(body["duration_ms"], 250.0);
    assert_eq!(body["span_count"], 1);
    assert_eq!(body["start_time"], "2023-11-14T22:13:20.000000000Z");
    let span = &body["spans"][0];
    assert_eq!(span["parent_span_id"], serde_json::Value::Null);
    assert_eq!(span["kind"], "SERVER");
    assert_eq!(span["attributes"], serde_json::json!({"http.method": "GET"}));
    assert_eq!(span["resource_attributes"], serde_json::json!({"service.name": "api"}));
}

#[tokio::test]
async fn malformed_trace_id_is_400_with_a_json_error() {
    let resp = client(MockQueries::new()).get("/api/traces/not-hex").send().await;
    resp.assert_status(poem::http::StatusCode::BAD_REQUEST);
    let body: serde_json::Value = resp.json().await.value().deserialize();
    assert_eq!(body["error"], "invalid trace id");
    assert!(body["detail"].as_str().unwrap().contains("32 hexadecimal"));
}

#[tokio::test]
async fn unknown_trace_is_404() {
    let mut q = MockQueries::new();
    q.expect_trace().returning(|_, _| Ok(None));
    let resp = client(q).get(format!("/api/traces/{}", "01".repeat(16))).send().await;
    resp.assert_status(poem::http::StatusCode::NOT_FOUND);
    let body: serde_json::Value = resp.json().await.value().deserialize();
    assert_eq!(body["error"], "trace not found");
}

#[tokio::test]
async fn tenant_header_scopes_the_query_and_a_bound_credential_wins() {
    let mut q = MockQueries::new();
    q.expect_stats()
        .withf(|t| t.as_str() == "acme")
        .times(1)
        .returning(|_| Ok(SignalCounts { spans: 3, ..Default::default() }));
    q.expect_stats().withf(|t| t.as_str() == "bound").times(1).returning(|_| Ok(SignalCounts::default()));
    let q = Arc::new(q);
    let make =
        |q: Arc<MockQueries>| Route::new().nest("/api", service(QueryApi::new(q, TenantId::parse("default").unwrap())));
    let cli = TestClient::new(make(q.clone()).map_to_response());
    let resp = cli.get("/api/stats").header("X-Tenant-ID", "acme").send().await;
    resp.assert_status_is_ok();
    resp.assert_json(
        serde_json::json!({"trace_count":0,"span_count":3,"log_count":0,"metric_point_count":0,"error_trace_count":0}),
    )
    .await;
    let bound = make(q).around(|ep, mut req| async move {
        req.extensions_mut().insert(Identity { tenant: Some(TenantId::parse("bound").unwrap()), subject: "k".into() });
        poem::Endpoint::call(&*ep, req).await.map(poem::IntoResponse::into_response)
    });
    TestClient::new(bound).get("/api/stats").header("X-Tenant-ID", "acme").send().await.assert_status_is_ok();
}

#[tokio::test]
async fn invalid_tenant_header_is_400() {
    let resp = client(MockQueries::new()).get("/api/stats").header("X-Tenant-ID", "no spaces allowed").send().await;
    resp.assert_status(poem::http::StatusCode::BAD_REQUEST);
    let body: serde_json::Value = resp.json().await.value().deserialize();
    assert_eq!(body["error"], "invalid tenant id");
}

#[tokio::test]
async fn unavailable_storage_is_503() {
    let mut q = MockQueries::new();
    q.expect_stats().returning(|_| Err(QueryError::Unavailable("db down".into())));
    let resp = client(q).get("/api/stats").send().await;
    resp.assert_status(poem::http::StatusCode::SERVICE_UNAVAILABLE);
}

/// The committed OpenAPI document must match the code. Regenerate with
/// `UPDATE_OPENAPI=1 cargo test -p otelcontext-api openapi_document`.
#[test]
fn openapi_document_matches_the_committed_file() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../openapi/openapi.yaml");
    let generated = spec_yaml(Arc::new(MockQueries::new()));
    if std::env::var_os("UPDATE_OPENAPI").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "openapi/openapi.yaml is out of date; run `UPDATE_OPENAPI=1 cargo test -p otelcontext-api openapi_document` and commit it"
    );
}
