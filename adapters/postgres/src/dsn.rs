//! `DB_DSN` for PostgreSQL: a URL (`postgres://user:pass@host:5432/db?sslmode=require`) or libpq
//! key=value pairs (`host=localhost user=otel dbname=otelcontext sslmode=disable`). Keys libpq
//! does not know as connection settings (e.g. `TimeZone=UTC`) become run-time parameters, as pgx
//! treats them.

use sqlx::postgres::{PgConnectOptions, PgSslMode};
use std::str::FromStr;
use std::time::Duration;

/// A parsed DSN.
#[derive(Debug, Clone)]
pub struct ParsedDsn {
    pub options: PgConnectOptions,
    pub user: String,
    pub has_password: bool,
    /// `sslmode` as written, lower-cased; `None` when absent.
    pub ssl_mode: Option<String>,
    pub connect_timeout: Option<Duration>,
}

fn ssl_mode(v: &str) -> Result<PgSslMode, String> {
    PgSslMode::from_str(v)
        .map_err(|_| format!("sslmode {v:?} is not one of disable, allow, prefer, require, verify-ca, verify-full"))
}

/// Parses a DSN in either form. Errors never contain the password.
pub fn parse_dsn(dsn: &str) -> Result<ParsedDsn, String> {
    let dsn = dsn.trim();
    if dsn.is_empty() {
        return Err("DB_DSN is required for the postgres driver".into());
    }
    if dsn.starts_with("postgres://") || dsn.starts_with("postgresql://") { parse_url(dsn) } else { parse_pairs(dsn) }
}

fn parse_url(dsn: &str) -> Result<ParsedDsn, String> {
    let rest = dsn.split_once("://").map(|(_, r)| r).unwrap_or_default();
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    let (userinfo, _) = authority.rsplit_once('@').unwrap_or(("", authority));
    let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
    let query = rest.split_once('?').map(|(_, q)| q).unwrap_or_default();
    let param = |name: &str| {
        query
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_ascii_lowercase())
    };
    let ssl = param("sslmode");
    if let Some(mode) = &ssl {
        ssl_mode(mode)?;
    }
    let connect_timeout = param("connect_timeout")
        .map(|v| {
            v.parse::<u64>()
                .map(Duration::from_secs)
                .map_err(|_| format!("connect_timeout {v:?} is not a number of seconds"))
        })
        .transpose()?;
    let options = PgConnectOptions::from_str(dsn)
        .map_err(|e| format!("DB_DSN is not a valid PostgreSQL URL: {}", scrub(&e.to_string(), password)))?;
    let user = if user.is_empty() { options.get_username().to_owned() } else { percent_decode(user) };
    Ok(ParsedDsn { options, user, has_password: !password.is_empty(), ssl_mode: ssl, connect_timeout })
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Some(v) = std::str::from_utf8(&bytes[i + 1..i + 3]).ok().and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn scrub(text: &str, password: &str) -> String {
    if password.is_empty() { text.to_owned() } else { text.replace(password, "REDACTED") }
}

