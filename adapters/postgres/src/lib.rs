//! PostgreSQL storage adapter.
//!
//! A sqlx pool (`DB_MAX_OPEN_CONNS`, `DB_MAX_IDLE_CONNS`, `DB_CONN_MAX_LIFETIME`); group commits
//! written with one multi-row `UNNEST` insert per table in one transaction; full-text log search
//! by `ILIKE` served by pg_trgm GIN indexes (sequential scans with a warning when the extension
//! is missing); optional daily partitioning of logs; optional Azure Entra tokens as passwords.

mod aggregate;
mod dsn;
mod entra;
mod error;
mod maintenance;
mod read;
mod records;
mod rollups;
mod schema;
mod search;
mod sql;
mod text;
mod write;

#[cfg(any(test, feature = "testkit"))]
pub mod testing;

pub use dsn::{ParsedDsn, parse_dsn, redact_dsn};
pub use entra::{AzureSettings, AzureTokenSource, ENTRA_MAX_LIFETIME, ENTRA_SCOPE, refresh_in, validate_entra_dsn};
pub use error::map_sqlx_error;
pub use schema::{SCHEMA_VERSION, migrator};

use async_trait::async_trait;
use otelcontext_domain::retention::Day;
use otelcontext_domain::{
    GraphSnapshot, Investigation, LogTemplate, MetricBucket, MetricPoint, Span, TemplateId, TenantId, Trace, TraceId,
    TraceSummary,
};
use otelcontext_ports::{
    BucketQuery, IntelligenceStore, InvestigationQuery, LogId, LogPartition, LogQuery, LogStore, Maintenance,
    MetricQuery, MetricStore, Page, PoolStats, RetentionTarget, SignalCounts, SnapshotQuery, SpanQuery, StorageError,
    StorageStatus, StoredLog, TelemetryWriter, TemplateQuery, TenantBatch, TokenSource, TraceQuery, TraceStore,
    WriteSummary,
};
use otelcontext_ports::{
    CatalogCache, CatalogSignal, HeatCell, SeriesQuery, TimeRange, TraceStats, TraceStatsQuery, TrafficPoint,
};
use parking_lot::Mutex;
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

/// Settings of the PostgreSQL adapter.
#[derive(Clone)]
pub struct PostgresConfig {
    /// `DB_DSN`: URL or key=value pairs.
    pub dsn: String,
    /// Apply pending migrations at open; when false, refuse a database whose schema is not current.
    pub automigrate: bool,
    /// Most connections (`DB_MAX_OPEN_CONNS`).
    pub max_open: u32,
    /// Connections kept open while idle (`DB_MAX_IDLE_CONNS`); idle ones above it close after
    /// [`IDLE_TIMEOUT`].
    pub max_idle: u32,
    /// Longest a connection lives (`DB_CONN_MAX_LIFETIME`; capped at 30 min with Entra).
    pub max_lifetime: Duration,
    /// Logs range-partitioned by day (`DB_POSTGRES_PARTITIONING=daily`).
    pub daily_partitions: bool,
    /// Tokens used as passwords (`DB_AZURE_AUTH=true`); the DSN must then carry none.
    pub token_source: Option<Arc<dyn TokenSource>>,
    /// How long acquiring a connection may take.
    pub acquire_timeout: Duration,
}

/// Idle connections above `max_idle` are closed after this long.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

impl PostgresConfig {
    /// Defaults for a DSN: automigrate, 50 open / 10 idle connections, 1 h lifetime.
    pub fn new(dsn: impl Into<String>) -> Self {
        Self {
            dsn: dsn.into(),
            automigrate: true,
            max_open: 50,
            max_idle: 10,
            max_lifetime: Duration::from_secs(3_600),
            daily_partitions: false,
            token_source: None,
            acquire_timeout: Duration::from_secs(10),
        }
    }
}

/// Storage on a PostgreSQL database (the current schema of the connection's search path).
pub struct PostgresStorage {
    pool: PgPool,
    max_open: u32,
    partitioned: bool,
    trigram: bool,
    known_tenants: Mutex<HashSet<Arc<str>>>,
    known_resources: Mutex<HashSet<(Arc<str>, i64)>>,
    /// What the catalogue table says (see [`CatalogCache`]).
    catalog: Mutex<CatalogCache>,
    refresher: Option<entra::TokenRefresher>,
}

