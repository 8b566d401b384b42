//! Aggregates over stored traces for dashboards: exact totals, duration percentiles (within
//! 1/128, from per-minute duration sketches), traffic per step and a latency heat map. Every aggregate reads the trace rows whose start lies in
//! `[start_ns, end_ns]`, optionally only those whose root span belongs to one of `services`.

use crate::storage::StorageError;
use otelcontext_domain::dashboard::{DurationSketch, MINUTE_NS, TraceRollup, minute_of};
use otelcontext_domain::{StatusCode, TraceSummary};
use std::collections::BTreeMap;

/// Most services one aggregate may filter on.
pub const MAX_STATS_SERVICES: usize = 20;
/// Most steps a traffic series or heat map may span.
pub const MAX_SERIES_STEPS: i64 = 1_440;
/// Most failing services a dashboard lists.
pub const TOP_FAILING_SERVICES: usize = 5;
/// The percentiles a dashboard reports, as fractions.
pub const DASHBOARD_PERCENTILES: [f64; 3] = [0.5, 0.95, 0.99];

/// Upper bounds (inclusive, ns) of the latency heat map's duration rows, a 1-2-5 series from
/// 100 µs to 100 s; a last, open row holds everything longer.
pub const LATENCY_BOUNDS_NS: [i64; 19] = [
    100_000,
    200_000,
    500_000,
    1_000_000,
    2_000_000,
    5_000_000,
    10_000_000,
    20_000_000,
    50_000_000,
    100_000_000,
    200_000_000,
    500_000_000,
    1_000_000_000,
    2_000_000_000,
    5_000_000_000,
    10_000_000_000,
    20_000_000_000,
    50_000_000_000,
    100_000_000_000,
];

/// The heat map row of a duration: the first bound it does not exceed, or the open last row.
pub fn latency_row(duration_ns: i64) -> usize {
    LATENCY_BOUNDS_NS.partition_point(|&b| b < duration_ns)
}

/// The 1-based rank of the `q` percentile among `n` ordered values by the nearest-rank method
/// (SQL's `percentile_disc`): `ceil(q·n)`, at least 1.
pub fn nearest_rank(q: f64, n: u64) -> u64 {
    ((q * n as f64).ceil() as u64).clamp(1, n.max(1))
}

/// The trace rows an aggregate reads.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TraceStatsQuery {
    pub start_ns: i64,
    pub end_ns: i64,
    /// Root services to keep; empty keeps all.
    pub services: Vec<String>,
}

impl TraceStatsQuery {
    /// Whether the aggregate reads this trace row.
    pub fn keeps(&self, t: &TraceSummary) -> bool {
        t.start_ns >= self.start_ns
            && t.start_ns <= self.end_ns
            && (self.services.is_empty() || self.services.contains(&t.root_service))
    }

    /// The statistics of `traces` (the rows the query keeps are picked here) with `logs` log
    /// records: the reference an adapter that holds its rows in memory computes with.
    pub fn stats_of<'a>(&self, traces: impl Iterator<Item = &'a TraceSummary>, logs: u64) -> TraceStats {
        let mut stats = StatsBuilder::default();
        for t in traces.filter(|t| self.keeps(t)) {
            stats.add_trace(&t.root_service, t.status, t.duration_ns());
        }
        stats.add_logs(i64::try_from(logs).unwrap_or(i64::MAX));
        stats.finish()
    }

    /// How an adapter with per-minute rollups reads the window: whole minutes from the rollups,
    /// the rest (at most a partial minute at each end) row by row.
    pub fn split_by_minute(&self) -> WindowSplit {
        let (s, e) = (self.start_ns, self.end_ns);
        let first = if minute_of(s) == s { Some(s) } else { minute_of(s).checked_add(MINUTE_NS) };
        // Minutes starting before `end` lie wholly inside the window.
        let end = e.checked_add(1).map_or_else(|| minute_of(e), minute_of);
        match first {
            Some(first) if first < end && s <= e => {
                let mut edges = Vec::new();
                if s < first {
                    edges.push((s, first - 1));
                }
                if end <= e {
                    edges.push((end, e));
                }
                WindowSplit { minutes: Some((first, end)), edges }
            }
            _ => WindowSplit { minutes: None, edges: if s <= e { vec![(s, e)] } else { vec![] } },
        }
    }

    /// Checks the range and the number of services.
    pub fn validate(&self) -> Result<(), StorageError> {
        if self.start_ns > self.end_ns {
            return Err(StorageError::InvalidArgument(format!(
                "time range starts ({}) after it ends ({})",
                self.start_ns, self.end_ns
            )));
        }
        if self.services.len() > MAX_STATS_SERVICES {
            return Err(StorageError::InvalidArgument(format!(
                "{} services: at most {MAX_STATS_SERVICES}",
                self.services.len()
            )));
        }
        Ok(())
    }
}

