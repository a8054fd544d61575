//! What evaluation says about a workload: the plain report types shared by the rule pack, the
//! operator, the admission webhook and the CLI. A leaf module (it depends only on `findings`),
//! so the rule pack and the workload evaluator never import each other.

use crate::findings::{Finding, Severity};
use k8s_openapi::jiff::Timestamp;
use serde::{Deserialize, Serialize};
use std::fmt;

/// A break-glass override (docs/reference.md, "Overrides").
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, schemars::JsonSchema,
)]
pub enum Override {
    /// `CORDUM_NATS_ALLOW_PLAINTEXT`: a production workload starts although the gate refuses its URL.
    /// Incidents written before the field existed read as this.
    #[default]
    Plaintext,
    /// `CORDUM_NATS_ALLOW_NOAUTH`: a production workload starts without broker authentication.
    NoAuth,
}

impl Override {
    pub const ALL: [Override; 2] = [Override::Plaintext, Override::NoAuth];

    /// As the contract spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Override::Plaintext => "Plaintext",
            Override::NoAuth => "NoAuth",
        }
    }
}

impl fmt::Display for Override {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Rollback deadlines of the open incidents, per override (the operator knows them; offline
/// there are none and the `rollback-by` annotation is used).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Deadlines {
    pub plaintext: Option<Timestamp>,
    pub no_auth: Option<Timestamp>,
}

impl Deadlines {
    pub fn get(&self, o: Override) -> Option<Timestamp> {
        match o {
            Override::Plaintext => self.plaintext,
            Override::NoAuth => self.no_auth,
        }
    }

    pub fn set(&mut self, o: Override, deadline: Option<Timestamp>) {
        match o {
            Override::Plaintext => self.plaintext = deadline,
            Override::NoAuth => self.no_auth = deadline,
        }
    }
}

/// What the caller knows that the manifests do not. Decision code never reads the clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EvalContext {
    /// The current time.
    pub now: Timestamp,
    /// Deadlines of open incidents; where `None`, the `rollback-by` annotation is used if it parses.
    pub deadlines: Deadlines,
}

impl EvalContext {
    /// No incident known (the CLI, admission).
    pub fn at(now: Timestamp) -> Self {
        Self { now, deadlines: Deadlines::default() }
    }
}

/// The verdict for one container. `None` in a state means "cannot be determined" (an
/// `Indeterminate` finding says why) or "not evaluated" (not a NATS client, or the workload
/// stops earlier).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ContainerReport {
    /// Container name.
    pub name: String,
    /// Whether it is an init container.
    pub init: bool,
    /// Whether it was evaluated as a NATS client (else it has only `NotNatsClient`, maybe `EmptyURL`).
    pub client: bool,
    /// Whether it runs in production.
    pub production: Option<bool>,
    /// Whether every URL entry begins with `tls://` (the gate's test).
    pub gate_accepts: Option<bool>,
    /// Whether broker authentication is configured (credentials, or an applied client certificate).
    pub authenticated: Option<bool>,
    /// Whether `CORDUM_NATS_ALLOW_PLAINTEXT` is truthy.
    pub plaintext_override: Option<bool>,
    /// Whether `CORDUM_NATS_ALLOW_NOAUTH` is truthy.
    pub no_auth_override: Option<bool>,
    /// Findings, sorted: severity descending, then code, then message.
    pub findings: Vec<Finding>,
}

impl ContainerReport {
    /// Whether the override variable is truthy.
    pub fn override_truthy(&self, o: Override) -> Option<bool> {
        match o {
            Override::Plaintext => self.plaintext_override,
            Override::NoAuth => self.no_auth_override,
        }
    }

    /// The break-glass is in use: a production NATS client that would refuse to start without it.
    pub fn override_active(&self, o: Override) -> bool {
        let refused = match o {
            Override::Plaintext => self.gate_accepts == Some(false),
            Override::NoAuth => self.authenticated == Some(false),
        };
        self.client && self.production == Some(true) && refused && self.override_truthy(o) == Some(true)
    }

    /// No violation.
    pub fn compliant(&self) -> bool {
        !self.findings.iter().any(|f| f.severity == Severity::Violation)
    }
}

/// The verdict for one workload.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WorkloadReport {
    /// Init containers first, then containers, in pod order; filtered by the policy's `containers`.
    pub containers: Vec<ContainerReport>,
}

#[cfg(test)]
impl WorkloadReport {
    /// A one-container (`c`) report with these findings, each message `<code> here` (for tests).
    pub fn with_codes(codes: &[(crate::findings::Code, Severity)]) -> Self {
        let findings = codes
            .iter()
            .map(|(code, severity)| Finding {
                code: *code,
                severity: *severity,
                container: "c".into(),
                message: format!("{code} here"),
            })
            .collect();
        WorkloadReport { containers: vec![ContainerReport { name: "c".into(), findings, ..Default::default() }] }
    }
}

impl WorkloadReport {
    /// No container has a violation.
    pub fn compliant(&self) -> bool {
        self.containers.iter().all(ContainerReport::compliant)
    }

    /// Some container runs with this override in use.
    pub fn override_active(&self, o: Override) -> bool {
        self.containers.iter().any(|c| c.override_active(o))
    }

    /// Names of the containers running with this override in use, in report order.
    pub fn override_containers(&self, o: Override) -> Vec<String> {
        self.containers.iter().filter(|c| c.override_active(o)).map(|c| c.name.clone()).collect()
    }

    /// Every finding, container by container.
    pub fn findings(&self) -> impl Iterator<Item = &Finding> {
        self.containers.iter().flat_map(|c| c.findings.iter())
    }
}
