//! The two readers of the NATS URL variable (docs/reference.md, "URL"): the workload's start-up
//! **gate**, which requires every comma-separated entry, trimmed and lower-cased, to begin with
//! `tls://`, and the **NATS client** (nats.go), which splits, trims each entry and one trailing `/`,
//! drops empty entries, parses each one and encrypts every connection when any entry is `tls://` or
//! `wss://`. They disagree in ways that matter: `tls://a,` encrypts but the gate refuses it (an empty
//! entry); `nats://a,tls://b` encrypts every connection but is refused too.
//!
//! Nothing here ever returns userinfo. Redaction is computed over the raw value before any
//! splitting ([`mask`]), so a password holding `,`, `@`, `/`, `%` or `://` is hidden wherever the
//! split falls; [`UrlError`] carries no text from the value.

use std::fmt;

/// Longest scheme shown back in an error message.
const MAX_SHOWN_SCHEME: usize = 16;

/// A scheme the NATS client supports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// `nats://`: plaintext TCP.
    Nats,
    /// `tls://`: TLS over TCP.
    Tls,
    /// `ws://`: plaintext websocket.
    Ws,
    /// `wss://`: websocket over TLS.
    Wss,
}

impl Scheme {
    /// Whether this scheme makes the client encrypt (`tls`, `wss`).
    pub fn encrypted(self) -> bool {
        matches!(self, Scheme::Tls | Scheme::Wss)
    }

    /// Whether this is a websocket scheme (nats.go refuses pools that mix websocket and TCP).
    pub fn websocket(self) -> bool {
        matches!(self, Scheme::Ws | Scheme::Wss)
    }

    /// The scheme as written in a URL, lowercase.
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Nats => "nats",
            Scheme::Tls => "tls",
            Scheme::Ws => "ws",
            Scheme::Wss => "wss",
        }
    }

    fn from_lowercase(s: &str) -> Option<Scheme> {
        match s {
            "nats" => Some(Scheme::Nats),
            "tls" => Some(Scheme::Tls),
            "ws" => Some(Scheme::Ws),
            "wss" => Some(Scheme::Wss),
            _ => None,
        }
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why one entry is not a usable NATS server URL. Carries no text from the value except a
/// well-formed scheme name, so it is safe to show.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    /// Text before `://` that is not a scheme at all.
    #[error("malformed scheme")]
    MalformedScheme,
    /// Characters a URL host cannot contain (spaces, `/` inside brackets, unbalanced brackets, ...).
    #[error("malformed host")]
    MalformedHost,
    /// A port that is not a number from 1 to 65535.
    #[error("invalid port (must be a number from 1 to 65535)")]
    InvalidPort,
    /// Userinfo with characters a URL cannot carry unescaped.
    #[error("malformed userinfo")]
    MalformedUserinfo,
}

/// Why an entry that nats.go accepts into its pool is still wrong: it can never be dialled, or it
/// works only by accident. Carries no text from the value except a well-formed scheme name.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Flaw {
    /// A scheme nats.go does not know; it ignores it and dials plain TCP.
    #[error("unsupported scheme `{0}` (nats.go ignores it and dials plaintext TCP; use nats, tls, ws or wss)")]
    UnsupportedScheme(String),
    /// No host: nats.go dials this machine (the pod itself).
    #[error("missing host (nats.go would dial the pod itself)")]
    MissingHost,
    /// Port 0 or above 65535: every dial fails.
    #[error("port out of range (must be 1 to 65535), so the entry can never be dialled")]
    PortOutOfRange,
    /// A path, query or fragment without a port: the client appends the default port to the text,
    /// where it lands in the path, so the dial gets no port.
    #[error("a path without a port (the client's default port lands in the path), so the entry can never be dialled")]
    PathWithoutPort,
    /// A host name Go's resolver will not look up (not a DNS name: non-ASCII, `!`, a label over 63
    /// characters, a `:` outside brackets, ...).
    #[error("a host name the resolver will not look up (use an ASCII DNS name, punycode, or an IP address)")]
    UnresolvableHost,
}

