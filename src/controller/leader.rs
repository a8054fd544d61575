//! Leader election against the API server (docs/configuration.md "High
//! availability"): campaigns for the `natsguard` Lease with the rules of `crate::election` and
//! publishes the outcome as a [`Leadership`] handle. Only the leader writes; the reconcilers ask
//! `Leadership::is_leading()` and the write fence (`super::fence`) refuses writes otherwise.

use crate::election::{self, Decision, Observed, Timing};
use futures::Stream;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::coordination::v1::LeaseSpec;
use k8s_openapi::jiff::Timestamp;
use kube::api::{ObjectMeta, PostParams};
use kube::{Api, Client};
use std::time::{Duration, Instant};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

/// The Lease's name (docs/configuration.md, "High availability").
pub const LEASE_NAME: &str = "natsguard";
/// The field manager of the Lease writes.
const FIELD_MANAGER: &str = "natsguard";

/// Where and as whom to campaign.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaseConfig {
    pub namespace: String,
    pub name: String,
    pub identity: String,
    pub timing: Timing,
}

impl LeaseConfig {
    /// The `natsguard` Lease in `namespace`, campaigned for as `identity`, with the contract's timing.
    pub fn new(namespace: impl Into<String>, identity: impl Into<String>) -> Self {
        Self {
            namespace: namespace.into(),
            name: LEASE_NAME.into(),
            identity: identity.into(),
            timing: Timing::DEFAULT,
        }
    }
}

/// `$POD_NAME`, else `<host name>_<pid>` (docs/configuration.md, "High availability").
pub fn default_identity() -> String {
    if let Ok(pod) = std::env::var("POD_NAME")
        && !pod.trim().is_empty()
    {
        return pod.trim().to_owned();
    }
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "natsguard".to_owned());
    format!("{host}_{}", std::process::id())
}

/// Whether this replica leads, shared with everything that writes.
///
/// Cheap to clone. `is_leading()` is the guard at the top of every reconcile; `changed()` and
/// `gained()` follow transitions (the Controllers reconcile everything when leadership is gained).
#[derive(Clone, Debug)]
pub struct Leadership {
    rx: watch::Receiver<Term>,
}

/// Whether this replica leads, and how many times it became the leader (so a quick loss and
/// regain is still seen as a new term).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Term {
    leading: bool,
    acquisitions: u64,
}

/// Sets [`Leadership`]: held by the elector (or a test).
#[derive(Debug)]
pub struct LeadershipTx {
    tx: watch::Sender<Term>,
}

impl LeadershipTx {
    /// Start or stop leading; returns whether this replica led before.
    pub fn set(&self, leading: bool) -> bool {
        let mut was = false;
        self.tx.send_modify(|t| {
            was = t.leading;
            if leading && !t.leading {
                t.acquisitions += 1;
            }
            t.leading = leading;
        });
        was
    }

    pub fn is_leading(&self) -> bool {
        self.tx.borrow().leading
    }
}

impl Leadership {
    /// Always the leader: leader election is off (`--leader-election=false`, a single process).
    pub fn always() -> Self {
        let (_, rx) = watch::channel(Term { leading: true, acquisitions: 1 });
        Self { rx }
    }

    /// A handle that starts as not leading, and its setter.
    pub fn channel() -> (LeadershipTx, Leadership) {
        let (tx, rx) = watch::channel(Term::default());
        (LeadershipTx { tx }, Leadership { rx })
    }

    /// Whether this replica leads right now.
    pub fn is_leading(&self) -> bool {
        self.rx.borrow().leading
    }

    /// Waits for the next transition and returns the new state; `None` once nothing can change
    /// any more (election off, or stopped).
    pub async fn changed(&mut self) -> Option<bool> {
        self.rx.changed().await.ok()?;
        Some(self.rx.borrow_and_update().leading)
    }

    /// Yields once each time this replica becomes the leader (not for leadership it already has).
    pub fn gained(&self) -> impl Stream<Item = ()> + Send + 'static {
        let mut rx = self.rx.clone();
        let seen = rx.borrow_and_update().acquisitions;
        futures::stream::unfold((rx, seen), |(mut rx, mut seen)| async move {
            loop {
                rx.changed().await.ok()?;
                let term = *rx.borrow_and_update();
                if term.leading && term.acquisitions != seen {
                    seen = term.acquisitions;
                    return Some(((), (rx, seen)));
                }
            }
        })
    }
}

