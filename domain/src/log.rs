//! Log records and severity.

use crate::hash::StableHasher;
use crate::ids::{SpanId, TraceId};
use crate::resource::{InstrumentationScope, Resource};
use crate::template::TemplateId;
use crate::value::{AnyValue, Attributes};
use std::sync::Arc;

/// A log record, with its resource and scope.
#[derive(Debug, Clone, PartialEq)]
pub struct LogRecord {
    /// Event time; when the sender left it 0, the observed time (or receive time) is used.
    pub timestamp_ns: i64,
    pub observed_ns: i64,
    /// OTel severity number (1–24), 0 when unspecified.
    pub severity_number: i32,
    pub severity_text: String,
    /// Any body type; `None` when absent.
    pub body: Option<AnyValue>,
    pub attributes: Attributes,
    pub trace_id: Option<TraceId>,
    pub span_id: Option<SpanId>,
    pub flags: u32,
    pub event_name: String,
    pub resource: Arc<Resource>,
    pub scope: Arc<InstrumentationScope>,
    /// The log template (Drain cluster) the body belongs to, once mined.
    pub template_id: Option<TemplateId>,
}

/// Coarse severity used by filters and back-pressure, ordered TRACE < … < FATAL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SeverityLevel {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
    Fatal,
}

impl SeverityLevel {
    /// From an OTel severity number (1–24); `None` for 0 or out-of-range numbers.
    pub fn from_number(n: i32) -> Option<Self> {
        Some(match n {
            1..=4 => Self::Trace,
            5..=8 => Self::Debug,
            9..=12 => Self::Info,
            13..=16 => Self::Warn,
            17..=20 => Self::Error,
            21..=24 => Self::Fatal,
            _ => return None,
        })
    }

    /// From severity text (case-insensitive; common spellings such as `warning`, `err`,
    /// `critical`, `panic`, `SEVERITY_NUMBER_WARN` are understood); `None` when unrecognised.
    pub fn from_text(text: &str) -> Option<Self> {
        let t = text.trim().to_ascii_uppercase();
        let t = t.strip_prefix("SEVERITY_NUMBER_").unwrap_or(&t);
        let word: String = t.chars().take_while(|c| c.is_ascii_alphabetic()).collect();
        Some(match word.as_str() {
            "TRACE" | "TRC" => Self::Trace,
            "DEBUG" | "DBG" => Self::Debug,
            "INFO" | "INF" | "INFORMATION" | "NOTICE" => Self::Info,
            "WARN" | "WARNING" | "WRN" => Self::Warn,
            "ERROR" | "ERR" => Self::Error,
            "FATAL" | "CRITICAL" | "CRIT" | "PANIC" | "EMERG" | "EMERGENCY" | "ALERT" => Self::Fatal,
            _ => return None,
        })
    }

    /// Parses a configuration value (`TRACE`, `DEBUG`, `INFO`, `WARN`/`WARNING`, `ERROR`, `FATAL`).
    pub fn parse_config(text: &str) -> Option<Self> {
        match text.trim().to_ascii_uppercase().as_str() {
            "TRACE" => Some(Self::Trace),
            "DEBUG" => Some(Self::Debug),
            "INFO" => Some(Self::Info),
            "WARN" | "WARNING" => Some(Self::Warn),
            "ERROR" => Some(Self::Error),
            "FATAL" => Some(Self::Fatal),
            _ => None,
        }
    }

    /// Upper-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Trace => "TRACE",
            Self::Debug => "DEBUG",
            Self::Info => "INFO",
            Self::Warn => "WARN",
            Self::Error => "ERROR",
            Self::Fatal => "FATAL",
        }
    }

    /// The first OTel severity number of the level (TRACE=1, DEBUG=5, INFO=9, WARN=13, ERROR=17, FATAL=21).
    pub fn number(self) -> i32 {
        match self {
            Self::Trace => 1,
            Self::Debug => 5,
            Self::Info => 9,
            Self::Warn => 13,
            Self::Error => 17,
            Self::Fatal => 21,
        }
    }
}

impl LogRecord {
    /// The record's level: from the severity number, else the text; unspecified counts as INFO.
    pub fn level(&self) -> SeverityLevel {
        SeverityLevel::from_number(self.severity_number)
            .or_else(|| SeverityLevel::from_text(&self.severity_text))
            .unwrap_or(SeverityLevel::Info)
    }

    /// The service that produced the record.
    pub fn service_name(&self) -> &str {
        &self.resource.service_name
    }

    /// The body as stored text: strings as-is, any other type as JSON, empty when absent.
    pub fn body_text(&self) -> String {
        self.body.as_ref().map(AnyValue::to_text).unwrap_or_default()
    }

