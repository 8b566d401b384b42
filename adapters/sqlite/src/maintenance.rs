//! Counts, retention purges, optimisation and status of the SQLite database.

use crate::error::map_sqlx_error;
use crate::read::col;
use crate::writer::{WriterState, map_err, wal_size};
use otelcontext_domain::dashboard::RollupDeltas;
use otelcontext_domain::{StatusCode, TenantId};
use otelcontext_ports::{CATALOG_SLACK_NS, CatalogSignal, RetentionTarget, SignalCounts, StorageError};
use rusqlite::params_from_iter;
use sqlx::SqlitePool;
use std::path::Path;

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

pub(crate) async fn tenants(pool: &SqlitePool) -> Result<Vec<TenantId>, StorageError> {
    let names: Vec<String> = sqlx::query_scalar("SELECT tenant_id FROM tenants ORDER BY tenant_id")
        .fetch_all(pool)
        .await
        .map_err(map_sqlx_error)?;
    names
        .iter()
        .map(|n| TenantId::parse(n).map_err(|e| StorageError::Corrupt(format!("tenant id {n:?}: {e}"))))
        .collect()
}

/// Table and time column a target is purged by.
fn table_of(target: RetentionTarget) -> (&'static str, &'static str) {
    match target {
        RetentionTarget::Logs => ("logs", "timestamp_ns"),
        RetentionTarget::Traces => ("traces", "start_ns"),
        RetentionTarget::MetricPoints => ("metric_points", "time_ns"),
        RetentionTarget::MetricBuckets => ("metric_buckets", "start_ns"),
        RetentionTarget::GraphSnapshots => ("graph_snapshots", "created_ns"),
        RetentionTarget::Investigations => ("investigations", "created_ns"),
        RetentionTarget::Templates => ("drain_templates", "last_seen_ns"),
    }
}

/// The row key of a target's table (`drain_templates` has none of its own: its key is
/// (tenant_id, id), and its rows are deleted one by one).
fn row_key(target: RetentionTarget) -> &'static str {
    match target {
        RetentionTarget::GraphSnapshots | RetentionTarget::Investigations => "seq",
        _ => "id",
    }
}

/// Tenant and row key of up to `batch` expired rows: across tenants, found through each
/// tenant's (tenant_id, time) index, or of one tenant (`?3`).
fn expired_sql(target: RetentionTarget, scoped: bool) -> String {
    let (table, time) = table_of(target);
    let id = row_key(target);
    if scoped {
        format!("SELECT x.tenant_id, x.{id} FROM {table} x WHERE x.tenant_id = ?3 AND x.{time} < ?1 LIMIT ?2")
    } else {
        format!(
            "SELECT x.tenant_id, x.{id} FROM tenants t JOIN {table} x ON x.tenant_id = t.tenant_id AND x.{time} < ?1 \
             LIMIT ?2"
        )
    }
}

