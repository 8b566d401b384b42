//! Log patterns, metric buckets and similar logs end to end: OTLP into the real server, read
//! back through the storage port (and the similar-log index), across a restart.

use crate::payloads::*;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, Gauge, Histogram, HistogramDataPoint, Metric, NumberDataPoint, ResourceMetrics,
    ScopeMetrics, Sum, metric, number_data_point,
};
use otelcontext_domain::bucket::{BUCKET_WIDTH_NS, bucket_start};
use otelcontext_domain::{MetricBucket, TenantId};
use otelcontext_e2e::{Backend, TestServer, eventually, open_sqlite, test_config};
use otelcontext_ports::{BucketQuery, Storage, TemplateQuery};

fn now_ns() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64
}

fn default_tenant() -> TenantId {
    TenantId::parse("default").unwrap()
}

fn records_at(at: u64, severity: i32, bodies: &[String]) -> Vec<opentelemetry_proto::tonic::logs::v1::LogRecord> {
    bodies
        .iter()
        .enumerate()
        .map(|(i, b)| {
            let mut r = log_record(0, severity, b);
            r.time_unix_nano = at + i as u64;
            r
        })
        .collect()
}

otelcontext_e2e::on_both_databases!(2, patterns_keep_services_severities_and_flags);

async fn patterns_keep_services_severities_and_flags(backend: Backend) {
    let Some(s) = TestServer::on(backend).await else { return };
    let now = now_ns();
    let api: Vec<String> = (0..30).map(|n| format!("Connection to db-{n} lost after {n}s")).collect();
    let worker: Vec<String> = (0..10).map(|n| format!("Connection to db-{n} lost after {}s", n * 3)).collect();
    assert_eq!(post_proto(&s, "/v1/logs", &logs("api", records_at(now, 9, &api)), &[]).await.status, 200);
    assert_eq!(post_proto(&s, "/v1/logs", &logs("worker", records_at(now, 17, &worker)), &[]).await.status, 200);
    s.wait_for("default", |c| c.logs == 40).await;
    // Templates are written every 10 s.
    let tenant = default_tenant();
    let all = TemplateQuery { limit: 10, ..Default::default() };
    let pattern = eventually(|| async {
        let page = s.storage.search_templates(&tenant, &all).await.ok()?;
        page.items.into_iter().find(|t| t.count == 40)
    })
    .await
    .expect("the pattern is flushed");
    assert_eq!(pattern.template, "Connection to <*> lost after <*>");
    assert_eq!(pattern.services, ["api", "worker"]);
    assert_eq!((pattern.severities.info, pattern.severities.error), (30, 10));
    let flags = pattern.flags(now as i64);
    assert!(flags.new, "first seen just now");
    assert!(!flags.spiking, "a template that is merely new is not a spike");
    let ids = |q: TemplateQuery| {
        let (s, tenant) = (&s, &tenant);
        async move { s.storage.search_templates(tenant, &q).await.unwrap().items.iter().map(|t| t.id).collect::<Vec<_>>() }
    };
    assert_eq!(ids(TemplateQuery { service: Some("worker".into()), ..all.clone() }).await, [pattern.id]);
    assert!(ids(TemplateQuery { service: Some("nobody".into()), ..all.clone() }).await.is_empty());
    let hour_ago = now as i64 - 3_600_000_000_000;
    assert_eq!(ids(TemplateQuery { first_seen_since_ns: Some(hour_ago), ..all.clone() }).await, [pattern.id]);
    assert!(ids(TemplateQuery { spiking_only: true, ..all.clone() }).await.is_empty());
}

fn metrics_request(service: &str, metrics: Vec<Metric>) -> ExportMetricsServiceRequest {
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: resource(service),
            scope_metrics: vec![ScopeMetrics { metrics, ..Default::default() }],
            ..Default::default()
        }],
    }
}

fn number(at: u64, start: u64, v: f64) -> NumberDataPoint {
    NumberDataPoint {
        time_unix_nano: at,
        start_time_unix_nano: start,
        value: Some(number_data_point::Value::AsDouble(v)),
        ..Default::default()
    }
}

fn cpu(points: Vec<NumberDataPoint>) -> Metric {
    Metric { name: "cpu".into(), data: Some(metric::Data::Gauge(Gauge { data_points: points })), ..Default::default() }
}

fn requests(points: Vec<NumberDataPoint>) -> Metric {
    Metric {
        name: "requests".into(),
        data: Some(metric::Data::Sum(Sum {
            data_points: points,
            aggregation_temporality: AggregationTemporality::Cumulative as i32,
            is_monotonic: true,
        })),
        ..Default::default()
    }
}

