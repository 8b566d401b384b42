//! Keyset and positional paging over rows sorted in memory.

use otelcontext_ports::{Cursor, Page, StorageError};

/// Sorts `(key, id, item)` rows by key then id (descending when `newest_first`), continues after
/// the cursor and returns one page of `limit` items.
pub(super) fn keyset<T>(
    mut rows: Vec<(i64, i64, T)>,
    descending: bool,
    cursor: Option<Cursor>,
    limit: usize,
) -> Result<Page<T>, StorageError> {
    let after = match cursor {
        None => None,
        Some(Cursor::After { key, id }) => Some((key, id)),
        Some(Cursor::Skip(_)) => return Err(wrong_cursor()),
    };
    rows.sort_by_key(|(k, id, _)| (*k, *id));
    if descending {
        rows.reverse();
    }
    let rows: Vec<(i64, i64, T)> = rows
        .into_iter()
        .filter(|(k, id, _)| match after {
            None => true,
            Some(pos) if descending => (*k, *id) < pos,
            Some(pos) => (*k, *id) > pos,
        })
        .take(limit + 1)
        .collect();
    let page = Page::from_rows(rows, limit, |(key, id, _)| Cursor::After { key: *key, id: *id });
    Ok(page.map(|(_, _, item)| item))
}

/// One page of already ordered items, continuing after `Skip(n)`.
pub(super) fn positional<T>(items: Vec<T>, cursor: Option<Cursor>, limit: usize) -> Result<Page<T>, StorageError> {
    let skip = match cursor {
        None => 0,
        Some(Cursor::Skip(n)) => n as usize,
        Some(Cursor::After { .. }) => return Err(wrong_cursor()),
    };
    let rows: Vec<T> = items.into_iter().skip(skip).take(limit + 1).collect();
    let more = rows.len() > limit;
    let mut page = Page::from_rows(rows, limit, |_| Cursor::Skip(0));
    page.next = more.then_some(Cursor::Skip((skip + limit) as u64));
    Ok(page)
}

/// The error for a cursor made for another order.
pub(super) fn wrong_cursor() -> StorageError {
    StorageError::InvalidArgument("the cursor does not belong to this query's order".into())
}
