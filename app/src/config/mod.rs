//! Configuration: environment variables (with `.env` in the working directory loaded first,
//! never overriding the environment), parsed once into typed settings. Invalid values are
//! startup errors naming the variable, the value and what is accepted.

mod source;
mod vars;

pub use source::EnvSource;
pub use vars::{VARIABLES, VarSpec};

use otelcontext_domain::duration::{format_duration, parse_duration};
use otelcontext_domain::retention::{MAX_RETENTION_DAYS, MIN_RETENTION_DAYS, RetentionPolicy};
use otelcontext_domain::{SeverityLevel, TenantId};
use otelcontext_postgres::AzureSettings;
use std::fmt;
use std::time::Duration;

/// The storage backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbDriver {
    Sqlite,
    Postgres,
}

/// How the Postgres logs table is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Partitioning {
    None,
    Daily,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// Every setting of the server.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub app_env: String,
    pub log_level: String,
    pub log_format: LogFormat,
    pub http_port: u16,
    pub grpc_port: u16,
    pub db_driver: DbDriver,
    pub db_dsn: String,
    pub db_automigrate: bool,
    pub db_max_open_conns: u32,
    pub db_max_idle_conns: u32,
    pub db_conn_max_lifetime: Duration,
    pub db_azure_auth: bool,
    pub db_postgres_partitioning: Partitioning,
    pub db_partition_lookahead_days: u32,
    /// Where the Azure credential chain looks (`AZURE_*`), used with `DB_AZURE_AUTH=true`.
    pub azure: AzureSettings,
    pub retention: RetentionPolicy,
    pub retention_batch_size: usize,
    pub retention_batch_sleep: Duration,
    /// TLS on both listeners, when set.
    pub tls: Option<otelcontext_tls::TlsSource>,
    /// `TLS_AUTO_SELFSIGNED` was set (with files it is overridden, and a notice says so).
    pub tls_auto_selfsigned: bool,
    pub tls_reload_interval: Duration,
    /// Self-instrumentation endpoint (`OTEL_EXPORTER_OTLP_ENDPOINT`); `None` = off.
    pub otel_endpoint: Option<String>,
    /// `OTEL_EXPORTER_OTLP_PROTOCOL` is http/protobuf (else gRPC).
    pub otel_http: bool,
    pub otel_service_name: String,
    pub otel_metric_export_interval: Duration,
    pub dlq_path: std::path::PathBuf,
    pub dlq_replay_interval: Duration,
    pub dlq_max_files: usize,
    pub dlq_max_disk_mb: u64,
    pub dlq_max_retries: u32,
    /// TSDB series per window over all tenants (0 = unlimited).
    pub metric_max_cardinality: usize,
    /// TSDB series per window of one tenant (0 = unlimited).
    pub metric_max_cardinality_per_tenant: usize,
    /// Similar-log index entries per tenant.
    pub vector_index_max_entries: usize,
    /// Spans queued for the service graph at most.
    pub graphrag_event_queue_size: usize,
    pub graphrag_worker_count: usize,
    /// Whether the service graph (and its anomaly loop and snapshots) runs at all.
    pub graphrag_enabled: bool,
    /// How often the anomaly loop runs, and what it counts as an anomaly.
    pub graphrag_anomaly_interval: Duration,
    pub graphrag_anomaly_recovery: Duration,
    pub graphrag_anomaly_min_calls: u64,
    pub graphrag_anomaly_error_rate: f64,
    pub graphrag_anomaly_latency_factor: f64,
    pub graphrag_anomaly_throughput_drop: f64,
    pub graphrag_anomaly_metric_zscore: f64,
    pub allow_sqlite_in_production: bool,
    pub api_key: String,
    /// Signs page cursors (`CURSOR_SECRET`); empty = a random key per process.
    pub cursor_secret: String,
    /// Per-tenant keys (`API_KEYS_FILE`).
    pub api_keys_file: Option<std::path::PathBuf>,
    pub api_keys_reload_interval: Duration,
    /// Bearer token of the admin routes (`ADMIN_API_KEY`); empty disables them.
    pub admin_api_key: String,
    /// Requests per second per client IP on `/api/*` and `/mcp`; 0 disables.
    pub api_rate_limit_rps: u32,
    /// Client IPs from `X-Forwarded-For` / `X-Real-IP`.
    pub trust_proxy_headers: bool,
    /// The MCP server (`MCP_*`).
    pub mcp_enabled: bool,
    pub mcp_path: String,
    pub mcp_max_concurrent: usize,
    /// `None`: no limit.
    pub mcp_call_timeout: Option<Duration>,
    pub mcp_max_result_bytes: usize,
    pub mcp_max_sessions: usize,
    /// `None`: answers are not cached.
    pub mcp_cache_ttl: Option<Duration>,
    pub default_tenant: TenantId,
    pub trust_resource_tenant: bool,
    pub ingest_min_severity: SeverityLevel,
    pub ingest_allowed_services: Vec<String>,
    pub ingest_excluded_services: Vec<String>,
    pub ingest_async: bool,
    pub pipeline_queue_size: usize,
    pub pipeline_workers: usize,
    pub pipeline_commit_items: usize,
    pub grpc_max_recv_mb: usize,
    pub grpc_max_concurrent_streams: u32,
    pub sampling_rate: f64,
    pub sampling_always_on_errors: bool,
    pub sampling_latency_threshold_ms: u64,
}

