//! Whether the API server answers: a cheap `GET /version` every [`INTERVAL`], so that an outage
//! shows on `/readyz` and in the log (docs/configuration.md, `--http-addr`): after a kube-apiserver
//! outage `/readyz` used to say ok and nothing was logged. While it does not answer,
//! every cache is stale and nothing can be written.
//!
//! The decision is [`Reachability::observe`], a pure function of the probe results and the time.

use super::Health;
use kube::Client;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// How often the API server is asked.
pub const INTERVAL: Duration = Duration::from_secs(2);
/// How long one probe may take.
const TIMEOUT: Duration = Duration::from_secs(2);
/// Consecutive failed probes before the API server counts as unreachable (one failure can be a
/// dropped connection).
const FAILURES: u32 = 2;

/// What the probes have seen so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Reachability {
    /// Failed probes in a row.
    failures: u32,
    /// Since when it has been unreachable (after [`FAILURES`] failures; counted from the first).
    down_since: Option<Instant>,
    /// When the current run of failures began.
    first_failure: Option<Instant>,
}

/// A change worth saying.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    /// The API server stopped answering (at the first of the failed probes).
    Lost { since: Instant },
    /// It answers again after `down_for`.
    Regained { down_for: Duration },
}

impl Reachability {
    /// The state after one probe at `now`, and the change it makes, if any.
    pub fn observe(self, ok: bool, now: Instant) -> (Reachability, Option<Change>) {
        if ok {
            let change =
                self.down_since.map(|since| Change::Regained { down_for: now.saturating_duration_since(since) });
            return (Reachability::default(), change);
        }
        let first_failure = self.first_failure.unwrap_or(now);
        let failures = self.failures.saturating_add(1);
        if self.down_since.is_none() && failures >= FAILURES {
            let next = Reachability { failures, down_since: Some(first_failure), first_failure: Some(first_failure) };
            return (next, Some(Change::Lost { since: first_failure }));
        }
        (Reachability { failures, first_failure: Some(first_failure), ..self }, None)
    }

    pub fn reachable(self) -> bool {
        self.down_since.is_none()
    }
}

/// Probes the API server until dropped (the task is aborted on shutdown), mirroring the outcome
/// into `health` and the log.
pub async fn run(client: Client, health: Arc<Health>) {
    let mut state = Reachability::default();
    let mut tick = tokio::time::interval(INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let result = tokio::time::timeout(TIMEOUT, client.apiserver_version()).await;
        let error = match &result {
            Ok(Ok(_)) => None,
            Ok(Err(e)) => Some(e.to_string()),
            Err(_) => Some(format!("no answer within {TIMEOUT:?}")),
        };
        let (next, change) = state.observe(error.is_none(), Instant::now());
        state = next;
        health.apiserver_unreachable.store(!state.reachable(), Ordering::Relaxed);
        match change {
            Some(Change::Lost { since }) => tracing::warn!(
                error = error.as_deref().unwrap_or(""),
                for_secs = since.elapsed().as_secs(),
                "the API server does not answer: the watches and caches are stale and nothing is written until it does"
            ),
            Some(Change::Regained { down_for }) => {
                tracing::info!(down_for = ?down_for, "the API server answers again")
            }
            None => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unreachable_after_two_failures_in_a_row_and_back_on_the_first_success() {
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        let s = Reachability::default();
        assert!(s.reachable());
        // One failure is not an outage; a success in between starts the count again.
        let (s, c) = s.observe(false, at(0));
        assert_eq!((s.reachable(), c), (true, None));
        let (s, c) = s.observe(true, at(2));
        assert_eq!((s.reachable(), c), (true, None));
        // Two in a row are, counted from the first.
        let (s, _) = s.observe(false, at(4));
        let (s, c) = s.observe(false, at(6));
        assert!(!s.reachable());
        assert_eq!(c, Some(Change::Lost { since: at(4) }));
        // Said once.
        let (s, c) = s.observe(false, at(8));
        assert_eq!((s.reachable(), c), (false, None));
        let (s, c) = s.observe(true, at(24));
        assert!(s.reachable());
        assert_eq!(c, Some(Change::Regained { down_for: Duration::from_secs(20) }));
        let (_, c) = s.observe(true, at(26));
        assert_eq!(c, None);
    }
}
