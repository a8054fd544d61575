//! The `cordum` rule pack for one container (SPEC §2, §3). Pure: the effective environment,
//! the workload's annotations, the policy and the clock reading go in; a [`ContainerReport`]
//! comes out.
//!
//! Messages are one line: what is wrong, in which container, how to fix it. URLs appear only
//! redacted; credential values and Secret-sourced values never appear (only variable names).

use crate::crd::annotations;
use crate::crd::policy::{AuthRequirement, NatsTransportPolicySpec, ProductionMode, TlsVar};
use crate::env::{EffectiveEnv, Origin, Presence, Value};
use crate::findings::{Code, Finding, Severity};
use crate::natsurl::{self, UrlAnalysis};
use crate::report::{ContainerReport, EvalContext};
use crate::truthy::{is_falsy, is_truthy};
use k8s_openapi::jiff::Timestamp;
use std::collections::BTreeMap;

/// Longest value (URL, override value) quoted in a message.
const MAX_SHOWN: usize = 200;

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
    /// The workload's annotations (override owner, rollback-by).
    pub annotations: &'a BTreeMap<String, String>,
}

/// How one variable looks to the rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State<'a> {
    /// Certainly not defined.
    Unset,
    /// Certainly defined with this value.
    Known(&'a str),
    /// Certainly defined, value unknown.
    Unknown(&'a Origin),
    /// May be defined by an opaque `envFrom` source.
    Maybe(&'a Origin),
}

impl<'a> State<'a> {
    fn of(env: &'a EffectiveEnv, name: &str) -> Self {
        match env.presence(name) {
            Presence::Unset => State::Unset,
            Presence::Maybe(v) => State::Maybe(&v.origin),
            Presence::Set(v) => match &v.value {
                Value::Known(s) => State::Known(s),
                Value::Unknown => State::Unknown(&v.origin),
            },
        }
    }

    /// Set to something non-blank, or to a value that cannot be read (a Secret counts as set).
    fn is_set(self) -> bool {
        match self {
            State::Known(s) => !s.trim().is_empty(),
            State::Unknown(_) => true,
            State::Unset | State::Maybe(_) => false,
        }
    }

    /// Certainly unset or blank.
    fn is_absent(self) -> bool {
        match self {
            State::Unset => true,
            State::Known(s) => s.trim().is_empty(),
            State::Unknown(_) | State::Maybe(_) => false,
        }
    }

    /// The origin of a value that cannot be read.
    fn unreadable(self) -> Option<&'a Origin> {
        match self {
            State::Unknown(o) | State::Maybe(o) => Some(o),
            State::Unset | State::Known(_) => None,
        }
    }
}

/// Why a value cannot be read, for messages.
fn why_unreadable(name: &str, origin: &Origin, maybe: bool) -> String {
    let how = match origin {
        Origin::Secret { .. } | Origin::EnvFromSecret { .. } => "Secret values are never read",
        Origin::ConfigMap { .. } | Origin::EnvFromConfigMap { .. } => "the ConfigMap is not available",
        Origin::FieldRef(_) | Origin::ResourceFieldRef(_) => "it is only known in the running pod",
        Origin::Literal => "it expands a variable whose value is unknown",
    };
    if maybe { format!("{name} may be set by {origin} ({how})") } else { format!("{name} comes from {origin} ({how})") }
}

fn unreadable_reason(name: &str, st: State<'_>) -> String {
    match st {
        State::Maybe(o) => why_unreadable(name, o, true),
        State::Unknown(o) => why_unreadable(name, o, false),
        State::Unset | State::Known(_) => format!("{name} cannot be read"),
    }
}

/// `s` quoted on one line (control characters escaped), cut to [`MAX_SHOWN`] characters.
fn shown(s: &str) -> String {
    let cut: String = s.chars().take(MAX_SHOWN).collect();
    if cut.len() < s.len() { format!("{:?}…", cut) } else { format!("{cut:?}") }
}

/// Collects findings for one container.
struct Out<'a> {
    container: &'a str,
    label: String,
    findings: Vec<Finding>,
}

impl Out<'_> {
    fn push(&mut self, code: Code, severity: Severity, message: String) {
        self.findings.push(Finding {
            code,
            severity,
            container: self.container.to_string(),
            message: format!("{}: {message}", self.label),
        });
    }
}

/// Evaluate one container against the policy.
pub fn evaluate_container(
    spec: &NatsTransportPolicySpec,
    c: &ContainerInput<'_>,
    ctx: &EvalContext,
) -> ContainerReport {
    let env = c.env;
    let mut out = Out {
        container: c.name,
        label: format!("{} {:?}", if c.init { "init container" } else { "container" }, c.name),
        findings: Vec::new(),
    };

    let production = production(spec, env, &mut out);
    let url = url(spec, env, &mut out);
    let gate_accepts = url.as_ref().map(|u| u.analysis.gate_accepts);
    let override_truthy = override_state(spec, env, &mut out);

    if production == Some(true) {
        production_gate(spec, c, ctx, url.as_ref(), override_truthy, &mut out);
    }
    if let Some(u) = &url {
        url_findings(spec, u, &mut out);
    }
    tls_findings(spec, env, production, gate_accepts, &mut out);
    auth_findings(spec, env, production, &mut out);

    out.findings.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then_with(|| a.code.as_str().cmp(b.code.as_str()))
            .then_with(|| a.message.cmp(&b.message))
    });
    out.findings.dedup();
    ContainerReport {
        name: c.name.to_string(),
        init: c.init,
        client: true,
        production,
        gate_accepts,
        authenticated: None,
        plaintext_override: override_truthy,
        no_auth_override: Some(false),
        findings: out.findings,
    }
}

/// Production per the policy; `None` (with an `Indeterminate` finding) when it cannot be told.
fn production(spec: &NatsTransportPolicySpec, env: &EffectiveEnv, out: &mut Out<'_>) -> Option<bool> {
    let e = &spec.environment;
    match e.production {
        ProductionMode::Always => return Some(true),
        ProductionMode::Never => return Some(false),
        ProductionMode::Auto => {}
    }
    let env_state = State::of(env, &e.env_var);
    let by_env = match env_state {
        State::Unset => Some(false),
        State::Known(s) => {
            let v = s.trim().to_lowercase();
            Some(e.values.iter().any(|p| p.trim().to_lowercase() == v))
        }
        State::Unknown(_) | State::Maybe(_) => None,
    };
    let flag_state = State::of(env, &e.flag_var);
    let by_flag = match flag_state {
        State::Unset => Some(false),
        State::Known(s) => Some(is_truthy(s)),
        State::Unknown(_) | State::Maybe(_) => None,
    };
    match (by_env, by_flag) {
        (Some(true), _) | (_, Some(true)) => Some(true),
        (Some(false), Some(false)) => Some(false),
        _ => {
            let mut why = Vec::new();
            if by_env.is_none() {
                why.push(unreadable_reason(&e.env_var, env_state));
            }
            if by_flag.is_none() {
                why.push(unreadable_reason(&e.flag_var, flag_state));
            }
            out.push(
                Code::Indeterminate,
                Severity::Warning,
                format!(
                    "cannot tell whether the workload runs in production: {}; set {} and {} from a literal value or a ConfigMap, or set the policy's environment.production to Always or Never",
                    why.join("; "),
                    e.env_var,
                    e.flag_var
                ),
            );
            None
        }
    }
}

