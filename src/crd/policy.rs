//! `NatsTransportPolicy`: which Deployments to watch and how their NATS transport is judged.
//!
//! Every field but `selector` is optional; serde and the schema carry the same defaults (the
//! `cordum` profile), so a policy read back from the API server and one read from a file with
//! fields left out mean the same thing. Validation lives in the schema and CEL rules so the API
//! server rejects a bad spec with a message that names the field.

use crate::duration;
use crate::findings::Finding;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, LabelSelector, Time};
use k8s_openapi::jiff::SignedDuration;
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Selects Deployments in the policy's namespace and says how their NATS client transport is
/// evaluated: which variables hold the URL, TLS material and credentials, what counts as
/// production, which containers are NATS clients, and how long a break-glass override may stay on.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "natsguard.io",
    version = "v1alpha1",
    kind = "NatsTransportPolicy",
    plural = "natstransportpolicies",
    shortname = "ntp",
    category = "natsguard",
    namespaced,
    status = "NatsTransportPolicyStatus",
    derive = "PartialEq",
    doc = "NatsTransportPolicy keeps the NATS client transport of the selected Deployments secure: it evaluates each container's effective environment the way the workload reads it at start-up, reports drift as conditions, Events and metrics, and records every use of a break-glass override (plaintext or no-auth) as a timed NatsTransportIncident.",
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = r#".status.conditions[?(@.type=="Ready")].status"#,
        description = "Policy valid and evaluated"
    ),
    printcolumn(
        name = "Compliant",
        type_ = "string",
        json_path = r#".status.conditions[?(@.type=="Compliant")].status"#,
        description = "No selected workload has a violation"
    ),
    printcolumn(
        name = "Workloads",
        type_ = "integer",
        json_path = ".status.workloads",
        description = "Deployments selected"
    ),
    printcolumn(
        name = "Violations",
        type_ = "integer",
        json_path = ".status.violations",
        description = "Violation findings across selected Deployments"
    ),
    printcolumn(
        name = "Overrides",
        type_ = "integer",
        json_path = ".status.overrides",
        description = "Open break-glass override incidents (plaintext and no-auth)"
    ),
    printcolumn(
        name = "Next-Deadline",
        type_ = "string",
        json_path = ".status.nextDeadline",
        description = "Earliest open rollback deadline"
    ),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[serde(rename_all = "camelCase")]
pub struct NatsTransportPolicySpec {
    /// Deployments in this namespace that the policy governs. `{}` selects every Deployment.
    #[schemars(schema_with = "label_selector_schema")]
    pub selector: LabelSelector,

    /// Names of the containers (and init containers) to evaluate. Empty means all of them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64), inner(length(max = 63)), extend("x-kubernetes-list-type" = "set"))]
    #[x_kube(validation = Rule::new("self.all(c, c.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$') && size(c) <= 63)").message("containers[] must be container names (DNS labels)"))]
    pub containers: Vec<String>,

    /// The rule pack that mirrors the workload's own start-up gate. Only `cordum` exists today.
    #[serde(default)]
    pub profile: Profile,

    /// What counts as production.
    #[serde(default)]
    pub environment: EnvironmentSpec,

    /// Where the NATS URL and TLS material come from.
    #[serde(default)]
    pub transport: TransportSpec,

    /// Where broker credentials come from, and whether they are required.
    #[serde(default)]
    pub auth: AuthSpec,

    /// The two break-glass overrides (plaintext, no-auth) and their incident deadlines.
    #[serde(default)]
    pub r#override: OverrideSpec,

    /// Container name -> `Client` or `NotClient`: overrides the profile's recognition of NATS
    /// clients by image and environment. Decided by the reviewed policy, never by the workload.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("maxProperties" = 64))]
    #[x_kube(validation = Rule::new("self.all(k, size(k) <= 63 && k.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$'))").message("clientRoles keys must be container names (DNS labels)"))]
    pub client_roles: BTreeMap<String, ClientRole>,

