//! The writer: a dedicated thread owns the single writer connection (rusqlite) and runs jobs
//! (telemetry writes, bucket and template upserts, purges, maintenance) one after another, so
//! writes never wait on SQLite's lock. A second thread checkpoints the WAL beside it, so a
//! checkpoint never stalls a commit.

use otelcontext_ports::StorageError;
use rusqlite::{Connection, OpenFlags};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;
use tokio::sync::oneshot;

/// Maps a rusqlite error like [`crate::map_sqlx_error`] maps sqlx errors.
pub(crate) fn map_err(e: rusqlite::Error) -> StorageError {
    use rusqlite::ErrorCode::*;
    match &e {
        rusqlite::Error::SqliteFailure(f, _) => match f.code {
            DatabaseBusy
            | DatabaseLocked
            | SystemIoFailure
            | DiskFull
            | CannotOpen
            | ReadOnly
            | FileLockingProtocolFailed => StorageError::Unavailable(e.to_string()),
            ConstraintViolation | TooBig => StorageError::Rejected(e.to_string()),
            DatabaseCorrupt | NotADatabase => StorageError::Corrupt(e.to_string()),
            _ => StorageError::Other(e.to_string()),
        },
        _ => StorageError::Other(e.to_string()),
    }
}

/// How durable a commit is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// `synchronous=NORMAL`: a commit survives the process being killed, not a power loss.
    Normal,
    /// `synchronous=FULL`: the WAL is fsync'd at every commit, so a commit survives a power loss.
    Full,
}

impl Durability {
    pub(crate) fn pragma(self) -> &'static str {
        match self {
            Durability::Normal => "NORMAL",
            Durability::Full => "FULL",
        }
    }
}

/// The WAL file is truncated back to this size after a checkpoint resets it (default).
pub const JOURNAL_SIZE_LIMIT_BYTES: u64 = 64 * 1024 * 1024;
/// Beyond this size the checkpointer waits for readers and truncates the WAL (a safety valve:
/// passive checkpoints normally keep it far smaller).
pub const WAL_HARD_LIMIT_BYTES: u64 = 256 * 1024 * 1024;
/// Pause between passive checkpoints.
const CHECKPOINT_INTERVAL: Duration = Duration::from_millis(250);

/// The writer connection and what it knows is already stored.
pub(crate) struct WriterState {
    pub conn: Connection,
    /// Whether the full-text index exists (the writer keeps it in sync).
    pub full_text: bool,
    pub known_resources: HashSet<(Arc<str>, i64)>,
    pub known_tenants: HashSet<Arc<str>>,
}

impl WriterState {
    /// Runs `f` in one transaction that also registers `tenants`; commits when `f` succeeds.
    ///
    /// The transaction takes the write lock when it begins (`BEGIN IMMEDIATE`, waiting up to the
    /// busy timeout). A deferred one whose first statement reads would hold a read snapshot, and
    /// its first write would fail at once with `SQLITE_BUSY` when a checkpoint reset the WAL in
    /// between, without waiting.
    pub fn transaction<T>(
        &mut self,
        tenants: &[Arc<str>],
        f: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<T, StorageError>,
    ) -> Result<T, StorageError> {
        let tx = self.conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).map_err(map_err)?;
        let added = Self::register_tenants(&self.known_tenants, &tx, tenants)?;
        let out = f(&tx)?;
        tx.commit().map_err(map_err)?;
        self.known_tenants.extend(added);
        Ok(out)
    }

    /// Registers tenants not seen before in the `tenants` table (inside the caller's transaction).
    fn register_tenants<'a>(
        known: &HashSet<Arc<str>>,
        tx: &rusqlite::Transaction<'_>,
        tenants: impl IntoIterator<Item = &'a Arc<str>>,
    ) -> Result<Vec<Arc<str>>, StorageError> {
        let mut added = Vec::new();
        let mut stmt = tx.prepare_cached("INSERT OR IGNORE INTO tenants (tenant_id) VALUES (?1)").map_err(map_err)?;
        for t in tenants {
            if !known.contains(t) && !added.contains(t) {
                stmt.execute([&**t]).map_err(map_err)?;
                added.push(t.clone());
            }
        }
        Ok(added)
    }
}

type Job = Box<dyn FnOnce(&mut WriterState) + Send>;

/// Handle to the writer thread and the checkpointer.
pub(crate) struct Writer {
    jobs: parking_lot::Mutex<Option<mpsc::Sender<Job>>>,
    thread: parking_lot::Mutex<Option<std::thread::JoinHandle<()>>>,
    checkpointer: parking_lot::Mutex<Option<(mpsc::Sender<()>, std::thread::JoinHandle<()>)>>,
}

/// Opens a connection with the adapter's pragmas.
fn open_connection(path: &Path, busy_timeout: Duration) -> Result<Connection, StorageError> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| StorageError::Unavailable(format!("cannot open {}: {e}", path.display())))?;
    conn.busy_timeout(busy_timeout).map_err(map_err)?;
    conn.pragma_update(None, "journal_mode", "WAL").map_err(map_err)?;
    Ok(conn)
}

