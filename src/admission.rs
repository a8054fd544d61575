//! Admission decisions for the validating webhook (docs/configuration.md, "Admission"): which
//! policies judge a Deployment, and what the AdmissionReview answer is.
//! Pure: the caller passes the policies of the object's namespace, the ConfigMaps and `now`.
//!
//! For every policy that selects the Deployment with `admission` other than `Off`:
//! - `Warn` admits it with one warning per violation (code, container, short fix);
//! - `Deny` rejects it, naming each violation, unless every violation is an active break-glass
//!   override (`PlaintextOverrideActive`, `NoAuthOverrideActive`) that is owned and time-boxed:
//!   `natsguard.io/override-owner` set (not blank) and `natsguard.io/rollback-by` an RFC 3339
//!   time after now and no later than now + the policy's `override.maxDuration`. Such an object
//!   is admitted with a warning that names the deadline and the owner.
//!
//! Several policies: deny wins. An update that changes nothing evaluation reads (containers,
//! labels, `natsguard.io/` annotations) is never denied, only warned about, so that violations
//! the operator already reports never block scaling, restarts or the cluster's own bookkeeping
//! writes. Warnings and the denial message are bounded in size (the API server truncates
//! warnings over 256 characters).

use crate::crd::annotations;
use crate::crd::policy::{AdmissionMode, NatsTransportPolicy, NatsTransportPolicySpec};
use crate::env::ConfigMapLookup;
use crate::evaluate::{EvalContext, WorkloadInput, WorkloadReport, evaluate_workload};
use crate::findings::{Code, Severity};
use crate::rules::rollback_by;
use crate::validation;
use crate::workload::PodEnv;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use std::collections::BTreeMap;

/// Longest warning, in bytes: the API server may truncate longer ones.
pub const MAX_WARNING: usize = 256;
/// Most warnings in one answer (the last one says how many were left out).
pub const MAX_WARNINGS: usize = 16;
/// Longest denial message, in bytes.
pub const MAX_MESSAGE: usize = 4096;
/// Longest owner shown in a warning, in characters.
const MAX_OWNER: usize = 64;

/// How a review ended; also the `decision` label of `natsguard_admission_reviews_total`.
/// Ordered by precedence when several policies judge one object.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Outcome {
    /// No policy with admission on selects the object (or it is not a Deployment).
    NoOpinion,
    /// Judged and admitted without a violation.
    Allowed,
    /// Admitted with warnings.
    Warned,
    /// Admitted under `Deny` because every violation is an owned, time-boxed break-glass override.
    BreakGlass,
    /// Rejected.
    Denied,
}

impl Outcome {
    pub const ALL: [Outcome; 5] =
        [Outcome::NoOpinion, Outcome::Allowed, Outcome::Warned, Outcome::BreakGlass, Outcome::Denied];

    pub const fn as_str(self) -> &'static str {
        match self {
            Outcome::NoOpinion => "no_opinion",
            Outcome::Allowed => "allowed",
            Outcome::Warned => "warned",
            Outcome::BreakGlass => "break_glass",
            Outcome::Denied => "denied",
        }
    }
}

/// The answer to one review.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    pub outcome: Outcome,
    /// Why it is rejected (only when denied), at most [`MAX_MESSAGE`] bytes.
    pub message: Option<String>,
    /// Admission warnings (only when admitted): at most [`MAX_WARNINGS`] of at most [`MAX_WARNING`] bytes.
    pub warnings: Vec<String>,
}

impl Decision {
    pub fn allowed(&self) -> bool {
        self.outcome != Outcome::Denied
    }

    /// Admitted, with no opinion.
    pub fn no_opinion() -> Decision {
        Decision { outcome: Outcome::NoOpinion, message: None, warnings: Vec::new() }
    }
}

/// What the request does to what evaluation reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    /// A new Deployment, or an update of its containers, labels or `natsguard.io/` annotations.
    Evaluated,
    /// An update that changes none of those (scaling, a restart annotation on the pod template,
    /// the Deployment controller's bookkeeping): warned about, never denied.
    Unchanged,
}

/// The Deployment under review, as evaluation and selection see it.
#[derive(Clone, Copy, Debug)]
pub struct Candidate<'a> {
    pub namespace: &'a str,
    /// `metadata.name`, or `generateName` when the name is not chosen yet.
    pub name: &'a str,
    pub labels: &'a BTreeMap<String, String>,
    pub annotations: &'a BTreeMap<String, String>,
    pub pod: &'a PodEnv,
}

impl Change {
    /// `Unchanged` when `old` (the stored object of an UPDATE) reads the same as `new`.
    pub fn between(old: Option<&Candidate<'_>>, new: &Candidate<'_>) -> Change {
        fn ours(a: &BTreeMap<String, String>) -> impl Iterator<Item = (&String, &String)> {
            a.iter().filter(|(k, _)| k.starts_with("natsguard.io/"))
        }
        let same = |old: &Candidate<'_>| {
            old.labels == new.labels && old.pod == new.pod && ours(old.annotations).eq(ours(new.annotations))
        };
        match old {
            Some(old) if same(old) => Change::Unchanged,
            _ => Change::Evaluated,
        }
    }
}

