//! The URL (docs/reference.md, "URL"): which value the workload reads (set, unset so the image's
//! default applies, blank so the binary default applies, or blank and refused by the production
//! configuration check), and what the two readers make of it: the NATS client's refusals
//! (`InvalidURL`), misleading lists (`MixedSchemes`), credentials in the URL, and the production
//! gate's refusal (`PlaintextTransport`, `TLSSchemeRejected`), which the plaintext override may bypass.

use super::roles::Role;
use super::vars::{Out, shown};
use crate::crd::policy::NatsTransportPolicySpec;
use crate::env::{self, EffectiveEnv, Origin, Presence, ServiceLink, Value};
use crate::findings::{Code, Severity};
use crate::natsurl::{self, UrlAnalysis};

/// The binary's own default when the URL variable is blank (docs/reference.md, "URL").
pub const BINARY_DEFAULT: &str = "nats://localhost:4222";
/// Most entries named in one `InvalidURL` message.
const MAX_LISTED: usize = 3;

/// Where the evaluated URL came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// The variable's value.
    Set,
    /// The variable is unset: the image's default (the policy's `defaultUrl`) applies.
    Unset,
    /// The variable is blank and the binary default applies.
    Blank,
}

/// The URL value both readers see.
pub struct Url<'a> {
    var: &'a str,
    source: Source,
    /// Shown form: redacted, quoted, cut.
    shown: String,
    pub analysis: UrlAnalysis,
}

/// What reading the URL variable gave.
pub enum Reading<'a> {
    /// Blank in production where the service checks its configuration: `EmptyURL` was raised and
    /// no transport finding applies.
    ConfigCheckRefuses,
    /// Cannot be determined (`Indeterminate` was raised).
    Unknown,
    Url(Url<'a>),
}

impl Url<'_> {
    /// A noun phrase for messages.
    pub fn describe(&self) -> String {
        match self.source {
            Source::Set => format!("{} {}", self.var, self.shown),
            Source::Unset => format!(
                "{} (unset, so the image's default {} applies; without it the binary default {BINARY_DEFAULT:?})",
                self.var, self.shown
            ),
            Source::Blank => format!("{} (blank, so the binary default {} applies)", self.var, self.shown),
        }
    }
}

/// Read the URL variable of a NATS client. Raises `EmptyURL` or `Indeterminate` as needed.
pub fn read<'a>(
    spec: &NatsTransportPolicySpec,
    role: &Role<'a>,
    env: &EffectiveEnv,
    production: Option<bool>,
    out: &mut Out<'_>,
) -> Reading<'a> {
    let var = role.url_var;
    let url =
        |raw: &str, source| Url { var, source, shown: shown(&natsurl::redact(raw)), analysis: natsurl::analyze(raw) };
    match env.presence(var) {
        Presence::Unset => Reading::Url(url(&spec.transport.default_url, Source::Unset)),
        Presence::Set(v) => match (&v.value, &v.origin) {
            (Value::Known(s), Origin::ServiceLink { links }) => match resolve_links(s, links) {
                Ok(resolved) => Reading::Url(Url {
                    var,
                    source: Source::Set,
                    shown: shown(&natsurl::redact(s)),
                    analysis: natsurl::analyze(&resolved),
                }),
                Err(link) => {
                    out.push(
                        Code::Indeterminate,
                        Severity::Warning,
                        format!(
                            "cannot tell which NATS transport the workload uses: {var} {} takes its scheme from the service-link variable {link}, which the kubelet fills from a Service and natsguard does not model; write the scheme (tls://) literally",
                            shown(&natsurl::redact(s))
                        ),
                    );
                    Reading::Unknown
                }
            },
            (Value::Known(s), _) if s.trim().is_empty() => {
                if production == Some(true) && role.image.checks_config() {
                    out.push(
                        Code::EmptyUrl,
                        Severity::Violation,
                        format!(
                            "{var} is present but blank in production, so the service exits at its configuration check before it reaches NATS; set {var} to tls:// URLs or remove the empty entry so the image's default applies"
                        ),
                    );
                    Reading::ConfigCheckRefuses
                } else {
                    Reading::Url(url(BINARY_DEFAULT, Source::Blank))
                }
            }
            (Value::Known(s), _) => Reading::Url(url(s, Source::Set)),
            (Value::Unknown, origin) => unknown(var, &format!("{var} comes from {origin}"), out),
        },
        Presence::Maybe(v) => unknown(var, &format!("{var} may be set by {}", v.origin), out),
    }
}

