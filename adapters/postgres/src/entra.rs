//! Azure Entra (AAD) authentication: a short-lived token is the database password. New
//! connections always get a valid token: a refresher fetches the next one before the current
//! expires and hands it to the pool for every connection opened after that.

use crate::dsn::ParsedDsn;
use otelcontext_ports::{AccessToken, TokenSource};
use sqlx::PgPool;
use sqlx::postgres::PgConnectOptions;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The OAuth scope of Azure Database for PostgreSQL.
pub const ENTRA_SCOPE: &str = "https://ossrdbms-aad.database.windows.net/.default";
/// Longest a connection lives with Entra auth (tokens expire; a connection outliving its token
/// keeps working, but capping the lifetime keeps every connection on a recent identity).
pub const ENTRA_MAX_LIFETIME: Duration = Duration::from_secs(30 * 60);
/// How long fetching one token may take.
pub const TOKEN_TIMEOUT: Duration = Duration::from_secs(30);
/// A token is replaced this long before it expires.
pub const REFRESH_MARGIN: Duration = Duration::from_secs(5 * 60);

/// Checks that a DSN can be used with Entra: a user (the Entra principal), no password, and TLS
/// that is required (`sslmode` require, verify-ca or verify-full).
pub fn validate_entra_dsn(dsn: &ParsedDsn) -> Result<(), String> {
    if dsn.user.trim().is_empty() {
        return Err("DB_AZURE_AUTH=true needs the Entra principal as the DSN user".into());
    }
    if dsn.has_password {
        return Err("DB_AZURE_AUTH=true: the DSN must not carry a password (the Entra token is the password)".into());
    }
    match dsn.ssl_mode.as_deref() {
        Some("require" | "verify-ca" | "verify-full") => Ok(()),
        Some(other) => Err(format!(
            "DB_AZURE_AUTH=true needs sslmode require, verify-ca or verify-full; the DSN has sslmode={other}"
        )),
        None => Err("DB_AZURE_AUTH=true needs sslmode require, verify-ca or verify-full in the DSN".into()),
    }
}

/// Fetches a token within [`TOKEN_TIMEOUT`].
async fn fetch(source: &dyn TokenSource) -> Result<AccessToken, String> {
    match tokio::time::timeout(TOKEN_TIMEOUT, source.token()).await {
        Ok(result) => result,
        Err(_) => Err(format!("acquire entra token: timed out after {TOKEN_TIMEOUT:?}")),
    }
}

/// The options of new connections, with a current token as password.
pub(crate) async fn options_with_token(
    base: &PgConnectOptions,
    source: &dyn TokenSource,
) -> Result<(PgConnectOptions, AccessToken), String> {
    let token = fetch(source).await?;
    Ok((base.clone().password(&token.secret), token))
}

/// How long to wait before fetching the next token.
pub fn refresh_in(expires_at_unix: i64, now_unix: i64) -> Duration {
    let left = expires_at_unix.saturating_sub(now_unix).max(0) as u64;
    Duration::from_secs(left.saturating_sub(REFRESH_MARGIN.as_secs()).max(30))
}

/// Keeps the pool's connect options on a valid token until dropped.
pub(crate) struct TokenRefresher {
    task: tokio::task::JoinHandle<()>,
    refreshed: Arc<AtomicU64>,
}

impl TokenRefresher {
    /// Starts refreshing; `first` is the token the pool was created with.
    pub(crate) fn start(
        pool: PgPool,
        base: PgConnectOptions,
        source: Arc<dyn TokenSource>,
        first: &AccessToken,
    ) -> Self {
        let refreshed = Arc::new(AtomicU64::new(0));
        let count = refreshed.clone();
        let mut wait = refresh_in(first.expires_at_unix, now_unix());
        let task = tokio::spawn(async move {
            loop {
                tokio::time::sleep(wait).await;
                match options_with_token(&base, &*source).await {
                    Ok((options, token)) => {
                        pool.set_connect_options(options);
                        count.fetch_add(1, Ordering::SeqCst);
                        wait = refresh_in(token.expires_at_unix, now_unix());
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "acquire entra token failed; new database connections will fail until it succeeds");
                        wait = Duration::from_secs(10);
                    }
                }
            }
        });
        Self { task, refreshed }
    }

    /// How many times the token was replaced.
    pub(crate) fn refreshes(&self) -> u64 {
        self.refreshed.load(Ordering::SeqCst)
    }
}