    /// True when the body is present and not a string (it is stored as JSON text).
    pub fn body_is_structured(&self) -> bool {
        !matches!(self.body, None | Some(AnyValue::String(_)))
    }

    /// The severity text to store: the sender's text, else the level name derived from the number.
    pub fn severity_label(&self) -> String {
        if !self.severity_text.is_empty() {
            self.severity_text.clone()
        } else {
            SeverityLevel::from_number(self.severity_number).map(|l| l.as_str().to_owned()).unwrap_or_default()
        }
    }

    /// Key that, together with tenant and timestamp, identifies a record for deduplication:
    /// a re-sent record has the same key and is stored once.
    pub fn dedup_key(&self) -> i64 {
        self.dedup_key_for_body(&self.body_text())
    }

    /// [`LogRecord::dedup_key`] for a caller that already holds the stored body text
    /// ([`LogRecord::body_text`]), so it is not built twice.
    pub fn dedup_key_for_body(&self, body_text: &str) -> i64 {
        let mut h = StableHasher::new();
        h.field(self.trace_id.as_ref().map(|t| &t.as_bytes()[..]).unwrap_or(&[]));
        h.field(self.span_id.as_ref().map(|s| &s.as_bytes()[..]).unwrap_or(&[]));
        h.field(self.resource.service_name.as_bytes());
        h.u64(self.severity_number as u64);
        h.field(self.severity_text.as_bytes());
        h.field(self.event_name.as_bytes());
        h.field(body_text.as_bytes());
        h.finish_i64()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn record(number: i32, text: &str, body: Option<AnyValue>) -> LogRecord {
        LogRecord {
            timestamp_ns: 1,
            observed_ns: 0,
            severity_number: number,
            severity_text: text.into(),
            body,
            attributes: Attributes::new(),
            trace_id: None,
            span_id: None,
            flags: 0,
            event_name: String::new(),
            resource: Arc::new(Resource::for_service("svc")),
            scope: Arc::new(InstrumentationScope::default()),
            template_id: None,
        }
    }

    #[test]
    fn level_prefers_the_number_then_the_text() {
        let cases = [
            (17, "info", SeverityLevel::Error),
            (0, "WARNING", SeverityLevel::Warn),
            (0, "warn", SeverityLevel::Warn),
            (0, "SEVERITY_NUMBER_ERROR", SeverityLevel::Error),
            (0, "error", SeverityLevel::Error),
            (0, "Critical", SeverityLevel::Fatal),
            (0, "DEBUG2", SeverityLevel::Debug),
            (0, "", SeverityLevel::Info),
            (0, "whatever", SeverityLevel::Info),
            (3, "", SeverityLevel::Trace),
            (24, "", SeverityLevel::Fatal),
            (99, "ERROR", SeverityLevel::Error),
        ];
        for (n, t, want) in cases {
            assert_eq!(record(n, t, None).level(), want, "number {n} text {t:?}");
        }
    }

    #[test]
    fn config_levels_parse_case_insensitively() {
        assert_eq!(SeverityLevel::parse_config("warning"), Some(SeverityLevel::Warn));
        assert_eq!(SeverityLevel::parse_config(" Info "), Some(SeverityLevel::Info));
        assert_eq!(SeverityLevel::parse_config("loud"), None);
    }

    #[test]
    fn severity_label_falls_back_to_the_level_name() {
        assert_eq!(record(13, "", None).severity_label(), "WARN");
        assert_eq!(record(13, "Warning", None).severity_label(), "Warning");
        assert_eq!(record(0, "", None).severity_label(), "");
    }

    #[test]
    fn any_body_type_becomes_text() {
        assert_eq!(record(9, "", Some(AnyValue::String("hello".into()))).body_text(), "hello");
        let map = AnyValue::KvList(vec![crate::KeyValue::new("user", AnyValue::Int(7))]);
        let r = record(9, "", Some(map));
        assert_eq!(r.body_text(), r#"{"user":7}"#);
        assert!(r.body_is_structured());
        assert_eq!(record(9, "", None).body_text(), "");
    }

    #[test]
    fn dedup_key_changes_with_the_body_but_not_with_attributes() {
        let a = record(9, "", Some(AnyValue::String("a".into())));
        let mut a2 = a.clone();
        a2.attributes.push("k", AnyValue::Int(1));
        let b = record(9, "", Some(AnyValue::String("b".into())));
        assert_eq!(a.dedup_key(), a2.dedup_key());
        assert_ne!(a.dedup_key(), b.dedup_key());
    }
}
