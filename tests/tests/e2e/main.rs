//! End-to-end tests: the real server on real sockets and a real SQLite file (or the in-memory
//! reference storage where a test needs to slow the database down), driven by real OpenTelemetry
//! SDK exporters, hand-written OTLP payloads, and the real binary as a process.

mod auth;
mod backpressure;
mod bad_inputs;
mod dead_letters;
mod durability;
mod graph;
mod idempotency;
mod intelligence;
mod isolation;
mod mcp;
mod metrics;
mod otlp_json;
mod outage;
mod payloads;
mod probes;
mod process;
mod query_api;
mod sampling;
mod scenario;
mod sdk;
mod sdk_logs_metrics;
mod sdk_traces;
mod storage;
mod templates;
mod tenancy;
mod tls;