/// The URL value both readers see, when it can be known.
struct Url {
    /// Shown form: redacted, quoted.
    shown: String,
    /// Whether the variable was unset or empty, so the default applies.
    defaulted: bool,
    analysis: UrlAnalysis,
}

impl Url {
    /// A noun phrase: `NATS_URL "…"`, or `the workload's default URL "…" (NATS_URL is unset or empty)`.
    fn describe(&self, var: &str) -> String {
        if self.defaulted {
            format!("the workload's default URL {} ({var} is unset or empty)", self.shown)
        } else {
            format!("{var} {}", self.shown)
        }
    }
}

fn url(spec: &NatsTransportPolicySpec, env: &EffectiveEnv, out: &mut Out<'_>) -> Option<Url> {
    let var = &spec.transport.url_var;
    let st = State::of(env, var);
    let (raw, defaulted) = match st {
        State::Unset => (spec.transport.default_url.as_str(), true),
        State::Known("") => (spec.transport.default_url.as_str(), true),
        State::Known(s) => (s, false),
        State::Unknown(_) | State::Maybe(_) => {
            out.push(
                Code::Indeterminate,
                Severity::Warning,
                format!(
                    "cannot tell which NATS transport the workload uses: {}; set {var} from a literal value or a ConfigMap so it can be checked",
                    unreadable_reason(var, st)
                ),
            );
            return None;
        }
    };
    Some(Url { shown: shown(&natsurl::redact(raw)), defaulted, analysis: natsurl::analyze(raw) })
}

/// Whether the override is truthy (`None` when it cannot be read); reports unrecognized values.
fn override_state(spec: &NatsTransportPolicySpec, env: &EffectiveEnv, out: &mut Out<'_>) -> Option<bool> {
    let var = &spec.r#override.env_var;
    match State::of(env, var) {
        State::Unset => Some(false),
        State::Known(s) => {
            if !s.trim().is_empty() && !is_truthy(s) && !is_falsy(s) {
                out.push(
                    Code::OverrideValueUnrecognized,
                    Severity::Warning,
                    format!(
                        "{var} is set to a value that is neither truthy (1, true, yes, y, on) nor falsy (0, false, no, n, off), so the workload reads it as false; set it to true to enable the plaintext override, or remove it"
                    ),
                );
            }
            Some(is_truthy(s))
        }
        State::Unknown(_) | State::Maybe(_) => None,
    }
}

/// Production only: the start-up gate and the break-glass override.
fn production_gate(
    spec: &NatsTransportPolicySpec,
    c: &ContainerInput<'_>,
    ctx: &EvalContext,
    url: Option<&Url>,
    override_truthy: Option<bool>,
    out: &mut Out<'_>,
) {
    let Some(url) = url else { return };
    let url_var = &spec.transport.url_var;
    let ovr = &spec.r#override.env_var;
    let a = &url.analysis;
    if a.gate_accepts {
        if override_truthy == Some(true) {
            out.push(
                Code::StaleOverride,
                Severity::Warning,
                format!(
                    "{ovr} is truthy although {url_var} begins with tls://, so a later URL edit would silently downgrade to plaintext; remove {ovr}"
                ),
            );
        }
        return;
    }
    match override_truthy {
        Some(true) => {
            let (deadline, note) = deadline(c.annotations, ctx);
            let fix = format!("switch {url_var} to a tls:// URL and remove {ovr}");
            match deadline {
                Some(d) if d <= ctx.now => out.push(
                    Code::PlaintextOverrideOverdue,
                    Severity::Violation,
                    format!(
                        "the plaintext override {ovr} is still on past its rollback deadline {d} ({}){note}; {fix} now",
                        url.describe(url_var)
                    ),
                ),
                Some(d) => out.push(
                    Code::PlaintextOverrideActive,
                    Severity::Violation,
                    format!(
                        "the plaintext override {ovr} lets the workload start although the gate refuses {}; rollback deadline {d}{note}; {fix}",
                        url.describe(url_var)
                    ),
                ),
                None => out.push(
                    Code::PlaintextOverrideActive,
                    Severity::Violation,
                    format!(
                        "the plaintext override {ovr} lets the workload start although the gate refuses {}{note}; {fix}, and set the {} annotation meanwhile",
                        url.describe(url_var),
                        annotations::ROLLBACK_BY
                    ),
                ),
            }
            let owner_blank = c.annotations.get(annotations::OWNER).is_none_or(|o| o.trim().is_empty());
            if spec.r#override.require_owner && owner_blank {
                out.push(
                    Code::OverrideOwnerMissing,
                    Severity::Warning,
                    format!(
                        "the plaintext override {ovr} is on but no owner is recorded; annotate the workload with {}=<who is responsible>",
                        annotations::OWNER
                    ),
                );
            }
        }
        Some(false) if a.encrypted => out.push(
            Code::TlsSchemeRejected,
            Severity::Violation,
            format!(
                "the NATS client would encrypt {} but the start-up gate requires the value to begin with exactly tls:// (lowercase, no leading text, tls:// first in a list), so the workload will refuse to start; rewrite it to begin with tls://",
                url.describe(url_var)
            ),
        ),
        Some(false) => out.push(
            Code::PlaintextTransport,
            Severity::Violation,
            format!(
                "{} is plaintext in production, so the workload will refuse to start; set {url_var} to a tls:// URL",
                url.describe(url_var)
            ),
        ),
        None => {
            let st = State::of(c.env, ovr);
            out.push(
                Code::Indeterminate,
                Severity::Warning,
                format!(
                    "the start-up gate refuses {} and whether the plaintext override applies cannot be told: {}; set {url_var} to a tls:// URL, or set {ovr} from a literal value",
                    url.describe(url_var),
                    unreadable_reason(ovr, st)
                ),
            );
        }
    }
}

/// The `natsguard.io/rollback-by` annotation: `None` when absent, `Some(Err(text))` (the text
/// quoted for messages) when it is not an RFC 3339 time.
pub fn rollback_by(annots: &BTreeMap<String, String>) -> Option<Result<Timestamp, String>> {
    annots.get(annotations::ROLLBACK_BY).map(|s| s.trim().parse::<Timestamp>().map_err(|_| shown(s)))
}

