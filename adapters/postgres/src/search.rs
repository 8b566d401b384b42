//! Searches: traces, spans, logs (substring search with pg_trgm), metric points, buckets,
//! templates, investigations and snapshots. All tenant-scoped, paged by keyset.

use crate::error::map_sqlx_error;
use crate::read::{
    LOG_COLUMNS, POINT_COLUMNS, SPAN_COLUMNS, Stored, TRACE_COLUMNS, col, resource_join, stored_log_from_row,
    summary_from_row,
};
use crate::sql::{Bind, Select, wrong_cursor};
use otelcontext_domain::codec::rows::{self, ResourceCache};
use otelcontext_domain::{
    GraphSnapshot, Investigation, InvestigationStatus, LogTemplate, MetricBucket, MetricPoint, Span, TemplateId,
    TenantId, TraceSummary,
};
use otelcontext_ports::{
    BucketQuery, Cursor, InvestigationQuery, LogId, LogQuery, LogSort, MetricQuery, Page, SnapshotQuery, SortOrder,
    SpanQuery, StorageError, StoredLog, TemplateQuery, TemplateSort, TimeRange, TraceQuery, TraceSort,
};
use sqlx::PgPool;
use sqlx::postgres::PgRow;

fn t(tenant: &TenantId) -> Bind {
    Bind::Text(tenant.as_str().to_owned())
}

fn time(sel: &mut Select, column: &str, range: &TimeRange) {
    sel.and_int(&format!("{column} >= ?"), range.start_ns).and_int(&format!("{column} <= ?"), range.end_ns);
}

fn keyset_page<T>(
    rows: &[PgRow],
    limit: usize,
    key: &str,
    id: &str,
    mut decode: impl FnMut(&PgRow) -> Result<T, StorageError>,
) -> Result<Page<T>, StorageError> {
    let items = rows
        .iter()
        .map(|r| Ok((col::<i64>(r, key)?, col::<i64>(r, id)?, decode(r)?)))
        .collect::<Result<Vec<_>, StorageError>>()?;
    Ok(Page::from_rows(items, limit, |(k, i, _)| Cursor::After { key: *k, id: *i }).map(|(_, _, v)| v))
}

pub(crate) async fn search_traces(
    pool: &PgPool,
    tenant: &TenantId,
    q: &TraceQuery,
) -> Result<Page<TraceSummary>, StorageError> {
    q.validate()?;
    let mut sel = Select::new(format!("SELECT {TRACE_COLUMNS} FROM traces t WHERE t.tenant_id = ?"), vec![t(tenant)]);
    time(&mut sel, "t.start_ns", &q.time);
    sel.and_int("t.status = ?", q.status.map(|s| i64::from(s.as_otlp())))
        .and_int("t.duration_ns >= ?", q.min_duration_ns)
        .and_int("t.duration_ns <= ?", q.max_duration_ns);
    if q.service.is_some() || q.operation.is_some() || !q.attributes.is_empty() {
        let mut span =
            Select::new("EXISTS (SELECT 1 FROM spans s WHERE s.tenant_id = t.tenant_id AND s.trace_ref = t.id", vec![]);
        span.and_text("s.service_name = ?", q.service.as_deref())
            .and_text("s.name = ?", q.operation.as_deref())
            .attributes("s.attributes_json", &q.attributes)
            .tail(")");
        let (cond, binds) = span.into_parts();
        sel.and(&cond, binds);
    }
    let (key, descending) = match q.sort {
        TraceSort::Newest => ("t.start_ns", true),
        TraceSort::Oldest => ("t.start_ns", false),
        TraceSort::Longest => ("t.duration_ns", true),
        TraceSort::Shortest => ("t.duration_ns", false),
    };
    sel.keyset(key, "t.id", descending, q.cursor)?;
    let rows = sel.fetch(pool, q.limit, 0).await?;
    keyset_page(&rows, q.limit, key.trim_start_matches("t."), "id", summary_from_row)
}

