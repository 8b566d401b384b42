//! Log patterns: what is known of a template beyond its count — the services it appears in, its
//! severity mix, its activity over the last hour — and the `new` and `spiking` flags computed
//! from them. All functions take the time as an argument.

use crate::log::SeverityLevel;
use serde::{Deserialize, Serialize};

/// Most services remembered per template (the first ones in name order are kept).
pub const MAX_SERVICES: usize = 16;
/// A template is `new` while its first record is at most this old.
pub const NEW_WINDOW_NS: i64 = 3_600_000_000_000;
/// The recent window the `spiking` flag looks at.
pub const SPIKE_WINDOW_MINUTES: i64 = 5;
/// The trailing window its rate is compared with (shorter for a template seen for less time).
pub const BASELINE_MINUTES: i64 = 60;
/// `spiking` needs the recent rate to be at least this multiple of the trailing rate…
pub const SPIKE_RATIO: f64 = 3.0;
/// …and at least this many records in the recent window (a few lines are not a spike).
pub const SPIKE_MIN_RECORDS: u64 = 10;

const MINUTE_NS: i64 = 60_000_000_000;

/// Records of a template per severity level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct SeverityMix {
    pub trace: u64,
    pub debug: u64,
    pub info: u64,
    pub warn: u64,
    pub error: u64,
    pub fatal: u64,
}

impl SeverityMix {
    fn slot(&mut self, level: SeverityLevel) -> &mut u64 {
        match level {
            SeverityLevel::Trace => &mut self.trace,
            SeverityLevel::Debug => &mut self.debug,
            SeverityLevel::Info => &mut self.info,
            SeverityLevel::Warn => &mut self.warn,
            SeverityLevel::Error => &mut self.error,
            SeverityLevel::Fatal => &mut self.fatal,
        }
    }

    /// Counts `n` records of `level`.
    pub fn add(&mut self, level: SeverityLevel, n: u64) {
        let s = self.slot(level);
        *s = s.saturating_add(n);
    }

    /// Records of `level`.
    pub fn get(&self, level: SeverityLevel) -> u64 {
        let mut copy = *self;
        *copy.slot(level)
    }

    /// Records over all levels.
    pub fn total(&self) -> u64 {
        [self.trace, self.debug, self.info, self.warn, self.error, self.fatal]
            .iter()
            .fold(0u64, |a, b| a.saturating_add(*b))
    }

    /// Folds another state of the same counters in: counters only grow, so the larger wins
    /// (idempotent, so writing the same state twice counts nothing twice).
    pub fn merge(&mut self, other: &SeverityMix) {
        for level in [
            SeverityLevel::Trace,
            SeverityLevel::Debug,
            SeverityLevel::Info,
            SeverityLevel::Warn,
            SeverityLevel::Error,
            SeverityLevel::Fatal,
        ] {
            let v = other.get(level);
            let s = self.slot(level);
            *s = (*s).max(v);
        }
    }
}

/// Records per minute over the last [`BASELINE_MINUTES`], kept sparse (only minutes with
/// records), oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Activity {
    minutes: Vec<(i64, u64)>,
}

impl Activity {
    /// From stored (minute, records) pairs; out-of-order or repeated minutes are folded.
    pub fn from_minutes(pairs: impl IntoIterator<Item = (i64, u64)>) -> Self {
        let mut minutes: Vec<(i64, u64)> = pairs.into_iter().collect();
        minutes.sort_unstable_by_key(|m| m.0);
        minutes.dedup_by(|later, earlier| {
            if later.0 == earlier.0 {
                earlier.1 = earlier.1.saturating_add(later.1);
                true
            } else {
                false
            }
        });
        if minutes.len() > BASELINE_MINUTES as usize {
            minutes.drain(..minutes.len() - BASELINE_MINUTES as usize);
        }
        Self { minutes }
    }

    /// The (minute since the epoch, records) pairs, oldest first.
    pub fn minutes(&self) -> &[(i64, u64)] {
        &self.minutes
    }

    /// Counts `n` records at `time_ns` as seen at `now_ns`: a record from the future counts
    /// now, one older than the baseline window is not counted (it cannot change a flag).
    pub fn record(&mut self, time_ns: i64, n: u64, now_ns: i64) {
        let now_minute = now_ns.div_euclid(MINUTE_NS);
        let minute = time_ns.min(now_ns).div_euclid(MINUTE_NS);
        let oldest = now_minute - (BASELINE_MINUTES - 1);
        if minute < oldest {
            return;
        }
        match self.minutes.iter().rposition(|m| m.0 <= minute) {
            Some(i) if self.minutes[i].0 == minute => self.minutes[i].1 = self.minutes[i].1.saturating_add(n),
            Some(i) => self.minutes.insert(i + 1, (minute, n)),
            None => self.minutes.insert(0, (minute, n)),
        }
        self.prune(now_ns);
    }