impl PostgresStorage {
    /// Connects, then migrates or checks the schema, as configured.
    pub async fn open(config: &PostgresConfig) -> Result<Self, StorageError> {
        let parsed = parse_dsn(&config.dsn).map_err(StorageError::InvalidArgument)?;
        let mut base = parsed.options.clone();
        if config.daily_partitions {
            // Read by the first migration to create logs partitioned.
            base = base.options([("otelcontext.partitioning", "daily")]);
        }
        let mut lifetime = config.max_lifetime;
        let mut first_token = None;
        let connect_options = match &config.token_source {
            Some(source) => {
                validate_entra_dsn(&parsed).map_err(StorageError::InvalidArgument)?;
                lifetime = lifetime.min(ENTRA_MAX_LIFETIME);
                let (options, token) =
                    entra::options_with_token(&base, &**source).await.map_err(StorageError::Unavailable)?;
                first_token = Some(token);
                options
            }
            None => base.clone(),
        };
        let max_open = config.max_open.max(1);
        let pool = PgPoolOptions::new()
            .max_connections(max_open)
            .min_connections(config.max_idle.min(max_open))
            .idle_timeout(IDLE_TIMEOUT)
            .max_lifetime(lifetime)
            .acquire_timeout(parsed.connect_timeout.unwrap_or(config.acquire_timeout))
            .connect_with(connect_options)
            .await
            .map_err(|e| StorageError::Unavailable(format!("cannot connect to PostgreSQL: {e}")))?;
        let facts = schema::prepare(&pool, config.automigrate, config.daily_partitions).await?;
        // Trace rows stored before schema v4 get their dashboard rollups once (a no-op afterwards).
        let started = std::time::Instant::now();
        let rolled = rollups::backfill(&pool).await?;
        if rolled > 0 {
            tracing::info!(
                rows = rolled,
                seconds = started.elapsed().as_secs_f64(),
                "dashboard rollups filled from stored trace rows"
            );
        }
        let refresher = match (&config.token_source, first_token) {
            (Some(source), Some(token)) => {
                Some(entra::TokenRefresher::start(pool.clone(), base, source.clone(), &token))
            }
            _ => None,
        };
        Ok(Self {
            pool,
            max_open,
            partitioned: facts.partitioned,
            trigram: facts.trigram,
            known_tenants: Mutex::new(HashSet::new()),
            known_resources: Mutex::new(HashSet::new()),
            catalog: Mutex::new(CatalogCache::new(100_000)),
            refresher,
        })
    }

    /// Applies pending migrations (and pg_trgm, and the partitioned logs table when asked) and
    /// closes the connections; returns the schema version.
    pub async fn migrate(config: &PostgresConfig) -> Result<i64, StorageError> {
        let storage = Self::open(&PostgresConfig { automigrate: true, ..config.clone() }).await?;
        storage.close().await;
        Ok(SCHEMA_VERSION)
    }

    /// Whether log search is served by trigram indexes.
    pub fn trigram_indexed(&self) -> bool {
        self.trigram
    }

    /// How many times the Entra token was replaced since start (0 without Entra).
    pub fn token_refreshes(&self) -> u64 {
        self.refresher.as_ref().map_or(0, |r| r.refreshes())
    }

    /// The pool (for tests and maintenance tools).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

#[async_trait]
impl TelemetryWriter for PostgresStorage {
    async fn write(&self, batches: &[TenantBatch]) -> Result<WriteSummary, StorageError> {
        if batches.iter().all(|b| b.items() == 0) {
            return Ok(WriteSummary::default());
        }
        let prepared = {
            let tenants = self.known_tenants.lock();
            let resources = self.known_resources.lock();
            write::Prepared::new(batches, &tenants, &resources)
        };
        let (tenants, resources) = prepared.registered();
        let catalog = self.catalog.lock().needed_in(batches);
        let mut tx = self.pool.begin().await.map_err(map_sqlx_error)?;
        let summary = write::write(&mut tx, prepared).await?;
        write::write_catalog(&mut tx, &catalog).await?;
        tx.commit().await.map_err(map_sqlx_error)?;
        self.catalog.lock().remember(&catalog);
        self.known_tenants.lock().extend(tenants.into_iter().map(Arc::from));
        let mut known = self.known_resources.lock();
        if known.len() > 100_000 {
            known.clear();
        }
        known.extend(resources.into_iter().map(|(t, fp)| (Arc::from(t), fp)));
        Ok(summary)
    }
}

#[async_trait]
impl TraceStore for PostgresStorage {
    async fn get_trace(&self, tenant: &TenantId, trace_id: &TraceId) -> Result<Option<Trace>, StorageError> {
        read::get_trace(&self.pool, tenant, trace_id).await
    }

