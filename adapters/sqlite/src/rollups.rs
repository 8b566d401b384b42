//! Per-minute rollups of traces and logs (schema v6, see `otelcontext_domain::dashboard`): the
//! writer applies the deltas of every write and purge in the same transaction, and fills the
//! rollups of rows stored before v6 once, when it opens such a database.

use crate::writer::{WriterState, map_err};
use otelcontext_domain::StatusCode;
use otelcontext_domain::dashboard::{DurationSketch, RollupDeltas, TraceRollup};
use otelcontext_ports::StorageError;
use rusqlite::{OptionalExtension, params};

const SELECT_TRACE_ROLLUP: &str =
    "SELECT traces, errors, durations FROM trace_rollups WHERE tenant_id = ?1 AND minute_ns = ?2 AND root_service = ?3";
const UPSERT_TRACE_ROLLUP: &str = "INSERT OR REPLACE INTO trace_rollups \
     (tenant_id, minute_ns, root_service, traces, errors, durations) VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
const DELETE_TRACE_ROLLUP: &str =
    "DELETE FROM trace_rollups WHERE tenant_id = ?1 AND minute_ns = ?2 AND root_service = ?3";
const ADD_LOGS: &str = "INSERT INTO log_rollups (tenant_id, minute_ns, service_name, logs) VALUES (?1, ?2, ?3, ?4) \
     ON CONFLICT (tenant_id, minute_ns, service_name) DO UPDATE SET logs = logs + excluded.logs";
const DELETE_EMPTY_LOGS: &str =
    "DELETE FROM log_rollups WHERE tenant_id = ?1 AND minute_ns = ?2 AND service_name = ?3 AND logs <= 0";

/// A stored rollup from its columns.
pub(crate) fn trace_rollup(traces: i64, errors: i64, durations: &[u8]) -> Result<TraceRollup, StorageError> {
    let durations = DurationSketch::decode(durations).map_err(|e| StorageError::Corrupt(e.to_string()))?;
    Ok(TraceRollup { traces, errors, durations })
}

/// Applies `deltas` in the caller's transaction. A rollup left without traces is deleted.
pub(crate) fn apply(tx: &rusqlite::Transaction<'_>, deltas: &RollupDeltas) -> Result<(), StorageError> {
    let changes = deltas.trace_changes();
    if !changes.is_empty() {
        let mut select = tx.prepare_cached(SELECT_TRACE_ROLLUP).map_err(map_err)?;
        let mut upsert = tx.prepare_cached(UPSERT_TRACE_ROLLUP).map_err(map_err)?;
        let mut delete = tx.prepare_cached(DELETE_TRACE_ROLLUP).map_err(map_err)?;
        for (k, delta) in changes {
            let key = params![k.tenant, k.minute_ns, k.service];
            let stored = select
                .query_row(key, |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?, r.get::<_, Vec<u8>>(2)?)))
                .optional()
                .map_err(map_err)?;
            let mut rollup = match stored {
                Some((traces, errors, bytes)) => trace_rollup(traces, errors, &bytes)?,
                None => TraceRollup::default(),
            };
            rollup.merge(delta);
            if rollup.traces <= 0 {
                delete.execute(key).map_err(map_err)?;
            } else {
                upsert
                    .execute(params![
                        k.tenant,
                        k.minute_ns,
                        k.service,
                        rollup.traces,
                        rollup.errors,
                        rollup.durations.encode()
                    ])
                    .map_err(map_err)?;
            }
        }
    }
    let logs = deltas.log_changes();
    if !logs.is_empty() {
        let mut add = tx.prepare_cached(ADD_LOGS).map_err(map_err)?;
        let mut delete = tx.prepare_cached(DELETE_EMPTY_LOGS).map_err(map_err)?;
        for (k, n) in logs {
            add.execute(params![k.tenant, k.minute_ns, k.service, n]).map_err(map_err)?;
            if n < 0 {
                delete.execute(params![k.tenant, k.minute_ns, k.service]).map_err(map_err)?;
            }
        }
    }
    Ok(())
}

/// Rows rolled up per backfill transaction.
const BACKFILL_CHUNK: i64 = 50_000;

/// Rolls up the rows stored before schema v6, chunk by chunk (each chunk commits with its
/// progress, so an interrupted backfill resumes where it stopped). Returns the rows rolled up.
pub(crate) fn backfill(state: &mut WriterState) -> Result<u64, StorageError> {
    let pending: Vec<(String, i64)> = {
        let mut stmt = state
            .conn
            .prepare("SELECT table_name, done_id FROM rollup_backfill ORDER BY table_name")
            .map_err(map_err)?;
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(map_err)?
            .collect::<Result<_, _>>()
            .map_err(map_err)?
    };
    let mut rolled = 0u64;
    for (table, mut done) in pending {
        let sql = match table.as_str() {
            "traces" => {
                "SELECT id, tenant_id, start_ns, root_service, status, duration_ns FROM traces WHERE id > ?1 \
                 ORDER BY id LIMIT ?2"
            }
            "logs" => {
                "SELECT id, tenant_id, timestamp_ns, service_name, 0, 0 FROM logs WHERE id > ?1 ORDER BY id LIMIT ?2"
            }
            other => return Err(StorageError::Corrupt(format!("rollup_backfill names an unknown table {other:?}"))),
        };
        loop {
            let n = state.transaction(&[], |tx| {
                let mut deltas = RollupDeltas::default();
                let mut last = done;
                let mut n = 0u64;
                {
                    let mut stmt = tx.prepare_cached(sql).map_err(map_err)?;
                    let mut rows = stmt.query(params![done, BACKFILL_CHUNK]).map_err(map_err)?;
                    while let Some(r) = rows.next().map_err(map_err)? {
                        last = r.get(0).map_err(map_err)?;
                        let tenant: String = r.get(1).map_err(map_err)?;
                        let at: i64 = r.get(2).map_err(map_err)?;
                        let service: String = r.get(3).map_err(map_err)?;
                        if table == "traces" {
                            let status = StatusCode::from_otlp(r.get::<_, i64>(4).map_err(map_err)? as i32);
                            deltas.trace_row(&tenant, at, &service, status, r.get(5).map_err(map_err)?, 1);
                        } else {
                            deltas.log(&tenant, at, &service, 1);
                        }
                        n += 1;
                    }
                }
                apply(tx, &deltas)?;
                if n == 0 {
                    tx.execute("DELETE FROM rollup_backfill WHERE table_name = ?1", [&table]).map_err(map_err)?;
                } else {
                    tx.execute("UPDATE rollup_backfill SET done_id = ?2 WHERE table_name = ?1", params![table, last])
                        .map_err(map_err)?;
                }
                done = last;
                Ok(n)
            })?;
            if n == 0 {
                break;
            }
            rolled += n;
        }
    }
    Ok(rolled)
}
