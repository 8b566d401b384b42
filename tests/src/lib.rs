//! Support for the end-to-end tests: a real server on ephemeral ports with a temporary SQLite
//! database, a schema of its own in the test PostgreSQL database, or a given storage; an HTTP
//! client; and the real binary as a child process.

use anyhow::Context;
use otelcontext::config::{Config, EnvSource};
use otelcontext::{RunningServer, Server};
use otelcontext_domain::TenantId;
use otelcontext_ports::{SignalCounts, Storage};
use otelcontext_sqlite::{SqliteConfig, SqliteStorage};
use otelcontext_telemetry::Telemetry;
use std::future::Future;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

/// Retention of test servers: test data carries fixed timestamps (2025-11-24), which the default
/// 7 days would purge at start.
pub const TEST_RETENTION_DAYS: &str = "36500";

/// A configuration for tests: ephemeral ports, the longest retention, everything else default.
pub fn test_config() -> Config {
    config_from(&[])
}

/// A configuration from variables (as the binary would read them), with ephemeral ports and the
/// longest retention unless given.
pub fn config_from(pairs: &[(&str, &str)]) -> Config {
    let mut all: Vec<(String, String)> = vec![
        ("HTTP_PORT".into(), "0".into()),
        ("GRPC_PORT".into(), "0".into()),
        ("HOT_RETENTION_DAYS".into(), TEST_RETENTION_DAYS.into()),
    ];
    all.extend(pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
    Config::from_source(&EnvSource::from_pairs(all)).expect("valid test configuration")
}

/// The database a test server stores in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A temporary SQLite file.
    Sqlite,
    /// A schema of its own in `OTELCONTEXT_TEST_POSTGRES_URL`.
    Postgres,
}

/// Runs `super::$name(backend)` as two tests, `$name::sqlite` and `$name::postgres` (the latter
/// skips, saying so, when `OTELCONTEXT_TEST_POSTGRES_URL` is unset).
#[macro_export]
macro_rules! on_both_databases {
    ($threads:literal, $name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = $threads)]
            async fn sqlite() {
                super::$name($crate::Backend::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = $threads)]
            async fn postgres() {
                super::$name($crate::Backend::Postgres).await
            }
        }
    };
}

/// A server running in this process.
pub struct TestServer {
    running: Option<RunningServer>,
    pub storage: Arc<dyn Storage>,
    pub metrics: Arc<Telemetry>,
    pub dir: Option<tempfile::TempDir>,
    pub http: reqwest::Client,
    http_addr: std::net::SocketAddr,
    grpc_addr: std::net::SocketAddr,
    /// Holds the dead-letter queue (`DLQ_PATH`) when the configuration names none of its own.
    pub dlq_dir: Option<tempfile::TempDir>,
    /// Dropped last: the schema goes after the server's connections.
    pub pg: Option<otelcontext_postgres::testing::TestSchema>,
}

impl TestServer {
    /// A default server on a fresh SQLite file.
    pub async fn start() -> Self {
        Self::start_with(test_config()).await
    }