/// A successfully parsed server entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerUrl {
    /// The scheme, lowercased as the client does.
    pub scheme: Scheme,
    /// Whether the entry had no `://` and the client prefixed a scheme (`nats://`, or `ws://`
    /// when the first entry is a websocket URL).
    pub implicit_scheme: bool,
    /// Host, without brackets for IPv6.
    pub host: String,
    /// Port if written (an empty port after `:` counts as not written).
    pub port: Option<u16>,
    /// Whether the entry carries userinfo (`user:pass@`).
    pub has_userinfo: bool,
    /// Whether a dial can ever reach it. nats.go accepts the entry into its pool either way (its
    /// scheme still counts for TLS) and, when the dial fails, tries the next server.
    pub dialable: bool,
    /// What is wrong with it although nats.go accepts it (an `InvalidURL` finding names it).
    pub flaw: Option<Flaw>,
}

/// One comma-separated entry, as the client reads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UrlEntry {
    /// 1-based position among the non-empty entries.
    pub index: usize,
    /// The trimmed entry with userinfo redacted; safe to show.
    pub redacted: String,
    /// The parse result.
    pub parsed: Result<ServerUrl, UrlError>,
}

/// What nats.go does with a URL value (no TLS options set): the answer the differential test
/// compares with the real client (docs/natsgo-differential.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientOutcome {
    /// Every connection is TLS (some entry is `tls://` or `wss://`).
    Encrypted,
    /// Connections are plaintext (`nats://`, `ws://`, bare `host:port`).
    Plaintext,
    /// The client refuses the value: an entry that does not parse, or websocket mixed with TCP.
    Refused,
}

/// Everything natsguard needs to know about one URL value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UrlAnalysis {
    /// The gate's test: every raw entry, trimmed and lower-cased, begins with `tls://` (an empty
    /// entry fails, so `tls://a,` and `a,,b` fail).
    pub gate_accepts: bool,
    /// Some raw entry is empty after trimming (a trailing comma, `a,,b`, an empty value).
    pub empty_entry: bool,
    /// Non-empty entries after splitting on `,` and trimming, in order.
    pub entries: Vec<UrlEntry>,
    /// Some valid entry is `tls://` or `wss://`: the client encrypts every connection.
    pub encrypted: bool,
    /// Some valid entry is `nats://`, `ws://` or bare.
    pub has_plaintext_scheme: bool,
    /// Both encrypted and plaintext schemes appear (`MixedSchemes`).
    pub mixed: bool,
    /// Websocket and non-websocket entries appear together; nats.go refuses such a pool.
    pub mixed_websocket: bool,
    /// Some entry carries userinfo (credentials).
    pub has_userinfo: bool,
    /// The whole value with every userinfo replaced by `***` (see [`redact`]).
    pub redacted: String,
}

impl UrlAnalysis {
    /// Entries that are wrong: the client refuses them, can never dial them, or reads them only by
    /// accident (an unknown scheme, no host). `InvalidURL` names them.
    pub fn invalid(&self) -> impl Iterator<Item = &UrlEntry> {
        self.entries.iter().filter(|e| e.parsed.as_ref().map_or(true, |u| u.flaw.is_some()))
    }

    /// Why an invalid entry is wrong, as safe text.
    pub fn why(entry: &UrlEntry) -> String {
        match &entry.parsed {
            Err(e) => format!("{e}, which the client refuses"),
            Ok(u) => u.flaw.as_ref().map(ToString::to_string).unwrap_or_default(),
        }
    }

    /// Whether the client refuses the value outright.
    pub fn refused(&self) -> bool {
        // A parse error or a websocket mix refuses the list; an entry nats.go parses but can never
        // dial only loses that server (an empty host cannot be dialled over TLS: no name to verify).
        let dialable = self
            .entries
            .iter()
            .filter_map(|e| e.parsed.as_ref().ok())
            .any(|u| u.dialable && !(self.encrypted && u.host.is_empty()));
        self.mixed_websocket
            || self.entries.iter().any(|e| e.parsed.is_err())
            || (!self.entries.is_empty() && !dialable)
    }

    /// What the client does with the value.
    pub fn client_outcome(&self) -> ClientOutcome {
        if self.refused() {
            ClientOutcome::Refused
        } else if self.encrypted {
            ClientOutcome::Encrypted
        } else {
            ClientOutcome::Plaintext
        }
    }

    /// Whether the client would end up with a plaintext transport (no encrypted entry).
    pub fn plaintext(&self) -> bool {
        !self.encrypted
    }
}

