//! One CSV record split into fields (RFC 4180 quoting: fields may be quoted, `""` is a quote;
//! no newlines inside fields). Used by the evaluation commands that read the Loghub and
//! nezha-dev samples.

/// The fields of one CSV line.
pub fn fields(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => out.push(std::mem::take(&mut cur)),
            (c, _) => cur.push(c),
        }
    }
    out.push(cur);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_fields_keep_commas_and_quotes() {
        assert_eq!(fields(r#"a,"b, c","say ""hi""",,d"#), ["a", "b, c", r#"say "hi""#, "", "d"]);
        assert_eq!(fields(""), [""]);
    }
}
