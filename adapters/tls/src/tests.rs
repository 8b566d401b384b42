use super::*;

const DAY: Duration = Duration::from_secs(24 * 3600);

fn now() -> SystemTime {
    SystemTime::now()
}

fn write_pair(dir: &Path, sans: &[String], at: SystemTime, validity: Duration) -> (PathBuf, PathBuf) {
    let (cert, key) = generate_self_signed(sans, at, validity).unwrap();
    let (c, k) = (dir.join("server.crt"), dir.join("server.key"));
    fs::write(&c, cert).unwrap();
    fs::write(&k, key).unwrap();
    (c, k)
}

#[test]
fn a_self_signed_certificate_is_generated_once_and_reused() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("tls");
    let extra = vec!["otel.internal".to_owned(), "10.0.0.7".to_owned()];
    let first = ensure_self_signed(&cache, &extra, now()).unwrap();
    assert!(first.generated);
    let pem = fs::read(&first.cert_path).unwrap();
    let again = ensure_self_signed(&cache, &extra, now()).unwrap();
    assert!(!again.generated, "a valid cached certificate is reused");
    assert_eq!(fs::read(&again.cert_path).unwrap(), pem);
    let tls = Tls::load(TlsSource::SelfSigned { cache_dir: cache.clone(), extra_sans: extra.clone() }, now()).unwrap();
    let info = tls.info();
    for san in ["localhost", "127.0.0.1", "::1", "otel.internal", "10.0.0.7"] {
        assert!(info.subject_alt_names.iter().any(|s| s == san), "{san} in {:?}", info.subject_alt_names);
    }
    assert!(info.not_after_unix > unix(now()) + 300 * 24 * 3600);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(fs::metadata(&first.key_path).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(fs::metadata(&cache).unwrap().permissions().mode() & 0o777, 0o700);
    }
    // A new name asked for: regenerated to cover it.
    let more = vec!["other.internal".to_owned()];
    assert!(ensure_self_signed(&cache, &more, now()).unwrap().generated);
}

#[test]
fn an_almost_expired_cached_certificate_is_regenerated() {
    let dir = tempfile::tempdir().unwrap();
    let sans = required_sans(&[]);
    let (cert, key) =
        generate_self_signed(&sans, now() - Duration::from_secs(3600), Duration::from_secs(12 * 3600)).unwrap();
    fs::write(dir.path().join("cert.pem"), &cert).unwrap();
    fs::write(dir.path().join("key.pem"), &key).unwrap();
    let s = ensure_self_signed(dir.path(), &[], now()).unwrap();
    assert!(s.generated, "a certificate expiring within 24 h is replaced");
    assert_ne!(fs::read_to_string(&s.cert_path).unwrap(), cert);
}

#[test]
fn concurrent_bootstraps_generate_one_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("tls");
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let cache = cache.clone();
            std::thread::spawn(move || ensure_self_signed(&cache, &[], SystemTime::now()).unwrap().generated)
        })
        .collect();
    let generated = handles.into_iter().map(|h| h.join().unwrap()).filter(|g| *g).count();
    assert_eq!(generated, 1);
}

#[test]
fn unreadable_or_mismatched_files_are_errors_naming_the_variable() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = write_pair(dir.path(), &required_sans(&[]), now(), DAY * 30);
    let missing = dir.path().join("nope.crt");
    let err = Tls::load(TlsSource::Files { cert: missing.clone(), key: key.clone() }, now()).err().unwrap();
    assert!(err.to_string().starts_with("TLS_CERT_FILE"), "{err}");
    assert!(err.to_string().contains("nope.crt"), "{err}");
    let err = Tls::load(TlsSource::Files { cert: cert.clone(), key: missing }, now()).err().unwrap();
    assert!(err.to_string().starts_with("TLS_KEY_FILE"), "{err}");
    let junk = dir.path().join("junk.pem");
    fs::write(&junk, "hello").unwrap();
    let err = Tls::load(TlsSource::Files { cert: junk.clone(), key: key.clone() }, now()).err().unwrap();
    assert!(err.to_string().contains("TLS_CERT_FILE"), "{err}");
    let err = Tls::load(TlsSource::Files { cert: cert.clone(), key: junk }, now()).err().unwrap();
    assert!(err.to_string().contains("TLS_KEY_FILE"), "{err}");
    // Another certificate's key.
    let other = tempfile::tempdir().unwrap();
    let (_, other_key) = write_pair(other.path(), &required_sans(&[]), now(), DAY);
    let err = Tls::load(TlsSource::Files { cert, key: other_key }, now()).err().unwrap();
    assert!(err.to_string().contains("do not belong together"), "{err}");
}

#[test]
fn changed_files_are_served_without_a_restart_and_a_torn_update_keeps_the_old_one() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = write_pair(dir.path(), &["a.example".to_owned()], now(), DAY * 30);
    let tls = Tls::load(TlsSource::Files { cert: cert.clone(), key: key.clone() }, now()).unwrap();
    assert_eq!(tls.info().subject_alt_names, vec!["a.example".to_owned()]);
    assert!(!tls.check_reload(now()).unwrap(), "unchanged files are not reloaded");
    // Half a rotation: a new certificate with the old key.
    let (new_cert, new_key) = generate_self_signed(&["b.example".to_owned()], now(), DAY * 60).unwrap();
    fs::write(&cert, &new_cert).unwrap();
    assert!(tls.check_reload(now()).is_err());
    assert_eq!(tls.info().subject_alt_names, vec!["a.example".to_owned()], "the old certificate stays");
    fs::write(&key, &new_key).unwrap();
    assert!(tls.check_reload(now()).unwrap());
    assert_eq!(tls.info().subject_alt_names, vec!["b.example".to_owned()]);
}

#[test]
fn a_self_signed_certificate_near_expiry_is_renewed_while_serving() {
    let dir = tempfile::tempdir().unwrap();
    let tls = Tls::load(TlsSource::SelfSigned { cache_dir: dir.path().to_owned(), extra_sans: vec![] }, now()).unwrap();
    let first = tls.info();
    assert!(!tls.check_reload(now()).unwrap());
    // A year later, less than a day before expiry.
    let later = now() + SELF_SIGNED_VALIDITY - Duration::from_secs(3600);
    assert!(tls.check_reload(later).unwrap());
    assert!(tls.info().not_after_unix > first.not_after_unix);
}
