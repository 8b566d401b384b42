//! Conformance cases of [`crate::LogStore`]: filters, order, pagination and full-text search.

use super::fixtures::*;
use crate::storage::{AttributeFilter, Cursor, LogId, LogQuery, LogSort, Storage, StorageError, StoredLog, TimeRange};
use otelcontext_domain::search::TextQuery;
use otelcontext_domain::{AnyValue, KeyValue, LogRecord, SeverityLevel, TemplateId};
use std::collections::HashSet;

fn all_logs() -> LogQuery {
    LogQuery::recent(1_000)
}

fn text(q: &str) -> Option<TextQuery> {
    TextQuery::parse(q).unwrap()
}

fn bodies(logs: &[StoredLog]) -> Vec<String> {
    logs.iter().map(|l| l.record.body_text()).collect()
}

/// String, structured and absent bodies, severities and trace context survive.
pub async fn logs_of_every_body_type_read_back(st: &dyn Storage) {
    let t = &tenant("acme");
    let mut templated = log(6, "api", Some(s("user 42 logged in")), None, 9);
    templated.template_id = Some(TemplateId(u64::MAX - 7));
    let logs = vec![
        log(1, "api", Some(s("user logged in")), Some((1, 1)), 9),
        log(
            2,
            "api",
            Some(AnyValue::KvList(vec![KeyValue::new("event", s("login")), KeyValue::new("n", AnyValue::Int(3))])),
            None,
            17,
        ),
        log(3, "api", Some(AnyValue::Int(42)), None, 13),
        log(4, "api", Some(AnyValue::Array(vec![s("x"), AnyValue::Bool(true)])), None, 5),
        log(5, "api", None, None, 0),
        templated,
    ];
    let summary = st.write(&logs_batch(t, logs.clone())).await.unwrap();
    assert_eq!(summary.logs, 6);
    let got = st.search_logs(t, &LogQuery { sort: LogSort::Oldest, ..all_logs() }).await.unwrap();
    assert_eq!(got.items.len(), 6);
    for (g, w) in got.items.iter().zip(logs.iter()) {
        assert_eq!(&g.record, w);
    }
}

/// Re-sent log records are stored once.
pub async fn resent_logs_are_stored_once(st: &dyn Storage) {
    let t = &tenant("acme");
    let logs: Vec<_> = (0..10).map(|i| text_log(i, "api", &format!("line {i}"))).collect();
    write(st, logs_batch(t, logs.clone())).await;
    let again = st.write(&logs_batch(t, logs.clone())).await.unwrap();
    assert_eq!((again.logs, again.duplicates()), (0, 10));
    // Same timestamp, different body: both kept.
    let mut other = logs[0].clone();
    other.body = Some(s("another line"));
    assert_eq!(st.write(&logs_batch(t, vec![other])).await.unwrap().logs, 1);
    assert_eq!(st.counts(t).await.unwrap().logs, 11);
}

/// Service, severity (at or above a level, from the number or else the text), trace, template,
/// attribute and time filters.
pub async fn log_search_filters_by_service_severity_trace_template_and_attributes(st: &dyn Storage) {
    let t = &tenant("acme");
    let mut logs = Vec::new();
    for i in 0..20 {
        let service = if i % 2 == 0 { "even" } else { "odd" };
        let trace = if i < 5 { Some((7, 1)) } else { None };
        let severity = if i % 5 == 0 { 17 } else { 9 };
        let mut l = log(i * 10, service, Some(s(&format!("line {i}"))), trace, severity);
        if i >= 15 {
            l.template_id = Some(TemplateId(0xfeed));
        }
        logs.push(l);
    }
    // Severity given only as text.
    let mut warning = text_log(1_000, "odd", "disk almost full");
    warning.severity_number = 0;
    warning.severity_text = "Warning".into();
    logs.push(warning);
    write(st, logs_batch(t, logs)).await;
    let count = |q: LogQuery| async move { st.search_logs(t, &q).await.unwrap().items.len() };
    assert_eq!(count(LogQuery { trace_id: Some(tid(7)), ..all_logs() }).await, 5);
    let odd = st.search_logs(t, &LogQuery { service: Some("odd".into()), ..all_logs() }).await.unwrap();
    assert_eq!(odd.items.len(), 11);
    assert!(odd.items.iter().all(|l| l.record.service_name() == "odd"));
    assert_eq!(count(LogQuery { service: Some("od".into()), ..all_logs() }).await, 0, "exact service");
    assert_eq!(count(LogQuery { min_severity: Some(SeverityLevel::Error), ..all_logs() }).await, 4);
    assert_eq!(count(LogQuery { min_severity: Some(SeverityLevel::Warn), ..all_logs() }).await, 5);
    assert_eq!(count(LogQuery { min_severity: Some(SeverityLevel::Trace), ..all_logs() }).await, 21);
    assert_eq!(count(LogQuery { template_id: Some(TemplateId(0xfeed)), ..all_logs() }).await, 5);
    let attr = |k: &str, v: &str| vec![AttributeFilter { key: k.into(), value: v.into() }];
    assert_eq!(count(LogQuery { attributes: attr("user.id", "30"), ..all_logs() }).await, 1);
    assert_eq!(count(LogQuery { attributes: attr("path", "/x"), ..all_logs() }).await, 21);
    assert_eq!(count(LogQuery { attributes: attr("path", "/y"), ..all_logs() }).await, 0);
    let window = LogQuery { time: TimeRange::between(T0 + 50, T0 + 100), ..all_logs() };
    let got = st.search_logs(t, &window).await.unwrap();
    assert_eq!(got.items.iter().map(|l| l.record.timestamp_ns - T0).collect::<Vec<_>>(), vec![100, 90, 80, 70, 60, 50]);
}

