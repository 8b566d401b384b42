//! Conformance cases of [`crate::TelemetryWriter`] and [`crate::TraceStore`].

use super::fixtures::*;
use crate::storage::{AttributeFilter, SortOrder, SpanQuery, Storage, TenantBatch, TimeRange, TraceQuery, TraceSort};
use otelcontext_domain::trace::summarize;
use otelcontext_domain::{AnyValue, SpanKind, StatusCode, TraceId};
use std::collections::HashSet;

fn all_traces() -> TraceQuery {
    TraceQuery { limit: 1_000, ..TraceQuery::default() }
}

fn trace_ids(page: &[otelcontext_domain::TraceSummary]) -> Vec<TraceId> {
    page.iter().map(|t| t.trace_id).collect()
}

/// Every field of every span survives a write and a read.
pub async fn written_trace_reads_back_field_by_field(st: &dyn Storage) {
    let t = &tenant("acme");
    let spans = trace_spans();
    let summary = st.write(&spans_batch(t, spans.clone())).await.unwrap();
    assert_eq!(summary.spans, 3);
    let trace = st.get_trace(t, &tid(1)).await.unwrap().expect("trace stored");
    assert_eq!(trace.summary, summarize(&spans)[0]);
    assert_eq!(trace.spans.len(), 3);
    for (got, want) in trace.spans.iter().zip(spans.iter()) {
        assert_eq!(got, want, "span {}", want.span_id);
    }
}

/// An unknown trace id reads as `None`, not an error.
pub async fn absent_trace_is_none(st: &dyn Storage) {
    assert!(st.get_trace(&tenant("acme"), &tid(99)).await.unwrap().is_none());
}

/// Writing the same spans again stores nothing new and leaves the trace row unchanged.
pub async fn resent_spans_are_stored_once(st: &dyn Storage) {
    let t = &tenant("acme");
    write(st, spans_batch(t, trace_spans())).await;
    let again = st.write(&spans_batch(t, trace_spans())).await.unwrap();
    assert_eq!((again.spans, again.duplicates()), (0, 3));
    // Duplicates inside one batch too.
    let mut twice = trace_spans();
    twice.extend(trace_spans());
    write(st, spans_batch(t, twice)).await;
    let trace = st.get_trace(t, &tid(1)).await.unwrap().unwrap();
    assert_eq!(trace.spans.len(), 3);
    assert_eq!(trace.summary.span_count, 3);
    assert_eq!(st.counts(t).await.unwrap().spans, 3);
}

/// Spans written one by one in reverse order give the same trace row as all at once.
pub async fn trace_row_is_the_same_whatever_the_arrival_order(st: &dyn Storage) {
    let t = &tenant("acme");
    let spans = trace_spans();
    for span in spans.iter().rev() {
        write(st, spans_batch(t, vec![span.clone()])).await;
    }
    let trace = st.get_trace(t, &tid(1)).await.unwrap().unwrap();
    assert_eq!(trace.summary, summarize(&spans)[0]);
    assert_eq!((trace.summary.root_service.as_str(), trace.summary.has_root), ("frontend", true));
    assert_eq!(trace.summary.duration_ns(), 1_200);
}

/// A trace's status moves up to ERROR and an OK span arriving later does not bring it back.
pub async fn trace_status_upgrades_to_error_and_never_back(st: &dyn Storage) {
    let t = &tenant("acme");
    let spans = trace_spans();
    write(st, spans_batch(t, vec![spans[0].clone()])).await;
    assert_eq!(st.get_trace(t, &tid(1)).await.unwrap().unwrap().summary.status, StatusCode::Unset);
    write(st, spans_batch(t, vec![spans[2].clone()])).await;
    write(st, spans_batch(t, vec![spans[1].clone()])).await;
    assert_eq!(st.get_trace(t, &tid(1)).await.unwrap().unwrap().summary.status, StatusCode::Error);
}

