//! Storage format (version 1) of the JSON columns: span events and links, scope attributes and
//! the kind-specific parts of metric points.

use otelcontext_domain::metric::ExpBuckets;
use otelcontext_domain::{Attributes, PointValue, SpanEvent, SpanId, SpanLink, Temporality, TraceId};
use otelcontext_ports::StorageError;
use serde::{Deserialize, Serialize};

fn is_zero(n: &u32) -> bool {
    *n == 0
}

#[derive(Serialize)]
struct EventOut<'a> {
    time_unix_nano: i64,
    name: &'a str,
    #[serde(skip_serializing_if = "Attributes::is_empty")]
    attributes: &'a Attributes,
    #[serde(skip_serializing_if = "is_zero")]
    dropped_attributes_count: u32,
}

#[derive(Deserialize)]
struct EventIn {
    time_unix_nano: i64,
    name: String,
    #[serde(default)]
    attributes: Attributes,
    #[serde(default)]
    dropped_attributes_count: u32,
}

#[derive(Serialize)]
struct LinkOut<'a> {
    trace_id: String,
    span_id: String,
    #[serde(skip_serializing_if = "str::is_empty")]
    trace_state: &'a str,
    #[serde(skip_serializing_if = "Attributes::is_empty")]
    attributes: &'a Attributes,
    #[serde(skip_serializing_if = "is_zero")]
    flags: u32,
}

#[derive(Deserialize)]
struct LinkIn {
    trace_id: String,
    span_id: String,
    #[serde(default)]
    trace_state: String,
    #[serde(default)]
    attributes: Attributes,
    #[serde(default)]
    flags: u32,
}

fn corrupt(what: &str, e: impl std::fmt::Display) -> StorageError {
    StorageError::Corrupt(format!("{what}: {e}"))
}

/// Events as JSON, `None` when there are none.
pub(crate) fn events_to_json(events: &[SpanEvent]) -> Option<String> {
    if events.is_empty() {
        return None;
    }
    let out: Vec<EventOut<'_>> = events
        .iter()
        .map(|e| EventOut {
            time_unix_nano: e.time_ns,
            name: &e.name,
            attributes: &e.attributes,
            dropped_attributes_count: e.dropped_attributes_count,
        })
        .collect();
    Some(serde_json::to_string(&out).expect("events serialise"))
}

/// Events from their JSON column.
pub(crate) fn events_from_json(text: Option<&str>) -> Result<Vec<SpanEvent>, StorageError> {
    let Some(text) = text else { return Ok(Vec::new()) };
    let events: Vec<EventIn> = serde_json::from_str(text).map_err(|e| corrupt("span events", e))?;
    Ok(events
        .into_iter()
        .map(|e| SpanEvent {
            time_ns: e.time_unix_nano,
            name: e.name,
            attributes: e.attributes,
            dropped_attributes_count: e.dropped_attributes_count,
        })
        .collect())
}

/// Links as JSON, `None` when there are none.
pub(crate) fn links_to_json(links: &[SpanLink]) -> Option<String> {
    if links.is_empty() {
        return None;
    }
    let out: Vec<LinkOut<'_>> = links
        .iter()
        .map(|l| LinkOut {
            trace_id: l.trace_id.to_hex(),
            span_id: l.span_id.to_hex(),
            trace_state: &l.trace_state,
            attributes: &l.attributes,
            flags: l.flags,
        })
        .collect();
    Some(serde_json::to_string(&out).expect("links serialise"))
}

/// Links from their JSON column.
pub(crate) fn links_from_json(text: Option<&str>) -> Result<Vec<SpanLink>, StorageError> {
    let Some(text) = text else { return Ok(Vec::new()) };
    let links: Vec<LinkIn> = serde_json::from_str(text).map_err(|e| corrupt("span links", e))?;
    links
        .into_iter()
        .map(|l| {
            Ok(SpanLink {
                trace_id: TraceId::parse_hex(&l.trace_id).map_err(|e| corrupt("link trace id", e))?,
                span_id: SpanId::parse_hex(&l.span_id).map_err(|e| corrupt("link span id", e))?,
                trace_state: l.trace_state,
                attributes: l.attributes,
                flags: l.flags,
            })
        })
        .collect()
}

/// Attributes as JSON, `None` when empty (for optional columns).
pub(crate) fn optional_attributes(a: &Attributes) -> Option<String> {
    (!a.is_empty()).then(|| a.to_json())
}

/// Attributes from a JSON column (NULL means none).
pub(crate) fn attributes_from_json(text: Option<&str>) -> Result<Attributes, StorageError> {
    match text {
        None => Ok(Attributes::new()),
        Some(t) => Attributes::from_json(t).map_err(|e| corrupt("attributes", e)),
    }
}

/// The columns of a metric point that depend on its kind.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct PointColumns {
    pub temporality: i64,
    pub is_monotonic: bool,
    pub value: Option<f64>,
    pub count: Option<i64>,
    pub sum: Option<f64>,
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub data_json: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct HistogramData {
    bounds: Vec<f64>,
    bucket_counts: Vec<u64>,
}

#[derive(Serialize, Deserialize)]
struct ExpBucketsData {
    offset: i32,
    bucket_counts: Vec<u64>,
}

#[derive(Serialize, Deserialize)]
struct ExpHistogramData {
    scale: i32,
    zero_count: u64,
    zero_threshold: f64,
    positive: ExpBucketsData,
    negative: ExpBucketsData,
}

#[derive(Serialize, Deserialize)]
struct Quantile {
    quantile: f64,
    value: f64,
}

