//! Which containers are NATS clients (docs/reference.md, "NATS clients"): Cordum images are
//! recognised by the last path segment of the image name (tag, digest and a leading `cordum-`
//! removed); any other image is a client when its environment holds one of the profile's NATS
//! variables; the policy's `clientRoles` overrides both. Annotations on the workload never change
//! a role.

use super::vars::{Out, State, shown};
use crate::crd::policy::{ClientRole, NatsTransportPolicySpec};
use crate::env::EffectiveEnv;
use crate::findings::{Code, Severity};

/// What the image is, as far as NATS goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Image {
    Scheduler,
    ApiGateway,
    WorkflowEngine,
    /// Dials NATS; on a refusal it keeps running without the bus.
    SafetyKernel,
    /// Never dials NATS, but runs the production configuration check (blank URL).
    ContextEngine,
    /// Never dials NATS.
    Dashboard,
    /// Reads its URL from `CORDUM_NATS_URL`; blank means no NATS; a refusal means local audit logging.
    Mcp,
    /// Not a Cordum image.
    Other,
}

impl Image {
    /// Recognise a Cordum image by the last path segment of its name.
    pub fn recognise(image: Option<&str>) -> Image {
        let Some(image) = image else { return Image::Other };
        let name = image.split('@').next().unwrap_or(image);
        let last = name.rsplit('/').next().unwrap_or(name);
        let last = last.split(':').next().unwrap_or(last);
        let last = last.strip_prefix("cordum-").unwrap_or(last);
        match last {
            "scheduler" => Image::Scheduler,
            "api-gateway" => Image::ApiGateway,
            "workflow-engine" => Image::WorkflowEngine,
            "safety-kernel" => Image::SafetyKernel,
            "context-engine" => Image::ContextEngine,
            "dashboard" => Image::Dashboard,
            "mcp" => Image::Mcp,
            _ => Image::Other,
        }
    }

    /// The services that read their configuration and exit on a blank URL in production.
    pub fn checks_config(self) -> bool {
        matches!(
            self,
            Image::Scheduler | Image::ApiGateway | Image::WorkflowEngine | Image::SafetyKernel | Image::ContextEngine
        )
    }

    /// Whether it reads `CORDUM_CAP_PROFILE` (the safety kernel and cordum-mcp do not).
    pub fn reads_cap_profile(self) -> bool {
        !matches!(self, Image::SafetyKernel | Image::Mcp)
    }

    /// What a start-up refusal does to this workload, completing "…, so …".
    pub fn on_refusal(self) -> &'static str {
        match self {
            Image::SafetyKernel => {
                "the safety kernel runs without NATS (it then picks up policy changes only by polling)"
            }
            Image::Mcp => "cordum-mcp runs without NATS and falls back to local audit logging",
            _ => "the workload refuses to start (CrashLoopBackOff)",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Image::Scheduler => "scheduler",
            Image::ApiGateway => "api-gateway",
            Image::WorkflowEngine => "workflow-engine",
            Image::SafetyKernel => "safety-kernel",
            Image::ContextEngine => "context-engine",
            Image::Dashboard => "dashboard",
            Image::Mcp => "mcp",
            Image::Other => "other",
        }
    }
}

/// How a container is judged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Role<'a> {
    pub image: Image,
    /// Evaluated as a NATS client.
    pub client: bool,
    /// The variable its URL is read from.
    pub url_var: &'a str,
    /// Why it is not a client (the `NotNatsClient` message), when it is not.
    not_client: Option<String>,
}