pub(crate) async fn search_spans(pool: &PgPool, tenant: &TenantId, q: &SpanQuery) -> Result<Page<Span>, StorageError> {
    q.validate()?;
    let mut sel = Select::new(
        format!("SELECT {SPAN_COLUMNS} FROM spans s {} WHERE s.tenant_id = ?", resource_join("s")),
        vec![t(tenant)],
    );
    time(&mut sel, "s.start_ns", &q.time);
    sel.and_text("s.service_name = ?", q.service.as_deref())
        .and_text("s.name = ?", q.operation.as_deref())
        .and_int("s.kind = ?", q.kind.map(|k| i64::from(k.as_otlp())))
        .and_int("s.status_code = ?", q.status.map(|s| i64::from(s.as_otlp())))
        .attributes("s.attributes_json", &q.attributes)
        .keyset("s.start_ns", "s.id", q.sort == SortOrder::NewestFirst, q.cursor)?;
    let rows = sel.fetch(pool, q.limit, 0).await?;
    let mut resources = ResourceCache::default();
    keyset_page(&rows, q.limit, "start_ns", "id", |r| Ok(rows::span(&Stored(r), &mut resources)?))
}

/// An `ILIKE` pattern finding `term` anywhere (`%`, `_` and `\` in the term match themselves).
pub(crate) fn ilike_pattern(term: &str) -> String {
    let mut out = String::with_capacity(term.len() + 2);
    out.push('%');
    for c in term.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

/// `trigram`: whether pg_trgm is installed (relevance ranks by trigram similarity then).
pub(crate) async fn search_logs(
    pool: &PgPool,
    tenant: &TenantId,
    q: &LogQuery,
    trigram: bool,
) -> Result<Page<StoredLog>, StorageError> {
    q.validate()?;
    if q.text.is_some() && q.trace_id.is_none() && q.sort != LogSort::Relevance {
        return search_logs_by_window(pool, tenant, q, WINDOWS).await;
    }
    search_logs_in_one_query(pool, tenant, q, trigram).await
}

/// A log query's SELECT with all its conditions, before order and page.
fn log_select(tenant: &TenantId, q: &LogQuery) -> Select {
    let mut sel = Select::new(
        format!("SELECT {LOG_COLUMNS} FROM logs l {} WHERE l.tenant_id = ?", resource_join("l")),
        vec![t(tenant)],
    );
    if let Some(text) = &q.text {
        for term in text.terms() {
            let p = ilike_pattern(term);
            sel.and("(l.body ILIKE ? OR l.service_name ILIKE ?)", [Bind::Text(p.clone()), Bind::Text(p)]);
        }
    }
    time(&mut sel, "l.timestamp_ns", &q.time);
    sel.and_text("l.service_name = ?", q.service.as_deref())
        .and_int("l.level >= ?", q.min_severity.map(|s| i64::from(s.number())))
        .and_text("l.trace_id = ?", q.trace_id.map(|t| t.to_hex()).as_deref())
        .and_int("l.template_id = ?", q.template_id.map(TemplateId::as_i64))
        .attributes("l.attributes_json", &q.attributes);
    sel
}

pub(crate) async fn search_logs_in_one_query(
    pool: &PgPool,
    tenant: &TenantId,
    q: &LogQuery,
    trigram: bool,
) -> Result<Page<StoredLog>, StorageError> {
    let mut sel = log_select(tenant, q);
    if q.text.is_some() {
        // A cached generic plan cannot see the patterns, and reads the time index backwards
        // through every row for a rare word (9 s at 10M logs).
        sel.planned_per_run();
    }
    let mut resources = ResourceCache::default();
    if let (LogSort::Relevance, Some(text)) = (q.sort, &q.text) {
        let offset = match q.cursor {
            None => 0,
            Some(Cursor::Skip(n)) => n,
            Some(Cursor::After { .. }) => return Err(wrong_cursor()),
        };
        if trigram {
            sel.tail(" ORDER BY similarity(coalesce(l.body, ''), ")
                .and_bind_tail(Bind::Text(text.terms().join(" ")))
                .tail(") DESC, l.timestamp_ns DESC, l.id DESC");
        } else {
            sel.tail(" ORDER BY l.timestamp_ns DESC, l.id DESC");
        }
        let rows = sel.fetch(pool, q.limit, offset).await?;
        let items = rows.iter().map(|r| stored_log_from_row(r, &mut resources)).collect::<Result<Vec<_>, _>>()?;
        let more = items.len() > q.limit;
        let mut page = Page::from_rows(items, q.limit, |_| Cursor::Skip(0));
        page.next = more.then_some(Cursor::Skip(offset + q.limit as u64));
        return Ok(page);
    }
    sel.keyset("l.timestamp_ns", "l.id", q.sort != LogSort::Oldest, q.cursor)?;
    let rows = sel.fetch(pool, q.limit, 0).await?;
    keyset_page(&rows, q.limit, "timestamp_ns", "id", |r| stored_log_from_row(r, &mut resources))
}

/// How many logs (by the estimate) the windows of a time-ordered text search hold.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Windows {
    /// The first window.
    pub first_rows: f64,
    /// A window that would hold more is the last: it takes all the rest of the range in one
    /// query, which the server may plan through the trigram indexes.
    pub last_rows: f64,
}