    async fn search_traces(&self, tenant: &TenantId, q: &TraceQuery) -> Result<Page<TraceSummary>, StorageError> {
        search::search_traces(&self.pool, tenant, q).await
    }

    async fn search_spans(&self, tenant: &TenantId, q: &SpanQuery) -> Result<Page<Span>, StorageError> {
        search::search_spans(&self.pool, tenant, q).await
    }

    async fn services(&self, tenant: &TenantId, time: TimeRange, limit: usize) -> Result<Vec<String>, StorageError> {
        search::catalog_names(&self.pool, tenant, CatalogSignal::Span, true, None, time, limit).await
    }

    async fn operations(
        &self,
        tenant: &TenantId,
        service: &str,
        time: TimeRange,
        limit: usize,
    ) -> Result<Vec<String>, StorageError> {
        search::catalog_names(&self.pool, tenant, CatalogSignal::Span, false, Some(service), time, limit).await
    }

    async fn trace_stats(&self, tenant: &TenantId, q: &TraceStatsQuery) -> Result<TraceStats, StorageError> {
        aggregate::trace_stats(&self.pool, tenant, q).await
    }

    async fn traffic(&self, tenant: &TenantId, q: &SeriesQuery) -> Result<Vec<TrafficPoint>, StorageError> {
        aggregate::traffic(&self.pool, tenant, q).await
    }

    async fn latency_heatmap(&self, tenant: &TenantId, q: &SeriesQuery) -> Result<Vec<HeatCell>, StorageError> {
        aggregate::latency_heatmap(&self.pool, tenant, q).await
    }
}

#[async_trait]
impl LogStore for PostgresStorage {
    async fn search_logs(&self, tenant: &TenantId, q: &LogQuery) -> Result<Page<StoredLog>, StorageError> {
        search::search_logs(&self.pool, tenant, q, self.trigram).await
    }

    async fn get_log(&self, tenant: &TenantId, id: LogId) -> Result<Option<StoredLog>, StorageError> {
        search::get_log(&self.pool, tenant, id).await
    }
}

#[async_trait]
impl MetricStore for PostgresStorage {
    async fn search_metric_points(
        &self,
        tenant: &TenantId,
        q: &MetricQuery,
    ) -> Result<Page<MetricPoint>, StorageError> {
        search::search_metric_points(&self.pool, tenant, q).await
    }

    async fn write_buckets(&self, tenant: &TenantId, buckets: &[MetricBucket]) -> Result<(), StorageError> {
        if buckets.is_empty() {
            return Ok(());
        }
        records::write_buckets(&self.pool, tenant.as_str(), buckets).await
    }

    async fn search_buckets(&self, tenant: &TenantId, q: &BucketQuery) -> Result<Page<MetricBucket>, StorageError> {
        search::search_buckets(&self.pool, tenant, q).await
    }

    async fn metric_names<'a>(
        &self,
        tenant: &TenantId,
        service: Option<&'a str>,
        time: TimeRange,
        limit: usize,
    ) -> Result<Vec<String>, StorageError> {
        search::catalog_names(&self.pool, tenant, CatalogSignal::Metric, false, service, time, limit).await
    }
}

#[async_trait]
impl IntelligenceStore for PostgresStorage {
    async fn upsert_templates(&self, tenant: &TenantId, templates: &[LogTemplate]) -> Result<(), StorageError> {
        if templates.is_empty() {
            return Ok(());
        }
        records::upsert_templates(&self.pool, tenant.as_str(), templates).await
    }

    async fn list_templates(&self, tenant: &TenantId) -> Result<Vec<LogTemplate>, StorageError> {
        search::list_templates(&self.pool, tenant).await
    }

    async fn get_template(&self, tenant: &TenantId, id: TemplateId) -> Result<Option<LogTemplate>, StorageError> {
        search::get_template(&self.pool, tenant, id).await
    }

    async fn search_templates(&self, tenant: &TenantId, q: &TemplateQuery) -> Result<Page<LogTemplate>, StorageError> {
        search::search_templates(&self.pool, tenant, q).await
    }

    async fn save_investigation(&self, tenant: &TenantId, investigation: &Investigation) -> Result<(), StorageError> {
        records::save_investigation(&self.pool, tenant.as_str(), investigation).await
    }

    async fn get_investigation(&self, tenant: &TenantId, id: &str) -> Result<Option<Investigation>, StorageError> {
        search::get_investigation(&self.pool, tenant, id).await
    }

