//! The TLS settings (docs/reference.md, "TLS env"): applied, in every environment, only when every
//! URL entry passes the gate's test; otherwise silently ignored (`TLSSettingsIgnored`). When
//! applied: production with nothing set refuses to start (`TLSSettingsMissing`), `INSECURE`
//! refuses in production and disables verification elsewhere (`TLSVerificationDisabled`), CERT
//! and KEY go together (`TLSMaterialIncomplete`) and, together, present a client certificate.

use super::roles::Role;
use super::vars::{Out, State, list_of};
use crate::crd::policy::{NatsTransportPolicySpec, TlsVar};
use crate::env::EffectiveEnv;
use crate::findings::{Code, Severity};

/// What the TLS settings amount to. `None`: cannot be told.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tls {
    /// The TLS env is applied (every entry `tls://`).
    pub applied: Option<bool>,
    /// A client certificate is presented (applied, CERT and KEY set).
    pub cert_presented: Option<bool>,
    /// Server certificate verification is disabled (applied and INSECURE truthy).
    pub verification_disabled: Option<bool>,
}

impl Tls {
    /// The TLS env is not applied: no certificate, verification untouched.
    pub const NOT_APPLIED: Tls =
        Tls { applied: Some(false), cert_presented: Some(false), verification_disabled: Some(false) };
}

/// Judge the TLS settings. `gate`: whether every URL entry begins with `tls://`.
pub fn evaluate(
    spec: &NatsTransportPolicySpec,
    role: &Role<'_>,
    env: &EffectiveEnv,
    production: Option<bool>,
    gate: Option<bool>,
    out: &mut Out<'_>,
) -> Tls {
    let t = &spec.transport.tls;
    let [ca, cert, key, server_name] = [&t.ca, &t.cert, &t.key, &t.server_name].map(|n| State::of(env, n));
    let insecure = State::of(env, &t.insecure).truthy();
    let both = match (cert.set(), key.set()) {
        (Some(true), Some(true)) => Some(true),
        (Some(false), _) | (_, Some(false)) => Some(false),
        _ => None,
    };
    let Some(applied) = gate else {
        let maybe = |v: Option<bool>| if v == Some(false) { Some(false) } else { None };
        return Tls { applied: None, cert_presented: maybe(both), verification_disabled: maybe(insecure) };
    };
    if !applied {
        let mut set: Vec<&str> = [(ca, &t.ca), (cert, &t.cert), (key, &t.key), (server_name, &t.server_name)]
            .into_iter()
            .filter(|(s, _)| s.is_set())
            .map(|(_, n)| n.as_str())
            .collect();
        if insecure == Some(true) {
            set.push(&t.insecure);
        }
        if !set.is_empty() {
            let (names, is, them) = list_of(&set);
            let cert_note =
                if cert.is_set() || key.is_set() { "; the client certificate is not presented" } else { "" };
            out.push(
                Code::TlsSettingsIgnored,
                Severity::Warning,
                format!(
                    "{names} {is} set but ignored because not every entry of {} begins with tls://{cert_note}, which gives false confidence; write every entry as tls:// or remove {them}",
                    role.url_var
                ),
            );
        }
        return Tls { applied: Some(false), cert_presented: Some(false), verification_disabled: Some(false) };
    }

    // Applied. CERT and KEY together, or neither.
    match (cert.set(), key.set()) {
        (Some(true), Some(false)) | (Some(false), Some(true)) => {
            let (only, missing) = if cert.is_set() { (&t.cert, &t.key) } else { (&t.key, &t.cert) };
            out.push(
                Code::TlsMaterialIncomplete,
                Severity::Violation,
                format!(
                    "{only} is set without {missing}; they must be set together, so {} in any environment; set both (a client certificate then counts as authentication) or neither",
                    role.image.on_refusal()
                ),
            );
        }
        (Some(true), None) | (None, Some(true)) => {
            let (only, other) = if cert.is_set() { (&t.cert, key) } else { (&t.key, cert) };
            let missing = if cert.is_set() { &t.key } else { &t.cert };
            out.push(
                Code::Indeterminate,
                Severity::Warning,
                format!(
                    "{only} is set and whether {} is too cannot be told ({}); without it the workload fails to start; set {missing} explicitly",
                    missing,
                    other.why_unreadable(missing)
                ),
            );
        }
        _ => {}
    }

    if insecure == Some(true) {
        let (severity, what) = if production == Some(true) {
            (Severity::Violation, format!("in production the workload refuses it, so {}", role.image.on_refusal()))
        } else {
            (Severity::Warning, "so the server certificate is not verified".to_owned())
        };
        out.push(
            Code::TlsVerificationDisabled,
            severity,
            format!(
                "{} is truthy with tls://, {what}; remove {} and trust the server's CA with {}",
                t.insecure, t.insecure, t.ca
            ),
        );
    }

    if production == Some(true) {
        let states = [ca, cert, key, server_name];
        let any_set = states.iter().any(|s| s.is_set()) || insecure == Some(true);
        let could = states.iter().any(|s| s.set().is_none()) || insecure.is_none();
        if any_set && insecure.is_none() {
            out.push(
                Code::Indeterminate,
                Severity::Warning,
                format!(
                    "whether {} disables server verification cannot be told ({}); in production that refuses to start; set it from a literal value",
                    t.insecure,
                    State::of(env, &t.insecure).why_unreadable(&t.insecure)
                ),
            );
        } else if !any_set {
            let names = format!("{}, {}, {} or {}", t.ca, t.cert, t.key, t.server_name);
            if could {
                let why = [(ca, &t.ca), (cert, &t.cert), (key, &t.key), (server_name, &t.server_name)]
                    .into_iter()
                    .find(|(s, _)| s.set().is_none())
                    .map_or_else(String::new, |(s, n)| format!(" ({})", s.why_unreadable(n)));
                out.push(
                    Code::Indeterminate,
                    Severity::Warning,
                    format!(
                        "whether any of {names} is set cannot be told{why}; with none set the workload refuses to start in production; set them explicitly"
                    ),
                );
            } else {
                out.push(
                    Code::TlsSettingsMissing,
                    Severity::Violation,
                    format!(
                        "none of {names} is set, so in production {} (\"nats tls required in production\"); the plaintext override does not help; set {} to the server's CA bundle (and {} to its name)",
                        role.image.on_refusal(),
                        t.ca,
                        t.server_name
                    ),
                );
            }
        }
    }

    let mut required = spec.transport.required_tls.clone();
    required.sort();
    required.dedup();
    for v in required {
        let name = match v {
            TlsVar::Ca => &t.ca,
            TlsVar::Cert => &t.cert,
            TlsVar::Key => &t.key,
            TlsVar::ServerName => &t.server_name,
        };
        if State::of(env, name).is_absent() {
            out.push(
                Code::TlsMaterialMissing,
                Severity::Warning,
                format!("{name} is not set but the policy requires it whenever TLS is used (transport.requiredTLS); set {name}"),
            );
        }
    }

    Tls { applied: Some(true), cert_presented: both, verification_disabled: insecure }
}

