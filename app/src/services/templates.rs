//! Log templates and patterns: every log record the pipeline writes gets the id of its Drain
//! template, mined per tenant from its body in the pipeline's batches (not on the request path).
//! Besides the count, each template keeps the services it appears in, its severity mix and its
//! activity over the last hour, from which the `spiking` flag is evaluated at every flush.
//! Templates are persisted in batches (`drain_templates`) every [`FLUSH_EVERY`] and at shutdown,
//! and restored at start, so ids and counts continue across restarts. Each tenant's miner is
//! capped (`DrainConfig::max_clusters`); evictions are counted.

use otelcontext_domain::drain::{Cluster, Drain, DrainConfig};
use otelcontext_domain::pattern::{self, Activity, SeverityMix};
use otelcontext_domain::{LogTemplate, TemplateId, TenantId};
use otelcontext_ports::{Clock, IntelligenceStore, StorageError, TenantBatch};
use otelcontext_telemetry::{Counter, Gauge, Meter, counter, gauge};
use parking_lot::Mutex;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How often changed templates are written (and the `spiking` flags evaluated).
pub const FLUSH_EVERY: Duration = Duration::from_secs(10);
/// Longest sample kept per template, in bytes.
const SAMPLE_BYTES: usize = 2_048;

/// What is known of a template besides its cluster.
#[derive(Debug, Clone)]
struct Seen {
    first_ns: i64,
    last_ns: i64,
    sample: String,
    service: String,
    services: Vec<String>,
    severities: SeverityMix,
    activity: Activity,
    spiking: bool,
}

impl Seen {
    fn restored(t: LogTemplate) -> Self {
        Seen {
            first_ns: t.first_seen_ns,
            last_ns: t.last_seen_ns,
            sample: t.sample,
            service: t.service,
            services: t.services,
            severities: t.severities,
            activity: t.activity,
            spiking: t.spiking,
        }
    }
}

struct TenantMiner {
    drain: Drain,
    seen: HashMap<TemplateId, Seen>,
    /// Changed since the last flush.
    dirty: HashSet<TemplateId>,
    /// Templates whose `spiking` flag is set (re-evaluated at every flush even when unchanged,
    /// so a spike that ends is written as ended).
    spiking: HashSet<TemplateId>,
}

impl TenantMiner {
    fn template(&self, id: TemplateId) -> Option<LogTemplate> {
        let c = self.drain.get(id)?;
        let s = self.seen.get(&id)?;
        Some(LogTemplate {
            id,
            template: c.template(),
            count: c.count,
            first_seen_ns: s.first_ns,
            last_seen_ns: s.last_ns,
            sample: s.sample.clone(),
            service: s.service.clone(),
            services: s.services.clone(),
            severities: s.severities,
            activity: s.activity.clone(),
            spiking: s.spiking,
        })
    }

    fn forget_evicted(&mut self) -> u64 {
        let evicted = self.drain.take_evicted();
        for id in &evicted {
            self.seen.remove(id);
            self.dirty.remove(id);
            self.spiking.remove(id);
        }
        evicted.len() as u64
    }

    /// The templates to write at `now_ns`: the changed ones and those whose flag flipped, with
    /// their `spiking` flag evaluated now.
    fn take_changes(&mut self, now_ns: i64) -> Vec<LogTemplate> {
        let changed: HashSet<TemplateId> = std::mem::take(&mut self.dirty);
        let mut ids: Vec<TemplateId> = changed.iter().chain(self.spiking.iter()).copied().collect();
        ids.sort_unstable();
        ids.dedup();
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let Some(seen) = self.seen.get_mut(&id) else { continue };
            seen.activity.prune(now_ns);
            let spiking = pattern::is_spiking(&seen.activity, seen.first_ns, now_ns);
            let flipped = spiking != seen.spiking;
            seen.spiking = spiking;
            if spiking {
                self.spiking.insert(id);
            } else {
                self.spiking.remove(&id);
            }
            if (changed.contains(&id) || flipped)
                && let Some(t) = self.template(id)
            {
                out.push(t);
            }
        }
        out
    }
}

