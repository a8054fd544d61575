//! The incident lifecycle, as pure functions of (policy, what was observed, the open incident,
//! now). An incident is one break-glass override ([`Override`]) in use on one Deployment under
//! one policy; the controller fetches, calls [`plan`] once per override, and writes what it
//! returns.

use crate::crd::policy::OverrideSpec;
use crate::crd::{IncidentState, NatsTransportIncident, NatsTransportIncidentSpec, Resolution, annotations};
use crate::report::{Override, WorkloadReport};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
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
    Evaluated {
        report: &'a WorkloadReport,
        annotations: &'a BTreeMap<String, String>,
        /// Since when the replica planning this has observed the workload as it is now (led
        /// or not), if known: a new incident starts then, not at the takeover that opens it.
        since: Option<Timestamp>,
    },
    /// Exists but the policy no longer selects it.
    OutOfScope,
    /// The Deployment (with this uid) is gone.
    Deleted,
}

/// What to do about the incident of one (policy, Deployment, override).
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

/// Identity of an incident: the Deployment an observation is about, and which break-glass
/// override. Both overrides in use on one Deployment are two incidents (docs/configuration.md,
/// "NatsTransportIncident").
#[derive(Clone, Copy, Debug)]
pub struct Target<'a> {
    pub policy: &'a str,
    pub deployment: &'a str,
    pub uid: &'a str,
    pub r#override: Override,
}

/// The variable that switches the override on, as the policy names it.
pub fn variable(spec: &OverrideSpec, o: Override) -> &str {
    match o {
        Override::Plaintext => &spec.env_var,
        Override::NoAuth => &spec.no_auth_env,
    }
}

