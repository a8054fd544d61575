//! Which Kubernetes Events to emit, decided purely from (previous state, next state).
//!
//! Events mark transitions only. Because the previous state is what the API server holds
//! (the policy status and the incident status), a restarted operator emits nothing for a
//! state that is already recorded.

use crate::crd::{IncidentState, NatsTransportPolicyStatus, Resolution};
use crate::findings::{Code, Severity};
use crate::lifecycle::Plan;
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

/// Incident transitions for one Deployment, given the state recorded before and the plan.
pub fn incident(deployment: &str, incident: &str, recorded: Option<IncidentState>, plan: &Plan) -> Vec<Notice> {
    let notice = |warning: bool, reason: &str, note: String| Notice {
        regarding: Regarding::Deployment(deployment.to_owned()),
        related: Related::Incident(incident.to_owned()),
        warning,
        reason: reason.to_owned(),
        note,
    };
    let mut out = Vec::new();
    match plan {
        Plan::Nothing => {}
        Plan::Open { spec, state } => {
            let owner = spec.owner.as_deref().unwrap_or("no owner recorded");
            out.push(notice(
                true,
                OVERRIDE_ACTIVATED,
                format!("Plaintext NATS override in use (owner: {owner}); roll back by {}", spec.rollback_by.0),
            ));
            out.extend(state_notices(&notice, None, *state, true, spec.rollback_by.0));
        }
        Plan::Keep { spec, state, overdue_notice } => {
            out.extend(state_notices(&notice, recorded, *state, *overdue_notice, spec.rollback_by.0));
        }
        Plan::Resolve(resolution) => out.push(notice(
            false,
            OVERRIDE_RESOLVED,
            format!("Plaintext override incident resolved: {}", describe(*resolution)),
        )),
    }
    out
}

fn state_notices(
    notice: &impl Fn(bool, &str, String) -> Notice,
    recorded: Option<IncidentState>,
    state: IncidentState,
    overdue_notice: bool,
    rollback_by: k8s_openapi::jiff::Timestamp,
) -> Option<Notice> {
    match state {
        IncidentState::DeadlineApproaching if recorded != Some(IncidentState::DeadlineApproaching) => Some(notice(
            true,
            OVERRIDE_DEADLINE_APPROACHING,
            format!("Plaintext override must be rolled back by {rollback_by}"),
        )),
        IncidentState::Overdue if overdue_notice => Some(notice(
            true,
            OVERRIDE_OVERDUE,
            format!("Plaintext override is past its rollback deadline {rollback_by}; roll it back now"),
        )),
        _ => None,
    }
}

fn describe(resolution: Resolution) -> &'static str {
    match resolution {
        Resolution::OverrideRemoved => "the override was removed",
        Resolution::SwitchedToTLS => "the workload switched to tls://",
        Resolution::AuthConfigured => "broker authentication is now configured",
        Resolution::WorkloadDeleted => "the Deployment was deleted",
        Resolution::OutOfScope => "the policy no longer selects the Deployment",
        Resolution::NoLongerProduction => "the workload no longer runs in production",
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
}
