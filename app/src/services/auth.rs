//! Shared-key bearer authentication (`API_KEY`).

use otelcontext_ports::{AuthError, Authenticator, Identity};

/// Accepts `Authorization: Bearer <API_KEY>`, compared in constant time. With an empty key every
/// caller passes.
pub struct StaticKeyAuthenticator {
    key: Vec<u8>,
}

impl StaticKeyAuthenticator {
    /// An authenticator for `key` (empty disables authentication).
    pub fn new(key: &str) -> Self {
        Self { key: key.as_bytes().to_vec() }
    }
}

/// Compares without an early exit on the first differing byte (length is not secret).
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

impl Authenticator for StaticKeyAuthenticator {
    fn enabled(&self) -> bool {
        !self.key.is_empty()
    }

    fn authenticate(&self, authorization: Option<&str>) -> Result<Identity, AuthError> {
        if !self.enabled() {
            return Ok(Identity { tenant: None, subject: "anonymous".into() });
        }
        let header = authorization.map(str::trim).filter(|h| !h.is_empty()).ok_or(AuthError::MissingHeader)?;
        let (scheme, token) = header.split_once(' ').ok_or(AuthError::BadScheme)?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(AuthError::BadScheme);
        }
        if constant_time_eq(token.trim().as_bytes(), &self.key) {
            Ok(Identity { tenant: None, subject: "api-key".into() })
        } else {
            Err(AuthError::BadKey)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_key_table() {
        let a = StaticKeyAuthenticator::new("s3cret");
        let cases: &[(Option<&str>, Result<(), AuthError>)] = &[
            (Some("Bearer s3cret"), Ok(())),
            (Some("bearer s3cret"), Ok(())),
            (Some("Bearer  s3cret "), Ok(())),
            (None, Err(AuthError::MissingHeader)),
            (Some(""), Err(AuthError::MissingHeader)),
            (Some("s3cret"), Err(AuthError::BadScheme)),
            (Some("Basic s3cret"), Err(AuthError::BadScheme)),
            (Some("Bearer wrong"), Err(AuthError::BadKey)),
            (Some("Bearer s3cre"), Err(AuthError::BadKey)),
            (Some("Bearer s3cret2"), Err(AuthError::BadKey)),
        ];
        for (header, want) in cases {
            assert_eq!(a.authenticate(*header).map(|_| ()), *want, "{header:?}");
        }
    }

    #[test]
    fn empty_key_lets_everyone_in() {
        let a = StaticKeyAuthenticator::new("");
        assert!(!a.enabled());
        assert!(a.authenticate(None).is_ok());
        assert!(a.authenticate(Some("Bearer anything")).is_ok());
    }

    #[test]
    fn constant_time_eq_is_equality() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
