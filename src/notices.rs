//! Which Kubernetes Events to emit, decided purely from (previous state, next state).
//!
//! Events mark transitions only. Because the previous state is what the API server holds (the
//! announced record of `crate::ledger`, the incident status and the policy status), a restarted
//! operator or a new leader emits nothing for a state that is already recorded.

use crate::crd::{IncidentState, NatsTransportPolicyStatus, Resolution};
use crate::findings::Severity;
use crate::ledger::Entry;
use crate::lifecycle::Plan;
use crate::report::{Override, WorkloadReport};
use crate::status::{READY, condition_status};

/// What an Event is about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Regarding {
    Policy,
    Deployment(String),
}

/// The second object an Event points at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Related {
    None,
    Policy,
    Incident(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notice {
    pub regarding: Regarding,
    pub related: Related,
    pub warning: bool,
    pub reason: String,
    pub note: String,
    /// The identity of this announcement, when it has a durable one ([`announcement_key`]): its
    /// Event is named after it, so the same transition decided again (by a successor that never
    /// saw the record written) is refused by the API server as a copy instead of repeated.
    pub key: Option<u64>,
}

/// A stable identity (FNV-1a over the parts, each followed by a 0 byte) for one announcement.
/// Finding Events use (policy uid, Deployment uid, the number of the transition in the durable
/// record, reason): a successor deciding the same transition from the same durable record names
/// it the same (docs/configuration.md, "What was announced"). No value of the workload goes in.
pub fn announcement_key(parts: &[&str]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for b in part.bytes().chain([0]) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

pub const DRIFT_RESOLVED: &str = "DriftResolved";
pub const OVERRIDE_ACTIVATED: &str = "OverrideActivated";
pub const OVERRIDE_DEADLINE_APPROACHING: &str = "OverrideDeadlineApproaching";
pub const OVERRIDE_OVERDUE: &str = "OverrideOverdue";
pub const OVERRIDE_RESOLVED: &str = "OverrideResolved";
pub const POLICY_INVALID: &str = "PolicyInvalid";
/// The `Ready=False` reason of a policy that cannot be used (the only one `PolicyInvalid` follows).
pub const INVALID_POLICY: &str = "InvalidPolicy";

/// The Events for one selected workload: every warning or violation code that was not announced
/// before (`before`, from the announced record), and `DriftResolved` when a workload announced
/// as violating has no violation any more. Info findings never produce an Event. Returns what is
/// announced after these Events, for the record.
pub fn workload(name: &str, before: Option<&Entry>, report: &WorkloadReport) -> (Option<Entry>, Vec<Notice>) {
    let after = Entry::of(report);
    let mut out = Vec::new();
    if let Some(now) = &after {
        for code in &now.codes {
            if before.is_some_and(|b| b.codes.contains(code)) {
                continue;
            }
            // The most severe finding of that code, the first one in report order among equals.
            let Some(f) = report
                .findings()
                .filter(|f| f.code == *code)
                .reduce(|a, b| if b.severity > a.severity { b } else { a })
            else {
                continue;
            };
            out.push(Notice {
                regarding: Regarding::Deployment(name.to_owned()),
                related: Related::Policy,
                warning: f.severity >= Severity::Warning,
                reason: f.code.as_str().to_owned(),
                note: f.message.clone(),
                key: None,
            });
        }
    }
    let was_violating = before.is_some_and(|b| b.violating);
    let is_violating = after.as_ref().is_some_and(|a| a.violating);
    if was_violating && !is_violating {
        out.push(Notice {
            regarding: Regarding::Deployment(name.to_owned()),
            related: Related::Policy,
            warning: false,
            reason: DRIFT_RESOLVED.into(),
            note: format!("Deployment {name} has no NATS transport violation any more"),
            key: None,
        });
    }
    (after, out)
}

/// `PolicyInvalid` when the policy becomes unusable (or the reason it is unusable changes).
pub fn policy(previous: Option<&NatsTransportPolicyStatus>, next: &NatsTransportPolicyStatus) -> Option<Notice> {
    let invalid = |c: &&k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition| {
        c.status == "False" && c.reason == INVALID_POLICY
    };
    let now = condition_status(Some(next), READY).filter(invalid)?;
    let before = condition_status(previous, READY);
    if before.filter(invalid).is_some_and(|b| b.message == now.message) {
        return None;
    }
    Some(Notice {
        regarding: Regarding::Policy,
        related: Related::None,
        warning: true,
        reason: POLICY_INVALID.into(),
        note: now.message.clone(),
        key: None,
    })
}

/// The incident a notice is about.
#[derive(Clone, Copy, Debug)]
pub struct About<'a> {
    /// The Deployment (the Event's `regarding`).
    pub deployment: &'a str,
    /// The incident's name (the Event's `related`).
    pub incident: &'a str,
    /// Which break-glass override.
    pub r#override: Override,
    /// The variable that switches it on, as the policy names it.
    pub variable: &'a str,
}

impl About<'_> {
    /// "Plaintext override CORDUM_NATS_ALLOW_PLAINTEXT", "No-auth override CORDUM_NATS_ALLOW_NOAUTH".
    fn subject(&self) -> String {
        let kind = match self.r#override {
            Override::Plaintext => "Plaintext",
            Override::NoAuth => "No-auth",
        };
        format!("{kind} override {}", self.variable)
    }
}