    /// Forgets minutes that fell out of the baseline window.
    pub fn prune(&mut self, now_ns: i64) {
        let oldest = now_ns.div_euclid(MINUTE_NS) - (BASELINE_MINUTES - 1);
        let keep_from = self.minutes.partition_point(|m| m.0 < oldest);
        self.minutes.drain(..keep_from);
    }

    /// Records in the last `minutes` minutes up to `now_ns` (the current minute included).
    pub fn records_in_last(&self, minutes: i64, now_ns: i64) -> u64 {
        let now_minute = now_ns.div_euclid(MINUTE_NS);
        let from = now_minute - (minutes - 1);
        self.minutes.iter().filter(|m| m.0 >= from && m.0 <= now_minute).fold(0u64, |a, m| a.saturating_add(m.1))
    }

    /// Whether nothing was recorded in the window.
    pub fn is_empty(&self) -> bool {
        self.minutes.is_empty()
    }
}

/// The flags of a pattern at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PatternFlags {
    /// First seen within the last hour.
    pub new: bool,
    /// The rate of the last 5 minutes is at least 3× the rate over its trailing hour.
    pub spiking: bool,
}

/// Whether a template first seen at `first_seen_ns` is new at `now_ns`.
pub fn is_new(first_seen_ns: i64, now_ns: i64) -> bool {
    first_seen_ns >= now_ns.saturating_sub(NEW_WINDOW_NS)
}

/// Whether the activity is a spike at `now_ns`: at least [`SPIKE_MIN_RECORDS`] records in the
/// last [`SPIKE_WINDOW_MINUTES`], at a rate at least [`SPIKE_RATIO`] times the rate over the
/// trailing window (the last hour, or the time since the template was first seen when shorter,
/// never less than the recent window — so a template that is merely new is not a spike).
pub fn is_spiking(activity: &Activity, first_seen_ns: i64, now_ns: i64) -> bool {
    let recent = activity.records_in_last(SPIKE_WINDOW_MINUTES, now_ns);
    if recent < SPIKE_MIN_RECORDS {
        return false;
    }
    let age_minutes = now_ns.saturating_sub(first_seen_ns).max(0) / MINUTE_NS + 1;
    let window = age_minutes.clamp(SPIKE_WINDOW_MINUTES, BASELINE_MINUTES);
    let trailing = activity.records_in_last(window, now_ns);
    let recent_rate = recent as f64 / SPIKE_WINDOW_MINUTES as f64;
    let trailing_rate = trailing as f64 / window as f64;
    recent_rate >= SPIKE_RATIO * trailing_rate
}

/// Both flags at `now_ns`.
pub fn flags(activity: &Activity, first_seen_ns: i64, now_ns: i64) -> PatternFlags {
    PatternFlags { new: is_new(first_seen_ns, now_ns), spiking: is_spiking(activity, first_seen_ns, now_ns) }
}

/// Adds `service` to a sorted, deduplicated list capped at [`MAX_SERVICES`]; returns whether
/// the list changed.
pub fn add_service(services: &mut Vec<String>, service: &str) -> bool {
    match services.binary_search_by(|s| s.as_str().cmp(service)) {
        Ok(_) => false,
        Err(i) if i < MAX_SERVICES => {
            services.insert(i, service.to_owned());
            services.truncate(MAX_SERVICES);
            true
        }
        Err(_) => false,
    }
}

