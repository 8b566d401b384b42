//! An example of custom storage: every tenant in a SQLite file of its own
//! (`<dir>/tenant-<id>.db`), so a tenant can be backed up, moved or deleted as one file.
//!
//! It is written only against public APIs — the storage ports of `otelcontext-ports` and the SQLite
//! adapter — and passes the same conformance suite as the built-in adapters (see the tests at
//! the bottom). Plug it in with `otelcontext::Server::builder(config).storage(Arc::new(store))`.
//!
//! Trade-off: a write that carries several tenants is atomic per tenant, not across tenants
//! (each file has its own transactions).

use async_trait::async_trait;
use otelcontext_domain::retention::Day;
use otelcontext_domain::{
    GraphSnapshot, Investigation, LogTemplate, MetricBucket, MetricPoint, Span, TemplateId, TenantId, Trace, TraceId,
    TraceSummary,
};
use otelcontext_ports::{
    BucketQuery, IntelligenceStore, InvestigationQuery, LogId, LogPartition, LogQuery, LogStore, Maintenance,
    MetricQuery, MetricStore, Page, PoolStats, RetentionTarget, SignalCounts, SnapshotQuery, SpanQuery, StorageError,
    StorageStatus, StoredLog, TelemetryWriter, TemplateQuery, TenantBatch, TimeRange, TraceQuery, TraceStore,
    WriteSummary, validate_catalog_read,
};
use otelcontext_ports::{HeatCell, SeriesQuery, TraceStats, TraceStatsQuery, TrafficPoint};
use otelcontext_sqlite::{SqliteConfig, SqliteStorage};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::sync::Mutex;

/// One SQLite file per tenant under a directory.
pub struct TenantFiles {
    dir: PathBuf,
    shards: Mutex<BTreeMap<TenantId, Arc<SqliteStorage>>>,
}

const PREFIX: &str = "tenant-";
const SUFFIX: &str = ".db";

impl TenantFiles {
    /// Opens every tenant file already in `dir` (creating the directory).
    pub async fn open(dir: impl AsRef<Path>) -> Result<Self, StorageError> {
        let dir = dir.as_ref().to_owned();
        std::fs::create_dir_all(&dir).map_err(|e| StorageError::Unavailable(format!("{}: {e}", dir.display())))?;
        let mut shards = BTreeMap::new();
        let entries =
            std::fs::read_dir(&dir).map_err(|e| StorageError::Unavailable(format!("{}: {e}", dir.display())))?;
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(id) = name.strip_prefix(PREFIX).and_then(|n| n.strip_suffix(SUFFIX)) else { continue };
            let Ok(tenant) = TenantId::parse(id) else { continue };
            let shard = SqliteStorage::open(&SqliteConfig::new(entry.path())).await?;
            shards.insert(tenant, Arc::new(shard));
        }
        Ok(Self { dir, shards: Mutex::new(shards) })
    }

    fn file_of(&self, tenant: &TenantId) -> PathBuf {
        // Tenant ids are letters, digits, '.', '_' and '-': safe in a file name.
        self.dir.join(format!("{PREFIX}{tenant}{SUFFIX}"))
    }

    /// The tenant's file, created on its first write.
    async fn for_write(&self, tenant: &TenantId) -> Result<Arc<SqliteStorage>, StorageError> {
        let mut shards = self.shards.lock().await;
        if let Some(s) = shards.get(tenant) {
            return Ok(s.clone());
        }
        let shard = Arc::new(SqliteStorage::open(&SqliteConfig::new(self.file_of(tenant))).await?);
        shards.insert(tenant.clone(), shard.clone());
        Ok(shard)
    }

    /// The tenant's file, if it ever wrote anything (reads never create files).
    async fn existing(&self, tenant: &TenantId) -> Option<Arc<SqliteStorage>> {
        self.shards.lock().await.get(tenant).cloned()
    }

    async fn all(&self) -> Vec<Arc<SqliteStorage>> {
        self.shards.lock().await.values().cloned().collect()
    }
}

