//! The effective environment of a container: what the kubelet (Kubernetes v1.36) would hand it,
//! except that Secrets are never read (docs/reference.md, "Effective environment").
//!
//! Order: `envFrom` sources in order (keys of a ConfigMap's `data`, with `prefix`), then `env`
//! entries in order; a later definition of a name replaces an earlier one. Only `env[].value`
//! is `$(VAR)`-expanded, against the variables defined so far. An optional source that does not
//! exist (or an optional key that is missing) is skipped, leaving any earlier definition alone.
//!
//! ConfigMap keys are taken as they are (with `prefix`): since relaxed env-var validation the
//! v1.36 kubelet no longer drops keys that are not C identifiers, and the API server already
//! limits keys to `[-._a-zA-Z0-9]+`. Only `data` is read (`binaryData` never becomes env).
//!
//! What cannot be known is modelled, not guessed: a Secret-sourced, `fieldRef`,
//! `resourceFieldRef` or unreadable-ConfigMap value is [`Value::Unknown`]; an `envFrom` source
//! whose keys cannot be known (every `secretRef`, or a `configMapRef` whose map is unknown) may
//! define *any* name, so every name it could define is reported as [`Presence::Maybe`].

use crate::workload::ContainerEnv;
use k8s_openapi::api::core::v1::{EnvFromSource, EnvVar};
use std::collections::BTreeMap;
use std::fmt;

/// The result of looking up a ConfigMap.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lookup<'a> {
    /// The `data` of an existing ConfigMap.
    Found(&'a BTreeMap<String, String>),
    /// Known not to exist (in the cluster).
    Absent,
    /// Cannot be known (offline, and not given alongside the manifests).
    Unknown,
}

/// Where ConfigMaps come from: the cluster cache (controller) or the input files (`check`).
pub trait ConfigMapLookup {
    /// The ConfigMap `namespace/name`.
    fn lookup(&self, namespace: &str, name: &str) -> Lookup<'_>;
}

/// A fixed set of ConfigMaps keyed by `(namespace, name)`.
///
/// `missing` says what a ConfigMap not in the set is: [`Lookup::Unknown`] offline (the
/// manifests may simply not include it), [`Lookup::Absent`] when the set is known complete.
#[derive(Clone, Debug, Default)]
pub struct ConfigMaps {
    /// `(namespace, name)` -> `data`.
    pub maps: BTreeMap<(String, String), BTreeMap<String, String>>,
    /// Whether a ConfigMap not in `maps` is known not to exist.
    pub complete: bool,
}

impl ConfigMaps {
    /// An empty, incomplete set: every lookup is [`Lookup::Unknown`].
    pub fn unknown() -> Self {
        Self::default()
    }

    /// Add (or replace) the ConfigMap `namespace/name`.
    pub fn insert(&mut self, namespace: &str, name: &str, data: BTreeMap<String, String>) {
        self.maps.insert((namespace.to_string(), name.to_string()), data);
    }
}

impl ConfigMapLookup for ConfigMaps {
    fn lookup(&self, namespace: &str, name: &str) -> Lookup<'_> {
        match self.maps.get(&(namespace.to_string(), name.to_string())) {
            Some(data) => Lookup::Found(data),
            None if self.complete => Lookup::Absent,
            None => Lookup::Unknown,
        }
    }
}

/// A variable's value, if it can be known without reading a Secret or the running pod.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    /// The exact string the container will see.
    Known(String),
    /// Secret-sourced, `fieldRef`, `resourceFieldRef`, an unreadable or missing ConfigMap, or a
    /// `$(X)` expansion of such an `X`.
    Unknown,
}

impl Value {
    /// The known value, if any.
    pub fn known(&self) -> Option<&str> {
        match self {
            Value::Known(s) => Some(s),
            Value::Unknown => None,
        }
    }
}

/// Where a variable's effective value comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// `env[].value` (after `$(VAR)` expansion of known variables).
    Literal,
    /// `env[].valueFrom.configMapKeyRef`, or a key of an `envFrom.configMapRef`.
    ConfigMap { name: String, key: String },
    /// `env[].valueFrom.secretKeyRef` (or a `$(X)` expansion of such an `X`).
    Secret { name: String, key: String },
    /// `env[].valueFrom.fieldRef` (the field path).
    FieldRef(String),
    /// `env[].valueFrom.resourceFieldRef` (the resource).
    ResourceFieldRef(String),
    /// An `envFrom.secretRef` whose keys are never read: it may define this name.
    EnvFromSecret { name: String, prefix: String },
    /// An `envFrom.configMapRef` whose ConfigMap cannot be read: it may define this name.
    EnvFromConfigMap { name: String, prefix: String },
    /// An `env[].value` that references service-link variables (`<SERVICE>_SERVICE_HOST`, …) not
    /// defined in the manifest. The kubelet resolves them from the namespace's Services when they
    /// exist; natsguard does not model them (docs/reference.md, "Effective environment"). The value
    /// is kept as written, references included; `links` names them in order of appearance.
    ServiceLink { links: Vec<String> },
}

