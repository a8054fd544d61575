//! What the operator keeps of Deployments and ConfigMaps: only what evaluation reads
//! (docs/configuration.md, "What the operator caches").
//!
//! A Deployment is read straight from the API server's JSON into a [`DeploymentRecord`]: its
//! identity, labels, `natsguard.io/` annotations and, per container, the name, the image, `env` and
//! `envFrom` in a compact form; everything else in the object is skipped while parsing, never
//! built. [`Relevance`] then keeps, per container, only the `env` entries whose names some policy
//! reads ([`policy_variables`]) and, transitively, the entries those refer to with `$(NAME)`, so
//! the effective environment of every name a rule reads comes out exactly as from the whole pod
//! (a property test checks it). [`Needs`] says which ConfigMap keys those entries can reach, and
//! a ConfigMap is kept as its key names plus the values of the reachable keys only.
//!
//! A policy that reads a name no policy read before makes the kept records too small: the
//! operator then lists Deployments and ConfigMaps again ([`Relevance::covers`]).

use crate::crd::policy::NatsTransportPolicySpec;
use crate::workload::{ContainerEnv, PodEnv};
use k8s_openapi::api::core::v1::{
    ConfigMapEnvSource, ConfigMapKeySelector, EnvFromSource, EnvVar, EnvVarSource, ObjectFieldSelector,
    ResourceFieldSelector, SecretEnvSource, SecretKeySelector,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use serde::{Deserialize, Deserializer};
use std::collections::{BTreeMap, BTreeSet};
use std::hash::{Hash, Hasher};
use std::sync::Arc;

/// The prefix of the annotations natsguard reads on a Deployment; the others are dropped.
pub const ANNOTATION_PREFIX: &str = "natsguard.io/";

/// Every environment variable name a policy's rules read (docs/reference.md): the production,
/// CAP, URL, TLS, credential and override variables, as the policy names them.
pub fn policy_variables(spec: &NatsTransportPolicySpec) -> [&str; 16] {
    let (e, t, a, o) = (&spec.environment, &spec.transport, &spec.auth, &spec.r#override);
    [
        &e.env_var,
        &e.flag_var,
        &e.cap_profile_var,
        &t.url_var,
        &t.mcp_url_var,
        &t.tls.ca,
        &t.tls.cert,
        &t.tls.key,
        &t.tls.server_name,
        &t.tls.insecure,
        &a.username_var,
        &a.password_var,
        &a.token_var,
        &a.nkey_var,
        &o.env_var,
        &o.no_auth_env,
    ]
    .map(String::as_str)
}

/// The variable names that matter to the policies of one watched scope, always including the
/// default profile's (so a policy that keeps the defaults never needs a new list).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Relevance {
    names: BTreeSet<String>,
}

impl Default for Relevance {
    fn default() -> Self {
        Self::of(std::iter::empty())
    }
}

impl Relevance {
    /// The names that the default profile and `specs` read.
    pub fn of<'a>(specs: impl IntoIterator<Item = &'a NatsTransportPolicySpec>) -> Self {
        let default = NatsTransportPolicySpec::default();
        let mut names: BTreeSet<String> = policy_variables(&default).into_iter().map(str::to_owned).collect();
        for spec in specs {
            names.extend(policy_variables(spec).into_iter().map(str::to_owned));
        }
        Self { names }
    }

    /// Whether records kept for `self` hold everything `other` needs.
    pub fn covers(&self, other: &Relevance) -> bool {
        other.names.is_subset(&self.names)
    }

    pub fn contains(&self, name: &str) -> bool {
        self.names.contains(name)
    }

    /// How many names.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// Keep of `record` what evaluation under these names reads, its strings shared through
    /// `interner` (names, images, variable names and values, label keys and values repeat across
    /// Deployments).
    pub fn slim(&self, record: DeploymentRecord, interner: &mut Interner) -> SlimWorkload {
        let DeploymentRecord { metadata, pod } = record;
        let mut keep = |c: SlimContainer| self.slim_container(c, interner);
        let init_containers = pod.init_containers.into_vec().into_iter().map(&mut keep).collect();
        let containers = pod.containers.into_vec().into_iter().map(&mut keep).collect();
        let pod = SlimPod { init_containers, containers };
        let needs = Needs::of(&pod, self, interner);
        SlimWorkload { meta: SlimMeta::of(metadata, interner), pod, needs }
    }

    fn slim_container(&self, c: SlimContainer, interner: &mut Interner) -> SlimContainer {
        let extra = self.referenced(&c);
        let env = c
            .env
            .into_vec()
            .into_iter()
            .filter(|v| self.names.contains(&*v.name) || extra.contains(&*v.name))
            .map(|v| v.interned(interner))
            .collect();
        let env_from = c.env_from.into_vec().into_iter().map(|f| f.interned(interner)).collect();
        SlimContainer { name: interner.intern(&c.name), image: c.image.map(|i| interner.intern(&i)), env, env_from }
    }

    /// The names beyond the policies' variables whose definitions evaluation of `c` can read:
    /// transitively, what a kept literal value refers to with `$(NAME)`.
    fn referenced(&self, c: &SlimContainer) -> BTreeSet<String> {
        let mut extra: BTreeSet<String> = BTreeSet::new();
        let mut frontier: Vec<&Var> = c.env.iter().filter(|v| self.names.contains(&*v.name)).collect();
        while let Some(var) = frontier.pop() {
            if let Source::Value(value) = &var.source {
                for r in crate::env::references(value) {
                    if !self.names.contains(&r) && extra.insert(r.clone()) {
                        frontier.extend(c.env.iter().filter(|v| *v.name == *r));
                    }
                }
            }
        }
        extra
    }
}

