//! The incident lifecycle, as pure functions of (policy, what was observed, the open incident,
//! now). The controller fetches, calls [`plan`], and writes what it returns.

use crate::crd::policy::OverrideSpec;
use crate::crd::{IncidentState, NatsTransportIncident, NatsTransportIncidentSpec, Resolution, annotations};
use crate::report::{Override, WorkloadReport};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use std::collections::BTreeMap;

/// How often an overdue incident is announced again.
pub const OVERDUE_REPEAT: SignedDuration = SignedDuration::from_hours(1);

/// The override's timing parameters, parsed from the policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timing {
    pub max_duration: SignedDuration,
    pub warn_before: SignedDuration,
}

impl Timing {
    pub fn from_spec(spec: &OverrideSpec) -> Result<Self, crate::duration::DurationError> {
        Ok(Self { max_duration: spec.max_duration()?, warn_before: spec.warn_before()? })
    }
}

/// The rollback deadline: the asked one (the `rollback-by` annotation, when it parses), never
/// later than `started_at + max_duration`, and that cap when none was asked.
pub fn rollback_by(started_at: Timestamp, asked: Option<Timestamp>, max_duration: SignedDuration) -> Timestamp {
    let cap = started_at.checked_add(max_duration).unwrap_or(started_at);
    match asked {
        Some(asked) if asked < cap => asked,
        _ => cap,
    }
}

/// The state an open incident is in at `now`.
pub fn state_at(rollback_by: Timestamp, warn_before: SignedDuration, now: Timestamp) -> IncidentState {
    if now >= rollback_by {
        IncidentState::Overdue
    } else if rollback_by.checked_sub(warn_before).is_ok_and(|warn_at| now >= warn_at) {
        IncidentState::DeadlineApproaching
    } else {
        IncidentState::Active
    }
}

/// When the state of an open incident next changes by itself (or the next hourly overdue
/// notice is due), so the controller can requeue for it even when nothing else changes.
pub fn next_wakeup(
    rollback_by: Timestamp,
    warn_before: SignedDuration,
    last_overdue_notice: Option<Timestamp>,
    now: Timestamp,
) -> Option<Timestamp> {
    let warn_at = rollback_by.checked_sub(warn_before).unwrap_or(rollback_by);
    if now < warn_at {
        Some(warn_at)
    } else if now < rollback_by {
        Some(rollback_by)
    } else {
        let last = last_overdue_notice.unwrap_or(rollback_by);
        last.checked_add(OVERDUE_REPEAT).ok()
    }
}

/// What the policy controller saw of one Deployment this time round.
#[derive(Clone, Debug)]
pub enum Observation<'a> {
    /// Selected by the policy and evaluated.
    Evaluated { report: &'a WorkloadReport, annotations: &'a BTreeMap<String, String> },
    /// Exists but the policy no longer selects it.
    OutOfScope,
    /// The Deployment (with this uid) is gone.
    Deleted,
}

/// What to do about one (policy, Deployment) pair.
#[derive(Clone, Debug, PartialEq)]
pub enum Plan {
    /// Nothing open and nothing to open.
    Nothing,
    /// Open a new incident.
    Open { spec: NatsTransportIncidentSpec, state: IncidentState },
    /// The open incident stays open; write what changed (spec fields and/or state).
    Keep { spec: NatsTransportIncidentSpec, state: IncidentState, overdue_notice: bool },
    /// Close the open incident.
    Resolve(Resolution),
}

/// Identity of the Deployment an observation is about.
#[derive(Clone, Copy, Debug)]
pub struct Target<'a> {
    pub policy: &'a str,
    pub deployment: &'a str,
    pub uid: &'a str,
}

