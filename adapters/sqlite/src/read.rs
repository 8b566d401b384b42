//! The read path (reader pool).

use crate::codec::{self, PointColumns};
use crate::error::map_sqlx_error;
use otelcontext_domain::trace::TraceSummary;
use otelcontext_domain::{
    AnyValue, InstrumentationScope, LogRecord, MetricPoint, Resource, Span, SpanId, SpanKind, SpanStatus, StatusCode,
    TenantId, Trace, TraceId,
};
use otelcontext_ports::{LogQuery, MetricQuery, SignalCounts, StorageError};
use sqlx::sqlite::{SqliteArguments, SqliteRow};
use sqlx::{AssertSqlSafe, Decode, Row, Sqlite, SqlitePool, Type};
use std::collections::HashMap;
use std::sync::Arc;

type Query<'q> = sqlx::query::Query<'q, Sqlite, SqliteArguments>;

fn col<'r, T: Decode<'r, Sqlite> + Type<Sqlite>>(row: &'r SqliteRow, name: &str) -> Result<T, StorageError> {
    row.try_get(name).map_err(map_sqlx_error)
}

fn corrupt(what: &str, e: impl std::fmt::Display) -> StorageError {
    StorageError::Corrupt(format!("{what}: {e}"))
}

/// Shares one `Arc<Resource>` per fingerprint within a read.
#[derive(Default)]
struct Resources(HashMap<i64, Arc<Resource>>);

impl Resources {
    fn get(&mut self, row: &SqliteRow) -> Result<Arc<Resource>, StorageError> {
        let fp: i64 = col(row, "resource_fp")?;
        if let Some(r) = self.0.get(&fp) {
            return Ok(r.clone());
        }
        let attrs: Option<String> = col(row, "resource_attributes")?;
        let resource = match attrs {
            Some(json) => Resource::new(codec::attributes_from_json(Some(&json))?),
            None => Resource::for_service(&col::<String>(row, "service_name")?),
        };
        let r = Arc::new(resource);
        self.0.insert(fp, r.clone());
        Ok(r)
    }
}

fn scope(row: &SqliteRow) -> Result<Arc<InstrumentationScope>, StorageError> {
    let attrs: Option<String> = col(row, "scope_attributes_json")?;
    Ok(Arc::new(InstrumentationScope {
        name: col(row, "scope_name")?,
        version: col(row, "scope_version")?,
        attributes: codec::attributes_from_json(attrs.as_deref())?,
    }))
}

fn opt_span_id(v: Option<String>) -> Result<Option<SpanId>, StorageError> {
    v.map(|s| SpanId::parse_hex(&s).map_err(|e| corrupt("span id", e))).transpose()
}

fn opt_trace_id(v: Option<String>) -> Result<Option<TraceId>, StorageError> {
    v.map(|s| TraceId::parse_hex(&s).map_err(|e| corrupt("trace id", e))).transpose()
}

const SPAN_COLUMNS: &str = "s.trace_id, s.span_id, s.parent_span_id, s.name, s.kind, s.start_ns, s.end_ns, \
    s.service_name, s.status_code, s.status_message, s.trace_state, s.flags, s.resource_fp, \
    r.attributes_json AS resource_attributes, s.scope_name, s.scope_version, s.scope_attributes_json, \
    s.attributes_json, s.dropped_attributes_count, s.events_json, s.links_json";

fn span_from_row(row: &SqliteRow, resources: &mut Resources) -> Result<Span, StorageError> {
    let attrs: String = col(row, "attributes_json")?;
    let events: Option<String> = col(row, "events_json")?;
    let links: Option<String> = col(row, "links_json")?;
    Ok(Span {
        trace_id: TraceId::parse_hex(&col::<String>(row, "trace_id")?).map_err(|e| corrupt("trace id", e))?,
        span_id: SpanId::parse_hex(&col::<String>(row, "span_id")?).map_err(|e| corrupt("span id", e))?,
        parent_span_id: opt_span_id(col(row, "parent_span_id")?)?,
        trace_state: col(row, "trace_state")?,
        flags: col::<i64>(row, "flags")? as u32,
        name: col(row, "name")?,
        kind: SpanKind::from_otlp(col::<i64>(row, "kind")? as i32),
        start_ns: col(row, "start_ns")?,
        end_ns: col(row, "end_ns")?,
        attributes: codec::attributes_from_json(Some(&attrs))?,
        dropped_attributes_count: col::<i64>(row, "dropped_attributes_count")? as u32,
        events: codec::events_from_json(events.as_deref())?,
        links: codec::links_from_json(links.as_deref())?,
        status: SpanStatus {
            code: StatusCode::from_otlp(col::<i64>(row, "status_code")? as i32),
            message: col(row, "status_message")?,
        },
        resource: resources.get(row)?,
        scope: scope(row)?,
    })
}

const LOG_COLUMNS: &str = "l.timestamp_ns, l.observed_ns, l.trace_id, l.span_id, l.severity_number, l.severity_text, \
    l.body, l.body_is_json, l.service_name, l.resource_fp, r.attributes_json AS resource_attributes, l.scope_name, \
    l.scope_version, l.scope_attributes_json, l.attributes_json, l.flags, l.event_name";

