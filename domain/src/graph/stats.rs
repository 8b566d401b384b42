//! Windowed RED statistics: calls, errors and a latency distribution per 10 s slot over the last
//! hour, kept sparse (only slots with calls). Answers are computed over a time range from the
//! slots in it, so numbers always describe a window — they never grow without bound, and an error
//! rate recovers when errors stop.

use crate::ids::TraceId;
use std::collections::VecDeque;

/// Width of one slot.
pub const SLOT_NS: i64 = 10_000_000_000;
/// Slots kept (one hour).
pub const SLOTS: i64 = 360;

/// Latency bucket `i` holds durations in `[2^(i/4), 2^((i+1)/4))` microseconds (≈19 % wide);
/// bucket 0 also holds everything under 1 µs, the last everything above ~74 min.
const BUCKETS: usize = 128;

fn bucket_of(duration_ns: i64) -> u8 {
    let us = duration_ns as f64 / 1_000.0;
    if us < 1.0 {
        return 0;
    }
    // floor(4 · log2 us) without a logarithm: the binary exponent gives whole octaves, the
    // mantissa (1 ≤ m < 2) against 2^(1/4), 2^(1/2), 2^(3/4) the quarter.
    const QUARTERS: [f64; 3] = [1.189_207_115_002_721, std::f64::consts::SQRT_2, 1.681_792_830_507_429];
    let bits = us.to_bits();
    let octave = ((bits >> 52) & 0x7ff) as i64 - 1023;
    let mantissa = f64::from_bits((bits & 0x000f_ffff_ffff_ffff) | 0x3ff0_0000_0000_0000);
    let quarter = QUARTERS.iter().filter(|q| mantissa >= **q).count() as i64;
    (4 * octave + quarter).clamp(0, BUCKETS as i64 - 1) as u8
}

/// The representative duration (geometric middle) of a bucket, in ns.
fn bucket_value_ns(b: u8) -> f64 {
    2f64.powf((f64::from(b) + 0.5) / 4.0) * 1_000.0
}

/// One slot's numbers.
#[derive(Debug, Clone, Default, PartialEq)]
struct Slot {
    calls: u64,
    errors: u64,
    duration_sum_ns: i128,
    /// Sums of `ln(1 + ms)` and its square, for tests of a change in the typical latency.
    log_sum: f64,
    log_sq_sum: f64,
    /// (bucket, count), sorted by bucket.
    latency: Vec<(u8, u32)>,
}

impl Slot {
    fn record(&mut self, duration_ns: i64, error: bool, quantiles: bool) {
        self.calls += 1;
        self.errors += u64::from(error);
        self.duration_sum_ns += i128::from(duration_ns.max(0));
        let l = (1.0 + duration_ns.max(0) as f64 / 1e6).ln();
        self.log_sum += l;
        self.log_sq_sum += l * l;
        if !quantiles {
            return;
        }
        let b = bucket_of(duration_ns);
        match self.latency.binary_search_by_key(&b, |e| e.0) {
            Ok(i) => self.latency[i].1 = self.latency[i].1.saturating_add(1),
            Err(i) => self.latency.insert(i, (b, 1)),
        }
    }
}

/// The entry of `slot` in a sparse, sorted slot list, made with `new` when absent (most
/// records land in the newest slot, looked at first).
fn slot_entry<T>(slots: &mut VecDeque<(i64, T)>, slot: i64, new: impl FnOnce() -> T) -> &mut T {
    let at = match slots.back() {
        Some((i, _)) if *i == slot => slots.len() - 1,
        _ => match slots.iter().rposition(|(i, _)| *i <= slot) {
            Some(p) if slots[p].0 == slot => p,
            Some(p) => {
                slots.insert(p + 1, (slot, new()));
                p + 1
            }
            None => {
                slots.push_front((slot, new()));
                0
            }
        },
    };
    &mut slots[at].1
}

/// Drops the slots that left the hour before `now_ns`.
fn expire_slots<T>(slots: &mut VecDeque<(i64, T)>, now_ns: i64) {
    let oldest = now_ns.div_euclid(SLOT_NS) - SLOTS + 1;
    while slots.front().is_some_and(|(i, _)| *i < oldest) {
        slots.pop_front();
    }
}