    /// Validating admission for selected Deployments: `Off` (default), `Warn` or `Deny`.
    #[serde(default)]
    pub admission: AdmissionMode,

    /// How long resolved incidents are kept.
    #[serde(default)]
    pub incidents: IncidentsSpec,

    /// Stop evaluating and reporting for this policy. Open incidents are kept as they are.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub suspend: bool,
}

/// A label key: an optional DNS-subdomain prefix and `/`, then a name of at most 63 characters
/// (alphanumerics, `-`, `_`, `.`; alphanumeric at both ends). CEL `matches` is RE2; the doubled
/// backslash is the CEL string escape for the regex's `\.`.
const LABEL_KEY: &str = r"^([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$";
/// A label value: empty, or at most 63 characters as in a key's name.
const LABEL_VALUE: &str = r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$";

/// The schema of `spec.selector`: a standard LabelSelector, bounded (so the CEL rules fit the API
/// server's cost budget) and validated by the API server itself, as `metav1.LabelSelectorAsSelector`
/// would reject it: keys, values, operators, and the operator/values pairs.
fn label_selector_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    let key_rule = format!("size(self.key) <= 317 && self.key.matches('{LABEL_KEY}')");
    schemars::json_schema!({
        "description": "Deployments in this namespace that the policy governs (a standard label selector). `{}` selects every Deployment.",
        "type": "object",
        "properties": {
            "matchLabels": {
                "description": "Label key/value pairs; each is a requirement, and all must hold.",
                "type": "object",
                "maxProperties": 64,
                "additionalProperties": {"type": "string", "maxLength": 63},
                "x-kubernetes-validations": [
                    {
                        "rule": format!("self.all(k, size(k) <= 317 && k.matches('{LABEL_KEY}'))"),
                        "message": "selector.matchLabels keys must be label keys: an optional DNS-subdomain prefix and '/', then at most 63 of A-Z a-z 0-9 - _ . beginning and ending with an alphanumeric"
                    },
                    {
                        "rule": format!("self.all(k, self[k].matches('{LABEL_VALUE}'))"),
                        "message": "selector.matchLabels values must be label values: empty, or at most 63 of A-Z a-z 0-9 - _ . beginning and ending with an alphanumeric"
                    }
                ]
            },
            "matchExpressions": {
                "description": "Label requirements; all must hold.",
                "type": "array",
                "maxItems": 32,
                "items": {
                    "type": "object",
                    "required": ["key", "operator"],
                    "properties": {
                        "key": {"description": "The label key the requirement applies to.", "type": "string", "maxLength": 317},
                        "operator": {"description": "In, NotIn, Exists or DoesNotExist.", "type": "string", "enum": ["In", "NotIn", "Exists", "DoesNotExist"]},
                        "values": {
                            "description": "Non-empty for In and NotIn, empty for Exists and DoesNotExist.",
                            "type": "array",
                            "maxItems": 64,
                            "items": {"type": "string", "maxLength": 63}
                        }
                    },
                    "x-kubernetes-validations": [
                        {
                            "rule": key_rule,
                            "message": "selector.matchExpressions[].key must be a label key: an optional DNS-subdomain prefix and '/', then at most 63 of A-Z a-z 0-9 - _ . beginning and ending with an alphanumeric"
                        },
                        {
                            "rule": "self.operator in ['In', 'NotIn'] ? (has(self.values) && size(self.values) > 0) : (!has(self.values) || size(self.values) == 0)",
                            "message": "selector.matchExpressions[].values must be non-empty for In and NotIn, and empty for Exists and DoesNotExist"
                        },
                        {
                            "rule": format!("!has(self.values) || self.values.all(v, v.matches('{LABEL_VALUE}'))"),
                            "message": "selector.matchExpressions[].values must be label values: empty, or at most 63 of A-Z a-z 0-9 - _ . beginning and ending with an alphanumeric"
                        }
                    ]
                }
            }
        }
    })
}

