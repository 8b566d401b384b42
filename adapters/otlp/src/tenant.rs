//! Which tenant an export belongs to.

use otelcontext_domain::{Attributes, InvalidTenantId, TenantHeaderError, TenantId, request_tenant};

/// Resource attribute that may carry the tenant (only when trusted).
pub const TENANT_RESOURCE_ATTRIBUTE: &str = "tenant.id";

/// How tenants are resolved for ingest: a tenant bound to the caller's credential wins, then the
/// `X-Tenant-ID` header / `x-tenant-id` metadata, then (if trusted) the resource attribute
/// `tenant.id`, then the default.
#[derive(Debug, Clone, PartialEq)]
pub struct TenantPolicy {
    pub default_tenant: TenantId,
    pub trust_resource_attribute: bool,
}

/// Where the tenant of a request came from, before looking at resources.
#[derive(Debug, Clone, PartialEq)]
pub enum RequestTenant {
    /// Bound to the credential or given by header/metadata: applies to every resource.
    Fixed(TenantId),
    /// Nothing given: resolve per resource.
    PerResource,
}

/// A tenant header/metadata value that is not a valid tenant id.
#[derive(Debug, Clone, PartialEq)]
pub struct BadTenant {
    pub source: &'static str,
    pub value: String,
    pub reason: InvalidTenantId,
}

impl std::fmt::Display for BadTenant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shown: String = self.value.chars().take(80).collect();
        write!(f, "invalid tenant id {shown:?} in {}: {}", self.source, self.reason)
    }
}

impl std::error::Error for BadTenant {}

impl TenantPolicy {
    /// Resolves the request-level tenant from the credential's tenant and the header value (see
    /// [`request_tenant`]: a header naming another tenant than the credential's is refused).
    pub fn for_request(
        &self,
        bound: Option<&TenantId>,
        header: Option<&str>,
    ) -> Result<RequestTenant, TenantHeaderError> {
        Ok(request_tenant(bound, header)?.map_or(RequestTenant::PerResource, RequestTenant::Fixed))
    }

    /// The tenant of one resource.
    pub fn for_resource(&self, request: &RequestTenant, resource: &Attributes) -> Result<TenantId, BadTenant> {
        match request {
            RequestTenant::Fixed(t) => Ok(t.clone()),
            RequestTenant::PerResource => {
                if self.trust_resource_attribute
                    && let Some(raw) = resource.get_str(TENANT_RESOURCE_ATTRIBUTE)
                    && !raw.trim().is_empty()
                {
                    return TenantId::parse(raw).map_err(|reason| BadTenant {
                        source: "the resource attribute tenant.id",
                        value: raw.to_owned(),
                        reason,
                    });
                }
                Ok(self.default_tenant.clone())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use otelcontext_domain::AnyValue;

    fn policy(trust: bool) -> TenantPolicy {
        TenantPolicy { default_tenant: TenantId::parse("default").unwrap(), trust_resource_attribute: trust }
    }

    fn resource_with_tenant(t: &str) -> Attributes {
        let mut a = Attributes::new();
        a.push(TENANT_RESOURCE_ATTRIBUTE, AnyValue::String(t.into()));
        a
    }

    #[test]
    fn credential_beats_header_beats_resource_beats_default() {
        let p = policy(true);
        let bound = TenantId::parse("bound").unwrap();
        assert!(
            matches!(p.for_request(Some(&bound), Some("header")), Err(TenantHeaderError::NotYours { .. })),
            "a header naming another tenant than the credential's is refused"
        );
        assert_eq!(p.for_request(Some(&bound), Some("bound")).unwrap(), RequestTenant::Fixed(bound.clone()));
        let req = p.for_request(Some(&bound), None).unwrap();
        assert_eq!(req, RequestTenant::Fixed(bound.clone()));
        assert_eq!(p.for_resource(&req, &resource_with_tenant("res")).unwrap(), bound, "the credential wins");
        let req = p.for_request(None, Some(" header ")).unwrap();
        assert_eq!(p.for_resource(&req, &resource_with_tenant("res")).unwrap().as_str(), "header");
        let req = p.for_request(None, None).unwrap();
        assert_eq!(p.for_resource(&req, &resource_with_tenant("res")).unwrap().as_str(), "res");
        assert_eq!(p.for_resource(&req, &Attributes::new()).unwrap().as_str(), "default");
        let req = p.for_request(None, Some("   ")).unwrap();
        assert_eq!(req, RequestTenant::PerResource);
    }

    #[test]
    fn resource_attribute_is_ignored_unless_trusted() {
        let p = policy(false);
        let req = p.for_request(None, None).unwrap();
        assert_eq!(p.for_resource(&req, &resource_with_tenant("res")).unwrap().as_str(), "default");
    }

    #[test]
    fn invalid_tenants_are_errors_naming_the_source() {
        let p = policy(true);
        let err = p.for_request(None, Some("bad tenant!")).unwrap_err();
        assert!(matches!(err, TenantHeaderError::Invalid { .. }), "{err}");
        let req = p.for_request(None, None).unwrap();
        let err = p.for_resource(&req, &resource_with_tenant("x/y")).unwrap_err();
        assert!(err.to_string().contains("tenant.id"), "{err}");
    }
}
