//! Records as JSON objects of their stored columns: the same column names and encodings the SQL
//! adapters store, read back through the same [`rows`](super::rows) decoders. Files that must
//! keep a record exactly as storage would (the dead-letter queue) use this, so whatever a
//! database keeps of a record, the file keeps too.
//!
//! A record's resource is not repeated in each object: objects carry `resource_fp` and
//! `service_name`, and the resources' attributes are kept once, in a [`Resources`] table.
//! Non-finite floats are written as the strings `"NaN"`, `"Infinity"` and `"-Infinity"`.

use super::rows::{self, ResourceCache, StoredRow};
use super::{CodecError, events_to_json, links_to_json, optional_attributes, point_columns};
use crate::log::LogRecord;
use crate::metric::MetricPoint;
use crate::resource::{InstrumentationScope, Resource};
use crate::span::Span;
use serde_json::{Map, Number, Value};
use std::collections::BTreeMap;

/// A record's stored columns by name.
pub type Object = Map<String, Value>;

/// Resource attributes (as their JSON text) by fingerprint.
pub type Resources = BTreeMap<i64, String>;

fn text(v: impl Into<String>) -> Value {
    Value::String(v.into())
}

fn opt_text(v: Option<String>) -> Value {
    v.map_or(Value::Null, Value::String)
}

fn float(v: f64) -> Value {
    match Number::from_f64(v) {
        Some(n) => Value::Number(n),
        None if v.is_nan() => text("NaN"),
        None if v > 0.0 => text("Infinity"),
        None => text("-Infinity"),
    }
}

fn opt_float(v: Option<f64>) -> Value {
    v.map_or(Value::Null, float)
}

fn origin(o: &mut Object, resource: &Resource, scope: &InstrumentationScope, resources: &mut Resources) {
    resources.entry(resource.fingerprint).or_insert_with(|| resource.attributes.to_json());
    o.insert("resource_fp".into(), resource.fingerprint.into());
    o.insert("service_name".into(), text(resource.service_name.as_str()));
    o.insert("scope_name".into(), text(scope.name.as_str()));
    o.insert("scope_version".into(), text(scope.version.as_str()));
    o.insert("scope_attributes_json".into(), opt_text(optional_attributes(&scope.attributes)));
}

/// A span's columns; its resource goes into `resources`.
pub fn span_object(s: &Span, resources: &mut Resources) -> Object {
    let mut o = Object::new();
    o.insert("trace_id".into(), text(s.trace_id.to_hex()));
    o.insert("span_id".into(), text(s.span_id.to_hex()));
    o.insert("parent_span_id".into(), opt_text(s.parent_span_id.map(|p| p.to_hex())));
    o.insert("trace_state".into(), text(s.trace_state.as_str()));
    o.insert("flags".into(), s.flags.into());
    o.insert("name".into(), text(s.name.as_str()));
    o.insert("kind".into(), s.kind.as_otlp().into());
    o.insert("start_ns".into(), s.start_ns.into());
    o.insert("end_ns".into(), s.end_ns.into());
    o.insert("attributes_json".into(), text(s.attributes.to_json()));
    o.insert("dropped_attributes_count".into(), s.dropped_attributes_count.into());
    o.insert("events_json".into(), opt_text(events_to_json(&s.events)));
    o.insert("links_json".into(), opt_text(links_to_json(&s.links)));
    o.insert("status_code".into(), s.status.code.as_otlp().into());
    o.insert("status_message".into(), text(s.status.message.as_str()));
    origin(&mut o, &s.resource, &s.scope, resources);
    o
}

