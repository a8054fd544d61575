//! What the first pass collects: the ConfigMaps given alongside the manifests (to resolve
//! references) and the policies (to select and configure), and the rules that connect them to
//! a workload.
//!
//! Namespaces offline: a manifest without `metadata.namespace` is in the "unset" namespace
//! (`kubectl apply -n X` would put it wherever X is). ConfigMap references match by namespace
//! exactly, unset matching only unset. A policy selects workloads in its own namespace; when
//! either side has no namespace, namespaces do not constrain the match.

use crate::crd::{NatsTransportPolicy, NatsTransportPolicySpec};
use crate::env::{ConfigMapLookup, Lookup};
use crate::validation::{self, InvalidPolicy};
use kube::core::{Selector, SelectorExt};
use std::collections::{BTreeMap, HashMap};

/// ConfigMaps given in the input, keyed by (namespace or "", name). Those not given are
/// `Lookup::Unknown`: offline we cannot know whether they exist in the cluster.
#[derive(Default, Debug)]
pub struct ConfigMaps {
    /// namespace ("" = unset) -> name -> data
    maps: HashMap<String, HashMap<String, BTreeMap<String, String>>>,
}

impl ConfigMaps {
    /// Records a ConfigMap's `data` (a later one with the same namespace and name replaces it).
    pub fn insert(&mut self, namespace: &str, name: &str, data: BTreeMap<String, String>) {
        self.maps.entry(namespace.to_owned()).or_default().insert(name.to_owned(), data);
    }
}

impl ConfigMapLookup for ConfigMaps {
    fn lookup(&self, namespace: &str, name: &str) -> Lookup<'_> {
        match self.maps.get(namespace).and_then(|m| m.get(name)) {
            Some(data) => Lookup::Found(data),
            None => Lookup::Unknown,
        }
    }
}

/// A policy as `check` uses it: where it lives, what it selects, how it judges.
#[derive(Debug)]
pub struct Policy {
    /// `namespace/name`, or `name` when the policy has no namespace; `None` for the built-in default.
    pub id: Option<String>,
    /// The policy's namespace; `None` matches workloads in any namespace.
    pub namespace: Option<String>,
    /// The policy's spec.
    pub spec: NatsTransportPolicySpec,
    /// The spec's label selector, compiled.
    selector: Selector,
}

impl Policy {
    /// The built-in default: the cordum profile with `production: Auto`, selecting everything.
    pub fn builtin() -> Policy {
        Policy { id: None, namespace: None, spec: NatsTransportPolicySpec::default(), selector: Selector::default() }
    }

    /// From a parsed `NatsTransportPolicy`, checked as the operator checks it (there is no API
    /// server offline to reject a bad spec): an unusable one says which field is wrong.
    pub fn from_resource(p: NatsTransportPolicy) -> Result<Policy, InvalidPolicy> {
        let selector = validation::compile(&p.spec)?.selector;
        let namespace = p.metadata.namespace.filter(|n| !n.is_empty());
        let name = p.metadata.name.unwrap_or_default();
        let id = Some(match &namespace {
            Some(ns) => format!("{ns}/{name}"),
            None => name,
        });
        Ok(Policy { id, namespace, spec: p.spec, selector })
    }

    /// What the policy selects, for messages: `namespace team-a, labels app=cordum,tier in (a,b)`.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(ns) = &self.namespace {
            parts.push(format!("namespace {ns}"));
        }
        let sel = &self.spec.selector;
        let mut terms: Vec<String> = sel.match_labels.iter().flatten().map(|(k, v)| format!("{k}={v}")).collect();
        for e in sel.match_expressions.iter().flatten() {
            let values = e.values.as_deref().unwrap_or_default().join(",");
            terms.push(match e.operator.as_str() {
                "In" => format!("{} in ({values})", e.key),
                "NotIn" => format!("{} notin ({values})", e.key),
                "Exists" => e.key.clone(),
                "DoesNotExist" => format!("!{}", e.key),
                op => format!("{} {op} ({values})", e.key),
            });
        }
        parts.push(if terms.is_empty() { "every label set".to_owned() } else { format!("labels {}", terms.join(",")) });
        if self.spec.suspend {
            parts.push("suspended".to_owned());
        }
        parts.join(", ")
    }

    /// Whether this policy selects a workload in `namespace` (empty = unset) with `labels`.
    pub fn selects(&self, namespace: &str, labels: &BTreeMap<String, String>) -> bool {
        if self.spec.suspend {
            return false;
        }
        if let Some(ns) = &self.namespace
            && !namespace.is_empty()
            && ns != namespace
        {
            return false;
        }
        self.selector.matches(labels)
    }
}

/// The policies in force: those from the input and `--policy`, sorted by id, or the built-in
/// default when there are none.
#[derive(Debug)]
pub struct Policies {
    list: Vec<Policy>,
    explicit: bool,
}

impl Policies {
    /// Builds the set; an empty list means the built-in default applies to every workload.
    pub fn new(mut list: Vec<Policy>) -> Policies {
        if list.is_empty() {
            return Policies { list: vec![Policy::builtin()], explicit: false };
        }
        list.sort_by(|a, b| a.id.cmp(&b.id));
        Policies { list, explicit: true }
    }

