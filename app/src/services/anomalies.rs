//! The anomaly loop: every `GRAPHRAG_ANOMALY_INTERVAL` (10 s) each tenant's graph is checked
//! ([`detect`]); each anomaly opens an **investigation** — one open per service and kind — or
//! updates the open one, and is kept on the tenant's anomaly timeline (24 h, bounded). An
//! investigation holds the anomaly, when it was first and last seen, and the root-cause
//! candidates from the symptomatic service at that time (refreshed at most once a minute); it
//! is resolved once its signal has been normal for `GRAPHRAG_ANOMALY_RECOVERY`. Open
//! investigations are persisted on every change and reloaded at start, so a restart neither
//! loses nor duplicates them.

use super::graph::GraphService;
use otelcontext_domain::graph::anomaly::{Anomaly, AnomalyKind, Thresholds, detect};
use otelcontext_domain::graph::rca::{self, RcaResult};
use otelcontext_domain::hash::StableHasher;
use otelcontext_domain::{Investigation, InvestigationSeverity, InvestigationStatus, TenantId};
use otelcontext_ports::{Clock, IntelligenceStore, InvestigationQuery, StorageError};
use otelcontext_telemetry::{Counter, Gauge, KeyValue, Meter, counter, gauge};
use serde_json::{Value, json};
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How long anomalies stay on the timeline.
pub const TIMELINE_NS: i64 = 24 * 3_600 * 1_000_000_000;
/// Range of the root-cause question an investigation asks.
pub const RCA_RANGE_NS: i64 = 15 * 60 * 1_000_000_000;
/// How often an open investigation's root causes are asked again.
pub const RCA_REFRESH_NS: i64 = 60 * 1_000_000_000;
/// Root-cause candidates kept in an investigation.
pub const RCA_CANDIDATES: usize = 5;

/// How the loop runs.
#[derive(Debug, Clone, Copy)]
pub struct AnomalySettings {
    pub every: Duration,
    pub thresholds: Thresholds,
    /// How long a signal must be normal before its investigation is resolved.
    pub recovery: Duration,
    /// Anomalies kept per tenant on the timeline.
    pub timeline_per_tenant: usize,
}

impl Default for AnomalySettings {
    fn default() -> Self {
        Self {
            every: Duration::from_secs(10),
            thresholds: Thresholds::default(),
            recovery: Duration::from_secs(60),
            timeline_per_tenant: 10_000,
        }
    }
}

/// What one pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pass {
    pub anomalies: usize,
    pub opened: usize,
    pub updated: usize,
    pub resolved: usize,
}

struct Open {
    investigation: Investigation,
    last_seen_ns: i64,
    last_rca_ns: i64,
    detections: u64,
    /// Not yet saved (a save failed): retried on the next pass.
    dirty: bool,
}

#[derive(Default)]
struct State {
    open: HashMap<(TenantId, String, AnomalyKind), Open>,
    timeline: HashMap<TenantId, VecDeque<Anomaly>>,
}

struct AnomalyMetrics {
    anomalies: Counter<u64>,
    opened: Counter<u64>,
    resolved: Counter<u64>,
    open: Gauge<i64>,
    save_failures: Counter<u64>,
}

/// Detects anomalies and keeps the investigations they open.
pub struct AnomalyService {
    graph: Arc<GraphService>,
    store: Arc<dyn IntelligenceStore>,
    clock: Arc<dyn Clock>,
    settings: AnomalySettings,
    state: tokio::sync::Mutex<State>,
    metrics: AnomalyMetrics,
}

fn severity_name(s: InvestigationSeverity) -> &'static str {
    s.as_str()
}

fn anomaly_json(a: &Anomaly) -> Value {
    json!({
        "kind": a.kind.as_str(),
        "service": a.service,
        "metric": a.metric,
        "severity": severity_name(a.severity),
        "at_unix_nano": a.at_ns,
        "value": a.value,
        "baseline": a.baseline,
        "recent_count": a.recent_count,
        "baseline_count": a.baseline_count,
        "summary": a.summary(),
    })
}