struct TemplateMetrics {
    templates: Gauge<i64>,
    evicted: Counter<u64>,
    mined: Counter<u64>,
    flush_failures: Counter<u64>,
}

/// Mines, persists and restores log templates.
pub struct TemplateService {
    store: Arc<dyn IntelligenceStore>,
    clock: Arc<dyn Clock>,
    config: DrainConfig,
    miners: Mutex<HashMap<TenantId, Arc<Mutex<TenantMiner>>>>,
    /// Templates held over all tenants (kept by deltas, so no pass over every tenant per batch).
    held: std::sync::atomic::AtomicI64,
    metrics: TemplateMetrics,
}

fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_owned()
}

impl TemplateService {
    /// A service with no templates yet (see [`TemplateService::restore`]).
    pub fn new(store: Arc<dyn IntelligenceStore>, clock: Arc<dyn Clock>, config: DrainConfig, meter: &Meter) -> Self {
        let metrics = TemplateMetrics {
            templates: gauge(meter, "otelcontext_drain_templates", "Log templates held by the miners (all tenants)."),
            evicted: counter(
                meter,
                "otelcontext_drain_templates_evicted_total",
                "Least recently matched templates dropped at the per-tenant cap.",
            ),
            mined: counter(meter, "otelcontext_drain_lines_total", "Log records given a template id."),
            flush_failures: counter(
                meter,
                "otelcontext_drain_flush_failures_total",
                "Failed writes of changed templates (retried at the next flush).",
            ),
        };
        metrics.evicted.add(0, &[]);
        metrics.flush_failures.add(0, &[]);
        metrics.templates.record(0, &[]);
        Self { store, clock, config, miners: Mutex::new(HashMap::new()), held: Default::default(), metrics }
    }

    fn miner(&self, tenant: &TenantId) -> Arc<Mutex<TenantMiner>> {
        self.miners
            .lock()
            .entry(tenant.clone())
            .or_insert_with(|| {
                Arc::new(Mutex::new(TenantMiner {
                    drain: Drain::new(self.config),
                    seen: HashMap::new(),
                    dirty: Default::default(),
                    spiking: Default::default(),
                }))
            })
            .clone()
    }

    /// The text of each of `ids` the tenant's miner holds now (it may be newer than what the
    /// last flush wrote; ids it does not hold are left out).
    pub fn texts(&self, tenant: &TenantId, ids: &[TemplateId]) -> HashMap<TemplateId, String> {
        let Some(miner) = self.miners.lock().get(tenant).cloned() else { return HashMap::new() };
        let m = miner.lock();
        ids.iter().filter_map(|id| m.drain.get(*id).map(|c| (*id, c.template()))).collect()
    }

    /// Drops `tenant`'s miner and its templates (after its data was purged): nothing of it is
    /// written back.
    pub fn forget(&self, tenant: &TenantId) {
        if let Some(miner) = self.miners.lock().remove(tenant) {
            let n = i64::try_from(miner.lock().drain.len()).unwrap_or(i64::MAX);
            self.publish_size(-n);
        }
    }

    /// Adds `delta` templates to the total and publishes it.
    fn publish_size(&self, delta: i64) {
        let total = self.held.fetch_add(delta, std::sync::atomic::Ordering::Relaxed) + delta;
        self.metrics.templates.record(total, &[]);
    }

