//! Pages of results and the opaque cursor that continues them.

use crate::storage::StorageError;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// Where the next page starts.
///
/// `After` is keyset pagination: the page continues after the item with this sort key and row
/// id (the adapter's unique, never reused id), so no item is skipped or repeated while records
/// are written. `Skip` continues after a number of items, for orders that change as data
/// arrives (full-text relevance).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cursor {
    After { key: i64, id: i64 },
    Skip(u64),
}

const TAG_AFTER: u8 = 1;
const TAG_SKIP: u8 = 2;

impl Cursor {
    /// The opaque text form handed to clients (lowercase hex of a tagged binary form).
    pub fn encode(&self) -> String {
        let mut bytes = Vec::with_capacity(17);
        match *self {
            Cursor::After { key, id } => {
                bytes.push(TAG_AFTER);
                bytes.extend_from_slice(&key.to_be_bytes());
                bytes.extend_from_slice(&id.to_be_bytes());
            }
            Cursor::Skip(n) => {
                bytes.push(TAG_SKIP);
                bytes.extend_from_slice(&n.to_be_bytes());
            }
        }
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Parses [`Cursor::encode`]'s output; anything else is `InvalidArgument`.
    pub fn decode(text: &str) -> Result<Self, StorageError> {
        let bytes = unhex(text, 34).ok_or_else(|| StorageError::InvalidArgument("malformed cursor".into()))?;
        Self::from_bytes(&bytes)
    }

    /// The cursor as handed to a client: its [`Cursor::encode`] form followed by a signature
    /// over it and `scope` (the tenant and the route, say), all hex.
    pub fn seal(&self, key: &CursorKey, scope: &[&str]) -> String {
        let mut text = self.encode();
        let tag = key.mac(scope, text.as_bytes()).finalize().into_bytes();
        for b in &tag[..TAG_BYTES] {
            text.push_str(&format!("{b:02x}"));
        }
        text
    }

    /// Opens what [`Cursor::seal`] made with the same key and scope; a cursor altered, made
    /// with another key or for another scope is `InvalidArgument`.
    pub fn open(text: &str, key: &CursorKey, scope: &[&str]) -> Result<Self, StorageError> {
        let bad = || StorageError::InvalidArgument("cursor not issued for this query".into());
        let text = text.trim().to_ascii_lowercase();
        if text.len() <= 2 * TAG_BYTES || !text.is_ascii() {
            return Err(bad());
        }
        let (body, tag) = text.split_at(text.len() - 2 * TAG_BYTES);
        let tag = unhex(tag, 2 * TAG_BYTES).ok_or_else(bad)?;
        key.mac(scope, body.as_bytes()).verify_truncated_left(&tag).map_err(|_| bad())?;
        Self::decode(body)
    }

    fn from_bytes(bytes: &[u8]) -> Result<Self, StorageError> {
        let bad = || StorageError::InvalidArgument("malformed cursor".into());
        let word = |b: &[u8]| -> [u8; 8] { b.try_into().expect("8 bytes") };
        match (bytes.first(), bytes.len()) {
            (Some(&TAG_AFTER), 17) => Ok(Cursor::After {
                key: i64::from_be_bytes(word(&bytes[1..9])),
                id: i64::from_be_bytes(word(&bytes[9..17])),
            }),
            (Some(&TAG_SKIP), 9) => Ok(Cursor::Skip(u64::from_be_bytes(word(&bytes[1..9])))),
            _ => Err(bad()),
        }
    }
}

/// Lowercase or uppercase hex of at most `max_chars` characters, as bytes.
fn unhex(text: &str, max_chars: usize) -> Option<Vec<u8>> {
    let raw = text.trim().as_bytes();
    if !raw.len().is_multiple_of(2) || raw.len() > max_chars {
        return None;
    }
    raw.chunks_exact(2).map(|p| std::str::from_utf8(p).ok().and_then(|h| u8::from_str_radix(h, 16).ok())).collect()
}

/// The key cursors handed to clients are signed with (HMAC-SHA-256), so a cursor cannot be
/// altered, nor used by another tenant or on another route than the one that issued it.
#[derive(Clone)]
pub struct CursorKey([u8; 32]);

impl std::fmt::Debug for CursorKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CursorKey(..)")
    }
}

/// Bytes of the signature kept in a sealed cursor (128 bits).
const TAG_BYTES: usize = 16;

impl CursorKey {
    /// A random key of this process: its cursors stop working when it restarts.
    pub fn random() -> Self {
        let mut key = [0u8; 32];
        // The operating system's generator; without it (never seen on Linux) the key is derived
        // from the clock and the process id, still unknown to clients.
        if getrandom::fill(&mut key).is_err() {
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
            return Self::from_secret(&format!("{}:{}", now.as_nanos(), std::process::id()));
        }
        Self(key)
    }

