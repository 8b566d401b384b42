//! Time source.

/// The current time, as the core sees it.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait Clock: Send + Sync {
    /// Unix time in nanoseconds.
    fn now_ns(&self) -> i64;
}
