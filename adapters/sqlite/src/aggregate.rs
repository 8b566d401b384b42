//! Dashboard aggregates over the trace rows. Percentiles are exact: the durations of the window
//! are numbered in order once (`ROW_NUMBER`, which SQLite sorts in bounded memory, spilling to
//! temporary files) and the nearest ranks are picked, so no row cap biases them.

use crate::read::col;
use crate::sql::{Bind, Select};
use otelcontext_domain::TenantId;
use otelcontext_ports::{
    DASHBOARD_PERCENTILES, FailingService, HeatCell, LATENCY_BOUNDS_NS, SeriesQuery, StorageError,
    TOP_FAILING_SERVICES, TraceStats, TraceStatsQuery, TrafficPoint, nearest_rank,
};
use sqlx::SqlitePool;

const ERROR: &str = "SUM(CASE WHEN status = 2 THEN 1 ELSE 0 END)";

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

fn count(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

pub(crate) async fn trace_stats(
    pool: &SqlitePool,
    tenant: &TenantId,
    q: &TraceStatsQuery,
) -> Result<TraceStats, StorageError> {
    q.validate()?;
    let totals = traces(
        &format!("COUNT(*) AS n, COALESCE({ERROR}, 0) AS errors, CAST(AVG(duration_ns) AS REAL) AS mean, COUNT(DISTINCT root_service) AS services"),
        vec![],
        tenant,
        q,
    )
    .fetch_all(pool)
    .await?;
    let row = totals.first().ok_or_else(|| StorageError::Other("an aggregate returned no row".into()))?;
    let n = count(col::<i64>(row, "n")?);
    let mut stats = TraceStats {
        traces: n,
        errors: count(col::<i64>(row, "errors")?),
        services: count(col::<i64>(row, "services")?),
        mean_duration_ns: col::<Option<f64>>(row, "mean")?,
        ..TraceStats::default()
    };
    if n > 0 {
        let ranks: Vec<i64> = DASHBOARD_PERCENTILES.iter().map(|&p| nearest_rank(p, n) as i64).collect();
        let (inner, mut binds) =
            traces("duration_ns AS d, ROW_NUMBER() OVER (ORDER BY duration_ns) AS rn", vec![], tenant, q).into_parts();
        binds.extend(ranks.iter().map(|&r| Bind::Int(r)));
        let marks = vec!["?"; ranks.len()].join(", ");
        let found =
            Select::new(format!("SELECT rn, d FROM ({inner}) WHERE rn IN ({marks})"), binds).fetch_all(pool).await?;
        let mut by_rank = std::collections::HashMap::new();
        for r in &found {
            by_rank.insert(col::<i64>(r, "rn")?, col::<i64>(r, "d")?);
        }
        stats.percentiles_ns = ranks
            .iter()
            .map(|r| by_rank.get(r).copied().ok_or_else(|| StorageError::Other(format!("rank {r} of {n} missing"))))
            .collect::<Result<_, _>>()?;
        let mut failing =
            traces(&format!("root_service AS service, COUNT(*) AS n, {ERROR} AS errors"), vec![], tenant, q);
        failing.tail(&format!(
            " GROUP BY root_service HAVING {ERROR} > 0 ORDER BY errors DESC, root_service ASC LIMIT {TOP_FAILING_SERVICES}"
        ));
        stats.top_failing = failing
            .fetch_all(pool)
            .await?
            .iter()
            .map(|r| {
                Ok(FailingService {
                    service: col(r, "service")?,
                    errors: count(col::<i64>(r, "errors")?),
                    traces: count(col::<i64>(r, "n")?),
                })
            })
            .collect::<Result<_, StorageError>>()?;
    }
    let logs = rows("COUNT(*) AS n", "logs", "timestamp_ns", "service_name", vec![], tenant, q).fetch_all(pool).await?;
    stats.logs = logs.first().map(|r| col::<i64>(r, "n")).transpose()?.map_or(0, count);
    Ok(stats)
}

/// `step` as the start of a step of the query, with its binds.
fn step(q: &SeriesQuery) -> (&'static str, Vec<Bind>) {
    (
        "? + (start_ns - ?) / ? * ?",
        vec![Bind::Int(q.rows.start_ns), Bind::Int(q.rows.start_ns), Bind::Int(q.step_ns), Bind::Int(q.step_ns)],
    )
}

pub(crate) async fn traffic(
    pool: &SqlitePool,
    tenant: &TenantId,
    q: &SeriesQuery,
) -> Result<Vec<TrafficPoint>, StorageError> {
    q.validate()?;
    let (start, binds) = step(q);
    let mut sel = traces(&format!("{start} AS step, COUNT(*) AS n, {ERROR} AS errors"), binds, tenant, &q.rows);
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
    pool: &SqlitePool,
    tenant: &TenantId,
    q: &SeriesQuery,
) -> Result<Vec<HeatCell>, StorageError> {
    q.validate()?;
    let (start, binds) = step(q);
    let mut sel =
        traces(&format!("{start} AS step, {} AS row_index, COUNT(*) AS n", latency_row_sql()), binds, tenant, &q.rows);
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
