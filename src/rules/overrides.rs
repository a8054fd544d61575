//! The two break-glass overrides (docs/reference.md, "Overrides"): in production, a truthy
//! `CORDUM_NATS_ALLOW_PLAINTEXT` lets the workload start although the gate refuses its URL, and a
//! truthy `CORDUM_NATS_ALLOW_NOAUTH` lets it start unauthenticated. Each use is an incident with an
//! owner and a rollback deadline; an override that is on while its check passes is stale.

use super::ContainerInput;
use super::vars::{Out, State, shown};
use crate::crd::annotations;
use crate::crd::policy::NatsTransportPolicySpec;
use crate::env::EffectiveEnv;
use crate::findings::{Code, Severity};
use crate::report::{EvalContext, Override};
use crate::truthy::{is_falsy, is_truthy};
use k8s_openapi::jiff::Timestamp;
use std::collections::BTreeMap;

/// Whether each override variable is truthy; `None` when it cannot be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Flags {
    pub plaintext: Option<bool>,
    pub no_auth: Option<bool>,
}

/// The variable that turns `o` on, with the policy's name.
pub fn var(spec: &NatsTransportPolicySpec, o: Override) -> &str {
    match o {
        Override::Plaintext => &spec.r#override.env_var,
        Override::NoAuth => &spec.r#override.no_auth_env,
    }
}

fn noun(o: Override) -> &'static str {
    match o {
        Override::Plaintext => "plaintext override",
        Override::NoAuth => "no-auth override",
    }
}

/// Read both override variables; in production, report values that are neither truthy nor falsy.
pub fn read(spec: &NatsTransportPolicySpec, env: &EffectiveEnv, production: Option<bool>, out: &mut Out<'_>) -> Flags {
    let mut flag = |o: Override| {
        let name = var(spec, o);
        let state = State::of(env, name);
        if production == Some(true)
            && let State::Known(s) = state
            && !s.trim().is_empty()
            && !is_truthy(s)
            && !is_falsy(s)
        {
            out.push(
                Code::OverrideValueUnrecognized,
                Severity::Warning,
                format!(
                    "{name} is set to a value that is neither truthy (1, true, yes, y, on) nor falsy (0, false, no, n, off), so the workload reads it as false; set it to true to use the {}, or remove it",
                    noun(o)
                ),
            );
        }
        state.truthy()
    };
    Flags { plaintext: flag(Override::Plaintext), no_auth: flag(Override::NoAuth) }
}

/// One production start-up check that a break-glass override can bypass.
pub struct Check {
    pub kind: Override,
    /// Whether the check passes; `None`: cannot be told (the reason is reported elsewhere).
    pub passes: Option<bool>,
    /// What the workload does when the check fails and the override is off.
    pub refusal: (Code, String),
    /// What fails, for messages: `NATS_URL "nats://…"` or `no NATS authentication is configured`.
    pub subject: String,
    /// How to get rid of the override.
    pub fix: String,
}

