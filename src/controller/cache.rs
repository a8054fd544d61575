//! The caches of one watched scope (a namespace, or the whole cluster), fed by one watch per kind
//! (`super::watch`) and shared by every controller and the admission webhook: policies,
//! incidents and ledgers as reflector stores, Deployments and ConfigMaps as the small records of
//! `crate::slim`. Every change marks the workloads it touches for the policies of its namespace
//! ([`Touched`]) and asks for their reconcile (docs/configuration.md, "How the operator scales").

use super::metrics::Metrics;
use super::watch::{self, StreamHealth, scope_api};
use crate::crd::{NatsTransportIncident, NatsTransportLedger, NatsTransportPolicy};
use crate::env::{ConfigMapLookup, Lookup};
use crate::plan::{Touched, World};
use crate::slim::{
    ANNOTATION_PREFIX, ConfigMapRecord, DeploymentRecord, Interner, Relevance, SlimConfigMap, SlimWorkload,
};
use crate::workload::PodEnv;
use k8s_openapi::jiff::Timestamp;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::watcher;
use kube::{Client, Resource, ResourceExt};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::{DefaultHasher, Hash};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard};
use tokio::sync::{Notify, mpsc, watch as signal};

/// Workloads remembered as touched per policy before it is taken as "all of them".
const MAX_TOUCHED: usize = 4096;

/// (namespace, name) of a policy.
pub type PolicyKey = (String, String);

/// The Deployments and ConfigMaps of one namespace.
#[derive(Default)]
pub struct Namespace {
    workloads: HashMap<String, Held<SlimWorkload>>,
    configmaps: HashMap<String, Held<SlimConfigMap>>,
    /// ConfigMap name -> the workloads whose kept entries read it.
    readers: HashMap<Arc<str>, HashSet<Arc<str>>>,
    /// ConfigMap name -> key -> how many workloads can reach it.
    wanted: HashMap<Arc<str>, HashMap<Arc<str>, u32>>,
    /// The policies of this namespace.
    policies: Vec<String>,
    /// Per policy: its generation and when this replica first saw that generation.
    policy_since: HashMap<String, (i64, Timestamp)>,
}

/// A cached record, with the list it was last seen in (a re-list drops what it did not see) and
/// since when this replica has seen it as it is now (what evaluation reads of it).
struct Held<T> {
    value: Arc<T>,
    list: u64,
    since: Timestamp,
}

#[derive(Default)]
struct Data {
    relevance: Relevance,
    interner: Interner,
    namespaces: HashMap<String, Namespace>,
    deployment_list: u64,
    configmap_list: u64,
}

/// Which kinds have their list.
#[derive(Default)]
struct Synced {
    policies: AtomicBool,
    deployments: AtomicBool,
    configmaps: AtomicBool,
    incidents: AtomicBool,
    ledgers: AtomicBool,
}

/// The caches of one scope.
pub struct Cache {
    /// `None`: the whole cluster.
    pub namespace: Option<String>,
    pub policies: Store<NatsTransportPolicy>,
    pub incidents: Store<NatsTransportIncident>,
    pub ledgers: Store<NatsTransportLedger>,
    data: RwLock<Data>,
    touched: Mutex<HashMap<PolicyKey, Touched>>,
    synced: Synced,
    /// Set while Deployments and ConfigMaps are listed again for a policy that reads new names.
    relisting: AtomicBool,
    policy_triggers: mpsc::UnboundedSender<ObjectRef<NatsTransportPolicy>>,
    incident_triggers: mpsc::UnboundedSender<ObjectRef<NatsTransportIncident>>,
    deployments_restart: signal::Sender<u64>,
    configmaps_restart: signal::Sender<u64>,
    /// Released once policies are listed (Deployments are listed after them, so that their kept
    /// entries are those the policies read).
    policies_listed: Notify,
    /// Whether the Deployment watch has started (before, a new name needs no new list).
    deployments_started: AtomicBool,
    /// Released once Deployments are listed (ConfigMaps are listed after them, so that their kept
    /// keys are those the Deployments need).
    deployments_listed: Notify,
    pub health: Vec<Arc<StreamHealth>>,
}

/// The time of an observation, to the second (as `startedAt` and every time natsguard writes).
fn observed_now() -> Timestamp {
    Timestamp::from_second(Timestamp::now().as_second()).unwrap_or_else(|_| Timestamp::now())
}