/// Whether `time_ns` is too old for the hour before `now_ns`; else its slot (a time after now
/// counts as now).
fn slot_of(time_ns: i64, now_ns: i64) -> Option<i64> {
    let slot = time_ns.min(now_ns).div_euclid(SLOT_NS);
    (slot > now_ns.div_euclid(SLOT_NS) - SLOTS).then_some(slot)
}

/// The slot indexes `[from, to)` of the slots starting in `[start_ns, end_ns)`.
fn slot_range(start_ns: i64, end_ns: i64) -> (i64, i64) {
    let ceil = |t: i64| -(-t).div_euclid(SLOT_NS);
    (ceil(start_ns), ceil(end_ns))
}

/// Calls, errors and latency of one thing (a service, an edge, an operation) over the last hour.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Windowed {
    /// (slot index = time / [`SLOT_NS`], slot), oldest first.
    slots: VecDeque<(i64, Slot)>,
    /// Without the latency histogram: quantiles read 0, the mean and the log statistics (all
    /// the root-cause tests use) stay. For the many windows nobody reads quantiles of.
    no_quantiles: bool,
}

/// A summary over a range.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Red {
    pub calls: u64,
    pub errors: u64,
    /// Calls per second over the range asked for.
    pub rate_per_s: f64,
    /// errors / calls, 0..1 (0 without calls).
    pub error_rate: f64,
    pub mean_ns: f64,
    pub p50_ns: f64,
    pub p95_ns: f64,
    pub p99_ns: f64,
    /// Mean and variance of `ln(1 + ms)` over the calls (0 without calls).
    pub log_mean: f64,
    pub log_var: f64,
}

impl Red {
    /// The calls of several summaries of the same range taken together: counts, rates and means
    /// exactly, the `ln(1 + ms)` variance from the parts' moments; quantiles are not kept (0).
    pub fn pooled<'a>(parts: impl IntoIterator<Item = &'a Red>) -> Red {
        let (mut calls, mut errors, mut rate) = (0u64, 0u64, 0f64);
        let (mut sum_ns, mut lsum, mut lsq) = (0f64, 0f64, 0f64);
        for r in parts {
            let n = r.calls as f64;
            calls += r.calls;
            errors += r.errors;
            rate += r.rate_per_s;
            sum_ns += r.mean_ns * n;
            lsum += r.log_mean * n;
            lsq += r.log_var * (n - 1.0).max(0.0) + r.log_mean * r.log_mean * n;
        }
        if calls == 0 {
            return Red::default();
        }
        let n = calls as f64;
        Red {
            calls,
            errors,
            rate_per_s: rate,
            error_rate: errors as f64 / n,
            mean_ns: sum_ns / n,
            log_mean: lsum / n,
            log_var: if calls < 2 { 0.0 } else { ((lsq - lsum * lsum / n) / (n - 1.0)).max(0.0) },
            ..Red::default()
        }
    }
}

impl Windowed {
    /// A window that keeps no latency histogram (see the field).
    pub fn without_quantiles() -> Self {
        Self { slots: VecDeque::new(), no_quantiles: true }
    }

    /// Records one call ending at `time_ns`; calls older than the hour before `now_ns` are not
    /// recorded, and slots that left the hour are dropped.
    pub fn record(&mut self, time_ns: i64, duration_ns: i64, error: bool, now_ns: i64) {
        let Some(slot) = slot_of(time_ns, now_ns) else { return };
        let q = !self.no_quantiles;
        let fresh = self.slots.back().is_none_or(|(i, _)| *i != slot);
        slot_entry(&mut self.slots, slot, Slot::default).record(duration_ns, error, q);
        if fresh {
            self.expire(now_ns);
        }
    }

