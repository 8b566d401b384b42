//! The TSDB: metric points aggregated into fixed windows (30 s) per (tenant, metric, service,
//! attribute set), with cardinality caps.
//!
//! - Gauges, delta sums and non-monotonic sums are aggregated as values (count, sum, min, max,
//!   last). Cumulative monotonic sums, cumulative histograms and summaries are turned into deltas
//!   per source series (the point's resource included, so two pods of one service are two
//!   sources) with reset detection: a new start time or a value that went down starts again from
//!   zero. The first point of a cumulative source is its baseline and adds nothing, unless the
//!   source started inside that point's window (then all of it is new).
//! - Histograms (explicit and exponential) are merged bucket-wise, so quantiles can be read from
//!   any window ([`MetricBucket::quantile`]).
//! - Caps: past `max_series_per_tenant` series of a tenant in one window, or `max_series` series
//!   over all tenants in one window, a point goes to its tenant's `__overflow__` series (which
//!   counts points), and the caller is told so it can count it.
//! - Windows close `grace_ns` after their end and are then taken by the writer; a point later
//!   than that re-opens its window (the store merges the two writes) while it is at most
//!   `max_late_ns` old (7 days: the default retention); older points, and points too far in
//!   the future, are not aggregated.
//!
//! Pure: the caller passes the time.

use crate::bucket::{BucketHistogram, ExpHistogram, MetricBucket, bucket_start, series_key};
use crate::metric::{MetricPoint, PointValue, Temporality};
use crate::tenant::TenantId;
use crate::value::Attributes;
use std::collections::{BTreeMap, HashMap};

/// Name of the series that takes the points past a cardinality cap.
pub const OVERFLOW_NAME: &str = "__overflow__";

/// How the TSDB aggregates and what it holds at most.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TsdbConfig {
    pub width_ns: i64,
    /// Series over all tenants per window (0 = unlimited).
    pub max_series: usize,
    /// Series of one tenant per window (0 = unlimited).
    pub max_series_per_tenant: usize,
    /// How long after its end a window stays open.
    pub grace_ns: i64,
    /// Oldest point aggregated, relative to now.
    pub max_late_ns: i64,
    /// Furthest point in the future aggregated, relative to now.
    pub max_future_ns: i64,
    /// Cumulative sources remembered for deltas (0 = unlimited); past it, new sources are not
    /// aggregated until idle ones are forgotten.
    pub max_sources: usize,
    /// A cumulative source not seen for this long is forgotten (its next point is a baseline).
    pub source_ttl_ns: i64,
}

impl Default for TsdbConfig {
    fn default() -> Self {
        Self {
            width_ns: crate::bucket::BUCKET_WIDTH_NS,
            max_series: 10_000,
            max_series_per_tenant: 0,
            grace_ns: 5_000_000_000,
            max_late_ns: 7 * 86_400_000_000_000,
            max_future_ns: 300_000_000_000,
            max_sources: 20_000,
            source_ttl_ns: 900_000_000_000,
        }
    }
}

/// What happened to one point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admitted {
    /// Aggregated into its own series.
    Series,
    /// Counted in its tenant's overflow series: the tenant's cap was reached.
    TenantOverflow,
    /// Counted in its tenant's overflow series: the global cap was reached.
    GlobalOverflow,
    /// The first point of a cumulative source: remembered as the baseline of later deltas.
    Baseline,
    /// Not aggregated: older than `max_late_ns`.
    TooOld,
    /// Not aggregated: further than `max_future_ns` ahead.
    TooNew,
    /// Not aggregated: a cumulative point not newer than the last one of its source (a resend).
    Stale,
    /// Not aggregated: a new cumulative source while `max_sources` are remembered.
    Untracked,
}

/// The state of one cumulative source.
#[derive(Debug, Clone)]
struct Source {
    start_ns: i64,
    time_ns: i64,
    total: Totals,
}

/// Running totals of a cumulative point.
#[derive(Debug, Clone)]
enum Totals {
    Sum(f64),
    Histogram { count: u64, sum: f64, bounds: Vec<f64>, counts: Vec<u64> },
    Exponential { count: u64, sum: f64, hist: ExpHistogram },
    Summary { count: u64, sum: f64 },
}

