//! Decoding of stored rows, shared by the SQL adapters: both store the same columns under the
//! same names, so a row of any driver is read through [`StoredRow`] (four typed getters) and
//! turned into domain records here, once.

use super::{BucketColumns, CodecError, PointColumns, bucket_values, events_from_json, links_from_json, point_value};
use crate::bucket::MetricBucket;
use crate::ids::{SpanId, TraceId};
use crate::investigation::{GraphSnapshot, Investigation, InvestigationSeverity, InvestigationStatus};
use crate::log::LogRecord;
use crate::metric::MetricPoint;
use crate::resource::{InstrumentationScope, Resource};
use crate::span::{Span, SpanKind, SpanStatus, StatusCode};
use crate::template::{LogTemplate, TemplateId};
use crate::trace::TraceSummary;
use crate::value::{AnyValue, Attributes};
use std::collections::HashMap;
use std::sync::Arc;

/// A stored row as a driver exposes it: typed, nullable columns by name.
pub trait StoredRow {
    fn text(&self, column: &str) -> Result<Option<String>, CodecError>;
    /// Any integer column (the driver widens smaller integer types).
    fn int(&self, column: &str) -> Result<Option<i64>, CodecError>;
    fn float(&self, column: &str) -> Result<Option<f64>, CodecError>;
    fn flag(&self, column: &str) -> Result<Option<bool>, CodecError>;
}

fn corrupt(what: &'static str, e: impl std::fmt::Display) -> CodecError {
    CodecError { what, message: e.to_string() }
}

fn required<T>(v: Option<T>, column: &str) -> Result<T, CodecError> {
    v.ok_or_else(|| corrupt("row", format!("column {column} is NULL")))
}

fn text(row: &impl StoredRow, column: &str) -> Result<String, CodecError> {
    required(row.text(column)?, column)
}

fn int(row: &impl StoredRow, column: &str) -> Result<i64, CodecError> {
    required(row.int(column)?, column)
}

fn count(row: &impl StoredRow, column: &str) -> Result<u64, CodecError> {
    Ok(int(row, column)?.max(0) as u64)
}

fn flag(row: &impl StoredRow, column: &str) -> Result<bool, CodecError> {
    required(row.flag(column)?, column)
}

fn json(row: &impl StoredRow, column: &str) -> Result<serde_json::Value, CodecError> {
    serde_json::from_str(&text(row, column)?).map_err(|e| corrupt("json column", e))
}

/// Attributes from a JSON column (NULL means none).
pub fn attributes(text: Option<&str>) -> Result<Attributes, CodecError> {
    match text {
        None => Ok(Attributes::new()),
        Some(t) => Attributes::from_json(t).map_err(|e| corrupt("attributes", e)),
    }
}

fn trace_id(row: &impl StoredRow, column: &str) -> Result<TraceId, CodecError> {
    TraceId::parse_hex(&text(row, column)?).map_err(|e| corrupt("trace id", e))
}

fn opt_trace_id(row: &impl StoredRow, column: &str) -> Result<Option<TraceId>, CodecError> {
    row.text(column)?.map(|s| TraceId::parse_hex(&s).map_err(|e| corrupt("trace id", e))).transpose()
}

fn opt_span_id(row: &impl StoredRow, column: &str) -> Result<Option<SpanId>, CodecError> {
    row.text(column)?.map(|s| SpanId::parse_hex(&s).map_err(|e| corrupt("span id", e))).transpose()
}

/// Shares one `Arc<Resource>` per fingerprint within a read. Rows carry `resource_fp`,
/// `resource_attributes` (joined from `resources`) and `service_name`.
#[derive(Default)]
pub struct ResourceCache(HashMap<i64, Arc<Resource>>);

impl ResourceCache {
    /// The resource of a row.
    pub fn get(&mut self, row: &impl StoredRow) -> Result<Arc<Resource>, CodecError> {
        let fp = int(row, "resource_fp")?;
        if let Some(r) = self.0.get(&fp) {
            return Ok(r.clone());
        }
        let resource = match row.text("resource_attributes")? {
            Some(json) => Resource::new(attributes(Some(&json))?),
            None => Resource::for_service(&text(row, "service_name")?),
        };
        let r = Arc::new(resource);
        self.0.insert(fp, r.clone());
        Ok(r)
    }
}

fn scope(row: &impl StoredRow) -> Result<Arc<InstrumentationScope>, CodecError> {
    Ok(Arc::new(InstrumentationScope {
        name: text(row, "scope_name")?,
        version: text(row, "scope_version")?,
        attributes: attributes(row.text("scope_attributes_json")?.as_deref())?,
    }))
}