/// Shares equal strings between cached records (one allocation per distinct string). Strings
/// no record holds any more go at the next [`Interner::sweep`].
#[derive(Debug, Default)]
pub struct Interner {
    set: std::collections::HashSet<Arc<str>>,
    swept_at: usize,
}

impl Interner {
    /// The shared copy of `s`.
    pub fn intern(&mut self, s: &str) -> Arc<str> {
        if let Some(shared) = self.set.get(s) {
            return shared.clone();
        }
        let shared: Arc<str> = Arc::from(s);
        self.set.insert(shared.clone());
        if self.set.len() > 2 * self.swept_at + 4096 {
            self.sweep();
        }
        shared
    }

    /// Drop the strings only the interner holds.
    pub fn sweep(&mut self) {
        self.set.retain(|s| Arc::strong_count(s) > 1);
        self.set.shrink_to_fit();
        self.swept_at = self.set.len();
    }

    pub fn len(&self) -> usize {
        self.set.len()
    }

    pub fn is_empty(&self) -> bool {
        self.set.is_empty()
    }
}

/// A Deployment as read from the API server, before [`Relevance::slim`]: identity, labels and
/// `natsguard.io/` annotations in `metadata`, and the pod template's containers.
#[derive(Clone, Debug, PartialEq)]
pub struct DeploymentRecord {
    pub metadata: ObjectMeta,
    pub pod: SlimPod,
}

/// What the operator keeps of one Deployment.
#[derive(Clone, Debug, PartialEq)]
pub struct SlimWorkload {
    pub meta: SlimMeta,
    pub pod: SlimPod,
    /// The ConfigMaps and keys its kept entries can reach.
    pub needs: Needs,
}

/// A Deployment's identity, labels and `natsguard.io/` annotations.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlimMeta {
    pub name: Arc<str>,
    pub namespace: Arc<str>,
    pub uid: Arc<str>,
    /// `metadata.generation` (part of a new incident's name).
    pub generation: i64,
    /// Sorted by key.
    pub labels: Box<[(Arc<str>, Arc<str>)]>,
    /// Only `natsguard.io/` ones; `None` when there are none (the usual case).
    pub annotations: Option<Box<BTreeMap<String, String>>>,
    /// Being deleted (`deletionTimestamp` set).
    pub deleting: bool,
}

impl SlimMeta {
    fn of(m: ObjectMeta, interner: &mut Interner) -> Self {
        let mut intern = |s: Option<String>| interner.intern(s.as_deref().unwrap_or_default());
        let (name, namespace, uid) = (intern(m.name), intern(m.namespace), intern(m.uid));
        let labels =
            m.labels.unwrap_or_default().iter().map(|(k, v)| (interner.intern(k), interner.intern(v))).collect();
        Self {
            name,
            namespace,
            uid,
            generation: m.generation.unwrap_or(0),
            labels,
            annotations: m.annotations.filter(|a| !a.is_empty()).map(Box::new),
            deleting: m.deletion_timestamp.is_some(),
        }
    }
}

impl SlimWorkload {
    pub fn name(&self) -> &str {
        &self.meta.name
    }