/// What nats.go does with `raw` (see [`ClientOutcome`]).
pub fn client_outcome(raw: &str) -> ClientOutcome {
    analyze(raw).client_outcome()
}

/// Whether the gate's test passes: every entry, trimmed and lower-cased, begins with `tls://`.
pub fn gate_accepts(raw: &str) -> bool {
    raw.split(',').all(|e| e.trim().to_lowercase().starts_with("tls://"))
}

/// Analyze a URL value as both readers see it. Never panics; linear in the value.
pub fn analyze(raw: &str) -> UrlAnalysis {
    let hidden = mask(raw);
    let mut entries = Vec::new();
    let mut empty_entry = false;
    let mut offset = 0;
    for piece in raw.split(',') {
        let start = offset;
        offset += piece.len() + 1;
        let trimmed = piece.trim();
        if trimmed.is_empty() {
            empty_entry = true;
            continue;
        }
        // The client trims white space, then one trailing '/'.
        let entry = trimmed.strip_suffix('/').unwrap_or(trimmed);
        if entry.is_empty() {
            continue;
        }
        let at = start + (trimmed.as_ptr() as usize - piece.as_ptr() as usize);
        entries.push(UrlEntry {
            index: entries.len() + 1,
            redacted: apply_mask(raw, &hidden, at..at + entry.len()),
            parsed: parse_entry(entry),
        });
    }
    // nats.go prefixes a bare entry with `connScheme()`, which is `ws` once the first entry put
    // the pool in websocket mode (TLS options are applied only after the pool is built).
    if let Some(Ok(first)) = entries.first().map(|e| &e.parsed)
        && first.scheme.websocket()
    {
        for e in entries.iter_mut().skip(1) {
            if let Ok(u) = &mut e.parsed
                && u.implicit_scheme
            {
                u.scheme = Scheme::Ws;
            }
        }
    }
    let valid = || entries.iter().filter_map(|e| e.parsed.as_ref().ok());
    let encrypted = valid().any(|u| u.scheme.encrypted());
    let has_plaintext_scheme = valid().any(|u| !u.scheme.encrypted());
    let has_ws = valid().any(|u| u.scheme.websocket());
    let has_tcp = valid().any(|u| !u.scheme.websocket());
    let has_userinfo = entries.iter().any(|e| match &e.parsed {
        Ok(u) => u.has_userinfo,
        Err(_) => e.redacted.contains('@'),
    });
    UrlAnalysis {
        gate_accepts: gate_accepts(raw),
        empty_entry,
        encrypted,
        has_plaintext_scheme,
        mixed: encrypted && has_plaintext_scheme,
        mixed_websocket: has_ws && has_tcp,
        has_userinfo,
        redacted: apply_mask(raw, &hidden, 0..raw.len()),
        entries,
    }
}

/// Parse one trimmed, non-empty entry like nats.go's `parseServerURL` (Go's `net/url` rules,
/// narrowed to what can work: supported scheme, a host, a port in 1..=65535).
fn parse_entry(entry: &str) -> Result<ServerUrl, UrlError> {
    let (scheme_raw, rest, implicit_scheme) = match entry.find("://") {
        Some(i) => (&entry[..i], &entry[i + 3..], false),
        None => ("nats", entry, true),
    };
    let mut chars = scheme_raw.chars();
    let well_formed = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    if !well_formed {
        return Err(UrlError::MalformedScheme);
    }
    let lower = scheme_raw.to_ascii_lowercase();
    // nats.go speaks NATS over TCP for every scheme but ws/wss; only tls/wss switch TLS on.
    let known = Scheme::from_lowercase(&lower);
    let scheme = known.unwrap_or(Scheme::Nats);
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let has_path = authority_end < rest.len();
    let (userinfo, hostport) = match authority.rfind('@') {
        Some(i) => (Some(&authority[..i]), &authority[i + 1..]),
        None => (None, authority),
    };
    if let Some(ui) = userinfo
        && (!ui.chars().all(valid_userinfo_char) || !escapes_ok(ui, false))
    {
        return Err(UrlError::MalformedUserinfo);
    }
    let (host, port_text, bracketed) = split_host_port(hostport)?;
    if !bracketed && !escapes_ok(host, true) {
        return Err(UrlError::MalformedHost);
    }
    let port = match port_text {
        None | Some("") => None,
        Some(p) if p.bytes().all(|b| b.is_ascii_digit()) => parse_port(p).ok(),
        Some(_) => return Err(UrlError::InvalidPort),
    };
    let port_ok = port.is_some() || port_text.is_none_or(str::is_empty);
    // An empty host dials this machine; an IP literal needs no lookup; a name must be one Go's
    // resolver is willing to look up.
    let host_ok = bracketed || host.is_empty() || host.parse::<std::net::Ipv4Addr>().is_ok() || is_domain_name(host);
    // The client (the version Cordum pins, docs/natsgo-differential.md) appends the default port
    // to the text when the entry has none: behind a path, the dial gets no port.
    let path_ok = port.is_some() || !has_path;
    let flaw = if !port_ok {
        Some(Flaw::PortOutOfRange)
    } else if !path_ok {
        Some(Flaw::PathWithoutPort)
    } else if !host_ok {
        Some(Flaw::UnresolvableHost)
    } else if host.is_empty() {
        Some(Flaw::MissingHost)
    } else {
        known.is_none().then(|| Flaw::UnsupportedScheme(lower.chars().take(MAX_SHOWN_SCHEME).collect()))
    };
    Ok(ServerUrl {
        scheme,
        implicit_scheme,
        host: host.to_string(),
        port,
        has_userinfo: userinfo.is_some(),
        dialable: port_ok && host_ok && path_ok,
        flaw,
    })
}

