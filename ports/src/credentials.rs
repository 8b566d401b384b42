//! Short-lived database credentials (Azure Entra tokens for PostgreSQL).

use async_trait::async_trait;

/// A bearer token used as a database password, with its expiry.
#[derive(Clone, PartialEq, Eq)]
pub struct AccessToken {
    pub secret: String,
    /// Unix seconds after which the token is no longer accepted.
    pub expires_at_unix: i64,
}

impl std::fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessToken")
            .field("secret", &"<redacted>")
            .field("expires_at_unix", &self.expires_at_unix)
            .finish()
    }
}

/// Issues tokens for new database connections.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait TokenSource: Send + Sync {
    /// A token valid now; the error says why none could be obtained.
    async fn token(&self) -> Result<AccessToken, String>;
}
