//! The telemetry write: one transaction per group of batches with cached single-row statements,
//! run on the writer thread.
//!
//! Rows are prepared (ids to hex, attributes to JSON) on the calling task before they are handed
//! to the thread, so with several pipeline workers one prepares while the thread writes.

use crate::writer::{WriterState, map_err};
use otelcontext_domain::codec::{self, PointColumns};
use otelcontext_domain::dashboard::RollupDeltas;
use otelcontext_domain::trace::{TraceSummary, summarize};
use otelcontext_domain::{InstrumentationScope, Resource, TenantId};
use otelcontext_ports::{CatalogEntry, StorageError, TenantBatch, WriteSummary};
use rusqlite::{OptionalExtension, Statement, params};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// Where a record comes from: its service, resource and instrumentation scope.
struct Origin {
    service: String,
    resource_fp: i64,
    scope_name: String,
    scope_version: String,
    scope_attributes: Option<String>,
}

/// One shared [`Origin`] per (resource, scope) pair of a write: rows of the same resource and
/// scope would otherwise each copy the same strings and re-serialise the scope attributes.
#[derive(Default)]
struct Origins(HashMap<(*const Resource, *const InstrumentationScope), Arc<Origin>>);

impl Origins {
    fn of(&mut self, resource: &Arc<Resource>, scope: &Arc<InstrumentationScope>) -> Arc<Origin> {
        self.0
            .entry((Arc::as_ptr(resource), Arc::as_ptr(scope)))
            .or_insert_with(|| Arc::new(Origin::of(resource, scope)))
            .clone()
    }
}

impl Origin {
    fn of(resource: &Resource, scope: &InstrumentationScope) -> Self {
        Self {
            service: resource.service_name.clone(),
            resource_fp: resource.fingerprint,
            scope_name: scope.name.clone(),
            scope_version: scope.version.clone(),
            scope_attributes: codec::optional_attributes(&scope.attributes),
        }
    }

    /// Binds the five origin columns from parameter `first` on.
    fn bind(&self, stmt: &mut Statement<'_>, first: usize) -> rusqlite::Result<()> {
        stmt.raw_bind_parameter(first, &self.service)?;
        stmt.raw_bind_parameter(first + 1, self.resource_fp)?;
        stmt.raw_bind_parameter(first + 2, &self.scope_name)?;
        stmt.raw_bind_parameter(first + 3, &self.scope_version)?;
        stmt.raw_bind_parameter(first + 4, &self.scope_attributes)
    }
}

struct SpanRow {
    /// Index of the span's trace in `Prepared::traces`.
    trace_idx: usize,
    tenant: Arc<str>,
    trace_id: String,
    span_id: String,
    parent: Option<String>,
    name: String,
    kind: i64,
    start: i64,
    end: i64,
    duration: i64,
    status_code: i64,
    status_message: String,
    trace_state: String,
    flags: i64,
    origin: Arc<Origin>,
    attributes: String,
    dropped: i64,
    events: Option<String>,
    links: Option<String>,
}

struct LogRow {
    tenant: Arc<str>,
    timestamp: i64,
    dedup_key: i64,
    observed: i64,
    trace_id: Option<String>,
    span_id: Option<String>,
    severity_number: i64,
    severity_text: String,
    body: Option<String>,
    body_is_json: bool,
    origin: Arc<Origin>,
    attributes: String,
    flags: i64,
    event_name: String,
    template_id: Option<i64>,
    level: i64,
}

struct PointRow {
    tenant: Arc<str>,
    time: i64,
    series_key: i64,
    name: String,
    description: String,
    unit: String,
    kind: &'static str,
    origin: Arc<Origin>,
    attributes: String,
    start: i64,
    flags: i64,
    columns: PointColumns,
}

/// Everything a write binds, computed without the connection.
pub(crate) struct Prepared {
    tenants: Vec<Arc<str>>,
    /// Distinct resources of the batches (the thread skips those it knows are stored).
    resources: Vec<(Arc<str>, Arc<Resource>)>,
    traces: Vec<(Arc<str>, TraceSummary)>,
    spans: Vec<SpanRow>,
    logs: Vec<LogRow>,
    points: Vec<PointRow>,
    /// Services, span names and metric names of the batches the catalogue does not say yet.
    catalog: Vec<CatalogEntry>,
}