#[async_trait]
impl TelemetryWriter for TenantFiles {
    async fn write(&self, batches: &[TenantBatch]) -> Result<WriteSummary, StorageError> {
        let mut summary = WriteSummary::default();
        for batch in batches.iter().filter(|b| b.items() > 0) {
            let shard = self.for_write(&batch.tenant).await?;
            summary.add(&shard.write(std::slice::from_ref(batch)).await?);
        }
        Ok(summary)
    }
}

#[async_trait]
impl TraceStore for TenantFiles {
    async fn get_trace(&self, t: &TenantId, id: &TraceId) -> Result<Option<Trace>, StorageError> {
        match self.existing(t).await {
            Some(s) => s.get_trace(t, id).await,
            None => Ok(None),
        }
    }

    async fn search_traces(&self, t: &TenantId, q: &TraceQuery) -> Result<Page<TraceSummary>, StorageError> {
        q.validate()?;
        match self.existing(t).await {
            Some(s) => s.search_traces(t, q).await,
            None => Ok(Page::empty()),
        }
    }

    async fn search_spans(&self, t: &TenantId, q: &SpanQuery) -> Result<Page<Span>, StorageError> {
        q.validate()?;
        match self.existing(t).await {
            Some(s) => s.search_spans(t, q).await,
            None => Ok(Page::empty()),
        }
    }

    async fn services(&self, t: &TenantId, time: TimeRange, limit: usize) -> Result<Vec<String>, StorageError> {
        validate_catalog_read(&time, limit)?;
        match self.existing(t).await {
            Some(s) => s.services(t, time, limit).await,
            None => Ok(Vec::new()),
        }
    }

    async fn operations(
        &self,
        t: &TenantId,
        service: &str,
        time: TimeRange,
        limit: usize,
    ) -> Result<Vec<String>, StorageError> {
        validate_catalog_read(&time, limit)?;
        match self.existing(t).await {
            Some(s) => s.operations(t, service, time, limit).await,
            None => Ok(Vec::new()),
        }
    }

    async fn trace_stats(&self, t: &TenantId, q: &TraceStatsQuery) -> Result<TraceStats, StorageError> {
        q.validate()?;
        match self.existing(t).await {
            Some(s) => s.trace_stats(t, q).await,
            None => Ok(TraceStats::default()),
        }
    }

    async fn traffic(&self, t: &TenantId, q: &SeriesQuery) -> Result<Vec<TrafficPoint>, StorageError> {
        q.validate()?;
        match self.existing(t).await {
            Some(s) => s.traffic(t, q).await,
            None => Ok(Vec::new()),
        }
    }

    async fn latency_heatmap(&self, t: &TenantId, q: &SeriesQuery) -> Result<Vec<HeatCell>, StorageError> {
        q.validate()?;
        match self.existing(t).await {
            Some(s) => s.latency_heatmap(t, q).await,
            None => Ok(Vec::new()),
        }
    }
}

#[async_trait]
impl LogStore for TenantFiles {
    async fn search_logs(&self, t: &TenantId, q: &LogQuery) -> Result<Page<StoredLog>, StorageError> {
        q.validate()?;
        match self.existing(t).await {
            Some(s) => s.search_logs(t, q).await,
            None => Ok(Page::empty()),
        }
    }

    async fn get_log(&self, t: &TenantId, id: LogId) -> Result<Option<StoredLog>, StorageError> {
        match self.existing(t).await {
            Some(s) => s.get_log(t, id).await,
            None => Ok(None),
        }
    }
}

#[async_trait]
impl MetricStore for TenantFiles {
    async fn search_metric_points(&self, t: &TenantId, q: &MetricQuery) -> Result<Page<MetricPoint>, StorageError> {
        q.validate()?;
        match self.existing(t).await {
            Some(s) => s.search_metric_points(t, q).await,
            None => Ok(Page::empty()),
        }
    }

    async fn write_buckets(&self, t: &TenantId, buckets: &[MetricBucket]) -> Result<(), StorageError> {
        if buckets.is_empty() {
            return Ok(());
        }
        self.for_write(t).await?.write_buckets(t, buckets).await
    }

