//! One workload: every selected container (init containers first, then containers, in pod
//! order) resolved to its effective environment and judged by the rule pack.

use crate::crd::policy::NatsTransportPolicySpec;
use crate::env::{self, ConfigMapLookup};
use crate::findings::{Finding, Severity};
use crate::rules::{self, ContainerInput};
use k8s_openapi::api::core::v1::PodSpec;
use k8s_openapi::jiff::Timestamp;
use std::collections::BTreeMap;

/// The workload to evaluate (a Deployment's pod template, or any pod spec).
#[derive(Clone, Copy, Debug)]
pub struct WorkloadInput<'a> {
    /// Namespace, for ConfigMap lookups.
    pub namespace: &'a str,
    /// Workload name.
    pub name: &'a str,
    /// The workload's own annotations (override owner, reason, rollback-by).
    pub annotations: &'a BTreeMap<String, String>,
    /// The pod template's spec.
    pub pod_spec: &'a PodSpec,
}

/// What the caller knows that the manifests do not. Decision code never reads the clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EvalContext {
    /// The current time.
    pub now: Timestamp,
    /// Rollback deadline of the open incident (operator). `None` => use the rollback-by
    /// annotation if parseable.
    pub incident_deadline: Option<Timestamp>,
}

/// The verdict for one container.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContainerReport {
    /// Container name.
    pub name: String,
    /// Whether it is an init container.
    pub init: bool,
    /// Whether it runs in production; `None` = cannot be determined.
    pub production: Option<bool>,
    /// Whether the start-up gate accepts the URL (raw value begins with exactly `tls://`);
    /// `None` when the URL cannot be read.
    pub gate_accepts: Option<bool>,
    /// Whether the plaintext override is truthy; `None` when it cannot be read.
    pub override_truthy: Option<bool>,
    /// Findings, sorted: severity descending, then code.
    pub findings: Vec<Finding>,
}

impl ContainerReport {
    /// Production, the gate refuses the URL and the override is truthy: the break-glass is in use.
    pub fn override_active(&self) -> bool {
        self.production == Some(true)
            && self.gate_accepts == Some(false)
            && self.override_truthy == Some(true)
    }

    /// No violation.
    pub fn compliant(&self) -> bool {
        !self
            .findings
            .iter()
            .any(|f| f.severity == Severity::Violation)
    }
}

/// The verdict for one workload.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WorkloadReport {
    /// Init containers first, then containers, in pod order; filtered by the policy's `containers`.
    pub containers: Vec<ContainerReport>,
}

impl WorkloadReport {
    /// No container has a violation.
    pub fn compliant(&self) -> bool {
        self.containers.iter().all(ContainerReport::compliant)
    }

    /// Some container runs with the plaintext override.
    pub fn override_active(&self) -> bool {
        self.containers.iter().any(ContainerReport::override_active)
    }

    /// Names of the containers running with the plaintext override, in report order.
    pub fn override_containers(&self) -> Vec<String> {
        self.containers
            .iter()
            .filter(|c| c.override_active())
            .map(|c| c.name.clone())
            .collect()
    }

    /// Every finding, container by container.
    pub fn findings(&self) -> impl Iterator<Item = &Finding> {
        self.containers.iter().flat_map(|c| c.findings.iter())
    }
}

