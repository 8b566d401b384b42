//! Schema migrations (embedded), the partitioning guard, pg_trgm, and the version check.

use crate::error::map_sqlx_error;
use otelcontext_ports::StorageError;
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::{PgPool, SqlSafeStr};

/// The schema version this binary reads and writes.
pub const SCHEMA_VERSION: i64 = 4;

const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "initial", include_str!("../../../migrations/postgres/0001_initial.sql")),
    (2, "log patterns", include_str!("../../../migrations/postgres/0002_log_patterns.sql")),
    (3, "catalog", include_str!("../../../migrations/postgres/0003_catalog.sql")),
    (4, "rollups", include_str!("../../../migrations/postgres/0004_rollups.sql")),
];

/// The embedded migrations of `migrations/postgres/`.
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

/// What the database turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SchemaFacts {
    pub partitioned: bool,
    pub trigram: bool,
}

/// The kind of the `logs` relation in the current schema (`r` table, `p` partitioned, …).
async fn logs_relkind(pool: &PgPool) -> Result<Option<String>, StorageError> {
    sqlx::query_scalar::<_, String>(
        "SELECT c.relkind::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = current_schema() AND c.relname = 'logs'",
    )
    .fetch_optional(pool)
    .await
    .map_err(map_sqlx_error)
}

/// Refuses a `logs` table whose shape does not match `DB_POSTGRES_PARTITIONING`.
async fn check_partitioning(pool: &PgPool, daily: bool) -> Result<(), StorageError> {
    match (logs_relkind(pool).await?.as_deref(), daily) {
        (None, _) | (Some("p"), true) | (Some("r"), false) => Ok(()),
        (Some("r"), true) => Err(StorageError::Schema(
            "DB_POSTGRES_PARTITIONING=daily: the logs table already exists as a non-partitioned table, and daily \
             partitioning is greenfield-only (converting means copying every row); drop or rename logs, or unset \
             DB_POSTGRES_PARTITIONING"
                .into(),
        )),
        (Some("p"), false) => Err(StorageError::Schema(
            "logs is partitioned by day (it was created with DB_POSTGRES_PARTITIONING=daily); set \
             DB_POSTGRES_PARTITIONING=daily again, or new days would land in the default partition and expired \
             partitions would never be dropped"
                .into(),
        )),
        (Some(other), _) => Err(StorageError::Schema(format!(
            "a relation named logs of kind {other:?} (not a table) is in the way of the otelcontext schema"
        ))),
    }
}

/// The highest migration applied, `None` on a database without the otelcontext schema.
pub(crate) async fn applied_version(pool: &PgPool) -> Result<Option<i64>, StorageError> {
    let exists: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = current_schema() AND c.relname = '_sqlx_migrations')",
    )
    .fetch_one(pool)
    .await
    .map_err(map_sqlx_error)?;
    if !exists {
        return Ok(None);
    }
    sqlx::query_scalar("SELECT max(version) FROM _sqlx_migrations WHERE success")
        .fetch_one(pool)
        .await
        .map_err(map_sqlx_error)
}

async fn trigram_installed(pool: &PgPool) -> Result<bool, StorageError> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm')")
        .fetch_one(pool)
        .await
        .map_err(map_sqlx_error)
}

/// Installs pg_trgm and the trigram indexes on logs; without the extension (not installed, or
/// no privilege) warns and leaves search to sequential ILIKE scans.
async fn ensure_trigram(pool: &PgPool) -> Result<bool, StorageError> {
    if !trigram_installed(pool).await?
        && let Err(e) = sqlx::query("CREATE EXTENSION IF NOT EXISTS pg_trgm").execute(pool).await
        // Another server may have created it at the same moment; check again.
        && !trigram_installed(pool).await?
    {
        tracing::warn!(
            error = %e,
            "pg_trgm is not available: log search falls back to sequential ILIKE scans; install it with CREATE EXTENSION pg_trgm"
        );
        return Ok(false);
    }
    for sql in [
        "CREATE INDEX IF NOT EXISTS logs_body_trgm ON logs USING gin (body gin_trgm_ops)",
        "CREATE INDEX IF NOT EXISTS logs_service_trgm ON logs USING gin (service_name gin_trgm_ops)",
    ] {
        sqlx::query(sql).execute(pool).await.map_err(map_sqlx_error)?;
    }
    Ok(true)
}

/// Whether the trigram indexes exist on logs.
async fn trigram_indexed(pool: &PgPool) -> Result<bool, StorageError> {
    let n: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_indexes WHERE schemaname = current_schema() AND tablename = 'logs' \
         AND indexname IN ('logs_body_trgm', 'logs_service_trgm')",
    )
    .fetch_one(pool)
    .await
    .map_err(map_sqlx_error)?;
    Ok(n == 2)
}

/// Applies pending migrations (`automigrate`) or checks that the schema is current, after
/// checking that the logs table has the shape the partitioning setting asks for.
pub(crate) async fn prepare(pool: &PgPool, automigrate: bool, daily: bool) -> Result<SchemaFacts, StorageError> {
    check_partitioning(pool, daily).await?;
    if automigrate {
        migrator().run(pool).await.map_err(|e| StorageError::Schema(format!("migration failed: {e}")))?;
        let trigram = ensure_trigram(pool).await?;
        return Ok(SchemaFacts { partitioned: daily, trigram });
    }
    match applied_version(pool).await? {
        Some(v) if v == SCHEMA_VERSION => {
            let trigram = trigram_indexed(pool).await?;
            if !trigram {
                tracing::warn!("the pg_trgm indexes on logs are missing: log search scans; run `otelcontext migrate`");
            }
            Ok(SchemaFacts { partitioned: daily, trigram })
        }
        Some(v) => Err(StorageError::Schema(format!(
            "database schema is version {v}, this binary needs version {SCHEMA_VERSION}; run `otelcontext migrate` or set DB_AUTOMIGRATE=true"
        ))),
        None => Err(StorageError::Schema(format!(
            "database has no otelcontext schema and DB_AUTOMIGRATE=false; run `otelcontext migrate` or set DB_AUTOMIGRATE=true (needs version {SCHEMA_VERSION})"
        ))),
    }
}