/// What the controllers of a scope receive from its cache.
pub struct Triggers {
    pub policies: mpsc::UnboundedReceiver<ObjectRef<NatsTransportPolicy>>,
    pub incidents: mpsc::UnboundedReceiver<ObjectRef<NatsTransportIncident>>,
}

/// The watch tasks of a scope, to spawn.
pub struct Watches {
    pub tasks: Vec<std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>>,
}

fn trim_meta<K: Resource>(obj: &mut K) {
    let meta = obj.meta_mut();
    meta.managed_fields = None;
    if let Some(a) = meta.annotations.as_mut() {
        a.retain(|k, _| k.starts_with(ANNOTATION_PREFIX));
    }
    if meta.annotations.as_ref().is_some_and(BTreeMap::is_empty) {
        meta.annotations = None;
    }
}

fn trim_event<K: Resource>(event: &mut watcher::Event<K>) {
    if let watcher::Event::Apply(o) | watcher::Event::InitApply(o) | watcher::Event::Delete(o) = event {
        trim_meta(o);
    }
}

impl Cache {
    /// The cache of one scope and the watch tasks that feed it (to be spawned), stopping when
    /// `stop` resolves.
    pub fn new(
        client: Client,
        namespace: Option<String>,
        metrics: &Metrics,
        stop: impl Fn() -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>,
    ) -> (Arc<Cache>, Triggers, Watches) {
        let ns = namespace.as_deref();
        let (policies, mut policy_writer) = reflector::store::<NatsTransportPolicy>();
        let (incidents, mut incident_writer) = reflector::store::<NatsTransportIncident>();
        let (ledgers, mut ledger_writer) = reflector::store::<NatsTransportLedger>();
        let (policy_tx, policy_rx) = mpsc::unbounded_channel();
        let (incident_tx, incident_rx) = mpsc::unbounded_channel();
        let (deployments_restart, deployments_restart_rx) = signal::channel(0);
        let (configmaps_restart, configmaps_restart_rx) = signal::channel(0);
        let health: Vec<Arc<StreamHealth>> =
            ["natstransportpolicies", "deployments", "configmaps", "natstransportincidents", "natstransportledgers"]
                .into_iter()
                .map(|r| Arc::new(StreamHealth::new(r, ns)))
                .collect();
        for h in &health {
            metrics.watch_health(h.clone());
        }
        let cache = Arc::new(Cache {
            namespace: namespace.clone(),
            policies,
            incidents,
            ledgers,
            data: RwLock::default(),
            touched: Mutex::default(),
            synced: Synced::default(),
            relisting: AtomicBool::new(false),
            policy_triggers: policy_tx,
            incident_triggers: incident_tx,
            deployments_restart,
            configmaps_restart,
            policies_listed: Notify::new(),
            deployments_started: AtomicBool::new(false),
            deployments_listed: Notify::new(),
            health: health.clone(),
        });
        let config = watcher::Config::default().any_semantic();
        let mut tasks: Vec<std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>> = Vec::new();

        let c = cache.clone();
        tasks.push(Box::pin(watch::run(
            scope_api::<NatsTransportPolicy>(&client, ns),
            config.clone(),
            health[0].clone(),
            None,
            move |mut e| {
                trim_event(&mut e);
                policy_writer.apply_watcher_event(&e);
                c.on_policy(&e);
            },
            stop(),
        )));
        let c = cache.clone();
        let api = scope_api::<DeploymentRecord>(&client, ns);
        let (d_config, d_health, d_stop) = (config.clone(), health[1].clone(), stop());
        let mut d_restart = deployments_restart_rx;
        tasks.push(Box::pin(async move {
            tokio::pin!(d_stop);
            tokio::select! {
                _ = c.policies_listed.notified() => {}
                _ = &mut d_stop => return,
            }
            d_restart.borrow_and_update();
            c.deployments_started.store(true, Ordering::Release);
            let handler = c.clone();
            watch::run(api, d_config, d_health, Some(d_restart), move |e| handler.on_deployment(e), d_stop).await;
        }));
        let c = cache.clone();
        let api = scope_api::<ConfigMapRecord>(&client, ns);
        let (cm_config, cm_health, cm_stop) = (config.clone(), health[2].clone(), stop());
        let mut cm_restart = configmaps_restart_rx;
        tasks.push(Box::pin(async move {
            tokio::pin!(cm_stop);
            tokio::select! {
                _ = c.deployments_listed.notified() => {}
                _ = &mut cm_stop => return,
            }
            cm_restart.borrow_and_update();
            let handler = c.clone();
            watch::run(api, cm_config, cm_health, Some(cm_restart), move |e| handler.on_configmap(e), cm_stop).await;
        }));
        let c = cache.clone();
        tasks.push(Box::pin(watch::run(
            scope_api::<NatsTransportIncident>(&client, ns),
            config.clone(),
            health[3].clone(),
            None,
            move |mut e| {
                trim_event(&mut e);
                incident_writer.apply_watcher_event(&e);
                c.on_incident(&e);
            },
            stop(),
        )));
        let c = cache.clone();
        tasks.push(Box::pin(watch::run(
            scope_api::<NatsTransportLedger>(&client, ns),
            config,
            health[4].clone(),
            None,
            move |mut e| {
                trim_event(&mut e);
                ledger_writer.apply_watcher_event(&e);
                if matches!(e, watcher::Event::InitDone) {
                    c.mark_synced(&c.synced.ledgers);
                }
            },
            stop(),
        )));
        (cache, Triggers { policies: policy_rx, incidents: incident_rx }, Watches { tasks })
    }