/// Incident transitions for one incident, given the state recorded before and the plan.
pub fn incident(about: &About<'_>, recorded: Option<IncidentState>, plan: &Plan) -> Vec<Notice> {
    let notice = |warning: bool, reason: &str, note: String| Notice {
        regarding: Regarding::Deployment(about.deployment.to_owned()),
        related: Related::Incident(about.incident.to_owned()),
        warning,
        reason: reason.to_owned(),
        note,
        key: None,
    };
    let subject = about.subject();
    let mut out = Vec::new();
    match plan {
        Plan::Nothing => {}
        Plan::Open { spec, state } => {
            let owner = spec.owner.as_deref().unwrap_or("no owner recorded");
            let effect = match about.r#override {
                Override::Plaintext => "starts although the start-up gate refuses its NATS URL",
                Override::NoAuth => "uses the NATS broker without authentication",
            };
            out.push(notice(
                true,
                OVERRIDE_ACTIVATED,
                format!(
                    "{subject} in use: {} {effect} (owner: {owner}); roll back by {}",
                    containers(&spec.containers),
                    spec.rollback_by.0
                ),
            ));
            out.extend(state_notices(&notice, &subject, None, *state, true, spec.rollback_by.0));
        }
        Plan::Keep { spec, state, overdue_notice } => {
            out.extend(state_notices(&notice, &subject, recorded, *state, *overdue_notice, spec.rollback_by.0));
        }
        Plan::Resolve(resolution) => out.push(notice(
            false,
            OVERRIDE_RESOLVED,
            format!("{subject} incident resolved ({}): {}", resolution.as_str(), describe(*resolution)),
        )),
    }
    out
}

/// `container "a"`, `containers "a", "b"`: who runs the override.
fn containers(names: &[String]) -> String {
    match names {
        [] => "the workload".to_owned(),
        [one] => format!("container {one:?}"),
        many => format!("containers {}", many.iter().map(|n| format!("{n:?}")).collect::<Vec<_>>().join(", ")),
    }
}

fn state_notices(
    notice: &impl Fn(bool, &str, String) -> Notice,
    subject: &str,
    recorded: Option<IncidentState>,
    state: IncidentState,
    overdue_notice: bool,
    rollback_by: k8s_openapi::jiff::Timestamp,
) -> Vec<Notice> {
    let approaching =
        || notice(true, OVERRIDE_DEADLINE_APPROACHING, format!("{subject} must be rolled back by {rollback_by}"));
    let overdue = || {
        notice(
            true,
            OVERRIDE_OVERDUE,
            format!("{subject} is past its rollback deadline {rollback_by}; roll it back now"),
        )
    };
    match state {
        IncidentState::DeadlineApproaching if recorded != Some(IncidentState::DeadlineApproaching) => {
            vec![approaching()]
        }
        // Recorded Active and now past the deadline: the warning window went by unrecorded (nobody
        // led, or the reconcile came late); it is announced before the escalation, as every
        // transition is, once.
        IncidentState::Overdue if overdue_notice && recorded == Some(IncidentState::Active) => {
            vec![approaching(), overdue()]
        }
        IncidentState::Overdue if overdue_notice => vec![overdue()],
        _ => Vec::new(),
    }
}

