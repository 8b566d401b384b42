//! In-memory adapters: [`MemoryStorage`], the reference implementation of the storage port (used
//! by tests and the conformance suite), and [`MemoryQueue`], the bounded ingest queue.

mod queue;
mod storage;

pub use queue::MemoryQueue;
pub use storage::MemoryStorage;