    pub fn uid(&self) -> &str {
        &self.meta.uid
    }

    /// The labels, as a selector reads them (built on each call: only for the workloads a change
    /// touched, or once per workload on a full pass).
    pub fn labels(&self) -> BTreeMap<String, String> {
        self.meta.labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    pub fn annotations(&self) -> &BTreeMap<String, String> {
        static EMPTY: BTreeMap<String, String> = BTreeMap::new();
        self.meta.annotations.as_deref().unwrap_or(&EMPTY)
    }

    /// `metadata.generation`, as incident names use it.
    pub fn generation(&self) -> u64 {
        self.meta.generation.max(0) as u64
    }

    /// Whether two records evaluate the same: not the generation, which the API server bumps for
    /// any annotation change of a Deployment (the rollout revision among them).
    pub fn same_as(&self, other: &SlimWorkload) -> bool {
        let (a, b) = (&self.meta, &other.meta);
        a.uid == b.uid
            && a.labels == b.labels
            && a.annotations == b.annotations
            && a.deleting == b.deleting
            && self.pod == other.pod
    }

    /// Feeds what evaluation reads of this record into `h` (for the index's fingerprint).
    pub fn hash_inputs(&self, h: &mut impl Hasher) {
        self.meta.uid.hash(h);
        self.meta.annotations.hash(h);
        self.pod.hash(h);
    }
}

/// The containers of a pod template, compactly.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct SlimPod {
    pub init_containers: Box<[SlimContainer]>,
    pub containers: Box<[SlimContainer]>,
}

impl SlimPod {
    /// The form the evaluator reads (built for the few workloads being evaluated, then dropped).
    pub fn to_pod_env(&self) -> PodEnv {
        PodEnv {
            init_containers: self.init_containers.iter().map(SlimContainer::to_container_env).collect(),
            containers: self.containers.iter().map(SlimContainer::to_container_env).collect(),
        }
    }

    /// Init containers first, then containers.
    pub fn all(&self) -> impl Iterator<Item = &SlimContainer> {
        self.init_containers.iter().chain(self.containers.iter())
    }
}

impl From<&PodEnv> for SlimPod {
    fn from(p: &PodEnv) -> Self {
        Self {
            init_containers: p.init_containers.iter().map(SlimContainer::from).collect(),
            containers: p.containers.iter().map(SlimContainer::from).collect(),
        }
    }
}

/// One container: name, image, `env` and `envFrom`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct SlimContainer {
    pub name: Arc<str>,
    pub image: Option<Arc<str>>,
    pub env: Box<[Var]>,
    pub env_from: Box<[EnvFrom]>,
}

impl SlimContainer {
    fn to_container_env(&self) -> ContainerEnv {
        ContainerEnv {
            name: self.name.to_string(),
            image: self.image.as_deref().map(str::to_owned),
            env: self.env.iter().map(Var::to_env_var).collect(),
            env_from: self.env_from.iter().map(EnvFrom::to_source).collect(),
        }
    }
}

impl From<&ContainerEnv> for SlimContainer {
    fn from(c: &ContainerEnv) -> Self {
        Self {
            name: c.name.as_str().into(),
            image: c.image.as_deref().map(Into::into),
            env: c.env.iter().map(Var::from).collect(),
            env_from: c.env_from.iter().filter_map(EnvFrom::from_source).collect(),
        }
    }
}

/// One `env` entry.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Var {
    pub name: Arc<str>,
    pub source: Source,
}

/// Where an `env` entry's value comes from. A non-empty `value` wins over `valueFrom`, and an
/// entry with neither is the empty string, as the kubelet reads them.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Source {
    Value(Arc<str>),
    ConfigMapKey {
        name: Arc<str>,
        key: Arc<str>,
        optional: bool,
    },
    SecretKey {
        name: Arc<str>,
        key: Arc<str>,
    },
    FieldRef(Arc<str>),
    ResourceFieldRef(Arc<str>),
    /// A source this API version does not know: its value cannot be known.
    Other,
}

impl Var {
    fn interned(self, i: &mut Interner) -> Self {
        let source = match self.source {
            Source::Value(v) => Source::Value(i.intern(&v)),
            Source::ConfigMapKey { name, key, optional } => {
                Source::ConfigMapKey { name: i.intern(&name), key: i.intern(&key), optional }
            }
            Source::SecretKey { name, key } => Source::SecretKey { name: i.intern(&name), key: i.intern(&key) },
            Source::FieldRef(p) => Source::FieldRef(i.intern(&p)),
            Source::ResourceFieldRef(r) => Source::ResourceFieldRef(i.intern(&r)),
            Source::Other => Source::Other,
        };
        Var { name: i.intern(&self.name), source }
    }

