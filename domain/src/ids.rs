//! Trace and span identifiers (raw bytes, shown as lowercase hex).

use std::fmt;

/// Why bytes or text are not a valid trace or span id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("{kind} must be {expected} bytes, got {got}")]
    WrongLength { kind: &'static str, expected: usize, got: usize },
    #[error("{kind} must not be all zeros")]
    AllZero { kind: &'static str },
    #[error("{kind} must be {expected} hexadecimal characters")]
    BadHex { kind: &'static str, expected: usize },
}

macro_rules! id_type {
    ($name:ident, $len:expr, $kind:expr, $doc:expr) => {
        #[doc = $doc]
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name([u8; $len]);

        impl $name {
            /// Length in bytes.
            pub const LEN: usize = $len;

            /// Builds an id from raw bytes; rejects a wrong length and the all-zero (invalid) id.
            pub fn from_bytes(bytes: &[u8]) -> Result<Self, IdError> {
                let arr: [u8; $len] = bytes.try_into().map_err(|_| IdError::WrongLength {
                    kind: $kind,
                    expected: $len,
                    got: bytes.len(),
                })?;
                Self::from_array(arr)
            }

            /// Builds an id from an array; rejects the all-zero (invalid) id.
            pub fn from_array(arr: [u8; $len]) -> Result<Self, IdError> {
                if arr.iter().all(|b| *b == 0) {
                    return Err(IdError::AllZero { kind: $kind });
                }
                Ok(Self(arr))
            }

            /// Parses hex (either case), exactly `2 * LEN` characters.
            pub fn parse_hex(text: &str) -> Result<Self, IdError> {
                let bad = IdError::BadHex { kind: $kind, expected: $len * 2 };
                let raw = text.as_bytes();
                if raw.len() != $len * 2 {
                    return Err(bad);
                }
                let mut arr = [0u8; $len];
                for (i, pair) in raw.chunks_exact(2).enumerate() {
                    let hi = hex_val(pair[0]).ok_or_else(|| bad.clone())?;
                    let lo = hex_val(pair[1]).ok_or_else(|| bad.clone())?;
                    arr[i] = (hi << 4) | lo;
                }
                Self::from_array(arr)
            }

            /// The raw bytes.
            pub fn as_bytes(&self) -> &[u8; $len] {
                &self.0
            }

            /// Lowercase hex text.
            pub fn to_hex(&self) -> String {
                let mut out = String::with_capacity($len * 2);
                for b in self.0 {
                    out.push(HEX[(b >> 4) as usize] as char);
                    out.push(HEX[(b & 0x0f) as usize] as char);
                }
                out
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.to_hex())
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.to_hex())
            }
        }

        impl std::str::FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse_hex(s)
            }
        }
    };
}

const HEX: &[u8; 16] = b"0123456789abcdef";

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

id_type!(TraceId, 16, "trace id", "A 16-byte W3C/OTel trace id.");
id_type!(SpanId, 8, "span id", "An 8-byte OTel span id.");

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn hex_is_lowercase_and_parses_either_case() {
        let id = TraceId::parse_hex("4BF92F3577B34DA6A3CE929D0E0E4736").unwrap();
        assert_eq!(id.to_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(SpanId::parse_hex("00f067aa0ba902b7").unwrap().to_string(), "00f067aa0ba902b7");
    }

    #[test]
    fn rejects_malformed_ids() {
        assert!(matches!(TraceId::parse_hex("abc"), Err(IdError::BadHex { .. })));
        assert!(matches!(TraceId::parse_hex(&"g".repeat(32)), Err(IdError::BadHex { .. })));
        assert!(matches!(TraceId::parse_hex(&"0".repeat(32)), Err(IdError::AllZero { .. })));
        assert!(matches!(SpanId::from_bytes(&[1, 2, 3]), Err(IdError::WrongLength { got: 3, .. })));
        assert!(matches!(SpanId::from_bytes(&[]), Err(IdError::WrongLength { got: 0, .. })));
        assert!(SpanId::parse_hex("00f067aa0ba902b").is_err());
        // A multi-byte character must not be split into a "pair".
        assert!(SpanId::parse_hex("00f067aa0ba902é").is_err());
    }

    proptest! {
        #[test]
        fn hex_round_trips(bytes in proptest::array::uniform16(any::<u8>())) {
            prop_assume!(bytes.iter().any(|b| *b != 0));
            let id = TraceId::from_array(bytes).unwrap();
            prop_assert_eq!(TraceId::parse_hex(&id.to_hex()).unwrap(), id);
            prop_assert_eq!(id.as_bytes(), &bytes);
        }
    }
}
