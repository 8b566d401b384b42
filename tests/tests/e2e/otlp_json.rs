//! OTLP/JSON payloads written exactly as the OTLP specification writes them (hex ids in either
//! case, int64 as strings, enums as integers), for all three signals, read back field by field.

use crate::payloads::post;
use otelcontext_domain::metric::ExpBuckets;
use otelcontext_domain::{AnyValue, KeyValue, PointValue, Temporality, TenantId};
use otelcontext_e2e::{Backend, TestServer};
use otelcontext_ports::{LogQuery, MetricQuery};

const TRACES: &str = r#"{
  "resourceSpans": [{
    "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "my.service"}}]},
    "scopeSpans": [{
      "scope": {"name": "my.library", "version": "1.0.0",
                "attributes": [{"key": "my.scope.attribute", "value": {"stringValue": "some scope attribute"}}]},
      "spans": [{
        "traceId": "5B8EFFF798038103D269B633813FC60C",
        "spanId": "EEE19B7EC3C1B174",
        "parentSpanId": "EEE19B7EC3C1B173",
        "name": "I'm a server span",
        "startTimeUnixNano": "1544712660000000000",
        "endTimeUnixNano": "1544712661000000000",
        "kind": 2,
        "attributes": [{"key": "my.span.attr", "value": {"stringValue": "some value"}}],
        "events": [{"timeUnixNano": "1544712660500000000", "name": "checkpoint",
                    "attributes": [{"key": "step", "value": {"intValue": "3"}}]}],
        "links": [{"traceId": "0af7651916cd43dd8448eb211c80319c", "spanId": "b7ad6b7169203331"}],
        "status": {"code": 1}
      }]
    }]
  }]
}"#;

const LOGS: &str = r#"{
  "resourceLogs": [{
    "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "my.service"}}]},
    "scopeLogs": [{
      "scope": {"name": "my.library", "version": "1.0.0"},
      "logRecords": [{
        "timeUnixNano": "1544712660300000000",
        "observedTimeUnixNano": "1544712660300000000",
        "severityNumber": 10,
        "severityText": "Information",
        "traceId": "5B8EFFF798038103D269B633813FC60C",
        "spanId": "EEE19B7EC3C1B174",
        "body": {"stringValue": "Example log record"},
        "attributes": [
          {"key": "string.attribute", "value": {"stringValue": "some string"}},
          {"key": "boolean.attribute", "value": {"boolValue": true}},
          {"key": "int.attribute", "value": {"intValue": "10"}},
          {"key": "double.attribute", "value": {"doubleValue": 637.704}},
          {"key": "array.attribute", "value": {"arrayValue": {"values": [{"stringValue": "many"}, {"stringValue": "values"}]}}},
          {"key": "map.attribute", "value": {"kvlistValue": {"values": [{"key": "some.map.key", "value": {"stringValue": "some value"}}]}}}
        ]
      }, {
        "timeUnixNano": "1544712660400000000",
        "severityNumber": 17,
        "body": {"kvlistValue": {"values": [{"key": "event", "value": {"stringValue": "payment.failed"}},
                                            {"key": "amount", "value": {"doubleValue": 12.5}}]}}
      }]
    }]
  }]
}"#;

const METRICS: &str = r#"{
  "resourceMetrics": [{
    "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "my.service"}}]},
    "scopeMetrics": [{
      "scope": {"name": "my.library", "version": "1.0.0"},
      "metrics": [
        {"name": "my.counter", "unit": "1", "description": "I am a Counter",
         "sum": {"aggregationTemporality": 1, "isMonotonic": true,
                 "dataPoints": [{"asDouble": 5, "startTimeUnixNano": "1544712660300000000", "timeUnixNano": "1544712660300000000",
                                 "attributes": [{"key": "my.counter.attr", "value": {"stringValue": "some value"}}]}]}},
        {"name": "my.gauge", "unit": "1", "description": "I am a Gauge",
         "gauge": {"dataPoints": [{"asInt": "10", "timeUnixNano": "1544712660300000000"}]}},
        {"name": "my.histogram", "unit": "1", "description": "I am a Histogram",
         "histogram": {"aggregationTemporality": 1,
                       "dataPoints": [{"startTimeUnixNano": "1544712660300000000", "timeUnixNano": "1544712660300000000",
                                       "count": "2", "sum": 2, "bucketCounts": ["1", "1"], "explicitBounds": [1],
                                       "min": 0, "max": 2}]}},
        {"name": "my.exponential.histogram", "unit": "1", "description": "I am an Exponential Histogram",
         "exponentialHistogram": {"aggregationTemporality": 1,
                       "dataPoints": [{"startTimeUnixNano": "1544712660300000000", "timeUnixNano": "1544712660300000000",
                                       "count": "3", "sum": 10, "scale": 0, "zeroCount": "1",
                                       "positive": {"offset": 1, "bucketCounts": ["0", "2"]},
                                       "min": 0, "max": 5, "zeroThreshold": 0}]}},
        {"name": "my.summary", "unit": "ms", "description": "I am a Summary",
         "summary": {"dataPoints": [{"timeUnixNano": "1544712660300000000", "count": "4", "sum": 20,
                                     "quantileValues": [{"quantile": 0.5, "value": 4}, {"quantile": 0.99, "value": 9}]}]}}
      ]
    }]
  }]
}"#;