/// Split `host[:port]` / `[v6][:port]`, validating the host characters as Go's `net/url` does.
fn split_host_port(hostport: &str) -> Result<(&str, Option<&str>, bool), UrlError> {
    if let Some(after_bracket) = hostport.strip_prefix('[') {
        let close = after_bracket.find(']').ok_or(UrlError::MalformedHost)?;
        let host = &after_bracket[..close];
        let tail = &after_bracket[close + 1..];
        // An IPv6 literal, optionally with a zone (`fe80::1%25eth0`).
        let (addr, zone) = host.split_once('%').unwrap_or((host, ""));
        let addr_ok = addr.contains(':') && addr.chars().all(|c| c.is_ascii_hexdigit() || matches!(c, ':' | '.'));
        let zone_ok = zone.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '%' | '-' | '_' | '.'));
        if !addr_ok || !zone_ok {
            return Err(UrlError::MalformedHost);
        }
        return match tail.strip_prefix(':') {
            Some(p) => Ok((host, Some(p), true)),
            None if tail.is_empty() => Ok((host, None, true)),
            None => Err(UrlError::MalformedHost),
        };
    }
    let (host, port) = match hostport.rfind(':') {
        Some(i) => (&hostport[..i], Some(&hostport[i + 1..])),
        None => (hostport, None),
    };
    if port.is_some_and(|p| !p.bytes().all(|b| b.is_ascii_digit())) {
        return Err(UrlError::InvalidPort);
    }
    // A ':' left in the host (`::1:4222`) parses; only the dial fails (`is_domain_name`).
    if !host.chars().all(|c| c == ':' || valid_host_char(c)) {
        return Err(UrlError::MalformedHost);
    }
    Ok((host, port, false))
}

/// Go's `net/url` escapes: `%` and two hex digits; in a host only `%25` or a non-ASCII byte.
fn escapes_ok(s: &str, host: bool) -> bool {
    let b = s.as_bytes();
    let hex = |c: u8| c.is_ascii_hexdigit();
    b.iter().enumerate().filter(|(_, c)| **c == b'%').all(|(i, _)| {
        i + 2 < b.len() && hex(b[i + 1]) && hex(b[i + 2]) && (!host || b[i + 1] >= b'8' || &b[i..i + 3] == b"%25")
    })
}

/// Go's resolver looks up only DNS names (`isDomainName`): letters, digits, `-`, `_`, labels of
/// 1 to 63 bytes not starting with `-` nor ending with `-`, at most 253 bytes, not all digits.
fn is_domain_name(s: &str) -> bool {
    let b = s.as_bytes();
    if b.is_empty() || b.len() > 254 || (b.len() == 254 && b[253] != b'.') {
        return false;
    }
    let (mut last, mut non_numeric, mut part) = (b'.', false, 0usize);
    for &c in b {
        match c {
            b'a'..=b'z' | b'A'..=b'Z' | b'_' => {
                non_numeric = true;
                part += 1;
            }
            b'0'..=b'9' => part += 1,
            b'-' if last != b'.' => {
                non_numeric = true;
                part += 1;
            }
            b'.' if last != b'.' && last != b'-' && (1..=63).contains(&part) => part = 0,
            _ => return false,
        }
        last = c;
    }
    last != b'-' && part <= 63 && non_numeric
}

