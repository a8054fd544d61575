//! Reconciling one `NatsTransportPolicy`: observe (the cache, and any ConfigMap the cache keeps
//! too little of) → plan (`crate::plan`, pure) → apply (incident writes, each on its own: one
//! that fails never stops the others, and shows as `Degraded`) → publish (the Events go to the
//! announcer) → the status, written only when it changed.

use super::announce::{Item, Outbox, Shared, States};
use super::cache::{Cache, PolicyKey};
use super::metrics::{Metrics, PolicyGauges};
use super::publish;
use super::{Error, FIELD_MANAGER};
use crate::crd::{
    IncidentState, NatsTransportIncident, NatsTransportIncidentSpec, NatsTransportPolicy, NatsTransportPolicyStatus,
    Resolution,
};
use crate::ledger::{self, Record};
use crate::lifecycle::{self, Plan};
use crate::notices::{self, About, Notice, Regarding, Related};
use crate::plan::{self, IncidentStep, Policy, PolicyState};
use crate::report::Override;
use crate::slim::ConfigMapRecord;
use crate::status::{self, Degraded, Evaluation, Inputs, Validity};
use crate::validation;
use futures::StreamExt;
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Patch, PatchParams, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Api, Client, Resource, ResourceExt};
use serde_json::json;
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// Look again at least this often even when nothing changes (belt and braces).
const RESYNC: Duration = Duration::from_secs(600);
/// Retry soon after part of the work failed (an incident write, the record, an Event).
const RETRY_PARTIAL: Duration = Duration::from_secs(10);
/// Shortest time between two status writes of one policy.
const STATUS_EVERY: Duration = Duration::from_secs(1);
/// Longest backoff after a failed reconcile: nothing waits minutes.
const BACKOFF_MAX: Duration = Duration::from_secs(10);

pub struct Context {
    pub client: Client,
    pub cache: Arc<Cache>,
    pub metrics: Arc<Metrics>,
    pub outbox: Outbox,
    pub states: States,
    /// Consecutive failures per policy, for backoff.
    pub failures: Mutex<HashMap<PolicyKey, u32>>,
    /// Only the leader reconciles (docs/configuration.md, "High availability"); standbys only keep their caches warm.
    pub leadership: super::Leadership,
}

pub async fn controller(
    triggers: mpsc::UnboundedReceiver<ObjectRef<NatsTransportPolicy>>,
    ctx: Arc<Context>,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) {
    let triggers = futures::stream::unfold(triggers, |mut rx| async move { rx.recv().await.map(|r| (r, rx)) });
    let none = futures::stream::empty::<Result<NatsTransportPolicy, watcher::Error>>();
    // Deleted policies are never reconciled again, and a replica that stops leading forgets what
    // it held: drop their state and gauges, and the records of deleted policies.
    let housekeeping = tokio::spawn(housekeeping(ctx.clone()));
    Controller::for_stream(none, ctx.cache.policies.clone())
        .reconcile_on(triggers)
        // A new leader reconciles every policy at once, from its warm caches.
        .reconcile_all_on(ctx.leadership.gained())
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, ctx)
        .for_each(|result| {
            if let Err(e) = result {
                tracing::debug!(error = %e, "reconcile trigger failed");
            }
            std::future::ready(())
        })
        .await;
    housekeeping.abort();
}

