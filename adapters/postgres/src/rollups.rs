//! Per-minute rollups of traces and logs (schema v4, see `otelcontext_domain::dashboard`). Each
//! write and purge applies its deltas as the last step of its transaction: missing rollup rows
//! are created empty, then every row it changes is locked in key order (so concurrent writers
//! never deadlock on them), merged and written back; rows left without traces or logs go.

use crate::error::map_sqlx_error;
use otelcontext_domain::StatusCode;
use otelcontext_domain::dashboard::{DurationSketch, RollupDeltas, RollupKey, TraceRollup};
use otelcontext_ports::StorageError;
use sqlx::postgres::PgArguments;
use sqlx::query::Query;
use sqlx::{PgConnection, Postgres, Row, Transaction};
use std::collections::HashMap;

/// A stored rollup from its columns.
pub(crate) fn trace_rollup(traces: i64, errors: i64, durations: &[u8]) -> Result<TraceRollup, StorageError> {
    let durations = DurationSketch::decode(durations).map_err(|e| StorageError::Corrupt(e.to_string()))?;
    Ok(TraceRollup { traces, errors, durations })
}

type Key = (String, i64, String);

/// The keys of the rollup rows a statement touches, as the arrays `$1`, `$2`, `$3` (tenant,
/// minute, service), in key order.
struct Keys {
    tenants: Vec<String>,
    minutes: Vec<i64>,
    services: Vec<String>,
}

impl Keys {
    fn of<'a>(keys: impl Iterator<Item = &'a RollupKey>) -> Self {
        let mut k = Keys { tenants: Vec::new(), minutes: Vec::new(), services: Vec::new() };
        for key in keys {
            k.tenants.push(key.tenant.clone());
            k.minutes.push(key.minute_ns);
            k.services.push(key.service.clone());
        }
        k
    }

    /// `sql` with the keys bound as `$1`–`$3`.
    fn bound(&self, sql: &'static str) -> Query<'_, Postgres, PgArguments> {
        sqlx::query(sql).bind(&self.tenants).bind(&self.minutes).bind(&self.services)
    }
}

async fn run(q: Query<'_, Postgres, PgArguments>, tx: &mut PgConnection) -> Result<(), StorageError> {
    q.execute(tx).await.map_err(map_sqlx_error).map(|_| ())
}

