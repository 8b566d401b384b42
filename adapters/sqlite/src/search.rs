//! Searches over the reader pool: traces, spans, logs (with full-text search), metric points,
//! buckets, templates, investigations and snapshots. All tenant-scoped, paged by keyset.

use crate::error::map_sqlx_error;
use crate::fts;
use crate::read::{
    LOG_COLUMNS, LOGS_BY_TRACE, POINT_COLUMNS, SPAN_COLUMNS, Stored, TRACE_COLUMNS, col, stored_log_from_row,
    summary_from_row,
};
use crate::sql::{Bind, Select, wrong_cursor};
use crate::text_plan;
use otelcontext_domain::codec::rows::{self, ResourceCache};
use otelcontext_domain::{
    GraphSnapshot, Investigation, InvestigationStatus, LogTemplate, MetricBucket, MetricPoint, Span, TemplateId,
    TenantId, TraceSummary,
};
use otelcontext_ports::{
    BucketQuery, Cursor, InvestigationQuery, LogId, LogQuery, LogSort, MetricQuery, Page, SnapshotQuery, SortOrder,
    SpanQuery, StorageError, StoredLog, TemplateQuery, TemplateSort, TimeRange, TraceQuery, TraceSort,
};
use otelcontext_ports::{CATALOG_SLACK_NS, CatalogSignal, validate_catalog_read};
use sqlx::SqlitePool;
use sqlx::sqlite::SqliteRow;

pub(crate) fn t(tenant: &TenantId) -> Bind {
    Bind::Text(tenant.as_str().to_owned())
}

/// Adds `column >= start AND column <= end` for the open ends of a range.
pub(crate) fn time(sel: &mut Select, column: &str, range: &TimeRange) {
    sel.and_int(&format!("{column} >= ?"), range.start_ns).and_int(&format!("{column} <= ?"), range.end_ns);
}

/// A keyset page from rows holding the sort key and id in columns `key` and `id`.
pub(crate) fn keyset_page<T>(
    rows: &[SqliteRow],
    limit: usize,
    key: &str,
    id: &str,
    mut decode: impl FnMut(&SqliteRow) -> Result<T, StorageError>,
) -> Result<Page<T>, StorageError> {
    let items = rows
        .iter()
        .map(|r| Ok((col::<i64>(r, key)?, col::<i64>(r, id)?, decode(r)?)))
        .collect::<Result<Vec<_>, StorageError>>()?;
    Ok(Page::from_rows(items, limit, |(k, i, _)| Cursor::After { key: *k, id: *i }).map(|(_, _, v)| v))
}

pub(crate) async fn search_traces(
    pool: &SqlitePool,
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
        let mut span = Select::new("EXISTS (SELECT 1 FROM spans s WHERE s.trace_ref = t.id", vec![]);
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
    let key_col = key.trim_start_matches("t.");
    keyset_page(&rows, q.limit, key_col, "id", |r| summary_from_row(r).map(|(_, s)| s))
}