impl Default for NatsTransportPolicySpec {
    /// The `cordum` profile applied to every Deployment: what `natsguard check` uses when its
    /// input carries no policy.
    fn default() -> Self {
        Self {
            selector: LabelSelector::default(),
            containers: Vec::new(),
            profile: Profile::default(),
            environment: EnvironmentSpec::default(),
            transport: TransportSpec::default(),
            auth: AuthSpec::default(),
            r#override: OverrideSpec::default(),
            client_roles: BTreeMap::new(),
            admission: AdmissionMode::default(),
            incidents: IncidentsSpec::default(),
            suspend: false,
        }
    }
}

/// A rule pack.
#[derive(schemars::JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    /// The Cordum scheduler's start-up gate (`tls://` required in production).
    #[default]
    Cordum,
}

/// When a workload counts as production.
#[derive(schemars::JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ProductionMode {
    /// Read the workload's own environment (`envVar`, `flagVar`).
    #[default]
    Auto,
    /// Treat every selected workload as production.
    Always,
    /// Treat no selected workload as production.
    Never,
}

/// How the policy overrides the profile's recognition of a NATS client.
#[derive(schemars::JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientRole {
    /// Evaluate the container as a NATS client whatever its image.
    Client,
    /// The container never dials NATS: it gets only `NotNatsClient`.
    NotClient,
}

/// What the admission webhook does with a selected Deployment.
#[derive(schemars::JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AdmissionMode {
    /// The policy never affects admission.
    #[default]
    Off,
    /// Admit, with one warning per violation.
    Warn,
    /// Reject a Deployment with violations, unless each is an owned, time-boxed break-glass override.
    Deny,
}

/// How production is recognised.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct EnvironmentSpec {
    /// `Auto` reads the workload's environment; `Always` and `Never` decide for it.
    #[serde(default)]
    pub production: ProductionMode,
    /// Variable naming the environment; production when its trimmed value equals one of `values`, ignoring case.
    #[serde(default = "defaults::env_var")]
    #[schemars(regex(pattern = r"^[A-Za-z_][A-Za-z0-9_]*$"), length(min = 1, max = 253))]
    pub env_var: String,
    /// Values of `envVar` that mean production.
    #[serde(default = "defaults::production_values")]
    #[schemars(length(min = 1, max = 16), inner(length(max = 253)))]
    #[x_kube(validation = Rule::new("self.all(v, size(v.trim()) > 0)").message("environment.values[] must not be blank"))]
    pub values: Vec<String>,
    /// Variable that means production when truthy (`1`, `true`, `yes`, `y`, `on`).
    #[serde(default = "defaults::flag_var")]
    #[schemars(regex(pattern = r"^[A-Za-z_][A-Za-z0-9_]*$"), length(min = 1, max = 253))]
    pub flag_var: String,
    /// Variable naming the CAP transport profile; `production` (trimmed, any case) requires
    /// authenticated TLS whatever the environment.
    #[serde(default = "defaults::cap_profile_var")]
    #[schemars(regex(pattern = r"^[A-Za-z_][A-Za-z0-9_]*$"), length(min = 1, max = 253))]
    pub cap_profile_var: String,
}

impl Default for EnvironmentSpec {
    fn default() -> Self {
        Self {
            production: ProductionMode::Auto,
            env_var: defaults::env_var(),
            values: defaults::production_values(),
            flag_var: defaults::flag_var(),
            cap_profile_var: defaults::cap_profile_var(),
        }
    }
}

