//! Builds the dynamic part of read queries: optional conditions with their binds, attribute
//! filters, keyset pagination and ordering. Fragments are written with `?`, numbered `$1…` when
//! the query runs; the SQL text only ever contains fixed fragments, every value is a bind.

use crate::error::map_sqlx_error;
use otelcontext_ports::{AttributeFilter, Cursor, StorageError};
use sqlx::postgres::{PgArguments, PgRow};
use sqlx::{AssertSqlSafe, PgPool, Postgres};

/// A bound value.
#[derive(Debug, Clone)]
pub(crate) enum Bind {
    Text(String),
    Int(i64),
}

/// A SELECT under construction.
pub(crate) struct Select {
    sql: String,
    binds: Vec<Bind>,
    /// Planned for its values each time (an unnamed statement), not with a cached generic plan.
    one_off: bool,
}

impl Select {
    /// Starts from a fixed `SELECT … WHERE <first condition>` text and its binds.
    pub(crate) fn new(base: impl Into<String>, binds: Vec<Bind>) -> Self {
        Self { sql: base.into(), binds, one_off: false }
    }

    /// Has the server plan the query for its bound values on every run: for queries whose
    /// best plan depends on them (a narrow time window or a wide one), where a cached generic
    /// plan would pick one plan for all.
    pub(crate) fn planned_per_run(&mut self) -> &mut Self {
        self.one_off = true;
        self
    }

    /// Appends ` AND <cond>` with one bind per `?` in it.
    pub(crate) fn and(&mut self, cond: &str, binds: impl IntoIterator<Item = Bind>) -> &mut Self {
        self.sql.push_str(" AND ");
        self.sql.push_str(cond);
        self.binds.extend(binds);
        self
    }

    /// `and` with one text bind, when present.
    pub(crate) fn and_text(&mut self, cond: &str, v: Option<&str>) -> &mut Self {
        if let Some(v) = v {
            self.and(cond, [Bind::Text(v.to_owned())]);
        }
        self
    }

    /// `and` with one integer bind, when present.
    pub(crate) fn and_int(&mut self, cond: &str, v: Option<i64>) -> &mut Self {
        if let Some(v) = v {
            self.and(cond, [Bind::Int(v)]);
        }
        self
    }

    /// Every attribute filter must hold for the JSON object in `column` (a text column holding
    /// JSON; `->>` renders strings bare, numbers in decimal, booleans as true/false).
    pub(crate) fn attributes(&mut self, column: &str, filters: &[AttributeFilter]) -> &mut Self {
        for f in filters {
            self.and(&format!("({column}::jsonb ->> ?) = ?"), [Bind::Text(f.key.clone()), Bind::Text(f.value.clone())]);
        }
        self
    }

    /// Continues after the cursor in (key, id) order and orders by it; a `Skip` cursor is an
    /// error here.
    pub(crate) fn keyset(
        &mut self,
        key: &str,
        id: &str,
        descending: bool,
        cursor: Option<Cursor>,
    ) -> Result<&mut Self, StorageError> {
        match cursor {
            None => {}
            Some(Cursor::After { key: k, id: i }) => {
                let op = if descending { "<" } else { ">" };
                self.and(&format!("({key}, {id}) {op} (?, ?)"), [Bind::Int(k), Bind::Int(i)]);
            }
            Some(Cursor::Skip(_)) => return Err(wrong_cursor()),
        }
        let dir = if descending { "DESC" } else { "ASC" };
        self.sql.push_str(&format!(" ORDER BY {key} {dir}, {id} {dir}"));
        Ok(self)
    }

    /// Appends a fixed tail.
    pub(crate) fn tail(&mut self, text: &str) -> &mut Self {
        self.sql.push_str(text);
        self
    }

    /// Appends one placeholder (inside a tail such as ORDER BY) and its bind.
    pub(crate) fn and_bind_tail(&mut self, bind: Bind) -> &mut Self {
        self.sql.push('?');
        self.binds.push(bind);
        self
    }

    /// The SQL text and binds, to nest as a condition of another select.
    pub(crate) fn into_parts(self) -> (String, Vec<Bind>) {
        (self.sql, self.binds)
    }

    /// Fetches every row (for aggregates, whose row count the query itself bounds).
    pub(crate) async fn fetch_all(&self, pool: &PgPool) -> Result<Vec<PgRow>, StorageError> {
        let sql = self.sql.clone();
        let mut q = sqlx::query(AssertSqlSafe(numbered(&sql))).persistent(!self.one_off);
        for b in &self.binds {
            q = match b {
                Bind::Text(s) => q.bind(s.clone()),
                Bind::Int(i) => q.bind(*i),
            };
        }
        q.fetch_all(pool).await.map_err(map_sqlx_error)
    }

    /// Fetches up to `limit + 1` rows (the extra one tells whether another page follows),
    /// skipping `offset`.
    pub(crate) async fn fetch(&self, pool: &PgPool, limit: usize, offset: u64) -> Result<Vec<PgRow>, StorageError> {
        let sql = numbered(&format!("{} LIMIT ? OFFSET ?", self.sql));
        let mut q: sqlx::query::Query<'_, Postgres, PgArguments> =
            sqlx::query(AssertSqlSafe(sql)).persistent(!self.one_off);
        for b in &self.binds {
            q = match b {
                Bind::Text(s) => q.bind(s.clone()),
                Bind::Int(i) => q.bind(*i),
            };
        }
        let limit = i64::try_from(limit).unwrap_or(i64::MAX - 1).saturating_add(1);
        q.bind(limit).bind(i64::try_from(offset).unwrap_or(i64::MAX)).fetch_all(pool).await.map_err(map_sqlx_error)
    }
}

/// Replaces each `?` with `$1`, `$2`, … in order (fragments contain no `?` otherwise).
fn numbered(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 16);
    let mut n = 0;
    for c in sql.chars() {
        if c == '?' {
            n += 1;
            out.push('$');
            out.push_str(&n.to_string());
        } else {
            out.push(c);
        }
    }
    out
}

/// The error for a cursor made for another order.
pub(crate) fn wrong_cursor() -> StorageError {
    StorageError::InvalidArgument("the cursor does not belong to this query's order".into())
}

/// Quotes an identifier (a partition name), doubling embedded quotes.
pub(crate) fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_in_order() {
        assert_eq!(numbered("a = ? AND (b, c) < (?, ?) LIMIT ?"), "a = $1 AND (b, c) < ($2, $3) LIMIT $4");
    }

    #[test]
    fn identifiers_are_quoted() {
        assert_eq!(quote_ident("logs_2025_11_24"), "\"logs_2025_11_24\"");
        assert_eq!(quote_ident("we\"ird"), "\"we\"\"ird\"");
    }
}
