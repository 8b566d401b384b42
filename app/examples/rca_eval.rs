//! Root-cause accuracy on real fault-injection cases (`../shared/data/nezha-dev`, see its
//! README): each case is replayed through the product — its spans shifted to end now (by whole
//! 10 s slots, so runs repeat), sent as
//! OTLP/HTTP protobuf (one resource per pod; the pod metrics as gauges) into a tenant of its own on a server running in
//! this process on a fresh SQLite file — and then `GET /api/rca` is asked over the case's
//! window, for the whole tenant and with the case's entry service as `service`. Prints top-1 and top-3
//! accuracy overall, per system and per fault type. Skips when the folder is absent.
//!
//! ```sh
//! cargo run --release -p otelcontext --example rca_eval -- ../shared/data/nezha-dev
//! # RCA_EVAL_VERBOSE=1 prints every case's ranking and evidence
//! ```

use flate2::read::GzDecoder;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::{
    Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, metric, number_data_point,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status, status};
use otelcontext::config::{Config, EnvSource};
use otelcontext::{RunningServer, Server};
use otelcontext_domain::TenantId;
use otelcontext_domain::codec::csv;
use otelcontext_ports::Storage;
use prost::Message;
use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

struct Case {
    id: String,
    system: String,
    fault: String,
    truth: String,
    entry: String,
    window_start_ns: i64,
    window_end_ns: i64,
    inject_ns: i64,
}

fn field<'a>(v: &'a serde_json::Value, k: &str) -> &'a serde_json::Value {
    &v[k]
}

fn cases(dir: &Path) -> anyhow::Result<Vec<Case>> {
    let text = std::fs::read_to_string(dir.join("cases.jsonl"))?;
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l)?;
            let s = |k: &str| field(&v, k).as_str().unwrap_or_default().to_owned();
            let n = |k: &str| field(&v, k).as_i64().unwrap_or_default();
            Ok(Case {
                id: s("id"),
                system: s("system"),
                fault: s("fault_type"),
                truth: s("truth_service"),
                entry: s("entry_service"),
                window_start_ns: n("window_start_ns"),
                window_end_ns: n("window_end_ns"),
                inject_ns: n("inject_ns"),
            })
        })
        .collect()
}

fn gunzip(path: &Path) -> anyhow::Result<String> {
    let mut text = String::new();
    GzDecoder::new(std::fs::File::open(path)?).read_to_string(&mut text)?;
    Ok(text)
}

fn kv(k: &str, v: &str) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: Some(AnyValue { value: Some(any_value::Value::StringValue(v.into())) }),
        ..Default::default()
    }
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len() / 2).filter_map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok()).collect()
}

/// The case's spans as OTLP requests, one resource per pod, times shifted by `shift_ns`.
/// A case as OTLP: its spans, and the first ERROR line of every span that logged one as a log
/// record of that span (the source keeps only the first line's text).
struct Payloads {
    traces: Vec<ExportTraceServiceRequest>,
    logs: Vec<ExportLogsServiceRequest>,
    metrics: Vec<ExportMetricsServiceRequest>,
}

/// A Nezha metric under the name (and unit) a Kubernetes collector would give it: the
/// utilisations as the semantic conventions' ratios (`k8s.pod.cpu.utilization`, 1 = one
/// core / the whole limit), node-wide gauges under `k8s.node.*`, anything else under its own
/// name made safe (`PodClientLatencyP90(s)` → `nezha.pod_client_latency_p90_s`).
fn metric_name(name: &str) -> (String, f64) {
    match name {
        "CpuUsageRate(%)" => ("k8s.pod.cpu.utilization".into(), 0.01),
        "MemoryUsageRate(%)" => ("k8s.pod.memory.utilization".into(), 0.01),
        "NodeCpuUsageRate(%)" => ("k8s.node.cpu.utilization".into(), 0.01),
        "NodeMemoryUsageRate(%)" => ("k8s.node.memory.utilization".into(), 0.01),
        "CpuUsage(m)" => ("k8s.pod.cpu.usage".into(), 0.001),
        other => {
            let mut out = String::from("nezha.");
            for (i, c) in other.chars().enumerate() {
                if c.is_ascii_uppercase() && i > 0 && !out.ends_with('_') && !out.ends_with('.') {
                    out.push('_');
                }
                if c.is_ascii_alphanumeric() {
                    out.push(c.to_ascii_lowercase());
                } else if !out.ends_with('_') && !out.ends_with('.') {
                    out.push('_');
                }
            }
            (out.trim_end_matches('_').to_owned(), 1.0)
        }
    }
}