fn unknown<'a>(var: &str, why: &str, out: &mut Out<'_>) -> Reading<'a> {
    out.push(
        Code::Indeterminate,
        Severity::Warning,
        format!(
            "cannot tell which NATS transport the workload uses: {why}, whose value natsguard cannot read; set {var} from a literal value or a ConfigMap so it can be checked"
        ),
    );
    Reading::Unknown
}

/// The value with its service-link references replaced by values of their shape, or the first
/// reference that decides an entry's scheme (then the verdict cannot be told).
fn resolve_links(text: &str, links: &[String]) -> Result<String, String> {
    let mut resolved = text.to_owned();
    for entry in text.split(',') {
        let scheme_end = entry.find("://");
        for link in links {
            let reference = format!("$({link})");
            let kind = env::service_link(link);
            for (at, _) in entry.match_indices(&reference) {
                let decides = match scheme_end {
                    Some(end) => at < end,
                    None => kind == Some(ServiceLink::Url),
                };
                if decides {
                    return Err(link.clone());
                }
            }
        }
    }
    for link in links {
        let stand_in = match env::service_link(link) {
            Some(ServiceLink::Host) | None => "10.96.0.10",
            Some(ServiceLink::Port) => "4222",
            Some(ServiceLink::Proto) => "tcp",
            Some(ServiceLink::Url) => "tcp://10.96.0.10:4222",
        };
        resolved = resolved.replace(&format!("$({link})"), stand_in);
    }
    Ok(resolved)
}

/// What the NATS client makes of the value, in any environment: `InvalidURL`, `MixedSchemes`,
/// `CredentialsInURL`.
pub fn client_findings(spec: &NatsTransportPolicySpec, role: &Role<'_>, url: &Url<'_>, out: &mut Out<'_>) {
    let a = &url.analysis;
    let mut problems: Vec<String> = a
        .invalid()
        .take(MAX_LISTED)
        .map(|e| format!("entry {} {}: {}", e.index, shown(&e.redacted), UrlAnalysis::why(e)))
        .collect();
    let more = a.invalid().count().saturating_sub(MAX_LISTED);
    if more > 0 {
        problems.push(format!("and {more} more invalid entr{}", if more == 1 { "y" } else { "ies" }));
    }
    if a.entries.is_empty() {
        problems.push("it names no server at all".to_owned());
    }
    if a.mixed_websocket {
        problems.push("it mixes websocket (ws, wss) and non-websocket entries, which the client refuses".to_owned());
    }
    if !problems.is_empty() {
        let effect = if a.refused() {
            format!("the NATS client refuses it in every environment, so {}", role.image.on_refusal())
        } else {
            "the NATS client skips or misreads those entries in every environment".to_owned()
        };
        out.push(
            Code::InvalidUrl,
            Severity::Violation,
            format!(
                "{} is not a usable NATS server list ({}); {effect}; use entries like tls://host:4222",
                url.describe(),
                problems.join("; "),
            ),
        );
    } else if a.mixed {
        out.push(
            Code::MixedSchemes,
            Severity::Warning,
            format!(
                "{} mixes encrypted (tls, wss) and plaintext (nats, ws, bare) entries; the client encrypts every connection, so the plaintext entries mislead readers and tools; write every entry as tls://",
                url.describe()
            ),
        );
    }
    if a.has_userinfo {
        out.push(
            Code::CredentialsInUrl,
            Severity::Warning,
            format!(
                "{} carries credentials in the URL, which never count as authentication and which the workload logs; remove them and set {}/{}, {} or {} from a Secret",
                url.describe(),
                spec.auth.username_var,
                spec.auth.password_var,
                spec.auth.token_var,
                spec.auth.nkey_var
            ),
        );
    }
}

