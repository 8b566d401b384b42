//! Similar logs: committed log records at WARN and above go into a TF-IDF index per tenant
//! (`VECTOR_INDEX_MAX_ENTRIES` records each, oldest evicted), searched by cosine similarity.
//! At start the index is rebuilt from the newest such records in storage (the last 24 hours,
//! at most [`REBUILD_PER_TENANT`] per tenant and [`REBUILD_TOTAL`] overall).

use otelcontext_domain::similar::{Hit, SimilarIndex};
use otelcontext_domain::{LogRecord, SeverityLevel, SpanId, TemplateId, TenantId, TraceId};
use otelcontext_ports::{
    Clock, CommitObserver, LogId, LogQuery, LogStore, StorageError, StoredLog, TenantBatch, TimeRange,
};
use otelcontext_telemetry::{Counter, Gauge, Meter, counter, gauge};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

/// Records below this level are not indexed.
pub const MIN_LEVEL: SeverityLevel = SeverityLevel::Warn;
/// Most records read back per tenant at start.
pub const REBUILD_PER_TENANT: usize = 5_000;
/// Most records read back over all tenants at start.
pub const REBUILD_TOTAL: usize = 50_000;
/// Most results of one search.
pub const MAX_RESULTS: usize = 100;
/// Longest body kept per record, in bytes.
const BODY_BYTES: usize = 1_024;
const DAY_NS: i64 = 86_400_000_000_000;

/// A record as a similar-log result shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct SimilarLog {
    /// The stored id, when known (records indexed at start carry it; live ones are found by
    /// time, trace and body).
    pub id: Option<LogId>,
    pub timestamp_ns: i64,
    pub service: String,
    pub severity: String,
    /// The body, clipped to 1 KiB.
    pub body: String,
    pub trace_id: Option<TraceId>,
    pub span_id: Option<SpanId>,
    pub template_id: Option<TemplateId>,
}

impl SimilarLog {
    fn of(record: &LogRecord, body: String, id: Option<LogId>) -> Self {
        Self {
            id,
            timestamp_ns: record.timestamp_ns,
            service: record.service_name().to_owned(),
            severity: record.severity_label(),
            body: clip(body, BODY_BYTES),
            trace_id: record.trace_id,
            span_id: record.span_id,
            template_id: record.template_id,
        }
    }
}

fn clip(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
    s
}

type Index = Arc<Mutex<SimilarIndex<SimilarLog>>>;

/// The per-tenant indexes.
pub struct SimilarLogService {
    max_entries: usize,
    indexes: Mutex<HashMap<TenantId, Index>>,
    clock: Arc<dyn Clock>,
    held: AtomicI64,
    entries: Gauge<i64>,
    evicted: Counter<u64>,
    indexed: Counter<u64>,
}

impl SimilarLogService {
    /// Empty indexes of at most `max_entries` records per tenant.
    pub fn new(max_entries: usize, clock: Arc<dyn Clock>, meter: &Meter) -> Self {
        let entries = gauge(
            meter,
            "otelcontext_vector_index_entries",
            "Log records held by the similar-log index (all tenants).",
        );
        let limit = gauge(
            meter,
            "otelcontext_vector_index_max_entries",
            "VECTOR_INDEX_MAX_ENTRIES: records held per tenant at most.",
        );
        let evicted =
            counter(meter, "otelcontext_vector_index_evicted_total", "Oldest records dropped at the per-tenant cap.");
        let indexed = counter(meter, "otelcontext_vector_index_indexed_total", "Log records added to the index.");
        entries.record(0, &[]);
        limit.record(i64::try_from(max_entries).unwrap_or(i64::MAX), &[]);
        evicted.add(0, &[]);
        indexed.add(0, &[]);
        Self {
            max_entries,
            indexes: Mutex::new(HashMap::new()),
            clock,
            held: AtomicI64::new(0),
            entries,
            evicted,
            indexed,
        }
    }