/// The same trace id under two tenants is two independent traces.
pub async fn same_trace_id_in_two_tenants_is_two_traces(st: &dyn Storage) {
    let (a, b) = (tenant("a"), tenant("b"));
    let spans = trace_spans();
    write(
        st,
        vec![
            TenantBatch { tenant: a.clone(), spans: vec![spans[0].clone()], logs: vec![], metrics: vec![] },
            TenantBatch {
                tenant: b.clone(),
                spans: vec![spans[1].clone(), spans[2].clone()],
                logs: vec![],
                metrics: vec![],
            },
        ],
    )
    .await;
    let ta = st.get_trace(&a, &tid(1)).await.unwrap().unwrap();
    let tb = st.get_trace(&b, &tid(1)).await.unwrap().unwrap();
    assert_eq!((ta.spans.len(), ta.summary.span_count, ta.summary.status), (1, 1, StatusCode::Unset));
    assert_eq!((tb.spans.len(), tb.summary.span_count, tb.summary.status), (2, 2, StatusCode::Error));
}

/// Reading a trace also returns the logs correlated with it, oldest first.
pub async fn trace_includes_its_logs(st: &dyn Storage) {
    let t = &tenant("acme");
    write(
        st,
        vec![TenantBatch {
            tenant: t.clone(),
            spans: trace_spans(),
            logs: vec![
                log(300, "payments", Some(s("card declined")), Some((1, 3)), 17),
                log(100, "frontend", Some(s("request in")), Some((1, 1)), 9),
                log(200, "other", Some(s("unrelated")), Some((2, 1)), 9),
            ],
            metrics: vec![],
        }],
    )
    .await;
    let trace = st.get_trace(t, &tid(1)).await.unwrap().unwrap();
    let bodies: Vec<_> = trace.logs.iter().map(|l| l.body_text()).collect();
    assert_eq!(bodies, vec!["request in", "card declined"]);
}

/// Three traces: 1 (frontend → checkout → payments, error), 2 (frontend → search, ok, slow),
/// 3 (search alone, fast); spans carry different attributes.
async fn write_search_traces(st: &dyn Storage) -> otelcontext_domain::TenantId {
    let t = tenant("acme");
    let mut spans = trace_spans();
    let mut slow_root = plain_span(tid(2), 1, None, "frontend", "GET /search", 2_000, 9_000);
    slow_root.status.code = otelcontext_domain::StatusCode::Ok;
    let mut search = plain_span(tid(2), 2, Some(1), "search", "query", 2_100, 8_000);
    search.attributes.push("db.system", s("elasticsearch"));
    search.attributes.push("retries", AnyValue::Int(3));
    let mut lone = plain_span(tid(3), 1, None, "search", "query", 10_000, 10_050);
    lone.attributes.push("db.system", s("postgresql"));
    spans.extend([slow_root, search, lone]);
    write(st, spans_batch(&t, spans)).await;
    t
}

/// A trace matches when one of its spans has the service, the operation and every attribute.
pub async fn trace_search_filters_by_span_service_operation_and_attributes(st: &dyn Storage) {
    let t = &write_search_traces(st).await;
    let q = |f: fn(&mut TraceQuery)| {
        let mut q = all_traces();
        f(&mut q);
        q
    };
    let found = |q: TraceQuery| async move {
        let mut ids = trace_ids(&st.search_traces(t, &q).await.unwrap().items);
        ids.sort();
        ids
    };
    assert_eq!(found(q(|q| q.service = Some("payments".into()))).await, vec![tid(1)]);
    assert_eq!(found(q(|q| q.service = Some("search".into()))).await, vec![tid(2), tid(3)]);
    assert_eq!(found(q(|q| q.service = Some("sea".into()))).await, Vec::<TraceId>::new(), "exact, not prefix");
    assert_eq!(
        found(q(|q| {
            q.service = Some("frontend".into());
            q.operation = Some("GET /search".into());
        }))
        .await,
        vec![tid(2)]
    );
    // Operation of another service's span does not count.
    assert_eq!(
        found(q(|q| {
            q.service = Some("search".into());
            q.operation = Some("GET /search".into());
        }))
        .await,
        Vec::<TraceId>::new()
    );
    let attr = |k: &str, v: &str| AttributeFilter { key: k.into(), value: v.into() };
    let by_attrs = |filters: Vec<AttributeFilter>| TraceQuery { attributes: filters, ..all_traces() };
    assert_eq!(found(by_attrs(vec![attr("db.system", "postgresql")])).await, vec![tid(3)]);
    assert_eq!(found(by_attrs(vec![attr("retries", "3")])).await, vec![tid(2)], "integers compare as text");
    assert_eq!(found(by_attrs(vec![attr("cached", "false")])).await, vec![tid(1)], "booleans compare as text");
    assert_eq!(found(by_attrs(vec![attr("ratio", "0.25")])).await, vec![tid(1)], "doubles compare as text");
    assert_eq!(
        found(by_attrs(vec![attr("db.system", "elasticsearch"), attr("retries", "3")])).await,
        vec![tid(2)],
        "all attributes on one span"
    );
    assert_eq!(found(by_attrs(vec![attr("db.system", "elasticsearch"), attr("http.method", "GET")])).await, vec![]);
}