/// A series over the rows of `rows`, one point per `step_ns` from `rows.start_ns`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SeriesQuery {
    pub rows: TraceStatsQuery,
    pub step_ns: i64,
}

impl SeriesQuery {
    /// Checks the rows and that the step is positive and yields at most [`MAX_SERIES_STEPS`].
    pub fn validate(&self) -> Result<(), StorageError> {
        self.rows.validate()?;
        if self.step_ns <= 0 {
            return Err(StorageError::InvalidArgument("step must be positive".into()));
        }
        let steps = (self.rows.end_ns - self.rows.start_ns) / self.step_ns + 1;
        if steps > MAX_SERIES_STEPS {
            return Err(StorageError::InvalidArgument(format!(
                "{steps} steps: at most {MAX_SERIES_STEPS}; use a larger step or a shorter range"
            )));
        }
        Ok(())
    }

    /// When every step is made of whole minutes (the series starts on a minute and its step is a
    /// whole number of minutes): the window split as for the dashboard
    /// ([`TraceStatsQuery::split_by_minute`]), whose whole minutes an adapter may read from its
    /// rollups. `None` otherwise.
    pub fn split_by_minute(&self) -> Option<WindowSplit> {
        (self.step_ns % MINUTE_NS == 0 && minute_of(self.rows.start_ns) == self.rows.start_ns)
            .then(|| self.rows.split_by_minute())
    }

    /// Traffic summed per step from parts (rollup minutes and groups of rows) that each lie
    /// inside one step; steps without traces are left out.
    pub fn traffic_sum(&self, parts: impl IntoIterator<Item = TrafficPoint>) -> Vec<TrafficPoint> {
        let mut steps: BTreeMap<i64, (u64, u64)> = BTreeMap::new();
        for p in parts {
            let e = steps.entry(self.step_start(p.start_ns)).or_default();
            e.0 += p.traces;
            e.1 += p.errors;
        }
        steps
            .into_iter()
            .filter(|(_, (traces, _))| *traces > 0)
            .map(|(start_ns, (traces, errors))| TrafficPoint { start_ns, traces, errors })
            .collect()
    }

    /// The start of the step containing `t` (a time inside the range).
    pub fn step_start(&self, t: i64) -> i64 {
        self.rows.start_ns + (t - self.rows.start_ns) / self.step_ns * self.step_ns
    }

    /// The traffic of `traces` (the reference; see [`TraceStatsQuery::stats_of`]).
    pub fn traffic_of<'a>(&self, traces: impl Iterator<Item = &'a TraceSummary>) -> Vec<TrafficPoint> {
        let mut steps: BTreeMap<i64, (u64, u64)> = BTreeMap::new();
        for t in traces.filter(|t| self.rows.keeps(t)) {
            let e = steps.entry(self.step_start(t.start_ns)).or_default();
            e.0 += 1;
            e.1 += u64::from(t.status == StatusCode::Error);
        }
        steps.into_iter().map(|(start_ns, (traces, errors))| TrafficPoint { start_ns, traces, errors }).collect()
    }

    /// The latency heat map of `traces` (the reference; see [`TraceStatsQuery::stats_of`]).
    pub fn heatmap_of<'a>(&self, traces: impl Iterator<Item = &'a TraceSummary>) -> Vec<HeatCell> {
        let mut cells: BTreeMap<(i64, usize), u64> = BTreeMap::new();
        for t in traces.filter(|t| self.rows.keeps(t)) {
            *cells.entry((self.step_start(t.start_ns), latency_row(t.duration_ns()))).or_default() += 1;
        }
        cells.into_iter().map(|((start_ns, row), traces)| HeatCell { start_ns, row, traces }).collect()
    }
}

/// A window cut at minute boundaries (see [`TraceStatsQuery::split_by_minute`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowSplit {
    /// Rollup minutes to read: those starting in `[from, to)`.
    pub minutes: Option<(i64, i64)>,
    /// Inclusive time ranges to read row by row.
    pub edges: Vec<(i64, i64)>,
}