/// Decide what happens to the incident of one (policy, Deployment) pair.
pub fn plan(
    target: Target<'_>,
    observation: &Observation<'_>,
    open: Option<&NatsTransportIncident>,
    timing: Timing,
    now: Timestamp,
) -> Plan {
    let (report, annotations) = match observation {
        Observation::Deleted => return open.map_or(Plan::Nothing, |_| Plan::Resolve(Resolution::WorkloadDeleted)),
        Observation::OutOfScope => return open.map_or(Plan::Nothing, |_| Plan::Resolve(Resolution::OutOfScope)),
        Observation::Evaluated { report, annotations } => (*report, *annotations),
    };
    if !report.override_active(Override::Plaintext) {
        return match (open, inactive_reason(report)) {
            (Some(_), Some(resolution)) => Plan::Resolve(resolution),
            // Undeterminable: keep what is open as it is, open nothing new.
            (Some(incident), None) => keep_unchanged(incident, timing, now),
            (None, _) => Plan::Nothing,
        };
    }
    let started_at = open.map_or(now, |i| i.spec.started_at.0);
    let spec = NatsTransportIncidentSpec {
        r#override: Override::Plaintext,
        policy: target.policy.to_owned(),
        deployment: crate::crd::DeploymentRef { name: target.deployment.to_owned(), uid: target.uid.to_owned() },
        containers: report.override_containers(Override::Plaintext),
        owner: annotation(annotations, annotations::OWNER),
        reason: annotation(annotations, annotations::REASON),
        started_at: k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(started_at),
        rollback_by: k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(rollback_by(
            started_at,
            crate::rules::rollback_by(annotations).and_then(Result::ok),
            timing.max_duration,
        )),
    };
    let state = state_at(spec.rollback_by.0, timing.warn_before, now);
    match open {
        None => Plan::Open { spec, state },
        Some(incident) => {
            let overdue_notice = overdue_notice_due(incident, state, now);
            Plan::Keep { spec, state, overdue_notice }
        }
    }
}

fn keep_unchanged(incident: &NatsTransportIncident, timing: Timing, now: Timestamp) -> Plan {
    let state = state_at(incident.spec.rollback_by.0, timing.warn_before, now);
    Plan::Keep { spec: incident.spec.clone(), state, overdue_notice: overdue_notice_due(incident, state, now) }
}

/// An `OverrideOverdue` notice is due on the transition to Overdue and every hour after.
fn overdue_notice_due(incident: &NatsTransportIncident, state: IncidentState, now: Timestamp) -> bool {
    if state != IncidentState::Overdue {
        return false;
    }
    let status = incident.status.as_ref();
    let was_overdue = status.is_some_and(|s| s.state == IncidentState::Overdue);
    match status.and_then(|s| s.last_overdue_notice.as_ref()) {
        _ if !was_overdue => true,
        None => true,
        Some(last) => last.0.checked_add(OVERDUE_REPEAT).is_ok_and(|due| now >= due),
    }
}

/// Why a workload without an active override no longer needs its incident, or `None` when
/// that cannot be determined (an input is unknown), in which case nothing is resolved.
/// A rollback that removes the override counts as `OverrideRemoved` whatever else it changed;
/// `SwitchedToTLS` means the URL passes the gate while the override is still set.
fn inactive_reason(report: &WorkloadReport) -> Option<Resolution> {
    let mut any_production = false;
    let mut override_on = false;
    for c in &report.containers {
        match c.production {
            None => return None,
            Some(false) => continue,
            Some(true) => any_production = true,
        }
        match c.plaintext_override {
            None => return None,
            Some(on) => override_on |= on,
        }
        if override_on && c.gate_accepts.is_none() {
            return None;
        }
    }
    Some(if !any_production {
        Resolution::NoLongerProduction
    } else if !override_on {
        Resolution::OverrideRemoved
    } else {
        Resolution::SwitchedToTLS
    })
}

fn annotation(annotations: &BTreeMap<String, String>, key: &str) -> Option<String> {
    annotations.get(key).map(|v| v.trim()).filter(|v| !v.is_empty()).map(str::to_owned)
}

