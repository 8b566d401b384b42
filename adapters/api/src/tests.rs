use super::*;
use otelcontext_domain::trace::TraceSummary;
use otelcontext_domain::{
    AnyValue, Attributes, InstrumentationScope, Resource, Span, SpanId, SpanKind, SpanStatus, StatusCode, Trace,
};
use otelcontext_ports::{MockGraphQueries, MockQueries, SignalCounts};
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
    graph_client(q, MockGraphQueries::new())
}

fn graph_client(q: MockQueries, g: MockGraphQueries) -> TestClient<impl poem::Endpoint> {
    let api = QueryApi::new(Arc::new(q), Arc::new(g), TenantId::parse("default").unwrap()).with_cursor_key(key());
    TestClient::new(Route::new().nest("/api", with_json_errors(service(api))))
}

fn key() -> otelcontext_ports::CursorKey {
    otelcontext_ports::CursorKey::from_secret("test")
}

/// `cursor` as the API hands it to `tenant` for `route`.
fn sealed(cursor: otelcontext_ports::Cursor, tenant: &str, route: &str) -> String {
    cursor.seal(&key(), &[tenant, route])
}

#[tokio::test]
async fn trace_is_returned_with_snake_case_fields() {
    let mut q = MockQueries::new();
    q.expect_trace().returning(|t, _| {
        assert_eq!(t.as_str(), "default");
        Ok(trace())
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
    q.expect_trace().returning(|_, id| Err(QueryError::NotFound(format!("trace {id}"))));
    let resp = client(q).get(format!("/api/traces/{}", "01".repeat(16))).send().await;
    resp.assert_status(poem::http::StatusCode::NOT_FOUND);
    let body: serde_json::Value = resp.json().await.value().deserialize();
    assert_eq!(body["error"], "trace not found");
}

#[tokio::test]
async fn tenant_header_scopes_the_query_and_a_bound_credential_acts_only_as_its_tenant() {
    let mut q = MockQueries::new();
    q.expect_stats()
        .withf(|t| t.as_str() == "acme")
        .times(1)
        .returning(|_| Ok(SignalCounts { spans: 3, ..Default::default() }));
    q.expect_stats().withf(|t| t.as_str() == "bound").times(1).returning(|_| Ok(SignalCounts::default()));
    let q = Arc::new(q);
    let make = |q: Arc<MockQueries>| {
        let api = QueryApi::new(q, Arc::new(MockGraphQueries::new()), TenantId::parse("default").unwrap());
        Route::new().nest("/api", service(api))
    };
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
    let cli = TestClient::new(bound);
    // The bound tenant, whether the header is absent or names it; another tenant is 403.
    cli.get("/api/stats").send().await.assert_status_is_ok();
    let resp = cli.get("/api/stats").header("X-Tenant-ID", "acme").send().await;
    resp.assert_status(poem::http::StatusCode::FORBIDDEN);
    resp.json().await.value().object().get("error").assert_string("forbidden tenant");
    let resp = cli.get("/api/logs").header("X-Tenant-ID", "acme").send().await;
    resp.assert_status(poem::http::StatusCode::FORBIDDEN);
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

fn stored_log() -> otelcontext_ports::StoredLog {
    let record = otelcontext_domain::LogRecord {
        timestamp_ns: 1_700_000_000_000_000_000,
        observed_ns: 1_700_000_000_000_000_000,
        severity_number: 17,
        severity_text: "ERROR".into(),
        body: Some(AnyValue::String("connection refused".into())),
        attributes: Attributes::new(),
        trace_id: None,
        span_id: None,
        flags: 0,
        event_name: String::new(),
        resource: std::sync::Arc::new(Resource::for_service("api")),
        scope: std::sync::Arc::new(InstrumentationScope::default()),
        template_id: Some(otelcontext_domain::TemplateId(0xbeef)),
    };
    otelcontext_ports::StoredLog { id: LogId(42), record }
}

#[tokio::test]
async fn log_search_passes_validated_parameters_and_pages_with_a_cursor() {
    let mut q = MockQueries::new();
    q.expect_logs()
        .withf(|t, q| {
            t.as_str() == "default"
                && q.text.as_ref().is_some_and(|t| t.terms() == ["conn", "refused"])
                && q.service.as_deref() == Some("api")
                && q.min_severity == Some(otelcontext_domain::SeverityLevel::Error)
                && q.time.start_ns == Some(1_764_000_000_000_000_000)
                && q.limit == 20
                && q.cursor == Some(otelcontext_ports::Cursor::After { key: 5, id: 6 })
        })
        .returning(|_, _| {
            Ok(otelcontext_ports::Page {
                items: vec![stored_log()],
                next: Some(otelcontext_ports::Cursor::After { key: 1, id: 2 }),
            })
        });
    let cursor = sealed(otelcontext_ports::Cursor::After { key: 5, id: 6 }, "default", "logs");
    let resp = client(q)
        .get("/api/logs")
        .query("q", &"conn refused")
        .query("service", &"api")
        .query("severity", &"error")
        .query("start", &"2025-11-24T16:00:00Z")
        .query("limit", &20)
        .query("cursor", &cursor)
        .send()
        .await;
    resp.assert_status_is_ok();
    let body: serde_json::Value = resp.json().await.value().deserialize();
    assert_eq!(body["logs"][0]["id"], 42);
    assert_eq!(body["logs"][0]["body"], "connection refused");
    assert_eq!(body["logs"][0]["template_id"], "000000000000beef");
    assert_eq!(body["next_cursor"], sealed(otelcontext_ports::Cursor::After { key: 1, id: 2 }, "default", "logs"));
}

#[tokio::test]
async fn a_cursor_altered_unsigned_or_issued_elsewhere_is_refused() {
    let c = otelcontext_ports::Cursor::After { key: 5, id: 6 };
    let mine = sealed(c, "default", "logs");
    let mut altered = mine.clone().into_bytes();
    altered[3] = if altered[3] == b'a' { b'b' } else { b'a' };
    for (why, cursor) in [
        ("another tenant's", sealed(c, "other", "logs")),
        ("another route's", sealed(c, "default", "traces")),
        ("unsigned", c.encode()),
        ("altered", String::from_utf8(altered).unwrap()),
        ("another key's", c.seal(&otelcontext_ports::CursorKey::from_secret("x"), &["default", "logs"])),
    ] {
        // No query reaches the storage port: the mock has no expectation.
        let resp = client(MockQueries::new()).get("/api/logs").query("cursor", &cursor).send().await;
        resp.assert_status(poem::http::StatusCode::BAD_REQUEST);
        resp.json().await.value().object().get("error").assert_string("invalid cursor");
        let _ = why;
    }
}

#[tokio::test]
async fn bad_log_search_parameters_are_400_naming_the_parameter() {
    for (name, value, error) in [
        ("limit", "0", "invalid limit"),
        ("limit", "5000", "invalid limit"),
        ("severity", "loud", "invalid severity"),
        ("start", "tomorrow", "invalid start"),
        ("cursor", "xyz", "invalid cursor"),
        ("sort", "random", "invalid sort"),
        ("trace_id", "123", "invalid trace_id"),
    ] {
        let resp = client(MockQueries::new()).get("/api/logs").query(name, &value).send().await;
        resp.assert_status(poem::http::StatusCode::BAD_REQUEST);
        let body: serde_json::Value = resp.json().await.value().deserialize();
        assert_eq!(body["error"], error, "{name}={value}");
    }
    let resp = client(MockQueries::new()).get("/api/logs/notanumber").send().await;
    resp.assert_status(poem::http::StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_log_by_id_or_404() {
    let mut q = MockQueries::new();
    q.expect_log().withf(|_, id| id.0 == 42).returning(|_, _| Ok(stored_log()));
    q.expect_log().returning(|_, id| Err(QueryError::NotFound(format!("log {}", id.0))));
    let cli = client(q);
    let resp = cli.get("/api/logs/42").send().await;
    resp.assert_status_is_ok();
    resp.json().await.value().object().get("id").assert_i64(42);
    cli.get("/api/logs/7").send().await.assert_status(poem::http::StatusCode::NOT_FOUND);
}

/// The committed OpenAPI document must match the code. Regenerate with
/// `UPDATE_OPENAPI=1 cargo test -p otelcontext-api openapi_document`.
#[test]
fn openapi_document_matches_the_committed_file() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../openapi/openapi.yaml");
    let generated = spec_yaml(Arc::new(MockQueries::new()), Arc::new(MockGraphQueries::new()));
    if std::env::var_os("UPDATE_OPENAPI").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "openapi/openapi.yaml is out of date; run `UPDATE_OPENAPI=1 cargo test -p otelcontext-api openapi_document` and commit it"
    );
}

fn answer() -> otelcontext_ports::RcaAnswer {
    use otelcontext_domain::graph::peer::NodeKind;
    use otelcontext_domain::graph::rca::{Candidate, Evidence, RcaResult};
    let evidence = Evidence {
        signal: "edge_gap",
        via: Some("frontend".into()),
        baseline: 2_000_000.0,
        recent: 72_000_000.0,
        score: 3.2,
        baseline_calls: 90,
        recent_calls: 80,
        ..Evidence::default()
    };
    otelcontext_ports::RcaAnswer {
        start_ns: 1_764_000_000_000_000_000,
        end_ns: 1_764_000_900_000_000_000,
        result: RcaResult {
            split_ns: 1_764_000_600_000_000_000,
            candidates: vec![Candidate {
                kind: NodeKind::Service,
                name: "currency".into(),
                operation: Some("Convert".into()),
                instance: None,
                score: 3.2,
                evidence: vec![
                    evidence,
                    Evidence {
                        signal: "cpu",
                        instance: Some("currency-7f9".into()),
                        baseline: 0.05,
                        recent: 0.97,
                        score: 1.9,
                        baseline_calls: 3,
                        recent_calls: 2,
                        ..Evidence::default()
                    },
                    Evidence {
                        signal: "stops_early",
                        operation: Some("Convert".into()),
                        no_longer_calls: vec!["rates".into(), "redis".into()],
                        baseline: 0.0,
                        recent: 0.25,
                        score: 1.1,
                        baseline_calls: 200,
                        recent_calls: 160,
                        ..Evidence::default()
                    },
                ],
                example_traces: vec![TraceId::from_array([7; 16]).unwrap()],
            }],
        },
    }
}

#[tokio::test]
async fn rca_answers_ranked_candidates_with_their_evidence() {
    let mut g = MockGraphQueries::new();
    g.expect_root_causes()
        .withf(|t, q| t.as_str() == "shop" && q.service.as_deref() == Some("frontend") && q.last_ns == 600_000_000_000)
        .times(1)
        .returning(|_, _| Ok(answer()));
    let cli = graph_client(MockQueries::new(), g);
    let resp = cli
        .get("/api/rca")
        .query("service", &"frontend")
        .query("time_range", &"10m")
        .header("X-Tenant-ID", "shop")
        .send()
        .await;
    resp.assert_status_is_ok();
    let body = resp.json().await;
    let v = body.value().object();
    v.get("change_at").assert_string("2025-11-24T16:10:00.000000000Z");
    let c = v.get("candidates").array().get(0).object();
    c.get("rank").assert_i64(1);
    c.get("service").assert_string("currency");
    c.get("kind").assert_string("service");
    c.get("operation").assert_string("Convert");
    c.get("example_trace_ids").array().get(0).assert_string(&"07".repeat(16));
    let e = c.get("evidence").array().get(0).object();
    e.get("signal").assert_string("edge_gap");
    e.get("unit").assert_string("ms");
    e.get("baseline").assert_f64(2.0);
    e.get("recent").assert_f64(72.0);
    e.get("via").assert_string("frontend");
    assert!(e.get("description").string().contains("frontend waits 2.0 ms → 72.0 ms"));
    let cpu = c.get("evidence").array().get(1).object();
    cpu.get("signal").assert_string("cpu");
    cpu.get("unit").assert_string("utilization");
    cpu.get("instance").assert_string("currency-7f9");
    assert!(cpu.get("description").string().contains("currency-7f9 5.0 % → 97.0 %"), "{:?}", cpu.get("description"));
    let short = c.get("evidence").array().get(2).object();
    short.get("signal").assert_string("stops_early");
    short.get("unit").assert_string("ratio");
    short.get("operation").assert_string("Convert");
    short.get("no_longer_calls").assert_string_array(&["rates", "redis"]);
    let text = short.get("description").string();
    assert!(text.contains("Convert requests that end without calling rates, redis: 0.0 % → 25.0 %"), "{text}");
    // Fields a signal does not have are left out.
    assert!(cpu.get_opt("no_longer_calls").is_none() && e.get_opt("operation").is_none(), "{cpu:?}");
}

#[tokio::test]
async fn rca_refuses_bad_parameters_and_says_when_the_service_is_unknown() {
    let mut g = MockGraphQueries::new();
    g.expect_root_causes().returning(|_, q| {
        Err(QueryError::NotFound(format!("no spans of {:?}", q.service.clone().unwrap_or_default())))
    });
    let cli = graph_client(MockQueries::new(), g);
    for (k, v, want) in [
        ("time_range", "forever", "invalid time_range"),
        ("time_range", "3h", "invalid time_range"),
        ("limit", "0", "invalid limit"),
        ("start", "yesterday", "invalid start"),
    ] {
        let resp = cli.get("/api/rca").query(k, &v).send().await;
        resp.assert_status(poem::http::StatusCode::BAD_REQUEST);
        resp.json().await.value().object().get("error").assert_string(want);
    }
    let resp = cli.get("/api/rca").query("service", &"nope").send().await;
    resp.assert_status(poem::http::StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn trace_search_passes_every_filter_and_pages_with_a_signed_cursor() {
    let mut q = MockQueries::new();
    q.expect_traces()
        .withf(|t, q| {
            t.as_str() == "default"
                && q.service.as_deref() == Some("api")
                && q.operation.as_deref() == Some("GET /items")
                && q.status == Some(StatusCode::Error)
                && q.min_duration_ns == Some(100_000_000)
                && q.attributes.len() == 1
                && q.attributes[0].key == "http.method"
                && q.sort == otelcontext_ports::TraceSort::Longest
                && q.time.start_ns == Some(1_700_000_000_000_000_000)
                && q.limit == 5
                && q.cursor == Some(otelcontext_ports::Cursor::After { key: 7, id: 8 })
        })
        .times(1)
        .returning(|_, _| {
            Ok(otelcontext_ports::Page {
                items: vec![trace().summary],
                next: Some(otelcontext_ports::Cursor::After { key: 1, id: 2 }),
            })
        });
    let resp = client(q)
        .get("/api/traces")
        .query("service_name", &"api")
        .query("operation", &"GET /items")
        .query("status", &"error")
        .query("min_duration", &"100ms")
        .query("attribute", &"http.method=GET")
        .query("start", &"1700000000000000000")
        .query("sort_by", &"duration")
        .query("limit", &5)
        .query("cursor", &sealed(otelcontext_ports::Cursor::After { key: 7, id: 8 }, "default", "traces"))
        .send()
        .await;
    resp.assert_status_is_ok();
    let body: serde_json::Value = resp.json().await.value().deserialize();
    let t = &body["traces"][0];
    assert_eq!((t["trace_id"].as_str(), t["status"].as_str()), (Some(&*"ab".repeat(16)), Some("ERROR")));
    assert_eq!((t["duration_ms"].as_f64(), t["span_count"].as_u64()), (Some(250.0), Some(1)));
    assert!(t.get("spans").is_none(), "a search result holds no spans");
    assert_eq!(body["next_cursor"], sealed(otelcontext_ports::Cursor::After { key: 1, id: 2 }, "default", "traces"));

    // No parameter at all is the last hour's newest traces.
    let mut q = MockQueries::new();
    q.expect_traces()
        .withf(|_, q| q.service.is_none() && q.attributes.is_empty() && q.limit == 20 && q.time.start_ns.is_some())
        .times(1)
        .returning(|_, _| Ok(otelcontext_ports::Page::empty()));
    let resp = client(q).get("/api/traces").send().await;
    resp.assert_status_is_ok();
    resp.assert_json(serde_json::json!({"traces": []})).await;
    // A logs cursor does not page traces.
    let logs_cursor = sealed(otelcontext_ports::Cursor::After { key: 7, id: 8 }, "default", "logs");
    let resp = client(MockQueries::new()).get("/api/traces").query("cursor", &logs_cursor).send().await;
    resp.assert_status(poem::http::StatusCode::BAD_REQUEST);
    let resp = client(MockQueries::new()).get("/api/traces").query("status", &"broken").send().await;
    resp.assert_status(poem::http::StatusCode::BAD_REQUEST);
    resp.json().await.value().object().get("error").assert_string("invalid status");
}

#[tokio::test]
async fn metadata_lists_names_in_a_window_with_a_limit() {
    let mut q = MockQueries::new();
    q.expect_services()
        .withf(|t, time, limit| t.as_str() == "default" && time.start_ns.is_none() && *limit == 1_000)
        .times(1)
        .returning(|_, _, _| Ok(vec!["api".into(), "db".into()]));
    q.expect_operations()
        .withf(|_, service, time, limit| service == "api" && time.start_ns.is_some() && *limit == 5)
        .times(1)
        .returning(|_, _, _, _| Ok(vec!["GET /a".into()]));
    q.expect_metric_names()
        .withf(|_, service, time, _| service.is_none() && time.end_ns == Some(1_764_000_000_000_000_000))
        .times(1)
        .returning(|_, _, _, _| Ok(vec!["cpu".into()]));
    let cli = client(q);
    let resp = cli.get("/api/metadata/services").send().await;
    resp.assert_status_is_ok();
    resp.assert_json(serde_json::json!(["api", "db"])).await;
    let resp = cli
        .get("/api/metadata/operations")
        .query("service_name", &"api")
        .query("time_range", &"6h")
        .query("limit", &5)
        .send()
        .await;
    resp.assert_json(serde_json::json!(["GET /a"])).await;
    let resp = cli.get("/api/metadata/metrics").query("end", &"2025-11-24T16:00:00Z").send().await;
    resp.assert_json(serde_json::json!(["cpu"])).await;
    for (path, param, value, error) in [
        ("/api/metadata/operations", "limit", "5", "missing service_name"),
        ("/api/metadata/services", "limit", "10001", "invalid limit"),
        ("/api/metadata/services", "time_range", "ages", "invalid time_range"),
        ("/api/metadata/metrics", "start", "soon", "invalid start"),
    ] {
        let resp = cli.get(path).query(param, &value).send().await;
        resp.assert_status(poem::http::StatusCode::BAD_REQUEST);
        resp.json().await.value().object().get("error").assert_string(error);
    }
}

#[tokio::test]
async fn log_search_takes_the_original_parameter_names() {
    let mut q = MockQueries::new();
    q.expect_logs()
        .withf(|_, q| q.service.as_deref() == Some("api") && q.text.is_some())
        .times(1)
        .returning(|_, _| Ok(otelcontext_ports::Page::empty()));
    let cli = client(q);
    let resp =
        cli.get("/api/logs").query("search", &"refused").query("service_name", &"api").query("offset", &0).send().await;
    resp.assert_status_is_ok();
    for (params, error) in [
        (vec![("q", "a"), ("search", "b")], "conflicting parameters"),
        (vec![("service", "a"), ("service_name", "b")], "conflicting parameters"),
        (vec![("offset", "100")], "invalid offset"),
    ] {
        let mut r = cli.get("/api/logs");
        for (k, v) in params {
            r = r.query(k, &v);
        }
        let resp = r.send().await;
        resp.assert_status(poem::http::StatusCode::BAD_REQUEST);
        resp.json().await.value().object().get("error").assert_string(error);
    }
}

#[tokio::test]
async fn log_context_is_around_a_timestamp_or_a_record() {
    let mut q = MockQueries::new();
    q.expect_log().withf(|_, id| id.0 == 42).times(1).returning(|_, _| Ok(stored_log()));
    q.expect_log_context()
        .withf(|_, c| {
            c.around_ns == 1_700_000_000_000_000_000
                && c.window_ns == 30_000_000_000
                && c.limit == 10
                && c.service.as_deref() == Some("api")
        })
        .times(2)
        .returning(|_, _| Ok(vec![stored_log()]));
    let cli = client(q);
    for (k, v) in [("id", "42"), ("timestamp", "1700000000000000000")] {
        let resp = cli
            .get("/api/logs/context")
            .query(k, &v)
            .query("window", &"30s")
            .query("limit", &10)
            .query("service_name", &"api")
            .send()
            .await;
        resp.assert_status_is_ok();
        let body: serde_json::Value = resp.json().await.value().deserialize();
        assert_eq!(body[0]["id"], 42, "{body}");
    }
    for (params, error) in [
        (vec![], "missing timestamp"),
        (vec![("timestamp", "1"), ("id", "2")], "invalid moment"),
        (vec![("timestamp", "noon")], "invalid timestamp"),
        (vec![("timestamp", "1"), ("window", "2h")], "invalid window"),
        (vec![("timestamp", "1"), ("limit", "0")], "invalid limit"),
    ] {
        let mut r = cli.get("/api/logs/context");
        for (k, v) in params {
            r = r.query(k, &v);
        }
        let resp = r.send().await;
        resp.assert_status(poem::http::StatusCode::BAD_REQUEST);
        resp.json().await.value().object().get("error").assert_string(error);
    }
}

#[tokio::test]
async fn similar_logs_answer_in_snake_case_and_refuse_bad_input() {
    let mut q = MockQueries::new();
    q.expect_similar_logs().withf(|_, text, limit| text == "connection refused" && *limit == 5).times(1).returning(
        |_, _, _| {
            Ok(vec![otelcontext_ports::SimilarLogHit {
                score: 0.9,
                id: Some(LogId(42)),
                timestamp_ns: 1_700_000_000_000_000_000,
                service: "api".into(),
                severity: "ERROR".into(),
                body: "connection refused by db".into(),
                trace_id: None,
                span_id: None,
                template_id: None,
            }])
        },
    );
    q.expect_similar_logs().times(1).returning(|_, _, _| Err(QueryError::Unavailable("off".into())));
    let cli = client(q);
    let resp = cli.get("/api/logs/similar").query("q", &"connection refused").query("limit", &5).send().await;
    resp.assert_status_is_ok();
    let body: serde_json::Value = resp.json().await.value().deserialize();
    assert_eq!((body["count"].as_u64(), body["query"].as_str()), (Some(1), Some("connection refused")));
    assert_eq!(
        (body["results"][0]["log_id"].as_i64(), body["results"][0]["service_name"].as_str()),
        (Some(42), Some("api"))
    );
    assert_eq!(cli.get("/api/logs/similar").query("q", &"x").send().await.0.status().as_u16(), 503);
    for (params, error) in [(vec![], "missing q"), (vec![("q", "x"), ("limit", "51")], "invalid limit")] {
        let mut r = cli.get("/api/logs/similar");
        for (k, v) in params {
            r = r.query(k, &v);
        }
        let resp = r.send().await;
        resp.assert_status(poem::http::StatusCode::BAD_REQUEST);
        resp.json().await.value().object().get("error").assert_string(error);
    }
}

#[tokio::test]
async fn malformed_typed_parameters_unknown_paths_and_wrong_methods_are_json_errors() {
    let cli = client(MockQueries::new());
    let resp = cli.get("/api/logs").query("limit", &"abc").send().await;
    resp.assert_status(poem::http::StatusCode::BAD_REQUEST);
    let body: serde_json::Value = resp.json().await.value().deserialize();
    assert_eq!(body["error"], "invalid limit", "{body}");
    assert!(body["detail"].as_str().unwrap().contains("limit"), "{body}");
    let resp = cli.get("/api/patterns").query("new", &"maybe").send().await;
    resp.assert_status(poem::http::StatusCode::BAD_REQUEST);
    let resp = cli.get("/api/nothing-here").send().await;
    resp.assert_status(poem::http::StatusCode::NOT_FOUND);
    resp.json().await.value().object().get("error").assert_string("not found");
    let resp = cli.post("/api/logs").send().await;
    resp.assert_status(poem::http::StatusCode::METHOD_NOT_ALLOWED);
    resp.json().await.value().object().get("error").assert_string("method not allowed");
}