otelcontext_e2e::on_both_databases!(2, spec_json_traces_are_stored_exactly);

async fn spec_json_traces_are_stored_exactly(backend: Backend) {
    let Some(s) = TestServer::on(backend).await else { return };
    let a = post(&s, "/v1/traces", &[("content-type", "application/json")], TRACES.as_bytes().to_vec()).await;
    assert_eq!((a.status, a.content_type.as_str(), a.body.as_slice()), (200, "application/json", b"{}".as_slice()));
    let (_, trace) = otelcontext_e2e::eventually(|| async {
        let r = s.get_json("/api/traces/5b8efff798038103d269b633813fc60c", None).await;
        (r.0 == 200).then_some(r)
    })
    .await
    .expect("trace stored");
    let span = &trace["spans"][0];
    assert_eq!(span["span_id"], "eee19b7ec3c1b174");
    assert_eq!(span["parent_span_id"], "eee19b7ec3c1b173");
    assert_eq!(span["operation_name"], "I'm a server span");
    assert_eq!(span["kind"], "SERVER");
    assert_eq!(span["start_time_unix_nano"], 1_544_712_660_000_000_000i64);
    assert_eq!(span["end_time_unix_nano"], 1_544_712_661_000_000_000i64);
    assert_eq!(span["status"]["code"], "OK");
    assert_eq!(span["attributes"], serde_json::json!({"my.span.attr": "some value"}));
    assert_eq!(
        span["scope"],
        serde_json::json!({"name": "my.library", "version": "1.0.0", "attributes": {"my.scope.attribute": "some scope attribute"}})
    );
    assert_eq!(span["events"][0]["attributes"], serde_json::json!({"step": 3}));
    assert_eq!(span["links"][0]["trace_id"], "0af7651916cd43dd8448eb211c80319c");
    assert_eq!(trace["has_root"], false, "the parent span has not arrived");
    assert_eq!(trace["service_name"], "my.service");
}

otelcontext_e2e::on_both_databases!(2, spec_json_logs_keep_every_attribute_type_and_structured_bodies);

async fn spec_json_logs_keep_every_attribute_type_and_structured_bodies(backend: Backend) {
    let Some(s) = TestServer::on(backend).await else { return };
    let a = post(&s, "/v1/logs", &[("content-type", "application/json")], LOGS.as_bytes().to_vec()).await;
    assert_eq!(a.status, 200);
    s.wait_for("default", |c| c.logs == 2).await;
    let logs = s.storage.search_logs(&TenantId::parse("default").unwrap(), &LogQuery::recent(10)).await.unwrap().items;
    let (structured, first) = (&logs[0].record, &logs[1].record);
    assert_eq!(first.timestamp_ns, 1_544_712_660_300_000_000);
    assert_eq!((first.severity_number, first.severity_text.as_str()), (10, "Information"));
    assert_eq!(first.trace_id.unwrap().to_hex(), "5b8efff798038103d269b633813fc60c");
    assert_eq!(first.span_id.unwrap().to_hex(), "eee19b7ec3c1b174");
    assert_eq!(first.body, Some(AnyValue::String("Example log record".into())));
    let a = &first.attributes;
    assert_eq!(a.get("string.attribute"), Some(&AnyValue::String("some string".into())));
    assert_eq!(a.get("boolean.attribute"), Some(&AnyValue::Bool(true)));
    assert_eq!(a.get("int.attribute"), Some(&AnyValue::Int(10)));
    assert_eq!(a.get("double.attribute"), Some(&AnyValue::Double(637.704)));
    assert_eq!(
        a.get("array.attribute"),
        Some(&AnyValue::Array(vec![AnyValue::String("many".into()), AnyValue::String("values".into())]))
    );
    assert_eq!(
        a.get("map.attribute"),
        Some(&AnyValue::KvList(vec![KeyValue::new("some.map.key", AnyValue::String("some value".into()))]))
    );
    assert_eq!(first.scope.name, "my.library");
    assert_eq!(first.service_name(), "my.service");
    assert_eq!(
        structured.body,
        Some(AnyValue::KvList(vec![
            KeyValue::new("event", AnyValue::String("payment.failed".into())),
            KeyValue::new("amount", AnyValue::Double(12.5))
        ]))
    );
    assert!(structured.observed_ns > 0, "observed time is filled in at receipt");
}