/// A log record's columns; its resource goes into `resources`.
pub fn log_object(l: &LogRecord, resources: &mut Resources) -> Object {
    let mut o = Object::new();
    o.insert("timestamp_ns".into(), l.timestamp_ns.into());
    o.insert("observed_ns".into(), l.observed_ns.into());
    o.insert("severity_number".into(), l.severity_number.into());
    o.insert("severity_text".into(), text(l.severity_text.as_str()));
    o.insert("body".into(), opt_text(l.body.as_ref().map(|b| b.to_text())));
    o.insert("body_is_json".into(), l.body_is_structured().into());
    o.insert("attributes_json".into(), text(l.attributes.to_json()));
    o.insert("trace_id".into(), opt_text(l.trace_id.map(|t| t.to_hex())));
    o.insert("span_id".into(), opt_text(l.span_id.map(|s| s.to_hex())));
    o.insert("flags".into(), l.flags.into());
    o.insert("event_name".into(), text(l.event_name.as_str()));
    o.insert("template_id".into(), l.template_id.map_or(Value::Null, |t| t.as_i64().into()));
    origin(&mut o, &l.resource, &l.scope, resources);
    o
}

/// A metric point's columns; its resource goes into `resources`.
pub fn point_object(p: &MetricPoint, resources: &mut Resources) -> Object {
    let c = point_columns(&p.value);
    let mut o = Object::new();
    o.insert("name".into(), text(p.name.as_str()));
    o.insert("description".into(), text(p.description.as_str()));
    o.insert("unit".into(), text(p.unit.as_str()));
    o.insert("attributes_json".into(), text(p.attributes.to_json()));
    o.insert("start_ns".into(), p.start_ns.into());
    o.insert("time_ns".into(), p.time_ns.into());
    o.insert("flags".into(), p.flags.into());
    o.insert("kind".into(), text(p.value.kind().as_str()));
    o.insert("temporality".into(), c.temporality.into());
    o.insert("is_monotonic".into(), c.is_monotonic.into());
    o.insert("value".into(), opt_float(c.value));
    o.insert("count".into(), c.count.map_or(Value::Null, Value::from));
    o.insert("sum".into(), opt_float(c.sum));
    o.insert("min".into(), opt_float(c.min));
    o.insert("max".into(), opt_float(c.max));
    o.insert("data_json".into(), opt_text(c.data_json));
    origin(&mut o, &p.resource, &p.scope, resources);
    o
}

/// An object read as a stored row; `resource_attributes` comes from the resources table.
struct ObjectRow<'a> {
    object: &'a Object,
    resources: &'a Resources,
}

fn wrong(column: &str, expected: &str) -> CodecError {
    CodecError { what: "record object", message: format!("column {column} is not {expected}") }
}

impl StoredRow for ObjectRow<'_> {
    fn text(&self, column: &str) -> Result<Option<String>, CodecError> {
        if column == "resource_attributes" {
            let Some(fp) = self.int("resource_fp")? else { return Ok(None) };
            return Ok(self.resources.get(&fp).cloned());
        }
        match self.object.get(column) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(wrong(column, "text")),
        }
    }

    fn int(&self, column: &str) -> Result<Option<i64>, CodecError> {
        match self.object.get(column) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => n.as_i64().map(Some).ok_or_else(|| wrong(column, "an integer")),
            Some(_) => Err(wrong(column, "an integer")),
        }
    }

    fn float(&self, column: &str) -> Result<Option<f64>, CodecError> {
        match self.object.get(column) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => n.as_f64().map(Some).ok_or_else(|| wrong(column, "a number")),
            Some(Value::String(s)) => match s.as_str() {
                "NaN" => Ok(Some(f64::NAN)),
                "Infinity" => Ok(Some(f64::INFINITY)),
                "-Infinity" => Ok(Some(f64::NEG_INFINITY)),
                _ => Err(wrong(column, "a number")),
            },
            Some(_) => Err(wrong(column, "a number")),
        }
    }

    fn flag(&self, column: &str) -> Result<Option<bool>, CodecError> {
        match self.object.get(column) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(wrong(column, "a boolean")),
        }
    }
}

/// Decodes objects back into records, sharing one resource per fingerprint.
pub struct ObjectDecoder<'a> {
    resources: &'a Resources,
    cache: ResourceCache,
}

impl<'a> ObjectDecoder<'a> {
    /// A decoder over this resources table.
    pub fn new(resources: &'a Resources) -> Self {
        Self { resources, cache: ResourceCache::default() }
    }

