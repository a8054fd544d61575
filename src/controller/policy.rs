//! Reconciling one `NatsTransportPolicy`: read the caches, call the pure core (evaluate,
//! plan incidents, compute status, decide Events), then write only what changed.

use super::Error;
use super::metrics::{Metrics, PolicyGauges};
use super::publish::{self, Refs};
use super::watch::{Scope, Stores};
use crate::crd::{
    IncidentState, NatsTransportIncident, NatsTransportIncidentSpec, NatsTransportPolicy, NatsTransportPolicyStatus,
    Resolution,
};
use crate::env::{ConfigMapLookup, Lookup};
use crate::evaluate::{EvalContext, WorkloadInput, WorkloadReport, evaluate_workload};
use crate::lifecycle::{self, Observation, Plan, Target};
use crate::notices::{self, About, Notice};
use crate::report::Override;
use crate::status::{self, Inputs, OpenIncident, Validity};
use crate::validation;
use crate::workload::PodEnv;
use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Patch, PatchParams, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::Recorder;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Api, Client, Resource, ResourceExt};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The manager name on everything natsguard writes with server-side apply.
pub const FIELD_MANAGER: &str = "natsguard";
/// Re-evaluate at least this often even when nothing changes (belt and braces).
const RESYNC: Duration = Duration::from_secs(600);

pub struct Context {
    pub client: Client,
    pub stores: Stores,
    pub recorder: Recorder,
    pub metrics: Arc<Metrics>,
    /// Consecutive failures per policy, for backoff.
    pub failures: Mutex<HashMap<String, u32>>,
    /// Set once every cache of the scope has its initial list. Deciding on a partial cache
    /// would open duplicate incidents and re-announce recorded findings after a restart.
    pub synced: Arc<AtomicBool>,
    /// Only the leader reconciles (SPEC section 8); standbys only keep their caches warm.
    pub leadership: super::Leadership,
}

pub async fn controller(scope: Scope, ctx: Arc<Context>, shutdown: impl Future<Output = ()> + Send + Sync + 'static) {
    let ctl = Controller::for_stream(scope.policy_triggers, scope.stores.policies.clone())
        // A new leader reconciles every policy at once, from its warm caches.
        .reconcile_all_on(ctx.leadership.gained());
    let policies = ctl.store();
    // Deleted policies are never reconciled again: drop their gauges from time to time.
    let (known, metrics, scope_ns) = (policies.clone(), ctx.metrics.clone(), scope.namespace.clone());
    let sweeper = tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(30)).await;
            metrics.retain_policies(|ns, name| {
                scope_ns.as_deref().is_some_and(|s| s != ns) || known.get(&ObjectRef::new(name).within(ns)).is_some()
            });
        }
    });
    let (by_deployment, by_configmap) = (policies.clone(), policies.clone());
    let deployments = ctx.stores.deployments.clone();
    ctl.watches_stream(scope.deployments, move |d: Deployment| policies_in(&by_deployment, d.namespace()))
        .watches_stream(scope.configmaps, move |cm: ConfigMap| {
            let ns = cm.namespace();
            let name = cm.name_any();
            if ns.as_deref().is_some_and(|ns| referenced(&deployments, ns, &name)) {
                policies_in(&by_configmap, ns)
            } else {
                Vec::new()
            }
        })
        .watches_stream(scope.incidents, |i: NatsTransportIncident| {
            let ns = i.namespace().unwrap_or_default();
            Some(ObjectRef::new(&i.spec.policy).within(&ns))
        })
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, ctx)
        .for_each(|result| {
            if let Err(e) = result {
                tracing::debug!(error = %e, "reconcile trigger failed");
            }
            std::future::ready(())
        })
        .await;
    sweeper.abort();
}

fn policies_in(policies: &Store<NatsTransportPolicy>, ns: Option<String>) -> Vec<ObjectRef<NatsTransportPolicy>> {
    let Some(ns) = ns else { return Vec::new() };
    policies
        .state()
        .iter()
        .filter(|p| p.namespace().as_deref() == Some(ns.as_str()))
        .map(|p| ObjectRef::from_obj(p.as_ref()))
        .collect()
}

/// Whether any Deployment in `ns` reads ConfigMap `name` (so its change matters).
fn referenced(deployments: &Store<Deployment>, ns: &str, name: &str) -> bool {
    deployments
        .find(|d| {
            d.namespace().as_deref() == Some(ns)
                && pod_spec(d).is_some_and(|p| {
                    p.containers.iter().chain(p.init_containers.iter().flatten()).any(|c| {
                        c.env_from.iter().flatten().any(|f| f.config_map_ref.as_ref().is_some_and(|r| r.name == name))
                            || c.env.iter().flatten().any(|e| {
                                e.value_from
                                    .as_ref()
                                    .and_then(|v| v.config_map_key_ref.as_ref())
                                    .is_some_and(|r| r.name == name)
                            })
                    })
                })
        })
        .is_some()
}

