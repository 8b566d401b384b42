use super::*;
use crate::graph::GraphLimits;
use crate::graph::trace::{Call, Entry, Reached, SelfTime, TraceFacts};

const S: i64 = 1_000_000_000;
const MS: i64 = 1_000_000;
const NOW: i64 = 1_700_000_000 * S;

/// frontend → checkout → payment, one trace per second for 3 minutes; from `fault_at` on,
/// `fault` changes the numbers.
fn system(fault: &dyn Fn(&mut Timings), fault_at: i64) -> ServiceGraph {
    let mut g = ServiceGraph::new(GraphLimits::default());
    for sec in 0..180 {
        let t = NOW - (180 - sec) * S;
        let mut tm = Timings::default();
        if sec >= fault_at {
            fault(&mut tm);
        }
        let e = |service: &'static str, d: i64, error: bool| Entry {
            service,
            operation: "op",
            instance: "",
            end_ns: t,
            duration_ns: d,
            self_ns: 0,
            error,
        };
        let own =
            |service: &'static str, d: i64| SelfTime { service, operation: "op", end_ns: t, self_ns: d, error: false };
        let payment = tm.payment_self;
        let checkout_serve = tm.checkout_self + tm.gap_to_payment + payment;
        let facts = TraceFacts {
            trace_id: None,
            entries: vec![
                e("frontend", 2 * MS + checkout_serve + 2 * MS, false),
                e("checkout", checkout_serve, false),
                e("payment", payment, tm.payment_errors && sec % 2 == 0),
            ],
            calls: vec![
                Call {
                    caller: "frontend",
                    callee_kind: NodeKind::Service,
                    callee: "checkout",
                    end_ns: t,
                    client_ns: checkout_serve + 2 * MS,
                    server_ns: Some(checkout_serve),
                    error: false,
                },
                Call {
                    caller: "checkout",
                    callee_kind: NodeKind::Service,
                    callee: "payment",
                    end_ns: t,
                    client_ns: payment + tm.gap_to_payment,
                    server_ns: Some(payment),
                    error: false,
                },
            ],
            self_times: vec![own("frontend", 2 * MS), own("checkout", tm.checkout_self), own("payment", payment)],
            reached: Vec::new(),
        };
        g.apply(&facts, NOW);
    }
    g
}