    fn row<'b>(&self, object: &'b Object) -> ObjectRow<'b>
    where
        'a: 'b,
    {
        ObjectRow { object, resources: self.resources }
    }

    /// A span object.
    pub fn span(&mut self, object: &Object) -> Result<Span, CodecError> {
        let row = self.row(object);
        rows::span(&row, &mut self.cache)
    }

    /// A log object.
    pub fn log(&mut self, object: &Object) -> Result<LogRecord, CodecError> {
        let row = self.row(object);
        rows::log(&row, &mut self.cache)
    }

    /// A metric point object.
    pub fn point(&mut self, object: &Object) -> Result<MetricPoint, CodecError> {
        let row = self.row(object);
        rows::point(&row, &mut self.cache)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{SpanId, TraceId};
    use crate::metric::{ExpBuckets, PointValue, Temporality};
    use crate::span::{SpanEvent, SpanKind, SpanLink, SpanStatus, StatusCode};
    use crate::template::TemplateId;
    use crate::value::{AnyValue, Attributes};
    use std::sync::Arc;

    fn attrs(pairs: &[(&str, AnyValue)]) -> Attributes {
        let mut a = Attributes::new();
        for (k, v) in pairs {
            a.push(*k, v.clone());
        }
        a
    }

    fn resource() -> Arc<Resource> {
        Arc::new(Resource::new(attrs(&[
            ("service.name", AnyValue::String("checkout".into())),
            ("host.name", AnyValue::String("node-1".into())),
        ])))
    }

    fn scope() -> Arc<InstrumentationScope> {
        Arc::new(InstrumentationScope {
            name: "lib".into(),
            version: "1.2".into(),
            attributes: attrs(&[("scope.k", AnyValue::Int(3))]),
        })
    }

    fn span() -> Span {
        Span {
            trace_id: TraceId::from_array([7; 16]).unwrap(),
            span_id: SpanId::from_array([3; 8]).unwrap(),
            parent_span_id: Some(SpanId::from_array([2; 8]).unwrap()),
            trace_state: "k=v".into(),
            flags: 1,
            name: "GET /cart".into(),
            kind: SpanKind::Server,
            start_ns: 1_000,
            end_ns: 5_000,
            attributes: attrs(&[
                ("http.status_code", AnyValue::Int(500)),
                ("ratio", AnyValue::Double(0.5)),
                ("ok", AnyValue::Bool(false)),
            ]),
            dropped_attributes_count: 2,
            events: vec![SpanEvent {
                time_ns: 2_000,
                name: "exception".into(),
                attributes: attrs(&[("exception.message", AnyValue::String("boom".into()))]),
                dropped_attributes_count: 1,
            }],
            links: vec![SpanLink {
                trace_id: TraceId::from_array([9; 16]).unwrap(),
                span_id: SpanId::from_array([8; 8]).unwrap(),
                trace_state: String::new(),
                attributes: Attributes::new(),
                flags: 0,
            }],
            status: SpanStatus { code: StatusCode::Error, message: "failed".into() },
            resource: resource(),
            scope: scope(),
        }
    }

    fn log(body: Option<AnyValue>) -> LogRecord {
        LogRecord {
            timestamp_ns: 10,
            observed_ns: 11,
            severity_number: 17,
            severity_text: "ERROR".into(),
            body,
            attributes: attrs(&[("user", AnyValue::String("é ✓".into()))]),
            trace_id: Some(TraceId::from_array([7; 16]).unwrap()),
            span_id: None,
            flags: 0,
            event_name: "login".into(),
            resource: resource(),
            scope: scope(),
            template_id: Some(TemplateId(u64::MAX - 5)),
        }
    }

    fn point(value: PointValue) -> MetricPoint {
        MetricPoint {
            name: "latency".into(),
            description: "request latency".into(),
            unit: "ms".into(),
            attributes: attrs(&[("route", AnyValue::String("/cart".into()))]),
            start_ns: 1,
            time_ns: 2,
            flags: 0,
            value,
            resource: resource(),
            scope: scope(),
        }
    }

    /// Through text, as a file would hold it.
    fn through_text(o: &Object) -> Object {
        serde_json::from_str(&serde_json::to_string(o).unwrap()).unwrap()
    }

    #[test]
    fn spans_logs_and_points_round_trip_every_field() {
        let mut resources = Resources::new();
        let s = span();
        let o = through_text(&span_object(&s, &mut resources));
        assert_eq!(resources.len(), 1);
        let mut d = ObjectDecoder::new(&resources);
        assert_eq!(d.span(&o).unwrap(), s);

        for body in [
            None,
            Some(AnyValue::String("plain".into())),
            Some(AnyValue::KvList(vec![crate::value::KeyValue::new("k", AnyValue::Int(1))])),
            Some(AnyValue::Array(vec![AnyValue::Double(1.5), AnyValue::Bool(true)])),
        ] {
            let l = log(body);
            let o = through_text(&log_object(&l, &mut resources));
            assert_eq!(ObjectDecoder::new(&resources).log(&o).unwrap(), l);
        }

        let values = [
            PointValue::Gauge { value: 2.5 },
            PointValue::Sum { value: 10.0, temporality: Temporality::Cumulative, monotonic: true },
            PointValue::Histogram {
                count: 3,
                sum: Some(f64::NAN),
                min: Some(1.0),
                max: None,
                bounds: vec![1.0, 5.0],
                bucket_counts: vec![1, 1, 1],
                temporality: Temporality::Delta,
            },
            PointValue::ExponentialHistogram {
                count: 4,
                sum: Some(8.0),
                min: None,
                max: Some(f64::INFINITY),
                scale: 2,
                zero_count: 1,
                zero_threshold: 0.0,
                positive: ExpBuckets { offset: -1, counts: vec![1, 2] },
                negative: ExpBuckets::default(),
                temporality: Temporality::Cumulative,
            },
            PointValue::Summary { count: 5, sum: 9.0, quantiles: vec![(0.5, 1.0), (0.99, f64::NAN)] },
        ];
        for v in values {
            let p = point(v);
            let o = through_text(&point_object(&p, &mut resources));
            let back = ObjectDecoder::new(&resources).point(&o).unwrap();
            // NaN != NaN: compare the debug forms.
            assert_eq!(format!("{back:?}"), format!("{p:?}"));
        }
        let nan = point(PointValue::Gauge { value: f64::NAN });
        let o = through_text(&point_object(&nan, &mut resources));
        assert_eq!(o["value"], Value::String("NaN".into()));
        assert!(
            matches!(ObjectDecoder::new(&resources).point(&o).unwrap().value, PointValue::Gauge { value } if value.is_nan())
        );
    }

    #[test]
    fn wrong_types_and_missing_columns_are_errors_not_panics() {
        let mut resources = Resources::new();
        let mut o = span_object(&span(), &mut resources);
        o.insert("start_ns".into(), text("yesterday"));
        assert!(ObjectDecoder::new(&resources).span(&o).unwrap_err().to_string().contains("start_ns"));
        o.remove("start_ns");
        assert!(ObjectDecoder::new(&resources).span(&o).is_err());
        let mut l = log_object(&log(Some(AnyValue::String("x".into()))), &mut resources);
        l.insert("body_is_json".into(), 1.into());
        assert!(ObjectDecoder::new(&resources).log(&l).is_err());
        let mut p = point_object(&point(PointValue::Gauge { value: 1.0 }), &mut resources);
        p.insert("value".into(), text("lots"));
        assert!(ObjectDecoder::new(&resources).point(&p).is_err());
        p.insert("value".into(), 1.0.into());
        p.insert("kind".into(), text("sketch"));
        assert!(ObjectDecoder::new(&resources).point(&p).is_err());
    }

    #[test]
    fn a_missing_resource_falls_back_to_the_service_name() {
        let mut resources = Resources::new();
        let o = span_object(&span(), &mut resources);
        let empty = Resources::new();
        let s = ObjectDecoder::new(&empty).span(&o).unwrap();
        assert_eq!(s.resource.service_name, "checkout");
    }
}
