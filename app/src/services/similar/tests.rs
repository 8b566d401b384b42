use super::*;
use otelcontext_ports::conformance::fixtures::{T0, log, text_log};
use otelcontext_ports::{MockClock, MockLogStore, Page};
use otelcontext_telemetry::Telemetry;

fn tenant(name: &str) -> TenantId {
    TenantId::parse(name).unwrap()
}

fn clock() -> Arc<dyn Clock> {
    let mut c = MockClock::new();
    c.expect_now_ns().return_const(T0 + 1_000);
    Arc::new(c)
}

fn logs(t: &str, records: Vec<LogRecord>) -> TenantBatch {
    let mut b = TenantBatch::new(tenant(t));
    b.logs = records;
    b
}

fn error(n: i64, body: &str) -> LogRecord {
    log(n, "checkout", Some(otelcontext_domain::AnyValue::String(body.into())), None, 17)
}

#[test]
fn warnings_and_errors_are_indexed_per_tenant_and_found_by_similarity() {
    let t = Telemetry::new();
    let s = SimilarLogService::new(100, clock(), &t.meter());
    s.committed(&[
        logs(
            "a",
            vec![
                error(1, "connection refused by payment gateway"),
                error(2, "card declined by issuer"),
                text_log(3, "checkout", "connection refused by payment gateway (info, not indexed)"),
            ],
        ),
        logs("b", vec![error(4, "connection refused by payment gateway")]),
    ]);
    assert_eq!((s.len(&tenant("a")), s.len(&tenant("b"))), (2, 1));
    let hits = s.search(&tenant("a"), "payment gateway refused the connection", 10);
    assert_eq!(hits.len(), 1);
    let best = &hits[0].payload;
    assert_eq!((best.timestamp_ns, best.service.as_str(), best.severity.as_str()), (T0 + 1, "checkout", "ERROR"));
    assert!(hits[0].score > 0.5, "{}", hits[0].score);
    assert!(s.search(&tenant("nobody"), "payment", 10).is_empty());
    let text = t.render();
    assert!(text.contains("otelcontext_vector_index_entries 3"), "{text}");
    assert!(text.contains("otelcontext_vector_index_indexed_total 3"), "{text}");
}

#[test]
fn the_per_tenant_cap_evicts_the_oldest_and_counts() {
    let t = Telemetry::new();
    let s = SimilarLogService::new(3, clock(), &t.meter());
    let records: Vec<LogRecord> = (0..10)
        .map(|n| {
            error(
                n,
                &format!("worker crashed in stage {}", ["alpha", "beta", "gamma", "delta", "omega"][n as usize % 5]),
            )
        })
        .collect();
    s.committed(&[logs("a", records)]);
    assert_eq!(s.len(&tenant("a")), 3);
    let text = t.render();
    assert!(text.contains("otelcontext_vector_index_evicted_total 7"), "{text}");
    assert!(text.contains("otelcontext_vector_index_entries 3"), "{text}");
    assert!(text.contains("otelcontext_vector_index_max_entries 3"), "{text}");
    let newest: Vec<i64> =
        s.search(&tenant("a"), "worker crashed", 10).iter().map(|h| h.payload.timestamp_ns - T0).collect();
    assert_eq!(newest, [9, 8, 7]);
}

#[tokio::test]
async fn rebuild_reads_the_newest_warnings_of_the_last_day_per_tenant() {
    let mut store = MockLogStore::new();
    store.expect_search_logs().times(2).returning(|tenant, q| {
        assert_eq!(q.min_severity, Some(SeverityLevel::Warn));
        assert_eq!(q.time.end_ns, Some(T0 + 1_000));
        assert_eq!(q.limit, 5);
        let items = if tenant.as_str() == "a" {
            // Newest first, as the store answers.
            (0..3)
                .rev()
                .map(|n| StoredLog { id: LogId(100 + n), record: error(n, &format!("timeout calling inventory {n}")) })
                .collect()
        } else {
            Vec::new()
        };
        Ok(Page { items, next: None })
    });
    let t = Telemetry::new();
    let s = SimilarLogService::new(5, clock(), &t.meter());
    assert_eq!(s.rebuild(&store, &[tenant("a"), tenant("b")]).await.unwrap(), 3);
    let hits = s.search(&tenant("a"), "inventory timeout", 10);
    assert_eq!(hits.len(), 3);
    assert_eq!(hits[0].payload.id, Some(LogId(102)), "ties go to the newest");
}
