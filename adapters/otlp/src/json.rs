//! Lenient OTLP/JSON decoding.
//!
//! The strict decoder (opentelemetry-proto's serde support) follows the OTLP/JSON mapping. Generic
//! protobuf JSON encoders deviate from it in three common ways: enum values written as names
//! (`"kind": "SPAN_KIND_SERVER"`), fields written as `null`, and keys in their proto snake_case
//! form (`start_time_unix_nano`). The strict decoder fails on some of these and — worse — silently
//! drops data on others (unknown snake_case keys are ignored; a bad enum inside a `oneof` drops the
//! whole metric). So a body that shows any of them (a quick byte scan), or that the strict decoder
//! rejects, is normalised (nulls dropped, snake_case keys camelCased, enum names and numeric
//! strings turned into numbers) and decoded from the normalised form. Object keys in OTLP/JSON are
//! always field names — attribute keys are string *values* — so renaming keys never touches user
//! data.

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

/// Decodes OTLP/JSON, normalising it first when needed. The error is the strict decoder's.
pub fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T, serde_json::Error> {
    if needs_normalizing(body) {
        return decode_normalized(body).or_else(|_| serde_json::from_slice::<T>(body));
    }
    serde_json::from_slice::<T>(body).or_else(|strict| decode_normalized(body).map_err(|_| strict))
}

fn decode_normalized<T: DeserializeOwned>(body: &[u8]) -> Result<T, serde_json::Error> {
    let mut value = serde_json::from_slice::<Value>(body)?;
    normalize(&mut value, "");
    serde_json::from_value(value)
}

/// Enum names start a string value with one of these.
const ENUM_PREFIXES: [&[u8]; 4] = [b"SPAN_KIND_", b"STATUS_CODE_", b"SEVERITY_NUMBER_", b"AGGREGATION_TEMPORALITY_"];

/// True when the body has an enum written by name, a `null` value, or an object key with an
/// underscore (a proto field name instead of its lowerCamelCase JSON name).
fn needs_normalizing(body: &[u8]) -> bool {
    // One pass over the body.
    let mut in_string = false;
    let mut escaped = false;
    let mut underscore = false;
    let mut after_colon = false;
    let mut i = 0;
    while i < body.len() {
        let b = body[i];
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'_' {
                underscore = true;
            } else if b == b'"' {
                in_string = false;
                if underscore {
                    let next = body[i + 1..].iter().find(|c| !c.is_ascii_whitespace());
                    if next == Some(&b':') {
                        return true;
                    }
                }
            }
        } else {
            match b {
                b'"' => {
                    if ENUM_PREFIXES.iter().any(|p| body[i + 1..].starts_with(p)) {
                        return true;
                    }
                    in_string = true;
                    underscore = false;
                    after_colon = false;
                }
                b':' => after_colon = true,
                b'n' if after_colon && body[i..].starts_with(b"null") => return true,
                c if c.is_ascii_whitespace() => {}
                _ => after_colon = false,
            }
        }
        i += 1;
    }
    false
}

