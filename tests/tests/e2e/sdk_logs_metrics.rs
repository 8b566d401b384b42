//! Logs and metrics exported by the Rust OpenTelemetry SDK over gRPC, HTTP/protobuf and
//! HTTP/JSON, read back from the database and compared field by field.

use crate::sdk::{self, Target, blocking};
use opentelemetry::KeyValue;
use opentelemetry::logs::{AnyValue as OtelValue, LogRecord as _, Logger as _, LoggerProvider as _, Severity};
use opentelemetry::metrics::MeterProvider as _;
use opentelemetry::trace::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::logs::SdkLoggerProvider;
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider};
use otelcontext_domain::{AnyValue, PointValue, Temporality, TenantId};
use otelcontext_e2e::{Backend, TestServer};
use otelcontext_ports::{LogQuery, MetricQuery};
use std::time::{Duration, UNIX_EPOCH};

const T: u64 = 1_764_000_000_000_000_000;

otelcontext_e2e::on_both_databases!(4, sdk_logs_over_every_transport_read_back_field_by_field);

async fn sdk_logs_over_every_transport_read_back_field_by_field(backend: Backend) {
    let Some(s) = TestServer::on(backend).await else { return };
    for (i, transport) in sdk::ALL.into_iter().enumerate() {
        let tenant = format!("logs-{i}");
        let target = Target::of(&s).with_header("x-tenant-id", &tenant);
        let trace_id = TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap();
        let span_id = SpanId::from_hex("00f067aa0ba902b7").unwrap();
        blocking(move || {
            let provider = SdkLoggerProvider::builder()
                .with_batch_exporter(target.log_exporter(transport))
                .with_resource(Resource::builder().with_service_name("billing").build())
                .build();
            let logger = provider.logger("e2e-logger");
            let mut r = logger.create_log_record();
            r.set_timestamp(UNIX_EPOCH + Duration::from_nanos(T + 1));
            r.set_observed_timestamp(UNIX_EPOCH + Duration::from_nanos(T + 2));
            r.set_severity_number(Severity::Warn);
            r.set_severity_text("WARN");
            r.set_body(OtelValue::from("disk almost full"));
            r.set_event_name("disk.alert");
            r.add_attribute("disk.free_pct", 7i64);
            r.add_attribute("mount", "/var");
            let ctx = SpanContext::new(trace_id, span_id, TraceFlags::SAMPLED, false, TraceState::default());
            r.set_trace_context(ctx.trace_id(), ctx.span_id(), Some(ctx.trace_flags()));
            logger.emit(r);
            let mut debug = logger.create_log_record();
            debug.set_timestamp(UNIX_EPOCH + Duration::from_nanos(T + 3));
            debug.set_severity_number(Severity::Debug);
            debug.set_body(OtelValue::from("filtered by INGEST_MIN_SEVERITY=INFO"));
            logger.emit(debug);
            provider.shutdown().expect("logs exported");
        })
        .await;
        s.wait_for(&tenant, |c| c.logs == 1).await;
        let t = TenantId::parse(&tenant).unwrap();
        let logs = s.storage.search_logs(&t, &LogQuery::recent(10)).await.unwrap().items;
        assert_eq!(logs.len(), 1, "{transport:?}: the DEBUG record is filtered out");
        let l = &logs[0].record;
        assert_eq!((l.timestamp_ns, l.observed_ns), ((T + 1) as i64, (T + 2) as i64), "{transport:?}");
        assert_eq!((l.severity_number, l.severity_text.as_str()), (13, "WARN"));
        assert_eq!(l.body, Some(AnyValue::String("disk almost full".into())));
        assert_eq!(l.event_name, "disk.alert");
        assert_eq!(l.attributes.get("disk.free_pct"), Some(&AnyValue::Int(7)));
        assert_eq!(l.attributes.get("mount"), Some(&AnyValue::String("/var".into())));
        assert_eq!(l.trace_id.unwrap().to_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(l.span_id.unwrap().to_hex(), "00f067aa0ba902b7");
        assert_eq!(l.flags, 1);
        assert_eq!(l.service_name(), "billing");
        assert_eq!(l.scope.name, "e2e-logger");
    }
}

otelcontext_e2e::on_both_databases!(4, sdk_metrics_over_every_transport_read_back_field_by_field);

async fn sdk_metrics_over_every_transport_read_back_field_by_field(backend: Backend) {
    let Some(s) = TestServer::on(backend).await else { return };
    for (i, transport) in sdk::ALL.into_iter().enumerate() {
        let tenant = format!("metrics-{i}");
        let target = Target::of(&s).with_header("x-tenant-id", &tenant);
        blocking(move || {
            let reader = PeriodicReader::builder(target.metric_exporter(transport))
                .with_interval(Duration::from_secs(3600))
                .build();
            let provider = SdkMeterProvider::builder()
                .with_reader(reader)
                .with_resource(Resource::builder().with_service_name("shop").build())
                .build();
            let meter = provider.meter("e2e-meter");
            let orders = meter.u64_counter("orders").with_unit("1").with_description("orders placed").build();
            orders.add(3, &[KeyValue::new("region", "eu")]);
            orders.add(2, &[KeyValue::new("region", "eu")]);
            let latency = meter.f64_histogram("latency").with_unit("ms").with_boundaries(vec![10.0, 100.0]).build();
            for v in [5.0, 50.0, 500.0] {
                latency.record(v, &[KeyValue::new("route", "/pay")]);
            }
            meter.f64_gauge("temperature").with_unit("Cel").build().record(21.5, &[]);
            meter.i64_up_down_counter("queue.size").build().add(-2, &[]);
            provider.shutdown().expect("metrics exported");
        })
        .await;
        s.wait_for(&tenant, |c| c.metric_points == 4).await;
        let t = TenantId::parse(&tenant).unwrap();
        let get = |name: &'static str| {
            let (s, t) = (&s, t.clone());
            async move {
                let q = MetricQuery { name: Some(name.into()), limit: 10, ..Default::default() };
                let mut points = s.storage.search_metric_points(&t, &q).await.unwrap().items;
                assert_eq!(points.len(), 1, "{name}");
                points.remove(0)
            }
        };
        let orders = get("orders").await;
        assert_eq!(
            orders.value,
            PointValue::Sum { value: 5.0, temporality: Temporality::Cumulative, monotonic: true },
            "{transport:?}"
        );
        assert_eq!((orders.unit.as_str(), orders.description.as_str()), ("1", "orders placed"));
        assert_eq!(orders.attributes.get("region"), Some(&AnyValue::String("eu".into())));
        assert_eq!(orders.service_name(), "shop");
        assert_eq!(orders.scope.name, "e2e-meter");
        assert!(orders.time_ns > orders.start_ns && orders.start_ns > 0);
        match get("latency").await.value {
            PointValue::Histogram { count, sum, min, max, bounds, bucket_counts, temporality } => {
                assert_eq!((count, sum, min, max), (3, Some(555.0), Some(5.0), Some(500.0)));
                assert_eq!(
                    (bounds, bucket_counts, temporality),
                    (vec![10.0, 100.0], vec![1, 1, 1], Temporality::Cumulative)
                );
            }
            other => panic!("latency is {other:?}"),
        }
        assert_eq!(get("temperature").await.value, PointValue::Gauge { value: 21.5 });
        assert_eq!(
            get("queue.size").await.value,
            PointValue::Sum { value: -2.0, temporality: Temporality::Cumulative, monotonic: false }
        );
    }
}
