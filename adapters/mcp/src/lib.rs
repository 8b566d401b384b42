//! The MCP server for AI agents (rmcp, streamable HTTP): tools over the query and graph use
//! cases, always inside the caller's tenant.
//!
//! The tenant of a call is resolved as on every other surface: the tenant bound to the caller's
//! credential (the HTTP layer authenticates before MCP and leaves the [`Identity`] in the
//! request), else `X-Tenant-ID`, else the default tenant; a credential bound to a tenant naming
//! another is refused. Calls are bounded: at most `max_concurrent` run at once (a slot is held
//! until the tool has finished), each at most `call_timeout` (the tool is cancelled, not left
//! running).

mod tools;

use otelcontext_domain::{TenantHeaderError, TenantId, request_tenant};
use otelcontext_ports::{GraphQueries, Identity, Queries};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ErrorCode, ErrorData, Implementation, ListToolsResult,
    PaginatedRequestParams, ServerCapabilities, ServerConfig,
};
use rmcp::service::RequestContext;
use rmcp::{RoleServer, ServerHandler};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

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
}

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
}

impl McpServer {
    pub fn new(queries: Arc<dyn Queries>, graph: Arc<dyn GraphQueries>, settings: McpSettings) -> Self {
        let slots = (settings.max_concurrent > 0).then(|| Arc::new(Semaphore::new(settings.max_concurrent)));
        Self { inner: Arc::new(Inner { queries, graph, settings, slots }) }
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
        // The slot is held until the call below has finished or has been cancelled (dropped).
        let _slot = match &self.inner.slots {
            Some(s) => Some(s.clone().try_acquire_owned().map_err(|_| {
                ErrorData::new(OVERLOADED, "server overloaded: too many tool calls running; retry shortly", None)
            })?),
            None => None,
        };
        let args = request.arguments.unwrap_or_default();
        let call = tools::call(&self.inner, &tenant, &request.name, args);
        let result: CallToolResult = match self.inner.settings.call_timeout {
            Some(limit) => tokio::time::timeout(limit, call).await.map_err(|_| {
                ErrorData::new(TIMED_OUT, format!("call timeout: {} took longer than {limit:?}", request.name), None)
            })??,
            None => call.await?,
        };
        Ok(result.into())
    }
}

/// The streamable-HTTP service of MCP (sessions, SSE keep-alive every 15 s, idle sessions closed
/// after 5 minutes), to mount at `MCP_PATH`.
pub type McpHttpService = rmcp::transport::streamable_http_server::StreamableHttpService<
    McpServer,
    rmcp::transport::streamable_http_server::session::local::LocalSessionManager,
>;

/// `server` over streamable HTTP. Host names are not checked here: the HTTP layer in front
/// authenticates every request to MCP when keys are configured.
pub fn http_service(server: McpServer) -> McpHttpService {
    use rmcp::transport::streamable_http_server::StreamableHttpServerConfig;
    rmcp::transport::streamable_http_server::StreamableHttpService::new(
        move || Ok(server.clone()),
        Arc::new(Default::default()),
        StreamableHttpServerConfig::default().disable_allowed_hosts(),
    )
}