async fn housekeeping(ctx: Arc<Context>) {
    let mut leadership = Some(ctx.leadership.clone());
    let mut tick = tokio::time::interval(Duration::from_secs(30));
    loop {
        let changed = async {
            match leadership.as_mut() {
                Some(l) => l.changed().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = tick.tick() => {}
            changed = changed => {
                match changed {
                    Some(false) => {
                        if let Ok(mut s) = ctx.states.lock() {
                            s.clear();
                        }
                    }
                    Some(true) => {}
                    // Leadership never changes again (election off): the timer only.
                    None => leadership = None,
                }
                continue;
            }
        }
        let live = |ns: &str, name: &str| ctx.cache.policies.get(&ObjectRef::new(name).within(ns));
        let scope = ctx.cache.namespace.clone();
        ctx.metrics.retain_policies(|ns, name| scope.as_deref().is_some_and(|s| s != ns) || live(ns, name).is_some());
        if let Ok(mut s) = ctx.states.lock() {
            s.retain(|(ns, name), shared| {
                live(ns, name).is_some_and(|p| p.uid().as_deref() == Some(shared.uid.as_str()))
            });
        }
        if ctx.leadership.is_leading() && ctx.cache.synced() {
            prune_ledgers(&ctx).await;
        }
    }
}

/// Delete the records of policies that are gone (a cluster's garbage collector does it through
/// the owner reference; this covers clusters without one, and re-created policies).
async fn prune_ledgers(ctx: &Context) {
    for l in ctx.cache.ledgers.state() {
        let ns = l.namespace().unwrap_or_default();
        let policy = ctx.cache.policies.get(&ObjectRef::new(&l.spec.policy).within(&ns));
        if policy.is_some_and(|p| p.uid().as_deref() == Some(l.spec.policy_uid.as_str())) {
            continue;
        }
        let api: Api<crate::crd::NatsTransportLedger> = Api::namespaced(ctx.client.clone(), &ns);
        match api.delete(&l.name_any(), &Default::default()).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.is_not_found() => {}
            Err(e) => tracing::debug!(ledger = %l.name_any(), error = %e, "cannot delete a stale ledger"),
        }
    }
}

fn key_of(policy: &NatsTransportPolicy) -> PolicyKey {
    (policy.namespace().unwrap_or_default(), policy.name_any())
}

fn error_policy(policy: Arc<NatsTransportPolicy>, error: &Error, ctx: Arc<Context>) -> Action {
    let key = key_of(&policy);
    let failures = ctx
        .failures
        .lock()
        .map(|mut m| {
            let n = m.entry(key.clone()).or_insert(0);
            *n = n.saturating_add(1);
            *n
        })
        .unwrap_or(1);
    let delay = Duration::from_millis(250u64 << failures.min(6)).min(BACKOFF_MAX);
    ctx.metrics.reconcile_failed("policy", error.kind());
    tracing::warn!(policy = %key.1, namespace = %key.0, error = %error, retry_in = ?delay, "reconcile failed");
    Action::requeue(delay)
}

async fn reconcile(policy: Arc<NatsTransportPolicy>, ctx: Arc<Context>) -> Result<Action, Error> {
    if !ctx.leadership.is_leading() {
        return Ok(Action::await_change());
    }
    // Deciding on a partial cache would open duplicate incidents and announce what is recorded.
    if !ctx.cache.synced() {
        return Ok(Action::requeue(Duration::from_millis(250)));
    }
    let started = Instant::now();
    let result = reconcile_policy(&policy, &ctx).await;
    ctx.metrics.reconciled(result.is_ok(), started.elapsed());
    if result.is_ok()
        && let Ok(mut m) = ctx.failures.lock()
    {
        m.remove(&key_of(&policy));
    }
    result
}

/// `now`, to the second: Kubernetes timestamps carry seconds, so anything finer would make
/// every computed status differ from the stored one.
pub(super) fn now() -> Timestamp {
    let now = Timestamp::now();
    Timestamp::from_second(now.as_second()).unwrap_or(now)
}