/// Where the NATS URL and TLS settings come from.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct TransportSpec {
    /// Variable holding the server URL or a comma-separated list of them.
    #[serde(default = "defaults::url_var")]
    #[schemars(regex(pattern = r"^[A-Za-z_][A-Za-z0-9_]*$"), length(min = 1, max = 253))]
    pub url_var: String,
    /// Variable the `mcp` image reads its URL from instead of `urlVar`.
    #[serde(default = "defaults::mcp_url_var")]
    #[schemars(regex(pattern = r"^[A-Za-z_][A-Za-z0-9_]*$"), length(min = 1, max = 253))]
    pub mcp_url_var: String,
    /// The URL the workload's image supplies when `urlVar` is unset.
    #[serde(default = "defaults::default_url")]
    #[schemars(length(min = 1, max = 2048))]
    pub default_url: String,
    /// Names of the TLS variables.
    #[serde(default)]
    pub tls: TlsEnvSpec,
    /// TLS variables that must be set whenever TLS settings are applied (e.g. `[CA]`).
    #[serde(default, rename = "requiredTLS", skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "set"))]
    pub required_tls: Vec<TlsVar>,
}

impl Default for TransportSpec {
    fn default() -> Self {
        Self {
            url_var: defaults::url_var(),
            mcp_url_var: defaults::mcp_url_var(),
            default_url: defaults::default_url(),
            tls: TlsEnvSpec::default(),
            required_tls: Vec::new(),
        }
    }
}

/// A TLS setting that a policy can require.
#[derive(schemars::JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TlsVar {
    #[serde(rename = "CA")]
    Ca,
    Cert,
    Key,
    ServerName,
}

/// Names of the TLS variables. They are applied only when every URL entry begins with `tls://`.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct TlsEnvSpec {
    /// CA bundle path.
    #[serde(default = "defaults::tls_ca")]
    #[schemars(regex(pattern = r"^[A-Za-z_][A-Za-z0-9_]*$"), length(min = 1, max = 253))]
    pub ca: String,
    /// Client certificate path; must be set together with `key`.
    #[serde(default = "defaults::tls_cert")]
    #[schemars(regex(pattern = r"^[A-Za-z_][A-Za-z0-9_]*$"), length(min = 1, max = 253))]
    pub cert: String,
    /// Client key path; must be set together with `cert`.
    #[serde(default = "defaults::tls_key")]
    #[schemars(regex(pattern = r"^[A-Za-z_][A-Za-z0-9_]*$"), length(min = 1, max = 253))]
    pub key: String,
    /// Server name for certificate verification.
    #[serde(default = "defaults::tls_server_name")]
    #[schemars(regex(pattern = r"^[A-Za-z_][A-Za-z0-9_]*$"), length(min = 1, max = 253))]
    pub server_name: String,
    /// When truthy, server certificate verification is disabled.
    #[serde(default = "defaults::tls_insecure")]
    #[schemars(regex(pattern = r"^[A-Za-z_][A-Za-z0-9_]*$"), length(min = 1, max = 253))]
    pub insecure: String,
}

impl Default for TlsEnvSpec {
    fn default() -> Self {
        Self {
            ca: defaults::tls_ca(),
            cert: defaults::tls_cert(),
            key: defaults::tls_key(),
            server_name: defaults::tls_server_name(),
            insecure: defaults::tls_insecure(),
        }
    }
}

/// Whether missing broker auth is judged outside production too. In production it is always a
/// violation, because the workload refuses to start.
#[derive(schemars::JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AuthRequirement {
    /// Outside production, missing auth raises nothing.
    #[default]
    Warn,
    /// Outside production too, missing auth is an `AuthMissing` violation.
    Enforce,
}

