//! Broker authentication (docs/reference.md, "Authentication"): first match wins among
//! username+password, token and nkey (the path of a seed file); an applied client certificate
//! counts too; credentials in the URL never do. Also the hygiene findings that hold in any
//! environment: half a username/password pair, several modes at once, secrets in plain env.

use super::roles::Role;
use super::tls::Tls;
use super::vars::{Out, State};
use crate::crd::policy::NatsTransportPolicySpec;
use crate::env::{EffectiveEnv, Origin, Presence, Value};
use crate::findings::{Code, Severity};

/// Whether the workload is authenticated, and how sure that is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Auth {
    /// Credentials or an applied client certificate; `None`: cannot be told.
    pub authenticated: Option<bool>,
    /// Whether an opaque `envFrom` source (not the URL) leaves it undecided.
    undecided_by_env: bool,
}

/// A literal nkey seed: 58 characters from `A`–`Z` and `2`–`7`, starting with `S`. Such a value
/// cannot be read as the seed *file* that `NATS_NKEY` names, so it gives no authentication.
pub fn is_nkey_seed(v: &str) -> bool {
    let v = v.trim();
    v.len() == 58 && v.starts_with('S') && v.bytes().all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b))
}

/// Judge the credentials (hygiene findings in any environment) and say whether they authenticate.
pub fn evaluate(spec: &NatsTransportPolicySpec, env: &EffectiveEnv, tls: &Tls, out: &mut Out<'_>) -> Auth {
    let a = &spec.auth;
    let [user, pass, token, nkey] =
        [&a.username_var, &a.password_var, &a.token_var, &a.nkey_var].map(|n| State::of(env, n));
    let seed = matches!(nkey, State::Known(v) if is_nkey_seed(v));

    let userpass = user.is_set() && pass.is_set();
    let nkey_mode = nkey.is_set() && !seed;
    let could = |s: State<'_>| s.is_set() || matches!(s, State::Maybe(_));
    let could_any = (could(user) && could(pass)) || could(token) || (could(nkey) && !seed);
    let undecided_by_env = !userpass && !token.is_set() && !nkey_mode && could_any;
    let authenticated = if userpass || token.is_set() || nkey_mode || tls.cert_presented == Some(true) {
        Some(true)
    } else if could_any || tls.cert_presented.is_none() {
        None
    } else {
        Some(false)
    };

    if user.is_set() && pass.is_absent() {
        out.push(
            Code::AuthIncomplete,
            Severity::Warning,
            format!(
                "{} is set without {}, so username/password authentication is not used (the next mode applies); set {} from a Secret or remove {}",
                a.username_var, a.password_var, a.password_var, a.username_var
            ),
        );
    } else if pass.is_set() && user.is_absent() {
        out.push(
            Code::AuthIncomplete,
            Severity::Warning,
            format!(
                "{} is set without {}, so username/password authentication is not used (the next mode applies); set {} or remove {}",
                a.password_var, a.username_var, a.username_var, a.password_var
            ),
        );
    }

    let pair = format!("{}/{}", a.username_var, a.password_var);
    let modes: Vec<&str> = [(userpass, pair.as_str()), (token.is_set(), &a.token_var), (nkey.is_set(), &a.nkey_var)]
        .into_iter()
        .filter(|(on, _)| *on)
        .map(|(_, n)| n)
        .collect();
    if let [effective, _, ..] = modes.as_slice() {
        out.push(
            Code::AuthAmbiguous,
            Severity::Info,
            format!(
                "more than one NATS authentication mode is set ({}); the first match, {effective}, takes effect (a client certificate is not counted here); remove the others",
                modes.join(", ")
            ),
        );
    }

    for name in [&a.password_var, &a.token_var, &a.nkey_var] {
        let Presence::Set(v) = env.presence(name) else { continue };
        let Value::Known(value) = &v.value else { continue };
        let is_nkey = name == &a.nkey_var;
        if value.trim().is_empty() || (is_nkey && !is_nkey_seed(value)) {
            continue;
        }
        let place = match &v.origin {
            Origin::Literal => "is given as a literal value in the manifest".to_owned(),
            Origin::ConfigMap { name: cm, key } => {
                format!("comes from ConfigMap {cm} key {key}, which is not meant for secrets")
            }
            _ => continue,
        };
        let message = if is_nkey {
            format!(
                "{name} {place} and holds an nkey seed itself, not the path of a seed file: the seed is exposed and gives no authentication; store the seed in a Secret mounted as a file and set {name} to its path"
            )
        } else {
            format!("{name} {place}; move it to a Secret and use valueFrom.secretKeyRef")
        };
        out.push(Code::SecretInPlainEnv, Severity::Warning, message);
    }

    Auth { authenticated, undecided_by_env }
}

