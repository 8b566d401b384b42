//! Attribute values (the OTel `AnyValue` model) and their plain-JSON form.
//!
//! Attributes are stored as plain JSON objects (`{"http.method":"GET","retries":2}`), not in the
//! protobuf-shaped `{"key":..,"value":{"stringValue":..}}` form. Bytes become base64 strings and
//! non-finite doubles become the strings `"NaN"`, `"Infinity"`, `"-Infinity"`.

use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// One attribute value.
#[derive(Debug, Clone, PartialEq)]
pub enum AnyValue {
    String(String),
    Bool(bool),
    Int(i64),
    Double(f64),
    Bytes(Vec<u8>),
    Array(Vec<AnyValue>),
    KvList(Vec<KeyValue>),
    Empty,
}

/// A key and its value.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyValue {
    pub key: String,
    pub value: AnyValue,
}

impl KeyValue {
    /// Builds a key/value pair.
    pub fn new(key: impl Into<String>, value: AnyValue) -> Self {
        Self { key: key.into(), value }
    }
}

/// An ordered attribute list (OTLP order is kept).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Attributes(pub Vec<KeyValue>);

impl Attributes {
    /// No attributes.
    pub fn new() -> Self {
        Self(Vec::new())
    }

    /// True when there are no attributes.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Number of attributes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// The value of the first attribute named `key`.
    pub fn get(&self, key: &str) -> Option<&AnyValue> {
        self.0.iter().find(|kv| kv.key == key).map(|kv| &kv.value)
    }

    /// The value of `key` when it is a string.
    pub fn get_str(&self, key: &str) -> Option<&str> {
        match self.get(key) {
            Some(AnyValue::String(s)) => Some(s),
            _ => None,
        }
    }

    /// Appends an attribute.
    pub fn push(&mut self, key: impl Into<String>, value: AnyValue) {
        self.0.push(KeyValue::new(key, value));
    }

    /// Whether some attribute named `key` has `value` as its text ([`AnyValue::to_text`]: strings
    /// as they are, other values as JSON, so `200`, `0.25`, `true`). This is the rule of the
    /// storage ports' attribute filters.
    pub fn has(&self, key: &str, value: &str) -> bool {
        self.0.iter().any(|kv| kv.key == key && kv.value.to_text() == value)
    }

    /// The plain JSON object text.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("attribute serialisation cannot fail")
    }

    /// Parses a plain JSON object written by [`Attributes::to_json`] (document order kept).
    pub fn from_json(text: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(text)
    }
}

impl From<Vec<KeyValue>> for Attributes {
    fn from(v: Vec<KeyValue>) -> Self {
        Self(v)
    }
}

impl AnyValue {
    /// The value as text for display or logs: strings as-is, everything else as JSON.
    pub fn to_text(&self) -> String {
        match self {
            AnyValue::String(s) => s.clone(),
            other => serde_json::to_string(other).expect("value serialisation cannot fail"),
        }
    }

    /// The string inside, if this is a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            AnyValue::String(s) => Some(s),
            _ => None,
        }
    }
}

impl Serialize for AnyValue {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            AnyValue::String(v) => s.serialize_str(v),
            AnyValue::Bool(v) => s.serialize_bool(*v),
            AnyValue::Int(v) => s.serialize_i64(*v),
            AnyValue::Double(v) if v.is_finite() => s.serialize_f64(*v),
            AnyValue::Double(v) if v.is_nan() => s.serialize_str("NaN"),
            AnyValue::Double(v) if *v > 0.0 => s.serialize_str("Infinity"),
            AnyValue::Double(_) => s.serialize_str("-Infinity"),
            AnyValue::Bytes(b) => s.serialize_str(&base64_encode(b)),
            AnyValue::Array(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            AnyValue::KvList(kvs) => serialize_kvs(kvs, s),
            AnyValue::Empty => s.serialize_unit(),
        }
    }
}

fn serialize_kvs<S: Serializer>(kvs: &[KeyValue], s: S) -> Result<S::Ok, S::Error> {
    let mut map = s.serialize_map(Some(kvs.len()))?;
    for kv in kvs {
        map.serialize_entry(&kv.key, &kv.value)?;
    }
    map.end()
}

impl Serialize for Attributes {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        serialize_kvs(&self.0, s)
    }
}

struct AnyValueVisitor;

