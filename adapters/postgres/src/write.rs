//! The bulk write path: each table's rows of a group commit go in one multi-row
//! `INSERT … SELECT * FROM UNNEST(…)` (one bind per column), in one transaction. Idempotency and
//! the trace merge follow the same rules as every adapter: spans unique on (tenant, trace, span),
//! logs on (tenant, timestamp, dedup key), points on (tenant, time, series); existing trace rows
//! are locked, merged with `TraceSummary::merge`, and updated in one statement.

use crate::error::map_sqlx_error;
use crate::text::{clean, clean_json, clean_opt};
use otelcontext_domain::codec;
use otelcontext_domain::dashboard::RollupDeltas;
use otelcontext_domain::trace::{TraceSummary, summarize};
use otelcontext_domain::{StatusCode, TraceId};
use otelcontext_ports::{StorageError, TenantBatch, WriteSummary};
use sqlx::{Postgres, Row, Transaction};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// Column arrays of the spans of one write, sorted by (tenant, trace, span) so concurrent writes
/// lock rows in the same order.
#[derive(Default)]
struct SpanColumns {
    /// Index of each span's trace in `Prepared::traces` (its `trace_ref` is known once the trace
    /// rows are written).
    trace_idx: Vec<usize>,
    tenant: Vec<String>,
    trace_id: Vec<String>,
    span_id: Vec<String>,
    parent: Vec<Option<String>>,
    name: Vec<String>,
    kind: Vec<i16>,
    start: Vec<i64>,
    end: Vec<i64>,
    duration: Vec<i64>,
    service: Vec<String>,
    status_code: Vec<i16>,
    status_message: Vec<String>,
    trace_state: Vec<String>,
    flags: Vec<i64>,
    resource_fp: Vec<i64>,
    scope_name: Vec<String>,
    scope_version: Vec<String>,
    scope_attributes: Vec<Option<String>>,
    attributes: Vec<String>,
    dropped: Vec<i64>,
    events: Vec<Option<String>>,
    links: Vec<Option<String>>,
}

#[derive(Default)]
struct LogColumns {
    tenant: Vec<String>,
    timestamp: Vec<i64>,
    dedup_key: Vec<i64>,
    observed: Vec<i64>,
    trace_id: Vec<Option<String>>,
    span_id: Vec<Option<String>>,
    severity_number: Vec<i32>,
    severity_text: Vec<String>,
    level: Vec<i16>,
    body: Vec<Option<String>>,
    body_is_json: Vec<bool>,
    service: Vec<String>,
    resource_fp: Vec<i64>,
    scope_name: Vec<String>,
    scope_version: Vec<String>,
    scope_attributes: Vec<Option<String>>,
    attributes: Vec<String>,
    flags: Vec<i64>,
    event_name: Vec<String>,
    template_id: Vec<Option<i64>>,
}

#[derive(Default)]
struct PointColumns {
    tenant: Vec<String>,
    time: Vec<i64>,
    series_key: Vec<i64>,
    name: Vec<String>,
    description: Vec<String>,
    unit: Vec<String>,
    kind: Vec<String>,
    temporality: Vec<i16>,
    is_monotonic: Vec<bool>,
    service: Vec<String>,
    resource_fp: Vec<i64>,
    scope_name: Vec<String>,
    scope_version: Vec<String>,
    scope_attributes: Vec<Option<String>>,
    attributes: Vec<String>,
    start: Vec<i64>,
    flags: Vec<i64>,
    value: Vec<Option<f64>>,
    count: Vec<Option<i64>>,
    sum: Vec<Option<f64>>,
    min: Vec<Option<f64>>,
    max: Vec<Option<f64>>,
    data: Vec<Option<String>>,
}

/// Everything a write binds, computed without a connection.
pub(crate) struct Prepared {
    tenants: Vec<String>,
    resources: Vec<(String, i64, String, String)>,
    /// (tenant, summary, distinct spans in this write) of every trace touched, sorted by
    /// (tenant, trace id).
    traces: Vec<(String, TraceSummary, i64)>,
    spans: SpanColumns,
    logs: LogColumns,
    points: PointColumns,
}

fn scope_attributes(a: &otelcontext_domain::Attributes) -> Option<String> {
    (!a.is_empty()).then(|| clean_json(a.to_json()))
}

