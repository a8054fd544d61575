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
        .filter(|(c, _)| spec.containers.is_empty() || spec.containers.iter().any(|n| *n == c.name))
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
