//! The published OpenAPI document: what poem-openapi generates from the routes, plus what the
//! server's middleware answers on every route (401 without a valid key, 429 over the rate
//! limit), the optional bearer scheme, and the refusal of query parameters a route does not
//! take (checked against this same document).

use crate::ErrorBody;
use poem::{Endpoint, IntoResponse, Request, Response};
use poem_openapi::payload::Json;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};

/// The document with the middleware's answers and the security scheme.
pub fn document(generated: &str) -> Value {
    let mut doc: Value = serde_json::from_str(generated).unwrap_or_else(|_| json!({}));
    let error = json!({"application/json; charset=utf-8": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}});
    if let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) {
        for item in paths.values_mut().filter_map(Value::as_object_mut) {
            for op in item.values_mut().filter_map(Value::as_object_mut) {
                for param in op.get_mut("parameters").and_then(Value::as_array_mut).into_iter().flatten() {
                    let example = param.get("name").and_then(Value::as_str).and_then(example_of);
                    if let (Some(example), Some(p)) = (example, param.as_object_mut()) {
                        p.entry("example").or_insert(example);
                    }
                }
                let Some(responses) = op.get_mut("responses").and_then(Value::as_object_mut) else { continue };
                responses.entry("400").or_insert_with(|| {
                    json!({"description": "A parameter is malformed, or the route does not take it.", "content": error})
                });
                responses.entry("401").or_insert_with(|| {
                    json!({
                        "description": "The bearer key is missing or wrong (when API_KEY or API_KEYS_FILE is set).",
                        "content": error,
                    })
                });
                responses.insert(
                    "429".into(),
                    json!({
                        "description": "This client made more than API_RATE_LIMIT_RPS requests a second: retry after `Retry-After` seconds.",
                        "headers": {"Retry-After": {"description": "Seconds to wait.", "schema": {"type": "integer"}}},
                        "content": error,
                    }),
                );
            }
        }
    }
    if let Some(obj) = doc.as_object_mut() {
        let components = obj.entry("components").or_insert_with(|| json!({}));
        if let Some(c) = components.as_object_mut() {
            c.insert(
                "securitySchemes".into(),
                json!({"bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "API_KEY, or a per-tenant key of API_KEYS_FILE (which always acts as its tenant). Not needed when neither is set."
                }}),
            );
        }
        // Bearer, or nothing when the server runs without keys.
        obj.insert("security".into(), json!([{"bearer": []}, {}]));
    }
    doc
}

/// An example value of a parameter, by its name (the same name means the same thing on every
/// route).
fn example_of(name: &str) -> Option<Value> {
    Some(match name {
        "start" => json!("2026-12-07T10:00:00Z"),
        "end" | "before" | "at" => json!("2026-12-07T11:00:00Z"),
        "timestamp" => json!("1796661985238525124"),
        "time_range" => json!("15m"),
        "window" => json!("30s"),
        "step" => json!("1m"),
        "service" | "service_name" | "from" => json!("checkout"),
        "to" => json!("postgresql:orders"),
        "operation" => json!("POST /orders"),
        "trace_id" => json!("5b8efff798038103d269b633813fc60c"),
        "template_id" => json!("b89a95f5c47150d3"),
        "q" | "search" => json!("payment declined"),
        "min_duration" => json!("250ms"),
        "max_duration" => json!("2s"),
        "attribute" => json!("http.route=/checkout"),
        "name" => json!("http.server.request.duration"),
        "signal" => json!("traces"),
        "direction" => json!("downstream"),
        "X-Tenant-ID" => json!("team-a"),
        _ => return None,
    })
}

/// The document as YAML (what `openapi/openapi.yaml` holds).
pub fn yaml(doc: &Value) -> String {
    serde_yaml::to_string(doc).unwrap_or_default()
}

/// A route of the document: its path split into literal and `{parameter}` segments, and the
/// query parameters each method takes.
#[derive(Debug, Clone)]
struct RouteParams {
    /// The path as the document writes it after the mount point, e.g. `/api/traces/{trace_id}`.
    label: &'static str,
    segments: Vec<Option<String>>,
    methods: BTreeMap<String, BTreeSet<String>>,
}

/// The query parameters of every route of the document, to refuse others.
#[derive(Debug, Clone, Default)]
pub struct QueryParams {
    routes: Vec<RouteParams>,
}

impl QueryParams {
    /// The routes of `doc` (paths relative to the API's mount point, which labels carry as
    /// `mount`).
    pub fn of(doc: &Value, mount: &str) -> Self {
        let mut routes = Vec::new();
        for (path, item) in doc.get("paths").and_then(Value::as_object).into_iter().flatten() {
            let segments = path
                .trim_matches('/')
                .split('/')
                .map(|s| if s.starts_with('{') && s.ends_with('}') { None } else { Some(s.to_owned()) })
                .collect();
            let mut methods = BTreeMap::new();
            for (method, op) in item.as_object().into_iter().flatten() {
                let names = op
                    .get("parameters")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter(|p| p.get("in").and_then(Value::as_str) == Some("query"))
                    .filter_map(|p| p.get("name").and_then(Value::as_str).map(str::to_owned))
                    .collect();
                methods.insert(method.to_ascii_lowercase(), names);
            }
            // A route's label lives as long as the server (a fixed, small set), so metrics take
            // it without an allocation per request.
            let label: &'static str = Box::leak(format!("{mount}{path}").into_boxed_str());
            routes.push(RouteParams { label, segments, methods });
        }
        // Literal segments win over parameters (`/logs/context` before `/logs/{id}`).
        routes.sort_by_key(|r| std::cmp::Reverse(r.segments.iter().filter(|s| s.is_some()).count()));
        Self { routes }
    }

