//! Leader election over a `coordination.k8s.io/v1` Lease, decided as pure functions of what a
//! replica observed and when (docs/configuration.md, "High availability").
//!
//! The rules are client-go's: a replica may take the Lease when nobody holds it, when it holds it
//! itself, or when the record has not changed for the lease duration *as measured on the
//! replica's own monotonic clock since it first saw that record* (so clock skew between nodes
//! does not matter). The holder renews every retry period and gives up leadership when it could
//! not renew within the renew deadline, which is shorter than the lease duration: a replica that
//! cannot reach the API server stops writing before anybody else may start. A replica that shuts
//! down clears the holder, so a standby takes over at its next retry instead of waiting for the
//! lease to expire.
//!
//! The I/O shell is `controller::leader`; nothing here reads a clock or the API.

use k8s_openapi::api::coordination::v1::LeaseSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::Timestamp;
use std::time::{Duration, Instant};

/// The election's timing (docs/configuration.md "High availability": 15 s, 10 s, 2 s).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timing {
    /// How long a record that stopped changing keeps others from taking the Lease.
    pub lease_duration: Duration,
    /// How long the leader keeps leading without a successful renewal.
    pub renew_deadline: Duration,
    /// How often the leader renews and a standby retries.
    pub retry_period: Duration,
}

impl Timing {
    pub const DEFAULT: Timing = Timing {
        lease_duration: Duration::from_secs(15),
        renew_deadline: Duration::from_secs(10),
        retry_period: Duration::from_secs(2),
    };
}

