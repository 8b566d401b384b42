//! SQLite storage adapter (bundled SQLite with FTS5).
//!
//! One writer thread owns the only writing connection (rusqlite) and a pool of sqlx readers
//! shares the same file: in WAL mode readers never block the writer. Every connection gets WAL,
//! a busy timeout and `synchronous` (NORMAL, or FULL for durable acknowledgement). Telemetry
//! writes are group commits: a whole [`otelcontext_ports::TenantBatch`] slice goes into one
//! transaction. WAL checkpoints run on their own thread; the WAL file is bounded.

mod aggregate;
mod error;
mod fts;
mod maintenance;
mod read;
mod records;
mod rollups;
mod schema;
mod search;
mod sql;
mod text_plan;
mod write;
mod writer;

use async_trait::async_trait;
use otelcontext_domain::retention::Day;
use otelcontext_domain::{
    GraphSnapshot, Investigation, LogTemplate, MetricBucket, MetricPoint, Span, TemplateId, TenantId, Trace, TraceId,
    TraceSummary,
};
use otelcontext_ports::{
    BucketQuery, IntelligenceStore, InvestigationQuery, LogId, LogPartition, LogQuery, LogStore, Maintenance,
    MetricQuery, MetricStore, Page, PoolStats, RetentionTarget, SignalCounts, SnapshotQuery, SpanQuery, StorageError,
    StorageStatus, StoredLog, TelemetryWriter, TemplateQuery, TenantBatch, TraceQuery, TraceStore, WriteSummary,
};
use otelcontext_ports::{
    CatalogCache, CatalogSignal, HeatCell, SeriesQuery, TimeRange, TraceStats, TraceStatsQuery, TrafficPoint,
};

/// Catalogue entries a storage remembers writing.
const CATALOG_CACHE_ENTRIES: usize = 100_000;
use sqlx::sqlite::{
    SqliteAutoVacuum, SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

pub use error::map_sqlx_error;
pub use schema::{SCHEMA_VERSION, migrator};
pub use writer::{Durability, JOURNAL_SIZE_LIMIT_BYTES, WAL_HARD_LIMIT_BYTES};

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
    /// What a commit survives.
    pub durability: Durability,
    /// Size the WAL file is truncated back to after checkpoints (`journal_size_limit`).
    pub wal_size_limit: u64,
}

impl SqliteConfig {
    /// Settings for a file with the defaults: automigrate on, 4 readers, 5 s busy timeout,
    /// `synchronous=NORMAL`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            automigrate: true,
            readers: 4,
            busy_timeout: Duration::from_secs(5),
            durability: Durability::Normal,
            wal_size_limit: JOURNAL_SIZE_LIMIT_BYTES,
        }
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

impl FromStr for SqliteConfig {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_dsn(s)
    }
}

/// Storage on one SQLite file.
pub struct SqliteStorage {
    writer: writer::Writer,
    readers: SqlitePool,
    path: PathBuf,
    max_readers: u32,
    /// What the catalogue table says (see [`CatalogCache`]): checked before a write is handed to
    /// the writer, so names the table already has cost no allocation.
    catalog: parking_lot::Mutex<CatalogCache>,
}

