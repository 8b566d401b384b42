//! What a span calls that is not an instrumented service: a database, a message broker or an
//! external endpoint, inferred from the OpenTelemetry semantic-convention attributes of CLIENT
//! and PRODUCER spans.

use crate::span::{Span, SpanKind};

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
    pub name: String,
}

fn first<'a>(span: &'a Span, keys: &[&str]) -> Option<&'a str> {
    keys.iter().find_map(|k| span.attributes.get_str(k)).map(str::trim).filter(|v| !v.is_empty())
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
    if !matches!(span.kind, SpanKind::Client | SpanKind::Producer) {
        return None;
    }
    let host = || {
        first(span, &["server.address", "net.peer.name", "network.peer.address", "net.sock.peer.addr"])
            .or_else(|| first(span, &["url.full", "http.url"]).and_then(url_host))
    };
    if let Some(system) = first(span, &["db.system", "db.system.name"]) {
        let place = first(span, &["db.namespace", "db.name"]).or_else(host);
        let name = match place {
            Some(p) => format!("{system}:{p}"),
            None => system.to_owned(),
        };
        return Some(Peer { kind: NodeKind::Database, name });
    }
    if let Some(system) = first(span, &["messaging.system"]) {
        return Some(Peer { kind: NodeKind::Messaging, name: system.to_owned() });
    }
    if let Some(service) = first(span, &["peer.service"]) {
        return Some(Peer { kind: NodeKind::External, name: service.to_owned() });
    }
    host().map(|h| Peer { kind: NodeKind::External, name: h.to_ascii_lowercase() })
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
            assert_eq!(got, want.map(|(k, n)| (k, n.to_owned())), "{kind:?} {attrs:?}");
        }
    }
}