fn pod_spec(d: &Deployment) -> Option<&k8s_openapi::api::core::v1::PodSpec> {
    d.spec.as_ref()?.template.spec.as_ref()
}

fn error_policy(policy: Arc<NatsTransportPolicy>, error: &Error, ctx: Arc<Context>) -> Action {
    let key = format!("{}/{}", policy.namespace().unwrap_or_default(), policy.name_any());
    let failures = ctx
        .failures
        .lock()
        .map(|mut m| {
            let n = m.entry(key.clone()).or_insert(0);
            *n = n.saturating_add(1);
            *n
        })
        .unwrap_or(1);
    let delay = Duration::from_secs((1u64 << failures.min(8)).min(300));
    ctx.metrics.reconcile_failed("policy", error.kind());
    tracing::warn!(policy = %key, error = %error, retry_in = ?delay, "reconcile failed");
    Action::requeue(delay)
}

async fn reconcile(policy: Arc<NatsTransportPolicy>, ctx: Arc<Context>) -> Result<Action, Error> {
    if !ctx.leadership.is_leading() {
        return Ok(Action::await_change());
    }
    if !ctx.synced.load(Ordering::Acquire) {
        return Ok(Action::requeue(Duration::from_millis(250)));
    }
    let started = Instant::now();
    let result = reconcile_policy(&policy, &ctx).await;
    ctx.metrics.reconciled(result.is_ok(), started.elapsed());
    if result.is_ok()
        && let Ok(mut m) = ctx.failures.lock()
    {
        m.remove(&format!("{}/{}", policy.namespace().unwrap_or_default(), policy.name_any()));
    }
    result
}

/// `now`, to the second: Kubernetes timestamps carry seconds, so anything finer would make
/// every computed status differ from the stored one.
pub(super) fn now() -> Timestamp {
    let now = Timestamp::now();
    Timestamp::from_second(now.as_second()).unwrap_or(now)
}

