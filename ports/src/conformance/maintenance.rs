//! Conformance cases of [`crate::Maintenance`], and tenant isolation across every read.

use super::fixtures::*;
use crate::storage::{
    BucketQuery, Cursor, InvestigationQuery, LogQuery, MetricQuery, RetentionTarget, SnapshotQuery, SpanQuery, Storage,
    StorageError, TenantBatch, TimeRange, TraceQuery,
};
use otelcontext_domain::bucket::BUCKET_WIDTH_NS;
use otelcontext_domain::search::TextQuery;
use otelcontext_domain::{
    Attributes, BucketHistogram, GraphSnapshot, Investigation, InvestigationSeverity, InvestigationStatus, LogTemplate,
    MetricBucket, StatusCode, TemplateId, TenantId,
};
use serde_json::json;

fn bucket_at(start_ns: i64) -> MetricBucket {
    MetricBucket {
        name: "m".into(),
        service: "svc".into(),
        attributes: Attributes::new(),
        start_ns,
        width_ns: BUCKET_WIDTH_NS,
        count: 1,
        sum: 1.0,
        min: 1.0,
        max: 1.0,
        last: 1.0,
        last_ns: start_ns,
        histogram: BucketHistogram::None,
    }
}

fn snapshot(id: &str, created_ns: i64) -> GraphSnapshot {
    GraphSnapshot {
        id: id.into(),
        created_ns,
        service_count: 1,
        edge_count: 0,
        total_calls: 1,
        avg_health_score: 1.0,
        graph: json!({}),
    }
}

/// Writes one of everything for tenant `a`.
async fn write_everything(st: &dyn Storage, a: &TenantId) {
    write(
        st,
        vec![TenantBatch {
            tenant: a.clone(),
            spans: trace_spans(),
            logs: vec![log(1, "svc", Some(s("hello world")), Some((1, 1)), 9)],
            metrics: every_kind_of_point(),
        }],
    )
    .await;
    st.write_buckets(a, &[bucket_at(T0)]).await.unwrap();
    let tpl = LogTemplate {
        id: TemplateId(9),
        template: "hello <*>".into(),
        count: 1,
        first_seen_ns: T0,
        last_seen_ns: T0,
        sample: "hello world".into(),
        service: "svc".into(),
        ..LogTemplate::default()
    };
    st.upsert_templates(a, &[tpl]).await.unwrap();
    let inv = Investigation {
        id: "inv_1".into(),
        created_ns: T0,
        updated_ns: T0,
        status: InvestigationStatus::Detected,
        severity: InvestigationSeverity::Critical,
        kind: "error_rate_spike".into(),
        trigger_service: "svc".into(),
        trigger_operation: "op".into(),
        root_service: "svc".into(),
        root_operation: "op".into(),
        summary: "s".into(),
        evidence: json!({}),
    };
    st.save_investigation(a, &inv).await.unwrap();
    st.save_snapshot(a, &snapshot("snap_1", T0)).await.unwrap();
}

/// Nothing written for one tenant is visible to another, through any read.
pub async fn tenants_never_see_each_others_data(st: &dyn Storage) {
    let (a, b) = (tenant("a"), tenant("b"));
    write_everything(st, &a).await;
    let text = TextQuery::parse("hello").unwrap();
    assert!(st.get_trace(&b, &tid(1)).await.unwrap().is_none());
    assert!(st.search_traces(&b, &TraceQuery { limit: 10, ..Default::default() }).await.unwrap().items.is_empty());
    assert!(st.search_spans(&b, &SpanQuery { limit: 10, ..Default::default() }).await.unwrap().items.is_empty());
    assert!(st.search_logs(&b, &LogQuery::recent(10)).await.unwrap().items.is_empty());
    assert!(
        st.search_logs(&b, &LogQuery { text: text.clone(), ..LogQuery::recent(10) }).await.unwrap().items.is_empty()
    );
    assert!(
        st.search_metric_points(&b, &MetricQuery { limit: 10, ..Default::default() }).await.unwrap().items.is_empty()
    );
    assert!(st.search_buckets(&b, &BucketQuery { limit: 10, ..Default::default() }).await.unwrap().items.is_empty());
    assert!(st.list_templates(&b).await.unwrap().is_empty());
    assert!(st.get_template(&b, TemplateId(9)).await.unwrap().is_none());
    assert!(st.get_investigation(&b, "inv_1").await.unwrap().is_none());
    assert!(
        st.search_investigations(&b, &InvestigationQuery { limit: 10, ..Default::default() })
            .await
            .unwrap()
            .items
            .is_empty()
    );
    assert!(st.get_snapshot(&b, "snap_1").await.unwrap().is_none());
    assert!(
        st.search_snapshots(&b, &SnapshotQuery { limit: 10, ..Default::default() }).await.unwrap().items.is_empty()
    );
    assert_eq!(st.counts(&b).await.unwrap(), Default::default());
    // …while tenant a sees all of it.
    assert!(st.get_trace(&a, &tid(1)).await.unwrap().is_some());
    assert_eq!(st.search_logs(&a, &LogQuery { text, ..LogQuery::recent(10) }).await.unwrap().items.len(), 1);
    assert_eq!(st.search_spans(&a, &SpanQuery { limit: 10, ..Default::default() }).await.unwrap().items.len(), 3);
}

