//! What a span calls that is not an instrumented service: a database, a message broker or an
//! external endpoint, inferred from the OpenTelemetry semantic-convention attributes of CLIENT
//! and PRODUCER spans.

use crate::span::{Span, SpanKind};
use crate::value::AnyValue;

/// The kind of a node of the service graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum NodeKind {
    /// An instrumented service (it sends its own spans).
    Service,
    Database,
    Messaging,
    /// Anything else called over the network (an HTTP API, a third-party service).
    External,
}

impl NodeKind {
    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            NodeKind::Service => "service",
            NodeKind::Database => "database",
            NodeKind::Messaging => "messaging",
            NodeKind::External => "external",
        }
    }
}

/// An uninstrumented peer a span calls.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Peer {
    pub kind: NodeKind,
    /// The node's name: `<db.system>` with its namespace or host (`postgresql:orders`), the
    /// broker with its destination host (`kafka`), the `peer.service`, or the host called.
    pub name: std::sync::Arc<str>,
}

/// The attributes peers are named from, in one pass over a span's attributes: per key, the
/// first value given for it (`None` inside when that value is not a string, as
/// [`crate::value::Attributes::get_str`] reads it).
const DB_SYSTEM: usize = 0;
const DB_SYSTEM_NAME: usize = 1;
const DB_NAMESPACE: usize = 2;
const DB_NAME: usize = 3;
const MESSAGING_SYSTEM: usize = 4;
const PEER_SERVICE: usize = 5;
const SERVER_ADDRESS: usize = 6;
const NET_PEER_NAME: usize = 7;
const NETWORK_PEER_ADDRESS: usize = 8;
const NET_SOCK_PEER_ADDR: usize = 9;
const URL_FULL: usize = 10;
const HTTP_URL: usize = 11;

fn slot(key: &str) -> Option<usize> {
    Some(match key {
        "db.system" => DB_SYSTEM,
        "db.system.name" => DB_SYSTEM_NAME,
        "db.namespace" => DB_NAMESPACE,
        "db.name" => DB_NAME,
        "messaging.system" => MESSAGING_SYSTEM,
        "peer.service" => PEER_SERVICE,
        "server.address" => SERVER_ADDRESS,
        "net.peer.name" => NET_PEER_NAME,
        "network.peer.address" => NETWORK_PEER_ADDRESS,
        "net.sock.peer.addr" => NET_SOCK_PEER_ADDR,
        "url.full" => URL_FULL,
        "http.url" => HTTP_URL,
        _ => return None,
    })
}

struct PeerAttributes<'a>([Option<Option<&'a str>>; 12]);

impl<'a> PeerAttributes<'a> {
    fn of(span: &'a Span) -> Self {
        let mut seen = [None; 12];
        for kv in &span.attributes.0 {
            if let Some(i) = slot(&kv.key)
                && seen[i].is_none()
            {
                seen[i] = Some(match &kv.value {
                    AnyValue::String(s) => Some(s.as_str()),
                    _ => None,
                });
            }
        }
        Self(seen)
    }

    /// The first of `keys` with a string value, trimmed; `None` when that value is blank.
    fn first(&self, keys: &[usize]) -> Option<&'a str> {
        keys.iter().find_map(|i| self.0[*i].flatten()).map(str::trim).filter(|v| !v.is_empty())
    }
}

/// The host of a URL (`https://api.example.com:443/x` → `api.example.com`).
fn url_host(url: &str) -> Option<&str> {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next()?;
    let host_port = authority.rsplit('@').next()?;
    let host =
        if let Some(v6) = host_port.strip_prefix('[') { v6.split(']').next()? } else { host_port.split(':').next()? };
    (!host.is_empty()).then_some(host)
}

/// The peer a CLIENT or PRODUCER span calls, when its attributes name one; `None` for other
/// kinds and for client spans that say nothing about their peer.
pub fn infer_peer(span: &Span) -> Option<Peer> {
    let mut name = String::new();
    infer_peer_into(span, &mut name).map(|kind| Peer { kind, name: name.as_str().into() })
}

