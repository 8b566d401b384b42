//! Retention policy and the day calendar of daily log partitions. Pure: the caller passes the
//! current time.

/// Nanoseconds in one day.
pub const DAY_NS: i64 = 86_400_000_000_000;

/// Smallest and largest `HOT_RETENTION_DAYS` (the upper bound keeps nanosecond cutoffs in `i64`).
pub const MIN_RETENTION_DAYS: u32 = 1;
pub const MAX_RETENTION_DAYS: u32 = 36_500;

/// How long data is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionPolicy {
    pub days: u32,
}

impl RetentionPolicy {
    /// A policy keeping `days` days; `None` outside 1..=36500.
    pub fn new(days: u32) -> Option<Self> {
        (MIN_RETENTION_DAYS..=MAX_RETENTION_DAYS).contains(&days).then_some(Self { days })
    }

    /// Records older than this (strictly) are purged: `now − days`.
    pub fn cutoff_ns(&self, now_ns: i64) -> i64 {
        now_ns.saturating_sub(i64::from(self.days) * DAY_NS)
    }

    /// Whether a partition covering times up to `end_ns` (exclusive) holds only expired data.
    pub fn partition_expired(&self, end_ns: i64, now_ns: i64) -> bool {
        end_ns <= self.cutoff_ns(now_ns)
    }
}

/// A UTC calendar day, counted from 1970-01-01.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Day(pub i64);

impl Day {
    /// The day containing `ns`.
    pub fn of(ns: i64) -> Self {
        Self(ns.div_euclid(DAY_NS))
    }

    /// First nanosecond of the day.
    pub fn start_ns(self) -> i64 {
        self.0.saturating_mul(DAY_NS)
    }

    /// First nanosecond of the next day (exclusive end).
    pub fn end_ns(self) -> i64 {
        self.0.saturating_add(1).saturating_mul(DAY_NS)
    }

    /// The day `n` days later (earlier when negative).
    pub fn plus(self, n: i64) -> Self {
        Self(self.0 + n)
    }

    /// (year, month 1–12, day 1–31) in the proleptic Gregorian calendar.
    pub fn civil(self) -> (i64, u32, u32) {
        // Howard Hinnant's days-to-civil algorithm.
        let z = self.0 + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        let y = yoe + era * 400 + i64::from(m <= 2);
        (y, m, d)
    }

    /// The day of a civil date; `None` for an impossible date.
    pub fn from_civil(y: i64, m: u32, d: u32) -> Option<Self> {
        if !(1..=12).contains(&m) || d == 0 || d > days_in_month(y, m) {
            return None;
        }
        let y = if m <= 2 { y - 1 } else { y };
        let era = y.div_euclid(400);
        let yoe = y.rem_euclid(400);
        let mp = i64::from(if m > 2 { m - 3 } else { m + 9 });
        let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        Some(Self(era * 146_097 + doe - 719_468))
    }

    /// `YYYY_MM_DD`, the suffix of a daily partition's name.
    pub fn suffix(self) -> String {
        let (y, m, d) = self.civil();
        format!("{y:04}_{m:02}_{d:02}")
    }

    /// Parses a suffix written by [`Day::suffix`].
    pub fn parse_suffix(s: &str) -> Option<Self> {
        let mut parts = s.split('_');
        let (y, m, d) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() || y.len() != 4 || m.len() != 2 || d.len() != 2 {
            return None;
        }
        Self::from_civil(y.parse().ok()?, m.parse().ok()?, d.parse().ok()?)
    }
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        _ => 28,
    }
}

/// The days that must have a partition at `now_ns`: yesterday (late arrivals around midnight),
/// today, and `lookahead` days ahead.
pub fn partition_days(now_ns: i64, lookahead: u32) -> Vec<Day> {
    let today = Day::of(now_ns);
    (-1..=i64::from(lookahead)).map(|n| today.plus(n)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const NOW: i64 = 1_764_000_000_000_000_000; // 2025-11-24T16:00:00Z

    #[test]
    fn policy_bounds() {
        assert!(RetentionPolicy::new(0).is_none());
        assert!(RetentionPolicy::new(36_501).is_none());
        assert_eq!(RetentionPolicy::new(36_500).unwrap().cutoff_ns(i64::MIN), i64::MIN);
    }

    #[test]
    fn cutoff_is_now_minus_the_retention() {
        let p = RetentionPolicy::new(7).unwrap();
        assert_eq!(p.cutoff_ns(NOW), NOW - 7 * DAY_NS);
    }

    #[test]
    fn a_partition_expires_only_when_wholly_older_than_the_cutoff() {
        let p = RetentionPolicy::new(1).unwrap();
        let cutoff = p.cutoff_ns(NOW);
        let day = Day::of(cutoff);
        assert!(!p.partition_expired(day.end_ns(), NOW), "holds data newer than the cutoff");
        assert!(p.partition_expired(day.plus(-1).end_ns(), NOW));
    }

    #[test]
    fn known_dates() {
        assert_eq!(Day(0).civil(), (1970, 1, 1));
        assert_eq!(Day::of(NOW).suffix(), "2025_11_24");
        assert_eq!(Day::from_civil(2024, 2, 29).unwrap().suffix(), "2024_02_29");
        assert_eq!(Day::from_civil(2023, 2, 29), None);
        assert_eq!(Day::of(-1).civil(), (1969, 12, 31));
        assert_eq!(Day::parse_suffix("2025_11_24"), Some(Day::of(NOW)));
        for bad in ["2025_13_01", "2025_1_01", "x", "2025_11_24_1", "2025-11-24", ""] {
            assert_eq!(Day::parse_suffix(bad), None, "{bad}");
        }
    }

    #[test]
    fn partition_days_cover_yesterday_to_the_lookahead() {
        let days = partition_days(NOW, 3);
        let today = Day::of(NOW);
        assert_eq!(days, vec![today.plus(-1), today, today.plus(1), today.plus(2), today.plus(3)]);
        assert_eq!(partition_days(NOW, 0), vec![today.plus(-1), today]);
    }

    proptest! {
        #[test]
        fn civil_round_trips(n in -1_000_000i64..1_000_000) {
            let (y, m, d) = Day(n).civil();
            prop_assert_eq!(Day::from_civil(y, m, d), Some(Day(n)));
        }

        #[test]
        fn a_time_lies_inside_its_day(ns in any::<i64>()) {
            let day = Day::of(ns);
            prop_assume!(day.0 > i64::MIN / DAY_NS + 1 && day.0 < i64::MAX / DAY_NS - 1);
            prop_assert!(day.start_ns() <= ns && ns < day.end_ns());
        }
    }
}