    /// Whether the policies came from the input (rather than the built-in default).
    pub fn explicit(&self) -> bool {
        self.explicit
    }

    /// The policies in force, in id order.
    pub fn list(&self) -> &[Policy] {
        &self.list
    }

    /// The policies that select a workload (with their index in [`Self::list`]), in id order.
    pub fn selecting<'a>(
        &'a self,
        namespace: &'a str,
        labels: &'a BTreeMap<String, String>,
    ) -> impl Iterator<Item = (usize, &'a Policy)> + 'a {
        self.list.iter().enumerate().filter(move |(_, p)| p.selects(namespace, labels))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement};

    /// A policy in `namespace` with `selector`, built the way the CLI builds it.
    fn policy(namespace: Option<&str>, selector: LabelSelector) -> Result<Policy, InvalidPolicy> {
        let mut p = NatsTransportPolicy::new("p", NatsTransportPolicySpec { selector, ..Default::default() });
        p.metadata.namespace = namespace.map(str::to_owned);
        Policy::from_resource(p)
    }

    fn selector_matches(sel: &LabelSelector, labels: &BTreeMap<String, String>) -> bool {
        policy(None, sel.clone()).unwrap().selects("", labels)
    }

    fn labels(kv: &[(&str, &str)]) -> BTreeMap<String, String> {
        kv.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn req(key: &str, op: &str, values: &[&str]) -> LabelSelectorRequirement {
        LabelSelectorRequirement {
            key: key.into(),
            operator: op.into(),
            values: if values.is_empty() { None } else { Some(values.iter().map(|v| v.to_string()).collect()) },
        }
    }

    #[test]
    fn empty_selector_matches_everything() {
        assert!(selector_matches(&LabelSelector::default(), &labels(&[])));
        assert!(selector_matches(&LabelSelector::default(), &labels(&[("a", "b")])));
    }

    #[test]
    fn match_labels_and_expressions() {
        let sel = LabelSelector {
            match_labels: Some(labels(&[("app", "cordum")])),
            match_expressions: Some(vec![
                req("tier", "In", &["control", "data"]),
                req("canary", "DoesNotExist", &[]),
                req("env", "NotIn", &["dev"]),
            ]),
        };
        assert!(selector_matches(&sel, &labels(&[("app", "cordum"), ("tier", "control")])));
        assert!(selector_matches(&sel, &labels(&[("app", "cordum"), ("tier", "data"), ("env", "prod")])));
        assert!(!selector_matches(&sel, &labels(&[("app", "cordum"), ("tier", "edge")])));
        assert!(!selector_matches(&sel, &labels(&[("app", "other"), ("tier", "control")])));
        assert!(!selector_matches(&sel, &labels(&[("app", "cordum"), ("tier", "control"), ("canary", "")])));
        assert!(!selector_matches(&sel, &labels(&[("app", "cordum"), ("tier", "control"), ("env", "dev")])));
        let exists = LabelSelector { match_expressions: Some(vec![req("x", "Exists", &[])]), ..Default::default() };
        assert!(selector_matches(&exists, &labels(&[("x", "")])));
        assert!(!selector_matches(&exists, &labels(&[])));
        // An operator the API server would reject makes the policy unusable, naming the field.
        let bogus = LabelSelector { match_expressions: Some(vec![req("x", "Near", &[])]), ..Default::default() };
        let err = policy(None, bogus).unwrap_err();
        assert_eq!(err.field, "selector.matchExpressions[0].operator");
    }

    #[test]
    fn namespaces_constrain_only_when_both_are_set() {
        let p = policy(Some("prod"), LabelSelector::default()).unwrap();
        assert!(p.selects("prod", &labels(&[])));
        assert!(!p.selects("dev", &labels(&[])));
        assert!(p.selects("", &labels(&[])));
        let any = policy(None, LabelSelector::default()).unwrap();
        assert!(any.selects("dev", &labels(&[])));
        let mut suspended = Policy::builtin();
        suspended.spec.suspend = true;
        assert!(!suspended.selects("dev", &labels(&[])));
    }

    #[test]
    fn configmaps_match_namespace_exactly() {
        let mut cms = ConfigMaps::default();
        cms.insert("", "nats", labels(&[("url", "tls://n:4222")]));
        cms.insert("prod", "nats", labels(&[("url", "nats://n:4222")]));
        assert!(matches!(cms.lookup("", "nats"), Lookup::Found(d) if d["url"] == "tls://n:4222"));
        assert!(matches!(cms.lookup("prod", "nats"), Lookup::Found(d) if d["url"] == "nats://n:4222"));
        assert!(matches!(cms.lookup("dev", "nats"), Lookup::Unknown));
        assert!(matches!(cms.lookup("prod", "other"), Lookup::Unknown));
    }

    #[test]
    fn describes_what_a_policy_selects() {
        let sel = LabelSelector {
            match_labels: Some(labels(&[("app", "cordum")])),
            match_expressions: Some(vec![req("tier", "In", &["a", "b"]), req("canary", "DoesNotExist", &[])]),
        };
        let p = policy(Some("team-a"), sel).unwrap();
        assert_eq!(p.describe(), "namespace team-a, labels app=cordum,tier in (a,b),!canary");
        assert_eq!(Policy::builtin().describe(), "every label set");
    }
}
