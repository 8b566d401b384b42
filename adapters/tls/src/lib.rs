//! TLS material of otelcontext.
//!
//! Two sources: certificate and key files (`TLS_CERT_FILE`, `TLS_KEY_FILE`), or a self-signed
//! ECDSA P-256 certificate generated with rcgen and cached in `TLS_CACHE_DIR` (`cert.pem`,
//! `key.pem` mode 0600, next to a `tls.lock` that keeps two starts from generating at once),
//! reused while it is valid for more than a day and covers the names it must.
//!
//! The certificate is served through [`ReloadingResolver`], so [`Tls::check_reload`] can swap it
//! without a restart: when the files change (mounted secrets rotate) or the self-signed one
//! nears its expiry. Handshakes in progress keep the certificate they started with.

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A certificate this close to its expiry is replaced (self-signed) or reported (files).
pub const RENEW_BEFORE: Duration = Duration::from_secs(24 * 3600);
/// How long a generated self-signed certificate is valid.
pub const SELF_SIGNED_VALIDITY: Duration = Duration::from_secs(365 * 24 * 3600);
/// Names every self-signed certificate covers (plus the host name and `TLS_EXTRA_SANS`).
pub const BASE_SANS: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

/// Where the certificate comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsSource {
    /// PEM files: a certificate chain and its private key.
    Files { cert: PathBuf, key: PathBuf },
    /// A self-signed certificate cached in `cache_dir`.
    SelfSigned { cache_dir: PathBuf, extra_sans: Vec<String> },
}

/// Why TLS material cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TlsError {
    /// A file named by a variable cannot be read or is not what it must be.
    #[error("{variable} {}: {message}", path.display())]
    File { variable: &'static str, path: PathBuf, message: String },
    /// The certificate and key do not belong together, or rustls refuses them.
    #[error("{0}")]
    Invalid(String),
}

fn file_error(variable: &'static str, path: &Path, message: impl std::fmt::Display) -> TlsError {
    TlsError::File { variable, path: path.to_owned(), message: message.to_string() }
}

/// What the served certificate says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertInfo {
    /// Expiry, unix seconds.
    pub not_after_unix: i64,
    /// DNS names and IP addresses it covers.
    pub subject_alt_names: Vec<String>,
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// The expiry and names of a DER certificate.
pub fn cert_info(der: &[u8]) -> Result<CertInfo, String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).map_err(|e| format!("not an X.509 certificate: {e}"))?;
    let mut sans = Vec::new();
    if let Ok(Some(ext)) = cert.subject_alternative_name() {
        for name in &ext.value.general_names {
            match name {
                x509_parser::extensions::GeneralName::DNSName(d) => sans.push((*d).to_owned()),
                x509_parser::extensions::GeneralName::IPAddress(ip) => match ip.len() {
                    4 => sans.push(std::net::Ipv4Addr::new(ip[0], ip[1], ip[2], ip[3]).to_string()),
                    16 => {
                        let b: [u8; 16] = (*ip).try_into().expect("16 bytes");
                        sans.push(std::net::Ipv6Addr::from(b).to_string());
                    }
                    _ => {}
                },
                _ => {}
            }
        }
    }
    Ok(CertInfo { not_after_unix: cert.validity().not_after.timestamp(), subject_alt_names: sans })
}

/// Reads a PEM chain and key, checks they belong together; errors name the variables.
fn load_pair(
    cert_path: &Path,
    key_path: &Path,
    vars: (&'static str, &'static str),
) -> Result<(Arc<CertifiedKey>, CertInfo), TlsError> {
    let cert_pem = fs::read(cert_path).map_err(|e| file_error(vars.0, cert_path, format!("cannot read: {e}")))?;
    let key_pem = fs::read(key_path).map_err(|e| file_error(vars.1, key_path, format!("cannot read: {e}")))?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| file_error(vars.0, cert_path, format!("not a PEM certificate: {e}")))?;
    if certs.is_empty() {
        return Err(file_error(vars.0, cert_path, "holds no CERTIFICATE block"));
    }
    let key = PrivateKeyDer::from_pem_slice(&key_pem)
        .map_err(|e| file_error(vars.1, key_path, format!("not a PEM private key: {e}")))?;
    let info = cert_info(&certs[0]).map_err(|e| file_error(vars.0, cert_path, e))?;
    let signing = provider()
        .key_provider
        .load_private_key(key)
        .map_err(|e| file_error(vars.1, key_path, format!("unsupported private key: {e}")))?;
    let certified = CertifiedKey::new(certs, signing);
    certified.keys_match().map_err(|e| {
        TlsError::Invalid(format!("{} and {} do not belong together: {e}", cert_path.display(), key_path.display()))
    })?;
    Ok((Arc::new(certified), info))
}

