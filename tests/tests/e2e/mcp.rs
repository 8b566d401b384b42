//! The MCP server through a real MCP client (rmcp, streamable HTTP) against the running server,
//! seeded over OTLP: tools listed with their schemas, tools answering inside the caller's
//! tenant, bad arguments named, auth before MCP, a per-tenant key pinning the tenant.

use crate::payloads::*;
use otelcontext_e2e::{TestServer, config_from};
use rmcp::ServiceExt;
use rmcp::model::{CallToolRequestParams, CallToolResult, ClientConfig};
use rmcp::service::{RoleClient, RunningService};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use serde_json::{Value, json};

type Client = RunningService<RoleClient, ClientConfig>;

async fn client(s: &TestServer, headers: &[(&'static str, &str)], key: Option<&str>) -> Result<Client, String> {
    let mut custom = std::collections::HashMap::new();
    for (k, v) in headers {
        custom.insert(http::HeaderName::from_static(k), http::HeaderValue::from_str(v).unwrap());
    }
    let mut config = StreamableHttpClientTransportConfig::with_uri(s.url("/mcp")).custom_headers(custom);
    if let Some(k) = key {
        config = config.auth_header(k.to_owned());
    }
    ClientConfig::default().serve(StreamableHttpClientTransport::from_config(config)).await.map_err(|e| e.to_string())
}

async fn call(c: &Client, tool: &str, args: Value) -> CallToolResult {
    let params = CallToolRequestParams::new(tool.to_owned()).with_arguments(args.as_object().unwrap().clone());
    c.call_tool(params).await.unwrap_or_else(|e| panic!("{tool}: {e}"))
}

fn structured(r: &CallToolResult) -> &Value {
    r.structured_content.as_ref().unwrap_or_else(|| panic!("structured content: {r:?}"))
}

fn text(r: &CallToolResult) -> String {
    r.content.iter().filter_map(|c| c.as_text().map(|t| t.text.clone())).collect::<Vec<_>>().join("\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_mcp_client_lists_the_tools_and_calls_them_inside_its_tenant() {
    let s = TestServer::start().await;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64;
    let mut records: Vec<_> = (0..3).map(|n| log_record(0, 17, &format!("payment {n} declined by the bank"))).collect();
    for (i, r) in records.iter_mut().enumerate() {
        r.time_unix_nano = now - 1_000_000_000 + i as u64;
    }
    let h = [("x-tenant-id", "team-a")];
    assert_eq!(post_proto(&s, "/v1/logs", &logs("checkout", records), &h).await.status, 200);
    let mut root = span(7, 0, true, 120);
    root.start_time_unix_nano = now - 2_000_000_000;
    root.end_time_unix_nano = root.start_time_unix_nano + 120_000_000;
    assert_eq!(post_proto(&s, "/v1/traces", &traces("checkout", vec![root]), &h).await.status, 200);
    s.wait_for("team-a", |c| c.logs >= 3 && c.spans == 1).await;

    let a = client(&s, &[("x-tenant-id", "team-a")], None).await.unwrap();
    let tools = a.list_all_tools().await.unwrap();
    let mut names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    names.sort_unstable();
    let mut want = otelcontext_mcp::TOOL_NAMES.to_vec();
    want.sort_unstable();
    assert_eq!(names, want, "the 21 tools of the original and the eight agents ask for");
    for t in &tools {
        assert_eq!(t.input_schema.get("type"), Some(&json!("object")), "{}", t.name);
        assert_eq!(t.input_schema.get("additionalProperties"), Some(&json!(false)), "{}", t.name);
        assert!(t.description.as_ref().is_some_and(|d| d.len() > 40), "{} is described", t.name);
    }
    let listing = serde_json::to_string(&tools).unwrap();
    // About 4 bytes a token: well under 8k tokens.
    assert!(listing.len() < 20_000, "tools/list stays small: {} bytes", listing.len());

    let found = call(&a, "search_logs", json!({"query": "declined", "severity": "error", "limit": 2})).await;
    assert_eq!(found.is_error, Some(false), "{found:?}");
    let logs = structured(&found)["logs"].as_array().unwrap().clone();
    assert_eq!(logs.len(), 2);
    assert!(logs[0]["body"].as_str().unwrap().contains("declined by the bank"));
    assert!(!serde_json::to_string(structured(&found)).unwrap().contains("team-a"), "no tenant ids in results");
    let cursor = structured(&found)["next_cursor"].as_str().unwrap().to_owned();
    let rest = call(&a, "search_logs", json!({"query": "declined", "severity": "error", "cursor": cursor})).await;
    assert_eq!(structured(&rest)["logs"].as_array().unwrap().len(), 1, "the third record on the next page");
    let traces = call(&a, "search_traces", json!({"service": "checkout", "status": "error", "time_range": "1h"})).await;
    let trace_id = structured(&traces)["traces"][0]["trace_id"].as_str().unwrap().to_owned();
    let trace = call(&a, "get_trace", json!({"trace_id": trace_id})).await;
    assert!(text(&trace).starts_with("checkout op-0 took 120 ms"), "{}", text(&trace));

    // Every other tool answers (the graph settles the trace first).
    let tenant = otelcontext_domain::TenantId::parse("team-a").unwrap();
    let now_i = now as i64;
    otelcontext_e2e::eventually(|| async {
        (!s.graph().service_map(&tenant, now_i - 3_600_000_000_000, now_i + 60_000_000_000).nodes.is_empty())
            .then_some(())
    })
    .await
    .expect("the graph settles");
    for (tool, args) in [
        ("get_system_graph", json!({"time_range": "1h"})),
        ("get_service_health", json!({"service_name": "checkout", "time_range": "1h"})),
        ("tail_logs", json!({"severity": "error", "limit": 2})),
        ("get_metrics", json!({"name": "queue.depth"})),
        ("get_dashboard_stats", json!({"time_range": "1h"})),
        ("get_storage_status", json!({})),
        ("find_similar_logs", json!({"query": "payment declined"})),
        ("get_alerts", json!({})),
        ("get_service_map", json!({"time_range": "1h"})),
        ("get_error_chains", json!({"service": "checkout", "time_range": "1h"})),
        ("trace_graph", json!({"trace_id": trace_id})),
        ("impact_analysis", json!({"service": "checkout"})),
        ("root_cause_analysis", json!({"service": "checkout", "time_range": "1h"})),
        ("correlated_signals", json!({"service": "checkout", "time_range": "1h"})),
        ("get_investigations", json!({"severity": "warning"})),
        ("get_anomaly_timeline", json!({"service": "checkout"})),
        ("get_log_patterns", json!({"service": "checkout"})),
        ("list_services", json!({"time_range": "1h"})),
        ("list_operations", json!({"service": "checkout"})),
        ("query_metric", json!({"name": "queue.depth", "time_range": "2h", "step": "5m"})),
        ("compare_periods", json!({"service": "checkout", "time_range": "5m"})),
        ("explain_trace", json!({"trace_id": trace_id})),
        ("list_attributes", json!({"service": "checkout", "signal": "spans"})),
    ] {
        let r = call(&a, tool, args).await;
        assert_eq!(r.is_error, Some(false), "{tool}: {}", text(&r));
        assert!(r.structured_content.is_some() && !text(&r).is_empty(), "{tool}");
    }
    let ops = call(&a, "list_operations", json!({"service": "checkout"})).await;
    assert_eq!(structured(&ops)["operations"][0]["operation"], "op-0", "{:?}", structured(&ops));
    assert_eq!(structured(&ops)["operations"][0]["errors"], 1);
    let attrs = call(&a, "list_attributes", json!({"service": "checkout"})).await;
    assert_eq!(structured(&attrs)["attributes"][0]["key"], "k", "{:?}", structured(&attrs));
    let explained = call(&a, "explain_trace", json!({"trace_id": trace_id})).await;
    assert_eq!(structured(&explained)["failed_spans"].as_array().unwrap().len(), 1, "{:?}", structured(&explained));
    let span_id = structured(&explained)["critical_path"][0]["span_id"].as_str().unwrap().to_owned();
    let one = call(&a, "get_span", json!({"trace_id": trace_id, "span_id": span_id})).await;
    assert_eq!(
        (structured(&one)["status"].as_str(), structured(&one)["attributes"]["k"].as_str()),
        (Some("ERROR"), Some("v"))
    );
    let patterns = call(&a, "get_log_patterns", json!({})).await;
    assert!(structured(&patterns)["patterns"].as_array().is_some(), "{:?}", structured(&patterns));
    let health = call(&a, "get_service_health", json!({"service_name": "checkout", "time_range": "1h"})).await;
    assert_eq!(structured(&health)["status"], "critical", "every call of checkout failed: {:?}", structured(&health));
    let storage = call(&a, "get_storage_status", json!({})).await;
    assert_eq!(
        (structured(&storage)["spans"].as_u64(), structured(&storage)["logs"].as_u64().map(|n| n >= 3)),
        (Some(1), Some(true))
    );
    let similar = call(&a, "find_similar_logs", json!({"query": "payment declined"})).await;
    assert!(!structured(&similar)["results"].as_array().unwrap().is_empty(), "{:?}", structured(&similar));
    let typo = call(&a, "get_service_health", json!({"service_name": "chekout", "time_range": "1h"})).await;
    assert_eq!(typo.is_error, Some(true));
    assert!(text(&typo).contains("closest: checkout"), "{}", text(&typo));
    let nothing = call(&a, "get_investigation", json!({"investigation_id": "nope"})).await;
    assert_eq!(nothing.is_error, Some(true));
    let snapshot = call(&a, "get_graph_snapshot", json!({})).await;
    assert!(text(&snapshot).contains("no snapshot"), "{}", text(&snapshot));

    // Bad arguments are tool errors naming the argument.
    for (tool, args, names) in [
        ("search_logs", json!({"limit": 500}), "limit"),
        ("search_logs", json!({"severity": "loud"}), "severity"),
        ("search_logs", json!({"servce": "checkout"}), "servce"),
        ("get_trace", json!({}), "trace_id"),
        ("get_trace", json!({"trace_id": "xyz"}), "trace_id"),
        ("root_cause_analysis", json!({"service": "checkout", "time_range": "soon"}), "time_range"),
        ("no_such_tool", json!({}), "no_such_tool"),
    ] {
        let r = call(&a, tool, args).await;
        assert_eq!(r.is_error, Some(true), "{tool}");
        assert!(text(&r).contains(names), "{tool}: {}", text(&r));
    }

    // Another tenant sees nothing of team-a, even with team-a's cursor.
    let b = client(&s, &[("x-tenant-id", "team-b")], None).await.unwrap();
    let none = call(&b, "search_logs", json!({"query": "declined"})).await;
    assert_eq!(structured(&none)["logs"], json!([]));
    assert!(text(&none).starts_with("No log records match"), "an empty answer says what to try");
    let foreign = call(&b, "search_logs", json!({"cursor": cursor})).await;
    assert_eq!(foreign.is_error, Some(true), "a cursor of another tenant is refused");
    let missing = call(&b, "get_trace", json!({"trace_id": trace_id})).await;
    assert_eq!(missing.is_error, Some(true));
    for c in [a, b] {
        c.cancel().await.unwrap();
    }
    let m = s.metrics_text();
    assert!(m.contains(r#"otelcontext_mcp_calls_total{outcome="tool_error",tool="search_logs"} 4"#), "{m}");
    // get_service_health was asked twice with the same arguments within MCP_CACHE_TTL_MS.
    let hits = s.metric_sum("otelcontext_mcp_cache_total").unwrap_or(0.0);
    assert!(hits >= 2.0 && m.contains(r#"otelcontext_mcp_cache_total{result="hit"}"#), "{m}");
    assert!(!m.contains(r#"otelcontext_mcp_cache_total{result="hit"} 0"#), "a cache hit is visible");
    assert!(m.contains(r#"otelcontext_mcp_calls_total{outcome="tool_error",tool="unknown"} 1"#));
    assert!(m.contains(r#"otelcontext_mcp_call_duration_seconds_count{tool="get_trace"}"#));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mcp_needs_the_key_and_a_tenant_key_pins_its_tenant() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    std::fs::write(&keys, "tenant-a-key-0123456789 team-a\n").unwrap();
    let config = config_from(&[("API_KEY", "shared-key-for-tests"), ("API_KEYS_FILE", keys.to_str().unwrap())]);
    let s = TestServer::start_with(config).await;
    let refused = client(&s, &[], None).await;
    assert!(refused.is_err(), "no key: refused before MCP");
    let pinned = client(&s, &[], Some("tenant-a-key-0123456789")).await.unwrap();
    let r = call(&pinned, "search_logs", json!({})).await;
    assert_eq!(r.is_error, Some(false), "{r:?}");
    pinned.cancel().await.unwrap();
    let other = client(&s, &[("x-tenant-id", "team-b")], Some("tenant-a-key-0123456789")).await;
    assert!(other.is_err(), "a key of team-a naming team-b is refused before MCP");
    let raw = s
        .http
        .post(s.url("/mcp"))
        .bearer_auth("tenant-a-key-0123456789")
        .header("x-tenant-id", "team-b")
        .header("accept", "application/json, text/event-stream")
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}))
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status().as_u16(), 403);
}

/// Answers stay under MCP_MAX_RESULT_BYTES and say so; the original's `page` and `start`/`end`
/// are honoured.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_fit_the_byte_budget_and_every_window_argument_is_honoured() {
    let s = TestServer::start_with(config_from(&[("MCP_MAX_RESULT_BYTES", "1024")])).await;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64;
    let records: Vec<_> = (0..20u64)
        .map(|n| {
            let mut r = log_record(0, 17, &format!("order {n} failed: {}", "x".repeat(150)));
            r.time_unix_nano = now - 10_000_000_000 + n * 1_000;
            r
        })
        .collect();
    assert_eq!(post_proto(&s, "/v1/logs", &logs("checkout", records), &[]).await.status, 200);
    s.wait_for("default", |c| c.logs == 20).await;
    let c = client(&s, &[], None).await.unwrap();
    let all = call(&c, "search_logs", json!({"query": "order", "limit": 20})).await;
    let kept = structured(&all)["logs"].as_array().unwrap().len();
    assert!(kept < 20 && kept > 0, "{kept}");
    assert_eq!(structured(&all)["truncated"], true);
    assert!(text(&all).contains("truncated to fit the answer"), "{}", text(&all));
    assert!(serde_json::to_string(&structured(&all)["logs"]).unwrap().len() <= 1024);

    // page (from 0) as the original paged: page 1 of 2 is the 3rd and 4th newest.
    let page1 = call(&c, "search_logs", json!({"query": "order", "limit": 2, "page": 1})).await;
    let bodies: Vec<&str> =
        structured(&page1)["logs"].as_array().unwrap().iter().map(|l| l["body"].as_str().unwrap()).collect();
    assert!(bodies[0].starts_with("order 17 ") && bodies[1].starts_with("order 16 "), "{bodies:?}");
    let beyond = call(&c, "search_logs", json!({"query": "order", "limit": 10, "page": 5})).await;
    assert_eq!(structured(&beyond)["logs"], json!([]));
    // start/end narrow a window on the tools that read one.
    let narrow = json!({"query": "order", "start": (now - 10_000_000_000).to_string(), "end": (now - 10_000_000_000 + 4_500).to_string()});
    let few = call(&c, "search_logs", narrow).await;
    let in_window = structured(&few)["logs"].as_array().unwrap().clone();
    assert!(!in_window.is_empty());
    for l in &in_window {
        let n: u64 = l["body"].as_str().unwrap()["order ".len()..].split(' ').next().unwrap().parse().unwrap();
        assert!(n < 5, "only records inside start..end: {l}");
    }
    assert!(in_window.len() == 5 || structured(&few)["truncated"] == true);
    let map =
        call(&c, "get_service_map", json!({"start": "2020-01-01T00:00:00Z", "end": "2020-01-01T00:10:00Z"})).await;
    assert_eq!(map.is_error, Some(false), "{}", text(&map));
    let both = call(&c, "get_service_map", json!({"start": "2020-01-01T00:00:00Z", "time_range": "5m"})).await;
    assert_eq!(both.is_error, Some(true));
    c.cancel().await.unwrap();
}

/// Every tool of `tools/list` (so a new tool cannot escape), called by tenant b with tenant a's
/// names and ids, answers nothing of a; tenant a gets its own data from the same call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_tool_shows_one_tenant_anything_of_another() {
    use crate::isolation::{hex, shows_a, tenant_data, tid};
    let s = TestServer::start().await;
    tenant_data(&s, "a", "alpha", 0xaa).await;
    tenant_data(&s, "b", "bravo", 0xbb).await;
    s.templates().flush().await.unwrap();
    let ta = otelcontext_domain::TenantId::parse("a").unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as i64;
    otelcontext_e2e::eventually(|| async {
        (!s.graph().service_map(&ta, now - 3_600_000_000_000, now + 60_000_000_000).edges.is_empty()).then_some(())
    })
    .await
    .expect("a's graph settles");
    let a = client(&s, &[("x-tenant-id", "a")], None).await.unwrap();
    let b = client(&s, &[("x-tenant-id", "b")], None).await.unwrap();
    let trace = hex(&tid(0xaa, 3));
    let span = {
        let r = call(&a, "get_trace", json!({"trace_id": trace})).await;
        structured(&r)["spans"][0]["span_id"].as_str().unwrap().to_owned()
    };
    // Args with a's names and ids; `true` when a must see its data in the answer.
    let cases: Vec<(&str, Value, bool)> = vec![
        ("get_system_graph", json!({"time_range": "1h"}), true),
        ("get_service_health", json!({"service_name": "alphasvc", "time_range": "1h"}), false),
        ("search_logs", json!({"query": "order"}), true),
        ("tail_logs", json!({}), true),
        ("get_trace", json!({"trace_id": trace}), true),
        ("search_traces", json!({"time_range": "1h"}), true),
        ("get_metrics", json!({"name": "alphametric"}), true),
        ("get_dashboard_stats", json!({"time_range": "1h"}), true),
        ("get_storage_status", json!({}), false),
        ("find_similar_logs", json!({"query": "order failed"}), true),
        ("get_alerts", json!({}), true),
        ("get_service_map", json!({"time_range": "1h"}), true),
        ("get_error_chains", json!({"service": "alphasvc", "time_range": "1h"}), true),
        ("trace_graph", json!({"trace_id": trace}), true),
        ("impact_analysis", json!({"service": "alphasvc", "time_range": "1h"}), true),
        ("root_cause_analysis", json!({"service": "alphasvc", "time_range": "1h"}), false),
        ("correlated_signals", json!({"service": "alphapay", "time_range": "1h"}), true),
        ("get_investigations", json!({}), true),
        ("get_investigation", json!({"investigation_id": "inv-alpha"}), true),
        ("get_graph_snapshot", json!({}), true),
        ("get_anomaly_timeline", json!({}), false),
        ("get_log_patterns", json!({}), true),
        ("list_services", json!({"time_range": "1h"}), true),
        ("list_operations", json!({"service": "alphasvc"}), true),
        ("query_metric", json!({"name": "alphametric"}), true),
        ("compare_periods", json!({"service": "alphapay", "time_range": "5m"}), true),
        ("explain_trace", json!({"trace_id": trace}), true),
        ("get_span", json!({"trace_id": trace, "span_id": span}), true),
        ("list_attributes", json!({"service": "alphasvc"}), false),
    ];
    let listed: std::collections::BTreeSet<String> =
        a.list_all_tools().await.unwrap().iter().map(|t| t.name.to_string()).collect();
    let cased: std::collections::BTreeSet<String> = cases.iter().map(|(n, _, _)| (*n).to_owned()).collect();
    assert_eq!(listed, cased, "every tool of tools/list needs a case here (and only those)");
    let strip = |body: String, args: &Value| {
        let mut out = body;
        for v in args.as_object().unwrap().values().filter_map(Value::as_str).filter(|v| v.len() > 2) {
            out = out.replace(v, "");
        }
        out
    };
    for (tool, args, shown) in &cases {
        let mine = call(&a, tool, args.clone()).await;
        assert_eq!(mine.is_error, Some(false), "{tool} as a: {}", text(&mine));
        if *shown {
            assert!(shows_a(&strip(text(&mine), args)), "{tool} as a shows a's data: {}", text(&mine));
        }
        let theirs = call(&b, tool, args.clone()).await;
        assert!(!shows_a(&strip(text(&theirs), args)), "{tool} as b leaks a's data: {}", text(&theirs));
    }
    for c in [a, b] {
        c.cancel().await.unwrap();
    }
}

/// Sessions are bounded (`MCP_MAX_SESSIONS`, 503 past it) and a call past `MCP_CALL_TIMEOUT_MS`
/// is answered with the timeout error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_are_bounded_and_a_slow_call_times_out() {
    let s = TestServer::start_with(config_from(&[("MCP_MAX_SESSIONS", "1"), ("MCP_CALL_TIMEOUT_MS", "1")])).await;
    let records: Vec<_> = (0..50).map(|n| log_record(n, 17, &format!("line {n}"))).collect();
    assert_eq!(post_proto(&s, "/v1/logs", &logs("api", records), &[]).await.status, 200);
    s.wait_for("default", |c| c.logs == 50).await;
    let first = client(&s, &[], None).await.unwrap();
    let second = client(&s, &[], None).await;
    assert!(second.is_err(), "a second session past MCP_MAX_SESSIONS=1 is refused");
    let raw = s
        .http
        .post(s.url("/mcp"))
        .header("accept", "application/json, text/event-stream")
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}))
        .send()
        .await
        .unwrap();
    assert_eq!((raw.status().as_u16(), raw.headers().contains_key("retry-after")), (503, true));

    // Walking 20 pages of one record each (21 queries) takes longer than a millisecond.
    let params = CallToolRequestParams::new("search_logs")
        .with_arguments(json!({"limit": 1, "page": 20, "time_range": "100000h"}).as_object().unwrap().clone());
    let err = first.call_tool(params).await.expect_err("the call times out");
    assert!(err.to_string().contains("call timeout"), "{err}");
    assert!(s.metrics_text().contains(r#"otelcontext_mcp_calls_total{outcome="timeout",tool="search_logs"} 1"#));
    first.cancel().await.unwrap();
}

/// Each filtering argument changes the answer as it says, and an unknown service is answered
/// with the closest known names.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_filter_argument_changes_the_answer() {
    use crate::isolation::{hex, tenant_data, tid};
    let s = TestServer::start().await;
    tenant_data(&s, "default", "alpha", 0xaa).await;
    let t = otelcontext_domain::TenantId::parse("default").unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as i64;
    otelcontext_e2e::eventually(|| async {
        (!s.graph().service_map(&t, now - 3_600_000_000_000, now + 60_000_000_000).edges.is_empty()).then_some(())
    })
    .await
    .expect("the graph settles");
    let c = client(&s, &[], None).await.unwrap();
    let count = |r: &CallToolResult, key: &str| structured(r)[key].as_array().map_or(0, Vec::len);
    let logs = |args: Value| {
        let c = &c;
        async move { count(&call(c, "search_logs", args).await, "logs") }
    };
    assert_eq!(logs(json!({"query": "order"})).await, 10);
    assert_eq!(logs(json!({"query": "order", "severity": "error"})).await, 3, "every third order failed");
    assert_eq!(logs(json!({"query": "order", "service": "alphasvc"})).await, 0, "the lines are alphapay's");
    assert_eq!(logs(json!({"trace_id": hex(&tid(0xaa, 3)), "query": "order"})).await, 1);
    assert_eq!(logs(json!({"query": "order", "limit": 4})).await, 4);
    let traces = |args: Value| {
        let c = &c;
        async move { count(&call(c, "search_traces", args).await, "traces") }
    };
    assert_eq!(traces(json!({"time_range": "1h"})).await, 10);
    assert_eq!(traces(json!({"time_range": "1h", "status": "error"})).await, 3);
    assert_eq!(traces(json!({"time_range": "1h", "min_duration_ms": 45})).await, 10);
    assert_eq!(traces(json!({"time_range": "1h", "min_duration_ms": 60})).await, 0);
    assert_eq!(traces(json!({"time_range": "1h", "limit": 2})).await, 2);
    // Pages of traces and of investigations follow next_cursor without skips or repeats.
    let mut seen = std::collections::BTreeSet::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut args = json!({"time_range": "1h", "limit": 4});
        if let Some(c) = &cursor {
            args["cursor"] = json!(c);
        }
        let page = call(&c, "search_traces", args).await;
        for t in structured(&page)["traces"].as_array().unwrap() {
            assert!(seen.insert(t["trace_id"].as_str().unwrap().to_owned()), "no repeats");
        }
        match structured(&page)["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen.len(), 10);
    // Failed spans add ERROR records of their own: the tail's severity filter agrees with the search's.
    let errors = logs(json!({"severity": "error", "limit": 100})).await;
    let tail_errors = count(&call(&c, "tail_logs", json!({"severity": "error", "limit": 100})).await, "logs");
    let tail_all = count(&call(&c, "tail_logs", json!({"limit": 100})).await, "logs");
    assert!(errors > 3 && tail_errors == errors && tail_all > tail_errors, "{errors} {tail_errors} {tail_all}");
    let invs = |args: Value| {
        let c = &c;
        async move { count(&call(c, "get_investigations", args).await, "investigations") }
    };
    assert_eq!((invs(json!({"severity": "critical"})).await, invs(json!({"status": "resolved"})).await), (1, 0));
    let spans = call(&c, "list_attributes", json!({"service": "alphapay", "signal": "spans"})).await;
    let logs_attrs = call(&c, "list_attributes", json!({"service": "alphapay", "signal": "logs"})).await;
    assert_ne!(structured(&spans)["signal"], structured(&logs_attrs)["signal"]);
    let map = |args: Value| {
        let c = &c;
        async move { count(&call(c, "get_service_map", args).await, "nodes") }
    };
    assert_eq!(map(json!({"time_range": "1h"})).await, 2);
    assert_eq!(map(json!({"time_range": "1h", "service": "alphapay", "depth": 1})).await, 2);
    let typo = call(&c, "impact_analysis", json!({"service": "alphsvc", "time_range": "1h"})).await;
    assert_eq!(typo.is_error, Some(true));
    assert!(text(&typo).contains("Closest known to \"alphsvc\": alphasvc"), "{}", text(&typo));
    c.cancel().await.unwrap();
}

/// With `MCP_MAX_CONCURRENT=1`, a call made while another runs is refused with -32000 "server
/// overloaded", and the running one still completes (its slot is held until it ends).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_concurrency_cap_calls_are_refused_while_one_runs() {
    let s = TestServer::start_with(config_from(&[("MCP_MAX_CONCURRENT", "1"), ("MCP_CALL_TIMEOUT_MS", "0")])).await;
    let records: Vec<_> = (0..200).map(|n| log_record(n, 17, &format!("line {n} of the slow walk"))).collect();
    assert_eq!(post_proto(&s, "/v1/logs", &logs("api", records), &[]).await.status, 200);
    s.wait_for("default", |c| c.logs == 200).await;
    let (slow, quick) = (client(&s, &[], None).await.unwrap(), client(&s, &[], None).await.unwrap());
    // The slow call walks 21 pages; the quick one is sent while it runs. Timing decides whether
    // it lands inside the slow call, so a few rounds are allowed.
    let mut refused = None;
    for _ in 0..20 {
        let walk = CallToolRequestParams::new("search_logs").with_arguments(
            json!({"query": "slow walk", "limit": 1, "page": 20, "time_range": "100000h"}).as_object().unwrap().clone(),
        );
        let long = tokio::spawn({
            let params = walk.clone();
            let peer = slow.peer().clone();
            async move { peer.call_tool(params).await }
        });
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        let params = CallToolRequestParams::new("get_storage_status").with_arguments(serde_json::Map::new());
        let second = quick.call_tool(params).await;
        let first = long.await.unwrap();
        assert!(first.is_ok(), "the running call completes: {first:?}");
        if let Err(e) = second {
            refused = Some(e.to_string());
            break;
        }
    }
    let refused = refused.expect("a call made while the only slot is held is refused");
    assert!(refused.contains("server overloaded"), "{refused}");
    assert!(s.metrics_text().contains(r#"outcome="overloaded""#));
    for c in [slow, quick] {
        c.cancel().await.unwrap();
    }
}

/// A session's standalone event stream stays open through the server's middleware (auth, rate
/// limit, metrics, panic guard) and carries SSE keep-alives every 15 seconds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_event_stream_of_a_session_gets_keep_alives_through_the_middleware() {
    let s = TestServer::start().await;
    let post = |body: Value, session: Option<String>| {
        let mut req = s
            .http
            .post(s.url("/mcp"))
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", "2025-06-18")
            .json(&body);
        if let Some(id) = session {
            req = req.header("mcp-session-id", id);
        }
        req.send()
    };
    let init = post(
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}),
        None,
    )
    .await
    .unwrap();
    let session = init.headers()["mcp-session-id"].to_str().unwrap().to_owned();
    drop(init);
    let ack =
        post(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}), Some(session.clone())).await.unwrap();
    assert_eq!(ack.status().as_u16(), 202);
    let mut stream = s
        .http
        .get(s.url("/mcp"))
        .header("accept", "text/event-stream")
        .header("mcp-protocol-version", "2025-06-18")
        .header("mcp-session-id", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status().as_u16(), 200);
    let mut seen = String::new();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(25);
    // A keep-alive is an SSE comment line (":").
    while !seen.lines().any(|l| l.starts_with(':')) {
        match tokio::time::timeout_at(deadline, stream.chunk()).await {
            Ok(Ok(Some(chunk))) => seen.push_str(&String::from_utf8_lossy(&chunk)),
            other => panic!("the stream ended or stalled before a keep-alive: {other:?}; got {seen:?}"),
        }
    }
}