impl Prepared {
    /// Converts batches to column arrays (skipping resources and tenants already stored).
    pub(crate) fn new(
        batches: &[TenantBatch],
        known_tenants: &HashSet<Arc<str>>,
        known_resources: &HashSet<(Arc<str>, i64)>,
    ) -> Self {
        let mut tenants = Vec::new();
        let mut seen_resources = HashSet::new();
        let mut resources = Vec::new();
        let mut traces = Vec::new();
        let mut span_rows = Vec::new();
        let mut logs = LogColumns::default();
        let mut points = PointColumns::default();
        for b in batches.iter().filter(|b| b.items() > 0) {
            let tenant = b.tenant.as_str().to_owned();
            if !known_tenants.contains(b.tenant.as_str()) {
                tenants.push(tenant.clone());
            }
            let all = b
                .spans
                .iter()
                .map(|s| &s.resource)
                .chain(b.logs.iter().map(|l| &l.resource))
                .chain(b.metrics.iter().map(|m| &m.resource));
            for r in all {
                let key = (b.tenant.shared(), r.fingerprint);
                if !known_resources.contains(&key) && seen_resources.insert(key) {
                    resources.push((
                        tenant.clone(),
                        r.fingerprint,
                        clean(&r.service_name),
                        clean_json(r.attributes.to_json()),
                    ));
                }
            }
            traces.extend(summarize(&b.spans).into_iter().map(|s| (tenant.clone(), s)));
            span_rows.extend(b.spans.iter().map(|s| (tenant.clone(), s)));
            for l in &b.logs {
                let body = l.body.as_ref().map(|v| v.to_text());
                logs.dedup_key.push(l.dedup_key_for_body(body.as_deref().unwrap_or_default()));
                logs.tenant.push(tenant.clone());
                logs.timestamp.push(l.timestamp_ns);
                logs.observed.push(l.observed_ns);
                logs.trace_id.push(l.trace_id.map(|t| t.to_hex()));
                logs.span_id.push(l.span_id.map(|s| s.to_hex()));
                logs.severity_number.push(l.severity_number);
                logs.severity_text.push(clean(&l.severity_text));
                logs.level.push(l.level().number() as i16);
                logs.body_is_json.push(l.body_is_structured());
                logs.body.push(if l.body_is_structured() { body.map(clean_json) } else { clean_opt(body) });
                logs.service.push(clean(l.service_name()));
                logs.resource_fp.push(l.resource.fingerprint);
                logs.scope_name.push(clean(&l.scope.name));
                logs.scope_version.push(clean(&l.scope.version));
                logs.scope_attributes.push(scope_attributes(&l.scope.attributes));
                logs.attributes.push(clean_json(l.attributes.to_json()));
                logs.flags.push(l.flags.into());
                logs.event_name.push(clean(&l.event_name));
                logs.template_id.push(l.template_id.map(|t| t.as_i64()));
            }
            for p in &b.metrics {
                let attributes = p.attributes.to_json();
                let c = codec::point_columns(&p.value);
                points.series_key.push(p.series_key_for_attributes(&attributes));
                points.tenant.push(tenant.clone());
                points.time.push(p.time_ns);
                points.name.push(clean(&p.name));
                points.description.push(clean(&p.description));
                points.unit.push(clean(&p.unit));
                points.kind.push(p.value.kind().as_str().to_owned());
                points.temporality.push(c.temporality as i16);
                points.is_monotonic.push(c.is_monotonic);
                points.service.push(clean(p.service_name()));
                points.resource_fp.push(p.resource.fingerprint);
                points.scope_name.push(clean(&p.scope.name));
                points.scope_version.push(clean(&p.scope.version));
                points.scope_attributes.push(scope_attributes(&p.scope.attributes));
                points.attributes.push(clean_json(attributes));
                points.start.push(p.start_ns);
                points.flags.push(p.flags.into());
                points.value.push(c.value);
                points.count.push(c.count);
                points.sum.push(c.sum);
                points.min.push(c.min);
                points.max.push(c.max);
                points.data.push(c.data_json);
            }
        }
        traces.sort_by(|a: &(String, TraceSummary), b| (&a.0, a.1.trace_id).cmp(&(&b.0, b.1.trace_id)));
        span_rows.sort_by(|a, b| (&a.0, a.1.trace_id, a.1.span_id).cmp(&(&b.0, b.1.trace_id, b.1.span_id)));
        let position: HashMap<(&str, TraceId), usize> =
            traces.iter().enumerate().map(|(i, (t, s))| ((t.as_str(), s.trace_id), i)).collect();
        let mut distinct = vec![0i64; traces.len()];
        let mut spans = SpanColumns::default();
        let mut previous: Option<(&str, TraceId, otelcontext_domain::SpanId)> = None;
        for (tenant, s) in &span_rows {
            let idx = position[&(tenant.as_str(), s.trace_id)];
            // Sorted, so a repeated span follows its first copy.
            if previous != Some((tenant.as_str(), s.trace_id, s.span_id)) {
                distinct[idx] += 1;
            }
            previous = Some((tenant.as_str(), s.trace_id, s.span_id));
            spans.trace_idx.push(idx);
            spans.tenant.push(tenant.clone());
            spans.trace_id.push(s.trace_id.to_hex());
            spans.span_id.push(s.span_id.to_hex());
            spans.parent.push(s.parent_span_id.map(|p| p.to_hex()));
            spans.name.push(clean(&s.name));
            spans.kind.push(s.kind.as_otlp() as i16);
            spans.start.push(s.start_ns);
            spans.end.push(s.end_ns);
            spans.duration.push(s.duration_ns());
            spans.service.push(clean(s.service_name()));
            spans.status_code.push(s.status.code.as_otlp() as i16);
            spans.status_message.push(clean(&s.status.message));
            spans.trace_state.push(clean(&s.trace_state));
            spans.flags.push(s.flags.into());
            spans.resource_fp.push(s.resource.fingerprint);
            spans.scope_name.push(clean(&s.scope.name));
            spans.scope_version.push(clean(&s.scope.version));
            spans.scope_attributes.push(scope_attributes(&s.scope.attributes));
            spans.attributes.push(clean_json(s.attributes.to_json()));
            spans.dropped.push(s.dropped_attributes_count.into());
            spans.events.push(codec::events_to_json(&s.events).map(clean_json));
            spans.links.push(codec::links_to_json(&s.links).map(clean_json));
        }
        let traces = traces.into_iter().zip(distinct).map(|((t, s), n)| (t, s, n)).collect();
        Self { tenants, resources, traces, spans, logs, points }
    }