impl Prepared {
    /// Converts batches to rows.
    pub(crate) fn new(batches: &[TenantBatch], catalog: Vec<CatalogEntry>) -> Self {
        let mut seen: HashSet<(TenantId, i64)> = HashSet::new();
        let mut tenants = Vec::new();
        let mut resources = Vec::new();
        let mut traces = Vec::new();
        let mut spans = Vec::new();
        let mut logs = Vec::new();
        let mut points = Vec::new();
        // Keyed by pointer: the batches (and so every Arc in them) outlive this function.
        let mut origins = Origins::default();
        for b in batches.iter().filter(|b| b.items() > 0) {
            let tenant = b.tenant.shared();
            tenants.push(tenant.clone());
            let all = b
                .spans
                .iter()
                .map(|s| &s.resource)
                .chain(b.logs.iter().map(|l| &l.resource))
                .chain(b.metrics.iter().map(|m| &m.resource));
            for r in all {
                if seen.insert((b.tenant.clone(), r.fingerprint)) {
                    resources.push((tenant.clone(), r.clone()));
                }
            }
            let first = traces.len();
            let summaries = summarize(&b.spans);
            let position: HashMap<otelcontext_domain::TraceId, usize> =
                summaries.iter().enumerate().map(|(i, s)| (s.trace_id, first + i)).collect();
            traces.extend(summaries.into_iter().map(|s| (tenant.clone(), s)));
            spans.extend(b.spans.iter().map(|s| SpanRow {
                trace_idx: position[&s.trace_id],
                tenant: tenant.clone(),
                trace_id: s.trace_id.to_hex(),
                span_id: s.span_id.to_hex(),
                parent: s.parent_span_id.map(|p| p.to_hex()),
                name: s.name.clone(),
                kind: s.kind.as_otlp().into(),
                start: s.start_ns,
                end: s.end_ns,
                duration: s.duration_ns(),
                status_code: s.status.code.as_otlp().into(),
                status_message: s.status.message.clone(),
                trace_state: s.trace_state.clone(),
                flags: s.flags.into(),
                origin: origins.of(&s.resource, &s.scope),
                attributes: s.attributes.to_json(),
                dropped: s.dropped_attributes_count.into(),
                events: codec::events_to_json(&s.events),
                links: codec::links_to_json(&s.links),
            }));
            logs.extend(b.logs.iter().map(|l| {
                let body = l.body.as_ref().map(|b| b.to_text());
                LogRow {
                    tenant: tenant.clone(),
                    timestamp: l.timestamp_ns,
                    dedup_key: l.dedup_key_for_body(body.as_deref().unwrap_or_default()),
                    observed: l.observed_ns,
                    trace_id: l.trace_id.map(|t| t.to_hex()),
                    span_id: l.span_id.map(|s| s.to_hex()),
                    severity_number: l.severity_number.into(),
                    severity_text: l.severity_text.clone(),
                    body,
                    body_is_json: l.body_is_structured(),
                    origin: origins.of(&l.resource, &l.scope),
                    attributes: l.attributes.to_json(),
                    flags: l.flags.into(),
                    event_name: l.event_name.clone(),
                    template_id: l.template_id.map(|t| t.as_i64()),
                    level: l.level().number().into(),
                }
            }));
            points.extend(b.metrics.iter().map(|p| {
                let attributes = p.attributes.to_json();
                PointRow {
                    tenant: tenant.clone(),
                    time: p.time_ns,
                    series_key: p.series_key_for_attributes(&attributes),
                    name: p.name.clone(),
                    description: p.description.clone(),
                    unit: p.unit.clone(),
                    kind: p.value.kind().as_str(),
                    origin: origins.of(&p.resource, &p.scope),
                    attributes,
                    start: p.start_ns,
                    flags: p.flags.into(),
                    columns: codec::point_columns(&p.value),
                }
            }));
        }
        Self { tenants, resources, traces, spans, logs, points, catalog }
    }
}