impl Writer {
    /// Opens the writer connection (blocking) and starts the writer and checkpointer threads.
    pub(crate) fn start(
        path: &Path,
        busy_timeout: Duration,
        durability: Durability,
        wal_size_limit: u64,
    ) -> Result<Self, StorageError> {
        let conn = open_connection(path, busy_timeout)?;
        conn.pragma_update(None, "synchronous", durability.pragma()).map_err(map_err)?;
        conn.pragma_update(None, "temp_store", "MEMORY").map_err(map_err)?;
        conn.pragma_update(None, "cache_size", -65_536).map_err(map_err)?;
        // Checkpoints run on their own thread (below), never inside a commit.
        conn.pragma_update(None, "wal_autocheckpoint", 0).map_err(map_err)?;
        conn.pragma_update(None, "journal_size_limit", wal_size_limit as i64).map_err(map_err)?;
        conn.set_prepared_statement_cache_capacity(64);
        let full_text: bool = conn
            .query_row("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'logs_fts'", [], |r| {
                r.get::<_, i64>(0)
            })
            .map(|n| n == 1)
            .map_err(map_err)?;
        if !full_text {
            tracing::warn!("the full-text index logs_fts is missing: log search scans with LIKE");
        }
        let (tx, rx) = mpsc::channel::<Job>();
        let thread = std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || {
                let mut state =
                    WriterState { conn, full_text, known_resources: HashSet::new(), known_tenants: HashSet::new() };
                while let Ok(job) = rx.recv() {
                    job(&mut state);
                }
                // Dropping the connection checkpoints the WAL when it is the last one.
            })
            .map_err(|e| StorageError::Other(format!("cannot start the writer thread: {e}")))?;
        let hard_limit = WAL_HARD_LIMIT_BYTES.max(wal_size_limit.saturating_mul(4));
        let checkpointer = start_checkpointer(path.to_owned(), open_connection(path, busy_timeout)?, hard_limit)?;
        Ok(Self {
            jobs: parking_lot::Mutex::new(Some(tx)),
            thread: parking_lot::Mutex::new(Some(thread)),
            checkpointer: parking_lot::Mutex::new(Some(checkpointer)),
        })
    }

    /// Runs `f` on the writer thread and waits for its result. A panic in `f` fails this job
    /// (an open transaction rolls back when dropped) instead of killing the thread.
    pub(crate) async fn run<T, F>(&self, f: F) -> Result<T, StorageError>
    where
        T: Send + 'static,
        F: FnOnce(&mut WriterState) -> Result<T, StorageError> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job: Job = Box::new(move |state| {
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(state)))
                .unwrap_or_else(|_| Err(StorageError::Other("the SQLite writer panicked".into())));
            let _ = reply.send(result);
        });
        {
            let jobs = self.jobs.lock();
            let sender = jobs.as_ref().ok_or_else(|| StorageError::Unavailable("storage is closed".into()))?;
            sender.send(job).map_err(|_| StorageError::Unavailable("the writer thread stopped".into()))?;
        }
        answer.await.map_err(|_| StorageError::Unavailable("the writer thread stopped".into()))?
    }

    /// Stops both threads after the jobs already sent, and waits for them.
    pub(crate) async fn close(&self) {
        self.jobs.lock().take();
        let thread = self.thread.lock().take();
        let checkpointer = self.checkpointer.lock().take();
        let _ = tokio::task::spawn_blocking(move || {
            if let Some((stop, t)) = checkpointer {
                drop(stop);
                let _ = t.join();
            }
            if let Some(t) = thread {
                let _ = t.join();
            }
        })
        .await;
    }
}

/// Size of the `-wal` file beside the database.
pub(crate) fn wal_size(path: &Path) -> u64 {
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    std::fs::metadata(PathBuf::from(wal)).map(|m| m.len()).unwrap_or(0)
}

/// Checkpoints passively every [`CHECKPOINT_INTERVAL`] until the stop channel closes; truncates
/// when the WAL outgrows `hard_limit`.
fn start_checkpointer(
    path: PathBuf,
    conn: Connection,
    hard_limit: u64,
) -> Result<(mpsc::Sender<()>, std::thread::JoinHandle<()>), StorageError> {
    let (stop, stopped) = mpsc::channel::<()>();
    let handle = std::thread::Builder::new()
        .name("sqlite-checkpoint".into())
        .spawn(move || {
            while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(CHECKPOINT_INTERVAL) {
                let mode = if wal_size(&path) > hard_limit { "TRUNCATE" } else { "PASSIVE" };
                if let Err(e) = conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |_| Ok(())) {
                    tracing::warn!(error = %e, mode, "WAL checkpoint failed");
                }
            }
        })
        .map_err(|e| StorageError::Other(format!("cannot start the checkpoint thread: {e}")))?;
    Ok((stop, handle))
}
