//! One reconcile of one policy, planned without I/O: observe (the controller's caches, through
//! [`World`]) → plan (this module) → apply (incident writes, the status) → publish (Events).
//!
//! Only the workloads a change touched are looked at ([`PolicyState::touch`]): each is evaluated
//! unless its fingerprint says nothing it reads changed, its entry in the index is replaced, its
//! Events are decided against the announced record, and its incidents are planned. Open incidents
//! are planned every time (their state moves with the clock). The status is assembled from the
//! index (docs/configuration.md, "How the operator scales").

use crate::crd::policy::NatsTransportPolicySpec;
use crate::crd::{IncidentState, NatsTransportIncident};
use crate::env::ConfigMapLookup;
use crate::evaluate::{EvalContext, WorkloadInput, evaluate_workload};
use crate::index::{Entry, PolicyIndex};
use crate::ledger::Record;
use crate::lifecycle::{self, Observation, Plan, Target, Timing};
use crate::notices::{self, Notice};
use crate::report::{Override, WorkloadReport};
use crate::slim::SlimWorkload;
use crate::status::{Evaluation, OpenIncident};
use crate::validation::Compiled;
use k8s_openapi::jiff::Timestamp;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;

/// What the planner reads of the cluster: the caches of the policy's namespace.
pub trait World {
    /// Every Deployment in the namespace (for a full pass).
    fn names(&self) -> Vec<String>;
    /// The Deployment `name`, if it exists.
    fn workload(&self, name: &str) -> Option<Arc<SlimWorkload>>;
    /// ConfigMaps as evaluation reads them.
    fn configmaps(&self) -> &dyn ConfigMapLookup;
    /// Since when this replica has seen `w`, the ConfigMap values it reads and `policy`'s
    /// generation as they are now: what `w` is judged to be has held at least since then (an
    /// override in use since then was first observed then, led or not).
    fn observed_since(&self, w: &SlimWorkload, policy: &str) -> Option<Timestamp>;
    /// Feeds the values of the ConfigMap keys `w` can reach into `h` (for its fingerprint).
    fn hash_configmaps(&self, w: &SlimWorkload, h: &mut DefaultHasher);
}

/// Which workloads to look at next.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Touched {
    /// Every workload (a new policy, a new spec, a new leader).
    pub all: bool,
    pub names: BTreeSet<String>,
}

impl Touched {
    pub fn everything() -> Self {
        Self { all: true, names: BTreeSet::new() }
    }

    pub fn is_empty(&self) -> bool {
        !self.all && self.names.is_empty()
    }

    pub fn merge(&mut self, other: Touched) {
        self.all |= other.all;
        if !self.all {
            self.names.extend(other.names);
        } else {
            self.names.clear();
        }
    }
}

/// One policy's state between reconciles, held by the leader only.
#[derive(Clone, Debug, Default)]
pub struct PolicyState {
    pub index: PolicyIndex,
    pub record: Record,
    /// The policy's generation the index was built for (another one re-evaluates everything).
    pub generation: Option<i64>,
}

/// The policy being reconciled.
pub struct Policy<'a> {
    pub name: &'a str,
    /// Its uid (a policy created again under the same name names its Events anew).
    pub uid: &'a str,
    pub generation: Option<i64>,
    pub spec: &'a NatsTransportPolicySpec,
    pub compiled: &'a Compiled,
    /// Its incidents that are not resolved.
    pub open: &'a [Arc<NatsTransportIncident>],
}

/// What to do about one incident.
#[derive(Clone, Debug, PartialEq)]
pub struct IncidentStep {
    pub deployment: String,
    pub r#override: Override,
    /// The open incident, if any.
    pub incident: Option<Arc<NatsTransportIncident>>,
    pub plan: Plan,
    /// The Deployment's generation (part of a new incident's name).
    pub generation: u64,
}