/// Broker credentials. First match wins: username and password, then token, then nkey.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct AuthSpec {
    /// Variable holding the username; used only together with a non-empty password.
    #[serde(default = "defaults::username_var")]
    #[schemars(regex(pattern = r"^[A-Za-z_][A-Za-z0-9_]*$"), length(min = 1, max = 253))]
    pub username_var: String,
    /// Variable holding the password; used only together with a non-empty username.
    #[serde(default = "defaults::password_var")]
    #[schemars(regex(pattern = r"^[A-Za-z_][A-Za-z0-9_]*$"), length(min = 1, max = 253))]
    pub password_var: String,
    /// Variable holding the token; used when username and password are not both set.
    #[serde(default = "defaults::token_var")]
    #[schemars(regex(pattern = r"^[A-Za-z_][A-Za-z0-9_]*$"), length(min = 1, max = 253))]
    pub token_var: String,
    /// Variable holding the path of an NKey seed file; used when neither username/password nor a token is set.
    #[serde(default = "defaults::nkey_var")]
    #[schemars(regex(pattern = r"^[A-Za-z_][A-Za-z0-9_]*$"), length(min = 1, max = 253))]
    pub nkey_var: String,
    /// `Warn` (default) or `Enforce`: whether missing auth is a violation outside production too.
    #[serde(default)]
    pub required: AuthRequirement,
}

impl Default for AuthSpec {
    fn default() -> Self {
        Self {
            username_var: defaults::username_var(),
            password_var: defaults::password_var(),
            token_var: defaults::token_var(),
            nkey_var: defaults::nkey_var(),
            required: AuthRequirement::Warn,
        }
    }
}

/// The break-glass overrides that let a production workload start anyway: on plaintext
/// (`envVar`) or without broker authentication (`noAuthEnv`). The same timing applies to both.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("duration(self.warnBefore) < duration(self.maxDuration)").message("override.warnBefore must be shorter than override.maxDuration"))]
pub struct OverrideSpec {
    /// Variable that, when truthy, lets a production workload start although the gate refuses its URL.
    #[serde(default = "defaults::override_var")]
    #[schemars(regex(pattern = r"^[A-Za-z_][A-Za-z0-9_]*$"), length(min = 1, max = 253))]
    pub env_var: String,
    /// Variable that, when truthy, lets an unauthenticated production workload start.
    #[serde(default = "defaults::no_auth_env")]
    #[schemars(regex(pattern = r"^[A-Za-z_][A-Za-z0-9_]*$"), length(min = 1, max = 253))]
    pub no_auth_env: String,
    /// Longest an override may stay on: the rollback deadline is never later than start + maxDuration.
    /// A Go-style duration between 1m and 720h.
    #[serde(default = "defaults::max_duration")]
    #[schemars(regex(pattern = "^([0-9]+h)?([0-9]+m)?([0-9]+s)?$"), length(min = 2, max = 32))]
    #[x_kube(validation = Rule::new("duration(self) >= duration('1m') && duration(self) <= duration('720h')").message("override.maxDuration must be between 1m and 720h"))]
    pub max_duration: String,
    /// How long before the deadline the incident turns `DeadlineApproaching`. A Go-style duration.
    #[serde(default = "defaults::warn_before")]
    #[schemars(regex(pattern = "^([0-9]+h)?([0-9]+m)?([0-9]+s)?$"), length(min = 2, max = 32))]
    pub warn_before: String,
    /// Whether an override without a `natsguard.io/override-owner` annotation is flagged.
    #[serde(default = "defaults::yes")]
    pub require_owner: bool,
}

impl Default for OverrideSpec {
    fn default() -> Self {
        Self {
            env_var: defaults::override_var(),
            no_auth_env: defaults::no_auth_env(),
            max_duration: defaults::max_duration(),
            warn_before: defaults::warn_before(),
            require_owner: true,
        }
    }
}

impl OverrideSpec {
    pub fn max_duration(&self) -> Result<SignedDuration, duration::DurationError> {
        duration::parse(&self.max_duration)
    }
    pub fn warn_before(&self) -> Result<SignedDuration, duration::DurationError> {
        duration::parse(&self.warn_before)
    }
}

