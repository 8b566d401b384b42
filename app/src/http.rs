//! The HTTP side of the server: OTLP/HTTP under `/v1`, the query API under `/api`, probes,
//! Prometheus metrics, and the cross-cutting middleware (panic safety, metrics, auth, JSON
//! errors for unknown routes and methods).

use otelcontext_api::QueryApi;
use otelcontext_otlp::{OtlpHttp, OtlpMetrics, Transport};
use otelcontext_ports::{Authenticator, CheckStatus, Readiness};
use otelcontext_telemetry::{Counter, Histogram, KeyValue, Telemetry, counter, histogram};
use poem::http::{StatusCode, header};
use poem::middleware::CatchPanic;
use poem::{Endpoint, EndpointExt, IntoResponse, Request, Response, Route, get};
use serde_json::json;
use std::sync::Arc;
use std::time::Instant;

/// What the HTTP app is made of.
pub struct HttpParts {
    pub otlp: OtlpHttp,
    pub api: QueryApi,
    pub readiness: Arc<dyn Readiness>,
    pub auth: Arc<dyn Authenticator>,
    /// Where every component's metrics are rendered from, and the HTTP side's meter.
    pub telemetry: Arc<Telemetry>,
    /// The OTLP receivers' metrics (a refused `/v1` request is a refused payload).
    pub otlp_metrics: Arc<OtlpMetrics>,
    /// Per-client limit of `/api/*` and `/mcp`, when on.
    pub rate_limit: Option<Arc<crate::services::RateLimiter>>,
    /// Client IPs from `X-Forwarded-For` / `X-Real-IP`.
    pub trust_proxy_headers: bool,
    /// The MCP server, its path, its sessions and how many may be open, when on.
    pub mcp: Option<McpParts>,
}

/// The MCP server as the HTTP app mounts it.
pub struct McpParts {
    pub path: String,
    pub service: otelcontext_mcp::McpHttpService,
    pub sessions: otelcontext_mcp::McpSessions,
    /// New sessions are refused (503) while this many are open.
    pub max_sessions: usize,
}

/// The HTTP side's metrics.
struct HttpMetrics {
    requests: Counter<u64>,
    duration: Histogram<f64>,
    auth_failures: Counter<u64>,
    panics: Counter<u64>,
    rate_limited: Counter<u64>,
}

impl HttpMetrics {
    fn new(meter: &otelcontext_telemetry::Meter) -> Self {
        let m = Self {
            requests: counter(meter, "otelcontext_http_requests_total", "HTTP requests handled."),
            duration: histogram(
                meter,
                "otelcontext_http_request_duration_seconds",
                "HTTP request latency.",
                otelcontext_telemetry::LATENCY_BUCKETS,
            ),
            auth_failures: otelcontext_telemetry::auth_failures(meter),
            panics: otelcontext_telemetry::panics_recovered(meter),
            rate_limited: counter(
                meter,
                "otelcontext_api_rate_limited_total",
                "Requests to /api/* or /mcp refused with 429 because the client exceeded API_RATE_LIMIT_RPS.",
            ),
        };
        for surface in ["api", "mcp"] {
            m.rate_limited.add(0, &[KeyValue::new("surface", surface)]);
        }
        m.panics.add(0, &[KeyValue::new("subsystem", "http")]);
        m
    }
}

/// Paths that require the API key when one is configured.
pub fn is_protected(path: &str) -> bool {
    if path.strip_prefix("/api").is_some_and(|p| otelcontext_api::PUBLIC_PATHS.contains(&p)) {
        return false;
    }
    path == "/v1"
        || path.starts_with("/v1/")
        || path == "/api"
        || path.starts_with("/api/")
        || path == "/mcp"
        || path.starts_with("/mcp/")
}

/// Paths the per-client rate limit applies to: the query API and MCP, never OTLP ingest,
/// probes or metrics.
pub fn is_rate_limited(path: &str) -> Option<&'static str> {
    if path == "/api" || path.starts_with("/api/") {
        Some("api")
    } else if path == "/mcp" || path.starts_with("/mcp/") {
        Some("mcp")
    } else {
        None
    }
}

/// Bounded-cardinality route label for metrics.
pub fn route_label(path: &str) -> &'static str {
    match path {
        "/v1/traces" => "/v1/traces",
        "/v1/logs" => "/v1/logs",
        "/v1/metrics" => "/v1/metrics",
        "/api/stats" => "/api/stats",
        "/api/logs" => "/api/logs",
        "/api/storage" => "/api/storage",
        "/live" => "/live",
        "/ready" => "/ready",
        "/metrics/prometheus" => "/metrics/prometheus",
        "/openapi.yaml" => "/openapi.yaml",
        p if p.starts_with("/api/traces/") && !p["/api/traces/".len()..].contains('/') => "/api/traces/{trace_id}",
        p if p.starts_with("/api/logs/") && !p["/api/logs/".len()..].contains('/') => "/api/logs/{id}",
        _ => "unmatched",
    }
}

fn json_response(status: StatusCode, body: serde_json::Value) -> Response {
    Response::builder().status(status).content_type("application/json").body(body.to_string())
}