/// What the workload does in production when it is not authenticated and the no-auth override
/// is off: `AuthMissing`, with the message. A client certificate that is set but not presented
/// (the TLS env is not applied) is named: it is the likeliest surprise.
pub fn refusal(spec: &NatsTransportPolicySpec, role: &Role<'_>, env: &EffectiveEnv, tls: &Tls) -> (Code, String) {
    let t = &spec.transport.tls;
    let cert_set = State::of(env, &t.cert).is_set() && State::of(env, &t.key).is_set();
    let why = if cert_set && tls.applied == Some(false) {
        format!(
            " ({} and {} are set, but the client certificate is presented only when every entry of {} is tls://)",
            t.cert, t.key, role.url_var
        )
    } else {
        String::new()
    };
    (
        Code::AuthMissing,
        format!("{}{why}, so in production {}; {}", what_is_missing(spec), role.image.on_refusal(), fix(spec)),
    )
}

/// Outside production: `Enforce` raises `AuthMissing`; an undecidable case is `Indeterminate`.
/// In production: an undecidable case caused by an opaque `envFrom` source is `Indeterminate`.
pub fn outside_refusal(
    spec: &NatsTransportPolicySpec,
    env: &EffectiveEnv,
    production: Option<bool>,
    auth: &Auth,
    out: &mut Out<'_>,
) {
    let enforce = spec.auth.required == crate::crd::AuthRequirement::Enforce;
    if production == Some(false) && enforce && auth.authenticated == Some(false) {
        out.push(
            Code::AuthMissing,
            Severity::Violation,
            format!(
                "{}, and the policy requires it in every environment (auth.required: Enforce); {}",
                what_is_missing(spec),
                fix(spec)
            ),
        );
    }
    let matters = production == Some(true) || (production == Some(false) && enforce);
    if matters && auth.authenticated.is_none() && auth.undecided_by_env {
        let origin = env.opaque_source().map(|o| format!(" ({o} may define the credentials)")).unwrap_or_default();
        out.push(
            Code::Indeterminate,
            Severity::Warning,
            format!(
                "whether NATS authentication is configured cannot be told{origin}; without it the workload refuses to start in production; set {} (or {}/{}, or {}) explicitly with valueFrom.secretKeyRef",
                spec.auth.token_var, spec.auth.username_var, spec.auth.password_var, spec.auth.nkey_var
            ),
        );
    }
}

fn what_is_missing(spec: &NatsTransportPolicySpec) -> String {
    let a = &spec.auth;
    format!(
        "no NATS authentication is configured (no {}+{}, {} or {}, and no client certificate presented over tls://)",
        a.username_var, a.password_var, a.token_var, a.nkey_var
    )
}

fn fix(spec: &NatsTransportPolicySpec) -> String {
    let a = &spec.auth;
    let t = &spec.transport.tls;
    format!(
        "set {} (or {} and {}, or {} as the path of a seed file) from a Secret, or present a client certificate with {} and {}",
        a.token_var, a.username_var, a.password_var, a.nkey_var, t.cert, t.key
    )
}

#[cfg(test)]
mod tests {
    use super::super::testkit::*;
    use super::is_nkey_seed;
    use crate::crd::policy::AuthRequirement;
    use crate::findings::Code::*;