/// Judge one check in production: the refusal, the override in use (active or overdue, with its
/// owner), or a stale override.
pub fn judge(
    spec: &NatsTransportPolicySpec,
    c: &ContainerInput<'_>,
    ctx: &EvalContext,
    check: Check,
    truthy: Option<bool>,
    env: &EffectiveEnv,
    out: &mut Out<'_>,
) {
    let name = var(spec, check.kind);
    let noun = noun(check.kind);
    match (check.passes, truthy) {
        (Some(true), Some(true)) => {
            let why = match check.kind {
                Override::Plaintext => {
                    "every entry of the URL begins with tls://, so a later URL edit would silently downgrade the workload to plaintext".to_owned()
                }
                Override::NoAuth => {
                    "authentication is configured, so a later edit that drops the credentials would silently start the workload unauthenticated".to_owned()
                }
            };
            out.push(
                Code::StaleOverride,
                Severity::Warning,
                format!("the {noun} {name} is truthy although {why}; remove {name}"),
            );
        }
        (Some(false), Some(true)) => {
            let (deadline, note) = deadline(c.annotations, ctx, check.kind);
            let (active, overdue) = match check.kind {
                Override::Plaintext => (Code::PlaintextOverrideActive, Code::PlaintextOverrideOverdue),
                Override::NoAuth => (Code::NoAuthOverrideActive, Code::NoAuthOverrideOverdue),
            };
            let lets = match check.kind {
                Override::Plaintext => format!("start although the gate refuses {}", check.subject),
                Override::NoAuth => format!("use the broker unauthenticated ({})", check.subject),
            };
            match deadline {
                Some(d) if d <= ctx.now => out.push(
                    overdue,
                    Severity::Violation,
                    format!(
                        "the {noun} {name} is still on past its rollback deadline {d}{note}: it lets the workload {lets}; {} now",
                        check.fix
                    ),
                ),
                Some(d) => out.push(
                    active,
                    Severity::Violation,
                    format!("the {noun} {name} lets the workload {lets}; rollback deadline {d}{note}; {}", check.fix),
                ),
                None => out.push(
                    active,
                    Severity::Violation,
                    format!(
                        "the {noun} {name} lets the workload {lets}{note}; {}, and set the {} annotation meanwhile",
                        check.fix,
                        annotations::ROLLBACK_BY
                    ),
                ),
            }
            let owner_blank = c.annotations.get(annotations::OWNER).is_none_or(|o| o.trim().is_empty());
            if spec.r#override.require_owner && owner_blank {
                out.push(
                    Code::OverrideOwnerMissing,
                    Severity::Warning,
                    format!(
                        "the {noun} {name} is on but no owner is recorded; annotate the workload with {}=<who is responsible>",
                        annotations::OWNER
                    ),
                );
            }
        }
        (Some(false), Some(false)) => {
            let (code, message) = check.refusal;
            out.push(code, Severity::Violation, message);
        }
        (Some(false), None) => {
            // Refused either way the variable reads: the transport is not right, so this stays a
            // violation; only whether the break-glass is in use cannot be told.
            let (code, message) = check.refusal;
            out.push(
                code,
                Severity::Violation,
                format!(
                    "{message} (unless {name} is truthy, which cannot be told: {}; then the {noun} is in use)",
                    State::of(env, name).why_unreadable(name)
                ),
            );
        }
        (Some(true), _) | (None, _) => {}
    }
}

/// The `natsguard.io/rollback-by` annotation: `None` when absent, `Some(Err(text))` (quoted for
/// messages) when it is not an RFC 3339 time between years 1 and 9999 (what a Kubernetes
/// timestamp can hold).
pub fn rollback_by(annots: &BTreeMap<String, String>) -> Option<Result<Timestamp, String>> {
    /// 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z.
    const RANGE: std::ops::RangeInclusive<i64> = -62_135_596_800..=253_402_300_799;
    annots.get(annotations::ROLLBACK_BY).map(|s| match s.trim().parse::<Timestamp>() {
        Ok(t) if RANGE.contains(&t.as_second()) => Ok(t),
        _ => Err(shown(s)),
    })
}