/// The index key of a trace row: the first 60 bits of its id (migration 0005 computes the same from
/// the hex id of rows written before it).
pub(crate) fn trace_key(id: &otelcontext_domain::TraceId) -> i64 {
    let first: [u8; 8] = id.as_bytes()[..8].try_into().expect("8 bytes");
    (u64::from_be_bytes(first) >> 4) as i64
}

const INSERT_RESOURCE: &str = "INSERT INTO resources (tenant_id, fingerprint, service_name, attributes_json) \
     VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING";

/// A new trace row (span_count starts at 0 and grows with the spans actually inserted). Inserted
/// only after [`SELECT_TRACE`] found none: `trace_key` is not unique (migration 0005).
const INSERT_TRACE: &str = "INSERT INTO traces (tenant_id, trace_id, trace_key, start_ns, end_ns, duration_ns, \
     root_service, root_operation, has_root, root_start_ns, status, span_count) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, 0)";

const SELECT_TRACE: &str = "SELECT id, start_ns, end_ns, root_service, root_operation, has_root, root_start_ns, status \
     FROM traces WHERE trace_key = ?3 AND tenant_id = ?1 AND trace_id = ?2";

const UPDATE_TRACE: &str = "UPDATE traces SET start_ns = ?2, end_ns = ?3, duration_ns = ?4, root_service = ?5, \
     root_operation = ?6, has_root = ?7, root_start_ns = ?8, status = ?9 WHERE id = ?1";

/// Origin columns (service, resource, scope) come last in every insert, bound by [`Origin::bind`].
const INSERT_SPAN: &str = "INSERT INTO spans (trace_ref, tenant_id, trace_id, span_id, parent_span_id, name, kind, \
     start_ns, end_ns, duration_ns, status_code, status_message, trace_state, flags, attributes_json, \
     dropped_attributes_count, events_json, links_json, \
     service_name, resource_fp, scope_name, scope_version, scope_attributes_json) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23) \
     ON CONFLICT (trace_ref, span_id) DO NOTHING";

const ADD_SPAN_COUNT: &str = "UPDATE traces SET span_count = span_count + ?1 WHERE id = ?2";

const INSERT_LOG: &str = "INSERT INTO logs (tenant_id, timestamp_ns, dedup_key, observed_ns, trace_id, span_id, \
     severity_number, severity_text, body, body_is_json, attributes_json, flags, event_name, template_id, level, \
     service_name, resource_fp, scope_name, scope_version, scope_attributes_json) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20) \
     ON CONFLICT (tenant_id, timestamp_ns, dedup_key) DO NOTHING";

/// Adds a new log row to the full-text index (the row's id and indexed columns).
const INDEX_LOG: &str = "INSERT INTO logs_fts (rowid, body, service_name) VALUES (?1, ?2, ?3)";

const INSERT_POINT: &str = "INSERT INTO metric_points (tenant_id, time_ns, series_key, name, description, unit, kind, \
     temporality, is_monotonic, attributes_json, start_ns, flags, value, count, sum, min, max, data_json, \
     service_name, resource_fp, scope_name, scope_version, scope_attributes_json) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23) \
     ON CONFLICT (tenant_id, time_ns, series_key) DO NOTHING";

/// Binds parameters 1, 2, … in order.
macro_rules! bind_all {
    ($stmt:expr, $($value:expr),+ $(,)?) => {{
        let mut _i = 0usize;
        $( _i += 1; $stmt.raw_bind_parameter(_i, $value)?; )+
        _i
    }};
}

fn insert_span(stmt: &mut Statement<'_>, trace_ref: i64, r: &SpanRow) -> rusqlite::Result<usize> {
    let n = bind_all!(
        stmt,
        trace_ref,
        &*r.tenant,
        &r.trace_id,
        &r.span_id,
        &r.parent,
        &r.name,
        r.kind,
        r.start,
        r.end,
        r.duration,
        r.status_code,
        &r.status_message,
        &r.trace_state,
        r.flags,
        &r.attributes,
        r.dropped,
        &r.events,
        &r.links
    );
    r.origin.bind(stmt, n + 1)?;
    stmt.raw_execute()
}

