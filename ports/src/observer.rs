//! What is told about records after they are committed (the TSDB, the similar-log index and,
//! later, the service graph feed on it), so derived state never runs ahead of storage.

use crate::storage::TenantBatch;

/// Told, after each successful commit, what was stored. Called on the writer's task: it must be
/// quick and must not block (hand heavy work to a queue of its own).
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait CommitObserver: Send + Sync {
    fn committed(&self, batches: &[TenantBatch]);
}