fn connect_options(path: &Path, busy_timeout: Duration) -> SqliteConnectOptions {
    SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        // Takes effect when the file is created (schema v2 on): lets maintenance give freed
        // pages back to the file system in small steps.
        .auto_vacuum(SqliteAutoVacuum::Incremental)
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
        let max_readers = config.readers.max(1);
        let readers = SqlitePoolOptions::new()
            .max_connections(max_readers)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await
            .map_err(|e| StorageError::Unavailable(format!("cannot open {}: {e}", config.path.display())))?;
        schema::prepare(&readers, config.automigrate).await?;
        let (path, busy, durability, wal) =
            (config.path.clone(), config.busy_timeout, config.durability, config.wal_size_limit);
        let writer = tokio::task::spawn_blocking(move || writer::Writer::start(&path, busy, durability, wal))
            .await
            .map_err(|e| StorageError::Other(format!("writer start panicked: {e}")))??;
        // Rows stored before schema v6 get their dashboard rollups once (a no-op afterwards).
        let started = std::time::Instant::now();
        let rolled = writer.run(rollups::backfill).await?;
        if rolled > 0 {
            tracing::info!(
                rows = rolled,
                seconds = started.elapsed().as_secs_f64(),
                "dashboard rollups filled from stored rows"
            );
        }
        Ok(Self {
            writer,
            readers,
            path: config.path.clone(),
            max_readers,
            catalog: parking_lot::Mutex::new(CatalogCache::new(CATALOG_CACHE_ENTRIES)),
        })
    }

    /// Applies pending migrations to the database and closes it; returns the schema version.
    pub async fn migrate(config: &SqliteConfig) -> Result<i64, StorageError> {
        let storage = Self::open(&SqliteConfig { automigrate: true, ..config.clone() }).await?;
        storage.close().await;
        Ok(SCHEMA_VERSION)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A pragma's value as the writer connection sees it (diagnostics and tests).
    pub async fn writer_pragma(&self, name: &'static str) -> Result<String, StorageError> {
        self.writer
            .run(move |state| {
                state
                    .conn
                    .query_row(&format!("PRAGMA {name}"), [], |r| r.get::<_, rusqlite::types::Value>(0))
                    .map(|v| match v {
                        rusqlite::types::Value::Integer(i) => i.to_string(),
                        rusqlite::types::Value::Text(t) => t,
                        other => format!("{other:?}"),
                    })
                    .map_err(writer::map_err)
            })
            .await
    }
}

fn owned(tenant: &TenantId) -> std::sync::Arc<str> {
    tenant.shared()
}

#[async_trait]
impl TelemetryWriter for SqliteStorage {
    async fn write(&self, batches: &[TenantBatch]) -> Result<WriteSummary, StorageError> {
        if batches.iter().all(|b| b.items() == 0) {
            return Ok(WriteSummary::default());
        }
        let catalog = self.catalog.lock().needed_in(batches);
        let written = catalog.clone();
        let prepared = write::Prepared::new(batches, catalog);
        let summary = self.writer.run(move |state| prepared.write(state)).await?;
        self.catalog.lock().remember(&written);
        Ok(summary)
    }
}

#[async_trait]
impl TraceStore for SqliteStorage {
    async fn get_trace(&self, tenant: &TenantId, trace_id: &TraceId) -> Result<Option<Trace>, StorageError> {
        read::get_trace(&self.readers, tenant, trace_id).await
    }

    async fn search_traces(&self, tenant: &TenantId, q: &TraceQuery) -> Result<Page<TraceSummary>, StorageError> {
        search::search_traces(&self.readers, tenant, q).await
    }

    async fn search_spans(&self, tenant: &TenantId, q: &SpanQuery) -> Result<Page<Span>, StorageError> {
        search::search_spans(&self.readers, tenant, q).await
    }

    async fn services(&self, tenant: &TenantId, time: TimeRange, limit: usize) -> Result<Vec<String>, StorageError> {
        search::catalog_names(&self.readers, tenant, CatalogSignal::Span, true, None, time, limit).await
    }

    async fn operations(
        &self,
        tenant: &TenantId,
        service: &str,
        time: TimeRange,
        limit: usize,
    ) -> Result<Vec<String>, StorageError> {
        search::catalog_names(&self.readers, tenant, CatalogSignal::Span, false, Some(service), time, limit).await
    }

    async fn trace_stats(&self, tenant: &TenantId, q: &TraceStatsQuery) -> Result<TraceStats, StorageError> {
        aggregate::trace_stats(&self.readers, tenant, q).await
    }

    async fn traffic(&self, tenant: &TenantId, q: &SeriesQuery) -> Result<Vec<TrafficPoint>, StorageError> {
        aggregate::traffic(&self.readers, tenant, q).await
    }

    async fn latency_heatmap(&self, tenant: &TenantId, q: &SeriesQuery) -> Result<Vec<HeatCell>, StorageError> {
        aggregate::latency_heatmap(&self.readers, tenant, q).await
    }
}