impl Origin {
    /// Whether the value lives in a Secret (properly stored credentials).
    pub fn is_secret(&self) -> bool {
        matches!(self, Origin::Secret { .. } | Origin::EnvFromSecret { .. })
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Literal => f.write_str("a literal value"),
            Origin::ConfigMap { name, key } => write!(f, "ConfigMap {name} key {key}"),
            Origin::Secret { name, key } => write!(f, "Secret {name} key {key}"),
            Origin::FieldRef(p) => write!(f, "fieldRef {p}"),
            Origin::ResourceFieldRef(r) => write!(f, "resourceFieldRef {r}"),
            Origin::EnvFromSecret { name, prefix } if prefix.is_empty() => {
                write!(f, "envFrom Secret {name}")
            }
            Origin::EnvFromSecret { name, prefix } => {
                write!(f, "envFrom Secret {name} (prefix {prefix})")
            }
            Origin::EnvFromConfigMap { name, prefix } if prefix.is_empty() => {
                write!(f, "envFrom ConfigMap {name} (not available)")
            }
            Origin::EnvFromConfigMap { name, prefix } => {
                write!(f, "envFrom ConfigMap {name} (prefix {prefix}, not available)")
            }
            Origin::ServiceLink { links } => {
                let first = links.first().map_or("", String::as_str);
                write!(f, "a reference to the service-link variable {first}")
            }
        }
    }
}

/// One effective variable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Var {
    /// Its value, if knowable.
    pub value: Value,
    /// Where the value comes from.
    pub origin: Origin,
}

/// Whether a name is defined in the effective environment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Presence<'a> {
    /// Certainly defined (its value may still be unknown).
    Set(&'a Var),
    /// Not defined by any source we can see, but an opaque `envFrom` source may define it.
    Maybe(&'a Var),
    /// Certainly not defined.
    Unset,
}

/// The effective environment of one container.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EffectiveEnv {
    vars: BTreeMap<String, Var>,
    /// The last `envFrom` source whose keys cannot be known (value Unknown), if any.
    opaque: Option<Var>,
}

impl EffectiveEnv {
    /// The variable `name` if it is set or may be set ([`Presence::Maybe`] gives an Unknown
    /// value whose origin names the opaque source).
    pub fn get(&self, name: &str) -> Option<&Var> {
        match self.presence(name) {
            Presence::Set(v) | Presence::Maybe(v) => Some(v),
            Presence::Unset => None,
        }
    }

    /// Whether `name` is set, may be set, or is unset.
    pub fn presence(&self, name: &str) -> Presence<'_> {
        match (self.vars.get(name), &self.opaque) {
            (Some(v), _) => Presence::Set(v),
            (None, Some(o)) => Presence::Maybe(o),
            (None, None) => Presence::Unset,
        }
    }

    /// The known value of `name`, if it is certainly set to a known value.
    pub fn known(&self, name: &str) -> Option<&str> {
        self.vars.get(name).and_then(|v| v.value.known())
    }

    /// The certainly-defined variables, by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Var)> {
        self.vars.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// The opaque `envFrom` source that may define names not listed, if any.
    pub fn opaque_source(&self) -> Option<&Origin> {
        self.opaque.as_ref().map(|v| &v.origin)
    }

    fn set(&mut self, name: &str, var: Var) {
        self.vars.insert(name.to_string(), var);
    }

    /// An opaque source may redefine every name seen so far and define any other.
    fn add_opaque(&mut self, origin: Origin) {
        let var = Var { value: Value::Unknown, origin };
        for v in self.vars.values_mut() {
            *v = var.clone();
        }
        self.opaque = Some(var);
    }
}

/// Resolve `container`'s effective environment in `namespace`.
pub fn resolve(namespace: &str, container: &ContainerEnv, cms: &dyn ConfigMapLookup) -> EffectiveEnv {
    let mut env = EffectiveEnv::default();
    for source in &container.env_from {
        apply_env_from(&mut env, namespace, source, cms);
    }
    for var in &container.env {
        apply_env(&mut env, namespace, var, cms);
    }
    env
}