#[derive(Serialize, Deserialize)]
struct SummaryData {
    quantiles: Vec<Quantile>,
}

fn json<T: Serialize>(v: &T) -> Option<String> {
    Some(serde_json::to_string(v).expect("metric data serialises"))
}

/// Splits a point value into columns.
pub(crate) fn point_columns(v: &PointValue) -> PointColumns {
    match v {
        PointValue::Gauge { value } => PointColumns { value: Some(*value), ..Default::default() },
        PointValue::Sum { value, temporality, monotonic } => PointColumns {
            temporality: temporality.as_otlp().into(),
            is_monotonic: *monotonic,
            value: Some(*value),
            ..Default::default()
        },
        PointValue::Histogram { count, sum, min, max, bounds, bucket_counts, temporality } => PointColumns {
            temporality: temporality.as_otlp().into(),
            count: Some(*count as i64),
            sum: *sum,
            min: *min,
            max: *max,
            data_json: json(&HistogramData { bounds: bounds.clone(), bucket_counts: bucket_counts.clone() }),
            ..Default::default()
        },
        PointValue::ExponentialHistogram {
            count,
            sum,
            min,
            max,
            scale,
            zero_count,
            zero_threshold,
            positive,
            negative,
            temporality,
        } => PointColumns {
            temporality: temporality.as_otlp().into(),
            count: Some(*count as i64),
            sum: *sum,
            min: *min,
            max: *max,
            data_json: json(&ExpHistogramData {
                scale: *scale,
                zero_count: *zero_count,
                zero_threshold: *zero_threshold,
                positive: ExpBucketsData { offset: positive.offset, bucket_counts: positive.counts.clone() },
                negative: ExpBucketsData { offset: negative.offset, bucket_counts: negative.counts.clone() },
            }),
            ..Default::default()
        },
        PointValue::Summary { count, sum, quantiles } => PointColumns {
            count: Some(*count as i64),
            sum: Some(*sum),
            data_json: json(&SummaryData {
                quantiles: quantiles.iter().map(|(q, v)| Quantile { quantile: *q, value: *v }).collect(),
            }),
            ..Default::default()
        },
    }
}

fn data<T: for<'de> Deserialize<'de>>(c: &PointColumns, kind: &str) -> Result<T, StorageError> {
    let text = c.data_json.as_deref().ok_or_else(|| corrupt(kind, "missing data_json"))?;
    serde_json::from_str(text).map_err(|e| corrupt(kind, e))
}

/// Rebuilds a point value from its kind and columns.
pub(crate) fn point_value(kind: &str, c: &PointColumns) -> Result<PointValue, StorageError> {
    let temporality = Temporality::from_otlp(c.temporality as i32);
    let count = c.count.unwrap_or(0).max(0) as u64;
    Ok(match kind {
        "gauge" => PointValue::Gauge { value: c.value.unwrap_or(f64::NAN) },
        "sum" => PointValue::Sum { value: c.value.unwrap_or(f64::NAN), temporality, monotonic: c.is_monotonic },
        "histogram" => {
            let d: HistogramData = data(c, kind)?;
            PointValue::Histogram {
                count,
                sum: c.sum,
                min: c.min,
                max: c.max,
                bounds: d.bounds,
                bucket_counts: d.bucket_counts,
                temporality,
            }
        }
        "exponential_histogram" => {
            let d: ExpHistogramData = data(c, kind)?;
            PointValue::ExponentialHistogram {
                count,
                sum: c.sum,
                min: c.min,
                max: c.max,
                scale: d.scale,
                zero_count: d.zero_count,
                zero_threshold: d.zero_threshold,
                positive: ExpBuckets { offset: d.positive.offset, counts: d.positive.bucket_counts },
                negative: ExpBuckets { offset: d.negative.offset, counts: d.negative.bucket_counts },
                temporality,
            }
        }
        "summary" => {
            let d: SummaryData = data(c, kind)?;
            PointValue::Summary {
                count,
                sum: c.sum.unwrap_or(0.0),
                quantiles: d.quantiles.into_iter().map(|q| (q.quantile, q.value)).collect(),
            }
        }
        other => return Err(corrupt("metric kind", other)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use otelcontext_domain::AnyValue;

    #[test]
    fn events_and_links_round_trip() {
        let mut attrs = Attributes::new();
        attrs.push("k", AnyValue::Int(1));
        let events =
            vec![SpanEvent { time_ns: 5, name: "e".into(), attributes: attrs.clone(), dropped_attributes_count: 1 }];
        assert_eq!(events_from_json(events_to_json(&events).as_deref()).unwrap(), events);
        let links = vec![SpanLink {
            trace_id: TraceId::from_array([1; 16]).unwrap(),
            span_id: SpanId::from_array([2; 8]).unwrap(),
            trace_state: "a=b".into(),
            attributes: attrs,
            flags: 3,
        }];
        assert_eq!(links_from_json(links_to_json(&links).as_deref()).unwrap(), links);
        assert_eq!(events_to_json(&[]), None);
        assert!(events_from_json(None).unwrap().is_empty());
    }

    #[test]
    fn corrupt_json_is_reported_not_panicked() {
        assert!(matches!(events_from_json(Some("{nope")), Err(StorageError::Corrupt(_))));
        assert!(matches!(point_value("histogram", &PointColumns::default()), Err(StorageError::Corrupt(_))));
        assert!(matches!(point_value("pie", &PointColumns::default()), Err(StorageError::Corrupt(_))));
    }
}