/// One policy's evaluation of the object.
#[derive(Clone, Copy, Debug)]
pub struct Judged<'a> {
    /// The policy's name.
    pub policy: &'a str,
    /// Its spec: the admission mode and the variable names the fixes mention.
    pub spec: &'a NatsTransportPolicySpec,
    /// `override.maxDuration`.
    pub max_duration: SignedDuration,
    /// The object evaluated under this policy.
    pub report: &'a WorkloadReport,
}

/// Select, evaluate and decide: the policies of the object's namespace (any order), the object,
/// what the request changes, the ConfigMaps and `now`.
pub fn review<'p>(
    policies: impl IntoIterator<Item = &'p NatsTransportPolicy>,
    object: &Candidate<'_>,
    change: Change,
    cms: &dyn ConfigMapLookup,
    now: Timestamp,
) -> Decision {
    let mut policies: Vec<&NatsTransportPolicy> = policies
        .into_iter()
        .filter(|p| {
            p.spec.admission != AdmissionMode::Off && !p.spec.suspend && p.metadata.deletion_timestamp.is_none()
        })
        .collect();
    policies.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    let mut notes = Vec::new();
    let mut evaluated = Vec::new();
    for p in policies {
        let name = p.metadata.name.as_deref().unwrap_or_default();
        let compiled = match validation::compile(&p.spec) {
            Ok(c) => c,
            Err(invalid) => {
                notes.push(format!(
                    "natsguard {name:?}: the policy is invalid ({invalid}); it does not judge admission"
                ));
                continue;
            }
        };
        if !compiled.selects(object.labels) {
            continue;
        }
        let input = WorkloadInput {
            namespace: object.namespace,
            name: object.name,
            annotations: object.annotations,
            pod: object.pod,
        };
        let report = evaluate_workload(&p.spec, &input, cms, &EvalContext::at(now));
        evaluated.push((name, &p.spec, compiled.timing.max_duration, report));
    }
    let judged: Vec<Judged<'_>> = evaluated
        .iter()
        .map(|(policy, spec, max_duration, report)| Judged { policy, spec, max_duration: *max_duration, report })
        .collect();
    let mut decision = decide(&judged, object.annotations, change, now);
    if !notes.is_empty() && decision.allowed() {
        decision.outcome = decision.outcome.max(Outcome::Warned);
        notes.append(&mut decision.warnings);
        decision.warnings = bound_warnings(notes);
    }
    decision
}

/// One violation: its code, its container and whether that is an init container.
struct Violation<'a> {
    code: Code,
    container: &'a str,
    init: bool,
}

impl Violation<'_> {
    fn describe(&self, spec: &NatsTransportPolicySpec) -> String {
        let kind = if self.init { "init container" } else { "container" };
        format!("{} in {kind} {:?}: {}", self.code, self.container, short_fix(self.code, spec))
    }
}

fn violations(report: &WorkloadReport) -> Vec<Violation<'_>> {
    report
        .containers
        .iter()
        .flat_map(|c| {
            c.findings.iter().filter(|f| f.severity == Severity::Violation).map(move |f| Violation {
                code: f.code,
                container: &c.name,
                init: c.init,
            })
        })
        .collect()
}

