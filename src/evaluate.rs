//! One workload: every selected container (init containers first, then containers, in pod
//! order) resolved to its effective environment and judged by the rule pack.

use crate::crd::policy::NatsTransportPolicySpec;
use crate::env::{self, ConfigMapLookup};
pub use crate::report::{ContainerReport, EvalContext, WorkloadReport};
use crate::rules::{self, ContainerInput};
use crate::workload::PodEnv;
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
    /// The pod template's containers.
    pub pod: &'a PodEnv,
}

/// Evaluate every selected container of one workload.
pub fn evaluate_workload(
    spec: &NatsTransportPolicySpec,
    w: &WorkloadInput<'_>,
    cms: &dyn ConfigMapLookup,
    ctx: &EvalContext,
) -> WorkloadReport {
    let containers = w
        .pod
        .all()
        .filter(|(c, _)| spec.containers.is_empty() || spec.containers.contains(&c.name))
        .map(|(c, init)| {
            let env = env::resolve(w.namespace, c, cms);
            let input = ContainerInput {
                name: &c.name,
                image: c.image.as_deref(),
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
    use crate::report::Override;
    use proptest::prelude::*;
    use serde_json::json;

    fn ctx() -> EvalContext {
        EvalContext::at("2026-06-01T12:00:00Z".parse().unwrap())
    }

    fn pod() -> PodEnv {
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
        let w = WorkloadInput { namespace: "ns", name: "sched", annotations: annots, pod: &pod };
        evaluate_workload(spec, &w, &ConfigMaps::unknown(), &ctx())
    }

    #[test]
    fn init_containers_first_then_containers_in_pod_order() {
        let r = run(&NatsTransportPolicySpec::default(), &BTreeMap::new());
        let names: Vec<(&str, bool)> = r.containers.iter().map(|c| (c.name.as_str(), c.init)).collect();
        assert_eq!(names, [("migrate", true), ("wait", true), ("scheduler", false), ("sidecar", false)]);
        // The init container in production without TLS is judged like any other.
        assert!(r.containers[0].findings.iter().any(|f| f.code == Code::PlaintextTransport));
        assert!(r.containers[0].findings.iter().all(|f| f.message.starts_with("init container \"migrate\"")));
        assert!(!r.compliant());
        assert!(r.override_active(Override::Plaintext));
        assert_eq!(r.override_containers(Override::Plaintext), ["scheduler"]);
        assert_eq!(r.containers[1].production, Some(false));
        assert_eq!(r.containers[1].gate_accepts, Some(true));
        let codes: Vec<Code> = r.findings().map(|f| f.code).collect();
        assert!(codes.contains(&Code::PlaintextOverrideActive) && codes.contains(&Code::OverrideOwnerMissing));
    }

    #[test]
    fn policy_container_filter() {
        let mut spec = NatsTransportPolicySpec {
            containers: vec!["sidecar".into(), "wait".into(), "absent".into()],
            ..Default::default()
        };
        let r = run(&spec, &BTreeMap::new());
        let names: Vec<&str> = r.containers.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["wait", "sidecar"], "pod order kept, unknown names ignored");
        assert!(r.compliant());
        assert!(!r.override_active(Override::Plaintext));
        assert!(r.override_containers(Override::Plaintext).is_empty());
        spec.containers = vec!["scheduler".into()];
        let owner = BTreeMap::from([(annotations::OWNER.to_string(), "alice".to_string())]);
        let r = run(&spec, &owner);
        let codes: Vec<Code> = r.findings().map(|f| f.code).collect();
        assert_eq!(codes, [Code::PlaintextOverrideActive]);
    }

    #[test]
    fn empty_pod() {
        let pod = PodEnv::default();
        let a = BTreeMap::new();
        let w = WorkloadInput { namespace: "ns", name: "x", annotations: &a, pod: &pod };
        let r = evaluate_workload(&NatsTransportPolicySpec::default(), &w, &ConfigMaps::unknown(), &ctx());
        assert!(r.containers.is_empty() && r.compliant() && !r.override_active(Override::Plaintext));
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
            let pod: PodEnv = serde_json::from_value(json!({"containers": [{"name": "c", "env": env, "envFrom": env_from}]})).unwrap();
            let mut spec = NatsTransportPolicySpec::default();
            if always {
                spec.environment.production = crate::crd::ProductionMode::Always;
            }
            spec.transport.required_tls = vec![crate::crd::TlsVar::Ca];
            let a = BTreeMap::new();
            let w = WorkloadInput { namespace: "ns", name: "w", annotations: &a, pod: &pod };
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
                prop_assert_eq!(c.override_active(Override::Plaintext), c.findings.iter().any(|f| matches!(f.code, Code::PlaintextOverrideActive | Code::PlaintextOverrideOverdue)));
            }
        }
    }
}