#[async_trait]
impl LogStore for SqliteStorage {
    async fn search_logs(&self, tenant: &TenantId, q: &LogQuery) -> Result<Page<StoredLog>, StorageError> {
        search::search_logs(&self.readers, tenant, q).await
    }

    async fn get_log(&self, tenant: &TenantId, id: LogId) -> Result<Option<StoredLog>, StorageError> {
        search::get_log(&self.readers, tenant, id).await
    }
}

#[async_trait]
impl MetricStore for SqliteStorage {
    async fn search_metric_points(
        &self,
        tenant: &TenantId,
        q: &MetricQuery,
    ) -> Result<Page<MetricPoint>, StorageError> {
        search::search_metric_points(&self.readers, tenant, q).await
    }

    async fn write_buckets(&self, tenant: &TenantId, buckets: &[MetricBucket]) -> Result<(), StorageError> {
        if buckets.is_empty() {
            return Ok(());
        }
        let rows: Vec<records::BucketRow> = buckets.iter().map(records::BucketRow::new).collect();
        let tenant = owned(tenant);
        self.writer.run(move |state| records::write_buckets(state, tenant, rows)).await
    }

    async fn search_buckets(&self, tenant: &TenantId, q: &BucketQuery) -> Result<Page<MetricBucket>, StorageError> {
        search::search_buckets(&self.readers, tenant, q).await
    }

    async fn metric_names<'a>(
        &self,
        tenant: &TenantId,
        service: Option<&'a str>,
        time: TimeRange,
        limit: usize,
    ) -> Result<Vec<String>, StorageError> {
        search::catalog_names(&self.readers, tenant, CatalogSignal::Metric, false, service, time, limit).await
    }
}

#[async_trait]
impl IntelligenceStore for SqliteStorage {
    async fn upsert_templates(&self, tenant: &TenantId, templates: &[LogTemplate]) -> Result<(), StorageError> {
        if templates.is_empty() {
            return Ok(());
        }
        let (tenant, templates) = (owned(tenant), templates.to_vec());
        self.writer.run(move |state| records::upsert_templates(state, tenant, templates)).await
    }

    async fn list_templates(&self, tenant: &TenantId) -> Result<Vec<LogTemplate>, StorageError> {
        search::list_templates(&self.readers, tenant).await
    }

    async fn get_template(&self, tenant: &TenantId, id: TemplateId) -> Result<Option<LogTemplate>, StorageError> {
        search::get_template(&self.readers, tenant, id).await
    }

    async fn search_templates(&self, tenant: &TenantId, q: &TemplateQuery) -> Result<Page<LogTemplate>, StorageError> {
        search::search_templates(&self.readers, tenant, q).await
    }

    async fn save_investigation(&self, tenant: &TenantId, investigation: &Investigation) -> Result<(), StorageError> {
        let (tenant, investigation) = (owned(tenant), investigation.clone());
        self.writer.run(move |state| records::save_investigation(state, tenant, investigation)).await
    }

    async fn get_investigation(&self, tenant: &TenantId, id: &str) -> Result<Option<Investigation>, StorageError> {
        search::get_investigation(&self.readers, tenant, id).await
    }

    async fn search_investigations(
        &self,
        tenant: &TenantId,
        q: &InvestigationQuery,
    ) -> Result<Page<Investigation>, StorageError> {
        search::search_investigations(&self.readers, tenant, q).await
    }

    async fn save_snapshot(&self, tenant: &TenantId, snapshot: &GraphSnapshot) -> Result<(), StorageError> {
        let (tenant, snapshot) = (owned(tenant), snapshot.clone());
        self.writer.run(move |state| records::save_snapshot(state, tenant, snapshot)).await
    }

    async fn get_snapshot(&self, tenant: &TenantId, id: &str) -> Result<Option<GraphSnapshot>, StorageError> {
        search::get_snapshot(&self.readers, tenant, id).await
    }

    async fn search_snapshots(
        &self,
        tenant: &TenantId,
        q: &SnapshotQuery,
    ) -> Result<Page<GraphSnapshot>, StorageError> {
        search::search_snapshots(&self.readers, tenant, q).await
    }
}

