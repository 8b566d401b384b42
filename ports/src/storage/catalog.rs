//! The catalogue of names a tenant's data uses: which services sent spans, their operations
//! (span names), and which metrics each service reports, with when each was first and last
//! seen. It answers "which services / operations / metrics are there" without scanning the
//! spans or points themselves.
//!
//! Adapters keep it as a small table written with the telemetry: [`catalog_entries`] says what
//! a write adds, and a [`CatalogCache`] skips what the table already says to within
//! [`CATALOG_SLACK_NS`], so each name is rewritten at most a few times an hour however much data
//! it has. Reads therefore widen their window by the slack.

use crate::storage::TenantBatch;
use std::collections::HashMap;
use std::sync::Arc;

/// How far a catalogue entry's last-seen time may lag the data (ten minutes): reads widen their
/// window by this much.
pub const CATALOG_SLACK_NS: i64 = 600_000_000_000;

/// The most names one catalogue read returns.
pub const MAX_CATALOG_LIMIT: usize = 10_000;

/// What a catalogue entry names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CatalogSignal {
    /// A span name of a service.
    Span,
    /// A metric a service reports.
    Metric,
}

impl CatalogSignal {
    /// The stored number.
    pub fn as_i64(self) -> i64 {
        match self {
            Self::Span => 1,
            Self::Metric => 2,
        }
    }
}

/// One (service, name) of a tenant and the time its data covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogEntry {
    pub tenant: Arc<str>,
    pub signal: CatalogSignal,
    pub service: String,
    pub name: String,
    pub first_seen_ns: i64,
    pub last_seen_ns: i64,
}

/// An entry's identity as a 64-bit hash: the cache keeps no strings and builds none to look up
/// (a collision, at odds of one in 2^64, only delays one entry's update).
fn key_of(tenant: &str, signal: CatalogSignal, service: &str, name: &str) -> u64 {
    let mut h = otelcontext_domain::hash::StableHasher::new();
    h.field(tenant.as_bytes()).u64(signal.as_i64() as u64).field(service.as_bytes()).field(name.as_bytes());
    h.finish()
}

/// The distinct (service, span name) and (service, metric name) pairs of a write, each with the
/// earliest start and latest end (or time) of its records; only those `keep` accepts (given
/// its key, first and last seen) are built.
fn distinct(batches: &[TenantBatch], keep: impl Fn(u64, i64, i64) -> bool) -> Vec<CatalogEntry> {
    let mut seen: HashMap<(CatalogSignal, &str, &str), (i64, i64)> = HashMap::new();
    let mut out = Vec::new();
    for b in batches {
        seen.clear();
        let spans =
            b.spans.iter().map(|s| (CatalogSignal::Span, s.service_name(), s.name.as_str(), s.start_ns, s.end_ns));
        let points = b
            .metrics
            .iter()
            .map(|p| (CatalogSignal::Metric, p.resource.service_name.as_str(), p.name.as_str(), p.time_ns, p.time_ns));
        for (signal, service, name, first, last) in spans.chain(points) {
            let e = seen.entry((signal, service, name)).or_insert((first, last.max(first)));
            e.0 = e.0.min(first);
            e.1 = e.1.max(last).max(first);
        }
        let tenant = b.tenant.shared();
        let mut entries: Vec<CatalogEntry> = seen
            .iter()
            .filter(|((signal, service, name), (first, last))| {
                keep(key_of(&tenant, *signal, service, name), *first, *last)
            })
            .map(|((signal, service, name), (first, last))| CatalogEntry {
                tenant: tenant.clone(),
                signal: *signal,
                service: (*service).to_owned(),
                name: (*name).to_owned(),
                first_seen_ns: *first,
                last_seen_ns: *last,
            })
            .collect();
        entries.sort_by(|a, b| (a.signal, &a.service, &a.name).cmp(&(b.signal, &b.service, &b.name)));
        out.extend(entries);
    }
    out
}

/// The distinct (service, span name) and (service, metric name) pairs of a write, each with the
/// earliest start and latest end (or time) of its records.
pub fn catalog_entries(batches: &[TenantBatch]) -> Vec<CatalogEntry> {
    distinct(batches, |_, _, _| true)
}

/// What the catalogue table is known to say, so writes only touch it when it would change by
/// more than [`CATALOG_SLACK_NS`]. Bounded: past `cap` entries it forgets everything (the next
/// writes then upsert again, which is harmless).
#[derive(Debug, Default)]
pub struct CatalogCache {
    known: HashMap<u64, (i64, i64)>,
    cap: usize,
}

impl CatalogCache {
    pub fn new(cap: usize) -> Self {
        Self { known: HashMap::new(), cap }
    }

