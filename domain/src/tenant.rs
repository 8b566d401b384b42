//! Tenant identifiers.

use std::fmt;
use std::sync::Arc;

/// Maximum length of a tenant id, in bytes (all allowed characters are ASCII).
pub const MAX_TENANT_ID_LEN: usize = 64;

/// A validated tenant id: 1–64 characters of `[A-Za-z0-9._-]`.
///
/// Cheap to clone (shared string). Construct with [`TenantId::parse`], which trims surrounding
/// whitespace first and rejects anything else — a bad id is never silently remapped.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TenantId(Arc<str>);

/// Why a string is not a valid tenant id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidTenantId {
    #[error("tenant id is empty")]
    Empty,
    #[error("tenant id is longer than {MAX_TENANT_ID_LEN} characters")]
    TooLong,
    #[error("tenant id contains {0:?}; only letters, digits, '.', '_' and '-' are allowed")]
    BadCharacter(char),
}

impl TenantId {
    /// Trims `raw` and validates it.
    pub fn parse(raw: &str) -> Result<Self, InvalidTenantId> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(InvalidTenantId::Empty);
        }
        if let Some(bad) = trimmed.chars().find(|c| !is_allowed(*c)) {
            return Err(InvalidTenantId::BadCharacter(bad));
        }
        if trimmed.len() > MAX_TENANT_ID_LEN {
            return Err(InvalidTenantId::TooLong);
        }
        Ok(Self(Arc::from(trimmed)))
    }

    /// The tenant id as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The shared string (a cheap clone, for adapters that can bind it without copying).
    pub fn shared(&self) -> Arc<str> {
        self.0.clone()
    }
}

/// Why a request's tenant header was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TenantHeaderError {
    /// The header is not a valid tenant id.
    #[error("invalid tenant id {value:?}: {reason}")]
    Invalid { value: String, reason: InvalidTenantId },
    /// The caller's credential is bound to another tenant.
    #[error("the credential is bound to tenant {bound:?}; it cannot act as {asked:?}")]
    NotYours { bound: TenantId, asked: String },
}

/// The tenant a request acts as, from the tenant its credential is bound to and its tenant
/// header (`X-Tenant-ID`, `x-tenant-id` metadata): a bound credential always acts as its tenant —
/// a header naming another tenant is refused, never an override — else the header's tenant;
/// `None` when neither names one (the caller's default applies). A blank header is absent.
pub fn request_tenant(bound: Option<&TenantId>, header: Option<&str>) -> Result<Option<TenantId>, TenantHeaderError> {
    let asked = match header.map(str::trim).filter(|h| !h.is_empty()) {
        None => None,
        Some(raw) => Some(
            TenantId::parse(raw)
                .map_err(|reason| TenantHeaderError::Invalid { value: raw.chars().take(80).collect(), reason })?,
        ),
    };
    match (bound, asked) {
        (Some(b), Some(a)) if *b != a => {
            Err(TenantHeaderError::NotYours { bound: b.clone(), asked: a.as_str().to_owned() })
        }
        (Some(b), _) => Ok(Some(b.clone())),
        (None, asked) => Ok(asked),
    }
}

fn is_allowed(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TenantId({:?})", &*self.0)
    }
}

impl AsRef<str> for TenantId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for TenantId {
    type Err = InvalidTenantId;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_bound_credential_acts_as_its_tenant_and_a_header_naming_another_is_refused() {
        let t = |s: &str| TenantId::parse(s).unwrap();
        let bound = t("acme");
        let ok = |b: Option<&TenantId>, h: Option<&str>| request_tenant(b, h).unwrap().map(|t| t.to_string());
        assert_eq!(ok(Some(&bound), None), Some("acme".into()));
        assert_eq!(ok(Some(&bound), Some("  ")), Some("acme".into()), "blank is absent");
        assert_eq!(ok(Some(&bound), Some(" acme ")), Some("acme".into()), "naming itself is fine");
        assert_eq!(ok(None, Some("other")), Some("other".into()));
        assert_eq!(ok(None, None), None);
        assert!(matches!(
            request_tenant(Some(&bound), Some("other")),
            Err(TenantHeaderError::NotYours { ref asked, .. }) if asked == "other"
        ));
        assert!(
            matches!(request_tenant(Some(&bound), Some("ACME")), Err(TenantHeaderError::NotYours { .. })),
            "tenant ids are case-sensitive"
        );
        assert!(matches!(request_tenant(None, Some("a b")), Err(TenantHeaderError::Invalid { .. })));
        assert!(matches!(request_tenant(Some(&bound), Some("a/b")), Err(TenantHeaderError::Invalid { .. })));
    }

    #[test]
    fn accepts_the_allowed_alphabet() {
        for ok in ["a", "default", "team-1", "acme.prod_eu", "A.B-C_9", &"x".repeat(64)] {
            assert_eq!(TenantId::parse(ok).unwrap().as_str(), ok);
        }
    }

    #[test]
    fn trims_surrounding_whitespace() {
        assert_eq!(TenantId::parse("  acme \t").unwrap().as_str(), "acme");
    }

    #[test]
    fn rejects_bad_ids_with_a_reason() {
        let cases: &[(&str, InvalidTenantId)] = &[
            ("", InvalidTenantId::Empty),
            ("   ", InvalidTenantId::Empty),
            ("a b", InvalidTenantId::BadCharacter(' ')),
            ("acme/prod", InvalidTenantId::BadCharacter('/')),
            ("ten\u{0}ant", InvalidTenantId::BadCharacter('\u{0}')),
            ("naïve", InvalidTenantId::BadCharacter('ï')),
            ("t;drop", InvalidTenantId::BadCharacter(';')),
        ];
        for (raw, want) in cases {
            assert_eq!(TenantId::parse(raw).unwrap_err(), *want, "input {raw:?}");
        }
        assert_eq!(TenantId::parse(&"x".repeat(65)).unwrap_err(), InvalidTenantId::TooLong);
    }

    proptest! {
        #[test]
        fn parse_accepts_exactly_the_valid_language(s in "\\PC{0,80}") {
            let t = s.trim();
            let valid = !t.is_empty() && t.len() <= 64 && t.chars().all(is_allowed);
            prop_assert_eq!(TenantId::parse(&s).is_ok(), valid);
        }

        #[test]
        fn valid_ids_round_trip(s in "[A-Za-z0-9._-]{1,64}") {
            prop_assert_eq!(TenantId::parse(&s).unwrap().to_string(), s);
        }
    }
}
