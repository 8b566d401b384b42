//! The live service graph: committed spans, error logs and gauges (told by the pipeline and dead-letter
//! replays) go through a bounded event queue (`GRAPHRAG_EVENT_QUEUE_SIZE` records) to
//! `GRAPHRAG_WORKER_COUNT` workers, which assemble each tenant's traces and fold them, the
//! error log lines per template and the gauges per service, into its [`ServiceGraph`]. A full queue drops the batch and
//! counts its records (`otelcontext_graphrag_events_dropped_total`); the records themselves are
//! stored, and the graph is rebuilt from storage at start.

use otelcontext_domain::graph::assembly::{Assembly, AssemblyConfig};
use otelcontext_domain::graph::stats::Red;
use otelcontext_domain::graph::trace::{GraphSpan, Sharing, analyse};
use otelcontext_domain::graph::{Dropped, GraphLimits, LogFact, MetricFact, ServiceGraph, ServiceMap};
use otelcontext_domain::{GraphSnapshot, LogRecord, MetricPoint, PointValue, SeverityLevel, TenantId, TraceId};
use otelcontext_ports::{
    Clock, CommitObserver, Cursor, IntelligenceStore, LogQuery, LogStore, MetricQuery, MetricStore, SortOrder,
    SpanQuery, StorageError, TenantBatch, TimeRange, TraceStore,
};
use otelcontext_telemetry::{Counter, Gauge, KeyValue, Meter, counter, gauge};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

/// How often settled traces are folded in and idle statistics expire, without new spans.
pub const TICK: Duration = Duration::from_secs(1);
/// A graph whose tick has not run for this long is reported not ready.
pub const STALL_AFTER: Duration = Duration::from_secs(30);
/// How far back the graph is rebuilt from storage at start.
pub const REBUILD_WINDOW_NS: i64 = 15 * 60 * 1_000_000_000;
/// Most spans read back at start (over all tenants).
pub const REBUILD_MAX_SPANS: usize = 200_000;
/// Most error logs read back at start (over all tenants).
pub const REBUILD_MAX_LOGS: usize = 100_000;
/// Most metric points read back at start (over all tenants), for the gauges' baselines.
pub const REBUILD_MAX_POINTS: usize = 100_000;

/// What a rebuild read back.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Rebuilt {
    pub spans: usize,
    pub error_logs: usize,
    pub metric_points: usize,
}

/// How often each tenant's graph is snapshotted to `graph_snapshots` (pruned after 7 days by
/// retention).
pub const SNAPSHOT_EVERY: Duration = Duration::from_secs(15 * 60);

/// Sizes of the graph service.
#[derive(Debug, Clone, Copy)]
pub struct GraphSettings {
    /// Records (spans and error logs) waiting for the workers at most.
    pub queue_spans: usize,
    pub workers: usize,
    pub limits: GraphLimits,
    pub assembly: AssemblyConfig,
}

impl Default for GraphSettings {
    fn default() -> Self {
        Self { queue_spans: 100_000, workers: 16, limits: GraphLimits::default(), assembly: AssemblyConfig::default() }
    }
}

struct TenantGraph {
    assembly: Assembly,
    graph: ServiceGraph,
}

struct GraphMetrics {
    dropped: Counter<u64>,
    capped: Counter<u64>,
    traces: Counter<u64>,
    queued: Gauge<i64>,
    nodes: Gauge<i64>,
    edges: Gauge<i64>,
    pending_traces: Gauge<i64>,
}

