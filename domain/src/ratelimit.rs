//! A token bucket: `rate` tokens a second refill it up to `burst`; each request takes one.
//! Time is passed in, so the bucket is a pure value.

/// One client's bucket.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TokenBucket {
    tokens: f64,
    last_ns: i64,
}

impl TokenBucket {
    /// A full bucket at `now_ns` (a new client may burst at once).
    pub fn full(burst: f64, now_ns: i64) -> Self {
        Self { tokens: burst, last_ns: now_ns }
    }

    fn refill(&mut self, now_ns: i64, rate_per_s: f64, burst: f64) {
        // A clock that steps back refills nothing (and does not go negative).
        let elapsed_s = (now_ns.saturating_sub(self.last_ns)).max(0) as f64 / 1e9;
        self.tokens = (self.tokens + elapsed_s * rate_per_s).min(burst);
        self.last_ns = self.last_ns.max(now_ns);
    }

    /// Takes one token at `now_ns`; when none is left, how long until one is (ns, at least 1).
    pub fn take(&mut self, now_ns: i64, rate_per_s: f64, burst: f64) -> Result<(), i64> {
        self.refill(now_ns, rate_per_s, burst);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            return Ok(());
        }
        if rate_per_s <= 0.0 {
            return Err(i64::MAX);
        }
        Err((((1.0 - self.tokens) / rate_per_s) * 1e9).ceil().max(1.0) as i64)
    }

    /// Whether the bucket is full again at `now_ns`: an idle client whose entry can be forgotten
    /// without changing what it may do.
    pub fn is_full_at(&self, now_ns: i64, rate_per_s: f64, burst: f64) -> bool {
        let mut b = *self;
        b.refill(now_ns, rate_per_s, burst);
        b.tokens >= burst
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const S: i64 = 1_000_000_000;

    #[test]
    fn a_full_bucket_bursts_then_refills_at_the_rate() {
        let mut b = TokenBucket::full(3.0, 0);
        assert_eq!((b.take(0, 2.0, 3.0), b.take(0, 2.0, 3.0), b.take(0, 2.0, 3.0)), (Ok(()), Ok(()), Ok(())));
        assert_eq!(b.take(0, 2.0, 3.0), Err(S / 2), "one token every half second");
        assert_eq!(b.take(S / 4, 2.0, 3.0), Err(S / 4));
        assert_eq!(b.take(S / 2, 2.0, 3.0), Ok(()));
        assert!(!b.is_full_at(S, 2.0, 3.0));
        assert!(b.is_full_at(2 * S, 2.0, 3.0));
        // Never more than the burst, however long it idles.
        let mut idle = TokenBucket::full(3.0, 0);
        for _ in 0..3 {
            assert!(idle.take(100 * S, 2.0, 3.0).is_ok());
        }
        assert!(idle.take(100 * S, 2.0, 3.0).is_err());
    }

    #[test]
    fn a_clock_stepping_back_refills_nothing() {
        let mut b = TokenBucket::full(1.0, 10 * S);
        assert!(b.take(10 * S, 1.0, 1.0).is_ok());
        assert!(b.take(5 * S, 1.0, 1.0).is_err());
        assert!(b.take(10 * S + S / 2, 1.0, 1.0).is_err());
        assert!(b.take(11 * S, 1.0, 1.0).is_ok());
    }

    proptest! {
        /// Over any run of requests, no more are let through than the burst plus what the rate
        /// refilled, and a refused request is told a positive wait.
        #[test]
        fn admitted_requests_never_exceed_burst_plus_rate(
            rate in 1u32..1_000,
            burst in 1u32..100,
            gaps in proptest::collection::vec(0i64..50_000_000, 1..400),
        ) {
            let (rate, burst) = (f64::from(rate), f64::from(burst));
            let mut b = TokenBucket::full(burst, 0);
            let (mut now, mut admitted) = (0i64, 0u64);
            for gap in gaps {
                now += gap;
                match b.take(now, rate, burst) {
                    Ok(()) => admitted += 1,
                    Err(wait) => prop_assert!(wait > 0),
                }
            }
            let allowed = burst + rate * now as f64 / 1e9;
            prop_assert!(admitted as f64 <= allowed + 1e-6, "{admitted} > {allowed}");
        }
    }
}
