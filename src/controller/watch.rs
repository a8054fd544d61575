//! Watches and caches. Cached Deployments are trimmed to what evaluation needs, and
//! status-only churn (replica counts, rollout progress) is filtered out before it can
//! trigger any work.

use crate::crd::{NatsTransportIncident, NatsTransportPolicy};
use futures::{Stream, StreamExt};
use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec};
use k8s_openapi::api::core::v1::{ConfigMap, Container, PodSpec, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::runtime::reflector::{self, Store, reflector};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, Resource};
use serde::de::DeserializeOwned;
use std::collections::HashMap;
use std::fmt::Debug;
use std::hash::{DefaultHasher, Hash, Hasher};

/// The caches one controller scope (a namespace, or the whole cluster) reads from.
#[derive(Clone)]
pub struct Stores {
    /// Read by the policy Controller and the admission webhook.
    pub policies: Store<NatsTransportPolicy>,
    pub deployments: Store<Deployment>,
    pub configmaps: Store<ConfigMap>,
    pub incidents: Store<NatsTransportIncident>,
}

/// The watches of one scope: stores plus the trigger streams that feed them.
pub struct Scope {
    pub namespace: Option<String>,
    pub stores: Stores,
    /// Every applied policy (the policy Controller's own trigger).
    pub policy_triggers: TriggerStream<NatsTransportPolicy>,
    pub deployments: TriggerStream<Deployment>,
    pub configmaps: TriggerStream<ConfigMap>,
    pub incidents: TriggerStream<NatsTransportIncident>,
}

pub type TriggerStream<K> = std::pin::Pin<Box<dyn Stream<Item = Result<K, watcher::Error>> + Send>>;

pub fn scope_api<K>(client: &Client, namespace: Option<&str>) -> Api<K>
where
    K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>,
{
    match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

impl Scope {
    pub fn new(client: Client, namespace: Option<String>) -> Self {
        let ns = namespace.as_deref();
        // As `Controller::new` watches its main resource, but with the store shared.
        let (policies, policy_writer) = reflector::store();
        let policy_triggers =
            reflector(policy_writer, watcher(scope_api(&client, ns), watcher::Config::default().any_semantic()))
                .applied_objects()
                .boxed();
        let (deployments, deployments_stream) =
            cached(scope_api::<Deployment>(&client, ns), trim_deployment, deployment_fingerprint);
        let (configmaps, configmaps_stream) =
            cached(scope_api::<ConfigMap>(&client, ns), trim_configmap, configmap_fingerprint);
        let (incidents, incidents_stream) =
            cached(scope_api::<NatsTransportIncident>(&client, ns), trim_meta, incident_fingerprint);
        Self {
            namespace,
            stores: Stores { policies, deployments, configmaps, incidents },
            policy_triggers,
            deployments: deployments_stream,
            configmaps: configmaps_stream,
            incidents: incidents_stream,
        }
    }

    /// Resolves once every cache of this scope has its initial list.
    pub fn ready(&self) -> impl Future<Output = ()> + Send + 'static {
        let s = self.stores.clone();
        async move {
            shared_ready(&s.policies).await;
            let _ = s.deployments.wait_until_ready().await;
            let _ = s.configmaps.wait_until_ready().await;
            let _ = s.incidents.wait_until_ready().await;
        }
    }
}

/// Resolves once `store` has its initial list, also when someone else waits on it at the same
/// time: `Store::wait_until_ready` wakes only the last of several concurrent waiters, and the
/// policy Controller waits on the policy store too. So wait in short rounds.
async fn shared_ready<K: Resource + Clone>(store: &Store<K>)
where
    K::DynamicType: Eq + std::hash::Hash + Clone,
{
    const ROUND: std::time::Duration = std::time::Duration::from_millis(100);
    while tokio::time::timeout(ROUND, store.wait_until_ready()).await.is_err() {}
}

