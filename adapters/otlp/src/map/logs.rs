//! Log exports → domain log records.

use super::{ByTenant, Mapped, any_value, attributes, ns, optional_span_id, resource, scope};
use crate::tenant::{BadTenant, RequestTenant, TenantPolicy};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use otelcontext_domain::{LogRecord, TraceId};
use otelcontext_ports::TenantLogs;
use std::sync::Arc;

/// Log records in a logs export.
pub fn count_log_records(req: &ExportLogsServiceRequest) -> u64 {
    req.resource_logs.iter().flat_map(|r| &r.scope_logs).map(|s| s.log_records.len() as u64).sum()
}

/// Maps a logs export; a record without a timestamp gets its observed time, else `now_ns`.
pub fn logs(
    req: ExportLogsServiceRequest,
    policy: &TenantPolicy,
    tenant: &RequestTenant,
    now_ns: i64,
) -> Result<Mapped<TenantLogs>, BadTenant> {
    let mut out = Mapped::default();
    let mut groups = ByTenant::new();
    for rl in req.resource_logs {
        let resource = resource(rl.resource);
        let tenant = policy.for_resource(tenant, &resource.attributes)?;
        let resource = Arc::new(resource);
        let slot = groups.slot(tenant);
        for sl in rl.scope_logs {
            let scope = scope(sl.scope);
            for l in sl.log_records {
                out.received += 1;
                let trace_id = if l.trace_id.is_empty() || l.trace_id.iter().all(|b| *b == 0) {
                    None
                } else {
                    match TraceId::from_bytes(&l.trace_id) {
                        Ok(t) => Some(t),
                        Err(e) => {
                            out.reject(|| format!("log record rejected: {e}"));
                            continue;
                        }
                    }
                };
                let span_id = match optional_span_id(&l.span_id) {
                    Ok(s) => s,
                    Err(e) => {
                        out.reject(|| format!("log record rejected: {e}"));
                        continue;
                    }
                };
                let observed = ns(l.observed_time_unix_nano);
                let timestamp = match (ns(l.time_unix_nano), observed) {
                    (0, 0) => now_ns,
                    (0, o) => o,
                    (t, _) => t,
                };
                slot.push(LogRecord {
                    timestamp_ns: timestamp,
                    observed_ns: if observed == 0 { now_ns } else { observed },
                    severity_number: l.severity_number,
                    severity_text: l.severity_text,
                    body: l.body.map(|b| any_value(Some(b))),
                    attributes: attributes(l.attributes),
                    trace_id,
                    span_id,
                    flags: l.flags,
                    event_name: l.event_name,
                    resource: resource.clone(),
                    scope: scope.clone(),
                    template_id: None,
                });
            }
        }
    }
    out.parts = groups
        .groups
        .into_iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(tenant, logs)| TenantLogs { tenant, logs })
        .collect();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::map::test_support::*;
    use opentelemetry_proto::tonic::common::v1 as pc;
    use opentelemetry_proto::tonic::logs::v1 as pl;
    use otelcontext_domain::AnyValue;

    #[test]
    fn logs_keep_any_body_and_fall_back_to_observed_then_receive_time() {
        let record = |time: u64, observed: u64, body: Option<pc::any_value::Value>| pl::LogRecord {
            time_unix_nano: time,
            observed_time_unix_nano: observed,
            severity_number: 17,
            body: body.map(|v| pc::AnyValue { value: Some(v) }),
            trace_id: vec![5; 16],
            span_id: vec![6; 8],
            ..Default::default()
        };
        let req = ExportLogsServiceRequest {
            resource_logs: vec![pl::ResourceLogs {
                resource: res(Some("api"), vec![]),
                scope_logs: vec![pl::ScopeLogs {
                    log_records: vec![
                        record(10, 20, Some(pc::any_value::Value::StringValue("hi".into()))),
                        record(0, 20, Some(pc::any_value::Value::IntValue(3))),
                        record(0, 0, None),
                    ],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        };
        let m = logs(req, &policy(), &RequestTenant::PerResource, 999).unwrap();
        let l = &m.parts[0].logs;
        assert_eq!(l.iter().map(|r| r.timestamp_ns).collect::<Vec<_>>(), vec![10, 20, 999]);
        assert_eq!(l[1].body, Some(AnyValue::Int(3)));
        assert_eq!(l[2].body, None);
        assert_eq!(l[0].trace_id.unwrap().to_hex(), "05".repeat(16));
    }
}