impl Default for Timing {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// The last Lease record a replica saw, and when it first saw it (its own monotonic clock).
#[derive(Clone, Debug, PartialEq)]
pub struct Observed {
    pub spec: LeaseSpec,
    pub since: Instant,
}

/// Remember `current`: the observation time moves only when the record changed.
pub fn observe(previous: Option<&Observed>, current: &LeaseSpec, now: Instant) -> Observed {
    match previous {
        Some(p) if p.spec == *current => p.clone(),
        _ => Observed { spec: current.clone(), since: now },
    }
}

/// What a replica should do with the Lease it just read.
#[derive(Clone, Debug, PartialEq)]
pub enum Decision {
    /// Write this record (an update guarded by the resourceVersion that was read): take the
    /// Lease, or renew it when `renewal` (this replica already holds it).
    Write { spec: LeaseSpec, renewal: bool },
    /// Somebody else holds a live Lease; it may be taken after `expires_in` if it stays unchanged.
    Wait { holder: String, expires_in: Duration },
}

fn holder(spec: &LeaseSpec) -> Option<&str> {
    spec.holder_identity.as_deref().filter(|h| !h.is_empty())
}

fn seconds(d: Duration) -> i32 {
    i32::try_from(d.as_secs()).unwrap_or(i32::MAX).max(1)
}

/// The record a replica writes to create the Lease when none exists.
pub fn initial(me: &str, wall: Timestamp, timing: Timing) -> LeaseSpec {
    LeaseSpec {
        holder_identity: Some(me.to_owned()),
        lease_duration_seconds: Some(seconds(timing.lease_duration)),
        acquire_time: Some(MicroTime(wall)),
        renew_time: Some(MicroTime(wall)),
        lease_transitions: Some(0),
        ..Default::default()
    }
}

/// Decide on the Lease as observed (`observed` is `observe(..)` of the record just read).
/// `now` is the replica's monotonic clock, `wall` the time written into the record.
pub fn decide(observed: &Observed, me: &str, now: Instant, wall: Timestamp, timing: Timing) -> Decision {
    let spec = &observed.spec;
    let held_by_me = holder(spec) == Some(me);
    if let Some(other) = holder(spec).filter(|h| *h != me) {
        // The record's own duration counts when it is longer than ours (another version of the
        // operator may use a longer one); never shorter, so a bogus record cannot shorten it.
        let recorded = spec.lease_duration_seconds.and_then(|s| u64::try_from(s).ok()).map(Duration::from_secs);
        let duration = recorded.map_or(timing.lease_duration, |d| d.max(timing.lease_duration));
        let expires_at = observed.since + duration;
        if now < expires_at {
            return Decision::Wait { holder: other.to_owned(), expires_in: expires_at - now };
        }
    }
    let transitions = spec.lease_transitions.unwrap_or(0);
    let next = LeaseSpec {
        holder_identity: Some(me.to_owned()),
        lease_duration_seconds: Some(seconds(timing.lease_duration)),
        renew_time: Some(MicroTime(wall)),
        acquire_time: if held_by_me { spec.acquire_time.clone() } else { Some(MicroTime(wall)) },
        lease_transitions: Some(if held_by_me { transitions } else { transitions.saturating_add(1) }),
        ..spec.clone()
    };
    Decision::Write { spec: next, renewal: held_by_me }
}

/// The record a leader writes when it steps down: no holder, so a standby takes the Lease at its
/// next retry. `None` when `me` does not hold it (nothing to release).
pub fn released(current: &LeaseSpec, me: &str, wall: Timestamp) -> Option<LeaseSpec> {
    (holder(current) == Some(me)).then(|| LeaseSpec {
        holder_identity: None,
        lease_duration_seconds: Some(1),
        renew_time: Some(MicroTime(wall)),
        acquire_time: Some(MicroTime(wall)),
        ..current.clone()
    })
}

/// Whether a leader whose last successful renewal was at `last_renewed` must step down.
pub fn renewal_overdue(last_renewed: Instant, now: Instant, timing: Timing) -> bool {
    now.saturating_duration_since(last_renewed) >= timing.renew_deadline
}

/// How long a replica sleeps before its next attempt: the retry period, or less for a standby
/// when the Lease it waits for expires sooner (a crashed leader is replaced within the lease
/// duration plus at most one retry).
pub fn next_attempt(decision_wait: Option<Duration>, timing: Timing) -> Duration {
    match decision_wait {
        Some(expires_in) => expires_in.min(timing.retry_period),
        None => timing.retry_period,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Timing = Timing::DEFAULT;

    fn wall() -> Timestamp {
        Timestamp::from_second(1_800_000_000).unwrap()
    }

    fn held_by(who: &str) -> LeaseSpec {
        initial(who, wall(), T)
    }

    fn written(d: Decision) -> (LeaseSpec, bool) {
        match d {
            Decision::Write { spec, renewal } => (spec, renewal),
            other => panic!("expected a write, got {other:?}"),
        }
    }

    #[test]
    fn an_empty_lease_is_taken_at_once() {
        let t0 = Instant::now();
        let obs = observe(None, &LeaseSpec::default(), t0);
        let (spec, renewal) = written(decide(&obs, "a", t0, wall(), T));
        assert!(!renewal);
        assert_eq!(spec.holder_identity.as_deref(), Some("a"));
        assert_eq!(spec.lease_duration_seconds, Some(15));
        assert_eq!(spec.lease_transitions, Some(1));
        assert_eq!(spec.acquire_time, Some(MicroTime(wall())));
    }

    #[test]
    fn a_live_lease_held_by_another_is_left_alone_until_it_stops_changing_for_the_duration() {
        let t0 = Instant::now();
        let obs = observe(None, &held_by("b"), t0);
        assert_eq!(
            decide(&obs, "a", t0 + Duration::from_secs(14), wall(), T),
            Decision::Wait { holder: "b".into(), expires_in: Duration::from_secs(1) }
        );
        // Unchanged for 15 s on our clock: expired, whatever its renewTime says.
        let (spec, renewal) = written(decide(&obs, "a", t0 + Duration::from_secs(15), wall(), T));
        assert!(!renewal);
        assert_eq!(spec.holder_identity.as_deref(), Some("a"));
        assert_eq!(spec.lease_transitions, Some(1));
    }

    #[test]
    fn a_renewal_by_the_holder_restarts_the_clock() {
        let t0 = Instant::now();
        let first = observe(None, &held_by("b"), t0);
        let mut renewed = held_by("b");
        renewed.renew_time = Some(MicroTime(Timestamp::from_second(1_800_000_002).unwrap()));
        let t10 = t0 + Duration::from_secs(10);
        let second = observe(Some(&first), &renewed, t10);
        assert_eq!(second.since, t10);
        // The same record again keeps the first sighting.
        assert_eq!(observe(Some(&second), &renewed, t10 + Duration::from_secs(3)).since, t10);
        assert!(matches!(decide(&second, "a", t0 + Duration::from_secs(20), wall(), T), Decision::Wait { .. }));
        assert!(matches!(decide(&second, "a", t10 + Duration::from_secs(15), wall(), T), Decision::Write { .. }));
    }

    #[test]
    fn the_holder_renews_and_keeps_its_acquire_time_and_transitions() {
        let t0 = Instant::now();
        let mut mine = held_by("a");
        mine.lease_transitions = Some(4);
        let obs = observe(None, &mine, t0);
        let later = Timestamp::from_second(1_800_000_060).unwrap();
        let (spec, renewal) = written(decide(&obs, "a", t0 + Duration::from_secs(60), later, T));
        assert!(renewal);
        assert_eq!(spec.acquire_time, Some(MicroTime(wall())));
        assert_eq!(spec.renew_time, Some(MicroTime(later)));
        assert_eq!(spec.lease_transitions, Some(4));
    }

    #[test]
    fn a_released_lease_is_taken_without_waiting() {
        let t0 = Instant::now();
        let released = released(&held_by("b"), "b", wall()).expect("b holds it");
        assert_eq!(released.holder_identity, None);
        let obs = observe(None, &released, t0);
        let (spec, _) = written(decide(&obs, "a", t0, wall(), T));
        assert_eq!(spec.holder_identity.as_deref(), Some("a"));
        // An empty holder string (client-go writes "") counts as free too.
        let mut empty = held_by("b");
        empty.holder_identity = Some(String::new());
        assert!(matches!(decide(&observe(None, &empty, t0), "a", t0, wall(), T), Decision::Write { .. }));
    }

    #[test]
    fn only_the_holder_releases() {
        assert_eq!(released(&held_by("b"), "a", wall()), None);
        assert_eq!(released(&LeaseSpec::default(), "a", wall()), None);
    }

    #[test]
    fn a_longer_recorded_duration_is_honoured_and_a_shorter_one_is_not() {
        let t0 = Instant::now();
        let mut long = held_by("b");
        long.lease_duration_seconds = Some(60);
        let obs = observe(None, &long, t0);
        assert!(matches!(decide(&obs, "a", t0 + Duration::from_secs(30), wall(), T), Decision::Wait { .. }));
        let mut short = held_by("b");
        short.lease_duration_seconds = Some(1);
        let obs = observe(None, &short, t0);
        assert!(matches!(decide(&obs, "a", t0 + Duration::from_secs(5), wall(), T), Decision::Wait { .. }));
    }

    #[test]
    fn the_leader_steps_down_at_the_renew_deadline_before_the_lease_can_expire() {
        let t0 = Instant::now();
        assert!(!renewal_overdue(t0, t0 + Duration::from_millis(9_999), T));
        assert!(renewal_overdue(t0, t0 + Duration::from_secs(10), T));
        assert!(T.renew_deadline < T.lease_duration);
    }

    #[test]
    fn a_standby_wakes_when_the_lease_it_waits_for_expires() {
        assert_eq!(next_attempt(Some(Duration::from_millis(300)), T), Duration::from_millis(300));
        assert_eq!(next_attempt(Some(Duration::from_secs(9)), T), Duration::from_secs(2));
        assert_eq!(next_attempt(None, T), Duration::from_secs(2));
    }
}