/// Decide the role of one container.
pub fn decide<'a>(spec: &'a NatsTransportPolicySpec, name: &str, image: Option<&str>, env: &EffectiveEnv) -> Role<'a> {
    let kind = Image::recognise(image);
    let url_var =
        if kind == Image::Mcp { spec.transport.mcp_url_var.as_str() } else { spec.transport.url_var.as_str() };
    let role = |client: bool, why: Option<String>| Role { image: kind, client, url_var, not_client: why };
    match spec.client_roles.get(name) {
        Some(ClientRole::Client) => return role(true, None),
        Some(ClientRole::NotClient) => {
            return role(
                false,
                Some("the policy's clientRoles marks it NotClient, so no NATS transport rule applies".into()),
            );
        }
        None => {}
    }
    match kind {
        Image::Scheduler | Image::ApiGateway | Image::WorkflowEngine | Image::SafetyKernel => role(true, None),
        Image::ContextEngine | Image::Dashboard => {
            role(false, Some(format!("the {} image never dials NATS, so no NATS transport rule applies", kind.label())))
        }
        Image::Mcp => match State::of(env, url_var) {
            State::Known(v) if v.trim().is_empty() => {
                role(false, Some(format!("cordum-mcp dials NATS only when {url_var} is set, and it is blank here")))
            }
            State::Known(_) | State::Unknown(_) => role(true, None),
            State::Unset => {
                role(false, Some(format!("cordum-mcp dials NATS only when {url_var} is set, and it is unset here")))
            }
            State::Maybe(o) => role(
                false,
                Some(format!(
                    "cordum-mcp dials NATS only when {url_var} is set; it is not set explicitly ({o} may define it: if it does, set the policy's clientRoles for this container to Client)"
                )),
            ),
        },
        Image::Other => {
            let names = nats_variables(spec);
            if names.iter().any(|n| State::of(env, n).present()) {
                return role(true, None);
            }
            let shown_image = image.map_or_else(|| "with no image".to_owned(), |i| format!("image {}", shown(i)));
            let maybe = env
                .opaque_source()
                .map(|o| {
                    format!(
                        " ({o} may define them: if it does, set the policy's clientRoles for this container to Client)"
                    )
                })
                .unwrap_or_default();
            role(
                false,
                Some(format!(
                    "{shown_image} is not a Cordum NATS client and its environment holds none of the profile's NATS variables ({}, …){maybe}, so no NATS transport rule applies",
                    names.iter().take(3).copied().collect::<Vec<_>>().join(", ")
                )),
            )
        }
    }
}

/// The profile's NATS variables (with the policy's names): their presence makes an unrecognised
/// image a NATS client.
fn nats_variables(spec: &NatsTransportPolicySpec) -> Vec<&str> {
    let t = &spec.transport.tls;
    let a = &spec.auth;
    let o = &spec.r#override;
    vec![
        &spec.transport.url_var,
        &t.ca,
        &t.cert,
        &t.key,
        &t.server_name,
        &t.insecure,
        &a.username_var,
        &a.password_var,
        &a.token_var,
        &a.nkey_var,
        &o.env_var,
        &o.no_auth_env,
    ]
    .into_iter()
    .map(String::as_str)
    .collect()
}

