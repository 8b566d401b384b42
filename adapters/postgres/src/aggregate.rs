//! Dashboard aggregates over the trace rows. Percentiles are exact: `percentile_disc` (the
//! nearest rank) over every duration of the window, in the same pass as the totals.

use crate::read::col;
use crate::sql::{Bind, Select};
use otelcontext_domain::TenantId;
use otelcontext_ports::{
    DASHBOARD_PERCENTILES, FailingService, HeatCell, LATENCY_BOUNDS_NS, SeriesQuery, StorageError,
    TOP_FAILING_SERVICES, TraceStats, TraceStatsQuery, TrafficPoint,
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

fn count(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

pub(crate) async fn trace_stats(
    pool: &PgPool,
    tenant: &TenantId,
    q: &TraceStatsQuery,
) -> Result<TraceStats, StorageError> {
    q.validate()?;
    let fractions = DASHBOARD_PERCENTILES.iter().map(|p| p.to_string()).collect::<Vec<_>>().join(", ");
    let totals = traces(
        &format!(
            "COUNT(*) AS n, COALESCE({ERROR}, 0) AS errors, AVG(duration_ns)::float8 AS mean, \
             COUNT(DISTINCT root_service) AS services, \
             percentile_disc(ARRAY[{fractions}]::float8[]) WITHIN GROUP (ORDER BY duration_ns) AS percentiles"
        ),
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
        percentiles_ns: col::<Option<Vec<i64>>>(row, "percentiles")?.unwrap_or_default(),
        ..TraceStats::default()
    };
    if n > 0 {
        let mut failing =
            traces(&format!("root_service AS service, COUNT(*) AS n, {ERROR} AS errors"), vec![], tenant, q);
        failing.tail(&format!(
            " GROUP BY root_service HAVING {ERROR} > 0 ORDER BY errors DESC, root_service ASC \
             LIMIT {TOP_FAILING_SERVICES}"
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
