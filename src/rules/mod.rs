//! The `cordum` rule pack for one container (docs/reference.md). Pure: the effective environment,
//! the image, the workload's annotations, the policy and the clock reading go in; a
//! [`ContainerReport`] comes out.
//!
//! The workload stops at the first failure, in this order: configuration check (blank URL), gate,
//! TLS env, authentication. natsguard reports every failure it finds, so that one round of fixes
//! is enough. Each concern has its module: [`roles`] (is it a NATS client), [`production`],
//! [`transport`] (the URL, the gate and the client), [`tls`], [`auth`], [`overrides`] (the two
//! break-glass variables), [`cap`] (the CAP transport profile).
//!
//! Messages are one bounded line: what is wrong, in which container, how to fix it. URLs appear
//! only redacted; credential values and Secret-sourced values never appear (only variable names).

mod auth;
mod cap;
mod overrides;
mod production;
mod roles;
mod tls;
mod transport;
mod vars;

#[cfg(test)]
mod testkit;

pub use auth::is_nkey_seed;
pub use overrides::rollback_by;
pub use roles::Image;

use crate::crd::policy::NatsTransportPolicySpec;
use crate::env::EffectiveEnv;
use crate::report::{ContainerReport, EvalContext, Override};
use overrides::Check;
use std::collections::BTreeMap;
use transport::Reading;
use vars::{Out, State};

/// One container to judge.
#[derive(Clone, Copy, Debug)]
pub struct ContainerInput<'a> {
    /// Container name.
    pub name: &'a str,
    /// Image reference, if the manifest gives one.
    pub image: Option<&'a str>,
    /// Whether it is an init container.
    pub init: bool,
    /// Its effective environment.
    pub env: &'a EffectiveEnv,
    /// The workload's annotations (override owner, rollback-by). They never change a verdict's
    /// kind, only the incident metadata and deadlines.
    pub annotations: &'a BTreeMap<String, String>,
}

