//! Pages of results and the opaque cursor that continues them.

use crate::storage::StorageError;

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
        let bad = || StorageError::InvalidArgument("malformed cursor".into());
        let raw = text.trim().as_bytes();
        if !raw.len().is_multiple_of(2) || raw.len() > 34 {
            return Err(bad());
        }
        let bytes: Vec<u8> = raw
            .chunks_exact(2)
            .map(|p| std::str::from_utf8(p).ok().and_then(|h| u8::from_str_radix(h, 16).ok()))
            .collect::<Option<_>>()
            .ok_or_else(bad)?;
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
    fn a_page_reports_a_next_cursor_only_when_rows_remain() {
        let pos = |n: &i64| Cursor::After { key: *n, id: *n };
        let full = Page::from_rows(vec![1, 2, 3], 2, pos);
        assert_eq!((full.items.clone(), full.next), (vec![1, 2], Some(pos(&2))));
        let last = Page::from_rows(vec![1, 2], 2, pos);
        assert_eq!(last.next, None);
    }
}