/// The case's metric points as OTLP gauges, one resource per (service, pod, node).
fn metric_requests(dir: &Path, case: &Case, shift_ns: i64) -> anyhow::Result<Vec<ExportMetricsServiceRequest>> {
    let path = dir.join("metrics").join(format!("{}.csv.gz", case.id));
    if !path.exists() || std::env::var_os("RCA_EVAL_NO_METRICS").is_some() {
        return Ok(Vec::new());
    }
    let text = gunzip(&path)?;
    let mut lines = text.lines();
    let header = csv::fields(lines.next().unwrap_or_default());
    let col = |name: &str| header.iter().position(|h| h == name).ok_or_else(|| anyhow::anyhow!("no column {name}"));
    let (time, svc, pod, node, name, value, peer) = (
        col("time_ns")?,
        col("service")?,
        col("pod")?,
        col("node")?,
        col("metric")?,
        col("value")?,
        col("peer_service")?,
    );
    let mut by_resource: BTreeMap<(String, String, String), BTreeMap<String, Vec<NumberDataPoint>>> = BTreeMap::new();
    for line in lines {
        let f = csv::fields(line);
        if f.len() < header.len() || f[svc].is_empty() {
            continue;
        }
        let (Ok(t), Ok(v)) = (f[time].parse::<i64>(), f[value].parse::<f64>()) else { continue };
        let (metric, scale) = metric_name(&f[name]);
        let point = NumberDataPoint {
            time_unix_nano: (t + shift_ns) as u64,
            value: Some(number_data_point::Value::AsDouble(v * scale)),
            attributes: if f[peer].is_empty() { Vec::new() } else { vec![kv("peer.service", &f[peer])] },
            ..Default::default()
        };
        by_resource
            .entry((f[svc].clone(), f[pod].clone(), f[node].clone()))
            .or_default()
            .entry(metric)
            .or_default()
            .push(point);
    }
    let mut out = Vec::new();
    for ((service, pod, node), metrics) in by_resource {
        let mut attributes = vec![kv("service.name", &service)];
        if !pod.is_empty() {
            attributes.push(kv("k8s.pod.name", &pod));
        }
        if !node.is_empty() {
            attributes.push(kv("k8s.node.name", &node));
        }
        out.push(ExportMetricsServiceRequest {
            resource_metrics: vec![ResourceMetrics {
                resource: Some(Resource { attributes, ..Default::default() }),
                scope_metrics: vec![ScopeMetrics {
                    metrics: metrics
                        .into_iter()
                        .map(|(name, data_points)| Metric {
                            name,
                            data: Some(metric::Data::Gauge(Gauge { data_points })),
                            ..Default::default()
                        })
                        .collect(),
                    ..Default::default()
                }],
                ..Default::default()
            }],
        });
    }
    Ok(out)
}

