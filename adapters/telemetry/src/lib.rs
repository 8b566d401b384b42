//! Self-observability of otelcontext: one instrumentation, two outputs.
//!
//! Every component records its own metrics through the OpenTelemetry metrics API (it registers
//! its instruments on a [`Meter`] it is handed; no struct lists every metric of the server). One
//! [`Telemetry`] per server owns the SDK meter provider, which feeds two readers: a Prometheus
//! registry rendered at `/metrics/prometheus`, and — when self-instrumentation is on — an OTLP
//! push exporter the caller adds with [`TelemetryBuilder::with_reader`].
//!
//! Names are written out in full and exported as written: lowercase `otelcontext_*`, with
//! `_total` on counters and the unit (`_seconds`, `_bytes`) in the name. The Prometheus exporter
//! is configured to add no unit or counter suffix, no `otel_scope_*` labels and no `target_info`,
//! so the exposition matches the names here exactly. The `process_*` metrics come from the
//! standard process collector on the same registry.

pub use opentelemetry::KeyValue;
pub use opentelemetry::metrics::{Counter, Gauge, Histogram, Meter, MeterProvider as _};

use opentelemetry::metrics::MeterProvider;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::metrics::reader::MetricReader;
use prometheus::{Encoder, Registry, TextEncoder};

/// Latency buckets for request handling, in seconds (0.5 ms … 10 s).
pub const LATENCY_BUCKETS: &[f64] =
    &[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];
/// Buckets for slow maintenance work, in seconds (10 ms … ~11 min).
pub const MAINTENANCE_BUCKETS: &[f64] =
    &[0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92, 163.84, 655.36];
/// Item-count buckets for batch sizes.
pub const SIZE_BUCKETS: &[f64] =
    &[1.0, 10.0, 50.0, 100.0, 500.0, 1_000.0, 5_000.0, 10_000.0, 25_000.0, 50_000.0, 100_000.0];

/// The instrumentation scope of every meter of the server. One scope for all components means
/// an instrument two components both register (same name and description) is one series.
pub const SCOPE: &str = "otelcontext";

/// The content type of [`Telemetry::render`].
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// A monotonic counter.
pub fn counter(meter: &Meter, name: &'static str, help: &'static str) -> Counter<u64> {
    meter.u64_counter(name).with_description(help).build()
}

/// A gauge (the last recorded value per attribute set).
pub fn gauge(meter: &Meter, name: &'static str, help: &'static str) -> Gauge<i64> {
    meter.i64_gauge(name).with_description(help).build()
}

/// A histogram with explicit bucket boundaries.
pub fn histogram(meter: &Meter, name: &'static str, help: &'static str, buckets: &[f64]) -> Histogram<f64> {
    meter.f64_histogram(name).with_description(help).with_boundaries(buckets.to_vec()).build()
}

/// `otelcontext_api_auth_failures_total{surface, reason}`, shared by the HTTP and gRPC sides.
pub fn auth_failures(meter: &Meter) -> Counter<u64> {
    counter(
        meter,
        "otelcontext_api_auth_failures_total",
        "Requests refused by authentication (reason: missing_header, bad_scheme, bad_key).",
    )
}

/// `otelcontext_panics_recovered_total{subsystem}`, recorded wherever a panic is caught.
pub fn panics_recovered(meter: &Meter) -> Counter<u64> {
    counter(meter, "otelcontext_panics_recovered_total", "Panics caught and answered as internal errors.")
}

/// `otelcontext_ingest_rejected_total{signal, reason}`: records not kept at receive time, by the
/// receivers (invalid) and by the ingest service (filters, sampling, back-pressure).
pub fn ingest_rejected(meter: &Meter) -> Counter<u64> {
    counter(
        meter,
        "otelcontext_ingest_rejected_total",
        "Records not kept at receive time, by reason (invalid, service_filtered, severity_filtered, sampled_out, soft_backpressure, queue_full, unavailable).",
    )
}

/// Builds a [`Telemetry`].
#[derive(Default)]
pub struct TelemetryBuilder {
    provider: opentelemetry_sdk::metrics::MeterProviderBuilder,
    resource: Option<opentelemetry_sdk::Resource>,
}

impl TelemetryBuilder {
    /// Adds a reader, e.g. a periodic OTLP exporter.
    pub fn with_reader<R: MetricReader>(mut self, reader: R) -> Self {
        self.provider = self.provider.with_reader(reader);
        self
    }

    /// The resource pushed readers describe the server with.
    pub fn with_resource(mut self, resource: opentelemetry_sdk::Resource) -> Self {
        self.resource = Some(resource);
        self
    }