    /// Drops the slots that left the hour before `now_ns`.
    pub fn expire(&mut self, now_ns: i64) {
        expire_slots(&mut self.slots, now_ns);
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Time of the newest slot with calls (its start), if any.
    pub fn last_active_ns(&self) -> Option<i64> {
        self.slots.back().map(|(i, _)| i * SLOT_NS)
    }

    /// Calls in the slots that start in `[start_ns, end_ns)` (the slot rule of [`Windowed::summary`]).
    pub fn calls(&self, start_ns: i64, end_ns: i64) -> u64 {
        let (from, to) = slot_range(start_ns, end_ns);
        self.slots.iter().filter(|(i, _)| *i >= from && *i < to).map(|(_, s)| s.calls).sum()
    }

    /// The summary of the calls in the slots that start in `[start_ns, end_ns)` (whole slots: the
    /// slot holding `end_ns` counts, the one holding `start_ns` only when it starts there).
    /// The start of the first slot with calls among the slots starting in `[start_ns, end_ns)`.
    pub fn first_slot_start(&self, start_ns: i64, end_ns: i64) -> Option<i64> {
        let (from, to) = slot_range(start_ns, end_ns);
        self.slots.iter().map(|(i, _)| *i).find(|i| *i >= from && *i < to).map(|i| i * SLOT_NS)
    }

    pub fn summary(&self, start_ns: i64, end_ns: i64) -> Red {
        let (from, to) = slot_range(start_ns, end_ns);
        let mut calls = 0u64;
        let mut errors = 0u64;
        let mut sum = 0i128;
        let (mut lsum, mut lsq) = (0f64, 0f64);
        let mut hist = [0u64; BUCKETS];
        for (_, s) in self.slots.iter().filter(|(i, _)| *i >= from && *i < to) {
            calls += s.calls;
            errors += s.errors;
            sum += s.duration_sum_ns;
            lsum += s.log_sum;
            lsq += s.log_sq_sum;
            for (b, n) in &s.latency {
                hist[*b as usize] += u64::from(*n);
            }
        }
        let seconds = ((end_ns - start_ns).max(SLOT_NS)) as f64 / 1e9;
        let quantile = |q: f64| -> f64 {
            if calls == 0 {
                return 0.0;
            }
            let rank = (q * calls as f64).ceil().max(1.0) as u64;
            let mut seen = 0;
            for (b, n) in hist.iter().enumerate() {
                seen += n;
                if seen >= rank {
                    return bucket_value_ns(b as u8);
                }
            }
            bucket_value_ns((BUCKETS - 1) as u8)
        };
        Red {
            calls,
            errors,
            rate_per_s: calls as f64 / seconds,
            error_rate: if calls == 0 { 0.0 } else { errors as f64 / calls as f64 },
            mean_ns: if calls == 0 { 0.0 } else { sum as f64 / calls as f64 },
            p50_ns: quantile(0.5),
            p95_ns: quantile(0.95),
            p99_ns: quantile(0.99),
            log_mean: if calls == 0 { 0.0 } else { lsum / calls as f64 },
            log_var: if calls < 2 { 0.0 } else { ((lsq - lsum * lsum / calls as f64) / (calls - 1) as f64).max(0.0) },
        }
    }
}

/// Event counts per 10 s slot over the last hour, sparse: for signals that have no latency
/// (error log lines of one template).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Counts {
    /// (slot index, count), oldest first.
    slots: VecDeque<(i64, u32)>,
}

impl Counts {
    /// Counts one event at `time_ns`, as [`Windowed::record`] does.
    pub fn record(&mut self, time_ns: i64, now_ns: i64) {
        let Some(slot) = slot_of(time_ns, now_ns) else { return };
        let n = slot_entry(&mut self.slots, slot, || 0);
        *n = n.saturating_add(1);
        self.expire(now_ns);
    }

    /// Drops the slots that left the hour before `now_ns`.
    pub fn expire(&mut self, now_ns: i64) {
        expire_slots(&mut self.slots, now_ns);
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Events in the slots starting in `[start_ns, end_ns)`, with the same slot rule as
    /// [`Windowed::summary`].
    pub fn count(&self, start_ns: i64, end_ns: i64) -> u64 {
        let (from, to) = slot_range(start_ns, end_ns);
        self.slots.iter().filter(|(i, _)| *i >= from && *i < to).map(|(_, n)| u64::from(*n)).sum()
    }
}

/// Values of one metric series per 10 s slot over the last hour (count, sum, sum of squares),
/// sparse: for z-scores of a service's gauges.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Values {
    slots: VecDeque<(i64, (u32, f64, f64))>,
}

/// Mean, standard deviation and count of values over a range.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ValueSummary {
    pub count: u64,
    pub mean: f64,
    pub std_dev: f64,
}

impl ValueSummary {
    /// How far this mean is from `baseline`'s, in the baseline's standard deviations (at least
    /// 1 % of its mean, so a gauge that was flat still gives a finite score).
    pub fn z_against(&self, baseline: &ValueSummary) -> f64 {
        let spread = baseline.std_dev.max(0.01 * baseline.mean.abs()).max(f64::MIN_POSITIVE);
        (self.mean - baseline.mean) / spread
    }
}

