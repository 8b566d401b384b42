//! Counts, retention purges, VACUUM ANALYZE, status and the daily partitions of logs.

use crate::error::map_sqlx_error;
use crate::read::col;
use crate::sql::quote_ident;
use otelcontext_domain::dashboard::RollupDeltas;
use otelcontext_domain::retention::Day;
use otelcontext_domain::{StatusCode, TenantId};
use otelcontext_ports::{LogPartition, RetentionTarget, SignalCounts, StorageError};
use sqlx::{AssertSqlSafe, PgPool, Row};

pub(crate) async fn counts(pool: &PgPool, tenant: &TenantId) -> Result<SignalCounts, StorageError> {
    let row = sqlx::query(
        "SELECT (SELECT count(*) FROM traces WHERE tenant_id = $1) AS traces, \
                (SELECT count(*) FROM spans WHERE tenant_id = $1) AS spans, \
                (SELECT count(*) FROM logs WHERE tenant_id = $1) AS logs, \
                (SELECT count(*) FROM metric_points WHERE tenant_id = $1) AS points, \
                (SELECT count(*) FROM traces WHERE tenant_id = $1 AND status = 2) AS error_traces",
    )
    .bind(tenant.as_str())
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

pub(crate) async fn tenants(pool: &PgPool) -> Result<Vec<TenantId>, StorageError> {
    let names: Vec<String> = sqlx::query_scalar("SELECT tenant_id FROM tenants ORDER BY tenant_id")
        .fetch_all(pool)
        .await
        .map_err(map_sqlx_error)?;
    names
        .iter()
        .map(|n| TenantId::parse(n).map_err(|e| StorageError::Corrupt(format!("tenant id {n:?}: {e}"))))
        .collect()
}

/// Table, time column and primary key columns (after tenant_id) a target is purged by.
fn table_of(target: RetentionTarget, partitioned: bool) -> (&'static str, &'static str, &'static [&'static str]) {
    match target {
        // Partitioned logs lose whole days by DROP; only the default partition is purged row by row.
        RetentionTarget::Logs if partitioned => ("logs_default", "timestamp_ns", &["timestamp_ns", "dedup_key"]),
        RetentionTarget::Logs => ("logs", "timestamp_ns", &["timestamp_ns", "dedup_key"]),
        RetentionTarget::Traces => ("traces", "start_ns", &["trace_id", "id"]),
        RetentionTarget::MetricPoints => ("metric_points", "time_ns", &["time_ns", "series_key"]),
        RetentionTarget::MetricBuckets => ("metric_buckets", "start_ns", &["series_key", "start_ns"]),
        RetentionTarget::GraphSnapshots => ("graph_snapshots", "created_ns", &["id"]),
        RetentionTarget::Investigations => ("investigations", "created_ns", &["id"]),
        RetentionTarget::Templates => ("drain_templates", "last_seen_ns", &["id"]),
    }
}