pub(crate) async fn search_spans(
    pool: &SqlitePool,
    tenant: &TenantId,
    q: &SpanQuery,
) -> Result<Page<Span>, StorageError> {
    q.validate()?;
    let mut sel = Select::new(
        format!(
            "SELECT {SPAN_COLUMNS} FROM spans s LEFT JOIN resources r ON r.tenant_id = s.tenant_id \
             AND r.fingerprint = s.resource_fp WHERE s.tenant_id = ?"
        ),
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

/// How text terms are matched.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum TextMode {
    /// Through the FTS5 index (terms without letters or digits through LIKE).
    Index,
    /// Every term through LIKE: the fallback when the index fails.
    Scan,
}

pub(crate) async fn search_logs(
    pool: &SqlitePool,
    tenant: &TenantId,
    q: &LogQuery,
) -> Result<Page<StoredLog>, StorageError> {
    q.validate()?;
    match search_logs_with(pool, tenant, q, TextMode::Index).await {
        Err(e) if q.text.is_some() && matches!(e, StorageError::Other(_) | StorageError::Corrupt(_)) => {
            tracing::warn!(error = %e, "full-text index failed; searching logs with LIKE instead");
            search_logs_with(pool, tenant, q, TextMode::Scan).await
        }
        other => other,
    }
}

/// The conditions of a log query besides its tenant, its full-text match and its order: the
/// terms the index cannot answer (every term when scanning), time, service, severity, trace,
/// template and attributes.
pub(crate) fn log_filters(sel: &mut Select, q: &LogQuery, mode: TextMode) {
    if let Some(text) = &q.text {
        let scanned: Vec<&String> = match mode {
            TextMode::Index => fts::unindexed_terms(text).collect(),
            TextMode::Scan => text.terms().iter().collect(),
        };
        for term in scanned {
            let p = fts::like_pattern(term);
            sel.and(
                "(l.body LIKE ? ESCAPE '\\' OR l.service_name LIKE ? ESCAPE '\\')",
                [Bind::Text(p.clone()), Bind::Text(p)],
            );
        }
    }
    time(sel, "l.timestamp_ns", &q.time);
    sel.and_text("l.service_name = ?", q.service.as_deref())
        .and_int("l.level >= ?", q.min_severity.map(|s| i64::from(s.number())))
        .and_text("l.trace_id = ?", q.trace_id.map(|t| t.to_hex()).as_deref())
        .and_int("l.template_id = ?", q.template_id.map(TemplateId::as_i64))
        .attributes("l.attributes_json", &q.attributes);
}

pub(crate) async fn search_logs_with(
    pool: &SqlitePool,
    tenant: &TenantId,
    q: &LogQuery,
    mode: TextMode,
) -> Result<Page<StoredLog>, StorageError> {
    // In time order, common words are checked row by row instead of merged by the index.
    if mode == TextMode::Index
        && q.sort != LogSort::Relevance
        && q.trace_id.is_none()
        && let Some(text) = &q.text
        && fts::match_expression(text).is_some()
    {
        let terms = text_plan::split_terms(pool, text).await?;
        if let Some(page) = text_plan::search(pool, tenant, q, &terms, text_plan::SCAN_BUDGET_ROWS).await? {
            return Ok(page);
        }
    }
    search_logs_in_one_query(pool, tenant, q, mode).await
}

/// A log search as one query: the full-text index (or LIKE) for every term.
pub(crate) async fn search_logs_in_one_query(
    pool: &SqlitePool,
    tenant: &TenantId,
    q: &LogQuery,
    mode: TextMode,
) -> Result<Page<StoredLog>, StorageError> {
    let expression = match (mode, &q.text) {
        (TextMode::Index, Some(text)) => fts::match_expression(text),
        _ => None,
    };
    let ranked = q.sort == LogSort::Relevance && q.text.is_some();
    let base = format!(
        "SELECT {LOG_COLUMNS} FROM logs l {} LEFT JOIN resources r ON r.tenant_id = l.tenant_id AND r.fingerprint = l.resource_fp",
        if q.trace_id.is_some() { LOGS_BY_TRACE } else { "" }
    );
    let mut sel = match (&expression, ranked) {
        (Some(expr), true) => Select::new(
            format!(
                "{base} JOIN (SELECT rowid AS fts_rowid, bm25(logs_fts) AS rank FROM logs_fts WHERE logs_fts MATCH ?) f \
                 ON f.fts_rowid = l.id WHERE l.tenant_id = ?"
            ),
            vec![Bind::Text(expr.clone()), t(tenant)],
        ),
        (Some(expr), false) => {
            let mut sel = Select::new(format!("{base} WHERE l.tenant_id = ?"), vec![t(tenant)]);
            sel.and("l.id IN (SELECT rowid FROM logs_fts WHERE logs_fts MATCH ?)", [Bind::Text(expr.clone())]);
            sel
        }
        (None, _) => Select::new(format!("{base} WHERE l.tenant_id = ?"), vec![t(tenant)]),
    };
    log_filters(&mut sel, q, mode);
    let mut resources = ResourceCache::default();
    if ranked {
        let offset = match q.cursor {
            None => 0,
            Some(Cursor::Skip(n)) => n,
            Some(Cursor::After { .. }) => return Err(wrong_cursor()),
        };
        let order = if expression.is_some() {
            " ORDER BY f.rank, l.timestamp_ns DESC, l.id DESC"
        } else {
            " ORDER BY l.timestamp_ns DESC, l.id DESC"
        };
        sel.tail(order);
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

pub(crate) async fn get_log(
    pool: &SqlitePool,
    tenant: &TenantId,
    id: LogId,
) -> Result<Option<StoredLog>, StorageError> {
    let mut sel = Select::new(
        format!(
            "SELECT {LOG_COLUMNS} FROM logs l LEFT JOIN resources r ON r.tenant_id = l.tenant_id \
             AND r.fingerprint = l.resource_fp WHERE l.tenant_id = ?"
        ),
        vec![t(tenant)],
    );
    sel.and("l.id = ?", [Bind::Int(id.0)]);
    let rows = sel.fetch(pool, 1, 0).await?;
    let mut resources = ResourceCache::default();
    rows.first().map(|r| stored_log_from_row(r, &mut resources)).transpose()
}

pub(crate) async fn search_metric_points(
    pool: &SqlitePool,
    tenant: &TenantId,
    q: &MetricQuery,
) -> Result<Page<MetricPoint>, StorageError> {
    q.validate()?;
    let mut sel = Select::new(
        format!(
            "SELECT {POINT_COLUMNS} FROM metric_points m LEFT JOIN resources r ON r.tenant_id = m.tenant_id \
             AND r.fingerprint = m.resource_fp WHERE m.tenant_id = ?"
        ),
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
    pool: &SqlitePool,
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

pub(crate) async fn list_templates(pool: &SqlitePool, tenant: &TenantId) -> Result<Vec<LogTemplate>, StorageError> {
    let sql = format!("SELECT {TEMPLATE_COLUMNS} FROM drain_templates WHERE tenant_id = ? ORDER BY id");
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(tenant.as_str())
        .fetch_all(pool)
        .await
        .map_err(map_sqlx_error)?
        .iter()
        .map(|r| Ok(rows::template(&Stored(r))?))
        .collect()
}

pub(crate) async fn get_template(
    pool: &SqlitePool,
    tenant: &TenantId,
    id: TemplateId,
) -> Result<Option<LogTemplate>, StorageError> {
    let sql = format!("SELECT {TEMPLATE_COLUMNS} FROM drain_templates WHERE tenant_id = ? AND id = ?");
    sqlx::query(sqlx::AssertSqlSafe(sql))
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
    pool: &SqlitePool,
    tenant: &TenantId,
    q: &TemplateQuery,
) -> Result<Page<LogTemplate>, StorageError> {
    q.validate()?;
    let mut sel = Select::new(
        format!("SELECT {TEMPLATE_COLUMNS}, {} AS sort_key FROM drain_templates WHERE tenant_id = ?", template_key(q)),
        vec![t(tenant)],
    );
    sel.and_int("last_seen_ns >= ?", q.time.start_ns)
        .and_int("first_seen_ns <= ?", q.time.end_ns)
        .and_text("EXISTS (SELECT 1 FROM json_each(services_json) s WHERE s.value = ?)", q.service.as_deref())
        .and_int("first_seen_ns >= ?", q.first_seen_since_ns);
    if q.spiking_only {
        sel.and("spiking = 1", []);
    }
    sel.keyset(template_key(q), "id", true, q.cursor)?;
    let rows = sel.fetch(pool, q.limit, 0).await?;
    keyset_page(&rows, q.limit, "sort_key", "id", |r| Ok(rows::template(&Stored(r))?))
}

fn template_key(q: &TemplateQuery) -> &'static str {
    match q.sort {
        TemplateSort::Count => "count",
        TemplateSort::LastSeen => "last_seen_ns",
    }
}

const INVESTIGATION_COLUMNS: &str = "seq, id, created_ns, updated_ns, status, severity, kind, trigger_service, \
    trigger_operation, root_service, root_operation, summary, evidence_json";

pub(crate) async fn get_investigation(
    pool: &SqlitePool,
    tenant: &TenantId,
    id: &str,
) -> Result<Option<Investigation>, StorageError> {
    let mut sel =
        Select::new(format!("SELECT {INVESTIGATION_COLUMNS} FROM investigations WHERE tenant_id = ?"), vec![t(tenant)]);
    sel.and_text("id = ?", Some(id));
    sel.fetch(pool, 1, 0).await?.first().map(|r| Ok(rows::investigation(&Stored(r))?)).transpose()
}

pub(crate) async fn search_investigations(
    pool: &SqlitePool,
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
    pool: &SqlitePool,
    tenant: &TenantId,
    id: &str,
) -> Result<Option<GraphSnapshot>, StorageError> {
    let mut sel =
        Select::new(format!("SELECT {SNAPSHOT_COLUMNS} FROM graph_snapshots WHERE tenant_id = ?"), vec![t(tenant)]);
    sel.and_text("id = ?", Some(id));
    sel.fetch(pool, 1, 0).await?.first().map(|r| Ok(rows::snapshot(&Stored(r))?)).transpose()
}

pub(crate) async fn search_snapshots(
    pool: &SqlitePool,
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
/// given) of `signal`, seen within `time` widened by the catalogue's slack, sorted.
pub(crate) async fn catalog_names(
    pool: &SqlitePool,
    tenant: &TenantId,
    signal: CatalogSignal,
    service_names: bool,
    service: Option<&str>,
    time: TimeRange,
    limit: usize,
) -> Result<Vec<String>, StorageError> {
    validate_catalog_read(&time, limit)?;
    let column = if service_names { "service_name" } else { "name" };
    let sql = format!(
        "SELECT DISTINCT {column} FROM catalog WHERE tenant_id = ?1 AND signal = ?2 \
         AND (?3 IS NULL OR service_name = ?3) AND last_seen_ns >= ?4 AND first_seen_ns <= ?5 \
         ORDER BY {column} LIMIT ?6"
    );
    let start = time.start_ns.map_or(i64::MIN, |s| s.saturating_sub(CATALOG_SLACK_NS));
    sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(sql))
        .bind(tenant.as_str())
        .bind(signal.as_i64())
        .bind(service)
        .bind(start)
        .bind(time.end_ns.unwrap_or(i64::MAX))
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(pool)
        .await
        .map_err(map_sqlx_error)
}