    fn to_env_var(&self) -> EnvVar {
        let from = |s: EnvVarSource| EnvVar { name: self.name.to_string(), value_from: Some(s), value: None };
        match &self.source {
            Source::Value(v) => EnvVar { name: self.name.to_string(), value: Some(v.to_string()), value_from: None },
            Source::ConfigMapKey { name, key, optional } => from(EnvVarSource {
                config_map_key_ref: Some(ConfigMapKeySelector {
                    name: name.to_string(),
                    key: key.to_string(),
                    optional: Some(*optional),
                }),
                ..Default::default()
            }),
            Source::SecretKey { name, key } => from(EnvVarSource {
                secret_key_ref: Some(SecretKeySelector {
                    name: name.to_string(),
                    key: key.to_string(),
                    optional: None,
                }),
                ..Default::default()
            }),
            Source::FieldRef(path) => from(EnvVarSource {
                field_ref: Some(ObjectFieldSelector { field_path: path.to_string(), api_version: None }),
                ..Default::default()
            }),
            Source::ResourceFieldRef(resource) => from(EnvVarSource {
                resource_field_ref: Some(ResourceFieldSelector {
                    resource: resource.to_string(),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            Source::Other => from(EnvVarSource::default()),
        }
    }
}

impl From<&EnvVar> for Var {
    fn from(v: &EnvVar) -> Self {
        let source = match (v.value.as_deref(), &v.value_from) {
            (Some(value), _) if !value.is_empty() => Source::Value(value.into()),
            (_, None) => Source::Value("".into()),
            (_, Some(from)) => {
                if let Some(f) = &from.field_ref {
                    Source::FieldRef(f.field_path.as_str().into())
                } else if let Some(r) = &from.resource_field_ref {
                    Source::ResourceFieldRef(r.resource.as_str().into())
                } else if let Some(c) = &from.config_map_key_ref {
                    Source::ConfigMapKey {
                        name: c.name.as_str().into(),
                        key: c.key.as_str().into(),
                        optional: c.optional.unwrap_or(false),
                    }
                } else if let Some(s) = &from.secret_key_ref {
                    Source::SecretKey { name: s.name.as_str().into(), key: s.key.as_str().into() }
                } else {
                    Source::Other
                }
            }
        };
        Var { name: v.name.as_str().into(), source }
    }
}

/// One `envFrom` source (a source that is neither a ConfigMap nor a Secret defines nothing).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum EnvFrom {
    ConfigMap { name: Arc<str>, prefix: Arc<str>, optional: bool },
    Secret { name: Arc<str>, prefix: Arc<str> },
}

impl EnvFrom {
    fn to_source(&self) -> EnvFromSource {
        let prefix = |p: &str| (!p.is_empty()).then(|| p.to_owned());
        match self {
            EnvFrom::ConfigMap { name, prefix: p, optional } => EnvFromSource {
                config_map_ref: Some(ConfigMapEnvSource { name: name.to_string(), optional: Some(*optional) }),
                prefix: prefix(p),
                secret_ref: None,
            },
            EnvFrom::Secret { name, prefix: p } => EnvFromSource {
                secret_ref: Some(SecretEnvSource { name: name.to_string(), optional: None }),
                prefix: prefix(p),
                config_map_ref: None,
            },
        }
    }

    fn interned(self, i: &mut Interner) -> Self {
        match self {
            EnvFrom::ConfigMap { name, prefix, optional } => {
                EnvFrom::ConfigMap { name: i.intern(&name), prefix: i.intern(&prefix), optional }
            }
            EnvFrom::Secret { name, prefix } => EnvFrom::Secret { name: i.intern(&name), prefix: i.intern(&prefix) },
        }
    }

    fn from_source(s: &EnvFromSource) -> Option<Self> {
        let prefix: Arc<str> = s.prefix.as_deref().unwrap_or_default().into();
        if let Some(c) = &s.config_map_ref {
            Some(EnvFrom::ConfigMap { name: c.name.as_str().into(), prefix, optional: c.optional.unwrap_or(false) })
        } else {
            s.secret_ref.as_ref().map(|r| EnvFrom::Secret { name: r.name.as_str().into(), prefix })
        }
    }
}

/// The keys a workload can reach in one ConfigMap: (ConfigMap name, keys), both sorted.
pub type ConfigMapNeeds = (Arc<str>, Box<[Arc<str>]>);

/// The ConfigMaps (by name, in the workload's namespace) and keys that a workload's kept
/// entries can reach: `configMapKeyRef` keys, and for `envFrom` the keys that, with the source's
/// prefix, give a name evaluation reads.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Needs {
    /// ConfigMap name -> keys, both sorted.
    pub maps: Box<[ConfigMapNeeds]>,
}

impl Needs {
    fn of(pod: &SlimPod, relevance: &Relevance, interner: &mut Interner) -> Self {
        let mut maps: BTreeMap<Arc<str>, BTreeSet<Arc<str>>> = BTreeMap::new();
        for c in pod.all() {
            let refs: BTreeSet<String> = c
                .env
                .iter()
                .filter_map(|v| match &v.source {
                    Source::Value(value) => Some(crate::env::references(value)),
                    _ => None,
                })
                .flatten()
                .collect();
            let names = relevance.names.iter().chain(refs.iter());
            for from in c.env_from.iter() {
                if let EnvFrom::ConfigMap { name, prefix, .. } = from {
                    let keys: Vec<Arc<str>> = names
                        .clone()
                        .filter_map(|n| n.strip_prefix(&**prefix))
                        .filter(|k| !k.is_empty())
                        .map(|k| interner.intern(k))
                        .collect();
                    maps.entry(name.clone()).or_default().extend(keys);
                }
            }
            for v in c.env.iter() {
                if let Source::ConfigMapKey { name, key, .. } = &v.source {
                    maps.entry(name.clone()).or_default().insert(key.clone());
                }
            }
        }
        Self { maps: maps.into_iter().map(|(cm, keys)| (cm, keys.into_iter().collect())).collect() }
    }

    /// The keys of ConfigMap `cm`.
    pub fn keys(&self, cm: &str) -> Option<&[Arc<str>]> {
        self.maps.iter().find(|(name, _)| &**name == cm).map(|(_, keys)| &**keys)
    }

    /// Every (ConfigMap, key) pair.
    pub fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.maps.iter().flat_map(|(cm, keys)| keys.iter().map(move |k| (&**cm, &**k)))
    }
}

/// A ConfigMap as read from the API server: name, namespace, resourceVersion and `data`
/// (`binaryData` never becomes env and is skipped while parsing).
#[derive(Clone, Debug, PartialEq)]
pub struct ConfigMapRecord {
    pub metadata: ObjectMeta,
    pub data: BTreeMap<String, String>,
}

/// What the operator keeps of one ConfigMap: every key's name (so a key that does not exist is
/// known not to), and the values of the keys some workload can reach.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SlimConfigMap {
    /// Every key in `data`, sorted.
    pub keys: Box<[Box<str>]>,
    /// The kept values.
    pub data: BTreeMap<String, String>,
}

