//! Which Kubernetes Events to emit, decided purely from (previous state, next state).
//!
//! Events mark transitions only. Because the previous state is what the API server holds
//! (the policy status and the incident status), a restarted operator emits nothing for a
//! state that is already recorded.

use crate::crd::{IncidentState, NatsTransportPolicyStatus, Resolution};
use crate::findings::{Code, Severity};
use crate::lifecycle::Plan;
use crate::report::Override;
use crate::status::{READY, condition_status};
use std::collections::{BTreeMap, BTreeSet};

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
}

pub const DRIFT_RESOLVED: &str = "DriftResolved";
pub const OVERRIDE_ACTIVATED: &str = "OverrideActivated";
pub const OVERRIDE_DEADLINE_APPROACHING: &str = "OverrideDeadlineApproaching";
pub const OVERRIDE_OVERDUE: &str = "OverrideOverdue";
pub const OVERRIDE_RESOLVED: &str = "OverrideResolved";
pub const POLICY_INVALID: &str = "PolicyInvalid";

/// A finding code appearing on a workload, and workloads becoming compliant again.
/// `selected` are the Deployments the policy selects now.
pub fn findings(
    previous: Option<&NatsTransportPolicyStatus>,
    next: &NatsTransportPolicyStatus,
    selected: &BTreeSet<&str>,
) -> Vec<Notice> {
    let before: BTreeMap<&str, (bool, BTreeSet<Code>)> = previous
        .map(|p| {
            p.results
                .iter()
                .map(|r| (r.name.as_str(), (r.compliant, r.findings.iter().map(|f| f.code).collect())))
                .collect()
        })
        .unwrap_or_default();
    let mut out = Vec::new();
    for result in &next.results {
        let known = before.get(result.name.as_str()).map(|(_, codes)| codes);
        let mut seen = BTreeSet::new();
        for f in &result.findings {
            if known.is_some_and(|codes| codes.contains(&f.code)) || !seen.insert(f.code) {
                continue;
            }
            out.push(Notice {
                regarding: Regarding::Deployment(result.name.clone()),
                related: Related::Policy,
                warning: f.severity >= Severity::Warning,
                reason: f.code.as_str().to_owned(),
                note: f.message.clone(),
            });
        }
    }
    let now_compliant = |name: &str| {
        selected.contains(name) && next.results.iter().find(|r| r.name == name).is_none_or(|r| r.compliant)
    };
    for (name, (was_compliant, _)) in &before {
        if !was_compliant && now_compliant(name) {
            out.push(Notice {
                regarding: Regarding::Deployment((*name).to_owned()),
                related: Related::Policy,
                warning: false,
                reason: DRIFT_RESOLVED.into(),
                note: format!("Deployment {name} has no NATS transport violation any more"),
            });
        }
    }
    out
}

/// `PolicyInvalid` when the policy becomes unusable (or the reason it is unusable changes).
pub fn policy(previous: Option<&NatsTransportPolicyStatus>, next: &NatsTransportPolicyStatus) -> Option<Notice> {
    let now = condition_status(Some(next), READY).filter(|c| c.status == "False")?;
    let before = condition_status(previous, READY);
    if before.is_some_and(|b| b.status == "False" && b.message == now.message) {
        return None;
    }
    Some(Notice {
        regarding: Regarding::Policy,
        related: Related::None,
        warning: true,
        reason: POLICY_INVALID.into(),
        note: now.message.clone(),
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
) -> Option<Notice> {
    match state {
        IncidentState::DeadlineApproaching if recorded != Some(IncidentState::DeadlineApproaching) => {
            Some(notice(true, OVERRIDE_DEADLINE_APPROACHING, format!("{subject} must be rolled back by {rollback_by}")))
        }
        IncidentState::Overdue if overdue_notice => Some(notice(
            true,
            OVERRIDE_OVERDUE,
            format!("{subject} is past its rollback deadline {rollback_by}; roll it back now"),
        )),
        _ => None,
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
    use crate::crd::WorkloadResult;
    use crate::findings::Finding;

    fn result(name: &str, compliant: bool, codes: &[(Code, Severity)]) -> WorkloadResult {
        WorkloadResult {
            name: name.into(),
            compliant,
            findings: codes
                .iter()
                .map(|(code, severity)| Finding {
                    code: *code,
                    severity: *severity,
                    container: "c".into(),
                    message: format!("{code} on {name}"),
                })
                .collect(),
        }
    }

    fn status(results: Vec<WorkloadResult>) -> NatsTransportPolicyStatus {
        NatsTransportPolicyStatus { results, ..Default::default() }
    }

    #[test]
    fn a_code_is_announced_once_per_workload() {
        let selected: BTreeSet<&str> = ["api"].into();
        let first = status(vec![result("api", false, &[(Code::PlaintextTransport, Severity::Violation)])]);
        let out = findings(None, &first, &selected);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].reason, "PlaintextTransport");
        assert!(out[0].warning);
        assert_eq!(out[0].regarding, Regarding::Deployment("api".into()));
        // Same state again (e.g. after a restart): nothing.
        assert!(findings(Some(&first), &first, &selected).is_empty());
        // A new code appears next to the old one: only the new one.
        let second = status(vec![result(
            "api",
            false,
            &[(Code::PlaintextTransport, Severity::Violation), (Code::AuthAmbiguous, Severity::Info)],
        )]);
        let out = findings(Some(&first), &second, &selected);
        assert_eq!(out.iter().map(|n| (n.reason.as_str(), n.warning)).collect::<Vec<_>>(), [("AuthAmbiguous", false)]);
    }

    #[test]
    fn drift_resolved_only_for_selected_workloads_that_became_compliant() {
        let before = status(vec![
            result("a", false, &[(Code::PlaintextTransport, Severity::Violation)]),
            result("b", false, &[(Code::PlaintextTransport, Severity::Violation)]),
            result("c", false, &[(Code::PlaintextTransport, Severity::Violation)]),
        ]);
        // a is clean now, b still violates, c is gone (deleted or out of scope).
        let after = status(vec![result("b", false, &[(Code::PlaintextTransport, Severity::Violation)])]);
        let selected: BTreeSet<&str> = ["a", "b"].into();
        let out = findings(Some(&before), &after, &selected);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].reason, DRIFT_RESOLVED);
        assert_eq!(out[0].regarding, Regarding::Deployment("a".into()));
        assert!(!out[0].warning);
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