/// The campaign running in the background; `step_down` ends it.
pub struct Elector {
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

/// Start campaigning for the Lease. Leadership starts as `false`.
pub fn spawn(client: Client, config: LeaseConfig) -> (Leadership, Elector) {
    let (tx, leadership) = Leadership::channel();
    let (stop_tx, stop_rx) = oneshot::channel();
    let api: Api<Lease> = Api::namespaced(client, &config.namespace);
    let task = tokio::spawn(campaign(api, config, tx, stop_rx));
    (leadership, Elector { stop: Some(stop_tx), task })
}

impl Elector {
    /// Stop campaigning: leadership turns false at once, and a held Lease is released so a
    /// standby takes over at its next retry. Gives up after `timeout` (the Lease then expires).
    pub async fn step_down(mut self, timeout: Duration) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if tokio::time::timeout(timeout, &mut self.task).await.is_err() {
            tracing::warn!(?timeout, "could not release the leader Lease in time; it will expire");
            self.task.abort();
        }
    }
}

impl Drop for Elector {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// What one attempt found.
enum Outcome {
    /// This replica holds the Lease (just created, taken or renewed).
    Leading,
    /// Another replica holds a live Lease.
    Standby { holder: String, expires_in: Duration },
    /// Another replica wrote first (409); decide again at the next attempt.
    Contended,
}

struct Campaign {
    api: Api<Lease>,
    config: LeaseConfig,
    observed: Option<Observed>,
}

async fn campaign(api: Api<Lease>, config: LeaseConfig, tx: LeadershipTx, mut stop: oneshot::Receiver<()>) {
    let timing = config.timing;
    let mut c = Campaign { api, config, observed: None };
    let mut last_renewed: Option<Instant> = None;
    let mut last_error: Option<String> = None;
    let mut holder_seen: Option<String> = None;
    tracing::info!(
        lease = %format!("{}/{}", c.config.namespace, c.config.name),
        identity = %c.config.identity,
        "campaigning for leadership"
    );
    loop {
        let leading = tx.is_leading();
        // A leader must finish its renewal before the renew deadline; a standby gets two retries.
        let budget = match (leading, last_renewed) {
            (true, Some(at)) => timing.renew_deadline.saturating_sub(at.elapsed()).max(Duration::from_millis(200)),
            _ => timing.retry_period * 2,
        };
        let result = tokio::select! {
            biased;
            _ = &mut stop => break,
            r = tokio::time::timeout(budget, c.attempt()) => r,
        };
        let mut wait = None;
        match result {
            Ok(Ok(Outcome::Leading)) => {
                last_renewed = Some(Instant::now());
                last_error = None;
                holder_seen = None;
                if !leading {
                    tracing::info!(identity = %c.config.identity, "became the leader");
                    tx.set(true);
                }
            }
            Ok(Ok(Outcome::Standby { holder, expires_in })) => {
                last_error = None;
                if leading {
                    tracing::warn!(%holder, "lost the leader Lease to another replica; stopped writing");
                    tx.set(false);
                    last_renewed = None;
                }
                if holder_seen.as_deref() != Some(holder.as_str()) {
                    tracing::info!(%holder, "standing by: another replica leads");
                    holder_seen = Some(holder);
                }
                wait = Some(expires_in);
            }
            Ok(Ok(Outcome::Contended)) => {}
            Ok(Err(e)) => {
                let text = e.to_string();
                if last_error.as_deref() != Some(text.as_str()) {
                    tracing::warn!(error = %text, "leader election: cannot read or write the Lease");
                    last_error = Some(text);
                }
            }
            Err(_) => {
                if last_error.as_deref() != Some("timeout") {
                    tracing::warn!(?budget, "leader election: the API server did not answer in time");
                    last_error = Some("timeout".into());
                }
            }
        }
        if tx.is_leading() && last_renewed.is_none_or(|at| election::renewal_overdue(at, Instant::now(), timing)) {
            tracing::error!(deadline = ?timing.renew_deadline, "could not renew the leader Lease in time; stopped writing");
            tx.set(false);
            last_renewed = None;
        }
        let sleep = election::next_attempt(wait, timing);
        tokio::select! {
            biased;
            _ = &mut stop => break,
            _ = tokio::time::sleep(sleep) => {}
        }
    }
    // Stepping down: stop writing first, then hand the Lease over.
    let was_leading = tx.set(false);
    match c.release().await {
        Ok(true) => tracing::info!("released the leader Lease"),
        Ok(false) if was_leading => tracing::info!("the leader Lease was no longer ours; nothing to release"),
        Ok(false) => {}
        Err(e) => tracing::warn!(error = %e, "could not release the leader Lease; it will expire"),
    }
}

impl Campaign {
    async fn attempt(&mut self) -> Result<Outcome, kube::Error> {
        let name = self.config.name.as_str();
        let me = self.config.identity.as_str();
        let timing = self.config.timing;
        let Some(mut lease) = self.api.get_opt(name).await? else {
            let lease = Lease {
                metadata: ObjectMeta { name: Some(name.to_owned()), ..Default::default() },
                spec: Some(election::initial(me, Timestamp::now(), timing)),
            };
            return match self.api.create(&post_params(), &lease).await {
                Ok(created) => {
                    self.remember(created.spec.unwrap_or_default());
                    Ok(Outcome::Leading)
                }
                Err(kube::Error::Api(s)) if s.is_already_exists() => Ok(Outcome::Contended),
                Err(e) => Err(e),
            };
        };
        let current = lease.spec.take().unwrap_or_default();
        let observed = election::observe(self.observed.as_ref(), &current, Instant::now());
        self.observed = Some(observed.clone());
        match election::decide(&observed, me, Instant::now(), Timestamp::now(), timing) {
            Decision::Wait { holder, expires_in } => Ok(Outcome::Standby { holder, expires_in }),
            Decision::Write { spec, .. } => {
                lease.spec = Some(spec);
                lease.metadata.managed_fields = None;
                // An update carries the resourceVersion just read: of two replicas racing for
                // the Lease, exactly one write succeeds.
                match self.api.replace(name, &post_params(), &lease).await {
                    Ok(updated) => {
                        self.remember(updated.spec.unwrap_or_default());
                        Ok(Outcome::Leading)
                    }
                    Err(kube::Error::Api(s)) if s.is_conflict() => Ok(Outcome::Contended),
                    Err(e) => Err(e),
                }
            }
        }
    }