impl SlimConfigMap {
    /// Keep of `data` the keys for which `wanted` holds.
    pub fn of(data: BTreeMap<String, String>, wanted: impl Fn(&str) -> bool) -> Self {
        let keys = data.keys().map(|k| k.as_str().into()).collect();
        let data = data.into_iter().filter(|(k, _)| wanted(k)).collect();
        Self { keys, data }
    }

    /// Whether the ConfigMap has `key` (kept or not).
    pub fn has_key(&self, key: &str) -> bool {
        self.keys.binary_search_by(|k| (**k).cmp(key)).is_ok()
    }

    /// Whether every key of `keys` that exists here is kept.
    pub fn covers<'a>(&self, mut keys: impl Iterator<Item = &'a str>) -> bool {
        keys.all(|k| self.data.contains_key(k) || !self.has_key(k))
    }
}

// ---- Reading the API server's JSON straight into the records ----------------------------------

/// The metadata fields natsguard reads; the rest (managedFields above all) is skipped unbuilt.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawMeta {
    name: Option<String>,
    namespace: Option<String>,
    uid: Option<String>,
    resource_version: Option<String>,
    generation: Option<i64>,
    #[serde(default)]
    labels: Option<BTreeMap<String, String>>,
    #[serde(default, deserialize_with = "our_annotations")]
    annotations: Option<BTreeMap<String, String>>,
    deletion_timestamp: Option<Time>,
}

