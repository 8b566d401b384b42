//! Decoding of stored rows (reader pool), and reading a trace by id.

use crate::error::map_sqlx_error;
use otelcontext_domain::codec::CodecError;
use otelcontext_domain::codec::rows::{self, ResourceCache, StoredRow};
use otelcontext_domain::trace::TraceSummary;
use otelcontext_domain::{TenantId, Trace, TraceId};
use otelcontext_ports::{LogId, StorageError, StoredLog};
use sqlx::sqlite::SqliteRow;
use sqlx::{AssertSqlSafe, Decode, Row, Sqlite, SqlitePool, Type};

/// A column by name, its decode error mapped.
pub(crate) fn col<'r, T: Decode<'r, Sqlite> + Type<Sqlite>>(row: &'r SqliteRow, name: &str) -> Result<T, StorageError> {
    row.try_get(name).map_err(map_sqlx_error)
}

fn codec_error(e: sqlx::Error) -> CodecError {
    CodecError { what: "column", message: e.to_string() }
}

/// Rows of the reader pool, read by the shared decoders of `domain::codec::rows`.
pub(crate) struct Stored<'a>(pub &'a SqliteRow);

impl StoredRow for Stored<'_> {
    fn text(&self, column: &str) -> Result<Option<String>, CodecError> {
        self.0.try_get(column).map_err(codec_error)
    }
    fn int(&self, column: &str) -> Result<Option<i64>, CodecError> {
        self.0.try_get(column).map_err(codec_error)
    }
    fn float(&self, column: &str) -> Result<Option<f64>, CodecError> {
        self.0.try_get(column).map_err(codec_error)
    }
    fn flag(&self, column: &str) -> Result<Option<bool>, CodecError> {
        self.0.try_get(column).map_err(codec_error)
    }
}

pub(crate) const SPAN_COLUMNS: &str = "s.id, s.trace_id, s.span_id, s.parent_span_id, s.name, s.kind, s.start_ns, s.end_ns, \
    s.service_name, s.status_code, s.status_message, s.trace_state, s.flags, s.resource_fp, \
    r.attributes_json AS resource_attributes, s.scope_name, s.scope_version, s.scope_attributes_json, \
    s.attributes_json, s.dropped_attributes_count, s.events_json, s.links_json";

pub(crate) const LOG_COLUMNS: &str = "l.id, l.template_id, l.timestamp_ns, l.observed_ns, l.trace_id, l.span_id, \
    l.severity_number, l.severity_text, l.body, l.body_is_json, l.service_name, l.resource_fp, \
    r.attributes_json AS resource_attributes, l.scope_name, l.scope_version, l.scope_attributes_json, \
    l.attributes_json, l.flags, l.event_name";

/// A log row with its id.
pub(crate) fn stored_log_from_row(row: &SqliteRow, resources: &mut ResourceCache) -> Result<StoredLog, StorageError> {
    Ok(StoredLog { id: LogId(col(row, "id")?), record: rows::log(&Stored(row), resources)? })
}

pub(crate) const POINT_COLUMNS: &str = "m.id, m.time_ns, m.name, m.description, m.unit, m.kind, m.temporality, \
    m.is_monotonic, m.service_name, m.resource_fp, r.attributes_json AS resource_attributes, m.scope_name, \
    m.scope_version, m.scope_attributes_json, m.attributes_json, m.start_ns, m.flags, m.value, m.count, m.sum, m.min, \
    m.max, m.data_json";

/// Logs of one trace are read through the trace index. Without table statistics the planner
/// preferred the `(tenant_id, timestamp_ns, …)` index for its order and read every log of the
/// tenant (27 ms per trace at 200k logs; `app/examples/query_scale.rs`).
pub(crate) const LOGS_BY_TRACE: &str = "INDEXED BY logs_tenant_trace";

/// The logs of one trace (tenant and hex trace id bound), oldest first.
pub(crate) fn logs_of_trace_sql() -> String {
    format!(
        "SELECT {LOG_COLUMNS} FROM logs l {LOGS_BY_TRACE} LEFT JOIN resources r ON r.tenant_id = l.tenant_id \
         AND r.fingerprint = l.resource_fp WHERE l.tenant_id = ? AND l.trace_id = ? ORDER BY l.timestamp_ns, l.id LIMIT 10000"
    )
}

/// Columns of a trace row.
pub(crate) const TRACE_COLUMNS: &str = "t.id, t.trace_id, t.start_ns, t.end_ns, t.duration_ns, t.root_service, \
    t.root_operation, t.has_root, t.root_start_ns, t.status, t.span_count";

/// A trace row: its row id and summary.
pub(crate) fn summary_from_row(row: &SqliteRow) -> Result<(i64, TraceSummary), StorageError> {
    Ok((col(row, "id")?, rows::trace_summary(&Stored(row))?))
}

pub(crate) async fn get_trace(
    pool: &SqlitePool,
    tenant: &TenantId,
    trace_id: &TraceId,
) -> Result<Option<Trace>, StorageError> {
    let hex = trace_id.to_hex();
    let Some(row) = sqlx::query(AssertSqlSafe(format!(
        "SELECT {TRACE_COLUMNS} FROM traces t WHERE t.trace_key = ? AND t.tenant_id = ? AND t.trace_id = ?"
    )))
    .bind(crate::write::trace_key(trace_id))
    .bind(tenant.as_str())
    .bind(&hex)
    .fetch_optional(pool)
    .await
    .map_err(map_sqlx_error)?
    else {
        return Ok(None);
    };
    let (trace_ref, summary) = summary_from_row(&row)?;
    let mut resources = ResourceCache::default();
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
        .map(|r| rows::span(&Stored(r), &mut resources).map_err(StorageError::from))
        .collect::<Result<Vec<_>, _>>()?;
    let log_sql = logs_of_trace_sql();
    let logs = sqlx::query(AssertSqlSafe(log_sql))
        .bind(tenant.as_str())
        .bind(&hex)
        .fetch_all(pool)
        .await
        .map_err(map_sqlx_error)?
        .iter()
        .map(|r| rows::log(&Stored(r), &mut resources).map_err(StorageError::from))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Some(Trace { summary, spans, logs }))
}