otelcontext_e2e::on_both_databases!(2, spec_json_metrics_of_all_five_types_are_stored);

async fn spec_json_metrics_of_all_five_types_are_stored(backend: Backend) {
    let Some(s) = TestServer::on(backend).await else { return };
    let a = post(&s, "/v1/metrics", &[("content-type", "application/json")], METRICS.as_bytes().to_vec()).await;
    assert_eq!(a.status, 200);
    s.wait_for("default", |c| c.metric_points == 5).await;
    let t = TenantId::parse("default").unwrap();
    let get = |name: &'static str| {
        let s = &s;
        let t = t.clone();
        async move {
            let q = MetricQuery { name: Some(name.into()), limit: 10, ..Default::default() };
            s.storage.search_metric_points(&t, &q).await.unwrap().items.remove(0)
        }
    };
    let counter = get("my.counter").await;
    assert_eq!(counter.value, PointValue::Sum { value: 5.0, temporality: Temporality::Delta, monotonic: true });
    assert_eq!((counter.unit.as_str(), counter.description.as_str()), ("1", "I am a Counter"));
    assert_eq!(counter.attributes.get("my.counter.attr"), Some(&AnyValue::String("some value".into())));
    assert_eq!((counter.start_ns, counter.time_ns), (1_544_712_660_300_000_000, 1_544_712_660_300_000_000));
    assert_eq!(get("my.gauge").await.value, PointValue::Gauge { value: 10.0 });
    assert_eq!(
        get("my.histogram").await.value,
        PointValue::Histogram {
            count: 2,
            sum: Some(2.0),
            min: Some(0.0),
            max: Some(2.0),
            bounds: vec![1.0],
            bucket_counts: vec![1, 1],
            temporality: Temporality::Delta
        }
    );
    assert_eq!(
        get("my.exponential.histogram").await.value,
        PointValue::ExponentialHistogram {
            count: 3,
            sum: Some(10.0),
            min: Some(0.0),
            max: Some(5.0),
            scale: 0,
            zero_count: 1,
            zero_threshold: 0.0,
            positive: ExpBuckets { offset: 1, counts: vec![0, 2] },
            negative: ExpBuckets::default(),
            temporality: Temporality::Delta
        }
    );
    assert_eq!(
        get("my.summary").await.value,
        PointValue::Summary { count: 4, sum: 20.0, quantiles: vec![(0.5, 4.0), (0.99, 9.0)] }
    );
}

/// What a generic protobuf JSON encoder writes: proto field names, enum names, nulls.
const LOOSE_TRACES: &str = r#"{"resource_spans":[{"resource":{"attributes":[{"key":"service.name","value":{"string_value":"loose"}}]},
  "scope_spans":[{"spans":[{"trace_id":"0af7651916cd43dd8448eb211c80319c","span_id":"b7ad6b7169203331","parent_span_id":null,
  "name":"lenient","kind":"SPAN_KIND_CONSUMER","start_time_unix_nano":"1544712660000000000","end_time_unix_nano":"1544712660100000000",
  "status":{"code":"STATUS_CODE_ERROR","message":"boom"},"attributes":[{"key":"retry_count","value":{"int_value":"2"}}]}]}]}]}"#;

otelcontext_e2e::on_both_databases!(2, generic_protobuf_json_with_field_names_enum_names_and_nulls_is_understood);

async fn generic_protobuf_json_with_field_names_enum_names_and_nulls_is_understood(backend: Backend) {
    let Some(s) = TestServer::on(backend).await else { return };
    let a = post(&s, "/v1/traces", &[("content-type", "application/json")], LOOSE_TRACES.as_bytes().to_vec()).await;
    assert_eq!(a.status, 200);
    let (_, trace) = otelcontext_e2e::eventually(|| async {
        let r = s.get_json("/api/traces/0af7651916cd43dd8448eb211c80319c", None).await;
        (r.0 == 200).then_some(r)
    })
    .await
    .expect("trace stored");
    let span = &trace["spans"][0];
    assert_eq!((span["kind"].as_str(), span["status"]["code"].as_str()), (Some("CONSUMER"), Some("ERROR")));
    assert_eq!(span["attributes"], serde_json::json!({"retry_count": 2}));
    assert_eq!(trace["service_name"], "loose");
    assert_eq!(trace["duration_ns"], 100_000_000);
}
