use super::*;
use std::collections::BTreeSet;

fn cfg(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
    Config::from_source(&EnvSource::from_pairs(pairs.iter().map(|(k, v)| (*k, *v))))
}

#[test]
fn an_empty_environment_gives_the_documented_defaults() {
    let c = Config::default();
    assert_eq!((c.http_port, c.grpc_port), (8080, 4317));
    assert_eq!((c.db_driver, c.db_dsn.as_str(), c.db_automigrate), (DbDriver::Sqlite, "otelcontext.db", true));
    assert_eq!(c.default_tenant.as_str(), "default");
    assert_eq!(c.ingest_min_severity, SeverityLevel::Info);
    assert!(c.ingest_async);
    assert_eq!((c.pipeline_queue_size, c.pipeline_workers, c.pipeline_commit_items), (50_000, 8, 10_000));
    assert_eq!((c.grpc_max_recv_mb, c.grpc_max_concurrent_streams), (16, 1000));
    assert_eq!((c.sampling_rate, c.sampling_always_on_errors, c.sampling_latency_threshold_ms), (1.0, true, 500));
    assert_eq!((c.log_level.as_str(), c.log_format), ("info", LogFormat::Text));
    assert!(c.api_key.is_empty());
}

#[test]
fn invalid_values_name_the_variable_the_value_and_the_range() {
    let cases: &[(&str, &str, &str)] = &[
        ("HTTP_PORT", "http", "an integer from 0 to 65535"),
        ("HTTP_PORT", "70000", "an integer from 0 to 65535"),
        ("GRPC_PORT", "-1", "an integer from 0 to 65535"),
        ("GRPC_MAX_RECV_MB", "0", "an integer from 1 to 256"),
        ("GRPC_MAX_RECV_MB", "257", "an integer from 1 to 256"),
        ("GRPC_MAX_CONCURRENT_STREAMS", "0", "an integer from 1 to 1000000"),
        ("SAMPLING_RATE", "1.5", "a number from 0 to 1"),
        ("SAMPLING_RATE", "NaN", "a number from 0 to 1"),
        ("SAMPLING_LATENCY_THRESHOLD_MS", "-5", "an integer from 0 to 86400000"),
        ("INGEST_PIPELINE_QUEUE_SIZE", "0", "an integer from 1 to 10000000"),
        ("INGEST_PIPELINE_WORKERS", "lots", "an integer from 1 to 256"),
        ("INGEST_ASYNC_ENABLED", "maybe", "true or false"),
        ("DB_AUTOMIGRATE", "garbage", "true or false"),
        ("INGEST_MIN_SEVERITY", "LOUD", "one of TRACE, DEBUG, INFO, WARN, ERROR, FATAL"),
        ("LOG_LEVEL", "chatty", "one of trace, debug, info, warn, error"),
        ("LOG_FORMAT", "xml", "one of text, json"),
        ("DB_DRIVER", "mysql", "one of sqlite, postgres, postgresql"),
        ("DEFAULT_TENANT", "acme corp", "1-64 characters"),
        ("DLQ_REPLAY_INTERVAL", "0s", "a duration of at least 1ms"),
        ("DLQ_REPLAY_INTERVAL", "soon", "a duration of at least 1ms"),
        ("DLQ_MAX_FILES", "-1", "an integer from 0 to 10000000"),
        ("DLQ_MAX_RETRIES", "many", "an integer from 0 to 1000000"),
        ("TLS_AUTO_SELFSIGNED", "perhaps", "true or false"),
        ("TLS_RELOAD_INTERVAL", "0s", "a duration of at least 100ms"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "localhost:4317", "a URL starting with http:// or https://"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json", "one of grpc, http/protobuf"),
        ("OTEL_METRIC_EXPORT_INTERVAL", "10", "an integer from 100 to 3600000"),
    ];
    for (var, value, expected) in cases {
        let err = cfg(&[(var, value)]).expect_err(&format!("{var}={value} must be rejected"));
        let p = &err.problems[0];
        assert_eq!((p.variable, p.value.as_str()), (*var, *value));
        assert!(p.expected.contains(expected), "{var}: {}", p.expected);
        let text = err.to_string();
        assert!(text.contains(var) && text.contains(value), "{text}");
    }
}

#[test]
fn every_problem_is_reported_at_once() {
    let err = cfg(&[("HTTP_PORT", "x"), ("GRPC_PORT", "y"), ("SAMPLING_RATE", "2")]).unwrap_err();
    let vars: Vec<_> = err.problems.iter().map(|p| p.variable).collect();
    assert_eq!(vars, vec!["HTTP_PORT", "GRPC_PORT", "SAMPLING_RATE"]);
}

#[test]
fn values_are_trimmed_and_booleans_accept_common_spellings() {
    let c = cfg(&[("HTTP_PORT", " 9090 "), ("INGEST_ASYNC_ENABLED", "OFF"), ("OTLP_TRUST_RESOURCE_TENANT", "Yes")])
        .unwrap();
    assert_eq!((c.http_port, c.ingest_async, c.trust_resource_tenant), (9090, false, true));
    for (raw, want) in [
        ("1", Some(true)),
        ("TRUE", Some(true)),
        ("on", Some(true)),
        ("0", Some(false)),
        ("no", Some(false)),
        ("nah", None),
    ] {
        assert_eq!(parse_bool(raw), want, "{raw}");
    }
}

#[test]
fn service_lists_are_split_and_trimmed() {
    let c = cfg(&[("INGEST_ALLOWED_SERVICES", " api , web,, "), ("INGEST_EXCLUDED_SERVICES", "noisy")]).unwrap();
    assert_eq!(c.ingest_allowed_services, vec!["api", "web"]);
    assert_eq!(c.ingest_excluded_services, vec!["noisy"]);
}

#[test]
fn sqlite_in_production_is_refused_unless_allowed() {
    let err = cfg(&[("APP_ENV", "Production")]).unwrap_err();
    assert_eq!(err.problems[0].variable, "DB_DRIVER");
    assert!(err.problems[0].expected.contains("OTELCONTEXT_ALLOW_SQLITE_PROD"));
    assert!(cfg(&[("APP_ENV", "production"), ("OTELCONTEXT_ALLOW_SQLITE_PROD", "true")]).is_ok());
    assert!(cfg(&[("APP_ENV", "staging")]).is_ok());
}

#[test]
fn postgres_needs_a_valid_dsn() {
    let err = cfg(&[("DB_DRIVER", "postgres")]).unwrap_err();
    assert_eq!(err.problems[0].variable, "DB_DSN");
    let err = cfg(&[("DB_DRIVER", "postgres"), ("DB_DSN", "host=x port=many")]).unwrap_err();
    assert!(err.problems[0].expected.contains("port"), "{err}");
    let c = cfg(&[("DB_DRIVER", "postgresql"), ("DB_DSN", "postgres://otel:pw@db/otelcontext")]).unwrap();
    assert_eq!((c.db_driver, c.db_max_open_conns, c.db_max_idle_conns), (DbDriver::Postgres, 50, 10));
    assert_eq!(c.db_conn_max_lifetime, Duration::from_secs(3_600));
}

#[test]
fn entra_and_partitioning_are_postgres_only_and_entra_checks_the_dsn() {
    let err = cfg(&[("DB_AZURE_AUTH", "true")]).unwrap_err();
    assert_eq!(err.problems[0].variable, "DB_AZURE_AUTH");
    let err = cfg(&[("DB_POSTGRES_PARTITIONING", "daily")]).unwrap_err();
    assert_eq!(err.problems[0].variable, "DB_POSTGRES_PARTITIONING");
    let pg = |dsn: &'static str| vec![("DB_DRIVER", "postgres"), ("DB_AZURE_AUTH", "true"), ("DB_DSN", dsn)];
    let err = cfg(&pg("postgres://me:secret@h/db?sslmode=require")).unwrap_err();
    assert!(err.problems[0].expected.contains("password") && !err.to_string().contains("secret"), "{err}");
    let err = cfg(&pg("postgres://me@h/db?sslmode=disable")).unwrap_err();
    assert!(err.problems[0].expected.contains("sslmode"), "{err}");
    let c = cfg(&pg("postgres://me@h/db?sslmode=verify-full")).unwrap();
    assert!(c.db_azure_auth);
    let c = cfg(&[("DB_DRIVER", "postgres"), ("DB_DSN", "host=h"), ("DB_POSTGRES_PARTITIONING", "Daily")]).unwrap();
    assert_eq!(c.db_postgres_partitioning, Partitioning::Daily);
    assert!(cfg(&[("DB_POSTGRES_PARTITIONING", "weekly")]).is_err());
}

#[test]
fn retention_and_pool_settings_are_validated() {
    for (var, value) in [
        ("HOT_RETENTION_DAYS", "0"),
        ("HOT_RETENTION_DAYS", "36501"),
        ("RETENTION_BATCH_SIZE", "0"),
        ("RETENTION_BATCH_SLEEP_MS", "60001"),
        ("DB_MAX_OPEN_CONNS", "0"),
        ("DB_CONN_MAX_LIFETIME", "soon"),
        ("DB_CONN_MAX_LIFETIME", "0s"),
        ("DB_PARTITION_LOOKAHEAD_DAYS", "366"),
    ] {
        let err = cfg(&[(var, value)]).expect_err(&format!("{var}={value}"));
        assert_eq!(err.problems[0].variable, var);
    }
    let c = cfg(&[("HOT_RETENTION_DAYS", "30"), ("DB_CONN_MAX_LIFETIME", "45m"), ("RETENTION_BATCH_SLEEP_MS", "0")])
        .unwrap();
    assert_eq!(c.retention.days, 30);
    assert_eq!(c.db_conn_max_lifetime, Duration::from_secs(45 * 60));
    assert_eq!(c.retention_batch_sleep, Duration::ZERO);
    assert_eq!(Config::default().retention.days, 7);
}

#[test]
fn check_config_redacts_the_password_of_a_postgres_dsn() {
    let source = EnvSource::from_pairs([
        ("DB_DRIVER", "postgres"),
        ("DB_DSN", "postgres://u:hunter2@h/db"),
        ("AZURE_CLIENT_SECRET", "shh"),
    ]);
    let text = Config::from_source(&source).unwrap().render_effective(&source);
    assert!(text.contains("DB_DSN=postgres://u:REDACTED@h/db"), "{text}");
    assert!(!text.contains("hunter2") && !text.contains("shh"));
}

#[test]
fn dotenv_fills_gaps_but_never_overrides_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(".env");
    std::fs::write(&path, "HTTP_PORT=9999\nDEFAULT_TENANT=from-file\n# comment\nGRPC_PORT=5555\n").unwrap();
    let source = EnvSource::layered([("HTTP_PORT".to_owned(), "7777".to_owned())], &path);
    let c = Config::from_source(&source).unwrap();
    assert_eq!(c.http_port, 7777, "environment wins");
    assert_eq!((c.grpc_port, c.default_tenant.as_str()), (5555, "from-file"));
    let missing = EnvSource::layered(Vec::<(String, String)>::new(), &dir.path().join("absent.env"));
    assert_eq!(Config::from_source(&missing).unwrap().http_port, 8080);
}

