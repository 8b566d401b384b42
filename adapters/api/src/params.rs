//! Parsing and validation of query parameters into the storage ports' query structs.

use otelcontext_domain::duration::parse_duration;
use otelcontext_domain::search::TextQuery;
use otelcontext_domain::{SeverityLevel, StatusCode, TemplateId, TraceId};
use otelcontext_ports::storage::MAX_ATTRIBUTE_FILTERS;
use otelcontext_ports::{
    AttributeFilter, Cursor, LogQuery, LogSort, MAX_RCA_LIMIT, MAX_RCA_RANGE_NS, MAX_SERIES_STEPS, MAX_STATS_SERVICES,
    RcaQuery, TemplateQuery, TemplateSort, TimeRange, TraceQuery, TraceSort,
};

/// Page size when `limit` is absent.
pub const DEFAULT_LOG_LIMIT: usize = 100;
/// Largest `limit` accepted.
pub const MAX_LOG_LIMIT: usize = 1_000;

/// A time parameter: RFC 3339 (`2025-11-24T16:00:00Z`) or integer unix nanoseconds.
pub fn parse_time(text: &str) -> Result<i64, String> {
    let t = text.trim();
    if let Ok(ns) = t.parse::<i64>() {
        return Ok(ns);
    }
    chrono::DateTime::parse_from_rfc3339(t)
        .map_err(|e| format!("{t:?} is neither RFC 3339 nor unix nanoseconds ({e})"))?
        .timestamp_nanos_opt()
        .ok_or_else(|| format!("{t:?} is outside the range of nanosecond timestamps"))
}

/// A parameter given under either of two names (the original's and ours): the one given, or
/// both when they agree.
pub(crate) fn either(
    a: Option<String>,
    b: Option<String>,
    names: (&'static str, &'static str),
) -> Result<Option<String>, Invalid> {
    match (present(a), present(b)) {
        (Some(x), Some(y)) if x != y => {
            Err(("conflicting parameters", format!("{} and {} differ; give one", names.0, names.1)))
        }
        (x, y) => Ok(x.or(y)),
    }
}

/// `offset`: only 0 (or absent); pages continue with `cursor`.
pub(crate) fn no_offset(offset: Option<i64>) -> Result<(), Invalid> {
    match offset {
        None | Some(0) => Ok(()),
        Some(n) => Err((
            "invalid offset",
            format!("{n}: pages continue with cursor (the next_cursor of the previous page), not an offset"),
        )),
    }
}

/// Records a log context returns when `limit` is absent, and the most it returns.
pub const DEFAULT_CONTEXT_LIMIT: usize = 100;
/// How far before and after a log context looks by default (one minute), and at most (an hour).
pub const DEFAULT_CONTEXT_WINDOW_NS: i64 = 60_000_000_000;
pub const MAX_CONTEXT_WINDOW_NS: i64 = 3_600_000_000_000;

/// The window and limit of a log context.
pub(crate) fn context_window(window: Option<String>, limit: Option<i64>) -> Result<(i64, usize), Invalid> {
    let window_ns = match present(window) {
        None => DEFAULT_CONTEXT_WINDOW_NS,
        Some(w) => match duration_ns(&w) {
            Ok(ns) if ns > 0 && ns <= MAX_CONTEXT_WINDOW_NS => ns,
            Ok(_) => return Err(("invalid window", format!("{w:?}: expected more than 0 and at most 1h"))),
            Err(e) => return Err(("invalid window", e)),
        },
    };
    Ok((window_ns, limit_of(limit, DEFAULT_CONTEXT_LIMIT, MAX_LOG_LIMIT)?))
}

/// Results of a similar-log search when `limit` is absent, and the most.
pub const DEFAULT_SIMILAR_LIMIT: usize = 10;
pub const MAX_SIMILAR_LIMIT: usize = 50;

/// The text and limit of a similar-log search.
pub(crate) fn similar_query(q: Option<String>, limit: Option<i64>) -> Result<(String, usize), Invalid> {
    let text = present(q).ok_or(("missing q", "give the text to find similar log records to".to_owned()))?;
    if text.len() > 4_096 {
        return Err(("invalid q", "at most 4096 bytes".to_owned()));
    }
    Ok((text, limit_of(limit, DEFAULT_SIMILAR_LIMIT, MAX_SIMILAR_LIMIT)?))
}