fn is_json(resp: &Response) -> bool {
    resp.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("json") || v.contains("protobuf"))
}

/// Builds the HTTP endpoint.
pub fn app(parts: HttpParts) -> impl Endpoint<Output = Response> + 'static {
    let HttpParts { otlp, api, readiness, auth, telemetry, otlp_metrics, rate_limit, trust_proxy_headers, mcp } = parts;
    // The MCP path is protected and rate limited like `/mcp`, wherever it is mounted.
    let mcp_path: Arc<str> = Arc::from(mcp.as_ref().map_or("/mcp", |m| m.path.as_str()));
    let under_mcp =
        move |path: &str| path == &*mcp_path || path.strip_prefix(&*mcp_path).is_some_and(|rest| rest.starts_with('/'));
    let metrics = Arc::new(HttpMetrics::new(&telemetry.meter()));
    let (api_endpoint, spec, api_routes) = otelcontext_api::endpoint(api);
    let api_routes = Arc::new(api_routes);
    let prom_metrics = telemetry;
    let routes = Route::new()
        .nest("/v1", otlp.routes())
        .nest("/api", api_endpoint)
        .at(
            "/openapi.yaml",
            get(poem::endpoint::make_sync(move |_| {
                Response::builder().content_type("application/yaml").body(spec.clone())
            })),
        )
        .at("/live", get(poem::endpoint::make_sync(|_| json_response(StatusCode::OK, json!({"status": "alive"})))))
        .at(
            "/ready",
            get(poem::endpoint::make(move |_| {
                let readiness = readiness.clone();
                async move {
                    let report = readiness.check().await;
                    let checks: serde_json::Map<String, serde_json::Value> = report
                        .checks
                        .iter()
                        .map(|(name, status)| {
                            let v = match status {
                                CheckStatus::Ok => "ok".to_owned(),
                                CheckStatus::Failed(m) => m.clone(),
                            };
                            (name.clone(), serde_json::Value::String(v))
                        })
                        .collect();
                    let status = if report.is_ready() { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
                    Ok::<_, poem::Error>(json_response(status, json!({"ready": report.is_ready(), "checks": checks})))
                }
            })),
        )
        .at(
            "/metrics/prometheus",
            get(poem::endpoint::make_sync(move |_| {
                Response::builder().content_type(otelcontext_telemetry::CONTENT_TYPE).body(prom_metrics.render())
            })),
        );

    let routes = match mcp {
        Some(McpParts { path, service, sessions, max_sessions }) => {
            use poem::endpoint::TowerCompatExt;
            // A request without a session id opens one: refused while `max_sessions` are open.
            let bounded = service.compat().around(move |ep, req: Request| {
                let sessions = sessions.clone();
                async move {
                    if req.method() == poem::http::Method::POST
                        && !req.headers().contains_key("mcp-session-id")
                        && sessions.open().await >= max_sessions
                    {
                        let mut resp = json_response(
                            StatusCode::SERVICE_UNAVAILABLE,
                            json!({"error": "too many MCP sessions", "detail": format!("{max_sessions} are open (MCP_MAX_SESSIONS); idle ones close after 5 minutes")}),
                        );
                        resp.headers_mut().insert(header::RETRY_AFTER, poem::http::HeaderValue::from_static("30"));
                        return Ok(resp);
                    }
                    Ok(ep.call(req).await?.into_response())
                }
            });
            routes.at(path, bounded)
        }
        None => routes,
    };
    let panic_metrics = metrics.clone();
    let auth_metrics = metrics.clone();
    let (under_mcp_auth, under_mcp_limit) = (under_mcp.clone(), under_mcp);
    let limit_metrics = metrics.clone();
    routes
        // Innermost: authentication of protected paths; the identity goes into the request.
        .around(move |ep, mut req: Request| {
            let auth = auth.clone();
            let metrics = auth_metrics.clone();
            let otlp_metrics = otlp_metrics.clone();
            let mcp = under_mcp_auth(req.uri().path());
            let protected = is_protected(req.uri().path()) || mcp;
            async move {
                if protected {
                    let header = req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
                    match auth.authenticate(header) {
                        Ok(identity) => {
                            // MCP answers in JSON-RPC: a tenant it may not act as is refused here,
                            // as HTTP, like on every other surface.
                            if mcp {
                                let named = req.headers().get("x-tenant-id").and_then(|v| v.to_str().ok());
                                if let Err(e) = otelcontext_domain::request_tenant(identity.tenant.as_ref(), named) {
                                    let status = match e {
                                        otelcontext_domain::TenantHeaderError::NotYours { .. } => StatusCode::FORBIDDEN,
                                        _ => StatusCode::BAD_REQUEST,
                                    };
                                    return Ok(json_response(
                                        status,
                                        json!({"error": "forbidden tenant", "detail": e.to_string()}),
                                    ));
                                }
                            }
                            req.extensions_mut().insert(identity);
                        }
                        Err(e) => {
                            let labels = [KeyValue::new("surface", "http"), KeyValue::new("reason", e.reason())];
                            metrics.auth_failures.add(1, &labels);
                            if req.uri().path().starts_with("/v1/") {
                                otlp_metrics.payload_rejected(Transport::Http, "unauthorized");
                            }
                            let mut resp = json_response(StatusCode::UNAUTHORIZED, json!({"error": "unauthorized"}));
                            resp.headers_mut()
                                .insert(header::WWW_AUTHENTICATE, poem::http::HeaderValue::from_static("Bearer"));
                            return Ok(resp);
                        }
                    }
                }
                Ok(ep.get_response(req).await)
            }
        })
        // Per-client limit of the query surfaces, before authentication (so a flood of bad keys
        // is limited too).
        .around(move |ep, req: Request| {
            let limiter = rate_limit.clone();
            let metrics = limit_metrics.clone();
            let surface =
                is_rate_limited(req.uri().path()).or_else(|| under_mcp_limit(req.uri().path()).then_some("mcp"));
            async move {
                if let (Some(limiter), Some(surface)) = (limiter, surface) {
                    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
                    let peer = req.remote_addr().as_socket_addr().map(|a| a.ip());
                    let client = crate::services::rate_limit::client_ip(
                        peer,
                        header("x-forwarded-for"),
                        header("x-real-ip"),
                        trust_proxy_headers,
                    );
                    if let Some(client) = client
                        && let Err(wait_ns) = limiter.check(client, otelcontext_ports::Clock::now_ns(&crate::services::SystemClock))
                    {
                        metrics.rate_limited.add(1, &[KeyValue::new("surface", surface)]);
                        let retry_after = (wait_ns / 1_000_000_000 + 1).clamp(1, 3_600);
                        let mut resp = json_response(
                            StatusCode::TOO_MANY_REQUESTS,
                            json!({
                                "error": "rate limit exceeded",
                                "detail": format!("this client may make API_RATE_LIMIT_RPS requests a second; retry in {retry_after} s"),
                            }),
                        );
                        resp.headers_mut().insert(header::RETRY_AFTER, poem::http::HeaderValue::from(retry_after));
                        return Ok(resp);
                    }
                }
                Ok(ep.get_response(req).await)
            }
        })
        // JSON bodies for unknown routes and methods.
        .around(|ep, req: Request| async move {
            let resp = ep.get_response(req).await;
            Ok(match resp.status() {
                StatusCode::NOT_FOUND if !is_json(&resp) => {
                    json_response(StatusCode::NOT_FOUND, json!({"error": "not found"}))
                }
                StatusCode::METHOD_NOT_ALLOWED if !is_json(&resp) => {
                    json_response(StatusCode::METHOD_NOT_ALLOWED, json!({"error": "method not allowed"}))
                }
                _ => resp,
            })
        })
        .with(CatchPanic::new().with_handler(move |_| {
            panic_metrics.panics.add(1, &[KeyValue::new("subsystem", "http")]);
            json_response(StatusCode::INTERNAL_SERVER_ERROR, json!({"error": "internal"}))
        }))
        // Outermost: request metrics (every answer, including 401/404/500, is counted).
        .around(move |ep, req: Request| {
            let metrics = metrics.clone();
            let api_routes = api_routes.clone();
            async move {
                let started = Instant::now();
                let method = req.method().as_str().to_owned();
                let route = match route_label(req.uri().path()) {
                    "unmatched" => {
                        req.uri().path().strip_prefix("/api").and_then(|p| api_routes.label(p)).unwrap_or("unmatched")
                    }
                    known => known,
                };
                // Exports of the server's own telemetry are not traced (no feedback loop).
                let span = if req.headers().contains_key(otelcontext_otlp::SELF_TELEMETRY_HEADER) {
                    tracing::Span::none()
                } else {
                    tracing::info_span!(
                        "otelcontext.http",
                        otel.name = format!("{method} {route}"),
                        otel.kind = "server",
                        http.request.method = %method,
                        http.route = route,
                        http.response.status_code = tracing::field::Empty,
                    )
                };
                let resp = tracing::Instrument::instrument(ep.get_response(req), span.clone()).await;
                span.record("http.response.status_code", resp.status().as_u16());
                let labels = [
                    KeyValue::new("method", method),
                    KeyValue::new("route", route),
                    KeyValue::new("status", i64::from(resp.status().as_u16())),
                ];
                metrics.requests.add(1, &labels);
                metrics.duration.record(started.elapsed().as_secs_f64(), &labels);
                Ok(resp.into_response())
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protected_paths() {
        for p in ["/v1/traces", "/api/stats", "/api/traces/x", "/mcp", "/mcp/x", "/v1", "/api"] {
            assert!(is_protected(p), "{p}");
        }
        for p in ["/live", "/ready", "/metrics/prometheus", "/openapi.yaml", "/", "/apix", "/v10"] {
            assert!(!is_protected(p), "{p}");
        }
    }

    #[test]
    fn route_labels_have_bounded_cardinality() {
        assert_eq!(route_label("/api/traces/abc"), "/api/traces/{trace_id}");
        assert_eq!(route_label("/api/traces/abc/def"), "unmatched");
        assert_eq!(route_label("/v1/traces"), "/v1/traces");
        assert_eq!(route_label("/random/1234"), "unmatched");
    }
}
