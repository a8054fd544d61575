//! `NatsTransportLedger`: one shard of a policy's announced record (`crate::ledger`), written only
//! by the operator. It is what keeps Events from being repeated across operator restarts and
//! leader changes for every workload, not only those in the bounded `status.results`.

use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What natsguard has announced with Events about the Deployments of one policy (one shard of
/// the record: workloads are spread over shards by a hash of their name). Written and read only
/// by natsguard; deleting it makes natsguard announce the current findings again.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "natsguard.io",
    version = "v1alpha1",
    kind = "NatsTransportLedger",
    plural = "natstransportledgers",
    shortname = "ntl",
    namespaced,
    derive = "PartialEq",
    doc = "NatsTransportLedger records which findings natsguard has already announced with Events for the Deployments of one NatsTransportPolicy (one shard of that record), so that no Event is repeated after an operator restart or a leader change. Written only by natsguard.",
    printcolumn(name = "Policy", type_ = "string", json_path = ".spec.policy"),
    printcolumn(name = "Shard", type_ = "integer", json_path = ".spec.shard"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[serde(rename_all = "camelCase")]
pub struct NatsTransportLedgerSpec {
    /// The NatsTransportPolicy (same namespace) whose announcements this records.
    #[schemars(length(min = 1, max = 253))]
    pub policy: String,
    /// The policy's uid: a record left by a deleted policy of the same name is not used.
    #[schemars(length(max = 64))]
    pub policy_uid: String,
    /// Which shard of the record this is.
    #[schemars(range(min = 0, max = 255))]
    pub shard: u32,
    /// Deployment name -> what was announced about it: `!` when it was announced as having a
    /// violation, then the announced finding codes, comma-separated.
    #[serde(default)]
    pub entries: BTreeMap<String, String>,
}