/// A resolved incident is deleted once `retention` has passed since it was resolved.
pub fn prune_at(resolved_at: Timestamp, retention: SignedDuration) -> Timestamp {
    resolved_at.checked_add(retention).unwrap_or(resolved_at)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn deadline_is_annotation_capped_by_max_duration() {
        let start = ts("2026-01-01T00:00:00Z");
        let max = SignedDuration::from_hours(4);
        let asked = |s: &str| {
            let annotations = [(annotations::ROLLBACK_BY.to_string(), s.to_string())].into();
            crate::rules::rollback_by(&annotations).and_then(Result::ok)
        };
        assert_eq!(rollback_by(start, None, max), ts("2026-01-01T04:00:00Z"));
        assert_eq!(rollback_by(start, asked("2026-01-01T01:00:00Z"), max), ts("2026-01-01T01:00:00Z"));
        assert_eq!(rollback_by(start, asked("2026-01-02T00:00:00Z"), max), ts("2026-01-01T04:00:00Z"));
        assert_eq!(rollback_by(start, asked("tomorrow"), max), ts("2026-01-01T04:00:00Z"));
        // A deadline already in the past is honoured: the incident is overdue at once.
        assert_eq!(rollback_by(start, asked("2025-12-31T00:00:00Z"), max), ts("2025-12-31T00:00:00Z"));
    }

    #[test]
    fn state_moves_active_approaching_overdue() {
        let deadline = ts("2026-01-01T04:00:00Z");
        let warn = SignedDuration::from_mins(30);
        assert_eq!(state_at(deadline, warn, ts("2026-01-01T03:29:59Z")), IncidentState::Active);
        assert_eq!(state_at(deadline, warn, ts("2026-01-01T03:30:00Z")), IncidentState::DeadlineApproaching);
        assert_eq!(state_at(deadline, warn, ts("2026-01-01T04:00:00Z")), IncidentState::Overdue);
    }

    #[test]
    fn wakeups_follow_the_state_machine() {
        let deadline = ts("2026-01-01T04:00:00Z");
        let warn = SignedDuration::from_mins(30);
        assert_eq!(next_wakeup(deadline, warn, None, ts("2026-01-01T00:00:00Z")), Some(ts("2026-01-01T03:30:00Z")));
        assert_eq!(next_wakeup(deadline, warn, None, ts("2026-01-01T03:45:00Z")), Some(deadline));
        assert_eq!(
            next_wakeup(deadline, warn, Some(ts("2026-01-01T04:00:05Z")), ts("2026-01-01T04:10:00Z")),
            Some(ts("2026-01-01T05:00:05Z"))
        );
    }

    use crate::evaluate::ContainerReport;

    fn report(production: Option<bool>, gate: Option<bool>, ovr: Option<bool>) -> WorkloadReport {
        WorkloadReport {
            containers: vec![ContainerReport {
                name: "scheduler".into(),
                client: true,
                production,
                gate_accepts: gate,
                plaintext_override: ovr,
                ..Default::default()
            }],
        }
    }

    const TIMING: Timing =
        Timing { max_duration: SignedDuration::from_hours(4), warn_before: SignedDuration::from_mins(30) };
    const TARGET: Target<'static> = Target { policy: "p", deployment: "api", uid: "u-1" };

    fn open_incident(
        spec: NatsTransportIncidentSpec,
        state: IncidentState,
        notice: Option<&str>,
    ) -> NatsTransportIncident {
        let mut i = NatsTransportIncident::new("api-1", spec);
        i.status = Some(crate::crd::NatsTransportIncidentStatus {
            state,
            last_overdue_notice: notice.map(|n| k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(ts(n))),
            ..Default::default()
        });
        i
    }

    #[test]
    fn an_active_override_opens_an_incident_with_owner_and_deadline() {
        let now = ts("2026-01-01T00:00:00Z");
        let ann: BTreeMap<String, String> = [
            (annotations::OWNER.to_string(), " alice ".to_string()),
            (annotations::REASON.to_string(), "INC-1".to_string()),
            (annotations::ROLLBACK_BY.to_string(), "2026-01-01T02:00:00Z".to_string()),
        ]
        .into();
        let r = report(Some(true), Some(false), Some(true));
        let plan = plan(TARGET, &Observation::Evaluated { report: &r, annotations: &ann }, None, TIMING, now);
        let Plan::Open { spec, state } = plan else { panic!("expected Open, got {plan:?}") };
        assert_eq!(state, IncidentState::Active);
        assert_eq!(spec.owner.as_deref(), Some("alice"));
        assert_eq!(spec.reason.as_deref(), Some("INC-1"));
        assert_eq!(spec.started_at.0, now);
        assert_eq!(spec.rollback_by.0, ts("2026-01-01T02:00:00Z"));
        assert_eq!(spec.containers, ["scheduler"]);
        assert_eq!((spec.deployment.name.as_str(), spec.deployment.uid.as_str()), ("api", "u-1"));
    }

    #[test]
    fn an_open_incident_keeps_its_start_and_escalates_hourly() {
        let start = ts("2026-01-01T00:00:00Z");
        let ann = BTreeMap::new();
        let r = report(Some(true), Some(false), Some(true));
        let Plan::Open { spec, .. } =
            plan(TARGET, &Observation::Evaluated { report: &r, annotations: &ann }, None, TIMING, start)
        else {
            panic!()
        };
        let obs = Observation::Evaluated { report: &r, annotations: &ann };
        // Past the deadline (start + 4h), first time: Overdue with a notice; startedAt unchanged.
        let i = open_incident(spec.clone(), IncidentState::DeadlineApproaching, None);
        let later = ts("2026-01-01T04:10:00Z");
        let Plan::Keep { spec: kept, state, overdue_notice } = plan(TARGET, &obs, Some(&i), TIMING, later) else {
            panic!()
        };
        assert_eq!((state, overdue_notice, kept.started_at.0), (IncidentState::Overdue, true, start));
        // Noticed 30 minutes ago: no new notice; an hour ago: again.
        let i = open_incident(spec.clone(), IncidentState::Overdue, Some("2026-01-01T04:00:00Z"));
        assert!(matches!(
            plan(TARGET, &obs, Some(&i), TIMING, ts("2026-01-01T04:30:00Z")),
            Plan::Keep { overdue_notice: false, .. }
        ));
        assert!(matches!(
            plan(TARGET, &obs, Some(&i), TIMING, ts("2026-01-01T05:00:00Z")),
            Plan::Keep { overdue_notice: true, .. }
        ));
    }

    #[test]
    fn resolutions_say_why() {
        let now = ts("2026-01-01T00:00:00Z");
        let ann = BTreeMap::new();
        let active = report(Some(true), Some(false), Some(true));
        let Plan::Open { spec, .. } =
            plan(TARGET, &Observation::Evaluated { report: &active, annotations: &ann }, None, TIMING, now)
        else {
            panic!()
        };
        let i = open_incident(spec, IncidentState::Active, None);
        let resolve = |r: WorkloadReport| {
            plan(TARGET, &Observation::Evaluated { report: &r, annotations: &ann }, Some(&i), TIMING, now)
        };
        assert_eq!(resolve(report(Some(true), Some(false), Some(false))), Plan::Resolve(Resolution::OverrideRemoved));
        assert_eq!(resolve(report(Some(true), Some(true), Some(false))), Plan::Resolve(Resolution::OverrideRemoved));
        assert_eq!(resolve(report(Some(true), Some(true), Some(true))), Plan::Resolve(Resolution::SwitchedToTLS));
        assert_eq!(
            resolve(report(Some(false), Some(false), Some(true))),
            Plan::Resolve(Resolution::NoLongerProduction)
        );
        // Undeterminable: the incident stays open, unchanged.
        assert!(matches!(resolve(report(None, Some(false), Some(true))), Plan::Keep { .. }));
        assert!(matches!(resolve(report(Some(true), Some(false), None)), Plan::Keep { .. }));
        assert_eq!(
            plan(TARGET, &Observation::Deleted, Some(&i), TIMING, now),
            Plan::Resolve(Resolution::WorkloadDeleted)
        );
        assert_eq!(
            plan(TARGET, &Observation::OutOfScope, Some(&i), TIMING, now),
            Plan::Resolve(Resolution::OutOfScope)
        );
        assert_eq!(plan(TARGET, &Observation::Deleted, None, TIMING, now), Plan::Nothing);
    }
}