fn log_from_row(row: &SqliteRow, resources: &mut Resources) -> Result<LogRecord, StorageError> {
    let body: Option<String> = col(row, "body")?;
    let body = match body {
        None => None,
        Some(text) if col::<bool>(row, "body_is_json")? => {
            Some(serde_json::from_str::<AnyValue>(&text).map_err(|e| corrupt("log body", e))?)
        }
        Some(text) => Some(AnyValue::String(text)),
    };
    let attrs: String = col(row, "attributes_json")?;
    Ok(LogRecord {
        timestamp_ns: col(row, "timestamp_ns")?,
        observed_ns: col(row, "observed_ns")?,
        severity_number: col::<i64>(row, "severity_number")? as i32,
        severity_text: col(row, "severity_text")?,
        body,
        attributes: codec::attributes_from_json(Some(&attrs))?,
        trace_id: opt_trace_id(col(row, "trace_id")?)?,
        span_id: opt_span_id(col(row, "span_id")?)?,
        flags: col::<i64>(row, "flags")? as u32,
        event_name: col(row, "event_name")?,
        resource: resources.get(row)?,
        scope: scope(row)?,
    })
}

const POINT_COLUMNS: &str = "m.time_ns, m.name, m.description, m.unit, m.kind, m.temporality, m.is_monotonic, \
    m.service_name, m.resource_fp, r.attributes_json AS resource_attributes, m.scope_name, m.scope_version, \
    m.scope_attributes_json, m.attributes_json, m.start_ns, m.flags, m.value, m.count, m.sum, m.min, m.max, m.data_json";

fn point_from_row(row: &SqliteRow, resources: &mut Resources) -> Result<MetricPoint, StorageError> {
    let kind: String = col(row, "kind")?;
    let columns = PointColumns {
        temporality: col(row, "temporality")?,
        is_monotonic: col(row, "is_monotonic")?,
        value: col(row, "value")?,
        count: col(row, "count")?,
        sum: col(row, "sum")?,
        min: col(row, "min")?,
        max: col(row, "max")?,
        data_json: col(row, "data_json")?,
    };
    let attrs: String = col(row, "attributes_json")?;
    Ok(MetricPoint {
        name: col(row, "name")?,
        description: col(row, "description")?,
        unit: col(row, "unit")?,
        attributes: codec::attributes_from_json(Some(&attrs))?,
        start_ns: col(row, "start_ns")?,
        time_ns: col(row, "time_ns")?,
        flags: col::<i64>(row, "flags")? as u32,
        value: codec::point_value(&kind, &columns)?,
        resource: resources.get(row)?,
        scope: scope(row)?,
    })
}

pub(crate) async fn get_trace(
    pool: &SqlitePool,
    tenant: &TenantId,
    trace_id: &TraceId,
) -> Result<Option<Trace>, StorageError> {
    let hex = trace_id.to_hex();
    let Some(row) = sqlx::query(
        "SELECT id, start_ns, end_ns, root_service, root_operation, has_root, root_start_ns, status, span_count \
         FROM traces WHERE tenant_id = ? AND trace_id = ?",
    )
    .bind(tenant.as_str())
    .bind(&hex)
    .fetch_optional(pool)
    .await
    .map_err(map_sqlx_error)?
    else {
        return Ok(None);
    };
    let trace_ref: i64 = col(&row, "id")?;
    let summary = TraceSummary {
        trace_id: *trace_id,
        start_ns: col(&row, "start_ns")?,
        end_ns: col(&row, "end_ns")?,
        root_service: col(&row, "root_service")?,
        root_operation: col(&row, "root_operation")?,
        has_root: col(&row, "has_root")?,
        root_start_ns: col(&row, "root_start_ns")?,
        status: StatusCode::from_otlp(col::<i64>(&row, "status")? as i32),
        span_count: col::<i64>(&row, "span_count")?.max(0) as u64,
    };
    let mut resources = Resources::default();
    let span_sql = format!(
        "SELECT {SPAN_COLUMNS} FROM spans s LEFT JOIN resources r ON r.tenant_id = s.tenant_id AND r.fingerprint = s.resource_fp \
         WHERE s.trace_ref = ? ORDER BY s.start_ns, s.span_id"
    );
    let spans = sqlx::query(AssertSqlSafe(span_sql))
        .bind(trace_ref)
        .fetch_all(pool)
        .await
        .map_err(map_sqlx_error)?
        .iter()
        .map(|r| span_from_row(r, &mut resources))
        .collect::<Result<Vec<_>, _>>()?;
    let log_sql = format!(
        "SELECT {LOG_COLUMNS} FROM logs l LEFT JOIN resources r ON r.tenant_id = l.tenant_id AND r.fingerprint = l.resource_fp \
         WHERE l.tenant_id = ? AND l.trace_id = ? ORDER BY l.timestamp_ns, l.id LIMIT 10000"
    );
    let logs = sqlx::query(AssertSqlSafe(log_sql))
        .bind(tenant.as_str())
        .bind(&hex)
        .fetch_all(pool)
        .await
        .map_err(map_sqlx_error)?
        .iter()
        .map(|r| log_from_row(r, &mut resources))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Some(Trace { summary, spans, logs }))
}