#[test]
fn check_config_output_redacts_secrets() {
    let source = EnvSource::from_pairs([("API_KEY", "s3cret"), ("HTTP_PORT", "9000")]);
    let c = Config::from_source(&source).unwrap();
    let text = c.render_effective(&source);
    assert!(text.contains("API_KEY=<redacted>  # set"));
    assert!(text.contains("HTTP_PORT=9000  # set"));
    assert!(text.contains("GRPC_PORT=4317  # default"));
    assert!(!text.contains("s3cret"));
}

#[test]
fn every_variable_read_is_catalogued_and_listed_in_env_example() {
    let source = EnvSource::empty();
    Config::from_source(&source).unwrap();
    let catalogued: BTreeSet<String> = VARIABLES.iter().map(|v| v.name.to_owned()).collect();
    let read = source.names_read();
    let undocumented: Vec<_> = read.difference(&catalogued).collect();
    assert!(undocumented.is_empty(), "read but not in VARIABLES: {undocumented:?}");
    let unread: Vec<_> = catalogued.difference(&read).collect();
    assert!(unread.is_empty(), "in VARIABLES but never read: {unread:?}");
    let example =
        std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../.env.example")).unwrap();
    let listed: BTreeSet<String> = example
        .lines()
        .map(|l| l.trim().trim_start_matches('#').trim())
        .filter_map(|l| l.split_once('=').map(|(k, _)| k.trim().to_owned()))
        .filter(|k| k.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_') && !k.is_empty())
        .collect();
    let missing: Vec<_> = catalogued.difference(&listed).collect();
    assert!(missing.is_empty(), ".env.example lacks {missing:?}");
    let stale: Vec<_> = listed.difference(&catalogued).collect();
    assert!(stale.is_empty(), ".env.example lists variables the server does not read: {stale:?}");
}

#[test]
fn tls_needs_both_files_or_neither_and_self_signed_is_the_fallback() {
    use otelcontext_tls::TlsSource;
    assert_eq!(cfg(&[]).unwrap().tls, None);
    let c = cfg(&[("TLS_AUTO_SELFSIGNED", "true"), ("TLS_EXTRA_SANS", "a.example, 10.0.0.1")]).unwrap();
    assert_eq!(
        c.tls,
        Some(TlsSource::SelfSigned {
            cache_dir: "./data/tls".into(),
            extra_sans: vec!["a.example".to_owned(), "10.0.0.1".to_owned()]
        })
    );
    let err = cfg(&[("TLS_CERT_FILE", "/etc/hostname")]).unwrap_err();
    assert_eq!(err.problems[0].variable, "TLS_KEY_FILE");
    let err = cfg(&[("TLS_KEY_FILE", "/etc/hostname")]).unwrap_err();
    assert_eq!(err.problems[0].variable, "TLS_CERT_FILE");
    let err = cfg(&[("TLS_CERT_FILE", "/nonexistent/cert.pem"), ("TLS_KEY_FILE", "/nonexistent/key.pem")]).unwrap_err();
    let vars: Vec<_> = err.problems.iter().map(|p| p.variable).collect();
    assert_eq!(vars, vec!["TLS_CERT_FILE", "TLS_KEY_FILE"]);
    assert!(err.to_string().contains("/nonexistent/cert.pem"));
}

#[test]
fn dlq_defaults_follow_the_operations_guide() {
    let c = cfg(&[]).unwrap();
    assert_eq!(c.dlq_path, std::path::PathBuf::from("./data/dlq"));
    assert_eq!(c.dlq_replay_interval, std::time::Duration::from_secs(300));
    assert_eq!((c.dlq_max_files, c.dlq_max_disk_mb, c.dlq_max_retries), (1000, 500, 10));
}

#[test]
fn mcp_and_api_limits_are_read_and_checked() {
    let c = cfg(&[]).unwrap();
    assert!(c.mcp_enabled);
    assert_eq!((c.mcp_path.as_str(), c.mcp_max_concurrent, c.mcp_max_result_bytes), ("/mcp", 32, 65_536));
    assert_eq!(c.mcp_max_sessions, 1_000);
    assert_eq!((c.mcp_call_timeout, c.mcp_cache_ttl), (Some(Duration::from_secs(30)), Some(Duration::from_secs(5))));
    assert_eq!((c.api_rate_limit_rps, c.trust_proxy_headers, c.admin_api_key.as_str()), (100, false, ""));
    let c = cfg(&[("MCP_CALL_TIMEOUT_MS", "0"), ("MCP_PATH", "/agents"), ("API_RATE_LIMIT_RPS", "0")]).unwrap();
    assert_eq!((c.mcp_call_timeout, c.mcp_path.as_str(), c.api_rate_limit_rps), (None, "/agents", 0));
    for (var, value) in
        [("MCP_PATH", "/api/mcp"), ("MCP_PATH", "mcp"), ("MCP_PATH", "/v1"), ("MCP_MAX_RESULT_BYTES", "10")]
    {
        let e = cfg(&[(var, value)]).unwrap_err();
        assert_eq!(e.problems[0].variable, var, "{value}");
    }
}