fn insert_log(stmt: &mut Statement<'_>, r: &LogRow) -> rusqlite::Result<usize> {
    let n = bind_all!(
        stmt,
        &*r.tenant,
        r.timestamp,
        r.dedup_key,
        r.observed,
        &r.trace_id,
        &r.span_id,
        r.severity_number,
        &r.severity_text,
        &r.body,
        r.body_is_json,
        &r.attributes,
        r.flags,
        &r.event_name,
        r.template_id,
        r.level
    );
    r.origin.bind(stmt, n + 1)?;
    stmt.raw_execute()
}

fn insert_point(stmt: &mut Statement<'_>, r: &PointRow) -> rusqlite::Result<usize> {
    let c = &r.columns;
    let n = bind_all!(
        stmt,
        &*r.tenant,
        r.time,
        r.series_key,
        &r.name,
        &r.description,
        &r.unit,
        r.kind,
        c.temporality,
        c.is_monotonic,
        &r.attributes,
        r.start,
        r.flags,
        c.value,
        c.count,
        c.sum,
        c.min,
        c.max,
        &c.data_json
    );
    r.origin.bind(stmt, n + 1)?;
    stmt.raw_execute()
}

/// Counts one insert: stored when a row was written, a duplicate when the conflict clause skipped it.
fn tally(inserted: usize, stored: &mut u64, duplicates: &mut u64) {
    if inserted > 0 {
        *stored += 1;
    } else {
        *duplicates += 1;
    }
}

impl Prepared {
    /// Writes the rows in one transaction on the writer connection.
    pub(crate) fn write(self, state: &mut WriterState) -> Result<WriteSummary, StorageError> {
        let mut p = self;
        let new_resources: Vec<(Arc<str>, Arc<Resource>)> = std::mem::take(&mut p.resources)
            .into_iter()
            .filter(|(t, r)| !state.known_resources.contains(&(t.clone(), r.fingerprint)))
            .collect();
        let fts = state.full_text;
        let summary = state.transaction(&p.tenants, |tx| {
            let summary = write_rows(tx, &new_resources, &p, fts)?;
            write_catalog(tx, &p.catalog)?;
            Ok(summary)
        })?;
        if state.known_resources.len() > 100_000 {
            state.known_resources.clear();
        }
        state.known_resources.extend(new_resources.into_iter().map(|(t, r)| (t, r.fingerprint)));
        Ok(summary)
    }
}

/// Adds catalogue entries, widening the times of those already there.
const UPSERT_CATALOG: &str = "INSERT INTO catalog (tenant_id, signal, service_name, name, first_seen_ns, last_seen_ns) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (tenant_id, signal, service_name, name) DO UPDATE SET \
     first_seen_ns = min(first_seen_ns, excluded.first_seen_ns), last_seen_ns = max(last_seen_ns, excluded.last_seen_ns)";

fn write_catalog(tx: &rusqlite::Transaction<'_>, entries: &[CatalogEntry]) -> Result<(), StorageError> {
    if entries.is_empty() {
        return Ok(());
    }
    let mut stmt = tx.prepare_cached(UPSERT_CATALOG).map_err(map_err)?;
    for e in entries {
        stmt.execute(params![&*e.tenant, e.signal.as_i64(), e.service, e.name, e.first_seen_ns, e.last_seen_ns])
            .map_err(map_err)?;
    }
    Ok(())
}

