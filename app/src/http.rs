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
}

/// The HTTP side's metrics.
struct HttpMetrics {
    requests: Counter<u64>,
    duration: Histogram<f64>,
    auth_failures: Counter<u64>,
    panics: Counter<u64>,
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
        };
        m.panics.add(0, &[KeyValue::new("subsystem", "http")]);
        m
    }
}

/// Paths that require the API key when one is configured.
pub fn is_protected(path: &str) -> bool {
    path == "/v1"
        || path.starts_with("/v1/")
        || path == "/api"
        || path.starts_with("/api/")
        || path == "/mcp"
        || path.starts_with("/mcp/")
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
    let HttpParts { otlp, api, readiness, auth, telemetry, otlp_metrics } = parts;
    let metrics = Arc::new(HttpMetrics::new(&telemetry.meter()));
    let api_service = otelcontext_api::service(api);
    let spec = api_service.spec_yaml();
    let prom_metrics = telemetry;
    let routes = Route::new()
        .nest("/v1", otlp.routes())
        .nest("/api", otelcontext_api::with_json_errors(api_service))
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

    let panic_metrics = metrics.clone();
    let auth_metrics = metrics.clone();
    routes
        // Innermost: authentication of protected paths; the identity goes into the request.
        .around(move |ep, mut req: Request| {
            let auth = auth.clone();
            let metrics = auth_metrics.clone();
            let otlp_metrics = otlp_metrics.clone();
            async move {
                if is_protected(req.uri().path()) {
                    let header = req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
                    match auth.authenticate(header) {
                        Ok(identity) => {
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
            async move {
                let started = Instant::now();
                let method = req.method().as_str().to_owned();
                let route = route_label(req.uri().path());
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