async fn reconcile_policy(policy: &Arc<NatsTransportPolicy>, ctx: &Context) -> Result<Action, Error> {
    let began = Instant::now();
    let now = now();
    let ns = policy.namespace().ok_or_else(|| Error::NoNamespace(policy.name_any()))?;
    let name = policy.name_any();
    let key = (ns.clone(), name.clone());
    if policy.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let policy_ref = policy.object_ref(&());
    // What the status was computed from last time: this replica's last computation (its write
    // may still be on the way), else what the API server holds.
    let shared = shared_state(ctx, policy);
    let last = shared.last_status();
    let previous = last.as_ref().or(policy.status.as_ref());

    let compiled = match validation::compile(&policy.spec) {
        Ok(c) => c,
        Err(invalid) => {
            tracing::info!(policy = %name, namespace = %ns, problem = %invalid, "policy cannot be used");
            let status = status::compute(&Inputs {
                generation: policy.metadata.generation,
                previous,
                validity: Validity::Invalid(invalid.to_string()),
                evaluation: &Evaluation::default(),
                incidents: &[],
                overrides: &policy.spec.r#override,
                degraded: None,
                now,
            });
            if let Some(n) = notices::policy(previous, &status) {
                let shared = shared.clone();
                ctx.outbox.send(Item { shared, workload: None, notice: n, regarding: policy_ref, related: None });
            }
            shared.desire(status, policy.status.as_ref());
            ctx.metrics.forget_policy(&ns, &name);
            return Ok(Action::await_change());
        }
    };
    if policy.spec.suspend {
        let status = status::compute(&Inputs {
            generation: policy.metadata.generation,
            previous,
            validity: Validity::Suspended,
            evaluation: &Evaluation::default(),
            incidents: &[],
            overrides: &policy.spec.r#override,
            degraded: None,
            now,
        });
        shared.desire(status, policy.status.as_ref());
        return Ok(Action::await_change());
    }

    // Observe: what changed, and the ConfigMaps the cache keeps too few keys of for it.
    let touched = ctx.cache.take_touched(&key);
    let full = touched.all || shared.state.lock().map(|s| s.generation != policy.metadata.generation).unwrap_or(true);
    let names: Vec<String> = touched.names.iter().cloned().collect();
    for cm in ctx.cache.uncovered(&ns, (!full).then_some(names.as_slice())) {
        let api: Api<ConfigMapRecord> = Api::namespaced(ctx.client.clone(), &ns);
        match api.get_opt(&cm).await {
            Ok(Some(record)) => {
                ctx.cache.put_configmap(record);
            }
            Ok(None) => {}
            Err(e) => {
                // Evaluate later rather than on what the cache lacks.
                ctx.cache.touch_again(&key, touched);
                return Err(e.into());
            }
        }
    }

    // Plan, off the async workers (a full pass over many workloads takes a while).
    let open: Vec<Arc<NatsTransportIncident>> = ctx
        .cache
        .incidents
        .state_filter(|i| i.namespace().as_deref() == Some(ns.as_str()) && i.spec.policy == name && plan::is_open(i));
    let planned = {
        let (cache, shared, policy, open, ns) =
            (ctx.cache.clone(), shared.clone(), policy.clone(), open.clone(), ns.clone());
        let compiled = compiled.clone();
        tokio::task::spawn_blocking(move || {
            let view = cache.view(&ns);
            let Ok(mut state) = shared.state.lock() else { return None };
            shared.apply_confirmations(&mut state);
            let p = Policy {
                name: &policy.name_any(),
                uid: &shared.uid,
                generation: policy.metadata.generation,
                spec: &policy.spec,
                compiled: &compiled,
                open: &open,
            };
            Some(plan::plan(&mut state, &p, touched, &view, now))
        })
        .await
        .ok()
        .flatten()
    };
    let Some(planned) = planned else { return Err(Error::Internal("the planner stopped".into())) };
    let planned_at = Instant::now();
    ctx.metrics.evaluated(planned.evaluated as u64);
    if planned.evaluated >= 1000 {
        // A full pass over many workloads leaves its scratch memory free in the allocator.
        super::memory::release_free();
    }

    // Apply: each incident on its own.
    let incidents_api: Api<NatsTransportIncident> = Api::namespaced(ctx.client.clone(), &ns);
    let mut incident_notices: Vec<(Notice, Option<ObjectReference>)> = Vec::new();
    let mut failures: Vec<String> = Vec::new();
    let mut gauges = PolicyGauges::default();
    for step in &planned.incidents {
        match apply_step(&incidents_api, &policy.spec, step, now).await {
            Ok(Some((incident_ref, notices))) => {
                if let Plan::Open { spec, .. } | Plan::Keep { spec, .. } = &step.plan {
                    gauges.deadlines.push((
                        incident_ref.name.clone().unwrap_or_default(),
                        spec.deployment.name.clone(),
                        spec.r#override,
                        spec.rollback_by.0.as_second(),
                    ));
                }
                incident_notices.extend(notices.into_iter().map(|n| (n, Some(incident_ref.clone()))));
            }
            Ok(None) => {}
            Err(e) => {
                ctx.metrics.reconcile_failed("policy", e.kind());
                tracing::warn!(policy = %name, namespace = %ns, deployment = %step.deployment, error = %e, "incident write failed");
                let why = match &e {
                    Error::Kube(k) => super::brief(k),
                    other => other.to_string(),
                };
                failures.push(format!("{} incident for Deployment {}: {why}", step.r#override, step.deployment));
            }
        }
    }
    for o in &planned.open {
        gauges.open += 1;
        if o.state == IncidentState::Overdue {
            gauges.overdue += 1;
        }
    }

    // Publish: every Event decided goes to the announcer, whatever happens to the status write.
    let mut items = Vec::with_capacity(planned.notices.len() + incident_notices.len());
    {
        let view = ctx.cache.view(&ns);
        // A deleted Deployment is pointed at by name.
        let deployment_ref = |d: &str| {
            let uid = plan::World::workload(&view, d).map(|w| w.uid().to_owned());
            publish::reference("apps/v1", "Deployment", &ns, d, uid.as_deref())
        };
        for n in planned.notices {
            let Regarding::Deployment(d) = &n.regarding else { continue };
            let (workload, regarding) = (Some(d.clone()), deployment_ref(d));
            items.push(Item {
                shared: shared.clone(),
                workload,
                regarding,
                related: Some(policy_ref.clone()),
                notice: n,
            });
        }
        for (n, incident_ref) in incident_notices {
            let Regarding::Deployment(d) = &n.regarding else { continue };
            let related = match &n.related {
                Related::Incident(_) => incident_ref,
                Related::Policy => Some(policy_ref.clone()),
                Related::None => None,
            };
            items.push(Item {
                shared: shared.clone(),
                workload: None,
                regarding: deployment_ref(d),
                related,
                notice: n,
            });
        }
    }
    for item in items {
        ctx.outbox.send(item);
    }

    // The status, with what could not be done.
    let problems = shared.problems();
    let mut reasons = Vec::new();
    if !failures.is_empty() {
        reasons.push(("IncidentWriteFailed", format!("cannot write {}", failures.join("; "))));
    }
    if let Some(m) = problems.ledger {
        reasons.push(("RecordWriteFailed", m));
    }
    if let Some(m) = problems.events {
        reasons.push(("EventsNotSent", m));
    }
    let degraded = (!reasons.is_empty()).then(|| Degraded {
        reason: reasons[0].0.to_owned(),
        message: reasons.iter().map(|(_, m)| m.as_str()).collect::<Vec<_>>().join("; "),
    });
    let status = status::compute(&Inputs {
        generation: policy.metadata.generation,
        previous,
        validity: Validity::Valid,
        evaluation: &planned.evaluation,
        incidents: &planned.open,
        overrides: &policy.spec.r#override,
        degraded: degraded.as_ref(),
        now,
    });
    gauges.violations = u64::try_from(status.violations).unwrap_or(0);
    ctx.metrics.set_policy(&ns, &name, gauges);
    // The status writer writes it (or a later one) off this path, so the next change waits for
    // no status write.
    shared.desire(status, policy.status.as_ref());
    tracing::debug!(
        policy = %name,
        evaluated = planned.evaluated,
        plan = ?planned_at.duration_since(began),
        apply = ?planned_at.elapsed(),
        "reconciled"
    );

    let wait = planned
        .wakeup
        .and_then(|t| t.duration_since(now).try_into().ok())
        .map_or(RESYNC, |d: Duration| d.min(RESYNC) + Duration::from_secs(1));
    let wait = if degraded.is_some() { wait.min(RETRY_PARTIAL) } else { wait };
    Ok(Action::requeue(wait))
}

/// This policy's state: kept between reconciles, or (first reconcile, new leader, re-created
/// policy) a new one whose record is loaded from the ledger shards, or seeded from an earlier
/// release's status when the policy has none.
fn shared_state(ctx: &Context, policy: &NatsTransportPolicy) -> Arc<Shared> {
    let key = key_of(policy);
    let uid = policy.uid().unwrap_or_default();
    let Ok(mut states) = ctx.states.lock() else {
        return Arc::new(Shared::new(key, uid, PolicyState::default()));
    };
    if let Some(s) = states.get(&key).filter(|s| s.uid == uid) {
        return s.clone();
    }
    let shards: Vec<Arc<crate::crd::NatsTransportLedger>> = ctx.cache.ledgers.state_filter(|l| {
        l.namespace().as_deref() == Some(key.0.as_str()) && l.spec.policy == key.1 && l.spec.policy_uid == uid
    });
    let record = if shards.is_empty() {
        Record::seeded(ledger::seed(policy.status.as_ref()))
    } else {
        Record::load(shards.iter().flat_map(|l| l.spec.entries.iter()))
    };
    tracing::debug!(policy = %key.1, namespace = %key.0, shards = shards.len(), entries = record.len(), "loaded the announced record");
    let shared = Arc::new(Shared::new(key.clone(), uid, PolicyState { record, ..Default::default() }));
    states.insert(key.clone(), shared.clone());
    let writer = StatusWriter {
        client: ctx.client.clone(),
        cache: ctx.cache.clone(),
        metrics: ctx.metrics.clone(),
        leadership: ctx.leadership.clone(),
        key,
    };
    tokio::spawn(writer.run(shared.statuses()));
    shared
}

/// Writes one policy's status: the latest computed one, when it differs from what the API server
/// holds, one write at a time (a newer status replaces one not written yet). It stops when the
/// policy's state goes (policy deleted, leadership lost).
struct StatusWriter {
    client: Client,
    cache: Arc<Cache>,
    metrics: Arc<Metrics>,
    leadership: super::Leadership,
    key: PolicyKey,
}

impl StatusWriter {
    async fn run(self, mut rx: tokio::sync::watch::Receiver<Option<NatsTransportPolicyStatus>>) {
        let (ns, name) = &self.key;
        let mut failures = 0u32;
        // What this writer wrote last, and the resourceVersion it got: until the cache has seen
        // that version, it is what the API server holds. (etcd revisions are numbers; were one
        // not, the cache is taken as current: at worst one write too many.)
        let mut written: Option<(u64, NatsTransportPolicyStatus)> = None;
        loop {
            if failures == 0 && rx.changed().await.is_err() {
                return;
            }
            let Some(desired) = rx.borrow_and_update().clone() else { continue };
            let cached = self.cache.policies.get(&ObjectRef::new(name).within(ns));
            let cached_version = cached.as_ref().and_then(|p| p.resource_version()).and_then(|v| v.parse::<u64>().ok());
            let current = match &written {
                Some((version, status)) if cached_version.is_none_or(|c| c < *version) => Some(status.clone()),
                _ => cached.and_then(|p| p.status.clone()),
            };
            if current.as_ref() == Some(&desired) || !self.leadership.is_leading() {
                failures = 0;
                continue;
            }
            let api: Api<NatsTransportPolicy> = Api::namespaced(self.client.clone(), ns);
            match write_status(&api, name, &desired).await {
                Ok(version) => {
                    failures = 0;
                    written = version.map(|v| (v, desired));
                    // At most one write a second: under a stream of changes the status follows
                    // within a second, and the API server is spared a large write per change.
                    tokio::time::sleep(STATUS_EVERY).await;
                }
                Err(e) => {
                    failures = failures.saturating_add(1);
                    let delay = Duration::from_millis(250u64 << failures.min(6)).min(BACKOFF_MAX);
                    self.metrics.reconcile_failed("policy", e.kind());
                    tracing::warn!(policy = %name, namespace = %ns, error = %e, retry_in = ?delay, "status write failed");
                    // Retry after the delay, or at once with a newer status.
                    tokio::select! {
                        _ = tokio::time::sleep(delay) => {}
                        changed = rx.changed() => if changed.is_err() { return },
                    }
                    rx.mark_changed();
                }
            }
        }
    }
}

/// Carry out one incident step; on success, the incident's reference and its Events.
async fn apply_step(
    api: &Api<NatsTransportIncident>,
    spec: &crate::crd::NatsTransportPolicySpec,
    step: &IncidentStep,
    now: Timestamp,
) -> Result<Option<(ObjectReference, Vec<Notice>)>, Error> {
    let IncidentStep { deployment: dname, r#override: o, incident, plan, generation } = step;
    let recorded = incident.as_ref().and_then(|i| i.status.as_ref()).map(|s| s.state);
    let variable = lifecycle::variable(&spec.r#override, *o);
    let about = |incident| About { deployment: dname, incident, r#override: *o, variable };
    match plan {
        Plan::Nothing => Ok(None),
        Plan::Open { spec, state } => {
            let (created_incident, created) = open_incident(api, spec, *state, *generation, now).await?;
            let iname = created_incident.name_any();
            // Opened by an earlier reconcile the cache has not caught up with: already announced.
            let notices = if created { notices::incident(&about(&iname), None, plan) } else { Vec::new() };
            Ok(Some((created_incident.object_ref(&()), notices)))
        }
        Plan::Keep { spec, state, overdue_notice } => {
            let Some(incident) = incident else { return Ok(None) };
            let iname = incident.name_any();
            if spec != &incident.spec {
                apply_incident_spec(api, &iname, spec).await?;
            }
            let last_notice = incident.status.as_ref().and_then(|s| s.last_overdue_notice.clone());
            let last_notice = if *overdue_notice { Some(Time(now)) } else { last_notice };
            if recorded != Some(*state) || *overdue_notice {
                let status = json!({ "state": state, "lastOverdueNotice": last_notice });
                apply_incident_status(api, &iname, status).await?;
            }
            Ok(Some((incident.object_ref(&()), notices::incident(&about(&iname), recorded, plan))))
        }
        Plan::Resolve(resolution) => {
            let Some(incident) = incident else { return Ok(None) };
            let iname = incident.name_any();
            resolve_incident(api, &iname, *resolution, now).await?;
            Ok(Some((incident.object_ref(&()), notices::incident(&about(&iname), recorded, plan))))
        }
    }
}

/// Server-side apply the status; the resourceVersion it got, when it is a number.
async fn write_status(
    api: &Api<NatsTransportPolicy>,
    name: &str,
    status: &NatsTransportPolicyStatus,
) -> Result<Option<u64>, Error> {
    let patch = json!({
        "apiVersion": "natsguard.io/v1alpha1",
        "kind": "NatsTransportPolicy",
        "status": status,
    });
    let written = api.patch_status(name, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(&patch)).await?;
    Ok(written.resource_version().and_then(|v| v.parse().ok()))
}

/// Create the incident under a name derived from (policy, Deployment uid, generation,
/// override), so a second reconcile racing the cache cannot open a duplicate: it gets
/// AlreadyExists and the open incident instead (`false`: not created now).
async fn open_incident(
    api: &Api<NatsTransportIncident>,
    spec: &NatsTransportIncidentSpec,
    state: IncidentState,
    generation: u64,
    now: Timestamp,
) -> Result<(NatsTransportIncident, bool), Error> {
    let key = activation_key(spec, generation);
    let base = incident_name(&spec.deployment.name, spec.r#override, &key);
    let mut name = base.clone();
    for attempt in 0..3 {
        let incident = NatsTransportIncident::new(&name, spec.clone());
        match api
            .create(&PostParams { field_manager: Some(FIELD_MANAGER.into()), ..Default::default() }, &incident)
            .await
        {
            Ok(created) => {
                let status = json!({ "state": state });
                apply_incident_status(api, &name, status).await?;
                return Ok((created, true));
            }
            Err(kube::Error::Api(s)) if s.is_already_exists() => {
                let existing = api.get(&name).await?;
                let resolved = existing.status.as_ref().is_some_and(|s| s.state == IncidentState::Resolved);
                let same = existing.spec.deployment.uid == spec.deployment.uid
                    && existing.spec.policy == spec.policy
                    && existing.spec.r#override == spec.r#override;
                if !resolved && same {
                    return Ok((existing, false));
                }
                // The same activation key was used by an incident that is over: a new one.
                let retry = format!("{base}/{}/{attempt}", now.as_second());
                name = incident_name(&spec.deployment.name, spec.r#override, &retry);
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(Error::IncidentName(spec.deployment.name.clone()))
}

/// What identifies one activation: `<policy>/<uid>/<generation>` for the plaintext override
/// (exactly what releases before the no-auth override used, so an upgraded operator racing its
/// cache still collides with, and keeps, an incident the previous release opened), with
/// `/NoAuth` appended for the no-auth override.
fn activation_key(spec: &NatsTransportIncidentSpec, generation: u64) -> String {
    let key = format!("{}/{}/{generation}", spec.policy, spec.deployment.uid);
    match spec.r#override {
        Override::Plaintext => key,
        Override::NoAuth => format!("{key}/NoAuth"),
    }
}

/// `<deployment>-<8 hex>` for the plaintext override (as before the no-auth override existed),
/// `<deployment>-noauth-<8 hex>` for the no-auth one: the two kinds never share a name, and
/// `kubectl get nti` tells them apart at a glance. Within the 253-character name limit.
fn incident_name(deployment: &str, o: Override, key: &str) -> String {
    // FNV-1a: stable across builds, unlike the std hasher.
    let mut h: u32 = 0x811c_9dc5;
    for b in key.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    let infix = match o {
        Override::Plaintext => "",
        Override::NoAuth => "-noauth",
    };
    let stem: String = deployment.chars().take(240 - infix.len()).collect();
    format!("{}{infix}-{h:08x}", stem.trim_end_matches(['-', '.']))
}

async fn apply_incident_spec(
    api: &Api<NatsTransportIncident>,
    name: &str,
    spec: &NatsTransportIncidentSpec,
) -> Result<(), Error> {
    let patch = json!({ "apiVersion": "natsguard.io/v1alpha1", "kind": "NatsTransportIncident", "spec": spec });
    api.patch(name, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(&patch)).await?;
    Ok(())
}

async fn apply_incident_status(
    api: &Api<NatsTransportIncident>,
    name: &str,
    mut status: serde_json::Value,
) -> Result<(), Error> {
    if let Some(map) = status.as_object_mut() {
        map.retain(|_, v| !v.is_null());
    }
    let patch = json!({ "apiVersion": "natsguard.io/v1alpha1", "kind": "NatsTransportIncident", "status": status });
    api.patch_status(name, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(&patch)).await?;
    Ok(())
}

pub(super) async fn resolve_incident(
    api: &Api<NatsTransportIncident>,
    name: &str,
    resolution: Resolution,
    now: Timestamp,
) -> Result<(), Error> {
    let status = json!({ "state": IncidentState::Resolved, "resolvedAt": Time(now), "resolution": resolution });
    apply_incident_status(api, name, status).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::DeploymentRef;

    fn spec(deployment: &str, o: Override) -> NatsTransportIncidentSpec {
        NatsTransportIncidentSpec {
            r#override: o,
            policy: "nats".into(),
            deployment: DeploymentRef { name: deployment.into(), uid: "0b5e-uid".into() },
            containers: vec![],
            owner: None,
            reason: None,
            started_at: Time(Timestamp::UNIX_EPOCH),
            rollback_by: Time(Timestamp::UNIX_EPOCH),
        }
    }

    fn name(deployment: &str, o: Override, generation: u64) -> String {
        let s = spec(deployment, o);
        incident_name(&s.deployment.name, o, &activation_key(&s, generation))
    }

    #[test]
    fn plaintext_names_are_what_the_previous_release_chose_and_noauth_names_never_collide() {
        // Golden values: the previous release named this incident api-8217ac63.
        assert_eq!(name("api", Override::Plaintext, 3), "api-8217ac63");
        assert_eq!(name("api", Override::NoAuth, 3), "api-noauth-f81e8cbd");
        // Another generation is another activation.
        assert_ne!(name("api", Override::Plaintext, 4), name("api", Override::Plaintext, 3));
        // A Deployment whose own name ends in -noauth still cannot take the other kind's name.
        assert!(!name("api-noauth", Override::Plaintext, 3).starts_with("api-noauth-f81e8cbd"));
    }

    #[test]
    fn names_stay_within_the_limit_and_valid() {
        let long = "d".repeat(253);
        for o in Override::ALL {
            let n = name(&long, o, 1);
            assert!(n.len() <= 253, "{o}: {} characters", n.len());
            assert!(n.ends_with(|c: char| c.is_ascii_hexdigit()));
        }
        // A stem cut at a dash or dot does not leave one next to the suffix.
        let dotted = format!("{}.-x", "a".repeat(238));
        let n = name(&dotted, Override::Plaintext, 1);
        assert!(!n.contains(".-") && !n.contains("--"), "{n}");
    }
}