/// The machine's host name, when it can be read.
pub fn host_name() -> Option<String> {
    let raw = fs::read_to_string("/proc/sys/kernel/hostname").ok().or_else(|| std::env::var("HOSTNAME").ok())?;
    let name = raw.trim().to_owned();
    (!name.is_empty()).then_some(name)
}

/// The names a self-signed certificate must cover.
pub fn required_sans(extra: &[String]) -> Vec<String> {
    let mut sans: Vec<String> = BASE_SANS.iter().map(|s| (*s).to_owned()).collect();
    sans.extend(host_name());
    sans.extend(extra.iter().map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()));
    let mut seen = std::collections::HashSet::new();
    sans.retain(|s| seen.insert(s.to_ascii_lowercase()));
    sans
}

/// A new self-signed certificate (PEM) for `sans`, valid from an hour before `now` for `validity`.
pub fn generate_self_signed(
    sans: &[String],
    now: SystemTime,
    validity: Duration,
) -> Result<(String, String), TlsError> {
    let invalid = |e: rcgen::Error| TlsError::Invalid(format!("generating a self-signed certificate: {e}"));
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(invalid)?;
    let mut params = rcgen::CertificateParams::new(sans.to_vec()).map_err(invalid)?;
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.distinguished_name.push(rcgen::DnType::CommonName, "otelcontext");
    params.not_before = (now - Duration::from_secs(3600)).into();
    params.not_after = (now + validity).into();
    params.key_usages = vec![rcgen::KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages =
        vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth, rcgen::ExtendedKeyUsagePurpose::ClientAuth];
    let mut serial = [0u8; 16];
    let seed = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_nanos().to_le_bytes();
    serial.copy_from_slice(&seed);
    serial[0] &= 0x7f;
    params.serial_number = Some(rcgen::SerialNumber::from_slice(&serial));
    let cert = params.self_signed(&key).map_err(invalid)?;
    Ok((cert.pem(), key.serialize_pem()))
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)
    }
    #[cfg(not(unix))]
    {
        fs::create_dir_all(dir)
    }
}

/// Writes `content` to `path` through a temporary file and a rename (never a torn file).
fn write_atomically(path: &Path, content: &[u8], mode: u32) -> std::io::Result<()> {
    let temp = path.with_extension("tmp");
    let _ = fs::remove_file(&temp);
    let mut o = OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    let mut f = o.open(&temp)?;
    f.write_all(content)?;
    f.sync_all()?;
    fs::rename(&temp, path)
}

/// The cached self-signed certificate in a directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelfSigned {
    pub cert_path: PathBuf,
    pub key_path: PathBuf,
    /// Whether this call generated it (rather than reusing the cached one).
    pub generated: bool,
}

/// Makes sure `dir` holds a self-signed certificate valid for more than [`RENEW_BEFORE`] after
/// `now` that covers [`required_sans`]; generates one otherwise. Holds `dir/tls.lock` while it
/// checks and writes, so concurrent starts generate one certificate between them.
pub fn ensure_self_signed(dir: &Path, extra_sans: &[String], now: SystemTime) -> Result<SelfSigned, TlsError> {
    let var = "TLS_CACHE_DIR";
    create_private_dir(dir).map_err(|e| file_error(var, dir, format!("cannot create: {e}")))?;
    let lock_path = dir.join("tls.lock");
    let lock = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| file_error(var, &lock_path, format!("cannot open the lock: {e}")))?;
    lock.lock().map_err(|e| file_error(var, &lock_path, format!("cannot take the lock: {e}")))?;
    let cert_path = dir.join("cert.pem");
    let key_path = dir.join("key.pem");
    let sans = required_sans(extra_sans);
    let reusable = match load_pair(&cert_path, &key_path, ("TLS_CACHE_DIR", "TLS_CACHE_DIR")) {
        Ok((_, info)) => {
            let remaining = info.not_after_unix - unix(now);
            let covers = sans.iter().all(|s| info.subject_alt_names.iter().any(|n| n.eq_ignore_ascii_case(s)));
            remaining > RENEW_BEFORE.as_secs() as i64 && covers
        }
        Err(_) => false,
    };
    let generated = if reusable {
        false
    } else {
        let (cert, key) = generate_self_signed(&sans, now, SELF_SIGNED_VALIDITY)?;
        write_atomically(&key_path, key.as_bytes(), 0o600)
            .map_err(|e| file_error(var, &key_path, format!("cannot write: {e}")))?;
        write_atomically(&cert_path, cert.as_bytes(), 0o644)
            .map_err(|e| file_error(var, &cert_path, format!("cannot write: {e}")))?;
        tracing::info!(dir = %dir.display(), sans = ?sans, "generated a self-signed TLS certificate");
        true
    };
    drop(lock);
    Ok(SelfSigned { cert_path, key_path, generated })
}