    fn remember(&mut self, spec: LeaseSpec) {
        self.observed = Some(election::observe(self.observed.as_ref(), &spec, Instant::now()));
    }

    /// Clear the holder if it is this replica. `Ok(true)` when released.
    async fn release(&mut self) -> Result<bool, kube::Error> {
        let me = self.config.identity.as_str();
        for _ in 0..3 {
            let Some(mut lease) = self.api.get_opt(&self.config.name).await? else { return Ok(false) };
            let Some(spec) = election::released(&lease.spec.take().unwrap_or_default(), me, Timestamp::now()) else {
                return Ok(false);
            };
            lease.spec = Some(spec);
            lease.metadata.managed_fields = None;
            match self.api.replace(&self.config.name, &post_params(), &lease).await {
                Ok(_) => return Ok(true),
                // Renewed concurrently by this replica's own last attempt: read again.
                Err(kube::Error::Api(s)) if s.is_conflict() => continue,
                Err(e) => return Err(e),
            }
        }
        Ok(false)
    }
}

fn post_params() -> PostParams {
    PostParams { field_manager: Some(FIELD_MANAGER.into()), ..Default::default() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;

    #[tokio::test]
    async fn gained_yields_once_per_acquisition_and_ends_with_the_elector() {
        let (tx, leadership) = Leadership::channel();
        let mut gained = Box::pin(leadership.gained());
        assert!(!leadership.is_leading());
        tx.set(true);
        assert_eq!(tokio::time::timeout(Duration::from_secs(1), gained.next()).await.unwrap(), Some(()));
        assert!(leadership.is_leading());
        // Losing it yields nothing; gaining it again yields once more, even when the loss was
        // never observed in between.
        tx.set(false);
        tx.set(true);
        assert_eq!(tokio::time::timeout(Duration::from_secs(1), gained.next()).await.unwrap(), Some(()));
        drop(tx);
        assert_eq!(tokio::time::timeout(Duration::from_secs(1), gained.next()).await.unwrap(), None);
    }

    #[tokio::test]
    async fn always_leads_and_never_changes() {
        let mut l = Leadership::always();
        assert!(l.is_leading());
        assert_eq!(l.changed().await, None);
        assert!(l.is_leading());
    }

    #[test]
    fn identity_is_the_pod_name_or_host_and_pid() {
        // POD_NAME is not set in unit tests run by cargo (the chart sets it).
        if std::env::var("POD_NAME").is_err() {
            let id = default_identity();
            assert!(id.ends_with(&format!("_{}", std::process::id())), "{id}");
        }
    }
}