impl GraphMetrics {
    fn new(meter: &Meter) -> Self {
        let m = Self {
            dropped: counter(
                meter,
                "otelcontext_graphrag_events_dropped_total",
                "Spans and error logs not given to the service graph because its event queue was full (they are stored).",
            ),
            capped: counter(
                meter,
                "otelcontext_graphrag_capped_total",
                "Graph updates refused at a per-tenant cap (what: nodes, edges, operations, instances, log_templates, metric_series, shapes, spans, traces).",
            ),
            traces: counter(meter, "otelcontext_graphrag_traces_total", "Traces folded into the service graph."),
            queued: gauge(
                meter,
                "otelcontext_graphrag_event_queue_depth",
                "Spans and error logs waiting for the graph workers.",
            ),
            nodes: gauge(meter, "otelcontext_graphrag_nodes", "Services and peers in the graph (all tenants)."),
            edges: gauge(meter, "otelcontext_graphrag_edges", "CALLS edges in the graph (all tenants)."),
            pending_traces: gauge(
                meter,
                "otelcontext_graphrag_pending_traces",
                "Traces assembling before they are folded in (all tenants).",
            ),
        };
        m.dropped.add(0, &[]);
        m.traces.add(0, &[]);
        for what in
            ["nodes", "edges", "operations", "instances", "log_templates", "metric_series", "shapes", "spans", "traces"]
        {
            m.capped.add(0, &[KeyValue::new("what", what)]);
        }
        m
    }
}

/// What the workers are given: spans to assemble, or error log lines to count.
enum Records {
    Spans(Vec<(TraceId, GraphSpan)>),
    Logs(Vec<LogFact>),
    Metrics(Vec<MetricFact>),
}

impl Records {
    fn len(&self) -> usize {
        match self {
            Records::Spans(v) => v.len(),
            Records::Logs(v) => v.len(),
            Records::Metrics(v) => v.len(),
        }
    }
}

type Event = (TenantId, Records);

/// Feeds and holds the tenants' graphs.
pub struct GraphService {
    settings: GraphSettings,
    clock: Arc<dyn Clock>,
    tenants: Mutex<HashMap<TenantId, Arc<Mutex<TenantGraph>>>>,
    tx: mpsc::UnboundedSender<Event>,
    rx: Arc<tokio::sync::Mutex<mpsc::UnboundedReceiver<Event>>>,
    queued: AtomicUsize,
    metrics: GraphMetrics,
    /// When the tick last ran (0 before the tasks are spawned).
    last_tick_ns: AtomicI64,
    /// Span names shared between the spans waiting in the graph (names are no tenant's secret:
    /// equal strings share one copy).
    names: Mutex<Sharing>,
}

/// Distinct span names shared at most; past it the set starts over.
const MAX_SHARED_NAMES: usize = 50_000;