/// Applies `deltas` in the caller's transaction.
pub(crate) async fn apply(tx: &mut PgConnection, deltas: &RollupDeltas) -> Result<(), StorageError> {
    let changes = deltas.trace_changes();
    if !changes.is_empty() {
        let keys = Keys::of(changes.iter().map(|(k, _)| *k));
        let insert = keys.bound(
            "INSERT INTO trace_rollups (tenant_id, minute_ns, root_service, traces, errors, durations) \
             SELECT t, m, s, 0, 0, $4 FROM UNNEST($1::text[], $2::bigint[], $3::text[]) AS k(t, m, s) \
             ORDER BY t, m, s ON CONFLICT DO NOTHING",
        );
        run(insert.bind(DurationSketch::default().encode()), tx).await?;
        let rows = keys
            .bound(
                "SELECT tenant_id, minute_ns, root_service, traces, errors, durations FROM trace_rollups \
                 WHERE (tenant_id, minute_ns, root_service) IN \
                 (SELECT * FROM UNNEST($1::text[], $2::bigint[], $3::text[])) \
                 ORDER BY tenant_id, minute_ns, root_service FOR UPDATE",
            )
            .fetch_all(&mut *tx)
            .await
            .map_err(map_sqlx_error)?;
        let mut stored: HashMap<Key, TraceRollup> = HashMap::with_capacity(rows.len());
        for r in &rows {
            let get = |name: &str| r.try_get::<i64, _>(name).map_err(map_sqlx_error);
            let bytes: Vec<u8> = r.try_get("durations").map_err(map_sqlx_error)?;
            let key = (
                r.try_get("tenant_id").map_err(map_sqlx_error)?,
                get("minute_ns")?,
                r.try_get("root_service").map_err(map_sqlx_error)?,
            );
            stored.insert(key, trace_rollup(get("traces")?, get("errors")?, &bytes)?);
        }
        let (mut traces, mut errors, mut sketches) = (Vec::new(), Vec::new(), Vec::new());
        for (k, delta) in &changes {
            let key = (k.tenant.clone(), k.minute_ns, k.service.clone());
            let mut rollup = stored.remove(&key).unwrap_or_default();
            rollup.merge(delta);
            traces.push(rollup.traces);
            errors.push(rollup.errors);
            sketches.push(rollup.durations.encode());
        }
        let emptied = traces.iter().any(|&n| n <= 0);
        let update = keys.bound(
            "UPDATE trace_rollups r SET traces = u.traces, errors = u.errors, durations = u.durations \
             FROM UNNEST($1::text[], $2::bigint[], $3::text[], $4::bigint[], $5::bigint[], $6::bytea[]) \
             AS u(tenant_id, minute_ns, root_service, traces, errors, durations) \
             WHERE r.tenant_id = u.tenant_id AND r.minute_ns = u.minute_ns AND r.root_service = u.root_service",
        );
        run(update.bind(traces).bind(errors).bind(sketches), tx).await?;
        if emptied {
            let delete = keys.bound(
                "DELETE FROM trace_rollups WHERE traces <= 0 AND (tenant_id, minute_ns, root_service) IN \
                 (SELECT * FROM UNNEST($1::text[], $2::bigint[], $3::text[]))",
            );
            run(delete, tx).await?;
        }
    }
    let logs = deltas.log_changes();
    if !logs.is_empty() {
        let keys = Keys::of(logs.iter().map(|(k, _)| *k));
        let counts: Vec<i64> = logs.iter().map(|(_, n)| *n).collect();
        let emptied = counts.iter().any(|&n| n < 0);
        // In key order, so concurrent writers take the row locks in the same order.
        let upsert = keys.bound(
            "INSERT INTO log_rollups (tenant_id, minute_ns, service_name, logs) \
             SELECT * FROM UNNEST($1::text[], $2::bigint[], $3::text[], $4::bigint[]) AS k(t, m, s, n) \
             ORDER BY t, m, s \
             ON CONFLICT (tenant_id, minute_ns, service_name) DO UPDATE SET logs = log_rollups.logs + excluded.logs",
        );
        run(upsert.bind(counts), tx).await?;
        if emptied {
            let delete = keys.bound(
                "DELETE FROM log_rollups WHERE logs <= 0 AND (tenant_id, minute_ns, service_name) IN \
                 (SELECT * FROM UNNEST($1::text[], $2::bigint[], $3::text[]))",
            );
            run(delete, tx).await?;
        }
    }
    Ok(())
}

/// Trace rows fetched per step of the backfill.
const BACKFILL_CHUNK: i64 = 50_000;

/// Counts the log records per tenant, minute and service again (the migration's SQL), when
/// `rollup_backfill` lists `logs` (an operator's repair), in one transaction that keeps writers out
/// of `logs` meanwhile. Returns the records counted.
async fn recount_logs(pool: &sqlx::PgPool) -> Result<u64, StorageError> {
    let mut tx: Transaction<'_, Postgres> = pool.begin().await.map_err(map_sqlx_error)?;
    sqlx::query("LOCK TABLE logs IN SHARE MODE").execute(&mut *tx).await.map_err(map_sqlx_error)?;
    let still: Option<String> =
        sqlx::query_scalar("SELECT table_name FROM rollup_backfill WHERE table_name = 'logs' FOR UPDATE")
            .fetch_optional(&mut *tx)
            .await
            .map_err(map_sqlx_error)?;
    if still.is_none() {
        return Ok(0);
    }
    sqlx::query("DELETE FROM log_rollups").execute(&mut *tx).await.map_err(map_sqlx_error)?;
    let counted: Option<i64> = sqlx::query_scalar(
        "WITH added AS (INSERT INTO log_rollups (tenant_id, minute_ns, service_name, logs) \
         SELECT tenant_id, GREATEST(floor(timestamp_ns::numeric / 60000000000) * 60000000000, \
         -9223372036854775808)::bigint, service_name, count(*) FROM logs GROUP BY 1, 2, 3 RETURNING logs) \
         SELECT sum(logs)::bigint FROM added",
    )
    .fetch_one(&mut *tx)
    .await
    .map_err(map_sqlx_error)?;
    sqlx::query("DELETE FROM rollup_backfill WHERE table_name = 'logs'")
        .execute(&mut *tx)
        .await
        .map_err(map_sqlx_error)?;
    tx.commit().await.map_err(map_sqlx_error)?;
    Ok(counted.map_or(0, |n| n.max(0) as u64))
}

