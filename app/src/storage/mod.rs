//! Storage composition: the adapter `DB_DRIVER` names, wrapped in the retrying and instrumented
//! decorators; and the backend-neutral `migrate` command.

mod decorate;
mod instrumented;
mod retrying;

pub use decorate::OperationKind;
pub use instrumented::Instrumented;
pub use retrying::{RetryPolicy, Retrying};

use crate::config::{Config, DbDriver};
use anyhow::Context;
use otelcontext_ports::Storage;
use otelcontext_sqlite::{Durability, SqliteConfig, SqliteStorage};
use otelcontext_telemetry::Metrics;
use std::sync::Arc;

/// The SQLite settings of a configuration.
pub fn sqlite_config(config: &Config) -> anyhow::Result<SqliteConfig> {
    let mut sqlite = SqliteConfig::from_dsn(&config.db_dsn).map_err(anyhow::Error::msg)?;
    sqlite.automigrate = config.db_automigrate;
    // Durable acknowledgement promises the data survives a power loss, not only a crash.
    sqlite.durability = if config.ingest_async { Durability::Normal } else { Durability::Full };
    Ok(sqlite)
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
        DbDriver::Postgres => anyhow::bail!("the PostgreSQL adapter is not part of this build"),
    }
}

/// Wraps any storage in the decorators every call goes through: retries of transient failures
/// outside, timing of each attempt inside.
pub fn decorate(storage: Arc<dyn Storage>, metrics: Arc<Metrics>, retry: RetryPolicy) -> Arc<dyn Storage> {
    let instrumented: Arc<dyn Storage> = Arc::new(Instrumented::new(storage, metrics.clone()));
    Arc::new(Retrying::new(instrumented, retry, metrics))
}

/// Applies pending migrations on the configured database; returns the schema version.
pub async fn migrate(config: &Config) -> anyhow::Result<i64> {
    match config.db_driver {
        DbDriver::Sqlite => {
            let sqlite = sqlite_config(config)?;
            SqliteStorage::migrate(&sqlite).await.with_context(|| format!("migrating {}", sqlite.path.display()))
        }
        DbDriver::Postgres => anyhow::bail!("the PostgreSQL adapter is not part of this build"),
    }
}