/// Deletes up to `batch` expired rows across tenants (found per tenant through its
/// (tenant_id, time) index) or of one `tenant`; a trace goes with its spans.
pub(crate) async fn purge(
    pool: &PgPool,
    target: RetentionTarget,
    tenant: Option<&str>,
    cutoff_ns: i64,
    batch: usize,
    partitioned: bool,
) -> Result<u64, StorageError> {
    // Names only expired records used leave the catalogue (its times may lag by the slack).
    let signal = match target {
        RetentionTarget::Traces => Some(otelcontext_ports::CatalogSignal::Span),
        RetentionTarget::MetricPoints => Some(otelcontext_ports::CatalogSignal::Metric),
        _ => None,
    };
    if let Some(signal) = signal {
        sqlx::query(
            "DELETE FROM catalog WHERE signal = $1 AND last_seen_ns < $2 AND ($3::text IS NULL OR tenant_id = $3)",
        )
        .bind(signal.as_i64() as i16)
        .bind(cutoff_ns.saturating_sub(otelcontext_ports::CATALOG_SLACK_NS))
        .bind(tenant)
        .execute(pool)
        .await
        .map_err(map_sqlx_error)?;
    }
    // One tenant's rows are deleted from the parent table, whatever partition holds them.
    let (table, time, key) = table_of(target, partitioned && tenant.is_none());
    let keys = key.join(", ");
    let join: String = std::iter::once("y.tenant_id = d.tenant_id".to_owned())
        .chain(key.iter().map(|k| format!("y.{k} = d.{k}")))
        .collect::<Vec<_>>()
        .join(" AND ");
    let doomed = if tenant.is_some() {
        format!("WITH doomed AS (SELECT tenant_id, {keys} FROM {table} WHERE tenant_id = $3 AND {time} < $1 LIMIT $2)")
    } else {
        format!(
            "WITH doomed AS (SELECT x.tenant_id, {x_keys} FROM tenants t CROSS JOIN LATERAL \
             (SELECT tenant_id, {keys} FROM {table} WHERE tenant_id = t.tenant_id AND {time} < $1 LIMIT $2) x LIMIT $2)",
            x_keys = key.iter().map(|k| format!("x.{k}")).collect::<Vec<_>>().join(", ")
        )
    };
    // Deleted traces and logs leave the dashboard's rollups in the same transaction.
    let counted = match target {
        RetentionTarget::Traces => " RETURNING y.tenant_id, y.start_ns, y.root_service, y.status, y.duration_ns",
        RetentionTarget::Logs => " RETURNING y.tenant_id, y.timestamp_ns, y.service_name",
        _ => "",
    };
    let sql = if target == RetentionTarget::Traces {
        format!(
            "{doomed}, gone_spans AS (DELETE FROM spans y USING doomed d \
             WHERE y.tenant_id = d.tenant_id AND y.trace_ref = d.id) \
             DELETE FROM traces y USING doomed d WHERE {join}{counted}"
        )
    } else {
        format!("{doomed} DELETE FROM {table} y USING doomed d WHERE {join}{counted}")
    };
    let limit = i64::try_from(batch).unwrap_or(i64::MAX);
    let mut q = sqlx::query(AssertSqlSafe(sql)).bind(cutoff_ns).bind(limit);
    if let Some(t) = tenant {
        q = q.bind(t);
    }
    if counted.is_empty() {
        let done = q.execute(pool).await.map_err(map_sqlx_error)?;
        return Ok(done.rows_affected());
    }
    let mut tx = pool.begin().await.map_err(map_sqlx_error)?;
    let gone = q.fetch_all(&mut *tx).await.map_err(map_sqlx_error)?;
    let mut rollups = RollupDeltas::default();
    for r in &gone {
        let tenant: String = r.try_get(0).map_err(map_sqlx_error)?;
        let at: i64 = r.try_get(1).map_err(map_sqlx_error)?;
        let service: String = r.try_get(2).map_err(map_sqlx_error)?;
        if target == RetentionTarget::Traces {
            let status = StatusCode::from_otlp(i32::from(r.try_get::<i16, _>(3).map_err(map_sqlx_error)?));
            rollups.trace_row(&tenant, at, &service, status, r.try_get(4).map_err(map_sqlx_error)?, -1);
        } else {
            rollups.log(&tenant, at, &service, -1);
        }
    }
    crate::rollups::apply(&mut tx, &rollups).await?;
    tx.commit().await.map_err(map_sqlx_error)?;
    Ok(gone.len() as u64)
}

pub(crate) async fn count_older_than(
    pool: &PgPool,
    target: RetentionTarget,
    cutoff_ns: i64,
    partitioned: bool,
) -> Result<u64, StorageError> {
    let (table, time, _) = table_of(target, partitioned);
    let sql = format!("SELECT count(*) FROM tenants t JOIN {table} x ON x.tenant_id = t.tenant_id AND x.{time} < $1");
    let n: i64 =
        sqlx::query_scalar(AssertSqlSafe(sql)).bind(cutoff_ns).fetch_one(pool).await.map_err(map_sqlx_error)?;
    Ok(n.max(0) as u64)
}

/// Tables maintenance vacuums and analyses.
pub(crate) const TABLES: &[&str] = &[
    "logs",
    "spans",
    "traces",
    "metric_points",
    "metric_buckets",
    "drain_templates",
    "investigations",
    "graph_snapshots",
    "resources",
    "tenants",
    "trace_rollups",
    "log_rollups",
];

/// `VACUUM (ANALYZE)` of every table, one statement each (outside any transaction).
pub(crate) async fn optimize(pool: &PgPool) -> Result<(), StorageError> {
    for table in TABLES {
        sqlx::query(AssertSqlSafe(format!("VACUUM (ANALYZE) {table}"))).execute(pool).await.map_err(map_sqlx_error)?;
    }
    Ok(())
}

pub(crate) async fn database_size(pool: &PgPool) -> Result<u64, StorageError> {
    let n: i64 = sqlx::query_scalar("SELECT pg_database_size(current_database())")
        .fetch_one(pool)
        .await
        .map_err(map_sqlx_error)?;
    Ok(n.max(0) as u64)
}

/// Parses a partition bound: `FOR VALUES FROM ('1') TO ('2')`, `FOR VALUES FROM (1) TO (2)` or
/// `DEFAULT`; `None` for the default partition.
pub(crate) fn parse_bound(bound: &str) -> Result<Option<(i64, i64)>, String> {
    let b = bound.trim();
    if b.eq_ignore_ascii_case("DEFAULT") {
        return Ok(None);
    }
    let number = |s: &str| -> Result<i64, String> {
        s.trim()
            .trim_matches(|c| c == '(' || c == ')' || c == '\'')
            .trim()
            .parse()
            .map_err(|_| format!("unexpected partition bound {bound:?}"))
    };
    let rest = b.strip_prefix("FOR VALUES FROM").ok_or_else(|| format!("unexpected partition bound {bound:?}"))?;
    let (from, to) = rest.split_once(" TO ").ok_or_else(|| format!("unexpected partition bound {bound:?}"))?;
    Ok(Some((number(from)?, number(to)?)))
}

