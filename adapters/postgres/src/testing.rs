//! Test support: a fresh schema in the test database named by `OTELCONTEXT_TEST_POSTGRES_URL`,
//! so tests run in parallel without seeing each other; dropped when the guard is dropped.

use crate::PostgresConfig;
use sqlx::Connection;
use std::sync::atomic::{AtomicU64, Ordering};

/// The variable naming the test database.
pub const TEST_URL_VAR: &str = "OTELCONTEXT_TEST_POSTGRES_URL";

/// The test database URL, or `None` after printing why the test is skipped.
pub fn test_url() -> Option<String> {
    match std::env::var(TEST_URL_VAR) {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ => {
            eprintln!(
                "skipped: {TEST_URL_VAR} is unset (set it to a PostgreSQL URL, as .ci/run does, to run this test)"
            );
            None
        }
    }
}

/// A schema of its own in the test database.
pub struct TestSchema {
    pub name: String,
    url: String,
}

static NEXT: AtomicU64 = AtomicU64::new(0);

/// `url` with `options=-c search_path=…` appended.
pub fn with_search_path(url: &str, path: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}options=-c%20search_path%3D{}", path.replace(',', "%2C"))
}

impl TestSchema {
    /// Creates `t_<label>_<pid>_<n>` (and pg_trgm in `public`, once per database); `None` when
    /// the test database is not configured.
    pub async fn create(label: &str) -> Option<Self> {
        let url = test_url()?;
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let label: String = label.chars().filter(|c| c.is_ascii_alphanumeric()).take(20).collect();
        let name = format!("t_{}_{}_{n}", label.to_ascii_lowercase(), std::process::id());
        let mut conn = sqlx::PgConnection::connect(&url).await.expect("test database reachable");
        if let Err(e) = sqlx::query("CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public").execute(&mut conn).await {
            // Another test created it at the same moment.
            eprintln!("pg_trgm: {e}");
        }
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {name}")))
            .execute(&mut conn)
            .await
            .expect("schema created");
        let _ = conn.close().await;
        Some(Self { name, url })
    }

    /// The DSN of the schema (its tables first on the search path, then `public`).
    pub fn dsn(&self) -> String {
        with_search_path(&self.url, &format!("{},public", self.name))
    }

    /// Adapter settings for the schema with a small pool.
    pub fn config(&self) -> PostgresConfig {
        PostgresConfig { max_open: 4, max_idle: 0, ..PostgresConfig::new(self.dsn()) }
    }

    /// The URL of the test database itself.
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for TestSchema {
    fn drop(&mut self) {
        let (url, name) = (self.url.clone(), self.name.clone());
        // Dropped from a plain thread: Drop may run inside or outside a runtime.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            rt.block_on(async move {
                if let Ok(mut conn) = sqlx::PgConnection::connect(&url).await {
                    let _ = sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA IF EXISTS {name} CASCADE")))
                        .execute(&mut conn)
                        .await;
                    let _ = conn.close().await;
                }
            });
        })
        .join();
    }
}