/// The candidates of a root-cause answer as stored with an investigation.
pub fn candidates_json(r: &RcaResult) -> Value {
    let candidates: Vec<Value> = r
        .candidates
        .iter()
        .map(|c| {
            json!({
                "service": c.name,
                "kind": c.kind.as_str(),
                "operation": c.operation,
                "instance": c.instance,
                "score": c.score,
                "evidence": c.evidence.iter().map(|e| json!({
                    "signal": e.signal,
                    "via": e.via,
                    "instance": e.instance,
                    "template_id": e.template.map(|t| t.to_string()),
                    "operation": e.operation,
                    "no_longer_calls": e.no_longer_calls,
                    "baseline": e.baseline,
                    "recent": e.recent,
                    "baseline_count": e.baseline_calls,
                    "recent_count": e.recent_calls,
                    "score": e.score,
                })).collect::<Vec<_>>(),
                "example_trace_ids": c.example_traces.iter().map(|t| t.to_hex()).collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({ "change_at_unix_nano": r.split_ns, "candidates": candidates })
}

impl AnomalyService {
    pub fn new(
        graph: Arc<GraphService>,
        store: Arc<dyn IntelligenceStore>,
        clock: Arc<dyn Clock>,
        settings: AnomalySettings,
        meter: &Meter,
    ) -> Self {
        let metrics = AnomalyMetrics {
            anomalies: counter(
                meter,
                "otelcontext_graphrag_anomalies_total",
                "Anomalies detected by the service graph (kind: error_rate_spike, latency_degradation, throughput_drop, metric_zscore), one per service and kind per pass.",
            ),
            opened: counter(
                meter,
                "otelcontext_graphrag_investigations_opened_total",
                "Investigations opened by anomalies.",
            ),
            resolved: counter(
                meter,
                "otelcontext_graphrag_investigations_resolved_total",
                "Investigations resolved because their signal recovered.",
            ),
            open: gauge(meter, "otelcontext_graphrag_investigations_open", "Investigations open (all tenants)."),
            save_failures: counter(
                meter,
                "otelcontext_graphrag_investigation_save_failures_total",
                "Investigation writes that failed (retried on the next pass).",
            ),
        };
        for k in [
            AnomalyKind::ErrorRateSpike,
            AnomalyKind::LatencyDegradation,
            AnomalyKind::ThroughputDrop,
            AnomalyKind::MetricZscore,
        ] {
            metrics.anomalies.add(0, &[KeyValue::new("kind", k.as_str())]);
        }
        metrics.opened.add(0, &[]);
        metrics.resolved.add(0, &[]);
        metrics.save_failures.add(0, &[]);
        metrics.open.record(0, &[]);
        Self { graph, store, clock, settings, state: tokio::sync::Mutex::new(State::default()), metrics }
    }

    /// Reloads the open investigations of `tenants`, so detection goes on updating them.
    pub async fn restore(&self, tenants: &[TenantId]) -> Result<usize, StorageError> {
        let now = self.clock.now_ns();
        let mut state = self.state.lock().await;
        let mut n = 0;
        for tenant in tenants {
            let mut cursor = None;
            loop {
                let q = InvestigationQuery {
                    status: Some(InvestigationStatus::Detected),
                    limit: 1_000,
                    cursor,
                    ..InvestigationQuery::default()
                };
                let page = self.store.search_investigations(tenant, &q).await?;
                for inv in page.items {
                    let Some(kind) = AnomalyKind::parse(&inv.kind) else { continue };
                    let key = (tenant.clone(), inv.trigger_service.clone(), kind);
                    n += 1;
                    // Seen "now": resolved after a recovery period without the anomaly.
                    state.open.insert(
                        key,
                        Open { investigation: inv, last_seen_ns: now, last_rca_ns: 0, detections: 0, dirty: false },
                    );
                }
                match page.next {
                    Some(c) => cursor = Some(c),
                    None => break,
                }
            }
        }
        self.metrics.open.record(state.open.len() as i64, &[]);
        Ok(n)
    }

    /// One pass over every tenant's graph.
    pub async fn run_once(&self) -> Pass {
        let now = self.clock.now_ns();
        let t = self.settings.thresholds;
        let mut pass = Pass::default();
        let mut state = self.state.lock().await;
        for tenant in self.graph.tenants() {
            let found = self.graph.with_graph(&tenant, |g| detect(g, now, &t));
            pass.anomalies += found.len();
            let timeline = state.timeline.entry(tenant.clone()).or_default();
            for a in &found {
                self.metrics.anomalies.add(1, &[KeyValue::new("kind", a.kind.as_str())]);
                timeline.push_back(a.clone());
            }
            while timeline.front().is_some_and(|a| a.at_ns < now - TIMELINE_NS)
                || timeline.len() > self.settings.timeline_per_tenant
            {
                timeline.pop_front();
            }
            for a in found {
                let key = (tenant.clone(), a.service.clone(), a.kind);
                match state.open.get_mut(&key) {
                    Some(open) => {
                        open.last_seen_ns = now;
                        open.detections += 1;
                        let inv = &mut open.investigation;
                        inv.updated_ns = now;
                        inv.severity = inv.severity.max(a.severity);
                        inv.summary = a.summary();
                        set(&mut inv.evidence, "anomaly", anomaly_json(&a));
                        set(&mut inv.evidence, "last_detected_unix_nano", json!(now));
                        set(&mut inv.evidence, "detections", json!(open.detections));
                        if now - open.last_rca_ns >= RCA_REFRESH_NS {
                            let r = self.root_causes(&tenant, &a.service, now);
                            set_root(inv, &r);
                            open.last_rca_ns = now;
                        }
                        open.dirty = true;
                        pass.updated += 1;
                    }
                    None => {
                        let r = self.root_causes(&tenant, &a.service, now);
                        let mut inv = Investigation {
                            id: investigation_id(&tenant, &a, now),
                            created_ns: now,
                            updated_ns: now,
                            status: InvestigationStatus::Detected,
                            severity: a.severity,
                            kind: a.kind.as_str().to_owned(),
                            trigger_service: a.service.clone(),
                            trigger_operation: String::new(),
                            root_service: String::new(),
                            root_operation: String::new(),
                            summary: a.summary(),
                            evidence: json!({
                                "anomaly": anomaly_json(&a),
                                "first_detected_unix_nano": now,
                                "last_detected_unix_nano": now,
                                "detections": 1,
                            }),
                        };
                        set_root(&mut inv, &r);
                        state.open.insert(
                            key,
                            Open {
                                investigation: inv,
                                last_seen_ns: now,
                                last_rca_ns: now,
                                detections: 1,
                                dirty: true,
                            },
                        );
                        self.metrics.opened.add(1, &[]);
                        pass.opened += 1;
                    }
                }
            }
        }
        // Resolve what recovered, then save every change.
        let recovery = self.settings.recovery.as_nanos() as i64;
        let mut resolved = Vec::new();
        for (key, open) in state.open.iter_mut() {
            if open.investigation.status == InvestigationStatus::Detected && now - open.last_seen_ns >= recovery {
                let inv = &mut open.investigation;
                inv.status = InvestigationStatus::Resolved;
                inv.updated_ns = now;
                set(&mut inv.evidence, "resolved_unix_nano", json!(now));
                open.dirty = true;
                pass.resolved += 1;
                self.metrics.resolved.add(1, &[]);
            }
            if open.dirty {
                match self.store.save_investigation(&key.0, &open.investigation).await {
                    Ok(()) => open.dirty = false,
                    Err(e) => {
                        self.metrics.save_failures.add(1, &[]);
                        tracing::warn!(error = %e, tenant = %key.0, id = %open.investigation.id, "saving an investigation failed; retried on the next pass");
                    }
                }
            }
            if open.investigation.status == InvestigationStatus::Resolved && !open.dirty {
                resolved.push(key.clone());
            }
        }
        for key in resolved {
            state.open.remove(&key);
        }
        let open = state.open.values().filter(|o| o.investigation.status == InvestigationStatus::Detected).count();
        self.metrics.open.record(open as i64, &[]);
        pass
    }

    fn root_causes(&self, tenant: &TenantId, service: &str, now: i64) -> RcaResult {
        self.graph.with_graph(tenant, |g| rca::rank(g, now - RCA_RANGE_NS, now + 1, Some(service), RCA_CANDIDATES))
    }

    /// Anomalies of `tenant` since `since_ns` (optionally of one service), newest first, at most
    /// `limit`.
    pub async fn timeline(
        &self,
        tenant: &TenantId,
        since_ns: i64,
        service: Option<&str>,
        limit: usize,
    ) -> Vec<Anomaly> {
        let state = self.state.lock().await;
        state
            .timeline
            .get(tenant)
            .map(|t| {
                t.iter()
                    .rev()
                    .filter(|a| a.at_ns >= since_ns && service.is_none_or(|s| a.service == s))
                    .take(limit)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Runs a pass every `every` until `stop` fires.
    pub fn spawn(self: Arc<Self>, mut stop: watch::Receiver<bool>) -> JoinHandle<()> {
        tokio::spawn(async move {
            loop {
                let stopped = tokio::select! {
                    _ = tokio::time::sleep(self.settings.every) => false,
                    _ = stop.wait_for(|v| *v) => true,
                };
                if stopped {
                    return;
                }
                let p = self.run_once().await;
                if p.opened + p.resolved > 0 {
                    tracing::info!(
                        opened = p.opened,
                        resolved = p.resolved,
                        anomalies = p.anomalies,
                        "investigations changed"
                    );
                }
            }
        })
    }
}

fn set(evidence: &mut Value, key: &str, value: Value) {
    if let Value::Object(map) = evidence {
        map.insert(key.to_owned(), value);
    }
}

fn set_root(inv: &mut Investigation, r: &RcaResult) {
    if let Some(top) = r.candidates.first() {
        inv.root_service = top.name.clone();
        inv.root_operation = top.operation.clone().unwrap_or_default();
    }
    set(&mut inv.evidence, "root_causes", candidates_json(r));
}

/// A stable, unique id: a hash of tenant, service, kind and the time it opened.
fn investigation_id(tenant: &TenantId, a: &Anomaly, now: i64) -> String {
    let h = StableHasher::new()
        .field(tenant.as_str().as_bytes())
        .field(a.service.as_bytes())
        .field(a.kind.as_str().as_bytes())
        .u64(now as u64)
        .finish();
    format!("inv-{h:016x}")
}

#[cfg(test)]
mod tests;