    /// Whether every cache has its list (and no list is being redone).
    pub fn synced(&self) -> bool {
        let s = &self.synced;
        [&s.policies, &s.deployments, &s.configmaps, &s.incidents, &s.ledgers].iter().all(|f| f.load(Ordering::Acquire))
            && !self.relisting.load(Ordering::Acquire)
    }

    fn mark_synced(&self, flag: &AtomicBool) {
        let was = self.synced();
        flag.store(true, Ordering::Release);
        if !was && self.synced() {
            // Everything listed: look at every policy.
            for p in self.policies.state() {
                let _ = self.policy_triggers.send(ObjectRef::from_obj(p.as_ref()));
            }
        }
    }

    /// Ask for a reconcile of the policy `key`.
    pub fn trigger(&self, key: &PolicyKey) {
        let _ = self.policy_triggers.send(ObjectRef::new(&key.1).within(&key.0));
    }

    /// What changed for `key` since the last call.
    pub fn take_touched(&self, key: &PolicyKey) -> Touched {
        self.touched.lock().ok().and_then(|mut t| t.remove(key)).unwrap_or_default()
    }

    /// Put back what a reconcile took and could not act on.
    pub fn touch_again(&self, key: &PolicyKey, touched: Touched) {
        if let Ok(mut t) = self.touched.lock() {
            t.entry(key.clone()).or_default().merge(touched);
        }
    }