fn describe(resolution: Resolution) -> &'static str {
    match resolution {
        Resolution::OverrideRemoved => "the override was switched off (the variable is no longer truthy)",
        Resolution::SwitchedToTLS => "the workload switched to tls:// and no longer needs the override",
        Resolution::AuthConfigured => "broker authentication is now configured and the override is no longer needed",
        Resolution::WorkloadDeleted => "the Deployment was deleted",
        Resolution::OutOfScope => "the policy no longer selects the Deployment",
        Resolution::NoLongerProduction => "the workload no longer runs a NATS client in production",
        Resolution::PolicyDeleted => "the policy was deleted",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn announcement_keys_are_stable_and_tell_transitions_apart() {
        let k = |parts: &[&str]| announcement_key(parts);
        // The same parts, the same key (on every replica).
        assert_eq!(
            k(&["p", "uid", "1", "fp", "", "!PlaintextTransport", "PlaintextTransport"]),
            k(&["p", "uid", "1", "fp", "", "!PlaintextTransport", "PlaintextTransport"])
        );
        assert_ne!(k(&["ab", "c"]), k(&["a", "bc"]), "parts are separated");
        assert_ne!(k(&["p", "uid", "1", "fp", "", "!X", "X"]), k(&["p", "uid", "2", "fp", "", "!X", "X"]));
        assert_ne!(k(&["p", "uid", "1", "fp", "", "!X", "X"]), k(&["p", "uid", "1", "fp", "Y", "!X,Y", "X"]));
    }
    use crate::findings::Code;

    fn report(codes: &[(Code, Severity)]) -> WorkloadReport {
        WorkloadReport::with_codes(codes)
    }

    fn reasons_of(out: &[Notice]) -> Vec<(&str, bool)> {
        out.iter().map(|n| (n.reason.as_str(), n.warning)).collect()
    }

    #[test]
    fn a_code_is_announced_once_per_workload_and_info_never() {
        let first = report(&[(Code::PlaintextTransport, Severity::Violation), (Code::NotNatsClient, Severity::Info)]);
        let (entry, out) = workload("api", None, &first);
        assert_eq!(reasons_of(&out), [("PlaintextTransport", true)]);
        assert_eq!(out[0].regarding, Regarding::Deployment("api".into()));
        assert_eq!(out[0].note, "PlaintextTransport here");
        // Same state again (e.g. after a restart, from the record): nothing.
        let (again, out) = workload("api", entry.as_ref(), &first);
        assert!(out.is_empty());
        assert_eq!(again, entry);
        // A new code appears next to the old one: only the new one; an info code: nothing.
        let second = report(&[
            (Code::PlaintextTransport, Severity::Violation),
            (Code::AuthAmbiguous, Severity::Info),
            (Code::MixedSchemes, Severity::Warning),
        ]);
        let (_, out) = workload("api", entry.as_ref(), &second);
        assert_eq!(reasons_of(&out), [("MixedSchemes", true)]);
        // A code that went away and came back is announced again.
        let (gone, out) = workload("api", entry.as_ref(), &report(&[(Code::AuthMissing, Severity::Violation)]));
        assert_eq!(reasons_of(&out), [("AuthMissing", true)]);
        let (_, out) = workload("api", gone.as_ref(), &first);
        assert_eq!(reasons_of(&out), [("PlaintextTransport", true)]);
    }

    #[test]
    fn drift_resolved_only_after_an_announced_violation() {
        let bad = report(&[(Code::PlaintextTransport, Severity::Violation)]);
        let (violating, _) = workload("a", None, &bad);
        // Compliant now: DriftResolved, and the record says so.
        let (after, out) = workload("a", violating.as_ref(), &report(&[(Code::MixedSchemes, Severity::Warning)]));
        assert_eq!(reasons_of(&out), [("MixedSchemes", true), (DRIFT_RESOLVED, false)]);
        assert!(after.is_some_and(|e| !e.violating));
        // Never announced as violating (a warning only, or nothing): no DriftResolved.
        let (warned, _) = workload("b", None, &report(&[(Code::MixedSchemes, Severity::Warning)]));
        let (_, out) = workload("b", warned.as_ref(), &report(&[]));
        assert!(out.is_empty());
        let (_, out) = workload("c", None, &report(&[]));
        assert!(out.is_empty());
        // Still violating with another code: no DriftResolved.
        let (_, out) = workload("a", violating.as_ref(), &report(&[(Code::AuthMissing, Severity::Violation)]));
        assert_eq!(reasons_of(&out), [("AuthMissing", true)]);
    }

    #[test]
    fn policy_invalid_once_per_reason() {
        let invalid = |msg: &str| {
            let mut s = NatsTransportPolicyStatus::default();
            s.conditions.push(crate::status::condition(
                &[],
                READY,
                "False",
                "InvalidPolicy",
                msg.into(),
                Some(1),
                k8s_openapi::jiff::Timestamp::UNIX_EPOCH,
            ));
            s
        };
        let a = invalid("spec.selector: bad");
        assert!(policy(None, &a).is_some());
        assert!(policy(Some(&a), &a).is_none());
        assert!(policy(Some(&a), &invalid("spec.selector: other")).is_some());
        assert!(policy(None, &NatsTransportPolicyStatus::default()).is_none());
        // Ready=False for another reason (work that could not be done) is not PolicyInvalid.
        let mut other = invalid("x");
        other.conditions[0].reason = "Other".into();
        assert!(policy(None, &other).is_none());
    }

    fn spec(o: Override, containers: &[&str], owner: Option<&str>) -> crate::crd::NatsTransportIncidentSpec {
        crate::crd::NatsTransportIncidentSpec {
            r#override: o,
            policy: "p".into(),
            deployment: crate::crd::DeploymentRef { name: "api".into(), uid: "u".into() },
            containers: containers.iter().map(|c| (*c).to_owned()).collect(),
            owner: owner.map(str::to_owned),
            reason: None,
            started_at: k8s_openapi::apimachinery::pkg::apis::meta::v1::Time("2026-01-01T00:00:00Z".parse().unwrap()),
            rollback_by: k8s_openapi::apimachinery::pkg::apis::meta::v1::Time("2026-01-01T04:00:00Z".parse().unwrap()),
        }
    }

    fn about(o: Override, variable: &str) -> About<'_> {
        About { deployment: "api", incident: "api-1234abcd", r#override: o, variable }
    }

    fn reasons(notices: &[Notice]) -> Vec<&str> {
        notices.iter().map(|n| n.reason.as_str()).collect()
    }

    #[test]
    fn incident_notices_name_the_override_and_its_variable() {
        // (override, the policy's variable name, what the activation note says it does)
        let cases = [
            (Override::Plaintext, "CORDUM_NATS_ALLOW_PLAINTEXT", "Plaintext override", "start-up gate refuses"),
            (Override::NoAuth, "CORDUM_NATS_ALLOW_NOAUTH", "No-auth override", "without authentication"),
            (Override::NoAuth, "MY_ALLOW_NOAUTH", "No-auth override", "without authentication"),
            (Override::Plaintext, "MY_ALLOW_PLAINTEXT", "Plaintext override", "start-up gate refuses"),
        ];
        for (o, var, kind, effect) in cases {
            let a = about(o, var);
            let open = Plan::Open { spec: spec(o, &["scheduler"], Some("alice")), state: IncidentState::Active };
            let out = incident(&a, None, &open);
            assert_eq!(reasons(&out), [OVERRIDE_ACTIVATED], "{o}");
            let n = &out[0];
            assert!(n.warning);
            assert_eq!(n.regarding, Regarding::Deployment("api".into()));
            assert_eq!(n.related, Related::Incident("api-1234abcd".into()));
            for part in [kind, var, effect, "container \"scheduler\"", "owner: alice", "2026-01-01T04:00:00Z"] {
                assert!(n.note.contains(part), "{o}: {:?} lacks {part:?}", n.note);
            }
            let other = if var.contains("PLAINTEXT") { "NOAUTH" } else { "PLAINTEXT" };
            assert!(!n.note.contains(other), "{o}: names the other override: {}", n.note);

            let keep =
                |state, overdue_notice| Plan::Keep { spec: spec(o, &["scheduler"], None), state, overdue_notice };
            let out = incident(&a, Some(IncidentState::Active), &keep(IncidentState::DeadlineApproaching, false));
            assert_eq!(reasons(&out), [OVERRIDE_DEADLINE_APPROACHING]);
            assert!(out[0].note.contains(var) && out[0].note.contains(kind), "{}", out[0].note);
            let out = incident(&a, Some(IncidentState::DeadlineApproaching), &keep(IncidentState::Overdue, true));
            assert_eq!(reasons(&out), [OVERRIDE_OVERDUE]);
            // The warning window went by unrecorded: both, in order, once.
            let out = incident(&a, Some(IncidentState::Active), &keep(IncidentState::Overdue, true));
            assert_eq!(reasons(&out), [OVERRIDE_DEADLINE_APPROACHING, OVERRIDE_OVERDUE]);
            // An hourly repeat is the escalation alone.
            let out = incident(&a, Some(IncidentState::Overdue), &keep(IncidentState::Overdue, true));
            assert_eq!(reasons(&out), [OVERRIDE_OVERDUE]);
            assert!(out[0].note.contains(var) && out[0].note.contains("past its rollback deadline"), "{}", out[0].note);
            // Recorded already: nothing again, except the hourly overdue repeat.
            let approaching = keep(IncidentState::DeadlineApproaching, false);
            assert!(incident(&a, Some(IncidentState::DeadlineApproaching), &approaching).is_empty());
            assert!(incident(&a, Some(IncidentState::Overdue), &keep(IncidentState::Overdue, false)).is_empty());
            let repeat = incident(&a, Some(IncidentState::Overdue), &keep(IncidentState::Overdue, true));
            assert_eq!(reasons(&repeat), [OVERRIDE_OVERDUE]);
            assert!(incident(&a, Some(IncidentState::Active), &keep(IncidentState::Active, false)).is_empty());
            assert!(incident(&a, None, &Plan::Nothing).is_empty());
        }
    }

    #[test]
    fn an_incident_opening_late_announces_every_state_it_is_in() {
        let a = about(Override::NoAuth, "CORDUM_NATS_ALLOW_NOAUTH");
        let open = |state| Plan::Open { spec: spec(Override::NoAuth, &["a", "b"], None), state };
        let out = incident(&a, None, &open(IncidentState::Overdue));
        assert_eq!(reasons(&out), [OVERRIDE_ACTIVATED, OVERRIDE_OVERDUE]);
        assert!(out[0].note.contains("containers \"a\", \"b\"") && out[0].note.contains("no owner recorded"));
        let out = incident(&a, None, &open(IncidentState::DeadlineApproaching));
        assert_eq!(reasons(&out), [OVERRIDE_ACTIVATED, OVERRIDE_DEADLINE_APPROACHING]);
    }

    #[test]
    fn resolution_notes_say_which_override_and_why() {
        // (override, resolution, words the note must contain)
        let cases = [
            (Override::NoAuth, Resolution::AuthConfigured, "authentication is now configured"),
            (Override::NoAuth, Resolution::OverrideRemoved, "switched off"),
            (Override::NoAuth, Resolution::NoLongerProduction, "no longer runs a NATS client in production"),
            (Override::Plaintext, Resolution::SwitchedToTLS, "tls://"),
            (Override::Plaintext, Resolution::OverrideRemoved, "switched off"),
            (Override::Plaintext, Resolution::WorkloadDeleted, "Deployment was deleted"),
            (Override::Plaintext, Resolution::OutOfScope, "no longer selects"),
            (Override::NoAuth, Resolution::PolicyDeleted, "policy was deleted"),
        ];
        for (o, resolution, why) in cases {
            let var = lifecycle_variable(o);
            let out = incident(&about(o, var), Some(IncidentState::Overdue), &Plan::Resolve(resolution));
            assert_eq!(reasons(&out), [OVERRIDE_RESOLVED]);
            let n = &out[0];
            assert!(!n.warning, "resolution is Normal");
            for part in [var, why, resolution.as_str()] {
                assert!(n.note.contains(part), "{o} {resolution:?}: {:?} lacks {part:?}", n.note);
            }
        }
    }

    fn lifecycle_variable(o: Override) -> &'static str {
        match o {
            Override::Plaintext => "CORDUM_NATS_ALLOW_PLAINTEXT",
            Override::NoAuth => "CORDUM_NATS_ALLOW_NOAUTH",
        }
    }
}
