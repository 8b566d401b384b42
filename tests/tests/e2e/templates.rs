//! Log templates end to end: every log sent over OTLP is stored with the id of its Drain
//! template; templates persist at shutdown and their ids and counts continue after a restart.
//! Real Loghub lines are sent too when `../shared/data/loghub-2k` is present.

use crate::payloads::*;
use otelcontext_domain::{TemplateId, TenantId};
use otelcontext_e2e::{Backend, TestServer, open_sqlite, test_config};
use otelcontext_ports::{LogQuery, TemplateQuery};
use std::collections::HashMap;

const SHAPES: [&str; 3] = [
    "Checkout of cart {n} completed in {n}ms for /users/{n}/cart",
    "PacketResponder {n} for block blk_-{n}2295868487656571 terminating",
    "Failed password for invalid user admin from 10.0.0.{n} port {n}4106 ssh2",
];

fn lines(per_shape: u64) -> Vec<(usize, String)> {
    (0..per_shape)
        .flat_map(|n| SHAPES.iter().enumerate().map(move |(i, s)| (i, s.replace("{n}", &n.to_string()))))
        .collect()
}

/// Loghub `Content` lines with their ground-truth event, when the data is here.
fn loghub_lines() -> Vec<(String, String)> {
    let path =
        concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/data/loghub-2k/HDFS/HDFS_2k.log_structured_corrected.csv");
    let Ok(text) = std::fs::read_to_string(path) else {
        eprintln!("{path} is absent: sending only the built-in lines");
        return Vec::new();
    };
    // Columns: LineId,Date,Time,Pid,Level,Component,Content,EventId,EventTemplate (no quotes in HDFS).
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (f.len() >= 9).then(|| (f[6..f.len() - 2].join(","), f[f.len() - 2].to_owned()))
        })
        .collect()
}

async fn send(s: &TestServer, bodies: &[String], first: u64) {
    for (k, chunk) in bodies.chunks(200).enumerate() {
        let records = chunk.iter().enumerate().map(|(i, b)| log_record(first + (k * 200 + i) as u64, 9, b)).collect();
        assert_eq!(post_proto(s, "/v1/logs", &logs("hdfs", records), &[]).await.status, 200);
    }
}

async fn stored_ids(s: &TestServer) -> HashMap<String, Option<TemplateId>> {
    let page = s.storage.search_logs(&TenantId::parse("default").unwrap(), &LogQuery::recent(1000)).await.unwrap();
    page.items.into_iter().map(|l| (l.record.body_text(), l.record.template_id)).collect()
}

otelcontext_e2e::on_both_databases!(2, every_stored_log_carries_its_template_id);

async fn every_stored_log_carries_its_template_id(backend: Backend) {
    let Some(s) = TestServer::on(backend).await else { return };
    let sent = lines(20);
    let bodies: Vec<String> = sent.iter().map(|(_, b)| b.clone()).collect();
    send(&s, &bodies, 0).await;
    s.wait_for("default", |c| c.logs == 60).await;
    let ids = stored_ids(&s).await;
    let mut by_shape: HashMap<usize, Vec<Option<TemplateId>>> = HashMap::new();
    for (shape, body) in &sent {
        by_shape.entry(*shape).or_default().push(ids[body]);
    }
    let per_shape: Vec<TemplateId> = (0..SHAPES.len())
        .map(|i| {
            let v = &by_shape[&i];
            assert!(v.iter().all(|id| id.is_some() && *id == v[0]), "shape {i}: {v:?}");
            v[0].unwrap()
        })
        .collect();
    let mut distinct = per_shape.clone();
    distinct.dedup();
    assert_eq!(distinct.len(), 3, "three shapes, three templates");
    // A log of one shape is found by its template id through the API.
    let (status, body) = s.get_json(&format!("/api/logs?template_id={}&limit=100", per_shape[1]), None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["logs"].as_array().unwrap().len(), 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn templates_persist_and_continue_across_a_restart_and_loghub_lines_group_like_the_truth() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("otelcontext.db");
    let mut s = TestServer::start_on(test_config(), open_sqlite(&db).await).await;
    let bodies: Vec<String> = lines(5).into_iter().map(|(_, b)| b).collect();
    send(&s, &bodies, 0).await;
    s.wait_for("default", |c| c.logs == 15).await;
    let before = stored_ids(&s).await;
    s.shutdown().await;
    let tenant = TenantId::parse("default").unwrap();
    let storage = open_sqlite(&db).await;
    let stored = storage.list_templates(&tenant).await.unwrap();
    assert_eq!(stored.len(), 3, "{stored:?}");
    assert!(stored.iter().all(|t| t.count == 5), "{stored:?}");
    storage.close().await;

    let mut s = TestServer::start_on(test_config(), open_sqlite(&db).await).await;
    let again = SHAPES[0].replace("{n}", "77");
    send(&s, std::slice::from_ref(&again), 100).await;
    s.wait_for("default", |c| c.logs == 16).await;
    let after = stored_ids(&s).await;
    assert_eq!(after[&again], before[&SHAPES[0].replace("{n}", "0")], "the id survives the restart");

    // Real lines: a template per ground-truth event (HDFS lines group exactly, see docs/benchmarks.md).
    let loghub = loghub_lines();
    if !loghub.is_empty() {
        let bodies: Vec<String> = loghub.iter().map(|(c, _)| c.clone()).collect();
        send(&s, &bodies[..500], 1000).await;
        s.wait_for("default", |c| c.logs == 516).await;
        let page = s.storage.search_logs(&tenant, &LogQuery::recent(1000)).await.unwrap();
        let ids: HashMap<String, TemplateId> = page
            .items
            .iter()
            .map(|l| (l.record.body_text(), l.record.template_id.expect("every log has one")))
            .collect();
        let mut event_of: HashMap<TemplateId, &str> = HashMap::new();
        for (content, event) in &loghub[..500] {
            let id = ids[content];
            assert_eq!(*event_of.entry(id).or_insert(event), event.as_str(), "template {id} mixes events");
        }
    }
    s.shutdown().await;
    let storage = open_sqlite(&db).await;
    let restarted = storage.list_templates(&tenant).await.unwrap();
    let first = restarted.iter().find(|t| Some(t.id) == before[&SHAPES[0].replace("{n}", "0")]).unwrap();
    assert_eq!(first.count, 6, "the count continues");
    // The same templates read back as patterns through the port: every record counted once, in
    // its service, at its level.
    let q = TemplateQuery { service: Some("hdfs".into()), limit: 1_000, ..Default::default() };
    let patterns = storage.search_templates(&tenant, &q).await.unwrap().items;
    let sent = if loghub.is_empty() { 16 } else { 516 };
    assert_eq!(patterns.iter().map(|t| t.count).sum::<u64>(), sent);
    assert!(patterns.iter().all(|t| t.services == ["hdfs"] && t.severities.info == t.count), "{patterns:?}");
    assert!(patterns.windows(2).all(|w| w[0].count >= w[1].count), "most records first");
    storage.close().await;
}