/// Union of two service lists, sorted and capped at [`MAX_SERVICES`].
pub fn merge_services(a: &[String], b: &[String]) -> Vec<String> {
    let mut all: Vec<String> = a.iter().chain(b).cloned().collect();
    all.sort_unstable();
    all.dedup();
    all.truncate(MAX_SERVICES);
    all
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const NOW: i64 = 1_700_000_000 * 1_000_000_000;

    fn minutes_ago(m: i64) -> i64 {
        NOW - m * MINUTE_NS
    }

    /// Activity with `per_minute` records in each of the last `minutes` minutes.
    fn steady(per_minute: u64, minutes: i64) -> Activity {
        let mut a = Activity::default();
        for m in 0..minutes {
            a.record(minutes_ago(m), per_minute, NOW);
        }
        a
    }

    #[test]
    fn spiking_compares_the_last_five_minutes_with_the_trailing_hour() {
        let old = minutes_ago(600);
        // (activity, first seen, spiking?)
        let cases: Vec<(&str, Activity, i64, bool)> = vec![
            ("steady for an hour", steady(20, 60), old, false),
            ("quiet hour then a burst", steady(20, 5), old, true),
            ("burst below the minimum", steady(1, 5), old, false),
            ("new and steady is not a spike", steady(20, 5), minutes_ago(4), false),
            (
                "new for 20 min, tripled lately",
                {
                    let mut a = steady(2, 20);
                    for m in 0..5 {
                        a.record(minutes_ago(m), 20, NOW);
                    }
                    a
                },
                minutes_ago(19),
                true,
            ),
            (
                "2x the baseline is not enough",
                {
                    let mut a = steady(10, 60);
                    for m in 0..5 {
                        a.record(minutes_ago(m), 10, NOW);
                    }
                    a
                },
                old,
                false,
            ),
            ("nothing recorded", Activity::default(), old, false),
        ];
        for (name, activity, first, want) in cases {
            assert_eq!(is_spiking(&activity, first, NOW), want, "{name}");
        }
    }

    #[test]
    fn new_means_first_seen_within_the_hour() {
        assert!(is_new(minutes_ago(59), NOW));
        assert!(is_new(minutes_ago(60), NOW));
        assert!(!is_new(minutes_ago(61), NOW));
        assert!(is_new(NOW + 1, NOW), "a clock ahead of ours is still new");
        assert_eq!(flags(&steady(20, 5), minutes_ago(600), NOW), PatternFlags { new: false, spiking: true });
    }

    #[test]
    fn activity_forgets_what_left_the_hour_and_counts_the_future_now() {
        let mut a = Activity::default();
        a.record(minutes_ago(90), 5, NOW);
        assert!(a.is_empty(), "older than the window");
        a.record(minutes_ago(59), 1, NOW);
        a.record(NOW + 3 * MINUTE_NS, 2, NOW);
        a.record(minutes_ago(1), 4, NOW);
        assert_eq!(a.minutes(), &[(NOW / MINUTE_NS - 59, 1), (NOW / MINUTE_NS - 1, 4), (NOW / MINUTE_NS, 2)]);
        assert_eq!(a.records_in_last(5, NOW), 6);
        a.prune(NOW + 2 * MINUTE_NS);
        assert_eq!(a.records_in_last(60, NOW + 2 * MINUTE_NS), 6, "the oldest minute left");
    }

    #[test]
    fn severity_mix_counts_and_merges_by_maximum() {
        let mut a = SeverityMix::default();
        a.add(SeverityLevel::Error, 3);
        a.add(SeverityLevel::Info, 1);
        let mut b = SeverityMix { error: 2, warn: 5, ..Default::default() };
        b.merge(&a);
        assert_eq!(b, SeverityMix { error: 3, warn: 5, info: 1, ..Default::default() });
        assert_eq!(b.total(), 9);
        let json = serde_json::to_string(&b).unwrap();
        assert_eq!(serde_json::from_str::<SeverityMix>(&json).unwrap(), b);
        assert_eq!(serde_json::from_str::<SeverityMix>("{\"error\":1}").unwrap().error, 1);
    }

    #[test]
    fn service_lists_stay_sorted_unique_and_capped() {
        let mut s = Vec::new();
        assert!(add_service(&mut s, "b"));
        assert!(add_service(&mut s, "a"));
        assert!(!add_service(&mut s, "b"));
        assert_eq!(s, ["a", "b"]);
        for i in 0..40 {
            add_service(&mut s, &format!("svc{i:02}"));
        }
        assert_eq!(s.len(), MAX_SERVICES);
        assert_eq!(merge_services(&["z".into()], &s).len(), MAX_SERVICES);
        assert_eq!(merge_services(&["b".into()], &["a".into(), "b".into()]), ["a", "b"]);
    }

    proptest! {
        #[test]
        fn activity_stays_bounded_sorted_and_counts_everything_recent(
            events in proptest::collection::vec((0i64..180, 1u64..50), 0..300)
        ) {
            let mut a = Activity::default();
            let mut recent = 0u64;
            for (ago, n) in &events {
                a.record(minutes_ago(*ago), *n, NOW);
                if *ago < BASELINE_MINUTES {
                    recent += n;
                }
            }
            prop_assert!(a.minutes().len() <= BASELINE_MINUTES as usize);
            prop_assert!(a.minutes().windows(2).all(|w| w[0].0 < w[1].0));
            prop_assert_eq!(a.records_in_last(BASELINE_MINUTES, NOW), recent);
            prop_assert_eq!(Activity::from_minutes(a.minutes().iter().copied()), a.clone());
        }
    }
}