/// Status, duration and start time filter trace rows.
pub async fn trace_search_filters_by_status_duration_and_time(st: &dyn Storage) {
    let t = &write_search_traces(st).await;
    let ids = |q: TraceQuery| async move {
        let mut v = trace_ids(&st.search_traces(t, &q).await.unwrap().items);
        v.sort();
        v
    };
    assert_eq!(ids(TraceQuery { status: Some(StatusCode::Error), ..all_traces() }).await, vec![tid(1)]);
    assert_eq!(ids(TraceQuery { status: Some(StatusCode::Ok), ..all_traces() }).await, vec![tid(2)]);
    assert_eq!(ids(TraceQuery { min_duration_ns: Some(1_200), ..all_traces() }).await, vec![tid(1), tid(2)]);
    assert_eq!(ids(TraceQuery { max_duration_ns: Some(1_200), ..all_traces() }).await, vec![tid(1), tid(3)]);
    let window = TimeRange::between(T0 + 1_000, T0 + 10_000);
    assert_eq!(ids(TraceQuery { time: window, ..all_traces() }).await, vec![tid(2), tid(3)], "inclusive ends");
}

/// Every sort order pages through all traces exactly once, in order.
pub async fn trace_search_pages_in_every_order_without_gaps(st: &dyn Storage) {
    let t = &tenant("acme");
    let mut spans = Vec::new();
    for n in 0..20u16 {
        // Starts and durations both repeat, so ties must be broken by the cursor too.
        let start = i64::from(n / 2) * 100;
        let duration = i64::from(n % 5) * 10 + 1;
        spans.push(plain_span(tid16(n), 1, None, "svc", "op", start, start + duration));
    }
    write(st, spans_batch(t, spans)).await;
    for sort in [TraceSort::Newest, TraceSort::Oldest, TraceSort::Longest, TraceSort::Shortest] {
        let got = all_pages(
            |cursor| {
                let q = TraceQuery { sort, limit: 3, cursor, ..TraceQuery::default() };
                async move { st.search_traces(t, &q).await }
            },
            nothing,
        )
        .await;
        assert_eq!(got.len(), 20, "{sort:?}");
        assert_eq!(got.iter().map(|t| t.trace_id).collect::<HashSet<_>>().len(), 20, "{sort:?}: no repeats");
        let keys: Vec<i64> = got
            .iter()
            .map(|t| match sort {
                TraceSort::Newest | TraceSort::Oldest => t.start_ns,
                TraceSort::Longest | TraceSort::Shortest => t.duration_ns(),
            })
            .collect();
        let mut sorted = keys.clone();
        sorted.sort();
        if matches!(sort, TraceSort::Newest | TraceSort::Longest) {
            sorted.reverse();
        }
        assert_eq!(keys, sorted, "{sort:?}");
    }
}

/// Paging newest first while new traces arrive (newer and older than any seen) shows every
/// trace that existed at the first page exactly once.
pub async fn trace_pages_neither_skip_nor_repeat_while_writes_continue(st: &dyn Storage) {
    let t = &tenant("acme");
    let first: Vec<_> = (0..25u16)
        .map(|n| plain_span(tid16(n), 1, None, "svc", "op", i64::from(n) * 10, i64::from(n) * 10 + 5))
        .collect();
    write(st, spans_batch(t, first)).await;
    let got = all_pages(
        |cursor| {
            let q = TraceQuery { limit: 4, cursor, ..TraceQuery::default() };
            async move { st.search_traces(t, &q).await }
        },
        |page| {
            let t = t.clone();
            async move {
                let n = 1_000 + page as u16;
                let newer = plain_span(tid16(n), 1, None, "svc", "op", 100_000 + i64::from(n), 100_010 + i64::from(n));
                let older = plain_span(tid16(n + 500), 1, None, "svc", "op", -100_000 - i64::from(n), -99_990);
                write(st, spans_batch(&t, vec![newer, older])).await;
            }
        },
    )
    .await;
    let ids: Vec<TraceId> = got.iter().map(|t| t.trace_id).collect();
    assert_eq!(ids.iter().collect::<HashSet<_>>().len(), ids.len(), "no trace repeated");
    for n in 0..25u16 {
        assert!(ids.contains(&tid16(n)), "trace {n} skipped");
    }
}

