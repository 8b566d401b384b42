//! Masking: the parts of a log line that are variables by their form are replaced by `<*>` before
//! the line is clustered.
//!
//! The rule is one, and the same for every input: a token is split at punctuation into words, and
//! every word that contains a digit is a variable. That single rule covers numbers, hex ids, IPs
//! and ports (`10.0.0.1:8080` → `<*>:<*>`), UUIDs, timestamps, durations and sizes (`12ms`,
//! `64KB`), versions, and ids inside paths (`/users/42/cart` → `/users/<*>/cart`), while words
//! made only of letters — the constant text of a message — stay. Punctuation is kept, so
//! `user=alice` and `user=<*>` stay distinguishable from `user:` forms.

/// The variable marker.
pub const WILDCARD: &str = "<*>";

/// Characters that end a word inside a token (they are kept in the masked token).
fn is_delimiter(b: u8) -> bool {
    matches!(
        b,
        b'=' | b':'
            | b','
            | b';'
            | b'('
            | b')'
            | b'['
            | b']'
            | b'{'
            | b'}'
            | b'<'
            | b'>'
            | b'"'
            | b'\''
            | b'/'
            | b'|'
            | b'@'
            | b'#'
            | b'&'
            | b'?'
            | b'!'
            | b'*'
            | b'+'
            | b'$'
            | b'%'
            | b'^'
            | b'~'
            | b'`'
            | b'\\'
    )
}

/// Appends the masked form of one whitespace-free token to `out`; returns whether anything was
/// masked.
pub fn mask_token(token: &str, out: &mut String) -> bool {
    let bytes = token.as_bytes();
    let mut masked = false;
    let mut start = 0;
    let mut i = 0;
    while i <= bytes.len() {
        if i == bytes.len() || is_delimiter(bytes[i]) {
            let word = &token[start..i];
            if word.bytes().any(|b| b.is_ascii_digit()) {
                // Adjacent masked words collapse: `<*>.<*>` patterns stay one marker per word.
                out.push_str(WILDCARD);
                masked = true;
            } else {
                out.push_str(word);
            }
            if i < bytes.len() {
                out.push(bytes[i] as char);
            }
            start = i + 1;
        }
        i += 1;
    }
    masked
}

/// Masks a line into `buf` (tokens one after another) and records each token's byte range in
/// `ranges`; both are cleared first, so they can be reused from line to line.
pub fn mask_into(line: &str, buf: &mut String, ranges: &mut Vec<(usize, usize)>) {
    buf.clear();
    ranges.clear();
    for t in line.split_ascii_whitespace() {
        let start = buf.len();
        mask_token(t, buf);
        ranges.push((start, buf.len()));
    }
}

/// The masked tokens of a line (split on any whitespace).
pub fn mask_line(line: &str) -> Vec<String> {
    line.split_ascii_whitespace()
        .map(|t| {
            let mut s = String::with_capacity(t.len());
            mask_token(t, &mut s);
            s
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(t: &str) -> String {
        let mut s = String::new();
        mask_token(t, &mut s);
        s
    }

    #[test]
    fn variables_are_masked_by_form_and_words_stay() {
        let table = [
            ("42", "<*>"),
            ("-17.5", "<*>"),
            ("0x7fff1a2b", "<*>"),
            ("deadbeef42", "<*>"),
            ("10.251.73.220:50010", "<*>:<*>"),
            ("/10.250.19.102", "/<*>"),
            ("[::1]:8080", "[::<*>]:<*>"),
            ("3f2504e0-4f89-11d3-9a0c-0305e82c3301", "<*>"),
            ("2025-11-24T16:00:00.123Z", "<*>:<*>:<*>"),
            ("1764000000000", "<*>"),
            ("12ms", "<*>"),
            ("64KB", "<*>"),
            ("/api/users/42/cart", "/api/users/<*>/cart"),
            ("user=alice", "user=alice"),
            ("size=67108864", "size=<*>"),
            ("blk_-6952295868487656571", "<*>"),
            ("(user:root)", "(user:root)"),
            ("connection", "connection"),
            ("terminating.", "terminating."),
            ("café", "café"),
            ("", ""),
            ("'quoted'", "'quoted'"),
        ];
        for (input, want) in table {
            assert_eq!(m(input), want, "{input}");
        }
    }

    #[test]
    fn lines_split_on_any_whitespace() {
        assert_eq!(
            mask_line("  PacketResponder 1 for\tblock blk_3886 terminating "),
            vec!["PacketResponder", "<*>", "for", "block", "<*>", "terminating"]
        );
        assert!(mask_line(" \t ").is_empty());
    }
}
