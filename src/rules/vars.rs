//! How the rules read the effective environment and write findings: the state of one variable
//! (unset, known, set but unreadable, or possibly set by an opaque `envFrom` source), how a
//! value is shown, and the collector that keeps every message one bounded line.

use crate::env::{EffectiveEnv, Origin, Presence, Value};
use crate::findings::{Code, Finding, Severity};
use crate::truthy::is_truthy;

/// Longest value (a URL list, an override value) quoted in a message, in characters.
const MAX_SHOWN: usize = 160;
/// Longest message, in bytes: Event notes are limited to 1 kB and the policy status lists many.
pub(super) const MAX_MESSAGE: usize = 600;

/// How one variable looks to the rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum State<'a> {
    /// Certainly not defined.
    Unset,
    /// Certainly defined with this value.
    Known(&'a str),
    /// Certainly defined, value unknown (a Secret, `fieldRef`, a missing ConfigMap, a
    /// service-link reference).
    Unknown(&'a Origin),
    /// May be defined by an opaque `envFrom` source.
    Maybe(&'a Origin),
}

impl<'a> State<'a> {
    pub(super) fn of(env: &'a EffectiveEnv, name: &str) -> Self {
        match env.presence(name) {
            Presence::Unset => State::Unset,
            Presence::Maybe(v) => State::Maybe(&v.origin),
            Presence::Set(v) => match (&v.value, &v.origin) {
                // A value still holding service-link references is not known (only the URL
                // reader looks inside it, see transport.rs).
                (Value::Known(_), Origin::ServiceLink { .. }) => State::Unknown(&v.origin),
                (Value::Known(s), _) => State::Known(s),
                (Value::Unknown, _) => State::Unknown(&v.origin),
            },
        }
    }

    /// Set: present and not blank, or a value that cannot be read (a Secret counts as set).
    pub(super) fn is_set(self) -> bool {
        match self {
            State::Known(s) => !s.trim().is_empty(),
            State::Unknown(_) => true,
            State::Unset | State::Maybe(_) => false,
        }
    }

    /// Certainly unset or blank.
    pub(super) fn is_absent(self) -> bool {
        match self {
            State::Unset => true,
            State::Known(s) => s.trim().is_empty(),
            State::Unknown(_) | State::Maybe(_) => false,
        }
    }

    /// Whether it is set; `None` when an opaque source may set it.
    pub(super) fn set(self) -> Option<bool> {
        match self {
            State::Maybe(_) => None,
            other => Some(other.is_set()),
        }
    }

    /// Defined at all (even blank): the variable is in the container's environment.
    pub(super) fn present(self) -> bool {
        matches!(self, State::Known(_) | State::Unknown(_))
    }

    /// Truthy (`1`, `true`, `yes`, `y`, `on`); `None` when the value cannot be read.
    pub(super) fn truthy(self) -> Option<bool> {
        match self {
            State::Unset => Some(false),
            State::Known(s) => Some(is_truthy(s)),
            State::Unknown(_) | State::Maybe(_) => None,
        }
    }

    /// Why the value cannot be read, for messages.
    pub(super) fn why_unreadable(self, name: &str) -> String {
        match self {
            State::Maybe(o) => why(name, o, true),
            State::Unknown(o) => why(name, o, false),
            State::Unset | State::Known(_) => format!("{name} cannot be read"),
        }
    }
}

fn why(name: &str, origin: &Origin, maybe: bool) -> String {
    let how = match origin {
        Origin::Secret { .. } | Origin::EnvFromSecret { .. } => "Secret values are never read",
        Origin::ConfigMap { .. } | Origin::EnvFromConfigMap { .. } => "the ConfigMap is not available",
        Origin::FieldRef(_) | Origin::ResourceFieldRef(_) => "it is only known in the running pod",
        Origin::ServiceLink { .. } => "the kubelet fills it from a Service, which natsguard does not model",
        Origin::Literal => "it expands a variable whose value is unknown",
    };
    if maybe { format!("{name} may be set by {origin} ({how})") } else { format!("{name} comes from {origin} ({how})") }
}

/// `s` quoted on one line (control characters escaped), cut to [`MAX_SHOWN`] characters.
/// Callers redact URLs before showing them; credentials are never shown at all.
pub(super) fn shown(s: &str) -> String {
    let mut chars = s.char_indices();
    match chars.nth(MAX_SHOWN) {
        Some((cut, _)) => format!("{:?}…", &s[..cut]),
        None => format!("{s:?}"),
    }
}

/// Collects the findings of one container.
pub(super) struct Out<'a> {
    container: &'a str,
    label: String,
    pub(super) findings: Vec<Finding>,
}

impl<'a> Out<'a> {
    pub(super) fn new(container: &'a str, init: bool) -> Self {
        let label = format!("{} {}", if init { "init container" } else { "container" }, shown(container));
        Self { container, label, findings: Vec::new() }
    }

    /// Adds a finding; the message is prefixed with the container and kept to one bounded line.
    pub(super) fn push(&mut self, code: Code, severity: Severity, message: impl AsRef<str>) {
        let mut line = format!("{}: {}", self.label, message.as_ref());
        line.retain(|c| c != '\n' && c != '\r');
        if line.len() > MAX_MESSAGE {
            let mut end = MAX_MESSAGE - '…'.len_utf8();
            while !line.is_char_boundary(end) {
                end -= 1;
            }
            line.truncate(end);
            line.push('…');
        }
        self.findings.push(Finding { code, severity, container: self.container.to_owned(), message: line });
    }

    /// Findings sorted most severe first, then by code and message, without duplicates.
    pub(super) fn into_findings(mut self) -> Vec<Finding> {
        self.findings.sort_by(|a, b| {
            b.severity
                .cmp(&a.severity)
                .then_with(|| a.code.as_str().cmp(b.code.as_str()))
                .then_with(|| a.message.cmp(&b.message))
        });
        self.findings.dedup();
        self.findings
    }
}

/// "is"/"are" and "it"/"them" for a list of names.
pub(super) fn list_of(names: &[&str]) -> (String, &'static str, &'static str) {
    let joined = names.join(", ");
    if names.len() == 1 { (joined, "is", "it") } else { (joined, "are", "them") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_one_bounded_line() {
        let mut out = Out::new("app", false);
        out.push(Code::InvalidUrl, Severity::Violation, format!("a\nb{}", "é".repeat(2000)));
        let m = &out.findings[0].message;
        assert!(m.starts_with("container \"app\": ab"), "{m}");
        assert!(m.len() <= MAX_MESSAGE && m.ends_with('…') && !m.contains('\n'), "{}", m.len());
        let mut out = Out::new("setup", true);
        out.push(Code::AuthMissing, Severity::Violation, "x");
        assert_eq!(out.findings[0].message, "init container \"setup\": x");
    }

    #[test]
    fn shown_cuts_and_escapes() {
        assert_eq!(shown("a\tb"), "\"a\\tb\"");
        let long = "x".repeat(500);
        assert_eq!(shown(&long).chars().count(), MAX_SHOWN + 3);
        assert!(shown(&"é".repeat(500)).ends_with('…'));
    }
}
