//! Durations as configuration writes them: Go-style `1h30m`, `500ms`, `90s`, `1.5h`.

use std::time::Duration;

/// Why a duration does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error("empty duration")]
    Empty,
    #[error("negative durations are not allowed")]
    Negative,
    #[error("expected a number followed by a unit (ns, us, ms, s, m, h, d), e.g. 90s or 1h30m")]
    Malformed,
    #[error("duration is too large")]
    Overflow,
}

/// Parses a sequence of `<number><unit>` parts (`ns`, `us`/`µs`, `ms`, `s`, `m`, `h`, `d`). A bare
/// `0` is zero. Fractions are allowed (`1.5h`).
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    let t = text.trim();
    if t.is_empty() {
        return Err(DurationError::Empty);
    }
    if t.starts_with('-') {
        return Err(DurationError::Negative);
    }
    let t = t.strip_prefix('+').unwrap_or(t);
    if t == "0" {
        return Ok(Duration::ZERO);
    }
    let mut total: u128 = 0;
    let mut rest = t;
    while !rest.is_empty() {
        let num_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).ok_or(DurationError::Malformed)?;
        let (num, tail) = rest.split_at(num_len);
        let (int_part, frac_part) = num.split_once('.').unwrap_or((num, ""));
        if (int_part.is_empty() && frac_part.is_empty()) || frac_part.contains('.') {
            return Err(DurationError::Malformed);
        }
        let unit_len = tail.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(tail.len());
        let (unit, next) = tail.split_at(unit_len);
        let nanos_per_unit: u128 = match unit {
            "ns" => 1,
            "us" | "µs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            "d" => 86_400_000_000_000,
            _ => return Err(DurationError::Malformed),
        };
        let whole: u128 =
            if int_part.is_empty() { 0 } else { int_part.parse().map_err(|_| DurationError::Overflow)? };
        let mut part = whole.checked_mul(nanos_per_unit).ok_or(DurationError::Overflow)?;
        // Fractions: at most 18 digits matter (sub-nanosecond digits are dropped).
        let digits = &frac_part[..frac_part.len().min(18)];
        if !digits.is_empty() {
            let frac: u128 = digits.parse().map_err(|_| DurationError::Malformed)?;
            part += frac * nanos_per_unit / 10u128.pow(digits.len() as u32);
        }
        total = total.checked_add(part).ok_or(DurationError::Overflow)?;
        rest = next;
    }
    let nanos = u64::try_from(total).map_err(|_| DurationError::Overflow)?;
    Ok(Duration::from_nanos(nanos))
}

/// Writes a duration the way [`parse_duration`] reads it, in the largest exact unit.
pub fn format_duration(d: Duration) -> String {
    let ns = d.as_nanos();
    for (unit, size) in [
        ("d", 86_400_000_000_000u128),
        ("h", 3_600_000_000_000),
        ("m", 60_000_000_000),
        ("s", 1_000_000_000),
        ("ms", 1_000_000),
        ("us", 1_000),
    ] {
        if ns >= size && ns.is_multiple_of(size) {
            return format!("{}{unit}", ns / size);
        }
    }
    format!("{ns}ns")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_go_style_durations() {
        let cases = [
            ("1h", 3_600_000),
            ("30m", 1_800_000),
            ("1h30m", 5_400_000),
            ("90s", 90_000),
            ("500ms", 500),
            ("1.5h", 5_400_000),
            ("2d", 172_800_000),
            ("0", 0),
            (" 5m ", 300_000),
            ("1m30s500ms", 90_500),
        ];
        for (text, ms) in cases {
            assert_eq!(parse_duration(text).unwrap(), Duration::from_millis(ms), "{text}");
        }
        assert_eq!(parse_duration("250us").unwrap(), Duration::from_micros(250));
        assert_eq!(parse_duration("7ns").unwrap(), Duration::from_nanos(7));
    }

    #[test]
    fn refuses_what_is_not_a_duration() {
        for bad in ["", "h", "10", "1x", "1.2.3s", "-5s", "5 s", "1h-2m", ".s", "1e3s"] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
        assert_eq!(parse_duration("-1s"), Err(DurationError::Negative));
        assert_eq!(parse_duration("99999999999999999999999h"), Err(DurationError::Overflow));
    }

    #[test]
    fn formats_in_the_largest_exact_unit() {
        assert_eq!(format_duration(Duration::from_secs(3_600)), "1h");
        assert_eq!(format_duration(Duration::from_secs(90)), "90s");
        assert_eq!(format_duration(Duration::from_millis(1_500)), "1500ms");
        assert_eq!(format_duration(Duration::ZERO), "0ns");
    }

    proptest! {
        #[test]
        fn format_then_parse_round_trips(ns in 0u64..=u64::MAX / 2) {
            let d = Duration::from_nanos(ns);
            prop_assert_eq!(parse_duration(&format_duration(d)).unwrap(), d);
        }

        #[test]
        fn never_panics(s in "\\PC{0,24}") {
            let _ = parse_duration(&s);
        }
    }
}