    /// Mark `workloads` of `namespace` for every policy there, and ask for their reconcile.
    fn touch<'a>(&self, namespace: &str, policies: &[String], workloads: impl IntoIterator<Item = &'a str> + Clone) {
        if policies.is_empty() {
            return;
        }
        if let Ok(mut touched) = self.touched.lock() {
            for p in policies {
                let t = touched.entry((namespace.to_owned(), p.clone())).or_default();
                if !t.all {
                    t.names.extend(workloads.clone().into_iter().map(str::to_owned));
                    // A burst this large is as cheap to take as a full pass, and stays small here.
                    if t.names.len() > MAX_TOUCHED {
                        *t = Touched::everything();
                    }
                }
            }
        }
        if self.synced() {
            for p in policies {
                let _ = self.policy_triggers.send(ObjectRef::new(p).within(namespace));
            }
        }
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Data> {
        self.data.write().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn read(&self) -> RwLockReadGuard<'_, Data> {
        self.data.read().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    // ---- policies -------------------------------------------------------------------------

    fn on_policy(&self, e: &watcher::Event<NatsTransportPolicy>) {
        match e {
            watcher::Event::Apply(p) => {
                self.index_policies();
                let _ = self.policy_triggers.send(ObjectRef::from_obj(p));
            }
            watcher::Event::Delete(p) => {
                self.index_policies();
                if let (Some(ns), Ok(mut touched)) = (p.namespace(), self.touched.lock()) {
                    touched.remove(&(ns, p.name_any()));
                }
                // Its incidents are resolved by the incident housekeeping.
                let (ns, name) = (p.namespace(), p.name_any());
                for i in self.incidents.state_filter(|i| i.namespace() == ns && i.spec.policy == name) {
                    let _ = self.incident_triggers.send(ObjectRef::from_obj(i.as_ref()));
                }
            }
            watcher::Event::InitDone => {
                self.index_policies();
                self.policies_listed.notify_one();
                self.mark_synced(&self.synced.policies);
                for p in self.policies.state() {
                    let _ = self.policy_triggers.send(ObjectRef::from_obj(p.as_ref()));
                }
            }
            watcher::Event::Init | watcher::Event::InitApply(_) => {}
        }
    }

    /// The policies per namespace, and the names they read: a name no policy read before means
    /// listing Deployments and ConfigMaps again (their kept records lack it).
    fn index_policies(&self) {
        let all = self.policies.state();
        let relevance = Relevance::of(all.iter().map(|p| &p.spec));
        let mut data = self.write();
        let now = observed_now();
        let mut since: HashMap<String, HashMap<String, (i64, Timestamp)>> = HashMap::new();
        for (ns, n) in data.namespaces.iter_mut() {
            n.policies.clear();
            since.insert(ns.clone(), std::mem::take(&mut n.policy_since));
        }
        for p in &all {
            if let Some(ns) = p.namespace() {
                let generation = p.metadata.generation.unwrap_or_default();
                let seen = since
                    .get(&ns)
                    .and_then(|s| s.get(&p.name_any()))
                    .filter(|(g, _)| *g == generation)
                    .map_or(now, |(_, t)| *t);
                let n = data.namespaces.entry(ns).or_default();
                n.policies.push(p.name_any());
                n.policy_since.insert(p.name_any(), (generation, seen));
            }
        }
        // Fewer names: what is kept is more than enough, and stays.
        if !data.relevance.covers(&relevance) {
            data.relevance = relevance;
            drop(data);
            if self.deployments_started.load(Ordering::Acquire) {
                tracing::info!(
                    "a policy reads a variable no policy read before: listing Deployments and ConfigMaps again"
                );
                self.relisting.store(true, Ordering::Release);
                self.deployments_restart.send_modify(|n| *n += 1);
            }
        }
    }

    // ---- Deployments ----------------------------------------------------------------------

    fn on_deployment(&self, e: watcher::Event<DeploymentRecord>) {
        match e {
            watcher::Event::Init => {
                self.write().deployment_list += 1;
            }
            watcher::Event::Apply(r) | watcher::Event::InitApply(r) => self.put_workload(r),
            watcher::Event::Delete(r) => {
                let (Some(ns), Some(name)) = (r.metadata.namespace.clone(), r.metadata.name.clone()) else { return };
                let policies = {
                    let mut data = self.write();
                    let Some(n) = data.namespaces.get_mut(&ns) else { return };
                    let Some(old) = n.workloads.remove(&name) else { return };
                    n.forget_needs(&name, &old.value);
                    n.policies.clone()
                };
                self.touch(&ns, &policies, [name.as_str()]);
            }
            watcher::Event::InitDone => {
                let mut gone: Vec<(String, Vec<String>, Vec<String>)> = Vec::new();
                {
                    let mut data = self.write();
                    let list = data.deployment_list;
                    for (ns, n) in data.namespaces.iter_mut() {
                        let stale: Vec<String> =
                            n.workloads.iter().filter(|(_, h)| h.list != list).map(|(k, _)| k.clone()).collect();
                        for name in &stale {
                            if let Some(old) = n.workloads.remove(name) {
                                n.forget_needs(name, &old.value);
                            }
                        }
                        if !stale.is_empty() {
                            gone.push((ns.clone(), n.policies.clone(), stale));
                        }
                    }
                }
                for (ns, policies, names) in &gone {
                    self.touch(ns, policies, names.iter().map(String::as_str));
                }
                if self.relisting.load(Ordering::Acquire) {
                    // The new records may reach keys the kept ConfigMaps lack: list them again too.
                    self.configmaps_restart.send_modify(|n| *n += 1);
                }
                self.deployments_listed.notify_one();
                self.mark_synced(&self.synced.deployments);
            }
        }
    }

    fn put_workload(&self, record: DeploymentRecord) {
        let (Some(ns), Some(name)) = (record.metadata.namespace.clone(), record.metadata.name.clone()) else { return };
        let policies = {
            let mut data = self.write();
            let Data { relevance, interner, .. } = &mut *data;
            let slim = relevance.slim(record, interner);
            let list = data.deployment_list;
            let n = data.namespaces.entry(ns.clone()).or_default();
            let unchanged = n.workloads.get(&name).is_some_and(|h| h.value.same_as(&slim));
            let slim = Arc::new(slim);
            if unchanged {
                // Kept current (its generation names new incidents), but nothing to look at.
                if let Some(h) = n.workloads.get_mut(&name) {
                    *h = Held { value: slim, list, since: h.since };
                }
                return;
            }
            let held = Held { value: slim.clone(), list, since: observed_now() };
            if let Some(old) = n.workloads.insert(name.clone(), held) {
                n.forget_needs(&name, &old.value);
            }
            n.add_needs(&slim.meta.name, &slim);
            n.policies.clone()
        };
        self.touch(&ns, &policies, [name.as_str()]);
    }

    // ---- ConfigMaps -----------------------------------------------------------------------

    fn on_configmap(&self, e: watcher::Event<ConfigMapRecord>) {
        match e {
            watcher::Event::Init => {
                self.write().configmap_list += 1;
            }
            watcher::Event::Apply(r) | watcher::Event::InitApply(r) => {
                self.put_configmap(r);
            }
            watcher::Event::Delete(r) => {
                let (Some(ns), Some(name)) = (r.metadata.namespace.clone(), r.metadata.name.clone()) else { return };
                let (policies, readers) = {
                    let mut data = self.write();
                    let Some(n) = data.namespaces.get_mut(&ns) else { return };
                    if n.configmaps.remove(&name).is_none() {
                        return;
                    }
                    (n.policies.clone(), n.readers_of(&name))
                };
                self.touch(&ns, &policies, readers.iter().map(String::as_str));
            }
            watcher::Event::InitDone => {
                let mut gone: Vec<(String, Vec<String>, Vec<String>)> = Vec::new();
                {
                    let mut data = self.write();
                    let list = data.configmap_list;
                    for (ns, n) in data.namespaces.iter_mut() {
                        let stale: Vec<String> =
                            n.configmaps.iter().filter(|(_, h)| h.list != list).map(|(k, _)| k.clone()).collect();
                        let mut readers = Vec::new();
                        for name in &stale {
                            n.configmaps.remove(name);
                            readers.extend(n.readers_of(name));
                        }
                        if !readers.is_empty() {
                            gone.push((ns.clone(), n.policies.clone(), readers));
                        }
                    }
                }
                for (ns, policies, names) in &gone {
                    self.touch(ns, policies, names.iter().map(String::as_str));
                }
                self.relisting.store(false, Ordering::Release);
                self.mark_synced(&self.synced.configmaps);
            }
        }
    }

    /// Keep `record` with the values of the keys some workload can reach; `true` when that
    /// changed what evaluation reads.
    pub fn put_configmap(&self, record: ConfigMapRecord) -> bool {
        let (Some(ns), Some(name)) = (record.metadata.namespace.clone(), record.metadata.name.clone()) else {
            return false;
        };
        let (policies, readers) = {
            let mut data = self.write();
            let list = data.configmap_list;
            let n = data.namespaces.entry(ns.clone()).or_default();
            let wanted = n.wanted.get(name.as_str());
            let slim = SlimConfigMap::of(record.data, |k| wanted.is_some_and(|w| w.contains_key(k)));
            let old = n.configmaps.get(&name);
            let same = old.is_some_and(|h| h.value.data == slim.data);
            // Since when its values are what they are: kept while only keys were added (a workload
            // now reads one more key; nothing it read before changed).
            let since = old
                .filter(|h| h.value.data.iter().all(|(k, v)| slim.data.get(k) == Some(v)))
                .map_or_else(observed_now, |h| h.since);
            n.configmaps.insert(name.clone(), Held { value: Arc::new(slim), list, since });
            if same {
                return false;
            }
            (n.policies.clone(), n.readers_of(&name))
        };
        self.touch(&ns, &policies, readers.iter().map(String::as_str));
        true
    }

    /// ConfigMaps of `namespace` that some of `workloads` (all, when `None`) read a key of that
    /// exists but is not kept: they must be fetched before those workloads are evaluated.
    pub fn uncovered(&self, namespace: &str, workloads: Option<&[String]>) -> Vec<String> {
        let data = self.read();
        let Some(n) = data.namespaces.get(namespace) else { return Vec::new() };
        let mut out: Vec<String> = Vec::new();
        let mut check = |w: &SlimWorkload| {
            for (cm, keys) in w.needs.maps.iter() {
                if let Some(h) = n.configmaps.get(&**cm)
                    && !h.value.covers(keys.iter().map(|k| &**k))
                    && !out.iter().any(|o| o == &**cm)
                {
                    out.push(cm.to_string());
                }
            }
        };
        match workloads {
            Some(names) => names.iter().filter_map(|w| n.workloads.get(w)).for_each(|h| check(&h.value)),
            None => n.workloads.values().for_each(|h| check(&h.value)),
        }
        out
    }

    // ---- incidents ------------------------------------------------------------------------

    fn on_incident(&self, e: &watcher::Event<NatsTransportIncident>) {
        match e {
            watcher::Event::Apply(i) | watcher::Event::Delete(i) => {
                let _ = self.incident_triggers.send(ObjectRef::from_obj(i));
                let Some(ns) = i.namespace() else { return };
                let policy = vec![i.spec.policy.clone()];
                let known = self.read().namespaces.get(&ns).is_some_and(|n| n.policies.contains(&i.spec.policy));
                if known {
                    self.touch(&ns, &policy, [i.spec.deployment.name.as_str()]);
                }
            }
            watcher::Event::InitApply(i) => {
                let _ = self.incident_triggers.send(ObjectRef::from_obj(i));
            }
            watcher::Event::InitDone => self.mark_synced(&self.synced.incidents),
            watcher::Event::Init => {}
        }
    }

    // ---- reading --------------------------------------------------------------------------

    /// The caches of `namespace`, as the planner reads them (a read lock held while it lives).
    pub fn view<'a>(&'a self, namespace: &'a str) -> View<'a> {
        View { data: self.read(), namespace }
    }

    /// The policies in `namespace` (for the admission webhook).
    pub fn policies_in(&self, namespace: &str) -> Vec<Arc<NatsTransportPolicy>> {
        self.policies.state_filter(|p| p.namespace().as_deref() == Some(namespace))
    }

    /// The ConfigMaps `pod` reads in `namespace`, from the cache (for the admission webhook). A
    /// ConfigMap whose kept keys do not cover what `pod` reads is `Unknown`: evaluation then says
    /// `Indeterminate`, never a guess.
    pub fn configmaps_for(&self, namespace: &str, pod: &PodEnv) -> PodConfigMaps {
        let data = self.read();
        let relevance = data.relevance.clone();
        let record = DeploymentRecord { metadata: Default::default(), pod: pod.into() };
        let needs = relevance.slim(record, &mut Interner::default()).needs;
        let mut maps = HashMap::new();
        let n = data.namespaces.get(namespace);
        for (cm, keys) in needs.maps.iter() {
            let entry = match n.and_then(|n| n.configmaps.get(&**cm)) {
                Some(h) if h.value.covers(keys.iter().map(|k| &**k)) => Some(Some(h.value.clone())),
                Some(_) => None,
                None => Some(None),
            };
            maps.insert(cm.to_string(), entry);
        }
        PodConfigMaps { namespace: namespace.to_owned(), maps }
    }

    /// How many Deployments and ConfigMaps are cached (for the log and the benchmark).
    pub fn sizes(&self) -> (usize, usize) {
        let data = self.read();
        data.namespaces.values().fold((0, 0), |(w, c), n| (w + n.workloads.len(), c + n.configmaps.len()))
    }
}

impl Namespace {
    fn add_needs(&mut self, workload: &Arc<str>, w: &SlimWorkload) {
        for (cm, keys) in w.needs.maps.iter() {
            self.readers.entry(cm.clone()).or_default().insert(workload.clone());
            let wanted = self.wanted.entry(cm.clone()).or_default();
            for k in keys.iter() {
                *wanted.entry(k.clone()).or_default() += 1;
            }
        }
    }

    fn forget_needs(&mut self, workload: &str, w: &SlimWorkload) {
        for (cm, keys) in w.needs.maps.iter() {
            if let Some(r) = self.readers.get_mut(cm) {
                r.remove(workload);
                if r.is_empty() {
                    self.readers.remove(cm);
                }
            }
            if let Some(wanted) = self.wanted.get_mut(cm) {
                for k in keys.iter() {
                    if let Some(n) = wanted.get_mut(k) {
                        *n = n.saturating_sub(1);
                        if *n == 0 {
                            wanted.remove(k);
                        }
                    }
                }
                if wanted.is_empty() {
                    self.wanted.remove(cm);
                }
            }
        }
    }

    fn readers_of(&self, cm: &str) -> Vec<String> {
        self.readers.get(cm).map(|r| r.iter().map(|w| w.to_string()).collect()).unwrap_or_default()
    }
}

/// The caches of one namespace, read by the planner.
pub struct View<'a> {
    data: RwLockReadGuard<'a, Data>,
    namespace: &'a str,
}