    async fn search_buckets(&self, t: &TenantId, q: &BucketQuery) -> Result<Page<MetricBucket>, StorageError> {
        q.validate()?;
        match self.existing(t).await {
            Some(s) => s.search_buckets(t, q).await,
            None => Ok(Page::empty()),
        }
    }

    async fn metric_names<'a>(
        &self,
        t: &TenantId,
        service: Option<&'a str>,
        time: TimeRange,
        limit: usize,
    ) -> Result<Vec<String>, StorageError> {
        validate_catalog_read(&time, limit)?;
        match self.existing(t).await {
            Some(s) => s.metric_names(t, service, time, limit).await,
            None => Ok(Vec::new()),
        }
    }
}

#[async_trait]
impl IntelligenceStore for TenantFiles {
    async fn upsert_templates(&self, t: &TenantId, templates: &[LogTemplate]) -> Result<(), StorageError> {
        if templates.is_empty() {
            return Ok(());
        }
        self.for_write(t).await?.upsert_templates(t, templates).await
    }

    async fn list_templates(&self, t: &TenantId) -> Result<Vec<LogTemplate>, StorageError> {
        match self.existing(t).await {
            Some(s) => s.list_templates(t).await,
            None => Ok(Vec::new()),
        }
    }

    async fn get_template(&self, t: &TenantId, id: TemplateId) -> Result<Option<LogTemplate>, StorageError> {
        match self.existing(t).await {
            Some(s) => s.get_template(t, id).await,
            None => Ok(None),
        }
    }

    async fn search_templates(&self, t: &TenantId, q: &TemplateQuery) -> Result<Page<LogTemplate>, StorageError> {
        match self.existing(t).await {
            Some(s) => s.search_templates(t, q).await,
            None => q.validate().map(|()| Page::empty()),
        }
    }

    async fn save_investigation(&self, t: &TenantId, i: &Investigation) -> Result<(), StorageError> {
        self.for_write(t).await?.save_investigation(t, i).await
    }

    async fn get_investigation(&self, t: &TenantId, id: &str) -> Result<Option<Investigation>, StorageError> {
        match self.existing(t).await {
            Some(s) => s.get_investigation(t, id).await,
            None => Ok(None),
        }
    }

    async fn search_investigations(
        &self,
        t: &TenantId,
        q: &InvestigationQuery,
    ) -> Result<Page<Investigation>, StorageError> {
        q.validate()?;
        match self.existing(t).await {
            Some(s) => s.search_investigations(t, q).await,
            None => Ok(Page::empty()),
        }
    }

    async fn save_snapshot(&self, t: &TenantId, s: &GraphSnapshot) -> Result<(), StorageError> {
        self.for_write(t).await?.save_snapshot(t, s).await
    }

    async fn get_snapshot(&self, t: &TenantId, id: &str) -> Result<Option<GraphSnapshot>, StorageError> {
        match self.existing(t).await {
            Some(s) => s.get_snapshot(t, id).await,
            None => Ok(None),
        }
    }

    async fn search_snapshots(&self, t: &TenantId, q: &SnapshotQuery) -> Result<Page<GraphSnapshot>, StorageError> {
        q.validate()?;
        match self.existing(t).await {
            Some(s) => s.search_snapshots(t, q).await,
            None => Ok(Page::empty()),
        }
    }
}