/// The incident's rollback deadline: the operator's, else the `rollback-by` annotation. The
/// second value is a message suffix when the annotation is present but unreadable.
fn deadline(annots: &BTreeMap<String, String>, ctx: &EvalContext, o: Override) -> (Option<Timestamp>, String) {
    if let Some(d) = ctx.deadlines.get(o) {
        return (Some(d), String::new());
    }
    match rollback_by(annots) {
        None => (None, String::new()),
        Some(Ok(t)) => (Some(t), String::new()),
        Some(Err(text)) => {
            (None, format!(" (annotation {} is {text}, which is not an RFC 3339 time)", annotations::ROLLBACK_BY))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkit::*;
    use super::rollback_by;
    use crate::crd::annotations;
    use crate::findings::Code::*;
    use crate::report::Override;
    use std::collections::BTreeMap;

    fn tls() -> serde_json::Value {
        lit("NATS_URL", "tls://nats:4222")
    }

    #[test]
    fn the_plaintext_override() {
        let owned = Run::scheduler().annot(annotations::OWNER, "alice").annot(annotations::ROLLBACK_BY, FUTURE);
        let on = || lit("CORDUM_NATS_ALLOW_PLAINTEXT", "true");
        check(
            &owned,
            vec![
                ("bypasses a plaintext refusal", (vec![prod(), auth(), on()], vec![(PlaintextOverrideActive, V)])),
                (
                    "bypasses a TLSSchemeRejected refusal",
                    (vec![prod(), auth(), lit("NATS_URL", "wss://a"), on()], vec![(PlaintextOverrideActive, V)]),
                ),
                ("no effect outside production", (vec![staging(), on()], vec![])),
                ("stale when the gate passes", (vec![prod(), auth(), ca(), tls(), on()], vec![(StaleOverride, W)])),
                (
                    "no effect on the TLS refusal",
                    (vec![prod(), auth(), tls(), on()], vec![(TlsSettingsMissing, V), (StaleOverride, W)]),
                ),
                (
                    "no effect on authentication",
                    (vec![prod(), on()], vec![(PlaintextOverrideActive, V), (AuthMissing, V)]),
                ),
                (
                    "false is off",
                    (vec![prod(), auth(), lit("CORDUM_NATS_ALLOW_PLAINTEXT", "FALSE")], vec![(PlaintextTransport, V)]),
                ),
                (
                    "unrecognised value",
                    (
                        vec![prod(), auth(), lit("CORDUM_NATS_ALLOW_PLAINTEXT", "enable")],
                        vec![(PlaintextTransport, V), (OverrideValueUnrecognized, W)],
                    ),
                ),
                (
                    "unrecognised outside production: not raised",
                    (vec![staging(), lit("CORDUM_NATS_ALLOW_PLAINTEXT", "enable")], vec![]),
                ),
                (
                    "blank is not unrecognised",
                    (vec![prod(), auth(), lit("CORDUM_NATS_ALLOW_PLAINTEXT", "  ")], vec![(PlaintextTransport, V)]),
                ),
            ],
        );
        check(
            &Run::scheduler(),
            vec![(
                "owner missing",
                (vec![prod(), auth(), on()], vec![(PlaintextOverrideActive, V), (OverrideOwnerMissing, W)]),
            )],
        );
        let relaxed = Run::scheduler().spec(|s| s.r#override.require_owner = false);
        check(&relaxed, vec![("owner not required", (vec![prod(), auth(), on()], vec![(PlaintextOverrideActive, V)]))]);
        let r = Run::scheduler().run(&[prod(), auth(), on()]);
        assert_eq!(r.plaintext_override, Some(true));
        assert!(r.override_active(Override::Plaintext) && !r.override_active(Override::NoAuth));
        assert!(msg(&r, PlaintextOverrideActive).contains(annotations::ROLLBACK_BY));
    }

    #[test]
    fn the_no_auth_override() {
        let owned = Run::scheduler().annot(annotations::OWNER, "alice").annot(annotations::ROLLBACK_BY, FUTURE);
        let on = || lit("CORDUM_NATS_ALLOW_NOAUTH", "yes");
        check(
            &owned,
            vec![
                ("bypasses the auth refusal", (vec![prod(), tls(), ca(), on()], vec![(NoAuthOverrideActive, V)])),
                ("no effect outside production", (vec![staging(), tls(), on()], vec![])),
                ("stale when authenticated", (vec![prod(), tls(), ca(), auth(), on()], vec![(StaleOverride, W)])),
                (
                    "stale with a client certificate",
                    (
                        vec![prod(), tls(), lit("NATS_TLS_CERT", "/c"), lit("NATS_TLS_KEY", "/k"), on()],
                        vec![(StaleOverride, W)],
                    ),
                ),
                (
                    "both overrides at once",
                    (
                        vec![prod(), on(), lit("CORDUM_NATS_ALLOW_PLAINTEXT", "1")],
                        vec![(NoAuthOverrideActive, V), (PlaintextOverrideActive, V)],
                    ),
                ),
                (
                    "no effect on the gate",
                    (vec![prod(), on()], vec![(NoAuthOverrideActive, V), (PlaintextTransport, V)]),
                ),
                (
                    "unrecognised value",
                    (
                        vec![prod(), tls(), ca(), lit("CORDUM_NATS_ALLOW_NOAUTH", "please")],
                        vec![(AuthMissing, V), (OverrideValueUnrecognized, W)],
                    ),
                ),
            ],
        );
        let r = owned.run(&[prod(), tls(), ca(), on()]);
        assert!(r.override_active(Override::NoAuth) && !r.override_active(Override::Plaintext));
        assert_eq!((r.authenticated, r.no_auth_override), (Some(false), Some(true)));
        assert!(msg(&r, NoAuthOverrideActive).contains("CORDUM_NATS_ALLOW_NOAUTH"));
        let r = owned.run(&[prod(), tls(), ca(), auth(), on()]);
        assert!(msg(&r, StaleOverride).contains("CORDUM_NATS_ALLOW_NOAUTH"));
        let r = Run::scheduler().run(&[prod(), tls(), ca(), on()]);
        assert!(msg(&r, OverrideOwnerMissing).contains("no-auth override CORDUM_NATS_ALLOW_NOAUTH"));
        let renamed = Run::scheduler().spec(|s| s.r#override.no_auth_env = "LET_ME_IN".into());
        let r = renamed.run(&[prod(), tls(), ca(), lit("LET_ME_IN", "1")]);
        assert!(r.override_active(Override::NoAuth));
    }

    #[test]
    fn deadlines_and_escalation() {
        let on = || lit("CORDUM_NATS_ALLOW_PLAINTEXT", "on");
        let past = Run::scheduler().annot(annotations::OWNER, "a").annot(annotations::ROLLBACK_BY, PAST);
        check(
            &past,
            vec![("overdue by annotation", (vec![prod(), auth(), on()], vec![(PlaintextOverrideOverdue, V)]))],
        );
        let bad = Run::scheduler().annot(annotations::OWNER, "a").annot(annotations::ROLLBACK_BY, "tomorrow");
        let r = bad.run(&[prod(), auth(), on()]);
        assert!(msg(&r, PlaintextOverrideActive).contains("not an RFC 3339 time"));
        // The operator's incident deadline wins over the annotation, per override.
        let mut by_incident = Run::scheduler().annot(annotations::OWNER, "a").annot(annotations::ROLLBACK_BY, FUTURE);
        by_incident.ctx.deadlines.plaintext = Some(ts(PAST));
        let r = by_incident.run(&[prod(), auth(), on(), lit("CORDUM_NATS_ALLOW_NOAUTH", "1"), ca(), tls()]);
        assert_eq!(codes(&r), vec![(StaleOverride, W), (StaleOverride, W)], "{:#?}", r.findings);
        let r = by_incident.run(&[prod(), on(), lit("CORDUM_NATS_ALLOW_NOAUTH", "1")]);
        assert_eq!(codes(&r), vec![(NoAuthOverrideActive, V), (PlaintextOverrideOverdue, V)]);
        by_incident.ctx.deadlines.no_auth = Some(ts(PAST));
        let r = by_incident.run(&[prod(), on(), lit("CORDUM_NATS_ALLOW_NOAUTH", "1")]);
        assert_eq!(codes(&r), vec![(NoAuthOverrideOverdue, V), (PlaintextOverrideOverdue, V)]);
    }

    #[test]
    fn rollback_by_annotation() {
        let a = |v: &str| BTreeMap::from([(annotations::ROLLBACK_BY.to_string(), v.to_string())]);
        assert_eq!(rollback_by(&BTreeMap::new()), None);
        assert_eq!(rollback_by(&a(FUTURE)), Some(Ok(ts(FUTURE))));
        assert_eq!(rollback_by(&a(" 2026-06-01T18:00:00+02:00 ")), Some(Ok(ts(FUTURE))));
        assert_eq!(rollback_by(&a("2026-06-01")), Some(Err("\"2026-06-01\"".to_string())));
        assert!(matches!(rollback_by(&a("in 2 hours")), Some(Err(_))));
        // Outside what a Kubernetes timestamp can hold: malformed, never written raw.
        assert!(matches!(rollback_by(&a("-000001-01-01T00:00:00Z")), Some(Err(_))));
        assert!(matches!(rollback_by(&a("0000-12-31T23:59:59Z")), Some(Err(_))));
        assert_eq!(rollback_by(&a("0001-01-01T00:00:00Z")).map(|r| r.is_ok()), Some(true));
        assert_eq!(rollback_by(&a("9999-12-30T00:00:00Z")).map(|r| r.is_ok()), Some(true));
    }

    #[test]
    fn undeterminable_override() {
        // Refused whatever the variable says: still a violation, with the doubt in the message.
        let r = Run::scheduler().run(&[prod(), auth(), secret("CORDUM_NATS_ALLOW_PLAINTEXT")]);
        assert_eq!(codes(&r), vec![(PlaintextTransport, V)]);
        assert!(msg(&r, PlaintextTransport).contains("unless CORDUM_NATS_ALLOW_PLAINTEXT is truthy"));
        assert_eq!(r.plaintext_override, None);
        assert!(!r.override_active(Override::Plaintext));
    }
}
