//! Ingest filters: service allow/deny lists and the minimum log severity.

use crate::log::SeverityLevel;
use std::collections::HashSet;

/// Which services may send telemetry. The deny list is checked before the allow list; an empty
/// allow list allows every service.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ServiceFilter {
    allowed: HashSet<String>,
    excluded: HashSet<String>,
}

impl ServiceFilter {
    /// Builds a filter from allow and deny lists (entries are trimmed; empty entries ignored).
    pub fn new<I, J, S, T>(allowed: I, excluded: J) -> Self
    where
        I: IntoIterator<Item = S>,
        J: IntoIterator<Item = T>,
        S: AsRef<str>,
        T: AsRef<str>,
    {
        let clean = |s: &str| Some(s.trim().to_owned()).filter(|s| !s.is_empty());
        Self {
            allowed: allowed.into_iter().filter_map(|s| clean(s.as_ref())).collect(),
            excluded: excluded.into_iter().filter_map(|s| clean(s.as_ref())).collect(),
        }
    }

    /// True when neither list is set.
    pub fn is_open(&self) -> bool {
        self.allowed.is_empty() && self.excluded.is_empty()
    }

    /// Whether telemetry of `service` is accepted.
    pub fn admits(&self, service: &str) -> bool {
        !self.excluded.contains(service) && (self.allowed.is_empty() || self.allowed.contains(service))
    }
}

/// Drops log records below a level.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SeverityFilter {
    pub min: SeverityLevel,
}

impl SeverityFilter {
    /// Whether a record at `level` is kept.
    pub fn admits(&self, level: SeverityLevel) -> bool {
        level >= self.min
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_filter_table() {
        let cases: &[(&[&str], &[&str], &str, bool)] = &[
            (&[], &[], "any", true),
            (&["a", "b"], &[], "a", true),
            (&["a", "b"], &[], "c", false),
            (&[], &["noisy"], "noisy", false),
            (&[], &["noisy"], "quiet", true),
            (&["a"], &["a"], "a", false),
            (&[" a ", ""], &[], "a", true),
            (&["pay"], &[], "payments", false),
        ];
        for (allow, deny, svc, want) in cases {
            let f = ServiceFilter::new(allow.iter(), deny.iter());
            assert_eq!(f.admits(svc), *want, "allow {allow:?} deny {deny:?} service {svc}");
        }
        assert!(ServiceFilter::new([""], [" "]).is_open());
    }

    #[test]
    fn severity_filter_keeps_the_minimum_and_above() {
        let f = SeverityFilter { min: SeverityLevel::Info };
        assert!(!f.admits(SeverityLevel::Debug));
        assert!(f.admits(SeverityLevel::Info));
        assert!(f.admits(SeverityLevel::Fatal));
    }
}