/// The partitions attached to logs in the current schema.
pub(crate) async fn log_partitions(pool: &PgPool) -> Result<Vec<LogPartition>, StorageError> {
    let rows = sqlx::query(
        "SELECT c.relname AS name, pg_get_expr(c.relpartbound, c.oid) AS bound FROM pg_inherits i \
         JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent \
         JOIN pg_namespace n ON n.oid = p.relnamespace \
         WHERE p.relname = 'logs' AND n.nspname = current_schema() ORDER BY c.relname",
    )
    .fetch_all(pool)
    .await
    .map_err(map_sqlx_error)?;
    rows.iter()
        .map(|r| {
            let name: String = r.try_get("name").map_err(map_sqlx_error)?;
            let bound: String = r.try_get("bound").map_err(map_sqlx_error)?;
            Ok(LogPartition { name, range: parse_bound(&bound).map_err(StorageError::Corrupt)? })
        })
        .collect()
}

/// The name of a day's partition.
pub(crate) fn partition_name(day: Day) -> String {
    format!("logs_{}", day.suffix())
}

/// Creates the missing daily partitions; rows of those days waiting in the default partition are
/// moved into the new one in the same transaction (otherwise attaching it would fail).
pub(crate) async fn create_log_partitions(pool: &PgPool, days: &[Day]) -> Result<usize, StorageError> {
    let existing: Vec<String> = log_partitions(pool).await?.into_iter().map(|p| p.name).collect();
    let mut created = 0;
    for day in days {
        let name = partition_name(*day);
        if existing.contains(&name) {
            continue;
        }
        let (from, to) = (day.start_ns(), day.end_ns());
        let ident = quote_ident(&name);
        let mut tx = pool.begin().await.map_err(map_sqlx_error)?;
        let waiting: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM logs_default WHERE timestamp_ns >= $1 AND timestamp_ns < $2)",
        )
        .bind(from)
        .bind(to)
        .fetch_one(&mut *tx)
        .await
        .map_err(map_sqlx_error)?;
        if waiting {
            for sql in [
                format!("CREATE TABLE {ident} (LIKE logs INCLUDING DEFAULTS)"),
                format!(
                    "WITH moved AS (DELETE FROM logs_default WHERE timestamp_ns >= {from} AND timestamp_ns < {to} RETURNING *) \
                     INSERT INTO {ident} SELECT * FROM moved"
                ),
                format!("ALTER TABLE logs ATTACH PARTITION {ident} FOR VALUES FROM ({from}) TO ({to})"),
            ] {
                sqlx::query(AssertSqlSafe(sql)).execute(&mut *tx).await.map_err(map_sqlx_error)?;
            }
        } else {
            sqlx::query(AssertSqlSafe(format!(
                "CREATE TABLE IF NOT EXISTS {ident} PARTITION OF logs FOR VALUES FROM ({from}) TO ({to})"
            )))
            .execute(&mut *tx)
            .await
            .map_err(map_sqlx_error)?;
        }
        tx.commit().await.map_err(map_sqlx_error)?;
        created += 1;
    }
    Ok(created)
}

/// Drops one daily partition of logs (never the default partition).
pub(crate) async fn drop_log_partition(pool: &PgPool, name: &str) -> Result<(), StorageError> {
    let partitions = log_partitions(pool).await?;
    match partitions.iter().find(|p| p.name == name) {
        Some(LogPartition { range: Some((from, to)), .. }) => {
            // The day's log rollups go with it (days start and end on minute boundaries).
            let mut tx = pool.begin().await.map_err(map_sqlx_error)?;
            sqlx::query(AssertSqlSafe(format!("DROP TABLE IF EXISTS {}", quote_ident(name))))
                .execute(&mut *tx)
                .await
                .map_err(map_sqlx_error)?;
            sqlx::query("DELETE FROM log_rollups WHERE minute_ns >= $1 AND minute_ns < $2")
                .bind(*from)
                .bind(*to)
                .execute(&mut *tx)
                .await
                .map_err(map_sqlx_error)?;
            tx.commit().await.map_err(map_sqlx_error)?;
            Ok(())
        }
        Some(_) => Err(StorageError::InvalidArgument("the default partition of logs is never dropped".into())),
        None => Err(StorageError::InvalidArgument(format!("{name:?} is not a partition of logs"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_bounds_parse() {
        assert_eq!(parse_bound("FOR VALUES FROM ('100') TO ('200')").unwrap(), Some((100, 200)));
        assert_eq!(parse_bound("FOR VALUES FROM (100) TO (200)").unwrap(), Some((100, 200)));
        assert_eq!(parse_bound("DEFAULT").unwrap(), None);
        assert!(parse_bound("FOR VALUES IN (1)").is_err());
        assert!(parse_bound("FOR VALUES FROM (x) TO (2)").is_err());
    }

    #[test]
    fn partitions_are_named_by_utc_day() {
        assert_eq!(partition_name(Day::of(1_764_000_000_000_000_000)), "logs_2025_11_24");
    }
}
