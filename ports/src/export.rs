//! Export of a tenant's stored telemetry as OTLP/JSON, one export request per line, so that what
//! `POST /v1/*` accepted can be backed up, moved to another server or tenant, or replayed.

use crate::queries::QueryError;
use crate::storage::Cursor;
use async_trait::async_trait;
use otelcontext_domain::{LogRecord, MetricPoint, Span, TenantId};

/// The signal exported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportSignal {
    Traces,
    Logs,
    Metrics,
}

impl ExportSignal {
    /// Parses `traces`, `logs` or `metrics`.
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "traces" | "spans" => Some(Self::Traces),
            "logs" => Some(Self::Logs),
            "metrics" => Some(Self::Metrics),
            _ => None,
        }
    }
}

/// What to export: records of one signal whose time (span start, log timestamp, point time)
/// lies in `[start_ns, end_ns]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExportQuery {
    pub signal: ExportSignal,
    pub start_ns: i64,
    pub end_ns: i64,
}

/// One step of an export: OTLP/JSON lines, and where the next step starts (`None` at the end).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ExportChunk {
    pub lines: Vec<String>,
    pub next: Option<Cursor>,
}

/// Reads a tenant's records in steps, oldest first, as OTLP/JSON lines.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait Export: Send + Sync {
    /// The step after `cursor` (the first when `None`).
    async fn chunk(
        &self,
        tenant: &TenantId,
        query: &ExportQuery,
        cursor: Option<Cursor>,
    ) -> Result<ExportChunk, QueryError>;
}

/// Encodes records as one OTLP/JSON export request each call (records grouped by resource and
/// scope), in the form `POST /v1/*` accepts.
pub trait OtlpEncoder: Send + Sync {
    fn spans(&self, spans: &[Span]) -> String;
    fn logs(&self, logs: &[LogRecord]) -> String;
    fn metrics(&self, points: &[MetricPoint]) -> String;
}