fn latency(at: u64, counts: &[u64]) -> Metric {
    let count = counts.iter().sum();
    Metric {
        name: "latency".into(),
        data: Some(metric::Data::Histogram(Histogram {
            data_points: vec![HistogramDataPoint {
                time_unix_nano: at,
                count,
                sum: Some(count as f64 * 20.0),
                bucket_counts: counts.to_vec(),
                explicit_bounds: vec![10.0, 50.0],
                ..Default::default()
            }],
            aggregation_temporality: AggregationTemporality::Delta as i32,
        })),
        ..Default::default()
    }
}

async fn buckets(storage: &dyn Storage, name: &str) -> Vec<MetricBucket> {
    let q = BucketQuery { name: Some(name.into()), limit: 100, ..Default::default() };
    storage.search_buckets(&default_tenant(), &q).await.unwrap().items
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metric_buckets_persist_at_shutdown_and_merge_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("otelcontext.db");
    // Points in the window that started before now, so all of them land in one bucket.
    let window = bucket_start(now_ns() as i64, BUCKET_WIDTH_NS) as u64;
    let at = |ms: u64| window + ms * 1_000_000;
    let started = window - 3_600_000_000_000;

    let mut s = TestServer::start_on(test_config(), open_sqlite(&db).await).await;
    let first = metrics_request(
        "api",
        vec![
            cpu((1..=10).map(|v| number(at(v), 0, v as f64)).collect()),
            requests(vec![number(at(1), started, 100.0), number(at(2), started, 160.0)]),
            latency(at(3), &[50, 40, 10]),
        ],
    );
    assert_eq!(post_proto(&s, "/v1/metrics", &first, &[]).await.status, 200);
    s.wait_for("default", |c| c.metric_points == 13).await;
    s.shutdown().await;

    let storage = open_sqlite(&db).await;
    let cpu_b = buckets(&*storage, "cpu").await;
    assert_eq!(cpu_b.len(), 1, "{cpu_b:?}");
    let b = &cpu_b[0];
    assert_eq!((b.start_ns, b.width_ns, b.service.as_str()), (window as i64, BUCKET_WIDTH_NS, "api"));
    assert_eq!((b.count, b.sum, b.min, b.max, b.last), (10, 55.0, 1.0, 10.0, 10.0));
    let req = &buckets(&*storage, "requests").await[0];
    assert_eq!((req.count, req.sum), (1, 60.0), "the first cumulative point is the baseline; the delta is 60");
    let lat = &buckets(&*storage, "latency").await[0];
    assert_eq!(lat.count, 100);
    let p50 = lat.quantile(0.5).unwrap();
    assert!((p50 - 10.0).abs() < 1e-9, "half the observations are at or below 10: {p50}");
    let p95 = lat.quantile(0.95).unwrap();
    assert!((p95 - 50.0).abs() < 1e-9, "the open last bucket answers its lower bound: {p95}");
    storage.close().await;

    // After a restart, late points of the same window merge into the stored bucket, and the
    // counter (its source forgotten) starts from a new baseline.
    let mut s = TestServer::start_on(test_config(), open_sqlite(&db).await).await;
    let second = metrics_request("api", vec![cpu(vec![number(at(20), 0, 100.0)])]);
    assert_eq!(post_proto(&s, "/v1/metrics", &second, &[]).await.status, 200);
    s.wait_for("default", |c| c.metric_points == 14).await;
    s.shutdown().await;
    let storage = open_sqlite(&db).await;
    let b = &buckets(&*storage, "cpu").await[0];
    assert_eq!((b.count, b.sum, b.max, b.last), (11, 155.0, 100.0, 100.0));
    storage.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn similar_logs_are_found_and_the_index_is_rebuilt_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("otelcontext.db");
    let now = now_ns();
    let bodies: Vec<String> = [
        "payment gateway timeout while charging card",
        "inventory service unavailable, retrying reservation",
        "payment gateway refused the charge: card expired",
        "user session expired, redirecting to login",
    ]
    .iter()
    .map(|b| b.to_string())
    .collect();
    let mut s = TestServer::start_on(test_config(), open_sqlite(&db).await).await;
    let mut records = records_at(now, 17, &bodies);
    records.push(log_record(0, 9, "payment gateway timeout at INFO is not indexed"));
    records.last_mut().unwrap().time_unix_nano = now + 10;
    assert_eq!(post_proto(&s, "/v1/logs", &logs("checkout", records), &[]).await.status, 200);
    s.wait_for("default", |c| c.logs == 5).await;
    let tenant = default_tenant();
    let hits = eventually(|| async {
        let hits = s.similar_logs().search(&tenant, "gateway timeout charging", 10);
        (!hits.is_empty()).then_some(hits)
    })
    .await
    .unwrap();
    assert_eq!(hits[0].payload.body, bodies[0]);
    assert_eq!(hits[0].payload.service, "checkout");
    assert!(hits.iter().all(|h| !h.payload.body.contains("INFO")), "only WARN and above are indexed");
    assert!(hits.iter().all(|h| h.payload.body.contains("payment")), "{hits:?}");
    assert!(s.similar_logs().search(&TenantId::parse("other").unwrap(), "payment", 10).is_empty());
    s.shutdown().await;

    let mut s = TestServer::start_on(test_config(), open_sqlite(&db).await).await;
    assert_eq!(s.similar_logs().len(&tenant), 4, "rebuilt from storage");
    let hits = s.similar_logs().search(&tenant, "card expired payment", 2);
    assert_eq!(hits[0].payload.body, bodies[2]);
    assert!(hits[0].payload.id.is_some(), "records read back carry their stored id");
    s.shutdown().await;
}

