use super::trace::{Call, Entry, Reached, SelfTime, TraceFacts};
use super::*;

const NOW: i64 = 1_700_000_000 * 1_000_000_000;
const MS: i64 = 1_000_000;
const HOUR: i64 = 3_600_000 * MS;

fn entry(
    service: &'static str,
    op: &'static str,
    instance: &'static str,
    duration_ms: i64,
    error: bool,
) -> Entry<'static> {
    Entry {
        service,
        operation: op,
        instance,
        end_ns: NOW - MS,
        duration_ns: duration_ms * MS,
        self_ns: duration_ms * MS / 2,
        error,
    }
}

fn call(
    from: &'static str,
    kind: NodeKind,
    to: &'static str,
    client_ms: i64,
    server_ms: Option<i64>,
    error: bool,
) -> Call<'static> {
    Call {
        caller: from,
        callee_kind: kind,
        callee: to,
        end_ns: NOW - MS,
        client_ns: client_ms * MS,
        server_ns: server_ms.map(|s| s * MS),
        error,
    }
}

fn facts(n: usize) -> TraceFacts<'static> {
    TraceFacts {
        trace_id: None,
        entries: vec![
            entry("frontend", "GET /", "frontend-0", 100, false),
            entry("api", "POST /orders", ["api-0", "api-1"][n % 2], 60, n.is_multiple_of(4)),
            entry("api-gateway", "route", "", 5, false),
        ],
        calls: vec![
            call("frontend", NodeKind::Service, "api", 90, Some(60), n.is_multiple_of(4)),
            call("api", NodeKind::Database, "postgresql:orders", 20, None, false),
        ],
        self_times: vec![SelfTime {
            service: "api",
            operation: "POST /orders",
            end_ns: NOW - MS,
            self_ns: 40 * MS,
            error: false,
        }],
        reached: Vec::new(),
    }
}

#[test]
fn the_map_shows_typed_nodes_and_edges_with_red_seen_from_both_sides() {
    let mut g = ServiceGraph::new(GraphLimits::default());
    for n in 0..8 {
        assert_eq!(g.apply(&facts(n), NOW), Dropped::default());
    }
    let map = g.service_map(NOW - HOUR, NOW);
    let names: Vec<(&str, NodeKind)> = map.nodes.iter().map(|n| (n.name.as_str(), n.kind)).collect();
    assert_eq!(
        names,
        [
            ("api", NodeKind::Service),
            ("api-gateway", NodeKind::Service),
            ("frontend", NodeKind::Service),
            ("postgresql:orders", NodeKind::Database)
        ],
        "services are matched exactly: api and api-gateway stay apart"
    );
    let api = &map.nodes[0];
    assert_eq!((api.red.calls, api.red.errors, api.instances, api.operations), (8, 2, 2, 1));
    let edge = map.edges.iter().find(|e| e.from == "frontend").unwrap();
    assert_eq!((edge.to.as_str(), edge.client.calls), ("api", 8));
    let server = edge.server.unwrap();
    assert!(edge.client.p50_ns > server.p50_ns, "the caller waits longer than the callee serves");
    let db = map.edges.iter().find(|e| e.to_kind == NodeKind::Database).unwrap();
    assert_eq!((db.from.as_str(), db.server), ("api", None));
    assert_eq!(g.node(NodeKind::Service, "api").unwrap().self_time.summary(NOW - HOUR, NOW).calls, 8);
    let key = |k: NodeKind, n: &str| (k, n.to_owned());
    let path =
        g.adjacency().shortest_path(&key(NodeKind::Service, "frontend"), &key(NodeKind::Database, "postgresql:orders"));
    assert_eq!(
        path.unwrap(),
        [
            key(NodeKind::Service, "frontend"),
            key(NodeKind::Service, "api"),
            key(NodeKind::Database, "postgresql:orders")
        ]
    );
}

