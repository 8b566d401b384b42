//! Schema migrations (embedded in the binary) and the schema version check.

use crate::error::map_sqlx_error;
use otelcontext_ports::StorageError;
use sqlx::SqlSafeStr;
use sqlx::SqlitePool;
use sqlx::migrate::{Migration, MigrationType, Migrator};

/// The schema version this binary reads and writes.
pub const SCHEMA_VERSION: i64 = 6;

const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "initial", include_str!("../../../migrations/sqlite/0001_initial.sql")),
    (2, "full schema", include_str!("../../../migrations/sqlite/0002_full_schema.sql")),
    (3, "log patterns", include_str!("../../../migrations/sqlite/0003_log_patterns.sql")),
    (4, "catalog", include_str!("../../../migrations/sqlite/0004_catalog.sql")),
    (5, "trace key", include_str!("../../../migrations/sqlite/0005_trace_key.sql")),
    (6, "rollups", include_str!("../../../migrations/sqlite/0006_rollups.sql")),
];

/// The embedded migrations of `migrations/sqlite/`.
pub fn migrator() -> Migrator {
    migrator_up_to(SCHEMA_VERSION)
}

/// The embedded migrations up to and including `version` (tests build old databases with it).
pub(crate) fn migrator_up_to(version: i64) -> Migrator {
    let migrations = MIGRATIONS
        .iter()
        .filter(|(v, _, _)| *v <= version)
        .map(|(version, name, sql)| {
            Migration::new(*version, (*name).into(), MigrationType::Simple, (*sql).into_sql_str(), false)
        })
        .collect();
    Migrator::with_migrations(migrations)
}

/// Applies pending migrations (`automigrate`) or checks that the schema is current.
pub(crate) async fn prepare(pool: &SqlitePool, automigrate: bool) -> Result<(), StorageError> {
    if automigrate {
        return migrator().run(pool).await.map_err(|e| StorageError::Schema(format!("migration failed: {e}")));
    }
    match applied_version(pool).await? {
        Some(v) if v == SCHEMA_VERSION => Ok(()),
        Some(v) => Err(StorageError::Schema(format!(
            "database schema is version {v}, this binary needs version {SCHEMA_VERSION}; run `otelcontext migrate` or set DB_AUTOMIGRATE=true"
        ))),
        None => Err(StorageError::Schema(format!(
            "database has no otelcontext schema and DB_AUTOMIGRATE=false; run `otelcontext migrate` or set DB_AUTOMIGRATE=true (needs version {SCHEMA_VERSION})"
        ))),
    }
}

/// The highest migration applied, `None` on a database without the otelcontext schema.
pub(crate) async fn applied_version(pool: &SqlitePool) -> Result<Option<i64>, StorageError> {
    let exists: i64 =
        sqlx::query_scalar("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'")
            .fetch_one(pool)
            .await
            .map_err(map_sqlx_error)?;
    if exists == 0 {
        return Ok(None);
    }
    sqlx::query_scalar("SELECT max(version) FROM _sqlx_migrations WHERE success")
        .fetch_one(pool)
        .await
        .map_err(map_sqlx_error)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{SqliteConfig, SqliteStorage};

    #[tokio::test]
    async fn without_automigrate_an_empty_database_is_refused_with_advice() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = SqliteConfig { automigrate: false, ..SqliteConfig::new(dir.path().join("o.db")) };
        let err = SqliteStorage::open(&cfg).await.err().expect("refused");
        assert!(matches!(&err, StorageError::Schema(m) if m.contains("DB_AUTOMIGRATE")), "{err}");
    }

    #[tokio::test]
    async fn without_automigrate_a_current_database_opens() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("o.db");
        SqliteStorage::open(&SqliteConfig::new(&path)).await.unwrap();
        SqliteStorage::open(&SqliteConfig { automigrate: false, ..SqliteConfig::new(&path) }).await.unwrap();
    }

    #[tokio::test]
    async fn migrating_twice_is_harmless() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("o.db");
        SqliteStorage::open(&SqliteConfig::new(&path)).await.unwrap();
        SqliteStorage::open(&SqliteConfig::new(&path)).await.unwrap();
    }
}