    fn index(&self, tenant: &TenantId) -> Index {
        self.indexes
            .lock()
            .entry(tenant.clone())
            .or_insert_with(|| Arc::new(Mutex::new(SimilarIndex::new(self.max_entries))))
            .clone()
    }

    /// Adds records (those at [`MIN_LEVEL`] and above) to their tenant's index.
    fn add<'a>(&self, tenant: &TenantId, records: impl Iterator<Item = (&'a LogRecord, Option<LogId>)>) {
        let mut records = records.filter(|(r, _)| r.level() >= MIN_LEVEL).peekable();
        if records.peek().is_none() {
            return;
        }
        let index = self.index(tenant);
        let (mut added, mut evicted, mut indexed) = (0i64, 0u64, 0u64);
        {
            let mut ix = index.lock();
            for (record, id) in records {
                let body = record.body_text();
                let before = ix.len();
                let out = ix.insert(&body, SimilarLog::of(record, body.clone(), id));
                evicted += out as u64;
                added += ix.len() as i64 - before as i64;
                // A body without terms is not indexed: the size neither grew nor turned over.
                if ix.len() != before || out > 0 {
                    indexed += 1;
                }
            }
        }
        self.indexed.add(indexed, &[]);
        if evicted > 0 {
            self.evicted.add(evicted, &[]);
        }
        let total = self.held.fetch_add(added, Ordering::Relaxed) + added;
        self.entries.record(total, &[]);
    }

    /// The records of `tenant` most similar to `query`, best first (at most [`MAX_RESULTS`]).
    pub fn search(&self, tenant: &TenantId, query: &str, limit: usize) -> Vec<Hit<SimilarLog>> {
        let index = self.indexes.lock().get(tenant).cloned();
        match index {
            Some(ix) => ix.lock().search(query, limit.min(MAX_RESULTS)),
            None => Vec::new(),
        }
    }

    /// Records held for `tenant`.
    pub fn len(&self, tenant: &TenantId) -> usize {
        self.indexes.lock().get(tenant).map_or(0, |ix| ix.lock().len())
    }

    /// Drops everything indexed for `tenant` (after its data was purged).
    pub fn forget(&self, tenant: &TenantId) {
        if let Some(ix) = self.indexes.lock().remove(tenant) {
            let n = i64::try_from(ix.lock().len()).unwrap_or(i64::MAX);
            let total = self.held.fetch_sub(n, Ordering::Relaxed) - n;
            self.entries.record(total, &[]);
        }
    }

    /// Whether `tenant` has no records indexed.
    pub fn is_empty(&self, tenant: &TenantId) -> bool {
        self.len(tenant) == 0
    }

    /// Re-indexes the newest WARN-and-above records of the last day of each tenant; returns how
    /// many were indexed.
    pub async fn rebuild(&self, store: &dyn LogStore, tenants: &[TenantId]) -> Result<usize, StorageError> {
        let now = self.clock.now_ns();
        let per_tenant = REBUILD_PER_TENANT.min(self.max_entries);
        let mut budget = REBUILD_TOTAL;
        let mut total = 0;
        for tenant in tenants {
            if budget == 0 {
                break;
            }
            let q = LogQuery {
                time: TimeRange::between(now.saturating_sub(DAY_NS), now),
                min_severity: Some(MIN_LEVEL),
                limit: per_tenant.min(budget),
                ..LogQuery::default()
            };
            let mut newest_first: Vec<StoredLog> = store.search_logs(tenant, &q).await?.items;
            newest_first.reverse();
            budget -= newest_first.len();
            total += newest_first.len();
            self.add(tenant, newest_first.iter().map(|s| (&s.record, Some(s.id))));
        }
        Ok(total)
    }
}

impl CommitObserver for SimilarLogService {
    fn committed(&self, batches: &[TenantBatch]) {
        for b in batches.iter().filter(|b| !b.logs.is_empty()) {
            self.add(&b.tenant, b.logs.iter().map(|r| (r, None)));
        }
    }
}

#[cfg(test)]
mod tests;