/// Sums rollups and single traces of a window into [`TraceStats`]; the reference
/// ([`TraceStatsQuery::stats_of`]) and the adapters that keep rollups both use it, so every
/// adapter reports the same percentiles.
#[derive(Debug, Default)]
pub struct StatsBuilder {
    services: BTreeMap<String, TraceRollup>,
    logs: i64,
}

impl StatsBuilder {
    /// Adds a rollup of `service`.
    pub fn add_rollup(&mut self, service: &str, rollup: &TraceRollup) {
        match self.services.get_mut(service) {
            Some(r) => r.merge(rollup),
            None => {
                self.services.insert(service.to_owned(), rollup.clone());
            }
        }
    }

    /// Adds one trace of `service`.
    pub fn add_trace(&mut self, service: &str, status: StatusCode, duration_ns: i64) {
        self.add_rollup(service, &TraceRollup::of(status, duration_ns, 1));
    }

    /// Adds log records.
    pub fn add_logs(&mut self, n: i64) {
        self.logs = self.logs.saturating_add(n);
    }

    pub fn finish(self) -> TraceStats {
        let count = |v: i64| u64::try_from(v).unwrap_or(0);
        let mut durations = DurationSketch::default();
        let (mut traces, mut errors, mut services) = (0u64, 0u64, 0u64);
        let mut top_failing = Vec::new();
        for (service, r) in &self.services {
            if r.traces <= 0 {
                continue;
            }
            services += 1;
            traces += count(r.traces);
            errors += count(r.errors);
            durations.merge(&r.durations);
            if r.errors > 0 {
                top_failing.push(FailingService {
                    service: service.clone(),
                    errors: count(r.errors),
                    traces: count(r.traces),
                });
            }
        }
        top_failing.sort_by(|a, b| b.errors.cmp(&a.errors).then_with(|| a.service.cmp(&b.service)));
        top_failing.truncate(TOP_FAILING_SERVICES);
        // Ranks are taken among the durations the sketch holds (the same as `traces` unless a
        // rollup was damaged).
        let held = count(durations.total());
        TraceStats {
            traces,
            errors,
            logs: count(self.logs),
            services,
            mean_duration_ns: (traces > 0).then(|| durations.sum() as f64 / traces as f64),
            percentiles_ns: if held == 0 {
                Vec::new()
            } else {
                DASHBOARD_PERCENTILES.iter().filter_map(|&q| durations.value_at_rank(nearest_rank(q, held))).collect()
            },
            top_failing,
        }
    }
}

/// A service with failed traces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailingService {
    pub service: String,
    pub errors: u64,
    pub traces: u64,
}

/// Totals of the trace rows (and of the log records of the same window and services).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TraceStats {
    pub traces: u64,
    /// Traces whose status is ERROR.
    pub errors: u64,
    /// Log records in the window (of the services, when filtered).
    pub logs: u64,
    /// Distinct root services.
    pub services: u64,
    /// Mean trace duration; `None` without traces.
    pub mean_duration_ns: Option<f64>,
    /// Trace durations at [`DASHBOARD_PERCENTILES`] by nearest rank, each reported as the midpoint
    /// of the duration bucket holding the exact value (within 1/128 of it, see
    /// [`otelcontext_domain::dashboard`]); empty without traces.
    pub percentiles_ns: Vec<i64>,
    /// At most [`TOP_FAILING_SERVICES`], most errors first (then by name).
    pub top_failing: Vec<FailingService>,
}

/// Traces started in one step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrafficPoint {
    pub start_ns: i64,
    pub traces: u64,
    pub errors: u64,
}