impl Role<'_> {
    /// Raises `NotNatsClient` for a container that is not a client.
    pub fn report_not_client(&self, out: &mut Out<'_>) {
        if let Some(why) = &self.not_client {
            out.push(Code::NotNatsClient, Severity::Info, why);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_are_recognised_by_their_last_segment() {
        for (image, want) in [
            ("cordum-scheduler:v1", Image::Scheduler),
            ("ghcr.io/cordum-io/cordum/scheduler:2.9", Image::Scheduler),
            ("registry.local:5000/cordum-api-gateway@sha256:abcd", Image::ApiGateway),
            ("cordum/workflow-engine:1.0@sha256:ff", Image::WorkflowEngine),
            ("cordum-safety-kernel", Image::SafetyKernel),
            ("ghcr.io/cordum-io/cordum/context-engine:2.9", Image::ContextEngine),
            ("cordum-dashboard:latest", Image::Dashboard),
            ("ghcr.io/cordum-io/cordum-mcp:0.3", Image::Mcp),
            ("otel/opentelemetry-collector:0.1", Image::Other),
            ("scheduler-extra:1", Image::Other),
            ("busybox", Image::Other),
            ("cordum-cordum-scheduler", Image::Other),
            ("", Image::Other),
        ] {
            assert_eq!(Image::recognise(Some(image)), want, "{image}");
        }
        assert_eq!(Image::recognise(None), Image::Other);
    }

    use super::super::testkit::*;
    use crate::crd::policy::ClientRole;
    use crate::findings::Code::*;

    const REG: &str = "ghcr.io/cordum-io/cordum";

    #[test]
    fn which_containers_are_nats_clients() {
        // docs/reference.md, "NATS clients": (image, env, client?, codes).
        let plain_prod = || vec![prod(), auth(), lit("NATS_URL", "nats://nats:4222")];
        for (image, env, client, want) in [
            ("scheduler:2.9", plain_prod(), true, vec![(PlaintextTransport, V)]),
            ("api-gateway:2.9", plain_prod(), true, vec![(PlaintextTransport, V)]),
            ("workflow-engine:2.9", plain_prod(), true, vec![(PlaintextTransport, V)]),
            ("safety-kernel:2.9", plain_prod(), true, vec![(PlaintextTransport, V)]),
            ("context-engine:2.9", plain_prod(), false, vec![(NotNatsClient, I)]),
            ("dashboard:2.9", plain_prod(), false, vec![(NotNatsClient, I)]),
            ("cordum-mcp:2.9", plain_prod(), false, vec![(NotNatsClient, I)]),
            ("cordum-mcp:2.9", vec![prod(), auth(), lit("CORDUM_NATS_URL", " ")], false, vec![(NotNatsClient, I)]),
            (
                "cordum-mcp:2.9",
                vec![prod(), auth(), lit("CORDUM_NATS_URL", "nats://n:4222")],
                true,
                vec![(PlaintextTransport, V)],
            ),
            ("cordum-mcp:2.9", vec![prod(), auth(), secret("CORDUM_NATS_URL")], true, vec![(Indeterminate, W)]),
            ("busybox:1.36", vec![prod(), lit("OTHER", "x")], false, vec![(NotNatsClient, I)]),
            ("busybox:1.36", plain_prod(), true, vec![(PlaintextTransport, V)]),
            ("busybox:1.36", vec![prod(), auth()], true, vec![(PlaintextTransport, V)]),
            (
                "busybox:1.36",
                vec![prod(), lit("CORDUM_NATS_ALLOW_NOAUTH", "false")],
                true,
                vec![(PlaintextTransport, V), (AuthMissing, V)],
            ),
        ] {
            let run = Run::image(&format!("{REG}/{image}"));
            let r = run.run(&env);
            assert_eq!(r.client, client, "{image} {env:?}");
            let mut got = codes(&r);
            got.sort_by_key(|p| (std::cmp::Reverse(p.1), p.0.as_str()));
            let mut want = want;
            want.sort_by_key(|p| (std::cmp::Reverse(p.1), p.0.as_str()));
            assert_eq!(got, want, "{image} {env:?}: {:#?}", r.findings);
        }
        // What a refusal does differs; the severity does not.
        let r = Run::image(&format!("{REG}/safety-kernel:2.9")).run(&plain_prod());
        assert!(msg(&r, PlaintextTransport).contains("the safety kernel runs without NATS"), "{:?}", r.findings);
        let r = Run::image(&format!("{REG}/cordum-mcp:2.9")).run(&[prod(), auth(), lit("CORDUM_NATS_URL", "nats://n")]);
        assert!(msg(&r, PlaintextTransport).contains("falls back to local audit logging"));
        assert!(msg(&r, PlaintextTransport).contains("CORDUM_NATS_URL"), "mcp reads its own variable");
        let r = Run::image(&format!("{REG}/scheduler:2.9")).run(&plain_prod());
        assert!(msg(&r, PlaintextTransport).contains("refuses to start"));
    }

    #[test]
    fn the_policy_decides_roles_and_the_workload_cannot() {
        let forced = |role| {
            Run::image("otel/opentelemetry-collector:0.1").spec(move |s| {
                s.client_roles.insert("app".into(), role);
            })
        };
        let r = forced(ClientRole::Client).run(&[prod(), auth()]);
        assert!(r.client);
        assert_eq!(codes(&r), vec![(PlaintextTransport, V)]);
        let r = Run::scheduler()
            .spec(|s| {
                s.client_roles.insert("app".into(), ClientRole::NotClient);
            })
            .run(&[prod(), lit("NATS_URL", "nats://n")]);
        assert!(!r.client);
        assert_eq!(codes(&r), vec![(NotNatsClient, I)]);
        assert!(msg(&r, NotNatsClient).contains("clientRoles"));
        // A role for another container name changes nothing here.
        let r = Run::scheduler()
            .spec(|s| {
                s.client_roles.insert("other".into(), ClientRole::NotClient);
            })
            .run(&[prod(), auth(), lit("NATS_URL", "nats://n")]);
        assert!(r.client);
        // Annotations never change a role.
        let r = Run::scheduler().annot("natsguard.io/client-role", "NotClient").run(&[
            prod(),
            auth(),
            lit("NATS_URL", "nats://n"),
        ]);
        assert!(r.client && codes(&r) == vec![(PlaintextTransport, V)]);
        // An opaque Secret may hold the variables: not judged, and the message says how to declare it.
        let r = Run::image("busybox").env_from(serde_json::json!([{"secretRef": {"name": "bag"}}])).run(&[]);
        assert!(!r.client && msg(&r, NotNatsClient).contains("envFrom Secret bag may define them"));
    }

    #[test]
    fn the_configuration_check_in_every_service_that_has_it() {
        for image in ["scheduler", "api-gateway", "workflow-engine", "safety-kernel", "context-engine"] {
            let r = Run::image(&format!("{REG}/{image}:2.9")).run(&[prod(), lit("NATS_URL", "")]);
            assert!(codes(&r).contains(&(EmptyUrl, V)), "{image}: {:#?}", r.findings);
        }
        for image in ["dashboard", "cordum-mcp", "busybox"] {
            let r = Run::image(&format!("{REG}/{image}:2.9")).run(&[prod(), auth(), lit("NATS_URL", "")]);
            assert!(!codes(&r).contains(&(EmptyUrl, V)), "{image}: {:#?}", r.findings);
        }
    }
}