/// Appends optional `AND` conditions; returns the SQL and the binder.
struct Filter {
    sql: String,
    binds: Vec<Bind>,
}

enum Bind {
    Text(String),
    Int(i64),
}

impl Filter {
    fn new(base: String, tenant: &TenantId) -> Self {
        Self { sql: base, binds: vec![Bind::Text(tenant.as_str().to_owned())] }
    }
    fn text(&mut self, cond: &str, v: Option<&str>) {
        if let Some(v) = v {
            self.sql.push_str(cond);
            self.binds.push(Bind::Text(v.to_owned()));
        }
    }
    fn int(&mut self, cond: &str, v: Option<i64>) {
        if let Some(v) = v {
            self.sql.push_str(cond);
            self.binds.push(Bind::Int(v));
        }
    }
    /// Runs the query with `tail` (ORDER BY … LIMIT ?) and decodes every row with `decode`.
    async fn fetch<T>(
        self,
        pool: &SqlitePool,
        tail: &str,
        limit: usize,
        decode: fn(&SqliteRow, &mut Resources) -> Result<T, StorageError>,
    ) -> Result<Vec<T>, StorageError> {
        let rows = self.query(tail, limit).fetch_all(pool).await.map_err(map_sqlx_error)?;
        let mut resources = Resources::default();
        rows.iter().map(|r| decode(r, &mut resources)).collect()
    }

    fn query(self, tail: &str, limit: usize) -> Query<'static> {
        let mut q = sqlx::query(AssertSqlSafe(format!("{}{tail}", self.sql)));
        for b in self.binds {
            q = match b {
                Bind::Text(s) => q.bind(s),
                Bind::Int(i) => q.bind(i),
            };
        }
        q.bind(i64::try_from(limit).unwrap_or(i64::MAX))
    }
}

pub(crate) async fn query_logs(
    pool: &SqlitePool,
    tenant: &TenantId,
    q: &LogQuery,
) -> Result<Vec<LogRecord>, StorageError> {
    let mut f = Filter::new(
        format!(
            "SELECT {LOG_COLUMNS} FROM logs l LEFT JOIN resources r ON r.tenant_id = l.tenant_id AND r.fingerprint = l.resource_fp \
             WHERE l.tenant_id = ?"
        ),
        tenant,
    );
    f.text(" AND l.trace_id = ?", q.trace_id.map(|t| t.to_hex()).as_deref());
    f.text(" AND l.service_name = ?", q.service.as_deref());
    f.int(" AND l.timestamp_ns >= ?", q.start_ns);
    f.int(" AND l.timestamp_ns <= ?", q.end_ns);
    f.fetch(pool, " ORDER BY l.timestamp_ns DESC, l.id DESC LIMIT ?", q.limit, log_from_row).await
}

pub(crate) async fn query_metric_points(
    pool: &SqlitePool,
    tenant: &TenantId,
    q: &MetricQuery,
) -> Result<Vec<MetricPoint>, StorageError> {
    let mut f = Filter::new(
        format!(
            "SELECT {POINT_COLUMNS} FROM metric_points m LEFT JOIN resources r ON r.tenant_id = m.tenant_id AND r.fingerprint = m.resource_fp \
             WHERE m.tenant_id = ?"
        ),
        tenant,
    );
    f.text(" AND m.name = ?", q.name.as_deref());
    f.text(" AND m.service_name = ?", q.service.as_deref());
    f.int(" AND m.time_ns >= ?", q.start_ns);
    f.int(" AND m.time_ns <= ?", q.end_ns);
    f.fetch(pool, " ORDER BY m.time_ns, m.id LIMIT ?", q.limit, point_from_row).await
}

pub(crate) async fn counts(pool: &SqlitePool, tenant: &TenantId) -> Result<SignalCounts, StorageError> {
    let t = tenant.as_str();
    let row = sqlx::query(
        "SELECT (SELECT count(*) FROM traces WHERE tenant_id = ?) AS traces, \
                (SELECT count(*) FROM spans WHERE tenant_id = ?) AS spans, \
                (SELECT count(*) FROM logs WHERE tenant_id = ?) AS logs, \
                (SELECT count(*) FROM metric_points WHERE tenant_id = ?) AS points, \
                (SELECT count(*) FROM traces WHERE tenant_id = ? AND status = 2) AS error_traces",
    )
    .bind(t)
    .bind(t)
    .bind(t)
    .bind(t)
    .bind(t)
    .fetch_one(pool)
    .await
    .map_err(map_sqlx_error)?;
    let n = |name: &str| col::<i64>(&row, name).map(|v| v.max(0) as u64);
    Ok(SignalCounts {
        traces: n("traces")?,
        spans: n("spans")?,
        logs: n("logs")?,
        metric_points: n("points")?,
        error_traces: n("error_traces")?,
    })
}
