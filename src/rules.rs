//! The `cordum` rule pack for one container (SPEC §2, §3). Pure: the effective environment,
//! the workload's annotations, the policy and the clock reading go in; a [`ContainerReport`]
//! comes out.
//!
//! Messages are one line: what is wrong, in which container, how to fix it. URLs appear only
//! redacted; credential values and Secret-sourced values never appear (only variable names).

use crate::crd::annotations;
use crate::crd::policy::{AuthRequirement, NatsTransportPolicySpec, ProductionMode, TlsVar};
use crate::env::{EffectiveEnv, Origin, Presence, Value};
use crate::evaluate::{ContainerReport, EvalContext};
use crate::findings::{Code, Finding, Severity};
use crate::natsurl::{self, UrlAnalysis};
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
        Origin::ConfigMap { .. } | Origin::EnvFromConfigMap { .. } => {
            "the ConfigMap is not available"
        }
        Origin::FieldRef(_) | Origin::ResourceFieldRef(_) => "it is only known in the running pod",
        Origin::Literal => "it expands a variable whose value is unknown",
    };
    if maybe {
        format!("{name} may be set by {origin} ({how})")
    } else {
        format!("{name} comes from {origin} ({how})")
    }
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
    if cut.len() < s.len() {
        format!("{:?}…", cut)
    } else {
        format!("{cut:?}")
    }
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
        label: format!(
            "{} {:?}",
            if c.init {
                "init container"
            } else {
                "container"
            },
            c.name
        ),
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
        production,
        gate_accepts,
        override_truthy,
        findings: out.findings,
    }
}

/// Production per the policy; `None` (with an `Indeterminate` finding) when it cannot be told.
fn production(
    spec: &NatsTransportPolicySpec,
    env: &EffectiveEnv,
    out: &mut Out<'_>,
) -> Option<bool> {
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
    /// `NATS_URL "…"` or `NATS_URL is unset, so the default "…"`.
    fn describe(&self, var: &str) -> String {
        if self.defaulted {
            format!(
                "{var} is unset or empty, so the workload uses its default {}",
                self.shown
            )
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
    Some(Url {
        shown: shown(&natsurl::redact(raw)),
        defaulted,
        analysis: natsurl::analyze(raw),
    })
}

/// Whether the override is truthy (`None` when it cannot be read); reports unrecognized values.
fn override_state(
    spec: &NatsTransportPolicySpec,
    env: &EffectiveEnv,
    out: &mut Out<'_>,
) -> Option<bool> {
    let var = &spec.r#override.env_var;
    match State::of(env, var) {
        State::Unset => Some(false),
        State::Known(s) => {
            if !s.trim().is_empty() && !is_truthy(s) && !is_falsy(s) {
                out.push(
                    Code::OverrideValueUnrecognized,
                    Severity::Warning,
                    format!(
                        "{var} is {} which the workload reads as false; use true to enable the plaintext override or remove the variable",
                        shown(s)
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

/// The incident's rollback deadline: the operator's, else the `rollback-by` annotation.
/// The second value is a message suffix when the annotation is present but unreadable.
fn deadline(annots: &BTreeMap<String, String>, ctx: &EvalContext) -> (Option<Timestamp>, String) {
    if let Some(d) = ctx.incident_deadline {
        return (Some(d), String::new());
    }
    match annots.get(annotations::ROLLBACK_BY) {
        None => (None, String::new()),
        Some(s) => match s.trim().parse::<Timestamp>() {
            Ok(t) => (Some(t), String::new()),
            Err(_) => (
                None,
                format!(
                    " (annotation {} is {} which is not an RFC 3339 time)",
                    annotations::ROLLBACK_BY,
                    shown(s)
                ),
            ),
        },
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
            let why = e
                .parsed
                .as_ref()
                .err()
                .map(ToString::to_string)
                .unwrap_or_default();
            format!("entry {} {}: {why}", e.index, shown(&e.redacted))
        })
        .collect();
    if a.entries.is_empty() {
        problems.push("it contains no server".to_string());
    }
    if a.mixed_websocket {
        problems.push(
            "it mixes websocket (ws/wss) and non-websocket entries, which the NATS client refuses"
                .to_string(),
        );
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
                        "{} {} set but ignored because {url_var} does not begin with exactly tls://; make {url_var} begin with tls:// or remove them",
                        set.join(", "),
                        if set.len() == 1 { "is" } else { "are" }
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
                let sev = if production == Some(true) {
                    Severity::Violation
                } else {
                    Severity::Warning
                };
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

fn auth_findings(
    spec: &NatsTransportPolicySpec,
    env: &EffectiveEnv,
    production: Option<bool>,
    out: &mut Out<'_>,
) {
    let a = &spec.auth;
    let user = State::of(env, &a.username_var);
    let pass = State::of(env, &a.password_var);
    let token = State::of(env, &a.token_var);
    let nkey = State::of(env, &a.nkey_var);

    let userpass = user.is_set() && pass.is_set();
    let userpass_name = format!("{}/{}", a.username_var, a.password_var);
    let modes: Vec<&str> = [
        (userpass, userpass_name.as_str()),
        (token.is_set(), &a.token_var),
        (nkey.is_set(), &a.nkey_var),
    ]
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
            let origin = [user, pass, token, nkey]
                .into_iter()
                .find_map(State::unreadable);
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

    if modes.len() > 1 {
        out.push(
            Code::AuthAmbiguous,
            Severity::Info,
            format!(
                "more than one NATS auth mode is set ({}); {} takes effect; remove the others",
                modes.join(", "),
                modes[0]
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