/// Counts cover traces, spans, logs, points and error traces of one tenant.
pub async fn counts_are_per_tenant(st: &dyn Storage) {
    let t = &tenant("acme");
    let mut spans = trace_spans();
    spans.push(rich_span(2, 1, None, "frontend", 0, 10, StatusCode::Ok));
    write(
        st,
        vec![TenantBatch {
            tenant: t.clone(),
            spans,
            logs: vec![text_log(1, "x", "a"), text_log(2, "x", "b")],
            metrics: every_kind_of_point(),
        }],
    )
    .await;
    let c = st.counts(t).await.unwrap();
    assert_eq!((c.traces, c.spans, c.logs, c.metric_points, c.error_traces), (2, 4, 2, 6, 1));
}

/// `tenants` names every tenant that wrote something.
pub async fn tenants_lists_every_tenant_with_data(st: &dyn Storage) {
    write(st, spans_batch(&tenant("t-spans"), trace_spans())).await;
    write(st, logs_batch(&tenant("t-logs"), vec![text_log(1, "x", "a")])).await;
    write(st, metrics_batch(&tenant("t.metrics"), every_kind_of_point())).await;
    let mut got: Vec<String> = st.tenants().await.unwrap().iter().map(|t| t.to_string()).collect();
    got.sort();
    assert_eq!(got, vec!["t-logs", "t-spans", "t.metrics"]);
}

/// Purging deletes, across tenants and in batches of at most the given size, exactly the
/// records older than the cutoff; a trace goes with its spans.
pub async fn retention_purges_only_older_records_in_batches(st: &dyn Storage) {
    let (a, b) = (tenant("a"), tenant("b"));
    let cutoff = T0 + 1_000_000;
    for t in [&a, &b] {
        let mut spans = Vec::new();
        for n in 0..6u16 {
            let start = if n < 4 { 0 } else { 2_000_000 };
            spans.push(plain_span(tid16(n), 1, None, "svc", "op", start, start + 10));
            spans.push(plain_span(tid16(n), 2, Some(1), "svc", "op", start + 1, start + 5));
        }
        let logs: Vec<_> =
            (0..10).map(|i| text_log(if i < 7 { i } else { 2_000_000 + i }, "svc", &format!("l{i}"))).collect();
        let points: Vec<_> = (0..5)
            .map(|i| {
                point(
                    "g",
                    "svc",
                    if i < 3 { i } else { 2_000_000 + i },
                    otelcontext_domain::PointValue::Gauge { value: 1.0 },
                )
            })
            .collect();
        write(st, vec![TenantBatch { tenant: t.clone(), spans, logs, metrics: points }]).await;
        st.write_buckets(t, &[bucket_at(T0), bucket_at(T0 + 2_000_000_000_000)]).await.unwrap();
        st.save_snapshot(t, &snapshot("old", T0)).await.unwrap();
        st.save_snapshot(t, &snapshot("new", cutoff + 1)).await.unwrap();
    }
    let expected_old = [
        (RetentionTarget::Logs, 14),
        (RetentionTarget::Traces, 8),
        (RetentionTarget::MetricPoints, 6),
        (RetentionTarget::MetricBuckets, 2),
        (RetentionTarget::GraphSnapshots, 2),
    ];
    for (target, old) in expected_old {
        assert_eq!(st.count_older_than(target, cutoff).await.unwrap(), old, "{target:?} before");
        let mut deleted = 0;
        loop {
            let n = st.purge(target, cutoff, 3).await.unwrap();
            assert!(n <= 3, "{target:?}: batch of {n} exceeds 3");
            deleted += n;
            if n == 0 {
                break;
            }
        }
        assert_eq!(deleted, old, "{target:?} deleted");
        assert_eq!(st.count_older_than(target, cutoff).await.unwrap(), 0, "{target:?} after");
    }
    for t in [&a, &b] {
        let c = st.counts(t).await.unwrap();
        assert_eq!((c.traces, c.spans, c.logs, c.metric_points), (2, 4, 3, 2), "{t}");
        assert!(st.get_trace(t, &tid16(0)).await.unwrap().is_none());
        assert_eq!(st.get_trace(t, &tid16(5)).await.unwrap().unwrap().spans.len(), 2);
        let spans = st.search_spans(t, &SpanQuery { limit: 100, ..Default::default() }).await.unwrap();
        assert_eq!(spans.items.len(), 4, "spans went with their traces");
        assert_eq!(
            st.search_buckets(t, &BucketQuery { limit: 10, ..Default::default() }).await.unwrap().items.len(),
            1
        );
        assert!(st.get_snapshot(t, "old").await.unwrap().is_none());
        assert!(st.get_snapshot(t, "new").await.unwrap().is_some());
    }
    let logs =
        st.search_logs(&a, &LogQuery { text: TextQuery::parse("l8").unwrap(), ..LogQuery::recent(10) }).await.unwrap();
    assert_eq!(logs.items.len(), 1, "full-text index follows deletes");
    let purged =
        st.search_logs(&a, &LogQuery { text: TextQuery::parse("l1").unwrap(), ..LogQuery::recent(10) }).await.unwrap();
    assert!(purged.items.is_empty(), "purged logs are not found by text");
}

