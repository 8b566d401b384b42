//! The catalogue of configuration variables: name, default and meaning. It drives parsing
//! defaults, `otelcontext check-config`, and the test that keeps `.env.example` complete.

/// One configuration variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VarSpec {
    pub name: &'static str,
    pub default: &'static str,
    pub help: &'static str,
    /// Redacted in `check-config` output.
    pub secret: bool,
}

const fn var(name: &'static str, default: &'static str, help: &'static str) -> VarSpec {
    VarSpec { name, default, help, secret: false }
}

/// Every variable the server reads.
pub const VARIABLES: &[VarSpec] = &[
    var("APP_ENV", "development", "Deployment environment; `production` turns on production guards."),
    var("LOG_LEVEL", "INFO", "TRACE, DEBUG, INFO, WARN or ERROR."),
    var("LOG_FORMAT", "text", "Log output: text or json."),
    var("HTTP_PORT", "8080", "Port of OTLP/HTTP, the query API, probes and metrics (0 = any free port)."),
    var("GRPC_PORT", "4317", "Port of OTLP/gRPC (0 = any free port)."),
    var("DB_DRIVER", "sqlite", "Storage backend: sqlite, or postgres (also postgresql)."),
    var(
        "DB_DSN",
        "otelcontext.db",
        "SQLite: database file path (created with its directory). Postgres: postgres://user:pass@host:5432/db?sslmode=require or key=value pairs (required).",
    ),
    var(
        "DB_AUTOMIGRATE",
        "true",
        "Apply schema migrations at start; when false, refuse to start on an outdated schema (run `otelcontext migrate`).",
    ),
    var("DB_MAX_OPEN_CONNS", "50", "Postgres: most pool connections (1-10000). SQLite uses one writer and 4 readers."),
    var("DB_MAX_IDLE_CONNS", "10", "Postgres: connections kept open while idle (0-10000); more close after 60 s idle."),
    var(
        "DB_CONN_MAX_LIFETIME",
        "1h",
        "Postgres: longest a connection lives (e.g. 30m, 1h); capped at 30m with DB_AZURE_AUTH.",
    ),
    var(
        "DB_AZURE_AUTH",
        "false",
        "Postgres: authenticate with an Azure Entra token (DSN without password, sslmode require/verify-ca/verify-full).",
    ),
    var(
        "DB_POSTGRES_PARTITIONING",
        "",
        "Postgres: `daily` range-partitions logs by day (new databases only); empty or none for a plain table.",
    ),
    var("DB_PARTITION_LOOKAHEAD_DAYS", "3", "Daily log partitions created ahead of today (0-365)."),
    var("AZURE_TENANT_ID", "", "Entra: directory (tenant) id, for client-secret or workload-identity credentials."),
    var("AZURE_CLIENT_ID", "", "Entra: application or user-assigned managed identity client id."),
    VarSpec {
        name: "AZURE_CLIENT_SECRET",
        default: "",
        help: "Entra: client secret of the application (with AZURE_TENANT_ID and AZURE_CLIENT_ID).",
        secret: true,
    },
    var("AZURE_FEDERATED_TOKEN_FILE", "", "Entra: workload identity token file (set by AKS workload identity)."),
    var("OTELCONTEXT_ALLOW_SQLITE_PROD", "false", "Allow SQLite when APP_ENV=production."),
    var("HOT_RETENTION_DAYS", "7", "Days logs, traces, spans and metrics are kept (1-36500); purged hourly."),
    var("RETENTION_BATCH_SIZE", "50000", "Rows one retention DELETE removes (1-10000000)."),
    var("RETENTION_BATCH_SLEEP_MS", "1", "Pause between retention batches in milliseconds (0-60000)."),
    var(
        "TLS_CERT_FILE",
        "",
        "PEM certificate chain; with TLS_KEY_FILE turns on TLS for HTTP and gRPC (both or neither).",
    ),
    var("TLS_KEY_FILE", "", "PEM private key of TLS_CERT_FILE."),
    var(
        "TLS_AUTO_SELFSIGNED",
        "false",
        "Serve TLS with a generated self-signed ECDSA P-256 certificate (when no TLS_CERT_FILE/TLS_KEY_FILE).",
    ),
    var(
        "TLS_CACHE_DIR",
        "./data/tls",
        "Where the self-signed certificate is kept (cert.pem, key.pem mode 0600, tls.lock).",
    ),
    var("TLS_EXTRA_SANS", "", "Comma-separated extra DNS names or IPs of the self-signed certificate."),
    var(
        "TLS_RELOAD_INTERVAL",
        "30s",
        "How often certificate files are checked for changes (and a self-signed one for expiry); reloaded without a restart.",
    ),
    var(
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "",
        "Self-instrumentation: export the server's own traces and metrics over OTLP to this endpoint (e.g. http://localhost:4317); empty = off.",
    ),
    var("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc", "Self-instrumentation protocol: grpc or http/protobuf."),
    var("OTEL_SERVICE_NAME", "otelcontext", "Self-instrumentation: service.name of the server's own telemetry."),
    var(
        "OTEL_METRIC_EXPORT_INTERVAL",
        "60000",
        "Self-instrumentation: milliseconds between pushes of the server's own metrics (100-3600000).",
    ),
    var("DLQ_PATH", "./data/dlq", "Directory of the dead-letter queue: batches that failed to store, replayed later."),
    var(
        "DLQ_REPLAY_INTERVAL",
        "5m",
        "Time between replay passes and the backoff base (doubling per failure, capped at 30m); must be > 0.",
    ),
    var("DLQ_MAX_FILES", "1000", "Most batches kept; the oldest is evicted beyond it (0 = unlimited)."),
    var(
        "DLQ_MAX_DISK_MB",
        "500",
        "Most MiB the queue takes; the oldest batches are evicted beyond it (0 = unlimited).",
    ),
    var("DLQ_MAX_RETRIES", "10", "Failed replays after which a batch is deleted and counted as dropped (0 = never)."),
    var(
        "METRIC_MAX_CARDINALITY",
        "10000",
        "Most metric series per 30 s window over all tenants; new series past it go to the tenant's __overflow__ series (0 = unlimited).",
    ),
    var(
        "METRIC_MAX_CARDINALITY_PER_TENANT",
        "0",
        "Most metric series of one tenant per 30 s window, checked first; past it, to __overflow__ (0 = unlimited).",
    ),
    var(
        "GRAPHRAG_EVENT_QUEUE_SIZE",
        "100000",
        "Spans waiting for the service-graph workers at most; past it batches are dropped from the graph (not from storage) and counted.",
    ),
    var("GRAPHRAG_WORKER_COUNT", "16", "Tasks folding committed spans into the service graph (1-1024)."),
    var(
        "GRAPHRAG_ENABLED",
        "true",
        "Run the service graph, its anomaly loop and snapshots; false leaves /api/rca with an empty graph.",
    ),
    var(
        "GRAPHRAG_ANOMALY_INTERVAL",
        "10s",
        "How often each service's last minute is checked against its own last half hour for anomalies (at least 1s).",
    ),
    var(
        "GRAPHRAG_ANOMALY_RECOVERY",
        "60s",
        "How long an anomaly's signal must be normal before its investigation is resolved.",
    ),
    var(
        "GRAPHRAG_ANOMALY_MIN_CALLS",
        "20",
        "Calls a service needs in the last minute before its error rate or latency is judged.",
    ),
    var(
        "GRAPHRAG_ANOMALY_ERROR_RATE",
        "0.05",
        "Lowest error rate (0-1) that is an error-rate spike (it must also be twice the baseline and significant).",
    ),
    var(
        "GRAPHRAG_ANOMALY_LATENCY_FACTOR",
        "2.0",
        "p95 latency over the service's baseline p95 that is a latency degradation (and at least 10 ms more).",
    ),
    var(
        "GRAPHRAG_ANOMALY_THROUGHPUT_DROP",
        "0.5",
        "Share of its baseline call rate a service must lose for a throughput drop (0.01-1).",
    ),
    var(
        "GRAPHRAG_ANOMALY_METRIC_ZSCORE",
        "4.0",
        "Baseline standard deviations a service's gauge must move for a metric z-score anomaly.",
    ),
    var(
        "VECTOR_INDEX_MAX_ENTRIES",
        "100000",
        "Most WARN-and-above log records per tenant in the similar-log (TF-IDF) index; the oldest are evicted.",
    ),
    VarSpec {
        name: "API_KEY",
        default: "",
        help: "Bearer token required on /v1/*, /api/* and OTLP/gRPC; empty disables auth (a warning is logged).",
        secret: true,
    },
    var("DEFAULT_TENANT", "default", "Tenant of data and queries that name none (1-64 of A-Z a-z 0-9 . _ -)."),
    var(
        "API_KEYS_FILE",
        "",
        "File of per-tenant keys, one `key tenant` pair a line (# comments); a key always acts as its tenant. Reloaded on change and on SIGHUP.",
    ),
    var("API_KEYS_RELOAD_INTERVAL", "5s", "How often API_KEYS_FILE is checked for changes."),
    VarSpec {
        name: "ADMIN_API_KEY",
        default: "",
        help: "Bearer token the admin routes (DELETE /api/admin/purge, POST /api/admin/vacuum) require; empty disables them.",
        secret: true,
    },
    var(
        "API_RATE_LIMIT_RPS",
        "100",
        "Requests per second (and burst) each client IP may make to /api/* and /mcp; 0 disables. Never applies to OTLP ingest, probes or metrics.",
    ),
    var("MCP_ENABLED", "true", "Serve the MCP server for AI agents (streamable HTTP) at MCP_PATH on the HTTP port."),
    var("MCP_PATH", "/mcp", "Path of the MCP server."),
    var(
        "MCP_MAX_CONCURRENT",
        "32",
        "Tool calls running at once (a slot is held until the tool finishes); past it JSON-RPC -32000 \"server overloaded\". 0 = no limit.",
    ),
    var(
        "MCP_CALL_TIMEOUT_MS",
        "30000",
        "Longest tool call in milliseconds; the tool is cancelled and the call answers JSON-RPC -32001 \"call timeout\". 0 = no limit.",
    ),
    var(
        "MCP_CACHE_TTL_MS",
        "5000",
        "How long the answers of get_service_map, impact_analysis, root_cause_analysis, get_anomaly_timeline and get_service_health are reused, per tenant and arguments (ms; 0 = not cached).",
    ),
    var(
        "MCP_MAX_SESSIONS",
        "1000",
        "MCP sessions open at once; a new one past it gets 503 (idle sessions close after 5 minutes).",
    ),
    var("MCP_MAX_RESULT_BYTES", "65536", "Byte budget of one tool result; longer lists are truncated and say so."),
    var(
        "TRUST_PROXY_HEADERS",
        "false",
        "Take the client IP for rate limiting from X-Forwarded-For / X-Real-IP (only behind a proxy that sets them).",
    ),
    VarSpec {
        name: "CURSOR_SECRET",
        default: "",
        help: "Secret that signs the page cursors of list routes, so they survive restarts and work on every replica given the same one; empty = a random key per process.",
        secret: true,
    },
    var(
        "OTLP_TRUST_RESOURCE_TENANT",
        "false",
        "Let the resource attribute tenant.id choose the tenant when no header does.",
    ),
    var("INGEST_MIN_SEVERITY", "INFO", "Drop log records below this level: TRACE, DEBUG, INFO, WARN, ERROR or FATAL."),
    var("INGEST_ALLOWED_SERVICES", "", "Comma-separated service.name allowlist (empty = all)."),
    var("INGEST_EXCLUDED_SERVICES", "", "Comma-separated service.name denylist, checked before the allowlist."),
    var(
        "INGEST_ASYNC_ENABLED",
        "true",
        "Acknowledge exports once queued; false acknowledges only after the data is committed.",
    ),
    var(
        "INGEST_PIPELINE_QUEUE_SIZE",
        "50000",
        "Ingest queue capacity in records (spans + log records + metric points).",
    ),
    var("INGEST_PIPELINE_WORKERS", "8", "Pipeline workers preparing and committing queued records."),
    var("INGEST_PIPELINE_COMMIT_ITEMS", "10000", "Most records one worker commits in one transaction (group commit)."),
    var("GRPC_MAX_RECV_MB", "16", "Largest OTLP/gRPC message accepted, in MiB (1-256)."),
    var("GRPC_MAX_CONCURRENT_STREAMS", "1000", "HTTP/2 concurrent streams per gRPC connection."),
    var("SAMPLING_RATE", "1.0", "Fraction of healthy traces kept, 0.0-1.0 (decided per trace id)."),
    var("SAMPLING_ALWAYS_ON_ERRORS", "true", "Always keep traces that contain an error span."),
    var(
        "SAMPLING_LATENCY_THRESHOLD_MS",
        "500",
        "Always keep traces with a span at least this slow; 0 turns the rule off.",
    ),
];

/// The default of a known variable.
pub(crate) fn default_of(name: &str) -> &'static str {
    VARIABLES.iter().find(|v| v.name == name).map(|v| v.default).unwrap_or_else(|| panic!("unknown variable {name}"))
}
