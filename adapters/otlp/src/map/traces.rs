//! Trace exports → domain spans.

use super::{ByTenant, Mapped, attributes, ns, optional_span_id, resource, scope};
use crate::tenant::{BadTenant, RequestTenant, TenantPolicy};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::trace::v1 as pt;
use otelcontext_domain::{
    InstrumentationScope, Resource, Span, SpanEvent, SpanId, SpanKind, SpanLink, SpanStatus, StatusCode, TraceId,
};
use otelcontext_ports::TenantSpans;
use std::sync::Arc;

fn span(s: pt::Span, resource: &Arc<Resource>, scope: &Arc<InstrumentationScope>) -> Result<Span, String> {
    let trace_id = TraceId::from_bytes(&s.trace_id).map_err(|e| e.to_string())?;
    let span_id = SpanId::from_bytes(&s.span_id).map_err(|e| e.to_string())?;
    let parent_span_id = optional_span_id(&s.parent_span_id).map_err(|e| format!("parent {e}"))?;
    let events = s
        .events
        .into_iter()
        .map(|e| SpanEvent {
            time_ns: ns(e.time_unix_nano),
            name: e.name,
            attributes: attributes(e.attributes),
            dropped_attributes_count: e.dropped_attributes_count,
        })
        .collect();
    let links = s
        .links
        .into_iter()
        .filter_map(|l| {
            Some(SpanLink {
                trace_id: TraceId::from_bytes(&l.trace_id).ok()?,
                span_id: SpanId::from_bytes(&l.span_id).ok()?,
                trace_state: l.trace_state,
                attributes: attributes(l.attributes),
                flags: l.flags,
            })
        })
        .collect();
    let status =
        s.status.map(|st| SpanStatus { code: StatusCode::from_otlp(st.code), message: st.message }).unwrap_or_default();
    Ok(Span {
        trace_id,
        span_id,
        parent_span_id,
        trace_state: s.trace_state,
        flags: s.flags,
        name: s.name,
        kind: SpanKind::from_otlp(s.kind),
        start_ns: ns(s.start_time_unix_nano),
        end_ns: ns(s.end_time_unix_nano),
        attributes: attributes(s.attributes),
        dropped_attributes_count: s.dropped_attributes_count,
        events,
        links,
        status,
        resource: resource.clone(),
        scope: scope.clone(),
    })
}

/// Spans in a trace export.
pub fn count_spans(req: &ExportTraceServiceRequest) -> u64 {
    req.resource_spans.iter().flat_map(|r| &r.scope_spans).map(|s| s.spans.len() as u64).sum()
}

