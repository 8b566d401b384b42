//! Bearer authentication: the shared `API_KEY` (any tenant, chosen by `X-Tenant-ID`) and the
//! per-tenant keys of `API_KEYS_FILE` (each pinned to its tenant), reloaded when the file
//! changes or on SIGHUP.

use otelcontext_domain::TenantId;
use otelcontext_domain::keys::parse_key_file;
use otelcontext_ports::{AuthError, Authenticator, Identity};
use otelcontext_telemetry::{Counter, Gauge, KeyValue, Meter, counter, gauge};
use parking_lot::{Mutex, RwLock};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Compares without an early exit on the first differing byte (length is not secret).
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

/// What identifies a file's content without reading it: modification time and length.
type Stamp = (Option<SystemTime>, u64);

/// The keys callers may present. Per-tenant keys are held as SHA-256 digests: a lookup by
/// digest tells an attacker nothing about how close a wrong key was.
pub struct KeyRing {
    shared: Vec<u8>,
    file: Option<PathBuf>,
    tenant_keys: RwLock<HashMap<[u8; 32], TenantId>>,
    stamp: Mutex<Option<Stamp>>,
    metrics: Option<KeyMetrics>,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRing")
            .field("shared", &!self.shared.is_empty())
            .field("file", &self.file)
            .field("tenant_keys", &self.tenant_keys.read().len())
            .finish()
    }
}

struct KeyMetrics {
    keys: Gauge<i64>,
    reloads: Counter<u64>,
}

impl KeyRing {
    /// Only the shared key (empty disables authentication).
    pub fn shared(key: &str) -> Self {
        Self {
            shared: key.as_bytes().to_vec(),
            file: None,
            tenant_keys: RwLock::new(HashMap::new()),
            stamp: Mutex::new(None),
            metrics: None,
        }
    }

    /// The shared key and, when `file` is given, the per-tenant keys in it; a file that cannot
    /// be read or parsed is an error (the server does not start with half its keys).
    pub fn new(shared: &str, file: Option<PathBuf>, meter: &Meter) -> Result<Self, String> {
        let metrics = KeyMetrics {
            keys: gauge(meter, "otelcontext_api_tenant_keys", "Per-tenant API keys loaded from API_KEYS_FILE."),
            reloads: counter(
                meter,
                "otelcontext_api_keys_reloads_total",
                "Reloads of API_KEYS_FILE, by result (ok, error: the previous keys stay).",
            ),
        };
        for result in ["ok", "error"] {
            metrics.reloads.add(0, &[KeyValue::new("result", result)]);
        }
        let ring = Self { file, metrics: Some(metrics), ..Self::shared(shared) };
        if ring.file.is_some() {
            ring.load()?;
        }
        Ok(ring)
    }

    fn stamp_of(path: &std::path::Path) -> Result<Stamp, String> {
        let meta = std::fs::metadata(path).map_err(|e| format!("API_KEYS_FILE {}: {e}", path.display()))?;
        Ok((meta.modified().ok(), meta.len()))
    }

    /// Reads the file now; returns how many per-tenant keys it holds. The file's stamp is
    /// remembered either way, so a broken file is reported once, not at every check.
    fn load(&self) -> Result<usize, String> {
        let Some(path) = &self.file else { return Ok(0) };
        let stamp = Self::stamp_of(path)?;
        *self.stamp.lock() = Some(stamp);
        let text = std::fs::read_to_string(path).map_err(|e| format!("API_KEYS_FILE {}: {e}", path.display()))?;
        let pairs = parse_key_file(&text).map_err(|e| format!("API_KEYS_FILE {}: {e}", path.display()))?;
        let keys: HashMap<[u8; 32], TenantId> =
            pairs.into_iter().map(|(k, t)| (Sha256::digest(k.as_bytes()).into(), t)).collect();
        let n = keys.len();
        *self.tenant_keys.write() = keys;
        if let Some(m) = &self.metrics {
            m.keys.record(n as i64, &[]);
        }
        Ok(n)
    }

    /// Reloads the file when it changed since it was last read (or always, when `force`);
    /// `Ok(Some(n))` when it was reloaded with `n` keys. On an error the previous keys stay.
    pub fn reload(&self, force: bool) -> Result<Option<usize>, String> {
        let Some(path) = &self.file else { return Ok(None) };
        if !force && Some(Self::stamp_of(path)?) == *self.stamp.lock() {
            return Ok(None);
        }
        let result = self.load().map(Some);
        if let Some(m) = &self.metrics {
            let label = if result.is_ok() { "ok" } else { "error" };
            m.reloads.add(1, &[KeyValue::new("result", label)]);
        }
        result
    }