impl Values {
    /// Records one value at `time_ns`, as [`Windowed::record`] does; non-finite values are ignored.
    pub fn record(&mut self, time_ns: i64, value: f64, now_ns: i64) {
        if !value.is_finite() {
            return;
        }
        let Some(slot) = slot_of(time_ns, now_ns) else { return };
        let e = slot_entry(&mut self.slots, slot, || (0, 0.0, 0.0));
        e.0 = e.0.saturating_add(1);
        e.1 += value;
        e.2 += value * value;
        self.expire(now_ns);
    }

    pub fn expire(&mut self, now_ns: i64) {
        expire_slots(&mut self.slots, now_ns);
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// The values in the slots starting in `[start_ns, end_ns)` (the slot rule of
    /// [`Windowed::summary`]).
    pub fn summary(&self, start_ns: i64, end_ns: i64) -> ValueSummary {
        let (from, to) = slot_range(start_ns, end_ns);
        let (mut n, mut sum, mut sq) = (0u64, 0f64, 0f64);
        for (_, (c, s, q)) in self.slots.iter().filter(|(i, _)| *i >= from && *i < to) {
            n += u64::from(*c);
            sum += s;
            sq += q;
        }
        if n == 0 {
            return ValueSummary::default();
        }
        let mean = sum / n as f64;
        let var = if n < 2 { 0.0 } else { ((sq - sum * sum / n as f64) / (n - 1) as f64).max(0.0) };
        ValueSummary { count: n, mean, std_dev: var.sqrt() }
    }
}

/// Width of one exemplar slot: one minute.
pub const EXAMPLE_SLOT_NS: i64 = 60_000_000_000;

/// Example traces of one node: per minute of the last hour, the slowest call it served and the
/// first that failed, so evidence can point at real traces.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Examples {
    /// (minute index, slowest (trace, duration), first failed trace), oldest first.
    slots: VecDeque<(i64, (TraceId, i64), Option<TraceId>)>,
}

impl Examples {
    /// Offers one call; old minutes are dropped as in [`Windowed`].
    pub fn record(&mut self, trace: TraceId, time_ns: i64, duration_ns: i64, error: bool, now_ns: i64) {
        let per_hour = SLOTS * SLOT_NS / EXAMPLE_SLOT_NS;
        let now_slot = now_ns.div_euclid(EXAMPLE_SLOT_NS);
        let slot = time_ns.min(now_ns).div_euclid(EXAMPLE_SLOT_NS);
        if slot <= now_slot - per_hour {
            return;
        }
        let failed = error.then_some(trace);
        match self.slots.iter().rposition(|(i, _, _)| *i <= slot) {
            Some(p) if self.slots[p].0 == slot => {
                let (_, slowest, first_failed) = &mut self.slots[p];
                if duration_ns > slowest.1 {
                    *slowest = (trace, duration_ns);
                }
                if first_failed.is_none() {
                    *first_failed = failed;
                }
            }
            Some(p) => self.slots.insert(p + 1, (slot, (trace, duration_ns), failed)),
            None => self.slots.push_front((slot, (trace, duration_ns), failed)),
        }
        let oldest = now_slot - per_hour + 1;
        while self.slots.front().is_some_and(|(i, _, _)| *i < oldest) {
            self.slots.pop_front();
        }
    }