/// Traces of one step whose duration falls in one row of [`LATENCY_BOUNDS_NS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeatCell {
    pub start_ns: i64,
    /// Index into [`LATENCY_BOUNDS_NS`]; its length for the open last row.
    pub row: usize,
    pub traces: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_are_nearest_rank_and_rows_are_inclusive_bounds() {
        assert_eq!(nearest_rank(0.5, 4), 2);
        assert_eq!(nearest_rank(0.99, 100), 99);
        assert_eq!(nearest_rank(0.99, 101), 100);
        assert_eq!(nearest_rank(0.01, 3), 1);
        assert_eq!(nearest_rank(1.0, 3), 3);
        assert_eq!(nearest_rank(0.5, 0), 1);
        assert_eq!(latency_row(0), 0);
        assert_eq!(latency_row(100_000), 0);
        assert_eq!(latency_row(100_001), 1);
        assert_eq!(latency_row(i64::MAX), LATENCY_BOUNDS_NS.len());
    }

    #[test]
    fn series_steps_are_bounded_and_aligned_to_the_start() {
        let q = |start, end, step| SeriesQuery {
            rows: TraceStatsQuery { start_ns: start, end_ns: end, services: vec![] },
            step_ns: step,
        };
        assert!(q(0, 10, 0).validate().is_err());
        assert!(q(10, 0, 1).validate().is_err());
        assert!(q(0, MAX_SERIES_STEPS - 1, 1).validate().is_ok());
        assert!(q(0, MAX_SERIES_STEPS, 1).validate().is_err());
        assert_eq!(q(5, 100, 10).step_start(5), 5);
        assert_eq!(q(5, 100, 10).step_start(24), 15);
        let many = TraceStatsQuery { start_ns: 0, end_ns: 1, services: vec!["s".into(); MAX_STATS_SERVICES + 1] };
        assert!(many.validate().is_err());
    }

    #[test]
    fn windows_split_into_whole_minutes_and_partial_edges() {
        const M: i64 = MINUTE_NS;
        let split = |s, e| TraceStatsQuery { start_ns: s, end_ns: e, services: vec![] }.split_by_minute();
        let w = |minutes, edges: &[(i64, i64)]| WindowSplit { minutes, edges: edges.to_vec() };
        assert_eq!(split(0, M - 1), w(Some((0, M)), &[]));
        assert_eq!(split(0, M), w(Some((0, M)), &[(M, M)]));
        assert_eq!(split(1, 3 * M + 5), w(Some((M, 3 * M)), &[(1, M - 1), (3 * M, 3 * M + 5)]));
        assert_eq!(split(1, M + 5), w(None, &[(1, M + 5)]));
        assert_eq!(split(-M - 1, -1), w(Some((-M, 0)), &[(-M - 1, -M - 1)]));
        assert_eq!(split(5, 4), w(None, &[]));
        let all = split(i64::MIN, i64::MAX);
        assert_eq!(all.minutes, Some((i64::MIN, minute_of(i64::MAX))));
        assert_eq!(all.edges, vec![(minute_of(i64::MAX), i64::MAX)]);
        assert_eq!(split(i64::MAX - 1, i64::MAX), w(None, &[(i64::MAX - 1, i64::MAX)]));
        let series = |start, step| SeriesQuery {
            rows: TraceStatsQuery { start_ns: start, end_ns: start + 10 * M + 1, services: vec![] },
            step_ns: step,
        };
        assert_eq!(series(M, 2 * M).split_by_minute(), Some(w(Some((M, 11 * M)), &[(11 * M, 11 * M + 1)])));
        assert_eq!(series(M + 1, 2 * M).split_by_minute(), None, "steps would cut minutes");
        assert_eq!(series(M, 90_000_000_000).split_by_minute(), None);
        let q = series(0, 2 * M);
        let p = |start_ns, traces| TrafficPoint { start_ns, traces, errors: 0 };
        assert_eq!(q.traffic_sum([p(0, 1), p(M, 2), p(3 * M, 0), p(10 * M, 4)]), vec![p(0, 3), p(10 * M, 4)]);
    }

    #[test]
    fn stats_sum_rollups_and_rows_alike() {
        let mut from_rows = StatsBuilder::default();
        let mut from_rollups = StatsBuilder::default();
        let mut r = TraceRollup::default();
        for (i, d) in [5_000_000i64, 7_000_000, 9_000_000, 400_000_000].into_iter().enumerate() {
            let status = if i == 3 { StatusCode::Error } else { StatusCode::Ok };
            from_rows.add_trace("a", status, d);
            r.merge(&TraceRollup::of(status, d, 1));
        }
        from_rollups.add_rollup("a", &r);
        // A rollup emptied by purges lists no service.
        from_rollups.add_rollup("gone", &TraceRollup::default());
        let (x, y) = (from_rows.finish(), from_rollups.finish());
        assert_eq!(x, y);
        assert_eq!((x.traces, x.errors, x.services), (4, 1, 1));
        assert_eq!(x.mean_duration_ns, Some(105_250_000.0));
        assert_eq!(x.percentiles_ns.len(), 3);
        assert!((x.percentiles_ns[0] - 7_000_000).abs() * 128 <= 7_000_000, "{:?}", x.percentiles_ns);
        assert!((x.percentiles_ns[2] - 400_000_000).abs() * 128 <= 400_000_000);
        assert_eq!(x.top_failing, vec![FailingService { service: "a".into(), errors: 1, traces: 4 }]);
    }
}
