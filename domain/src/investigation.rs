//! Investigations (opened by anomalies) and graph snapshots, as stored. The evidence and graph
//! payloads are JSON documents whose shape belongs to the service-graph code; storage keeps the
//! columns that lists filter and sort on.

use serde_json::Value;

/// Where an investigation stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum InvestigationStatus {
    Detected,
    Triaged,
    Resolved,
}

impl InvestigationStatus {
    /// Stored lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Detected => "detected",
            Self::Triaged => "triaged",
            Self::Resolved => "resolved",
        }
    }

    /// Parses a stored or user-supplied name (case-insensitive).
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "detected" => Some(Self::Detected),
            "triaged" => Some(Self::Triaged),
            "resolved" => Some(Self::Resolved),
            _ => None,
        }
    }
}

/// How serious an investigation is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum InvestigationSeverity {
    Info,
    Warning,
    Critical,
}

impl InvestigationSeverity {
    /// Stored lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Info => "info",
            Self::Warning => "warning",
            Self::Critical => "critical",
        }
    }

    /// The stored rank (0 info, 1 warning, 2 critical), so lists can filter "at least".
    pub fn rank(self) -> i64 {
        match self {
            Self::Info => 0,
            Self::Warning => 1,
            Self::Critical => 2,
        }
    }

    /// The severity of a stored rank.
    pub fn from_rank(rank: i64) -> Option<Self> {
        match rank {
            0 => Some(Self::Info),
            1 => Some(Self::Warning),
            2 => Some(Self::Critical),
            _ => None,
        }
    }

    /// Parses a stored or user-supplied name (case-insensitive).
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "info" => Some(Self::Info),
            "warning" => Some(Self::Warning),
            "critical" => Some(Self::Critical),
            _ => None,
        }
    }
}

/// Longest investigation or snapshot id accepted (bytes).
pub const MAX_RECORD_ID_LEN: usize = 64;

/// One investigation of one tenant.
#[derive(Debug, Clone, PartialEq)]
pub struct Investigation {
    /// Unique within the tenant, at most [`MAX_RECORD_ID_LEN`] bytes.
    pub id: String,
    pub created_ns: i64,
    pub updated_ns: i64,
    pub status: InvestigationStatus,
    pub severity: InvestigationSeverity,
    /// What was detected, e.g. `error_rate_spike`, `latency_degradation`.
    pub kind: String,
    pub trigger_service: String,
    pub trigger_operation: String,
    pub root_service: String,
    pub root_operation: String,
    /// One-line description for lists.
    pub summary: String,
    /// Evidence and ranked root-cause candidates (JSON object).
    pub evidence: Value,
}

/// A point-in-time copy of a tenant's service graph.
#[derive(Debug, Clone, PartialEq)]
pub struct GraphSnapshot {
    /// Unique within the tenant, at most [`MAX_RECORD_ID_LEN`] bytes.
    pub id: String,
    pub created_ns: i64,
    pub service_count: u64,
    pub edge_count: u64,
    pub total_calls: u64,
    pub avg_health_score: f64,
    /// Nodes and edges (JSON object).
    pub graph: Value,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_and_severity_names_round_trip() {
        for s in [InvestigationStatus::Detected, InvestigationStatus::Triaged, InvestigationStatus::Resolved] {
            assert_eq!(InvestigationStatus::parse(s.as_str()), Some(s));
        }
        for s in [InvestigationSeverity::Info, InvestigationSeverity::Warning, InvestigationSeverity::Critical] {
            assert_eq!(InvestigationSeverity::parse(&s.as_str().to_uppercase()), Some(s));
            assert_eq!(InvestigationSeverity::from_rank(s.rank()), Some(s));
        }
        assert_eq!(InvestigationSeverity::from_rank(3), None);
        assert_eq!(InvestigationStatus::parse("open"), None);
    }
}