/// An entry into `service` at `t` that took 5 ms, all of it its own.
fn plain_entry(service: &'static str, t: i64) -> Entry<'static> {
    Entry { service, operation: "op", instance: "", end_ns: t, duration_ns: 5 * MS, self_ns: 5 * MS, error: false }
}

struct Timings {
    checkout_self: i64,
    payment_self: i64,
    gap_to_payment: i64,
    payment_errors: bool,
}

impl Default for Timings {
    fn default() -> Self {
        Self { checkout_self: 5 * MS, payment_self: 10 * MS, gap_to_payment: MS, payment_errors: false }
    }
}

#[test]
fn the_changed_service_ranks_first_whatever_the_kind_of_change() {
    type Fault = Box<dyn Fn(&mut Timings)>;
    let cases: Vec<(&str, Fault, &str, &str)> = vec![
        ("slow leaf", Box::new(|t| t.payment_self = 80 * MS), "payment", "self_time"),
        ("slow middle", Box::new(|t| t.checkout_self = 60 * MS), "checkout", "self_time"),
        ("network delay towards payment", Box::new(|t| t.gap_to_payment = 70 * MS), "payment", "edge_gap"),
        ("payment fails half its calls", Box::new(|t| t.payment_errors = true), "payment", "errors"),
    ];
    for (name, fault, want, signal) in cases {
        let g = system(&*fault, 100);
        let r = rank(&g, NOW - 180 * S, NOW, None, 5);
        assert_eq!(r.candidates[0].name, want, "{name}: {:?}", r.candidates);
        assert_eq!(r.candidates[0].evidence[0].signal, signal, "{name}");
        let split_s = (r.split_ns - (NOW - 180 * S)) / S;
        assert!((90..=110).contains(&split_s), "{name}: split at {split_s} s");
        let focused = rank(&g, NOW - 180 * S, NOW, Some("frontend"), 5);
        assert_eq!(focused.candidates[0].name, want, "{name}, asked from the entry service");
    }
}

#[test]
fn a_caller_late_on_every_call_is_blamed_not_its_callees() {
    let mut g = ServiceGraph::new(GraphLimits::default());
    for sec in 0..180 {
        let t = NOW - (180 - sec) * S;
        let late = if sec >= 100 { 40 * MS } else { MS };
        let mut facts = TraceFacts::default();
        for callee in ["ads", "cart", "catalog"] {
            facts.entries.push(Entry {
                service: callee,
                operation: "op",
                instance: "",
                end_ns: t,
                duration_ns: 5 * MS,
                self_ns: 5 * MS,
                error: false,
            });
            facts.self_times.push(SelfTime {
                service: callee,
                operation: "op",
                end_ns: t,
                self_ns: 5 * MS,
                error: false,
            });
            facts.calls.push(Call {
                caller: "frontend",
                callee_kind: NodeKind::Service,
                callee,
                end_ns: t,
                client_ns: 5 * MS + late,
                server_ns: Some(5 * MS),
                error: false,
            });
        }
        g.apply(&facts, NOW);
    }
    let r = rank(&g, NOW - 180 * S, NOW, None, 5);
    assert_eq!(r.candidates[0].name, "frontend", "{:?}", r.candidates);
    assert_eq!(r.candidates[0].evidence[0].signal, "waits_on_every_call");
    assert!(r.candidates.iter().skip(1).all(|c| c.score < 0.1), "{:?}", r.candidates);
}

#[test]
fn new_error_lines_blame_the_service_that_writes_them() {
    let mut g = system(&|_| {}, 0);
    let line = |service: &'static str, sec: i64, template: u64| crate::graph::LogFact {
        service: service.into(),
        time_ns: NOW - (180 - sec) * S,
        template: TemplateId(template),
    };
    let mut logs = Vec::new();
    for sec in 0..180 {
        // checkout always logs one error every 10 s; payment starts a new one at 100 s.
        if sec % 10 == 0 {
            logs.push(line("checkout", sec, 1));
        }
        if sec >= 100 && sec % 2 == 0 {
            logs.push(line("payment", sec, 2));
        }
    }
    g.apply_logs(&logs, NOW);
    let r = rank(&g, NOW - 180 * S, NOW, None, 5);
    assert_eq!(r.candidates[0].name, "payment", "{:?}", r.candidates);
    let e = &r.candidates[0].evidence[0];
    assert_eq!((e.signal, e.template), ("error_logs", Some(TemplateId(2))));
    assert!(r.candidates.iter().all(|c| c.name != "checkout" || c.score < 0.1), "steady lines are no news");
    // Asked over a range reaching two minutes before any data, the baseline still starts
    // where the data does: checkout's steady lines are not "new" after an empty before.
    let wide = rank(&g, NOW - 300 * S, NOW, None, 5);
    assert_eq!(wide.candidates[0].name, "payment", "{:?}", wide.candidates);
    assert!(wide.candidates.iter().all(|c| c.name != "checkout" || c.score < 0.1), "{:?}", wide.candidates);
    assert!(wide.split_ns >= NOW - 160 * S, "split at {} s", (wide.split_ns - NOW) / S);
}

#[test]
fn a_service_that_stops_calling_what_it_called_is_blamed() {
    let mut g = ServiceGraph::new(GraphLimits::default());
    for sec in 0..180 {
        let t = NOW - (180 - sec) * S;
        let mut facts = TraceFacts::default();
        let entry = |service| plain_entry(service, t);
        facts.entries.push(entry("frontend"));
        // From 100 s on, the frontend answers early and calls its backends one time in four.
        if sec < 100 || sec % 4 == 0 {
            for callee in ["ads", "cart", "catalog"] {
                facts.entries.push(entry(callee));
                facts.calls.push(Call {
                    caller: "frontend",
                    callee_kind: NodeKind::Service,
                    callee,
                    end_ns: t,
                    client_ns: 5 * MS,
                    server_ns: Some(5 * MS),
                    error: false,
                });
            }
        }
        g.apply(&facts, NOW);
    }
    let r = rank(&g, NOW - 180 * S, NOW, None, 5);
    assert_eq!(r.candidates[0].name, "frontend", "{:?}", r.candidates);
    let e = &r.candidates[0].evidence[0];
    assert_eq!(e.signal, "fan_out");
    assert!(e.baseline > 0.9 && e.recent < 0.4, "{e:?}");
}

