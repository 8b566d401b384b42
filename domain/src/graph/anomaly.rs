//! Anomaly detection over one tenant's graph, run every few seconds by the caller: each service's
//! last minute against its own baseline (the half hour before it). Four kinds:
//! - **error-rate spike**: the error rate of the calls entering it is at least `error_rate` and
//!   `error_factor` times the baseline's, three standard errors above it;
//! - **latency degradation**: its p95 is at least `latency_factor` times the baseline p95 and
//!   `latency_floor_ns` above it;
//! - **throughput drop**: it serves at most `1 - throughput_drop` of its baseline rate, three
//!   Poisson standard errors below it;
//! - **metric z-score**: a gauge it reports moved `metric_z` baseline standard deviations (with a
//!   floor of 1 % of the baseline mean, so a flat series that jumps does fire).
//!
//! Each needs `min_calls` calls in the recent window (the baseline rate for throughput) and
//! `min_points` baseline values for metrics, so a quiet service does not flap.
//!
//! Pure: the caller passes the time.

use super::ServiceGraph;
use super::peer::NodeKind;
use super::stats::SLOT_NS;
use crate::investigation::InvestigationSeverity;

/// What moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AnomalyKind {
    ErrorRateSpike,
    LatencyDegradation,
    ThroughputDrop,
    MetricZscore,
}

impl AnomalyKind {
    /// Stored and displayed name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ErrorRateSpike => "error_rate_spike",
            Self::LatencyDegradation => "latency_degradation",
            Self::ThroughputDrop => "throughput_drop",
            Self::MetricZscore => "metric_zscore",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::ErrorRateSpike, Self::LatencyDegradation, Self::ThroughputDrop, Self::MetricZscore]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

/// When a change is an anomaly.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Thresholds {
    /// The recent window (default one minute) and the baseline before it (half an hour).
    pub recent_ns: i64,
    pub baseline_ns: i64,
    /// Calls needed in the recent window.
    pub min_calls: u64,
    /// Lowest recent error rate (0..1) that is a spike, and how many times the baseline's.
    pub error_rate: f64,
    pub error_factor: f64,
    /// p95 over the baseline p95, and the least absolute rise.
    pub latency_factor: f64,
    pub latency_floor_ns: f64,
    /// Share of the baseline rate lost (0..1).
    pub throughput_drop: f64,
    /// Baseline standard deviations a gauge must move, and baseline values needed.
    pub metric_z: f64,
    pub min_points: u64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Self {
            recent_ns: 60 * 1_000_000_000,
            baseline_ns: 30 * 60 * 1_000_000_000,
            min_calls: 20,
            error_rate: 0.05,
            error_factor: 2.0,
            latency_factor: 2.0,
            latency_floor_ns: 10_000_000.0,
            throughput_drop: 0.5,
            metric_z: 4.0,
            min_points: 10,
        }
    }
}

/// One anomaly of one service.
#[derive(Debug, Clone, PartialEq)]
pub struct Anomaly {
    pub kind: AnomalyKind,
    pub service: String,
    /// The gauge, for a metric z-score.
    pub metric: Option<String>,
    pub severity: InvestigationSeverity,
    /// The end of the recent window.
    pub at_ns: i64,
    /// Recent and baseline value: error rate 0..1, p95 ns, calls per second, or the gauge mean.
    pub value: f64,
    pub baseline: f64,
    /// Calls (or values) behind each.
    pub recent_count: u64,
    pub baseline_count: u64,
}

impl Anomaly {
    /// One line for lists, e.g. `error rate of checkout 23.0 % (baseline 0.5 %)`.
    pub fn summary(&self) -> String {
        match self.kind {
            AnomalyKind::ErrorRateSpike => format!(
                "error rate of {} {:.1} % (baseline {:.1} %)",
                self.service,
                self.value * 100.0,
                self.baseline * 100.0
            ),
            AnomalyKind::LatencyDegradation => format!(
                "p95 latency of {} {:.1} ms (baseline {:.1} ms)",
                self.service,
                self.value / 1e6,
                self.baseline / 1e6
            ),
            AnomalyKind::ThroughputDrop => {
                format!("{} serves {:.2} calls/s (baseline {:.2} calls/s)", self.service, self.value, self.baseline)
            }
            AnomalyKind::MetricZscore => format!(
                "{} of {} at {:.4} (baseline {:.4})",
                self.metric.as_deref().unwrap_or("a metric"),
                self.service,
                self.value,
                self.baseline
            ),
        }
    }
}