fn apply_env_from(env: &mut EffectiveEnv, namespace: &str, source: &EnvFromSource, cms: &dyn ConfigMapLookup) {
    let prefix = source.prefix.clone().unwrap_or_default();
    if let Some(cm) = &source.config_map_ref {
        let optional = cm.optional.unwrap_or(false);
        match cms.lookup(namespace, &cm.name) {
            Lookup::Found(data) => {
                for (key, value) in data {
                    let origin = Origin::ConfigMap { name: cm.name.clone(), key: key.clone() };
                    env.set(&format!("{prefix}{key}"), Var { value: Value::Known(value.clone()), origin });
                }
            }
            // The kubelet ignores a missing optional ConfigMap.
            Lookup::Absent if optional => {}
            // Missing and required: the container does not start; nothing it would see is known.
            Lookup::Absent | Lookup::Unknown => {
                env.add_opaque(Origin::EnvFromConfigMap { name: cm.name.clone(), prefix });
            }
        }
    } else if let Some(secret) = &source.secret_ref {
        env.add_opaque(Origin::EnvFromSecret { name: secret.name.clone(), prefix });
    }
}

fn apply_env(env: &mut EffectiveEnv, namespace: &str, var: &EnvVar, cms: &dyn ConfigMapLookup) {
    let literal = var.value.as_deref().unwrap_or("");
    // The kubelet: a non-empty `value` is expanded; otherwise `valueFrom` if given; otherwise "".
    if !literal.is_empty() {
        let resolved = expand_env(literal, env);
        env.set(&var.name, resolved);
        return;
    }
    let Some(from) = &var.value_from else {
        env.set(&var.name, Var { value: Value::Known(String::new()), origin: Origin::Literal });
        return;
    };
    let unknown = |origin| Some(Var { value: Value::Unknown, origin });
    let resolved = if let Some(f) = &from.field_ref {
        unknown(Origin::FieldRef(f.field_path.clone()))
    } else if let Some(r) = &from.resource_field_ref {
        unknown(Origin::ResourceFieldRef(r.resource.clone()))
    } else if let Some(c) = &from.config_map_key_ref {
        let optional = c.optional.unwrap_or(false);
        let origin = Origin::ConfigMap { name: c.name.clone(), key: c.key.clone() };
        match cms.lookup(namespace, &c.name) {
            Lookup::Found(data) => match data.get(&c.key) {
                Some(v) => Some(Var { value: Value::Known(v.clone()), origin }),
                None if optional => None,
                None => unknown(origin),
            },
            Lookup::Absent if optional => None,
            Lookup::Absent | Lookup::Unknown => unknown(origin),
        }
    } else if let Some(s) = &from.secret_key_ref {
        unknown(Origin::Secret { name: s.name.clone(), key: s.key.clone() })
    } else {
        // A source this API version does not know (e.g. fileKeyRef): cannot be known.
        unknown(Origin::Literal)
    };
    if let Some(v) = resolved {
        env.set(&var.name, v);
    }
}

/// What a `$(NAME)` reference resolves to.
enum Ref<'a> {
    Known(&'a str),
    Unknown(&'a Origin),
    Undefined,
}

/// Expand `$(VAR)` in an `env[].value` against the variables defined so far.
fn expand_env(input: &str, env: &EffectiveEnv) -> Var {
    let mut unknown_origin: Option<Origin> = None;
    let mut links: Vec<String> = Vec::new();
    let out = expand_with(input, MAX_EXPANDED_LEN, |name| {
        let r = match env.presence(name) {
            Presence::Set(v) => match &v.value {
                Value::Known(s) => {
                    // Expanding a value that still holds service-link references carries them on.
                    if let Origin::ServiceLink { links: inner } = &v.origin {
                        links.extend(inner.iter().cloned());
                    }
                    Ref::Known(s)
                }
                Value::Unknown => Ref::Unknown(&v.origin),
            },
            Presence::Maybe(v) => Ref::Unknown(&v.origin),
            Presence::Unset => Ref::Undefined,
        };
        match r {
            Ref::Known(s) => Some(s.to_string()),
            Ref::Unknown(o) => {
                if unknown_origin.is_none() {
                    unknown_origin = Some(o.clone());
                }
                Some(String::new())
            }
            Ref::Undefined => {
                if service_link(name).is_some() {
                    links.push(name.to_owned());
                }
                None
            }
        }
    });
    match (unknown_origin, out) {
        // A secret expanded into a literal keeps its Secret origin; anything else unknown is
        // reported as where it came from too.
        (Some(origin), _) => Var { value: Value::Unknown, origin },
        (None, Some(out)) if links.is_empty() => Var { value: Value::Known(out), origin: Origin::Literal },
        (None, Some(out)) => Var { value: Value::Known(out), origin: Origin::ServiceLink { links } },
        // Absurdly large after expansion (chained references double each time): not evaluated.
        (None, None) => Var { value: Value::Unknown, origin: Origin::Literal },
    }
}

/// What a service-link variable holds, by the shape of its name (the kubelet's
/// `<SERVICE>_SERVICE_HOST`, `_SERVICE_PORT[_<NAME>]`, `_PORT`, `_PORT_<n>_<PROTO>[_PROTO|_PORT|_ADDR]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServiceLink {
    /// An IP address (`_SERVICE_HOST`, `_ADDR`).
    Host,
    /// A port number (`_SERVICE_PORT…`, `_PORT_<n>_<PROTO>_PORT`).
    Port,
    /// A protocol name (`_PROTO`).
    Proto,
    /// A URL such as `tcp://10.0.0.1:4222` (`_PORT`, `_PORT_<n>_<PROTO>`).
    Url,
}