#[cfg(test)]
mod tests {
    use super::super::testkit::*;
    use crate::crd::policy::TlsVar;
    use crate::findings::Code::*;

    #[test]
    fn settings_are_applied_only_when_every_entry_is_tls() {
        let tls = || lit("NATS_URL", "tls://nats:4222");
        check(
            &Run::scheduler(),
            vec![
                (
                    "ignored on plaintext",
                    (vec![staging(), lit("NATS_TLS_CA", "/ca.pem")], vec![(TlsSettingsIgnored, W)]),
                ),
                (
                    "ignored beside a nats:// entry, client certificate not presented",
                    (
                        vec![
                            staging(),
                            lit("NATS_URL", "tls://a,nats://b"),
                            lit("NATS_TLS_CERT", "/c"),
                            lit("NATS_TLS_KEY", "/k"),
                        ],
                        vec![(TlsSettingsIgnored, W), (MixedSchemes, W)],
                    ),
                ),
                (
                    "applied on TLS://",
                    (vec![staging(), lit("NATS_URL", "TLS://n:4222"), lit("NATS_TLS_CA", "/ca")], vec![]),
                ),
                ("secret counts as set", (vec![staging(), secret("NATS_TLS_KEY")], vec![(TlsSettingsIgnored, W)])),
                (
                    "blank does not count",
                    (vec![staging(), lit("NATS_TLS_CA", ""), lit("NATS_TLS_SERVER_NAME", " ")], vec![]),
                ),
                ("insecure false is not set", (vec![staging(), lit("NATS_TLS_INSECURE", "false")], vec![])),
                (
                    "insecure on plaintext is only ignored",
                    (
                        vec![prod(), auth(), lit("NATS_TLS_INSECURE", "true"), lit("CORDUM_NATS_ALLOW_PLAINTEXT", "1")],
                        vec![(PlaintextOverrideActive, V), (OverrideOwnerMissing, W), (TlsSettingsIgnored, W)],
                    ),
                ),
                (
                    "complete client certificate",
                    (vec![prod(), tls(), lit("NATS_TLS_CERT", "/c"), lit("NATS_TLS_KEY", "/k")], vec![]),
                ),
                ("cert only", (vec![staging(), tls(), lit("NATS_TLS_CERT", "/c")], vec![(TlsMaterialIncomplete, V)])),
                ("key only", (vec![staging(), tls(), lit("NATS_TLS_KEY", "/k")], vec![(TlsMaterialIncomplete, V)])),
                (
                    "key only, blank cert",
                    (
                        vec![staging(), tls(), lit("NATS_TLS_CERT", " "), secret("NATS_TLS_KEY")],
                        vec![(TlsMaterialIncomplete, V)],
                    ),
                ),
                (
                    "both from secrets",
                    (vec![staging(), tls(), secret("NATS_TLS_CERT"), secret("NATS_TLS_KEY")], vec![]),
                ),
                (
                    "insecure in production refuses",
                    (vec![prod(), auth(), tls(), lit("NATS_TLS_INSECURE", "TRUE")], vec![(TlsVerificationDisabled, V)]),
                ),
                (
                    "insecure outside production disables verification",
                    (vec![staging(), tls(), lit("NATS_TLS_INSECURE", "yes")], vec![(TlsVerificationDisabled, W)]),
                ),
                ("insecure false", (vec![prod(), auth(), tls(), ca(), lit("NATS_TLS_INSECURE", "false")], vec![])),
            ],
        );
    }