/// A reflector store plus a stream of the objects whose fingerprint changed (and every
/// deletion), which is what should trigger reconciliation.
fn cached<K>(api: Api<K>, trim: fn(&mut K), fingerprint: fn(&K) -> u64) -> (Store<K>, TriggerStream<K>)
where
    K: Resource<DynamicType = ()> + Clone + Debug + DeserializeOwned + Send + Sync + 'static,
{
    let (store, writer) = reflector::store();
    let mut seen: HashMap<String, u64> = HashMap::new();
    let stream = watcher(api, watcher::Config::default().any_semantic())
        .default_backoff()
        .modify(trim)
        .reflect(writer)
        .filter_map(move |event| {
            let out = match event {
                Ok(watcher::Event::Apply(obj)) | Ok(watcher::Event::InitApply(obj)) => {
                    let key = uid_key(&obj);
                    let print = fingerprint(&obj);
                    (seen.insert(key, print) != Some(print)).then_some(Ok(obj))
                }
                Ok(watcher::Event::Delete(obj)) => {
                    seen.remove(&uid_key(&obj));
                    Some(Ok(obj))
                }
                Ok(watcher::Event::Init) | Ok(watcher::Event::InitDone) => None,
                Err(e) => Some(Err(e)),
            };
            std::future::ready(out)
        })
        .boxed();
    (store, stream)
}

fn uid_key<K: Resource>(obj: &K) -> String {
    let m = obj.meta();
    format!(
        "{}/{}/{}",
        m.namespace.as_deref().unwrap_or(""),
        m.name.as_deref().unwrap_or(""),
        m.uid.as_deref().unwrap_or("")
    )
}

fn hash_of(value: &impl Hash) -> u64 {
    let mut h = DefaultHasher::new();
    value.hash(&mut h);
    h.finish()
}

/// What evaluation reads of a (trimmed) Deployment. Not `generation`: the API server bumps it
/// for any annotation change, and those are churn (e.g. the rollout revision).
fn deployment_fingerprint(d: &Deployment) -> u64 {
    let containers = d.spec.as_ref().and_then(|s| s.template.spec.as_ref()).and_then(|p| serde_json::to_vec(p).ok());
    hash_of(&(&d.metadata.labels, &d.metadata.annotations, containers))
}

fn configmap_fingerprint(cm: &ConfigMap) -> u64 {
    hash_of(&cm.data)
}

fn incident_fingerprint(i: &NatsTransportIncident) -> u64 {
    hash_of(&i.metadata.resource_version)
}

/// Drop what natsguard never reads from cached objects.
fn trim_meta<K: Resource>(obj: &mut K) {
    let meta = obj.meta_mut();
    meta.managed_fields = None;
    if let Some(annotations) = meta.annotations.as_mut() {
        annotations.retain(|k, _| k.starts_with("natsguard.io/"));
    }
    if meta.annotations.as_ref().is_some_and(|a| a.is_empty()) {
        meta.annotations = None;
    }
}

fn trim_configmap(cm: &mut ConfigMap) {
    trim_meta(cm);
    cm.binary_data = None;
}

/// Keep only identity, labels, our annotations and the containers' names, env and envFrom.
fn trim_deployment(d: &mut Deployment) {
    trim_meta(d);
    d.status = None;
    let pod = d.spec.take().and_then(|s| s.template.spec);
    let keep = |c: Container| Container {
        name: c.name,
        image: c.image,
        env: c.env,
        env_from: c.env_from,
        ..Default::default()
    };
    d.spec = Some(DeploymentSpec {
        template: PodTemplateSpec {
            metadata: None,
            spec: pod.map(|p| PodSpec {
                containers: p.containers.into_iter().map(keep).collect(),
                init_containers: p.init_containers.map(|cs| cs.into_iter().map(keep).collect()),
                ..Default::default()
            }),
        },
        ..Default::default()
    });
    let ObjectMeta { owner_references, .. } = &mut d.metadata;
    *owner_references = None;
}
