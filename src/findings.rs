//! Findings: the stable codes, severities and messages that every output (status, Events,
//! metrics, the CLI) speaks in. The codes are part of the public contract (SPEC §3).

use serde::{Deserialize, Serialize};
use std::fmt;

/// A finding's stable code. It is also the Kubernetes Event reason.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
pub enum Code {
    PlaintextTransport,
    #[serde(rename = "TLSSchemeRejected")]
    TlsSchemeRejected,
    PlaintextOverrideActive,
    PlaintextOverrideOverdue,
    OverrideOwnerMissing,
    StaleOverride,
    MixedSchemes,
    OverrideValueUnrecognized,
    #[serde(rename = "TLSSettingsIgnored")]
    TlsSettingsIgnored,
    #[serde(rename = "TLSMaterialIncomplete")]
    TlsMaterialIncomplete,
    #[serde(rename = "TLSMaterialMissing")]
    TlsMaterialMissing,
    #[serde(rename = "TLSVerificationDisabled")]
    TlsVerificationDisabled,
    AuthMissing,
    AuthIncomplete,
    AuthAmbiguous,
    #[serde(rename = "CredentialsInURL")]
    CredentialsInUrl,
    SecretInPlainEnv,
    #[serde(rename = "InvalidURL")]
    InvalidUrl,
    Indeterminate,
}

impl Code {
    pub const ALL: [Code; 19] = [
        Code::PlaintextTransport,
        Code::TlsSchemeRejected,
        Code::PlaintextOverrideActive,
        Code::PlaintextOverrideOverdue,
        Code::OverrideOwnerMissing,
        Code::StaleOverride,
        Code::MixedSchemes,
        Code::OverrideValueUnrecognized,
        Code::TlsSettingsIgnored,
        Code::TlsMaterialIncomplete,
        Code::TlsMaterialMissing,
        Code::TlsVerificationDisabled,
        Code::AuthMissing,
        Code::AuthIncomplete,
        Code::AuthAmbiguous,
        Code::CredentialsInUrl,
        Code::SecretInPlainEnv,
        Code::InvalidUrl,
        Code::Indeterminate,
    ];

    /// The code exactly as the contract spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Code::PlaintextTransport => "PlaintextTransport",
            Code::TlsSchemeRejected => "TLSSchemeRejected",
            Code::PlaintextOverrideActive => "PlaintextOverrideActive",
            Code::PlaintextOverrideOverdue => "PlaintextOverrideOverdue",
            Code::OverrideOwnerMissing => "OverrideOwnerMissing",
            Code::StaleOverride => "StaleOverride",
            Code::MixedSchemes => "MixedSchemes",
            Code::OverrideValueUnrecognized => "OverrideValueUnrecognized",
            Code::TlsSettingsIgnored => "TLSSettingsIgnored",
            Code::TlsMaterialIncomplete => "TLSMaterialIncomplete",
            Code::TlsMaterialMissing => "TLSMaterialMissing",
            Code::TlsVerificationDisabled => "TLSVerificationDisabled",
            Code::AuthMissing => "AuthMissing",
            Code::AuthIncomplete => "AuthIncomplete",
            Code::AuthAmbiguous => "AuthAmbiguous",
            Code::CredentialsInUrl => "CredentialsInURL",
            Code::SecretInPlainEnv => "SecretInPlainEnv",
            Code::InvalidUrl => "InvalidURL",
            Code::Indeterminate => "Indeterminate",
        }
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How bad a finding is. Ordered: `Info < Warning < Violation`.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Violation,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Violation => "violation",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One thing wrong (or worth knowing) about one container.
///
/// `message` is a single line that says what is wrong, where, and how to fix it. It never
/// contains a credential or a Secret-sourced value: URLs in it are redacted.
#[derive(
    Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, schemars::JsonSchema,
)]
pub struct Finding {
    /// Stable finding code; also the Event reason.
    pub code: Code,
    /// `violation`, `warning` or `info`.
    pub severity: Severity,
    /// The container (or init container) concerned.
    pub container: String,
    /// What is wrong, where, and how to fix it.
    pub message: String,
}
