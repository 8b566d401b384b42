//! Dashboard aggregates over the trace rows. The dashboard's totals read the per-minute rollups
//! of the window's whole minutes (see `crate::rollups`) and the rows of its partial minutes, so
//! its cost grows with the window's minutes, not its traces. Traffic does the same when its steps
//! are whole minutes from a minute; the heat map groups the trace rows.

use crate::read::col;
use crate::rollups;
use crate::sql::{Bind, Select};
use otelcontext_domain::{StatusCode, TenantId};
use otelcontext_ports::{
    HeatCell, LATENCY_BOUNDS_NS, SeriesQuery, StatsBuilder, StorageError, TraceStats, TraceStatsQuery, TrafficPoint,
};
use sqlx::PgPool;

const ERROR: &str = "SUM(CASE WHEN status = 2 THEN 1 ELSE 0 END)::bigint";

/// `SELECT <columns> FROM <table> WHERE` the tenant, the window on `time` and the services on
/// `service`; `leading` binds belong to `?`s in `columns`.
fn rows(
    columns: &str,
    table: &str,
    time: &str,
    service: &str,
    leading: Vec<Bind>,
    tenant: &TenantId,
    q: &TraceStatsQuery,
) -> Select {
    let mut binds = leading;
    binds.extend([Bind::Text(tenant.as_str().to_owned()), Bind::Int(q.start_ns), Bind::Int(q.end_ns)]);
    let mut sel =
        Select::new(format!("SELECT {columns} FROM {table} WHERE tenant_id = ? AND {time} BETWEEN ? AND ?"), binds);
    if !q.services.is_empty() {
        let marks = vec!["?"; q.services.len()].join(", ");
        sel.and(&format!("{service} IN ({marks})"), q.services.iter().map(|s| Bind::Text(s.clone())));
    }
    sel
}

fn traces(columns: &str, leading: Vec<Bind>, tenant: &TenantId, q: &TraceStatsQuery) -> Select {
    rows(columns, "traces", "start_ns", "root_service", leading, tenant, q)
}

/// `SELECT <columns> FROM <table>` (a rollup table) `WHERE` the tenant, the minutes starting in
/// `[from, to)` and the services on `service`.
fn minutes(
    columns: &str,
    table: &str,
    service: &str,
    tenant: &TenantId,
    services: &[String],
    (from, to): (i64, i64),
) -> Select {
    let mut sel = Select::new(
        format!("SELECT {columns} FROM {table} WHERE tenant_id = ? AND minute_ns >= ? AND minute_ns < ?"),
        vec![Bind::Text(tenant.as_str().to_owned()), Bind::Int(from), Bind::Int(to)],
    );
    if !services.is_empty() {
        let marks = vec!["?"; services.len()].join(", ");
        sel.and(&format!("{service} IN ({marks})"), services.iter().map(|s| Bind::Text(s.clone())));
    }
    sel
}

