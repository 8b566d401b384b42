//! The per-tenant API keys file (`API_KEYS_FILE`): one `key tenant` pair a line, so each team
//! or service sends and reads with a key that pins its tenant.
//!
//! ```text
//! # key                                tenant
//! 9f2c1e7a4b6d8e0f1a2b3c4d5e6f7a8b     payments
//! 0a1b2c3d4e5f60718293a4b5c6d7e8f9     search
//! ```
//!
//! Blank lines and lines starting with `#` are ignored. A key is at least [`MIN_KEY_LEN`]
//! printable ASCII characters without spaces; a key may appear once; one tenant may have several
//! keys (to rotate them). Anything else is an error naming the line, and the whole file is
//! refused (a half-read file would lock some callers out).

use crate::tenant::{InvalidTenantId, TenantId};

/// Shortest key accepted: long enough not to be guessed.
pub const MIN_KEY_LEN: usize = 16;

/// Why a keys file was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyFileError {
    #[error("line {line}: expected `key tenant` (two fields separated by spaces), found {fields} field(s)")]
    Fields { line: usize, fields: usize },
    #[error("line {line}: the key is shorter than {MIN_KEY_LEN} characters")]
    ShortKey { line: usize },
    #[error("line {line}: the key must be printable ASCII")]
    KeyCharacters { line: usize },
    #[error("line {line}: {reason}")]
    Tenant { line: usize, reason: InvalidTenantId },
    #[error("line {line}: the key of line {first} again")]
    Duplicate { line: usize, first: usize },
}

/// The (key, tenant) pairs of a keys file, in file order.
pub fn parse_key_file(text: &str) -> Result<Vec<(String, TenantId)>, KeyFileError> {
    let mut out: Vec<(String, TenantId)> = Vec::new();
    let mut lines_of: Vec<usize> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let content = raw.trim();
        if content.is_empty() || content.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = content.split_whitespace().collect();
        let [key, tenant] = fields[..] else { return Err(KeyFileError::Fields { line, fields: fields.len() }) };
        if !key.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(KeyFileError::KeyCharacters { line });
        }
        if key.len() < MIN_KEY_LEN {
            return Err(KeyFileError::ShortKey { line });
        }
        let tenant = TenantId::parse(tenant).map_err(|reason| KeyFileError::Tenant { line, reason })?;
        if let Some(at) = out.iter().position(|(k, _)| k == key) {
            return Err(KeyFileError::Duplicate { line, first: lines_of[at] });
        }
        out.push((key.to_owned(), tenant));
        lines_of.push(line);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "aaaaaaaaaaaaaaaa";
    const B: &str = "bbbbbbbbbbbbbbbb-2";

    #[test]
    fn pairs_comments_and_blank_lines() {
        let text = format!("# keys\n\n  {A}   payments  \n{B}\tsearch\r\n# {A} ignored\n{A}x payments\n");
        let keys = parse_key_file(&text).unwrap();
        let shown: Vec<(&str, &str)> = keys.iter().map(|(k, t)| (k.as_str(), t.as_str())).collect();
        assert_eq!(shown, [(A, "payments"), (B, "search"), ("aaaaaaaaaaaaaaaax", "payments")]);
        assert_eq!(parse_key_file("").unwrap(), vec![]);
    }

    #[test]
    fn every_bad_line_is_refused_naming_it() {
        let cases = [
            (format!("{A}\n"), KeyFileError::Fields { line: 1, fields: 1 }),
            (format!("# c\n{A} payments extra\n"), KeyFileError::Fields { line: 2, fields: 3 }),
            ("short payments\n".to_owned(), KeyFileError::ShortKey { line: 1 }),
            (format!("{A}é payments\n"), KeyFileError::KeyCharacters { line: 1 }),
            (format!("{A} pay/ments\n"), KeyFileError::Tenant { line: 1, reason: InvalidTenantId::BadCharacter('/') }),
            (format!("{A} a\n\n{A} b\n"), KeyFileError::Duplicate { line: 3, first: 1 }),
        ];
        for (text, want) in cases {
            assert_eq!(parse_key_file(&text), Err(want.clone()), "{text:?}");
            assert!(want.to_string().starts_with("line "), "{want}");
        }
    }
}