#[test]
fn caps_hold_and_count_what_did_not_fit() {
    let limits = GraphLimits {
        max_nodes: 3,
        max_edges: 1,
        max_operations_per_service: 1,
        max_instances_per_service: 1,
        max_log_templates_per_service: 1,
        max_metric_series_per_service: 1,
        max_shapes_per_service: 1,
    };
    let mut g = ServiceGraph::new(limits);
    let mut total = Dropped::default();
    for n in 0..4 {
        let mut f = facts(n);
        f.entries.push(entry("api", ["op0", "op1", "op2", "op3"][n], "api-9", 1, false));
        // Every other request of api also calls the database: a second shape, over the cap.
        if n % 2 == 1 {
            f.reached.push(Reached { request: 0, kind: NodeKind::Database, callee: "postgresql:orders" });
        }
        let d = g.apply(&f, NOW);
        total.nodes += d.nodes;
        total.edges += d.edges;
        total.operations += d.operations;
        total.instances += d.instances;
        total.shapes += d.shapes;
    }
    assert_eq!((g.node_count(), g.edge_count()), (3, 1));
    assert!(total.nodes > 0 && total.operations > 0 && total.instances > 0, "{total:?}");
    assert_eq!((total.shapes, g.node(NodeKind::Service, "api").unwrap().shapes.len()), (2, 1));
    let api = g.node(NodeKind::Service, "api").unwrap();
    assert_eq!((api.operations.len(), api.instances.len()), (1, 1));
    let log = |service: &'static str, template: u64| LogFact {
        service: service.into(),
        time_ns: NOW - MS,
        template: TemplateId(template),
    };
    let d = g.apply_logs(&[log("api", 1), log("api", 1), log("api", 2), log("unknown", 1)], NOW);
    assert_eq!(d.log_templates, 1, "the second template of api did not fit");
    let api = g.node(NodeKind::Service, "api").unwrap();
    assert_eq!(api.error_logs.len(), 1);
    assert_eq!(api.error_logs[&TemplateId(1)].count(NOW - HOUR, NOW + 1), 2);
    assert!(g.node(NodeKind::Service, "unknown").is_none(), "the node cap is full");
    assert_eq!(d.nodes, 1);
    let gauge = |name: &str, value: f64| MetricFact {
        service: "api".into(),
        instance: String::new(),
        name: name.into(),
        time_ns: NOW - MS,
        value,
    };
    let d = g.apply_metrics(&[gauge("cpu", 0.5), gauge("cpu", 0.7), gauge("memory", 9.0)], NOW);
    assert_eq!(d.metric_series, 1, "the second series of api did not fit");
    let cpu = g.node(NodeKind::Service, "api").unwrap().metrics["cpu"].summary(NOW - HOUR, NOW + 1);
    assert_eq!(cpu.count, 2);
}

#[test]
fn services_that_only_log_or_report_gauges_are_kept_but_not_mapped_until_called() {
    let mut g = ServiceGraph::new(GraphLimits::default());
    let line = LogFact { service: "batch".into(), time_ns: NOW - MS, template: TemplateId(1) };
    let gauge = MetricFact {
        service: "node".into(),
        instance: String::new(),
        name: "cpu".into(),
        time_ns: NOW - MS,
        value: 0.5,
    };
    assert_eq!(g.apply_logs(&[line], NOW), Dropped::default());
    assert_eq!(g.apply_metrics(&[gauge], NOW), Dropped::default());
    g.expire(NOW);
    assert_eq!(g.node_count(), 2, "kept while their lines and values are in the window");
    assert!(g.service_map(NOW - HOUR, NOW + 1).nodes.is_empty(), "no calls, no place on the map");
    g.expire(NOW + HOUR + 60_000 * MS);
    assert_eq!(g.node_count(), 0, "and gone with them");
}

#[test]
fn windows_expire_and_idle_nodes_leave_so_the_caps_recover() {
    let mut g = ServiceGraph::new(GraphLimits { max_nodes: 4, ..GraphLimits::default() });
    g.apply(&facts(0), NOW);
    assert_eq!(g.node_count(), 4);
    // An hour and a bit later only the frontend is still called.
    let later = NOW + HOUR + 60_000 * MS;
    let mut f = TraceFacts::default();
    f.entries.push(Entry { end_ns: later, ..entry("frontend", "GET /", "frontend-0", 10, false) });
    g.apply(&f, later);
    g.expire(later);
    assert_eq!(g.node_count(), 1);
    assert_eq!(g.edge_count(), 0);
    let map = g.service_map(later - HOUR, later + 1);
    assert_eq!(map.nodes.len(), 1);
    assert_eq!(map.nodes[0].red.calls, 1, "the old calls are not in the window any more");
}