/// The incident's rollback deadline: the operator's, else the `rollback-by` annotation.
/// The second value is a message suffix when the annotation is present but unreadable.
fn deadline(annots: &BTreeMap<String, String>, ctx: &EvalContext) -> (Option<Timestamp>, String) {
    if let Some(d) = ctx.deadlines.plaintext {
        return (Some(d), String::new());
    }
    match rollback_by(annots) {
        None => (None, String::new()),
        Some(Ok(t)) => (Some(t), String::new()),
        Some(Err(text)) => {
            (None, format!(" (annotation {} is {text} which is not an RFC 3339 time)", annotations::ROLLBACK_BY))
        }
    }
}

/// URL findings that hold in any environment.
fn url_findings(spec: &NatsTransportPolicySpec, url: &Url, out: &mut Out<'_>) {
    let var = &spec.transport.url_var;
    let a = &url.analysis;
    if a.mixed {
        out.push(
            Code::MixedSchemes,
            Severity::Warning,
            format!(
                "{} mixes encrypted and plaintext schemes; the client encrypts every connection, so the plaintext entries mislead readers and tools; use tls:// for every entry",
                url.describe(var)
            ),
        );
    }
    if a.has_userinfo {
        out.push(
            Code::CredentialsInUrl,
            Severity::Warning,
            format!(
                "{} carries credentials in the URL; remove them from the URL and set {}/{} or {} from a Secret",
                url.describe(var),
                spec.auth.username_var,
                spec.auth.password_var,
                spec.auth.token_var
            ),
        );
    }
    let mut problems: Vec<String> = a
        .invalid()
        .map(|e| {
            let why = e.parsed.as_ref().err().map(ToString::to_string).unwrap_or_default();
            format!("entry {} {}: {why}", e.index, shown(&e.redacted))
        })
        .collect();
    if a.entries.is_empty() {
        problems.push("it contains no server, so the client would fall back to nats://127.0.0.1:4222".to_string());
    }
    if a.mixed_websocket {
        problems
            .push("it mixes websocket (ws/wss) and non-websocket entries, which the NATS client refuses".to_string());
    }
    if !problems.is_empty() {
        out.push(
            Code::InvalidUrl,
            Severity::Violation,
            format!(
                "{} is not a usable NATS server list: {}; use entries like tls://host:4222",
                url.describe(var),
                problems.join("; ")
            ),
        );
    }
}

fn tls_name(spec: &NatsTransportPolicySpec, v: TlsVar) -> &str {
    let t = &spec.transport.tls;
    match v {
        TlsVar::Ca => &t.ca,
        TlsVar::Cert => &t.cert,
        TlsVar::Key => &t.key,
        TlsVar::ServerName => &t.server_name,
    }
}

fn tls_findings(
    spec: &NatsTransportPolicySpec,
    env: &EffectiveEnv,
    production: Option<bool>,
    gate_accepts: Option<bool>,
    out: &mut Out<'_>,
) {
    let t = &spec.transport.tls;
    let url_var = &spec.transport.url_var;
    match gate_accepts {
        None => {}
        Some(false) => {
            let set: Vec<&str> = [&t.ca, &t.cert, &t.key, &t.server_name, &t.insecure]
                .into_iter()
                .filter(|n| State::of(env, n).is_set())
                .map(String::as_str)
                .collect();
            if !set.is_empty() {
                out.push(
                    Code::TlsSettingsIgnored,
                    Severity::Warning,
                    format!(
                        "{} {} set but ignored because {url_var} does not begin with exactly tls://; make {url_var} begin with tls:// or remove {}",
                        set.join(", "),
                        if set.len() == 1 { "is" } else { "are" },
                        if set.len() == 1 { "it" } else { "them" }
                    ),
                );
            }
        }
        Some(true) => {
            let cert = State::of(env, &t.cert);
            let key = State::of(env, &t.key);
            let (only, missing) = if cert.is_set() && key.is_absent() {
                (Some(&t.cert), &t.key)
            } else if key.is_set() && cert.is_absent() {
                (Some(&t.key), &t.cert)
            } else {
                (None, &t.key)
            };
            if let Some(only) = only {
                out.push(
                    Code::TlsMaterialIncomplete,
                    Severity::Violation,
                    format!("{only} is set without {missing}, so the workload fails to start; set both or neither"),
                );
            }
            let mut required = spec.transport.required_tls.clone();
            required.sort();
            required.dedup();
            for v in required {
                let name = tls_name(spec, v);
                if State::of(env, name).is_absent() {
                    out.push(
                        Code::TlsMaterialMissing,
                        Severity::Warning,
                        format!("{name} is not set but the policy requires it whenever TLS is used; set {name}"),
                    );
                }
            }
            if let State::Known(s) = State::of(env, &t.insecure)
                && is_truthy(s)
            {
                let sev = if production == Some(true) { Severity::Violation } else { Severity::Warning };
                out.push(
                    Code::TlsVerificationDisabled,
                    sev,
                    format!(
                        "{} is truthy, so the server certificate is not verified; remove {} and trust the server's CA with {}",
                        t.insecure, t.insecure, t.ca
                    ),
                );
            }
        }
    }
}

