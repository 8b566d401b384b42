//! Full-text log searches in time order that do not pay FTS5's price for common words.
//!
//! Every term is searched as the start of a word (`"term"*`). FTS5 answers such a prefix by
//! merging the lists of every word it covers before it hands out the first match: about 80 ms
//! for a word in a quarter of ten million logs, per term, however small the page. One exact word
//! is read lazily instead, so each term is first probed as an exact word, counting up to
//! [`COMMON_TERM_MATCHES`]:
//!
//! - **rare terms** narrow the search through the index (their merges are small), and the rows
//!   they find are read in time order;
//! - **common terms** are checked on those rows with the reference rule
//!   ([`TextQuery::matches`]: the start of a word, case-insensitive; what every adapter must find
//!   at least), not through the index;
//! - when **every term is common**, the tenant's logs are read in time order through the time
//!   index and checked until the page is full. Common words fill a page within a few thousand
//!   rows; if [`SCAN_BUDGET_ROWS`] rows did not fill it (the words are common elsewhere but rare
//!   in this tenant or window), the search runs as one index query as before.
//!
//! The pages continue by the same keyset cursor as the one-query plan.

use crate::error::map_sqlx_error;
use crate::fts;
use crate::read::{LOG_COLUMNS, col, stored_log_from_row};
use crate::search::{TextMode, keyset_page, log_filters, t};
use crate::sql::{Bind, Select};
use otelcontext_domain::TenantId;
use otelcontext_domain::codec::rows::ResourceCache;
use otelcontext_domain::search::{TextQuery, has_word_characters};
use otelcontext_ports::{Cursor, LogQuery, LogSort, Page, StorageError, StoredLog};
use sqlx::SqlitePool;

/// An exact word in at least this many logs (of any tenant) is common.
pub(crate) const COMMON_TERM_MATCHES: i64 = 10_000;

/// Rows read per query while checking rows.
const CHUNK_ROWS: usize = 4_096;

/// Rows of the tenant a search of common words only reads before it gives way to the index.
pub(crate) const SCAN_BUDGET_ROWS: usize = 65_536;

/// The indexable terms of a query (with a letter or digit), split by how common they are.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Terms {
    pub rare: Vec<String>,
    pub common: Vec<String>,
}

/// Probes each indexable term as an exact word.
pub(crate) async fn split_terms(pool: &SqlitePool, text: &TextQuery) -> Result<Terms, StorageError> {
    let mut terms = Terms::default();
    for term in text.terms().iter().filter(|t| has_word_characters(t)) {
        let exact = format!("\"{}\"", term.replace('"', "\"\""));
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM (SELECT 1 FROM logs_fts WHERE logs_fts MATCH ? LIMIT ?)")
            .bind(exact)
            .bind(COMMON_TERM_MATCHES)
            .fetch_one(pool)
            .await
            .map_err(map_sqlx_error)?;
        if n >= COMMON_TERM_MATCHES { &mut terms.common } else { &mut terms.rare }.push(term.clone());
    }
    Ok(terms)
}

/// `terms` as a text query (`None` when there are none); terms hold no whitespace, so they
/// parse back unchanged.
fn as_query(terms: &[String]) -> Result<Option<TextQuery>, StorageError> {
    TextQuery::parse(&terms.join(" ")).map_err(|e| StorageError::InvalidArgument(e.to_string()))
}

/// A page of a time-ordered search with indexable terms (`terms` from [`split_terms`]); `None`
/// when only common terms were given and `budget` rows of the tenant did not fill the page.
pub(crate) async fn search(
    pool: &SqlitePool,
    tenant: &TenantId,
    q: &LogQuery,
    terms: &Terms,
    budget: usize,
) -> Result<Option<Page<StoredLog>>, StorageError> {
    let newest = q.sort != LogSort::Oldest;
    let checked = as_query(&terms.common)?;
    let narrowing = as_query(&terms.rare)?.and_then(|r| fts::match_expression(&r));
    let keep = q.limit.saturating_add(1);
    let mut kept: Vec<i64> = Vec::with_capacity(keep.min(CHUNK_ROWS));
    let mut cursor = q.cursor;
    let mut read = 0usize;
    'chunks: loop {
        let mut sel = match &narrowing {
            // The index's matches drive the join: each is one lookup by id.
            Some(expr) => Select::new(
                "SELECT l.id, l.timestamp_ns, l.body, l.service_name FROM \
                 (SELECT rowid AS fts_rowid FROM logs_fts WHERE logs_fts MATCH ?) f \
                 CROSS JOIN logs l ON l.id = f.fts_rowid WHERE l.tenant_id = ?",
                vec![Bind::Text(expr.clone()), t(tenant)],
            ),
            None => Select::new(
                "SELECT l.id, l.timestamp_ns, l.body, l.service_name FROM logs l WHERE l.tenant_id = ?",
                vec![t(tenant)],
            ),
        };
        log_filters(&mut sel, q, TextMode::Index);
        sel.keyset("l.timestamp_ns", "l.id", newest, cursor)?;
        let rows = sel.fetch(pool, CHUNK_ROWS - 1, 0).await?;
        for r in &rows {
            let body = col::<Option<String>>(r, "body")?;
            let service = col::<String>(r, "service_name")?;
            if checked.as_ref().is_none_or(|c| c.matches(&[body.as_deref().unwrap_or(""), &service])) {
                kept.push(col(r, "id")?);
                if kept.len() == keep {
                    break 'chunks;
                }
            }
        }
        read += rows.len();
        let Some(last) = rows.last().filter(|_| rows.len() == CHUNK_ROWS) else { break };
        if narrowing.is_none() && read >= budget {
            return Ok(None);
        }
        cursor = Some(Cursor::After { key: col(last, "timestamp_ns")?, id: col(last, "id")? });
    }
    let ids = format!("[{}]", kept.iter().map(i64::to_string).collect::<Vec<_>>().join(","));
    let order = if newest { "DESC" } else { "ASC" };
    let rows = Select::new(
        format!(
            "SELECT {LOG_COLUMNS} FROM json_each(?) k CROSS JOIN logs l ON l.id = k.value \
             LEFT JOIN resources r ON r.tenant_id = l.tenant_id AND r.fingerprint = l.resource_fp \
             ORDER BY l.timestamp_ns {order}, l.id {order}"
        ),
        vec![Bind::Text(ids)],
    )
    .fetch_all(pool)
    .await?;
    let mut resources = ResourceCache::default();
    keyset_page(&rows, q.limit, "timestamp_ns", "id", |r| stored_log_from_row(r, &mut resources)).map(Some)
}