    /// A key derived from a configured secret: cursors survive restarts and work on every
    /// replica given the same secret.
    pub fn from_secret(secret: &str) -> Self {
        use sha2::Digest;
        Self(Sha256::digest(secret.as_bytes()).into())
    }

    fn mac(&self, scope: &[&str], body: &[u8]) -> Hmac<Sha256> {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.0).expect("HMAC takes any key length");
        for part in scope {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part.as_bytes());
        }
        mac.update(body);
        mac
    }
}

/// One page of results and, when more follow, the cursor of the next page.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<Cursor>,
}

impl<T> Page<T> {
    /// A page with no items and nothing after it.
    pub fn empty() -> Self {
        Self { items: Vec::new(), next: None }
    }

    /// Builds a page from up to `limit + 1` fetched rows: the extra row only tells that more
    /// follow. `position` gives a row's cursor (its sort key and id).
    pub fn from_rows(mut rows: Vec<T>, limit: usize, position: impl Fn(&T) -> Cursor) -> Self {
        let more = rows.len() > limit;
        rows.truncate(limit);
        let next = if more { rows.last().map(position) } else { None };
        Self { items: rows, next }
    }

    /// The same page with its items transformed.
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page { items: self.items.into_iter().map(f).collect(), next: self.next }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_stay_opaque() {
        for c in [
            Cursor::After { key: 1_764_000_000_000_000_000, id: 42 },
            Cursor::After { key: i64::MIN, id: -1 },
            Cursor::Skip(0),
            Cursor::Skip(u64::MAX),
        ] {
            let text = c.encode();
            assert!(text.chars().all(|ch| ch.is_ascii_hexdigit()));
            assert_eq!(Cursor::decode(&text).unwrap(), c);
        }
    }

    #[test]
    fn malformed_cursors_are_invalid_arguments() {
        for bad in ["", "zz", "01", "0", &"00".repeat(17), &"01".repeat(40), "é1"] {
            assert!(matches!(Cursor::decode(bad), Err(StorageError::InvalidArgument(_))), "{bad:?}");
        }
    }

    #[test]
    fn sealed_cursors_open_only_with_their_key_and_scope_and_unaltered() {
        let key = CursorKey::from_secret("s3cret");
        let c = Cursor::After { key: 1_764_000_000_000_000_000, id: 42 };
        let sealed = c.seal(&key, &["tenant-a", "logs"]);
        assert_eq!(Cursor::open(&sealed, &key, &["tenant-a", "logs"]).unwrap(), c);
        assert_eq!(Cursor::open(&sealed.to_uppercase(), &key, &["tenant-a", "logs"]).unwrap(), c, "hex case");
        let refused = |text: &str, key: &CursorKey, scope: &[&str]| {
            matches!(Cursor::open(text, key, scope), Err(StorageError::InvalidArgument(_)))
        };
        assert!(refused(&sealed, &key, &["tenant-b", "logs"]), "another tenant");
        assert!(refused(&sealed, &key, &["tenant-a", "traces"]), "another route");
        assert!(refused(&sealed, &key, &["tenant-al", "ogs"]), "scope parts are delimited");
        assert!(refused(&sealed, &CursorKey::from_secret("other"), &["tenant-a", "logs"]), "another key");
        assert!(refused(&sealed, &CursorKey::random(), &["tenant-a", "logs"]), "a random key");
        assert!(refused(&c.encode(), &key, &["tenant-a", "logs"]), "unsigned");
        for i in 0..sealed.len() {
            let mut altered = sealed.clone().into_bytes();
            altered[i] = if altered[i] == b'0' { b'1' } else { b'0' };
            let altered = String::from_utf8(altered).unwrap();
            assert!(refused(&altered, &key, &["tenant-a", "logs"]), "one character changed at {i}");
        }
        for junk in ["", "é", &"0".repeat(33), &"zz".repeat(40), &sealed[..sealed.len() - 1]] {
            assert!(refused(junk, &key, &["tenant-a", "logs"]), "{junk:?}");
        }
        assert_ne!(format!("{:?}", key), format!("{:?}", key.0), "the key is not printed");
    }

    #[test]
    fn a_page_reports_a_next_cursor_only_when_rows_remain() {
        let pos = |n: &i64| Cursor::After { key: *n, id: *n };
        let full = Page::from_rows(vec![1, 2, 3], 2, pos);
        assert_eq!((full.items.clone(), full.next), (vec![1, 2], Some(pos(&2))));
        let last = Page::from_rows(vec![1, 2], 2, pos);
        assert_eq!(last.next, None);
    }
}