fn our_annotations<'de, D: Deserializer<'de>>(d: D) -> Result<Option<BTreeMap<String, String>>, D::Error> {
    let all = Option::<BTreeMap<String, String>>::deserialize(d)?;
    Ok(all
        .map(|mut a| {
            a.retain(|k, _| k.starts_with(ANNOTATION_PREFIX));
            a
        })
        .filter(|a| !a.is_empty()))
}

impl From<RawMeta> for ObjectMeta {
    fn from(m: RawMeta) -> Self {
        ObjectMeta {
            name: m.name,
            namespace: m.namespace,
            uid: m.uid,
            resource_version: m.resource_version,
            generation: m.generation,
            labels: m.labels,
            annotations: m.annotations,
            deletion_timestamp: m.deletion_timestamp,
            ..Default::default()
        }
    }
}

#[derive(Deserialize)]
struct RawDeployment {
    metadata: RawMeta,
    #[serde(default)]
    spec: Option<RawDeploymentSpec>,
}

#[derive(Deserialize)]
struct RawDeploymentSpec {
    #[serde(default)]
    template: Option<RawTemplate>,
}

#[derive(Deserialize)]
struct RawTemplate {
    #[serde(default)]
    spec: Option<RawPodSpec>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawPodSpec {
    #[serde(default, deserialize_with = "null_as_default")]
    init_containers: Vec<RawContainer>,
    #[serde(default, deserialize_with = "null_as_default")]
    containers: Vec<RawContainer>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawContainer {
    #[serde(default)]
    name: String,
    image: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    env: Vec<EnvVar>,
    #[serde(default, deserialize_with = "null_as_default")]
    env_from: Vec<EnvFromSource>,
}

fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

impl From<RawContainer> for SlimContainer {
    fn from(c: RawContainer) -> Self {
        Self {
            name: c.name.into(),
            image: c.image.map(Into::into),
            env: c.env.iter().map(Var::from).collect(),
            env_from: c.env_from.iter().filter_map(EnvFrom::from_source).collect(),
        }
    }
}

impl<'de> Deserialize<'de> for DeploymentRecord {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = RawDeployment::deserialize(d)?;
        let pod = raw.spec.and_then(|s| s.template).and_then(|t| t.spec).map_or_else(SlimPod::default, |p| SlimPod {
            init_containers: p.init_containers.into_iter().map(SlimContainer::from).collect(),
            containers: p.containers.into_iter().map(SlimContainer::from).collect(),
        });
        Ok(DeploymentRecord { metadata: raw.metadata.into(), pod })
    }
}

#[derive(Deserialize)]
struct RawConfigMap {
    metadata: RawMeta,
    #[serde(default, deserialize_with = "null_as_default")]
    data: BTreeMap<String, String>,
}

impl<'de> Deserialize<'de> for ConfigMapRecord {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = RawConfigMap::deserialize(d)?;
        let mut metadata: ObjectMeta = raw.metadata.into();
        // A ConfigMap's labels and annotations never matter to evaluation.
        metadata.labels = None;
        metadata.annotations = None;
        Ok(ConfigMapRecord { metadata, data: raw.data })
    }
}

macro_rules! resource {
    ($ty:ty, $kind:literal, $group:literal, $version:literal, $api_version:literal, $plural:literal) => {
        impl kube::Resource for $ty {
            type DynamicType = ();
            type Scope = k8s_openapi::NamespaceResourceScope;

            fn kind(_: &()) -> std::borrow::Cow<'_, str> {
                $kind.into()
            }
            fn group(_: &()) -> std::borrow::Cow<'_, str> {
                $group.into()
            }
            fn version(_: &()) -> std::borrow::Cow<'_, str> {
                $version.into()
            }
            fn api_version(_: &()) -> std::borrow::Cow<'_, str> {
                $api_version.into()
            }
            fn plural(_: &()) -> std::borrow::Cow<'_, str> {
                $plural.into()
            }
            fn meta(&self) -> &ObjectMeta {
                &self.metadata
            }
            fn meta_mut(&mut self) -> &mut ObjectMeta {
                &mut self.metadata
            }
        }
    };
}

