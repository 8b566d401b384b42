//! PostgreSQL text cannot hold the NUL character, and `jsonb` refuses the `\u0000` escape. Text
//! written to Postgres has NUL replaced by U+FFFD (the replacement character), so a record with
//! a stray NUL is stored (marked) instead of failing its whole batch.

use serde_json::Value;

/// The text with NUL replaced.
pub(crate) fn clean(s: &str) -> String {
    if s.contains('\0') { s.replace('\0', "\u{FFFD}") } else { s.to_owned() }
}

/// [`clean`] for an optional owned string.
pub(crate) fn clean_opt(s: Option<String>) -> Option<String> {
    s.map(|v| if v.contains('\0') { v.replace('\0', "\u{FFFD}") } else { v })
}

/// JSON text with NUL characters (escaped as `\u0000`) replaced inside every key and string.
pub(crate) fn clean_json(json: String) -> String {
    if !json.contains("\\u0000") {
        return json;
    }
    match serde_json::from_str::<Value>(&json) {
        Ok(mut v) => {
            scrub(&mut v);
            v.to_string()
        }
        Err(_) => json,
    }
}

fn scrub(v: &mut Value) {
    match v {
        Value::String(s) => *s = clean(s),
        Value::Array(items) => items.iter_mut().for_each(scrub),
        Value::Object(map) => {
            let entries: Vec<(String, Value)> = std::mem::take(map).into_iter().collect();
            for (k, mut val) in entries {
                scrub(&mut val);
                map.insert(clean(&k), val);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_is_replaced_in_text_and_json() {
        assert_eq!(clean("a\0b"), "a\u{FFFD}b");
        assert_eq!(
            clean_json(r#"{"k\u0000":"v\u0000","n":[1,"\u0000"]}"#.into()),
            "{\"k\u{FFFD}\":\"v\u{FFFD}\",\"n\":[1,\"\u{FFFD}\"]}"
        );
        let escaped_backslash = r#"{"k":"\\u0000"}"#.to_owned();
        assert_eq!(clean_json(escaped_backslash.clone()), escaped_backslash, "a literal backslash-u is not a NUL");
    }
}