impl Default for Config {
    /// The documented defaults (what an empty environment gives).
    fn default() -> Self {
        Self::from_source(&EnvSource::empty()).expect("defaults are valid")
    }
}

/// One invalid variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidVar {
    pub variable: &'static str,
    pub value: String,
    pub expected: String,
}

impl fmt::Display for InvalidVar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={:?} is invalid: expected {}", self.variable, self.value, self.expected)
    }
}

/// Every problem found in a configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub problems: Vec<InvalidVar>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "invalid configuration:")?;
        for p in &self.problems {
            writeln!(f, "  - {p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

/// Reads variables through a source and collects every problem.
struct Reader<'a> {
    source: &'a EnvSource,
    problems: Vec<InvalidVar>,
}

impl Reader<'_> {
    fn raw(&self, name: &'static str) -> Option<String> {
        self.source.get(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
    }

    fn bad(&mut self, variable: &'static str, value: &str, expected: impl Into<String>) {
        self.problems.push(InvalidVar { variable, value: value.to_owned(), expected: expected.into() });
    }

    fn string(&mut self, name: &'static str) -> String {
        self.raw(name).unwrap_or_else(|| vars::default_of(name).to_owned())
    }

    fn int<T>(&mut self, name: &'static str, min: T, max: T) -> T
    where
        T: std::str::FromStr + PartialOrd + Copy + fmt::Display,
    {
        let default: T = vars::default_of(name).parse().ok().expect("numeric default");
        let Some(raw) = self.raw(name) else { return default };
        match raw.parse::<T>() {
            Ok(v) if v >= min && v <= max => v,
            _ => {
                self.bad(name, &raw, format!("an integer from {min} to {max}"));
                default
            }
        }
    }

    fn float(&mut self, name: &'static str, min: f64, max: f64) -> f64 {
        let default: f64 = vars::default_of(name).parse().expect("numeric default");
        let Some(raw) = self.raw(name) else { return default };
        match raw.parse::<f64>() {
            Ok(v) if v.is_finite() && v >= min && v <= max => v,
            _ => {
                self.bad(name, &raw, format!("a number from {min} to {max}"));
                default
            }
        }
    }

    fn boolean(&mut self, name: &'static str) -> bool {
        let default = parse_bool(vars::default_of(name)).expect("boolean default");
        let Some(raw) = self.raw(name) else { return default };
        match parse_bool(&raw) {
            Some(v) => v,
            None => {
                self.bad(name, &raw, "true or false (also 1/0, yes/no, on/off)");
                default
            }
        }
    }

    fn duration(&mut self, name: &'static str, min: Duration) -> Duration {
        let default = parse_duration(vars::default_of(name)).expect("duration default");
        let Some(raw) = self.raw(name) else { return default };
        match parse_duration(&raw) {
            Ok(d) if d >= min => d,
            _ => {
                self.bad(name, &raw, format!("a duration of at least {} such as 30m, 1h or 90s", format_duration(min)));
                default
            }
        }
    }

    fn optional(&mut self, name: &'static str) -> Option<String> {
        self.raw(name)
    }

    fn list(&mut self, name: &'static str) -> Vec<String> {
        self.raw(name)
            .map(|v| v.split(',').map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect())
            .unwrap_or_default()
    }

    fn one_of(&mut self, name: &'static str, allowed: &[&str]) -> String {
        let raw = self.string(name);
        let lower = raw.to_ascii_lowercase();
        if allowed.contains(&lower.as_str()) {
            lower
        } else {
            self.bad(name, &raw, format!("one of {}", allowed.join(", ")));
            vars::default_of(name).to_ascii_lowercase()
        }
    }
}

/// Parses the boolean spellings we accept.
pub fn parse_bool(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" | "t" | "y" => Some(true),
        "false" | "0" | "no" | "off" | "f" | "n" => Some(false),
        _ => None,
    }
}

impl Config {
    /// Reads the process environment, with `.env` from the working directory underneath it.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_source(&EnvSource::process_with_dotenv(std::path::Path::new(".env")))
    }

    /// Reads any source (tests use a map).
    pub fn from_source(source: &EnvSource) -> Result<Self, ConfigError> {
        let mut r = Reader { source, problems: Vec::new() };
        let app_env = r.string("APP_ENV");
        let log_level = r.one_of("LOG_LEVEL", &["trace", "debug", "info", "warn", "error"]);
        let log_format = match r.one_of("LOG_FORMAT", &["text", "json"]).as_str() {
            "json" => LogFormat::Json,
            _ => LogFormat::Text,
        };
        let http_port = r.int::<u16>("HTTP_PORT", 0, u16::MAX);
        let grpc_port = r.int::<u16>("GRPC_PORT", 0, u16::MAX);
        let db_driver = match r.one_of("DB_DRIVER", &["sqlite", "postgres", "postgresql"]).as_str() {
            "sqlite" => DbDriver::Sqlite,
            _ => DbDriver::Postgres,
        };
        let dsn_given = r.raw("DB_DSN");
        let db_dsn = dsn_given.clone().unwrap_or_else(|| vars::default_of("DB_DSN").to_owned());
        let db_automigrate = r.boolean("DB_AUTOMIGRATE");
        let db_max_open_conns = r.int::<u32>("DB_MAX_OPEN_CONNS", 1, 10_000);
        let db_max_idle_conns = r.int::<u32>("DB_MAX_IDLE_CONNS", 0, 10_000);
        let db_conn_max_lifetime = r.duration("DB_CONN_MAX_LIFETIME", Duration::from_secs(1));
        let db_azure_auth = r.boolean("DB_AZURE_AUTH");
        let db_postgres_partitioning = match r.one_of("DB_POSTGRES_PARTITIONING", &["", "none", "daily"]).as_str() {
            "daily" => Partitioning::Daily,
            _ => Partitioning::None,
        };
        let db_partition_lookahead_days = r.int::<u32>("DB_PARTITION_LOOKAHEAD_DAYS", 0, 365);
        let azure = AzureSettings {
            tenant_id: r.optional("AZURE_TENANT_ID"),
            client_id: r.optional("AZURE_CLIENT_ID"),
            client_secret: r.optional("AZURE_CLIENT_SECRET"),
            federated_token_file: r.optional("AZURE_FEDERATED_TOKEN_FILE").map(std::path::PathBuf::from),
        };
        let retention_days = r.int::<u32>("HOT_RETENTION_DAYS", MIN_RETENTION_DAYS, MAX_RETENTION_DAYS);
        let retention = RetentionPolicy::new(retention_days).expect("validated range");
        let retention_batch_size = r.int::<usize>("RETENTION_BATCH_SIZE", 1, 10_000_000);
        let retention_batch_sleep = Duration::from_millis(r.int::<u64>("RETENTION_BATCH_SLEEP_MS", 0, 60_000));
        let tls_cert = r.optional("TLS_CERT_FILE");
        let tls_key = r.optional("TLS_KEY_FILE");
        let tls_auto_selfsigned = r.boolean("TLS_AUTO_SELFSIGNED");
        let tls_cache_dir = std::path::PathBuf::from(r.string("TLS_CACHE_DIR"));
        let tls_extra_sans = r.list("TLS_EXTRA_SANS");
        let tls_reload_interval = r.duration("TLS_RELOAD_INTERVAL", Duration::from_millis(100));
        let mut readable = |var: &'static str, path: &str| {
            if let Err(e) = std::fs::File::open(path) {
                r.bad(var, path, format!("a readable file ({e})"));
            }
        };
        let tls = match (tls_cert, tls_key) {
            (Some(cert), Some(key)) => {
                readable("TLS_CERT_FILE", &cert);
                readable("TLS_KEY_FILE", &key);
                Some(otelcontext_tls::TlsSource::Files { cert: cert.into(), key: key.into() })
            }
            (Some(_), None) => {
                r.bad("TLS_KEY_FILE", "", "set together with TLS_CERT_FILE (both or neither)");
                None
            }
            (None, Some(_)) => {
                r.bad("TLS_CERT_FILE", "", "set together with TLS_KEY_FILE (both or neither)");
                None
            }
            (None, None) if tls_auto_selfsigned => {
                Some(otelcontext_tls::TlsSource::SelfSigned { cache_dir: tls_cache_dir, extra_sans: tls_extra_sans })
            }
            (None, None) => None,
        };
        let otel_endpoint = r.optional("OTEL_EXPORTER_OTLP_ENDPOINT");
        if let Some(e) = &otel_endpoint
            && !(e.starts_with("http://") || e.starts_with("https://"))
        {
            r.bad("OTEL_EXPORTER_OTLP_ENDPOINT", e, "a URL starting with http:// or https://");
        }
        let otel_http = r.one_of("OTEL_EXPORTER_OTLP_PROTOCOL", &["grpc", "http/protobuf"]) == "http/protobuf";
        let otel_service_name = r.string("OTEL_SERVICE_NAME");
        let otel_metric_export_interval =
            Duration::from_millis(r.int::<u64>("OTEL_METRIC_EXPORT_INTERVAL", 100, 3_600_000));
        let dlq_path = std::path::PathBuf::from(r.string("DLQ_PATH"));
        let dlq_replay_interval = r.duration("DLQ_REPLAY_INTERVAL", Duration::from_millis(1));
        let dlq_max_files = r.int::<usize>("DLQ_MAX_FILES", 0, 10_000_000);
        let dlq_max_disk_mb = r.int::<u64>("DLQ_MAX_DISK_MB", 0, 100_000_000);
        let dlq_max_retries = r.int::<u32>("DLQ_MAX_RETRIES", 0, 1_000_000);
        let metric_max_cardinality = r.int::<usize>("METRIC_MAX_CARDINALITY", 0, 100_000_000);
        let metric_max_cardinality_per_tenant = r.int::<usize>("METRIC_MAX_CARDINALITY_PER_TENANT", 0, 100_000_000);
        let vector_index_max_entries = r.int::<usize>("VECTOR_INDEX_MAX_ENTRIES", 1, 100_000_000);
        let graphrag_event_queue_size = r.int::<usize>("GRAPHRAG_EVENT_QUEUE_SIZE", 1, 100_000_000);
        let graphrag_worker_count = r.int::<usize>("GRAPHRAG_WORKER_COUNT", 1, 1_024);
        let graphrag_enabled = r.boolean("GRAPHRAG_ENABLED");
        let graphrag_anomaly_interval = r.duration("GRAPHRAG_ANOMALY_INTERVAL", Duration::from_secs(1));
        let graphrag_anomaly_recovery = r.duration("GRAPHRAG_ANOMALY_RECOVERY", Duration::from_secs(0));
        let graphrag_anomaly_min_calls = r.int::<u64>("GRAPHRAG_ANOMALY_MIN_CALLS", 1, 1_000_000);
        let graphrag_anomaly_error_rate = r.float("GRAPHRAG_ANOMALY_ERROR_RATE", 0.0, 1.0);
        let graphrag_anomaly_latency_factor = r.float("GRAPHRAG_ANOMALY_LATENCY_FACTOR", 1.0, 1_000.0);
        let graphrag_anomaly_throughput_drop = r.float("GRAPHRAG_ANOMALY_THROUGHPUT_DROP", 0.01, 1.0);
        let graphrag_anomaly_metric_zscore = r.float("GRAPHRAG_ANOMALY_METRIC_ZSCORE", 1.0, 1_000.0);
        let allow_sqlite_in_production = r.boolean("OTELCONTEXT_ALLOW_SQLITE_PROD");
        let api_key = r.raw("API_KEY").unwrap_or_default();
        let cursor_secret = r.raw("CURSOR_SECRET").unwrap_or_default();
        let api_keys_file = r.raw("API_KEYS_FILE").map(std::path::PathBuf::from);
        let api_keys_reload_interval = r.duration("API_KEYS_RELOAD_INTERVAL", Duration::from_millis(100));
        let admin_api_key = r.raw("ADMIN_API_KEY").unwrap_or_default();
        let api_rate_limit_rps = r.int::<u32>("API_RATE_LIMIT_RPS", 0, 1_000_000);
        let trust_proxy_headers = r.boolean("TRUST_PROXY_HEADERS");
        let mcp_enabled = r.boolean("MCP_ENABLED");
        let mcp_path_raw = r.string("MCP_PATH");
        let mcp_path = if mcp_path_raw.starts_with('/')
            && mcp_path_raw.len() > 1
            && !mcp_path_raw.ends_with('/')
            && !["/api", "/v1", "/metrics", "/live", "/ready", "/openapi.yaml"]
                .iter()
                .any(|p| mcp_path_raw == *p || mcp_path_raw.starts_with(&format!("{p}/")))
        {
            mcp_path_raw
        } else {
            r.bad("MCP_PATH", &mcp_path_raw, "a path such as /mcp, outside /api, /v1, /metrics and the probes");
            "/mcp".to_owned()
        };
        let mcp_max_concurrent = r.int::<usize>("MCP_MAX_CONCURRENT", 0, 100_000);
        let mcp_call_timeout =
            Some(r.int::<u64>("MCP_CALL_TIMEOUT_MS", 0, 3_600_000)).filter(|ms| *ms > 0).map(Duration::from_millis);
        let mcp_max_result_bytes = r.int::<usize>("MCP_MAX_RESULT_BYTES", 1_024, 16 * 1_024 * 1_024);
        let mcp_max_sessions = r.int::<usize>("MCP_MAX_SESSIONS", 1, 1_000_000);
        let mcp_cache_ttl =
            Some(r.int::<u64>("MCP_CACHE_TTL_MS", 0, 3_600_000)).filter(|ms| *ms > 0).map(Duration::from_millis);
        let default_tenant_raw = r.string("DEFAULT_TENANT");
        let default_tenant = TenantId::parse(&default_tenant_raw).unwrap_or_else(|e| {
            r.bad("DEFAULT_TENANT", &default_tenant_raw, format!("1-64 characters of A-Z a-z 0-9 . _ - ({e})"));
            TenantId::parse("default").expect("valid")
        });
        let trust_resource_tenant = r.boolean("OTLP_TRUST_RESOURCE_TENANT");
        let severity_raw = r.string("INGEST_MIN_SEVERITY");
        let ingest_min_severity = SeverityLevel::parse_config(&severity_raw).unwrap_or_else(|| {
            r.bad("INGEST_MIN_SEVERITY", &severity_raw, "one of TRACE, DEBUG, INFO, WARN, ERROR, FATAL");
            SeverityLevel::Info
        });
        let ingest_allowed_services = r.list("INGEST_ALLOWED_SERVICES");
        let ingest_excluded_services = r.list("INGEST_EXCLUDED_SERVICES");
        let ingest_async = r.boolean("INGEST_ASYNC_ENABLED");
        let pipeline_queue_size = r.int::<usize>("INGEST_PIPELINE_QUEUE_SIZE", 1, 10_000_000);
        let pipeline_workers = r.int::<usize>("INGEST_PIPELINE_WORKERS", 1, 256);
        let pipeline_commit_items = r.int::<usize>("INGEST_PIPELINE_COMMIT_ITEMS", 1, 1_000_000);
        let grpc_max_recv_mb = r.int::<usize>("GRPC_MAX_RECV_MB", 1, 256);
        let grpc_max_concurrent_streams = r.int::<u32>("GRPC_MAX_CONCURRENT_STREAMS", 1, 1_000_000);
        let sampling_rate = r.float("SAMPLING_RATE", 0.0, 1.0);
        let sampling_always_on_errors = r.boolean("SAMPLING_ALWAYS_ON_ERRORS");
        let sampling_latency_threshold_ms = r.int::<u64>("SAMPLING_LATENCY_THRESHOLD_MS", 0, 86_400_000);

        let cfg = Self {
            app_env,
            log_level,
            log_format,
            http_port,
            grpc_port,
            db_driver,
            db_dsn,
            db_automigrate,
            db_max_open_conns,
            db_max_idle_conns,
            db_conn_max_lifetime,
            db_azure_auth,
            db_postgres_partitioning,
            db_partition_lookahead_days,
            azure,
            retention,
            retention_batch_size,
            retention_batch_sleep,
            tls,
            tls_auto_selfsigned,
            tls_reload_interval,
            otel_endpoint,
            otel_http,
            otel_service_name,
            otel_metric_export_interval,
            dlq_path,
            dlq_replay_interval,
            dlq_max_files,
            metric_max_cardinality,
            metric_max_cardinality_per_tenant,
            vector_index_max_entries,
            graphrag_event_queue_size,
            graphrag_worker_count,
            graphrag_enabled,
            graphrag_anomaly_interval,
            graphrag_anomaly_recovery,
            graphrag_anomaly_min_calls,
            graphrag_anomaly_error_rate,
            graphrag_anomaly_latency_factor,
            graphrag_anomaly_throughput_drop,
            graphrag_anomaly_metric_zscore,
            dlq_max_disk_mb,
            dlq_max_retries,
            allow_sqlite_in_production,
            api_key,
            cursor_secret,
            api_keys_file,
            api_keys_reload_interval,
            admin_api_key,
            api_rate_limit_rps,
            trust_proxy_headers,
            mcp_enabled,
            mcp_path,
            mcp_max_concurrent,
            mcp_call_timeout,
            mcp_max_result_bytes,
            mcp_max_sessions,
            mcp_cache_ttl,
            default_tenant,
            trust_resource_tenant,
            ingest_min_severity,
            ingest_allowed_services,
            ingest_excluded_services,
            ingest_async,
            pipeline_queue_size,
            pipeline_workers,
            pipeline_commit_items,
            grpc_max_recv_mb,
            grpc_max_concurrent_streams,
            sampling_rate,
            sampling_always_on_errors,
            sampling_latency_threshold_ms,
        };
        if cfg.db_driver == DbDriver::Sqlite && cfg.is_production() && !cfg.allow_sqlite_in_production {
            r.bad(
                "DB_DRIVER",
                "sqlite",
                "postgres when APP_ENV=production: SQLite has a single writer; set OTELCONTEXT_ALLOW_SQLITE_PROD=true to run SQLite in production anyway",
            );
        }
        match cfg.db_driver {
            DbDriver::Postgres => match dsn_given.as_deref().map(otelcontext_postgres::parse_dsn) {
                None => r.bad(
                    "DB_DSN",
                    "",
                    "a PostgreSQL URL (postgres://user@host:5432/db) or key=value pairs when DB_DRIVER=postgres",
                ),
                Some(Err(e)) => r.bad("DB_DSN", &otelcontext_postgres::redact_dsn(&cfg.db_dsn), e),
                Some(Ok(parsed)) if cfg.db_azure_auth => {
                    if let Err(e) = otelcontext_postgres::validate_entra_dsn(&parsed) {
                        r.bad("DB_DSN", &otelcontext_postgres::redact_dsn(&cfg.db_dsn), e);
                    }
                }
                Some(Ok(_)) => {}
            },
            DbDriver::Sqlite => {
                if cfg.db_azure_auth {
                    r.bad(
                        "DB_AZURE_AUTH",
                        "true",
                        "false unless DB_DRIVER=postgres (Entra authentication is for PostgreSQL)",
                    );
                }
                if cfg.db_postgres_partitioning == Partitioning::Daily {
                    r.bad("DB_POSTGRES_PARTITIONING", "daily", "empty or none unless DB_DRIVER=postgres");
                }
            }
        }
        if r.problems.is_empty() { Ok(cfg) } else { Err(ConfigError { problems: r.problems }) }
    }

    /// `APP_ENV=production` (case-insensitive).
    pub fn is_production(&self) -> bool {
        self.app_env.eq_ignore_ascii_case("production")
    }

    /// The slow-span threshold; `None` when the rule is off (0).
    pub fn latency_threshold(&self) -> Option<Duration> {
        (self.sampling_latency_threshold_ms > 0).then(|| Duration::from_millis(self.sampling_latency_threshold_ms))
    }

    /// The effective configuration as `NAME=value` lines, secrets redacted.
    pub fn render_effective(&self, source: &EnvSource) -> String {
        let mut out = String::new();
        for v in VARIABLES {
            let value = source.get(v.name).map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
            let origin = if value.is_some() { "set" } else { "default" };
            let shown = match (&value, v.secret) {
                (Some(_), true) => "<redacted>".to_owned(),
                (Some(s), false) if v.name == "DB_DSN" => otelcontext_postgres::redact_dsn(s),
                (Some(s), false) => s.clone(),
                (None, _) => v.default.to_owned(),
            };
            out.push_str(&format!("{}={}  # {}\n", v.name, shown, origin));
        }
        out
    }
}

#[cfg(test)]
mod tests;
