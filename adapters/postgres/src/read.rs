//! Decoding of stored rows, and reading a trace by id.

use crate::error::map_sqlx_error;
use otelcontext_domain::codec::{self, PointColumns};
use otelcontext_domain::trace::TraceSummary;
use otelcontext_domain::{
    AnyValue, Attributes, InstrumentationScope, LogRecord, MetricPoint, Resource, Span, SpanId, SpanKind, SpanStatus,
    StatusCode, TemplateId, TenantId, Trace, TraceId,
};
use otelcontext_ports::{LogId, StorageError, StoredLog};
use sqlx::postgres::PgRow;
use sqlx::{AssertSqlSafe, Decode, PgPool, Postgres, Row, Type};
use std::collections::HashMap;
use std::sync::Arc;

/// A column by name, its decode error mapped.
pub(crate) fn col<'r, T: Decode<'r, Postgres> + Type<Postgres>>(row: &'r PgRow, name: &str) -> Result<T, StorageError> {
    row.try_get(name).map_err(map_sqlx_error)
}

pub(crate) fn corrupt(what: &str, e: impl std::fmt::Display) -> StorageError {
    StorageError::Corrupt(format!("{what}: {e}"))
}

/// Attributes from a JSON column (NULL means none).
pub(crate) fn attributes(text: Option<&str>) -> Result<Attributes, StorageError> {
    match text {
        None => Ok(Attributes::new()),
        Some(t) => Attributes::from_json(t).map_err(|e| corrupt("attributes", e)),
    }
}

/// Shares one `Arc<Resource>` per fingerprint within a read.
#[derive(Default)]
pub(crate) struct Resources(HashMap<i64, Arc<Resource>>);

impl Resources {
    fn get(&mut self, row: &PgRow) -> Result<Arc<Resource>, StorageError> {
        let fp: i64 = col(row, "resource_fp")?;
        if let Some(r) = self.0.get(&fp) {
            return Ok(r.clone());
        }
        let attrs: Option<String> = col(row, "resource_attributes")?;
        let resource = match attrs {
            Some(json) => Resource::new(attributes(Some(&json))?),
            None => Resource::for_service(&col::<String>(row, "service_name")?),
        };
        let r = Arc::new(resource);
        self.0.insert(fp, r.clone());
        Ok(r)
    }
}

fn scope(row: &PgRow) -> Result<Arc<InstrumentationScope>, StorageError> {
    let attrs: Option<String> = col(row, "scope_attributes_json")?;
    Ok(Arc::new(InstrumentationScope {
        name: col(row, "scope_name")?,
        version: col(row, "scope_version")?,
        attributes: attributes(attrs.as_deref())?,
    }))
}

fn opt_span_id(v: Option<String>) -> Result<Option<SpanId>, StorageError> {
    v.map(|s| SpanId::parse_hex(&s).map_err(|e| corrupt("span id", e))).transpose()
}

fn opt_trace_id(v: Option<String>) -> Result<Option<TraceId>, StorageError> {
    v.map(|s| TraceId::parse_hex(&s).map_err(|e| corrupt("trace id", e))).transpose()
}

/// The join that brings a row's resource attributes.
pub(crate) fn resource_join(alias: &str) -> String {
    format!("LEFT JOIN resources r ON r.tenant_id = {alias}.tenant_id AND r.fingerprint = {alias}.resource_fp")
}

pub(crate) const SPAN_COLUMNS: &str = "s.id, s.trace_id, s.span_id, s.parent_span_id, s.name, s.kind, s.start_ns, \
    s.end_ns, s.service_name, s.status_code, s.status_message, s.trace_state, s.flags, s.resource_fp, \
    r.attributes_json AS resource_attributes, s.scope_name, s.scope_version, s.scope_attributes_json, \
    s.attributes_json, s.dropped_attributes_count, s.events_json, s.links_json";

pub(crate) fn span_from_row(row: &PgRow, resources: &mut Resources) -> Result<Span, StorageError> {
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
        kind: SpanKind::from_otlp(i32::from(col::<i16>(row, "kind")?)),
        start_ns: col(row, "start_ns")?,
        end_ns: col(row, "end_ns")?,
        attributes: attributes(Some(&attrs))?,
        dropped_attributes_count: col::<i64>(row, "dropped_attributes_count")? as u32,
        events: codec::events_from_json(events.as_deref())?,
        links: codec::links_from_json(links.as_deref())?,
        status: SpanStatus {
            code: StatusCode::from_otlp(i32::from(col::<i16>(row, "status_code")?)),
            message: col(row, "status_message")?,
        },
        resource: resources.get(row)?,
        scope: scope(row)?,
    })
}

pub(crate) const LOG_COLUMNS: &str = "l.id, l.template_id, l.timestamp_ns, l.observed_ns, l.trace_id, l.span_id, \
    l.severity_number, l.severity_text, l.body, l.body_is_json, l.service_name, l.resource_fp, \
    r.attributes_json AS resource_attributes, l.scope_name, l.scope_version, l.scope_attributes_json, \
    l.attributes_json, l.flags, l.event_name";

