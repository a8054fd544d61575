//! Truthiness of environment values, exactly as the reference workload reads its flags (docs/reference.md, "Upstream version", the terms).

/// Values that mean "on": trimmed, compared without regard to ASCII case.
const TRUTHY: [&str; 5] = ["1", "true", "yes", "y", "on"];
/// Values that explicitly mean "off".
const FALSY: [&str; 5] = ["0", "false", "no", "n", "off"];

/// Whether `v` turns a flag on: trimmed, case-insensitive value in {`1`, `true`, `yes`, `y`, `on`}.
pub fn is_truthy(v: &str) -> bool {
    let t = v.trim();
    TRUTHY.iter().any(|w| t.eq_ignore_ascii_case(w))
}

/// Whether `v` is an explicit "off": trimmed, case-insensitive value in {`0`, `false`, `no`, `n`, `off`}.
///
/// Anything that is neither truthy nor falsy is still "off" for the workload; natsguard reports
/// such values (`OverrideValueUnrecognized`) because the person who set them likely meant "on".
pub fn is_falsy(v: &str) -> bool {
    let t = v.trim();
    FALSY.iter().any(|w| t.eq_ignore_ascii_case(w))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn truthy_table() {
        for v in ["1", "true", "TRUE", "True", " yes ", "Y", "y", "on", "ON", "\ttrue\n"] {
            assert!(is_truthy(v), "{v:?} should be truthy");
            assert!(!is_falsy(v), "{v:?} should not be falsy");
        }
        for v in ["", " ", "2", "enable", "enabled", "t", "yess", "o n", "truee", "1.0", "ｙｅｓ", "İ"] {
            assert!(!is_truthy(v), "{v:?} should not be truthy");
        }
    }

    #[test]
    fn falsy_table() {
        for v in ["0", "false", "FALSE", " no ", "N", "n", "off", "Off"] {
            assert!(is_falsy(v), "{v:?} should be falsy");
            assert!(!is_truthy(v), "{v:?} should not be truthy");
        }
        for v in ["", "nope", "disabled", "00", "-1", "f"] {
            assert!(!is_falsy(v), "{v:?} should not be falsy");
        }
    }

    proptest! {
        #[test]
        fn never_both(s in any::<String>()) {
            prop_assert!(!(is_truthy(&s) && is_falsy(&s)));
        }

        #[test]
        fn whitespace_padding_is_ignored(s in "(1|true|yes|y|on|0|false|no|n|off)", pad in "[ \t\n]{0,3}") {
            let padded = format!("{pad}{s}{pad}");
            prop_assert_eq!(is_truthy(&padded), is_truthy(&s));
            prop_assert_eq!(is_falsy(&padded), is_falsy(&s));
        }
    }
}