    /// The tenants and resources this write registers (to remember once it commits).
    pub(crate) fn registered(&self) -> (Vec<String>, Vec<(String, i64)>) {
        (self.tenants.clone(), self.resources.iter().map(|(t, fp, _, _)| (t.clone(), *fp)).collect())
    }
}

const INSERT_SPANS: &str = "INSERT INTO spans (trace_ref, tenant_id, trace_id, span_id, parent_span_id, name, kind, \
    start_ns, end_ns, duration_ns, service_name, status_code, status_message, trace_state, flags, resource_fp, \
    scope_name, scope_version, scope_attributes_json, attributes_json, dropped_attributes_count, events_json, links_json) \
    SELECT * FROM UNNEST($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::smallint[], \
    $8::bigint[], $9::bigint[], $10::bigint[], $11::text[], $12::smallint[], $13::text[], $14::text[], $15::bigint[], \
    $16::bigint[], $17::text[], $18::text[], $19::text[], $20::text[], $21::bigint[], $22::text[], $23::text[]) \
    ON CONFLICT (tenant_id, trace_ref, span_id) DO NOTHING RETURNING trace_ref";

/// New trace rows start with the number of distinct spans of their write (all of which are new:
/// a span row never outlives its trace row).
const INSERT_TRACES: &str = "INSERT INTO traces (tenant_id, trace_id, start_ns, end_ns, duration_ns, root_service, \
    root_operation, has_root, root_start_ns, status, span_count) \
    SELECT * FROM UNNEST($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::bigint[], $6::text[], $7::text[], \
    $8::boolean[], $9::bigint[], $10::smallint[], $11::bigint[]) \
    ON CONFLICT (tenant_id, trace_id) DO NOTHING RETURNING id, tenant_id, trace_id";