    /// The entries the table must be told about: new ones, ones seen earlier than it knows, and
    /// ones seen more than the slack later than it knows.
    pub fn needed(&self, entries: Vec<CatalogEntry>) -> Vec<CatalogEntry> {
        entries
            .into_iter()
            .filter(|e| {
                self.is_needed(key_of(&e.tenant, e.signal, &e.service, &e.name), e.first_seen_ns, e.last_seen_ns)
            })
            .collect()
    }

    /// [`CatalogCache::needed`] of a write's [`catalog_entries`], building only those needed:
    /// most writes name only what the table already says.
    pub fn needed_in(&self, batches: &[TenantBatch]) -> Vec<CatalogEntry> {
        distinct(batches, |key, first, last| self.is_needed(key, first, last))
    }

    fn is_needed(&self, key: u64, first: i64, last: i64) -> bool {
        match self.known.get(&key) {
            None => true,
            Some((known_first, known_last)) => first < *known_first || last > known_last + CATALOG_SLACK_NS,
        }
    }

    /// Records entries the table now holds (after the write committed).
    pub fn remember(&mut self, written: &[CatalogEntry]) {
        if self.known.len() + written.len() > self.cap {
            self.known.clear();
        }
        for e in written {
            let key = key_of(&e.tenant, e.signal, &e.service, &e.name);
            let k = self.known.entry(key).or_insert((e.first_seen_ns, e.last_seen_ns));
            k.0 = k.0.min(e.first_seen_ns);
            k.1 = k.1.max(e.last_seen_ns);
        }
    }
}

#[cfg(all(test, feature = "testkit"))]
mod tests {
    use super::*;
    use crate::conformance::fixtures::{T0, plain_span, point, tid};
    use otelcontext_domain::{PointValue, TenantId};

    const MIN: i64 = 60_000_000_000;

    #[test]
    fn a_write_names_each_service_and_name_once_with_its_time_span() {
        let t = TenantId::parse("t").unwrap();
        let mut b = TenantBatch::new(t.clone());
        b.spans.push(plain_span(tid(1), 1, None, "api", "GET /a", 10 * MIN, 11 * MIN));
        b.spans.push(plain_span(tid(2), 1, None, "api", "GET /a", 5 * MIN, 6 * MIN));
        b.spans.push(plain_span(tid(3), 1, None, "db", "query", 7 * MIN, 8 * MIN));
        b.metrics.push(point("cpu", "api", 9 * MIN, PointValue::Gauge { value: 1.0 }));
        let e = catalog_entries(std::slice::from_ref(&b));
        assert_eq!(CatalogCache::new(10).needed_in(std::slice::from_ref(&b)), e, "an empty cache needs them all");
        let mut cache = CatalogCache::new(10);
        cache.remember(&e);
        assert!(cache.needed_in(&[b]).is_empty(), "a known write needs nothing");
        let shown: Vec<(CatalogSignal, &str, &str, i64, i64)> = e
            .iter()
            .map(|e| {
                (
                    e.signal,
                    e.service.as_str(),
                    e.name.as_str(),
                    (e.first_seen_ns - T0) / MIN,
                    (e.last_seen_ns - T0) / MIN,
                )
            })
            .collect();
        assert_eq!(
            shown,
            [
                (CatalogSignal::Span, "api", "GET /a", 5, 11),
                (CatalogSignal::Span, "db", "query", 7, 8),
                (CatalogSignal::Metric, "api", "cpu", 9, 9)
            ]
        );
    }

    #[test]
    fn the_cache_rewrites_an_entry_only_when_it_moves_by_more_than_the_slack() {
        let entry = |first: i64, last: i64| CatalogEntry {
            tenant: Arc::from("t"),
            signal: CatalogSignal::Span,
            service: "api".into(),
            name: "GET /a".into(),
            first_seen_ns: first * MIN,
            last_seen_ns: last * MIN,
        };
        let mut cache = CatalogCache::new(10);
        assert_eq!(cache.needed(vec![entry(100, 101)]).len(), 1, "new");
        cache.remember(&[entry(100, 101)]);
        assert!(cache.needed(vec![entry(100, 105)]).is_empty(), "within the slack");
        assert_eq!(cache.needed(vec![entry(100, 112)]).len(), 1, "past the slack");
        assert_eq!(cache.needed(vec![entry(90, 100)]).len(), 1, "earlier than known");
        let other_tenant = CatalogEntry { tenant: Arc::from("u"), ..entry(100, 101) };
        assert_eq!(cache.needed(vec![other_tenant]).len(), 1);
        let mut small = CatalogCache::new(1);
        small.remember(&[entry(1, 2)]);
        small.remember(&[CatalogEntry { name: "other".into(), ..entry(1, 2) }]);
        assert_eq!(small.known.len(), 1, "bounded");
    }
}