/// About 4,096 logs first, then windows [`WINDOW_GROWTH`] times wider up to 32,768.
pub(crate) const WINDOWS: Windows = Windows { first_rows: 4_096.0, last_rows: 32_768.0 };

/// How much wider each next window is.
const WINDOW_GROWTH: i128 = 8;

/// Rows of `logs`, partitions included: the planner's statistics, or before the first ANALYZE
/// (`reltuples` is -1 then) the table's size at 256 bytes a row, which errs towards more rows and
/// so towards a narrower first window.
const LOG_ROWS_ESTIMATE: &str = "(SELECT coalesce(sum(CASE WHEN c.reltuples > 0 THEN c.reltuples \
     ELSE pg_relation_size(c.oid) / 256.0 END), 0)::float8 FROM pg_class c \
     WHERE c.oid = 'logs'::regclass OR c.oid IN (SELECT inhrelid FROM pg_inherits WHERE inhparent = 'logs'::regclass))";

/// A text search in time order, window by window from the newest (or oldest) end.
///
/// `ILIKE` through the trigram indexes finds every match before the newest are picked: a
/// common word in four million logs took 4.5 s. A window of time holds few rows, so for a common
/// word the first window already fills the page, read through the time index; a rarer word
/// widens the window ([`WINDOW_GROWTH`] times each step) until a window would hold more than
/// [`Windows::last_rows`], and then the one query runs as before (three queries at most for ten
/// million logs). Windows split the time range, so their pages in order are exactly the one
/// query's. Each window is planned for its own bounds, so a narrow one reads the time index.
pub(crate) async fn search_logs_by_window(
    pool: &PgPool,
    tenant: &TenantId,
    q: &LogQuery,
    windows: Windows,
) -> Result<Page<StoredLog>, StorageError> {
    let newest = q.sort != LogSort::Oldest;
    // The times the query can reach: its range, its cursor, the tenant's oldest and newest log.
    let mut reach = Select::new(
        format!(
            "SELECT min(l.timestamp_ns) AS lo, max(l.timestamp_ns) AS hi, {LOG_ROWS_ESTIMATE} AS est \
             FROM logs l WHERE l.tenant_id = ?"
        ),
        vec![t(tenant)],
    );
    time(&mut reach, "l.timestamp_ns", &q.time);
    if let Some(Cursor::After { key, .. }) = q.cursor {
        reach.and_int(if newest { "l.timestamp_ns <= ?" } else { "l.timestamp_ns >= ?" }, Some(key));
    }
    let reach = reach.fetch_all(pool).await?;
    let row = reach.first().ok_or_else(|| StorageError::Other("an aggregate returned no row".into()))?;
    let mut resources = ResourceCache::default();
    let (Some(lo), Some(hi)) = (col::<Option<i64>>(row, "lo")?, col::<Option<i64>>(row, "hi")?) else {
        return keyset_page(&[], q.limit, "timestamp_ns", "id", |r| stored_log_from_row(r, &mut resources));
    };
    let estimate = col::<f64>(row, "est")?.max(windows.first_rows);
    let span = i128::from(hi) - i128::from(lo) + 1;
    let mut width = ((span as f64 * windows.first_rows / estimate).ceil() as i128).clamp(1, span);
    let (lo, hi) = (i128::from(lo), i128::from(hi));
    let (mut a, mut b) = if newest { ((hi - width + 1).max(lo), hi) } else { (lo, (lo + width - 1).min(hi)) };
    let keep = q.limit.saturating_add(1);
    let mut found = Vec::new();
    loop {
        let mut sel = log_select(tenant, q);
        if (newest && a <= lo) || (!newest && b >= hi) {
            // The rest: the one query itself, without window bounds (its first rows are those
            // the windows found). Bounded, it would be rated by a server without statistics as
            // a few rows of the time index and read that way instead of through the trigram
            // indexes.
            sel.keyset("l.timestamp_ns", "l.id", newest, q.cursor)?.planned_per_run();
            found = sel.fetch(pool, q.limit, 0).await?;
            break;
        }
        // Both bounds lie in [lo, hi], which came from i64 columns.
        sel.and_int("l.timestamp_ns >= ?", Some(a as i64)).and_int("l.timestamp_ns <= ?", Some(b as i64));
        sel.keyset("l.timestamp_ns", "l.id", newest, q.cursor)?.planned_per_run();
        found.extend(sel.fetch(pool, keep - found.len() - 1, 0).await?);
        if found.len() >= keep {
            break;
        }
        width = width.saturating_mul(WINDOW_GROWTH);
        if width as f64 * estimate / span as f64 > windows.last_rows {
            width = span;
        }
        (a, b) = if newest { ((a - 1 - width + 1).max(lo), a - 1) } else { (b + 1, (b + width).min(hi)) };
    }
    keyset_page(&found, q.limit, "timestamp_ns", "id", |r| stored_log_from_row(r, &mut resources))
}