const LOCK_TRACES: &str = "SELECT id, tenant_id, trace_id, start_ns, end_ns, root_service, root_operation, has_root, \
    root_start_ns, status FROM traces WHERE (tenant_id, trace_id) IN (SELECT * FROM UNNEST($1::text[], $2::text[])) \
    ORDER BY tenant_id, trace_id FOR UPDATE";

const UPDATE_TRACES: &str = "UPDATE traces t SET start_ns = u.start_ns, end_ns = u.end_ns, duration_ns = u.duration_ns, \
    root_service = u.root_service, root_operation = u.root_operation, has_root = u.has_root, \
    root_start_ns = u.root_start_ns, status = u.status, span_count = t.span_count + u.added \
    FROM UNNEST($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::bigint[], $6::text[], $7::text[], \
    $8::boolean[], $9::bigint[], $10::smallint[], $11::bigint[]) \
    AS u(tenant_id, trace_id, start_ns, end_ns, duration_ns, root_service, root_operation, has_root, root_start_ns, status, added) \
    WHERE t.tenant_id = u.tenant_id AND t.trace_id = u.trace_id";

/// Inserts the log rows and answers how many were new per tenant, service and minute (for the
/// dashboard's rollups; the minute is floored as `otelcontext_domain::dashboard::minute_of` does).
const INSERT_LOGS: &str = "WITH added AS (INSERT INTO logs (tenant_id, timestamp_ns, dedup_key, observed_ns, \
    trace_id, span_id, severity_number, severity_text, level, body, body_is_json, service_name, resource_fp, \
    scope_name, scope_version, scope_attributes_json, attributes_json, flags, event_name, template_id) \
    SELECT * FROM UNNEST($1::text[], $2::bigint[], $3::bigint[], $4::bigint[], $5::text[], $6::text[], $7::integer[], \
    $8::text[], $9::smallint[], $10::text[], $11::boolean[], $12::text[], $13::bigint[], $14::text[], $15::text[], \
    $16::text[], $17::text[], $18::bigint[], $19::text[], $20::bigint[]) \
    ON CONFLICT DO NOTHING RETURNING tenant_id, timestamp_ns, service_name) \
    SELECT tenant_id, service_name, CASE WHEN timestamp_ns >= 0 THEN timestamp_ns - mod(timestamp_ns, 60000000000) \
    ELSE GREATEST(floor(timestamp_ns::numeric / 60000000000) * 60000000000, -9223372036854775808)::bigint END \
    AS minute_ns, count(*) AS n FROM added GROUP BY 1, 2, 3";

const INSERT_POINTS: &str = "INSERT INTO metric_points (tenant_id, time_ns, series_key, name, description, unit, kind, \
    temporality, is_monotonic, service_name, resource_fp, scope_name, scope_version, scope_attributes_json, \
    attributes_json, start_ns, flags, value, count, sum, min, max, data_json) \
    SELECT * FROM UNNEST($1::text[], $2::bigint[], $3::bigint[], $4::text[], $5::text[], $6::text[], $7::text[], \
    $8::smallint[], $9::boolean[], $10::text[], $11::bigint[], $12::text[], $13::text[], $14::text[], $15::text[], \
    $16::bigint[], $17::bigint[], $18::double precision[], $19::bigint[], $20::double precision[], \
    $21::double precision[], $22::double precision[], $23::text[]) \
    ON CONFLICT DO NOTHING";

/// Trace columns as the insert and update statements bind them.
#[derive(Default)]
struct TraceColumns {
    tenant: Vec<String>,
    trace_id: Vec<String>,
    start: Vec<i64>,
    end: Vec<i64>,
    duration: Vec<i64>,
    root_service: Vec<String>,
    root_operation: Vec<String>,
    has_root: Vec<bool>,
    root_start: Vec<i64>,
    status: Vec<i16>,
    count: Vec<i64>,
}

impl TraceColumns {
    fn push(&mut self, tenant: &str, s: &TraceSummary, count: i64) {
        self.tenant.push(tenant.to_owned());
        self.trace_id.push(s.trace_id.to_hex());
        self.start.push(s.start_ns);
        self.end.push(s.end_ns);
        self.duration.push(s.duration_ns());
        self.root_service.push(clean(&s.root_service));
        self.root_operation.push(clean(&s.root_operation));
        self.has_root.push(s.has_root);
        self.root_start.push(s.root_start_ns);
        self.status.push(s.status.as_otlp() as i16);
        self.count.push(count);
    }