/// The production gate's verdict on the URL: whether it passes, and the refusal it makes when
/// the plaintext override is off (`PlaintextTransport` or `TLSSchemeRejected`, with the message).
pub fn gate_refusal(role: &Role<'_>, url: &Url<'_>) -> (Code, String) {
    let a = &url.analysis;
    let fix = format!("write every entry of {} as tls://host:port", url.var);
    if a.encrypted {
        let why = if a.empty_entry {
            "an empty entry (such as a trailing comma) fails it".to_owned()
        } else {
            match a.entries.iter().find(|e| !e.redacted.trim().to_lowercase().starts_with("tls://")) {
                Some(e) => format!("entry {} {} does not begin with tls://", e.index, shown(&e.redacted)),
                None => "an entry does not begin with tls://".to_owned(),
            }
        };
        (
            Code::TlsSchemeRejected,
            format!(
                "the NATS client would encrypt {}, but the start-up gate requires every entry to begin with tls:// and {why}, so {}; {fix}",
                url.describe(),
                role.image.on_refusal()
            ),
        )
    } else {
        (
            Code::PlaintextTransport,
            format!("{} is plaintext in production, so {}; {fix}", url.describe(), role.image.on_refusal()),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkit::*;
    use crate::findings::Code::*;

    #[test]
    fn the_gate_in_production() {
        // docs/reference.md, "The gate": every example, judged in production with auth and TLS set.
        let ok = |url: &str| (vec![prod(), lit("NATS_URL", url), ca(), auth()], vec![]);
        let bad = |url: &str, codes: Vec<(crate::findings::Code, crate::findings::Severity)>| {
            (vec![prod(), lit("NATS_URL", url), auth()], codes)
        };
        check(
            &Run::scheduler(),
            vec![
                ("tls", ok("tls://nats:4222")),
                ("upper case passes", ok("TLS://a:4222")),
                ("spaces around entries pass", ok(" tls://a , tls://b")),
                ("list of tls passes", ok("tls://a:4222,tls://b:4222")),
                ("tls then nats", bad("tls://a,nats://b", vec![(TlsSchemeRejected, V), (MixedSchemes, W)])),
                ("nats then tls", bad("nats://a,tls://b", vec![(TlsSchemeRejected, V), (MixedSchemes, W)])),
                ("wss", bad("wss://a", vec![(TlsSchemeRejected, V)])),
                ("trailing comma", bad("tls://a,", vec![(TlsSchemeRejected, V)])),
                ("empty middle entry", bad("tls://a,,tls://b", vec![(TlsSchemeRejected, V)])),
                ("bare host:port", bad("nats.example.com:4222", vec![(PlaintextTransport, V)])),
                ("nats", bad("nats://nats:4222", vec![(PlaintextTransport, V)])),
                ("ws", bad("ws://nats:80", vec![(PlaintextTransport, V)])),
                ("a,,b", bad("a,,b", vec![(PlaintextTransport, V)])),
                ("only a comma", bad(",", vec![(PlaintextTransport, V), (InvalidUrl, V)])),
            ],
        );
        // With an explicit URL that fails the gate, TLS settings are ignored (false confidence).
        let r = Run::scheduler().run(&[prod(), lit("NATS_URL", "nats://a:4222"), ca(), auth()]);
        assert!(r.findings.iter().any(|f| f.code == TlsSettingsIgnored));
    }

    #[test]
    fn unset_blank_and_empty_url() {
        check(
            &Run::scheduler(),
            vec![
                (
                    "unset in production: the image's default nats://nats:4222",
                    (vec![prod(), auth()], vec![(PlaintextTransport, V)]),
                ),
                ("unset outside production", (vec![staging()], vec![])),
                ("blank in production: configuration check", (vec![prod(), lit("NATS_URL", "")], vec![(EmptyUrl, V)])),
                ("spaces are blank", (vec![prod(), lit("NATS_URL", "   ")], vec![(EmptyUrl, V)])),
                ("blank outside production: binary default", (vec![staging(), lit("NATS_URL", "")], vec![])),
                (
                    "blank hides the image's setting; no transport finding",
                    (
                        vec![prod(), lit("NATS_URL", ""), lit("CORDUM_NATS_ALLOW_PLAINTEXT", "true"), ca()],
                        vec![(EmptyUrl, V)],
                    ),
                ),
            ],
        );
        let r = Run::scheduler().run(&[prod(), auth()]);
        let m = msg(&r, PlaintextTransport);
        assert!(m.contains("nats://nats:4222") && m.contains("nats://localhost:4222") && m.contains("unset"), "{m}");
        let r = Run::image("otel/collector:1").run(&[prod(), auth(), lit("NATS_URL", " ")]);
        let m = msg(&r, PlaintextTransport);
        assert!(
            m.contains("blank") && m.contains("nats://localhost:4222"),
            "a non-Cordum client has no configuration check: {m}"
        );
        // The context engine never dials NATS but still runs the configuration check.
        let r = Run::image("cordum-context-engine:1").run(&[prod(), lit("NATS_URL", "")]);
        assert_eq!(codes(&r), vec![(EmptyUrl, V), (NotNatsClient, I)]);
        let r = Run::image("cordum-context-engine:1").run(&[staging(), lit("NATS_URL", "")]);
        assert_eq!(codes(&r), vec![(NotNatsClient, I)]);
        let r = Run::image("cordum-context-engine:1").run(&[prod(), lit("NATS_URL", "nats://x")]);
        assert_eq!(codes(&r), vec![(NotNatsClient, I)]);
        let r = Run::image("cordum-dashboard:1").run(&[prod(), lit("NATS_URL", "")]);
        assert_eq!(codes(&r), vec![(NotNatsClient, I)]);
    }

    #[test]
    fn the_client_in_any_environment() {
        check(
            &Run::scheduler(),
            vec![
                ("mixed", (vec![staging(), lit("NATS_URL", "tls://a:4222,nats://b:4222")], vec![(MixedSchemes, W)])),
                ("mixed wss/ws", (vec![staging(), lit("NATS_URL", "wss://a,ws://b")], vec![(MixedSchemes, W)])),
                ("mixed with bare", (vec![staging(), lit("NATS_URL", "tls://a,b:4222")], vec![(MixedSchemes, W)])),
                ("not mixed", (vec![staging(), lit("NATS_URL", "tls://a:4222,TLS://b:4222")], vec![])),
                ("credentials", (vec![staging(), lit("NATS_URL", "tls://u:p@a:4222")], vec![(CredentialsInUrl, W)])),
                ("token in url", (vec![staging(), lit("NATS_URL", "nats://tok@a:4222")], vec![(CredentialsInUrl, W)])),
                ("http", (vec![staging(), lit("NATS_URL", "http://a:80")], vec![(InvalidUrl, V)])),
                ("bad port", (vec![staging(), lit("NATS_URL", "tls://a:4222,nats://b:99999")], vec![(InvalidUrl, V)])),
                ("no host", (vec![staging(), lit("NATS_URL", "tls://:4222")], vec![(InvalidUrl, V)])),
                ("only commas", (vec![staging(), lit("NATS_URL", " , ")], vec![(InvalidUrl, V)])),
                (
                    "websocket and tcp: invalid, not mixed",
                    (vec![staging(), lit("NATS_URL", "wss://a,tls://b")], vec![(InvalidUrl, V)]),
                ),
                ("ws and nats", (vec![staging(), lit("NATS_URL", "ws://a,nats://b")], vec![(InvalidUrl, V)])),
            ],
        );
        // In production the gate finding for the same value accompanies InvalidURL.
        check(
            &Run::scheduler(),
            vec![
                (
                    "prod http",
                    (
                        vec![prod(), auth(), lit("NATS_URL", "http://a:80")],
                        vec![(InvalidUrl, V), (PlaintextTransport, V)],
                    ),
                ),
                (
                    "prod wss+tls",
                    (
                        vec![prod(), auth(), lit("NATS_URL", "wss://a,tls://b")],
                        vec![(InvalidUrl, V), (TlsSchemeRejected, V)],
                    ),
                ),
            ],
        );
        let r =
            Run::scheduler().run(&[staging(), lit("NATS_URL", "tls://a:4222,nats://b:99999,http://c,ftp://d,x:y,z:0")]);
        let m = msg(&r, InvalidUrl);
        assert!(m.contains("entry 2") && m.contains("entry 3") && m.contains("unsupported scheme `http`"), "{m}");
        assert!(m.contains("and 2 more invalid entries"), "{m}");
        assert_eq!(r.findings.iter().filter(|f| f.code == InvalidUrl).count(), 1, "one finding naming the bad entries");
        let custom_default = Run::scheduler().spec(|s| s.transport.default_url = "tls://nats:4222".into());
        check(&custom_default, vec![("policy default url", (vec![prod(), auth(), ca()], vec![]))]);
        let renamed = Run::scheduler().spec(|s| s.transport.url_var = "BUS_URL".into());
        check(
            &renamed,
            vec![
                ("renamed url var", (vec![prod(), auth(), ca(), lit("BUS_URL", "tls://a:4222")], vec![])),
                (
                    "old name ignored",
                    (vec![prod(), auth(), lit("NATS_URL", "tls://a:4222")], vec![(PlaintextTransport, V)]),
                ),
            ],
        );
    }

    #[test]
    fn the_messages_name_the_fix_and_hide_credentials() {
        let r = Run::scheduler().run(&[prod(), auth(), lit("NATS_URL", "nats://bob:hunter2@nats:4222")]);
        let m = msg(&r, PlaintextTransport);
        assert!(m.contains("nats://***@nats:4222") && !m.contains("hunter2") && m.contains("tls://"), "{m}");
        assert!(m.contains("refuses to start"), "{m}");
        let r = Run::scheduler().run(&[prod(), auth(), ca(), lit("NATS_URL", "tls://a,")]);
        assert!(msg(&r, TlsSchemeRejected).contains("empty entry"), "{:?}", r.findings);
        let r = Run::scheduler().run(&[prod(), auth(), ca(), lit("NATS_URL", "tls://a,wss://b")]);
        assert!(msg(&r, TlsSchemeRejected).contains("entry 2 \"wss://b\""), "{:?}", r.findings);
        // The leak: a password holding a comma.
        let r = Run::scheduler().run(&[prod(), auth(), lit("NATS_URL", "nats://user:s3cretB,x@nats.cordum:4222")]);
        for f in &r.findings {
            assert!(!f.message.contains("s3cretB") && !f.message.contains("user:"), "{}", f.message);
        }
        assert!(r.findings.iter().any(|f| f.code == InvalidUrl));
    }

    #[test]
    fn service_link_references() {
        let r = Run::scheduler().run(&[
            prod(),
            auth(),
            ca(),
            lit("NATS_URL", "tls://$(NATS_SERVICE_HOST):$(NATS_SERVICE_PORT)"),
        ]);
        assert_eq!(codes(&r), vec![], "the scheme is written literally: decided");
        assert_eq!(r.gate_accepts, Some(true));
        let r = Run::scheduler().run(&[prod(), auth(), lit("NATS_URL", "$(NATS_SERVICE_HOST):4222")]);
        assert_eq!(codes(&r), vec![(PlaintextTransport, V)], "a host cannot carry a scheme: bare means nats://");
        let r = Run::scheduler().run(&[prod(), auth(), lit("NATS_URL", "$(NATS_PORT)")]);
        assert_eq!(codes(&r), vec![(Indeterminate, W)], "{:?}", r.findings);
        assert!(msg(&r, Indeterminate).contains("NATS_PORT"));
        assert_eq!(r.gate_accepts, None);
        let r = Run::scheduler().run(&[prod(), auth(), lit("NATS_URL", "$(NATS_PORT_4222_TCP_PROTO)://nats:4222")]);
        assert_eq!(codes(&r), vec![(Indeterminate, W)]);
        // Defined earlier in the manifest: an ordinary reference.
        let r = Run::scheduler().run(&[
            prod(),
            auth(),
            ca(),
            lit("NATS_PORT", "tls://n:4222"),
            lit("NATS_URL", "$(NATS_PORT)"),
        ]);
        assert_eq!(codes(&r), vec![]);
        // A reference in a production variable decides production: unknown.
        let r = Run::scheduler().run(&[lit("CORDUM_ENV", "$(ENV_SERVICE_HOST)"), auth(), lit("NATS_URL", "nats://n")]);
        assert_eq!(r.production, None);
    }
}
