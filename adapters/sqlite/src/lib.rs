//! SQLite storage adapter (sqlx, bundled SQLite with FTS5).
//!
//! One writer connection and a pool of readers on the same file: in WAL mode readers never block
//! the writer. Every connection gets `journal_mode=WAL`, `synchronous=NORMAL` and a busy timeout.
//! Writes are group commits: a whole [`otelcontext_ports::TenantBatch`] slice goes into one
//! transaction with multi-row statements.

mod codec;
mod error;
mod read;
mod schema;
mod write;

use async_trait::async_trait;
use otelcontext_domain::{LogRecord, MetricPoint, TenantId, Trace, TraceId};
use otelcontext_ports::{LogQuery, MetricQuery, SignalCounts, Storage, StorageError, TenantBatch, WriteSummary};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

pub use error::map_sqlx_error;
pub use schema::{SCHEMA_VERSION, migrator};

/// Settings of the SQLite adapter.
#[derive(Debug, Clone, PartialEq)]
pub struct SqliteConfig {
    /// Database file; created (with its directory) when missing.
    pub path: PathBuf,
    /// Apply pending migrations at open; when false, refuse to open a database whose schema is
    /// not the current version.
    pub automigrate: bool,
    /// Size of the reader pool.
    pub readers: u32,
    /// How long a connection waits for a lock before failing.
    pub busy_timeout: Duration,
}

impl SqliteConfig {
    /// Settings for a file with the defaults: automigrate on, 4 readers, 5 s busy timeout.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into(), automigrate: true, readers: 4, busy_timeout: Duration::from_secs(5) }
    }

    /// Interprets a `DB_DSN`: a file path, or a `sqlite:` / `sqlite://` URL whose path is the file
    /// (query parameters are not supported). An empty DSN means `otelcontext.db`.
    pub fn from_dsn(dsn: &str) -> Result<Self, String> {
        let dsn = dsn.trim();
        let path = if dsn.is_empty() {
            "otelcontext.db"
        } else if let Some(rest) = dsn.strip_prefix("sqlite://").or_else(|| dsn.strip_prefix("sqlite:")) {
            if rest.contains('?') {
                return Err(format!("DB_DSN {dsn:?}: query parameters are not supported for SQLite; give a file path"));
            }
            rest
        } else {
            dsn
        };
        if path.is_empty() || path == ":memory:" || path.starts_with("file::memory:") {
            return Err(format!(
                "DB_DSN {dsn:?}: an in-memory SQLite database is not supported (readers and the writer need one shared file); give a file path"
            ));
        }
        Ok(Self::new(path))
    }
}

/// Storage on one SQLite file.
pub struct SqliteStorage {
    writer: write::Writer,
    readers: SqlitePool,
    path: PathBuf,
}

fn connect_options(path: &Path, busy_timeout: Duration) -> SqliteConnectOptions {
    SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(busy_timeout)
        .foreign_keys(false)
        .statement_cache_capacity(256)
        .pragma("temp_store", "MEMORY")
        .pragma("cache_size", "-16384")
}

impl SqliteStorage {
    /// Opens (creating if needed) the database and brings its schema up to date or checks it.
    pub async fn open(config: &SqliteConfig) -> Result<Self, StorageError> {
        if let Some(dir) = config.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| StorageError::Unavailable(format!("cannot create directory {}: {e}", dir.display())))?;
        }
        let options = connect_options(&config.path, config.busy_timeout);
        let readers = SqlitePoolOptions::new()
            .max_connections(config.readers.max(1))
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await
            .map_err(|e| StorageError::Unavailable(format!("cannot open {}: {e}", config.path.display())))?;
        schema::prepare(&readers, config.automigrate).await?;
        let (path, busy) = (config.path.clone(), config.busy_timeout);
        let writer = tokio::task::spawn_blocking(move || write::Writer::start(&path, busy))
            .await
            .map_err(|e| StorageError::Other(format!("writer start panicked: {e}")))??;
        Ok(Self { writer, readers, path: config.path.clone() })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Parses a stored `SqliteConfig` path from a string (used by the `FromStr` impl of callers).
impl FromStr for SqliteConfig {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_dsn(s)
    }
}

#[async_trait]
impl Storage for SqliteStorage {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    async fn write(&self, batches: &[TenantBatch]) -> Result<WriteSummary, StorageError> {
        if batches.iter().all(|b| b.items() == 0) {
            return Ok(WriteSummary::default());
        }
        self.writer.write(write::Prepared::new(batches)).await
    }

