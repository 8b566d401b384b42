//! Mapping of sqlx/Postgres errors to the storage port's errors, by SQLSTATE class.

use otelcontext_ports::StorageError;

/// Connection problems, deadlocks, serialization failures, resource exhaustion and shutdowns are
/// transient (`Unavailable`, retried); integrity and data errors are `Rejected`; decode problems
/// `Corrupt`; a missing table or column means the schema is not what this binary expects.
pub fn map_sqlx_error(e: sqlx::Error) -> StorageError {
    match &e {
        sqlx::Error::Database(db) => {
            let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
            match code.get(..2).unwrap_or("") {
                // 08 connection exception, 53 insufficient resources, 57 operator intervention
                // (admin shutdown, cannot connect now), 58 system error (I/O).
                "08" | "53" | "57" | "58" => StorageError::Unavailable(e.to_string()),
                // 55000 "database is not currently accepting connections", 55P03 lock not available.
                "55" => StorageError::Unavailable(e.to_string()),
                // 40001 serialization failure, 40P01 deadlock: the transaction may be retried.
                "40" => StorageError::Unavailable(e.to_string()),
                "23" | "22" => StorageError::Rejected(e.to_string()),
                _ if code == "42P01" || code == "42703" => StorageError::Schema(e.to_string()),
                _ => StorageError::Other(e.to_string()),
            }
        }
        sqlx::Error::Io(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_) => StorageError::Unavailable(e.to_string()),
        sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_) | sqlx::Error::ColumnNotFound(_) => {
            StorageError::Corrupt(e.to_string())
        }
        _ => StorageError::Other(e.to_string()),
    }
}
