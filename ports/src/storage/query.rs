//! What the read methods of the storage ports take: time ranges, filters, sort orders, limits
//! and cursors. Times are unix nanoseconds; both ends of a range are inclusive.

use crate::storage::{Cursor, StorageError};
use otelcontext_domain::search::TextQuery;
use otelcontext_domain::{
    InvestigationSeverity, InvestigationStatus, LogRecord, SeverityLevel, SpanKind, StatusCode, TemplateId, TraceId,
};

/// A time range; an open end is unbounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TimeRange {
    pub start_ns: Option<i64>,
    pub end_ns: Option<i64>,
}

impl TimeRange {
    /// `[start, end]`.
    pub fn between(start_ns: i64, end_ns: i64) -> Self {
        Self { start_ns: Some(start_ns), end_ns: Some(end_ns) }
    }

    /// Whether `t` lies inside.
    pub fn contains(&self, t: i64) -> bool {
        self.start_ns.is_none_or(|s| t >= s) && self.end_ns.is_none_or(|e| t <= e)
    }

    /// `InvalidArgument` when the start is after the end.
    pub fn validate(&self) -> Result<(), StorageError> {
        match (self.start_ns, self.end_ns) {
            (Some(s), Some(e)) if s > e => {
                Err(StorageError::InvalidArgument(format!("time range starts ({s}) after it ends ({e})")))
            }
            _ => Ok(()),
        }
    }
}

/// Order of time-sorted results.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortOrder {
    #[default]
    NewestFirst,
    OldestFirst,
}

/// An attribute that must be present with this value. The value is compared with the attribute
/// rendered as text: strings as they are, numbers in decimal, booleans as `true`/`false`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttributeFilter {
    pub key: String,
    pub value: String,
}

/// Checks a limit: at least 1.
pub fn validate_limit(limit: usize) -> Result<(), StorageError> {
    if limit == 0 { Err(StorageError::InvalidArgument("limit must be at least 1".into())) } else { Ok(()) }
}

/// Checks the arguments of a catalogue read: a limit of 1 to [`crate::storage::MAX_CATALOG_LIMIT`]
/// and a range that does not end before it starts.
pub fn validate_catalog_read(time: &TimeRange, limit: usize) -> Result<(), StorageError> {
    time.validate()?;
    if limit == 0 || limit > crate::storage::MAX_CATALOG_LIMIT {
        return Err(StorageError::InvalidArgument(format!(
            "limit {limit}: expected 1 to {}",
            crate::storage::MAX_CATALOG_LIMIT
        )));
    }
    Ok(())
}

/// Checks that a cursor is of the kind the query's order pages with: keyset (`After`) for time
/// and value orders, positional (`Skip`) for relevance.
fn validate_cursor(cursor: Option<Cursor>, positional: bool) -> Result<(), StorageError> {
    match (cursor, positional) {
        (Some(Cursor::Skip(_)), false) | (Some(Cursor::After { .. }), true) => {
            Err(StorageError::InvalidArgument("the cursor does not belong to this query's order".into()))
        }
        _ => Ok(()),
    }
}

/// Order of trace search results.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TraceSort {
    /// Latest start first.
    #[default]
    Newest,
    Oldest,
    /// Longest duration first.
    Longest,
    Shortest,
}

/// A trace search. Service, operation and attributes must all hold for one span of the trace;
/// time, status and duration apply to the trace row (time is the trace's start).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TraceQuery {
    pub time: TimeRange,
    pub service: Option<String>,
    pub operation: Option<String>,
    pub attributes: Vec<AttributeFilter>,
    pub status: Option<StatusCode>,
    pub min_duration_ns: Option<i64>,
    pub max_duration_ns: Option<i64>,
    pub sort: TraceSort,
    pub limit: usize,
    pub cursor: Option<Cursor>,
}

impl TraceQuery {
    /// Checks the range, the duration bounds, the limit and the cursor's kind.
    pub fn validate(&self) -> Result<(), StorageError> {
        self.time.validate()?;
        validate_limit(self.limit)?;
        validate_cursor(self.cursor, false)?;
        if let (Some(lo), Some(hi)) = (self.min_duration_ns, self.max_duration_ns)
            && lo > hi
        {
            return Err(StorageError::InvalidArgument(format!("min duration {lo}ns exceeds max duration {hi}ns")));
        }
        validate_attributes(&self.attributes)
    }
}