    async fn execute(
        self,
        tx: &mut Transaction<'_, Postgres>,
        sql: &'static str,
    ) -> Result<Vec<sqlx::postgres::PgRow>, StorageError> {
        sqlx::query(sql)
            .bind(self.tenant)
            .bind(self.trace_id)
            .bind(self.start)
            .bind(self.end)
            .bind(self.duration)
            .bind(self.root_service)
            .bind(self.root_operation)
            .bind(self.has_root)
            .bind(self.root_start)
            .bind(self.status)
            .bind(self.count)
            .fetch_all(&mut **tx)
            .await
            .map_err(map_sqlx_error)
    }
}

/// Writes the prepared rows in the transaction.
/// Adds catalogue entries, widening the times of those already there. Written last and in one
/// global order, so concurrent writes lock the same rows in the same order.
pub(crate) async fn write_catalog(
    tx: &mut Transaction<'_, Postgres>,
    entries: &[otelcontext_ports::CatalogEntry],
) -> Result<(), StorageError> {
    if entries.is_empty() {
        return Ok(());
    }
    let mut sorted: Vec<&otelcontext_ports::CatalogEntry> = entries.iter().collect();
    sorted.sort_by(|a, b| (&a.tenant, a.signal, &a.service, &a.name).cmp(&(&b.tenant, b.signal, &b.service, &b.name)));
    let (mut t, mut sig, mut svc, mut name, mut first, mut last) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for e in sorted {
        t.push(e.tenant.to_string());
        sig.push(e.signal.as_i64() as i16);
        svc.push(e.service.clone());
        name.push(e.name.clone());
        first.push(e.first_seen_ns);
        last.push(e.last_seen_ns);
    }
    sqlx::query(
        "INSERT INTO catalog (tenant_id, signal, service_name, name, first_seen_ns, last_seen_ns) \
         SELECT * FROM UNNEST($1::text[], $2::smallint[], $3::text[], $4::text[], $5::bigint[], $6::bigint[]) \
         ON CONFLICT (tenant_id, signal, service_name, name) DO UPDATE SET \
         first_seen_ns = LEAST(catalog.first_seen_ns, EXCLUDED.first_seen_ns), \
         last_seen_ns = GREATEST(catalog.last_seen_ns, EXCLUDED.last_seen_ns)",
    )
    .bind(t)
    .bind(sig)
    .bind(svc)
    .bind(name)
    .bind(first)
    .bind(last)
    .execute(&mut **tx)
    .await
    .map_err(map_sqlx_error)?;
    Ok(())
}