/// The kind of service-link variable `name` would be, if its shape is one.
pub fn service_link(name: &str) -> Option<ServiceLink> {
    let ident = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
    if !ident(name) {
        return None;
    }
    // `<P>_PORT_<n>_<PROTO>` with an optional `_PROTO`/`_PORT`/`_ADDR` tail.
    let proto_url = |s: &str| -> bool {
        let Some((head, proto)) = s.rsplit_once('_') else { return false };
        let Some((head, port)) = head.rsplit_once('_') else { return false };
        matches!(proto, "TCP" | "UDP" | "SCTP")
            && !port.is_empty()
            && port.bytes().all(|b| b.is_ascii_digit())
            && head.strip_suffix("_PORT").is_some_and(ident)
    };
    for (tail, kind) in [("_PROTO", ServiceLink::Proto), ("_PORT", ServiceLink::Port), ("_ADDR", ServiceLink::Host)] {
        if let Some(base) = name.strip_suffix(tail)
            && proto_url(base)
        {
            return Some(kind);
        }
    }
    if proto_url(name) {
        return Some(ServiceLink::Url);
    }
    if name.strip_suffix("_SERVICE_HOST").is_some_and(ident) {
        return Some(ServiceLink::Host);
    }
    if let Some((base, _)) = name.split_once("_SERVICE_PORT")
        && ident(base)
        && (name.ends_with("_SERVICE_PORT") || name[base.len()..].starts_with("_SERVICE_PORT_"))
    {
        return Some(ServiceLink::Port);
    }
    if name.strip_suffix("_PORT").is_some_and(ident) {
        return Some(ServiceLink::Url);
    }
    None
}

/// The kubelet's `$(VAR)` expansion (docs/reference.md, "Effective environment"): `$$` is an escaped `$`; `$(NAME)` is replaced by `vars[NAME]`, or left as
/// written when `NAME` is not defined; an unterminated `$(` and any other `$x` are kept as is.
pub fn expand(input: &str, vars: &BTreeMap<String, String>) -> String {
    expand_with(input, usize::MAX, |name| vars.get(name).cloned()).unwrap_or_default()
}

/// Longest expanded `env[].value` natsguard evaluates (a Pod object is at most ~1.5 MB, but
/// chained references can multiply it); longer values are treated as unknown.
const MAX_EXPANDED_LEN: usize = 4 << 20;

