//! Announcing: the Events the policy reconciles decide are sent here, off the reconcile path, a
//! few at a time; a send that fails is retried with a capped backoff until it goes through (or
//! this replica stops leading: the next leader decides again from the durable record). The
//! announced record (`crate::ledger`) is written to its `NatsTransportLedger` shards once the
//! Events it records were sent (docs/configuration.md, "What was announced").

use super::cache::{Cache, PolicyKey};
use super::metrics::Metrics;
use super::publish::{self, Reporter};
use super::{FIELD_MANAGER, Leadership};
use crate::crd::{NatsTransportLedger, NatsTransportPolicyStatus};
use crate::ledger;
use crate::notices::Notice;
use crate::plan::PolicyState;
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use k8s_openapi::api::core::v1::ObjectReference;
use kube::api::{Patch, PatchParams};
use kube::{Api, Client};
use serde_json::json;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// Events in flight at once.
const CONCURRENCY: usize = 8;
/// Events pending at once that make a burst, after which free memory is handed back.
const BURST: usize = 1000;
/// How often decided entries are written to the ledger shards.
const FLUSH_EVERY: Duration = Duration::from_millis(200);
/// Retry delays for a failed Event: doubling from the first, capped.
const RETRY_FIRST: Duration = Duration::from_millis(500);
const RETRY_MAX: Duration = Duration::from_secs(30);

/// One policy's state, shared by its reconciles and the announcer.
pub struct Shared {
    pub key: PolicyKey,
    /// The policy's uid (a re-created policy of the same name gets a new state).
    pub uid: String,
    pub state: Mutex<PolicyState>,
    /// Workloads one of whose Events was sent, not yet told to the record.
    confirmed: Mutex<Vec<String>>,
    problems: Mutex<Problems>,
    /// The status last computed, for the policy's status writer (`super::policy`).
    status: tokio::sync::watch::Sender<Option<NatsTransportPolicyStatus>>,
}

/// What the announcer could not do for a policy (shown as `Degraded` by its reconcile).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Problems {
    pub ledger: Option<String>,
    pub events: Option<String>,
}

impl Shared {
    pub fn new(key: PolicyKey, uid: String, state: PolicyState) -> Self {
        Self {
            key,
            uid,
            state: Mutex::new(state),
            confirmed: Mutex::default(),
            problems: Mutex::default(),
            status: tokio::sync::watch::Sender::new(None),
        }
    }

    /// The status last computed, if any since this state was made.
    pub fn last_status(&self) -> Option<NatsTransportPolicyStatus> {
        self.status.borrow().clone()
    }

    /// Hand a computed status to the status writer: it looks again when the status changed, or
    /// when what the API server holds differs from it (another writer changed it).
    pub fn desire(&self, status: NatsTransportPolicyStatus, stored: Option<&NatsTransportPolicyStatus>) {
        let stored_differs = stored != Some(&status);
        self.status.send_if_modified(|s| {
            if s.as_ref() == Some(&status) && !stored_differs {
                return false;
            }
            *s = Some(status);
            true
        });
    }

    /// What the status writer follows.
    pub fn statuses(&self) -> tokio::sync::watch::Receiver<Option<NatsTransportPolicyStatus>> {
        self.status.subscribe()
    }

    pub fn problems(&self) -> Problems {
        self.problems.lock().map(|p| p.clone()).unwrap_or_default()
    }

    /// Tell the record about the Events sent since the last call (with the state locked).
    pub fn apply_confirmations(&self, state: &mut PolicyState) {
        let sent = self.confirmed.lock().map(|mut c| std::mem::take(&mut *c)).unwrap_or_default();
        for w in sent {
            state.record.sent(&w);
        }
    }

    /// Set a problem; `true` when that changed anything.
    fn set(&self, f: impl FnOnce(&mut Problems)) -> bool {
        let Ok(mut p) = self.problems.lock() else { return false };
        let before = p.clone();
        f(&mut p);
        *p != before
    }
}

/// The policies' shared states, by policy.
pub type States = Arc<Mutex<HashMap<PolicyKey, Arc<Shared>>>>;

/// One Event to send.
pub struct Item {
    pub shared: Arc<Shared>,
    /// The workload whose record waits for this Event (finding Events and `DriftResolved`).
    pub workload: Option<String>,
    pub notice: Notice,
    pub regarding: ObjectReference,
    pub related: Option<ObjectReference>,
}

