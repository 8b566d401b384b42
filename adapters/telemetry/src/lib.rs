//! Prometheus metrics of otelcontext.
//!
//! One [`Metrics`] value per server instance (no global registry), so two servers can run in one
//! process. Every name is lowercase `otelcontext_*`; process metrics (`process_*`) come from the
//! standard process collector.

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder,
};

/// Latency buckets for request handling, in seconds (0.5 ms … 10 s).
const LATENCY_BUCKETS: &[f64] = &[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];
/// Buckets for slow maintenance work, in seconds (10 ms … ~11 min).
const MAINTENANCE_BUCKETS: &[f64] =
    &[0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92, 163.84, 655.36];
/// Item-count buckets for batch sizes.
const SIZE_BUCKETS: &[f64] =
    &[1.0, 10.0, 50.0, 100.0, 500.0, 1_000.0, 5_000.0, 10_000.0, 25_000.0, 50_000.0, 100_000.0];

/// All metric handles of a server.
pub struct Metrics {
    registry: Registry,
    /// 1 when the database answers, 0 otherwise.
    pub db_up: IntGaugeVec,
    /// Records received by the OTLP receivers, by signal and transport.
    pub ingest_received: IntCounterVec,
    /// Records refused or dropped at receive time, by signal and reason.
    pub ingest_rejected: IntCounterVec,
    /// Records committed to storage, by signal.
    pub ingest_stored: IntCounterVec,
    /// Re-sent records that storage already had, by signal.
    pub ingest_duplicates: IntCounterVec,
    /// Whole OTLP payloads refused, by transport and reason.
    pub otlp_payload_rejected: IntCounterVec,
    /// Time to handle one Export call, by signal.
    pub ingest_duration: HistogramVec,
    /// Items queued in the pipeline, by signal (updated on every enqueue and dequeue).
    pub pipeline_queue_depth: IntGaugeVec,
    /// Pipeline capacity in items.
    pub pipeline_queue_capacity: IntGauge,
    /// Records dropped by the pipeline, by signal and reason.
    pub pipeline_dropped: IntCounterVec,
    /// HTTP OTLP requests answered 429, by signal.
    pub http_otlp_throttled: IntCounterVec,
    /// Records per group commit, by backend.
    pub storage_write_items: HistogramVec,
    /// Duration of every storage operation, by backend and operation.
    pub db_operation_duration: HistogramVec,
    /// Failed storage operations, by backend, operation and error kind.
    pub db_operation_errors: IntCounterVec,
    /// Retries of transient storage failures, by backend, operation and outcome (retry, gave_up).
    pub db_operation_retries: IntCounterVec,
    /// Connections of the storage pool: open, idle, in use, and the maximum.
    pub db_pool_open: IntGauge,
    pub db_pool_idle: IntGauge,
    pub db_pool_in_use: IntGauge,
    pub db_pool_max_open: IntGauge,
    /// Bytes the database takes on disk.
    pub db_size_bytes: IntGauge,
    /// Rows deleted by retention, by table and backend.
    pub retention_rows_purged: IntCounterVec,
    /// Rows older than the retention cutoff still stored, by table and backend.
    pub retention_rows_behind: IntGaugeVec,
    /// Duration of one purge pass, by backend.
    pub retention_purge_duration: HistogramVec,
    /// Duration of the daily maintenance (ANALYZE, vacuum), by backend and table.
    pub retention_vacuum_duration: HistogramVec,
    /// Consecutive failed runs, by job (purge, maintenance, partitions).
    pub retention_consecutive_failures: IntGaugeVec,
    /// Unix seconds of the last successful run, by job.
    pub retention_last_success: IntGaugeVec,
    /// Daily log partitions dropped by the partition scheduler.
    pub partitions_dropped: IntCounter,
    /// Daily log partitions attached to `logs` (including the default one).
    pub partitions_active: IntGauge,
    /// Spans seen by the sampler, by decision and reason.
    pub sampler_spans: IntCounterVec,
    /// HTTP requests, by method, route and status.
    pub http_requests: IntCounterVec,
    /// HTTP request latency, by method, route and status.
    pub http_request_duration: HistogramVec,
    /// gRPC requests, by method and status code.
    pub grpc_requests: IntCounterVec,
    /// gRPC request latency, by method.
    pub grpc_request_duration: HistogramVec,
    /// Authentication failures, by surface (http, grpc) and reason.
    pub auth_failures: IntCounterVec,
    /// Panics caught and turned into errors, by subsystem.
    pub panics_recovered: IntCounterVec,
}

fn counter(reg: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let c = IntCounterVec::new(Opts::new(name, help), labels).expect("valid counter");
    reg.register(Box::new(c.clone())).expect("unique counter");
    c
}

fn gauge(reg: &Registry, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    let g = IntGaugeVec::new(Opts::new(name, help), labels).expect("valid gauge");
    reg.register(Box::new(g.clone())).expect("unique gauge");
    g
}