    /// A server with `config` on a fresh SQLite file.
    pub async fn start_with(config: Config) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let storage = open_sqlite(&dir.path().join("otelcontext.db")).await;
        let mut s = Self::start_on(config, storage).await;
        s.dir = Some(dir);
        s
    }

    /// A default server on `backend`; `None` when that database is not configured.
    pub async fn on(backend: Backend) -> Option<Self> {
        Self::on_with(backend, test_config()).await
    }

    /// A server with `config` on `backend`, its storage opened by the server's own factory from
    /// `DB_DRIVER`/`DB_DSN`; `None` when that database is not configured.
    pub async fn on_with(backend: Backend, mut config: Config) -> Option<Self> {
        match backend {
            Backend::Sqlite => Some(Self::start_with(config).await),
            Backend::Postgres => {
                let schema = otelcontext_postgres::testing::TestSchema::create("e2e").await?;
                config.db_driver = otelcontext::config::DbDriver::Postgres;
                config.db_dsn = schema.dsn();
                config.db_max_open_conns = 8;
                config.db_max_idle_conns = 0;
                let storage = otelcontext::storage::open_adapter(&config).await.expect("postgres opens");
                let mut s = Self::start_on(config, storage).await;
                s.pg = Some(schema);
                Some(s)
            }
        }
    }

    /// A server with `config` on the given storage.
    pub async fn start_on(mut config: Config, storage: Arc<dyn Storage>) -> Self {
        let metrics = Arc::new(Telemetry::new());
        // Each server its own dead-letter queue, unless the test chose one.
        let dlq_dir = (config.dlq_path == Config::default().dlq_path).then(|| {
            let d = tempfile::tempdir().expect("temp dir");
            config.dlq_path = d.path().join("dlq");
            d
        });
        let running = Server::builder(config)
            .storage(storage.clone())
            .telemetry(metrics.clone())
            .build()
            .await
            .expect("server builds")
            .start()
            .await
            .expect("server starts");
        let (http_addr, grpc_addr) = (running.http_addr(), running.grpc_addr());
        Self {
            running: Some(running),
            storage,
            metrics,
            dir: None,
            http: reqwest::Client::new(),
            http_addr,
            grpc_addr,
            dlq_dir,
            pg: None,
        }
    }

    /// The HTTP listener's address.
    pub fn http_addr(&self) -> std::net::SocketAddr {
        self.http_addr
    }

    /// The gRPC listener's address.
    pub fn grpc_addr(&self) -> std::net::SocketAddr {
        self.grpc_addr
    }

    /// `http://127.0.0.1:<port><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.http_addr.port())
    }

    /// `http://127.0.0.1:<grpc port>` for gRPC clients.
    pub fn grpc_endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.grpc_addr.port())
    }

    /// GET a path, optionally as a tenant; returns status and JSON body.
    pub async fn get_json(&self, path: &str, tenant: Option<&str>) -> (u16, serde_json::Value) {
        let mut req = self.http.get(self.url(path));
        if let Some(t) = tenant {
            req = req.header("X-Tenant-ID", t);
        }
        let resp = req.send().await.expect("request sent");
        let status = resp.status().as_u16();
        let body = resp.json().await.unwrap_or(serde_json::Value::Null);
        (status, body)
    }

    /// Row counts of a tenant, straight from storage.
    pub async fn counts(&self, tenant: &str) -> SignalCounts {
        self.storage.counts(&TenantId::parse(tenant).unwrap()).await.expect("counts")
    }

    /// Waits until `done(counts)` holds for the tenant (ingest is asynchronous by default).
    pub async fn wait_for(&self, tenant: &str, done: impl Fn(&SignalCounts) -> bool) -> SignalCounts {
        let last = std::sync::Mutex::new(SignalCounts::default());
        eventually(|| async {
            let c = self.counts(tenant).await;
            *last.lock().unwrap() = c;
            done(&c).then_some(c)
        })
        .await
        .unwrap_or_else(|| panic!("tenant {tenant} never reached the expected counts; last {:?}", last.lock().unwrap()))
    }

    /// The sum of every sample of the metric `name` (its series with any labels); `None` when the
    /// exposition has no sample of it.
    pub fn metric_sum(&self, name: &str) -> Option<f64> {
        let text = self.metrics_text();
        let values: Vec<f64> = text
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| {
                let rest = l.strip_prefix(name)?;
                let rest = if rest.starts_with('{') { &rest[rest.find('}')? + 1..] } else { rest };
                rest.strip_prefix(' ')?.trim().parse().ok()
            })
            .collect();
        (!values.is_empty()).then(|| values.iter().sum())
    }

    /// The Prometheus exposition.
    pub fn metrics_text(&self) -> String {
        self.metrics.render()
    }

    /// Starts a graceful shutdown without waiting for it (the server stops accepting).
    pub fn begin_shutdown(&self) {
        if let Some(r) = &self.running {
            let _ = r.stopper().send(true);
        }
    }

    /// The running server's log template miner.
    pub fn templates(&self) -> Arc<otelcontext::services::TemplateService> {
        self.running.as_ref().expect("server is running").templates()
    }

    /// The running server's similar-log index.
    pub fn similar_logs(&self) -> Arc<otelcontext::services::SimilarLogService> {
        self.running.as_ref().expect("server is running").similar_logs()
    }

    /// The running server's service graph.
    pub fn graph(&self) -> Arc<otelcontext::services::GraphService> {
        self.running.as_ref().expect("server is running").graph()
    }

    /// The questions asked of the running server's service graph.
    pub fn graph_queries(&self) -> Arc<otelcontext::services::GraphQueryService> {
        self.running.as_ref().expect("server is running").graph_queries()
    }

    /// Graceful shutdown (drains the pipeline, closes storage).
    pub async fn shutdown(&mut self) {
        if let Some(r) = self.running.take() {
            r.shutdown().await.expect("clean shutdown");
        }
    }
}