#[test]
fn candidates_name_the_operation_and_instance_that_changed_and_example_traces() {
    let mut g = ServiceGraph::new(GraphLimits::default());
    for sec in 0..180i64 {
        let t = NOW - (180 - sec) * S;
        for (op, pod) in [("GET /pay", "payment-1"), ("GET /refund", "payment-2")] {
            let slow = sec >= 100 && pod == "payment-1";
            let d = if slow { 90 * MS } else { 10 * MS };
            let facts = TraceFacts {
                trace_id: Some(TraceId::from_array([(sec % 250 + 1) as u8; 16]).unwrap()),
                entries: vec![Entry {
                    service: "payment",
                    operation: op,
                    instance: pod,
                    end_ns: t,
                    duration_ns: d,
                    self_ns: d,
                    error: false,
                }],
                calls: Vec::new(),
                self_times: vec![SelfTime { service: "payment", operation: op, end_ns: t, self_ns: d, error: false }],
                reached: Vec::new(),
            };
            g.apply(&facts, NOW);
        }
    }
    let r = rank(&g, NOW - 180 * S, NOW, None, 5);
    let c = &r.candidates[0];
    assert_eq!(
        (c.name.as_str(), c.operation.as_deref(), c.instance.as_deref()),
        ("payment", Some("GET /pay"), Some("payment-1"))
    );
    assert!(!c.example_traces.is_empty() && c.example_traces.len() <= 3);
    // Trace ids hold the second they were made at, plus one.
    let late = |t: &TraceId| i64::from(t.as_bytes()[0]) > 90;
    assert!(c.example_traces.iter().all(late), "examples come from after the change: {:?}", c.example_traces);
}

#[test]
fn a_saturated_instance_is_blamed_by_its_utilisation() {
    // Nothing moves in the spans; one pod of payment runs out of CPU at 100 s, while
    // checkout's pod idles up and down inside its headroom and the node is busy throughout.
    let mut g = system(&|_| {}, 0);
    let point = |service: &'static str, instance: &str, name: &str, sec: i64, value: f64| crate::graph::MetricFact {
        service: service.into(),
        instance: instance.into(),
        name: name.into(),
        time_ns: NOW - (180 - sec) * S,
        value,
    };
    let mut points = Vec::new();
    for sec in (0..180).step_by(30) {
        let hot = sec >= 100;
        points.push(point("payment", "payment-1", "k8s.pod.cpu.utilization", sec, if hot { 0.97 } else { 0.08 }));
        points.push(point("payment", "payment-2", "k8s.pod.cpu.utilization", sec, 0.08));
        points.push(point(
            "checkout",
            "checkout-1",
            "container.cpu.utilization",
            sec,
            [0.01, 0.04][(sec / 30 % 2) as usize],
        ));
        points.push(point("frontend", "frontend-1", "k8s.node.cpu.utilization", sec, if hot { 1.0 } else { 0.1 }));
    }
    g.apply_metrics(&points, NOW);
    let r = rank(&g, NOW - 180 * S, NOW, None, 5);
    let c = &r.candidates[0];
    assert_eq!((c.name.as_str(), c.instance.as_deref()), ("payment", Some("payment-1")), "{:?}", r.candidates);
    let e = &c.evidence[0];
    assert_eq!((e.signal, e.instance.as_deref()), ("cpu", Some("payment-1")));
    assert!(e.baseline < 0.1 && e.recent > 0.9 && e.score > 1.5, "{e:?}");
    assert!(
        r.candidates.iter().skip(1).all(|c| c.score < 0.2),
        "idle wobble and node gauges are no news: {:?}",
        r.candidates
    );
}

#[test]
fn a_starved_caller_is_blamed_for_its_waits_even_on_its_only_edge() {
    // frontend → payment only. From 100 s the frontend's CPU is saturated and it reads
    // payment's answers 40 ms late; payment serves as fast as ever.
    let mut g = ServiceGraph::new(GraphLimits::default());
    let mut points = Vec::new();
    for sec in 0..180 {
        let t = NOW - (180 - sec) * S;
        let late = if sec >= 100 { 40 * MS } else { MS };
        let entry = |service: &'static str, d: i64| Entry {
            service,
            operation: "op",
            instance: if service == "frontend" { "frontend-1" } else { "payment-1" },
            end_ns: t,
            duration_ns: d,
            self_ns: 2 * MS,
            error: false,
        };
        let own =
            |service: &'static str| SelfTime { service, operation: "op", end_ns: t, self_ns: 2 * MS, error: false };
        g.apply(
            &TraceFacts {
                trace_id: None,
                entries: vec![entry("frontend", 10 * MS + late), entry("payment", 5 * MS)],
                calls: vec![Call {
                    caller: "frontend",
                    callee_kind: NodeKind::Service,
                    callee: "payment",
                    end_ns: t,
                    client_ns: 5 * MS + late,
                    server_ns: Some(5 * MS),
                    error: false,
                }],
                self_times: vec![own("frontend"), own("payment")],
                reached: Vec::new(),
            },
            NOW,
        );
        if sec % 30 == 0 {
            points.push(crate::graph::MetricFact {
                service: "frontend".into(),
                instance: "frontend-1".into(),
                name: "k8s.pod.cpu.utilization".into(),
                time_ns: t,
                value: if sec >= 100 { 0.98 } else { 0.05 },
            });
        }
    }
    g.apply_metrics(&points, NOW);
    let r = rank(&g, NOW - 180 * S, NOW, None, 5);
    assert_eq!(r.candidates[0].name, "frontend", "{:?}", r.candidates);
    assert_eq!(r.candidates[0].evidence[0].signal, "cpu");
    let payment = r.candidates.iter().find(|c| c.name == "payment").map_or(0.0, |c| c.score);
    // The raw rise of the wait is ln(41 / 2) ≈ 3.0; the starved caller's share is taken out.
    assert!(payment < 1.5, "the wait is mostly the starved caller's: {:?}", r.candidates);
}