/// What a point adds to its window.
#[derive(Debug, Clone)]
struct Observation {
    count: u64,
    sum: f64,
    min: f64,
    max: f64,
    last: f64,
    histogram: BucketHistogram,
}

impl Observation {
    fn value(v: f64) -> Self {
        Self { count: 1, sum: v, min: v, max: v, last: v, histogram: BucketHistogram::None }
    }

    /// The observation of a distribution; an unknown (NaN) sum adds nothing to the bucket's sum.
    fn distribution(count: u64, sum: f64, min: f64, max: f64, histogram: BucketHistogram) -> Self {
        Self { count, sum: if sum.is_nan() { 0.0 } else { sum }, min, max, last: mean(count, sum), histogram }
    }
}

#[derive(Debug, Default)]
struct Window {
    series: HashMap<(TenantId, i64), MetricBucket>,
    /// Normal (not overflow) series per tenant, and over all tenants.
    per_tenant: HashMap<TenantId, usize>,
    normal: usize,
}

/// The open windows and the cumulative sources.
#[derive(Debug)]
pub struct Tsdb {
    config: TsdbConfig,
    windows: BTreeMap<i64, Window>,
    sources: HashMap<(TenantId, i64), Source>,
}

impl Tsdb {
    pub fn new(config: TsdbConfig) -> Self {
        Self { config, windows: BTreeMap::new(), sources: HashMap::new() }
    }

    pub fn config(&self) -> &TsdbConfig {
        &self.config
    }

    /// Series held over all open windows.
    pub fn open_series(&self) -> usize {
        self.windows.values().map(|w| w.series.len()).sum()
    }

    /// Open windows.
    pub fn open_windows(&self) -> usize {
        self.windows.len()
    }

    /// Cumulative sources remembered.
    pub fn sources(&self) -> usize {
        self.sources.len()
    }

    /// Aggregates one point of `tenant` seen at `now_ns`.
    pub fn ingest(&mut self, tenant: &TenantId, point: &MetricPoint, now_ns: i64) -> Admitted {
        let c = self.config;
        if point.time_ns < now_ns.saturating_sub(c.max_late_ns) {
            return Admitted::TooOld;
        }
        if point.time_ns > now_ns.saturating_add(c.max_future_ns) {
            return Admitted::TooNew;
        }
        let start = bucket_start(point.time_ns, c.width_ns);
        let attributes_json = point.attributes.to_json();
        let key = series_key(&point.name, point.service_name(), &attributes_json);
        let window = self.windows.entry(start).or_default();
        let series = (tenant.clone(), key);
        let known = window.series.contains_key(&series);
        let overflow = if known {
            None
        } else {
            let of_tenant = window.per_tenant.get(tenant).copied().unwrap_or(0);
            if c.max_series_per_tenant > 0 && of_tenant >= c.max_series_per_tenant {
                Some(Admitted::TenantOverflow)
            } else if c.max_series > 0 && window.normal >= c.max_series {
                Some(Admitted::GlobalOverflow)
            } else {
                None
            }
        };
        if let Some(why) = overflow {
            let o = overflow_bucket(start, c.width_ns, point.time_ns);
            let key = (tenant.clone(), o.series_key());
            match window.series.get_mut(&key) {
                Some(b) => b.merge(&o),
                None => {
                    window.series.insert(key, o);
                }
            }
            return why;
        }
        let o = match observe(&mut self.sources, &c, tenant, point, &attributes_json, start) {
            Ok(o) => o,
            Err(why) => {
                if window.series.is_empty() {
                    self.windows.remove(&start);
                }
                return why;
            }
        };
        match window.series.get_mut(&series) {
            Some(b) => b.absorb(o.count, o.sum, o.min, o.max, (o.last, point.time_ns), &o.histogram),
            None => {
                let bucket = MetricBucket {
                    name: point.name.clone(),
                    service: point.service_name().to_owned(),
                    attributes: point.attributes.clone(),
                    start_ns: start,
                    width_ns: c.width_ns,
                    count: o.count,
                    sum: o.sum,
                    min: o.min,
                    max: o.max,
                    last: o.last,
                    last_ns: point.time_ns,
                    histogram: o.histogram,
                };
                *window.per_tenant.entry(tenant.clone()).or_default() += 1;
                window.normal += 1;
                window.series.insert(series, bucket);
            }
        }
        Admitted::Series
    }