/// Evaluate every selected container of one workload.
pub fn evaluate_workload(
    spec: &NatsTransportPolicySpec,
    w: &WorkloadInput<'_>,
    cms: &dyn ConfigMapLookup,
    ctx: &EvalContext,
) -> WorkloadReport {
    let init = w
        .pod_spec
        .init_containers
        .iter()
        .flatten()
        .map(|c| (c, true));
    let main = w.pod_spec.containers.iter().map(|c| (c, false));
    let containers = init
        .chain(main)
        .filter(|(c, _)| spec.containers.is_empty() || spec.containers.contains(&c.name))
        .map(|(c, init)| {
            let env = env::resolve(w.namespace, c, cms);
            let input = ContainerInput {
                name: &c.name,
                init,
                env: &env,
                annotations: w.annotations,
            };
            rules::evaluate_container(spec, &input, ctx)
        })
        .collect();
    WorkloadReport { containers }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::annotations;
    use crate::env::ConfigMaps;
    use crate::findings::Code;
    use proptest::prelude::*;
    use serde_json::json;

    fn ctx() -> EvalContext {
        EvalContext {
            now: "2026-06-01T12:00:00Z".parse().unwrap(),
            incident_deadline: None,
        }
    }

    fn pod() -> PodSpec {
        serde_json::from_value(json!({
            "initContainers": [
                {"name": "migrate", "env": [{"name": "CORDUM_ENV", "value": "production"}]},
                {"name": "wait", "env": [{"name": "NATS_URL", "value": "tls://nats:4222"}]},
            ],
            "containers": [
                {"name": "scheduler", "env": [
                    {"name": "CORDUM_ENV", "value": "production"},
                    {"name": "NATS_URL", "value": "nats://nats:4222"},
                    {"name": "CORDUM_NATS_ALLOW_PLAINTEXT", "value": "true"},
                    {"name": "NATS_TOKEN", "valueFrom": {"secretKeyRef": {"name": "s", "key": "t"}}},
                ]},
                {"name": "sidecar"},
            ]
        }))
        .unwrap()
    }

    fn run(spec: &NatsTransportPolicySpec, annots: &BTreeMap<String, String>) -> WorkloadReport {
        let pod = pod();
        let w = WorkloadInput {
            namespace: "ns",
            name: "sched",
            annotations: annots,
            pod_spec: &pod,
        };
        evaluate_workload(spec, &w, &ConfigMaps::unknown(), &ctx())
    }

    #[test]
    fn init_containers_first_then_containers_in_pod_order() {
        let r = run(&NatsTransportPolicySpec::default(), &BTreeMap::new());
        let names: Vec<(&str, bool)> = r
            .containers
            .iter()
            .map(|c| (c.name.as_str(), c.init))
            .collect();
        assert_eq!(
            names,
            [
                ("migrate", true),
                ("wait", true),
                ("scheduler", false),
                ("sidecar", false)
            ]
        );
        // The init container in production without TLS is judged like any other.
        assert!(
            r.containers[0]
                .findings
                .iter()
                .any(|f| f.code == Code::PlaintextTransport)
        );
        assert!(
            r.containers[0]
                .findings
                .iter()
                .all(|f| f.message.starts_with("init container \"migrate\""))
        );
        assert!(!r.compliant());
        assert!(r.override_active());
        assert_eq!(r.override_containers(), ["scheduler"]);
        assert_eq!(r.containers[1].production, Some(false));
        assert_eq!(r.containers[1].gate_accepts, Some(true));
        let codes: Vec<Code> = r.findings().map(|f| f.code).collect();
        assert!(
            codes.contains(&Code::PlaintextOverrideActive)
                && codes.contains(&Code::OverrideOwnerMissing)
        );
    }

    #[test]
    fn policy_container_filter() {
        let mut spec = NatsTransportPolicySpec {
            containers: vec!["sidecar".into(), "wait".into(), "absent".into()],
            ..Default::default()
        };
        let r = run(&spec, &BTreeMap::new());
        let names: Vec<&str> = r.containers.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            names,
            ["wait", "sidecar"],
            "pod order kept, unknown names ignored"
        );
        assert!(r.compliant());
        assert!(!r.override_active());
        assert!(r.override_containers().is_empty());
        spec.containers = vec!["scheduler".into()];
        let owner = BTreeMap::from([(annotations::OWNER.to_string(), "alice".to_string())]);
        let r = run(&spec, &owner);
        let codes: Vec<Code> = r.findings().map(|f| f.code).collect();
        assert_eq!(codes, [Code::PlaintextOverrideActive]);
    }

    #[test]
    fn empty_pod() {
        let pod = PodSpec::default();
        let a = BTreeMap::new();
        let w = WorkloadInput {
            namespace: "ns",
            name: "x",
            annotations: &a,
            pod_spec: &pod,
        };
        let r = evaluate_workload(
            &NatsTransportPolicySpec::default(),
            &w,
            &ConfigMaps::unknown(),
            &ctx(),
        );
        assert!(r.containers.is_empty() && r.compliant() && !r.override_active());
    }

    /// Names the rules read, and the values they may get.
    const NAMES: [&str; 12] = [
        "CORDUM_ENV",
        "CORDUM_PRODUCTION",
        "NATS_URL",
        "CORDUM_NATS_ALLOW_PLAINTEXT",
        "NATS_TLS_CA",
        "NATS_TLS_CERT",
        "NATS_TLS_KEY",
        "NATS_TLS_INSECURE",
        "NATS_USERNAME",
        "NATS_PASSWORD",
        "NATS_TOKEN",
        "NATS_NKEY",
    ];

    fn value_strategy() -> impl Strategy<Value = serde_json::Value> {
        prop_oneof![
            "(production|staging|true|1|yes|no|x| |)".prop_map(|v| json!({"value": v})),
            "(tls|nats|TLS|wss|ws|http)://(Zq9[A-Z]{6}@)?[a-z]{1,5}(:[0-9]{1,6})?(,(tls|nats)://(Zq9[A-Z]{6}@)?[a-z]{1,4})?"
                .prop_map(|v| json!({"value": v})),
            "Zq9[A-Z]{6}".prop_map(|v| json!({"value": v})),
            Just(json!({"valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}})),
            Just(json!({"valueFrom": {"configMapKeyRef": {"name": "cm", "key": "k"}}})),
            Just(json!({"valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}})),
            "\\$\\((NATS_URL|CORDUM_ENV|X)\\)".prop_map(|v| json!({"value": v})),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        /// Whatever the environment, evaluation never panics, findings are sorted, every
        /// message is one line naming its container, and no credential-like value leaks.
        #[test]
        fn evaluation_is_total_and_never_leaks(
            vars in proptest::collection::vec((0usize..NAMES.len(), value_strategy()), 0..14),
            secret_env_from in any::<bool>(),
            always in any::<bool>(),
        ) {
            let env: Vec<serde_json::Value> = vars
                .into_iter()
                .map(|(i, mut v)| {
                    // Credential-like values only where credentials go (a host name is shown).
                    let credential = matches!(NAMES[i], "NATS_USERNAME" | "NATS_PASSWORD" | "NATS_TOKEN" | "NATS_NKEY");
                    if !credential && v["value"].as_str().is_some_and(|s| s.starts_with("Zq9")) {
                        v["value"] = json!("Zz");
                    }
                    if let Some(o) = v.as_object_mut() {
                        o.insert("name".into(), json!(NAMES[i]));
                    }
                    v
                })
                .collect();
            let env_from = if secret_env_from { json!([{"secretRef": {"name": "bag"}}]) } else { json!([]) };
            let pod: PodSpec = serde_json::from_value(json!({"containers": [{"name": "c", "env": env, "envFrom": env_from}]})).unwrap();
            let mut spec = NatsTransportPolicySpec::default();
            if always {
                spec.environment.production = crate::crd::ProductionMode::Always;
            }
            spec.transport.required_tls = vec![crate::crd::TlsVar::Ca];
            let a = BTreeMap::new();
            let w = WorkloadInput { namespace: "ns", name: "w", annotations: &a, pod_spec: &pod };
            let r = evaluate_workload(&spec, &w, &ConfigMaps::unknown(), &ctx());
            for c in &r.containers {
                for pair in c.findings.windows(2) {
                    prop_assert!(
                        pair[0].severity > pair[1].severity
                            || (pair[0].severity == pair[1].severity && pair[0].code.as_str() <= pair[1].code.as_str())
                    );
                }
                for f in &c.findings {
                    prop_assert!(!f.message.contains("Zq9"), "{}", f.message);
                    prop_assert!(!f.message.contains('\n'));
                    prop_assert!(f.message.contains("container \"c\""));
                }
                if always {
                    prop_assert_eq!(c.production, Some(true));
                }
                prop_assert_eq!(c.override_active(), c.findings.iter().any(|f| matches!(f.code, Code::PlaintextOverrideActive | Code::PlaintextOverrideOverdue)));
            }
        }
    }
}
