//! Full-text log queries: the terms a user typed and the reference matching rule.
//!
//! Every term must match (AND), in the body or the service name, case-insensitively, as the
//! start of a word (`conn` finds `connection`, `panic` finds `panicked`). Storage engines may
//! match more loosely (SQLite FTS5 also stems and folds accents; Postgres trigram search also
//! matches inside words) but never less: a record this rule finds, every adapter finds.

/// Most terms one query may hold.
pub const MAX_TERMS: usize = 16;
/// Longest term, in characters.
pub const MAX_TERM_CHARS: usize = 256;

/// Why a text query is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TextQueryError {
    #[error("a text query may hold at most {MAX_TERMS} terms")]
    TooManyTerms,
    #[error("a search term may be at most {MAX_TERM_CHARS} characters long")]
    TermTooLong,
}

/// A parsed full-text query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextQuery {
    terms: Vec<String>,
}

impl TextQuery {
    /// Splits the input on whitespace, dropping control characters (no stored text can be
    /// searched for them, and some engines cannot take them); `Ok(None)` when no term is left.
    pub fn parse(input: &str) -> Result<Option<Self>, TextQueryError> {
        let terms: Vec<String> = input
            .split_whitespace()
            .map(|t| t.chars().filter(|c| !c.is_control()).collect::<String>())
            .filter(|t| !t.is_empty())
            .collect();
        if terms.is_empty() {
            return Ok(None);
        }
        if terms.len() > MAX_TERMS {
            return Err(TextQueryError::TooManyTerms);
        }
        if terms.iter().any(|t| t.chars().count() > MAX_TERM_CHARS) {
            return Err(TextQueryError::TermTooLong);
        }
        Ok(Some(Self { terms }))
    }

    /// The terms, as typed.
    pub fn terms(&self) -> &[String] {
        &self.terms
    }

    /// The reference rule: every term starts a word of one of `fields` (case-insensitive).
    pub fn matches(&self, fields: &[&str]) -> bool {
        let lowered: Vec<String> = fields.iter().map(|f| f.to_lowercase()).collect();
        self.terms.iter().all(|term| {
            let term = term.to_lowercase();
            lowered.iter().any(|field| starts_a_word(field, &term))
        })
    }
}

/// True when a term holds a letter or digit (search engines index only those).
pub fn has_word_characters(term: &str) -> bool {
    term.chars().any(char::is_alphanumeric)
}

fn starts_a_word(haystack: &str, needle: &str) -> bool {
    let needle_starts_word = needle.chars().next().is_some_and(char::is_alphanumeric);
    haystack
        .match_indices(needle)
        .any(|(at, _)| !needle_starts_word || haystack[..at].chars().next_back().is_none_or(|c| !c.is_alphanumeric()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn q(s: &str) -> TextQuery {
        TextQuery::parse(s).unwrap().unwrap()
    }

    #[test]
    fn terms_are_split_on_whitespace() {
        assert_eq!(q("  connection\trefused \n").terms(), ["connection", "refused"]);
        assert_eq!(TextQuery::parse("   ").unwrap(), None);
        assert_eq!(TextQuery::parse("\u{0} \u{7}").unwrap(), None, "control characters are dropped");
        assert_eq!(q("a\u{0}b").terms(), ["ab"]);
        assert_eq!(TextQuery::parse(&"a ".repeat(17)), Err(TextQueryError::TooManyTerms));
        assert_eq!(TextQuery::parse(&"a".repeat(257)), Err(TextQueryError::TermTooLong));
    }

    #[test]
    fn every_term_must_start_a_word_of_some_field() {
        let cases = [
            ("conn", "Connection refused", true),
            ("panic", "thread panicked at main.rs", true),
            ("REFUSED", "connection refused", true),
            ("nection", "connection refused", false),
            ("conn refused", "connection refused", true),
            ("conn timeout", "connection refused", false),
            ("user_id=5", "lookup user_id=5 failed", true),
            ("--", "flag --verbose", true),
            ("\"quoted\"", "say \"quoted\" text", true),
        ];
        for (query, body, want) in cases {
            assert_eq!(q(query).matches(&[body, "svc"]), want, "{query:?} in {body:?}");
        }
        assert!(q("checkout").matches(&["payment failed", "checkout-api"]));
    }

    proptest! {
        #[test]
        fn a_word_of_the_text_always_matches_itself(words in prop::collection::vec("[a-z]{1,8}", 1..6), pick in 0usize..6) {
            let text = words.join(" ");
            let word = &words[pick % words.len()];
            prop_assert!(q(word).matches(&[&text]));
        }

        #[test]
        fn parsing_and_matching_never_panic(query in "\\PC{0,40}", text in "\\PC{0,40}") {
            if let Ok(Some(t)) = TextQuery::parse(&query) {
                let _ = t.matches(&[&text]);
            }
        }
    }
}