/// Decide the answer from each selecting policy's evaluation (policies with admission `Off` are
/// ignored), the object's annotations, what the request changes, and `now`.
pub fn decide(judged: &[Judged<'_>], annots: &BTreeMap<String, String>, change: Change, now: Timestamp) -> Decision {
    let mut outcome = Outcome::NoOpinion;
    let mut warnings = Vec::new();
    let mut denials = Vec::new();
    for j in judged.iter().filter(|j| j.spec.admission != AdmissionMode::Off) {
        outcome = outcome.max(Outcome::Allowed);
        let found = violations(j.report);
        if found.is_empty() {
            continue;
        }
        let prefix = format!("natsguard {:?}", j.policy);
        match j.spec.admission {
            AdmissionMode::Off => {}
            AdmissionMode::Warn => {
                outcome = outcome.max(Outcome::Warned);
                warnings.extend(found.iter().map(|v| format!("{prefix}: {}", v.describe(j.spec))));
            }
            AdmissionMode::Deny => match break_glass(&found, annots, j.max_duration, now) {
                Ok(glass) => {
                    outcome = outcome.max(Outcome::BreakGlass);
                    warnings.extend(found.iter().map(|v| {
                        let kind = if v.init { "init container" } else { "container" };
                        format!(
                            "{prefix}: break-glass {} in {kind} {:?} admitted; owner {}; roll back by {}",
                            v.code, v.container, glass.owner, glass.deadline
                        )
                    }));
                }
                Err(refusal) if change == Change::Unchanged => {
                    outcome = outcome.max(Outcome::Warned);
                    warnings.push(format!(
                        "{prefix}: not denied because this update changes nothing natsguard evaluates; the Deployment already violates the policy"
                    ));
                    warnings.extend(found.iter().map(|v| format!("{prefix}: {}", v.describe(j.spec))));
                    if let Some(why) = refusal {
                        warnings.push(format!("{prefix}: break-glass not accepted: {why}"));
                    }
                }
                Err(refusal) => {
                    let named: Vec<String> = found.iter().map(|v| v.describe(j.spec)).collect();
                    let mut text = format!("natsguard policy {:?} (admission: Deny): {}", j.policy, named.join("; "));
                    if let Some(why) = refusal {
                        text.push_str(&format!("; break-glass not accepted: {why}"));
                    }
                    denials.push(text);
                }
            },
        }
    }
    if !denials.is_empty() {
        return Decision {
            outcome: Outcome::Denied,
            message: Some(truncate(denials.join(" | "), MAX_MESSAGE)),
            warnings: Vec::new(),
        };
    }
    Decision { outcome, message: None, warnings: bound_warnings(warnings) }
}

/// An accepted break-glass: who owns it and when it must be rolled back.
struct Glass {
    owner: String,
    deadline: Timestamp,
}

/// Whether every violation is an owned, time-boxed break-glass override. `Err(Some(why))` names
/// what is missing when some violation is an override; `Err(None)` when none is.
fn break_glass(
    found: &[Violation<'_>],
    annots: &BTreeMap<String, String>,
    max_duration: SignedDuration,
    now: Timestamp,
) -> Result<Glass, Option<String>> {
    let is_override = |c: Code| {
        matches!(
            c,
            Code::PlaintextOverrideActive
                | Code::NoAuthOverrideActive
                | Code::PlaintextOverrideOverdue
                | Code::NoAuthOverrideOverdue
        )
    };
    if !found.iter().any(|v| is_override(v.code)) {
        return Err(None);
    }
    let mut why = Vec::new();
    let others: Vec<&str> = found
        .iter()
        .filter(|v| !is_override(v.code))
        .map(|v| v.code.as_str())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    if !others.is_empty() {
        why.push(format!("other violations remain ({})", others.join(", ")));
    }
    let owner = annots.get(annotations::OWNER).map(|o| o.trim()).filter(|o| !o.is_empty());
    if owner.is_none() {
        why.push(format!("{} is not set", annotations::OWNER));
    }
    let limit = now.checked_add(max_duration).ok();
    let max = crate::duration::format(max_duration);
    let deadline = match rollback_by(annots) {
        None => {
            why.push(format!("{} is not set", annotations::ROLLBACK_BY));
            None
        }
        Some(Err(text)) => {
            why.push(format!("{} {text} is not an RFC 3339 time", annotations::ROLLBACK_BY));
            None
        }
        Some(Ok(t)) if t <= now => {
            why.push(format!("{} {t} has passed", annotations::ROLLBACK_BY));
            None
        }
        Some(Ok(t)) if limit.is_none_or(|l| t > l) => {
            let l = limit.map(|l| l.to_string()).unwrap_or_default();
            why.push(format!("{} {t} is later than now + override.maxDuration {max} ({l})", annotations::ROLLBACK_BY));
            None
        }
        Some(Ok(t)) => Some(t),
    };
    match (why.is_empty(), owner, deadline) {
        (true, Some(owner), Some(deadline)) => Ok(Glass { owner: shown_owner(owner), deadline }),
        _ => {
            why.push(format!(
                "set {} and {} (at most {max} ahead) to break glass",
                annotations::OWNER,
                annotations::ROLLBACK_BY
            ));
            Err(Some(why.join(", ")))
        }
    }
}

/// The fix, in a few words, with the policy's variable names.
fn short_fix(code: Code, spec: &NatsTransportPolicySpec) -> String {
    let url = &spec.transport.url_var;
    let tls = &spec.transport.tls;
    let auth = &spec.auth;
    let plaintext = &spec.r#override.env_var;
    let no_auth = &spec.r#override.no_auth_env;
    match code {
        Code::PlaintextTransport => format!("make every {url} entry tls:// with TLS settings and credentials"),
        Code::TlsSchemeRejected => format!("make every {url} entry tls:// (no wss://, no empty entry)"),
        Code::PlaintextOverrideActive => format!("switch {url} to tls:// and remove {plaintext}"),
        Code::PlaintextOverrideOverdue => format!("past its rollback deadline; remove {plaintext}"),
        Code::NoAuthOverrideActive => format!("configure NATS credentials and remove {no_auth}"),
        Code::NoAuthOverrideOverdue => format!("past its rollback deadline; remove {no_auth}"),
        Code::TlsSettingsMissing => format!("set {} or a client certificate", tls.ca),
        Code::TlsMaterialIncomplete => format!("set both {} and {}", tls.cert, tls.key),
        Code::TlsVerificationDisabled => format!("remove {}", tls.insecure),
        Code::AuthMissing => format!(
            "set {}, {} or {}+{} from a Secret",
            auth.token_var, auth.nkey_var, auth.username_var, auth.password_var
        ),
        Code::InvalidUrl => format!("fix the entries of {url}"),
        Code::EmptyUrl => format!("set {url} or remove it"),
        Code::CapTransportNotReady => {
            format!("use authenticated tls:// or change {}", spec.environment.cap_profile_var)
        }
        other => other.summary().to_owned(),
    }
}

/// The owner as shown in a warning: quoted, control characters escaped, cut short.
fn shown_owner(owner: &str) -> String {
    let mut chars = owner.char_indices();
    match chars.nth(MAX_OWNER) {
        Some((cut, _)) => format!("{:?}…", &owner[..cut]),
        None => format!("{owner:?}"),
    }
}

/// `s` cut to at most `max` bytes on a character boundary, marked with `…` when cut.
fn truncate(mut s: String, max: usize) -> String {
    if s.len() <= max {
        return s;
    }
    let mut cut = max.saturating_sub('…'.len_utf8());
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    s.truncate(cut);
    s.push('…');
    s
}

/// Deduplicated, each cut to [`MAX_WARNING`], at most [`MAX_WARNINGS`] (the last says how many
/// were left out).
fn bound_warnings(all: Vec<String>) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    let unique: Vec<String> = all.into_iter().filter(|w| seen.insert(w.clone())).collect();
    if unique.len() <= MAX_WARNINGS {
        return unique.into_iter().map(|w| truncate(w, MAX_WARNING)).collect();
    }
    let left_out = unique.len() - (MAX_WARNINGS - 1);
    let mut out: Vec<String> = unique.into_iter().take(MAX_WARNINGS - 1).map(|w| truncate(w, MAX_WARNING)).collect();
    out.push(format!("natsguard: {left_out} more warnings not shown; see the policy status (kubectl get ntp -o yaml)"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::ConfigMaps;
    use crate::findings::Finding;
    use crate::report::ContainerReport;
    use serde_json::json;

    fn now() -> Timestamp {
        "2026-06-01T12:00:00Z".parse().unwrap()
    }

    fn spec(mode: AdmissionMode) -> NatsTransportPolicySpec {
        NatsTransportPolicySpec { admission: mode, ..Default::default() }
    }

    fn finding(code: Code, container: &str) -> Finding {
        Finding { code, severity: code.severity(), container: container.into(), message: format!("{code} message") }
    }

    /// A report with one container per (container, codes) pair.
    fn report(containers: &[(&str, &[Code])]) -> WorkloadReport {
        WorkloadReport {
            containers: containers
                .iter()
                .map(|(name, codes)| ContainerReport {
                    name: (*name).into(),
                    findings: codes.iter().map(|c| finding(*c, name)).collect(),
                    ..Default::default()
                })
                .collect(),
        }
    }

    fn annots(owner: Option<&str>, rollback_by: Option<&str>) -> BTreeMap<String, String> {
        let mut a = BTreeMap::new();
        if let Some(o) = owner {
            a.insert(annotations::OWNER.to_string(), o.to_string());
        }
        if let Some(r) = rollback_by {
            a.insert(annotations::ROLLBACK_BY.to_string(), r.to_string());
        }
        a
    }

    fn four_hours() -> SignedDuration {
        SignedDuration::from_hours(4)
    }

    fn one(mode: AdmissionMode, r: &WorkloadReport, a: &BTreeMap<String, String>) -> Decision {
        let s = spec(mode);
        decide(
            &[Judged { policy: "nats", spec: &s, max_duration: four_hours(), report: r }],
            a,
            Change::Evaluated,
            now(),
        )
    }

    const PLAIN: Code = Code::PlaintextOverrideActive;
    const NOAUTH: Code = Code::NoAuthOverrideActive;

    #[test]
    fn deny_break_glass_table() {
        let owned_ok = annots(Some("alice@example.com"), Some("2026-06-01T14:00:00Z"));
        /// (what, containers and their codes, annotations, outcome, text in the message or a warning)
        type Case<'a> = (&'a str, Vec<(&'a str, &'a [Code])>, BTreeMap<String, String>, Outcome, &'a str);
        let cases: Vec<Case<'_>> = vec![
            (
                "owned, time-boxed plaintext override",
                vec![("scheduler", &[PLAIN, Code::OverrideOwnerMissing])],
                owned_ok.clone(),
                Outcome::BreakGlass,
                "break-glass PlaintextOverrideActive in container \"scheduler\" admitted; owner \"alice@example.com\"; roll back by 2026-06-01T14:00:00Z",
            ),
            (
                "owned, time-boxed no-auth override",
                vec![("scheduler", &[NOAUTH])],
                owned_ok.clone(),
                Outcome::BreakGlass,
                "break-glass NoAuthOverrideActive",
            ),
            (
                "both overrides, in two containers",
                vec![("a", &[PLAIN]), ("b", &[NOAUTH])],
                owned_ok.clone(),
                Outcome::BreakGlass,
                "in container \"b\" admitted",
            ),
            (
                "deadline exactly now + maxDuration",
                vec![("scheduler", &[PLAIN])],
                annots(Some("alice"), Some("2026-06-01T16:00:00Z")),
                Outcome::BreakGlass,
                "roll back by 2026-06-01T16:00:00Z",
            ),
            (
                "unowned",
                vec![("scheduler", &[PLAIN])],
                annots(None, Some("2026-06-01T14:00:00Z")),
                Outcome::Denied,
                "break-glass not accepted: natsguard.io/override-owner is not set",
            ),
            (
                "blank owner",
                vec![("scheduler", &[PLAIN])],
                annots(Some("  "), Some("2026-06-01T14:00:00Z")),
                Outcome::Denied,
                "natsguard.io/override-owner is not set",
            ),
            (
                "no deadline",
                vec![("scheduler", &[PLAIN])],
                annots(Some("alice"), None),
                Outcome::Denied,
                "natsguard.io/rollback-by is not set",
            ),
            (
                "too long",
                vec![("scheduler", &[PLAIN])],
                annots(Some("alice"), Some("2026-06-01T16:00:01Z")),
                Outcome::Denied,
                "natsguard.io/rollback-by 2026-06-01T16:00:01Z is later than now + override.maxDuration 4h (2026-06-01T16:00:00Z)",
            ),
            (
                "past deadline",
                vec![("scheduler", &[PLAIN])],
                annots(Some("alice"), Some("2026-06-01T11:59:59Z")),
                Outcome::Denied,
                "natsguard.io/rollback-by 2026-06-01T11:59:59Z has passed",
            ),
            (
                "deadline exactly now",
                vec![("scheduler", &[PLAIN])],
                annots(Some("alice"), Some("2026-06-01T12:00:00Z")),
                Outcome::Denied,
                "has passed",
            ),
            (
                "overdue finding (the evaluator saw the deadline pass)",
                vec![("scheduler", &[Code::PlaintextOverrideOverdue])],
                annots(Some("alice"), Some("2026-06-01T11:00:00Z")),
                Outcome::Denied,
                "PlaintextOverrideOverdue in container \"scheduler\": past its rollback deadline; remove CORDUM_NATS_ALLOW_PLAINTEXT",
            ),
            (
                "unparseable deadline",
                vec![("scheduler", &[NOAUTH])],
                annots(Some("alice"), Some("tomorrow")),
                Outcome::Denied,
                "natsguard.io/rollback-by \"tomorrow\" is not an RFC 3339 time",
            ),
            (
                "override mixed with another violation",
                vec![("scheduler", &[PLAIN, Code::TlsMaterialIncomplete])],
                owned_ok.clone(),
                Outcome::Denied,
                "other violations remain (TLSMaterialIncomplete)",
            ),
            (
                "override in one container, plaintext refusal in another",
                vec![("a", &[PLAIN]), ("b", &[Code::PlaintextTransport])],
                owned_ok.clone(),
                Outcome::Denied,
                "PlaintextTransport in container \"b\": make every NATS_URL entry tls://",
            ),
            (
                "plain violation, no override: no break-glass hint",
                vec![("scheduler", &[Code::AuthMissing])],
                BTreeMap::new(),
                Outcome::Denied,
                "AuthMissing in container \"scheduler\": set NATS_TOKEN, NATS_NKEY or NATS_USERNAME+NATS_PASSWORD from a Secret",
            ),
            (
                "warnings only",
                vec![("scheduler", &[Code::MixedSchemes, Code::OverrideOwnerMissing])],
                BTreeMap::new(),
                Outcome::Allowed,
                "",
            ),
            ("compliant", vec![("scheduler", &[])], BTreeMap::new(), Outcome::Allowed, ""),
        ];
        for (what, containers, a, want, text) in cases {
            let r = report(&containers);
            let d = one(AdmissionMode::Deny, &r, &a);
            assert_eq!(d.outcome, want, "{what}: {d:?}");
            assert_eq!(d.allowed(), want != Outcome::Denied, "{what}");
            match want {
                Outcome::Denied => {
                    let m = d.message.as_deref().unwrap();
                    assert!(m.starts_with("natsguard policy \"nats\" (admission: Deny): "), "{what}: {m}");
                    assert!(m.contains(text), "{what}: {m}");
                    assert!(d.warnings.is_empty(), "{what}");
                    if what.starts_with("plain violation") {
                        assert!(!m.contains("break-glass"), "{what}: {m}");
                    }
                    if m.contains("break-glass not accepted") {
                        assert!(m.ends_with("(at most 4h ahead) to break glass"), "{what}: {m}");
                    }
                }
                _ => {
                    assert!(d.message.is_none(), "{what}");
                    if text.is_empty() {
                        assert!(d.warnings.is_empty(), "{what}: {:?}", d.warnings);
                    } else {
                        assert!(d.warnings.iter().any(|w| w.contains(text)), "{what}: {:?}", d.warnings);
                    }
                }
            }
        }
    }

    #[test]
    fn break_glass_names_every_override_and_no_other_warning() {
        let r = report(&[("a", &[PLAIN, Code::OverrideOwnerMissing]), ("b", &[NOAUTH])]);
        // The deadline is shown in UTC whatever offset the annotation used.
        let d = one(AdmissionMode::Deny, &r, &annots(Some("bob"), Some("2026-06-01T14:00:00+01:00")));
        assert_eq!(d.outcome, Outcome::BreakGlass);
        assert_eq!(
            d.warnings,
            [
                "natsguard \"nats\": break-glass PlaintextOverrideActive in container \"a\" admitted; owner \"bob\"; roll back by 2026-06-01T13:00:00Z",
                "natsguard \"nats\": break-glass NoAuthOverrideActive in container \"b\" admitted; owner \"bob\"; roll back by 2026-06-01T13:00:00Z",
            ]
        );
    }

    #[test]
    fn warn_admits_with_one_warning_per_violation() {
        let r = report(&[("scheduler", &[Code::PlaintextTransport, Code::AuthMissing, Code::MixedSchemes])]);
        let d = one(AdmissionMode::Warn, &r, &BTreeMap::new());
        assert_eq!(d.outcome, Outcome::Warned);
        assert!(d.message.is_none());
        assert_eq!(
            d.warnings,
            [
                "natsguard \"nats\": PlaintextTransport in container \"scheduler\": make every NATS_URL entry tls:// with TLS settings and credentials",
                "natsguard \"nats\": AuthMissing in container \"scheduler\": set NATS_TOKEN, NATS_NKEY or NATS_USERNAME+NATS_PASSWORD from a Secret",
            ]
        );
        // Break-glass under Warn is just a violation to warn about.
        let r = report(&[("scheduler", &[PLAIN])]);
        let d = one(AdmissionMode::Warn, &r, &BTreeMap::new());
        assert_eq!(d.outcome, Outcome::Warned);
        assert_eq!(
            d.warnings,
            [
                "natsguard \"nats\": PlaintextOverrideActive in container \"scheduler\": switch NATS_URL to tls:// and remove CORDUM_NATS_ALLOW_PLAINTEXT"
            ]
        );
        // The fix speaks the policy's variable names; init containers are named as such.
        let mut s = spec(AdmissionMode::Warn);
        s.transport.url_var = "BROKER_URL".into();
        let mut r = report(&[("migrate", &[Code::PlaintextTransport])]);
        r.containers[0].init = true;
        let d = decide(
            &[Judged { policy: "p", spec: &s, max_duration: four_hours(), report: &r }],
            &BTreeMap::new(),
            Change::Evaluated,
            now(),
        );
        assert_eq!(
            d.warnings,
            [
                "natsguard \"p\": PlaintextTransport in init container \"migrate\": make every BROKER_URL entry tls:// with TLS settings and credentials"
            ]
        );
    }

    #[test]
    fn off_never_affects_admission() {
        let r = report(&[("scheduler", &[Code::PlaintextTransport])]);
        let d = one(AdmissionMode::Off, &r, &BTreeMap::new());
        assert_eq!(d, Decision::no_opinion());
        // No selecting policy at all.
        assert_eq!(decide(&[], &BTreeMap::new(), Change::Evaluated, now()), Decision::no_opinion());
    }

    #[test]
    fn several_policies_deny_wins_and_warnings_merge() {
        let (deny, warn, off) = (spec(AdmissionMode::Deny), spec(AdmissionMode::Warn), spec(AdmissionMode::Off));
        let bad = report(&[("scheduler", &[Code::PlaintextTransport])]);
        let good = report(&[("scheduler", &[])]);
        let j = |policy, spec, report| Judged { policy, spec, max_duration: four_hours(), report };
        let d = decide(
            &[j("a-warn", &warn, &bad), j("b-deny", &deny, &bad), j("c-off", &off, &bad)],
            &BTreeMap::new(),
            Change::Evaluated,
            now(),
        );
        assert_eq!(d.outcome, Outcome::Denied);
        let m = d.message.unwrap();
        assert!(m.starts_with("natsguard policy \"b-deny\" (admission: Deny): PlaintextTransport"), "{m}");
        assert!(!m.contains("a-warn") && !m.contains("c-off"), "{m}");
        // Two Deny policies: both named.
        let d = decide(&[j("x", &deny, &bad), j("y", &deny, &bad)], &BTreeMap::new(), Change::Evaluated, now());
        let m = d.message.unwrap();
        assert!(m.contains("\"x\"") && m.contains(" | natsguard policy \"y\""), "{m}");
        // The Deny policy is satisfied (its evaluation is clean), the Warn one warns.
        let d =
            decide(&[j("a-warn", &warn, &bad), j("b-deny", &deny, &good)], &BTreeMap::new(), Change::Evaluated, now());
        assert_eq!(d.outcome, Outcome::Warned);
        assert_eq!(d.warnings.len(), 1);
        // Break-glass under one Deny policy, a Warn policy alongside: admitted, both speak.
        let glass = report(&[("scheduler", &[PLAIN])]);
        let a = annots(Some("alice"), Some("2026-06-01T13:00:00Z"));
        let d = decide(&[j("a-warn", &warn, &glass), j("b-deny", &deny, &glass)], &a, Change::Evaluated, now());
        assert_eq!(d.outcome, Outcome::BreakGlass);
        assert!(d.warnings[0].starts_with("natsguard \"a-warn\": PlaintextOverrideActive"), "{:?}", d.warnings);
        assert!(d.warnings[1].contains("roll back by 2026-06-01T13:00:00Z"), "{:?}", d.warnings);
        // A shorter maxDuration on the Deny policy refuses the same deadline.
        let mut short = spec(AdmissionMode::Deny);
        short.r#override.max_duration = "30m".into();
        let d = decide(
            &[Judged { policy: "short", spec: &short, max_duration: SignedDuration::from_mins(30), report: &glass }],
            &a,
            Change::Evaluated,
            now(),
        );
        assert_eq!(d.outcome, Outcome::Denied);
        assert!(d.message.unwrap().contains("later than now + override.maxDuration 30m (2026-06-01T12:30:00Z)"));
    }

    #[test]
    fn an_unchanged_update_is_warned_about_never_denied() {
        let bad = report(&[("scheduler", &[PLAIN])]);
        let s = spec(AdmissionMode::Deny);
        let j = [Judged { policy: "nats", spec: &s, max_duration: four_hours(), report: &bad }];
        let d = decide(&j, &annots(Some("alice"), Some("2026-06-01T11:00:00Z")), Change::Unchanged, now());
        assert_eq!(d.outcome, Outcome::Warned);
        assert!(d.warnings[0].contains("not denied because this update changes nothing natsguard evaluates"));
        assert!(d.warnings[1].contains("PlaintextOverrideActive in container \"scheduler\""));
        assert!(
            d.warnings[2]
                .contains("break-glass not accepted: natsguard.io/rollback-by 2026-06-01T11:00:00Z has passed")
        );
    }

    #[test]
    fn change_between_old_and_new() {
        let pod = |url: &str| -> PodEnv {
            serde_json::from_value(json!({"containers": [{"name": "c", "env": [{"name": "NATS_URL", "value": url}]}]}))
                .unwrap()
        };
        let (p1, p2) = (pod("tls://a"), pod("nats://a"));
        let labels = BTreeMap::from([("app".to_string(), "x".to_string())]);
        let other_labels = BTreeMap::from([("app".to_string(), "y".to_string())]);
        let plain = BTreeMap::from([("deployment.kubernetes.io/revision".to_string(), "2".to_string())]);
        let owned = annots(Some("alice"), None);
        let c = |pod, labels, annotations| Candidate { namespace: "ns", name: "d", labels, annotations, pod };
        let new = c(&p1, &labels, &plain);
        assert_eq!(Change::between(None, &new), Change::Evaluated);
        let empty = BTreeMap::new();
        assert_eq!(Change::between(Some(&c(&p1, &labels, &empty)), &new), Change::Unchanged, "other annotations");
        assert_eq!(Change::between(Some(&c(&p2, &labels, &plain)), &new), Change::Evaluated, "env");
        assert_eq!(Change::between(Some(&c(&p1, &other_labels, &plain)), &new), Change::Evaluated, "labels");
        assert_eq!(Change::between(Some(&c(&p1, &labels, &owned)), &new), Change::Evaluated, "ours");
    }

    #[test]
    fn output_is_bounded() {
        let codes: Vec<Code> = vec![Code::PlaintextTransport, Code::AuthMissing, Code::TlsMaterialIncomplete];
        let names: Vec<String> = (0..40).map(|i| format!("container-{i:02}-{}", "x".repeat(40))).collect();
        let containers: Vec<(&str, &[Code])> = names.iter().map(|n| (n.as_str(), codes.as_slice())).collect();
        let r = report(&containers);
        let long = "p".repeat(253);
        let (warn, deny) = (spec(AdmissionMode::Warn), spec(AdmissionMode::Deny));
        let d = decide(
            &[Judged { policy: &long, spec: &warn, max_duration: four_hours(), report: &r }],
            &BTreeMap::new(),
            Change::Evaluated,
            now(),
        );
        assert_eq!(d.warnings.len(), MAX_WARNINGS);
        assert!(d.warnings.iter().all(|w| w.len() <= MAX_WARNING), "{:?}", d.warnings);
        assert!(d.warnings.last().unwrap().contains("105 more warnings not shown"), "{:?}", d.warnings.last());
        assert!(d.warnings[0].ends_with('…'));
        let d = decide(
            &[Judged { policy: &long, spec: &deny, max_duration: four_hours(), report: &r }],
            &BTreeMap::new(),
            Change::Evaluated,
            now(),
        );
        let m = d.message.unwrap();
        assert!(m.len() <= MAX_MESSAGE && m.ends_with('…'), "{}", m.len());
        // Owners are quoted, escaped and cut.
        let r = report(&[("c", &[PLAIN])]);
        let owner = format!("evil\n{}", "é".repeat(200));
        let d = one(AdmissionMode::Deny, &r, &annots(Some(&owner), Some("2026-06-01T13:00:00Z")));
        assert_eq!(d.outcome, Outcome::BreakGlass);
        assert!(d.warnings[0].contains("owner \"evil\\n") && !d.warnings[0].contains('\n'), "{:?}", d.warnings);
        assert!(d.warnings[0].len() <= MAX_WARNING);
    }

    /// The whole path: selection, evaluation with the real rule pack, the decision.
    #[test]
    fn review_selects_evaluates_and_decides() {
        let policy = |name: &str, mode: &str, selector: serde_json::Value| -> NatsTransportPolicy {
            serde_json::from_value(json!({
                "apiVersion": "natsguard.io/v1alpha1", "kind": "NatsTransportPolicy",
                "metadata": {"name": name, "namespace": "prod"},
                "spec": {"selector": selector, "admission": mode}
            }))
            .unwrap()
        };
        let pod: PodEnv = serde_json::from_value(json!({"containers": [{
        "name": "scheduler", "image": "ghcr.io/cordum-io/cordum/scheduler:2.9",
        "env": [
            {"name": "CORDUM_ENV", "value": "production"},
            {"name": "NATS_URL", "value": "nats://nats:4222"},
            {"name": "CORDUM_NATS_ALLOW_PLAINTEXT", "value": "true"},
            {"name": "NATS_TOKEN", "valueFrom": {"secretKeyRef": {"name": "s", "key": "t"}}},
        ]}]}))
        .unwrap();
        let labels = BTreeMap::from([("app".to_string(), "sched".to_string())]);
        let owned = annots(Some("alice"), Some("2026-06-01T13:00:00Z"));
        let cand =
            |annotations| Candidate { namespace: "prod", name: "sched", labels: &labels, annotations, pod: &pod };
        let cms = ConfigMaps { complete: true, ..Default::default() };
        let deny = policy("deny", "Deny", json!({"matchLabels": {"app": "sched"}}));
        let other = policy("other", "Deny", json!({"matchLabels": {"app": "other"}}));
        let off = policy("off", "Off", json!({}));

        let none = BTreeMap::new();
        let d = review([&deny, &other, &off], &cand(&none), Change::Evaluated, &cms, now());
        assert_eq!(d.outcome, Outcome::Denied);
        let m = d.message.unwrap();
        assert!(m.contains("PlaintextOverrideActive in container \"scheduler\""), "{m}");
        assert!(m.contains("natsguard.io/override-owner is not set"), "{m}");
        assert!(!m.contains("\"other\"") && !m.contains("\"off\""), "{m}");

        let d = review([&deny], &cand(&owned), Change::Evaluated, &cms, now());
        assert_eq!(d.outcome, Outcome::BreakGlass, "{d:?}");
        // Past its deadline the evaluator raises the overdue code: denied.
        let late = annots(Some("alice"), Some("2026-06-01T11:00:00Z"));
        let d = review([&deny], &cand(&late), Change::Evaluated, &cms, now());
        assert!(d.message.unwrap().contains("PlaintextOverrideOverdue"));

        // Not selected, Off, suspended: no opinion.
        assert_eq!(review([&other, &off], &cand(&owned), Change::Evaluated, &cms, now()), Decision::no_opinion());
        let mut suspended = deny.clone();
        suspended.spec.suspend = true;
        assert_eq!(review([&suspended], &cand(&owned), Change::Evaluated, &cms, now()), Decision::no_opinion());

        // An invalid policy does not judge; it says so.
        let mut invalid = policy("broken", "Deny", json!({}));
        invalid.spec.r#override.max_duration = "forever".into();
        let d = review([&invalid], &cand(&none), Change::Evaluated, &cms, now());
        assert_eq!(d.outcome, Outcome::Warned);
        assert!(d.warnings[0].starts_with("natsguard \"broken\": the policy is invalid (spec.override.maxDuration"));
    }
}