/// Splits libpq `key=value` pairs; values may be single-quoted with `\'` and `\\` escapes.
fn pairs(dsn: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    let mut chars = dsn.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.peek().is_none() {
            return Ok(out);
        }
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c.is_whitespace() {
                break;
            }
            key.push(c);
            chars.next();
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.next() != Some('=') {
            return Err(format!("DB_DSN: expected key=value pairs, found {key:?} without '='"));
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let mut value = String::new();
        if chars.peek() == Some(&'\'') {
            chars.next();
            loop {
                match chars.next() {
                    None => return Err(format!("DB_DSN: unterminated quoted value of {key:?}")),
                    Some('\\') => match chars.next() {
                        Some(c) => value.push(c),
                        None => return Err(format!("DB_DSN: unterminated quoted value of {key:?}")),
                    },
                    Some('\'') => break,
                    Some(c) => value.push(c),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                value.push(c);
                chars.next();
            }
        }
        if key.is_empty() {
            return Err("DB_DSN: a value without a key".into());
        }
        out.push((key, value));
    }
}

fn parse_pairs(dsn: &str) -> Result<ParsedDsn, String> {
    let mut options = PgConnectOptions::new_without_pgpass();
    let (mut user, mut has_password, mut ssl, mut connect_timeout) = (String::new(), false, None, None);
    let mut runtime: Vec<(String, String)> = Vec::new();
    for (key, value) in pairs(dsn)? {
        options = match key.to_ascii_lowercase().as_str() {
            "host" | "hostaddr" => {
                if value.starts_with('/') {
                    options.socket(&value)
                } else {
                    options.host(&value)
                }
            }
            "port" => options.port(value.parse().map_err(|_| format!("DB_DSN: port {value:?} is not a number"))?),
            "user" => {
                user.clone_from(&value);
                options.username(&value)
            }
            "password" => {
                has_password = !value.is_empty();
                options.password(&value)
            }
            "dbname" => options.database(&value),
            "sslmode" => {
                let mode = value.to_ascii_lowercase();
                let parsed = ssl_mode(&mode)?;
                ssl = Some(mode);
                options.ssl_mode(parsed)
            }
            "sslrootcert" => options.ssl_root_cert(&value),
            "sslcert" => options.ssl_client_cert(&value),
            "sslkey" => options.ssl_client_key(&value),
            "application_name" => options.application_name(&value),
            "connect_timeout" => {
                connect_timeout = Some(Duration::from_secs(
                    value
                        .parse()
                        .map_err(|_| format!("DB_DSN: connect_timeout {value:?} is not a number of seconds"))?,
                ));
                options
            }
            "options" => {
                // `-c name=value` flags.
                let mut words = value.split_whitespace();
                while let Some(w) = words.next() {
                    let setting =
                        if w == "-c" { words.next().unwrap_or_default() } else { w.strip_prefix("-c").unwrap_or(w) };
                    let (k, v) = setting
                        .split_once('=')
                        .ok_or_else(|| format!("DB_DSN: options {value:?} must be -c name=value flags"))?;
                    runtime.push((k.to_owned(), v.to_owned()));
                }
                options
            }
            _ => {
                runtime.push((key.clone(), value));
                options
            }
        };
    }
    if !runtime.is_empty() {
        options = options.options(runtime);
    }
    if user.is_empty() {
        user = options.get_username().to_owned();
    }
    Ok(ParsedDsn { options, user, has_password, ssl_mode: ssl, connect_timeout })
}

/// The DSN with any password replaced by `REDACTED`, for logs and `check-config`.
pub fn redact_dsn(dsn: &str) -> String {
    let d = dsn.trim();
    if d.starts_with("postgres://") || d.starts_with("postgresql://") {
        let (scheme, rest) = d.split_once("://").unwrap_or(("", d));
        let end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(end);
        if let Some((userinfo, host)) = authority.rsplit_once('@')
            && let Some((user, _)) = userinfo.split_once(':')
        {
            return format!("{scheme}://{user}:REDACTED@{host}{tail}");
        }
        return d.to_owned();
    }
    match pairs(d) {
        Ok(kv) => kv
            .into_iter()
            .map(|(k, v)| if k.eq_ignore_ascii_case("password") { format!("{k}=REDACTED") } else { format!("{k}={v}") })
            .collect::<Vec<_>>()
            .join(" "),
        Err(_) => "<unparsable DSN>".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_with_user_password_and_sslmode() {
        let p = parse_dsn("postgres://otel:s3cret@db.example:6543/otelcontext?sslmode=require").unwrap();
        assert_eq!((p.user.as_str(), p.has_password, p.ssl_mode.as_deref()), ("otel", true, Some("require")));
        assert_eq!((p.options.get_host(), p.options.get_port()), ("db.example", 6543));
        assert_eq!(p.options.get_database(), Some("otelcontext"));
        let p = parse_dsn("postgresql://mi%40tenant.onmicrosoft.com@h/db?sslmode=verify-full").unwrap();
        assert_eq!((p.user.as_str(), p.has_password), ("mi@tenant.onmicrosoft.com", false));
    }

    #[test]
    fn key_value_pairs_parse_like_libpq() {
        let p = parse_dsn(
            "host=localhost user=otel password='it''s' dbname=otelcontext port=5433 sslmode=disable TimeZone=UTC",
        );
        // libpq quoting uses backslash escapes, not doubled quotes: this value is `it` then garbage.
        assert!(p.is_err() || p.unwrap().has_password);
        let p = parse_dsn(
            r"host=localhost user=otel password='it\'s' dbname=otelcontext port=5433 sslmode=disable TimeZone=UTC",
        )
        .unwrap();
        assert_eq!((p.user.as_str(), p.has_password, p.ssl_mode.as_deref()), ("otel", true, Some("disable")));
        assert_eq!(
            (p.options.get_host(), p.options.get_port(), p.options.get_database()),
            ("localhost", 5433, Some("otelcontext"))
        );
        assert!(p.options.get_options().unwrap_or_default().contains("TimeZone=UTC"));
        let p = parse_dsn("host = db  user=me options='-c search_path=otel -c statement_timeout=5000'").unwrap();
        let opts = p.options.get_options().unwrap_or_default().to_owned();
        assert!(opts.contains("search_path=otel") && opts.contains("statement_timeout=5000"), "{opts}");
    }

    #[test]
    fn bad_dsns_are_refused_without_echoing_the_password() {
        for bad in ["", "host", "host=x port=abc", "host=x sslmode=sometimes", "host='unterminated", "=x"] {
            assert!(parse_dsn(bad).is_err(), "{bad:?}");
        }
        let err = parse_dsn("postgres://u:hunter2@h/db?sslmode=bogus").unwrap_err();
        assert!(!err.contains("hunter2"), "{err}");
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact_dsn("postgres://u:hunter2@h:5432/db?sslmode=require"),
            "postgres://u:REDACTED@h:5432/db?sslmode=require"
        );
        assert_eq!(redact_dsn("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact_dsn("host=h password=hunter2 user=u"), "host=h password=REDACTED user=u");
    }
}