/// [`infer_peer`] writing the peer's name into `name` (cleared first), so a caller that shares
/// names needs no allocation per span.
pub fn infer_peer_into(span: &Span, name: &mut String) -> Option<NodeKind> {
    name.clear();
    if !matches!(span.kind, SpanKind::Client | SpanKind::Producer) {
        return None;
    }
    let a = PeerAttributes::of(span);
    let host = || {
        a.first(&[SERVER_ADDRESS, NET_PEER_NAME, NETWORK_PEER_ADDRESS, NET_SOCK_PEER_ADDR])
            .or_else(|| a.first(&[URL_FULL, HTTP_URL]).and_then(url_host))
    };
    if let Some(system) = a.first(&[DB_SYSTEM, DB_SYSTEM_NAME]) {
        name.push_str(system);
        if let Some(place) = a.first(&[DB_NAMESPACE, DB_NAME]).or_else(host) {
            name.push(':');
            name.push_str(place);
        }
        return Some(NodeKind::Database);
    }
    if let Some(system) = a.first(&[MESSAGING_SYSTEM]) {
        name.push_str(system);
        return Some(NodeKind::Messaging);
    }
    if let Some(service) = a.first(&[PEER_SERVICE]) {
        name.push_str(service);
        return Some(NodeKind::External);
    }
    let h = host()?;
    name.extend(h.chars().map(|c| c.to_ascii_lowercase()));
    Some(NodeKind::External)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::AnyValue;
    use crate::ids::{SpanId, TraceId};
    use crate::resource::{InstrumentationScope, Resource};
    use crate::span::SpanStatus;
    use crate::value::Attributes;
    use std::sync::Arc;

    fn span(kind: SpanKind, attrs: &[(&str, &str)]) -> Span {
        let mut attributes = Attributes::new();
        for (k, v) in attrs {
            attributes.push(*k, AnyValue::String((*v).into()));
        }
        Span {
            trace_id: TraceId::from_array([1; 16]).unwrap(),
            span_id: SpanId::from_array([2; 8]).unwrap(),
            parent_span_id: None,
            trace_state: String::new(),
            flags: 0,
            name: "call".into(),
            kind,
            start_ns: 0,
            end_ns: 1,
            attributes,
            dropped_attributes_count: 0,
            events: Vec::new(),
            links: Vec::new(),
            status: SpanStatus::default(),
            resource: Arc::new(Resource::for_service("checkout")),
            scope: Arc::new(InstrumentationScope::default()),
        }
    }

    /// The reading the one-pass version replaced: each key looked up in turn.
    fn first_by_lookup<'a>(span: &'a Span, keys: &[&str]) -> Option<&'a str> {
        keys.iter().find_map(|k| span.attributes.get_str(k)).map(str::trim).filter(|v| !v.is_empty())
    }

    proptest::proptest! {
        #[test]
        fn one_pass_reads_attributes_as_lookups_do(
            attrs in proptest::collection::vec((0usize..14, 0usize..4, proptest::bool::ANY), 0..12)
        ) {
            const KEYS: [&str; 14] = [
                "db.system", "db.system.name", "db.namespace", "db.name", "messaging.system", "peer.service",
                "server.address", "net.peer.name", "network.peer.address", "net.sock.peer.addr", "url.full",
                "http.url", "http.method", "db.statement",
            ];
            const VALUES: [&str; 4] = ["", " pg ", "https://API.example.com:8443/x", "orders"];
            let mut sp = span(SpanKind::Client, &[]);
            for (k, v, string) in &attrs {
                let value = if *string { AnyValue::String(VALUES[*v].into()) } else { AnyValue::Int(*v as i64) };
                sp.attributes.push(KEYS[*k], value);
            }
            let one_pass = PeerAttributes::of(&sp);
            for (i, key) in KEYS.iter().take(12).enumerate() {
                proptest::prop_assert_eq!(one_pass.first(&[i]), first_by_lookup(&sp, &[key]), "{}", key);
            }
        }
    }

    /// A span's kind and attributes, and the peer expected.
    type PeerCase = (SpanKind, Vec<(&'static str, &'static str)>, Option<(NodeKind, &'static str)>);

    #[test]
    fn peers_are_inferred_from_semantic_conventions() {
        use NodeKind::*;
        let cases: Vec<PeerCase> = vec![
            (
                SpanKind::Client,
                vec![("db.system", "postgresql"), ("db.name", "orders")],
                Some((Database, "postgresql:orders")),
            ),
            (
                SpanKind::Client,
                vec![("db.system", "redis"), ("server.address", "cache-1")],
                Some((Database, "redis:cache-1")),
            ),
            (SpanKind::Client, vec![("db.system", "sqlite")], Some((Database, "sqlite"))),
            (
                SpanKind::Producer,
                vec![("messaging.system", "kafka"), ("messaging.destination.name", "orders")],
                Some((Messaging, "kafka")),
            ),
            (SpanKind::Client, vec![("peer.service", "stripe")], Some((External, "stripe"))),
            (
                SpanKind::Client,
                vec![("http.url", "https://user@API.example.com:8443/v1/charge?x=1")],
                Some((External, "api.example.com")),
            ),
            (SpanKind::Client, vec![("url.full", "http://[::1]:8080/")], Some((External, "::1"))),
            (SpanKind::Client, vec![("server.address", "payments.internal")], Some((External, "payments.internal"))),
            (SpanKind::Client, vec![], None),
            (SpanKind::Server, vec![("db.system", "postgresql")], None),
            (SpanKind::Internal, vec![("peer.service", "x")], None),
            (SpanKind::Client, vec![("db.system", "  ")], None),
        ];
        for (kind, attrs, want) in cases {
            let got = infer_peer(&span(kind, &attrs)).map(|p| (p.kind, p.name));
            assert_eq!(got, want.map(|(k, n)| (k, std::sync::Arc::<str>::from(n))), "{kind:?} {attrs:?}");
        }
    }
}