fn auth_findings(spec: &NatsTransportPolicySpec, env: &EffectiveEnv, production: Option<bool>, out: &mut Out<'_>) {
    let a = &spec.auth;
    let user = State::of(env, &a.username_var);
    let pass = State::of(env, &a.password_var);
    let token = State::of(env, &a.token_var);
    let nkey = State::of(env, &a.nkey_var);

    let userpass = user.is_set() && pass.is_set();
    let userpass_name = format!("{}/{}", a.username_var, a.password_var);
    let modes: Vec<&str> =
        [(userpass, userpass_name.as_str()), (token.is_set(), &a.token_var), (nkey.is_set(), &a.nkey_var)]
            .into_iter()
            .filter(|(on, _)| *on)
            .map(|(_, n)| n)
            .collect();

    if production == Some(true) && modes.is_empty() {
        // A mode that an opaque envFrom source may complete: not known to be missing.
        let could = |s: State<'_>| s.is_set() || matches!(s, State::Maybe(_));
        let possible = (could(user) && could(pass)) || could(token) || could(nkey);
        let enforce = a.required == AuthRequirement::Enforce;
        if !possible {
            out.push(
                Code::AuthMissing,
                if enforce { Severity::Violation } else { Severity::Warning },
                format!(
                    "no NATS credentials are configured in production; set {} and {}, or {}, or {} from a Secret",
                    a.username_var, a.password_var, a.token_var, a.nkey_var
                ),
            );
        } else if enforce {
            let origin = [user, pass, token, nkey].into_iter().find_map(State::unreadable);
            let why = origin.map_or_else(String::new, |o| format!(" (they may be set by {o})"));
            out.push(
                Code::Indeterminate,
                Severity::Warning,
                format!(
                    "the policy requires NATS auth but whether {}, {} or {} is set cannot be told{why}; set them explicitly with valueFrom.secretKeyRef",
                    userpass_name, a.token_var, a.nkey_var
                ),
            );
        }
    }

    if user.is_set() && pass.is_absent() {
        out.push(
            Code::AuthIncomplete,
            Severity::Warning,
            format!(
                "{} is set without {}, so username/password auth is not used; set {} (from a Secret) or remove {}",
                a.username_var, a.password_var, a.password_var, a.username_var
            ),
        );
    } else if pass.is_set() && user.is_absent() {
        out.push(
            Code::AuthIncomplete,
            Severity::Warning,
            format!(
                "{} is set without {}, so username/password auth is not used; set {} or remove {}",
                a.password_var, a.username_var, a.username_var, a.password_var
            ),
        );
    }

    if let [effective, _, ..] = modes.as_slice() {
        out.push(
            Code::AuthAmbiguous,
            Severity::Info,
            format!(
                "more than one NATS auth mode is set ({}); {effective} takes effect; remove the others",
                modes.join(", ")
            ),
        );
    }

    for name in [&a.password_var, &a.token_var, &a.nkey_var] {
        let Presence::Set(v) = env.presence(name) else {
            continue;
        };
        let non_empty = v.value.known().is_some_and(|s| !s.trim().is_empty());
        match &v.origin {
            Origin::Literal if non_empty => out.push(
                Code::SecretInPlainEnv,
                Severity::Warning,
                format!(
                    "{name} is given as a literal value in the manifest; move it to a Secret and use valueFrom.secretKeyRef"
                ),
            ),
            Origin::ConfigMap { name: cm, key } if non_empty => out.push(
                Code::SecretInPlainEnv,
                Severity::Warning,
                format!(
                    "{name} comes from ConfigMap {cm} key {key}, which is not meant for secrets; move it to a Secret and use valueFrom.secretKeyRef"
                ),
            ),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::policy::AuthRequirement;
    use crate::env::ConfigMaps;
    use crate::evaluate::{WorkloadInput, evaluate_workload};
    use crate::workload::PodEnv;
    use serde_json::{Value as J, json};

    const NOW: &str = "2026-06-01T12:00:00Z";
    const FUTURE: &str = "2026-06-01T16:00:00Z";
    const PAST: &str = "2026-06-01T11:00:00Z";

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn ctx() -> EvalContext {
        EvalContext::at(ts(NOW))
    }

    fn lit(name: &str, value: &str) -> J {
        json!({"name": name, "value": value})
    }

    fn secret(name: &str) -> J {
        json!({"name": name, "valueFrom": {"secretKeyRef": {"name": "creds", "key": name.to_lowercase()}}})
    }

    fn from_cm(name: &str, key: &str) -> J {
        json!({"name": name, "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": key}}})
    }

    fn config_maps() -> ConfigMaps {
        let mut c = ConfigMaps { complete: true, ..Default::default() };
        c.insert(
            "ns",
            "cfg",
            BTreeMap::from([
                ("token".to_string(), "cm-token-value".to_string()),
                ("url".to_string(), "tls://nats:4222".to_string()),
            ]),
        );
        c
    }

    struct Run {
        spec: NatsTransportPolicySpec,
        annotations: BTreeMap<String, String>,
        ctx: EvalContext,
        env_from: J,
    }

    impl Run {
        fn new() -> Self {
            Run {
                spec: NatsTransportPolicySpec::default(),
                annotations: BTreeMap::new(),
                ctx: ctx(),
                env_from: json!([]),
            }
        }
        fn annot(mut self, k: &str, v: &str) -> Self {
            self.annotations.insert(k.to_string(), v.to_string());
            self
        }
        fn spec(mut self, f: impl FnOnce(&mut NatsTransportPolicySpec)) -> Self {
            f(&mut self.spec);
            self
        }
        fn env_from(mut self, v: J) -> Self {
            self.env_from = v;
            self
        }
        fn run(&self, env: &[J]) -> ContainerReport {
            let pod: PodEnv = serde_json::from_value(json!({
                "containers": [{"name": "app", "env": env, "envFrom": self.env_from}]
            }))
            .unwrap();
            let w = WorkloadInput { namespace: "ns", name: "sched", annotations: &self.annotations, pod: &pod };
            let mut r = evaluate_workload(&self.spec, &w, &config_maps(), &self.ctx);
            assert_eq!(r.containers.len(), 1);
            let c = r.containers.remove(0);
            for f in &c.findings {
                assert_eq!(f.container, "app");
                assert!(f.message.contains("container \"app\""), "{}", f.message);
                assert!(!f.message.contains('\n'), "one line: {}", f.message);
            }
            c
        }
    }

    fn codes(r: &ContainerReport) -> Vec<(Code, Severity)> {
        let mut v: Vec<_> = r.findings.iter().map(|f| (f.code, f.severity)).collect();
        v.sort();
        v
    }

    fn msg(r: &ContainerReport, code: Code) -> String {
        r.findings.iter().find(|f| f.code == code).map(|f| f.message.clone()).unwrap_or_default()
    }

    use Code::*;
    use Severity::{Info, Violation as V, Warning as W};

    fn prod() -> J {
        lit("CORDUM_ENV", "production")
    }
    fn staging() -> J {
        lit("CORDUM_ENV", "staging")
    }
    fn auth() -> J {
        secret("NATS_TOKEN")
    }

    /// One table row: what it shows, the container's env, the exact findings expected.
    type Case<'a> = (&'a str, Vec<J>, Vec<(Code, Severity)>);

    fn check(run: &Run, cases: Vec<Case<'_>>) {
        for (what, env, want) in cases {
            let r = run.run(&env);
            let mut want = want;
            want.sort();
            assert_eq!(codes(&r), want, "{what}: {:#?}", r.findings);
        }
    }

    #[test]
    fn gate_and_transport_in_production() {
        check(
            &Run::new(),
            vec![
                ("tls ok", vec![prod(), auth(), lit("NATS_URL", "tls://nats:4222")], vec![]),
                ("tls list ok", vec![prod(), auth(), lit("NATS_URL", "tls://a:4222, tls://b:4222")], vec![]),
                ("unset uses plaintext default", vec![prod(), auth()], vec![(PlaintextTransport, V)]),
                (
                    "empty uses plaintext default",
                    vec![prod(), auth(), lit("NATS_URL", "")],
                    vec![(PlaintextTransport, V)],
                ),
                ("nats", vec![prod(), auth(), lit("NATS_URL", "nats://nats:4222")], vec![(PlaintextTransport, V)]),
                ("bare host", vec![prod(), auth(), lit("NATS_URL", "nats:4222")], vec![(PlaintextTransport, V)]),
                ("ws", vec![prod(), auth(), lit("NATS_URL", "ws://nats:80")], vec![(PlaintextTransport, V)]),
                (
                    "uppercase TLS",
                    vec![prod(), auth(), lit("NATS_URL", "TLS://nats:4222")],
                    vec![(TlsSchemeRejected, V)],
                ),
                ("wss", vec![prod(), auth(), lit("NATS_URL", "wss://nats:443")], vec![(TlsSchemeRejected, V)]),
                (
                    "leading space",
                    vec![prod(), auth(), lit("NATS_URL", " tls://nats:4222")],
                    vec![(TlsSchemeRejected, V)],
                ),
                (
                    "list not starting with tls",
                    vec![prod(), auth(), lit("NATS_URL", "nats://a:4222,tls://b:4222")],
                    vec![(TlsSchemeRejected, V), (MixedSchemes, W)],
                ),
                ("url from configmap", vec![prod(), auth(), from_cm("NATS_URL", "url")], vec![]),
                (
                    "url from secret",
                    vec![prod(), auth(), secret("NATS_URL"), lit("NATS_TLS_CA", "/ca.pem")],
                    vec![(Indeterminate, W)],
                ),
                (
                    "url references a secret",
                    vec![prod(), auth(), secret("PW"), lit("NATS_URL", "tls://u:$(PW)@nats:4222")],
                    vec![(Indeterminate, W)],
                ),
                (
                    "url from a fieldRef",
                    vec![
                        prod(),
                        auth(),
                        json!({"name": "NATS_URL", "valueFrom": {"fieldRef": {"fieldPath": "metadata.annotations['x']"}}}),
                    ],
                    vec![(Indeterminate, W)],
                ),
                (
                    "url from a missing configmap",
                    vec![
                        prod(),
                        auth(),
                        json!({"name": "NATS_URL", "valueFrom": {"configMapKeyRef": {"name": "gone", "key": "url"}}}),
                    ],
                    vec![(Indeterminate, W)],
                ),
                (
                    "expanded url",
                    vec![prod(), auth(), lit("HOST", "nats"), lit("NATS_URL", "tls://$(HOST):4222")],
                    vec![],
                ),
            ],
        );
    }

    #[test]
    fn nothing_production_only_outside_production() {
        check(
            &Run::new(),
            vec![
                ("staging nats", vec![staging(), lit("NATS_URL", "nats://nats:4222")], vec![]),
                ("no env at all", vec![], vec![]),
                ("staging TLS://", vec![staging(), lit("NATS_URL", "TLS://nats:4222")], vec![]),
                ("staging override on plaintext", vec![staging(), lit("CORDUM_NATS_ALLOW_PLAINTEXT", "true")], vec![]),
                (
                    "staging override with tls",
                    vec![staging(), lit("NATS_URL", "tls://n:4222"), lit("CORDUM_NATS_ALLOW_PLAINTEXT", "true")],
                    vec![],
                ),
                ("CORDUM_PRODUCTION=false", vec![lit("CORDUM_PRODUCTION", "false")], vec![]),
                ("CORDUM_PRODUCTION=garbage", vec![lit("CORDUM_PRODUCTION", "prod")], vec![]),
                ("CORDUM_ENV=productionx", vec![lit("CORDUM_ENV", "productionx")], vec![]),
            ],
        );
    }

    #[test]
    fn production_detection() {
        check(
            &Run::new(),
            vec![
                (
                    "env trimmed, any case",
                    vec![lit("CORDUM_ENV", "  Production\n"), auth()],
                    vec![(PlaintextTransport, V)],
                ),
                ("flag yes", vec![lit("CORDUM_PRODUCTION", "yes"), auth()], vec![(PlaintextTransport, V)]),
                ("flag ON", vec![lit("CORDUM_PRODUCTION", " ON "), auth()], vec![(PlaintextTransport, V)]),
                ("env from secret", vec![secret("CORDUM_ENV"), auth()], vec![(Indeterminate, W)]),
                (
                    "env from secret but flag decides",
                    vec![secret("CORDUM_ENV"), lit("CORDUM_PRODUCTION", "1"), auth()],
                    vec![(PlaintextTransport, V)],
                ),
                (
                    "flag from fieldRef, env says production",
                    vec![
                        prod(),
                        json!({"name": "CORDUM_PRODUCTION", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}),
                        auth(),
                    ],
                    vec![(PlaintextTransport, V)],
                ),
                (
                    "flag unknown, env not production",
                    vec![staging(), secret("CORDUM_PRODUCTION"), auth()],
                    vec![(Indeterminate, W)],
                ),
            ],
        );
        let r = Run::new().run(&[secret("CORDUM_ENV")]);
        assert_eq!(r.production, None);
        assert!(msg(&r, Indeterminate).contains("CORDUM_ENV comes from Secret creds"), "{}", msg(&r, Indeterminate));

        let values = Run::new().spec(|s| s.environment.values = vec!["prod".into(), "live".into()]);
        check(
            &values,
            vec![
                ("custom value", vec![lit("CORDUM_ENV", "LIVE"), auth()], vec![(PlaintextTransport, V)]),
                ("default value no longer counts", vec![lit("CORDUM_ENV", "production"), auth()], vec![]),
            ],
        );
        let always = Run::new().spec(|s| s.environment.production = ProductionMode::Always);
        check(
            &always,
            vec![
                ("always", vec![auth()], vec![(PlaintextTransport, V)]),
                ("always beats staging", vec![staging(), auth()], vec![(PlaintextTransport, V)]),
                ("always, env unreadable", vec![secret("CORDUM_ENV"), auth()], vec![(PlaintextTransport, V)]),
            ],
        );
        let never = Run::new().spec(|s| s.environment.production = ProductionMode::Never);
        check(&never, vec![("never", vec![prod()], vec![]), ("never, unreadable", vec![secret("CORDUM_ENV")], vec![])]);
        assert_eq!(never.run(&[prod()]).production, Some(false));
    }

    #[test]
    fn override_in_production() {
        let ovr = || lit("CORDUM_NATS_ALLOW_PLAINTEXT", "true");
        let base = || vec![prod(), auth(), lit("NATS_URL", "nats://nats:4222"), ovr()];
        let owned = Run::new().annot(annotations::OWNER, "alice").annot(annotations::ROLLBACK_BY, FUTURE);
        check(&owned, vec![("active, owned", base(), vec![(PlaintextOverrideActive, V)])]);
        let r = owned.run(&base());
        assert!(r.override_active(crate::report::Override::Plaintext));
        assert_eq!((r.production, r.gate_accepts, r.plaintext_override), (Some(true), Some(false), Some(true)));
        assert!(msg(&r, PlaintextOverrideActive).contains("2026-06-01T16:00:00Z"));

        check(
            &Run::new().annot(annotations::ROLLBACK_BY, FUTURE),
            vec![("no owner", base(), vec![(PlaintextOverrideActive, V), (OverrideOwnerMissing, W)])],
        );
        check(
            &Run::new().annot(annotations::OWNER, "  "),
            vec![("blank owner", base(), vec![(PlaintextOverrideActive, V), (OverrideOwnerMissing, W)])],
        );
        check(
            &Run::new().spec(|s| s.r#override.require_owner = false),
            vec![("owner not required", base(), vec![(PlaintextOverrideActive, V)])],
        );
        let past = Run::new().annot(annotations::OWNER, "alice").annot(annotations::ROLLBACK_BY, PAST);
        check(&past, vec![("overdue by annotation", base(), vec![(PlaintextOverrideOverdue, V)])]);
        let exactly = Run::new().annot(annotations::OWNER, "alice").annot(annotations::ROLLBACK_BY, NOW);
        check(&exactly, vec![("deadline == now is overdue", base(), vec![(PlaintextOverrideOverdue, V)])]);

        let mut by_incident = Run::new().annot(annotations::OWNER, "alice").annot(annotations::ROLLBACK_BY, FUTURE);
        by_incident.ctx.deadlines.plaintext = Some(ts(PAST));
        check(&by_incident, vec![("incident deadline wins", base(), vec![(PlaintextOverrideOverdue, V)])]);
        let mut by_incident = Run::new().annot(annotations::OWNER, "alice").annot(annotations::ROLLBACK_BY, PAST);
        by_incident.ctx.deadlines.plaintext = Some(ts(FUTURE));
        check(&by_incident, vec![("incident deadline wins (future)", base(), vec![(PlaintextOverrideActive, V)])]);

        let bad = Run::new().annot(annotations::OWNER, "alice").annot(annotations::ROLLBACK_BY, "tomorrow");
        let r = bad.run(&base());
        assert_eq!(codes(&r), vec![(PlaintextOverrideActive, V)]);
        assert!(msg(&r, PlaintextOverrideActive).contains("not an RFC 3339"), "{}", msg(&r, PlaintextOverrideActive));

        check(
            &owned,
            vec![
                (
                    "override on TLS:// is still active",
                    vec![prod(), auth(), lit("NATS_URL", "TLS://nats:4222"), ovr()],
                    vec![(PlaintextOverrideActive, V)],
                ),
                (
                    "override Yes",
                    vec![prod(), auth(), lit("CORDUM_NATS_ALLOW_PLAINTEXT", " Yes ")],
                    vec![(PlaintextOverrideActive, V)],
                ),
                (
                    "override false",
                    vec![prod(), auth(), lit("CORDUM_NATS_ALLOW_PLAINTEXT", "false")],
                    vec![(PlaintextTransport, V)],
                ),
                (
                    "override empty",
                    vec![prod(), auth(), lit("CORDUM_NATS_ALLOW_PLAINTEXT", "")],
                    vec![(PlaintextTransport, V)],
                ),
                (
                    "override unrecognized",
                    vec![prod(), auth(), lit("CORDUM_NATS_ALLOW_PLAINTEXT", "enabled")],
                    vec![(PlaintextTransport, V), (OverrideValueUnrecognized, W)],
                ),
                (
                    "override from secret",
                    vec![prod(), auth(), secret("CORDUM_NATS_ALLOW_PLAINTEXT")],
                    vec![(Indeterminate, W)],
                ),
                (
                    "stale override",
                    vec![prod(), auth(), lit("NATS_URL", "tls://nats:4222"), ovr()],
                    vec![(StaleOverride, W)],
                ),
                (
                    "override from secret with tls: nothing to decide",
                    vec![prod(), auth(), lit("NATS_URL", "tls://nats:4222"), secret("CORDUM_NATS_ALLOW_PLAINTEXT")],
                    vec![],
                ),
            ],
        );
        let r = owned.run(&[prod(), auth(), secret("CORDUM_NATS_ALLOW_PLAINTEXT")]);
        assert_eq!(r.plaintext_override, None);
        assert!(!r.override_active(crate::report::Override::Plaintext));
        check(
            &Run::new(),
            vec![
                (
                    "unrecognized outside production",
                    vec![staging(), lit("CORDUM_NATS_ALLOW_PLAINTEXT", "2")],
                    vec![(OverrideValueUnrecognized, W)],
                ),
                ("falsy values are fine", vec![staging(), lit("CORDUM_NATS_ALLOW_PLAINTEXT", " OFF ")], vec![]),
                ("whitespace-only is fine", vec![staging(), lit("CORDUM_NATS_ALLOW_PLAINTEXT", "  ")], vec![]),
            ],
        );
    }

    #[test]
    fn url_findings_in_any_environment() {
        check(
            &Run::new(),
            vec![
                ("mixed", vec![staging(), lit("NATS_URL", "tls://a:4222,nats://b:4222")], vec![(MixedSchemes, W)]),
                ("mixed wss/ws", vec![staging(), lit("NATS_URL", "wss://a,ws://b")], vec![(MixedSchemes, W)]),
                ("not mixed", vec![staging(), lit("NATS_URL", "tls://a:4222,TLS://b:4222")], vec![]),
                ("credentials", vec![staging(), lit("NATS_URL", "tls://u:p@a:4222")], vec![(CredentialsInUrl, W)]),
                ("token in url", vec![staging(), lit("NATS_URL", "nats://tok@a:4222")], vec![(CredentialsInUrl, W)]),
                ("http", vec![staging(), lit("NATS_URL", "http://a:80")], vec![(InvalidUrl, V)]),
                ("bad port", vec![staging(), lit("NATS_URL", "tls://a:4222,nats://b:99999")], vec![(InvalidUrl, V)]),
                ("no host", vec![staging(), lit("NATS_URL", "tls://:4222")], vec![(InvalidUrl, V)]),
                ("only commas", vec![staging(), lit("NATS_URL", " , ")], vec![(InvalidUrl, V)]),
                ("websocket and tcp", vec![staging(), lit("NATS_URL", "wss://a,tls://b")], vec![(InvalidUrl, V)]),
            ],
        );
        // In production an invalid list is judged by both readers.
        check(
            &Run::new(),
            vec![(
                "prod http",
                vec![prod(), auth(), lit("NATS_URL", "http://a:80")],
                vec![(InvalidUrl, V), (PlaintextTransport, V)],
            )],
        );
        let r = Run::new().run(&[staging(), lit("NATS_URL", "tls://a:4222,nats://b:99999,http://c")]);
        let m = msg(&r, InvalidUrl);
        assert!(m.contains("entry 2") && m.contains("entry 3") && m.contains("unsupported scheme `http`"), "{m}");
        assert_eq!(r.findings.iter().filter(|f| f.code == InvalidUrl).count(), 1, "one finding naming all bad entries");
        let bad_default = Run::new().spec(|s| s.transport.default_url = "http://nats".into());
        check(&bad_default, vec![("bad policy default url", vec![staging()], vec![(InvalidUrl, V)])]);
        let custom_default = Run::new().spec(|s| s.transport.default_url = "tls://nats:4222".into());
        check(&custom_default, vec![("policy default url", vec![prod(), auth()], vec![])]);
        let renamed = Run::new().spec(|s| s.transport.url_var = "BUS_URL".into());
        check(
            &renamed,
            vec![
                ("renamed url var", vec![prod(), auth(), lit("BUS_URL", "tls://a:4222")], vec![]),
                (
                    "old name ignored",
                    vec![prod(), auth(), lit("NATS_URL", "tls://a:4222")],
                    vec![(PlaintextTransport, V)],
                ),
            ],
        );
    }

    #[test]
    fn tls_settings() {
        let tls = || lit("NATS_URL", "tls://nats:4222");
        check(
            &Run::new(),
            vec![
                ("ignored on plaintext", vec![staging(), lit("NATS_TLS_CA", "/ca.pem")], vec![(TlsSettingsIgnored, W)]),
                (
                    "ignored on TLS:// (and rejected in prod)",
                    vec![
                        prod(),
                        auth(),
                        lit("NATS_URL", "TLS://n:4222"),
                        lit("NATS_TLS_CERT", "/c"),
                        lit("NATS_TLS_KEY", "/k"),
                    ],
                    vec![(TlsSchemeRejected, V), (TlsSettingsIgnored, W)],
                ),
                ("secret counts as set", vec![staging(), secret("NATS_TLS_KEY")], vec![(TlsSettingsIgnored, W)]),
                (
                    "empty does not count",
                    vec![staging(), lit("NATS_TLS_CA", ""), lit("NATS_TLS_SERVER_NAME", " ")],
                    vec![],
                ),
                (
                    "insecure on plaintext is only ignored",
                    vec![prod(), auth(), lit("NATS_TLS_INSECURE", "true"), lit("CORDUM_NATS_ALLOW_PLAINTEXT", "1")],
                    vec![(PlaintextOverrideActive, V), (OverrideOwnerMissing, W), (TlsSettingsIgnored, W)],
                ),
                (
                    "applied, complete",
                    vec![prod(), auth(), tls(), lit("NATS_TLS_CERT", "/c"), lit("NATS_TLS_KEY", "/k")],
                    vec![],
                ),
                ("cert only", vec![staging(), tls(), lit("NATS_TLS_CERT", "/c")], vec![(TlsMaterialIncomplete, V)]),
                ("key only", vec![staging(), tls(), lit("NATS_TLS_KEY", "/k")], vec![(TlsMaterialIncomplete, V)]),
                (
                    "key only, blank cert",
                    vec![staging(), tls(), lit("NATS_TLS_CERT", " "), secret("NATS_TLS_KEY")],
                    vec![(TlsMaterialIncomplete, V)],
                ),
                ("both from secrets", vec![staging(), tls(), secret("NATS_TLS_CERT"), secret("NATS_TLS_KEY")], vec![]),
                (
                    "insecure in prod",
                    vec![prod(), auth(), tls(), lit("NATS_TLS_INSECURE", "TRUE")],
                    vec![(TlsVerificationDisabled, V)],
                ),
                (
                    "insecure outside prod",
                    vec![staging(), tls(), lit("NATS_TLS_INSECURE", "yes")],
                    vec![(TlsVerificationDisabled, W)],
                ),
                ("insecure false", vec![prod(), auth(), tls(), lit("NATS_TLS_INSECURE", "false")], vec![]),
            ],
        );
        let ca = Run::new().spec(|s| s.transport.required_tls = vec![TlsVar::Ca, TlsVar::ServerName]);
        check(
            &ca,
            vec![
                ("required missing", vec![staging(), tls(), lit("NATS_TLS_CA", "/ca")], vec![(TlsMaterialMissing, W)]),
                ("both missing", vec![staging(), tls()], vec![(TlsMaterialMissing, W), (TlsMaterialMissing, W)]),
                ("present", vec![staging(), tls(), secret("NATS_TLS_CA"), lit("NATS_TLS_SERVER_NAME", "nats")], vec![]),
                ("not applied: not raised", vec![staging(), lit("NATS_URL", "nats://n:4222")], vec![]),
            ],
        );
        let r = ca.run(&[staging(), tls(), lit("NATS_TLS_CA", "/ca")]);
        assert!(msg(&r, TlsMaterialMissing).contains("NATS_TLS_SERVER_NAME"));
        let r = Run::new().run(&[staging(), lit("NATS_TLS_CA", "/ca"), secret("NATS_TLS_KEY")]);
        let m = msg(&r, TlsSettingsIgnored);
        assert!(m.contains("NATS_TLS_CA, NATS_TLS_KEY are set"), "{m}");
    }

    #[test]
    fn auth_rules() {
        let tls = || lit("NATS_URL", "tls://nats:4222");
        check(
            &Run::new(),
            vec![
                ("missing in prod", vec![prod(), tls()], vec![(AuthMissing, W)]),
                ("missing outside prod", vec![staging(), tls()], vec![]),
                ("blank token is missing", vec![prod(), tls(), lit("NATS_TOKEN", "  ")], vec![(AuthMissing, W)]),
                ("user+pass secrets", vec![prod(), tls(), secret("NATS_USERNAME"), secret("NATS_PASSWORD")], vec![]),
                ("nkey secret", vec![prod(), tls(), secret("NATS_NKEY")], vec![]),
                (
                    "username only falls through",
                    vec![prod(), tls(), lit("NATS_USERNAME", "svc")],
                    vec![(AuthMissing, W), (AuthIncomplete, W)],
                ),
                (
                    "username only + token",
                    vec![prod(), tls(), lit("NATS_USERNAME", "svc"), auth()],
                    vec![(AuthIncomplete, W)],
                ),
                ("password only", vec![staging(), tls(), secret("NATS_PASSWORD")], vec![(AuthIncomplete, W)]),
                (
                    "user+pass and token",
                    vec![staging(), tls(), lit("NATS_USERNAME", "svc"), secret("NATS_PASSWORD"), auth()],
                    vec![(AuthAmbiguous, Info)],
                ),
                ("token and nkey", vec![staging(), tls(), auth(), secret("NATS_NKEY")], vec![(AuthAmbiguous, Info)]),
                (
                    "literal password",
                    vec![staging(), tls(), lit("NATS_USERNAME", "svc"), lit("NATS_PASSWORD", "pw")],
                    vec![(SecretInPlainEnv, W)],
                ),
                ("literal token", vec![prod(), tls(), lit("NATS_TOKEN", "t0k")], vec![(SecretInPlainEnv, W)]),
                ("literal nkey", vec![prod(), tls(), lit("NATS_NKEY", "SUAxyz")], vec![(SecretInPlainEnv, W)]),
                ("configmap token", vec![prod(), tls(), from_cm("NATS_TOKEN", "token")], vec![(SecretInPlainEnv, W)]),
                ("empty literal password is not a secret", vec![staging(), tls(), lit("NATS_PASSWORD", "")], vec![]),
                (
                    "literal username is fine",
                    vec![prod(), tls(), lit("NATS_USERNAME", "svc"), secret("NATS_PASSWORD")],
                    vec![],
                ),
                (
                    "secret expanded into a literal stays a secret",
                    vec![prod(), tls(), secret("T"), lit("NATS_TOKEN", "$(T)")],
                    vec![],
                ),
            ],
        );
        let r = Run::new().run(&[
            staging(),
            tls(),
            lit("NATS_USERNAME", "svc"),
            secret("NATS_PASSWORD"),
            auth(),
            secret("NATS_NKEY"),
        ]);
        let m = msg(&r, AuthAmbiguous);
        assert!(m.contains("NATS_USERNAME/NATS_PASSWORD takes effect"), "{m}");
        let r = Run::new().run(&[staging(), tls(), auth(), secret("NATS_NKEY")]);
        assert!(msg(&r, AuthAmbiguous).contains("NATS_TOKEN takes effect"));
        let r = Run::new().run(&[prod(), tls(), from_cm("NATS_TOKEN", "token")]);
        assert!(msg(&r, SecretInPlainEnv).contains("ConfigMap cfg key token"));
        assert!(!msg(&r, SecretInPlainEnv).contains("cm-token-value"));

        let enforce = Run::new().spec(|s| s.auth.required = AuthRequirement::Enforce);
        check(
            &enforce,
            vec![
                ("enforced", vec![prod(), tls()], vec![(AuthMissing, V)]),
                ("enforced outside prod", vec![staging(), tls()], vec![]),
                ("enforced, present", vec![prod(), tls(), auth()], vec![]),
            ],
        );
    }

    #[test]
    fn secret_env_from_is_honest() {
        let sref = json!([{"secretRef": {"name": "bag"}}]);
        let run = Run::new().env_from(sref.clone());
        check(
            &run,
            vec![
                // Everything not set explicitly may come from the Secret.
                ("nothing explicit: production and URL unknown", vec![], vec![(Indeterminate, W), (Indeterminate, W)]),
                (
                    "explicit env and url, auth may come from the secret",
                    vec![prod(), lit("CORDUM_PRODUCTION", "1"), lit("NATS_URL", "tls://nats:4222")],
                    vec![],
                ),
                (
                    "plaintext in prod: override may come from the secret",
                    vec![prod(), lit("NATS_URL", "nats://nats:4222")],
                    vec![(Indeterminate, W)],
                ),
                (
                    "explicit override off",
                    vec![prod(), lit("NATS_URL", "nats://nats:4222"), lit("CORDUM_NATS_ALLOW_PLAINTEXT", "false")],
                    vec![(PlaintextTransport, V)],
                ),
                (
                    "maybe-cert does not complete an explicit key",
                    vec![
                        staging(),
                        lit("CORDUM_PRODUCTION", "0"),
                        lit("NATS_URL", "tls://n:4222"),
                        lit("NATS_TLS_KEY", "/k"),
                    ],
                    vec![],
                ),
            ],
        );
        let r = run.run(&[]);
        assert_eq!((r.production, r.gate_accepts, r.plaintext_override), (None, None, None));
        let enforce = Run::new().env_from(sref).spec(|s| s.auth.required = AuthRequirement::Enforce);
        check(
            &enforce,
            vec![(
                "enforced auth may come from the secret",
                vec![prod(), lit("NATS_URL", "tls://nats:4222")],
                vec![(Indeterminate, W)],
            )],
        );
    }

    #[test]
    fn no_message_ever_contains_a_secret() {
        const PW: &str = "Zq7pass";
        let env = vec![
            prod(),
            lit("NATS_URL", &format!("nats://user:{PW}1@a:4222, tls://{PW}2@b:99999,http://u:{PW}3@c")),
            lit("NATS_USERNAME", "svc"),
            lit("NATS_PASSWORD", &format!("{PW}4")),
            lit("NATS_TOKEN", &format!("{PW}5")),
            lit("NATS_NKEY", &format!("{PW}6")),
            lit("NATS_TLS_CA", "/ca"),
            lit("CORDUM_NATS_ALLOW_PLAINTEXT", "true"),
        ];
        for mode in [ProductionMode::Auto, ProductionMode::Never] {
            let r = Run::new().spec(|s| s.environment.production = mode).run(&env);
            assert!(r.findings.len() >= 5, "{:#?}", r.findings);
            for f in &r.findings {
                assert!(!f.message.contains(PW), "{}", f.message);
            }
        }
    }

    #[test]
    fn rollback_by_annotation() {
        let a = |v: &str| BTreeMap::from([(annotations::ROLLBACK_BY.to_string(), v.to_string())]);
        assert_eq!(rollback_by(&BTreeMap::new()), None);
        assert_eq!(rollback_by(&a(FUTURE)), Some(Ok(ts(FUTURE))));
        assert_eq!(rollback_by(&a(" 2026-06-01T18:00:00+02:00 ")), Some(Ok(ts(FUTURE))));
        assert_eq!(rollback_by(&a("2026-06-01")), Some(Err("\"2026-06-01\"".to_string())));
        assert!(matches!(rollback_by(&a("in 2 hours")), Some(Err(_))));
    }

    #[test]
    fn findings_are_sorted_severity_then_code() {
        let r = Run::new().run(&[
            prod(),
            lit("NATS_URL", "nats://u:p@a:4222,tls://b:4222"),
            lit("NATS_TOKEN", "x"),
            secret("NATS_NKEY"),
        ]);
        let got: Vec<(Severity, &str)> = r.findings.iter().map(|f| (f.severity, f.code.as_str())).collect();
        assert_eq!(
            got,
            vec![
                (V, "TLSSchemeRejected"),
                (W, "CredentialsInURL"),
                (W, "MixedSchemes"),
                (W, "SecretInPlainEnv"),
                (Info, "AuthAmbiguous"),
            ]
        );
    }

    #[test]
    fn messages_name_the_fix_and_redact_urls() {
        let r = Run::new().run(&[prod(), auth(), lit("NATS_URL", "nats://bob:hunter2@nats:4222")]);
        let m = msg(&r, PlaintextTransport);
        assert!(m.contains("nats://***@nats:4222") && !m.contains("hunter2") && m.contains("tls://"), "{m}");
        let r = Run::new().run(&[prod(), auth()]);
        let m = msg(&r, PlaintextTransport);
        assert!(m.contains("unset or empty") && m.contains("nats://nats:4222"), "{m}");
    }
}