/// Rolls up the trace rows stored before schema v4, in one transaction that keeps writers out of
/// `traces` meanwhile (so no row is counted twice), and recounts the log records when asked.
/// Returns the rows rolled up.
pub(crate) async fn backfill(pool: &sqlx::PgPool) -> Result<u64, StorageError> {
    let logs: Option<String> = sqlx::query_scalar("SELECT table_name FROM rollup_backfill WHERE table_name = 'logs'")
        .fetch_optional(pool)
        .await
        .map_err(map_sqlx_error)?;
    let logs = if logs.is_some() { recount_logs(pool).await? } else { 0 };
    Ok(logs + backfill_traces(pool).await?)
}

async fn backfill_traces(pool: &sqlx::PgPool) -> Result<u64, StorageError> {
    let pending: Option<String> =
        sqlx::query_scalar("SELECT table_name FROM rollup_backfill WHERE table_name = 'traces'")
            .fetch_optional(pool)
            .await
            .map_err(map_sqlx_error)?;
    if pending.is_none() {
        return Ok(0);
    }
    let mut tx: Transaction<'_, Postgres> = pool.begin().await.map_err(map_sqlx_error)?;
    sqlx::query("LOCK TABLE traces IN SHARE MODE").execute(&mut *tx).await.map_err(map_sqlx_error)?;
    // Another server may have finished it while this one waited for the lock.
    let still: Option<String> =
        sqlx::query_scalar("SELECT table_name FROM rollup_backfill WHERE table_name = 'traces' FOR UPDATE")
            .fetch_optional(&mut *tx)
            .await
            .map_err(map_sqlx_error)?;
    if still.is_none() {
        return Ok(0);
    }
    sqlx::query(
        "DECLARE rollup_backfill_rows NO SCROLL CURSOR FOR \
         SELECT tenant_id, start_ns, root_service, status, duration_ns FROM traces",
    )
    .execute(&mut *tx)
    .await
    .map_err(map_sqlx_error)?;
    let mut rolled = 0u64;
    loop {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!("FETCH {BACKFILL_CHUNK} FROM rollup_backfill_rows")))
            .fetch_all(&mut *tx)
            .await
            .map_err(map_sqlx_error)?;
        if rows.is_empty() {
            break;
        }
        let mut deltas = RollupDeltas::default();
        for r in &rows {
            let tenant: String = r.try_get(0).map_err(map_sqlx_error)?;
            let service: String = r.try_get(2).map_err(map_sqlx_error)?;
            let status = StatusCode::from_otlp(i32::from(r.try_get::<i16, _>(3).map_err(map_sqlx_error)?));
            let (start, duration): (i64, i64) =
                (r.try_get(1).map_err(map_sqlx_error)?, r.try_get(4).map_err(map_sqlx_error)?);
            deltas.trace_row(&tenant, start, &service, status, duration, 1);
        }
        apply(&mut tx, &deltas).await?;
        rolled += rows.len() as u64;
    }
    sqlx::query("CLOSE rollup_backfill_rows").execute(&mut *tx).await.map_err(map_sqlx_error)?;
    sqlx::query("DELETE FROM rollup_backfill WHERE table_name = 'traces'")
        .execute(&mut *tx)
        .await
        .map_err(map_sqlx_error)?;
    tx.commit().await.map_err(map_sqlx_error)?;
    Ok(rolled)
}
