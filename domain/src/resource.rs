//! Resources and instrumentation scopes, shared by every record they describe.

use crate::hash::StableHasher;
use crate::value::Attributes;

/// The entity producing telemetry (service, host, pod…), shared between its records.
#[derive(Debug, Clone, PartialEq)]
pub struct Resource {
    /// `service.name`, or [`crate::UNKNOWN_SERVICE`] when absent.
    pub service_name: String,
    /// All resource attributes (including `service.name`).
    pub attributes: Attributes,
    /// Stable hash of the attributes; identical resources share a fingerprint.
    pub fingerprint: i64,
}

impl Resource {
    /// Builds a resource, deriving the service name and fingerprint from the attributes.
    pub fn new(attributes: Attributes) -> Self {
        let service_name = attributes
            .get_str("service.name")
            .filter(|s| !s.trim().is_empty())
            .unwrap_or(crate::UNKNOWN_SERVICE)
            .to_owned();
        let fingerprint = StableHasher::new().field(attributes.to_json().as_bytes()).finish_i64();
        Self { service_name, attributes, fingerprint }
    }

    /// A resource that only names a service.
    pub fn for_service(service: &str) -> Self {
        let mut attrs = Attributes::new();
        attrs.push("service.name", crate::AnyValue::String(service.to_owned()));
        Self::new(attrs)
    }
}

/// The instrumentation library that produced a record.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct InstrumentationScope {
    pub name: String,
    pub version: String,
    pub attributes: Attributes,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::AnyValue;

    #[test]
    fn service_name_comes_from_the_attributes() {
        assert_eq!(Resource::for_service("checkout").service_name, "checkout");
    }

    #[test]
    fn missing_or_blank_service_name_is_unknown_service() {
        assert_eq!(Resource::new(Attributes::new()).service_name, crate::UNKNOWN_SERVICE);
        let mut blank = Attributes::new();
        blank.push("service.name", AnyValue::String("  ".into()));
        assert_eq!(Resource::new(blank).service_name, crate::UNKNOWN_SERVICE);
        let mut wrong_type = Attributes::new();
        wrong_type.push("service.name", AnyValue::Int(3));
        assert_eq!(Resource::new(wrong_type).service_name, crate::UNKNOWN_SERVICE);
    }

    #[test]
    fn equal_attributes_share_a_fingerprint() {
        assert_eq!(Resource::for_service("a").fingerprint, Resource::for_service("a").fingerprint);
        assert_ne!(Resource::for_service("a").fingerprint, Resource::for_service("b").fingerprint);
    }
}
