//! Storage format (version 1) of the JSON columns every SQL adapter shares: span events and
//! links, scope attributes, the kind-specific parts of metric points and of metric buckets.
//!
//! Floats in these documents may be NaN or infinite (Prometheus summaries commonly carry a NaN
//! quantile): they are written as the strings `"NaN"`, `"Infinity"`, `"-Infinity"` and read
//! back as the same values; `null`, which older versions wrote for them, reads as NaN. Numeric
//! SQL columns that cannot hold NaN (SQLite stores it as NULL) are backed by a `nan` list in
//! the document naming the fields that are NaN.

pub mod csv;
pub mod objects;
pub mod rows;

pub use rows::{ResourceCache, StoredRow};

use crate::bucket::BucketHistogram;
use crate::ids::{SpanId, TraceId};
use crate::metric::{ExpBuckets, PointValue, Temporality};
use crate::span::{SpanEvent, SpanLink};
use crate::value::Attributes;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A stored document could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what}: {message}")]
pub struct CodecError {
    pub what: &'static str,
    pub message: String,
}

/// Serde helpers for floats that may be non-finite.
mod float {
    use super::*;

    pub fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
        if v.is_finite() {
            s.serialize_f64(*v)
        } else if v.is_nan() {
            s.serialize_str("NaN")
        } else if *v > 0.0 {
            s.serialize_str("Infinity")
        } else {
            s.serialize_str("-Infinity")
        }
    }

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Repr {
        Num(f64),
        Text(String),
        Null(()),
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        match Repr::deserialize(d)? {
            Repr::Num(n) => Ok(n),
            Repr::Null(()) => Ok(f64::NAN),
            Repr::Text(t) => match t.as_str() {
                "NaN" => Ok(f64::NAN),
                "Infinity" | "+Infinity" | "inf" => Ok(f64::INFINITY),
                "-Infinity" | "-inf" => Ok(f64::NEG_INFINITY),
                other => Err(serde::de::Error::custom(format!("not a number: {other:?}"))),
            },
        }
    }

    /// The same for a list of floats.
    pub mod vec {
        use super::*;

        #[derive(Serialize, Deserialize)]
        struct F(#[serde(with = "super")] f64);

        pub fn serialize<S: Serializer>(v: &[f64], s: S) -> Result<S::Ok, S::Error> {
            s.collect_seq(v.iter().map(|x| F(*x)))
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<f64>, D::Error> {
            Ok(Vec::<F>::deserialize(d)?.into_iter().map(|f| f.0).collect())
        }
    }
}

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

fn corrupt(what: &'static str, e: impl std::fmt::Display) -> CodecError {
    CodecError { what, message: e.to_string() }
}

/// Events as JSON, `None` when there are none.
pub fn events_to_json(events: &[SpanEvent]) -> Option<String> {
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
pub fn events_from_json(text: Option<&str>) -> Result<Vec<SpanEvent>, CodecError> {
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
pub fn links_to_json(links: &[SpanLink]) -> Option<String> {
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
pub fn links_from_json(text: Option<&str>) -> Result<Vec<SpanLink>, CodecError> {
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
pub fn optional_attributes(a: &Attributes) -> Option<String> {
    (!a.is_empty()).then(|| a.to_json())
}

/// Attributes from a JSON column (NULL means none).
pub fn attributes_from_json(text: Option<&str>) -> Result<Attributes, CodecError> {
    match text {
        None => Ok(Attributes::new()),
        Some(t) => Attributes::from_json(t).map_err(|e| corrupt("attributes", e)),
    }
}

/// The columns of a metric point that depend on its kind.
#[derive(Debug, Default, PartialEq)]
pub struct PointColumns {
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
    #[serde(with = "float::vec")]
    bounds: Vec<f64>,
    bucket_counts: Vec<u64>,
    /// Optional float columns (`sum`, `min`, `max`) that are NaN.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    nan: Vec<String>,
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
    #[serde(with = "float")]
    zero_threshold: f64,
    positive: ExpBucketsData,
    negative: ExpBucketsData,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    nan: Vec<String>,
}

#[derive(Serialize, Deserialize)]
struct Quantile {
    #[serde(with = "float")]
    quantile: f64,
    #[serde(with = "float")]
    value: f64,
}

#[derive(Serialize, Deserialize)]
struct SummaryData {
    quantiles: Vec<Quantile>,
}

fn json<T: Serialize>(v: &T) -> Option<String> {
    Some(serde_json::to_string(v).expect("metric data serialises"))
}

/// Names of the optional floats that are NaN (their SQL columns may not hold NaN).
fn nan_fields(sum: Option<f64>, min: Option<f64>, max: Option<f64>) -> Vec<String> {
    [("sum", sum), ("min", min), ("max", max)]
        .into_iter()
        .filter(|(_, v)| v.is_some_and(f64::is_nan))
        .map(|(n, _)| n.to_owned())
        .collect()
}

/// An optional float column read back: NULL is `None` unless the document lists it as NaN.
fn restore(column: Option<f64>, name: &str, nan: &[String]) -> Option<f64> {
    if nan.iter().any(|n| n == name) { Some(f64::NAN) } else { column }
}

/// Splits a point value into columns.
pub fn point_columns(v: &PointValue) -> PointColumns {
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
            data_json: json(&HistogramData {
                bounds: bounds.clone(),
                bucket_counts: bucket_counts.clone(),
                nan: nan_fields(*sum, *min, *max),
            }),
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
                nan: nan_fields(*sum, *min, *max),
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

fn data<T: for<'de> Deserialize<'de>>(c: &PointColumns, kind: &'static str) -> Result<T, CodecError> {
    let text = c.data_json.as_deref().ok_or_else(|| corrupt(kind, "missing data_json"))?;
    serde_json::from_str(text).map_err(|e| corrupt(kind, e))
}

/// Rebuilds a point value from its kind and columns.
pub fn point_value(kind: &str, c: &PointColumns) -> Result<PointValue, CodecError> {
    let temporality = Temporality::from_otlp(c.temporality as i32);
    let count = c.count.unwrap_or(0).max(0) as u64;
    Ok(match kind {
        // A NULL value column is a NaN the database could not store.
        "gauge" => PointValue::Gauge { value: c.value.unwrap_or(f64::NAN) },
        "sum" => PointValue::Sum { value: c.value.unwrap_or(f64::NAN), temporality, monotonic: c.is_monotonic },
        "histogram" => {
            let d: HistogramData = data(c, "histogram")?;
            PointValue::Histogram {
                count,
                sum: restore(c.sum, "sum", &d.nan),
                min: restore(c.min, "min", &d.nan),
                max: restore(c.max, "max", &d.nan),
                bounds: d.bounds,
                bucket_counts: d.bucket_counts,
                temporality,
            }
        }
        "exponential_histogram" => {
            let d: ExpHistogramData = data(c, "exponential_histogram")?;
            PointValue::ExponentialHistogram {
                count,
                sum: restore(c.sum, "sum", &d.nan),
                min: restore(c.min, "min", &d.nan),
                max: restore(c.max, "max", &d.nan),
                scale: d.scale,
                zero_count: d.zero_count,
                zero_threshold: d.zero_threshold,
                positive: ExpBuckets { offset: d.positive.offset, counts: d.positive.bucket_counts },
                negative: ExpBuckets { offset: d.negative.offset, counts: d.negative.bucket_counts },
                temporality,
            }
        }
        "summary" => {
            let d: SummaryData = data(c, "summary")?;
            PointValue::Summary {
                count,
                sum: c.sum.unwrap_or(f64::NAN),
                quantiles: d.quantiles.into_iter().map(|q| (q.quantile, q.value)).collect(),
            }
        }
        other => return Err(corrupt("metric kind", other)),
    })
}

/// The float columns of a metric bucket plus its JSON document (histogram and NaN markers).
#[derive(Debug, Default, PartialEq)]
pub struct BucketColumns {
    pub sum: Option<f64>,
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub last: Option<f64>,
    pub data_json: Option<String>,
}

#[derive(Serialize, Deserialize, Default)]
struct BucketData {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    histogram: Option<HistogramCounts>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    exponential: Option<ExponentialCounts>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    histogram_conflict: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    nan: Vec<String>,
}

#[derive(Serialize, Deserialize)]
struct ExponentialCounts {
    scale: i32,
    zero_count: u64,
    positive_offset: i32,
    positive: Vec<u64>,
    negative_offset: i32,
    negative: Vec<u64>,
}

#[derive(Serialize, Deserialize)]
struct HistogramCounts {
    #[serde(with = "float::vec")]
    bounds: Vec<f64>,
    counts: Vec<u64>,
}

/// Splits a bucket's floats and histogram into columns.
pub fn bucket_columns(sum: f64, min: f64, max: f64, last: f64, histogram: &BucketHistogram) -> BucketColumns {
    let mut data = BucketData::default();
    match histogram {
        BucketHistogram::None => {}
        BucketHistogram::Conflict => data.histogram_conflict = true,
        BucketHistogram::Buckets { bounds, counts } => {
            data.histogram = Some(HistogramCounts { bounds: bounds.clone(), counts: counts.clone() })
        }
        BucketHistogram::Exponential(h) => {
            data.exponential = Some(ExponentialCounts {
                scale: h.scale,
                zero_count: h.zero_count,
                positive_offset: h.positive.offset,
                positive: h.positive.counts.clone(),
                negative_offset: h.negative.offset,
                negative: h.negative.counts.clone(),
            })
        }
    }
    data.nan = [("sum", sum), ("min", min), ("max", max), ("last", last)]
        .into_iter()
        .filter(|(_, v)| v.is_nan())
        .map(|(n, _)| n.to_owned())
        .collect();
    let empty =
        data.histogram.is_none() && data.exponential.is_none() && !data.histogram_conflict && data.nan.is_empty();
    BucketColumns {
        sum: Some(sum),
        min: Some(min),
        max: Some(max),
        last: Some(last),
        data_json: (!empty).then(|| serde_json::to_string(&data).expect("bucket data serialises")),
    }
}

/// Floats (sum, min, max, last) and histogram of a bucket read back from its columns.
pub fn bucket_values(c: &BucketColumns) -> Result<([f64; 4], BucketHistogram), CodecError> {
    let data: BucketData = match c.data_json.as_deref() {
        Some(text) => serde_json::from_str(text).map_err(|e| corrupt("metric bucket", e))?,
        None => BucketData::default(),
    };
    // A NULL column is a NaN the database could not store.
    let value = |col: Option<f64>, name: &str| restore(col, name, &data.nan).unwrap_or(f64::NAN);
    let floats = [value(c.sum, "sum"), value(c.min, "min"), value(c.max, "max"), value(c.last, "last")];
    let histogram = match (data.histogram, data.exponential, data.histogram_conflict) {
        (_, _, true) => BucketHistogram::Conflict,
        (Some(h), _, false) => BucketHistogram::Buckets { bounds: h.bounds, counts: h.counts },
        (None, Some(e), false) => BucketHistogram::Exponential(crate::bucket::ExpHistogram {
            scale: e.scale,
            zero_count: e.zero_count,
            positive: ExpBuckets { offset: e.positive_offset, counts: e.positive },
            negative: ExpBuckets { offset: e.negative_offset, counts: e.negative },
        }),
        (None, None, false) => BucketHistogram::None,
    };
    Ok((floats, histogram))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::AnyValue;

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

    fn same_bits(a: &PointValue, b: &PointValue) -> bool {
        format!("{a:?}") == format!("{b:?}")
    }

    #[test]
    fn non_finite_floats_round_trip_even_through_null_columns() {
        let values = [
            PointValue::Summary { count: 3, sum: f64::NAN, quantiles: vec![(0.5, f64::NAN), (0.99, f64::INFINITY)] },
            PointValue::Histogram {
                count: 2,
                sum: Some(f64::NAN),
                min: Some(f64::NEG_INFINITY),
                max: None,
                bounds: vec![1.0, f64::INFINITY],
                bucket_counts: vec![1, 1, 0],
                temporality: Temporality::Delta,
            },
            PointValue::Gauge { value: f64::NAN },
        ];
        for v in values {
            let mut c = point_columns(&v);
            // SQLite stores NaN in a REAL column as NULL.
            for col in [&mut c.value, &mut c.sum, &mut c.min, &mut c.max] {
                if col.is_some_and(f64::is_nan) {
                    *col = None;
                }
            }
            let back = point_value(v.kind().as_str(), &c).unwrap();
            assert!(same_bits(&back, &v), "{back:?} != {v:?}");
        }
    }

    #[test]
    fn a_summary_written_with_null_quantiles_reads_as_nan() {
        let c = PointColumns {
            count: Some(1),
            sum: Some(1.0),
            data_json: Some(r#"{"quantiles":[{"quantile":0.5,"value":null}]}"#.into()),
            ..Default::default()
        };
        let PointValue::Summary { quantiles, .. } = point_value("summary", &c).unwrap() else { panic!() };
        assert!(quantiles[0].1.is_nan());
    }

    #[test]
    fn bucket_columns_round_trip() {
        let h = BucketHistogram::Buckets { bounds: vec![1.0, f64::INFINITY], counts: vec![1, 2, 3] };
        let mut c = bucket_columns(f64::NAN, 1.0, f64::INFINITY, 2.0, &h);
        c.sum = None;
        let (floats, back) = bucket_values(&c).unwrap();
        assert!(floats[0].is_nan());
        assert_eq!(&floats[1..], &[1.0, f64::INFINITY, 2.0]);
        assert_eq!(back, h);
        assert_eq!(bucket_columns(1.0, 1.0, 1.0, 1.0, &BucketHistogram::None).data_json, None);
        let e = BucketHistogram::Exponential(crate::bucket::ExpHistogram {
            scale: 3,
            zero_count: 2,
            positive: ExpBuckets { offset: -4, counts: vec![1, 0, 5] },
            negative: ExpBuckets { offset: 7, counts: vec![9] },
        });
        assert_eq!(bucket_values(&bucket_columns(1.0, 1.0, 1.0, 1.0, &e)).unwrap().1, e);
        let c = bucket_columns(1.0, 1.0, 1.0, 1.0, &BucketHistogram::Conflict);
        assert_eq!(bucket_values(&c).unwrap().1, BucketHistogram::Conflict);
    }

    #[test]
    fn corrupt_json_is_reported_not_panicked() {
        assert!(matches!(events_from_json(Some("{nope")), Err(CodecError { .. })));
        assert!(matches!(point_value("histogram", &PointColumns::default()), Err(CodecError { .. })));
        assert!(matches!(point_value("pie", &PointColumns::default()), Err(CodecError { .. })));
    }
}