/// Evaluate one container against the policy.
pub fn evaluate_container(
    spec: &NatsTransportPolicySpec,
    c: &ContainerInput<'_>,
    ctx: &EvalContext,
) -> ContainerReport {
    let env = c.env;
    let mut out = Out::new(c.name, c.init);
    let mut report = ContainerReport { name: c.name.to_owned(), init: c.init, ..Default::default() };
    let role = roles::decide(spec, c.name, c.image, env);

    if !role.client {
        role.report_not_client(&mut out);
        // The configuration check still runs in the services that read their configuration.
        let url = State::of(env, role.url_var);
        if role.image.checks_config() && matches!(url, State::Known(v) if v.trim().is_empty()) {
            report.production = production::decide(spec, env, &mut out);
            // Raises EmptyURL in production; the value itself is never used.
            let _ = transport::read(spec, &role, env, report.production, &mut out);
        }
        report.findings = out.into_findings();
        return report;
    }

    report.client = true;
    let production = production::decide(spec, env, &mut out);
    report.production = production;
    let flags = overrides::read(spec, env, production, &mut out);
    report.plaintext_override = flags.plaintext;
    report.no_auth_override = flags.no_auth;

    let url = match transport::read(spec, &role, env, production, &mut out) {
        Reading::ConfigCheckRefuses => {
            // The service exits before it reaches NATS: only the URL-independent hygiene stays.
            auth::evaluate(spec, env, &tls::Tls::NOT_APPLIED, &mut out);
            report.findings = out.into_findings();
            return report;
        }
        Reading::Unknown => None,
        Reading::Url(u) => Some(u),
    };
    let gate = url.as_ref().map(|u| u.analysis.gate_accepts);
    report.gate_accepts = gate;
    if let Some(u) = &url {
        transport::client_findings(spec, &role, u, &mut out);
        if production == Some(true) {
            let check = Check {
                kind: Override::Plaintext,
                passes: Some(u.analysis.gate_accepts),
                refusal: transport::gate_refusal(&role, u),
                subject: u.describe(),
                fix: format!("write every entry of {} as tls:// and remove {}", role.url_var, spec.r#override.env_var),
            };
            overrides::judge(spec, c, ctx, check, flags.plaintext, env, &mut out);
        }
    }

    let tls = tls::evaluate(spec, &role, env, production, gate, &mut out);
    let auth = auth::evaluate(spec, env, &tls, &mut out);
    report.authenticated = auth.authenticated;
    if production == Some(true) {
        let check = Check {
            kind: Override::NoAuth,
            passes: auth.authenticated,
            refusal: auth::refusal(spec, &role, env, &tls),
            subject: "no NATS authentication is configured".to_owned(),
            fix: format!(
                "configure {} (or {}/{}, {}, or a client certificate) from a Secret and remove {}",
                spec.auth.token_var,
                spec.auth.username_var,
                spec.auth.password_var,
                spec.auth.nkey_var,
                spec.r#override.no_auth_env
            ),
        };
        overrides::judge(spec, c, ctx, check, flags.no_auth, env, &mut out);
    }
    auth::outside_refusal(spec, env, production, &auth, &mut out);
    cap::evaluate(spec, &role, env, gate, &tls, &auth, &mut out);

    report.findings = out.into_findings();
    report
}

#[cfg(test)]
mod tests {
    use super::testkit::*;
    use crate::findings::Code::*;

    #[test]
    fn every_failure_is_reported_at_once() {
        // The workload would stop at the gate; natsguard reports the gate, the TLS settings and
        // authentication together so one round of fixes is enough.
        let r = Run::scheduler().run(&[prod(), lit("NATS_URL", "nats://nats:4222"), lit("NATS_TLS_CERT", "/c")]);
        assert_eq!(codes(&r), vec![(AuthMissing, V), (PlaintextTransport, V), (TlsSettingsIgnored, W)]);
        let r = Run::scheduler().run(&[prod(), lit("NATS_URL", "tls://nats:4222"), lit("NATS_TLS_CERT", "/c")]);
        assert_eq!(codes(&r), vec![(AuthMissing, V), (TlsMaterialIncomplete, V)]);
    }

    #[test]
    fn a_compliant_production_scheduler() {
        let r = Run::scheduler().run(&[
            prod(),
            lit("NATS_URL", "tls://nats.cordum.svc:4222"),
            lit("NATS_TLS_CA", "/etc/cordum/tls/client/ca.crt"),
            lit("NATS_TLS_CERT", "/etc/cordum/tls/client/tls.crt"),
            lit("NATS_TLS_KEY", "/etc/cordum/tls/client/tls.key"),
            lit("NATS_TLS_SERVER_NAME", "nats"),
        ]);
        assert_eq!(codes(&r), vec![]);
        assert_eq!(
            (r.client, r.production, r.gate_accepts, r.authenticated),
            (true, Some(true), Some(true), Some(true))
        );
        assert!(r.compliant());
    }

    #[test]
    fn an_opaque_secret_env_from_is_honest() {
        let bag = || Run::scheduler().env_from(serde_json::json!([{"secretRef": {"name": "bag"}}]));
        // Everything not set explicitly may come from the Secret: production and the URL are unknown.
        let r = bag().run(&[]);
        assert_eq!(codes(&r), vec![(Indeterminate, W), (Indeterminate, W)], "{:#?}", r.findings);
        assert_eq!((r.production, r.gate_accepts, r.plaintext_override), (None, None, None));
        // Explicit values decide; what they leave open stays open.
        let explicit = [
            prod(),
            lit("CORDUM_PRODUCTION", "1"),
            lit("NATS_URL", "tls://n:4222"),
            ca(),
            lit("NATS_TLS_INSECURE", "false"),
        ];
        let r = bag().run(&explicit);
        assert_eq!(codes(&r), vec![(Indeterminate, W)], "authentication may come from the Secret: {:#?}", r.findings);
        let r = bag().run(&[prod(), lit("NATS_URL", "nats://n:4222"), auth()]);
        assert_eq!(codes(&r), vec![(PlaintextTransport, V)], "refused whatever the Secret says: {:#?}", r.findings);
        assert!(msg(&r, PlaintextTransport).contains("may be set by envFrom Secret bag"));
        assert_eq!(r.plaintext_override, None);
        let r =
            bag().run(&[prod(), lit("NATS_URL", "nats://n:4222"), auth(), lit("CORDUM_NATS_ALLOW_PLAINTEXT", "false")]);
        assert_eq!(codes(&r), vec![(PlaintextTransport, V)]);
    }

    #[test]
    fn no_message_ever_contains_a_secret() {
        const PW: &str = "Zq7pass";
        let env = vec![
            prod(),
            lit(
                "NATS_URL",
                &format!("nats://user:{PW}1,x@a:4222, tls://{PW}2@b:99999,http://u:{PW}3%40@c,nats://u:{PW}4/é@d"),
            ),
            lit("NATS_USERNAME", "svc"),
            lit("NATS_PASSWORD", &format!("{PW}5")),
            lit("NATS_TOKEN", &format!("{PW}6")),
            lit("NATS_NKEY", &format!("S{}", "A".repeat(57))),
            lit("NATS_TLS_CA", "/ca"),
            lit("CORDUM_NATS_ALLOW_PLAINTEXT", "true"),
            lit("CORDUM_NATS_ALLOW_NOAUTH", "maybe"),
        ];
        for mode in [crate::crd::ProductionMode::Auto, crate::crd::ProductionMode::Never] {
            let r = Run::scheduler().spec(|s| s.environment.production = mode).run(&env);
            assert!(r.findings.len() >= 5, "{:#?}", r.findings);
            for f in &r.findings {
                assert!(!f.message.contains(PW) && !f.message.contains(&"A".repeat(57)), "{}", f.message);
            }
        }
    }

    #[test]
    fn findings_are_sorted_severity_then_code() {
        let r = Run::scheduler().run(&[
            prod(),
            lit("NATS_URL", "nats://u:p@a:4222,tls://b:4222"),
            lit("NATS_TOKEN", "x"),
            secret("NATS_NKEY"),
        ]);
        let got: Vec<(crate::findings::Severity, &str)> =
            r.findings.iter().map(|f| (f.severity, f.code.as_str())).collect();
        assert_eq!(
            got,
            vec![
                (V, "TLSSchemeRejected"),
                (W, "CredentialsInURL"),
                (W, "MixedSchemes"),
                (W, "SecretInPlainEnv"),
                (I, "AuthAmbiguous"),
            ]
        );
    }

    #[test]
    fn huge_values_give_short_findings() {
        // A 1 MB URL yields bounded messages (the status and Events stay small).
        let big = format!("nats://h:{},", "9".repeat(8)).repeat(100_000);
        let r = Run::scheduler().run(&[prod(), auth(), lit("NATS_URL", &big)]);
        assert!(
            r.findings.iter().all(|f| f.message.len() <= 600),
            "{:?}",
            r.findings.iter().map(|f| f.message.len()).collect::<Vec<_>>()
        );
        assert!(msg(&r, InvalidUrl).contains("more invalid entries"));
    }
}