pub(crate) async fn write(tx: &mut Transaction<'_, Postgres>, p: Prepared) -> Result<WriteSummary, StorageError> {
    let mut summary = WriteSummary::default();
    if !p.tenants.is_empty() {
        sqlx::query("INSERT INTO tenants (tenant_id) SELECT * FROM UNNEST($1::text[]) ON CONFLICT DO NOTHING")
            .bind(&p.tenants)
            .execute(&mut **tx)
            .await
            .map_err(map_sqlx_error)?;
    }
    if !p.resources.is_empty() {
        let (mut t, mut fp, mut svc, mut attrs) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for (a, b, c, d) in &p.resources {
            t.push(a.clone());
            fp.push(*b);
            svc.push(c.clone());
            attrs.push(d.clone());
        }
        sqlx::query(
            "INSERT INTO resources (tenant_id, fingerprint, service_name, attributes_json) \
             SELECT * FROM UNNEST($1::text[], $2::bigint[], $3::text[], $4::text[]) ON CONFLICT DO NOTHING",
        )
        .bind(t)
        .bind(fp)
        .bind(svc)
        .bind(attrs)
        .execute(&mut **tx)
        .await
        .map_err(map_sqlx_error)?;
    }
    // What the dashboard's per-minute rollups gain and lose with this write.
    let mut rollups = RollupDeltas::default();
    if !p.spans.tenant.is_empty() {
        write_spans_and_traces(tx, p.spans, p.traces, &mut summary, &mut rollups).await?;
    }
    if !p.logs.tenant.is_empty() {
        let l = p.logs;
        let total = l.tenant.len() as u64;
        let added = sqlx::query(INSERT_LOGS)
            .bind(l.tenant)
            .bind(l.timestamp)
            .bind(l.dedup_key)
            .bind(l.observed)
            .bind(l.trace_id)
            .bind(l.span_id)
            .bind(l.severity_number)
            .bind(l.severity_text)
            .bind(l.level)
            .bind(l.body)
            .bind(l.body_is_json)
            .bind(l.service)
            .bind(l.resource_fp)
            .bind(l.scope_name)
            .bind(l.scope_version)
            .bind(l.scope_attributes)
            .bind(l.attributes)
            .bind(l.flags)
            .bind(l.event_name)
            .bind(l.template_id)
            .fetch_all(&mut **tx)
            .await
            .map_err(map_sqlx_error)?;
        for r in &added {
            let n: i64 = r.try_get("n").map_err(map_sqlx_error)?;
            let (tenant, service): (String, String) =
                (r.try_get("tenant_id").map_err(map_sqlx_error)?, r.try_get("service_name").map_err(map_sqlx_error)?);
            rollups.log(&tenant, r.try_get("minute_ns").map_err(map_sqlx_error)?, &service, n);
            summary.logs += u64::try_from(n).unwrap_or(0);
        }
        summary.duplicate_logs = total - summary.logs;
    }
    if !p.points.tenant.is_empty() {
        let m = p.points;
        let total = m.tenant.len() as u64;
        let done = sqlx::query(INSERT_POINTS)
            .bind(m.tenant)
            .bind(m.time)
            .bind(m.series_key)
            .bind(m.name)
            .bind(m.description)
            .bind(m.unit)
            .bind(m.kind)
            .bind(m.temporality)
            .bind(m.is_monotonic)
            .bind(m.service)
            .bind(m.resource_fp)
            .bind(m.scope_name)
            .bind(m.scope_version)
            .bind(m.scope_attributes)
            .bind(m.attributes)
            .bind(m.start)
            .bind(m.flags)
            .bind(m.value)
            .bind(m.count)
            .bind(m.sum)
            .bind(m.min)
            .bind(m.max)
            .bind(m.data)
            .execute(&mut **tx)
            .await
            .map_err(map_sqlx_error)?;
        summary.metric_points = done.rows_affected();
        summary.duplicate_points = total - summary.metric_points;
    }
    crate::rollups::apply(tx, &rollups).await?;
    Ok(summary)
}