/// A span row.
pub fn span(row: &impl StoredRow, resources: &mut ResourceCache) -> Result<Span, CodecError> {
    Ok(Span {
        trace_id: trace_id(row, "trace_id")?,
        span_id: SpanId::parse_hex(&text(row, "span_id")?).map_err(|e| corrupt("span id", e))?,
        parent_span_id: opt_span_id(row, "parent_span_id")?,
        trace_state: text(row, "trace_state")?,
        flags: int(row, "flags")? as u32,
        name: text(row, "name")?,
        kind: SpanKind::from_otlp(int(row, "kind")? as i32),
        start_ns: int(row, "start_ns")?,
        end_ns: int(row, "end_ns")?,
        attributes: attributes(Some(&text(row, "attributes_json")?))?,
        dropped_attributes_count: int(row, "dropped_attributes_count")? as u32,
        events: events_from_json(row.text("events_json")?.as_deref())?,
        links: links_from_json(row.text("links_json")?.as_deref())?,
        status: SpanStatus {
            code: StatusCode::from_otlp(int(row, "status_code")? as i32),
            message: text(row, "status_message")?,
        },
        resource: resources.get(row)?,
        scope: scope(row)?,
    })
}

/// A log row.
pub fn log(row: &impl StoredRow, resources: &mut ResourceCache) -> Result<LogRecord, CodecError> {
    let body = match row.text("body")? {
        None => None,
        Some(text) if flag(row, "body_is_json")? => {
            Some(serde_json::from_str::<AnyValue>(&text).map_err(|e| corrupt("log body", e))?)
        }
        Some(text) => Some(AnyValue::String(text)),
    };
    Ok(LogRecord {
        timestamp_ns: int(row, "timestamp_ns")?,
        observed_ns: int(row, "observed_ns")?,
        severity_number: int(row, "severity_number")? as i32,
        severity_text: text(row, "severity_text")?,
        body,
        attributes: attributes(Some(&text(row, "attributes_json")?))?,
        trace_id: opt_trace_id(row, "trace_id")?,
        span_id: opt_span_id(row, "span_id")?,
        flags: int(row, "flags")? as u32,
        event_name: text(row, "event_name")?,
        resource: resources.get(row)?,
        scope: scope(row)?,
        template_id: row.int("template_id")?.map(TemplateId::from_i64),
    })
}

/// A metric point row.
pub fn point(row: &impl StoredRow, resources: &mut ResourceCache) -> Result<MetricPoint, CodecError> {
    let columns = PointColumns {
        temporality: int(row, "temporality")?,
        is_monotonic: flag(row, "is_monotonic")?,
        value: row.float("value")?,
        count: row.int("count")?,
        sum: row.float("sum")?,
        min: row.float("min")?,
        max: row.float("max")?,
        data_json: row.text("data_json")?,
    };
    Ok(MetricPoint {
        name: text(row, "name")?,
        description: text(row, "description")?,
        unit: text(row, "unit")?,
        attributes: attributes(Some(&text(row, "attributes_json")?))?,
        start_ns: int(row, "start_ns")?,
        time_ns: int(row, "time_ns")?,
        flags: int(row, "flags")? as u32,
        value: point_value(&text(row, "kind")?, &columns)?,
        resource: resources.get(row)?,
        scope: scope(row)?,
    })
}

/// A trace row.
pub fn trace_summary(row: &impl StoredRow) -> Result<TraceSummary, CodecError> {
    Ok(TraceSummary {
        trace_id: trace_id(row, "trace_id")?,
        start_ns: int(row, "start_ns")?,
        end_ns: int(row, "end_ns")?,
        root_service: text(row, "root_service")?,
        root_operation: text(row, "root_operation")?,
        has_root: flag(row, "has_root")?,
        root_start_ns: int(row, "root_start_ns")?,
        status: StatusCode::from_otlp(int(row, "status")? as i32),
        span_count: row.int("span_count")?.unwrap_or(0).max(0) as u64,
    })
}

/// The stored float columns of a bucket row.
pub fn bucket_columns_of(row: &impl StoredRow) -> Result<BucketColumns, CodecError> {
    Ok(BucketColumns {
        sum: row.float("sum")?,
        min: row.float("min")?,
        max: row.float("max")?,
        last: row.float("last")?,
        data_json: row.text("data_json")?,
    })
}

/// A metric bucket row.
pub fn bucket(row: &impl StoredRow) -> Result<MetricBucket, CodecError> {
    let ([sum, min, max, last], histogram) = bucket_values(&bucket_columns_of(row)?)?;
    Ok(MetricBucket {
        name: text(row, "name")?,
        service: text(row, "service_name")?,
        attributes: attributes(Some(&text(row, "attributes_json")?))?,
        start_ns: int(row, "start_ns")?,
        width_ns: int(row, "width_ns")?,
        count: count(row, "count")?,
        sum,
        min,
        max,
        last,
        last_ns: int(row, "last_ns")?,
        histogram,
    })
}

/// A log template row.
pub fn template(row: &impl StoredRow) -> Result<LogTemplate, CodecError> {
    Ok(LogTemplate {
        id: TemplateId::from_i64(int(row, "id")?),
        template: text(row, "template")?,
        count: count(row, "count")?,
        first_seen_ns: int(row, "first_seen_ns")?,
        last_seen_ns: int(row, "last_seen_ns")?,
        sample: text(row, "sample")?,
        service: text(row, "service_name")?,
        services: typed_json(row, "services_json")?,
        severities: typed_json(row, "severity_json")?,
        activity: typed_json(row, "activity_json")?,
        spiking: int(row, "spiking")? != 0,
    })
}