/// The expansion algorithm, with `mapping` returning `None` for an undefined name. `None` when
/// the output would exceed `limit` bytes. Linear in the input (plus the output).
fn expand_with(input: &str, limit: usize, mut mapping: impl FnMut(&str) -> Option<String>) -> Option<String> {
    let bytes = input.as_bytes();
    // No ')' at or after this index: an opener there is incomplete without scanning (keeps
    // inputs like "$($($(..." linear; Go's version is quadratic there).
    let last_close = bytes.iter().rposition(|&b| b == b')');
    let mut out = String::with_capacity(input.len().min(limit));
    let mut checkpoint = 0;
    let mut cursor = 0;
    while cursor < bytes.len() {
        if out.len() > limit {
            return None;
        }
        if bytes[cursor] == b'$' && cursor + 1 < bytes.len() {
            out.push_str(&input[checkpoint..cursor]);
            let rest = &input[cursor + 1..];
            // Mirrors tryReadVariableName: (text to emit, advance in bytes past the '$').
            let advance = match bytes[cursor + 1] {
                b'$' => {
                    out.push('$');
                    1
                }
                b'(' => match last_close.filter(|&c| c > cursor + 1).and_then(|_| rest[1..].find(')')) {
                    Some(close) => {
                        let name = &rest[1..1 + close];
                        match mapping(name) {
                            Some(v) => out.push_str(&v),
                            None => {
                                out.push_str("$(");
                                out.push_str(name);
                                out.push(')');
                            }
                        }
                        close + 2
                    }
                    None => {
                        // Incomplete reference: emit "$(" and continue after the '('.
                        out.push_str("$(");
                        1
                    }
                },
                _ => {
                    // '$' followed by any other character: both are kept.
                    let c = rest.chars().next().map_or(1, char::len_utf8);
                    out.push('$');
                    out.push_str(&rest[..c]);
                    c
                }
            };
            cursor += 1 + advance;
            checkpoint = cursor;
        } else {
            cursor += 1;
        }
    }
    out.push_str(&input[checkpoint..]);
    (out.len() <= limit).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn container(v: serde_json::Value) -> ContainerEnv {
        let mut obj = json!({"name": "app"});
        if let (Some(o), Some(extra)) = (obj.as_object_mut(), v.as_object()) {
            o.extend(extra.clone());
        }
        serde_json::from_value(obj).unwrap()
    }

    fn cms() -> ConfigMaps {
        let mut c = ConfigMaps { complete: true, ..Default::default() };
        c.insert(
            "ns",
            "nats",
            BTreeMap::from([
                ("NATS_URL".to_string(), "tls://nats:4222".to_string()),
                ("HOST".to_string(), "nats.svc".to_string()),
                ("CORDUM_ENV".to_string(), "production".to_string()),
            ]),
        );
        c.insert("ns", "other", BTreeMap::from([("NATS_URL".to_string(), "nats://other:4222".to_string())]));
        c
    }

    fn known(e: &EffectiveEnv, n: &str) -> Option<String> {
        e.known(n).map(str::to_string)
    }

    fn vars(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn expansion_table() {
        let v = vars(&[("A", "a"), ("B", "b"), ("EMPTY", ""), ("DOLLAR", "$(A)")]);
        for (input, want) in [
            ("plain", "plain"),
            ("$(A)", "a"),
            ("x$(A)y$(B)z", "xaybz"),
            ("$(A)$(B)", "ab"),
            ("$$(A)", "$(A)"),
            ("$$$(A)", "$a"),
            ("$$$$", "$$"),
            ("$$", "$"),
            ("$", "$"),
            ("a$", "a$"),
            ("$(UNKNOWN)", "$(UNKNOWN)"),
            ("$(A", "$(A"),
            ("$(A $(B)", "$(A $(B)"),
            ("$($(A)", "$($(A)"),
            ("$()", "$()"),
            ("$(EMPTY)x", "x"),
            ("$x$(A)", "$xa"),
            ("$é$(A)", "$éa"),
            ("$(DOLLAR)", "$(A)"),
            ("${A}", "${A}"),
            ("$(A)))", "a))"),
        ] {
            assert_eq!(expand(input, &v), want, "{input:?}");
        }
    }

    #[test]
    fn env_from_in_order_with_prefix_then_env_overrides() {
        let c = container(json!({
            "envFrom": [
                {"configMapRef": {"name": "other"}},
                {"configMapRef": {"name": "nats"}},
                {"configMapRef": {"name": "other"}, "prefix": "OLD_"},
            ],
            "env": [
                {"name": "EXTRA", "value": "1"},
                {"name": "EXTRA", "value": "2"},
            ]
        }));
        let e = resolve("ns", &c, &cms());
        assert_eq!(known(&e, "NATS_URL").as_deref(), Some("tls://nats:4222"), "later envFrom wins");
        assert_eq!(known(&e, "OLD_NATS_URL").as_deref(), Some("nats://other:4222"), "prefix applied");
        assert_eq!(known(&e, "EXTRA").as_deref(), Some("2"), "later env wins");
        assert_eq!(
            e.get("NATS_URL").map(|v| v.origin.clone()),
            Some(Origin::ConfigMap { name: "nats".into(), key: "NATS_URL".into() })
        );

        let c = container(json!({
            "envFrom": [{"configMapRef": {"name": "nats"}}],
            "env": [{"name": "NATS_URL", "value": "nats://literal:4222"}]
        }));
        let e = resolve("ns", &c, &cms());
        assert_eq!(known(&e, "NATS_URL").as_deref(), Some("nats://literal:4222"), "env overrides envFrom");
        assert_eq!(e.get("NATS_URL").map(|v| &v.origin), Some(&Origin::Literal));
    }

    #[test]
    fn expansion_sees_only_earlier_variables() {
        let c = container(json!({
            "envFrom": [{"configMapRef": {"name": "nats"}}],
            "env": [
                {"name": "FWD", "value": "$(LATER)"},
                {"name": "LATER", "value": "x"},
                {"name": "URL1", "value": "tls://$(HOST):4222"},
                {"name": "HOST", "value": "$(HOST).cluster.local"},
                {"name": "URL2", "value": "tls://$(HOST):4222"},
                {"name": "ESC", "value": "$$(HOST)"},
                {"name": "OPEN", "value": "$(HOST"},
                {"name": "SELF", "value": "$(SELF)x"},
            ]
        }));
        let e = resolve("ns", &c, &cms());
        assert_eq!(known(&e, "FWD").as_deref(), Some("$(LATER)"), "forward reference left as written");
        assert_eq!(known(&e, "URL1").as_deref(), Some("tls://nats.svc:4222"), "envFrom visible to env");
        assert_eq!(
            known(&e, "HOST").as_deref(),
            Some("nats.svc.cluster.local"),
            "self-reference sees the earlier value"
        );
        assert_eq!(known(&e, "URL2").as_deref(), Some("tls://nats.svc.cluster.local:4222"));
        assert_eq!(known(&e, "ESC").as_deref(), Some("$(HOST)"));
        assert_eq!(known(&e, "OPEN").as_deref(), Some("$(HOST"));
        assert_eq!(known(&e, "SELF").as_deref(), Some("$(SELF)x"), "undefined self-reference left as written");
    }

    #[test]
    fn env_from_keeps_keys_that_are_not_c_identifiers() {
        let mut maps = cms();
        maps.insert("ns", "dotted", vars(&[("my.key", "v"), ("1st", "w")]));
        let c = container(json!({
            "envFrom": [{"configMapRef": {"name": "dotted"}, "prefix": "P_"}],
            "env": [{"name": "REF", "value": "$(P_my.key)-$(P_1st)"}]
        }));
        let e = resolve("ns", &c, &maps);
        assert_eq!(known(&e, "P_my.key").as_deref(), Some("v"));
        assert_eq!(known(&e, "REF").as_deref(), Some("v-w"));
    }

    #[test]
    fn env_from_values_are_not_expanded() {
        let mut maps = cms();
        maps.insert("ns", "refs", vars(&[("A", "$(HOST)"), ("B", "$$")]));
        let c = container(json!({
            "envFrom": [{"configMapRef": {"name": "nats"}}, {"configMapRef": {"name": "refs"}}],
            "env": [{"name": "C", "valueFrom": {"configMapKeyRef": {"name": "refs", "key": "A"}}}]
        }));
        let e = resolve("ns", &c, &maps);
        assert_eq!(known(&e, "A").as_deref(), Some("$(HOST)"));
        assert_eq!(known(&e, "B").as_deref(), Some("$$"));
        assert_eq!(known(&e, "C").as_deref(), Some("$(HOST)"), "configMapKeyRef values are not expanded either");
    }

    #[test]
    fn value_from_sources() {
        let c = container(json!({
            "env": [
                {"name": "URL", "valueFrom": {"configMapKeyRef": {"name": "nats", "key": "NATS_URL"}}},
                {"name": "PW", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "password"}}},
                {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                {"name": "MEM", "valueFrom": {"resourceFieldRef": {"resource": "limits.memory"}}},
                {"name": "EMPTY", "value": ""},
                {"name": "NOVALUE"},
                {"name": "FROM_PW", "value": "nats://u:$(PW)@h"},
                {"name": "FROM_POD", "value": "$(POD)-x"},
            ]
        }));
        let e = resolve("ns", &c, &cms());
        assert_eq!(known(&e, "URL").as_deref(), Some("tls://nats:4222"));
        let pw = e.get("PW").cloned();
        assert_eq!(
            pw,
            Some(Var {
                value: Value::Unknown,
                origin: Origin::Secret { name: "creds".into(), key: "password".into() }
            })
        );
        assert_eq!(e.get("POD").map(|v| v.value.clone()), Some(Value::Unknown));
        assert_eq!(e.get("POD").map(|v| v.origin.clone()), Some(Origin::FieldRef("metadata.name".into())));
        assert_eq!(e.get("MEM").map(|v| v.origin.clone()), Some(Origin::ResourceFieldRef("limits.memory".into())));
        assert_eq!(known(&e, "EMPTY").as_deref(), Some(""));
        assert_eq!(known(&e, "NOVALUE").as_deref(), Some(""));
        let from_pw = e.get("FROM_PW").cloned();
        assert_eq!(from_pw.as_ref().map(|v| &v.value), Some(&Value::Unknown), "expansion of a Secret is unknown");
        assert!(from_pw.is_some_and(|v| v.origin.is_secret()), "and keeps the Secret origin");
        assert_eq!(e.get("FROM_POD").map(|v| v.value.clone()), Some(Value::Unknown));
    }

    #[test]
    fn optional_and_missing_config_maps() {
        let c = container(json!({
            "env": [
                {"name": "A", "value": "before"},
                {"name": "A", "valueFrom": {"configMapKeyRef": {"name": "gone", "key": "k", "optional": true}}},
                {"name": "B", "value": "before"},
                {"name": "B", "valueFrom": {"configMapKeyRef": {"name": "nats", "key": "nokey", "optional": true}}},
                {"name": "C", "valueFrom": {"configMapKeyRef": {"name": "gone", "key": "k"}}},
                {"name": "D", "valueFrom": {"configMapKeyRef": {"name": "nats", "key": "nokey"}}},
                {"name": "E", "valueFrom": {"configMapKeyRef": {"name": "gone", "key": "k", "optional": true}}},
            ]
        }));
        // In the cluster: "gone" is known not to exist.
        let e = resolve("ns", &c, &cms());
        assert_eq!(known(&e, "A").as_deref(), Some("before"), "missing optional ConfigMap skips the entry");
        assert_eq!(known(&e, "B").as_deref(), Some("before"), "missing optional key skips the entry");
        assert_eq!(e.get("C").map(|v| v.value.clone()), Some(Value::Unknown), "missing required ConfigMap");
        assert_eq!(e.get("D").map(|v| v.value.clone()), Some(Value::Unknown), "missing required key");
        assert_eq!(e.presence("E"), Presence::Unset);
        // Offline without the ConfigMap: optional or not, the value is unknown.
        let mut offline = cms();
        offline.complete = false;
        let e = resolve("ns", &c, &offline);
        assert_eq!(e.get("A").map(|v| v.value.clone()), Some(Value::Unknown));
        assert_eq!(e.get("E").map(|v| v.value.clone()), Some(Value::Unknown));
        assert_eq!(known(&e, "B").as_deref(), Some("before"), "a found map with a missing optional key is still known");
        // Wrong namespace: not found.
        let e = resolve("elsewhere", &c, &cms());
        assert_eq!(e.get("B").and_then(|v| v.value.known().map(str::to_string)).as_deref(), Some("before"));
    }

    #[test]
    fn env_from_config_map_optional_absent_unknown() {
        let c = container(
            json!({"envFrom": [{"configMapRef": {"name": "gone", "optional": true}}], "env": [{"name": "X", "value": "1"}]}),
        );
        let e = resolve("ns", &c, &cms());
        assert_eq!(e.presence("NATS_URL"), Presence::Unset, "absent optional envFrom defines nothing");
        let c = container(json!({"envFrom": [{"configMapRef": {"name": "gone"}}]}));
        let e = resolve("ns", &c, &cms());
        assert!(matches!(e.presence("NATS_URL"), Presence::Maybe(_)), "absent required: nothing known");
        let mut offline = cms();
        offline.complete = false;
        let c = container(
            json!({"envFrom": [{"configMapRef": {"name": "unseen"}, "prefix": "P_"}], "env": [{"name": "X", "value": "1"}]}),
        );
        let e = resolve("ns", &c, &offline);
        match e.presence("P_NATS_URL") {
            Presence::Maybe(v) => {
                assert_eq!(v.value, Value::Unknown);
                assert_eq!(v.origin, Origin::EnvFromConfigMap { name: "unseen".into(), prefix: "P_".into() });
            }
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(known(&e, "X").as_deref(), Some("1"), "a later env entry is certain");
    }

    #[test]
    fn env_from_secret_may_define_anything() {
        let c = container(json!({
            "envFrom": [{"configMapRef": {"name": "nats"}}, {"secretRef": {"name": "creds"}}],
            "env": [{"name": "CORDUM_ENV", "value": "production"}, {"name": "REF", "value": "$(NATS_TOKEN)"}]
        }));
        let e = resolve("ns", &c, &cms());
        let secret = Origin::EnvFromSecret { name: "creds".into(), prefix: String::new() };
        // Defined earlier by a ConfigMap, possibly overridden by the Secret: set, value unknown.
        assert_eq!(e.presence("NATS_URL"), Presence::Set(&Var { value: Value::Unknown, origin: secret.clone() }));
        // Not defined anywhere we can see: maybe.
        assert_eq!(e.presence("NATS_TOKEN"), Presence::Maybe(&Var { value: Value::Unknown, origin: secret.clone() }));
        // A later env entry is certain.
        assert_eq!(known(&e, "CORDUM_ENV").as_deref(), Some("production"));
        // Expanding a maybe-variable is unknown, not "left as written".
        assert_eq!(e.get("REF").map(|v| v.value.clone()), Some(Value::Unknown));
        assert_eq!(e.opaque_source(), Some(&secret));

        // A ConfigMap after the Secret wins for its keys.
        let c = container(json!({"envFrom": [{"secretRef": {"name": "creds"}}, {"configMapRef": {"name": "nats"}}]}));
        let e = resolve("ns", &c, &cms());
        assert_eq!(known(&e, "NATS_URL").as_deref(), Some("tls://nats:4222"));
        assert!(matches!(e.presence("NATS_TOKEN"), Presence::Maybe(_)));
    }

    #[test]
    fn service_link_names() {
        use ServiceLink::*;
        for (name, want) in [
            ("NATS_SERVICE_HOST", Some(Host)),
            ("NATS_SERVICE_PORT", Some(Port)),
            ("NATS_SERVICE_PORT_CLIENT", Some(Port)),
            ("NATS_PORT", Some(Url)),
            ("NATS_PORT_4222_TCP", Some(Url)),
            ("NATS_PORT_4222_TCP_PROTO", Some(Proto)),
            ("NATS_PORT_4222_TCP_PORT", Some(Port)),
            ("NATS_PORT_4222_UDP_ADDR", Some(Host)),
            ("MY_SVC_2_PORT_53_SCTP", Some(Url)),
            ("NATS_URL", None),
            ("nats_port", None),
            ("_PORT", None),
            ("NATS_SERVICE_PORTX", None),
            ("NATS_PORT_X_TCP", None),
            ("HOST", None),
        ] {
            assert_eq!(service_link(name), want, "{name}");
        }
    }

    #[test]
    fn service_link_references_are_kept_and_marked() {
        let c = container(json!({
            "env": [
                {"name": "NATS_URL", "value": "tls://$(NATS_SERVICE_HOST):$(NATS_SERVICE_PORT)"},
                {"name": "COPY", "value": "$(NATS_URL)"},
                {"name": "OTHER", "value": "$(UNDEFINED_THING)"},
                {"name": "NATS_SERVICE_HOST", "value": "10.0.0.9"},
                {"name": "DEFINED", "value": "$(NATS_SERVICE_HOST)"},
            ]
        }));
        let e = resolve("ns", &c, &ConfigMaps::unknown());
        let url = e.get("NATS_URL").cloned();
        assert_eq!(url.as_ref().and_then(|v| v.value.known()), Some("tls://$(NATS_SERVICE_HOST):$(NATS_SERVICE_PORT)"));
        assert_eq!(
            url.map(|v| v.origin),
            Some(Origin::ServiceLink { links: vec!["NATS_SERVICE_HOST".into(), "NATS_SERVICE_PORT".into()] })
        );
        assert!(matches!(e.get("COPY").map(|v| &v.origin), Some(Origin::ServiceLink { .. })), "carried on");
        assert_eq!(e.get("OTHER").map(|v| v.origin.clone()), Some(Origin::Literal));
        assert_eq!(known(&e, "DEFINED").as_deref(), Some("10.0.0.9"), "an explicit definition wins");
        assert_eq!(e.get("DEFINED").map(|v| v.origin.clone()), Some(Origin::Literal));
    }

    #[test]
    fn no_env_at_all() {
        let e = resolve("ns", &container(json!({})), &ConfigMaps::unknown());
        assert_eq!(e.presence("NATS_URL"), Presence::Unset);
        assert_eq!(e.iter().count(), 0);
    }

    #[test]
    fn expansion_stays_linear_and_bounded() {
        let opens = "$(".repeat(200_000);
        assert_eq!(expand(&opens, &BTreeMap::new()), opens);
        // 24 chained doublings of 1 KiB would be 16 GiB: treated as unknown instead.
        let mut env = vec![json!({"name": "V0", "value": "x".repeat(1024)})];
        for i in 1..24 {
            env.push(json!({"name": format!("V{i}"), "value": format!("$(V{})$(V{})", i - 1, i - 1)}));
        }
        let e = resolve("ns", &container(json!({ "env": env })), &ConfigMaps::unknown());
        assert_eq!(e.known("V10").map(str::len), Some(1024 << 10));
        assert_eq!(e.get("V23").map(|v| v.value.clone()), Some(Value::Unknown));
    }

    proptest! {
        #[test]
        fn expand_never_panics(s in any::<String>(), k in "[A-Z]{1,3}", v in any::<String>()) {
            let vars = BTreeMap::from([(k, v)]);
            let _ = expand(&s, &vars);
        }

        #[test]
        fn expand_without_dollar_is_identity(s in "[^$]{0,100}") {
            prop_assert_eq!(expand(&s, &BTreeMap::new()), s);
        }

        #[test]
        fn expand_with_no_vars_only_unescapes(s in "[a-z$()]{0,40}") {
            // With no variables defined, only `$$` changes: the output is never longer.
            prop_assert!(expand(&s, &BTreeMap::new()).len() <= s.len());
        }
    }
}