#[test]
fn a_rarely_called_service_with_a_thin_baseline_is_still_blamed_for_a_large_delay() {
    // auth → verify: two calls before the change, eight after, each waiting 2 s more on the
    // network; auth's other callee (users) is busy and steady throughout.
    let mut g = ServiceGraph::new(GraphLimits::default());
    for sec in 0..180 {
        let t = NOW - (180 - sec) * S;
        let call = |callee: &'static str, client_ns: i64| Call {
            caller: "auth",
            callee_kind: NodeKind::Service,
            callee,
            end_ns: t,
            client_ns,
            server_ns: Some(5 * MS),
            error: false,
        };
        let entry = |service| plain_entry(service, t);
        let mut facts = TraceFacts { entries: vec![entry("auth"), entry("users")], ..TraceFacts::default() };
        facts.calls.push(call("users", 6 * MS));
        let rare = [40, 80].contains(&sec) || (sec >= 100 && sec % 10 == 5);
        if rare {
            facts.entries.push(entry("verify"));
            facts.calls.push(call("verify", if sec >= 100 { 2_005 * MS } else { 6 * MS }));
        }
        g.apply(&facts, NOW);
    }
    let r = rank(&g, NOW - 180 * S, NOW, None, 5);
    let c = &r.candidates[0];
    assert_eq!((c.name.as_str(), c.evidence[0].signal), ("verify", "edge_gap"), "{:?}", r.candidates);
    assert_eq!(c.evidence[0].baseline_calls, 2);
}

#[test]
fn utilisation_gauges_are_recognised_by_their_conventional_names() {
    use crate::graph::ResourceKind;
    let cases = [
        ("k8s.pod.cpu.utilization", Some(ResourceKind::Cpu)),
        ("container.cpu.utilization", Some(ResourceKind::Cpu)),
        ("process.cpu.utilization", Some(ResourceKind::Cpu)),
        ("k8s.pod.memory.utilization", Some(ResourceKind::Memory)),
        ("system.memory.utilization", Some(ResourceKind::Memory)),
        ("k8s.node.cpu.utilization", None),
        ("k8s.pod.cpu.usage", None),
        ("cpu", None),
        ("http.server.request.duration", None),
    ];
    for (name, want) in cases {
        assert_eq!(ResourceKind::of(name), want, "{name}");
    }
}

#[test]
fn nothing_changed_means_no_candidate_stands_out() {
    let g = system(&|_| {}, 0);
    let r = rank(&g, NOW - 180 * S, NOW, None, 5);
    assert!(r.candidates.iter().all(|c| c.score < 0.05), "{:?}", r.candidates);
    let only_payment = rank(&g, NOW - 180 * S, NOW, Some("payment"), 5);
    assert!(only_payment.candidates.iter().all(|c| c.name == "payment"));
}