impl<'de> Visitor<'de> for AnyValueVisitor {
    type Value = AnyValue;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<AnyValue, E> {
        Ok(AnyValue::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<AnyValue, E> {
        Ok(AnyValue::Int(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<AnyValue, E> {
        Ok(i64::try_from(v).map(AnyValue::Int).unwrap_or(AnyValue::Double(v as f64)))
    }
    fn visit_f64<E>(self, v: f64) -> Result<AnyValue, E> {
        Ok(AnyValue::Double(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<AnyValue, E> {
        Ok(AnyValue::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<AnyValue, E> {
        Ok(AnyValue::String(v))
    }
    fn visit_unit<E>(self) -> Result<AnyValue, E> {
        Ok(AnyValue::Empty)
    }
    fn visit_none<E>(self) -> Result<AnyValue, E> {
        Ok(AnyValue::Empty)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<AnyValue, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(item) = seq.next_element::<AnyValue>()? {
            items.push(item);
        }
        Ok(AnyValue::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<AnyValue, A::Error> {
        Ok(AnyValue::KvList(collect_kvs(map)?))
    }
}

fn collect_kvs<'de, A: MapAccess<'de>>(mut map: A) -> Result<Vec<KeyValue>, A::Error> {
    let mut kvs = Vec::with_capacity(map.size_hint().unwrap_or(0));
    while let Some((key, value)) = map.next_entry::<String, AnyValue>()? {
        kvs.push(KeyValue { key, value });
    }
    Ok(kvs)
}

impl<'de> Deserialize<'de> for AnyValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(AnyValueVisitor)
    }
}

impl<'de> Deserialize<'de> for Attributes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct AttrVisitor;
        impl<'de> Visitor<'de> for AttrVisitor {
            type Value = Attributes;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object of attributes")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Attributes, A::Error> {
                Ok(Attributes(collect_kvs(map)?))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Attributes, E> {
                Ok(Attributes::new())
            }
        }
        d.deserialize_any(AttrVisitor)
    }
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding (as OTLP/JSON writes bytes).
pub fn base64_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        out.push(B64[(n >> 18) as usize & 63] as char);
        out.push(B64[(n >> 12) as usize & 63] as char);
        out.push(if chunk.len() > 1 { B64[(n >> 6) as usize & 63] as char } else { '=' });
        out.push(if chunk.len() > 2 { B64[n as usize & 63] as char } else { '=' });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample() -> Attributes {
        let mut a = Attributes::new();
        a.push("http.method", AnyValue::String("GET".into()));
        a.push("retries", AnyValue::Int(2));
        a.push("ratio", AnyValue::Double(0.5));
        a.push("ok", AnyValue::Bool(true));
        a.push("tags", AnyValue::Array(vec![AnyValue::String("a".into()), AnyValue::Int(1)]));
        a.push("nested", AnyValue::KvList(vec![KeyValue::new("k", AnyValue::String("v".into()))]));
        a.push("nothing", AnyValue::Empty);
        a
    }

    #[test]
    fn writes_plain_json_objects_in_order() {
        assert_eq!(
            sample().to_json(),
            r#"{"http.method":"GET","retries":2,"ratio":0.5,"ok":true,"tags":["a",1],"nested":{"k":"v"},"nothing":null}"#
        );
    }

    #[test]
    fn json_round_trips_every_json_representable_value() {
        assert_eq!(Attributes::from_json(&sample().to_json()).unwrap(), sample());
    }

    #[test]
    fn bytes_become_base64_and_non_finite_doubles_become_strings() {
        let mut a = Attributes::new();
        a.push("b", AnyValue::Bytes(vec![0xde, 0xad, 0xbe, 0xef]));
        a.push("nan", AnyValue::Double(f64::NAN));
        a.push("inf", AnyValue::Double(f64::INFINITY));
        a.push("ninf", AnyValue::Double(f64::NEG_INFINITY));
        assert_eq!(a.to_json(), r#"{"b":"3q2+7w==","nan":"NaN","inf":"Infinity","ninf":"-Infinity"}"#);
    }

    #[test]
    fn base64_matches_rfc4648_vectors() {
        for (input, want) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64_encode(input.as_bytes()), want);
        }
    }

    #[test]
    fn large_unsigned_numbers_read_back_as_doubles() {
        let a = Attributes::from_json(r#"{"big":18446744073709551615}"#).unwrap();
        assert_eq!(a.get("big"), Some(&AnyValue::Double(18446744073709551615.0)));
    }

    #[test]
    fn null_reads_as_no_attributes() {
        assert!(Attributes::from_json("null").unwrap().is_empty());
    }

    proptest! {
        #[test]
        fn string_attributes_round_trip(pairs in proptest::collection::vec(("\\PC{0,12}", "\\PC{0,20}"), 0..8)) {
            let mut seen = std::collections::HashSet::new();
            let mut a = Attributes::new();
            for (k, v) in pairs {
                if seen.insert(k.clone()) {
                    a.push(k, AnyValue::String(v));
                }
            }
            prop_assert_eq!(Attributes::from_json(&a.to_json()).unwrap(), a);
        }
    }
}