/// A span search (spans of any trace), by start time.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SpanQuery {
    pub time: TimeRange,
    pub service: Option<String>,
    pub operation: Option<String>,
    pub kind: Option<SpanKind>,
    pub status: Option<StatusCode>,
    pub attributes: Vec<AttributeFilter>,
    pub sort: SortOrder,
    pub limit: usize,
    pub cursor: Option<Cursor>,
}

impl SpanQuery {
    /// Checks the range, attributes, limit and the cursor's kind.
    pub fn validate(&self) -> Result<(), StorageError> {
        self.time.validate()?;
        validate_limit(self.limit)?;
        validate_cursor(self.cursor, false)?;
        validate_attributes(&self.attributes)
    }
}

/// Order of log search results.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogSort {
    #[default]
    Newest,
    Oldest,
    /// Best full-text match first (the engine's ranking; newest first without a text query).
    /// Pages of this order continue by position, so records arriving meanwhile may shift them.
    Relevance,
}

/// A log search.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LogQuery {
    pub time: TimeRange,
    /// Full-text query over body and service name.
    pub text: Option<TextQuery>,
    pub service: Option<String>,
    /// Records at this level or above.
    pub min_severity: Option<SeverityLevel>,
    pub trace_id: Option<TraceId>,
    pub template_id: Option<TemplateId>,
    pub attributes: Vec<AttributeFilter>,
    pub sort: LogSort,
    pub limit: usize,
    pub cursor: Option<Cursor>,
}

impl LogQuery {
    /// Checks the range, attributes, limit and the cursor's kind.
    pub fn validate(&self) -> Result<(), StorageError> {
        self.time.validate()?;
        validate_limit(self.limit)?;
        validate_cursor(self.cursor, self.ranked())?;
        validate_attributes(&self.attributes)
    }

    /// Whether results are in relevance order (and page by position).
    pub fn ranked(&self) -> bool {
        self.sort == LogSort::Relevance && self.text.is_some()
    }

    /// Newest-first search of everything, `limit` records.
    pub fn recent(limit: usize) -> Self {
        Self { limit, ..Self::default() }
    }

    /// Whether a record passes every filter (time, service, severity, trace, template,
    /// attributes, text): the reference the adapters' searches agree with, and the live tail's
    /// filter.
    pub fn matches(&self, l: &LogRecord) -> bool {
        self.time.contains(l.timestamp_ns)
            && self.service.as_deref().is_none_or(|s| l.service_name() == s)
            && self.min_severity.is_none_or(|m| l.level() >= m)
            && self.trace_id.is_none_or(|t| l.trace_id == Some(t))
            && self.template_id.is_none_or(|t| l.template_id == Some(t))
            && self.attributes.iter().all(|f| l.attributes.has(&f.key, &f.value))
            && self.text.as_ref().is_none_or(|t| t.matches(&[&l.body_text(), l.service_name()]))
    }
}

/// Most attribute filters one query may hold.
pub const MAX_ATTRIBUTE_FILTERS: usize = 16;

fn validate_attributes(filters: &[AttributeFilter]) -> Result<(), StorageError> {
    if filters.len() > MAX_ATTRIBUTE_FILTERS {
        return Err(StorageError::InvalidArgument(format!("at most {MAX_ATTRIBUTE_FILTERS} attribute filters")));
    }
    if filters.iter().any(|f| f.key.is_empty()) {
        return Err(StorageError::InvalidArgument("attribute filter with an empty key".into()));
    }
    Ok(())
}

/// Identity of a stored log record (unique per database, never reused).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LogId(pub i64);

/// A log record as stored, with its id.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredLog {
    pub id: LogId,
    pub record: LogRecord,
}

/// A metric point search.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricQuery {
    pub time: TimeRange,
    pub name: Option<String>,
    pub service: Option<String>,
    pub attributes: Vec<AttributeFilter>,
    pub sort: SortOrder,
    pub limit: usize,
    pub cursor: Option<Cursor>,
}

impl Default for MetricQuery {
    /// Oldest first (series read forward in time).
    fn default() -> Self {
        Self {
            time: TimeRange::default(),
            name: None,
            service: None,
            attributes: Vec::new(),
            sort: SortOrder::OldestFirst,
            limit: 0,
            cursor: None,
        }
    }
}

impl MetricQuery {
    /// Checks the range, attributes, limit and the cursor's kind.
    pub fn validate(&self) -> Result<(), StorageError> {
        self.time.validate()?;
        validate_limit(self.limit)?;
        validate_cursor(self.cursor, false)?;
        validate_attributes(&self.attributes)
    }
}

