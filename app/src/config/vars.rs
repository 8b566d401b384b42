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
    var("DB_DRIVER", "sqlite", "Storage backend: sqlite."),
    var(
        "DB_DSN",
        "otelcontext.db",
        "SQLite: database file path (or sqlite:// URL); created with its directory if missing.",
    ),
    var(
        "DB_AUTOMIGRATE",
        "true",
        "Apply schema migrations at start; when false, refuse to start on an outdated schema.",
    ),
    var("OTELCONTEXT_ALLOW_SQLITE_PROD", "false", "Allow SQLite when APP_ENV=production."),
    VarSpec {
        name: "API_KEY",
        default: "",
        help: "Bearer token required on /v1/*, /api/* and OTLP/gRPC; empty disables auth (a warning is logged).",
        secret: true,
    },
    var("DEFAULT_TENANT", "default", "Tenant of data and queries that name none (1-64 of A-Z a-z 0-9 . _ -)."),
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