/// The anomalies of every service of `graph` at `now_ns`, by service and kind.
pub fn detect(graph: &ServiceGraph, now_ns: i64, t: &Thresholds) -> Vec<Anomaly> {
    // Whole slots: the recent window ends with the slot holding `now`.
    let end = now_ns.div_euclid(SLOT_NS) * SLOT_NS + SLOT_NS;
    let split = end - t.recent_ns.max(SLOT_NS);
    let start = split - t.baseline_ns.max(SLOT_NS);
    let (recent_s, baseline_s) = ((end - split) as f64 / 1e9, (split - start) as f64 / 1e9);
    let mut out = Vec::new();
    for ((kind, name), node) in graph.nodes() {
        if *kind != NodeKind::Service {
            continue;
        }
        let (b, r) = (node.entered.summary(start, split), node.entered.summary(split, end));
        let anomaly = |kind, severity, value, baseline, recent_count, baseline_count| Anomaly {
            kind,
            service: name.clone(),
            metric: None,
            severity,
            at_ns: now_ns,
            value,
            baseline,
            recent_count,
            baseline_count,
        };
        if r.calls >= t.min_calls {
            // Error-rate spike, against the baseline's rate (or nothing, without a baseline).
            let p0 = b.error_rate;
            let se = (p0.max(1.0 / (b.calls + 1) as f64) * (1.0 - p0).max(0.01) / r.calls as f64).sqrt();
            if r.error_rate >= t.error_rate && r.error_rate >= t.error_factor * p0 && r.error_rate - p0 >= 3.0 * se {
                let severity = match r.error_rate {
                    x if x >= 0.2 => InvestigationSeverity::Critical,
                    x if x >= 0.1 => InvestigationSeverity::Warning,
                    _ => InvestigationSeverity::Info,
                };
                out.push(anomaly(AnomalyKind::ErrorRateSpike, severity, r.error_rate, p0, r.calls, b.calls));
            }
            // Latency degradation, against a baseline with calls of its own.
            if b.calls >= t.min_calls
                && r.p95_ns >= t.latency_factor * b.p95_ns
                && r.p95_ns - b.p95_ns >= t.latency_floor_ns
            {
                let ratio = r.p95_ns / b.p95_ns.max(1.0);
                let severity = match ratio {
                    x if x >= 5.0 => InvestigationSeverity::Critical,
                    x if x >= 3.0 => InvestigationSeverity::Warning,
                    _ => InvestigationSeverity::Info,
                };
                out.push(anomaly(AnomalyKind::LatencyDegradation, severity, r.p95_ns, b.p95_ns, r.calls, b.calls));
            }
        }
        // Throughput drop: as many calls as the baseline rate predicts for the recent window.
        let expected = b.calls as f64 * recent_s / baseline_s;
        if expected >= t.min_calls as f64
            && (r.calls as f64) <= (1.0 - t.throughput_drop) * expected
            && expected - r.calls as f64 >= 3.0 * expected.sqrt()
        {
            let lost = 1.0 - r.calls as f64 / expected;
            let severity = if lost >= 0.9 { InvestigationSeverity::Critical } else { InvestigationSeverity::Warning };
            out.push(anomaly(
                AnomalyKind::ThroughputDrop,
                severity,
                r.calls as f64 / recent_s,
                b.calls as f64 / baseline_s,
                r.calls,
                b.calls,
            ));
        }
        let mut metrics: Vec<(&String, f64, super::stats::ValueSummary, super::stats::ValueSummary)> = Vec::new();
        for (metric, values) in &node.metrics {
            let (vb, vr) = (values.summary(start, split), values.summary(split, end));
            if vb.count < t.min_points || vr.count == 0 {
                continue;
            }
            let z = vr.z_against(&vb);
            if z.abs() >= t.metric_z {
                metrics.push((metric, z, vb, vr));
            }
        }
        // The gauge that moved most, one anomaly per service and kind.
        if let Some((metric, z, vb, vr)) = metrics.into_iter().max_by(|a, b| a.1.abs().total_cmp(&b.1.abs())) {
            let severity = if z.abs() >= 2.0 * t.metric_z {
                InvestigationSeverity::Critical
            } else {
                InvestigationSeverity::Warning
            };
            let mut a = anomaly(AnomalyKind::MetricZscore, severity, vr.mean, vb.mean, vr.count, vb.count);
            a.metric = Some(metric.clone());
            out.push(a);
        }
    }
    out.sort_by(|a, b| (&a.service, a.kind).cmp(&(&b.service, b.kind)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::trace::{Entry, TraceFacts};
    use crate::graph::{GraphLimits, MetricFact};

    const S: i64 = 1_000_000_000;
    const MS: i64 = 1_000_000;
    const NOW: i64 = 1_700_000_000 * S;

    /// `api` serves `per_s` calls a second for the last 20 minutes; from `changed_at` seconds
    /// ago, `after` sets (duration, error) of each call, or `None` to drop it.
    fn graph(per_s: i64, changed_at: i64, after: &dyn Fn(i64) -> Option<(i64, bool)>) -> ServiceGraph {
        let mut g = ServiceGraph::new(GraphLimits::default());
        for ago_ms in (0..1_200_000).step_by((1_000 / per_s) as usize) {
            let t = NOW - ago_ms * MS;
            let (d, error) = if ago_ms < changed_at * 1_000 {
                match after(ago_ms) {
                    Some(x) => x,
                    None => continue,
                }
            } else {
                // One call in 200 fails.
                (10 * MS + (ago_ms % 7) * MS, ago_ms % 40_000 == 0)
            };
            let facts = TraceFacts {
                entries: vec![Entry {
                    service: "api",
                    operation: "GET",
                    instance: "",
                    end_ns: t,
                    duration_ns: d,
                    self_ns: d,
                    error,
                }],
                ..TraceFacts::default()
            };
            g.apply(&facts, NOW);
        }
        g
    }

    fn kinds(g: &ServiceGraph) -> Vec<AnomalyKind> {
        detect(g, NOW, &Thresholds::default()).into_iter().map(|a| a.kind).collect()
    }

    #[test]
    fn each_kind_fires_on_its_change_and_not_on_steady_traffic() {
        assert_eq!(kinds(&graph(5, 0, &|_| None)), [], "steady traffic with 0.5 % errors is normal");
        let errors = graph(5, 60, &|ms| Some((10 * MS, ms % 3 == 0)));
        assert_eq!(kinds(&errors), [AnomalyKind::ErrorRateSpike]);
        let slow = graph(5, 60, &|_| Some((80 * MS, false)));
        assert_eq!(kinds(&slow), [AnomalyKind::LatencyDegradation]);
        let quiet = graph(5, 60, &|ms| (ms % 1_000 == 0).then_some((10 * MS, false)));
        assert_eq!(kinds(&quiet), [AnomalyKind::ThroughputDrop]);
        let a = &detect(&errors, NOW, &Thresholds::default())[0];
        assert!(a.value > 0.3 && a.baseline < 0.01, "{a:?}");
        assert_eq!(a.severity, InvestigationSeverity::Critical);
        assert!(a.summary().starts_with("error rate of api"), "{}", a.summary());
    }

    #[test]
    fn quiet_services_and_small_changes_do_not_fire() {
        // One slow failing call every four seconds: too few in the last minute to judge their
        // errors or latency (but fewer than before: throughput dropped).
        let few = graph(1, 60, &|ms| (ms % 4_000 == 0).then_some((900 * MS, true)));
        assert_eq!(kinds(&few), [AnomalyKind::ThroughputDrop]);
        // 30 % slower is not a degradation at the default factor of 2.
        assert_eq!(kinds(&graph(5, 60, &|_| Some((14 * MS, false)))), []);
        let strict = Thresholds { latency_factor: 1.2, latency_floor_ns: 1.0, ..Thresholds::default() };
        let slower = graph(5, 60, &|_| Some((20 * MS, false)));
        assert_eq!(detect(&slower, NOW, &strict)[0].kind, AnomalyKind::LatencyDegradation, "thresholds are honoured");
    }

    #[test]
    fn a_gauge_that_jumps_fires_a_metric_zscore() {
        let mut g = graph(5, 0, &|_| None);
        let point = |ago_s: i64, value: f64| MetricFact {
            service: "api".into(),
            instance: String::new(),
            name: "process.cpu.utilization".into(),
            time_ns: NOW - ago_s * S,
            value,
        };
        let mut points: Vec<MetricFact> =
            (60..1_200).step_by(15).map(|s| point(s, 0.2 + (s % 4) as f64 * 0.01)).collect();
        g.apply_metrics(&points, NOW);
        assert_eq!(kinds(&g), [], "a steady gauge is normal");
        points = (0..60).step_by(15).map(|s| point(s, 0.9)).collect();
        g.apply_metrics(&points, NOW);
        let found = detect(&g, NOW, &Thresholds::default());
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(
            (found[0].kind, found[0].metric.as_deref()),
            (AnomalyKind::MetricZscore, Some("process.cpu.utilization"))
        );
    }

    #[test]
    fn kind_names_round_trip() {
        for k in [
            AnomalyKind::ErrorRateSpike,
            AnomalyKind::LatencyDegradation,
            AnomalyKind::ThroughputDrop,
            AnomalyKind::MetricZscore,
        ] {
            assert_eq!(AnomalyKind::parse(k.as_str()), Some(k));
        }
        assert_eq!(AnomalyKind::parse("latency_spike"), None);
    }
}