async fn write_spans_and_traces(
    tx: &mut Transaction<'_, Postgres>,
    s: SpanColumns,
    traces: Vec<(String, TraceSummary, i64)>,
    summary: &mut WriteSummary,
    rollups: &mut RollupDeltas,
) -> Result<(), StorageError> {
    let get =
        |r: &sqlx::postgres::PgRow, i: usize| -> Result<String, StorageError> { r.try_get(i).map_err(map_sqlx_error) };
    // 1. Trace rows: insert the new ones; lock, merge and (below) update the others.
    let mut new_rows = TraceColumns::default();
    for (tenant, t, distinct) in &traces {
        new_rows.push(tenant, t, *distinct);
    }
    let mut ids: HashMap<(String, String), i64> = HashMap::new();
    for r in new_rows.execute(tx, INSERT_TRACES).await? {
        ids.insert((get(&r, 1)?, get(&r, 2)?), r.try_get(0).map_err(map_sqlx_error)?);
    }
    let created = ids.len();
    // Rollups count trace rows as stored (root services cleaned of NULs): the new ones here, the
    // existing ones once merged (below).
    let stored_form = |s: &TraceSummary| TraceSummary { root_service: clean(&s.root_service), ..s.clone() };
    let mut existing: Vec<&(String, TraceSummary, i64)> = Vec::new();
    for trace in &traces {
        let (tenant, s, _) = trace;
        if ids.contains_key(&(tenant.clone(), s.trace_id.to_hex())) {
            rollups.trace(tenant, &stored_form(s), 1);
        } else {
            existing.push(trace);
        }
    }
    let mut stored_by_key: HashMap<(String, String), TraceSummary> = HashMap::new();
    if !existing.is_empty() {
        let (tenants, hexes): (Vec<String>, Vec<String>) =
            existing.iter().map(|(t, s, _)| (t.clone(), s.trace_id.to_hex())).unzip();
        let stored =
            sqlx::query(LOCK_TRACES).bind(tenants).bind(hexes).fetch_all(&mut **tx).await.map_err(map_sqlx_error)?;
        for r in &stored {
            let tenant: String = r.try_get("tenant_id").map_err(map_sqlx_error)?;
            let hex: String = r.try_get("trace_id").map_err(map_sqlx_error)?;
            let trace_id =
                TraceId::parse_hex(&hex).map_err(|e| StorageError::Corrupt(format!("trace id {hex:?}: {e}")))?;
            let summary = TraceSummary {
                trace_id,
                start_ns: r.try_get("start_ns").map_err(map_sqlx_error)?,
                end_ns: r.try_get("end_ns").map_err(map_sqlx_error)?,
                root_service: r.try_get("root_service").map_err(map_sqlx_error)?,
                root_operation: r.try_get("root_operation").map_err(map_sqlx_error)?,
                has_root: r.try_get("has_root").map_err(map_sqlx_error)?,
                root_start_ns: r.try_get("root_start_ns").map_err(map_sqlx_error)?,
                status: StatusCode::from_otlp(i32::from(r.try_get::<i16, _>("status").map_err(map_sqlx_error)?)),
                span_count: 0,
            };
            ids.insert((tenant.clone(), hex.clone()), r.try_get("id").map_err(map_sqlx_error)?);
            stored_by_key.insert((tenant, hex), summary);
        }
    }
    let refs: Vec<i64> = traces
        .iter()
        .map(|(t, s, _)| {
            ids.get(&(t.clone(), s.trace_id.to_hex()))
                .copied()
                .ok_or_else(|| StorageError::Other(format!("trace {} vanished during the write", s.trace_id)))
        })
        .collect::<Result<_, _>>()?;
    // 2. Spans, keyed by their trace row's id.
    let total = s.tenant.len() as u64;
    let trace_refs: Vec<i64> = s.trace_idx.iter().map(|i| refs[*i]).collect();
    let inserted = sqlx::query(INSERT_SPANS)
        .bind(trace_refs)
        .bind(s.tenant)
        .bind(s.trace_id)
        .bind(s.span_id)
        .bind(s.parent)
        .bind(s.name)
        .bind(s.kind)
        .bind(s.start)
        .bind(s.end)
        .bind(s.duration)
        .bind(s.service)
        .bind(s.status_code)
        .bind(s.status_message)
        .bind(s.trace_state)
        .bind(s.flags)
        .bind(s.resource_fp)
        .bind(s.scope_name)
        .bind(s.scope_version)
        .bind(s.scope_attributes)
        .bind(s.attributes)
        .bind(s.dropped)
        .bind(s.events)
        .bind(s.links)
        .fetch_all(&mut **tx)
        .await
        .map_err(map_sqlx_error)?;
    summary.spans = inserted.len() as u64;
    summary.duplicate_spans = total - summary.spans;
    if created == traces.len() {
        return Ok(());
    }
    // 3. Existing trace rows: merged summary and the spans this write added.
    let mut added: HashMap<i64, i64> = HashMap::new();
    for row in &inserted {
        *added.entry(row.try_get(0).map_err(map_sqlx_error)?).or_default() += 1;
    }
    let mut updates = TraceColumns::default();
    for ((tenant, s, _), id) in traces.iter().zip(&refs) {
        let Some(current) = stored_by_key.get(&(tenant.clone(), s.trace_id.to_hex())) else { continue };
        let mut merged = current.clone();
        merged.merge(&TraceSummary { span_count: 0, ..s.clone() });
        let n = added.get(id).copied().unwrap_or(0);
        if merged != *current {
            rollups.trace_changed(tenant, current, &stored_form(&merged));
        }
        if merged != *current || n > 0 {
            updates.push(tenant, &merged, n);
        }
    }
    if !updates.tenant.is_empty() {
        updates.execute(tx, UPDATE_TRACES).await?;
    }
    Ok(())
}
