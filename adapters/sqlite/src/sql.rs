//! Builds the dynamic part of read queries: optional conditions with their binds, attribute
//! filters, keyset pagination and ordering. The SQL text only ever contains fixed fragments;
//! every value is a bind.

use crate::error::map_sqlx_error;
use otelcontext_ports::{AttributeFilter, Cursor, StorageError};
use sqlx::sqlite::{SqliteArguments, SqliteRow};
use sqlx::{AssertSqlSafe, Sqlite, SqlitePool};

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
}

/// The text of a JSON value as attribute filters compare it (strings bare, booleans as
/// `true`/`false`, numbers in decimal, arrays and objects as JSON), for a `json_each` row `j`.
const JSON_VALUE_TEXT: &str =
    "(CASE j.type WHEN 'true' THEN 'true' WHEN 'false' THEN 'false' ELSE CAST(j.value AS TEXT) END)";

impl Select {
    /// Starts from a fixed `SELECT … WHERE <first condition>` text and its binds.
    pub(crate) fn new(base: impl Into<String>, binds: Vec<Bind>) -> Self {
        Self { sql: base.into(), binds }
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

    /// Every attribute filter must hold for the JSON object in `column`.
    pub(crate) fn attributes(&mut self, column: &str, filters: &[AttributeFilter]) -> &mut Self {
        for f in filters {
            let cond =
                format!("EXISTS (SELECT 1 FROM json_each({column}) j WHERE j.key = ? AND {JSON_VALUE_TEXT} = ?)");
            self.and(&cond, [Bind::Text(f.key.clone()), Bind::Text(f.value.clone())]);
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
                self.and(
                    &format!("({key} {op} ? OR ({key} = ? AND {id} {op} ?))"),
                    [Bind::Int(k), Bind::Int(k), Bind::Int(i)],
                );
            }
            Some(Cursor::Skip(_)) => return Err(wrong_cursor()),
        }
        let dir = if descending { "DESC" } else { "ASC" };
        self.sql.push_str(&format!(" ORDER BY {key} {dir}, {id} {dir}"));
        Ok(self)
    }

    /// The SQL text and binds, to nest as a condition of another select.
    pub(crate) fn into_parts(self) -> (String, Vec<Bind>) {
        (self.sql, self.binds)
    }

    /// Appends a fixed tail (ORDER BY …).
    pub(crate) fn tail(&mut self, text: &str) -> &mut Self {
        self.sql.push_str(text);
        self
    }

    /// Fetches every row (for aggregates, whose row count the query itself bounds).
    pub(crate) async fn fetch_all(&self, pool: &SqlitePool) -> Result<Vec<SqliteRow>, StorageError> {
        let sql = self.sql.clone();
        let mut q = sqlx::query(AssertSqlSafe(sql));
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
    pub(crate) async fn fetch(
        &self,
        pool: &SqlitePool,
        limit: usize,
        offset: u64,
    ) -> Result<Vec<SqliteRow>, StorageError> {
        let sql = format!("{} LIMIT ? OFFSET ?", self.sql);
        let mut q: sqlx::query::Query<'_, Sqlite, SqliteArguments> = sqlx::query(AssertSqlSafe(sql));
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

/// The error for a cursor made for another order.
pub(crate) fn wrong_cursor() -> StorageError {
    StorageError::InvalidArgument("the cursor does not belong to this query's order".into())
}