/// Span search filters by service, operation, kind, status, attributes and time, and pages.
pub async fn span_search_filters_and_pages(st: &dyn Storage) {
    let t = &write_search_traces(st).await;
    let q = SpanQuery { limit: 100, ..SpanQuery::default() };
    let names = |q: SpanQuery| async move {
        let page = st.search_spans(t, &q).await.unwrap();
        page.items.iter().map(|s| format!("{}:{}", s.service_name(), s.name)).collect::<Vec<_>>()
    };
    assert_eq!(
        names(SpanQuery { service: Some("search".into()), ..q.clone() }).await,
        vec!["search:query", "search:query"]
    );
    assert_eq!(
        names(SpanQuery { service: Some("search".into()), sort: SortOrder::OldestFirst, ..q.clone() }).await.len(),
        2
    );
    assert_eq!(names(SpanQuery { status: Some(StatusCode::Error), ..q.clone() }).await, vec!["payments:GET /items/3"]);
    assert_eq!(names(SpanQuery { kind: Some(SpanKind::Client), ..q.clone() }).await.len(), 3);
    let attr = vec![AttributeFilter { key: "db.system".into(), value: "elasticsearch".into() }];
    assert_eq!(names(SpanQuery { attributes: attr, ..q.clone() }).await, vec!["search:query"]);
    assert_eq!(names(SpanQuery { time: TimeRange::between(T0 + 10_000, T0 + 10_000), ..q.clone() }).await.len(), 1);
    let q0 = &q;
    let newest_first = all_pages(
        |cursor| {
            let q = SpanQuery { limit: 2, cursor, ..q0.clone() };
            async move { st.search_spans(t, &q).await }
        },
        nothing,
    )
    .await;
    let starts: Vec<i64> = newest_first.iter().map(|s| s.start_ns).collect();
    assert_eq!(starts.len(), 6);
    assert!(starts.windows(2).all(|w| w[0] >= w[1]), "{starts:?}");
}

/// Quotes, newlines, SQL fragments and non-ASCII text are stored verbatim.
pub async fn awkward_strings_survive(st: &dyn Storage) {
    let t = &tenant("acme");
    let nasty = "it's \"quoted\"; DROP TABLE spans; -- ünïcødé 🚀\nline2\t\\ 100% _x_";
    let mut span = rich_span(9, 1, None, nasty, 0, 10, StatusCode::Error);
    span.name = nasty.into();
    span.status.message = nasty.into();
    span.attributes.push(nasty, s(nasty));
    write(st, spans_batch(t, vec![span.clone()])).await;
    let trace = st.get_trace(t, &tid(9)).await.unwrap().unwrap();
    assert_eq!(trace.spans[0], span);
    assert_eq!(trace.summary.root_service, nasty);
    let found = st
        .search_traces(t, &TraceQuery { service: Some(nasty.into()), operation: Some(nasty.into()), ..all_traces() })
        .await
        .unwrap();
    assert_eq!(found.items.len(), 1);
    let l = log(1, nasty, Some(s(nasty)), None, 9);
    write(st, logs_batch(t, vec![l.clone()])).await;
    let logs = st.search_logs(t, &crate::storage::LogQuery::recent(10)).await.unwrap();
    assert_eq!(logs.items[0].record, l);
}

