//! Log templates (Drain clusters) as stored: a stable id, the template text, counts and a sample.

use crate::pattern::{self, Activity, PatternFlags, SeverityMix};
use std::fmt;

/// Identity of a log template: a stable 64-bit hash of the tenant's first version of the
/// template (never an insertion counter), so ids survive restarts. Shown as 16 hex characters.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct TemplateId(pub u64);

impl TemplateId {
    /// The id as a signed integer, as SQL `INTEGER`/`BIGINT` columns hold it.
    pub fn as_i64(self) -> i64 {
        self.0 as i64
    }

    /// From the stored signed integer.
    pub fn from_i64(v: i64) -> Self {
        Self(v as u64)
    }

    /// Parses 1–16 hexadecimal characters.
    pub fn parse_hex(text: &str) -> Option<Self> {
        let t = text.trim();
        if t.is_empty() || t.len() > 16 {
            return None;
        }
        u64::from_str_radix(t, 16).ok().map(Self)
    }
}

impl fmt::Display for TemplateId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

impl fmt::Debug for TemplateId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TemplateId({self})")
    }
}

/// A stored log template of one tenant: the pattern its records share and what is known of them.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LogTemplate {
    pub id: TemplateId,
    /// The template text, variable parts shown as `<*>`.
    pub template: String,
    /// Log records matched so far.
    pub count: u64,
    pub first_seen_ns: i64,
    pub last_seen_ns: i64,
    /// One raw log line that matched.
    pub sample: String,
    /// Service of the sample.
    pub service: String,
    /// Services the template appeared in (sorted, at most [`pattern::MAX_SERVICES`]).
    pub services: Vec<String>,
    /// Records per severity level.
    pub severities: SeverityMix,
    /// Records per minute over the last hour (for the `spiking` flag).
    pub activity: Activity,
    /// Whether the template was spiking when it was last evaluated (see [`pattern::is_spiking`]).
    pub spiking: bool,
}

impl LogTemplate {
    /// Folds a later state of the same template into this stored one: the later template text,
    /// sample, activity and spiking flag win; first seen is the earliest, last seen the latest;
    /// counters (count, severity mix) only grow, so the larger wins; services are united.
    pub fn merge(&mut self, later: &LogTemplate) {
        debug_assert_eq!(self.id, later.id);
        self.first_seen_ns = self.first_seen_ns.min(later.first_seen_ns);
        if later.last_seen_ns >= self.last_seen_ns {
            self.template.clone_from(&later.template);
            self.sample.clone_from(&later.sample);
            self.service.clone_from(&later.service);
            self.activity.clone_from(&later.activity);
            self.spiking = later.spiking;
        }
        self.last_seen_ns = self.last_seen_ns.max(later.last_seen_ns);
        self.count = self.count.max(later.count);
        self.severities.merge(&later.severities);
        self.services = pattern::merge_services(&self.services, &later.services);
    }

    /// The `new` flag at `now_ns` and the `spiking` flag as last evaluated.
    pub fn flags(&self, now_ns: i64) -> PatternFlags {
        PatternFlags { new: pattern::is_new(self.first_seen_ns, now_ns), spiking: self.spiking }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(count: u64, first: i64, last: i64, text: &str) -> LogTemplate {
        LogTemplate {
            id: TemplateId(7),
            template: text.into(),
            count,
            first_seen_ns: first,
            last_seen_ns: last,
            sample: format!("sample {text}"),
            service: "svc".into(),
            services: vec!["svc".into()],
            ..Default::default()
        }
    }

    #[test]
    fn ids_show_as_sixteen_hex_digits_and_round_trip_through_i64() {
        let id = TemplateId(u64::MAX - 1);
        assert_eq!(id.to_string(), "fffffffffffffffe");
        assert_eq!(TemplateId::from_i64(id.as_i64()), id);
        assert_eq!(TemplateId::parse_hex("fffffffffffffffe"), Some(id));
        assert_eq!(TemplateId::parse_hex("zz"), None);
        assert_eq!(TemplateId::parse_hex(&"f".repeat(17)), None);
    }

    #[test]
    fn merge_keeps_the_earliest_first_seen_and_the_latest_state() {
        let mut stored = t(10, 100, 200, "a <*>");
        stored.merge(&t(15, 150, 300, "a <*> b"));
        assert_eq!((stored.count, stored.first_seen_ns, stored.last_seen_ns), (15, 100, 300));
        assert_eq!(stored.template, "a <*> b");
        // An older state arriving late changes nothing but first seen.
        stored.merge(&t(3, 50, 60, "old"));
        assert_eq!((stored.count, stored.first_seen_ns, stored.last_seen_ns), (15, 50, 300));
        assert_eq!(stored.template, "a <*> b");
    }
}