    /// Takes the windows that closed by `now_ns` (their end plus the grace), grouped by tenant,
    /// and forgets cumulative sources idle for longer than their time to live.
    pub fn take_closed(&mut self, now_ns: i64) -> Vec<(TenantId, Vec<MetricBucket>)> {
        let closing_before = now_ns.saturating_sub(self.config.width_ns + self.config.grace_ns);
        let keep = self.windows.split_off(&(closing_before + 1));
        let closed = std::mem::replace(&mut self.windows, keep);
        let ttl_cutoff = now_ns.saturating_sub(self.config.source_ttl_ns);
        self.sources.retain(|_, s| s.time_ns >= ttl_cutoff);
        group(closed)
    }

    /// Takes every open window (at shutdown).
    pub fn take_all(&mut self) -> Vec<(TenantId, Vec<MetricBucket>)> {
        group(std::mem::take(&mut self.windows))
    }
}

fn group(windows: BTreeMap<i64, Window>) -> Vec<(TenantId, Vec<MetricBucket>)> {
    let mut by_tenant: BTreeMap<TenantId, Vec<MetricBucket>> = BTreeMap::new();
    for (_, w) in windows {
        for ((tenant, _), b) in w.series {
            by_tenant.entry(tenant).or_default().push(b);
        }
    }
    by_tenant.into_iter().collect()
}

fn overflow_bucket(start: i64, width: i64, time_ns: i64) -> MetricBucket {
    MetricBucket {
        name: OVERFLOW_NAME.into(),
        service: String::new(),
        attributes: Attributes::new(),
        start_ns: start,
        width_ns: width,
        count: 1,
        sum: 1.0,
        min: 1.0,
        max: 1.0,
        last: 1.0,
        last_ns: time_ns,
        histogram: BucketHistogram::None,
    }
}

fn mean(count: u64, sum: f64) -> f64 {
    if count == 0 { f64::NAN } else { sum / count as f64 }
}

/// The observation a point adds, turning cumulative points into deltas.
fn observe(
    sources: &mut HashMap<(TenantId, i64), Source>,
    c: &TsdbConfig,
    tenant: &TenantId,
    point: &MetricPoint,
    attributes_json: &str,
    window_start: i64,
) -> Result<Observation, Admitted> {
    let total = match &point.value {
        PointValue::Gauge { value } => return Ok(Observation::value(*value)),
        PointValue::Sum { value, temporality, monotonic } => {
            if *temporality != Temporality::Cumulative || !*monotonic {
                return Ok(Observation::value(*value));
            }
            Totals::Sum(*value)
        }
        PointValue::Histogram { count, sum, min, max, bounds, bucket_counts, temporality } => {
            let sum = sum.unwrap_or(f64::NAN);
            if *temporality != Temporality::Cumulative {
                let (min, max) = (min.unwrap_or(f64::NAN), max.unwrap_or(f64::NAN));
                return Ok(Observation::distribution(*count, sum, min, max, explicit(bounds, bucket_counts)));
            }
            Totals::Histogram { count: *count, sum, bounds: bounds.clone(), counts: bucket_counts.clone() }
        }
        PointValue::ExponentialHistogram {
            count,
            sum,
            min,
            max,
            scale,
            zero_count,
            zero_threshold: _,
            positive,
            negative,
            temporality,
        } => {
            let sum = sum.unwrap_or(f64::NAN);
            let hist = ExpHistogram::new(*scale, *zero_count, positive.clone(), negative.clone());
            if *temporality != Temporality::Cumulative {
                let (min, max) = (min.unwrap_or(f64::NAN), max.unwrap_or(f64::NAN));
                return Ok(Observation::distribution(*count, sum, min, max, BucketHistogram::Exponential(hist)));
            }
            Totals::Exponential { count: *count, sum, hist }
        }
        PointValue::Summary { count, sum, .. } => Totals::Summary { count: *count, sum: *sum },
    };
    let key = (tenant.clone(), point.series_key_for_attributes(attributes_json));
    let started_here = point.start_ns > 0 && point.start_ns >= window_start;
    let Some(prev) = sources.get_mut(&key) else {
        if c.max_sources > 0 && sources.len() >= c.max_sources {
            return Err(Admitted::Untracked);
        }
        let first = Source { start_ns: point.start_ns, time_ns: point.time_ns, total: total.clone() };
        sources.insert(key, first);
        // All of a source that started in this window is new; otherwise this is the baseline.
        return if started_here { Ok(delta(None, &total)) } else { Err(Admitted::Baseline) };
    };
    if point.time_ns <= prev.time_ns {
        return Err(Admitted::Stale);
    }
    let restarted = (point.start_ns != 0 && point.start_ns != prev.start_ns) || went_down(&prev.total, &total);
    let observation = delta(if restarted { None } else { Some(&prev.total) }, &total);
    *prev = Source { start_ns: point.start_ns, time_ns: point.time_ns, total };
    Ok(observation)
}