fn write_rows(
    tx: &rusqlite::Transaction<'_>,
    new_resources: &[(Arc<str>, Arc<Resource>)],
    p: &Prepared,
    full_text: bool,
) -> Result<WriteSummary, StorageError> {
    let mut summary = WriteSummary::default();
    {
        let mut stmt = tx.prepare_cached(INSERT_RESOURCE).map_err(map_err)?;
        for (tenant, r) in new_resources {
            stmt.execute(params![&**tenant, r.fingerprint, r.service_name, r.attributes.to_json()]).map_err(map_err)?;
        }
    }
    // Trace rows first: spans reference them by rowid. A new trace is one insert; an existing
    // one is read, merged with `TraceSummary::merge` (the one definition of the rule) and
    // written back only if it changed.
    let mut trace_refs: Vec<i64> = Vec::with_capacity(p.traces.len());
    // What the dashboard's per-minute rollups gain and lose with this write.
    let mut rollups = RollupDeltas::default();
    {
        let mut insert = tx.prepare_cached(INSERT_TRACE).map_err(map_err)?;
        let mut select = tx.prepare_cached(SELECT_TRACE).map_err(map_err)?;
        let mut update = tx.prepare_cached(UPDATE_TRACE).map_err(map_err)?;
        for (tenant, s) in &p.traces {
            let hex = s.trace_id.to_hex();
            let key = trace_key(&s.trace_id);
            let found = select
                .query_row(params![&**tenant, &hex, key], |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        TraceSummary {
                            trace_id: s.trace_id,
                            start_ns: r.get(1)?,
                            end_ns: r.get(2)?,
                            root_service: r.get(3)?,
                            root_operation: r.get(4)?,
                            has_root: r.get(5)?,
                            root_start_ns: r.get(6)?,
                            status: otelcontext_domain::StatusCode::from_otlp(r.get::<_, i64>(7)? as i32),
                            span_count: 0,
                        },
                    ))
                })
                .optional()
                .map_err(map_err)?;
            let Some((id, stored)) = found else {
                insert
                    .execute(params![
                        &**tenant,
                        &hex,
                        key,
                        s.start_ns,
                        s.end_ns,
                        s.duration_ns(),
                        s.root_service,
                        s.root_operation,
                        s.has_root,
                        s.root_start_ns,
                        i64::from(s.status.as_otlp())
                    ])
                    .map_err(map_err)?;
                trace_refs.push(tx.last_insert_rowid());
                rollups.trace(tenant, s, 1);
                continue;
            };
            let mut merged = stored.clone();
            merged.merge(&TraceSummary { span_count: 0, ..s.clone() });
            if merged != stored {
                rollups.trace_changed(tenant, &stored, &merged);
                update
                    .execute(params![
                        id,
                        merged.start_ns,
                        merged.end_ns,
                        merged.duration_ns(),
                        merged.root_service,
                        merged.root_operation,
                        merged.has_root,
                        merged.root_start_ns,
                        i64::from(merged.status.as_otlp())
                    ])
                    .map_err(map_err)?;
            }
            trace_refs.push(id);
        }
    }
    let mut inserted_per_trace: HashMap<i64, i64> = HashMap::new();
    {
        let mut stmt = tx.prepare_cached(INSERT_SPAN).map_err(map_err)?;
        for r in &p.spans {
            let trace_ref = trace_refs[r.trace_idx];
            let n = insert_span(&mut stmt, trace_ref, r).map_err(map_err)?;
            if n > 0 {
                *inserted_per_trace.entry(trace_ref).or_default() += 1;
            }
            tally(n, &mut summary.spans, &mut summary.duplicate_spans);
        }
    }
    {
        let mut stmt = tx.prepare_cached(ADD_SPAN_COUNT).map_err(map_err)?;
        for (id, n) in &inserted_per_trace {
            stmt.execute(params![n, id]).map_err(map_err)?;
        }
    }
    if !p.logs.is_empty() {
        let mut stmt = tx.prepare_cached(INSERT_LOG).map_err(map_err)?;
        let mut index = if full_text { Some(tx.prepare_cached(INDEX_LOG).map_err(map_err)?) } else { None };
        for r in &p.logs {
            let n = insert_log(&mut stmt, r).map_err(map_err)?;
            if n > 0 {
                rollups.log(&r.tenant, r.timestamp, &r.origin.service, 1);
                if let Some(index) = index.as_mut() {
                    index.execute(params![tx.last_insert_rowid(), &r.body, &r.origin.service]).map_err(map_err)?;
                }
            }
            tally(n, &mut summary.logs, &mut summary.duplicate_logs);
        }
    }
    {
        let mut stmt = tx.prepare_cached(INSERT_POINT).map_err(map_err)?;
        for r in &p.points {
            let n = insert_point(&mut stmt, r).map_err(map_err)?;
            tally(n, &mut summary.metric_points, &mut summary.duplicate_points);
        }
    }
    crate::rollups::apply(tx, &rollups)?;
    Ok(summary)
}
