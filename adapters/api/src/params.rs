//! Parsing and validation of query parameters into the storage ports' query structs.

use otelcontext_domain::duration::parse_duration;
use otelcontext_domain::search::TextQuery;
use otelcontext_domain::{SeverityLevel, TemplateId, TraceId};
use otelcontext_ports::{Cursor, LogQuery, LogSort, MAX_RCA_LIMIT, MAX_RCA_RANGE_NS, RcaQuery, TimeRange};

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

fn present(v: Option<String>) -> Option<String> {
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
        let limit = match self.limit {
            None => DEFAULT_LOG_LIMIT,
            Some(n) if n >= 1 && n as u64 <= MAX_LOG_LIMIT as u64 => n as usize,
            Some(n) => return Err(("invalid limit", format!("{n}: expected 1 to {MAX_LOG_LIMIT}"))),
        };
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
    q.limit = match limit {
        None => q.limit,
        Some(n) if n >= 1 && n as u64 <= MAX_RCA_LIMIT as u64 => n as usize,
        Some(n) => return Err(("invalid limit", format!("{n}: expected 1 to {MAX_RCA_LIMIT}"))),
    };
    Ok(q)
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
}