/// One request of `service`'s `operation` at `t` that called `callees` (5 ms each way, all
/// served without error), as facts of its own trace.
fn request(service: &'static str, operation: &'static str, t: i64, callees: &[&'static str]) -> TraceFacts<'static> {
    let mut facts = TraceFacts {
        entries: vec![Entry { operation, ..plain_entry(service, t) }],
        self_times: vec![SelfTime { service, operation, end_ns: t, self_ns: 5 * MS, error: false }],
        ..TraceFacts::default()
    };
    for callee in callees {
        facts.entries.push(plain_entry(callee, t));
        facts.self_times.push(SelfTime { service: callee, operation: "op", end_ns: t, self_ns: 5 * MS, error: false });
        facts.calls.push(Call {
            caller: service,
            callee_kind: NodeKind::Service,
            callee,
            end_ns: t,
            client_ns: 6 * MS,
            server_ns: Some(5 * MS),
            error: false,
        });
        facts.reached.push(Reached { request: 0, kind: NodeKind::Service, callee });
    }
    facts
}

#[test]
fn a_service_whose_requests_stop_short_is_blamed_for_the_calls_they_no_longer_make() {
    // checkout's PlaceOrder calls payment, shipping and email; from 100 s on, one order in three
    // stops after payment (it throws, or acts on a wrong answer). Nothing is slower, nothing
    // is marked failed.
    let mut g = ServiceGraph::new(GraphLimits::default());
    for sec in 0..180 {
        let t = NOW - (180 - sec) * S;
        g.apply(&request("frontend", "GET /", t, &["checkout", "catalog"]), NOW);
        let short = sec >= 100 && sec % 3 == 0;
        let callees: &[&str] = if short { &["payment"] } else { &["payment", "shipping", "email"] };
        let mut order = request("checkout", "PlaceOrder", t, callees);
        order.trace_id = TraceId::from_array([sec as u8 + 1; 16]).ok();
        g.apply(&order, NOW);
    }
    let r = rank(&g, NOW - 180 * S, NOW, None, 5);
    let c = &r.candidates[0];
    assert_eq!(c.name, "checkout", "{:?}", r.candidates);
    // Its first example trace is an order that stopped short (the last one: at 177 s).
    assert_eq!(c.example_traces.first(), TraceId::from_array([178; 16]).ok().as_ref(), "{:?}", c.example_traces);
    let e = &c.evidence[0];
    assert_eq!((e.signal, e.operation.as_deref()), ("stops_early", Some("PlaceOrder")));
    assert_eq!(e.no_longer_calls, ["email", "shipping"]);
    assert!(e.baseline < 0.01 && (0.3..0.4).contains(&e.recent), "{e:?}");
    // The full orders fell from all to two in three: the score is the log of that fall.
    assert!((e.score - 1.5f64.ln()).abs() < 0.05, "{e:?}");
    let split_s = (r.split_ns - (NOW - 180 * S)) / S;
    assert!((90..=110).contains(&split_s), "split at {split_s} s");
    let others = r.candidates.iter().skip(1).map(|c| c.score).fold(0.0, f64::max);
    assert!(others < 0.3 * c.score, "fewer calls to shipping and email are not their fault: {:?}", r.candidates);
}

#[test]
fn a_new_mix_of_requests_or_requests_that_call_more_are_not_stopping_short() {
    // From 100 s on, checkout serves mostly quotes (which never called payment) instead of
    // orders, and its orders start to also call fraud checks.
    let mut g = ServiceGraph::new(GraphLimits::default());
    for sec in 0..180 {
        let t = NOW - (180 - sec) * S;
        let later = sec >= 100;
        if !later || sec % 4 == 0 {
            let callees: &[&str] = if later { &["payment", "shipping", "fraud"] } else { &["payment", "shipping"] };
            g.apply(&request("checkout", "PlaceOrder", t, callees), NOW);
        }
        if later || sec % 4 == 0 {
            g.apply(&request("checkout", "Quote", t, &["shipping"]), NOW);
        }
    }
    let r = rank(&g, NOW - 180 * S, NOW, None, 5);
    assert!(r.candidates.iter().flat_map(|c| &c.evidence).all(|e| e.signal != "stops_early"), "{:?}", r.candidates);
}

#[test]
fn a_delay_towards_a_rarely_called_service_shows_across_its_callers() {
    // food is called now and then by gateway and by preserve: one call each before the change,
    // too few for either edge alone; from 100 s on, every call waits 2 s longer on the network.
    let mut g = ServiceGraph::new(GraphLimits::default());
    for sec in 0..180 {
        let t = NOW - (180 - sec) * S;
        for caller in ["gateway", "preserve"] {
            g.apply(&request(caller, "op", t, &["orders"]), NOW);
        }
        let rare = match sec {
            40 => Some("gateway"),
            60 => Some("preserve"),
            s if s >= 100 && s % 20 == 5 => Some("gateway"),
            s if s >= 100 && s % 20 == 15 => Some("preserve"),
            _ => None,
        };
        if let Some(caller) = rare {
            let mut f = request(caller, "op", t, &["food"]);
            if sec >= 100 {
                f.calls[0].client_ns += 2_000 * MS;
            }
            g.apply(&f, NOW);
        }
    }
    let r = rank(&g, NOW - 180 * S, NOW, None, 5);
    let c = &r.candidates[0];
    assert_eq!((c.name.as_str(), c.evidence[0].signal), ("food", "edge_gap"), "{:?}", r.candidates);
    let e = &c.evidence[0];
    assert_eq!((e.via.as_deref(), e.baseline_calls, e.recent_calls), (None, 2, 8), "{e:?}");
    assert!(e.score > 3.0, "{e:?}");
}