pub(crate) async fn get_log(pool: &PgPool, tenant: &TenantId, id: LogId) -> Result<Option<StoredLog>, StorageError> {
    let mut sel = Select::new(
        format!("SELECT {LOG_COLUMNS} FROM logs l {} WHERE l.tenant_id = ?", resource_join("l")),
        vec![t(tenant)],
    );
    sel.and("l.id = ?", [Bind::Int(id.0)]);
    let rows = sel.fetch(pool, 1, 0).await?;
    let mut resources = ResourceCache::default();
    rows.first().map(|r| stored_log_from_row(r, &mut resources)).transpose()
}

pub(crate) async fn search_metric_points(
    pool: &PgPool,
    tenant: &TenantId,
    q: &MetricQuery,
) -> Result<Page<MetricPoint>, StorageError> {
    q.validate()?;
    let mut sel = Select::new(
        format!("SELECT {POINT_COLUMNS} FROM metric_points m {} WHERE m.tenant_id = ?", resource_join("m")),
        vec![t(tenant)],
    );
    time(&mut sel, "m.time_ns", &q.time);
    sel.and_text("m.name = ?", q.name.as_deref())
        .and_text("m.service_name = ?", q.service.as_deref())
        .attributes("m.attributes_json", &q.attributes)
        .keyset("m.time_ns", "m.id", q.sort == SortOrder::NewestFirst, q.cursor)?;
    let rows = sel.fetch(pool, q.limit, 0).await?;
    let mut resources = ResourceCache::default();
    keyset_page(&rows, q.limit, "time_ns", "id", |r| Ok(rows::point(&Stored(r), &mut resources)?))
}