    /// Up to `n` example traces of calls ending in `[start_ns, end_ns)` (by whole minutes):
    /// failed ones first when `failures`, else the slowest, without repeats.
    pub fn pick(&self, start_ns: i64, end_ns: i64, failures: bool, n: usize) -> Vec<TraceId> {
        let (from, to) = (start_ns.div_euclid(EXAMPLE_SLOT_NS), end_ns.div_euclid(EXAMPLE_SLOT_NS));
        let inside: Vec<_> = self.slots.iter().filter(|(i, _, _)| *i >= from && *i <= to).collect();
        let mut slowest: Vec<(TraceId, i64)> = inside.iter().map(|s| s.1).collect();
        slowest.sort_by_key(|s| std::cmp::Reverse(s.1));
        let failed = inside.iter().rev().filter_map(|s| s.2);
        let mut out: Vec<TraceId> = Vec::new();
        let ordered: Vec<TraceId> = if failures {
            failed.chain(slowest.iter().map(|s| s.0)).collect()
        } else {
            slowest.iter().map(|s| s.0).chain(failed).collect()
        };
        for t in ordered {
            if out.len() >= n {
                break;
            }
            if !out.contains(&t) {
                out.push(t);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn buckets_are_quarter_octaves_of_microseconds() {
        // Against the logarithm, away from the exact bucket edges (where rounding may differ).
        let mut x: f64 = 1.0;
        while x < 1e13 {
            let ns = (x * 1_000.0) as i64;
            let exact = (ns as f64 / 1_000.0).log2() * 4.0;
            if (exact - exact.round()).abs() > 1e-9 {
                let want = (exact.floor() as usize).min(BUCKETS - 1) as u8;
                assert_eq!(bucket_of(ns), want, "{ns} ns");
            }
            x *= 1.037;
        }
        assert_eq!((bucket_of(0), bucket_of(999), bucket_of(1_000), bucket_of(2_000)), (0, 0, 0, 4));
        assert_eq!(bucket_of(i64::MAX), (BUCKETS - 1) as u8);
    }

    use super::*;
    use proptest::prelude::*;

    const NOW: i64 = 1_700_000_000 * 1_000_000_000;

    #[test]
    fn pooled_summaries_equal_the_summary_of_all_the_calls() {
        let (mut a, mut b, mut all) = (Windowed::default(), Windowed::default(), Windowed::default());
        for (i, ms) in [3i64, 5, 8, 13, 400, 2, 7].iter().enumerate() {
            let w = if i % 3 == 0 { &mut a } else { &mut b };
            w.record(NOW - 1_000, ms * 1_000_000, i == 4, NOW);
            all.record(NOW - 1_000, ms * 1_000_000, i == 4, NOW);
        }
        let range = (NOW - 60_000_000_000, NOW + 1);
        let pooled = Red::pooled([&a.summary(range.0, range.1), &b.summary(range.0, range.1)]);
        let want = all.summary(range.0, range.1);
        assert_eq!((pooled.calls, pooled.errors), (want.calls, want.errors));
        for (x, y) in [(pooled.mean_ns, want.mean_ns), (pooled.log_mean, want.log_mean), (pooled.log_var, want.log_var)]
        {
            assert!((x - y).abs() < 1e-9 * y.abs().max(1.0), "{x} vs {y}");
        }
        assert_eq!(Red::pooled([&Red::default()]), Red::default());
    }
    const MS: i64 = 1_000_000;

    #[test]
    fn a_window_counts_its_calls_errors_and_latency() {
        let mut w = Windowed::default();
        for i in 0..100 {
            // 90 fast calls of 10 ms, 10 slow failing ones of 500 ms, over the last minute.
            let (d, e) = if i % 10 == 0 { (500 * MS, true) } else { (10 * MS, false) };
            w.record(NOW - i * 600 * MS, d, e, NOW);
        }
        let r = w.summary(NOW - 60_000 * MS, NOW + SLOT_NS);
        assert_eq!((r.calls, r.errors), (100, 10));
        assert!((r.error_rate - 0.1).abs() < 1e-9);
        let within = |got: f64, want: f64| (got / want - 1.0).abs() < 0.1;
        assert!(within(r.p50_ns, 10.0 * MS as f64), "{}", r.p50_ns);
        assert!(within(r.p99_ns, 500.0 * MS as f64), "{}", r.p99_ns);
        assert!(within(r.mean_ns, 59.0 * MS as f64), "{}", r.mean_ns);
    }

    #[test]
    fn error_rates_recover_and_old_slots_expire() {
        let mut w = Windowed::default();
        for i in 0..10 {
            w.record(NOW - 30 * 60_000 * MS + i, 5 * MS, true, NOW);
        }
        for i in 0..10 {
            w.record(NOW - i, 5 * MS, false, NOW);
        }
        let last_five = w.summary(NOW - 5 * 60_000 * MS, NOW + SLOT_NS);
        assert_eq!((last_five.calls, last_five.error_rate), (10, 0.0), "the errors were half an hour ago");
        let hour = w.summary(NOW - 3_600_000 * MS, NOW + SLOT_NS);
        assert_eq!((hour.calls, hour.errors), (20, 10));
        w.expire(NOW + 45 * 60_000 * MS);
        assert_eq!(w.summary(NOW - 3_600_000 * MS, NOW + SLOT_NS).calls, 10, "the old slot left the hour");
        w.record(NOW - 2 * 3_600_000 * MS, 1, false, NOW);
        assert_eq!(w.summary(i64::MIN / 2, i64::MAX / 2).calls, 10, "a call older than the hour is not recorded");
    }

    #[test]
    fn counts_follow_the_slots_and_expire() {
        let mut c = Counts::default();
        for i in 0..30 {
            c.record(NOW - i * SLOT_NS / 2, NOW);
        }
        c.record(NOW - 2 * 3_600_000 * MS, NOW);
        assert_eq!(c.count(i64::MIN / 2, i64::MAX / 2), 30, "an event older than the hour is not counted");
        // The slot of NOW holds one event, the five before it two each.
        assert_eq!(c.count(NOW - 5 * SLOT_NS, NOW + SLOT_NS), 11);
        c.expire(NOW + 3_600_000 * MS - SLOT_NS);
        assert_eq!(c.count(i64::MIN / 2, i64::MAX / 2), 1, "only the newest slot is left");
        c.expire(NOW + 2 * 3_600_000 * MS);
        assert!(c.is_empty());
    }

    #[test]
    fn values_summarise_mean_and_spread_per_range() {
        let mut v = Values::default();
        for (i, x) in [1.0, 2.0, 3.0, 4.0, f64::NAN].iter().enumerate() {
            v.record(NOW - 100 * SLOT_NS + i as i64 * SLOT_NS, *x, NOW);
        }
        v.record(NOW, 100.0, NOW);
        let before = v.summary(NOW - 200 * SLOT_NS, NOW - 50 * SLOT_NS);
        assert_eq!(before.count, 4, "the NaN is not counted");
        assert!((before.mean - 2.5).abs() < 1e-12 && (before.std_dev - 1.290_994).abs() < 1e-5, "{before:?}");
        assert_eq!(v.summary(NOW - SLOT_NS, NOW + SLOT_NS).mean, 100.0);
        v.expire(NOW + 2 * 3_600_000 * MS);
        assert!(v.is_empty());
    }

    #[test]
    fn examples_point_at_the_slowest_and_the_failed_calls_of_the_range() {
        let t = |n: u8| TraceId::from_array([n; 16]).unwrap();
        let mut e = Examples::default();
        let min = EXAMPLE_SLOT_NS;
        e.record(t(1), NOW - 10 * min, 5 * MS, false, NOW);
        e.record(t(2), NOW - 2 * min, 50 * MS, false, NOW);
        e.record(t(3), NOW - 2 * min + 1, 7 * MS, true, NOW);
        e.record(t(4), NOW - min, 90 * MS, false, NOW);
        e.record(t(5), NOW - 2 * 3_600_000 * MS, 900 * MS, true, NOW);
        assert_eq!(e.pick(NOW - 3 * min, NOW, false, 2), vec![t(4), t(2)], "the slowest of the last minutes");
        assert_eq!(e.pick(NOW - 3 * min, NOW, true, 2), vec![t(3), t(4)], "the failed one first");
        assert_eq!(e.pick(NOW - 3 * 3_600_000 * MS, NOW, true, 10).len(), 4, "older than the hour is not kept");
    }

    proptest! {
        #[test]
        fn slots_stay_sorted_bounded_and_every_recent_call_is_counted(
            calls in proptest::collection::vec((0i64..7_200, 0i64..10_000_000_000, any::<bool>()), 0..300)
        ) {
            let mut w = Windowed::default();
            let mut recent = 0u64;
            for (ago_s, d, e) in &calls {
                let t = NOW - ago_s * 1_000_000_000;
                w.record(t, *d, *e, NOW);
                if t.div_euclid(SLOT_NS) > NOW.div_euclid(SLOT_NS) - SLOTS {
                    recent += 1;
                }
            }
            prop_assert!(w.slots.len() as i64 <= SLOTS);
            prop_assert!(w.slots.iter().zip(w.slots.iter().skip(1)).all(|(a, b)| a.0 < b.0));
            let r = w.summary(NOW - 2 * 3_600_000_000_000, NOW + SLOT_NS);
            prop_assert_eq!(r.calls, recent);
            prop_assert!(r.p50_ns <= r.p95_ns && r.p95_ns <= r.p99_ns);
        }
    }
}
