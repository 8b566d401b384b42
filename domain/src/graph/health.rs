//! The health of a node or edge from its RED numbers, as the system graph and agents show it.

use crate::graph::stats::Red;

/// A health score with its status and the reasons it is not perfect.
#[derive(Debug, Clone, PartialEq)]
pub struct Health {
    /// 1 − 5 × error rate − the share of p99 latency beyond 500 ms (per 2 s), clamped to 0..1
    /// and rounded to two decimals.
    pub score: f64,
    /// `healthy` (≥ 0.9), `degraded` (≥ 0.7) or `critical`.
    pub status: &'static str,
    /// One line per threshold crossed: error rate above 5 %, p99 above 500 ms.
    pub alerts: Vec<String>,
}

/// The health of `r`.
pub fn health(r: &Red) -> Health {
    let finite = |v: f64| if v.is_finite() { v } else { 0.0 };
    let slow = ((finite(r.p99_ns) / 1e6 - 500.0) / 2_000.0).max(0.0);
    let score = ((1.0 - 5.0 * finite(r.error_rate) - slow).clamp(0.0, 1.0) * 100.0).round() / 100.0;
    let status = if score >= 0.9 {
        "healthy"
    } else if score >= 0.7 {
        "degraded"
    } else {
        "critical"
    };
    let mut alerts = Vec::new();
    if r.error_rate > 0.05 {
        alerts.push(format!("error rate {:.1} % is above 5 %", r.error_rate * 100.0));
    }
    if r.p99_ns > 500e6 {
        alerts.push(format!("p99 latency {:.0} ms is above 500 ms", r.p99_ns / 1e6));
    }
    Health { score, status, alerts }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_and_slow_tails_lower_the_score() {
        let red = |error_rate: f64, p99_ms: f64| Red { error_rate, p99_ns: p99_ms * 1e6, ..Red::default() };
        assert_eq!(health(&red(0.0, 100.0)), Health { score: 1.0, status: "healthy", alerts: vec![] });
        let h = health(&red(0.04, 100.0));
        assert_eq!((h.score, h.status), (0.8, "degraded"));
        let h = health(&red(1.0 / 3.0, 2_500.0));
        assert_eq!((h.score, h.status, h.alerts.len()), (0.0, "critical", 2));
        assert!(h.alerts[0].starts_with("error rate 33.3 %"));
        assert_eq!(health(&red(0.0, 1_500.0)).score, 0.5);
        assert_eq!(health(&red(f64::NAN, f64::NAN)).score, 1.0, "no calls is not unhealthy");
    }
}