    async fn search_investigations(
        &self,
        tenant: &TenantId,
        q: &InvestigationQuery,
    ) -> Result<Page<Investigation>, StorageError> {
        search::search_investigations(&self.pool, tenant, q).await
    }

    async fn save_snapshot(&self, tenant: &TenantId, snapshot: &GraphSnapshot) -> Result<(), StorageError> {
        records::save_snapshot(&self.pool, tenant.as_str(), snapshot).await
    }

    async fn get_snapshot(&self, tenant: &TenantId, id: &str) -> Result<Option<GraphSnapshot>, StorageError> {
        search::get_snapshot(&self.pool, tenant, id).await
    }

    async fn search_snapshots(
        &self,
        tenant: &TenantId,
        q: &SnapshotQuery,
    ) -> Result<Page<GraphSnapshot>, StorageError> {
        search::search_snapshots(&self.pool, tenant, q).await
    }
}

#[async_trait]
impl Maintenance for PostgresStorage {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    async fn ping(&self) -> Result<(), StorageError> {
        sqlx::query("SELECT 1").execute(&self.pool).await.map_err(map_sqlx_error)?;
        Ok(())
    }

    async fn counts(&self, tenant: &TenantId) -> Result<SignalCounts, StorageError> {
        maintenance::counts(&self.pool, tenant).await
    }

    async fn tenants(&self) -> Result<Vec<TenantId>, StorageError> {
        maintenance::tenants(&self.pool).await
    }

    async fn purge(&self, target: RetentionTarget, cutoff_ns: i64, batch: usize) -> Result<u64, StorageError> {
        if batch == 0 {
            return Err(StorageError::InvalidArgument("purge batch must be at least 1".into()));
        }
        if matches!(target, RetentionTarget::Traces | RetentionTarget::MetricPoints) {
            // Entries may leave the catalogue: writes must not assume they are there.
            *self.catalog.lock() = CatalogCache::new(100_000);
        }
        maintenance::purge(&self.pool, target, None, cutoff_ns, batch, self.partitioned).await
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
            *self.catalog.lock() = CatalogCache::new(100_000);
        }
        maintenance::purge(&self.pool, target, Some(tenant.as_str()), cutoff_ns, batch, self.partitioned).await
    }

    async fn count_older_than(&self, target: RetentionTarget, cutoff_ns: i64) -> Result<u64, StorageError> {
        maintenance::count_older_than(&self.pool, target, cutoff_ns, self.partitioned).await
    }

    async fn optimize(&self) -> Result<(), StorageError> {
        maintenance::optimize(&self.pool).await
    }

    async fn status(&self) -> Result<StorageStatus, StorageError> {
        let version: String =
            sqlx::query_scalar("SHOW server_version").fetch_one(&self.pool).await.map_err(map_sqlx_error)?;
        let partitions = if self.partitioned { maintenance::log_partitions(&self.pool).await?.len() } else { 0 };
        Ok(StorageStatus {
            backend: "postgres".into(),
            size_bytes: Some(maintenance::database_size(&self.pool).await?),
            schema_version: schema::applied_version(&self.pool).await?.unwrap_or(0),
            full_text_indexed: self.trigram,
            logs_partitioned: self.partitioned,
            settings: vec![
                ("server_version".into(), version),
                ("pool_max_open".into(), self.max_open.to_string()),
                ("log_partitions".into(), partitions.to_string()),
            ],
        })
    }

    fn pool_stats(&self) -> Option<PoolStats> {
        let open = self.pool.size();
        let idle = self.pool.num_idle() as u32;
        Some(PoolStats { open, idle, in_use: open.saturating_sub(idle), max_open: self.max_open })
    }

    async fn log_partitions(&self) -> Result<Vec<LogPartition>, StorageError> {
        if !self.partitioned {
            return Ok(Vec::new());
        }
        maintenance::log_partitions(&self.pool).await
    }

    async fn create_log_partitions(&self, days: &[Day]) -> Result<usize, StorageError> {
        if !self.partitioned {
            return Ok(0);
        }
        maintenance::create_log_partitions(&self.pool, days).await
    }

    async fn drop_log_partition(&self, name: &str) -> Result<(), StorageError> {
        if !self.partitioned {
            return Err(StorageError::InvalidArgument(format!("no partition {name:?}: logs are not partitioned")));
        }
        maintenance::drop_log_partition(&self.pool, name).await
    }

    async fn close(&self) {
        self.pool.close().await;
    }
}

#[cfg(test)]
mod tests;