#[async_trait]
impl Maintenance for SqliteStorage {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    async fn ping(&self) -> Result<(), StorageError> {
        sqlx::query("SELECT 1").execute(&self.readers).await.map_err(map_sqlx_error)?;
        Ok(())
    }

    async fn counts(&self, tenant: &TenantId) -> Result<SignalCounts, StorageError> {
        maintenance::counts(&self.readers, tenant).await
    }

    async fn tenants(&self) -> Result<Vec<TenantId>, StorageError> {
        maintenance::tenants(&self.readers).await
    }

    async fn purge(&self, target: RetentionTarget, cutoff_ns: i64, batch: usize) -> Result<u64, StorageError> {
        if batch == 0 {
            return Err(StorageError::InvalidArgument("purge batch must be at least 1".into()));
        }
        if matches!(target, RetentionTarget::Traces | RetentionTarget::MetricPoints) {
            // Entries may leave the catalogue: writes must not assume they are there.
            *self.catalog.lock() = CatalogCache::new(CATALOG_CACHE_ENTRIES);
        }
        self.writer.run(move |state| maintenance::purge(state, target, None, cutoff_ns, batch)).await
    }

    async fn purge_tenant(
        &self,
        tenant: &TenantId,
        target: RetentionTarget,
        cutoff_ns: i64,
        batch: usize,
    ) -> Result<u64, StorageError> {
        if batch == 0 {
            return Err(StorageError::InvalidArgument("purge batch must be at least 1".into()));
        }
        if matches!(target, RetentionTarget::Traces | RetentionTarget::MetricPoints) {
            *self.catalog.lock() = CatalogCache::new(CATALOG_CACHE_ENTRIES);
        }
        let tenant = tenant.as_str().to_owned();
        self.writer.run(move |state| maintenance::purge(state, target, Some(&tenant), cutoff_ns, batch)).await
    }

    async fn count_older_than(&self, target: RetentionTarget, cutoff_ns: i64) -> Result<u64, StorageError> {
        maintenance::count_older_than(&self.readers, target, cutoff_ns).await
    }

    async fn optimize(&self) -> Result<(), StorageError> {
        // Small steps, each its own writer job: telemetry commits interleave with them.
        let mut first = true;
        loop {
            let left = self.writer.run(move |state| maintenance::optimize_step(state, first)).await?;
            first = false;
            if left == 0 {
                return Ok(());
            }
            tokio::task::yield_now().await;
        }
    }

    async fn status(&self) -> Result<StorageStatus, StorageError> {
        let mut settings = Vec::new();
        for name in ["journal_mode", "synchronous", "auto_vacuum", "journal_size_limit", "page_size", "freelist_count"]
        {
            settings.push((name.to_owned(), self.writer_pragma(name).await?));
        }
        let fts: i64 =
            sqlx::query_scalar("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'logs_fts'")
                .fetch_one(&self.readers)
                .await
                .map_err(map_sqlx_error)?;
        Ok(StorageStatus {
            backend: "sqlite".into(),
            size_bytes: Some(maintenance::size_on_disk(&self.path)),
            schema_version: schema::applied_version(&self.readers).await?.unwrap_or(0),
            full_text_indexed: fts == 1,
            logs_partitioned: false,
            settings,
        })
    }

    fn pool_stats(&self) -> Option<PoolStats> {
        let open = self.readers.size();
        let idle = self.readers.num_idle() as u32;
        Some(PoolStats { open, idle, in_use: open.saturating_sub(idle), max_open: self.max_readers })
    }

    async fn log_partitions(&self) -> Result<Vec<LogPartition>, StorageError> {
        Ok(Vec::new())
    }

    async fn create_log_partitions(&self, _days: &[Day]) -> Result<usize, StorageError> {
        Ok(0)
    }

    async fn drop_log_partition(&self, name: &str) -> Result<(), StorageError> {
        Err(StorageError::InvalidArgument(format!("no partition {name:?}: SQLite does not partition logs")))
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
mod tests;