fn requests(dir: &Path, case: &Case, shift_ns: i64) -> anyhow::Result<Payloads> {
    let text = gunzip(&dir.join("spans").join(format!("{}.csv.gz", case.id)))?;
    let mut lines = text.lines();
    let header = csv::fields(lines.next().unwrap_or_default());
    let col = |name: &str| header.iter().position(|h| h == name).ok_or_else(|| anyhow::anyhow!("no column {name}"));
    let (tid, sid, pid, svc, pod, op, start, end, errors, msg) = (
        col("trace_id")?,
        col("span_id")?,
        col("parent_id")?,
        col("service")?,
        col("pod")?,
        col("operation")?,
        col("start_ns")?,
        col("end_ns")?,
        col("log_errors")?,
        col("log_error_msg")?,
    );
    let mut by_pod: BTreeMap<(String, String), Vec<Span>> = BTreeMap::new();
    let mut logs_by_pod: BTreeMap<(String, String), Vec<LogRecord>> = BTreeMap::new();
    for line in lines {
        let f = csv::fields(line);
        if f.len() < header.len() {
            continue;
        }
        let ns = |i: usize| f[i].parse::<i64>().unwrap_or_default() + shift_ns;
        let failed = f[errors].parse::<u64>().unwrap_or(0) > 0;
        let span = Span {
            trace_id: hex(&f[tid]),
            span_id: hex(&f[sid]),
            parent_span_id: hex(&f[pid]),
            name: f[op].clone(),
            start_time_unix_nano: ns(start) as u64,
            end_time_unix_nano: ns(end) as u64,
            status: Some(if failed {
                Status { code: status::StatusCode::Error as i32, message: f[msg].clone() }
            } else {
                Status::default()
            }),
            ..Default::default()
        };
        if failed && !f[msg].is_empty() {
            logs_by_pod.entry((f[svc].clone(), f[pod].clone())).or_default().push(LogRecord {
                time_unix_nano: span.end_time_unix_nano,
                severity_number: 17,
                severity_text: "ERROR".into(),
                body: Some(AnyValue { value: Some(any_value::Value::StringValue(f[msg].clone())) }),
                trace_id: span.trace_id.clone(),
                span_id: span.span_id.clone(),
                ..Default::default()
            });
        }
        by_pod.entry((f[svc].clone(), f[pod].clone())).or_default().push(span);
    }
    let resource = |service: &str, pod: &str| Resource {
        attributes: vec![kv("service.name", service), kv("k8s.pod.name", pod)],
        ..Default::default()
    };
    let mut out = Payloads { traces: Vec::new(), logs: Vec::new(), metrics: metric_requests(dir, case, shift_ns)? };
    for ((service, pod), spans) in by_pod {
        for chunk in spans.chunks(2_000) {
            out.traces.push(ExportTraceServiceRequest {
                resource_spans: vec![ResourceSpans {
                    resource: Some(resource(&service, &pod)),
                    scope_spans: vec![ScopeSpans { spans: chunk.to_vec(), ..Default::default() }],
                    ..Default::default()
                }],
            });
        }
    }
    for ((service, pod), records) in logs_by_pod {
        for chunk in records.chunks(2_000) {
            out.logs.push(ExportLogsServiceRequest {
                resource_logs: vec![ResourceLogs {
                    resource: Some(resource(&service, &pod)),
                    scope_logs: vec![ScopeLogs { log_records: chunk.to_vec(), ..Default::default() }],
                    ..Default::default()
                }],
            });
        }
    }
    Ok(out)
}

async fn post(client: &reqwest::Client, url: &str, tenant: &TenantId, body: Vec<u8>) -> anyhow::Result<()> {
    let answer = client
        .post(url)
        .header("content-type", "application/x-protobuf")
        .header("x-tenant-id", tenant.as_str())
        .body(body)
        .send()
        .await?;
    anyhow::ensure!(answer.status().is_success(), "export refused: {}", answer.status());
    Ok(())
}

fn now_ns() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos() as i64
}

#[derive(Default)]
struct Score {
    cases: u32,
    top1: u32,
    top3: u32,
}

impl Score {
    fn add(&mut self, rank: Option<usize>) {
        self.cases += 1;
        self.top1 += u32::from(rank == Some(0));
        self.top3 += u32::from(rank.is_some_and(|r| r < 3));
    }

