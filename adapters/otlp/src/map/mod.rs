//! OTLP protobuf messages → domain records.
//!
//! Records that cannot be represented (bad trace/span ids) are counted as rejected with a short
//! reason; everything else is kept whole: every attribute type, any log body type, all five
//! metric types, span events and links, resource and scope attributes.

mod logs;
mod metrics;
mod traces;

pub use logs::{count_log_records, logs};
pub use metrics::{count_points, metrics};
pub use traces::{count_spans, traces};

use opentelemetry_proto::tonic::common::v1 as pc;
use otelcontext_domain::{AnyValue, Attributes, InstrumentationScope, KeyValue, Resource, SpanId, TenantId};
use std::sync::Arc;

/// Records of one export, grouped by tenant, plus what could not be mapped.
#[derive(Debug)]
pub struct Mapped<T> {
    pub parts: Vec<T>,
    pub received: u64,
    pub rejected: u64,
    /// The first rejection reason, for `partial_success.error_message`.
    pub first_error: Option<String>,
}

impl<T> Default for Mapped<T> {
    fn default() -> Self {
        Self { parts: Vec::new(), received: 0, rejected: 0, first_error: None }
    }
}

impl<T> Mapped<T> {
    pub(crate) fn reject(&mut self, what: impl FnOnce() -> String) {
        self.rejected += 1;
        if self.first_error.is_none() {
            self.first_error = Some(what());
        }
    }
}

/// Converts an OTLP value.
pub fn any_value(v: Option<pc::AnyValue>) -> AnyValue {
    use pc::any_value::Value;
    match v.and_then(|v| v.value) {
        None | Some(Value::StringValueStrindex(_)) => AnyValue::Empty,
        Some(Value::StringValue(s)) => AnyValue::String(s),
        Some(Value::BoolValue(b)) => AnyValue::Bool(b),
        Some(Value::IntValue(i)) => AnyValue::Int(i),
        Some(Value::DoubleValue(d)) => AnyValue::Double(d),
        Some(Value::BytesValue(b)) => AnyValue::Bytes(b),
        Some(Value::ArrayValue(a)) => AnyValue::Array(a.values.into_iter().map(|v| any_value(Some(v))).collect()),
        Some(Value::KvlistValue(kv)) => AnyValue::KvList(key_values(kv.values)),
    }
}

fn key_values(kvs: Vec<pc::KeyValue>) -> Vec<KeyValue> {
    kvs.into_iter().map(|kv| KeyValue { key: kv.key, value: any_value(kv.value) }).collect()
}

/// Converts OTLP attributes.
pub fn attributes(kvs: Vec<pc::KeyValue>) -> Attributes {
    Attributes(key_values(kvs))
}

pub(crate) fn resource(r: Option<opentelemetry_proto::tonic::resource::v1::Resource>) -> Resource {
    Resource::new(attributes(r.map(|r| r.attributes).unwrap_or_default()))
}

pub(crate) fn scope(s: Option<pc::InstrumentationScope>) -> Arc<InstrumentationScope> {
    Arc::new(match s {
        Some(s) => InstrumentationScope { name: s.name, version: s.version, attributes: attributes(s.attributes) },
        None => InstrumentationScope::default(),
    })
}

/// Saturating u64 → i64 for nanosecond timestamps (valid until year 2262).
pub(crate) fn ns(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

pub(crate) fn optional_span_id(bytes: &[u8]) -> Result<Option<SpanId>, String> {
    if bytes.is_empty() || bytes.iter().all(|b| *b == 0) {
        Ok(None)
    } else {
        SpanId::from_bytes(bytes).map(Some).map_err(|e| e.to_string())
    }
}

/// Groups records per tenant, keeping tenants in order of appearance.
pub(crate) struct ByTenant<T> {
    pub(crate) groups: Vec<(TenantId, Vec<T>)>,
}

impl<T> ByTenant<T> {
    pub(crate) fn new() -> Self {
        Self { groups: Vec::new() }
    }
    pub(crate) fn slot(&mut self, tenant: TenantId) -> &mut Vec<T> {
        let i = match self.groups.iter().position(|(t, _)| *t == tenant) {
            Some(i) => i,
            None => {
                self.groups.push((tenant, Vec::new()));
                self.groups.len() - 1
            }
        };
        &mut self.groups[i].1
    }
}

#[cfg(test)]
pub(crate) mod test_support {
    use super::pc;
    use crate::tenant::TenantPolicy;
    use opentelemetry_proto::tonic::resource::v1::Resource as PResource;
    use otelcontext_domain::TenantId;

    pub(crate) fn kv(k: &str, v: pc::any_value::Value) -> pc::KeyValue {
        pc::KeyValue { key: k.into(), value: Some(pc::AnyValue { value: Some(v) }), ..Default::default() }
    }

    pub(crate) fn res(service: Option<&str>, extra: Vec<pc::KeyValue>) -> Option<PResource> {
        let mut attributes = extra;
        if let Some(s) = service {
            attributes.push(kv("service.name", pc::any_value::Value::StringValue(s.into())));
        }
        Some(PResource { attributes, ..Default::default() })
    }

    pub(crate) fn policy() -> TenantPolicy {
        TenantPolicy { default_tenant: TenantId::parse("default").unwrap(), trust_resource_attribute: true }
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::kv;
    use super::*;

    #[test]
    fn every_value_type_converts() {
        use pc::any_value::Value as V;
        let cases = vec![
            (V::StringValue("s".into()), AnyValue::String("s".into())),
            (V::BoolValue(true), AnyValue::Bool(true)),
            (V::IntValue(-4), AnyValue::Int(-4)),
            (V::DoubleValue(1.5), AnyValue::Double(1.5)),
            (V::BytesValue(vec![1, 2]), AnyValue::Bytes(vec![1, 2])),
            (
                V::ArrayValue(pc::ArrayValue { values: vec![pc::AnyValue { value: Some(V::IntValue(1)) }] }),
                AnyValue::Array(vec![AnyValue::Int(1)]),
            ),
            (
                V::KvlistValue(pc::KeyValueList { values: vec![kv("k", V::BoolValue(false))] }),
                AnyValue::KvList(vec![KeyValue::new("k", AnyValue::Bool(false))]),
            ),
        ];
        for (input, want) in cases {
            assert_eq!(any_value(Some(pc::AnyValue { value: Some(input) })), want);
        }
        assert_eq!(any_value(None), AnyValue::Empty);
    }
}
