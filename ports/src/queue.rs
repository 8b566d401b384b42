//! The bounded ingest queue between the receivers and the storage writers.

use crate::ingest::Signal;
use crate::storage::TenantBatch;
use async_trait::async_trait;
use otelcontext_domain::admission::BatchClass;

/// Called once with the result of committing a queued item (durable acknowledgement).
pub type CommitNotifier = Box<dyn FnOnce(Result<(), String>) + Send>;

/// One accepted export, waiting to be written.
pub struct QueueItem {
    pub signal: Signal,
    pub batches: Vec<TenantBatch>,
    /// Records in `batches` (spans + logs + points): what the queue capacity counts.
    pub items: usize,
    pub class: BatchClass,
    /// Present in durable mode: told when the item is committed or failed.
    pub on_commit: Option<CommitNotifier>,
}

impl std::fmt::Debug for QueueItem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueueItem")
            .field("signal", &self.signal)
            .field("items", &self.items)
            .field("class", &self.class)
            .field("durable", &self.on_commit.is_some())
            .finish()
    }
}

/// What happened to a submitted item.
#[derive(Debug)]
pub enum SubmitOutcome {
    Accepted,
    /// Shed under back-pressure (healthy data at the soft threshold); the item is returned.
    SoftDropped(QueueItem),
    /// No room; the item is returned and the client must retry.
    Full(QueueItem),
    /// The queue is closed (shutting down); the item is returned.
    Closed(QueueItem),
}

/// Bounded multi-producer, multi-consumer queue sized in items. Capacity covers every accepted
/// item until it is committed: items taken by [`IngestQueue::next_group`] keep their place until
/// the consumer calls [`IngestQueue::complete`], so the capacity bounds the memory held by
/// accepted, uncommitted data.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait IngestQueue: Send + Sync {
    /// Submits without waiting, applying the admission policy.
    fn try_submit(&self, item: QueueItem) -> SubmitOutcome;
    /// Waits for items and takes whole items totalling up to `max_items` (at least one item).
    /// Returns an empty vector once the queue is closed and drained.
    async fn next_group(&self, max_items: usize) -> Vec<QueueItem>;
    /// Releases the place of `items` taken earlier, once they are committed or given up.
    fn complete(&self, signal: Signal, items: usize);
    /// Stops accepting; consumers still drain what is queued.
    fn close(&self);
    /// Items of a signal accepted and not yet completed (waiting or being written).
    fn depth(&self, signal: Signal) -> usize;
    /// True when the queue would refuse any item now (full, by its admission policy).
    fn is_full(&self) -> bool;
    /// Capacity in items.
    fn capacity(&self) -> usize;
}