/// Maps a trace export. Fails as a whole only on an invalid tenant.
pub fn traces(
    req: ExportTraceServiceRequest,
    policy: &TenantPolicy,
    tenant: &RequestTenant,
) -> Result<Mapped<TenantSpans>, BadTenant> {
    let mut out = Mapped::default();
    let mut groups = ByTenant::new();
    for rs in req.resource_spans {
        let resource = resource(rs.resource);
        let tenant = policy.for_resource(tenant, &resource.attributes)?;
        let resource = Arc::new(resource);
        let slot = groups.slot(tenant);
        for ss in rs.scope_spans {
            let scope = scope(ss.scope);
            for s in ss.spans {
                out.received += 1;
                match span(s, &resource, &scope) {
                    Ok(s) => slot.push(s),
                    Err(e) => out.reject(|| format!("span rejected: {e}")),
                }
            }
        }
    }
    out.parts = groups
        .groups
        .into_iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(tenant, spans)| TenantSpans { tenant, spans })
        .collect();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::map::test_support::*;
    use opentelemetry_proto::tonic::common::v1 as pc;
    use opentelemetry_proto::tonic::resource::v1::Resource as PResource;
    use otelcontext_domain::AnyValue;

    fn pspan(trace: Vec<u8>, span: Vec<u8>, parent: Vec<u8>) -> pt::Span {
        pt::Span {
            trace_id: trace,
            span_id: span,
            parent_span_id: parent,
            name: "op".into(),
            kind: 2,
            start_time_unix_nano: 100,
            end_time_unix_nano: 250,
            attributes: vec![kv("n", pc::any_value::Value::IntValue(7))],
            status: Some(pt::Status { code: 2, message: "bad".into() }),
            events: vec![pt::span::Event { time_unix_nano: 120, name: "exception".into(), ..Default::default() }],
            links: vec![pt::span::Link { trace_id: vec![3; 16], span_id: vec![4; 8], ..Default::default() }],
            ..Default::default()
        }
    }

    fn trace_req(spans: Vec<pt::Span>, resource: Option<PResource>) -> ExportTraceServiceRequest {
        ExportTraceServiceRequest {
            resource_spans: vec![pt::ResourceSpans {
                resource,
                scope_spans: vec![pt::ScopeSpans {
                    scope: Some(pc::InstrumentationScope {
                        name: "lib".into(),
                        version: "1".into(),
                        ..Default::default()
                    }),
                    spans,
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }
    }

    #[test]
    fn spans_map_every_field() {
        let req = trace_req(vec![pspan(vec![1; 16], vec![2; 8], vec![])], res(Some("api"), vec![]));
        let m = traces(req, &policy(), &RequestTenant::PerResource).unwrap();
        assert_eq!((m.received, m.rejected), (1, 0));
        let s = &m.parts[0].spans[0];
        assert_eq!(m.parts[0].tenant.as_str(), "default");
        assert_eq!(
            (s.trace_id.to_hex(), s.span_id.to_hex(), s.parent_span_id),
            ("01".repeat(16), "02".repeat(8), None)
        );
        assert_eq!(
            (s.kind, s.start_ns, s.end_ns, s.status.code, s.status.message.as_str()),
            (SpanKind::Server, 100, 250, StatusCode::Error, "bad")
        );
        assert_eq!(s.attributes.get("n"), Some(&AnyValue::Int(7)));
        assert_eq!((s.events.len(), s.links.len()), (1, 1));
        assert_eq!((s.service_name(), s.scope.name.as_str(), s.scope.version.as_str()), ("api", "lib", "1"));
    }
    #[test]
    fn bad_ids_are_rejected_and_counted_but_good_spans_kept() {
        let spans = vec![
            pspan(vec![1; 16], vec![2; 8], vec![9; 8]),
            pspan(vec![1; 15], vec![2; 8], vec![]),
            pspan(vec![0; 16], vec![2; 8], vec![]),
            pspan(vec![1; 16], vec![], vec![]),
            pspan(vec![1; 16], vec![2; 8], vec![9; 3]),
        ];
        let m = traces(trace_req(spans, res(Some("api"), vec![])), &policy(), &RequestTenant::PerResource).unwrap();
        assert_eq!((m.received, m.rejected, m.parts[0].spans.len()), (5, 4, 1));
        assert!(m.first_error.unwrap().contains("trace id must be 16 bytes"));
    }
    #[test]
    fn missing_service_name_is_unknown_service_and_resource_tenant_is_used_when_trusted() {
        let tenant_attr = kv("tenant.id", pc::any_value::Value::StringValue("acme".into()));
        let m = traces(
            trace_req(vec![pspan(vec![1; 16], vec![2; 8], vec![])], res(None, vec![tenant_attr])),
            &policy(),
            &RequestTenant::PerResource,
        )
        .unwrap();
        assert_eq!(m.parts[0].tenant.as_str(), "acme");
        assert_eq!(m.parts[0].spans[0].service_name(), "unknown_service");
    }
    #[test]
    fn invalid_resource_tenant_fails_the_export() {
        let tenant_attr = kv("tenant.id", pc::any_value::Value::StringValue("a b".into()));
        let err = traces(trace_req(vec![], res(None, vec![tenant_attr])), &policy(), &RequestTenant::PerResource)
            .unwrap_err();
        assert!(err.to_string().contains("a b"));
    }
}