/// A metric bucket search (time is the bucket start), oldest first.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct BucketQuery {
    pub time: TimeRange,
    pub name: Option<String>,
    pub service: Option<String>,
    pub limit: usize,
    pub cursor: Option<Cursor>,
}

impl BucketQuery {
    /// Checks the range, limit and the cursor's kind.
    pub fn validate(&self) -> Result<(), StorageError> {
        self.time.validate()?;
        validate_limit(self.limit)?;
        validate_cursor(self.cursor, false)
    }
}

/// How log templates are ordered (both largest first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TemplateSort {
    /// Most records first.
    #[default]
    Count,
    /// Most recently seen first.
    LastSeen,
}

/// A log template (pattern) search.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TemplateQuery {
    /// Templates seen in the range: first seen at or before its end, last seen at or after its start.
    pub time: TimeRange,
    /// Templates that appeared in this service.
    pub service: Option<String>,
    /// Only templates first seen at or after this time (the `new` flag is "first seen in the
    /// last hour": pass now − 1 h).
    pub first_seen_since_ns: Option<i64>,
    /// Only templates whose `spiking` flag is set.
    pub spiking_only: bool,
    pub sort: TemplateSort,
    pub limit: usize,
    pub cursor: Option<Cursor>,
}

impl TemplateQuery {
    /// Checks the range, limit and the cursor's kind.
    pub fn validate(&self) -> Result<(), StorageError> {
        self.time.validate()?;
        validate_limit(self.limit)?;
        validate_cursor(self.cursor, false)
    }

    /// Whether a template matches every filter (the reference the adapters' SQL must agree with).
    pub fn matches(&self, t: &otelcontext_domain::LogTemplate) -> bool {
        self.time.start_ns.is_none_or(|s| t.last_seen_ns >= s)
            && self.time.end_ns.is_none_or(|e| t.first_seen_ns <= e)
            && self.service.as_ref().is_none_or(|s| t.services.iter().any(|x| x == s))
            && self.first_seen_since_ns.is_none_or(|since| t.first_seen_ns >= since)
            && (!self.spiking_only || t.spiking)
    }

    /// The sort key of a template in this query's order.
    pub fn sort_key(&self, t: &otelcontext_domain::LogTemplate) -> i64 {
        match self.sort {
            TemplateSort::Count => i64::try_from(t.count).unwrap_or(i64::MAX),
            TemplateSort::LastSeen => t.last_seen_ns,
        }
    }
}

/// An investigation search (time is the creation time), newest first.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct InvestigationQuery {
    pub time: TimeRange,
    pub status: Option<InvestigationStatus>,
    pub min_severity: Option<InvestigationSeverity>,
    /// Trigger or root service.
    pub service: Option<String>,
    pub limit: usize,
    pub cursor: Option<Cursor>,
}

impl InvestigationQuery {
    /// Checks the range, limit and the cursor's kind.
    pub fn validate(&self) -> Result<(), StorageError> {
        self.time.validate()?;
        validate_limit(self.limit)?;
        validate_cursor(self.cursor, false)
    }
}

/// A graph snapshot search (time is the creation time), newest first.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SnapshotQuery {
    pub time: TimeRange,
    pub limit: usize,
    pub cursor: Option<Cursor>,
}

impl SnapshotQuery {
    /// Checks the range, limit and the cursor's kind.
    pub fn validate(&self) -> Result<(), StorageError> {
        self.time.validate()?;
        validate_limit(self.limit)?;
        validate_cursor(self.cursor, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reversed_ranges_and_zero_limits_are_invalid() {
        assert!(TimeRange::between(5, 1).validate().is_err());
        assert!(TimeRange::between(1, 1).validate().is_ok());
        assert!(LogQuery::recent(0).validate().is_err());
        assert!(LogQuery::recent(1).validate().is_ok());
        let q = TraceQuery { min_duration_ns: Some(10), max_duration_ns: Some(5), limit: 1, ..Default::default() };
        assert!(matches!(q.validate(), Err(StorageError::InvalidArgument(m)) if m.contains("min duration")));
        let attrs = vec![AttributeFilter { key: String::new(), value: "x".into() }];
        assert!(SpanQuery { attributes: attrs, limit: 1, ..Default::default() }.validate().is_err());
    }

    #[test]
    fn ranges_are_inclusive() {
        let r = TimeRange::between(10, 20);
        assert!(r.contains(10) && r.contains(20) && !r.contains(21) && !r.contains(9));
        assert!(TimeRange::default().contains(i64::MIN));
    }
}