/// Zero limits, reversed ranges and cursors of the wrong kind are `InvalidArgument`.
pub async fn invalid_queries_are_invalid_arguments(st: &dyn Storage) {
    let t = &tenant("acme");
    let invalid = |r: Result<(), StorageError>| matches!(r, Err(StorageError::InvalidArgument(_)));
    let reversed = TimeRange::between(T0 + 10, T0);
    assert!(invalid(st.search_logs(t, &LogQuery::recent(0)).await.map(drop)));
    assert!(invalid(st.search_logs(t, &LogQuery { time: reversed, ..LogQuery::recent(5) }).await.map(drop)));
    assert!(invalid(st.search_traces(t, &TraceQuery::default()).await.map(drop)));
    assert!(invalid(
        st.search_traces(t, &TraceQuery { limit: 5, cursor: Some(Cursor::Skip(2)), ..Default::default() })
            .await
            .map(drop)
    ));
    assert!(invalid(st.search_spans(t, &SpanQuery { limit: 5, time: reversed, ..Default::default() }).await.map(drop)));
    assert!(invalid(st.search_metric_points(t, &MetricQuery::default()).await.map(drop)));
    assert!(invalid(st.search_buckets(t, &BucketQuery::default()).await.map(drop)));
    assert!(invalid(st.search_investigations(t, &InvestigationQuery::default()).await.map(drop)));
    assert!(invalid(st.search_templates(t, &crate::storage::TemplateQuery::default()).await.map(drop)));
    assert!(invalid(
        st.search_templates(
            t,
            &crate::storage::TemplateQuery { limit: 5, cursor: Some(Cursor::Skip(1)), ..Default::default() }
        )
        .await
        .map(drop)
    ));
    assert!(invalid(
        st.search_snapshots(t, &SnapshotQuery { limit: 1, time: reversed, ..Default::default() }).await.map(drop)
    ));
}

/// Maintenance runs on a database with data and the status names the backend.
pub async fn optimize_and_status_answer(st: &dyn Storage) {
    write_everything(st, &tenant("a")).await;
    st.optimize().await.unwrap();
    let status = st.status().await.unwrap();
    assert_eq!(status.backend, st.backend());
    assert!(st.search_logs(&tenant("a"), &LogQuery::recent(1)).await.unwrap().items.len() == 1);
}

/// Writing nothing succeeds and changes nothing.
pub async fn empty_write_is_a_no_op(st: &dyn Storage) {
    assert_eq!(st.write(&[]).await.unwrap(), Default::default());
    assert_eq!(st.write(&[TenantBatch::new(tenant("acme"))]).await.unwrap(), Default::default());
    st.write_buckets(&tenant("acme"), &[]).await.unwrap();
    st.upsert_templates(&tenant("acme"), &[]).await.unwrap();
    assert!(st.tenants().await.unwrap().is_empty());
}

