//! Authentication of callers.

use otelcontext_domain::TenantId;

/// Who is calling.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Identity {
    /// A tenant the credential is bound to; it wins over any tenant header.
    pub tenant: Option<TenantId>,
    /// Short description for logs (never the secret).
    pub subject: String,
}

/// Why a caller was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("missing authorization header")]
    MissingHeader,
    #[error("authorization scheme must be Bearer")]
    BadScheme,
    #[error("invalid key")]
    BadKey,
}

impl AuthError {
    /// Label value for `otelcontext_api_auth_failures_total{reason}`.
    pub fn reason(self) -> &'static str {
        match self {
            AuthError::MissingHeader => "missing_header",
            AuthError::BadScheme => "bad_scheme",
            AuthError::BadKey => "bad_key",
        }
    }
}

/// Checks the `Authorization` header value of a request (HTTP header or gRPC metadata).
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait Authenticator: Send + Sync {
    /// Whether authentication is required at all (false: every caller passes).
    fn enabled(&self) -> bool;
    /// Authenticates the raw `Authorization` value.
    #[allow(clippy::needless_lifetimes)] // mockall needs the lifetime named
    fn authenticate<'a>(&self, authorization: Option<&'a str>) -> Result<Identity, AuthError>;
}