impl GraphService {
    pub fn new(settings: GraphSettings, clock: Arc<dyn Clock>, meter: &Meter) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        Self {
            settings,
            clock,
            tenants: Mutex::new(HashMap::new()),
            tx,
            rx: Arc::new(tokio::sync::Mutex::new(rx)),
            queued: AtomicUsize::new(0),
            metrics: GraphMetrics::new(meter),
            last_tick_ns: AtomicI64::new(0),
            names: Mutex::new(Sharing::new(MAX_SHARED_NAMES)),
        }
    }

    fn tenant(&self, tenant: &TenantId) -> Arc<Mutex<TenantGraph>> {
        self.tenants
            .lock()
            .entry(tenant.clone())
            .or_insert_with(|| {
                Arc::new(Mutex::new(TenantGraph {
                    assembly: Assembly::new(self.settings.assembly),
                    graph: ServiceGraph::new(self.settings.limits),
                }))
            })
            .clone()
    }

    /// Drops `tenant`'s graph (after its data was purged); records still queued for it start a
    /// new one.
    pub fn forget(&self, tenant: &TenantId) {
        self.tenants.lock().remove(tenant);
    }

    /// Queues records for the workers; a batch that does not fit is dropped and counted.
    /// (The channel itself is unbounded; the record count bounds it.)
    fn enqueue(&self, tenant: &TenantId, records: Records) {
        let n = records.len();
        let before = self.queued.fetch_add(n, Ordering::AcqRel);
        if before + n > self.settings.queue_spans || self.tx.send((tenant.clone(), records)).is_err() {
            self.queued.fetch_sub(n, Ordering::AcqRel);
            self.metrics.dropped.add(n as u64, &[]);
            return;
        }
        self.metrics.queued.record((before + n) as i64, &[]);
    }

    /// Adds spans to their tenant's assembly (folded when settled, at the next tick).
    pub fn process(&self, tenant: &TenantId, spans: Vec<(TraceId, GraphSpan)>) {
        let now = self.clock.now_ns();
        let state = self.tenant(tenant);
        let mut s = state.lock();
        let (mut early, mut dropped_spans) = (0u64, 0u64);
        for (trace, span) in spans {
            let o = s.assembly.add(trace, span, now);
            early += o.released_early;
            dropped_spans += o.spans_dropped;
        }
        // Traces released early at the cap are folded now (they hold memory); the settled ones
        // on the next tick, so a batch does not scan every pending trace.
        let early_traces = s.assembly.take_early();
        self.fold(&mut s, early_traces, now);
        drop(s);
        self.count_capped(Dropped::default(), dropped_spans, early);
    }

    /// Counts error log lines in their tenant's graph.
    pub fn process_logs(&self, tenant: &TenantId, logs: &[LogFact]) {
        self.update(tenant, |g, now| g.apply_logs(logs, now));
    }

    /// Applies `f` to `tenant`'s graph at the clock's time and counts what its caps refused.
    fn update(&self, tenant: &TenantId, f: impl FnOnce(&mut ServiceGraph, i64) -> Dropped) {
        let now = self.clock.now_ns();
        let state = self.tenant(tenant);
        let d = f(&mut state.lock().graph, now);
        self.count_capped(d, 0, 0);
    }

    /// Records gauge values in their tenant's graph.
    pub fn process_metrics(&self, tenant: &TenantId, points: &[MetricFact]) {
        self.update(tenant, |g, now| g.apply_metrics(points, now));
    }

    fn fold(&self, s: &mut TenantGraph, traces: Vec<(TraceId, Vec<GraphSpan>)>, now: i64) {
        let mut dropped = Dropped::default();
        let n = traces.len() as u64;
        for (id, spans) in traces {
            let mut facts = analyse(&spans);
            facts.trace_id = Some(id);
            let d = s.graph.apply(&facts, now);
            dropped.nodes += d.nodes;
            dropped.edges += d.edges;
            dropped.operations += d.operations;
            dropped.instances += d.instances;
            dropped.log_templates += d.log_templates;
            dropped.shapes += d.shapes;
        }
        self.metrics.traces.add(n, &[]);
        self.count_capped(dropped, 0, 0);
    }

    fn count_capped(&self, d: Dropped, spans: u64, traces: u64) {
        for (what, n) in [
            ("nodes", d.nodes),
            ("edges", d.edges),
            ("operations", d.operations),
            ("instances", d.instances),
            ("log_templates", d.log_templates),
            ("metric_series", d.metric_series),
            ("shapes", d.shapes),
            ("spans", spans),
            ("traces", traces),
        ] {
            if n > 0 {
                self.metrics.capped.add(n, &[KeyValue::new("what", what)]);
            }
        }
    }

    /// Folds settled traces of every tenant, expires old statistics and publishes the sizes.
    pub fn tick(&self) {
        let now = self.clock.now_ns();
        self.last_tick_ns.store(now, Ordering::Release);
        let tenants: Vec<Arc<Mutex<TenantGraph>>> = self.tenants.lock().values().cloned().collect();
        let (mut nodes, mut edges, mut pending) = (0usize, 0usize, 0usize);
        for t in tenants {
            let mut s = t.lock();
            let ready = s.assembly.take_ready(now);
            self.fold(&mut s, ready, now);
            s.graph.expire(now);
            nodes += s.graph.node_count();
            edges += s.graph.edge_count();
            pending += s.assembly.traces();
        }
        self.metrics.nodes.record(nodes as i64, &[]);
        self.metrics.edges.record(edges as i64, &[]);
        self.metrics.pending_traces.record(pending as i64, &[]);
        self.metrics.queued.record(self.queued.load(Ordering::Acquire) as i64, &[]);
    }

    /// Folds every pending trace now (at shutdown, and after the rebuild).
    pub fn settle_all(&self) {
        let now = self.clock.now_ns();
        let tenants: Vec<Arc<Mutex<TenantGraph>>> = self.tenants.lock().values().cloned().collect();
        for t in tenants {
            let mut s = t.lock();
            let all = s.assembly.take_all();
            self.fold(&mut s, all, now);
        }
    }

    /// Readiness: the graph's tick has run within [`STALL_AFTER`] (its tasks are alive), and its
    /// queue is not full (a full queue drops records from the graph).
    pub fn health(&self) -> Result<(), String> {
        let last = self.last_tick_ns.load(Ordering::Acquire);
        let idle = self.clock.now_ns() - last;
        if last > 0 && idle > STALL_AFTER.as_nanos() as i64 {
            return Err(format!("the service graph has not advanced for {} s", idle / 1_000_000_000));
        }
        let queued = self.queued();
        if queued >= self.settings.queue_spans {
            return Err(format!(
                "the service graph's queue is full ({queued} records): records are left out of the graph (see otelcontext_graphrag_events_dropped_total)"
            ));
        }
        Ok(())
    }

    /// Spans waiting for the workers.
    pub fn queued(&self) -> usize {
        self.queued.load(Ordering::Acquire)
    }

    /// The service map of `tenant` over `[start_ns, end_ns)`.
    pub fn service_map(&self, tenant: &TenantId, start_ns: i64, end_ns: i64) -> ServiceMap {
        let state = self.tenants.lock().get(tenant).cloned();
        state.map(|s| s.lock().graph.service_map(start_ns, end_ns)).unwrap_or_default()
    }

    /// The tenants that have a graph.
    pub fn tenants(&self) -> Vec<TenantId> {
        self.tenants.lock().keys().cloned().collect()
    }

    /// Runs `f` on `tenant`'s graph (an empty one when the tenant has none).
    pub fn with_graph<T>(&self, tenant: &TenantId, f: impl FnOnce(&ServiceGraph) -> T) -> T {
        let state = self.tenants.lock().get(tenant).cloned();
        match state {
            Some(s) => f(&s.lock().graph),
            None => f(&ServiceGraph::new(self.settings.limits)),
        }
    }

    /// Rebuilds the graphs from the spans of the last [`REBUILD_WINDOW_NS`] in storage (at most
    /// [`REBUILD_MAX_SPANS`] over all tenants, newest first), then counts the error logs of the
    /// same window (at most [`REBUILD_MAX_LOGS`]) and records its gauge points (at most
    /// [`REBUILD_MAX_POINTS`], newest first), so error-log and gauge baselines survive a
    /// restart; returns how much was read.
    pub async fn rebuild(
        &self,
        store: &dyn TraceStore,
        logs: &dyn LogStore,
        metrics: &dyn MetricStore,
        tenants: &[TenantId],
    ) -> Result<Rebuilt, StorageError> {
        let now = self.clock.now_ns();
        let time = TimeRange::between(now - REBUILD_WINDOW_NS, now);
        let spans = read_back(tenants, REBUILD_MAX_SPANS, async |tenant, limit, cursor| {
            let q = SpanQuery { time, sort: SortOrder::NewestFirst, limit, cursor, ..SpanQuery::default() };
            let page = store.search_spans(tenant, &q).await?;
            self.process(tenant, page.items.iter().map(|s| (s.trace_id, GraphSpan::from(s))).collect());
            Ok((page.items.len(), page.next))
        })
        .await?;
        self.settle_all();
        let error_logs = read_back(tenants, REBUILD_MAX_LOGS, async |tenant, limit, cursor| {
            let q = LogQuery { time, min_severity: Some(SeverityLevel::Error), limit, cursor, ..LogQuery::default() };
            let page = logs.search_logs(tenant, &q).await?;
            let facts: Vec<LogFact> = page.items.iter().filter_map(|l| log_fact(&l.record)).collect();
            self.process_logs(tenant, &facts);
            Ok((page.items.len(), page.next))
        })
        .await?;
        let metric_points = read_back(tenants, REBUILD_MAX_POINTS, async |tenant, limit, cursor| {
            let q = MetricQuery { time, sort: SortOrder::NewestFirst, limit, cursor, ..MetricQuery::default() };
            let page = metrics.search_metric_points(tenant, &q).await?;
            let facts: Vec<MetricFact> = page.items.iter().filter_map(metric_fact).collect();
            self.process_metrics(tenant, &facts);
            Ok((page.items.len(), page.next))
        })
        .await?;
        self.tick();
        Ok(Rebuilt { spans, error_logs, metric_points })
    }

    /// Saves a snapshot of every tenant's map over the last [`SNAPSHOT_EVERY`]; a tenant whose
    /// map is empty gets none. Returns how many were saved.
    pub async fn snapshot(&self, store: &dyn IntelligenceStore) -> Result<usize, StorageError> {
        let now = self.clock.now_ns();
        let window = SNAPSHOT_EVERY.as_nanos() as i64;
        let tenants: Vec<TenantId> = self.tenants.lock().keys().cloned().collect();
        let mut saved = 0;
        let mut failure = None;
        for tenant in tenants {
            let map = self.service_map(&tenant, now - window, now);
            if map.nodes.is_empty() {
                continue;
            }
            match store.save_snapshot(&tenant, &snapshot_of(&map, now)).await {
                Ok(()) => saved += 1,
                Err(e) => {
                    tracing::warn!(tenant = tenant.as_str(), error = %e, "saving a graph snapshot failed");
                    failure = Some(e);
                }
            }
        }
        match failure {
            Some(e) => Err(e),
            None => Ok(saved),
        }
    }

    /// Snapshots every [`SNAPSHOT_EVERY`] until `stop` fires.
    pub fn spawn_snapshots(
        self: Arc<Self>,
        store: Arc<dyn IntelligenceStore>,
        mut stop: watch::Receiver<bool>,
    ) -> JoinHandle<()> {
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(SNAPSHOT_EVERY) => {}
                    _ = stop.wait_for(|v| *v) => return,
                }
                if let Err(e) = self.snapshot(&*store).await {
                    tracing::debug!(error = %e, "graph snapshot incomplete");
                }
            }
        })
    }

    /// Starts the workers and the tick (both stop when `stop` fires).
    pub fn spawn(self: Arc<Self>, stop: watch::Receiver<bool>) -> Vec<JoinHandle<()>> {
        let mut tasks: Vec<JoinHandle<()>> = (0..self.settings.workers.max(1))
            .map(|_| {
                let me = self.clone();
                let mut stop = stop.clone();
                tokio::spawn(async move {
                    loop {
                        let event = tokio::select! {
                            e = async { me.rx.lock().await.recv().await } => e,
                            _ = stop.wait_for(|v| *v) => return,
                        };
                        let Some((tenant, records)) = event else { return };
                        me.queued.fetch_sub(records.len(), Ordering::AcqRel);
                        match records {
                            Records::Spans(spans) => me.process(&tenant, spans),
                            Records::Logs(logs) => me.process_logs(&tenant, &logs),
                            Records::Metrics(points) => me.process_metrics(&tenant, &points),
                        }
                    }
                })
            })
            .collect();
        let me = self.clone();
        let mut stop = stop.clone();
        tasks.push(tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(TICK) => me.tick(),
                    _ = stop.wait_for(|v| *v) => return,
                }
            }
        }));
        tasks
    }
}