/// A healthy storage answers a ping.
pub async fn ping_answers(st: &dyn Storage) {
    st.ping().await.unwrap();
}

/// A tenant purge empties every table of that tenant older than the cutoff, in batches, and
/// touches no other tenant: traces with their spans, logs (and their full text), metric points
/// and buckets, catalogued names, templates, investigations and snapshots.
pub async fn tenant_purge_empties_every_table_of_one_tenant_only(st: &dyn Storage) {
    let (a, b) = (tenant("a"), tenant("b"));
    let later = T0 + 5_000_000;
    for t in [&a, &b] {
        let spans = (0..3u16).map(|n| plain_span(tid16(n), 1, None, "svc", "op", 0, 10)).collect();
        let logs = (0..4).map(|i| text_log(i, "svc", &format!("word{i}"))).collect();
        let metrics = vec![point("g", "svc", 0, otelcontext_domain::PointValue::Gauge { value: 1.0 })];
        write(st, vec![TenantBatch { tenant: t.clone(), spans, logs, metrics }]).await;
        st.write_buckets(t, &[bucket_at(T0)]).await.unwrap();
        st.save_snapshot(t, &snapshot("s", T0)).await.unwrap();
        st.save_snapshot(t, &snapshot("kept", later + 1)).await.unwrap();
        let template = LogTemplate {
            id: TemplateId(7),
            template: "word <*>".into(),
            count: 4,
            first_seen_ns: T0,
            last_seen_ns: T0 + 3,
            sample: "word0".into(),
            service: "svc".into(),
            services: vec!["svc".into()],
            ..LogTemplate::default()
        };
        st.upsert_templates(t, &[template]).await.unwrap();
        let inv =
            super::intelligence::investigation(0, "svc", InvestigationStatus::Detected, InvestigationSeverity::Warning);
        st.save_investigation(t, &inv).await.unwrap();
    }
    // The catalogue keeps names up to ten minutes behind their data: purge from well after.
    let cutoff = later + crate::storage::CATALOG_SLACK_NS;
    for target in RetentionTarget::ALL {
        loop {
            let n = st
                .purge_tenant(&a, target, if target == RetentionTarget::GraphSnapshots { later } else { cutoff }, 2)
                .await
                .unwrap();
            assert!(n <= 2, "{target:?}: a batch of {n}");
            if n == 0 {
                break;
            }
        }
    }
    let c = st.counts(&a).await.unwrap();
    assert_eq!((c.traces, c.spans, c.logs, c.metric_points), (0, 0, 0, 0));
    let all = TimeRange::default();
    assert!(st.services(&a, all, 10).await.unwrap().is_empty(), "catalogued services go");
    assert!(st.metric_names(&a, None, all, 10).await.unwrap().is_empty());
    assert!(st.search_buckets(&a, &BucketQuery { limit: 10, ..Default::default() }).await.unwrap().items.is_empty());
    assert!(st.list_templates(&a).await.unwrap().is_empty());
    assert!(st.get_investigation(&a, "inv_0000").await.unwrap().is_none());
    assert!(st.get_snapshot(&a, "s").await.unwrap().is_none());
    assert!(st.get_snapshot(&a, "kept").await.unwrap().is_some(), "newer than the cutoff");
    let text = LogQuery { text: TextQuery::parse("word1").unwrap(), ..LogQuery::recent(10) };
    assert!(st.search_logs(&a, &text).await.unwrap().items.is_empty());
    // Tenant b keeps everything.
    let c = st.counts(&b).await.unwrap();
    assert_eq!((c.traces, c.spans, c.logs, c.metric_points), (3, 3, 4, 1));
    assert_eq!(st.services(&b, all, 10).await.unwrap(), ["svc"]);
    assert_eq!(st.list_templates(&b).await.unwrap().len(), 1);
    assert!(st.get_investigation(&b, "inv_0000").await.unwrap().is_some());
    assert!(st.get_snapshot(&b, "s").await.unwrap().is_some());
    assert_eq!(st.search_logs(&b, &text).await.unwrap().items.len(), 1);
    assert!(matches!(
        st.purge_tenant(&a, RetentionTarget::Logs, cutoff, 0).await,
        Err(StorageError::InvalidArgument(_))
    ));
}