/// The raw parameters of a log search.
pub(crate) struct LogParams {
    pub q: Option<String>,
    pub service: Option<String>,
    pub severity: Option<String>,
    pub trace_id: Option<String>,
    pub template_id: Option<String>,
    pub start: Option<String>,
    pub end: Option<String>,
    pub sort: Option<String>,
    pub limit: Option<i64>,
}

type Invalid = (&'static str, String);

/// A parameter's value, trimmed; `None` when absent or blank.
pub(crate) fn present(v: Option<String>) -> Option<String> {
    v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

impl LogParams {
    /// Validates every parameter; the error names the parameter and says what is accepted.
    /// `cursor` is the opened cursor of the request (see `QueryApi::open`).
    pub(crate) fn into_query(self, cursor: Option<Cursor>) -> Result<LogQuery, Invalid> {
        let text = match present(self.q) {
            None => None,
            Some(q) => TextQuery::parse(&q).map_err(|e| ("invalid q", e.to_string()))?,
        };
        let min_severity = present(self.severity)
            .map(|s| {
                SeverityLevel::parse_config(&s).ok_or_else(|| {
                    ("invalid severity", format!("{s:?}: expected TRACE, DEBUG, INFO, WARN, ERROR or FATAL"))
                })
            })
            .transpose()?;
        let trace_id = present(self.trace_id)
            .map(|t| TraceId::parse_hex(&t).map_err(|e| ("invalid trace_id", e.to_string())))
            .transpose()?;
        let template_id = present(self.template_id)
            .map(|t| {
                TemplateId::parse_hex(&t).ok_or(("invalid template_id", format!("{t:?}: expected 1-16 hex characters")))
            })
            .transpose()?;
        let start_ns = present(self.start).map(|t| parse_time(&t).map_err(|e| ("invalid start", e))).transpose()?;
        let end_ns = present(self.end).map(|t| parse_time(&t).map_err(|e| ("invalid end", e))).transpose()?;
        let time = TimeRange { start_ns, end_ns };
        time.validate().map_err(|e| ("invalid time range", e.to_string()))?;
        let sort = match present(self.sort).map(|s| s.to_ascii_lowercase()).as_deref() {
            None | Some("newest") => LogSort::Newest,
            Some("oldest") => LogSort::Oldest,
            Some("relevance") => LogSort::Relevance,
            Some(other) => return Err(("invalid sort", format!("{other:?}: expected newest, oldest or relevance"))),
        };
        let limit = limit_of(self.limit, DEFAULT_LOG_LIMIT, MAX_LOG_LIMIT)?;
        Ok(LogQuery {
            time,
            text,
            service: present(self.service),
            min_severity,
            trace_id,
            template_id,
            attributes: Vec::new(),
            sort,
            limit,
            cursor,
        })
    }
}

/// Page size of a trace search when `limit` is absent.
pub const DEFAULT_TRACE_LIMIT: usize = 20;
/// Largest `limit` of a trace search.
pub const MAX_TRACE_LIMIT: usize = 1_000;
/// How far back a search looks when neither `start` nor `time_range` is given.
pub const DEFAULT_WINDOW_NS: i64 = 3_600_000_000_000;

fn duration_ns(text: &str) -> Result<i64, String> {
    parse_duration(text)
        .map_err(|e| format!("{text:?}: {e} (e.g. 250ms, 1.5s)"))
        .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

/// A time window from `start`/`end` (RFC 3339 or unix ns) or `time_range` (relative to `now_ns`,
/// e.g. `15m`); neither gives the last `default_ns`. An open end is unbounded.
pub(crate) fn window(
    start: Option<String>,
    end: Option<String>,
    time_range: Option<String>,
    default_ns: i64,
    now_ns: i64,
) -> Result<TimeRange, Invalid> {
    let (start, end, range) = (present(start), present(end), present(time_range));
    let end_ns = end.map(|t| parse_time(&t).map_err(|e| ("invalid end", e))).transpose()?;
    let start_ns = match (start, range) {
        (Some(_), Some(_)) => return Err(("invalid time range", "give time_range or start, not both".to_owned())),
        (Some(t), None) => parse_time(&t).map_err(|e| ("invalid start", e))?,
        (None, range) => {
            let back = match range {
                Some(r) => duration_ns(&r).map_err(|e| ("invalid time_range", e))?,
                None => default_ns,
            };
            end_ns.unwrap_or(now_ns).saturating_sub(back)
        }
    };
    let time = TimeRange { start_ns: Some(start_ns), end_ns };
    time.validate().map_err(|e| ("invalid time range", e.to_string()))?;
    Ok(time)
}

/// `limit` within `1..=max`, `default` when absent.
fn limit_of(limit: Option<i64>, default: usize, max: usize) -> Result<usize, Invalid> {
    count_of("invalid limit", limit, default, max)
}

/// `key=value` attribute filters.
fn attribute_filters(raw: Vec<String>) -> Result<Vec<AttributeFilter>, Invalid> {
    if raw.len() > MAX_ATTRIBUTE_FILTERS {
        return Err(("invalid attribute", format!("at most {MAX_ATTRIBUTE_FILTERS} filters")));
    }
    raw.iter()
        .map(|a| match a.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() => {
                Ok(AttributeFilter { key: k.trim().to_owned(), value: v.to_owned() })
            }
            _ => Err(("invalid attribute", format!("{a:?}: expected key=value, e.g. http.route=/checkout"))),
        })
        .collect()
}

/// Page size of a metadata list when `limit` is absent.
pub const DEFAULT_NAMES_LIMIT: usize = 1_000;

/// The window and limit of a metadata list: everything retained unless `start`, `end` or
/// `time_range` narrow it.
pub(crate) fn names_query(
    start: Option<String>,
    end: Option<String>,
    time_range: Option<String>,
    limit: Option<i64>,
    now_ns: i64,
) -> Result<(TimeRange, usize), Invalid> {
    let (start, end, time_range) = (present(start), present(end), present(time_range));
    let time = if start.is_none() && time_range.is_none() {
        let end_ns = end.map(|t| parse_time(&t).map_err(|e| ("invalid end", e))).transpose()?;
        TimeRange { start_ns: None, end_ns }
    } else {
        window(start, end, time_range, DEFAULT_WINDOW_NS, now_ns)?
    };
    Ok((time, limit_of(limit, DEFAULT_NAMES_LIMIT, otelcontext_ports::MAX_CATALOG_LIMIT)?))
}

/// Patterns per page when `limit` is absent.
pub const DEFAULT_PATTERN_LIMIT: usize = 100;

/// The raw parameters of a pattern search.
pub(crate) struct PatternParams {
    pub service: Option<String>,
    pub start: Option<String>,
    pub end: Option<String>,
    pub time_range: Option<String>,
    pub new: Option<bool>,
    pub spiking: Option<bool>,
    pub sort: Option<String>,
    pub limit: Option<i64>,
}

impl PatternParams {
    /// Validates every parameter; `cursor` is the opened cursor of the request.
    pub(crate) fn into_query(self, cursor: Option<Cursor>, now_ns: i64) -> Result<TemplateQuery, Invalid> {
        let (time, _) = names_query(self.start, self.end, self.time_range, None, now_ns)?;
        let sort = match present(self.sort).map(|s| s.to_ascii_lowercase()).as_deref() {
            None | Some("count") => TemplateSort::Count,
            Some("last_seen") => TemplateSort::LastSeen,
            Some(other) => return Err(("invalid sort", format!("{other:?}: expected count or last_seen"))),
        };
        Ok(TemplateQuery {
            time,
            service: present(self.service),
            first_seen_since_ns: self
                .new
                .unwrap_or(false)
                .then(|| now_ns.saturating_sub(otelcontext_domain::pattern::NEW_WINDOW_NS)),
            spiking_only: self.spiking.unwrap_or(false),
            sort,
            limit: limit_of(self.limit, DEFAULT_PATTERN_LIMIT, MAX_LOG_LIMIT)?,
            cursor,
        })
    }
}

/// The raw parameters of a trace search (the original's names where it had them).
pub(crate) struct TraceParams {
    pub service: Vec<String>,
    pub operation: Option<String>,
    pub status: Option<String>,
    pub min_duration: Option<String>,
    pub max_duration: Option<String>,
    pub attributes: Vec<String>,
    pub start: Option<String>,
    pub end: Option<String>,
    pub time_range: Option<String>,
    pub sort_by: Option<String>,
    pub order_by: Option<String>,
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

impl TraceParams {
    /// Validates every parameter; `cursor` is the opened cursor of the request.
    pub(crate) fn into_query(self, cursor: Option<Cursor>, now_ns: i64) -> Result<TraceQuery, Invalid> {
        let mut services: Vec<String> = self.service.into_iter().filter_map(|s| present(Some(s))).collect();
        services.dedup();
        if services.len() > 1 {
            return Err(("invalid service_name", format!("{services:?}: give one service")));
        }
        let status = present(self.status)
            .map(|s| match s.to_ascii_uppercase().trim_start_matches("STATUS_CODE_") {
                "OK" => Ok(StatusCode::Ok),
                "ERROR" => Ok(StatusCode::Error),
                "UNSET" => Ok(StatusCode::Unset),
                _ => Err(("invalid status", format!("{s:?}: expected ok, error or unset"))),
            })
            .transpose()?;
        let min_duration_ns =
            present(self.min_duration).map(|d| duration_ns(&d).map_err(|e| ("invalid min_duration", e))).transpose()?;
        let max_duration_ns =
            present(self.max_duration).map(|d| duration_ns(&d).map_err(|e| ("invalid max_duration", e))).transpose()?;
        let sort_by = present(self.sort_by).map(|s| s.to_ascii_lowercase());
        let descending = match present(self.order_by).map(|s| s.to_ascii_lowercase()).as_deref() {
            None | Some("desc") => true,
            Some("asc") => false,
            Some(other) => return Err(("invalid order_by", format!("{other:?}: expected asc or desc"))),
        };
        let sort = match (sort_by.as_deref(), descending) {
            (None | Some("timestamp" | "start_time"), true) => TraceSort::Newest,
            (None | Some("timestamp" | "start_time"), false) => TraceSort::Oldest,
            (Some("duration"), true) => TraceSort::Longest,
            (Some("duration"), false) => TraceSort::Shortest,
            (Some(other), _) => {
                return Err(("invalid sort_by", format!("{other:?}: expected timestamp or duration")));
            }
        };
        match self.offset {
            None | Some(0) => {}
            Some(n) => {
                return Err((
                    "invalid offset",
                    format!("{n}: pages continue with cursor (the next_cursor of the previous page), not an offset"),
                ));
            }
        }
        let q = TraceQuery {
            time: window(self.start, self.end, self.time_range, DEFAULT_WINDOW_NS, now_ns)?,
            service: services.pop(),
            operation: present(self.operation),
            attributes: attribute_filters(self.attributes)?,
            status,
            min_duration_ns,
            max_duration_ns,
            sort,
            limit: limit_of(self.limit, DEFAULT_TRACE_LIMIT, MAX_TRACE_LIMIT)?,
            cursor,
        };
        q.validate().map_err(|e| ("invalid argument", e.to_string()))?;
        Ok(q)
    }
}

/// Validates the parameters of `/api/rca` (the range against "now" is checked by the port).
pub(crate) fn rca_query(
    service: Option<String>,
    time_range: Option<String>,
    start: Option<String>,
    end: Option<String>,
    limit: Option<i64>,
) -> Result<RcaQuery, Invalid> {
    let (time_range, start, end) = (present(time_range), present(start), present(end));
    if time_range.is_some() && start.is_some() {
        return Err(("invalid time range", "give time_range or start, not both".to_owned()));
    }
    let mut q = RcaQuery { service: present(service), ..RcaQuery::default() };
    if let Some(r) = time_range {
        let d = parse_duration(&r).map_err(|e| ("invalid time_range", format!("{r:?}: {e} (e.g. 15m, 1h)")))?;
        let ns = i64::try_from(d.as_nanos()).unwrap_or(i64::MAX);
        if ns <= 0 || ns > MAX_RCA_RANGE_NS {
            return Err((
                "invalid time_range",
                format!("{r:?}: expected more than 0 and at most 1h (the graph holds the last hour)"),
            ));
        }
        q.last_ns = ns;
    }
    q.start_ns = start.map(|t| parse_time(&t).map_err(|e| ("invalid start", e))).transpose()?;
    q.end_ns = end.map(|t| parse_time(&t).map_err(|e| ("invalid end", e))).transpose()?;
    if let (Some(s), Some(e)) = (q.start_ns, q.end_ns)
        && s >= e
    {
        return Err(("invalid time range", format!("start ({s}) must be before end ({e})")));
    }
    q.limit = limit_of(limit, q.limit, MAX_RCA_LIMIT)?;
    Ok(q)
}

/// How far back the dashboard, traffic and heat map routes look by default.
pub const DEFAULT_AGGREGATE_WINDOW_NS: i64 = 30 * 60 * 1_000_000_000;
/// The smallest step a series gets when `step` is absent.
pub const DEFAULT_STEP_NS: i64 = 60_000_000_000;
const SECOND_NS: i64 = 1_000_000_000;

/// A closed window: `start`/`end`/`time_range` as [`window`], the end defaulting to now.
pub(crate) fn closed_window(
    start: Option<String>,
    end: Option<String>,
    time_range: Option<String>,
    default_ns: i64,
    now_ns: i64,
) -> Result<(i64, i64), Invalid> {
    let w = window(start, end, time_range, default_ns, now_ns)?;
    let (start_ns, end_ns) = (w.start_ns.unwrap_or(0), w.end_ns.unwrap_or(now_ns));
    if start_ns > end_ns {
        return Err(("invalid time range", format!("start ({start_ns}) is after end ({end_ns})")));
    }
    Ok((start_ns, end_ns))
}

/// The step of a series over `[start, end]`: `step` (a duration such as `30s` or `5m`) when
/// given, otherwise `min_default_ns` or, when that would give more than the most steps a series
/// may have, the smallest whole number of seconds that fits.
pub(crate) fn step_of(step: Option<String>, start_ns: i64, end_ns: i64, min_default_ns: i64) -> Result<i64, Invalid> {
    match present(step) {
        Some(text) => {
            let ns = duration_ns(&text).map_err(|e| ("invalid step", e))?;
            if ns <= 0 {
                return Err(("invalid step", format!("{text:?}: must be longer than 0")));
            }
            Ok(ns)
        }
        None => {
            let fit = (end_ns - start_ns) / (MAX_SERIES_STEPS - 1) + 1;
            let ns = fit.max(min_default_ns);
            Ok((ns + SECOND_NS - 1) / SECOND_NS * SECOND_NS)
        }
    }
}

/// Repeated `service_name` values: trimmed, blanks dropped, duplicates removed, at most
/// [`MAX_STATS_SERVICES`].
pub(crate) fn services_of(raw: Vec<String>) -> Result<Vec<String>, Invalid> {
    let mut services: Vec<String> = Vec::new();
    for s in raw.iter().map(|s| s.trim()).filter(|s| !s.is_empty()) {
        if !services.iter().any(|x| x == s) {
            services.push(s.to_owned());
        }
    }
    if services.len() > MAX_STATS_SERVICES {
        return Err(("invalid service_name", format!("{} services: at most {MAX_STATS_SERVICES}", services.len())));
    }
    Ok(services)
}

/// The range of a graph question: `time_range` (relative to `end` or now, e.g. `15m`) or
/// `start`/`end`; the graph service checks it against what the graph holds.
pub(crate) fn graph_window(
    time_range: Option<String>,
    start: Option<String>,
    end: Option<String>,
    default_ns: i64,
) -> Result<otelcontext_ports::GraphWindow, Invalid> {
    let (time_range, start, end) = (present(time_range), present(start), present(end));
    if time_range.is_some() && start.is_some() {
        return Err(("invalid time range", "give time_range or start, not both".to_owned()));
    }
    let last_ns = match time_range {
        Some(r) => duration_ns(&r).map_err(|e| ("invalid time_range", e))?,
        None => default_ns,
    };
    if last_ns <= 0 {
        return Err(("invalid time_range", "must be longer than 0".to_owned()));
    }
    Ok(otelcontext_ports::GraphWindow {
        start_ns: start.map(|t| parse_time(&t).map_err(|e| ("invalid start", e))).transpose()?,
        end_ns: end.map(|t| parse_time(&t).map_err(|e| ("invalid end", e))).transpose()?,
        last_ns,
    })
}

/// A count parameter (`limit`, `depth`) within `1..=max`, `default` when absent.
pub(crate) fn count_of(name: &'static str, v: Option<i64>, default: usize, max: usize) -> Result<usize, Invalid> {
    match v {
        None => Ok(default),
        Some(n) if n >= 1 && n as u64 <= max as u64 => Ok(n as usize),
        Some(n) => Err((name, format!("{n}: expected 1 to {max}"))),
    }
}

/// A required name parameter, trimmed.
pub(crate) fn required(name: &'static str, v: Option<String>) -> Result<String, Invalid> {
    present(v).ok_or((name, format!("{name} is required")))
}

/// `downstream`, `upstream` or `both` (default).
pub(crate) fn direction(v: Option<String>) -> Result<otelcontext_domain::graph::walks::Direction, Invalid> {
    use otelcontext_domain::graph::walks::Direction;
    match present(v).as_deref().map(str::to_ascii_lowercase).as_deref() {
        None | Some("both") => Ok(Direction::Both),
        Some("downstream") => Ok(Direction::Downstream),
        Some("upstream") => Ok(Direction::Upstream),
        Some(other) => Err(("invalid direction", format!("{other:?}: expected downstream, upstream or both"))),
    }
}

/// Investigations per page when `limit` is absent, and at most.
pub const DEFAULT_INVESTIGATION_LIMIT: usize = 20;
pub const MAX_INVESTIGATION_LIMIT: usize = 100;

/// An investigation search: everything retained unless a window narrows it.
#[allow(clippy::too_many_arguments)]
pub(crate) fn investigation_query(
    status: Option<String>,
    severity: Option<String>,
    service: Option<String>,
    start: Option<String>,
    end: Option<String>,
    time_range: Option<String>,
    limit: Option<i64>,
    cursor: Option<Cursor>,
    now_ns: i64,
) -> Result<otelcontext_ports::InvestigationQuery, Invalid> {
    use otelcontext_domain::{InvestigationSeverity, InvestigationStatus};
    let (time, _) = names_query(start, end, time_range, None, now_ns)?;
    let status = present(status)
        .map(|s| {
            InvestigationStatus::parse(&s.to_ascii_lowercase())
                .ok_or(("invalid status", format!("{s:?}: expected detected, triaged or resolved")))
        })
        .transpose()?;
    let min_severity = present(severity)
        .map(|s| {
            InvestigationSeverity::parse(&s)
                .ok_or(("invalid severity", format!("{s:?}: expected info, warning or critical")))
        })
        .transpose()?;
    Ok(otelcontext_ports::InvestigationQuery {
        time,
        status,
        min_severity,
        service: present(service).map(|s| s.trim().to_owned()),
        limit: count_of("invalid limit", limit, DEFAULT_INVESTIGATION_LIMIT, MAX_INVESTIGATION_LIMIT)?,
        cursor,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn none() -> LogParams {
        LogParams {
            q: None,
            service: None,
            severity: None,
            trace_id: None,
            template_id: None,
            start: None,
            end: None,
            sort: None,
            limit: None,
        }
    }

    #[test]
    fn rca_parameters_are_checked() {
        let q = rca_query(Some(" cart ".into()), Some("5m".into()), None, None, None).unwrap();
        assert_eq!((q.service.as_deref(), q.last_ns, q.limit), (Some("cart"), 300_000_000_000, 10));
        let q = rca_query(None, None, Some("10".into()), Some("20".into()), Some(3)).unwrap();
        assert_eq!((q.start_ns, q.end_ns, q.limit), (Some(10), Some(20), 3));
        type Case<'a> = (Option<&'a str>, Option<&'a str>, Option<&'a str>, Option<i64>, &'a str);
        let bad: [Case; 7] = [
            (Some("5m"), Some("10"), None, None, "invalid time range"),
            (Some("soon"), None, None, None, "invalid time_range"),
            (Some("2h"), None, None, None, "invalid time_range"),
            (None, Some("later"), None, None, "invalid start"),
            (None, None, Some("x"), None, "invalid end"),
            (None, Some("20"), Some("10"), None, "invalid time range"),
            (None, None, None, Some(101), "invalid limit"),
        ];
        for (range, start, end, limit, want) in bad {
            let got = rca_query(None, range.map(Into::into), start.map(Into::into), end.map(Into::into), limit);
            assert_eq!(got.unwrap_err().0, want, "{range:?} {start:?} {end:?} {limit:?}");
        }
    }

    fn no_trace_params() -> TraceParams {
        TraceParams {
            service: vec![],
            operation: None,
            status: None,
            min_duration: None,
            max_duration: None,
            attributes: vec![],
            start: None,
            end: None,
            time_range: None,
            sort_by: None,
            order_by: None,
            limit: None,
            offset: None,
        }
    }

    const NOW: i64 = 1_764_000_000_000_000_000;

    #[test]
    fn trace_search_parameters_become_a_query() {
        let q = no_trace_params().into_query(None, NOW).unwrap();
        assert_eq!(
            (q.limit, q.sort, q.time.start_ns, q.time.end_ns),
            (20, TraceSort::Newest, Some(NOW - 3_600_000_000_000), None)
        );
        let q = TraceParams {
            service: vec![" cart ".into(), "cart".into()],
            operation: Some("GET /cart".into()),
            status: Some("STATUS_CODE_ERROR".into()),
            min_duration: Some("250ms".into()),
            max_duration: Some("1.5s".into()),
            attributes: vec!["http.route=/cart".into(), "retry=".into()],
            time_range: Some("15m".into()),
            end: Some("2025-11-24T16:00:00Z".into()),
            sort_by: Some("duration".into()),
            order_by: Some("ASC".into()),
            limit: Some(50),
            ..no_trace_params()
        }
        .into_query(None, NOW)
        .unwrap();
        assert_eq!(
            (q.service.as_deref(), q.operation.as_deref(), q.status),
            (Some("cart"), Some("GET /cart"), Some(StatusCode::Error))
        );
        assert_eq!((q.min_duration_ns, q.max_duration_ns), (Some(250_000_000), Some(1_500_000_000)));
        assert_eq!(q.attributes[1], AttributeFilter { key: "retry".into(), value: String::new() });
        assert_eq!((q.time.start_ns, q.time.end_ns), (Some(NOW - 900_000_000_000), Some(NOW)));
        assert_eq!((q.sort, q.limit), (TraceSort::Shortest, 50));
    }

    #[test]
    fn every_bad_trace_search_parameter_is_named() {
        type Case = (fn(&mut TraceParams), &'static str);
        let cases: Vec<Case> = vec![
            (|p| p.service = vec!["a".into(), "b".into()], "invalid service_name"),
            (|p| p.status = Some("broken".into()), "invalid status"),
            (|p| p.min_duration = Some("fast".into()), "invalid min_duration"),
            (|p| p.max_duration = Some("-1s".into()), "invalid max_duration"),
            (|p| (p.min_duration, p.max_duration) = (Some("2s".into()), Some("1s".into())), "invalid argument"),
            (|p| p.attributes = vec!["no-equals".into()], "invalid attribute"),
            (|p| p.attributes = vec!["=v".into()], "invalid attribute"),
            (|p| p.attributes = (0..17).map(|i| format!("k{i}=v")).collect(), "invalid attribute"),
            (|p| p.start = Some("soon".into()), "invalid start"),
            (|p| p.end = Some("later".into()), "invalid end"),
            (|p| p.time_range = Some("a while".into()), "invalid time_range"),
            (|p| (p.start, p.time_range) = (Some("1".into()), Some("5m".into())), "invalid time range"),
            (|p| (p.start, p.end) = (Some("20".into()), Some("10".into())), "invalid time range"),
            (|p| p.sort_by = Some("service_name".into()), "invalid sort_by"),
            (|p| p.order_by = Some("up".into()), "invalid order_by"),
            (|p| p.limit = Some(0), "invalid limit"),
            (|p| p.limit = Some(1_001), "invalid limit"),
            (|p| p.offset = Some(20), "invalid offset"),
        ];
        for (set, want) in cases {
            let mut p = no_trace_params();
            set(&mut p);
            assert_eq!(p.into_query(None, NOW).unwrap_err().0, want);
        }
        assert!(TraceParams { offset: Some(0), ..no_trace_params() }.into_query(None, NOW).is_ok());
    }

    #[test]
    fn times_are_rfc3339_or_nanoseconds() {
        assert_eq!(parse_time("1764000000000000000").unwrap(), 1_764_000_000_000_000_000);
        assert_eq!(parse_time("2025-11-24T16:00:00Z").unwrap(), 1_764_000_000_000_000_000);
        assert_eq!(parse_time("2025-11-24T17:00:00+01:00").unwrap(), 1_764_000_000_000_000_000);
        assert!(parse_time("yesterday").is_err());
    }

    #[test]
    fn defaults_and_bounds() {
        let q = none().into_query(None).unwrap();
        assert_eq!((q.limit, q.sort, q.text), (DEFAULT_LOG_LIMIT, LogSort::Newest, None));
        for (limit, ok) in [(0, false), (1, true), (1_000, true), (1_001, false), (-5, false)] {
            assert_eq!(LogParams { limit: Some(limit), ..none() }.into_query(None).is_ok(), ok, "{limit}");
        }
    }

    #[test]
    fn every_bad_parameter_is_named() {
        let cases: Vec<(LogParams, &str)> = vec![
            (LogParams { severity: Some("loud".into()), ..none() }, "invalid severity"),
            (LogParams { trace_id: Some("xyz".into()), ..none() }, "invalid trace_id"),
            (LogParams { template_id: Some("zz".into()), ..none() }, "invalid template_id"),
            (LogParams { start: Some("soon".into()), ..none() }, "invalid start"),
            (LogParams { start: Some("20".into()), end: Some("10".into()), ..none() }, "invalid time range"),
            (LogParams { sort: Some("random".into()), ..none() }, "invalid sort"),
            (LogParams { q: Some("a ".repeat(40)), ..none() }, "invalid q"),
        ];
        for (params, want) in cases {
            assert_eq!(params.into_query(None).unwrap_err().0, want);
        }
    }

    #[test]
    fn aggregate_windows_steps_and_services_are_checked() {
        let now = 10_000 * SECOND_NS;
        assert_eq!(closed_window(None, None, None, 60 * SECOND_NS, now), Ok((now - 60 * SECOND_NS, now)));
        let future = Some((now + 1).to_string());
        assert!(closed_window(future, None, None, 60 * SECOND_NS, now).is_err());
        assert_eq!(step_of(Some("5m".into()), 0, 1, DEFAULT_STEP_NS), Ok(300 * SECOND_NS));
        assert!(step_of(Some("0s".into()), 0, 1, DEFAULT_STEP_NS).is_err());
        assert!(step_of(Some("soon".into()), 0, 1, DEFAULT_STEP_NS).is_err());
        assert_eq!(step_of(None, 0, 3_600 * SECOND_NS, DEFAULT_STEP_NS), Ok(DEFAULT_STEP_NS));
        // A week at the default step would be 10,080 steps: the step grows to fit.
        let week = 7 * 24 * 3_600 * SECOND_NS;
        let step = step_of(None, 0, week, DEFAULT_STEP_NS).unwrap();
        assert!(week / step < MAX_SERIES_STEPS && step % SECOND_NS == 0, "{step}");
        assert_eq!(
            services_of(vec![" a ".into(), "".into(), "a".into(), "b".into()]),
            Ok(vec!["a".into(), "b".into()])
        );
        assert!(services_of((0..=MAX_STATS_SERVICES).map(|i| i.to_string()).collect()).is_err());
    }
}
