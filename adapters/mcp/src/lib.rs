//! The MCP server for AI agents (rmcp, streamable HTTP): tools over the query and graph use
//! cases, always inside the caller's tenant.
//!
//! The tenant of a call is resolved as on every other surface: the tenant bound to the caller's
//! credential (the HTTP layer authenticates before MCP and leaves the [`Identity`] in the
//! request), else `X-Tenant-ID`, else the default tenant; a credential bound to a tenant naming
//! another is refused. Calls are bounded: at most `max_concurrent` run at once (a slot is held
//! until the tool has finished), each at most `call_timeout` (the tool is cancelled, not left
//! running).

mod cache;
mod tools;

use otelcontext_domain::{TenantHeaderError, TenantId, request_tenant};
use otelcontext_ports::{GraphQueries, Identity, Queries};
use otelcontext_telemetry::{Counter, Histogram, KeyValue, Meter, counter, histogram};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, ErrorCode, ErrorData, Implementation, ListToolsResult,
    PaginatedRequestParams, ServerCapabilities, ServerConfig,
};
use rmcp::service::RequestContext;
use rmcp::{RoleServer, ServerHandler};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

pub use cache::CACHED_TOOLS;
pub use tools::{TOOL_NAMES, tool_definitions};

/// JSON-RPC error of a call refused because `max_concurrent` calls are running.
pub const OVERLOADED: ErrorCode = ErrorCode(-32000);
/// JSON-RPC error of a call that ran past `call_timeout` (and was cancelled).
pub const TIMED_OUT: ErrorCode = ErrorCode(-32001);

/// Limits of the MCP server.
#[derive(Debug, Clone)]
pub struct McpSettings {
    pub default_tenant: TenantId,
    /// Calls running at once; 0: no limit.
    pub max_concurrent: usize,
    /// Longest call; `None`: no limit.
    pub call_timeout: Option<Duration>,
    /// Largest structured result a tool returns before it truncates its list.
    pub max_result_bytes: usize,
    /// Signs the cursors the tools hand out (bound to the tenant and the tool).
    pub cursor_key: otelcontext_ports::CursorKey,
    /// How long the answers of [`CACHED_TOOLS`] are kept; `None`: not kept.
    pub cache_ttl: Option<Duration>,
}

/// Answers the memo holds at most.
pub const MAX_CACHED_RESULTS: usize = 1_024;

/// The tools' use cases and limits; cheap to clone (one per session).
#[derive(Clone)]
pub struct McpServer {
    inner: Arc<Inner>,
}

struct Inner {
    queries: Arc<dyn Queries>,
    graph: Arc<dyn GraphQueries>,
    settings: McpSettings,
    slots: Option<Arc<Semaphore>>,
    cache: Option<cache::ResultCache<ErrorData>>,
    metrics: McpMetrics,
}

/// The MCP server's metrics.
struct McpMetrics {
    calls: Counter<u64>,
    duration: Histogram<f64>,
    cache: Counter<u64>,
}

impl McpMetrics {
    fn new(meter: &Meter) -> Self {
        let calls = counter(
            meter,
            "otelcontext_mcp_calls_total",
            "MCP tool calls by tool and outcome: ok, tool_error (bad arguments, not found), error, overloaded, timeout.",
        );
        for outcome in ["ok", "tool_error", "error", "overloaded", "timeout"] {
            calls.add(0, &[KeyValue::new("tool", "get_service_map"), KeyValue::new("outcome", outcome)]);
        }
        let duration = histogram(
            meter,
            "otelcontext_mcp_call_duration_seconds",
            "MCP tool call latency by tool.",
            otelcontext_telemetry::LATENCY_BUCKETS,
        );
        let cache = counter(
            meter,
            "otelcontext_mcp_cache_total",
            "Lookups of the MCP answer memo (MCP_CACHE_TTL_MS): hit, miss, bypass (full).",
        );
        for result in ["hit", "miss", "bypass"] {
            cache.add(0, &[KeyValue::new("result", result)]);
        }
        Self { calls, duration, cache }
    }
}