/// Where reconciles put the Events they decided.
#[derive(Clone)]
pub struct Outbox {
    tx: mpsc::UnboundedSender<Item>,
}

impl Outbox {
    pub fn channel() -> (Outbox, mpsc::UnboundedReceiver<Item>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (Outbox { tx }, rx)
    }

    pub fn send(&self, item: Item) {
        if self.tx.send(item).is_err() {
            tracing::debug!("announcer stopped; Event dropped (the next leader decides it again)");
        }
    }
}

/// What the announcer needs.
pub struct Announcer {
    pub client: Client,
    pub reporter: Reporter,
    pub states: States,
    pub cache: Arc<Cache>,
    pub metrics: Arc<Metrics>,
    pub leadership: Leadership,
}

struct Pending {
    item: Item,
    attempts: u32,
}

impl Announcer {
    /// Send what arrives on `rx` until `stop`; then finish what is queued within `drain`, and
    /// write the record one last time.
    pub async fn run(self, mut rx: mpsc::UnboundedReceiver<Item>, stop: impl Future<Output = ()>, drain: Duration) {
        let mut queue: VecDeque<Pending> = VecDeque::new();
        let mut retries: Vec<(Instant, Pending)> = Vec::new();
        let mut inflight = FuturesUnordered::new();
        let mut tick = tokio::time::interval(FLUSH_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // The record is written by a task of its own: a slow shard write never holds an Event.
        let (flushed_tx, flushed_rx) = tokio::sync::watch::channel(false);
        let flusher = tokio::spawn(self.clone_for_flush().flush_loop(flushed_rx));
        let mut stop = std::pin::pin!(stop);
        let mut deadline: Option<tokio::time::Instant> = None;
        let mut burst = 0usize;
        loop {
            while inflight.len() < CONCURRENCY {
                let Some(p) = queue.pop_front() else { break };
                if !self.leadership.is_leading() {
                    continue;
                }
                let client = self.client.clone();
                let reporter = self.reporter.clone();
                inflight.push(async move {
                    let r =
                        publish::send(&client, &reporter, &p.item.notice, &p.item.regarding, p.item.related.as_ref())
                            .await;
                    (p, r)
                });
            }
            let pending = queue.len() + retries.len() + inflight.len();
            self.metrics.events_pending(pending as i64);
            // A burst (a new leader announcing thousands of workloads) leaves its Events' memory
            // free in the allocator once it is sent.
            burst = burst.max(pending);
            if pending == 0 && burst >= BURST {
                super::memory::release_free();
                burst = 0;
            }
            if deadline.is_some() && queue.is_empty() && inflight.is_empty() {
                break;
            }
            let until_deadline = async {
                match deadline {
                    Some(d) => tokio::time::sleep_until(d).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                item = rx.recv(), if deadline.is_none() => match item {
                    Some(item) => queue.push_back(Pending { item, attempts: 0 }),
                    None => deadline = Some(tokio::time::Instant::now() + drain),
                },
                Some((p, result)) = inflight.next(), if !inflight.is_empty() => self.done(p, result, &mut retries),
                _ = tick.tick() => {
                    let now = Instant::now();
                    let (due, later): (Vec<_>, Vec<_>) = retries.drain(..).partition(|(at, _)| *at <= now);
                    retries = later;
                    queue.extend(due.into_iter().map(|(_, p)| p));
                }
                _ = &mut stop, if deadline.is_none() => {
                    deadline = Some(tokio::time::Instant::now() + drain);
                    while let Ok(item) = rx.try_recv() {
                        queue.push_back(Pending { item, attempts: 0 });
                    }
                }
                _ = until_deadline => break,
            }
        }
        if !queue.is_empty() || !inflight.is_empty() || !retries.is_empty() {
            tracing::info!(
                unsent = queue.len() + inflight.len() + retries.len(),
                "stopping with Events unsent; the next leader announces them"
            );
        }
        // The flusher writes once more what the Events sent so far allow, and stops.
        let _ = flushed_tx.send(true);
        let _ = flusher.await;
    }

    fn clone_for_flush(&self) -> Flusher {
        Flusher {
            client: self.client.clone(),
            states: self.states.clone(),
            cache: self.cache.clone(),
            leadership: self.leadership.clone(),
        }
    }

    fn done(&self, p: Pending, result: Result<(), kube::Error>, retries: &mut Vec<(Instant, Pending)>) {
        let shared = p.item.shared.clone();
        match result {
            Ok(()) => {
                self.metrics.event_sent(true);
                if let Some(w) = &p.item.workload
                    && let Ok(mut c) = shared.confirmed.lock()
                {
                    c.push(w.clone());
                }
                if shared.set(|pr| pr.events = None) {
                    self.cache.trigger(&shared.key);
                }
            }
            Err(e) => {
                self.metrics.event_sent(false);
                let attempts = p.attempts + 1;
                let delay = RETRY_FIRST.saturating_mul(1 << attempts.min(8)).min(RETRY_MAX);
                tracing::warn!(reason = %p.item.notice.reason, error = %e, retry_in = ?delay, "cannot send an Event; retrying");
                let message = format!("cannot send Events (retrying): {}", super::brief(&e));
                if shared.set(|pr| pr.events = Some(message)) {
                    self.cache.trigger(&shared.key);
                }
                if self.leadership.is_leading() {
                    retries.push((Instant::now() + delay, Pending { item: p.item, attempts }));
                }
            }
        }
    }
}

/// Writes the ledger shards of every policy as the Events they wait for are sent.
struct Flusher {
    client: Client,
    states: States,
    cache: Arc<Cache>,
    leadership: Leadership,
}

impl Flusher {
    /// Every [`FLUSH_EVERY`] until `last` turns true, then once more.
    async fn flush_loop(self, mut last: tokio::sync::watch::Receiver<bool>) {
        let mut tick = tokio::time::interval(FLUSH_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => self.flush().await,
                done = last.changed() => if done.is_err() || *last.borrow() { break },
            }
        }
        self.flush().await;
    }

    /// Write the ledger shards that changed, for every policy.
    async fn flush(&self) {
        if !self.leadership.is_leading() {
            return;
        }
        let shared: Vec<Arc<Shared>> = self.states.lock().map(|s| s.values().cloned().collect()).unwrap_or_default();
        for s in shared {
            // A reconcile holding the state is planning: its confirmations wait for the next tick.
            let dirty = match s.state.try_lock() {
                Ok(mut state) => {
                    s.apply_confirmations(&mut state);
                    state.record.take_dirty()
                }
                Err(_) => continue,
            };
            if dirty.is_empty() {
                continue;
            }
            let mut failed = Vec::new();
            let mut error = None;
            for (shard, entries) in dirty {
                if let Err(e) = write_shard(&self.client, &s.key, &s.uid, shard, entries).await {
                    failed.push(shard);
                    error = Some(e);
                }
            }
            if !failed.is_empty()
                && let Ok(mut state) = s.state.lock()
            {
                state.record.unwritten(failed);
            }
            let message =
                error.map(|e| format!("cannot write the announced record (NatsTransportLedger): {}", super::brief(&e)));
            if let Some(m) = &message {
                tracing::warn!(policy = %s.key.1, namespace = %s.key.0, error = %m, "ledger write failed; retrying");
            }
            if s.set(|p| p.ledger = message) {
                self.cache.trigger(&s.key);
            }
        }
    }
}

/// Server-side apply one shard of a policy's record (owned by the policy, so that it goes with it).
async fn write_shard(
    client: &Client,
    key: &PolicyKey,
    uid: &str,
    shard: u32,
    entries: BTreeMap<String, String>,
) -> Result<(), kube::Error> {
    let (ns, policy) = key;
    let name = ledger::object_name(policy, shard);
    let api: Api<NatsTransportLedger> = Api::namespaced(client.clone(), ns);
    let object = json!({
        "apiVersion": "natsguard.io/v1alpha1",
        "kind": "NatsTransportLedger",
        "metadata": {
            "name": name,
            "ownerReferences": [{
                "apiVersion": "natsguard.io/v1alpha1",
                "kind": "NatsTransportPolicy",
                "name": policy,
                "uid": uid,
            }],
        },
        "spec": { "policy": policy, "policyUid": uid, "shard": shard, "entries": entries },
    });
    api.patch(&name, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(&object)).await?;
    Ok(())
}

use std::future::Future;