    async fn get_trace(&self, tenant: &TenantId, trace_id: &TraceId) -> Result<Option<Trace>, StorageError> {
        read::get_trace(&self.readers, tenant, trace_id).await
    }

    async fn query_logs(&self, tenant: &TenantId, query: &LogQuery) -> Result<Vec<LogRecord>, StorageError> {
        read::query_logs(&self.readers, tenant, query).await
    }

    async fn query_metric_points(
        &self,
        tenant: &TenantId,
        query: &MetricQuery,
    ) -> Result<Vec<MetricPoint>, StorageError> {
        read::query_metric_points(&self.readers, tenant, query).await
    }

    async fn counts(&self, tenant: &TenantId) -> Result<SignalCounts, StorageError> {
        read::counts(&self.readers, tenant).await
    }

    async fn ping(&self) -> Result<(), StorageError> {
        sqlx::query("SELECT 1").execute(&self.readers).await.map_err(map_sqlx_error)?;
        Ok(())
    }

    async fn close(&self) {
        self.readers.close().await;
        self.writer.close().await;
    }
}

#[cfg(test)]
mod conformance {
    use super::{SqliteConfig, SqliteStorage};
    use otelcontext_ports::conformance::TestStorage;
    use std::sync::Arc;

    async fn fresh() -> TestStorage {
        let dir = tempfile::tempdir().unwrap();
        let storage = SqliteStorage::open(&SqliteConfig::new(dir.path().join("test.db"))).await.unwrap();
        TestStorage { storage: Arc::new(storage), guard: Box::new(dir) }
    }

    otelcontext_ports::storage_conformance_tests!(fresh);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dsn_forms() {
        assert_eq!(SqliteConfig::from_dsn("").unwrap().path, PathBuf::from("otelcontext.db"));
        assert_eq!(SqliteConfig::from_dsn("data/x.db").unwrap().path, PathBuf::from("data/x.db"));
        assert_eq!(SqliteConfig::from_dsn("sqlite:///var/lib/o.db").unwrap().path, PathBuf::from("/var/lib/o.db"));
        assert_eq!(SqliteConfig::from_dsn("sqlite:rel.db").unwrap().path, PathBuf::from("rel.db"));
        assert!(SqliteConfig::from_dsn(":memory:").is_err());
        assert!(SqliteConfig::from_dsn("sqlite://x.db?mode=ro").is_err());
    }

    #[tokio::test]
    async fn creates_the_file_and_its_directory_with_wal() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/dir/o.db");
        let s = SqliteStorage::open(&SqliteConfig::new(&path)).await.unwrap();
        assert!(path.exists());
        let mode: String = sqlx::query_scalar("PRAGMA journal_mode").fetch_one(&s.readers).await.unwrap();
        assert_eq!(mode, "wal");
        let sync: i64 = sqlx::query_scalar("PRAGMA synchronous").fetch_one(&s.readers).await.unwrap();
        assert_eq!(sync, 1, "NORMAL");
        let busy: i64 = sqlx::query_scalar("PRAGMA busy_timeout").fetch_one(&s.readers).await.unwrap();
        assert_eq!(busy, 5000);
        s.close().await;
    }

    #[tokio::test]
    async fn data_survives_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = SqliteConfig::new(dir.path().join("o.db"));
        let t = TenantId::parse("t").unwrap();
        let s = SqliteStorage::open(&cfg).await.unwrap();
        let span =
            otelcontext_ports::conformance::rich_span(1, 1, None, "svc", 0, 10, otelcontext_domain::StatusCode::Ok);
        let trace_id = span.trace_id;
        s.write(&[TenantBatch { tenant: t.clone(), spans: vec![span.clone()], logs: vec![], metrics: vec![] }])
            .await
            .unwrap();
        s.close().await;
        let s = SqliteStorage::open(&cfg).await.unwrap();
        assert_eq!(s.get_trace(&t, &trace_id).await.unwrap().unwrap().spans, vec![span]);
        s.close().await;
    }

    #[tokio::test]
    async fn closed_storage_reports_unavailable() {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStorage::open(&SqliteConfig::new(dir.path().join("o.db"))).await.unwrap();
        s.close().await;
        assert!(matches!(s.ping().await, Err(StorageError::Unavailable(_))));
    }
}