    fn line(&self) -> String {
        let f = |n: u32| n as f64 / self.cases.max(1) as f64;
        format!("top-1 {:.2}  top-3 {:.2}  ({} cases)", f(self.top1), f(self.top3), self.cases)
    }
}

/// Waits until `expected` records are stored (or the count stays put for a second: duplicates
/// are stored once) and the graph has taken them, then folds what it holds.
async fn settle(
    server: &RunningServer,
    storage: &dyn Storage,
    tenant: &TenantId,
    count: impl Fn(&otelcontext_ports::SignalCounts) -> u64,
    expected: usize,
) -> anyhow::Result<()> {
    let (mut last, mut still) = (u64::MAX, 0);
    for _ in 0..600 {
        let n = count(&storage.counts(tenant).await?);
        still = if n == last { still + 1 } else { 0 };
        last = n;
        if (n as usize >= expected || still >= 20) && server.graph().queued() == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    server.graph().settle_all();
    Ok(())
}

/// Replays the case; returns the shift applied to its times.
async fn replay(
    server: &RunningServer,
    storage: &dyn Storage,
    dir: &Path,
    case: &Case,
    tenant: &TenantId,
) -> anyhow::Result<i64> {
    // A whole number of graph slots, so the case's spans keep their alignment to the 10 s slots
    // and every run ranks the same way.
    let slot = otelcontext_domain::graph::stats::SLOT_NS;
    let shift = (now_ns() - 1_000_000_000 - case.window_end_ns).div_euclid(slot) * slot;
    let client = reqwest::Client::new();
    let payloads = requests(dir, case, shift)?;
    let (mut spans, mut logs) = (0usize, 0usize);
    // Spans first, folded into the graph; then the logs, which count for services it knows
    // (live, the spans of a minute come before most of its logs are looked at).
    for r in &payloads.traces {
        spans += r.resource_spans.iter().flat_map(|rs| &rs.scope_spans).map(|s| s.spans.len()).sum::<usize>();
        post(&client, &format!("http://{}/v1/traces", server.http_addr()), tenant, r.encode_to_vec()).await?;
    }
    settle(server, storage, tenant, |c| c.spans, spans).await?;
    for r in &payloads.logs {
        logs += r.resource_logs.iter().flat_map(|rl| &rl.scope_logs).map(|s| s.log_records.len()).sum::<usize>();
        post(&client, &format!("http://{}/v1/logs", server.http_addr()), tenant, r.encode_to_vec()).await?;
    }
    // Stored, then counted by the graph.
    settle(server, storage, tenant, |c| c.logs, logs).await?;
    let mut points = 0usize;
    for r in &payloads.metrics {
        points += r
            .resource_metrics
            .iter()
            .flat_map(|rm| &rm.scope_metrics)
            .flat_map(|s| &s.metrics)
            .map(|m| match &m.data {
                Some(metric::Data::Gauge(g)) => g.data_points.len(),
                _ => 0,
            })
            .sum::<usize>();
        post(&client, &format!("http://{}/v1/metrics", server.http_addr()), tenant, r.encode_to_vec()).await?;
    }
    settle(server, storage, tenant, |c| c.metric_points, points).await?;
    Ok(shift)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let dir = PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "../shared/data/nezha-dev".into()));
    if !dir.join("cases.jsonl").exists() {
        eprintln!("{} holds no cases.jsonl: nothing to evaluate", dir.display());
        return Ok(());
    }
    let verbose = std::env::var_os("RCA_EVAL_VERBOSE").is_some();
    let cases = cases(&dir)?;
    let tmp = tempfile::tempdir()?;
    let db = tmp.path().join("rca.db");
    let config = Config::from_source(&EnvSource::from_pairs([
        ("HTTP_PORT", "0".to_owned()),
        ("GRPC_PORT", "0".to_owned()),
        ("DLQ_PATH", tmp.path().join("dlq").display().to_string()),
        ("HOT_RETENTION_DAYS", "36500".to_owned()),
    ]))
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    let storage: Arc<dyn Storage> =
        Arc::new(otelcontext_sqlite::SqliteStorage::open(&otelcontext_sqlite::SqliteConfig::new(&db)).await?);
    let server = Server::builder(config).storage(storage.clone()).build().await?.start().await?;
    let mut scores: HashMap<(&str, String), Score> = HashMap::new();
    let client = reqwest::Client::new();
    for (n, case) in cases.iter().enumerate() {
        let tenant = TenantId::parse(&format!("case-{n}")).map_err(|e| anyhow::anyhow!("{e}"))?;
        let shift = replay(&server, &*storage, &dir, case, &tenant).await?;
        let slot = otelcontext_domain::graph::stats::SLOT_NS;
        let (start, end) = (case.window_start_ns + shift, case.window_end_ns + shift + slot);
        for (mode, focus) in [("whole tenant", None), ("from the entry service", Some(case.entry.as_str()))] {
            let mut url = format!("http://{}/api/rca?start={start}&end={end}&limit=100", server.http_addr());
            if let Some(service) = focus {
                url.push_str(&format!("&service={service}"));
            }
            let answer = client.get(&url).header("x-tenant-id", tenant.as_str()).send().await?;
            anyhow::ensure!(answer.status().is_success(), "/api/rca answered {}", answer.status());
            let body: serde_json::Value = answer.json().await?;
            let candidates = body["candidates"].as_array().cloned().unwrap_or_default();
            let rank = candidates.iter().position(|c| c["service"] == case.truth.as_str());
            for key in ["all".to_owned(), format!("system {}", case.system), format!("fault {}", case.fault)] {
                scores.entry((mode, key)).or_default().add(rank);
            }
            if verbose {
                let top: Vec<String> = candidates
                    .iter()
                    .take(3)
                    .map(|c| {
                        let e = &c["evidence"][0];
                        format!(
                            "{} {:.2} ({}: {})",
                            c["service"].as_str().unwrap_or_default(),
                            c["score"].as_f64().unwrap_or_default(),
                            e["signal"].as_str().unwrap_or_default(),
                            e["description"].as_str().unwrap_or_default()
                        )
                    })
                    .collect();
                let truth_line = match rank {
                    Some(r) if r >= 3 => {
                        let c = &candidates[r];
                        let ev: Vec<String> = c["evidence"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .take(3)
                            .map(|e| {
                                format!(
                                    "{} {:.2}: {}",
                                    e["signal"].as_str().unwrap_or_default(),
                                    e["score"].as_f64().unwrap_or_default(),
                                    e["description"].as_str().unwrap_or_default()
                                )
                            })
                            .collect();
                        format!("\n    truth {:.2}: {}", c["score"].as_f64().unwrap_or_default(), ev.join(" | "))
                    }
                    _ => String::new(),
                };
                // Where the ranking split the range, against when the fault was injected.
                let split_s =
                    (body["change_at_unix_nano"].as_i64().unwrap_or_default() - shift - case.inject_ns) / 1_000_000_000;
                println!(
                    "{} {} {:<15} truth {:<22} {mode}: rank {:?} split {split_s:+} s  {}",
                    case.id,
                    case.system,
                    case.fault,
                    case.truth,
                    rank.map(|r| r + 1),
                    top.join(", ")
                );
                if !truth_line.is_empty() {
                    println!("{truth_line}");
                }
            }
        }
    }
    server.shutdown().await?;
    for mode in ["whole tenant", "from the entry service"] {
        println!("== {mode}");
        let mut keys: Vec<&String> = scores.keys().filter(|(m, _)| *m == mode).map(|(_, k)| k).collect();
        keys.sort();
        for k in keys {
            println!("{k:<24} {}", scores[&(mode, k.clone())].line());
        }
    }
    Ok(())
}