#[async_trait]
impl Maintenance for TenantFiles {
    fn backend(&self) -> &'static str {
        "tenant-files"
    }

    async fn ping(&self) -> Result<(), StorageError> {
        std::fs::metadata(&self.dir).map_err(|e| StorageError::Unavailable(format!("{}: {e}", self.dir.display())))?;
        for s in self.all().await {
            s.ping().await?;
        }
        Ok(())
    }

    async fn counts(&self, t: &TenantId) -> Result<SignalCounts, StorageError> {
        match self.existing(t).await {
            Some(s) => s.counts(t).await,
            None => Ok(SignalCounts::default()),
        }
    }

    async fn tenants(&self) -> Result<Vec<TenantId>, StorageError> {
        Ok(self.shards.lock().await.keys().cloned().collect())
    }

    async fn purge(&self, target: RetentionTarget, cutoff_ns: i64, batch: usize) -> Result<u64, StorageError> {
        let mut deleted = 0;
        for s in self.all().await {
            let budget = batch.saturating_sub(deleted as usize);
            if budget == 0 {
                break;
            }
            deleted += s.purge(target, cutoff_ns, budget).await?;
        }
        Ok(deleted)
    }

    async fn purge_tenant(
        &self,
        t: &TenantId,
        target: RetentionTarget,
        cutoff_ns: i64,
        batch: usize,
    ) -> Result<u64, StorageError> {
        if batch == 0 {
            return Err(StorageError::InvalidArgument("purge batch must be at least 1".into()));
        }
        match self.existing(t).await {
            Some(s) => s.purge_tenant(t, target, cutoff_ns, batch).await,
            None => Ok(0),
        }
    }

    async fn count_older_than(&self, target: RetentionTarget, cutoff_ns: i64) -> Result<u64, StorageError> {
        let mut n = 0;
        for s in self.all().await {
            n += s.count_older_than(target, cutoff_ns).await?;
        }
        Ok(n)
    }

    async fn optimize(&self) -> Result<(), StorageError> {
        for s in self.all().await {
            s.optimize().await?;
        }
        Ok(())
    }

    async fn status(&self) -> Result<StorageStatus, StorageError> {
        let mut size = 0;
        for s in self.all().await {
            size += s.status().await?.size_bytes.unwrap_or(0);
        }
        Ok(StorageStatus {
            backend: self.backend().into(),
            size_bytes: Some(size),
            schema_version: otelcontext_sqlite::SCHEMA_VERSION,
            full_text_indexed: true,
            logs_partitioned: false,
            settings: vec![("tenant_files".into(), self.shards.lock().await.len().to_string())],
        })
    }

    fn pool_stats(&self) -> Option<PoolStats> {
        None
    }

    async fn log_partitions(&self) -> Result<Vec<LogPartition>, StorageError> {
        Ok(Vec::new())
    }

    async fn create_log_partitions(&self, _days: &[Day]) -> Result<usize, StorageError> {
        Ok(0)
    }

    async fn drop_log_partition(&self, name: &str) -> Result<(), StorageError> {
        Err(StorageError::InvalidArgument(format!("no partition {name:?}: tenant files do not partition logs")))
    }

    async fn close(&self) {
        for s in self.all().await {
            s.close().await;
        }
    }
}

#[cfg(test)]
mod conformance {
    use super::TenantFiles;
    use otelcontext_ports::conformance::TestStorage;
    use std::sync::Arc;

    async fn fresh() -> TestStorage {
        let dir = tempfile::tempdir().unwrap();
        let storage = TenantFiles::open(dir.path()).await.unwrap();
        TestStorage { storage: Arc::new(storage), guard: Box::new(dir) }
    }

    otelcontext_ports::storage_conformance_tests!(fresh);
}

#[cfg(test)]
mod tests {
    use super::*;
    use otelcontext_ports::conformance::fixtures::{logs_batch, tenant, text_log};

    #[tokio::test]
    async fn every_tenant_gets_a_file_that_is_found_again_on_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let store = TenantFiles::open(dir.path()).await.unwrap();
        for t in ["acme", "globex"] {
            store.write(&logs_batch(&tenant(t), vec![text_log(1, "svc", "hello")])).await.unwrap();
        }
        store.close().await;
        assert!(dir.path().join("tenant-acme.db").exists() && dir.path().join("tenant-globex.db").exists());
        let store = TenantFiles::open(dir.path()).await.unwrap();
        assert_eq!(store.tenants().await.unwrap(), vec![tenant("acme"), tenant("globex")]);
        assert_eq!(store.counts(&tenant("acme")).await.unwrap().logs, 1);
        // Reading an unknown tenant creates nothing.
        assert_eq!(store.counts(&tenant("nobody")).await.unwrap().logs, 0);
        assert!(!dir.path().join("tenant-nobody.db").exists());
    }
}