/// Deletes one batch on the writer, of every tenant or of one; a trace goes with its spans.
pub(crate) fn purge(
    state: &mut WriterState,
    target: RetentionTarget,
    tenant: Option<&str>,
    cutoff_ns: i64,
    batch: usize,
) -> Result<u64, StorageError> {
    let limit = i64::try_from(batch).unwrap_or(i64::MAX);
    let full_text = state.full_text;
    state.transaction(&[], |tx| {
        let rows: Vec<(String, i64)> = {
            let mut stmt = tx.prepare_cached(&expired_sql(target, tenant.is_some())).map_err(map_err)?;
            let row = |r: &rusqlite::Row<'_>| Ok((r.get(0)?, r.get(1)?));
            match tenant {
                Some(t) => stmt.query_map(rusqlite::params![cutoff_ns, limit, t], row),
                None => stmt.query_map(rusqlite::params![cutoff_ns, limit], row),
            }
            .map_err(map_err)?
            .collect::<Result<_, _>>()
            .map_err(map_err)?
        };
        // Names only expired records used leave the catalogue (its times may lag by the slack).
        let signal = match target {
            RetentionTarget::Traces => Some(CatalogSignal::Span),
            RetentionTarget::MetricPoints => Some(CatalogSignal::Metric),
            _ => None,
        };
        if let Some(signal) = signal {
            let old = cutoff_ns.saturating_sub(CATALOG_SLACK_NS);
            match tenant {
                Some(t) => tx.execute(
                    "DELETE FROM catalog WHERE tenant_id = ?3 AND signal = ?1 AND last_seen_ns < ?2",
                    rusqlite::params![signal.as_i64(), old, t],
                ),
                None => tx.execute(
                    "DELETE FROM catalog WHERE signal = ?1 AND last_seen_ns < ?2",
                    rusqlite::params![signal.as_i64(), old],
                ),
            }
            .map_err(map_err)?;
        }
        if target == RetentionTarget::Templates {
            let mut stmt =
                tx.prepare_cached("DELETE FROM drain_templates WHERE tenant_id = ?1 AND id = ?2").map_err(map_err)?;
            for (t, id) in &rows {
                stmt.execute(rusqlite::params![t, id]).map_err(map_err)?;
            }
            return Ok(rows.len() as u64);
        }
        let ids: Vec<i64> = rows.iter().map(|(_, id)| *id).collect();
        let (table, _) = table_of(target);
        let id = row_key(target);
        // The dashboard's rollups lose what is deleted: the delete returns what they counted.
        let counted = match target {
            RetentionTarget::Traces => " RETURNING tenant_id, start_ns, root_service, status, duration_ns",
            RetentionTarget::Logs => " RETURNING tenant_id, timestamp_ns, service_name, 0, 0",
            _ => "",
        };
        let mut rollups = RollupDeltas::default();
        for chunk in ids.chunks(500) {
            let marks = vec!["?"; chunk.len()].join(",");
            if target == RetentionTarget::Traces {
                tx.execute(&format!("DELETE FROM spans WHERE trace_ref IN ({marks})"), params_from_iter(chunk))
                    .map_err(map_err)?;
            }
            if target == RetentionTarget::Logs && full_text {
                // The writer keeps the full-text index; rows leave it with their old values.
                tx.execute(
                    &format!(
                        "INSERT INTO logs_fts (logs_fts, rowid, body, service_name) \
                         SELECT 'delete', id, body, service_name FROM logs WHERE id IN ({marks})"
                    ),
                    params_from_iter(chunk),
                )
                .map_err(map_err)?;
            }
            let mut delete =
                tx.prepare(&format!("DELETE FROM {table} WHERE {id} IN ({marks}){counted}")).map_err(map_err)?;
            let mut gone = delete.query(params_from_iter(chunk)).map_err(map_err)?;
            while let Some(r) = gone.next().map_err(map_err)? {
                if counted.is_empty() {
                    continue;
                }
                let tenant: String = r.get(0).map_err(map_err)?;
                let (at, service): (i64, String) = (r.get(1).map_err(map_err)?, r.get(2).map_err(map_err)?);
                if target == RetentionTarget::Traces {
                    let status = StatusCode::from_otlp(r.get::<_, i64>(3).map_err(map_err)? as i32);
                    rollups.trace_row(&tenant, at, &service, status, r.get(4).map_err(map_err)?, -1);
                } else {
                    rollups.log(&tenant, at, &service, -1);
                }
            }
        }
        crate::rollups::apply(tx, &rollups)?;
        Ok(ids.len() as u64)
    })
}

pub(crate) async fn count_older_than(
    pool: &SqlitePool,
    target: RetentionTarget,
    cutoff_ns: i64,
) -> Result<u64, StorageError> {
    let (table, time) = table_of(target);
    let sql = format!("SELECT count(*) FROM tenants t JOIN {table} x ON x.tenant_id = t.tenant_id AND x.{time} < ?");
    let n: i64 =
        sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).bind(cutoff_ns).fetch_one(pool).await.map_err(map_sqlx_error)?;
    Ok(n.max(0) as u64)
}

/// Pages an incremental vacuum step frees at most (each step is its own writer job, so commits
/// interleave with it).
pub(crate) const VACUUM_STEP_PAGES: i64 = 2_000;

/// One step of maintenance on the writer: refresh planner statistics (first step) and free up to
/// [`VACUUM_STEP_PAGES`] pages. Returns the free pages left.
pub(crate) fn optimize_step(state: &mut WriterState, first: bool) -> Result<i64, StorageError> {
    let conn = &state.conn;
    if first {
        conn.execute_batch("PRAGMA optimize").map_err(map_err)?;
    }
    let auto_vacuum: i64 = conn.query_row("PRAGMA auto_vacuum", [], |r| r.get(0)).map_err(map_err)?;
    if auto_vacuum != 2 {
        // Not incremental (a database created before schema v2): freed pages are reused by
        // later writes, and `VACUUM` run once offline switches the file to incremental.
        return Ok(0);
    }
    conn.execute_batch(&format!("PRAGMA incremental_vacuum({VACUUM_STEP_PAGES})")).map_err(map_err)?;
    conn.query_row("PRAGMA freelist_count", [], |r| r.get(0)).map_err(map_err)
}

/// The database file plus its WAL, in bytes.
pub(crate) fn size_on_disk(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0) + wal_size(path)
}
