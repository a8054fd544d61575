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
    use crate::crd::policy::{ClientRole, ProductionMode, TlsVar};
    use crate::env::ConfigMaps;
    use crate::findings::{Code, Severity};
    use crate::report::Override;
    use proptest::prelude::*;
    use serde_json::json;

    fn ctx() -> EvalContext {
        EvalContext::at("2026-06-01T12:00:00Z".parse().unwrap())
    }

    fn pod() -> PodEnv {
        serde_json::from_value(json!({
            "initContainers": [
                {"name": "migrate", "image": "cordum-scheduler:v1", "env": [{"name": "CORDUM_ENV", "value": "production"}]},
                {"name": "wait", "image": "busybox:1.36", "env": [{"name": "NATS_URL", "value": "tls://nats:4222"}]},
                {"name": "validate-secrets", "image": "busybox:1.36", "env": [{"name": "CORDUM_ENV", "value": "production"}]},
            ],
            "containers": [
                {"name": "scheduler", "image": "ghcr.io/cordum-io/cordum/scheduler:2.9", "env": [
                    {"name": "CORDUM_ENV", "value": "production"},
                    {"name": "NATS_URL", "value": "nats://nats:4222"},
                    {"name": "CORDUM_NATS_ALLOW_PLAINTEXT", "value": "true"},
                    {"name": "NATS_TOKEN", "valueFrom": {"secretKeyRef": {"name": "s", "key": "t"}}},
                ]},
                {"name": "otel", "image": "otel/opentelemetry-collector:0.100.0"},
            ]
        }))
        .unwrap()
    }

    fn run(spec: &NatsTransportPolicySpec, annots: &BTreeMap<String, String>) -> WorkloadReport {
        let pod = pod();
        let w = WorkloadInput { namespace: "ns", name: "sched", annotations: annots, pod: &pod };
        evaluate_workload(spec, &w, &ConfigMaps::unknown(), &ctx())
    }

    fn codes(c: &ContainerReport) -> Vec<Code> {
        c.findings.iter().map(|f| f.code).collect()
    }

    #[test]
    fn init_containers_first_then_containers_in_pod_order() {
        let r = run(&NatsTransportPolicySpec::default(), &BTreeMap::new());
        let names: Vec<(&str, bool)> = r.containers.iter().map(|c| (c.name.as_str(), c.init)).collect();
        assert_eq!(
            names,
            [("migrate", true), ("wait", true), ("validate-secrets", true), ("scheduler", false), ("otel", false)]
        );
        // An init container running the scheduler image is judged like the scheduler itself.
        assert!(codes(&r.containers[0]).contains(&Code::PlaintextTransport));
        assert!(r.containers[0].findings.iter().all(|f| f.message.starts_with("init container \"migrate\"")));
        // Any image holding the URL is a NATS client; outside production its tls:// URL is fine.
        assert!(r.containers[1].client && r.containers[1].findings.is_empty());
        assert_eq!((r.containers[1].production, r.containers[1].gate_accepts), (Some(false), Some(true)));
        // Init containers and sidecars without NATS variables are not NATS clients.
        assert_eq!(codes(&r.containers[2]), [Code::NotNatsClient]);
        assert_eq!(codes(&r.containers[4]), [Code::NotNatsClient]);
        assert!(r.containers[4].findings.iter().all(|f| f.severity == Severity::Info));
        assert!(!r.compliant());
        assert!(r.override_active(Override::Plaintext) && !r.override_active(Override::NoAuth));
        assert_eq!(r.override_containers(Override::Plaintext), ["scheduler"]);
        let all: Vec<Code> = r.findings().map(|f| f.code).collect();
        assert!(all.contains(&Code::PlaintextOverrideActive) && all.contains(&Code::OverrideOwnerMissing));
    }

    #[test]
    fn policy_container_filter_and_roles() {
        let mut spec = NatsTransportPolicySpec {
            containers: vec!["otel".into(), "wait".into(), "absent".into()],
            ..Default::default()
        };
        let r = run(&spec, &BTreeMap::new());
        let names: Vec<&str> = r.containers.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["wait", "otel"], "pod order kept, unknown names ignored");
        assert!(r.compliant());
        assert!(r.override_containers(Override::Plaintext).is_empty());
        spec.containers = vec!["scheduler".into()];
        let owner = BTreeMap::from([(annotations::OWNER.to_string(), "alice".to_string())]);
        let r = run(&spec, &owner);
        assert_eq!(codes(&r.containers[0]), [Code::PlaintextOverrideActive]);
        // clientRoles decides, whatever the image says; annotations never do.
        spec.containers.clear();
        spec.client_roles = BTreeMap::from([
            ("scheduler".to_string(), ClientRole::NotClient),
            ("otel".to_string(), ClientRole::Client),
        ]);
        let not_client = BTreeMap::from([("natsguard.io/role".to_string(), "NotClient".to_string())]);
        let r = run(&spec, &not_client);
        assert_eq!(codes(&r.containers[3]), [Code::NotNatsClient]);
        assert!(!r.containers[3].client && !r.override_active(Override::Plaintext));
        assert!(r.containers[4].client, "forced client");
        assert_eq!(r.containers[4].production, Some(false));
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
    const NAMES: [&str; 16] = [
        "CORDUM_ENV",
        "CORDUM_PRODUCTION",
        "CORDUM_CAP_PROFILE",
        "NATS_URL",
        "CORDUM_NATS_ALLOW_PLAINTEXT",
        "CORDUM_NATS_ALLOW_NOAUTH",
        "NATS_TLS_CA",
        "NATS_TLS_CERT",
        "NATS_TLS_KEY",
        "NATS_TLS_SERVER_NAME",
        "NATS_TLS_INSECURE",
        "NATS_USERNAME",
        "NATS_PASSWORD",
        "NATS_TOKEN",
        "NATS_NKEY",
        "X",
    ];

    /// A credential: starts with the marker `Zq9` and holds the characters that broke
    /// redaction before (commas, `@`, `%`, `/`, `:`, unicode).
    fn credential() -> impl Strategy<Value = String> {
        "Zq9[A-Za-z0-9,@%/:é✓ ]{1,12}"
    }

    fn value_strategy() -> impl Strategy<Value = serde_json::Value> {
        prop_oneof![
            "(production|prod|staging|true|1|yes|no|x| |)".prop_map(|v| json!({"value": v})),
            (
                "(tls|nats|TLS|wss|ws|http|)",
                "(://)?",
                proptest::option::of(("[a-z]{1,5}", credential())),
                "[a-z]{1,5}(:[0-9]{1,6})?",
                "(,(tls|nats)://[a-z]{1,4})?(,)?"
            )
                .prop_map(|(scheme, sep, userinfo, host, rest)| {
                    let ui = userinfo.map(|(u, p)| format!("{u}:{p}@")).unwrap_or_default();
                    json!({"value": format!("{scheme}{sep}{ui}{host}{rest}")})
                }),
            credential().prop_map(|v| json!({"value": v})),
            Just(json!({"valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}})),
            Just(json!({"valueFrom": {"configMapKeyRef": {"name": "cm", "key": "k"}}})),
            Just(json!({"valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}})),
            "\\$\\((NATS_URL|CORDUM_ENV|X|NATS_SERVICE_HOST|NATS_PORT)\\)".prop_map(|v| json!({"value": v})),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(400))]

        /// Whatever the environment, evaluation never panics, findings are sorted, every
        /// message is one bounded line naming its container, no credential leaks, and an
        /// override is in use exactly when its finding says so.
        #[test]
        fn evaluation_is_total_and_never_leaks(
            vars in proptest::collection::vec((0usize..NAMES.len(), value_strategy()), 0..16),
            secret_env_from in any::<bool>(),
            always in any::<bool>(),
            image in "(ghcr.io/cordum-io/cordum/(scheduler|safety-kernel|mcp|context-engine):2|busybox)",
        ) {
            let env: Vec<serde_json::Value> = vars
                .into_iter()
                .map(|(i, mut v)| {
                    // Credentials only where credentials go: a host name or a flag is shown.
                    let credential = matches!(NAMES[i], "NATS_USERNAME" | "NATS_PASSWORD" | "NATS_TOKEN" | "NATS_NKEY");
                    let in_userinfo = NAMES[i] == "NATS_URL" && v["value"].as_str().is_some_and(|s| !s.starts_with("Zq9"));
                    if !credential && !in_userinfo && v["value"].as_str().is_some_and(|s| s.contains("Zq9")) {
                        v["value"] = json!("Zz");
                    }
                    if let Some(o) = v.as_object_mut() {
                        o.insert("name".into(), json!(NAMES[i]));
                    }
                    v
                })
                .collect();
            let env_from = if secret_env_from { json!([{"secretRef": {"name": "bag"}}]) } else { json!([]) };
            let pod: PodEnv = serde_json::from_value(json!({"containers": [{"name": "c", "image": image, "env": env, "envFrom": env_from}]})).unwrap();
            let mut spec = NatsTransportPolicySpec::default();
            if always {
                spec.environment.production = ProductionMode::Always;
            }
            spec.transport.required_tls = vec![TlsVar::Ca];
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
                    prop_assert!(f.message.len() <= 600);
                    prop_assert!(f.message.contains("container \"c\""));
                }
                if always && c.client {
                    prop_assert_eq!(c.production, Some(true));
                }
                if !c.client {
                    prop_assert!(c.findings.iter().all(|f| matches!(f.code, Code::NotNatsClient | Code::EmptyUrl | Code::Indeterminate)));
                    prop_assert!(c.findings.iter().any(|f| f.code == Code::NotNatsClient));
                }
                let has = |codes: [Code; 2]| c.findings.iter().any(|f| codes.contains(&f.code));
                prop_assert_eq!(c.override_active(Override::Plaintext), has([Code::PlaintextOverrideActive, Code::PlaintextOverrideOverdue]));
                prop_assert_eq!(c.override_active(Override::NoAuth), has([Code::NoAuthOverrideActive, Code::NoAuthOverrideOverdue]));
            }
        }
    }
}