    /// Checks the file every `interval` and rereads it on SIGHUP, until `stop`.
    pub fn spawn_reloader(self: Arc<Self>, interval: Duration, mut stop: watch::Receiver<bool>) -> JoinHandle<()> {
        tokio::spawn(async move {
            #[cfg(unix)]
            let mut hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
            loop {
                #[cfg(unix)]
                let hup = async {
                    match hangup.as_mut() {
                        Some(s) => s.recv().await,
                        None => std::future::pending().await,
                    }
                };
                #[cfg(not(unix))]
                let hup = std::future::pending::<Option<()>>();
                let force = tokio::select! {
                    _ = tokio::time::sleep(interval) => false,
                    _ = hup => true,
                    _ = stop.wait_for(|v| *v) => return,
                };
                let ring = self.clone();
                match tokio::task::spawn_blocking(move || ring.reload(force)).await {
                    Ok(Ok(Some(n))) => tracing::info!(keys = n, "reloaded API_KEYS_FILE"),
                    Ok(Ok(None)) => {}
                    Ok(Err(e)) => tracing::error!(error = %e, "cannot reload API_KEYS_FILE; the previous keys stay"),
                    Err(e) => tracing::error!(error = %e, "API key reload task failed"),
                }
            }
        })
    }
}

impl Authenticator for KeyRing {
    fn enabled(&self) -> bool {
        !self.shared.is_empty() || self.file.is_some()
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
        let token = token.trim().as_bytes();
        if !self.shared.is_empty() && constant_time_eq(token, &self.shared) {
            return Ok(Identity { tenant: None, subject: "api-key".into() });
        }
        let digest: [u8; 32] = Sha256::digest(token).into();
        match self.tenant_keys.read().get(&digest) {
            Some(tenant) => Ok(Identity { tenant: Some(tenant.clone()), subject: format!("key of tenant {tenant}") }),
            None => Err(AuthError::BadKey),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAY: &str = "pay-0123456789abcdef";
    const SEARCH: &str = "search-0123456789abcdef";

    #[test]
    fn bearer_key_table() {
        let a = KeyRing::shared("s3cret");
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
        let a = KeyRing::shared("");
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

    fn tenant_of(ring: &KeyRing, key: &str) -> Result<Option<String>, AuthError> {
        ring.authenticate(Some(&format!("Bearer {key}"))).map(|i| i.tenant.map(|t| t.to_string()))
    }

    #[test]
    fn tenant_keys_pin_their_tenant_and_reload_when_the_file_changes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys");
        std::fs::write(&path, format!("# team keys\n{PAY} payments\n")).unwrap();
        let meter = otelcontext_telemetry::Telemetry::new().meter();
        let ring = KeyRing::new("shared-key", Some(path.clone()), &meter).unwrap();
        assert!(ring.enabled());
        assert_eq!(tenant_of(&ring, PAY), Ok(Some("payments".into())));
        assert_eq!(tenant_of(&ring, "shared-key"), Ok(None), "the shared key names no tenant");
        assert_eq!(tenant_of(&ring, SEARCH), Err(AuthError::BadKey));
        assert_eq!(ring.reload(false), Ok(None), "unchanged: not reread");

        // A new key for search; payments' key rotated out.
        std::fs::write(&path, format!("{SEARCH} search\n")).unwrap();
        assert_eq!(ring.reload(true), Ok(Some(1)));
        assert_eq!(tenant_of(&ring, SEARCH), Ok(Some("search".into())));
        assert_eq!(tenant_of(&ring, PAY), Err(AuthError::BadKey));

        // A broken file keeps the keys there were.
        std::fs::write(&path, "too short\n").unwrap();
        let err = ring.reload(true).unwrap_err();
        assert!(err.contains("line 1"), "{err}");
        assert_eq!(ring.reload(false), Ok(None), "reported once, not at every check");
        assert_eq!(tenant_of(&ring, SEARCH), Ok(Some("search".into())));
        std::fs::remove_file(&path).unwrap();
        assert!(ring.reload(false).is_err(), "a missing file is an error, the keys stay");
        assert_eq!(tenant_of(&ring, SEARCH), Ok(Some("search".into())));
    }

    #[test]
    fn a_keys_file_alone_enables_auth_and_a_bad_one_refuses_to_start() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys");
        std::fs::write(&path, "").unwrap();
        let meter = otelcontext_telemetry::Telemetry::new().meter();
        let ring = KeyRing::new("", Some(path.clone()), &meter).unwrap();
        assert!(ring.enabled(), "an empty keys file still requires keys");
        assert_eq!(tenant_of(&ring, "anything-at-all-1234"), Err(AuthError::BadKey));
        std::fs::write(&path, format!("{PAY} pay ments\n")).unwrap();
        assert!(KeyRing::new("", Some(path), &meter).unwrap_err().contains("line 1"));
        assert!(KeyRing::new("", Some(dir.path().join("absent")), &meter).is_err());
    }
}