async fn reconcile_policy(policy: &NatsTransportPolicy, ctx: &Context) -> Result<Action, Error> {
    let now = now();
    let ns = policy.namespace().ok_or_else(|| Error::NoNamespace(policy.name_any()))?;
    let name = policy.name_any();
    if policy.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let previous = policy.status.as_ref();
    let policy_ref = policy.object_ref(&());
    let no_deployment = |_: &str| None;
    let no_incident = |_: &str| None;
    let policy_only = Refs { policy: &policy_ref, deployment: &no_deployment, incident: &no_incident };

    let compiled = match validation::compile(&policy.spec) {
        Ok(c) => c,
        Err(invalid) => {
            tracing::info!(policy = %name, namespace = %ns, problem = %invalid, "policy cannot be used");
            let status = status::compute(&Inputs {
                generation: policy.metadata.generation,
                previous,
                validity: Validity::Invalid(invalid.to_string()),
                workloads: &[],
                incidents: &[],
                overrides: &policy.spec.r#override,
                now,
            });
            let notice = notices::policy(previous, &status);
            write_status(ctx, &ns, &name, previous, &status).await?;
            publish::notices(&ctx.recorder, &policy_only, notice.into_iter().collect()).await;
            ctx.metrics.forget_policy(&ns, &name);
            return Ok(Action::await_change());
        }
    };
    if policy.spec.suspend {
        let status = status::compute(&Inputs {
            generation: policy.metadata.generation,
            previous,
            validity: Validity::Suspended,
            workloads: &[],
            incidents: &[],
            overrides: &policy.spec.r#override,
            now,
        });
        write_status(ctx, &ns, &name, previous, &status).await?;
        return Ok(Action::await_change());
    }

    let mut selected: Vec<Arc<Deployment>> = ctx.stores.deployments.state_filter(|d| {
        d.namespace().as_deref() == Some(ns.as_str())
            && d.metadata.deletion_timestamp.is_none()
            && compiled.selects(d.labels())
    });
    selected.sort_by_key(|d| d.name_any());
    let open: Vec<Arc<NatsTransportIncident>> = ctx.stores.incidents.state_filter(|i| {
        i.namespace().as_deref() == Some(ns.as_str())
            && i.spec.policy == name
            && i.status.as_ref().is_none_or(|s| s.state != IncidentState::Resolved)
    });
    let configmaps = NamespaceConfigMaps::snapshot(&ctx.stores.configmaps, &ns);
    let empty = BTreeMap::new();

    // Evaluate every selected Deployment and plan its incidents, one per override.
    let mut workloads: Vec<(String, WorkloadReport)> = Vec::with_capacity(selected.len());
    let mut plans: Vec<Planned> = Vec::new();
    for d in &selected {
        let (dname, uid) = (d.name_any(), d.uid().unwrap_or_default());
        // An incident written before `spec.override` existed reads as Plaintext (serde default).
        let incidents = Override::ALL
            .map(|o| open.iter().find(|i| i.spec.deployment.uid == uid && i.spec.r#override == o).cloned());
        let annotations = d.metadata.annotations.as_ref().unwrap_or(&empty);
        let pod = pod_spec(d).map(PodEnv::from).unwrap_or_default();
        let input = WorkloadInput { namespace: &ns, name: &dname, annotations, pod: &pod };
        let mut eval_ctx = EvalContext::at(now);
        for (o, incident) in Override::ALL.into_iter().zip(&incidents) {
            eval_ctx.deadlines.set(o, incident.as_ref().map(|i| i.spec.rollback_by.0));
        }
        let report = evaluate_workload(&policy.spec, &input, &configmaps, &eval_ctx);
        let observation = Observation::Evaluated { report: &report, annotations };
        for (o, incident) in Override::ALL.into_iter().zip(incidents) {
            let target = Target { policy: &name, deployment: &dname, uid: &uid, r#override: o };
            let plan = lifecycle::plan(target, &observation, incident.as_deref(), compiled.timing, now);
            let generation = d.metadata.generation.unwrap_or(0) as u64;
            plans.push(Planned { deployment: dname.clone(), r#override: o, incident, plan, generation });
        }
        workloads.push((dname, report));
    }
    // Open incidents whose Deployment is no longer selected.
    let selected_uids: BTreeSet<String> = selected.iter().filter_map(|d| d.uid()).collect();
    for incident in open.iter().filter(|i| !selected_uids.contains(&i.spec.deployment.uid)) {
        let uid = &incident.spec.deployment.uid;
        let exists = ctx.stores.deployments.find(|d| d.uid().as_deref() == Some(uid.as_str())).is_some();
        let observation = if exists { Observation::OutOfScope } else { Observation::Deleted };
        let o = incident.spec.r#override;
        let target = Target { policy: &name, deployment: &incident.spec.deployment.name, uid, r#override: o };
        let plan = lifecycle::plan(target, &observation, Some(incident), compiled.timing, now);
        plans.push(Planned {
            deployment: incident.spec.deployment.name.clone(),
            r#override: o,
            incident: Some(incident.clone()),
            plan,
            generation: 0,
        });
    }

    // Carry the plans out.
    let incidents_api: Api<NatsTransportIncident> = Api::namespaced(ctx.client.clone(), &ns);
    let mut open_after = Vec::new();
    let mut pending: Vec<Notice> = Vec::new();
    let mut incident_refs: HashMap<String, ObjectReference> =
        open.iter().map(|i| (i.name_any(), i.object_ref(&()))).collect();
    let mut wakeups = Vec::new();
    let mut gauges = PolicyGauges::default();
    for Planned { deployment: dname, r#override: o, incident, plan, generation } in &plans {
        let recorded = incident.as_ref().and_then(|i| i.status.as_ref()).map(|s| s.state);
        let variable = lifecycle::variable(&policy.spec.r#override, *o);
        let about = |incident| About { deployment: dname, incident, r#override: *o, variable };
        match plan {
            Plan::Nothing => {}
            Plan::Open { spec, state } => {
                let (incident, created) = open_incident(&incidents_api, spec, *state, *generation, now).await?;
                let iname = incident.name_any();
                incident_refs.insert(iname.clone(), incident.object_ref(&()));
                // Opened by an earlier reconcile the cache has not caught up with: already announced.
                if created {
                    pending.extend(notices::incident(&about(&iname), None, plan));
                }
                track(&mut open_after, &mut wakeups, &mut gauges, &iname, spec, *state, None, compiled.timing, now);
            }
            Plan::Keep { spec, state, overdue_notice } => {
                let Some(incident) = incident else { continue };
                let iname = incident.name_any();
                if spec != &incident.spec {
                    apply_incident_spec(&incidents_api, &iname, spec).await?;
                }
                let last_notice = incident.status.as_ref().and_then(|s| s.last_overdue_notice.clone());
                let last_notice = if *overdue_notice { Some(Time(now)) } else { last_notice };
                if recorded != Some(*state) || *overdue_notice {
                    let status = json!({ "state": state, "lastOverdueNotice": last_notice });
                    apply_incident_status(&incidents_api, &iname, status).await?;
                }
                pending.extend(notices::incident(&about(&iname), recorded, plan));
                let last = last_notice.map(|t| t.0);
                track(&mut open_after, &mut wakeups, &mut gauges, &iname, spec, *state, last, compiled.timing, now);
            }
            Plan::Resolve(resolution) => {
                let Some(incident) = incident else { continue };
                let iname = incident.name_any();
                resolve_incident(&incidents_api, &iname, *resolution, now).await?;
                pending.extend(notices::incident(&about(&iname), recorded, plan));
            }
        }
    }

    let status = status::compute(&Inputs {
        generation: policy.metadata.generation,
        previous,
        validity: Validity::Valid,
        workloads: &workloads,
        incidents: &open_after,
        overrides: &policy.spec.r#override,
        now,
    });
    let names: BTreeSet<&str> = workloads.iter().map(|(n, _)| n.as_str()).collect();
    let mut all = notices::findings(previous, &status, &names);
    all.extend(pending);
    write_status(ctx, &ns, &name, previous, &status).await?;

    let deployments: HashMap<String, ObjectReference> =
        selected.iter().map(|d| (d.name_any(), d.object_ref(&()))).collect();
    // A deleted Deployment is pointed at by name; the incident carries its uid.
    let by_name = |n: &str| {
        Some(deployments.get(n).cloned().unwrap_or_else(|| publish::reference("apps/v1", "Deployment", &ns, n, None)))
    };
    let incident_ref = |n: &str| incident_refs.get(n).cloned();
    publish::notices(&ctx.recorder, &Refs { policy: &policy_ref, deployment: &by_name, incident: &incident_ref }, all)
        .await;

    gauges.violations = u64::try_from(status.violations).unwrap_or(0);
    ctx.metrics.set_policy(&ns, &name, gauges);
    let next = wakeups.into_iter().flatten().min();
    let wait = next
        .and_then(|t| t.duration_since(now).try_into().ok())
        .map_or(RESYNC, |d: Duration| d.min(RESYNC) + Duration::from_secs(1));
    Ok(Action::requeue(wait))
}

/// The plan for one incident (one override on one Deployment), with what carrying it out needs.
struct Planned {
    deployment: String,
    r#override: Override,
    /// The open incident of that override, if any.
    incident: Option<Arc<NatsTransportIncident>>,
    plan: Plan,
    /// The Deployment's generation (part of a new incident's name).
    generation: u64,
}

#[allow(clippy::too_many_arguments)]
fn track(
    open_after: &mut Vec<OpenIncident>,
    wakeups: &mut Vec<Option<Timestamp>>,
    gauges: &mut PolicyGauges,
    incident: &str,
    spec: &NatsTransportIncidentSpec,
    state: IncidentState,
    last_overdue_notice: Option<Timestamp>,
    timing: lifecycle::Timing,
    now: Timestamp,
) {
    open_after.push(OpenIncident {
        deployment: spec.deployment.name.clone(),
        r#override: spec.r#override,
        state,
        rollback_by: spec.rollback_by.0,
    });
    wakeups.push(lifecycle::next_wakeup(spec.rollback_by.0, timing.warn_before, last_overdue_notice, now));
    gauges.open += 1;
    if state == IncidentState::Overdue {
        gauges.overdue += 1;
    }
    gauges.deadlines.push((
        incident.to_owned(),
        spec.deployment.name.clone(),
        spec.r#override,
        spec.rollback_by.0.as_second(),
    ));
}

/// Server-side apply the status, only when it differs from what is stored.
async fn write_status(
    ctx: &Context,
    ns: &str,
    name: &str,
    previous: Option<&NatsTransportPolicyStatus>,
    status: &NatsTransportPolicyStatus,
) -> Result<(), Error> {
    if previous == Some(status) {
        return Ok(());
    }
    let api: Api<NatsTransportPolicy> = Api::namespaced(ctx.client.clone(), ns);
    let patch = json!({
        "apiVersion": "natsguard.io/v1alpha1",
        "kind": "NatsTransportPolicy",
        "status": status,
    });
    api.patch_status(name, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(&patch)).await?;
    Ok(())
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

/// The ConfigMaps of one namespace, snapshotted from the cache for one reconciliation.
/// Once the cache has synced, a ConfigMap it lacks does not exist.
struct NamespaceConfigMaps {
    namespace: String,
    maps: HashMap<String, Arc<ConfigMap>>,
    empty: BTreeMap<String, String>,
}

impl NamespaceConfigMaps {
    fn snapshot(store: &Store<ConfigMap>, namespace: &str) -> Self {
        let maps = store
            .state_filter(|cm| cm.namespace().as_deref() == Some(namespace))
            .into_iter()
            .map(|cm| (cm.name_any(), cm))
            .collect();
        Self { namespace: namespace.to_owned(), maps, empty: BTreeMap::new() }
    }
}

impl ConfigMapLookup for NamespaceConfigMaps {
    fn lookup(&self, namespace: &str, name: &str) -> Lookup<'_> {
        if namespace != self.namespace {
            return Lookup::Unknown;
        }
        match self.maps.get(name) {
            Some(cm) => Lookup::Found(cm.data.as_ref().unwrap_or(&self.empty)),
            None => Lookup::Absent,
        }
    }
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