fn camel_case(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    let mut upper = false;
    for c in key.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// The number of an OTLP enum value given by name, for the fields that hold enums.
fn enum_number(field: &str, parent: &str, name: &str) -> Option<i64> {
    let n = match (field, parent) {
        ("kind", _) => match name.trim_start_matches("SPAN_KIND_") {
            "UNSPECIFIED" => 0,
            "INTERNAL" => 1,
            "SERVER" => 2,
            "CLIENT" => 3,
            "PRODUCER" => 4,
            "CONSUMER" => 5,
            _ => return None,
        },
        ("code", "status") => match name.trim_start_matches("STATUS_CODE_") {
            "UNSET" => 0,
            "OK" => 1,
            "ERROR" => 2,
            _ => return None,
        },
        ("aggregationTemporality", _) => match name.trim_start_matches("AGGREGATION_TEMPORALITY_") {
            "UNSPECIFIED" => 0,
            "DELTA" => 1,
            "CUMULATIVE" => 2,
            _ => return None,
        },
        ("severityNumber", _) => {
            let s = name.trim_start_matches("SEVERITY_NUMBER_");
            let (word, step) = match s.find(|c: char| c.is_ascii_digit()) {
                Some(i) => (&s[..i], s[i..].parse::<i64>().ok()?),
                None => (s, 1),
            };
            let base = match word {
                "UNSPECIFIED" => return (step == 1).then_some(0),
                "TRACE" => 1,
                "DEBUG" => 5,
                "INFO" => 9,
                "WARN" => 13,
                "ERROR" => 17,
                "FATAL" => 21,
                _ => return None,
            };
            if !(1..=4).contains(&step) {
                return None;
            }
            base + step - 1
        }
        _ => return None,
    };
    Some(n)
}

fn normalize(value: &mut Value, parent: &str) {
    match value {
        Value::Array(items) => items.iter_mut().for_each(|v| normalize(v, parent)),
        Value::Object(map) => {
            let old = std::mem::take(map);
            let mut fixed = Map::with_capacity(old.len());
            for (key, mut v) in old {
                if v.is_null() {
                    continue;
                }
                let key = if key.contains('_') { camel_case(&key) } else { key };
                if let Value::String(s) = &v {
                    if let Some(n) = enum_number(&key, parent, s) {
                        v = Value::from(n);
                    } else if matches!(key.as_str(), "kind" | "severityNumber" | "aggregationTemporality" | "code")
                        && let Ok(n) = s.parse::<i64>()
                    {
                        v = Value::from(n);
                    }
                }
                normalize(&mut v, &key);
                fixed.insert(key, v);
            }
            *map = fixed;
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
    use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;

    const CANONICAL: &str = r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{
        "traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174",
        "name":"op","kind":3,"startTimeUnixNano":"10","endTimeUnixNano":"20","status":{"code":2,"message":"x"}}]}]}]}"#;

    #[test]
    fn enum_names_nulls_and_snake_case_keys_decode_like_the_canonical_form() {
        let loose = r#"{"resource_spans":[{"scope_spans":[{"spans":[{
            "trace_id":"5b8efff798038103d269b633813fc60c","span_id":"eee19b7ec3c1b174","parent_span_id":null,
            "name":"op","kind":"SPAN_KIND_CLIENT","start_time_unix_nano":"10","end_time_unix_nano":"20",
            "status":{"code":"STATUS_CODE_ERROR","message":"x"},"trace_state":null}]}]}]}"#;
        let want: ExportTraceServiceRequest = decode(CANONICAL.as_bytes()).unwrap();
        let got: ExportTraceServiceRequest = decode(loose.as_bytes()).unwrap();
        assert_eq!(got, want);
    }

    #[test]
    fn log_severities_and_metric_temporalities_by_name() {
        let logs = r#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[
            {"timeUnixNano":"1","severityNumber":"SEVERITY_NUMBER_WARN2","body":{"stringValue":"a"}},
            {"timeUnixNano":"2","severityNumber":"SEVERITY_NUMBER_FATAL","body":null}]}]}]}"#;
        let req: ExportLogsServiceRequest = decode(logs.as_bytes()).unwrap();
        let n: Vec<i32> = req.resource_logs[0].scope_logs[0].log_records.iter().map(|r| r.severity_number).collect();
        assert_eq!(n, vec![14, 21]);
        let metrics = r#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"m",
            "sum":{"aggregationTemporality":"AGGREGATION_TEMPORALITY_CUMULATIVE","isMonotonic":true,
                   "dataPoints":[{"asDouble":1,"timeUnixNano":"5"}]}}]}]}]}"#;
        let req: ExportMetricsServiceRequest = decode(metrics.as_bytes()).unwrap();
        let Some(opentelemetry_proto::tonic::metrics::v1::metric::Data::Sum(sum)) =
            &req.resource_metrics[0].scope_metrics[0].metrics[0].data
        else {
            panic!("sum expected")
        };
        assert_eq!(sum.aggregation_temporality, 2);
    }

    #[test]
    fn attribute_keys_with_underscores_are_left_alone() {
        let body = r#"{"resourceSpans":[{"resource":{"attributes":[{"key":"my_attr","value":{"stringValue":"v"}}],"dropped_attributes_count":0},"scopeSpans":[]}]}"#;
        let req: ExportTraceServiceRequest = decode(body.as_bytes()).unwrap();
        assert_eq!(req.resource_spans[0].resource.as_ref().unwrap().attributes[0].key, "my_attr");
    }

    #[test]
    fn hopeless_bodies_report_the_strict_error() {
        let err = decode::<ExportTraceServiceRequest>(b"{\"resourceSpans\": 5}").unwrap_err();
        assert!(err.to_string().contains("invalid type"), "{err}");
        assert!(decode::<ExportTraceServiceRequest>(b"{nope").is_err());
    }

    #[test]
    fn the_scan_finds_only_what_needs_normalising() {
        assert!(!needs_normalizing(CANONICAL.as_bytes()));
        assert!(!needs_normalizing(br#"{"key":"snake_case_value","value":{"stringValue":"a_b: c null"}}"#));
        assert!(needs_normalizing(br#"{"resource_spans":[]}"#));
        assert!(needs_normalizing(br#"{"parentSpanId" : null}"#));
        assert!(needs_normalizing(br#"{"kind":"SPAN_KIND_SERVER"}"#));
        assert!(needs_normalizing(br#"{"a\"_b" :1}"#));
    }

    #[test]
    fn unknown_enum_names_are_not_guessed() {
        assert_eq!(enum_number("kind", "", "SPAN_KIND_SIDEWAYS"), None);
        assert_eq!(enum_number("severityNumber", "", "SEVERITY_NUMBER_INFO5"), None);
        assert_eq!(enum_number("code", "other", "STATUS_CODE_OK"), None);
        assert_eq!(enum_number("severityNumber", "", "SEVERITY_NUMBER_TRACE4"), Some(4));
    }
}