/// Why a guarded call did not run to its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// Every slot was taken.
    Overloaded,
    /// It ran past the limit and was cancelled.
    TimedOut,
}

/// Runs `call` in one of `slots` (refused when none is free; the slot is held until the call
/// has finished or, past `timeout`, has been cancelled by dropping it).
pub async fn guarded<T>(
    slots: Option<&Arc<Semaphore>>,
    timeout: Option<Duration>,
    call: impl std::future::Future<Output = T>,
) -> Result<T, Refused> {
    let _slot = match slots {
        Some(s) => Some(s.clone().try_acquire_owned().map_err(|_| Refused::Overloaded)?),
        None => None,
    };
    match timeout {
        Some(limit) => tokio::time::timeout(limit, call).await.map_err(|_| Refused::TimedOut),
        None => Ok(call.await),
    }
}

impl McpServer {
    pub fn new(queries: Arc<dyn Queries>, graph: Arc<dyn GraphQueries>, settings: McpSettings, meter: &Meter) -> Self {
        let slots = (settings.max_concurrent > 0).then(|| Arc::new(Semaphore::new(settings.max_concurrent)));
        let cache = settings.cache_ttl.map(|ttl| cache::ResultCache::new(ttl, MAX_CACHED_RESULTS));
        Self { inner: Arc::new(Inner { queries, graph, settings, slots, cache, metrics: McpMetrics::new(meter) }) }
    }

    /// The caller's tenant, from the HTTP request the call came in.
    fn tenant(&self, ctx: &RequestContext<RoleServer>) -> Result<TenantId, ErrorData> {
        let parts = ctx.extensions.get::<http::request::Parts>();
        let bound = parts.and_then(|p| p.extensions.get::<Identity>()).and_then(|i| i.tenant.as_ref());
        let header = parts.and_then(|p| p.headers.get("x-tenant-id")).and_then(|v| v.to_str().ok());
        match request_tenant(bound, header) {
            Ok(t) => Ok(t.unwrap_or_else(|| self.inner.settings.default_tenant.clone())),
            Err(e @ TenantHeaderError::NotYours { .. }) => Err(ErrorData::invalid_request(e.to_string(), None)),
            Err(TenantHeaderError::Invalid { reason, .. }) => {
                Err(ErrorData::invalid_request(format!("invalid X-Tenant-ID: {reason}"), None))
            }
        }
    }
}

impl ServerHandler for McpServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("otelcontext", env!("CARGO_PKG_VERSION")))
            .with_instructions(
                "Observability data of one tenant (traces, logs, metrics) and its live service graph. \
                 Start with get_service_map or root_cause_analysis, then drill into traces and logs.",
            )
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult { tools: tool_definitions(), ..Default::default() })
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let tenant = self.tenant(&context)?;
        let inner = &self.inner;
        let tool = if tools::TOOL_NAMES.contains(&request.name.as_ref()) {
            request.name.to_string()
        } else {
            "unknown".into()
        };
        let started = std::time::Instant::now();
        let args = request.arguments.unwrap_or_default();
        let name: &str = &request.name;
        let call = async {
            match &inner.cache {
                Some(memo) if cache::CACHED_TOOLS.contains(&name) => {
                    let canonical = serde_json::Value::Object(args.clone()).to_string();
                    let (result, lookup) =
                        memo.get_or_compute(&tenant, name, canonical, || tools::call(inner, &tenant, name, args)).await;
                    let label = match lookup {
                        cache::Lookup::Hit => "hit",
                        cache::Lookup::Miss => "miss",
                        cache::Lookup::Bypass => "bypass",
                    };
                    inner.metrics.cache.add(1, &[KeyValue::new("result", label)]);
                    result
                }
                _ => tools::call(inner, &tenant, name, args).await,
            }
        };
        let outcome = guarded(inner.slots.as_ref(), inner.settings.call_timeout, call).await;
        let label = match &outcome {
            Ok(Ok(r)) if r.is_error == Some(true) => "tool_error",
            Ok(Ok(_)) => "ok",
            Ok(Err(_)) => "error",
            Err(Refused::Overloaded) => "overloaded",
            Err(Refused::TimedOut) => "timeout",
        };
        let labels = [KeyValue::new("tool", tool), KeyValue::new("outcome", label)];
        inner.metrics.calls.add(1, &labels);
        inner.metrics.duration.record(started.elapsed().as_secs_f64(), &labels[..1]);
        match outcome {
            Ok(result) => Ok(result?.into()),
            Err(Refused::Overloaded) => {
                Err(ErrorData::new(OVERLOADED, "server overloaded: too many tool calls running; retry shortly", None))
            }
            Err(Refused::TimedOut) => Err(ErrorData::new(
                TIMED_OUT,
                format!("call timeout: {} ran longer than MCP_CALL_TIMEOUT_MS and was cancelled", request.name),
                None,
            )),
        }
    }
}