/// Newest first by default, oldest first on request, limited.
pub async fn log_search_orders_newest_or_oldest_first(st: &dyn Storage) {
    let t = &tenant("acme");
    write(st, logs_batch(t, (0..20).map(|i| text_log(i * 10, "svc", &format!("line {i}"))).collect())).await;
    let newest = st.search_logs(t, &LogQuery::recent(3)).await.unwrap();
    assert_eq!(newest.items.iter().map(|l| l.record.timestamp_ns - T0).collect::<Vec<_>>(), vec![190, 180, 170]);
    assert!(newest.next.is_some());
    let oldest = st.search_logs(t, &LogQuery { sort: LogSort::Oldest, ..LogQuery::recent(3) }).await.unwrap();
    assert_eq!(oldest.items.iter().map(|l| l.record.timestamp_ns - T0).collect::<Vec<_>>(), vec![0, 10, 20]);
    let all = st.search_logs(t, &LogQuery::recent(20)).await.unwrap();
    assert_eq!((all.items.len(), all.next), (20, None), "no cursor after the last page");
}

/// Paging while records arrive (newer than the first page, and older than everything, and with
/// equal timestamps) shows every record that existed at the first page exactly once.
pub async fn log_pages_neither_skip_nor_repeat_while_writes_continue(st: &dyn Storage) {
    let t = &tenant("acme");
    // Pairs of records share a timestamp, so the cursor must break ties.
    let first: Vec<_> = (0..30).map(|i| text_log((i / 2) * 10, "svc", &format!("original {i}"))).collect();
    write(st, logs_batch(t, first)).await;
    for sort in [LogSort::Newest, LogSort::Oldest] {
        let got = all_pages(
            |cursor| {
                let q = LogQuery { sort, limit: 7, cursor, ..LogQuery::default() };
                async move { st.search_logs(t, &q).await }
            },
            |page| {
                let t = t.clone();
                async move {
                    let n = page as i64;
                    let fresh = vec![
                        text_log(10_000 + n, "svc", &format!("newer {sort:?} {n}")),
                        text_log(-10_000 - n, "svc", &format!("older {sort:?} {n}")),
                        text_log(70, "svc", &format!("same time {sort:?} {n}")),
                    ];
                    write(st, logs_batch(&t, fresh)).await;
                }
            },
        )
        .await;
        let ids: Vec<LogId> = got.iter().map(|l| l.id).collect();
        assert_eq!(ids.iter().collect::<HashSet<_>>().len(), ids.len(), "{sort:?}: no record repeated");
        let seen: HashSet<String> = bodies(&got).into_iter().collect();
        for i in 0..30 {
            assert!(seen.contains(&format!("original {i}")), "{sort:?}: original {i} skipped");
        }
    }
}

fn corpus() -> Vec<LogRecord> {
    vec![
        text_log(1, "db-proxy", "Connection refused by upstream"),
        text_log(2, "api", "thread 'main' panicked at src/main.rs:42"),
        text_log(3, "api", "request completed in 12ms"),
        text_log(4, "checkout", "payment declined: card expired"),
        text_log(5, "api", "connection pool exhausted, connection refused"),
        text_log(6, "worker", "job 100% done"),
        text_log(7, "worker", "job 10 of 20 done"),
        text_log(8, "worker", "user_id=5 not found"),
    ]
}

async fn search_bodies(st: &dyn Storage, t: &otelcontext_domain::TenantId, q: &str) -> Vec<String> {
    let mut b = bodies(&st.search_logs(t, &LogQuery { text: text(q), ..all_logs() }).await.unwrap().items);
    b.sort();
    b
}