/// One write of 50,000 records (spans, logs and points) is stored completely.
pub async fn batches_of_fifty_thousand_records_are_written_whole(st: &dyn Storage) {
    let t = &tenant("bulk");
    let mut spans = Vec::new();
    for tr in 0..2_500u16 {
        for sp in 0..10u8 {
            let mut span = plain_span(tid16(tr), sp + 1, (sp > 0).then_some(1), "bulk", "op", i64::from(sp), 100);
            span.attributes.push("n", AnyValue::Int(i64::from(sp)));
            spans.push(span);
        }
    }
    let logs: Vec<_> = (0..20_000).map(|i| text_log(i, "bulk", &format!("bulk line {i}"))).collect();
    let points: Vec<_> = (0..5_000)
        .map(|i| point("bulk.gauge", "bulk", i, otelcontext_domain::PointValue::Gauge { value: i as f64 }))
        .collect();
    let batch = TenantBatch { tenant: t.clone(), spans, logs, metrics: points };
    assert_eq!(batch.items(), 50_000);
    let summary = st.write(&[batch]).await.unwrap();
    assert_eq!((summary.spans, summary.logs, summary.metric_points), (25_000, 20_000, 5_000));
    let c = st.counts(t).await.unwrap();
    assert_eq!((c.traces, c.spans, c.logs, c.metric_points), (2_500, 25_000, 20_000, 5_000));
    assert_eq!(st.get_trace(t, &tid16(1_234)).await.unwrap().unwrap().summary.span_count, 10);
}

/// Services, their operations and the metrics each reports are listed per tenant, sorted, within
/// a time window, bounded by a limit; and they leave with the data that named them.
pub async fn services_operations_and_metric_names_are_catalogued(st: &dyn Storage) {
    use crate::storage::{RetentionTarget, StorageError};
    use otelcontext_domain::PointValue;
    const HOUR: i64 = 3_600_000_000_000;
    let (a, b) = (tenant("a"), tenant("b"));
    let gauge = |name: &str, service: &str, at: i64| point(name, service, at, PointValue::Gauge { value: 1.0 });
    // a: api serves GET /a at 0 h and POST /b at 5 h, db answers query at 0 h; api reports cpu,
    // db reports mem. b: other / x, and b_only.
    let spans = vec![
        plain_span(tid(1), 1, None, "api", "GET /a", 0, 10),
        plain_span(tid(1), 2, Some(1), "db", "query", 1, 5),
        plain_span(tid(2), 1, None, "api", "POST /b", 5 * HOUR, 5 * HOUR + 10),
        plain_span(tid(2), 2, Some(1), "api", "GET /a", 5 * HOUR + 1, 5 * HOUR + 2),
    ];
    let metrics = vec![gauge("cpu", "api", 0), gauge("cpu", "api", 5 * HOUR), gauge("mem", "db", 0)];
    write(st, vec![TenantBatch { tenant: a.clone(), spans, logs: vec![], metrics }]).await;
    let other = vec![plain_span(tid(1), 1, None, "other", "x", 0, 10)];
    write(
        st,
        vec![TenantBatch { tenant: b.clone(), spans: other, logs: vec![], metrics: vec![gauge("b_only", "other", 0)] }],
    )
    .await;

    let all = TimeRange::default();
    let strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(st.services(&a, all, 100).await.unwrap(), strings(&["api", "db"]));
    assert_eq!(st.services(&b, all, 100).await.unwrap(), strings(&["other"]));
    assert_eq!(st.services(&a, all, 1).await.unwrap(), strings(&["api"]), "limit");
    assert_eq!(st.operations(&a, "api", all, 100).await.unwrap(), strings(&["GET /a", "POST /b"]));
    assert_eq!(st.operations(&a, "other", all, 100).await.unwrap(), Vec::<String>::new(), "b's service is not a's");
    assert_eq!(st.metric_names(&a, None, all, 100).await.unwrap(), strings(&["cpu", "mem"]));
    assert_eq!(st.metric_names(&a, Some("db"), all, 100).await.unwrap(), strings(&["mem"]));
    assert_eq!(st.metric_names(&b, None, all, 100).await.unwrap(), strings(&["b_only"]));

    // From 3 h to 7 h: only what was seen at 5 h.
    let late = TimeRange::between(T0 + 3 * HOUR, T0 + 7 * HOUR);
    assert_eq!(st.services(&a, late, 100).await.unwrap(), strings(&["api"]));
    assert_eq!(st.operations(&a, "api", late, 100).await.unwrap(), strings(&["GET /a", "POST /b"]));
    assert_eq!(st.metric_names(&a, None, late, 100).await.unwrap(), strings(&["cpu"]));
    // Up to 2 h: what was seen at 0 h.
    let early = TimeRange { start_ns: None, end_ns: Some(T0 + 2 * HOUR) };
    assert_eq!(st.operations(&a, "api", early, 100).await.unwrap(), strings(&["GET /a"]));

    for bad in [st.services(&a, all, 0).await, st.operations(&a, "api", TimeRange::between(2, 1), 10).await] {
        assert!(matches!(bad, Err(StorageError::InvalidArgument(_))), "{bad:?}");
    }
    assert!(matches!(st.metric_names(&a, None, all, 10_001).await, Err(StorageError::InvalidArgument(_))));

    // Retention of traces and points older than 3 h takes what only they named.
    for target in [RetentionTarget::Traces, RetentionTarget::MetricPoints] {
        while st.purge(target, T0 + 3 * HOUR, 100).await.unwrap() > 0 {}
    }
    assert_eq!(st.services(&a, all, 100).await.unwrap(), strings(&["api"]));
    assert_eq!(st.operations(&a, "api", all, 100).await.unwrap(), strings(&["GET /a", "POST /b"]));
    assert_eq!(st.metric_names(&a, None, all, 100).await.unwrap(), strings(&["cpu"]));
    assert_eq!(st.services(&b, all, 100).await.unwrap(), Vec::<String>::new());
}

