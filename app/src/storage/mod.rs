//! Storage composition: the adapter `DB_DRIVER` names, wrapped in the retrying and instrumented
//! decorators; and the backend-neutral `migrate` command.

pub mod decorate;
mod instrumented;
mod retrying;

pub use decorate::OperationKind;
pub use instrumented::Instrumented;
pub use retrying::{RetryPolicy, Retrying};

use crate::config::{Config, DbDriver, Partitioning};
use anyhow::Context;
use otelcontext_ports::{Storage, TokenSource};
use otelcontext_postgres::{AzureTokenSource, PostgresConfig, PostgresStorage};
use otelcontext_sqlite::{Durability, SqliteConfig, SqliteStorage};
use otelcontext_telemetry::Meter;
use std::sync::Arc;

/// The SQLite settings of a configuration.
pub fn sqlite_config(config: &Config) -> anyhow::Result<SqliteConfig> {
    let mut sqlite = SqliteConfig::from_dsn(&config.db_dsn).map_err(anyhow::Error::msg)?;
    sqlite.automigrate = config.db_automigrate;
    // Durable acknowledgement promises the data survives a power loss, not only a crash.
    sqlite.durability = if config.ingest_async { Durability::Normal } else { Durability::Full };
    Ok(sqlite)
}

/// The PostgreSQL settings of a configuration (with the Azure credential chain when
/// `DB_AZURE_AUTH=true`).
pub fn postgres_config(config: &Config) -> anyhow::Result<PostgresConfig> {
    let token_source: Option<Arc<dyn TokenSource>> = if config.db_azure_auth {
        Some(Arc::new(AzureTokenSource::new(&config.azure).map_err(anyhow::Error::msg)?))
    } else {
        None
    };
    Ok(PostgresConfig {
        dsn: config.db_dsn.clone(),
        automigrate: config.db_automigrate,
        max_open: config.db_max_open_conns,
        max_idle: config.db_max_idle_conns,
        max_lifetime: config.db_conn_max_lifetime,
        daily_partitions: config.db_postgres_partitioning == Partitioning::Daily,
        token_source,
        ..PostgresConfig::new(config.db_dsn.clone())
    })
}

/// Opens the adapter `DB_DRIVER` names (migrating or checking the schema as configured).
pub async fn open_adapter(config: &Config) -> anyhow::Result<Arc<dyn Storage>> {
    match config.db_driver {
        DbDriver::Sqlite => {
            let sqlite = sqlite_config(config)?;
            let storage = SqliteStorage::open(&sqlite)
                .await
                .with_context(|| format!("opening SQLite database {}", sqlite.path.display()))?;
            Ok(Arc::new(storage))
        }
        DbDriver::Postgres => {
            let pg = postgres_config(config)?;
            let storage = PostgresStorage::open(&pg).await.with_context(|| {
                format!("opening PostgreSQL database {}", otelcontext_postgres::redact_dsn(&pg.dsn))
            })?;
            Ok(Arc::new(storage))
        }
    }
}

/// Wraps any storage in the decorators every call goes through: retries of transient failures
/// outside, timing of each attempt inside.
pub fn decorate(storage: Arc<dyn Storage>, meter: &Meter, retry: RetryPolicy) -> Arc<dyn Storage> {
    let instrumented: Arc<dyn Storage> = Arc::new(Instrumented::new(storage, meter));
    Arc::new(Retrying::new(instrumented, retry, meter))
}

/// Applies pending migrations on the configured database; returns the schema version.
pub async fn migrate(config: &Config) -> anyhow::Result<i64> {
    match config.db_driver {
        DbDriver::Sqlite => {
            let sqlite = sqlite_config(config)?;
            SqliteStorage::migrate(&sqlite).await.with_context(|| format!("migrating {}", sqlite.path.display()))
        }
        DbDriver::Postgres => {
            let pg = postgres_config(config)?;
            PostgresStorage::migrate(&pg)
                .await
                .with_context(|| format!("migrating {}", otelcontext_postgres::redact_dsn(&pg.dsn)))
        }
    }
}
