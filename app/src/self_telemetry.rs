//! Self-instrumentation: with `OTEL_EXPORTER_OTLP_ENDPOINT` set, the server's own traces (the
//! `tracing` spans of request handling and background jobs, bridged by tracing-opentelemetry)
//! and metrics (the same instruments `/metrics/prometheus` shows) are exported with
//! opentelemetry-otlp.
//!
//! Loop guard: every export the server makes carries the [`SELF_TELEMETRY_HEADER`], and requests
//! carrying it are not traced, so a server pointed at itself stores its spans once and its own
//! ingest of them makes no new ones. Only spans of otelcontext's own code are exported (not those
//! of its libraries).

use crate::config::Config;
use anyhow::Context;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{WithExportConfig, WithHttpConfig, WithTonicConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::metrics::PeriodicReader;
use opentelemetry_sdk::trace::SdkTracerProvider;
pub use otelcontext_otlp::SELF_TELEMETRY_HEADER;
use otelcontext_telemetry::Telemetry;
use std::collections::HashMap;
use std::sync::Arc;

/// The server's metrics and, when exporting, its tracer provider.
pub struct SelfTelemetry {
    pub telemetry: Arc<Telemetry>,
    tracer: Option<SdkTracerProvider>,
}

fn resource(config: &Config) -> Resource {
    Resource::builder()
        .with_service_name(config.otel_service_name.clone())
        .with_attribute(opentelemetry::KeyValue::new("service.version", env!("CARGO_PKG_VERSION")))
        .build()
}

impl SelfTelemetry {
    /// Metrics for Prometheus only.
    pub fn off() -> Self {
        Self { telemetry: Arc::new(Telemetry::new()), tracer: None }
    }

    /// Sets up the exporters the configuration asks for (call inside the async runtime).
    pub fn from_config(config: &Config) -> anyhow::Result<Self> {
        let Some(endpoint) = config.otel_endpoint.clone() else { return Ok(Self::off()) };
        let base = endpoint.trim_end_matches('/').to_owned();
        let mut metadata = tonic::metadata::MetadataMap::new();
        metadata.insert(SELF_TELEMETRY_HEADER, tonic::metadata::MetadataValue::from_static("1"));
        let headers = HashMap::from([(SELF_TELEMETRY_HEADER.to_owned(), "1".to_owned())]);
        let (spans, metrics) = if config.otel_http {
            let spans = opentelemetry_otlp::SpanExporter::builder()
                .with_http()
                .with_endpoint(format!("{base}/v1/traces"))
                .with_headers(headers.clone())
                .build();
            let metrics = opentelemetry_otlp::MetricExporter::builder()
                .with_http()
                .with_endpoint(format!("{base}/v1/metrics"))
                .with_headers(headers)
                .build();
            (spans, metrics)
        } else {
            let spans = opentelemetry_otlp::SpanExporter::builder()
                .with_tonic()
                .with_endpoint(base.clone())
                .with_metadata(metadata.clone())
                .build();
            let metrics = opentelemetry_otlp::MetricExporter::builder()
                .with_tonic()
                .with_endpoint(base)
                .with_metadata(metadata)
                .build();
            (spans, metrics)
        };
        let spans = spans.context("OTEL_EXPORTER_OTLP_ENDPOINT: building the span exporter")?;
        let metrics = metrics.context("OTEL_EXPORTER_OTLP_ENDPOINT: building the metric exporter")?;
        let reader = PeriodicReader::builder(metrics).with_interval(config.otel_metric_export_interval).build();
        let telemetry = Arc::new(Telemetry::builder().with_reader(reader).with_resource(resource(config)).build());
        let tracer = SdkTracerProvider::builder().with_batch_exporter(spans).with_resource(resource(config)).build();
        Ok(Self { telemetry, tracer: Some(tracer) })
    }

    /// Whether the server's telemetry is exported.
    pub fn exporting(&self) -> bool {
        self.tracer.is_some()
    }

    /// The layer that turns otelcontext's `tracing` spans into exported spans.
    pub fn tracing_layer<S>(&self) -> Option<impl tracing_subscriber::Layer<S> + use<S>>
    where
        S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    {
        use tracing_subscriber::Layer;
        let tracer = self.tracer.as_ref()?.tracer("otelcontext");
        let own_code = tracing_subscriber::filter::Targets::new().with_target("otelcontext", tracing::Level::INFO);
        Some(tracing_opentelemetry::layer().with_tracer(tracer).with_filter(own_code))
    }

    /// Pushes what is buffered and stops the exporters.
    pub fn shutdown(&self) {
        if let Some(t) = &self.tracer
            && let Err(e) = t.shutdown()
        {
            tracing::warn!(error = %e, "flushing self-traces failed");
        }
        if self.exporting() {
            self.telemetry.shutdown();
        }
    }
}
