//! The CAP transport profile (docs/reference.md, "CAP profile"): when `CORDUM_CAP_PROFILE`
//! (trimmed, lower-cased) is `production`, the scheduler requires an authenticated TLS transport,
//! whatever the environment: every entry `tls://`, verification not disabled, and credentials or
//! an applied client certificate. Neither override counts. The safety kernel and cordum-mcp do
//! not read the profile.

use super::auth::Auth;
use super::roles::Role;
use super::tls::Tls;
use super::vars::{Out, State};
use crate::crd::policy::NatsTransportPolicySpec;
use crate::env::EffectiveEnv;
use crate::findings::{Code, Severity};

/// Raise `CapTransportNotReady` when the profile asks for a transport this container lacks.
pub fn evaluate(
    spec: &NatsTransportPolicySpec,
    role: &Role<'_>,
    env: &EffectiveEnv,
    gate: Option<bool>,
    tls: &Tls,
    auth: &Auth,
    out: &mut Out<'_>,
) {
    if !role.image.reads_cap_profile() {
        return;
    }
    let name = &spec.environment.cap_profile_var;
    let state = State::of(env, name);
    let active = match state {
        State::Unset => Some(false),
        State::Known(v) => Some(v.trim().to_lowercase() == "production"),
        State::Unknown(_) => None,
        // Only possibly set by an opaque envFrom source: not reported (the transport findings
        // already say what is wrong).
        State::Maybe(_) => Some(false),
    };
    if active == Some(false) {
        return;
    }
    let mut missing = Vec::new();
    if gate == Some(false) {
        missing.push(format!("not every entry of {} begins with tls://", role.url_var));
    }
    if tls.verification_disabled == Some(true) {
        missing.push(format!("{} disables server verification", spec.transport.tls.insecure));
    }
    if auth.authenticated == Some(false) {
        missing.push(format!(
            "there is no {}+{}, {}, {} or client certificate (the overrides do not count)",
            spec.auth.username_var, spec.auth.password_var, spec.auth.token_var, spec.auth.nkey_var
        ));
    }
    if missing.is_empty() {
        return;
    }
    let missing = missing.join("; ");
    match active {
        Some(true) => out.push(
            Code::CapTransportNotReady,
            Severity::Violation,
            format!(
                "{name} is production, which requires an authenticated TLS transport in every environment, but {missing}, so the workload refuses to start; use tls:// entries with verification and credentials from a Secret or a client certificate"
            ),
        ),
        _ => out.push(
            Code::Indeterminate,
            Severity::Warning,
            format!(
                "whether {name} is production cannot be told ({}); if it is, the workload refuses to start because {missing}",
                state.why_unreadable(name)
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkit::*;
    use crate::findings::Code::*;

    #[test]
    fn the_cap_profile() {
        let cap = || lit("CORDUM_CAP_PROFILE", " Production ");
        let tls = || lit("NATS_URL", "tls://nats:4222");
        check(
            &Run::scheduler(),
            vec![
                ("ready", (vec![staging(), cap(), tls(), auth()], vec![])),
                (
                    "ready with a client certificate",
                    (vec![staging(), cap(), tls(), lit("NATS_TLS_CERT", "/c"), lit("NATS_TLS_KEY", "/k")], vec![]),
                ),
                ("plaintext outside production", (vec![staging(), cap(), auth()], vec![(CapTransportNotReady, V)])),
                ("no auth outside production", (vec![staging(), cap(), tls()], vec![(CapTransportNotReady, V)])),
                (
                    "verification disabled",
                    (
                        vec![staging(), cap(), tls(), auth(), lit("NATS_TLS_INSECURE", "1")],
                        vec![(CapTransportNotReady, V), (TlsVerificationDisabled, W)],
                    ),
                ),
                ("another profile", (vec![staging(), lit("CORDUM_CAP_PROFILE", "dev"), tls()], vec![])),
                (
                    "overrides do not count",
                    (
                        vec![prod(), cap(), tls(), ca(), lit("CORDUM_NATS_ALLOW_NOAUTH", "1")],
                        vec![(CapTransportNotReady, V), (NoAuthOverrideActive, V), (OverrideOwnerMissing, W)],
                    ),
                ),
                (
                    "unknown profile, transport not ready",
                    (vec![staging(), secret("CORDUM_CAP_PROFILE")], vec![(Indeterminate, W)]),
                ),
                (
                    "unknown profile, transport ready",
                    (vec![staging(), secret("CORDUM_CAP_PROFILE"), tls(), auth()], vec![]),
                ),
            ],
        );
        for image in ["cordum-api-gateway:1", "cordum-workflow-engine:1", "otel/collector"] {
            let r = Run::image(image).run(&[staging(), cap(), lit("NATS_URL", "nats://n:4222")]);
            assert_eq!(codes(&r), vec![(CapTransportNotReady, V)], "{image}");
        }
        for image in ["cordum-safety-kernel:1", "cordum-mcp:1"] {
            let r = Run::image(image).run(&[
                staging(),
                cap(),
                lit("NATS_URL", "nats://n:4222"),
                lit("CORDUM_NATS_URL", "nats://n"),
            ]);
            assert_eq!(codes(&r), vec![], "{image} does not read the profile");
        }
    }
}