/// The outcome of planning: what apply and publish carry out.
#[derive(Clone, Debug, Default)]
pub struct Planned {
    pub incidents: Vec<IncidentStep>,
    /// Finding Events (and `DriftResolved`), regarding a Deployment; each is one of the Events the
    /// record waits for ([`Record::sent`]).
    pub notices: Vec<Notice>,
    /// The incidents open once the steps are carried out.
    pub open: Vec<OpenIncident>,
    pub evaluation: Evaluation,
    /// When to look again even if nothing changes.
    pub wakeup: Option<Timestamp>,
    /// How many workloads were evaluated (the rest were unchanged).
    pub evaluated: usize,
}

/// Plan one reconcile of `policy` for the workloads in `touched`.
pub fn plan(
    state: &mut PolicyState,
    policy: &Policy<'_>,
    mut touched: Touched,
    world: &dyn World,
    now: Timestamp,
) -> Planned {
    if state.generation != policy.generation {
        touched = Touched::everything();
        state.generation = policy.generation;
    }
    // Workloads that must be evaluated whatever their fingerprint (their findings move with time).
    let forced: BTreeSet<String> = state.index.due(now).into_iter().collect();
    let mut names: BTreeSet<String> = touched.names;
    if touched.all {
        names.extend(world.names());
        names.extend(state.index.names().cloned());
        names.extend(state.record.workloads().cloned());
    }
    names.extend(forced.iter().cloned());

    // The policy's open incidents, by (uid, override).
    let by_target: HashMap<(&str, Override), &Arc<NatsTransportIncident>> =
        policy.open.iter().map(|i| ((i.spec.deployment.uid.as_str(), i.spec.r#override), i)).collect();

    let mut out = Planned::default();
    let mut planned: BTreeSet<(String, Override)> = BTreeSet::new();
    for name in &names {
        let selected = world.workload(name).filter(|w| !w.meta.deleting && policy.compiled.selects(&w.labels()));
        let Some(w) = selected else {
            // Gone or out of scope: out of the index and the record, no Event; its incidents are
            // resolved below. The count of announced transitions stays while the Deployment
            // exists (back in scope, its next Events get new names).
            state.index.remove(name);
            if world.workload(name).is_none() {
                state.record.forget(name);
            } else if state.record.get(name).is_some() {
                state.record.decide(name, None, 0);
            }
            continue;
        };
        let incidents = Override::ALL.map(|o| by_target.get(&(w.uid(), o)).map(|i| (*i).clone()));
        let ctx = eval_context(&incidents, now);
        let fingerprint = fingerprint(&w, &ctx, policy.generation, world);
        // Unchanged inputs: the indexed verdict stands, unless the record lacks what it says
        // (then the whole report is needed, for the Events' messages).
        let known = state
            .index
            .get(name)
            .filter(|e| e.fingerprint == fingerprint && e.uid == w.uid() && !forced.contains(name))
            .map(|e| e.summary.report())
            .filter(|r| state.record.get(name) == crate::ledger::Entry::of(r).as_ref());
        let report = match known {
            Some(summary) => summary,
            None => {
                out.evaluated += 1;
                let report = evaluate(policy, &w, &ctx, world);
                state.index.set_timer(name, next_change(&report, w.annotations(), &ctx, now));
                let entry = Entry::new(w.uid().to_owned(), w.generation(), fingerprint, &report);
                state.index.insert(name, entry, report.clone());
                report
            }
        };
        let (entry, mut notices) = notices::workload(name, state.record.get(name), &report);
        let seq = state.record.decide(name, entry, notices.len() as u32).to_string();
        for n in &mut notices {
            n.key = Some(notices::announcement_key(&[policy.uid, w.uid(), &seq, &n.reason]));
        }
        out.notices.extend(notices);

        let since = world.observed_since(&w, policy.name);
        let observation = Observation::Evaluated { report: &report, annotations: w.annotations(), since };
        let generation = w.generation();
        for (o, incident) in Override::ALL.into_iter().zip(incidents) {
            let target = Target { policy: policy.name, deployment: name, uid: w.uid(), r#override: o };
            let plan = lifecycle::plan(target, &observation, incident.as_deref(), policy.compiled.timing, now);
            planned.insert((w.uid().to_owned(), o));
            out.incidents.push(IncidentStep { deployment: name.clone(), r#override: o, incident, plan, generation });
        }
    }

    // Overrides in use whose workload did not change: their incident is planned every time
    // round, so one that could not be opened is tried again (and the status counts it).
    let overriding: Vec<String> = state.index.overriding().cloned().collect();
    for name in overriding {
        let (Some(e), Some(w)) = (state.index.get(&name), world.workload(&name)) else { continue };
        if e.uid != w.uid() {
            continue;
        }
        let report = e.summary.report();
        let since = world.observed_since(&w, policy.name);
        let observation = Observation::Evaluated { report: &report, annotations: w.annotations(), since };
        for o in Override::ALL {
            if planned.contains(&(e.uid.clone(), o)) || by_target.contains_key(&(e.uid.as_str(), o)) {
                continue;
            }
            if !report.override_active(o) {
                continue;
            }
            let target = Target { policy: policy.name, deployment: &name, uid: &e.uid, r#override: o };
            let plan = lifecycle::plan(target, &observation, None, policy.compiled.timing, now);
            planned.insert((e.uid.clone(), o));
            out.incidents.push(IncidentStep {
                deployment: name.clone(),
                r#override: o,
                incident: None,
                plan,
                generation: w.generation(),
            });
        }
    }

    // Open incidents not planned above: their workload did not change (its indexed report
    // stands), or it is gone or out of scope.
    for incident in policy.open {
        let (uid, o) = (incident.spec.deployment.uid.as_str(), incident.spec.r#override);
        if planned.contains(&(uid.to_owned(), o)) {
            continue;
        }
        let dname = &incident.spec.deployment.name;
        let current = world.workload(dname).filter(|w| w.uid() == uid);
        let indexed = state.index.get(dname).filter(|e| e.uid == uid);
        let target = Target { policy: policy.name, deployment: dname, uid, r#override: o };
        let timing: Timing = policy.compiled.timing;
        let plan = match (&current, indexed) {
            (Some(w), Some(e)) => {
                let report = e.summary.report();
                let observation = Observation::Evaluated { report: &report, annotations: w.annotations(), since: None };
                lifecycle::plan(target, &observation, Some(incident), timing, now)
            }
            (Some(_), None) => lifecycle::plan(target, &Observation::OutOfScope, Some(incident), timing, now),
            (None, _) => lifecycle::plan(target, &Observation::Deleted, Some(incident), timing, now),
        };
        out.incidents.push(IncidentStep {
            deployment: dname.clone(),
            r#override: o,
            incident: Some(incident.clone()),
            plan,
            generation: 0,
        });
    }

    let mut wakeups: Vec<Timestamp> = state.index.next_timer().into_iter().collect();
    for step in &out.incidents {
        let (spec, state_now, last_notice) = match &step.plan {
            Plan::Open { spec, state } => (spec, *state, None),
            Plan::Keep { spec, state, overdue_notice } => {
                let recorded = step.incident.as_ref().and_then(|i| i.status.as_ref());
                let last = if *overdue_notice {
                    Some(now)
                } else {
                    recorded.and_then(|s| s.last_overdue_notice.as_ref()).map(|t| t.0)
                };
                (spec, *state, last)
            }
            Plan::Nothing | Plan::Resolve(_) => continue,
        };
        out.open.push(OpenIncident {
            deployment: spec.deployment.name.clone(),
            r#override: spec.r#override,
            state: state_now,
            rollback_by: spec.rollback_by.0,
        });
        wakeups.extend(lifecycle::next_wakeup(
            spec.rollback_by.0,
            policy.compiled.timing.warn_before,
            last_notice,
            now,
        ));
    }
    out.wakeup = wakeups.into_iter().min();
    // The listed Deployments whose whole report the index no longer holds: evaluated again.
    for name in state.index.window() {
        let Some(w) = world.workload(&name) else { continue };
        let incidents = Override::ALL.map(|o| by_target.get(&(w.uid(), o)).map(|i| (*i).clone()));
        let report = evaluate(policy, &w, &eval_context(&incidents, now), world);
        out.evaluated += 1;
        state.index.fill(&name, report);
    }
    out.evaluation = state.index.evaluation();
    out
}

/// What evaluation knows beyond the manifest: `now` and the open incidents' deadlines.
fn eval_context(incidents: &[Option<Arc<NatsTransportIncident>>; 2], now: Timestamp) -> EvalContext {
    let mut ctx = EvalContext::at(now);
    for (o, i) in Override::ALL.into_iter().zip(incidents) {
        ctx.deadlines.set(o, i.as_ref().map(|i| i.spec.rollback_by.0));
    }
    ctx
}

fn evaluate(policy: &Policy<'_>, w: &SlimWorkload, ctx: &EvalContext, world: &dyn World) -> WorkloadReport {
    let pod = w.pod.to_pod_env();
    let input = WorkloadInput { namespace: &w.meta.namespace, name: w.name(), annotations: w.annotations(), pod: &pod };
    evaluate_workload(policy.spec, &input, world.configmaps(), ctx)
}

/// A hash of everything evaluating `w` reads: its record, the ConfigMap values it can reach, the
/// open incidents' deadlines and the policy's generation.
fn fingerprint(w: &SlimWorkload, ctx: &EvalContext, generation: Option<i64>, world: &dyn World) -> u64 {
    let mut h = DefaultHasher::new();
    w.hash_inputs(&mut h);
    world.hash_configmaps(w, &mut h);
    for o in Override::ALL {
        ctx.deadlines.get(o).map(|t| t.as_second()).hash(&mut h);
    }
    generation.hash(&mut h);
    h.finish()
}

/// When the report's findings next change with time alone: an override in use reaching its
/// deadline (the open incident's, else the `rollback-by` annotation's).
fn next_change(
    report: &WorkloadReport,
    annotations: &BTreeMap<String, String>,
    ctx: &EvalContext,
    now: Timestamp,
) -> Option<Timestamp> {
    Override::ALL
        .into_iter()
        .filter(|o| report.override_active(*o))
        .flat_map(|o| [ctx.deadlines.get(o), crate::rules::rollback_by(annotations).and_then(Result::ok)])
        .flatten()
        .filter(|d| *d > now)
        .min()
}

/// Whether an incident is still open (not resolved).
pub fn is_open(i: &NatsTransportIncident) -> bool {
    i.status.as_ref().is_none_or(|s| s.state != IncidentState::Resolved)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::{ConfigMaps, Lookup};
    use crate::slim::{DeploymentRecord, Interner, Relevance};
    use crate::validation;
    use serde_json::json;
    use std::cell::Cell;

    struct Fake {
        workloads: BTreeMap<String, Arc<SlimWorkload>>,
        cms: ConfigMaps,
        lookups: Cell<usize>,
        since: Option<Timestamp>,
    }

    impl World for Fake {
        fn names(&self) -> Vec<String> {
            self.workloads.keys().cloned().collect()
        }
        fn workload(&self, name: &str) -> Option<Arc<SlimWorkload>> {
            self.lookups.set(self.lookups.get() + 1);
            self.workloads.get(name).cloned()
        }
        fn configmaps(&self) -> &dyn ConfigMapLookup {
            &self.cms
        }
        fn observed_since(&self, _: &SlimWorkload, _: &str) -> Option<Timestamp> {
            self.since
        }
        fn hash_configmaps(&self, w: &SlimWorkload, h: &mut DefaultHasher) {
            for (cm, key) in w.needs.pairs() {
                match self.cms.lookup("ns", cm) {
                    Lookup::Found(data) => data.get(key).hash(h),
                    _ => 0u8.hash(h),
                }
            }
        }
    }

    fn workload(name: &str, url: &str, labels: serde_json::Value) -> Arc<SlimWorkload> {
        let r: DeploymentRecord = serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": "ns", "uid": format!("uid-{name}"), "generation": 1, "labels": labels},
            "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "cordum/scheduler:1", "env": [
                {"name": "CORDUM_ENV", "value": "production"},
                {"name": "NATS_URL", "value": url},
                {"name": "NATS_TLS_CA", "value": "/ca"},
                {"name": "NATS_TOKEN", "valueFrom": {"secretKeyRef": {"name": "s", "key": "t"}}}
            ]}]}}}
        }))
        .unwrap();
        Arc::new(Relevance::default().slim(r, &mut Interner::default()))
    }

    fn world(n: usize) -> Fake {
        let workloads = (0..n)
            .map(|i| {
                let name = format!("d{i:03}");
                let w = workload(&name, "nats://nats:4222", json!({"app": "cordum"}));
                (name, w)
            })
            .collect();
        Fake { workloads, cms: ConfigMaps { complete: true, ..Default::default() }, lookups: Cell::new(0), since: None }
    }

    fn run(state: &mut PolicyState, touched: Touched, world: &Fake) -> Planned {
        let mut spec = NatsTransportPolicySpec::default();
        spec.selector.match_labels = Some([("app".to_string(), "cordum".to_string())].into());
        let compiled = validation::compile(&spec).unwrap();
        let policy =
            Policy { name: "p", uid: "uid-p", generation: Some(1), spec: &spec, compiled: &compiled, open: &[] };
        plan(state, &policy, touched, world, "2026-01-01T00:00:00Z".parse().unwrap())
    }

    fn reasons(p: &Planned) -> Vec<(String, String)> {
        p.notices
            .iter()
            .map(|n| {
                let crate::notices::Regarding::Deployment(d) = &n.regarding else { panic!() };
                (d.clone(), n.reason.clone())
            })
            .collect()
    }

    fn sent(state: &mut PolicyState, p: &Planned) {
        for n in &p.notices {
            if let crate::notices::Regarding::Deployment(d) = &n.regarding {
                state.record.sent(d);
            }
        }
    }

    /// Every workload evaluated from scratch, for comparison.
    fn full_reports(_: &mut PolicyState, w: &Fake) -> Vec<(String, WorkloadReport)> {
        let spec = NatsTransportPolicySpec::default();
        let compiled = validation::compile(&spec).unwrap();
        let policy =
            Policy { name: "p", uid: "uid-p", generation: Some(1), spec: &spec, compiled: &compiled, open: &[] };
        let ctx = EvalContext::at("2026-01-01T00:00:00Z".parse().unwrap());
        w.workloads.iter().map(|(n, wl)| (n.clone(), evaluate(&policy, wl, &ctx, w))).collect()
    }

    /// 120 violating Deployments are all announced once, the 121st adds its own Event and no
    /// `DriftResolved` for anybody, and a change looks at the changed workload only.
    #[test]
    fn every_workload_is_announced_once_and_a_change_is_o1() {
        let mut w = world(120);
        let mut state = PolicyState::default();
        let first = run(&mut state, Touched::everything(), &w);
        assert_eq!(first.evaluated, 120);
        let announced = reasons(&first);
        let workloads: BTreeSet<&str> = announced.iter().map(|(d, _)| d.as_str()).collect();
        assert_eq!(workloads.len(), 120, "every workload announced");
        assert!(announced.iter().any(|(d, r)| d == "d119" && r == "PlaintextTransport"));
        let distinct: BTreeSet<&(String, String)> = announced.iter().collect();
        assert_eq!(distinct.len(), announced.len(), "none twice");
        assert!(announced.iter().all(|(_, r)| r != notices::DRIFT_RESOLVED));
        assert_eq!(first.evaluation.workloads, 120);
        assert_eq!(first.evaluation.compliant, 0);
        sent(&mut state, &first);

        w.workloads.insert("d120".into(), workload("d120", "nats://nats:4222", json!({"app": "cordum"})));
        w.lookups.set(0);
        let touched = Touched { all: false, names: ["d120".to_string()].into() };
        let second = run(&mut state, touched, &w);
        assert_eq!(second.evaluated, 1);
        assert!(w.lookups.get() <= 2, "one workload looked up, not {}", w.lookups.get());
        let r = reasons(&second);
        assert!(r.iter().all(|(d, _)| d == "d120"), "{r:?}");
        assert_eq!(second.evaluation.workloads, 121);
        // The status lists 100 of them with their messages, though the index keeps whole reports
        // only for those.
        assert_eq!(second.evaluation.candidates.len(), crate::status::MAX_RESULTS);
        assert!(second.evaluation.candidates.iter().flat_map(|r| &r.findings).all(|f| !f.message.is_empty()));
        assert_eq!(second.evaluation, crate::status::Evaluation::of(&full_reports(&mut state, &w)));

        // Nothing changed: nothing evaluated, nothing announced.
        let third = run(&mut state, Touched { all: false, names: ["d005".to_string()].into() }, &w);
        assert_eq!((third.evaluated, third.notices.len()), (0, 0));

        // d099 fixed: DriftResolved for d099 only.
        w.workloads.insert("d099".into(), workload("d099", "tls://nats:4222", json!({"app": "cordum"})));
        let fixed = run(&mut state, Touched { all: false, names: ["d099".to_string()].into() }, &w);
        assert_eq!(reasons(&fixed), [("d099".to_string(), notices::DRIFT_RESOLVED.to_string())]);

        // Out of scope: no Event, out of the counts and the record.
        w.workloads.insert("d000".into(), workload("d000", "nats://nats:4222", json!({"app": "other"})));
        let gone = run(&mut state, Touched { all: false, names: ["d000".to_string()].into() }, &w);
        assert!(gone.notices.is_empty());
        assert_eq!(gone.evaluation.workloads, 120);
        assert!(state.record.get("d000").is_none());
    }

    /// A 1 MB URL from a ConfigMap gives short findings, a status far below the API server's
    /// limits, and the ordinary Deployment beside it is reported as usual.
    /// A successor that loads the durable record from before an unwritten transition names that
    /// transition's Events as the old leader did (the API server refuses the copy); the same
    /// finding coming back later is a new transition with new names.
    #[test]
    fn a_successor_names_a_transition_as_the_old_leader_did() {
        let keys = |p: &Planned| -> Vec<(String, u64)> {
            p.notices.iter().map(|n| (n.reason.clone(), n.key.expect("finding Events have a key"))).collect()
        };
        let mut w = world(1);
        let mut leader = PolicyState::default();
        let first = run(&mut leader, Touched::everything(), &w);
        // Its Events went out but the record was never written: the successor starts empty.
        sent(&mut leader, &first);
        let mut successor = PolicyState::default();
        assert_eq!(keys(&run(&mut successor, Touched::everything(), &w)), keys(&first));
        // Compliant, then plaintext again: DriftResolved, then the same code under a new name.
        w.workloads.insert("d000".into(), workload("d000", "tls://nats:4222", json!({"app": "cordum"})));
        let fixed = run(&mut leader, Touched::everything(), &w);
        assert!(reasons(&fixed).iter().any(|(_, r)| r == notices::DRIFT_RESOLVED));
        sent(&mut leader, &fixed);
        w.workloads.insert("d000".into(), workload("d000", "nats://nats:4222", json!({"app": "cordum"})));
        let again = run(&mut leader, Touched::everything(), &w);
        assert_eq!(reasons(&again), reasons(&first));
        let (a, b): (BTreeSet<u64>, BTreeSet<u64>) =
            (keys(&first).into_iter().map(|k| k.1).collect(), keys(&again).into_iter().map(|k| k.1).collect());
        assert!(a.is_disjoint(&b), "a recurrence is announced under new names");
    }

    #[test]
    fn a_huge_value_stays_bounded_and_isolated() {
        let mut w = world(0);
        let r: DeploymentRecord = serde_json::from_value(json!({
            "metadata": {"name": "huge", "namespace": "ns", "uid": "u-huge", "labels": {"app": "cordum"}},
            "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "cordum/scheduler:1", "env": [
                {"name": "CORDUM_ENV", "value": "production"},
                {"name": "NATS_URL", "valueFrom": {"configMapKeyRef": {"name": "big", "key": "url"}}}
            ]}]}}}
        }))
        .unwrap();
        w.workloads.insert("huge".into(), Arc::new(Relevance::default().slim(r, &mut Interner::default())));
        w.workloads.insert("plain".into(), workload("plain", "nats://nats:4222", json!({"app": "cordum"})));
        let url = format!("nats://user:pass@{}:4222,tls://{}", "h".repeat(1 << 20), "x%".repeat(1 << 18));
        w.cms.insert("ns", "big", [("url".to_string(), url)].into());
        let mut state = PolicyState::default();
        let planned = run(&mut state, Touched::everything(), &w);
        assert_eq!(planned.evaluation.workloads, 2);
        for n in &planned.notices {
            assert!(n.note.len() <= 1024, "{} bytes", n.note.len());
            assert!(!n.note.contains("pass"), "a credential leaked: {}", &n.note[..200.min(n.note.len())]);
        }
        let names: BTreeSet<String> = reasons(&planned).into_iter().map(|(d, _)| d).collect();
        assert!(names.contains("plain") && names.contains("huge"), "{names:?}");
        let status = crate::status::compute(&crate::status::Inputs {
            generation: Some(1),
            previous: None,
            validity: crate::status::Validity::Valid,
            evaluation: &planned.evaluation,
            incidents: &planned.open,
            overrides: &Default::default(),
            degraded: None,
            now: "2026-01-01T00:00:00Z".parse().unwrap(),
        });
        let bytes = serde_json::to_vec(&status).unwrap().len();
        assert!(bytes < 64 * 1024, "status of {bytes} bytes");
        assert_eq!(status.results.len(), 2);
    }

    /// An incident that could not be opened is planned again next time round, though nothing
    /// changed, and the status counts the override meanwhile.
    #[test]
    fn an_override_in_use_is_planned_every_time_until_its_incident_exists() {
        let mut w = world(0);
        let r: DeploymentRecord = serde_json::from_value(json!({
            "metadata": {"name": "bg", "namespace": "ns", "uid": "u-bg", "generation": 4, "labels": {"app": "cordum"}},
            "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "cordum/scheduler:1", "env": [
                {"name": "CORDUM_ENV", "value": "production"},
                {"name": "NATS_URL", "value": "nats://nats:4222"},
                {"name": "CORDUM_NATS_ALLOW_PLAINTEXT", "value": "true"},
                {"name": "NATS_TOKEN", "valueFrom": {"secretKeyRef": {"name": "s", "key": "t"}}}
            ]}]}}}
        }))
        .unwrap();
        w.workloads.insert("bg".into(), Arc::new(Relevance::default().slim(r, &mut Interner::default())));
        let mut state = PolicyState::default();
        for round in 0..3 {
            let touched = if round == 0 { Touched::everything() } else { Touched::default() };
            let p = run(&mut state, touched, &w);
            let opens: Vec<&IncidentStep> =
                p.incidents.iter().filter(|s| matches!(s.plan, Plan::Open { .. })).collect();
            assert_eq!(opens.len(), 1, "round {round}: {:?}", p.incidents);
            assert_eq!((opens[0].deployment.as_str(), opens[0].generation), ("bg", 4));
            assert_eq!(p.open.len(), 1, "round {round}: the override counts as in use");
            assert!(p.wakeup.is_some());
        }
    }

    /// A new leader that loads the record announces nothing already announced.
    #[test]
    fn a_loaded_record_repeats_nothing() {
        let w = world(30);
        let mut state = PolicyState::default();
        let first = run(&mut state, Touched::everything(), &w);
        sent(&mut state, &first);
        let stored: Vec<(String, String)> =
            state.record.take_dirty().into_iter().flat_map(|(_, entries)| entries.into_iter()).collect();
        assert_eq!(stored.len(), 30);
        let mut successor =
            PolicyState { record: Record::load(stored.iter().map(|(a, b)| (a, b))), ..Default::default() };
        let again = run(&mut successor, Touched::everything(), &w);
        assert!(again.notices.is_empty(), "{:?}", reasons(&again));
        assert!(!successor.record.has_dirty(), "a no-op relist writes nothing");
    }
}
