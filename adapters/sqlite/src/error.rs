//! Mapping of sqlx errors to the storage port's errors.

use otelcontext_ports::StorageError;

/// Maps a sqlx error: lock/busy/IO/pool problems are transient (`Unavailable`), constraint
/// violations are `Rejected`, decode problems `Corrupt`.
pub fn map_sqlx_error(e: sqlx::Error) -> StorageError {
    match &e {
        sqlx::Error::Database(db) => {
            let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
            // SQLITE_BUSY (5), SQLITE_LOCKED (6), SQLITE_IOERR (10 + extended), SQLITE_FULL (13),
            // SQLITE_CANTOPEN (14), SQLITE_READONLY (8)
            let primary = code.parse::<i64>().map(|c| c & 0xff).unwrap_or(-1);
            match primary {
                5 | 6 | 8 | 10 | 13 | 14 => StorageError::Unavailable(e.to_string()),
                19 => StorageError::Rejected(e.to_string()),
                _ => StorageError::Other(e.to_string()),
            }
        }
        sqlx::Error::Io(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Tls(_) => StorageError::Unavailable(e.to_string()),
        sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_) | sqlx::Error::ColumnNotFound(_) => {
            StorageError::Corrupt(e.to_string())
        }
        _ => StorageError::Other(e.to_string()),
    }
}