impl View<'_> {
    fn ns(&self) -> Option<&Namespace> {
        self.data.namespaces.get(self.namespace)
    }
}

impl World for View<'_> {
    fn names(&self) -> Vec<String> {
        self.ns().map(|n| n.workloads.keys().cloned().collect()).unwrap_or_default()
    }

    fn workload(&self, name: &str) -> Option<Arc<SlimWorkload>> {
        self.ns()?.workloads.get(name).map(|h| h.value.clone())
    }

    fn configmaps(&self) -> &dyn ConfigMapLookup {
        self
    }

    fn observed_since(&self, w: &SlimWorkload, policy: &str) -> Option<Timestamp> {
        let n = self.ns()?;
        let mut since = n.workloads.get(&*w.meta.name)?.since;
        since = since.max(n.policy_since.get(policy)?.1);
        for (cm, _) in w.needs.maps.iter() {
            if let Some(h) = n.configmaps.get(&**cm) {
                since = since.max(h.since);
            }
        }
        Some(since)
    }

    fn hash_configmaps(&self, w: &SlimWorkload, h: &mut DefaultHasher) {
        for (cm, keys) in w.needs.maps.iter() {
            match self.ns().and_then(|n| n.configmaps.get(&**cm)) {
                Some(held) => {
                    1u8.hash(h);
                    for k in keys.iter() {
                        held.value.data.get(&**k).hash(h);
                    }
                }
                None => 0u8.hash(h),
            }
        }
    }
}