pub(crate) async fn search_buckets(
    pool: &PgPool,
    tenant: &TenantId,
    q: &BucketQuery,
) -> Result<Page<MetricBucket>, StorageError> {
    q.validate()?;
    let mut sel = Select::new(
        "SELECT id, name, service_name, attributes_json, start_ns, width_ns, count, sum, min, max, last, last_ns, \
         data_json FROM metric_buckets WHERE tenant_id = ?",
        vec![t(tenant)],
    );
    time(&mut sel, "start_ns", &q.time);
    sel.and_text("name = ?", q.name.as_deref())
        .and_text("service_name = ?", q.service.as_deref())
        .keyset("start_ns", "id", false, q.cursor)?;
    let rows = sel.fetch(pool, q.limit, 0).await?;
    keyset_page(&rows, q.limit, "start_ns", "id", |r| Ok(rows::bucket(&Stored(r))?))
}

use otelcontext_domain::codec::rows::TEMPLATE_COLUMNS;

pub(crate) async fn list_templates(pool: &PgPool, tenant: &TenantId) -> Result<Vec<LogTemplate>, StorageError> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {TEMPLATE_COLUMNS} FROM drain_templates WHERE tenant_id = $1 ORDER BY id"
    )))
    .bind(tenant.as_str())
    .fetch_all(pool)
    .await
    .map_err(map_sqlx_error)?
    .iter()
    .map(|r| Ok(rows::template(&Stored(r))?))
    .collect()
}

pub(crate) async fn get_template(
    pool: &PgPool,
    tenant: &TenantId,
    id: TemplateId,
) -> Result<Option<LogTemplate>, StorageError> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {TEMPLATE_COLUMNS} FROM drain_templates WHERE tenant_id = $1 AND id = $2"
    )))
    .bind(tenant.as_str())
    .bind(id.as_i64())
    .fetch_optional(pool)
    .await
    .map_err(map_sqlx_error)?
    .as_ref()
    .map(|r| Ok(rows::template(&Stored(r))?))
    .transpose()
}

pub(crate) async fn search_templates(
    pool: &PgPool,
    tenant: &TenantId,
    q: &TemplateQuery,
) -> Result<Page<LogTemplate>, StorageError> {
    q.validate()?;
    let key = match q.sort {
        TemplateSort::Count => "count",
        TemplateSort::LastSeen => "last_seen_ns",
    };
    let mut sel = Select::new(
        format!("SELECT {TEMPLATE_COLUMNS}, {key} AS sort_key FROM drain_templates WHERE tenant_id = ?"),
        vec![t(tenant)],
    );
    sel.and_int("last_seen_ns >= ?", q.time.start_ns)
        .and_int("first_seen_ns <= ?", q.time.end_ns)
        .and_text("services_json::jsonb @> jsonb_build_array(?::text)", q.service.as_deref())
        .and_int("first_seen_ns >= ?", q.first_seen_since_ns);
    if q.spiking_only {
        sel.and("spiking = 1", []);
    }
    sel.keyset(key, "id", true, q.cursor)?;
    let rows = sel.fetch(pool, q.limit, 0).await?;
    keyset_page(&rows, q.limit, "sort_key", "id", |r| Ok(rows::template(&Stored(r))?))
}

const INVESTIGATION_COLUMNS: &str = "seq, id, created_ns, updated_ns, status, severity, kind, trigger_service, \
    trigger_operation, root_service, root_operation, summary, evidence_json";

pub(crate) async fn get_investigation(
    pool: &PgPool,
    tenant: &TenantId,
    id: &str,
) -> Result<Option<Investigation>, StorageError> {
    let mut sel =
        Select::new(format!("SELECT {INVESTIGATION_COLUMNS} FROM investigations WHERE tenant_id = ?"), vec![t(tenant)]);
    sel.and_text("id = ?", Some(id));
    sel.fetch(pool, 1, 0).await?.first().map(|r| Ok(rows::investigation(&Stored(r))?)).transpose()
}