    fn route(&self, path: &str) -> Option<&RouteParams> {
        let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
        self.routes
            .iter()
            .filter(|r| r.segments.len() == parts.len())
            .find(|r| r.segments.iter().zip(&parts).all(|(s, p)| s.as_deref().is_none_or(|s| s == *p)))
    }

    /// The query parameters `method path` takes; `None` for a route the document lacks.
    fn allowed(&self, method: &str, path: &str) -> Option<&BTreeSet<String>> {
        self.route(path).and_then(|r| r.methods.get(&method.to_ascii_lowercase()))
    }

    /// The mount point and the document's path of the route `path` belongs to (e.g.
    /// `/api/traces/{trace_id}` for `/traces/5b8e…`): a label of bounded cardinality.
    pub fn label(&self, path: &str) -> Option<&'static str> {
        self.route(path).map(|r| r.label)
    }

    /// The first query parameter of the request its route does not take, with those it takes.
    pub fn unknown(&self, method: &str, path: &str, query: &str) -> Option<(String, Vec<String>)> {
        let allowed = self.allowed(method, path)?;
        query
            .split('&')
            .filter(|kv| !kv.is_empty())
            .map(|kv| kv.split_once('=').map_or(kv, |(k, _)| k))
            .map(percent_decode)
            .find(|k| !allowed.contains(k))
            .map(|k| (k, allowed.iter().cloned().collect()))
    }
}

/// A query key with `%XX` escapes and `+` decoded (keys are ASCII names; anything else is
/// unknown anyway).
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                match u8::from_str_radix(std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz"), 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `endpoint` refusing, with 400, a query parameter its route does not take (a typo such as
/// `servce=` would otherwise be silently ignored and widen the answer).
pub fn refusing_unknown_parameters<E>(params: QueryParams, endpoint: E) -> impl Endpoint<Output = Response>
where
    E: poem::IntoEndpoint,
    E::Endpoint: 'static,
{
    use poem::EndpointExt;
    let params = std::sync::Arc::new(params);
    endpoint.into_endpoint().map_to_response().around(move |ep, req: Request| {
        let params = params.clone();
        async move {
            let query = req.uri().query().unwrap_or_default();
            if let Some((name, allowed)) = params.unknown(req.method().as_str(), req.uri().path(), query) {
                let detail = if allowed.is_empty() {
                    format!("{name:?}: this route takes no query parameters")
                } else {
                    format!("{name:?}: this route takes {}", allowed.join(", "))
                };
                let body = ErrorBody { error: "unknown parameter".into(), detail: Some(detail) };
                return Ok(Json(body).with_status(poem::http::StatusCode::BAD_REQUEST).into_response());
            }
            ep.call(req).await
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc() -> Value {
        json!({"paths": {
            "/logs": {"get": {"parameters": [{"in": "query", "name": "q"}, {"in": "header", "name": "X-Tenant-ID"}], "responses": {"200": {}}}},
            "/logs/{id}": {"get": {"parameters": [{"in": "path", "name": "id"}], "responses": {"200": {}}}},
            "/logs/context": {"get": {"parameters": [{"in": "query", "name": "timestamp"}], "responses": {"200": {}}}}
        }})
    }

    #[test]
    fn unknown_query_parameters_are_found_per_route() {
        let p = QueryParams::of(&doc(), "/api");
        assert_eq!(p.label("/logs/42"), Some("/api/logs/{id}"));
        assert_eq!(p.unknown("GET", "/logs", "q=x"), None);
        assert_eq!(p.unknown("GET", "/logs", "q=x&servce=a"), Some(("servce".into(), vec!["q".into()])));
        assert_eq!(p.unknown("GET", "/logs/context", "timestamp=1"), None);
        assert_eq!(p.unknown("GET", "/logs/context", "q=1").map(|u| u.0), Some("q".into()));
        assert_eq!(p.unknown("GET", "/logs/42", "limit=1").map(|u| u.0), Some("limit".into()));
        assert_eq!(p.unknown("GET", "/nowhere", "x=1"), None, "unknown routes are 404 elsewhere");
        assert_eq!(p.unknown("GET", "/logs", "%71=x"), None, "escaped names decode");
        assert_eq!(p.unknown("GET", "/logs", "q"), None, "a key without a value");
    }

    #[test]
    fn the_document_gains_401_429_and_the_bearer_scheme() {
        let d = document(&doc().to_string());
        let r = &d["paths"]["/logs"]["get"]["responses"];
        assert!(r["401"].is_object() && r["429"]["headers"]["Retry-After"].is_object() && r["400"].is_object());
        assert_eq!(d["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");
        assert_eq!(d["security"], json!([{"bearer": []}, {}]));
    }
}