fn parse_port(p: &str) -> Result<u16, UrlError> {
    if !p.bytes().all(|b| b.is_ascii_digit()) {
        return Err(UrlError::InvalidPort);
    }
    let digits = p.trim_start_matches('0');
    if digits.is_empty() || digits.len() > 5 {
        return Err(UrlError::InvalidPort);
    }
    match digits.parse::<u32>() {
        Ok(n) if (1..=65535).contains(&n) => u16::try_from(n).map_err(|_| UrlError::InvalidPort),
        _ => Err(UrlError::InvalidPort),
    }
}

/// Characters Go's `net/url` accepts unescaped in a host (plus `%` escapes and non-ASCII).
fn valid_host_char(c: char) -> bool {
    !c.is_ascii()
        || c.is_ascii_alphanumeric()
        || matches!(c, '-' | '_' | '.' | '~' | '!' | '$' | '&' | '\'' | '(' | ')' | '*' | '+' | ';' | '=' | '%')
}

/// Characters Go's `net/url` accepts in userinfo.
fn valid_userinfo_char(c: char) -> bool {
    !c.is_ascii()
        || c.is_ascii_alphanumeric()
        || matches!(
            c,
            '-' | '.' | '_' | ':' | '~' | '!' | '$' | '&' | '\'' | '(' | ')' | '*' | '+' | ',' | ';' | '=' | '%' | '@'
        )
}

/// Byte ranges of `raw` that may hold credentials, computed over the whole value before any
/// splitting. For each `@`, the text before it back to the previous `@` (or the start) is a
/// region; the region is hidden from just after its first `://` (or from its start when it has
/// none). This over-redacts rather than under-redacts: a password holding `,`, `/`, `%`, `@` or
/// even `://` is hidden whole, and so may be a host listed before it in the same region.
/// Linear time; every range lies on character boundaries (the delimiters are ASCII).
pub fn mask(raw: &str) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let mut region = 0;
    for (at, _) in raw.match_indices('@') {
        let text = &raw[region..at];
        let from = text.find("://").map_or(region, |i| region + i + 3);
        if from < at {
            out.push(from..at);
        }
        region = at + 1;
    }
    out
}

/// `raw[span]` with the masked bytes replaced: each masked run becomes `***`.
fn apply_mask(raw: &str, hidden: &[std::ops::Range<usize>], span: std::ops::Range<usize>) -> String {
    let mut out = String::with_capacity(span.len());
    let mut pos = span.start;
    for r in hidden {
        let (start, end) = (r.start.max(span.start), r.end.min(span.end));
        if start >= end {
            continue;
        }
        out.push_str(&raw[pos..start]);
        out.push_str("***");
        pos = end;
    }
    out.push_str(&raw[pos..span.end]);
    out
}