impl ConfigMapLookup for View<'_> {
    fn lookup(&self, namespace: &str, name: &str) -> Lookup<'_> {
        if namespace != self.namespace {
            return Lookup::Unknown;
        }
        // Once synced, a ConfigMap the cache lacks does not exist.
        match self.ns().and_then(|n| n.configmaps.get(name)) {
            Some(h) => Lookup::Found(&h.value.data),
            None => Lookup::Absent,
        }
    }
}

/// The ConfigMaps one pod reads, looked up once in the cache (`None`: cannot be told from the
/// cache).
pub struct PodConfigMaps {
    namespace: String,
    maps: HashMap<String, Option<Option<Arc<SlimConfigMap>>>>,
}

impl ConfigMapLookup for PodConfigMaps {
    fn lookup(&self, namespace: &str, name: &str) -> Lookup<'_> {
        if namespace != self.namespace {
            return Lookup::Unknown;
        }
        match self.maps.get(name) {
            Some(Some(Some(cm))) => Lookup::Found(&cm.data),
            Some(Some(None)) => Lookup::Absent,
            Some(None) | None => Lookup::Unknown,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cache() -> Arc<Cache> {
        let config = kube::Config::new("http://127.0.0.1:9".parse().unwrap());
        let client = Client::try_from(config).unwrap();
        let metrics = Metrics::default();
        // The watch tasks are not spawned: events are fed by hand.
        let (cache, _, _) = Cache::new(client, Some("ns".into()), &metrics, || Box::pin(std::future::pending()));
        cache
    }

    fn deployment(name: &str, key: &str) -> DeploymentRecord {
        serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": "ns", "uid": format!("u-{name}"), "generation": 1},
            "spec": {"template": {"spec": {"containers": [{"name": "c", "env": [
                {"name": "NATS_URL", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": key}}},
                {"name": "UNRELATED", "value": "x"}
            ]}]}}}
        }))
        .unwrap()
    }

    fn configmap(url: &str) -> ConfigMapRecord {
        serde_json::from_value(json!({"metadata": {"name": "cm", "namespace": "ns"},
            "data": {"url": url, "other": "tls://other", "big": "x".repeat(10_000)}}))
        .unwrap()
    }

    fn kept(c: &Cache) -> BTreeMap<String, String> {
        c.read().namespaces["ns"].configmaps["cm"].value.data.clone()
    }

    #[tokio::test]
    async fn configmaps_keep_the_keys_workloads_reach_and_say_when_a_fetch_is_needed() {
        let c = cache();
        c.on_deployment(watcher::Event::Init);
        c.on_deployment(watcher::Event::InitApply(deployment("a", "url")));
        c.on_deployment(watcher::Event::InitDone);
        c.on_configmap(watcher::Event::Init);
        c.on_configmap(watcher::Event::InitApply(configmap("tls://a")));
        c.on_configmap(watcher::Event::InitDone);
        assert_eq!(kept(&c), BTreeMap::from([("url".to_string(), "tls://a".to_string())]));
        assert!(c.uncovered("ns", None).is_empty());
        // A new workload reads another key of the same ConfigMap: not kept yet, so fetch first.
        c.on_deployment(watcher::Event::Apply(deployment("b", "other")));
        assert_eq!(c.uncovered("ns", Some(&["b".to_string()])), ["cm"]);
        assert!(c.uncovered("ns", Some(&["a".to_string()])).is_empty());
        assert!(c.put_configmap(configmap("tls://a")), "the newly kept key changes what evaluation reads");
        assert_eq!(kept(&c).len(), 2);
        assert!(c.uncovered("ns", None).is_empty());
        // A key nobody reaches any more is dropped at the next update.
        c.on_deployment(watcher::Event::Delete(deployment("b", "other")));
        c.put_configmap(configmap("tls://a"));
        assert_eq!(kept(&c).len(), 1);
        // The slim records drop what no policy reads.
        let w = World::workload(&c.view("ns"), "a").unwrap();
        assert_eq!(w.pod.containers[0].env.len(), 1);
    }

    #[tokio::test]
    async fn the_webhook_reads_kept_keys_and_is_never_told_a_guess() {
        use crate::env::{ConfigMapLookup, Lookup};
        let c = cache();
        c.on_deployment(watcher::Event::Init);
        c.on_deployment(watcher::Event::InitApply(deployment("a", "url")));
        c.on_deployment(watcher::Event::InitDone);
        c.on_configmap(watcher::Event::Init);
        c.on_configmap(watcher::Event::InitApply(configmap("tls://a")));
        c.on_configmap(watcher::Event::InitDone);
        let pod = |key: &str, cm: &str| -> crate::workload::PodEnv {
            serde_json::from_value(json!({"containers": [{"name": "c", "env": [
                {"name": "NATS_URL", "valueFrom": {"configMapKeyRef": {"name": cm, "key": key}}}
            ]}]}))
            .unwrap()
        };
        // A key that is kept: its value.
        let kept = c.configmaps_for("ns", &pod("url", "cm"));
        assert!(
            matches!(kept.lookup("ns", "cm"), Lookup::Found(d) if d.get("url").map(String::as_str) == Some("tls://a"))
        );
        // A key of the same ConfigMap that no workload reads yet: unknown, never "absent".
        let other = c.configmaps_for("ns", &pod("other", "cm"));
        assert!(matches!(other.lookup("ns", "cm"), Lookup::Unknown));
        // A ConfigMap the synced cache does not have does not exist.
        let missing = c.configmaps_for("ns", &pod("url", "nope"));
        assert!(matches!(missing.lookup("ns", "nope"), Lookup::Absent));
        assert!(matches!(kept.lookup("elsewhere", "cm"), Lookup::Unknown));
    }

    #[tokio::test]
    async fn a_relist_drops_what_it_did_not_see_and_marks_it() {
        let c = cache();
        c.write().namespaces.entry("ns".into()).or_default().policies.push("p".into());
        c.on_deployment(watcher::Event::Init);
        for n in ["a", "b", "c"] {
            c.on_deployment(watcher::Event::InitApply(deployment(n, "url")));
        }
        c.on_deployment(watcher::Event::InitDone);
        let key = ("ns".to_string(), "p".to_string());
        c.take_touched(&key);
        // A 410 and a new list: b is gone, c changed, a is the same.
        c.on_deployment(watcher::Event::Init);
        c.on_deployment(watcher::Event::InitApply(deployment("a", "url")));
        c.on_deployment(watcher::Event::InitApply(deployment("c", "other")));
        c.on_deployment(watcher::Event::InitDone);
        let touched = c.take_touched(&key);
        assert_eq!(touched.names.into_iter().collect::<Vec<_>>(), ["b", "c"]);
        assert_eq!(World::names(&c.view("ns")).len(), 2);
    }
}