/// The JSON columns of a template row, in write order: services, severity mix, activity.
pub fn template_json_columns(t: &LogTemplate) -> [String; 3] {
    [
        serde_json::to_string(&t.services).expect("strings serialise"),
        serde_json::to_string(&t.severities).expect("counters serialise"),
        serde_json::to_string(&t.activity).expect("counters serialise"),
    ]
}

/// The columns a template row is read from, in the order the SQL adapters select them.
pub const TEMPLATE_COLUMNS: &str = "id, template, count, first_seen_ns, last_seen_ns, sample, service_name, \
     services_json, severity_json, activity_json, spiking";

fn typed_json<T: serde::de::DeserializeOwned>(row: &impl StoredRow, column: &str) -> Result<T, CodecError> {
    serde_json::from_str(&text(row, column)?).map_err(|e| corrupt("json column", e))
}

/// An investigation row.
pub fn investigation(row: &impl StoredRow) -> Result<Investigation, CodecError> {
    let status = text(row, "status")?;
    let severity = int(row, "severity")?;
    Ok(Investigation {
        id: text(row, "id")?,
        created_ns: int(row, "created_ns")?,
        updated_ns: int(row, "updated_ns")?,
        status: InvestigationStatus::parse(&status).ok_or_else(|| corrupt("investigation status", &status))?,
        severity: InvestigationSeverity::from_rank(severity)
            .ok_or_else(|| corrupt("investigation severity", severity))?,
        kind: text(row, "kind")?,
        trigger_service: text(row, "trigger_service")?,
        trigger_operation: text(row, "trigger_operation")?,
        root_service: text(row, "root_service")?,
        root_operation: text(row, "root_operation")?,
        summary: text(row, "summary")?,
        evidence: json(row, "evidence_json")?,
    })
}

/// A graph snapshot row.
pub fn snapshot(row: &impl StoredRow) -> Result<GraphSnapshot, CodecError> {
    Ok(GraphSnapshot {
        id: text(row, "id")?,
        created_ns: int(row, "created_ns")?,
        service_count: count(row, "service_count")?,
        edge_count: count(row, "edge_count")?,
        total_calls: count(row, "total_calls")?,
        avg_health_score: row.float("avg_health_score")?.unwrap_or(f64::NAN),
        graph: json(row, "graph_json")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A row held in maps, as a driver would expose it.
    #[derive(Default)]
    struct MapRow {
        text: HashMap<&'static str, String>,
        int: HashMap<&'static str, i64>,
    }

    impl StoredRow for MapRow {
        fn text(&self, c: &str) -> Result<Option<String>, CodecError> {
            Ok(self.text.get(c).cloned())
        }
        fn int(&self, c: &str) -> Result<Option<i64>, CodecError> {
            Ok(self.int.get(c).copied())
        }
        fn float(&self, _: &str) -> Result<Option<f64>, CodecError> {
            Ok(None)
        }
        fn flag(&self, c: &str) -> Result<Option<bool>, CodecError> {
            Ok(self.int.get(c).map(|v| *v != 0))
        }
    }

    #[test]
    fn a_template_row_decodes_and_a_null_required_column_is_corrupt() {
        let mut row = MapRow::default();
        for (k, v) in [
            ("template", "user <*> logged in"),
            ("sample", "user 7 logged in"),
            ("service_name", "api"),
            ("services_json", r#"["api","web"]"#),
            ("severity_json", r#"{"info":3}"#),
            ("activity_json", "[[100,3]]"),
        ] {
            row.text.insert(k, v.into());
        }
        for (k, v) in [("id", -1), ("count", 3), ("first_seen_ns", 1), ("last_seen_ns", 2), ("spiking", 1)] {
            row.int.insert(k, v);
        }
        let t = template(&row).unwrap();
        assert_eq!((t.id, t.count, t.template.as_str()), (TemplateId(u64::MAX), 3, "user <*> logged in"));
        assert_eq!(
            (t.services.len(), t.severities.info, t.activity.minutes(), t.spiking),
            (2, 3, &[(100, 3)][..], true)
        );
        row.text.insert("activity_json", "{not json".into());
        assert!(template(&row).is_err(), "a corrupt JSON column is an error");
        row.text.insert("activity_json", "[]".into());
        row.text.remove("sample");
        let err = template(&row).unwrap_err();
        assert!(err.message.contains("sample"), "{err}");
    }

    #[test]
    fn an_unknown_severity_rank_is_corrupt_not_a_panic() {
        let mut row = MapRow::default();
        for k in [
            "id",
            "status",
            "kind",
            "trigger_service",
            "trigger_operation",
            "root_service",
            "root_operation",
            "summary",
        ] {
            row.text.insert(k, "detected".into());
        }
        row.text.insert("evidence_json", "{}".into());
        for (k, v) in [("created_ns", 1), ("updated_ns", 1), ("severity", 9)] {
            row.int.insert(k, v);
        }
        assert!(investigation(&row).unwrap_err().to_string().contains("severity"));
        row.int.insert("severity", 2);
        assert_eq!(investigation(&row).unwrap().severity, InvestigationSeverity::Critical);
    }
}
