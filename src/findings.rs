//! Findings: the stable codes, severities and messages that every output (status, Events,
//! metrics, the CLI) speaks in. The codes are part of the public contract (docs/reference.md, "Codes").

use serde::{Deserialize, Serialize};
use std::fmt;

/// Declares [`Code`] once: each variant with its contract spelling, its usual severity and a
/// one-line summary (docs/reference.md, "Codes", is the long form).
macro_rules! codes {
    ($($variant:ident = ($text:literal, $severity:ident, $summary:literal),)+) => {
        /// A finding's stable code. It is also the Kubernetes Event reason.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, schemars::JsonSchema)]
        pub enum Code {
            $(#[serde(rename = $text)] $variant,)+
        }

        impl Code {
            /// Every code, in declaration order.
            pub const ALL: &'static [Code] = &[$(Code::$variant,)+];

            /// The code exactly as the contract spells it.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Code::$variant => $text,)+
                }
            }

            /// Its severity where the contract gives one (`TLSVerificationDisabled` is a warning
            /// outside production, `AuthMissing` a violation).
            pub fn severity(self) -> Severity {
                match self {
                    $(Code::$variant => Severity::$severity,)+
                }
            }

            /// What it means, in one line.
            pub fn summary(self) -> &'static str {
                match self {
                    $(Code::$variant => $summary,)+
                }
            }
        }
    };
}

codes! {
    PlaintextTransport = ("PlaintextTransport", Violation, "Production NATS client whose URL the gate refuses and whose transport is plaintext: it refuses to start"),
    TlsSchemeRejected = ("TLSSchemeRejected", Violation, "Production NATS client that would encrypt, but whose URL the gate refuses (every entry must begin with tls://)"),
    PlaintextOverrideActive = ("PlaintextOverrideActive", Violation, "The break-glass plaintext override lets a production workload start although the gate refuses its URL"),
    PlaintextOverrideOverdue = ("PlaintextOverrideOverdue", Violation, "The plaintext override is still on past its rollback deadline"),
    NoAuthOverrideActive = ("NoAuthOverrideActive", Violation, "The break-glass no-auth override lets a production workload use the broker unauthenticated"),
    NoAuthOverrideOverdue = ("NoAuthOverrideOverdue", Violation, "The no-auth override is still on past its rollback deadline"),
    OverrideOwnerMissing = ("OverrideOwnerMissing", Warning, "A break-glass override is in use and no owner is recorded"),
    StaleOverride = ("StaleOverride", Warning, "A break-glass override is on although its check passes: a later edit would silently downgrade"),
    MixedSchemes = ("MixedSchemes", Warning, "Server list mixes encrypted and plaintext entries; the client encrypts them all"),
    OverrideValueUnrecognized = ("OverrideValueUnrecognized", Warning, "Override variable set to a value that is neither truthy nor falsy"),
    TlsSettingsIgnored = ("TLSSettingsIgnored", Warning, "TLS settings are set but not applied because not every URL entry is tls://"),
    TlsSettingsMissing = ("TLSSettingsMissing", Violation, "Production NATS client with tls:// but no TLS setting at all: it refuses to start"),
    TlsMaterialIncomplete = ("TLSMaterialIncomplete", Violation, "Only one of the client certificate and key is set: start-up failure in any environment"),
    TlsMaterialMissing = ("TLSMaterialMissing", Warning, "A TLS setting the policy requires is unset"),
    TlsVerificationDisabled = ("TLSVerificationDisabled", Violation, "Server certificate verification is disabled (refused in production)"),
    AuthMissing = ("AuthMissing", Violation, "Production NATS client without broker authentication: it refuses to start"),
    AuthIncomplete = ("AuthIncomplete", Warning, "Username without password, or password without username"),
    AuthAmbiguous = ("AuthAmbiguous", Info, "More than one NATS authentication mode is set; the first match takes effect"),
    CredentialsInUrl = ("CredentialsInURL", Warning, "Credentials (userinfo) in a NATS URL: never authentication, and logged"),
    SecretInPlainEnv = ("SecretInPlainEnv", Warning, "Password or token as a literal value, or a literal nkey seed, instead of a Secret"),
    InvalidUrl = ("InvalidURL", Violation, "NATS URL the client refuses in every environment (unparseable entry, unsupported scheme, websocket mixed with TCP)"),
    EmptyUrl = ("EmptyURL", Violation, "The URL variable is present but blank in production: the service exits at its configuration check"),
    CapTransportNotReady = ("CapTransportNotReady", Violation, "CORDUM_CAP_PROFILE is production but the transport is not authenticated TLS"),
    NotNatsClient = ("NotNatsClient", Info, "The container does not dial NATS; no transport rule applies"),
    Indeterminate = ("Indeterminate", Warning, "A value that decides the verdict cannot be determined"),
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How bad a finding is. Ordered: `Info < Warning < Violation`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, schemars::JsonSchema)]
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
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, schemars::JsonSchema)]
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