pub(crate) fn log_from_row(row: &PgRow, resources: &mut Resources) -> Result<LogRecord, StorageError> {
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
        severity_number: col(row, "severity_number")?,
        severity_text: col(row, "severity_text")?,
        body,
        attributes: attributes(Some(&attrs))?,
        trace_id: opt_trace_id(col(row, "trace_id")?)?,
        span_id: opt_span_id(col(row, "span_id")?)?,
        flags: col::<i64>(row, "flags")? as u32,
        event_name: col(row, "event_name")?,
        resource: resources.get(row)?,
        scope: scope(row)?,
        template_id: col::<Option<i64>>(row, "template_id")?.map(TemplateId::from_i64),
    })
}

/// A log row with its id.
pub(crate) fn stored_log_from_row(row: &PgRow, resources: &mut Resources) -> Result<StoredLog, StorageError> {
    Ok(StoredLog { id: LogId(col(row, "id")?), record: log_from_row(row, resources)? })
}

pub(crate) const POINT_COLUMNS: &str = "m.id, m.time_ns, m.name, m.description, m.unit, m.kind, m.temporality, \
    m.is_monotonic, m.service_name, m.resource_fp, r.attributes_json AS resource_attributes, m.scope_name, \
    m.scope_version, m.scope_attributes_json, m.attributes_json, m.start_ns, m.flags, m.value, m.count, m.sum, m.min, \
    m.max, m.data_json";

pub(crate) fn point_from_row(row: &PgRow, resources: &mut Resources) -> Result<MetricPoint, StorageError> {
    let kind: String = col(row, "kind")?;
    let columns = PointColumns {
        temporality: i64::from(col::<i16>(row, "temporality")?),
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
        attributes: attributes(Some(&attrs))?,
        start_ns: col(row, "start_ns")?,
        time_ns: col(row, "time_ns")?,
        flags: col::<i64>(row, "flags")? as u32,
        value: codec::point_value(&kind, &columns)?,
        resource: resources.get(row)?,
        scope: scope(row)?,
    })
}

/// Columns of a trace row.
pub(crate) const TRACE_COLUMNS: &str = "t.id, t.trace_id, t.start_ns, t.end_ns, t.duration_ns, t.root_service, \
    t.root_operation, t.has_root, t.root_start_ns, t.status, t.span_count";

/// A trace row's summary.
pub(crate) fn summary_from_row(row: &PgRow) -> Result<TraceSummary, StorageError> {
    Ok(TraceSummary {
        trace_id: TraceId::parse_hex(&col::<String>(row, "trace_id")?).map_err(|e| corrupt("trace id", e))?,
        start_ns: col(row, "start_ns")?,
        end_ns: col(row, "end_ns")?,
        root_service: col(row, "root_service")?,
        root_operation: col(row, "root_operation")?,
        has_root: col(row, "has_root")?,
        root_start_ns: col(row, "root_start_ns")?,
        status: StatusCode::from_otlp(i32::from(col::<i16>(row, "status")?)),
        span_count: col::<i64>(row, "span_count")?.max(0) as u64,
    })
}

pub(crate) async fn get_trace(
    pool: &PgPool,
    tenant: &TenantId,
    trace_id: &TraceId,
) -> Result<Option<Trace>, StorageError> {
    let hex = trace_id.to_hex();
    let Some(row) = sqlx::query(AssertSqlSafe(format!(
        "SELECT {TRACE_COLUMNS} FROM traces t WHERE t.tenant_id = $1 AND t.trace_id = $2"
    )))
    .bind(tenant.as_str())
    .bind(&hex)
    .fetch_optional(pool)
    .await
    .map_err(map_sqlx_error)?
    else {
        return Ok(None);
    };
    let summary = summary_from_row(&row)?;
    let trace_ref: i64 = col(&row, "id")?;
    let mut resources = Resources::default();
    let spans = sqlx::query(AssertSqlSafe(format!(
        "SELECT {SPAN_COLUMNS} FROM spans s {} WHERE s.tenant_id = $1 AND s.trace_ref = $2 ORDER BY s.start_ns, s.span_id",
        resource_join("s")
    )))
    .bind(tenant.as_str())
    .bind(trace_ref)
    .fetch_all(pool)
    .await
    .map_err(map_sqlx_error)?
    .iter()
    .map(|r| span_from_row(r, &mut resources))
    .collect::<Result<Vec<_>, _>>()?;
    let logs = sqlx::query(AssertSqlSafe(format!(
        "SELECT {LOG_COLUMNS} FROM logs l {} WHERE l.tenant_id = $1 AND l.trace_id = $2 \
         ORDER BY l.timestamp_ns, l.id LIMIT 10000",
        resource_join("l")
    )))
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