impl Drop for TokenRefresher {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn now_unix() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

/// Where the Azure credential chain looks, as configured (the Azure SDK's own variable names).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AzureSettings {
    pub tenant_id: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub federated_token_file: Option<std::path::PathBuf>,
}

/// Tokens from the Azure credential chain: environment (client secret) → workload identity →
/// managed identity → Azure CLI; the first that yields a token wins.
pub struct AzureTokenSource {
    chain: Vec<(&'static str, Arc<dyn azure_core::credentials::TokenCredential>)>,
}

impl AzureTokenSource {
    /// Builds the links of the chain that can be built with these settings.
    pub fn new(settings: &AzureSettings) -> Result<Self, String> {
        use azure_identity::*;
        let mut chain: Vec<(&'static str, Arc<dyn azure_core::credentials::TokenCredential>)> = Vec::new();
        if let (Some(tenant), Some(client), Some(secret)) =
            (&settings.tenant_id, &settings.client_id, &settings.client_secret)
        {
            let c = ClientSecretCredential::new(tenant, client.clone(), secret.clone().into(), None)
                .map_err(|e| format!("client secret credential: {e}"))?;
            chain.push(("environment", c));
        }
        if let (Some(tenant), Some(client), Some(file)) =
            (&settings.tenant_id, &settings.client_id, &settings.federated_token_file)
        {
            let options = WorkloadIdentityCredentialOptions {
                client_id: Some(client.clone()),
                tenant_id: Some(tenant.clone()),
                token_file_path: Some(file.clone()),
                ..Default::default()
            };
            let c = WorkloadIdentityCredential::new(Some(options)).map_err(|e| format!("workload identity: {e}"))?;
            chain.push(("workload_identity", c));
        }
        let managed = ManagedIdentityCredentialOptions {
            user_assigned_id: settings.client_id.clone().map(UserAssignedId::ClientId),
            ..Default::default()
        };
        match ManagedIdentityCredential::new(Some(managed)) {
            Ok(c) => chain.push(("managed_identity", c)),
            Err(e) => tracing::debug!(error = %e, "managed identity credential unavailable"),
        }
        match AzureCliCredential::new(None) {
            Ok(c) => chain.push(("azure_cli", c)),
            Err(e) => tracing::debug!(error = %e, "Azure CLI credential unavailable"),
        }
        if chain.is_empty() {
            return Err("no Azure credential can be built".into());
        }
        Ok(Self { chain })
    }
}

#[async_trait::async_trait]
impl TokenSource for AzureTokenSource {
    async fn token(&self) -> Result<AccessToken, String> {
        let mut failures = Vec::new();
        for (name, credential) in &self.chain {
            match credential.get_token(&[ENTRA_SCOPE], None).await {
                Ok(t) => {
                    return Ok(AccessToken {
                        secret: t.token.secret().to_owned(),
                        expires_at_unix: t.expires_on.unix_timestamp(),
                    });
                }
                Err(e) => failures.push(format!("{name}: {e}")),
            }
        }
        Err(format!("acquire entra token: every credential failed ({})", failures.join("; ")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dsn::parse_dsn;

    #[test]
    fn entra_dsns_need_a_user_tls_and_no_password() {
        let ok =
            ["postgres://mi%40t.onmicrosoft.com@h/db?sslmode=require", "host=h user=me sslmode=verify-full dbname=x"];
        for dsn in ok {
            validate_entra_dsn(&parse_dsn(dsn).unwrap()).unwrap();
        }
        let cases = [
            ("postgres://me:pw@h/db?sslmode=require", "password"),
            ("host=h user=me password=x sslmode=require", "password"),
            ("postgres://me@h/db", "sslmode"),
            ("postgres://me@h/db?sslmode=prefer", "sslmode=prefer"),
            ("host=h user=me sslmode=disable", "sslmode=disable"),
        ];
        for (dsn, why) in cases {
            let err = validate_entra_dsn(&parse_dsn(dsn).unwrap()).unwrap_err();
            assert!(err.contains(why), "{dsn}: {err}");
        }
    }

    #[test]
    fn tokens_are_replaced_five_minutes_before_they_expire() {
        assert_eq!(refresh_in(10_000, 10_000 - 3_600), Duration::from_secs(3_600 - 300));
        assert_eq!(refresh_in(10_000, 10_000 - 100), Duration::from_secs(30), "never busy-loops");
        assert_eq!(refresh_in(10_000, 20_000), Duration::from_secs(30));
    }
}
