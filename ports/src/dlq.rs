//! The dead-letter queue: batches the pipeline accepted but could not store, kept on durable
//! media until a replay stores them. The adapter keeps files and their retry counts; when to
//! replay, and what to count, is the core's business.

use crate::storage::TenantBatch;
use async_trait::async_trait;

/// Failures of the dead-letter queue.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DlqError {
    /// The medium refused the operation (disk full, permissions, I/O error).
    #[error("dead-letter queue I/O error: {0}")]
    Io(String),
    /// A stored batch cannot be read back (truncated, altered, unknown format version).
    #[error("dead-letter batch is corrupt: {0}")]
    Corrupt(String),
    /// No batch has this id (already replayed, evicted or quarantined).
    #[error("no dead-letter batch {0}")]
    NotFound(String),
}

/// One stored batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    /// Opaque id, ordered like the batches' ages (oldest first).
    pub id: String,
    /// Failed replays so far (kept across restarts).
    pub failures: u32,
    /// When the batch was stored, or last failed to replay (unix ns).
    pub last_attempt_ns: i64,
    /// Bytes it takes on the medium.
    pub bytes: u64,
}

/// What an enqueue did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Enqueued {
    pub id: String,
    pub bytes: u64,
    /// Oldest batches removed to stay under the caps.
    pub evicted_files: u64,
    pub evicted_bytes: u64,
}

/// How full the queue is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DlqStats {
    pub files: u64,
    pub bytes: u64,
    /// The caps (0 = unlimited).
    pub max_files: u64,
    pub max_bytes: u64,
}

impl DlqStats {
    /// The larger of the file and byte fill, 0..1 (0 when unlimited).
    pub fn fullness(&self) -> f64 {
        let part = |n: u64, max: u64| if max == 0 { 0.0 } else { n as f64 / max as f64 };
        part(self.files, self.max_files).max(part(self.bytes, self.max_bytes))
    }
}

/// A durable queue of batches that failed to store.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait DeadLetterQueue: Send + Sync {
    /// Stores batches durably (the call returns once they are on the medium), evicting the
    /// oldest batches first when the caps require it.
    async fn enqueue(&self, batches: &[TenantBatch], now_ns: i64) -> Result<Enqueued, DlqError>;
    /// Every stored batch, oldest first.
    async fn list(&self) -> Result<Vec<DeadLetter>, DlqError>;
    /// The batches stored under `id`.
    async fn load(&self, id: &str) -> Result<Vec<TenantBatch>, DlqError>;
    /// Deletes a batch (replayed, or given up).
    async fn remove(&self, id: &str) -> Result<(), DlqError>;
    /// Records one more failed replay at `now_ns`; returns the batch as it is now.
    async fn record_failure(&self, id: &str, now_ns: i64) -> Result<DeadLetter, DlqError>;
    /// Moves a batch that cannot be read out of the queue, for an operator to inspect.
    async fn quarantine(&self, id: &str, reason: &str) -> Result<(), DlqError>;
    /// Current fill (from memory; cheap).
    fn stats(&self) -> DlqStats;
}