fn explicit(bounds: &[f64], counts: &[u64]) -> BucketHistogram {
    if counts.is_empty() {
        BucketHistogram::None
    } else {
        BucketHistogram::Buckets { bounds: bounds.to_vec(), counts: counts.to_vec() }
    }
}

/// Whether a total is below the previous one (the source restarted without a new start time).
fn went_down(prev: &Totals, now: &Totals) -> bool {
    match (prev, now) {
        (Totals::Sum(a), Totals::Sum(b)) => b < a,
        (Totals::Histogram { count: a, .. }, Totals::Histogram { count: b, .. })
        | (Totals::Exponential { count: a, .. }, Totals::Exponential { count: b, .. })
        | (Totals::Summary { count: a, .. }, Totals::Summary { count: b, .. }) => b < a,
        // The metric changed type: start again.
        _ => true,
    }
}

/// `now − prev` as an observation (`prev = None`: all of `now`).
fn delta(prev: Option<&Totals>, now: &Totals) -> Observation {
    match (prev, now) {
        (Some(Totals::Sum(a)), Totals::Sum(b)) => Observation { last: *b, ..Observation::value(b - a) },
        (None, Totals::Sum(b)) => Observation::value(*b),
        (prev, Totals::Histogram { count, sum, bounds, counts }) => {
            let (dc, ds, dh) = match prev {
                Some(Totals::Histogram { count: pc, sum: ps, bounds: pb, counts: pcs }) => {
                    let hist = if pb == bounds && pcs.len() == counts.len() {
                        explicit(bounds, &counts.iter().zip(pcs).map(|(n, p)| n.saturating_sub(*p)).collect::<Vec<_>>())
                    } else {
                        BucketHistogram::Conflict
                    };
                    (count.saturating_sub(*pc), sum - ps, hist)
                }
                _ => (*count, *sum, explicit(bounds, counts)),
            };
            Observation::distribution(dc, ds, f64::NAN, f64::NAN, dh)
        }
        (prev, Totals::Exponential { count, sum, hist }) => {
            let (dc, ds, dh) = match prev {
                Some(Totals::Exponential { count: pc, sum: ps, hist: ph }) => {
                    (count.saturating_sub(*pc), sum - ps, hist.minus(ph))
                }
                _ => (*count, *sum, hist.clone()),
            };
            Observation::distribution(dc, ds, f64::NAN, f64::NAN, BucketHistogram::Exponential(dh))
        }
        (prev, Totals::Summary { count, sum }) => {
            let (dc, ds) = match prev {
                Some(Totals::Summary { count: pc, sum: ps }) => (count.saturating_sub(*pc), sum - ps),
                _ => (*count, *sum),
            };
            Observation::distribution(dc, ds, f64::NAN, f64::NAN, BucketHistogram::None)
        }
        // A sum after a different type: all of it.
        (Some(_), Totals::Sum(b)) => Observation::value(*b),
    }
}

#[cfg(test)]
mod tests;