/// Every in-memory structure of this feature is pushed past its cap through the real server:
/// sizes stay at the caps (their gauges say so) and what did not fit is counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caps_hold_and_what_does_not_fit_is_counted() {
    let config = otelcontext_e2e::config_from(&[
        ("METRIC_MAX_CARDINALITY", "40"),
        ("METRIC_MAX_CARDINALITY_PER_TENANT", "25"),
        ("VECTOR_INDEX_MAX_ENTRIES", "20"),
    ]);
    let mut s = TestServer::start_with(config).await;
    let now = now_ns();
    // 100 distinct series from one tenant, 30 from another: the tenant cap first, then the global one.
    let series = |n: usize| {
        let mut p = number(now, 0, 1.0);
        p.attributes = vec![kv("route", &format!("/r{n}"))];
        p
    };
    let noisy = metrics_request("api", vec![cpu((0..100).map(series).collect())]);
    assert_eq!(post_proto(&s, "/v1/metrics", &noisy, &[("x-tenant-id", "noisy")]).await.status, 200);
    // Committed before the other tenant's, so which cap each point meets is known.
    s.wait_for("noisy", |c| c.metric_points == 100).await;
    let aggregated =
        eventually(|| async { (s.metric_sum("otelcontext_tsdb_ingest_total") == Some(100.0)).then_some(()) });
    assert!(aggregated.await.is_some());
    let calm = metrics_request("api", vec![cpu((0..30).map(series).collect())]);
    assert_eq!(post_proto(&s, "/v1/metrics", &calm, &[("x-tenant-id", "calm")]).await.status, 200);
    // 200 distinct error messages: the index keeps the newest 20.
    let bodies: Vec<String> = (0..200)
        .map(|n| {
            format!(
                "failure in component {}",
                (0..3).map(|k| char::from(b'a' + ((n / 26usize.pow(k)) % 26) as u8)).collect::<String>()
            )
        })
        .collect();
    assert_eq!(post_proto(&s, "/v1/logs", &logs("api", records_at(now, 17, &bodies)), &[]).await.status, 200);
    s.wait_for("calm", |c| c.metric_points == 30).await;
    s.wait_for("default", |c| c.logs == 200).await;
    let metric = |name: &str| s.metric_sum(name).unwrap_or(-1.0);
    let settled = eventually(|| async { (metric("otelcontext_vector_index_entries") == 20.0).then_some(()) }).await;
    assert!(settled.is_some(), "{}", s.metrics_text());
    // noisy: 25 series, 75 to its overflow series; calm: 15 more fit the global 40, 15 overflow.
    assert!(metric("otelcontext_tsdb_open_series") <= 42.0, "40 series and two overflow series at most");
    assert_eq!(metric("otelcontext_tsdb_cardinality_overflow_total"), 90.0);
    let text = s.metrics_text();
    assert!(text.contains("otelcontext_tsdb_cardinality_overflow_by_tenant_total{tenant_id=\"noisy\"} 75"), "{text}");
    assert!(text.contains("otelcontext_tsdb_cardinality_overflow_by_tenant_total{tenant_id=\"calm\"} 15"), "{text}");
    assert!(text.contains("otelcontext_tsdb_cardinality_overflow_total{limit=\"tenant\"} 75"), "{text}");
    assert_eq!(metric("otelcontext_vector_index_evicted_total"), 180.0);
    assert_eq!(metric("otelcontext_vector_index_max_entries"), 20.0);
    assert_eq!(metric("otelcontext_tsdb_series_limit"), 40.0);
    s.shutdown().await;
    let storage = open_sqlite(&s.dir.as_ref().unwrap().path().join("otelcontext.db")).await;
    for (tenant, fitted, overflowed) in [("noisy", 25, 75), ("calm", 15, 15)] {
        let q = BucketQuery { limit: 1_000, ..Default::default() };
        let stored = storage.search_buckets(&TenantId::parse(tenant).unwrap(), &q).await.unwrap().items;
        let (over, normal): (Vec<_>, Vec<_>) = stored.iter().partition(|b| b.name == "__overflow__");
        assert_eq!(normal.len(), fitted, "{tenant}");
        assert_eq!(over.iter().map(|b| b.count).sum::<u64>(), overflowed, "{tenant}");
    }
    storage.close().await;
}
