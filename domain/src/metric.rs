//! Metric data points.

use crate::hash::StableHasher;
use crate::resource::{InstrumentationScope, Resource};
use crate::value::Attributes;
use std::sync::Arc;

/// Aggregation temporality of sums and histograms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Temporality {
    #[default]
    Unspecified,
    Delta,
    Cumulative,
}

impl Temporality {
    /// From the OTLP enum number.
    pub fn from_otlp(n: i32) -> Self {
        match n {
            1 => Self::Delta,
            2 => Self::Cumulative,
            _ => Self::Unspecified,
        }
    }

    /// The OTLP enum number.
    pub fn as_otlp(self) -> i32 {
        match self {
            Self::Unspecified => 0,
            Self::Delta => 1,
            Self::Cumulative => 2,
        }
    }

    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unspecified => "unspecified",
            Self::Delta => "delta",
            Self::Cumulative => "cumulative",
        }
    }
}

/// Buckets of one sign of an exponential histogram.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ExpBuckets {
    pub offset: i32,
    pub counts: Vec<u64>,
}

/// The value of a data point, by metric type.
#[derive(Debug, Clone, PartialEq)]
pub enum PointValue {
    Gauge {
        value: f64,
    },
    Sum {
        value: f64,
        temporality: Temporality,
        monotonic: bool,
    },
    Histogram {
        count: u64,
        sum: Option<f64>,
        min: Option<f64>,
        max: Option<f64>,
        bounds: Vec<f64>,
        bucket_counts: Vec<u64>,
        temporality: Temporality,
    },
    ExponentialHistogram {
        count: u64,
        sum: Option<f64>,
        min: Option<f64>,
        max: Option<f64>,
        scale: i32,
        zero_count: u64,
        zero_threshold: f64,
        positive: ExpBuckets,
        negative: ExpBuckets,
        temporality: Temporality,
    },
    Summary {
        count: u64,
        sum: f64,
        /// (quantile in 0..=1, value)
        quantiles: Vec<(f64, f64)>,
    },
}

/// The kind of a metric, as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MetricKind {
    Gauge,
    Sum,
    Histogram,
    ExponentialHistogram,
    Summary,
}

impl MetricKind {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Gauge => "gauge",
            Self::Sum => "sum",
            Self::Histogram => "histogram",
            Self::ExponentialHistogram => "exponential_histogram",
            Self::Summary => "summary",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "gauge" => Self::Gauge,
            "sum" => Self::Sum,
            "histogram" => Self::Histogram,
            "exponential_histogram" => Self::ExponentialHistogram,
            "summary" => Self::Summary,
            _ => return None,
        })
    }
}

impl PointValue {
    /// The metric kind.
    pub fn kind(&self) -> MetricKind {
        match self {
            Self::Gauge { .. } => MetricKind::Gauge,
            Self::Sum { .. } => MetricKind::Sum,
            Self::Histogram { .. } => MetricKind::Histogram,
            Self::ExponentialHistogram { .. } => MetricKind::ExponentialHistogram,
            Self::Summary { .. } => MetricKind::Summary,
        }
    }

    /// The single value of a gauge or sum.
    pub fn number(&self) -> Option<f64> {
        match self {
            Self::Gauge { value } | Self::Sum { value, .. } => Some(*value),
            _ => None,
        }
    }

    /// Observation count of a histogram or summary.
    pub fn count(&self) -> Option<u64> {
        match self {
            Self::Histogram { count, .. } | Self::ExponentialHistogram { count, .. } | Self::Summary { count, .. } => {
                Some(*count)
            }
            _ => None,
        }
    }

    /// Sum of observations of a histogram or summary, when known.
    pub fn sum(&self) -> Option<f64> {
        match self {
            Self::Histogram { sum, .. } | Self::ExponentialHistogram { sum, .. } => *sum,
            Self::Summary { sum, .. } => Some(*sum),
            _ => None,
        }
    }

    /// Temporality of sums and histograms (`Unspecified` for gauges and summaries).
    pub fn temporality(&self) -> Temporality {
        match self {
            Self::Sum { temporality, .. }
            | Self::Histogram { temporality, .. }
            | Self::ExponentialHistogram { temporality, .. } => *temporality,
            _ => Temporality::Unspecified,
        }
    }
}

/// One metric data point, with its resource and scope.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricPoint {
    pub name: String,
    pub description: String,
    pub unit: String,
    pub attributes: Attributes,
    pub start_ns: i64,
    pub time_ns: i64,
    pub flags: u32,
    pub value: PointValue,
    pub resource: Arc<Resource>,
    pub scope: Arc<InstrumentationScope>,
}

impl MetricPoint {
    /// The service that produced the point.
    pub fn service_name(&self) -> &str {
        &self.resource.service_name
    }

    /// Identity of the time series the point belongs to: metric name, kind, resource and point
    /// attributes. Together with tenant and time it identifies a point for deduplication.
    pub fn series_key(&self) -> i64 {
        self.series_key_for_attributes(&self.attributes.to_json())
    }

    /// [`MetricPoint::series_key`] for a caller that already holds the attributes' JSON
    /// ([`Attributes::to_json`]), so it is not serialised twice.
    pub fn series_key_for_attributes(&self, attributes_json: &str) -> i64 {
        StableHasher::new()
            .field(self.name.as_bytes())
            .field(self.value.kind().as_str().as_bytes())
            .u64(self.resource.fingerprint as u64)
            .field(attributes_json.as_bytes())
            .finish_i64()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::AnyValue;

    fn point(name: &str, attr: &str, value: PointValue) -> MetricPoint {
        let mut attributes = Attributes::new();
        attributes.push("route", AnyValue::String(attr.into()));
        MetricPoint {
            name: name.into(),
            description: String::new(),
            unit: String::new(),
            attributes,
            start_ns: 0,
            time_ns: 10,
            flags: 0,
            value,
            resource: Arc::new(Resource::for_service("svc")),
            scope: Arc::new(InstrumentationScope::default()),
        }
    }

    #[test]
    fn series_key_separates_names_kinds_and_attributes() {
        let g = PointValue::Gauge { value: 1.0 };
        let base = point("cpu", "/a", g.clone()).series_key();
        assert_eq!(base, point("cpu", "/a", PointValue::Gauge { value: 9.0 }).series_key());
        assert_ne!(base, point("mem", "/a", g.clone()).series_key());
        assert_ne!(base, point("cpu", "/b", g).series_key());
        let s = PointValue::Sum { value: 1.0, temporality: Temporality::Delta, monotonic: true };
        assert_ne!(base, point("cpu", "/a", s).series_key());
    }

    #[test]
    fn accessors_expose_numbers_and_counts() {
        let h = PointValue::Histogram {
            count: 3,
            sum: Some(6.0),
            min: None,
            max: None,
            bounds: vec![1.0],
            bucket_counts: vec![1, 2],
            temporality: Temporality::Delta,
        };
        assert_eq!((h.count(), h.sum(), h.number(), h.temporality()), (Some(3), Some(6.0), None, Temporality::Delta));
        assert_eq!(PointValue::Gauge { value: 2.5 }.number(), Some(2.5));
        for k in [
            MetricKind::Gauge,
            MetricKind::Sum,
            MetricKind::Histogram,
            MetricKind::ExponentialHistogram,
            MetricKind::Summary,
        ] {
            assert_eq!(MetricKind::parse(k.as_str()), Some(k));
        }
    }
}