/// The streamable-HTTP service of MCP (sessions, SSE keep-alive every 15 s, idle sessions closed
/// after 5 minutes), to mount at `MCP_PATH`.
pub type McpHttpService = rmcp::transport::streamable_http_server::StreamableHttpService<
    McpServer,
    rmcp::transport::streamable_http_server::session::local::LocalSessionManager,
>;

/// The sessions of an [`McpHttpService`], to bound how many are open.
#[derive(Clone)]
pub struct McpSessions(Arc<rmcp::transport::streamable_http_server::session::local::LocalSessionManager>);

impl McpSessions {
    /// Sessions open now.
    pub async fn open(&self) -> usize {
        self.0.sessions.read().await.len()
    }
}

/// `server` over streamable HTTP, and its sessions. Host names are not checked here: the HTTP
/// layer in front authenticates every request to MCP when keys are configured.
pub fn http_service(server: McpServer) -> (McpHttpService, McpSessions) {
    use rmcp::transport::streamable_http_server::StreamableHttpServerConfig;
    let sessions = Arc::new(rmcp::transport::streamable_http_server::session::local::LocalSessionManager::default());
    let service = rmcp::transport::streamable_http_server::StreamableHttpService::new(
        move || Ok(server.clone()),
        sessions.clone(),
        StreamableHttpServerConfig::default().disable_allowed_hosts(),
    );
    (service, McpSessions(sessions))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};

    /// Sets its flag when dropped: the call was cancelled or finished.
    struct Dropped(Arc<AtomicBool>);
    impl Drop for Dropped {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_slot_is_held_until_the_call_ends_and_a_timed_out_call_is_cancelled() {
        let slots = Arc::new(Semaphore::new(1));
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let running = {
            let slots = slots.clone();
            tokio::spawn(async move { guarded(Some(&slots), None, async move { rx.await.ok() }).await })
        };
        tokio::task::yield_now().await;
        // The first call holds the only slot while it runs.
        assert_eq!(guarded(Some(&slots), None, async { 1 }).await, Err(Refused::Overloaded));
        tx.send(()).unwrap();
        assert!(running.await.unwrap().is_ok());
        assert_eq!(guarded(Some(&slots), None, async { 2 }).await, Ok(2), "the slot is free again");

        // Past the timeout the call is dropped (cancelled), and its slot is free at once.
        let cancelled = Arc::new(AtomicBool::new(false));
        let flag = Dropped(cancelled.clone());
        let slow = async move {
            let _flag = flag;
            tokio::time::sleep(Duration::from_secs(60)).await;
            3
        };
        assert_eq!(guarded(Some(&slots), Some(Duration::from_millis(10)), slow).await, Err(Refused::TimedOut));
        assert!(cancelled.load(Ordering::SeqCst), "the tool was cancelled, not left running");
        assert_eq!(slots.available_permits(), 1);
        assert_eq!(guarded(None, None, async { 4 }).await, Ok(4), "no limits");
    }
}