    /// Gives every log record of the batches the id of its template (records with an empty
    /// body get none).
    pub fn assign(&self, batches: &mut [TenantBatch]) {
        let mut mined = 0u64;
        let mut evicted = 0u64;
        let mut delta = 0i64;
        let now = self.clock.now_ns();
        for batch in batches.iter_mut().filter(|b| !b.logs.is_empty()) {
            let miner = self.miner(&batch.tenant);
            let mut m = miner.lock();
            let before = m.drain.len() as i64;
            for log in &mut batch.logs {
                let body = log.body_text();
                let Some(matched) = m.drain.add(&body) else {
                    log.template_id = None;
                    continue;
                };
                log.template_id = Some(matched.id);
                mined += 1;
                let at = log.timestamp_ns;
                let service = log.service_name();
                let level = log.level();
                let seen = m.seen.entry(matched.id).or_insert_with(|| Seen {
                    first_ns: at,
                    last_ns: at,
                    sample: truncate(&body, SAMPLE_BYTES),
                    service: service.to_owned(),
                    services: Vec::new(),
                    severities: SeverityMix::default(),
                    activity: Activity::default(),
                    spiking: false,
                });
                seen.first_ns = seen.first_ns.min(at);
                seen.last_ns = seen.last_ns.max(at);
                pattern::add_service(&mut seen.services, service);
                seen.severities.add(level, 1);
                seen.activity.record(at, 1, now);
                m.dirty.insert(matched.id);
            }
            evicted += m.forget_evicted();
            delta += m.drain.len() as i64 - before;
        }
        self.metrics.mined.add(mined, &[]);
        if evicted > 0 {
            self.metrics.evicted.add(evicted, &[]);
        }
        self.publish_size(delta);
    }

    /// Writes the templates changed since the last flush; a tenant whose write fails keeps its
    /// changes for the next one. Returns how many templates were written.
    pub async fn flush(&self) -> Result<usize, StorageError> {
        let miners: Vec<(TenantId, Arc<Mutex<TenantMiner>>)> =
            self.miners.lock().iter().map(|(t, m)| (t.clone(), m.clone())).collect();
        let mut written = 0;
        let mut failure = None;
        let now = self.clock.now_ns();
        for (tenant, miner) in miners {
            let templates: Vec<LogTemplate> = miner.lock().take_changes(now);
            if templates.is_empty() {
                continue;
            }
            match self.store.upsert_templates(&tenant, &templates).await {
                Ok(()) => written += templates.len(),
                Err(e) => {
                    self.metrics.flush_failures.add(1, &[]);
                    tracing::warn!(tenant = tenant.as_str(), error = %e, "writing log templates failed; retrying later");
                    let mut m = miner.lock();
                    m.dirty.extend(templates.iter().map(|t| t.id));
                    failure = Some(e);
                }
            }
        }
        match failure {
            Some(e) => Err(e),
            None => Ok(written),
        }
    }

    /// Loads the stored templates of every tenant (oldest first, so the cap keeps the newest).
    pub async fn restore(&self, tenants: &[TenantId]) -> Result<usize, StorageError> {
        let mut restored = 0;
        let mut delta = 0i64;
        for tenant in tenants {
            let mut stored = self.store.list_templates(tenant).await?;
            stored.sort_by_key(|t| t.last_seen_ns);
            let miner = self.miner(tenant);
            let mut m = miner.lock();
            let before = m.drain.len() as i64;
            for t in stored {
                let tokens: Vec<String> = t.template.split(' ').map(str::to_owned).collect();
                m.drain.restore(Cluster { id: t.id, tokens, count: t.count });
                if t.spiking {
                    // Re-evaluated at the next flush, which writes it back if the spike ended.
                    m.spiking.insert(t.id);
                }
                m.seen.insert(t.id, Seen::restored(t));
                restored += 1;
            }
            m.forget_evicted();
            delta += m.drain.len() as i64 - before;
        }
        self.publish_size(delta);
        Ok(restored)
    }

    /// Flushes every [`FLUSH_EVERY`] until `stop` fires (the last flush, after the pipeline has
    /// drained, is the server's).
    pub fn spawn(self: Arc<Self>, mut stop: watch::Receiver<bool>) -> JoinHandle<()> {
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(FLUSH_EVERY) => {}
                    _ = stop.wait_for(|v| *v) => return,
                }
                if let Err(e) = self.flush().await {
                    tracing::debug!(error = %e, "template flush incomplete");
                }
            }
        })
    }
}

#[cfg(test)]
mod tests;
