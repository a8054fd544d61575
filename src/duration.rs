//! Go-style durations (`4h`, `30m`, `1h30m`, `90s`), the format Kubernetes users already write
//! and that CEL's `duration()` understands, so the schema and the operator agree on one syntax.

use k8s_openapi::jiff::SignedDuration;

/// The schema pattern for a duration field. Kept in sync with [`parse`].
pub const PATTERN: &str = "^([0-9]+h)?([0-9]+m)?([0-9]+s)?$";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{value:?} is not a duration like 4h, 30m or 1h30m")]
pub struct DurationError {
    pub value: String,
}

/// Parse `[<n>h][<n>m][<n>s]` (at least one part, units in that order).
pub fn parse(value: &str) -> Result<SignedDuration, DurationError> {
    let err = || DurationError {
        value: value.to_owned(),
    };
    if value.is_empty() {
        return Err(err());
    }
    let mut total: i64 = 0;
    let mut rest = value;
    let mut last_rank = 0;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 || digits == rest.len() {
            return Err(err());
        }
        let n: i64 = rest[..digits].parse().map_err(|_| err())?;
        let (rank, unit) = match rest.as_bytes()[digits] {
            b'h' => (1, 3600),
            b'm' => (2, 60),
            b's' => (3, 1),
            _ => return Err(err()),
        };
        if rank <= last_rank {
            return Err(err());
        }
        last_rank = rank;
        total = n
            .checked_mul(unit)
            .and_then(|s| total.checked_add(s))
            .ok_or_else(err)?;
        rest = &rest[digits + 1..];
    }
    Ok(SignedDuration::from_secs(total))
}

/// Render a duration the way [`parse`] reads it (`1h30m`, `45s`, `0s`).
pub fn format(d: SignedDuration) -> String {
    let secs = d.as_secs().max(0);
    let (h, m, s) = (secs / 3600, secs % 3600 / 60, secs % 60);
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if m > 0 {
        out.push_str(&format!("{m}m"));
    }
    if s > 0 || out.is_empty() {
        out.push_str(&format!("{s}s"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_go_style_durations() {
        assert_eq!(parse("4h"), Ok(SignedDuration::from_hours(4)));
        assert_eq!(parse("30m"), Ok(SignedDuration::from_mins(30)));
        assert_eq!(parse("1h30m"), Ok(SignedDuration::from_mins(90)));
        assert_eq!(parse("1h0m5s"), Ok(SignedDuration::from_secs(3605)));
        assert_eq!(parse("0s"), Ok(SignedDuration::ZERO));
    }

    #[test]
    fn rejects_anything_else() {
        for bad in [
            "",
            "4",
            "h",
            "4d",
            "30m4h",
            "1h1h",
            "-1h",
            "1.5h",
            " 4h",
            "4h ",
            "99999999999999999999h",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn format_round_trips() {
        for s in ["4h", "30m", "1h30m", "45s", "0s", "720h"] {
            assert_eq!(format(parse(s).unwrap()), s);
        }
    }
}