fn int_gauge(reg: &Registry, name: &str, help: &str) -> IntGauge {
    let g = IntGauge::new(name, help).expect("valid gauge");
    reg.register(Box::new(g.clone())).expect("unique gauge");
    g
}

fn histogram(reg: &Registry, name: &str, help: &str, labels: &[&str], buckets: &[f64]) -> HistogramVec {
    let h =
        HistogramVec::new(HistogramOpts::new(name, help).buckets(buckets.to_vec()), labels).expect("valid histogram");
    reg.register(Box::new(h.clone())).expect("unique histogram");
    h
}

impl Metrics {
    /// A fresh registry with every metric registered.
    pub fn new() -> Self {
        let reg = Registry::new();
        let m = Self {
            db_up: gauge(&reg, "otelcontext_db_up", "1 when the database answers a ping, 0 otherwise.", &["driver"]),
            ingest_received: counter(
                &reg,
                "otelcontext_ingest_received_total",
                "Records (spans, log records, metric points) received by the OTLP receivers.",
                &["signal", "transport"],
            ),
            ingest_rejected: counter(
                &reg,
                "otelcontext_ingest_rejected_total",
                "Records not kept at receive time, by reason (invalid, service_filtered, severity_filtered, sampled_out, soft_backpressure, queue_full, unavailable).",
                &["signal", "reason"],
            ),
            ingest_stored: counter(
                &reg,
                "otelcontext_ingest_stored_total",
                "Records committed to storage.",
                &["signal"],
            ),
            ingest_duplicates: counter(
                &reg,
                "otelcontext_ingest_duplicates_total",
                "Re-sent records already in storage (not stored again).",
                &["signal"],
            ),
            otlp_payload_rejected: counter(
                &reg,
                "otelcontext_otlp_payload_rejected_total",
                "Whole OTLP payloads refused, by reason (too_large, invalid_content_type, decode_error, bad_encoding, invalid_tenant, unauthorized, throttled, unavailable).",
                &["transport", "reason"],
            ),
            ingest_duration: histogram(
                &reg,
                "otelcontext_ingest_duration_seconds",
                "Time to handle one OTLP Export call.",
                &["signal"],
                LATENCY_BUCKETS,
            ),
            pipeline_queue_depth: gauge(
                &reg,
                "otelcontext_ingest_pipeline_queue_depth",
                "Records waiting in the ingest pipeline.",
                &["signal"],
            ),
            pipeline_queue_capacity: int_gauge(
                &reg,
                "otelcontext_ingest_pipeline_queue_capacity",
                "Capacity of the ingest pipeline in records.",
            ),
            pipeline_dropped: counter(
                &reg,
                "otelcontext_ingest_pipeline_dropped_total",
                "Records dropped by the ingest pipeline (soft_backpressure, queue_full, write_failed).",
                &["signal", "reason"],
            ),
            http_otlp_throttled: counter(
                &reg,
                "otelcontext_http_otlp_throttled_total",
                "OTLP/HTTP requests answered 429 because the pipeline was full.",
                &["signal"],
            ),
            storage_write_items: histogram(
                &reg,
                "otelcontext_storage_write_items",
                "Records per group-commit write transaction.",
                &["driver"],
                SIZE_BUCKETS,
            ),
            db_operation_duration: histogram(
                &reg,
                "otelcontext_db_operation_duration_seconds",
                "Duration of each storage operation (every attempt).",
                &["driver", "operation"],
                LATENCY_BUCKETS,
            ),
            db_operation_errors: counter(
                &reg,
                "otelcontext_db_operation_errors_total",
                "Failed storage operation attempts, by error kind (unavailable, invalid_argument, rejected, corrupt, schema, other).",
                &["driver", "operation", "kind"],
            ),
            db_operation_retries: counter(
                &reg,
                "otelcontext_db_operation_retries_total",
                "Transient storage failures: retried (outcome=retry) or given up after the last retry (outcome=gave_up).",
                &["driver", "operation", "outcome"],
            ),
            db_pool_open: int_gauge(
                &reg,
                "otelcontext_db_pool_open_connections",
                "Open connections of the storage pool.",
            ),
            db_pool_idle: int_gauge(&reg, "otelcontext_db_pool_idle", "Idle connections of the storage pool."),
            db_pool_in_use: int_gauge(&reg, "otelcontext_db_pool_in_use", "Connections of the storage pool in use."),
            db_pool_max_open: int_gauge(
                &reg,
                "otelcontext_db_pool_max_open",
                "Most connections the storage pool opens (DB_MAX_OPEN_CONNS; the reader pool on SQLite).",
            ),
            db_size_bytes: int_gauge(
                &reg,
                "otelcontext_hot_db_size_bytes",
                "Bytes the database takes on disk (SQLite file and WAL, or the Postgres database).",
            ),
            retention_rows_purged: counter(
                &reg,
                "otelcontext_retention_rows_purged_total",
                "Rows deleted by retention.",
                &["table", "driver"],
            ),
            retention_rows_behind: gauge(
                &reg,
                "otelcontext_retention_rows_behind",
                "Rows older than the retention cutoff still stored (measured before each purge).",
                &["table", "driver"],
            ),
            retention_purge_duration: histogram(
                &reg,
                "otelcontext_retention_purge_duration_seconds",
                "Duration of one retention purge pass over every table.",
                &["driver"],
                MAINTENANCE_BUCKETS,
            ),
            retention_vacuum_duration: histogram(
                &reg,
                "otelcontext_retention_vacuum_duration_seconds",
                "Duration of the daily maintenance (statistics and vacuum).",
                &["driver", "table"],
                MAINTENANCE_BUCKETS,
            ),
            retention_consecutive_failures: gauge(
                &reg,
                "otelcontext_retention_consecutive_failures",
                "Consecutive failed runs of a storage job (purge, maintenance, partitions); 0 after a success.",
                &["job"],
            ),
            retention_last_success: gauge(
                &reg,
                "otelcontext_retention_last_success_timestamp",
                "Unix seconds of the last successful run of a storage job.",
                &["job"],
            ),
            partitions_dropped: {
                let c = IntCounter::new(
                    "otelcontext_partitions_dropped_total",
                    "Daily log partitions dropped because they were wholly older than the retention.",
                )
                .expect("valid counter");
                reg.register(Box::new(c.clone())).expect("unique counter");
                c
            },
            partitions_active: int_gauge(
                &reg,
                "otelcontext_partitions_active",
                "Partitions attached to the partitioned logs table (daily ones and the default one).",
            ),
            sampler_spans: counter(
                &reg,
                "otelcontext_sampler_spans_total",
                "Spans seen by the trace sampler, by decision (kept, dropped) and reason.",
                &["decision", "reason"],
            ),
            http_requests: counter(
                &reg,
                "otelcontext_http_requests_total",
                "HTTP requests handled.",
                &["method", "route", "status"],
            ),
            http_request_duration: histogram(
                &reg,
                "otelcontext_http_request_duration_seconds",
                "HTTP request latency.",
                &["method", "route", "status"],
                LATENCY_BUCKETS,
            ),
            grpc_requests: counter(
                &reg,
                "otelcontext_grpc_requests_total",
                "gRPC requests handled.",
                &["method", "code"],
            ),
            grpc_request_duration: histogram(
                &reg,
                "otelcontext_grpc_request_duration_seconds",
                "gRPC request latency.",
                &["method"],
                LATENCY_BUCKETS,
            ),
            auth_failures: counter(
                &reg,
                "otelcontext_api_auth_failures_total",
                "Requests refused by authentication (reason: missing_header, bad_scheme, bad_key).",
                &["surface", "reason"],
            ),
            panics_recovered: counter(
                &reg,
                "otelcontext_panics_recovered_total",
                "Panics caught and answered as internal errors.",
                &["subsystem"],
            ),
            registry: reg,
        };
        let build = gauge(&m.registry, "otelcontext_build_info", "Build information (always 1).", &["version"]);
        build.with_label_values(&[env!("CARGO_PKG_VERSION")]).set(1);
        #[cfg(target_os = "linux")]
        {
            let pc = prometheus::process_collector::ProcessCollector::for_self();
            // Registration only fails on a duplicate; a fresh registry has none.
            let _ = m.registry.register(Box::new(pc));
        }
        m
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut buf).expect("text encoding cannot fail");
        String::from_utf8(buf).expect("exposition is UTF-8")
    }

    /// The underlying registry (to register more collectors).
    pub fn registry(&self) -> &Registry {
        &self.registry
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// The content type of [`Metrics::render`].
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_lowercase_otelcontext_names_with_help_and_type() {
        let m = Metrics::new();
        m.db_up.with_label_values(&["sqlite"]).set(1);
        m.ingest_received.with_label_values(&["traces", "grpc"]).inc_by(3);
        let text = m.render();
        assert!(text.contains("# TYPE otelcontext_db_up gauge"));
        assert!(text.contains("otelcontext_db_up{driver=\"sqlite\"} 1"));
        assert!(text.contains("otelcontext_ingest_received_total{signal=\"traces\",transport=\"grpc\"} 3"));
        for line in text.lines().filter(|l| !l.starts_with('#') && !l.is_empty()) {
            let name = line.split(['{', ' ']).next().unwrap();
            assert!(name.starts_with("otelcontext_") || name.starts_with("process_"), "unexpected metric {name}");
            assert_eq!(name, name.to_lowercase());
        }
    }

    #[test]
    fn two_instances_are_independent() {
        let (a, b) = (Metrics::new(), Metrics::new());
        a.ingest_stored.with_label_values(&["logs"]).inc();
        assert!(a.render().contains("otelcontext_ingest_stored_total{signal=\"logs\"} 1"));
        assert!(!b.render().contains("otelcontext_ingest_stored_total{signal=\"logs\"}"));
    }
}