/// Incident housekeeping.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct IncidentsSpec {
    /// How long a resolved incident is kept before the operator deletes it. A Go-style duration up to 8760h.
    #[serde(default = "defaults::retention")]
    #[schemars(regex(pattern = "^([0-9]+h)?([0-9]+m)?([0-9]+s)?$"), length(min = 2, max = 32))]
    #[x_kube(validation = Rule::new("duration(self) <= duration('8760h')").message("incidents.retention must be at most 8760h"))]
    pub retention: String,
}

impl Default for IncidentsSpec {
    fn default() -> Self {
        Self { retention: defaults::retention() }
    }
}

impl IncidentsSpec {
    pub fn retention(&self) -> Result<SignedDuration, duration::DurationError> {
        duration::parse(&self.retention)
    }
}

/// What the operator last observed. Written only by the operator.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct NatsTransportPolicyStatus {
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Ready`, `Compliant`, `OverrideActive`, `IncidentOverdue`.
    #[serde(default)]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
    /// Deployments selected.
    #[serde(default)]
    pub workloads: i32,
    /// Selected Deployments without a violation.
    #[serde(default)]
    pub compliant: i32,
    /// Violation findings across all selected Deployments.
    #[serde(default)]
    pub violations: i32,
    /// Open break-glass override incidents (plaintext and no-auth; one per override per Deployment).
    #[serde(default)]
    pub overrides: i32,
    /// Open incidents past their rollback deadline.
    #[serde(default)]
    pub overdue: i32,
    /// The earliest rollback deadline among open incidents.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_deadline: Option<Time>,
    /// Findings of the Deployments that have any, sorted by name; at most 100 entries.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 100))]
    pub results: Vec<WorkloadResult>,
    /// How many Deployments with findings did not fit in `results`.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub results_omitted: i32,
}

fn is_zero(n: &i32) -> bool {
    *n == 0
}

/// The findings of one Deployment.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct WorkloadResult {
    /// Deployment name.
    pub name: String,
    /// Whether the Deployment has no violation.
    pub compliant: bool,
    /// At most 20 findings, most severe first.
    #[schemars(length(max = 20))]
    pub findings: Vec<Finding>,
}

mod defaults {
    pub fn env_var() -> String {
        "CORDUM_ENV".into()
    }
    pub fn production_values() -> Vec<String> {
        vec!["production".into(), "prod".into()]
    }
    pub fn flag_var() -> String {
        "CORDUM_PRODUCTION".into()
    }
    pub fn cap_profile_var() -> String {
        "CORDUM_CAP_PROFILE".into()
    }
    pub fn url_var() -> String {
        "NATS_URL".into()
    }
    pub fn mcp_url_var() -> String {
        "CORDUM_NATS_URL".into()
    }
    pub fn default_url() -> String {
        "nats://nats:4222".into()
    }
    pub fn tls_ca() -> String {
        "NATS_TLS_CA".into()
    }
    pub fn tls_cert() -> String {
        "NATS_TLS_CERT".into()
    }
    pub fn tls_key() -> String {
        "NATS_TLS_KEY".into()
    }
    pub fn tls_server_name() -> String {
        "NATS_TLS_SERVER_NAME".into()
    }
    pub fn tls_insecure() -> String {
        "NATS_TLS_INSECURE".into()
    }
    pub fn username_var() -> String {
        "NATS_USERNAME".into()
    }
    pub fn password_var() -> String {
        "NATS_PASSWORD".into()
    }
    pub fn token_var() -> String {
        "NATS_TOKEN".into()
    }
    pub fn nkey_var() -> String {
        "NATS_NKEY".into()
    }
    pub fn override_var() -> String {
        "CORDUM_NATS_ALLOW_PLAINTEXT".into()
    }
    pub fn no_auth_env() -> String {
        "CORDUM_NATS_ALLOW_NOAUTH".into()
    }
    pub fn max_duration() -> String {
        "4h".into()
    }
    pub fn warn_before() -> String {
        "30m".into()
    }
    pub fn retention() -> String {
        "720h".into()
    }
    pub fn yes() -> bool {
        true
    }
}