    /// Creates the registry and the provider; registers the build info and process metrics.
    pub fn build(self) -> Telemetry {
        let registry = Registry::new();
        let exporter = opentelemetry_prometheus::exporter()
            .with_registry(registry.clone())
            .without_units()
            .without_counter_suffixes()
            .without_target_info()
            .scope_info_enabled(false)
            .build()
            .expect("a fresh registry takes the exporter");
        let mut provider = self.provider.with_reader(exporter);
        if let Some(r) = self.resource {
            provider = provider.with_resource(r);
        }
        let provider = provider.build();
        #[cfg(target_os = "linux")]
        {
            let pc = prometheus::process_collector::ProcessCollector::for_self();
            // Registration only fails on a duplicate; a fresh registry has none.
            let _ = registry.register(Box::new(pc));
        }
        let t = Telemetry { provider, registry };
        gauge(&t.meter(), "otelcontext_build_info", "Build information (always 1).")
            .record(1, &[KeyValue::new("version", env!("CARGO_PKG_VERSION"))]);
        t
    }
}

/// The metrics of one server instance (no global state: two servers can run in one process).
pub struct Telemetry {
    provider: SdkMeterProvider,
    registry: Registry,
}

impl Telemetry {
    /// Prometheus output only.
    pub fn new() -> Self {
        Self::builder().build()
    }

    /// A builder, to add push readers.
    pub fn builder() -> TelemetryBuilder {
        TelemetryBuilder::default()
    }

    /// The meter components register their instruments on.
    pub fn meter(&self) -> Meter {
        self.provider.meter(SCOPE)
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut buf).expect("text encoding cannot fail");
        String::from_utf8(buf).expect("exposition is UTF-8")
    }

    /// The registry behind [`Telemetry::render`] (to register more collectors).
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Pushes what push readers hold and stops them (the Prometheus side keeps working).
    pub fn shutdown(&self) {
        if let Err(e) = self.provider.force_flush() {
            eprintln!("otelcontext: flushing self-metrics failed: {e}");
        }
        let _ = self.provider.shutdown();
    }
}

impl Default for Telemetry {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_exported_exactly_as_written() {
        let t = Telemetry::new();
        let m = t.meter();
        let up = gauge(&m, "otelcontext_db_up", "1 when the database answers a ping, 0 otherwise.");
        up.record(1, &[KeyValue::new("driver", "sqlite")]);
        let received = counter(&m, "otelcontext_ingest_received_total", "Records received.");
        received.add(3, &[KeyValue::new("signal", "traces"), KeyValue::new("transport", "grpc")]);
        let h = histogram(&m, "otelcontext_ingest_duration_seconds", "Export time.", LATENCY_BUCKETS);
        h.record(0.002, &[KeyValue::new("signal", "logs")]);
        let text = t.render();
        assert!(text.contains("# TYPE otelcontext_db_up gauge"), "{text}");
        assert!(text.contains("otelcontext_db_up{driver=\"sqlite\"} 1"), "{text}");
        assert!(text.contains("# TYPE otelcontext_ingest_received_total counter"), "{text}");
        assert!(text.contains("otelcontext_ingest_received_total{signal=\"traces\",transport=\"grpc\"} 3"), "{text}");
        assert!(text.contains("otelcontext_ingest_duration_seconds_bucket{signal=\"logs\",le=\"0.0025\"} 1"), "{text}");
        assert!(text.contains("otelcontext_build_info{version=\""), "{text}");
        assert!(!text.contains("otel_scope"), "{text}");
        assert!(!text.contains("target_info"), "{text}");
        assert!(!text.contains("_total_total"), "{text}");
        for line in text.lines().filter(|l| !l.starts_with('#') && !l.is_empty()) {
            let name = line.split(['{', ' ']).next().unwrap();
            assert!(name.starts_with("otelcontext_") || name.starts_with("process_"), "unexpected metric {name}");
            assert_eq!(name, name.to_lowercase());
        }
    }

    #[test]
    fn two_components_registering_one_instrument_share_its_series() {
        let t = Telemetry::new();
        auth_failures(&t.meter()).add(1, &[KeyValue::new("surface", "http"), KeyValue::new("reason", "bad_key")]);
        auth_failures(&t.meter()).add(2, &[KeyValue::new("surface", "http"), KeyValue::new("reason", "bad_key")]);
        let text = t.render();
        assert!(text.contains("otelcontext_api_auth_failures_total{reason=\"bad_key\",surface=\"http\"} 3"), "{text}");
        assert_eq!(text.matches("# TYPE otelcontext_api_auth_failures_total").count(), 1, "{text}");
    }

    #[test]
    fn two_instances_are_independent() {
        let (a, b) = (Telemetry::new(), Telemetry::new());
        counter(&a.meter(), "otelcontext_ingest_stored_total", "Stored.").add(1, &[KeyValue::new("signal", "logs")]);
        assert!(a.render().contains("otelcontext_ingest_stored_total{signal=\"logs\"} 1"));
        assert!(!b.render().contains("otelcontext_ingest_stored_total"));
    }
}