    #[test]
    fn production_requires_some_tls_setting() {
        let tls = || lit("NATS_URL", "tls://nats:4222");
        check(
            &Run::scheduler(),
            vec![
                ("nothing set", (vec![prod(), auth(), tls()], vec![(TlsSettingsMissing, V)])),
                (
                    "server name alone is enough",
                    (vec![prod(), auth(), tls(), lit("NATS_TLS_SERVER_NAME", "nats")], vec![]),
                ),
                ("CA alone", (vec![prod(), auth(), tls(), ca()], vec![])),
                ("CA from a Secret", (vec![prod(), auth(), tls(), secret("NATS_TLS_CA")], vec![])),
                ("nothing set outside production", (vec![staging(), tls()], vec![])),
                (
                    "the plaintext override does not help",
                    (
                        vec![prod(), auth(), tls(), lit("CORDUM_NATS_ALLOW_PLAINTEXT", "true")],
                        vec![(TlsSettingsMissing, V), (StaleOverride, W)],
                    ),
                ),
            ],
        );
        let r = Run::scheduler().run(&[prod(), auth(), tls()]);
        assert!(msg(&r, TlsSettingsMissing).contains("nats tls required in production"));
        let bag = Run::scheduler().env_from(serde_json::json!([{"secretRef": {"name": "bag"}}]));
        let r = bag.run(&[prod(), lit("CORDUM_PRODUCTION", "1"), tls(), auth()]);
        assert_eq!(
            codes(&r),
            vec![(Indeterminate, W)],
            "an opaque Secret may hold the TLS settings: {:#?}",
            r.findings
        );
    }

    #[test]
    fn required_settings() {
        let tls = || lit("NATS_URL", "tls://nats:4222");
        let ca_required = Run::scheduler().spec(|s| s.transport.required_tls = vec![TlsVar::Ca, TlsVar::ServerName]);
        check(
            &ca_required,
            vec![
                (
                    "required missing",
                    (vec![staging(), tls(), lit("NATS_TLS_CA", "/ca")], vec![(TlsMaterialMissing, W)]),
                ),
                ("both missing", (vec![staging(), tls()], vec![(TlsMaterialMissing, W), (TlsMaterialMissing, W)])),
                (
                    "present",
                    (vec![staging(), tls(), secret("NATS_TLS_CA"), lit("NATS_TLS_SERVER_NAME", "nats")], vec![]),
                ),
                ("not applied: not raised", (vec![staging(), lit("NATS_URL", "nats://n:4222")], vec![])),
            ],
        );
        let r = ca_required.run(&[staging(), tls(), lit("NATS_TLS_CA", "/ca")]);
        assert!(msg(&r, TlsMaterialMissing).contains("NATS_TLS_SERVER_NAME"));
        let r = Run::scheduler().run(&[staging(), lit("NATS_TLS_CA", "/ca"), secret("NATS_TLS_KEY")]);
        let m = msg(&r, TlsSettingsIgnored);
        assert!(
            m.contains("NATS_TLS_CA, NATS_TLS_KEY are set") && m.contains("client certificate is not presented"),
            "{m}"
        );
    }
}