pub(crate) async fn search_investigations(
    pool: &PgPool,
    tenant: &TenantId,
    q: &InvestigationQuery,
) -> Result<Page<Investigation>, StorageError> {
    q.validate()?;
    let mut sel =
        Select::new(format!("SELECT {INVESTIGATION_COLUMNS} FROM investigations WHERE tenant_id = ?"), vec![t(tenant)]);
    time(&mut sel, "created_ns", &q.time);
    sel.and_text("status = ?", q.status.map(InvestigationStatus::as_str))
        .and_int("severity >= ?", q.min_severity.map(otelcontext_domain::InvestigationSeverity::rank));
    if let Some(service) = &q.service {
        sel.and(
            "(trigger_service = ? OR root_service = ?)",
            [Bind::Text(service.clone()), Bind::Text(service.clone())],
        );
    }
    sel.keyset("created_ns", "seq", true, q.cursor)?;
    let rows = sel.fetch(pool, q.limit, 0).await?;
    keyset_page(&rows, q.limit, "created_ns", "seq", |r| Ok(rows::investigation(&Stored(r))?))
}

const SNAPSHOT_COLUMNS: &str =
    "seq, id, created_ns, service_count, edge_count, total_calls, avg_health_score, graph_json";

pub(crate) async fn get_snapshot(
    pool: &PgPool,
    tenant: &TenantId,
    id: &str,
) -> Result<Option<GraphSnapshot>, StorageError> {
    let mut sel =
        Select::new(format!("SELECT {SNAPSHOT_COLUMNS} FROM graph_snapshots WHERE tenant_id = ?"), vec![t(tenant)]);
    sel.and_text("id = ?", Some(id));
    sel.fetch(pool, 1, 0).await?.first().map(|r| Ok(rows::snapshot(&Stored(r))?)).transpose()
}

pub(crate) async fn search_snapshots(
    pool: &PgPool,
    tenant: &TenantId,
    q: &SnapshotQuery,
) -> Result<Page<GraphSnapshot>, StorageError> {
    q.validate()?;
    let mut sel =
        Select::new(format!("SELECT {SNAPSHOT_COLUMNS} FROM graph_snapshots WHERE tenant_id = ?"), vec![t(tenant)]);
    time(&mut sel, "created_ns", &q.time);
    sel.keyset("created_ns", "seq", true, q.cursor)?;
    let rows = sel.fetch(pool, q.limit, 0).await?;
    keyset_page(&rows, q.limit, "created_ns", "seq", |r| Ok(rows::snapshot(&Stored(r))?))
}

/// Names in the catalogue: the services (when `service_names`) or the names (of `service`, when
/// given) of `signal`, seen within `time` widened by the catalogue's slack, sorted bytewise.
pub(crate) async fn catalog_names(
    pool: &PgPool,
    tenant: &TenantId,
    signal: otelcontext_ports::CatalogSignal,
    service_names: bool,
    service: Option<&str>,
    time: otelcontext_ports::TimeRange,
    limit: usize,
) -> Result<Vec<String>, StorageError> {
    otelcontext_ports::validate_catalog_read(&time, limit)?;
    let column = if service_names { "service_name" } else { "name" };
    // Bytewise order ("C"), as every adapter sorts, whatever the database's collation.
    let sql = format!(
        "SELECT DISTINCT {column} COLLATE \"C\" AS v FROM catalog WHERE tenant_id = $1 AND signal = $2 \
         AND ($3::text IS NULL OR service_name = $3) AND last_seen_ns >= $4 AND first_seen_ns <= $5 \
         ORDER BY v LIMIT $6"
    );
    let start = time.start_ns.map_or(i64::MIN, |s| s.saturating_sub(otelcontext_ports::CATALOG_SLACK_NS));
    sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(sql))
        .bind(tenant.as_str())
        .bind(signal.as_i64() as i16)
        .bind(service)
        .bind(start)
        .bind(time.end_ns.unwrap_or(i64::MAX))
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(pool)
        .await
        .map_err(map_sqlx_error)
}