fn ms(ns: f64) -> f64 {
    (ns / 1e6 * 1_000.0).round() / 1_000.0
}

fn red_json(r: &Red) -> serde_json::Value {
    serde_json::json!({
        "calls": r.calls,
        "errors": r.errors,
        "error_rate": r.error_rate,
        "rate_per_s": r.rate_per_s,
        "p50_ms": ms(r.p50_ns),
        "p95_ms": ms(r.p95_ns),
        "p99_ms": ms(r.p99_ns),
    })
}

/// A snapshot of a map: nodes and edges with their RED numbers; a node's health is the share of
/// its calls that did not fail.
pub fn snapshot_of(map: &ServiceMap, now_ns: i64) -> GraphSnapshot {
    let nodes: Vec<serde_json::Value> = map
        .nodes
        .iter()
        .map(|n| {
            let mut v = red_json(&n.red);
            v["name"] = n.name.clone().into();
            v["kind"] = n.kind.as_str().into();
            v["health_score"] = (1.0 - n.red.error_rate).into();
            v
        })
        .collect();
    let edges: Vec<serde_json::Value> = map
        .edges
        .iter()
        .map(|e| {
            let mut v = red_json(&e.client);
            v["from"] = e.from.clone().into();
            v["to"] = e.to.clone().into();
            v["to_kind"] = e.to_kind.as_str().into();
            if let Some(server) = &e.server {
                v["server_p95_ms"] = ms(server.p95_ns).into();
            }
            v
        })
        .collect();
    let services: Vec<_> =
        map.nodes.iter().filter(|n| n.kind == otelcontext_domain::graph::peer::NodeKind::Service).collect();
    let avg_health = if services.is_empty() {
        1.0
    } else {
        services.iter().map(|n| 1.0 - n.red.error_rate).sum::<f64>() / services.len() as f64
    };
    GraphSnapshot {
        id: format!("snap_{now_ns}"),
        created_ns: now_ns,
        service_count: services.len() as u64,
        edge_count: map.edges.len() as u64,
        total_calls: map.edges.iter().map(|e| e.client.calls).sum(),
        avg_health_score: avg_health,
        graph: serde_json::json!({ "nodes": nodes, "edges": edges }),
    }
}