/// Each reported percentile is the midpoint of the sketch bucket holding the exact value.
fn assert_in_buckets(got: &[i64], exact: &[i64]) {
    use otelcontext_domain::dashboard::{bucket_of, representative};
    let want: Vec<i64> = exact.iter().map(|&d| representative(bucket_of(d))).collect();
    assert_eq!(got, want, "exact values {exact:?}");
}

/// Dashboard aggregates are exact counts: totals, nearest-rank percentiles over every trace (to
/// within the sketch's 1/128), the most failing root services, log counts, traffic per step and
/// the latency heat map, each inside the window, the services and the tenant asked about.
pub async fn trace_aggregates_are_exact(st: &dyn Storage) {
    use crate::storage::{FailingService, HeatCell, SeriesQuery, TraceStatsQuery, TrafficPoint, latency_row};
    use otelcontext_domain::StatusCode;
    let t = &tenant("acme");
    let ms = 1_000_000;
    // 201 traces, one a second: trace i lasts (i + 1) ms; roots cycle a, b, c; every 4th of b
    // and every 10th of c failed.
    let mut spans = Vec::new();
    for i in 0..201i64 {
        let service = ["a", "b", "c"][(i % 3) as usize];
        let mut span =
            plain_span(tid16(i as u16 + 1), 1, None, service, "op", i * 1_000 * ms, i * 1_000 * ms + (i + 1) * ms);
        let failed = (service == "b" && i % 4 == 1) || (service == "c" && i % 10 == 5);
        if failed {
            span.status.code = StatusCode::Error;
        }
        spans.push(span);
    }
    write(st, spans_batch(t, spans)).await;
    // A trace of another tenant in the window changes nothing.
    write(st, spans_batch(&tenant("other"), vec![plain_span(tid(9), 1, None, "a", "op", 0, 500 * 1_000 * ms)])).await;
    write(st, logs_batch(t, (0..7).map(|n| text_log(n * 1_000 * ms, if n < 4 { "a" } else { "b" }, "line")).collect()))
        .await;
    let q = TraceStatsQuery { start_ns: T0, end_ns: T0 + 200_000 * ms, services: vec![] };
    let stats = st.trace_stats(t, &q).await.unwrap();
    assert_eq!((stats.traces, stats.services, stats.logs), (201, 3, 7));
    // b: i ≡ 1 (mod 3) and i ≡ 1 (mod 4), i.e. i ≡ 1 (mod 12): 17 of 201; c: i ≡ 2 (mod 3) and
    // i ≡ 5 (mod 10), i.e. i ≡ 5 (mod 30): 7.
    assert_eq!(stats.errors, 24);
    assert_in_buckets(&stats.percentiles_ns, &[101 * ms, 191 * ms, 199 * ms]);
    assert!((stats.mean_duration_ns.unwrap() - 101.0 * ms as f64).abs() < 1.0, "{:?}", stats.mean_duration_ns);
    assert_eq!(
        stats.top_failing,
        vec![
            FailingService { service: "b".into(), errors: 17, traces: 67 },
            FailingService { service: "c".into(), errors: 7, traces: 67 },
        ]
    );
    // Only c, first 30 seconds: traces 2, 5, …, 29 (10 traces, 5 failed), no log.
    let c = TraceStatsQuery { start_ns: T0, end_ns: T0 + 29_999 * ms, services: vec!["c".into()] };
    let stats = st.trace_stats(t, &c).await.unwrap();
    assert_eq!((stats.traces, stats.errors, stats.services, stats.logs), (10, 1, 1, 0));
    assert_in_buckets(&stats.percentiles_ns, &[15 * ms, 30 * ms, 30 * ms]);
    let empty = TraceStatsQuery { start_ns: T0 - 10, end_ns: T0 - 1, services: vec![] };
    let stats = st.trace_stats(t, &empty).await.unwrap();
    assert_eq!((stats.traces, stats.mean_duration_ns, stats.percentiles_ns.len()), (0, None, 0));
    assert!(stats.top_failing.is_empty());

    // Steps of a minute from T0 + 30 s: traces 30..=89, 90..=149, 150..=200.
    let series = SeriesQuery {
        rows: TraceStatsQuery { start_ns: T0 + 30_000 * ms, end_ns: T0 + 300_000 * ms, services: vec!["b".into()] },
        step_ns: 60_000 * ms,
    };
    let traffic = st.traffic(t, &series).await.unwrap();
    let b_in = |lo: i64, hi: i64| (lo..=hi).filter(|i| i % 3 == 1);
    let want: Vec<TrafficPoint> = [(30, 89), (90, 149), (150, 200)]
        .iter()
        .enumerate()
        .map(|(k, &(lo, hi))| TrafficPoint {
            start_ns: T0 + (30 + 60 * k as i64) * 1_000 * ms,
            traces: b_in(lo, hi).count() as u64,
            errors: b_in(lo, hi).filter(|i| i % 4 == 1).count() as u64,
        })
        .collect();
    assert_eq!(traffic, want);
    let heat = st.latency_heatmap(t, &series).await.unwrap();
    let mut want: Vec<HeatCell> = Vec::new();
    for (k, &(lo, hi)) in [(30, 89), (90, 149), (150, 200)].iter().enumerate() {
        for i in b_in(lo, hi) {
            let (start_ns, row) = (T0 + (30 + 60 * k as i64) * 1_000 * ms, latency_row((i + 1) * ms));
            match want.last_mut() {
                Some(c) if c.start_ns == start_ns && c.row == row => c.traces += 1,
                _ => want.push(HeatCell { start_ns, row, traces: 1 }),
            }
        }
    }
    assert_eq!(heat, want);
    assert_eq!(heat.iter().map(|c| c.traces).sum::<u64>(), traffic.iter().map(|p| p.traces).sum::<u64>());

    // Bad arguments are refused.
    let too_fine = SeriesQuery { step_ns: 1, ..series.clone() };
    assert!(matches!(st.traffic(t, &too_fine).await, Err(crate::StorageError::InvalidArgument(_))));
    let backwards = TraceStatsQuery { start_ns: T0, end_ns: T0 - 1, services: vec![] };
    assert!(matches!(st.trace_stats(t, &backwards).await, Err(crate::StorageError::InvalidArgument(_))));
}

