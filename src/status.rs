//! The policy status, as a pure function of (previous status, what was evaluated, open
//! incidents, generation, now). `lastTransitionTime` moves only when a condition flips, so
//! an unchanged world yields an identical status and the controller writes nothing.

use crate::crd::policy::OverrideSpec;
use crate::crd::{IncidentState, NatsTransportPolicyStatus, WorkloadResult};
use crate::evaluate::WorkloadReport;
use crate::findings::{Finding, Severity};
use crate::lifecycle;
use crate::report::Override;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;

/// Most Deployments listed in `status.results` (Deployments with violations come first).
pub const MAX_RESULTS: usize = 100;
/// Most findings listed per Deployment (most severe first).
pub const MAX_FINDINGS: usize = 20;

pub const READY: &str = "Ready";
pub const COMPLIANT: &str = "Compliant";
pub const OVERRIDE_ACTIVE: &str = "OverrideActive";
pub const INCIDENT_OVERDUE: &str = "IncidentOverdue";

/// Whether the policy could be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Validity {
    Valid,
    /// Accepted by the API server but unusable (e.g. a selector that does not parse).
    Invalid(String),
    Suspended,
}

/// An open incident as the status needs to see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenIncident {
    pub deployment: String,
    pub r#override: Override,
    pub state: IncidentState,
    pub rollback_by: Timestamp,
}

/// Everything the status is computed from.
pub struct Inputs<'a> {
    pub generation: Option<i64>,
    pub previous: Option<&'a NatsTransportPolicyStatus>,
    pub validity: Validity,
    /// Selected Deployments by name with their evaluation.
    pub workloads: &'a [(String, WorkloadReport)],
    pub incidents: &'a [OpenIncident],
    /// The policy's override variables, named in the condition messages.
    pub overrides: &'a OverrideSpec,
    pub now: Timestamp,
}

pub fn compute(inputs: &Inputs<'_>) -> NatsTransportPolicyStatus {
    let prev_conditions = inputs.previous.map(|p| p.conditions.as_slice()).unwrap_or_default();
    let cond = |type_: &str, status: &str, reason: &str, message: String| {
        condition(prev_conditions, type_, status, reason, message, inputs.generation, inputs.now)
    };

    let mut status = NatsTransportPolicyStatus { observed_generation: inputs.generation, ..Default::default() };
    match &inputs.validity {
        Validity::Invalid(why) => {
            status.conditions = vec![
                cond(READY, "False", "InvalidPolicy", why.clone()),
                cond(COMPLIANT, "Unknown", "NotEvaluated", "The policy is invalid; nothing was evaluated".into()),
                cond(OVERRIDE_ACTIVE, "Unknown", "NotEvaluated", "The policy is invalid; nothing was evaluated".into()),
                cond(
                    INCIDENT_OVERDUE,
                    "Unknown",
                    "NotEvaluated",
                    "The policy is invalid; nothing was evaluated".into(),
                ),
            ];
            return status;
        }
        Validity::Suspended => {
            // Keep the last figures: suspension freezes reporting, it does not erase it.
            if let Some(prev) = inputs.previous {
                status = NatsTransportPolicyStatus { observed_generation: inputs.generation, ..prev.clone() };
            }
            let ready = cond(READY, "True", "Suspended", "spec.suspend is true: evaluation is paused".into());
            status.conditions.retain(|c| c.type_ != READY);
            status.conditions.insert(0, ready);
            for c in &mut status.conditions {
                c.observed_generation = inputs.generation;
            }
            return status;
        }
        Validity::Valid => {}
    }

    let mut results = Vec::new();
    let mut non_compliant = Vec::new();
    for (name, report) in inputs.workloads {
        status.workloads += 1;
        let violations = report.findings().filter(|f| f.severity == Severity::Violation).count() as i32;
        status.violations += violations;
        if violations == 0 {
            status.compliant += 1;
        } else {
            non_compliant.push(name.as_str());
        }
        let mut findings: Vec<Finding> = report.findings().cloned().collect();
        if !findings.is_empty() {
            findings.sort_by(|a, b| b.severity.cmp(&a.severity).then_with(|| a.cmp(b)));
            findings.truncate(MAX_FINDINGS);
            results.push(WorkloadResult { name: name.clone(), compliant: violations == 0, findings });
        }
    }
    results.sort_by(|a, b| a.compliant.cmp(&b.compliant).then_with(|| a.name.cmp(&b.name)));
    status.results_omitted = results.len().saturating_sub(MAX_RESULTS) as i32;
    results.truncate(MAX_RESULTS);
    results.sort_by(|a, b| a.name.cmp(&b.name));
    status.results = results;

    status.overrides = inputs.incidents.len() as i32;
    let overdue: Vec<&OpenIncident> = inputs.incidents.iter().filter(|i| i.state == IncidentState::Overdue).collect();
    status.overdue = overdue.len() as i32;
    status.next_deadline = inputs.incidents.iter().map(|i| i.rollback_by).min().map(Time);

    let n = status.workloads;
    status.conditions = vec![
        cond(READY, "True", "Evaluated", format!("Evaluated {n} selected Deployment{}", plural(n))),
        if non_compliant.is_empty() {
            cond(
                COMPLIANT,
                "True",
                "NoViolations",
                format!("None of {n} selected Deployment{} has a violation", plural(n)),
            )
        } else {
            cond(
                COMPLIANT,
                "False",
                "ViolationsFound",
                format!(
                    "{} of {n} Deployment{} {} violations: {}",
                    non_compliant.len(),
                    plural(n),
                    if non_compliant.len() == 1 { "has" } else { "have" },
                    list(&non_compliant)
                ),
            )
        },
        if inputs.incidents.is_empty() {
            let vars = Override::ALL.map(|o| lifecycle::variable(inputs.overrides, o)).join(", ");
            cond(
                OVERRIDE_ACTIVE,
                "False",
                "NoOverride",
                format!("No selected Deployment uses a break-glass override ({vars})"),
            )
        } else {
            let by = per_override(inputs.incidents, inputs.overrides, "in use by", |_| true);
            cond(
                OVERRIDE_ACTIVE,
                "True",
                "OverrideInUse",
                format!("{}; see the NatsTransportIncidents", capitalize(&by)),
            )
        },
        if overdue.is_empty() {
            cond(INCIDENT_OVERDUE, "False", "NoneOverdue", "No override is past its rollback deadline".into())
        } else {
            let on = per_override(inputs.incidents, inputs.overrides, "on", |i| i.state == IncidentState::Overdue);
            let them = if overdue.len() == 1 { "it" } else { "them" };
            cond(
                INCIDENT_OVERDUE,
                "True",
                "RollbackDeadlinePassed",
                format!("Past the rollback deadline: {on}; roll {them} back now"),
            )
        },
    ];
    status
}

