//! Full-text search expressions: user terms escaped for FTS5 `MATCH` (each a quoted phrase with
//! a prefix star, so operators and quotes are searched for, never interpreted) and for `LIKE`
//! (the fallback, and the rule for terms without a letter or digit, which FTS5 does not index).

use otelcontext_domain::search::{TextQuery, has_word_characters};

/// The FTS5 expression of the query's indexable terms (all must match); `None` when no term has
/// a letter or digit.
pub(crate) fn match_expression(q: &TextQuery) -> Option<String> {
    let phrases: Vec<String> = q
        .terms()
        .iter()
        .filter(|t| has_word_characters(t))
        .map(|t| format!("\"{}\"*", t.replace('"', "\"\"")))
        .collect();
    (!phrases.is_empty()).then(|| phrases.join(" "))
}

/// The terms FTS5 cannot search (no letter or digit), to be matched with `LIKE`.
pub(crate) fn unindexed_terms(q: &TextQuery) -> impl Iterator<Item = &String> {
    q.terms().iter().filter(|t| !has_word_characters(t))
}

/// A `LIKE … ESCAPE '\'` pattern finding `term` anywhere.
pub(crate) fn like_pattern(term: &str) -> String {
    let mut out = String::with_capacity(term.len() + 2);
    out.push('%');
    for c in term.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(s: &str) -> TextQuery {
        TextQuery::parse(s).unwrap().unwrap()
    }

    #[test]
    fn terms_become_quoted_prefix_phrases() {
        assert_eq!(match_expression(&q("conn refused")).unwrap(), r#""conn"* "refused"*"#);
        assert_eq!(match_expression(&q(r#"a"b NEAR(x"#)).unwrap(), r#""a""b"* "NEAR(x"*"#);
        assert_eq!(match_expression(&q("-- %")), None);
        assert_eq!(unindexed_terms(&q("x -- y %")).collect::<Vec<_>>(), ["--", "%"]);
    }

    #[test]
    fn like_metacharacters_are_escaped() {
        assert_eq!(like_pattern("100%"), r"%100\%%");
        assert_eq!(like_pattern(r"a_b\c"), r"%a\_b\\c%");
    }
}