/// Reads pages of each tenant in turn with `page(tenant, limit, cursor)` (which takes what it
/// reads and says how many records and the next cursor) until `budget` records over all
/// tenants; returns how many were read.
async fn read_back(
    tenants: &[TenantId],
    budget: usize,
    page: impl AsyncFn(&TenantId, usize, Option<Cursor>) -> Result<(usize, Option<Cursor>), StorageError>,
) -> Result<usize, StorageError> {
    let mut left = budget;
    for tenant in tenants {
        let mut cursor = None;
        while left > 0 {
            let (n, next) = page(tenant, left.min(5_000), cursor).await?;
            left -= n.min(left);
            match next {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
    }
    Ok(budget - left)
}

/// A gauge (or up-down counter) value, as the graph links it to its service; counters and
/// histograms are not levels a z-score can judge.
fn metric_fact(p: &MetricPoint) -> Option<MetricFact> {
    let value = match p.value {
        PointValue::Gauge { value } => value,
        PointValue::Sum { value, monotonic: false, .. } => value,
        _ => return None,
    };
    let instance = otelcontext_domain::graph::trace::instance_of_resource(&p.resource);
    Some(MetricFact {
        service: p.service_name().to_owned(),
        instance: instance.to_owned(),
        name: p.name.clone(),
        time_ns: p.time_ns,
        value,
    })
}

/// An ERROR or FATAL line with a template, as the graph counts it.
fn log_fact(l: &LogRecord) -> Option<LogFact> {
    if l.level() < SeverityLevel::Error {
        return None;
    }
    let template = l.template_id?;
    let time_ns = if l.timestamp_ns > 0 { l.timestamp_ns } else { l.observed_ns };
    Some(LogFact { service: l.service_name().to_owned(), time_ns, template })
}

impl CommitObserver for GraphService {
    fn committed(&self, batches: &[TenantBatch]) {
        for b in batches {
            if !b.spans.is_empty() {
                let mut names = self.names.lock();
                let spans = names.graph_spans(&b.spans);
                drop(names);
                self.enqueue(&b.tenant, Records::Spans(spans));
            }
            let logs: Vec<LogFact> = b.logs.iter().filter_map(log_fact).collect();
            if !logs.is_empty() {
                self.enqueue(&b.tenant, Records::Logs(logs));
            }
            let points: Vec<MetricFact> = b.metrics.iter().filter_map(metric_fact).collect();
            if !points.is_empty() {
                self.enqueue(&b.tenant, Records::Metrics(points));
            }
        }
    }
}

#[cfg(test)]
mod tests;
