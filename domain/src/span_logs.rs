//! Logs derived from spans: every span event becomes a log record (an `exception` event as
//! ERROR, others as INFO), and an ERROR span without an exception event gets one ERROR record
//! carrying its status message. They are correlated with the span (trace and span id), so a
//! trace's failures are searchable as logs.

use crate::log::{LogRecord, SeverityLevel};
use crate::span::Span;
use crate::value::{AnyValue, Attributes};

/// Name of the span event OTel uses for recorded exceptions.
pub const EXCEPTION_EVENT: &str = "exception";

/// Builds the log records derived from these spans.
pub fn logs_from_spans(spans: &[Span]) -> Vec<LogRecord> {
    let mut out = Vec::new();
    for span in spans {
        let mut has_error_log = false;
        for event in &span.events {
            let level = if event.name == EXCEPTION_EVENT { SeverityLevel::Error } else { SeverityLevel::Info };
            has_error_log |= level == SeverityLevel::Error;
            let body = event
                .attributes
                .get_str("exception.message")
                .or_else(|| event.attributes.get_str("message"))
                .unwrap_or(&event.name)
                .to_owned();
            out.push(derived(span, event.time_ns, level, body, event.attributes.clone(), event.name.clone()));
        }
        if span.is_error() && !has_error_log {
            let body = if span.status.message.is_empty() {
                format!("Span '{}' failed", span.name)
            } else {
                span.status.message.clone()
            };
            out.push(derived(span, span.end_ns, SeverityLevel::Error, body, Attributes::new(), String::new()));
        }
    }
    out
}

fn derived(
    span: &Span,
    time_ns: i64,
    level: SeverityLevel,
    body: String,
    attributes: Attributes,
    event_name: String,
) -> LogRecord {
    LogRecord {
        timestamp_ns: time_ns,
        observed_ns: time_ns,
        severity_number: level.number(),
        severity_text: level.as_str().to_owned(),
        body: Some(AnyValue::String(body)),
        attributes,
        trace_id: Some(span.trace_id),
        span_id: Some(span.span_id),
        flags: span.flags,
        event_name,
        resource: span.resource.clone(),
        template_id: None,
        scope: span.scope.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::span::{SpanEvent, StatusCode};
    use crate::trace::tests::span;

    fn event(name: &str, attrs: &[(&str, &str)]) -> SpanEvent {
        let mut a = Attributes::new();
        for (k, v) in attrs {
            a.push(*k, AnyValue::String((*v).into()));
        }
        SpanEvent { time_ns: 42, name: name.into(), attributes: a, dropped_attributes_count: 0 }
    }

    #[test]
    fn exception_event_becomes_an_error_log_with_its_message() {
        let mut s = span(1, 1, None, "svc", 0, 100, StatusCode::Error);
        s.events.push(event("exception", &[("exception.message", "boom"), ("exception.type", "E")]));
        let logs = logs_from_spans(&[s.clone()]);
        assert_eq!(logs.len(), 1, "no extra status log when an exception was recorded");
        let l = &logs[0];
        assert_eq!((l.level(), l.body_text(), l.timestamp_ns), (SeverityLevel::Error, "boom".to_owned(), 42));
        assert_eq!((l.trace_id, l.span_id), (Some(s.trace_id), Some(s.span_id)));
        assert_eq!(l.attributes.get_str("exception.type"), Some("E"));
        assert_eq!(l.event_name, "exception");
    }

    #[test]
    fn other_events_are_info_with_message_or_name_as_body() {
        let mut s = span(1, 1, None, "svc", 0, 100, StatusCode::Unset);
        s.events.push(event("cache.miss", &[("message", "key not found")]));
        s.events.push(event("retry", &[]));
        let bodies: Vec<_> = logs_from_spans(&[s]).iter().map(|l| (l.level(), l.body_text())).collect();
        assert_eq!(bodies, vec![(SeverityLevel::Info, "key not found".into()), (SeverityLevel::Info, "retry".into())]);
    }

    #[test]
    fn error_span_without_exception_gets_a_status_log() {
        let mut s = span(1, 1, None, "svc", 0, 100, StatusCode::Error);
        let logs = logs_from_spans(&[s.clone()]);
        assert_eq!((logs[0].body_text(), logs[0].timestamp_ns), ("Span 'op-1' failed".to_owned(), 100));
        s.status.message = "upstream timeout".into();
        assert_eq!(logs_from_spans(&[s])[0].body_text(), "upstream timeout");
    }

    #[test]
    fn healthy_span_without_events_yields_nothing() {
        assert!(logs_from_spans(&[span(1, 1, None, "svc", 0, 1, StatusCode::Ok)]).is_empty());
    }
}
