//! OpenTelemetry SDK exporters pointed at a test server, for each transport.

use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig, WithTonicConfig};
use std::collections::HashMap;

/// The three OTLP transports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Grpc,
    HttpProtobuf,
    HttpJson,
}

pub const ALL: [Transport; 3] = [Transport::Grpc, Transport::HttpProtobuf, Transport::HttpJson];

/// Where and how to export.
#[derive(Debug, Clone)]
pub struct Target {
    pub grpc: String,
    pub http: String,
    pub headers: Vec<(String, String)>,
}

impl Target {
    pub fn of(server: &otelcontext_e2e::TestServer) -> Self {
        Self { grpc: server.grpc_endpoint(), http: server.url(""), headers: vec![] }
    }

    pub fn with_header(mut self, k: &str, v: &str) -> Self {
        self.headers.push((k.to_owned(), v.to_owned()));
        self
    }

    fn metadata(&self) -> tonic::metadata::MetadataMap {
        let mut md = tonic::metadata::MetadataMap::new();
        for (k, v) in &self.headers {
            md.insert(
                tonic::metadata::MetadataKey::from_bytes(k.to_lowercase().as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        md
    }

    fn http_headers(&self) -> HashMap<String, String> {
        self.headers.iter().cloned().collect()
    }

    fn protocol(t: Transport) -> Protocol {
        if t == Transport::HttpJson { Protocol::HttpJson } else { Protocol::HttpBinary }
    }

    pub fn span_exporter(&self, t: Transport) -> opentelemetry_otlp::SpanExporter {
        let b = opentelemetry_otlp::SpanExporter::builder();
        match t {
            Transport::Grpc => b.with_tonic().with_endpoint(&self.grpc).with_metadata(self.metadata()).build(),
            _ => b
                .with_http()
                .with_protocol(Self::protocol(t))
                .with_endpoint(format!("{}/v1/traces", self.http))
                .with_headers(self.http_headers())
                .build(),
        }
        .expect("span exporter builds")
    }

    pub fn log_exporter(&self, t: Transport) -> opentelemetry_otlp::LogExporter {
        let b = opentelemetry_otlp::LogExporter::builder();
        match t {
            Transport::Grpc => b.with_tonic().with_endpoint(&self.grpc).with_metadata(self.metadata()).build(),
            _ => b
                .with_http()
                .with_protocol(Self::protocol(t))
                .with_endpoint(format!("{}/v1/logs", self.http))
                .with_headers(self.http_headers())
                .build(),
        }
        .expect("log exporter builds")
    }

    pub fn metric_exporter(&self, t: Transport) -> opentelemetry_otlp::MetricExporter {
        let b = opentelemetry_otlp::MetricExporter::builder();
        match t {
            Transport::Grpc => b.with_tonic().with_endpoint(&self.grpc).with_metadata(self.metadata()).build(),
            _ => b
                .with_http()
                .with_protocol(Self::protocol(t))
                .with_endpoint(format!("{}/v1/metrics", self.http))
                .with_headers(self.http_headers())
                .build(),
        }
        .expect("metric exporter builds")
    }
}

/// Runs SDK code on a blocking thread (SDK flush/shutdown and the blocking HTTP client block).
pub async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.expect("SDK thread panicked")
}
