//! `NatsTransportIncident`: one activation of one break-glass override on one Deployment.
//!
//! Written only by the operator. The spec records what was observed when the incident opened
//! (and the owner and deadline as they stand); the status carries its lifecycle.

pub use crate::report::Override;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

/// A break-glass override (plaintext or no-auth) in use on one Deployment, with an owner and a
/// rollback deadline. Opened, escalated, resolved and eventually deleted by natsguard.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "natsguard.io",
    version = "v1alpha1",
    kind = "NatsTransportIncident",
    plural = "natstransportincidents",
    shortname = "nti",
    category = "natsguard",
    namespaced,
    status = "NatsTransportIncidentStatus",
    derive = "PartialEq",
    doc = "NatsTransportIncident records one use of a break-glass NATS override (CORDUM_NATS_ALLOW_PLAINTEXT or CORDUM_NATS_ALLOW_NOAUTH) on one Deployment: who owns it, why, when it started and when it must be rolled back.",
    printcolumn(name = "Deployment", type_ = "string", json_path = ".spec.deployment.name"),
    printcolumn(name = "Override", type_ = "string", json_path = ".spec.override"),
    printcolumn(name = "Owner", type_ = "string", json_path = ".spec.owner"),
    printcolumn(name = "State", type_ = "string", json_path = ".status.state"),
    printcolumn(name = "Rollback-By", type_ = "string", json_path = ".spec.rollbackBy"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp"),
    printcolumn(name = "Policy", type_ = "string", json_path = ".spec.policy", priority = "1"),
    printcolumn(name = "Reason", type_ = "string", json_path = ".spec.reason", priority = "1")
)]
#[serde(rename_all = "camelCase")]
pub struct NatsTransportIncidentSpec {
    /// Which break-glass is in use: `Plaintext` (`CORDUM_NATS_ALLOW_PLAINTEXT`) or `NoAuth`
    /// (`CORDUM_NATS_ALLOW_NOAUTH`). Incidents written before this field existed read as `Plaintext`.
    #[serde(default)]
    #[schemars(extend("default" = "Plaintext"))]
    pub r#override: Override,
    /// The NatsTransportPolicy (same namespace) under which the override was observed.
    #[schemars(length(min = 1, max = 253))]
    pub policy: String,
    /// The Deployment running with the override.
    pub deployment: DeploymentRef,
    /// Containers in which the override is active.
    #[serde(default)]
    pub containers: Vec<String>,
    /// Who is responsible for rolling the override back (`natsguard.io/override-owner`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// Why the override was enabled, e.g. a ticket (`natsguard.io/override-reason`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// When natsguard first observed the override.
    pub started_at: Time,
    /// When the override must be gone: `natsguard.io/rollback-by`, never later than
    /// `startedAt + maxDuration`.
    pub rollback_by: Time,
}

/// The Deployment an incident concerns.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct DeploymentRef {
    /// Name of the Deployment (in the incident's namespace).
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// UID of the Deployment, so a re-created Deployment of the same name is a different workload.
    #[schemars(length(min = 1, max = 64))]
    pub uid: String,
}

/// Where an incident is in its life.
#[derive(
    schemars::JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash,
)]
pub enum IncidentState {
    /// The override is on and the deadline is not near.
    #[default]
    Active,
    /// The deadline is within the policy's `warnBefore`.
    DeadlineApproaching,
    /// The deadline has passed.
    Overdue,
    /// The override is gone or no longer applies.
    Resolved,
}

impl IncidentState {
    pub fn as_str(self) -> &'static str {
        match self {
            IncidentState::Active => "Active",
            IncidentState::DeadlineApproaching => "DeadlineApproaching",
            IncidentState::Overdue => "Overdue",
            IncidentState::Resolved => "Resolved",
        }
    }
}

/// Why an incident was resolved.
#[derive(schemars::JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Resolution {
    /// The override variable is no longer truthy (the workload still refuses plaintext).
    OverrideRemoved,
    /// The URL now passes the gate (`tls://`).
    SwitchedToTLS,
    /// Broker authentication is now configured (the no-auth override is no longer needed).
    AuthConfigured,
    /// The Deployment was deleted.
    WorkloadDeleted,
    /// The Deployment is no longer selected by the policy.
    OutOfScope,
    /// The workload no longer runs in production.
    NoLongerProduction,
    /// The policy was deleted.
    PolicyDeleted,
}

impl Resolution {
    pub fn as_str(self) -> &'static str {
        match self {
            Resolution::OverrideRemoved => "OverrideRemoved",
            Resolution::SwitchedToTLS => "SwitchedToTLS",
            Resolution::AuthConfigured => "AuthConfigured",
            Resolution::WorkloadDeleted => "WorkloadDeleted",
            Resolution::OutOfScope => "OutOfScope",
            Resolution::NoLongerProduction => "NoLongerProduction",
            Resolution::PolicyDeleted => "PolicyDeleted",
        }
    }
}

/// The incident's lifecycle. Written only by the operator.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct NatsTransportIncidentStatus {
    /// `Active`, `DeadlineApproaching`, `Overdue` or `Resolved`.
    #[serde(default)]
    pub state: IncidentState,
    /// When the incident was resolved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved_at: Option<Time>,
    /// Why the incident was resolved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolution: Option<Resolution>,
    /// When the last `OverrideOverdue` Event was emitted (repeated hourly while overdue).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_overdue_notice: Option<Time>,
}