/// Opens a SQLite storage file.
pub async fn open_sqlite(path: &Path) -> Arc<dyn Storage> {
    Arc::new(SqliteStorage::open(&SqliteConfig::new(path)).await.expect("sqlite opens"))
}

/// Polls `f` every 20 ms for up to 20 s until it yields a value.
pub async fn eventually<T, F, Fut>(mut f: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(v) = f().await {
            return Some(v);
        }
        if tokio::time::Instant::now() > deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The real binary running as a child process in its own working directory.
pub struct Process {
    pub child: Child,
    pub http_addr: String,
    pub grpc_addr: String,
    pub dir: PathBuf,
    log: Arc<std::sync::Mutex<Vec<String>>>,
}

/// Runs the binary to completion with `args` and `env` (nothing else from the environment) in
/// `dir`; returns exit code, stdout and stderr.
pub fn run_binary(bin: &str, dir: &Path, args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let out = Command::new(bin)
        .args(args)
        .env_clear()
        .envs(env.iter().copied())
        .current_dir(dir)
        .output()
        .expect("binary runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

impl Process {
    /// Starts the server binary with JSON logs on ephemeral ports and waits until it listens.
    pub fn start(bin: &str, dir: &Path, env: &[(&str, &str)]) -> anyhow::Result<Self> {
        let mut cmd = Command::new(bin);
        cmd.env_clear()
            .envs([
                ("HTTP_PORT", "0"),
                ("GRPC_PORT", "0"),
                ("LOG_FORMAT", "json"),
                ("HOT_RETENTION_DAYS", TEST_RETENTION_DAYS),
            ])
            .envs(env.iter().copied())
            .current_dir(dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().context("spawning the binary")?;
        let stdout = child.stdout.take().expect("piped");
        let log = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel::<(String, String)>();
        let sink = log.clone();
        std::thread::spawn(move || {
            let mut sent = false;
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if !sent && let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) {
                    let fields = &v["fields"];
                    if fields["message"] == "otelcontext listening" {
                        let h = fields["http_addr"].as_str().unwrap_or_default().to_owned();
                        let g = fields["grpc_addr"].as_str().unwrap_or_default().to_owned();
                        let _ = tx.send((h, g));
                        sent = true;
                    }
                }
                sink.lock().unwrap().push(line);
            }
        });
        // Generous: the whole suite runs in parallel on two cores.
        let (http, grpc) = match rx.recv_timeout(Duration::from_secs(90)) {
            Ok(addrs) => addrs,
            Err(_) => {
                let _ = child.kill();
                let mut err = String::new();
                if let Some(mut e) = child.stderr.take() {
                    use std::io::Read;
                    let _ = e.read_to_string(&mut err);
                }
                anyhow::bail!("binary did not start listening; stderr: {err}; stdout: {:?}", log.lock().unwrap());
            }
        };
        let port = |a: &str| a.rsplit(':').next().unwrap_or_default().to_owned();
        Ok(Self {
            child,
            http_addr: format!("127.0.0.1:{}", port(&http)),
            grpc_addr: format!("127.0.0.1:{}", port(&grpc)),
            dir: dir.to_owned(),
            log,
        })
    }

    /// `http://<http addr><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.http_addr)
    }

    /// Sends SIGTERM and waits for the exit code.
    pub fn terminate(mut self) -> (i32, Vec<String>) {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let status = self.child.wait().expect("child exits");
        // Give the reader thread a moment to collect the last lines.
        std::thread::sleep(Duration::from_millis(100));
        let log = self.log.lock().unwrap().clone();
        (status.code().unwrap_or(-1), log)
    }
}

impl Process {
    /// Kills the process with SIGKILL (no shutdown at all).
    pub fn kill_hard(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