/// `raw` with every userinfo replaced by `***`; how natsguard shows any URL value (see [`mask`]).
pub fn redact(raw: &str) -> String {
    apply_mask(raw, &mask(raw), 0..raw.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn one(raw: &str) -> Result<ServerUrl, UrlError> {
        let a = analyze(raw);
        assert_eq!(a.entries.len(), 1, "{raw:?}");
        a.entries[0].parsed.clone()
    }

    #[test]
    fn gate_requires_every_entry_tls() {
        // docs/reference.md, "The gate": every entry, trimmed and lower-cased, begins with tls://.
        for (raw, ok) in [
            ("tls://nats:4222", true),
            ("TLS://a", true),
            ("Tls://nats:4222", true),
            (" tls://a , tls://b", true),
            ("tls://a,TLS://b", true),
            ("\ttls://a\n", true),
            ("tls://a,nats://b", false),
            ("nats://a,tls://b", false),
            ("wss://a", false),
            ("tls://a,", false),
            ("tls://a,,tls://b", false),
            ("a,,b", false),
            (",", false),
            ("", false),
            ("   ", false),
            ("nats.example.com:4222", false),
            ("tls:/nats", false),
            ("tls:", false),
            ("xtls://nats", false),
            ("tls ://a", false),
        ] {
            assert_eq!(gate_accepts(raw), ok, "{raw:?}");
            assert_eq!(analyze(raw).gate_accepts, ok, "{raw:?}");
        }
    }

    #[test]
    fn client_outcomes_follow_nats_go() {
        use ClientOutcome::*;
        for (raw, want) in [
            ("tls://a", Encrypted),
            ("TLS://a", Encrypted),
            ("tls://a,", Encrypted),
            ("nats://a,tls://b", Encrypted),
            ("wss://a", Encrypted),
            ("wss://a,ws://b", Encrypted),
            ("nats://a", Plaintext),
            ("a:4222", Plaintext),
            ("ws://a", Plaintext),
            ("nats://a/", Plaintext),
            ("wss://a,tls://b", Refused),
            ("ws://a,nats://b", Refused),
            ("nats://h:99999", Refused),
        ] {
            assert_eq!(client_outcome(raw), want, "{raw:?}");
        }
    }

    #[test]
    fn client_parses_entries() {
        let u = one("nats://nats:4222").unwrap();
        assert_eq!((u.scheme, u.host.as_str(), u.port, u.implicit_scheme), (Scheme::Nats, "nats", Some(4222), false));
        let u = one("nats.example.com:4222").unwrap();
        assert_eq!(
            (u.scheme, u.host.as_str(), u.port, u.implicit_scheme),
            (Scheme::Nats, "nats.example.com", Some(4222), true)
        );
        let u = one("localhost").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("localhost", None));
        let u = one("TLS://Nats:4222").unwrap();
        assert_eq!(u.scheme, Scheme::Tls);
        let u = one("WsS://h").unwrap();
        assert_eq!(u.scheme, Scheme::Wss);
        let u = one("tls://[::1]:4222").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("::1", Some(4222)));
        let u = one("[fe80::1%25eth0]").unwrap();
        assert_eq!((u.host.as_str(), u.port, u.scheme), ("fe80::1%25eth0", None, Scheme::Nats));
        let u = one("nats://h:").unwrap();
        assert_eq!(u.port, None, "empty port means the default port");
        let u = one("nats://h:4222/some/path?x=1").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("h", Some(4222)));
        let u = one("nats://user:pass@h:4222").unwrap();
        assert!(u.has_userinfo);
        let u = one("nats://tok@h").unwrap();
        assert!(u.has_userinfo);
        assert_eq!(one("nats://h:65535").unwrap().port, Some(65535));
        assert_eq!(one("nats://h:1").unwrap().port, Some(1));
        assert_eq!(one("nats://h:04222").unwrap().port, Some(4222));
    }

    #[test]
    fn client_rejects_garbage() {
        // What Go's URL parser refuses: the client refuses the whole list.
        for (raw, err) in [
            ("://h", UrlError::MalformedScheme),
            ("1nats://h", UrlError::MalformedScheme),
            ("na ts://h", UrlError::MalformedScheme),
            ("nats://h:abc", UrlError::InvalidPort),
            ("nats://h:-1", UrlError::InvalidPort),
            ("h:port", UrlError::InvalidPort),
            ("nats://[::1", UrlError::MalformedHost),
            ("nats://[::1]x", UrlError::MalformedHost),
            ("nats://[zz]:1", UrlError::MalformedHost),
            ("nats://h st:4222", UrlError::MalformedHost),
            ("nats://h|x", UrlError::MalformedHost),
            ("nats://h%zz:4222", UrlError::MalformedHost),
            ("nats://h%41:4222", UrlError::MalformedHost),
            ("nats://us er:pw@h", UrlError::MalformedUserinfo),
            ("nats://u:p%zz@h:4222", UrlError::MalformedUserinfo),
        ] {
            assert_eq!(one(raw), Err(err), "{raw:?}");
        }
    }

    #[test]
    fn flawed_entries_parse_but_are_named() {
        // What nats.go accepts into its pool but can never dial, or reads only by accident.
        for (raw, flaw, dialable) in [
            ("http://h:80", Flaw::UnsupportedScheme("http".into()), true),
            ("HTTPS://h", Flaw::UnsupportedScheme("https".into()), true),
            ("nats://:4222", Flaw::MissingHost, true),
            ("nats://user:pw@", Flaw::MissingHost, true),
            ("nats://h:0", Flaw::PortOutOfRange, false),
            ("nats://h:65536", Flaw::PortOutOfRange, false),
            ("nats://h:99999999999999999999", Flaw::PortOutOfRange, false),
            ("nats://h/path", Flaw::PathWithoutPort, false),
            ("wss://nats.example.com/ws", Flaw::PathWithoutPort, false),
            ("tls:/nats", Flaw::PathWithoutPort, false),
            ("nats://::1:4222", Flaw::UnresolvableHost, false),
            ("nats://ñ:4222", Flaw::UnresolvableHost, false),
            ("nats://a!b:4222", Flaw::UnresolvableHost, false),
            ("nats://-a:4222", Flaw::UnresolvableHost, false),
        ] {
            let u = one(raw).unwrap_or_else(|e| panic!("{raw:?}: {e}"));
            assert_eq!((u.flaw, u.dialable), (Some(flaw), dialable), "{raw:?}");
        }
        let u = one("nats://h:4222/path").unwrap();
        assert_eq!((u.flaw, u.dialable), (None, true), "a port before the path is fine");
        assert_eq!(client_outcome("http://a"), ClientOutcome::Plaintext, "nats.go ignores the scheme");
        assert_eq!(
            client_outcome("tls://h:0,nats://b:4222"),
            ClientOutcome::Encrypted,
            "an undialable tls entry still encrypts"
        );
        assert_eq!(client_outcome("nats://h:0"), ClientOutcome::Refused, "nothing dialable");
    }

    #[test]
    fn lists_split_trim_and_skip_empty() {
        let a = analyze(" nats://a:4222 , ,tls://b:4222,,  c:4222 ,");
        let shown: Vec<&str> = a.entries.iter().map(|e| e.redacted.as_str()).collect();
        assert_eq!(shown, ["nats://a:4222", "tls://b:4222", "c:4222"]);
        assert_eq!(a.entries.iter().map(|e| e.index).collect::<Vec<_>>(), [1, 2, 3]);
        assert!(a.encrypted && a.has_plaintext_scheme && a.mixed);
        assert!(!a.gate_accepts, "empty entries are refused by the gate");
        assert!(a.empty_entry);
        let a = analyze("nats://a:4222/, tls://b/");
        let shown: Vec<&str> = a.entries.iter().map(|e| e.redacted.as_str()).collect();
        assert_eq!(shown, ["nats://a:4222", "tls://b"], "one trailing slash is trimmed");
        assert!(analyze(" , ").entries.is_empty());
        assert!(analyze("").entries.is_empty());
    }

    #[test]
    fn encryption_and_mixing() {
        for (raw, encrypted, mixed, mixed_ws) in [
            ("nats://a", false, false, false),
            ("a:4222", false, false, false),
            ("tls://a", true, false, false),
            ("TLS://a", true, false, false),
            ("wss://a", true, false, false),
            ("ws://a", false, false, false),
            ("tls://a,tls://b", true, false, false),
            ("tls://a,nats://b", true, true, false),
            ("nats://a,TLS://b", true, true, false),
            ("wss://a,ws://b", true, true, false),
            ("wss://a,tls://b", true, false, true),
            ("ws://a,nats://b", false, false, true),
            ("wss://a,b:4222", true, true, false),
            ("ws://a,b:4222", false, false, false),
            ("b:4222,ws://a", false, false, true),
            ("tls://a,http://b", true, true, false),
            ("http://a", false, false, false),
        ] {
            let a = analyze(raw);
            assert_eq!((a.encrypted, a.mixed, a.mixed_websocket), (encrypted, mixed, mixed_ws), "{raw:?}");
        }
    }

    #[test]
    fn userinfo_detected_and_redacted() {
        let a = analyze("nats://alice:s3cr3t@a:4222,tls://b:4222");
        assert!(a.has_userinfo);
        assert_eq!(a.redacted, "nats://***@a:4222,tls://b:4222");
        assert!(!analyze("nats://a:4222").has_userinfo);
        // An invalid entry that still carries an '@' counts as credentials.
        let a = analyze("nats://us er:pw@h");
        assert!(a.has_userinfo);
        assert!(!a.redacted.contains("pw"));
    }

    #[test]
    fn redact_table() {
        for (raw, want) in [
            ("nats://h:4222", "nats://h:4222"),
            ("nats://u:p@h:4222", "nats://***@h:4222"),
            ("nats://tok@h", "nats://***@h"),
            ("u:p@h:4222", "***@h:4222"),
            // Over-redacts: everything after the region's first `://` is hidden, so a password
            // holding `,` or `://` never shows, at the price of the host listed before it.
            ("nats://a,nats://u:p@b", "nats://***@b"),
            ("nats://user:s3cretB,x@nats.cordum:4222", "nats://***@nats.cordum:4222"),
            ("nats://u:p://x@h", "nats://***@h"),
            ("h1,u:p@h2", "***@h2"),
            ("nats://u:p@a,tls://v:q@b", "nats://***@a,tls://***@b"),
            ("nats://u:pa,ss@h", "nats://***@h"),
            ("nats://u:p/w@h", "nats://***@h"),
            ("nats://u:p@x@h", "nats://***@***@h"),
            ("nats://@h", "nats://@h"),
            ("@", "@"),
            ("é://ü:ö@ñ", "é://***@ñ"),
            ("", ""),
        ] {
            assert_eq!(redact(raw), want, "{raw:?}");
        }
    }

    #[test]
    fn error_messages_carry_no_value_text() {
        let a = analyze("nats://u:p/SECRETPW@h:99999");
        for e in a.invalid() {
            let msg = e.parsed.as_ref().err().map(|e| e.to_string()).unwrap_or_default();
            assert!(!msg.contains("SECRETPW"), "{msg}");
            assert!(!e.redacted.contains("SECRETPW"), "{}", e.redacted);
        }
    }

    proptest! {
        #[test]
        fn analyze_and_redact_never_panic(s in any::<String>()) {
            let a = analyze(&s);
            let _ = redact(&s);
            let _ = a.redacted;
        }

        #[test]
        fn analyze_never_panics_on_url_like_text(s in "[a-zA-Z:/@\\[\\]%,. 0-9é]{0,60}") {
            let a = analyze(&s);
            prop_assert_eq!(a.gate_accepts, s.split(',').all(|e| e.trim().to_lowercase().starts_with("tls://")));
            prop_assert_eq!(a.mixed, a.encrypted && a.has_plaintext_scheme);
        }

        #[test]
        fn redact_hides_every_password(
            entries in proptest::collection::vec(
                ("(nats|tls|ws|wss|NATS|TLS|)", "[a-z]{1,6}", "Zq[A-Z0-9]{8}", "[a-z.]{1,12}", "(:[0-9]{1,5})?", "[ ]{0,2}"),
                1..5,
            )
        ) {
            let mut parts = Vec::new();
            let mut secrets = Vec::new();
            for (scheme, user, pw, host, port, pad) in &entries {
                let prefix = if scheme.is_empty() { String::new() } else { format!("{scheme}://") };
                parts.push(format!("{pad}{prefix}{user}:{pw}@{host}{port}{pad}"));
                secrets.push(pw.clone());
            }
            let raw = parts.join(",");
            let shown = redact(&raw);
            let a = analyze(&raw);
            prop_assert!(a.has_userinfo);
            for pw in &secrets {
                prop_assert!(!shown.contains(pw.as_str()), "{} in {}", pw, shown);
                prop_assert!(!a.redacted.contains(pw.as_str()));
                for e in &a.entries {
                    prop_assert!(!e.redacted.contains(pw.as_str()));
                }
            }
        }

        #[test]
        fn redact_is_identity_without_at(s in "[^@]{0,200}") {
            prop_assert_eq!(redact(&s), s);
        }

        #[test]
        fn valid_ports_roundtrip(port in 1u32..=65535) {
            let u = analyze(&format!("nats://h:{port}")).entries[0].parsed.clone();
            prop_assert_eq!(u.map(|u| u.port), Ok(Some(u16::try_from(port).unwrap_or(0))));
        }
    }

    #[test]
    fn huge_input_is_fine() {
        let big = "nats://u:p@h:4222,".repeat(50_000);
        let a = analyze(&big);
        assert_eq!(a.entries.len(), 50_000);
        assert!(!redact(&big).contains("u:p"));
        let weird = "$(".repeat(100_000) + &"\u{1F600}".repeat(1000);
        let _ = analyze(&weird);
    }
}