    const SEED: &str = "SUAMLK2ZNL35WSMW37E7UD4VZ7ELPKW7DHC3BWBSD2GCZ7IUQQXZIORRBU";

    #[test]
    fn nkey_seeds() {
        assert_eq!(SEED.len(), 58);
        assert!(is_nkey_seed(SEED) && is_nkey_seed(&format!(" {SEED}\n")));
        assert!(!is_nkey_seed(&SEED.replace('S', "A")));
        assert!(!is_nkey_seed(&SEED[..57]));
        assert!(!is_nkey_seed(&SEED.to_lowercase()));
        assert!(!is_nkey_seed("/etc/nats/seed.nk"));
        assert!(!is_nkey_seed(&SEED.replace('2', "1")));
    }

    #[test]
    fn authentication_modes() {
        // docs/reference.md, "Authentication": every example.
        let tls = || lit("NATS_URL", "tls://nats:4222");
        check(
            &Run::scheduler(),
            vec![
                ("missing in production", (vec![prod(), tls(), ca()], vec![(AuthMissing, V)])),
                ("missing outside production (Warn)", (vec![staging(), tls()], vec![])),
                (
                    "blank token is missing",
                    (vec![prod(), tls(), ca(), lit("NATS_TOKEN", "  ")], vec![(AuthMissing, V)]),
                ),
                (
                    "user+pass from secrets",
                    (vec![prod(), tls(), ca(), secret("NATS_USERNAME"), secret("NATS_PASSWORD")], vec![]),
                ),
                ("token from a secret", (vec![prod(), tls(), ca(), secret("NATS_TOKEN")], vec![])),
                ("nkey file path", (vec![prod(), tls(), ca(), lit("NATS_NKEY", "/etc/nats/user.nk")], vec![])),
                ("nkey from a secret", (vec![prod(), tls(), ca(), secret("NATS_NKEY")], vec![])),
                (
                    "a literal nkey seed is exposed and gives no authentication",
                    (vec![prod(), tls(), ca(), lit("NATS_NKEY", SEED)], vec![(AuthMissing, V), (SecretInPlainEnv, W)]),
                ),
                (
                    "a client certificate counts",
                    (vec![prod(), tls(), lit("NATS_TLS_CERT", "/c"), lit("NATS_TLS_KEY", "/k")], vec![]),
                ),
                (
                    "an ignored client certificate does not",
                    (
                        vec![
                            prod(),
                            lit("NATS_URL", "tls://a,nats://b"),
                            lit("NATS_TLS_CERT", "/c"),
                            lit("NATS_TLS_KEY", "/k"),
                        ],
                        vec![(TlsSchemeRejected, V), (AuthMissing, V), (MixedSchemes, W), (TlsSettingsIgnored, W)],
                    ),
                ),
                (
                    "credentials in the URL do not count",
                    (
                        vec![prod(), lit("NATS_URL", "tls://u:p@nats:4222"), ca()],
                        vec![(AuthMissing, V), (CredentialsInUrl, W)],
                    ),
                ),
                (
                    "username only falls through to nothing",
                    (
                        vec![prod(), tls(), ca(), lit("NATS_USERNAME", "svc")],
                        vec![(AuthMissing, V), (AuthIncomplete, W)],
                    ),
                ),
                (
                    "username only falls through to the token",
                    (vec![prod(), tls(), ca(), lit("NATS_USERNAME", "svc"), auth()], vec![(AuthIncomplete, W)]),
                ),
                ("password only", (vec![staging(), tls(), secret("NATS_PASSWORD")], vec![(AuthIncomplete, W)])),
                (
                    "user+pass and token",
                    (
                        vec![staging(), tls(), lit("NATS_USERNAME", "svc"), secret("NATS_PASSWORD"), auth()],
                        vec![(AuthAmbiguous, I)],
                    ),
                ),
                ("token and nkey", (vec![staging(), tls(), auth(), secret("NATS_NKEY")], vec![(AuthAmbiguous, I)])),
                (
                    "a client certificate is not a mode for ambiguity",
                    (vec![staging(), tls(), auth(), lit("NATS_TLS_CERT", "/c"), lit("NATS_TLS_KEY", "/k")], vec![]),
                ),
                (
                    "literal password",
                    (
                        vec![staging(), tls(), lit("NATS_USERNAME", "svc"), lit("NATS_PASSWORD", "pw")],
                        vec![(SecretInPlainEnv, W)],
                    ),
                ),
                ("literal token", (vec![prod(), tls(), ca(), lit("NATS_TOKEN", "t0k")], vec![(SecretInPlainEnv, W)])),
                (
                    "configmap token",
                    (vec![prod(), tls(), ca(), from_cm("NATS_TOKEN", "token")], vec![(SecretInPlainEnv, W)]),
                ),
                ("empty literal password is not a secret", (vec![staging(), tls(), lit("NATS_PASSWORD", "")], vec![])),
                (
                    "literal username is fine",
                    (vec![prod(), tls(), ca(), lit("NATS_USERNAME", "svc"), secret("NATS_PASSWORD")], vec![]),
                ),
                (
                    "a secret expanded into a literal stays a secret",
                    (vec![prod(), tls(), ca(), secret("T"), lit("NATS_TOKEN", "$(T)")], vec![]),
                ),
            ],
        );
        let r = Run::scheduler().run(&[
            staging(),
            lit("NATS_URL", "tls://n"),
            lit("NATS_USERNAME", "svc"),
            secret("NATS_PASSWORD"),
            auth(),
            secret("NATS_NKEY"),
        ]);
        assert!(msg(&r, AuthAmbiguous).contains("NATS_USERNAME/NATS_PASSWORD, takes effect"), "{:?}", r.findings);
        let r = Run::scheduler().run(&[staging(), lit("NATS_URL", "tls://n"), auth(), secret("NATS_NKEY")]);
        assert!(msg(&r, AuthAmbiguous).contains("NATS_TOKEN, takes effect"));
        let r = Run::scheduler().run(&[prod(), lit("NATS_URL", "tls://n"), ca(), from_cm("NATS_TOKEN", "token")]);
        assert!(msg(&r, SecretInPlainEnv).contains("ConfigMap cfg key token"));
        assert!(!msg(&r, SecretInPlainEnv).contains("cm-token-value"));
        let r = Run::scheduler().run(&[
            prod(),
            lit("NATS_URL", "tls://a,nats://b"),
            lit("NATS_TLS_CERT", "/c"),
            lit("NATS_TLS_KEY", "/k"),
        ]);
        assert!(
            msg(&r, AuthMissing).contains("presented only when every entry of NATS_URL is tls://"),
            "{:?}",
            r.findings
        );
        let r = Run::scheduler().run(&[prod(), lit("NATS_URL", "tls://n"), ca(), lit("NATS_NKEY", SEED)]);
        assert!(!msg(&r, SecretInPlainEnv).contains(SEED) && msg(&r, SecretInPlainEnv).contains("path of a seed file"));
        assert_eq!(r.authenticated, Some(false));
    }

    #[test]
    fn enforce_outside_production() {
        let tls = || lit("NATS_URL", "tls://nats:4222");
        let enforce = Run::scheduler().spec(|s| s.auth.required = AuthRequirement::Enforce);
        check(
            &enforce,
            vec![
                ("enforced in production", (vec![prod(), tls(), ca()], vec![(AuthMissing, V)])),
                ("enforced outside production", (vec![staging(), tls()], vec![(AuthMissing, V)])),
                ("enforced, present", (vec![staging(), tls(), auth()], vec![])),
            ],
        );
        let bag = Run::scheduler().env_from(serde_json::json!([{"secretRef": {"name": "bag"}}]));
        let r = bag.run(&[prod(), lit("CORDUM_PRODUCTION", "1"), tls(), ca(), lit("NATS_TLS_INSECURE", "0")]);
        assert_eq!(codes(&r), vec![(Indeterminate, W)], "{:#?}", r.findings);
        assert!(msg(&r, Indeterminate).contains("envFrom Secret bag"));
    }
}
