//! Dead-letter queue policy: when a batch that failed to replay is due again, when it has used up
//! its retries, and which of the oldest batches must go to keep the queue under its caps.

use std::time::Duration;

/// Longest wait between two replays of one batch.
pub const MAX_BACKOFF: Duration = Duration::from_secs(30 * 60);

/// Replay schedule of dead-lettered batches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplayPolicy {
    /// Time between replay passes, and the base of the backoff.
    pub interval: Duration,
    /// Failed replays after which a batch is given up; 0 = never.
    pub max_retries: u32,
}

impl ReplayPolicy {
    /// The wait after `failures` failed replays: `interval × 2^(failures−1)`, capped at
    /// [`MAX_BACKOFF`]; none before the first failure.
    pub fn backoff(&self, failures: u32) -> Duration {
        if failures == 0 {
            return Duration::ZERO;
        }
        let factor = 1u32.checked_shl(failures - 1).unwrap_or(u32::MAX);
        self.interval.checked_mul(factor).unwrap_or(MAX_BACKOFF).min(MAX_BACKOFF)
    }

    /// Whether a batch that failed `failures` times, last at `last_attempt_ns`, may be replayed
    /// at `now_ns`.
    pub fn is_due(&self, failures: u32, last_attempt_ns: i64, now_ns: i64) -> bool {
        let wait = i64::try_from(self.backoff(failures).as_nanos()).unwrap_or(i64::MAX);
        now_ns.saturating_sub(last_attempt_ns) >= wait
    }

    /// Whether a batch that failed `failures` times is given up.
    pub fn exhausted(&self, failures: u32) -> bool {
        self.max_retries > 0 && failures >= self.max_retries
    }
}

/// Size limits of the queue; 0 means unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Caps {
    pub max_files: usize,
    pub max_bytes: u64,
}

/// How many of the oldest batches to evict before adding one of `incoming` bytes, given the sizes
/// of the batches present, oldest first. The new batch is always added, even when it alone is
/// over the byte cap (refusing it would lose the newest data instead of the oldest).
pub fn evictions(sizes_oldest_first: &[u64], incoming: u64, caps: Caps) -> usize {
    let mut total: u64 = sizes_oldest_first.iter().sum();
    let mut evicted = 0;
    while evicted < sizes_oldest_first.len() {
        let remaining = sizes_oldest_first.len() - evicted;
        let over_files = caps.max_files > 0 && remaining >= caps.max_files;
        let over_bytes = caps.max_bytes > 0 && total.saturating_add(incoming) > caps.max_bytes;
        if !over_files && !over_bytes {
            break;
        }
        total -= sizes_oldest_first[evicted];
        evicted += 1;
    }
    evicted
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MIN: Duration = Duration::from_secs(60);

    #[test]
    fn backoff_doubles_from_the_interval_and_stops_at_thirty_minutes() {
        let p = ReplayPolicy { interval: MIN, max_retries: 10 };
        let table = [(0, 0), (1, 1), (2, 2), (3, 4), (4, 8), (5, 16), (6, 30), (7, 30), (40, 30), (u32::MAX, 30)];
        for (failures, minutes) in table {
            assert_eq!(p.backoff(failures), MIN * minutes, "after {failures} failures");
        }
        let long = ReplayPolicy { interval: Duration::from_secs(3600), max_retries: 0 };
        assert_eq!(long.backoff(1), MAX_BACKOFF, "a long interval is capped too");
    }

    #[test]
    fn a_batch_is_due_once_its_backoff_has_passed() {
        let p = ReplayPolicy { interval: MIN, max_retries: 0 };
        let m = 60_000_000_000i64;
        assert!(p.is_due(0, 0, 0), "never tried: due at once");
        assert!(!p.is_due(1, 0, m - 1));
        assert!(p.is_due(1, 0, m));
        assert!(!p.is_due(3, 10 * m, 13 * m));
        assert!(p.is_due(3, 10 * m, 14 * m));
        assert!(!p.is_due(2, 5 * m, 0), "a clock that went back waits");
    }

    #[test]
    fn retries_run_out_only_when_limited() {
        let p = ReplayPolicy { interval: MIN, max_retries: 3 };
        assert!(!p.exhausted(2));
        assert!(p.exhausted(3));
        assert!(!ReplayPolicy { interval: MIN, max_retries: 0 }.exhausted(u32::MAX));
    }

    #[test]
    fn eviction_removes_the_oldest_until_the_new_batch_fits() {
        let table: &[(&[u64], u64, Caps, usize)] = &[
            (&[10, 10, 10], 10, Caps { max_files: 0, max_bytes: 0 }, 0),
            (&[10, 10, 10], 10, Caps { max_files: 4, max_bytes: 0 }, 0),
            (&[10, 10, 10], 10, Caps { max_files: 3, max_bytes: 0 }, 1),
            (&[10, 10, 10], 10, Caps { max_files: 1, max_bytes: 0 }, 3),
            (&[10, 10, 10], 10, Caps { max_files: 0, max_bytes: 40 }, 0),
            (&[10, 10, 10], 11, Caps { max_files: 0, max_bytes: 40 }, 1),
            (&[30, 5, 5], 10, Caps { max_files: 0, max_bytes: 25 }, 1),
            (&[10, 10], 100, Caps { max_files: 0, max_bytes: 50 }, 2),
            (&[], 100, Caps { max_files: 1, max_bytes: 50 }, 0),
        ];
        for (sizes, incoming, caps, want) in table {
            assert_eq!(evictions(sizes, *incoming, *caps), *want, "{sizes:?} + {incoming} under {caps:?}");
        }
    }

    proptest! {
        #[test]
        fn after_eviction_the_queue_is_within_its_caps(
            sizes in proptest::collection::vec(0u64..1000, 0..50),
            incoming in 0u64..1000,
            max_files in 0usize..20,
            max_bytes in 0u64..5000,
        ) {
            let caps = Caps { max_files, max_bytes };
            let n = evictions(&sizes, incoming, caps);
            let kept = &sizes[n..];
            if max_files > 0 {
                prop_assert!(kept.len() < max_files);
            }
            if max_bytes > 0 && n < sizes.len() {
                prop_assert!(kept.iter().sum::<u64>() + incoming <= max_bytes);
            }
            // Minimal: keeping one more would break a cap.
            if n > 0 {
                let one_more = &sizes[n - 1..];
                let files_bad = max_files > 0 && one_more.len() >= max_files;
                let bytes_bad = max_bytes > 0 && one_more.iter().sum::<u64>() + incoming > max_bytes;
                prop_assert!(files_bad || bytes_bad);
            }
        }
    }
}