resource!(DeploymentRecord, "Deployment", "apps", "v1", "apps/v1", "deployments");
resource!(ConfigMapRecord, "ConfigMap", "", "v1", "v1", "configmaps");

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::{ConfigMapLookup, ConfigMaps, Lookup};
    use crate::evaluate::{EvalContext, WorkloadInput, evaluate_workload};
    use proptest::prelude::*;
    use serde_json::json;

    fn record(v: serde_json::Value) -> DeploymentRecord {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn reads_only_what_evaluation_needs() {
        let r = record(json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {
                "name": "api", "namespace": "ns", "uid": "u1", "resourceVersion": "7", "generation": 3,
                "labels": {"app": "cordum"},
                "annotations": {"natsguard.io/override-owner": "alice", "deployment.kubernetes.io/revision": "9"},
                "managedFields": [{"manager": "kubectl", "fieldsV1": {"f:spec": {}}}]
            },
            "spec": {"replicas": 3, "template": {"metadata": {"labels": {"x": "y"}}, "spec": {
                "volumes": [{"name": "v"}],
                "initContainers": null,
                "containers": [{"name": "c", "image": "cordum/scheduler:1", "resources": {"limits": {"cpu": "1"}},
                    "env": [
                        {"name": "NATS_URL", "value": "tls://$(HOST):4222"},
                        {"name": "HOST", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "host"}}},
                        {"name": "UNRELATED", "value": "x"},
                        {"name": "NATS_TOKEN", "valueFrom": {"secretKeyRef": {"name": "s", "key": "t"}}},
                        {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}
                    ],
                    "envFrom": [{"configMapRef": {"name": "bag"}, "prefix": "APP_"}, {"secretRef": {"name": "s"}}]}]
            }}},
            "status": {"replicas": 3}
        }));
        assert_eq!(
            r.metadata.annotations,
            Some(BTreeMap::from([("natsguard.io/override-owner".into(), "alice".into())]))
        );
        assert_eq!(r.metadata.generation, Some(3));
        assert!(r.metadata.managed_fields.is_none());
        let w = Relevance::default().slim(r, &mut Interner::default());
        let names: Vec<&str> = w.pod.containers[0].env.iter().map(|v| &*v.name).collect();
        assert_eq!(names, ["NATS_URL", "HOST", "NATS_TOKEN"], "POD and UNRELATED are dropped, HOST is referenced");
        assert_eq!(w.pod.containers[0].env_from.len(), 2);
        let keys = |cm: &str| w.needs.keys(cm).map(|k| k.iter().map(|k| k.to_string()).collect::<Vec<_>>());
        assert_eq!(keys("cm"), Some(vec!["host".to_string()]));
        // envFrom with prefix APP_: only keys that give a relevant name with the prefix.
        assert_eq!(keys("bag"), Some(vec![]));
    }

    #[test]
    fn a_renamed_variable_is_kept_only_when_a_policy_reads_it() {
        let mut spec = NatsTransportPolicySpec::default();
        spec.transport.url_var = "BUS_URL".into();
        let base = Relevance::default();
        let renamed = Relevance::of([&spec]);
        assert!(renamed.covers(&base));
        assert!(!base.covers(&renamed), "a new name means a new list");
        assert!(renamed.contains("BUS_URL") && renamed.contains("NATS_URL"));
    }

    #[test]
    fn configmap_keeps_key_names_and_wanted_values() {
        let data = BTreeMap::from([("a".to_string(), "1".to_string()), ("big".to_string(), "x".repeat(1000))]);
        let cm = SlimConfigMap::of(data, |k| k == "a");
        assert_eq!(cm.data.len(), 1);
        assert!(cm.has_key("big") && !cm.has_key("zzz"));
        assert!(cm.covers(["a", "zzz"].into_iter()), "a missing key is known missing");
        assert!(!cm.covers(["big"].into_iter()), "an existing key that is not kept");
        let r: ConfigMapRecord = serde_json::from_value(json!({"metadata": {"name": "cm", "namespace": "ns",
            "labels": {"x": "y"}}, "data": null, "binaryData": {"b": "AAAA"}}))
        .unwrap();
        assert!(r.data.is_empty() && r.metadata.labels.is_none());
    }

    #[test]
    fn references_follow_the_expansion_rules() {
        use crate::env::references;
        assert_eq!(references("tls://$(HOST):$(PORT)/$(HOST)"), ["HOST", "PORT"]);
        assert!(references("$$(ESCAPED) $(UNTERMINATED").is_empty());
        assert_eq!(references("$$$(A)"), ["A"]);
    }

    /// The cluster's ConfigMaps, as the slim cache keeps them for a pod.
    struct Kept {
        maps: BTreeMap<String, Option<SlimConfigMap>>,
    }

    impl ConfigMapLookup for Kept {
        fn lookup(&self, _: &str, name: &str) -> Lookup<'_> {
            match self.maps.get(name) {
                Some(Some(cm)) => Lookup::Found(&cm.data),
                _ => Lookup::Absent,
            }
        }
    }

    const NAMES: [&str; 12] = [
        "CORDUM_ENV",
        "NATS_URL",
        "CORDUM_NATS_ALLOW_PLAINTEXT",
        "NATS_TLS_CA",
        "NATS_TOKEN",
        "NATS_USERNAME",
        "NATS_PASSWORD",
        "BUS_URL",
        "HOST",
        "PORT",
        "JUNK",
        "NATS_SERVICE_HOST",
    ];

    fn env_entry() -> impl Strategy<Value = serde_json::Value> {
        let name = proptest::sample::select(NAMES.to_vec());
        let reference = proptest::sample::select(NAMES.to_vec()).prop_map(|n| format!("$({n})"));
        let value = prop_oneof![
            "(production|tls://a:1|nats://b:2|true|x|)".prop_map(|v| json!({"value": v})),
            (reference.clone(), reference, "(tls://|nats://|)")
                .prop_map(|(a, b, s)| json!({"value": format!("{s}{a}:{b}")})),
            proptest::sample::select(vec!["k1", "k2", "NATS_URL"])
                .prop_map(|k| json!({"valueFrom": {"configMapKeyRef": {"name": "cm", "key": k, "optional": true}}})),
            Just(json!({"valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}})),
            Just(json!({"valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}})),
        ];
        (name, value).prop_map(|(n, mut v)| {
            v["name"] = json!(n);
            v
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        /// Evaluating the slim record gives exactly what evaluating the whole pod gives, for the
        /// default policy and for one that renames its URL variable.
        #[test]
        fn the_slim_record_evaluates_like_the_whole_pod(
            env in proptest::collection::vec(env_entry(), 0..12),
            prefix in "(|APP_|NATS_)",
            env_from in any::<bool>(),
            renamed in any::<bool>(),
        ) {
            let mut spec = NatsTransportPolicySpec::default();
            if renamed {
                spec.transport.url_var = "BUS_URL".into();
            }
            let env_from = if env_from { json!([{"configMapRef": {"name": "bag"}, "prefix": prefix}]) } else { json!([]) };
            let full = record(json!({"metadata": {"name": "w", "namespace": "ns"}, "spec": {"template": {"spec": {
                "containers": [{"name": "c", "image": "cordum/scheduler:1", "env": env, "envFrom": env_from}]}}}}));
            let mut cms = ConfigMaps { complete: true, ..Default::default() };
            let data = |pairs: &[(&str, &str)]| pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<BTreeMap<_, _>>();
            let cm = data(&[("k1", "tls://x:1"), ("k2", "1"), ("NATS_URL", "nats://y:2"), ("JUNK", "j")]);
            let bag = data(&[("URL", "tls://bag:1"), ("NATS_URL", "nats://bag:2"), ("HOST", "h"), ("CORDUM_ENV", "prod"), ("APP_X", "1")]);
            cms.insert("ns", "cm", cm.clone());
            cms.insert("ns", "bag", bag.clone());
            let annotations = BTreeMap::new();
            let ctx = EvalContext::at("2026-01-01T00:00:00Z".parse().unwrap());
            let whole = full.pod.to_pod_env();
            let input = WorkloadInput { namespace: "ns", name: "w", annotations: &annotations, pod: &whole };
            let expected = evaluate_workload(&spec, &input, &cms, &ctx);

            let slim = Relevance::of([&spec]).slim(full, &mut Interner::default());
            let keep = |name: &str, data: BTreeMap<String, String>| {
                let wanted = slim.needs.keys(name).unwrap_or_default();
                SlimConfigMap::of(data, |k| wanted.iter().any(|w| &**w == k))
            };
            let kept = Kept { maps: BTreeMap::from([("cm".to_string(), Some(keep("cm", cm))), ("bag".to_string(), Some(keep("bag", bag)))]) };
            let pod = slim.pod.to_pod_env();
            let input = WorkloadInput { namespace: "ns", name: "w", annotations: &annotations, pod: &pod };
            let got = evaluate_workload(&spec, &input, &kept, &ctx);
            prop_assert_eq!(got, expected);
        }
    }
}