/// Terms match the start of words (case-insensitively) in the body or the service name, and
/// every term must match.
pub async fn full_text_finds_word_prefixes_and_requires_every_term(st: &dyn Storage) {
    let t = &tenant("acme");
    write(st, logs_batch(t, corpus())).await;
    assert_eq!(
        search_bodies(st, t, "conn").await,
        vec!["Connection refused by upstream", "connection pool exhausted, connection refused"]
    );
    assert_eq!(search_bodies(st, t, "panic").await, vec!["thread 'main' panicked at src/main.rs:42"]);
    assert_eq!(search_bodies(st, t, "CONNECTION REFUSED upstream").await, vec!["Connection refused by upstream"]);
    assert_eq!(search_bodies(st, t, "conn declined").await, Vec::<String>::new(), "all terms must match");
    assert_eq!(search_bodies(st, t, "checkout").await, vec!["payment declined: card expired"], "service name");
    assert_eq!(search_bodies(st, t, "zzzz").await, Vec::<String>::new());
}

/// Quotes, FTS operators, wildcards and LIKE metacharacters are searched for, never errors.
pub async fn full_text_input_with_quotes_and_operators_never_fails(st: &dyn Storage) {
    let t = &tenant("acme");
    write(st, logs_batch(t, corpus())).await;
    for input in [
        "\"",
        "\"\"",
        "'",
        "a\"b",
        "AND",
        "OR NOT",
        "*",
        "conn*",
        "NEAR(a b)",
        "-x",
        ":",
        "body:conn",
        "^conn",
        "(",
        ")",
        "%",
        "_",
        "\\",
        "{}",
        "[",
        "$1",
        "😀",
        "\u{0}",
    ] {
        let q = LogQuery { text: text(input), ..all_logs() };
        assert!(st.search_logs(t, &q).await.is_ok(), "{input:?} failed");
    }
    assert_eq!(search_bodies(st, t, "100%").await, vec!["job 100% done"], "% is not a wildcard");
    assert_eq!(search_bodies(st, t, "user_id=5").await, vec!["user_id=5 not found"], "_ is not a wildcard");
    assert_eq!(search_bodies(st, t, "'main'").await, vec!["thread 'main' panicked at src/main.rs:42"]);
}

/// Relevance order lists every match once across its pages.
pub async fn full_text_relevance_pages_cover_every_match_once(st: &dyn Storage) {
    let t = &tenant("acme");
    let mut logs = corpus();
    logs.extend((0..12).map(|i| text_log(100 + i, "api", &format!("connection attempt {i} failed"))));
    write(st, logs_batch(t, logs)).await;
    let got = all_pages(
        |cursor| {
            let q = LogQuery {
                text: text("connection"),
                sort: LogSort::Relevance,
                limit: 5,
                cursor,
                ..LogQuery::default()
            };
            async move { st.search_logs(t, &q).await }
        },
        nothing,
    )
    .await;
    assert_eq!(got.len(), 14);
    assert_eq!(got.iter().map(|l| l.id).collect::<HashSet<_>>().len(), 14);
}

/// Text search combines with the other filters.
pub async fn full_text_combines_with_filters(st: &dyn Storage) {
    let t = &tenant("acme");
    write(st, logs_batch(t, corpus())).await;
    let q = LogQuery { text: text("connection"), service: Some("api".into()), ..all_logs() };
    assert_eq!(
        bodies(&st.search_logs(t, &q).await.unwrap().items),
        vec!["connection pool exhausted, connection refused"]
    );
    let q = LogQuery { text: text("done"), time: TimeRange::between(T0 + 7, T0 + 100), ..all_logs() };
    assert_eq!(bodies(&st.search_logs(t, &q).await.unwrap().items), vec!["job 10 of 20 done"]);
    let q = LogQuery { text: text("done"), sort: LogSort::Oldest, ..all_logs() };
    assert_eq!(bodies(&st.search_logs(t, &q).await.unwrap().items), vec!["job 100% done", "job 10 of 20 done"]);
}

/// A log read by id is the one searched; another tenant cannot read it.
pub async fn log_by_id_round_trips_within_its_tenant(st: &dyn Storage) {
    let (a, b) = (tenant("a"), tenant("b"));
    write(st, logs_batch(&a, corpus())).await;
    let listed = st.search_logs(&a, &all_logs()).await.unwrap();
    for l in &listed.items {
        assert_eq!(st.get_log(&a, l.id).await.unwrap().as_ref(), Some(l));
        assert_eq!(st.get_log(&b, l.id).await.unwrap(), None);
    }
    assert_eq!(st.get_log(&a, LogId(i64::MAX)).await.unwrap(), None);
    // A cursor of the wrong kind for the order is refused.
    let q = LogQuery { cursor: Some(Cursor::Skip(1)), ..all_logs() };
    assert!(matches!(st.search_logs(&a, &q).await, Err(StorageError::InvalidArgument(_))));
}