/// Decide what happens to the incident of one (policy, Deployment, override). `open` is the
/// open incident of that override, if any.
pub fn plan(
    target: Target<'_>,
    observation: &Observation<'_>,
    open: Option<&NatsTransportIncident>,
    timing: Timing,
    now: Timestamp,
) -> Plan {
    let o = target.r#override;
    let (report, annotations, since) = match observation {
        Observation::Deleted => return open.map_or(Plan::Nothing, |_| Plan::Resolve(Resolution::WorkloadDeleted)),
        Observation::OutOfScope => return open.map_or(Plan::Nothing, |_| Plan::Resolve(Resolution::OutOfScope)),
        Observation::Evaluated { report, annotations, since } => (*report, *annotations, *since),
    };
    if !report.override_active(o) {
        return match (open, inactive_reason(report, o)) {
            (Some(_), Some(resolution)) => Plan::Resolve(resolution),
            // Undeterminable: keep what is open as it is, open nothing new.
            (Some(incident), None) => keep_unchanged(incident, timing, now),
            (None, _) => Plan::Nothing,
        };
    }
    // startedAt is the first observation (docs/configuration.md, "NatsTransportIncident"): kept
    // from the open incident, else when the operator first saw the workload this way.
    let started_at = open.map_or_else(|| since.filter(|s| *s <= now).unwrap_or(now), |i| i.spec.started_at.0);
    let spec = NatsTransportIncidentSpec {
        r#override: o,
        policy: target.policy.to_owned(),
        deployment: crate::crd::DeploymentRef { name: target.deployment.to_owned(), uid: target.uid.to_owned() },
        containers: report.override_containers(o),
        owner: annotation(annotations, annotations::OWNER, MAX_OWNER),
        reason: annotation(annotations, annotations::REASON, MAX_REASON),
        started_at: Time(started_at),
        rollback_by: Time(rollback_by(
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

/// Why a workload on which the override is not in use no longer needs its incident, or `None`
/// when that cannot be determined (an input is unknown), in which case nothing is resolved.
///
/// Only NATS clients count: a container that does not dial NATS needs no override.
/// - No NATS client runs in production: `NoLongerProduction`.
/// - The variable is no longer truthy anywhere: `OverrideRemoved`, whatever else the rollback
///   changed.
/// - The variable is still set but no longer needed: `SwitchedToTLS` (the URL passes the gate)
///   for the plaintext override, `AuthConfigured` (the client authenticates) for the no-auth one.
fn inactive_reason(report: &WorkloadReport, o: Override) -> Option<Resolution> {
    let mut any_production = false;
    let mut override_on = false;
    for c in report.containers.iter().filter(|c| c.client) {
        match c.production? {
            false => continue,
            true => any_production = true,
        }
        if c.override_truthy(o)? {
            override_on = true;
            let refusal_known = match o {
                Override::Plaintext => c.gate_accepts.is_some(),
                Override::NoAuth => c.authenticated.is_some(),
            };
            if !refusal_known {
                return None;
            }
        }
    }
    Some(if !any_production {
        Resolution::NoLongerProduction
    } else if !override_on {
        Resolution::OverrideRemoved
    } else {
        match o {
            Override::Plaintext => Resolution::SwitchedToTLS,
            Override::NoAuth => Resolution::AuthConfigured,
        }
    })
}

/// Longest owner and reason an incident records (annotations may hold up to 256 kB; everything
/// natsguard writes is bounded).
pub const MAX_OWNER: usize = 256;
pub const MAX_REASON: usize = 1024;

/// The trimmed annotation, cut to at most `max` bytes at a character boundary (with `...`).
fn annotation(annotations: &BTreeMap<String, String>, key: &str, max: usize) -> Option<String> {
    let v = annotations.get(key).map(|v| v.trim()).filter(|v| !v.is_empty())?;
    if v.len() <= max {
        return Some(v.to_owned());
    }
    let mut end = max - 3;
    while !v.is_char_boundary(end) {
        end -= 1;
    }
    Some(format!("{}...", &v[..end]))
}

/// A resolved incident is deleted once `retention` has passed since it was resolved.
pub fn prune_at(resolved_at: Timestamp, retention: SignedDuration) -> Timestamp {
    resolved_at.checked_add(retention).unwrap_or(resolved_at)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::ContainerReport;

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
    fn owner_and_reason_are_bounded() {
        let ann: BTreeMap<String, String> = [
            (annotations::OWNER.to_string(), "é".repeat(1000)),
            (annotations::REASON.to_string(), format!(" {} ", "r".repeat(5000))),
        ]
        .into();
        let owner = annotation(&ann, annotations::OWNER, MAX_OWNER).unwrap();
        assert!(owner.len() <= MAX_OWNER && owner.ends_with("..."), "{}", owner.len());
        let reason = annotation(&ann, annotations::REASON, MAX_REASON).unwrap();
        assert_eq!(reason.len(), MAX_REASON);
        let short: BTreeMap<String, String> = [(annotations::OWNER.to_string(), " alice ".to_string())].into();
        assert_eq!(annotation(&short, annotations::OWNER, MAX_OWNER).as_deref(), Some("alice"));
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

    #[test]
    fn each_override_has_its_variable() {
        let spec = OverrideSpec { env_var: "ALLOW_PT".into(), no_auth_env: "ALLOW_NA".into(), ..Default::default() };
        assert_eq!(variable(&spec, Override::Plaintext), "ALLOW_PT");
        assert_eq!(variable(&spec, Override::NoAuth), "ALLOW_NA");
        let default = OverrideSpec::default();
        assert_eq!(variable(&default, Override::Plaintext), "CORDUM_NATS_ALLOW_PLAINTEXT");
        assert_eq!(variable(&default, Override::NoAuth), "CORDUM_NATS_ALLOW_NOAUTH");
    }

    /// One container as the evaluator reports it. `T`/`F`/`U`: true, false, undeterminable.
    #[derive(Clone, Copy)]
    struct C {
        client: bool,
        production: Option<bool>,
        gate: Option<bool>,
        auth: Option<bool>,
        plaintext: Option<bool>,
        no_auth: Option<bool>,
    }

    const T: Option<bool> = Some(true);
    const F: Option<bool> = Some(false);
    const U: Option<bool> = None;

    /// A production NATS client that passes the gate, authenticates, and has neither override.
    const OK: C = C { client: true, production: T, gate: T, auth: T, plaintext: F, no_auth: F };
    /// The plaintext override in use: the gate refuses and the variable is truthy.
    const PLAIN: C = C { gate: F, plaintext: T, ..OK };
    /// The no-auth override in use: not authenticated and the variable is truthy.
    const NOAUTH: C = C { auth: F, no_auth: T, ..OK };
    /// Both in use in one container.
    const BOTH: C = C { gate: F, plaintext: T, auth: F, no_auth: T, ..OK };

    fn report(cs: &[C]) -> WorkloadReport {
        let containers = cs
            .iter()
            .enumerate()
            .map(|(i, c)| ContainerReport {
                name: if i == 0 { "scheduler".into() } else { format!("c{i}") },
                client: c.client,
                production: c.production,
                gate_accepts: c.gate,
                authenticated: c.auth,
                plaintext_override: c.plaintext,
                no_auth_override: c.no_auth,
                ..Default::default()
            })
            .collect();
        WorkloadReport { containers }
    }

    const TIMING: Timing =
        Timing { max_duration: SignedDuration::from_hours(4), warn_before: SignedDuration::from_mins(30) };

    fn target(o: Override) -> Target<'static> {
        Target { policy: "p", deployment: "api", uid: "u-1", r#override: o }
    }

    fn open_incident(
        spec: NatsTransportIncidentSpec,
        state: IncidentState,
        notice: Option<&str>,
    ) -> NatsTransportIncident {
        let mut i = NatsTransportIncident::new("api-1", spec);
        i.status = Some(crate::crd::NatsTransportIncidentStatus {
            state,
            last_overdue_notice: notice.map(|n| Time(ts(n))),
            ..Default::default()
        });
        i
    }

    /// The incident `plan` opens for `o` on this workload at `now` (panics if it opens none).
    fn opened(o: Override, cs: &[C], annotations: &BTreeMap<String, String>, now: Timestamp) -> NatsTransportIncident {
        let r = report(cs);
        let obs = Observation::Evaluated { report: &r, annotations, since: None };
        match plan(target(o), &obs, None, TIMING, now) {
            Plan::Open { spec, state } => open_incident(spec, state, None),
            other => panic!("expected {o} to open, got {other:?}"),
        }
    }

    #[test]
    fn a_new_incident_starts_at_the_first_observation_not_at_the_takeover() {
        // Seen in use at 00:00 by a standby; it took over and opens the incident at 00:10.
        let (seen, now) = (ts("2026-01-01T00:00:00Z"), ts("2026-01-01T00:10:00Z"));
        let r = report(&[PLAIN]);
        let ann = BTreeMap::new();
        let obs = Observation::Evaluated { report: &r, annotations: &ann, since: Some(seen) };
        let Plan::Open { spec, .. } = plan(target(Override::Plaintext), &obs, None, TIMING, now) else { panic!() };
        assert_eq!(spec.started_at.0, seen);
        assert_eq!(spec.rollback_by.0, rollback_by(seen, None, TIMING.max_duration), "the cap counts from then");
        // A clock that says the observation is in the future is not believed.
        let obs = Observation::Evaluated { report: &r, annotations: &ann, since: Some(ts("2026-01-01T01:00:00Z")) };
        let Plan::Open { spec, .. } = plan(target(Override::Plaintext), &obs, None, TIMING, now) else { panic!() };
        assert_eq!(spec.started_at.0, now);
    }

    #[test]
    fn an_active_override_opens_an_incident_of_its_kind_with_owner_and_deadline() {
        let now = ts("2026-01-01T00:00:00Z");
        let ann: BTreeMap<String, String> = [
            (annotations::OWNER.to_string(), " alice ".to_string()),
            (annotations::REASON.to_string(), "INC-1".to_string()),
            (annotations::ROLLBACK_BY.to_string(), "2026-01-01T02:00:00Z".to_string()),
        ]
        .into();
        // The second container runs the override too; the third is not a NATS client.
        let sidecar = C { client: false, production: U, gate: U, auth: U, plaintext: T, no_auth: T };
        for (o, c) in [(Override::Plaintext, PLAIN), (Override::NoAuth, NOAUTH)] {
            let r = report(&[c, c, sidecar]);
            let plan = plan(
                target(o),
                &Observation::Evaluated { report: &r, annotations: &ann, since: None },
                None,
                TIMING,
                now,
            );
            let Plan::Open { spec, state } = plan else { panic!("{o}: expected Open, got {plan:?}") };
            assert_eq!(state, IncidentState::Active, "{o}");
            assert_eq!(spec.r#override, o);
            assert_eq!(spec.owner.as_deref(), Some("alice"), "{o}");
            assert_eq!(spec.reason.as_deref(), Some("INC-1"), "{o}");
            assert_eq!(spec.started_at.0, now, "{o}");
            assert_eq!(spec.rollback_by.0, ts("2026-01-01T02:00:00Z"), "{o}");
            assert_eq!(spec.containers, ["scheduler", "c1"], "{o}");
            assert_eq!(
                (spec.deployment.name.as_str(), spec.deployment.uid.as_str(), spec.policy.as_str()),
                ("api", "u-1", "p")
            );
        }
    }

    #[test]
    fn opening_is_per_override() {
        let now = ts("2026-01-01T00:00:00Z");
        let ann = BTreeMap::new();
        // (case, containers, plaintext opens, no-auth opens)
        let cases: [(&str, Vec<C>, bool, bool); 12] = [
            ("compliant", vec![OK], false, false),
            ("plaintext only", vec![PLAIN], true, false),
            ("no-auth only", vec![NOAUTH], false, true),
            ("both in one container", vec![BOTH], true, true),
            ("both in two containers", vec![PLAIN, NOAUTH], true, true),
            ("no-auth variable on but authenticated (stale)", vec![C { no_auth: T, ..OK }], false, false),
            ("plaintext variable on but the gate passes (stale)", vec![C { plaintext: T, ..OK }], false, false),
            ("outside production", vec![C { production: F, ..BOTH }], false, false),
            ("not a NATS client", vec![C { client: false, ..BOTH }], false, false),
            ("authentication undeterminable", vec![C { auth: U, ..NOAUTH }], false, false),
            ("no-auth variable undeterminable", vec![C { no_auth: U, ..NOAUTH }], false, false),
            ("production undeterminable", vec![C { production: U, ..BOTH }], false, false),
        ];
        for (case, cs, plaintext, no_auth) in cases {
            let r = report(&cs);
            let obs = Observation::Evaluated { report: &r, annotations: &ann, since: None };
            for (o, want) in [(Override::Plaintext, plaintext), (Override::NoAuth, no_auth)] {
                let got = plan(target(o), &obs, None, TIMING, now);
                match (&got, want) {
                    (Plan::Open { spec, .. }, true) => assert_eq!(spec.r#override, o, "{case}"),
                    (Plan::Nothing, false) => {}
                    _ => panic!("{case}: {o}: expected {}, got {got:?}", if want { "Open" } else { "Nothing" }),
                }
            }
        }
    }

    #[test]
    fn an_open_incident_keeps_its_start_and_escalates_hourly() {
        let start = ts("2026-01-01T00:00:00Z");
        let ann = BTreeMap::new();
        for (o, c) in [(Override::Plaintext, PLAIN), (Override::NoAuth, NOAUTH)] {
            let r = report(&[c]);
            let obs = Observation::Evaluated { report: &r, annotations: &ann, since: None };
            let spec = opened(o, &[c], &ann, start).spec;
            // Table: (recorded state, last notice, now, expected state, notice due)
            let rows: [(IncidentState, Option<&str>, &str, IncidentState, bool); 7] = [
                (IncidentState::Active, None, "2026-01-01T01:00:00Z", IncidentState::Active, false),
                (IncidentState::Active, None, "2026-01-01T03:30:00Z", IncidentState::DeadlineApproaching, false),
                // Past the deadline (start + 4h), first time: Overdue with a notice.
                (IncidentState::DeadlineApproaching, None, "2026-01-01T04:10:00Z", IncidentState::Overdue, true),
                // Even if an old notice is recorded, the first transition to Overdue announces.
                (
                    IncidentState::Active,
                    Some("2025-12-31T00:00:00Z"),
                    "2026-01-01T04:00:00Z",
                    IncidentState::Overdue,
                    true,
                ),
                // Noticed 30 minutes ago: no new notice; an hour ago: again.
                (
                    IncidentState::Overdue,
                    Some("2026-01-01T04:00:00Z"),
                    "2026-01-01T04:30:00Z",
                    IncidentState::Overdue,
                    false,
                ),
                (
                    IncidentState::Overdue,
                    Some("2026-01-01T04:00:00Z"),
                    "2026-01-01T05:00:00Z",
                    IncidentState::Overdue,
                    true,
                ),
                (
                    IncidentState::Overdue,
                    Some("2026-01-01T09:00:00Z"),
                    "2026-01-01T09:59:59Z",
                    IncidentState::Overdue,
                    false,
                ),
            ];
            for (recorded, notice, now, want_state, want_notice) in rows {
                let i = open_incident(spec.clone(), recorded, notice);
                let got = plan(target(o), &obs, Some(&i), TIMING, ts(now));
                let Plan::Keep { spec: kept, state, overdue_notice } = got else { panic!("{o} at {now}: {got:?}") };
                assert_eq!((state, overdue_notice), (want_state, want_notice), "{o} {recorded:?} {notice:?} at {now}");
                assert_eq!(kept.started_at.0, start, "{o}: startedAt is durable");
                assert_eq!(kept.r#override, o);
                assert_eq!(kept, spec, "{o}: nothing else changed, nothing to write");
            }
        }
    }

    #[test]
    fn resolutions_say_why_per_override() {
        let now = ts("2026-01-01T00:00:00Z");
        let ann = BTreeMap::new();
        let plaintext = opened(Override::Plaintext, &[PLAIN], &ann, now);
        let no_auth = opened(Override::NoAuth, &[NOAUTH], &ann, now);
        use Resolution::*;
        // (case, override, containers now, expected: Some(resolution), or None for "kept open")
        let cases: Vec<(&str, Override, Vec<C>, Option<Resolution>)> = vec![
            (
                "plaintext variable removed",
                Override::Plaintext,
                vec![C { plaintext: F, ..PLAIN }],
                Some(OverrideRemoved),
            ),
            ("rolled back: variable removed and tls://", Override::Plaintext, vec![OK], Some(OverrideRemoved)),
            (
                "URL switched to tls://, variable still set",
                Override::Plaintext,
                vec![C { plaintext: T, ..OK }],
                Some(SwitchedToTLS),
            ),
            (
                "plaintext, no longer production",
                Override::Plaintext,
                vec![C { production: F, ..PLAIN }],
                Some(NoLongerProduction),
            ),
            (
                "plaintext, the container no longer dials NATS",
                Override::Plaintext,
                vec![C { client: false, ..PLAIN }],
                Some(NoLongerProduction),
            ),
            ("plaintext, production undeterminable", Override::Plaintext, vec![C { production: U, ..PLAIN }], None),
            ("plaintext, variable undeterminable", Override::Plaintext, vec![C { plaintext: U, ..PLAIN }], None),
            ("plaintext, gate undeterminable", Override::Plaintext, vec![C { gate: U, ..PLAIN }], None),
            (
                "plaintext, one of two containers undeterminable",
                Override::Plaintext,
                vec![OK, C { production: U, ..OK }],
                None,
            ),
            ("no-auth variable removed", Override::NoAuth, vec![C { no_auth: F, ..NOAUTH }], Some(OverrideRemoved)),
            ("rolled back: variable removed and a token added", Override::NoAuth, vec![OK], Some(OverrideRemoved)),
            ("token added, variable still set", Override::NoAuth, vec![C { no_auth: T, ..OK }], Some(AuthConfigured)),
            (
                "no-auth, no longer production",
                Override::NoAuth,
                vec![C { production: F, ..NOAUTH }],
                Some(NoLongerProduction),
            ),
            ("no-auth, authentication undeterminable", Override::NoAuth, vec![C { auth: U, ..NOAUTH }], None),
            ("no-auth, variable undeterminable", Override::NoAuth, vec![C { no_auth: U, ..NOAUTH }], None),
            ("no-auth, production undeterminable", Override::NoAuth, vec![C { production: U, ..NOAUTH }], None),
            // The other override's state never decides this one.
            (
                "plaintext resolves while no-auth stays",
                Override::Plaintext,
                vec![C { plaintext: T, gate: T, ..NOAUTH }],
                Some(SwitchedToTLS),
            ),
            (
                "no-auth resolves while plaintext stays",
                Override::NoAuth,
                vec![C { no_auth: T, auth: T, ..PLAIN }],
                Some(AuthConfigured),
            ),
            (
                "plaintext stays while no-auth is undeterminable",
                Override::Plaintext,
                vec![C { auth: U, no_auth: U, ..PLAIN }],
                None,
            ),
        ];
        for (case, o, cs, want) in cases {
            let open = if o == Override::Plaintext { &plaintext } else { &no_auth };
            let r = report(&cs);
            let got = plan(
                target(o),
                &Observation::Evaluated { report: &r, annotations: &ann, since: None },
                Some(open),
                TIMING,
                now,
            );
            match (want, &got) {
                (Some(resolution), Plan::Resolve(r)) if *r == resolution => {}
                // Undeterminable: the incident stays open, unchanged.
                (None, Plan::Keep { spec, .. }) if spec == &open.spec => {}
                _ => panic!("{case}: expected {want:?}, got {got:?}"),
            }
        }
        for (o, open) in [(Override::Plaintext, &plaintext), (Override::NoAuth, &no_auth)] {
            assert_eq!(plan(target(o), &Observation::Deleted, Some(open), TIMING, now), Plan::Resolve(WorkloadDeleted));
            assert_eq!(plan(target(o), &Observation::OutOfScope, Some(open), TIMING, now), Plan::Resolve(OutOfScope));
            assert_eq!(plan(target(o), &Observation::Deleted, None, TIMING, now), Plan::Nothing);
            assert_eq!(plan(target(o), &Observation::OutOfScope, None, TIMING, now), Plan::Nothing);
        }
    }

    #[test]
    fn both_active_then_one_resolves_while_the_other_stays() {
        let start = ts("2026-01-01T00:00:00Z");
        let ann: BTreeMap<String, String> =
            [(annotations::ROLLBACK_BY.to_string(), "2026-01-01T01:00:00Z".to_string())].into();
        let plaintext = opened(Override::Plaintext, &[BOTH], &ann, start);
        let no_auth = opened(Override::NoAuth, &[BOTH], &ann, start);
        assert_eq!((plaintext.spec.r#override, no_auth.spec.r#override), (Override::Plaintext, Override::NoAuth));
        assert_eq!(plaintext.spec.rollback_by, no_auth.spec.rollback_by, "the same timing for both");

        // Later a token is added: the no-auth incident resolves, the plaintext one escalates.
        let later = ts("2026-01-01T01:00:00Z");
        let r = report(&[C { auth: T, ..BOTH }]);
        let obs = Observation::Evaluated { report: &r, annotations: &ann, since: None };
        assert_eq!(
            plan(target(Override::NoAuth), &obs, Some(&no_auth), TIMING, later),
            Plan::Resolve(Resolution::AuthConfigured)
        );
        let kept = plan(target(Override::Plaintext), &obs, Some(&plaintext), TIMING, later);
        assert!(matches!(kept, Plan::Keep { state: IncidentState::Overdue, overdue_notice: true, .. }), "{kept:?}");
        // Then the no-auth variable comes back without the token: a new no-auth incident opens
        // (its own start), next to the plaintext one that keeps its own.
        let r = report(&[BOTH]);
        let obs = Observation::Evaluated { report: &r, annotations: &BTreeMap::new(), since: None };
        let again = ts("2026-01-01T02:00:00Z");
        let Plan::Open { spec, .. } = plan(target(Override::NoAuth), &obs, None, TIMING, again) else { panic!() };
        assert_eq!((spec.started_at.0, spec.rollback_by.0), (again, ts("2026-01-01T06:00:00Z")));
        let Plan::Keep { spec, .. } = plan(target(Override::Plaintext), &obs, Some(&plaintext), TIMING, again) else {
            panic!()
        };
        assert_eq!(spec.started_at.0, start);
    }

    #[test]
    fn an_incident_written_before_the_override_field_reads_as_plaintext() {
        // What the previous release stored: no `override` in the spec.
        let stored = serde_json::json!({
            "apiVersion": "natsguard.io/v1alpha1",
            "kind": "NatsTransportIncident",
            "metadata": { "name": "api-0a1b2c3d" },
            "spec": {
                "policy": "p",
                "deployment": { "name": "api", "uid": "u-1" },
                "containers": ["scheduler"],
                "owner": "alice",
                "startedAt": "2026-01-01T00:00:00Z",
                "rollbackBy": "2026-01-01T04:00:00Z",
            },
            "status": { "state": "Active" },
        });
        let old: NatsTransportIncident = serde_json::from_value(stored).unwrap();
        assert_eq!(old.spec.r#override, Override::Plaintext);
        // The operator keeps it as it is: same spec (so nothing to write), same start and deadline.
        let r = report(&[PLAIN]);
        let ann: BTreeMap<String, String> = [(annotations::OWNER.to_string(), "alice".to_string())].into();
        let got = plan(
            target(Override::Plaintext),
            &Observation::Evaluated { report: &r, annotations: &ann, since: None },
            Some(&old),
            TIMING,
            ts("2026-01-01T01:00:00Z"),
        );
        assert_eq!(got, Plan::Keep { spec: old.spec.clone(), state: IncidentState::Active, overdue_notice: false });
    }
}