/// A condition that keeps the previous `lastTransitionTime` unless its status flipped.
pub fn condition(
    previous: &[Condition],
    type_: &str,
    status: &str,
    reason: &str,
    message: String,
    generation: Option<i64>,
    now: Timestamp,
) -> Condition {
    let last_transition_time = previous
        .iter()
        .find(|c| c.type_ == type_ && c.status == status)
        .map_or(Time(now), |c| c.last_transition_time.clone());
    Condition {
        type_: type_.to_owned(),
        status: status.to_owned(),
        reason: reason.to_owned(),
        message,
        observed_generation: generation,
        last_transition_time,
    }
}

/// The named condition's status, if present.
pub fn condition_status<'a>(status: Option<&'a NatsTransportPolicyStatus>, type_: &str) -> Option<&'a Condition> {
    status?.conditions.iter().find(|c| c.type_ == type_)
}

fn plural(n: i32) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// `Plaintext override X in use by a, b; no-auth override Y in use by c`: the Deployments of
/// the incidents that `keep` picks, grouped by override (sorted, each named once).
fn per_override(
    incidents: &[OpenIncident],
    overrides: &OverrideSpec,
    verb: &str,
    keep: impl Fn(&OpenIncident) -> bool,
) -> String {
    let mut groups = Vec::new();
    for o in Override::ALL {
        let mut names: Vec<&str> =
            incidents.iter().filter(|i| i.r#override == o && keep(i)).map(|i| i.deployment.as_str()).collect();
        if names.is_empty() {
            continue;
        }
        names.sort_unstable();
        names.dedup();
        let kind = match o {
            Override::Plaintext => "plaintext",
            Override::NoAuth => "no-auth",
        };
        groups.push(format!("{kind} override {} {verb} {}", lifecycle::variable(overrides, o), list(&names)));
    }
    groups.join("; ")
}

/// The first letter in upper case (for a message that starts with a generated phrase).
fn capitalize(s: &str) -> String {
    let mut chars = s.chars();
    chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

/// `a, b, c` — at most five names, then `and N more`.
fn list(names: &[&str]) -> String {
    const SHOWN: usize = 5;
    let mut out = names.iter().take(SHOWN).copied().collect::<Vec<_>>().join(", ");
    if names.len() > SHOWN {
        out.push_str(&format!(" and {} more", names.len() - SHOWN));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evaluate::ContainerReport;
    use crate::findings::Code;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn workload(name: &str, findings: &[(Code, Severity)]) -> (String, WorkloadReport) {
        let findings = findings
            .iter()
            .map(|(code, severity)| Finding {
                code: *code,
                severity: *severity,
                container: "c".into(),
                message: "m".into(),
            })
            .collect();
        let c = ContainerReport {
            name: "c".into(),
            client: true,
            production: Some(true),
            gate_accepts: Some(true),
            plaintext_override: Some(false),
            findings,
            ..Default::default()
        };
        (name.to_owned(), WorkloadReport { containers: vec![c] })
    }

    fn compute_at(
        prev: Option<&NatsTransportPolicyStatus>,
        workloads: &[(String, WorkloadReport)],
        now: &str,
    ) -> NatsTransportPolicyStatus {
        compute(&Inputs {
            generation: Some(3),
            previous: prev,
            validity: Validity::Valid,
            workloads,
            incidents: &[],
            overrides: &OverrideSpec::default(),
            now: ts(now),
        })
    }

    fn cond<'a>(s: &'a NatsTransportPolicyStatus, t: &str) -> &'a Condition {
        s.conditions.iter().find(|c| c.type_ == t).unwrap()
    }

    #[test]
    fn counts_and_results() {
        let ws = [
            workload("b", &[(Code::PlaintextTransport, Severity::Violation), (Code::AuthMissing, Severity::Warning)]),
            workload("a", &[(Code::AuthAmbiguous, Severity::Info)]),
            workload("c", &[]),
        ];
        let s = compute_at(None, &ws, "2026-01-01T00:00:00Z");
        assert_eq!((s.workloads, s.compliant, s.violations, s.overrides, s.overdue), (3, 2, 1, 0, 0));
        assert_eq!(s.observed_generation, Some(3));
        assert_eq!(
            s.results.iter().map(|r| (r.name.as_str(), r.compliant)).collect::<Vec<_>>(),
            [("a", true), ("b", false)]
        );
        assert_eq!(s.results[1].findings[0].code, Code::PlaintextTransport, "most severe first");
        assert_eq!(cond(&s, COMPLIANT).status, "False");
        assert!(cond(&s, COMPLIANT).message.contains("b"));
        assert!(s.conditions.iter().all(|c| c.observed_generation == Some(3)));
    }

    #[test]
    fn unchanged_world_gives_an_identical_status_and_transition_time_moves_only_on_a_flip() {
        let bad = [workload("a", &[(Code::PlaintextTransport, Severity::Violation)])];
        let good = [workload("a", &[])];
        let first = compute_at(None, &bad, "2026-01-01T00:00:00Z");
        let again = compute_at(Some(&first), &bad, "2026-01-01T01:00:00Z");
        assert_eq!(first, again, "nothing changed, nothing to write");
        let fixed = compute_at(Some(&again), &good, "2026-01-01T02:00:00Z");
        assert_eq!(cond(&fixed, COMPLIANT).last_transition_time.0, ts("2026-01-01T02:00:00Z"));
        assert_eq!(cond(&fixed, READY).last_transition_time.0, ts("2026-01-01T00:00:00Z"));
    }

    #[test]
    fn results_are_bounded_with_violations_kept_first() {
        let mut ws: Vec<_> =
            (0..150).map(|i| workload(&format!("info-{i:03}"), &[(Code::AuthAmbiguous, Severity::Info)])).collect();
        ws.push(workload("zz-bad", &[(Code::PlaintextTransport, Severity::Violation)]));
        let s = compute_at(None, &ws, "2026-01-01T00:00:00Z");
        assert_eq!(s.results.len(), MAX_RESULTS);
        assert_eq!(s.results_omitted, 51);
        assert!(s.results.iter().any(|r| r.name == "zz-bad"));
    }

    #[test]
    fn invalid_and_suspended() {
        let s = compute(&Inputs {
            generation: Some(1),
            previous: None,
            validity: Validity::Invalid("spec.selector: bad".into()),
            workloads: &[],
            incidents: &[],
            overrides: &OverrideSpec::default(),
            now: ts("2026-01-01T00:00:00Z"),
        });
        assert_eq!((cond(&s, READY).status.as_str(), cond(&s, READY).reason.as_str()), ("False", "InvalidPolicy"));
        assert_eq!(cond(&s, COMPLIANT).status, "Unknown");
        let prev = compute_at(None, &[workload("a", &[])], "2026-01-01T00:00:00Z");
        let s = compute(&Inputs {
            generation: Some(2),
            previous: Some(&prev),
            validity: Validity::Suspended,
            workloads: &[],
            incidents: &[],
            overrides: &OverrideSpec::default(),
            now: ts("2026-01-01T01:00:00Z"),
        });
        assert_eq!(cond(&s, READY).reason, "Suspended");
        assert_eq!(s.workloads, 1, "suspension keeps the last figures");
        assert_eq!(s.observed_generation, Some(2));
        assert!(s.conditions.iter().all(|c| c.observed_generation == Some(2)));
    }

    fn open(deployment: &str, o: Override, state: IncidentState, rollback_by: &str) -> OpenIncident {
        OpenIncident { deployment: deployment.into(), r#override: o, state, rollback_by: ts(rollback_by) }
    }

    fn with_incidents(incidents: &[OpenIncident], overrides: &OverrideSpec) -> NatsTransportPolicyStatus {
        compute(&Inputs {
            generation: Some(1),
            previous: None,
            validity: Validity::Valid,
            workloads: &[],
            incidents,
            overrides,
            now: ts("2026-01-01T00:00:00Z"),
        })
    }

    #[test]
    fn incidents_of_both_overrides_are_counted_and_named() {
        use IncidentState::*;
        use Override::*;
        let renamed = OverrideSpec { no_auth_env: "ALLOW_NOAUTH".into(), ..Default::default() };
        /// (case, open incidents, overrides, overdue, next deadline, OverrideActive message, IncidentOverdue message)
        type Case = (&'static str, Vec<OpenIncident>, i32, i32, Option<&'static str>, &'static str, &'static str);
        let cases: [Case; 5] = [
            (
                "none",
                vec![],
                0,
                0,
                None,
                "No selected Deployment uses a break-glass override (CORDUM_NATS_ALLOW_PLAINTEXT, ALLOW_NOAUTH)",
                "No override is past its rollback deadline",
            ),
            (
                "plaintext only",
                vec![open("api", Plaintext, Active, "2026-01-01T04:00:00Z")],
                1,
                0,
                Some("2026-01-01T04:00:00Z"),
                "Plaintext override CORDUM_NATS_ALLOW_PLAINTEXT in use by api; see the NatsTransportIncidents",
                "No override is past its rollback deadline",
            ),
            (
                "no-auth only, overdue",
                vec![open("api", NoAuth, Overdue, "2025-12-31T23:00:00Z")],
                1,
                1,
                Some("2025-12-31T23:00:00Z"),
                "No-auth override ALLOW_NOAUTH in use by api; see the NatsTransportIncidents",
                "Past the rollback deadline: no-auth override ALLOW_NOAUTH on api; roll it back now",
            ),
            (
                "both on one Deployment: two incidents",
                vec![
                    open("api", NoAuth, DeadlineApproaching, "2026-01-01T00:10:00Z"),
                    open("api", Plaintext, Active, "2026-01-01T04:00:00Z"),
                ],
                2,
                0,
                Some("2026-01-01T00:10:00Z"),
                "Plaintext override CORDUM_NATS_ALLOW_PLAINTEXT in use by api; no-auth override ALLOW_NOAUTH in use by api; see the NatsTransportIncidents",
                "No override is past its rollback deadline",
            ),
            (
                "several, names sorted per override",
                vec![
                    open("web", Plaintext, Overdue, "2025-12-31T22:00:00Z"),
                    open("api", NoAuth, Overdue, "2025-12-31T23:00:00Z"),
                    open("api", Plaintext, Overdue, "2025-12-31T21:00:00Z"),
                    open("db", NoAuth, Active, "2026-01-01T04:00:00Z"),
                ],
                4,
                3,
                Some("2025-12-31T21:00:00Z"),
                "Plaintext override CORDUM_NATS_ALLOW_PLAINTEXT in use by api, web; no-auth override ALLOW_NOAUTH in use by api, db; see the NatsTransportIncidents",
                "Past the rollback deadline: plaintext override CORDUM_NATS_ALLOW_PLAINTEXT on api, web; no-auth override ALLOW_NOAUTH on api; roll them back now",
            ),
        ];
        for (case, incidents, overrides, overdue, next, active_msg, overdue_msg) in cases {
            let s = with_incidents(&incidents, &renamed);
            assert_eq!((s.overrides, s.overdue), (overrides, overdue), "{case}");
            assert_eq!(s.next_deadline.as_ref().map(|t| t.0), next.map(ts), "{case}");
            let active = cond(&s, OVERRIDE_ACTIVE);
            assert_eq!(active.status, if overrides > 0 { "True" } else { "False" }, "{case}");
            assert_eq!(active.message, active_msg, "{case}");
            let od = cond(&s, INCIDENT_OVERDUE);
            assert_eq!(od.status, if overdue > 0 { "True" } else { "False" }, "{case}");
            assert_eq!(od.message, overdue_msg, "{case}");
            // The order incidents come in never changes the status (no needless writes).
            let mut reversed = incidents.clone();
            reversed.reverse();
            assert_eq!(with_incidents(&reversed, &renamed), s, "{case}");
        }
    }
}