fn unix(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

/// Serves whichever certificate was loaded last.
#[derive(Debug)]
pub struct ReloadingResolver {
    current: RwLock<Arc<CertifiedKey>>,
}

impl ResolvesServerCert for ReloadingResolver {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.read().unwrap_or_else(|e| e.into_inner()).clone())
    }
}

/// Size and modification time of the files, to notice a change.
type Stamp = Vec<(u64, Option<SystemTime>)>;

fn stamp(paths: &[&Path]) -> Stamp {
    paths.iter().map(|p| fs::metadata(p).map(|m| (m.len(), m.modified().ok())).unwrap_or((0, None))).collect()
}

struct State {
    stamp: Stamp,
    info: CertInfo,
}

/// The server's TLS material.
pub struct Tls {
    source: TlsSource,
    cert_path: PathBuf,
    key_path: PathBuf,
    resolver: Arc<ReloadingResolver>,
    state: Mutex<State>,
}

impl Tls {
    /// Loads (or, self-signed, bootstraps) the certificate.
    pub fn load(source: TlsSource, now: SystemTime) -> Result<Self, TlsError> {
        let (cert_path, key_path, vars) = match &source {
            TlsSource::Files { cert, key } => (cert.clone(), key.clone(), ("TLS_CERT_FILE", "TLS_KEY_FILE")),
            TlsSource::SelfSigned { cache_dir, extra_sans } => {
                let s = ensure_self_signed(cache_dir, extra_sans, now)?;
                (s.cert_path, s.key_path, ("TLS_CACHE_DIR", "TLS_CACHE_DIR"))
            }
        };
        let (key, info) = load_pair(&cert_path, &key_path, vars)?;
        let state = State { stamp: stamp(&[&cert_path, &key_path]), info };
        Ok(Self {
            source,
            cert_path,
            key_path,
            resolver: Arc::new(ReloadingResolver { current: RwLock::new(key) }),
            state: Mutex::new(state),
        })
    }

    /// A rustls server configuration over the reloading certificate, offering `alpn`.
    pub fn server_config(&self, alpn: &[&[u8]]) -> Arc<rustls::ServerConfig> {
        let mut c = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .expect("the default provider supports the default protocol versions")
            .with_no_client_auth()
            .with_cert_resolver(self.resolver.clone());
        c.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Arc::new(c)
    }

    /// The served certificate's expiry and names.
    pub fn info(&self) -> CertInfo {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).info.clone()
    }

    /// The certificate and key files served.
    pub fn paths(&self) -> (&Path, &Path) {
        (&self.cert_path, &self.key_path)
    }

    /// Loads the certificate again when its files changed, or (self-signed) regenerates it when
    /// it expires within [`RENEW_BEFORE`]. `Ok(true)` when a new certificate is being served;
    /// on an error the previous one stays in service.
    pub fn check_reload(&self, now: SystemTime) -> Result<bool, TlsError> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let vars = match &self.source {
            TlsSource::Files { .. } => ("TLS_CERT_FILE", "TLS_KEY_FILE"),
            TlsSource::SelfSigned { cache_dir, extra_sans } => {
                if state.info.not_after_unix - unix(now) <= RENEW_BEFORE.as_secs() as i64 {
                    ensure_self_signed(cache_dir, extra_sans, now)?;
                }
                ("TLS_CACHE_DIR", "TLS_CACHE_DIR")
            }
        };
        let current = stamp(&[&self.cert_path, &self.key_path]);
        if current == state.stamp {
            return Ok(false);
        }
        let (key, info) = load_pair(&self.cert_path, &self.key_path, vars)?;
        *self.resolver.current.write().unwrap_or_else(|e| e.into_inner()) = key;
        state.stamp = current;
        state.info = info;
        Ok(true)
    }
}

#[cfg(test)]
mod tests;