/// The dashboard (and traffic) follows every change of a trace row — a late root that moves its start to an
/// earlier minute and changes its root service, a late failure, resent spans — and every purge,
/// whether the window is cut at minute boundaries or not: it always equals the reference computed
/// from the trace rows and log records stored at that moment.
pub async fn dashboard_follows_late_spans_resends_and_purges(st: &dyn Storage) {
    use crate::storage::{RetentionTarget, SeriesQuery, TraceStatsQuery};
    let t = &tenant("roll");
    let sec = 1_000_000_000i64;
    // Many traces over five minutes: trace i starts at i·1.5 s and lasts (i² mod 997 + 1) ms.
    let mut spans = Vec::new();
    for i in 0..200i64 {
        let service = ["front", "api", "db"][(i % 3) as usize];
        let start = i * 3 * sec / 2;
        let mut span =
            plain_span(tid16(i as u16 + 1), 1, None, service, "op", start, start + (i * i % 997 + 1) * 1_000_000);
        if i % 7 == 0 {
            span.status.code = StatusCode::Error;
        }
        spans.push(span);
    }
    write(st, spans_batch(t, spans.clone())).await;
    // A child arrives before its root: the trace is counted under the child's service and minute.
    let late = tid16(1_000);
    write(st, spans_batch(t, vec![plain_span(late, 2, Some(1), "worker", "job", 90 * sec, 95 * sec)])).await;
    // Its root, a minute earlier and failed: the trace moves to the root's minute and service.
    let mut root = plain_span(late, 1, None, "front", "GET /", 50 * sec, 100 * sec);
    root.status.code = StatusCode::Error;
    write(st, spans_batch(t, vec![root])).await;
    // A late failure of an existing trace, and spans sent again, change nothing else.
    let mut failed = plain_span(tid16(2), 5, Some(1), "api", "call", 2 * sec, 3 * sec);
    failed.status.code = StatusCode::Error;
    write(st, spans_batch(t, vec![failed])).await;
    write(st, spans_batch(t, spans[..50].to_vec())).await;
    let logs: Vec<i64> = (0..90).map(|n| n * 3 * sec + n).collect();
    write(
        st,
        logs_batch(t, logs.iter().map(|&at| text_log(at, if at % 2 == 0 { "api" } else { "db" }, "x")).collect()),
    )
    .await;
    // Another tenant's rows never count.
    write(st, spans_batch(&tenant("other"), vec![plain_span(tid(1), 1, None, "front", "op", 0, 40 * sec)])).await;

    let check = |logs: Vec<i64>| async move {
        let stored = st
            .search_traces(t, &crate::storage::TraceQuery { limit: 1_000, ..crate::storage::TraceQuery::default() })
            .await
            .unwrap()
            .items;
        for (from, to, services) in [
            (0, 400 * sec, vec![]),
            (0, 60 * sec - 1, vec![]),
            (30 * sec + 7, 200 * sec + 3, vec![]),
            (59 * sec, 61 * sec, vec![]),
            (10 * sec, 299 * sec, vec!["front".to_owned(), "db".to_owned()]),
        ] {
            let q = TraceStatsQuery { start_ns: T0 + from, end_ns: T0 + to, services };
            let in_window = logs
                .iter()
                .filter(|&&at| {
                    let service = if at % 2 == 0 { "api" } else { "db" };
                    (from..=to).contains(&at) && (q.services.is_empty() || q.services.iter().any(|s| s == service))
                })
                .count() as u64;
            let want = q.stats_of(stored.iter(), in_window);
            assert_eq!(st.trace_stats(t, &q).await.unwrap(), want, "window {from}..={to} {:?}", q.services);
        }
        // Traffic, in steps of whole minutes from a minute (rollups) and otherwise (rows).
        for (from, to, step) in [
            (0, 400 * sec, 60 * sec),
            (0, 250 * sec + 7, 60 * sec),
            (60 * sec, 299 * sec + 1, 120 * sec),
            (30 * sec, 330 * sec, 60 * sec),
        ] {
            for services in [vec![], vec!["api".to_owned()]] {
                let series = SeriesQuery {
                    rows: TraceStatsQuery { start_ns: T0 + from, end_ns: T0 + to, services },
                    step_ns: step,
                };
                assert_eq!(st.traffic(t, &series).await.unwrap(), series.traffic_of(stored.iter()), "{series:?}");
            }
        }
        stored.len()
    };
    assert_eq!(check(logs.clone()).await, 201);
    let whole = TraceStatsQuery { start_ns: T0, end_ns: T0 + 400 * sec, services: vec![] };
    let stats = st.trace_stats(t, &whole).await.unwrap();
    assert_eq!((stats.traces, stats.services), (201, 3), "worker is no root service any more");

    // Purges cut through a minute; the dashboard loses exactly the purged rows.
    let cutoff = T0 + 65 * sec + 500_000_000;
    while st.purge(RetentionTarget::Traces, cutoff, 7).await.unwrap() > 0 {}
    while st.purge_tenant(t, RetentionTarget::Logs, cutoff, 5).await.unwrap() > 0 {}
    let kept: Vec<i64> = logs.into_iter().filter(|&at| T0 + at >= cutoff).collect();
    let left = check(kept).await;
    assert!(left > 0 && left < 201, "{left}");
}