fn count(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

pub(crate) async fn trace_stats(
    pool: &PgPool,
    tenant: &TenantId,
    q: &TraceStatsQuery,
) -> Result<TraceStats, StorageError> {
    q.validate()?;
    let split = q.split_by_minute();
    let mut stats = StatsBuilder::default();
    if let Some((from, to)) = split.minutes {
        // Whole minutes: one rollup row per minute and service.
        let whole = |columns: &str, table: &str, service: &str| {
            minutes(columns, table, service, tenant, &q.services, (from, to))
        };
        for r in
            whole("root_service, traces, errors, durations", "trace_rollups", "root_service").fetch_all(pool).await?
        {
            let rollup =
                rollups::trace_rollup(col(&r, "traces")?, col(&r, "errors")?, &col::<Vec<u8>>(&r, "durations")?)?;
            stats.add_rollup(&col::<String>(&r, "root_service")?, &rollup);
        }
        let logs = whole("COALESCE(SUM(logs), 0)::bigint AS n", "log_rollups", "service_name").fetch_all(pool).await?;
        stats.add_logs(logs.first().map(|r| col::<i64>(r, "n")).transpose()?.unwrap_or(0));
    }
    // The partial minutes at the ends: row by row.
    for (from, to) in split.edges {
        let edge = TraceStatsQuery { start_ns: from, end_ns: to, services: q.services.clone() };
        for r in traces("root_service, status, duration_ns", vec![], tenant, &edge).fetch_all(pool).await? {
            let status = StatusCode::from_otlp(i32::from(col::<i16>(&r, "status")?));
            stats.add_trace(&col::<String>(&r, "root_service")?, status, col(&r, "duration_ns")?);
        }
        let logs = rows("COUNT(*) AS n", "logs", "timestamp_ns", "service_name", vec![], tenant, &edge)
            .fetch_all(pool)
            .await?;
        stats.add_logs(logs.first().map(|r| col::<i64>(r, "n")).transpose()?.unwrap_or(0));
    }
    Ok(stats.finish())
}

/// The start of a row's step, with its binds.
fn step(q: &SeriesQuery) -> (&'static str, Vec<Bind>) {
    (
        "(?::bigint + (start_ns - ?::bigint) / ?::bigint * ?::bigint)",
        vec![Bind::Int(q.rows.start_ns), Bind::Int(q.rows.start_ns), Bind::Int(q.step_ns), Bind::Int(q.step_ns)],
    )
}

pub(crate) async fn traffic(
    pool: &PgPool,
    tenant: &TenantId,
    q: &SeriesQuery,
) -> Result<Vec<TrafficPoint>, StorageError> {
    q.validate()?;
    let Some(split) = q.split_by_minute() else {
        return traffic_of_rows(pool, tenant, q, &q.rows).await;
    };
    // Steps of whole minutes: the rollups of the whole minutes, the rows of the partial one.
    let mut parts = Vec::new();
    if let Some((from, to)) = split.minutes {
        let mut sel = minutes(
            "minute_ns, SUM(traces)::bigint AS n, SUM(errors)::bigint AS errors",
            "trace_rollups",
            "root_service",
            tenant,
            &q.rows.services,
            (from, to),
        );
        sel.tail(" GROUP BY minute_ns");
        for r in sel.fetch_all(pool).await? {
            parts.push(TrafficPoint {
                start_ns: col(&r, "minute_ns")?,
                traces: count(col::<i64>(&r, "n")?),
                errors: count(col::<i64>(&r, "errors")?),
            });
        }
    }
    for (from, to) in split.edges {
        let edge = TraceStatsQuery { start_ns: from, end_ns: to, services: q.rows.services.clone() };
        parts.extend(traffic_of_rows(pool, tenant, q, &edge).await?);
    }
    Ok(q.traffic_sum(parts))
}

/// Traffic per step of `q` over the trace rows `rows` selects.
async fn traffic_of_rows(
    pool: &PgPool,
    tenant: &TenantId,
    q: &SeriesQuery,
    rows: &TraceStatsQuery,
) -> Result<Vec<TrafficPoint>, StorageError> {
    let (start, binds) = step(q);
    let mut sel = traces(&format!("{start} AS step, COUNT(*) AS n, {ERROR} AS errors"), binds, tenant, rows);
    sel.tail(" GROUP BY step ORDER BY step");
    sel.fetch_all(pool)
        .await?
        .iter()
        .map(|r| {
            Ok(TrafficPoint {
                start_ns: col(r, "step")?,
                traces: count(col::<i64>(r, "n")?),
                errors: count(col::<i64>(r, "errors")?),
            })
        })
        .collect()
}

/// The heat map row of `duration_ns` as SQL (bounds are constants, not values).
fn latency_row_sql() -> String {
    let mut case = String::from("CASE");
    for (i, b) in LATENCY_BOUNDS_NS.iter().enumerate() {
        case.push_str(&format!(" WHEN duration_ns <= {b} THEN {i}"));
    }
    case.push_str(&format!(" ELSE {} END", LATENCY_BOUNDS_NS.len()));
    case
}

pub(crate) async fn latency_heatmap(
    pool: &PgPool,
    tenant: &TenantId,
    q: &SeriesQuery,
) -> Result<Vec<HeatCell>, StorageError> {
    q.validate()?;
    let (start, binds) = step(q);
    let columns = format!("{start} AS step, ({})::bigint AS row_index, COUNT(*) AS n", latency_row_sql());
    let mut sel = traces(&columns, binds, tenant, &q.rows);
    sel.tail(" GROUP BY step, row_index ORDER BY step, row_index");
    sel.fetch_all(pool)
        .await?
        .iter()
        .map(|r| {
            Ok(HeatCell {
                start_ns: col(r, "step")?,
                row: usize::try_from(col::<i64>(r, "row_index")?).unwrap_or(0),
                traces: count(col::<i64>(r, "n")?),
            })
        })
        .collect()
}
