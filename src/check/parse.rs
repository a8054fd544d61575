//! Parsing one document (or `List` item) into what `check` keeps of it: a workload record, a
//! ConfigMap's data, a policy, or why it cannot be read.
//!
//! Only the fields evaluation reads are built (docs/ci.md: kind, metadata name, namespace,
//! labels and annotations, and the pod spec's containers' name, image, env and envFrom); `check`
//! is a transport gate, not a schema validator, so a malformed field it does not read is not an
//! error. YAML goes through the fast reader ([`super::fast`]) first and through the full parser
//! (serde_yaml_ng) when the fast reader steps aside; the full parser also gives the message and
//! line of a malformed document. JSON goes through serde_json.

use super::fast;
use super::input::{Kind, WorkloadKind, classify, sniff_kind};
use super::split::{Form, Unit};
use crate::crd::NatsTransportPolicy;
use crate::workload::PodEnv;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;

/// The metadata `check` reads.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct Meta {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub namespace: Option<String>,
    #[serde(default)]
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub annotations: Option<BTreeMap<String, String>>,
}

/// A workload as `check` keeps it between reading and evaluating (in the form of
/// [`super::codec`]).
#[derive(Debug, PartialEq)]
pub struct Record {
    /// Index of its source.
    pub src: usize,
    /// 1-based line of its document (or `List` item) in the source.
    pub line: usize,
    pub kind: WorkloadKind,
    /// The List it was streamed from (dropped if that turns out not to be a List).
    pub group: Option<u64>,
    pub meta: Meta,
    pub pod: PodEnv,
}

/// What one document (or `List` item) is to `check`.
#[derive(Debug)]
pub enum Parsed {
    /// A workload, encoded for the record spool.
    Workload(Vec<u8>),
    ConfigMap {
        namespace: String,
        name: String,
        data: BTreeMap<String, String>,
    },
    Policy(Box<NatsTransportPolicy>),
    /// Not valid YAML/JSON, or not a valid object of its kind.
    Malformed {
        message: String,
    },
    /// An unrendered Helm template.
    Template,
    /// Any other object, or nothing.
    Other,
}

/// A parsed document with where it came from.
#[derive(Debug)]
pub struct Item {
    pub parsed: Parsed,
    /// 1-based line in the source.
    pub line: usize,
    /// The List it was streamed from, if any.
    pub group: Option<u64>,
}

// ---------------------------------------------------------------------------------------------
// slim shapes

/// Deployment, StatefulSet, DaemonSet, ReplicaSet, Job: `spec.template.spec`; CronJob:
/// `spec.jobTemplate.spec.template.spec`.
#[derive(Deserialize)]
struct TemplateDoc {
    #[serde(default)]
    metadata: Option<Meta>,
    #[serde(default)]
    spec: Option<TemplateSpec>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TemplateSpec {
    #[serde(default)]
    template: Option<PodTemplate>,
    #[serde(default)]
    job_template: Option<JobTemplate>,
}

#[derive(Deserialize)]
struct JobTemplate {
    #[serde(default)]
    spec: Option<Box<TemplateSpec>>,
}

#[derive(Deserialize)]
struct PodTemplate {
    #[serde(default)]
    spec: Option<PodEnv>,
}

/// Pod: `spec` is the pod spec itself.
#[derive(Deserialize)]
struct PodDoc {
    #[serde(default)]
    metadata: Option<Meta>,
    #[serde(default)]
    spec: Option<PodEnv>,
}

#[derive(Deserialize)]
struct ConfigMapDoc {
    #[serde(default)]
    metadata: Option<Meta>,
    #[serde(default)]
    data: Option<BTreeMap<String, String>>,
}

#[derive(Deserialize)]
struct KindOnly {
    #[serde(default)]
    kind: Option<String>,
}

#[derive(Deserialize)]
struct ListDoc {
    #[serde(default)]
    items: Option<Vec<serde_json::Value>>,
}

/// A parse failure, with the line relative to the start of the text (1-based) when known.
#[derive(Debug)]
struct ParseError {
    line: Option<usize>,
    message: String,
}

/// How a text is written, and so which parsers read it.
#[derive(Clone, Copy)]
enum Reader {
    Yaml,
    Json,
}

impl Reader {
    /// The fast reader, then the full parser (YAML); serde_json (JSON).
    fn read<T: DeserializeOwned>(self, text: &str) -> Result<T, ParseError> {
        match self {
            Reader::Yaml => match fast::from_str::<T>(text) {
                Ok(v) => Ok(v),
                Err(fast::Fallback) => full_yaml(text),
            },
            Reader::Json => self.full(text),
        }
    }

    /// The full parser only, for the few objects the fast reader does not cover.
    fn full<T: DeserializeOwned>(self, text: &str) -> Result<T, ParseError> {
        match self {
            Reader::Yaml => full_yaml(text),
            Reader::Json => serde_json::from_str::<T>(text).map_err(|e| ParseError {
                line: Some(e.line()).filter(|&l| l > 0),
                message: sanitize(&strip_location(&e.to_string())),
            }),
        }
    }
}

/// The full parser.
fn full_yaml<T: DeserializeOwned>(text: &str) -> Result<T, ParseError> {
    serde_yaml_ng::from_str::<T>(text).map_err(|e| {
        let line = e.location().map(|l| l.line()).filter(|l| *l > 0);
        ParseError { line, message: sanitize(&strip_location(&e.to_string())) }
    })
}

fn workload(r: Reader, text: &str, kind: WorkloadKind) -> Result<(Meta, PodEnv), ParseError> {
    if kind == WorkloadKind::Pod {
        let d: PodDoc = r.read(text)?;
        return Ok((d.metadata.unwrap_or_default(), d.spec.unwrap_or_default()));
    }
    let d: TemplateDoc = r.read(text)?;
    let spec = d.spec.and_then(|s| match kind {
        WorkloadKind::CronJob => s.job_template.and_then(|j| j.spec).and_then(|s| s.template),
        _ => s.template,
    });
    Ok((d.metadata.unwrap_or_default(), spec.and_then(|t| t.spec).unwrap_or_default()))
}

// ---------------------------------------------------------------------------------------------
// units

/// Parses one unit of source `src` into items (several for a `List` that was not streamed).
pub fn unit(src: usize, u: Unit, out: &mut Vec<Item>) {
    let line = u.line;
    let group = u.group;
    let mut push = |parsed: Parsed, at: usize| out.push(Item { parsed, line: at, group });
    let err = |e: ParseError| (Parsed::Malformed { message: e.message }, e.line.map_or(line, |l| line + l - 1));
    if helm_template(&u.text) {
        push(Parsed::Template, content_line(line, &u.text));
        return;
    }
    let r = match u.form {
        Form::Yaml => Reader::Yaml,
        Form::Json => Reader::Json,
    };
    let kind = match r {
        Reader::Yaml => sniff_kind(&u.text),
        Reader::Json => match r.full::<KindOnly>(&u.text) {
            Ok(k) => k.kind.as_deref().map_or(Kind::Other, classify),
            Err(e) => {
                let (p, at) = err(e);
                push(p, at);
                return;
            }
        },
    };
    let at = content_line(line, &u.text);
    match typed(r, src, group, at, &u.text, kind) {
        Ok(items) => {
            for p in items {
                push(p, at);
            }
        }
        Err(e) => {
            let (p, at) = err(e);
            // A YAML error in a document holding `{{` is a template that was not rendered.
            let p = if u.text.contains("{{") { Parsed::Template } else { p };
            push(p, at);
        }
    }
}

/// A document of a known kind: one item, or the items of a `List` that was not streamed.
fn typed(
    r: Reader,
    src: usize,
    group: Option<u64>,
    line: usize,
    text: &str,
    kind: Kind,
) -> Result<Vec<Parsed>, ParseError> {
    Ok(match kind {
        Kind::Workload(k) => {
            let (meta, pod) = workload(r, text, k)?;
            vec![record(Record { src, line, kind: k, group, meta, pod })]
        }
        Kind::ConfigMap => {
            let c: ConfigMapDoc = r.read(text)?;
            let meta = c.metadata.unwrap_or_default();
            vec![Parsed::ConfigMap {
                namespace: meta.namespace.unwrap_or_default(),
                name: meta.name.unwrap_or_default(),
                data: c.data.unwrap_or_default(),
            }]
        }
        // Policies are few and small: the full parser, with the operator's own types.
        Kind::Policy => vec![Parsed::Policy(Box::new(r.full(text)?))],
        Kind::List => {
            let l: ListDoc = r.full(text)?;
            let mut out = Vec::new();
            for v in l.items.unwrap_or_default() {
                from_value(src, group, line, v, &mut out);
            }
            out
        }
        Kind::Other => vec![Parsed::Other],
        Kind::Unknown => {
            let mut out = Vec::new();
            from_value(src, group, line, r.full::<serde_json::Value>(text)?, &mut out);
            if let [Parsed::Malformed { message }] = out.as_mut_slice() {
                return Err(ParseError { line: None, message: std::mem::take(message) });
            }
            out
        }
    })
}

fn record(r: Record) -> Parsed {
    let mut v = Vec::with_capacity(2048);
    super::codec::encode(&r, &mut v);
    Parsed::Workload(v)
}

/// A generic value (a `List` item, a flow-style or JSON document) by its `kind`.
fn from_value(src: usize, group: Option<u64>, line: usize, v: serde_json::Value, out: &mut Vec<Parsed>) {
    let kind = v.get("kind").and_then(|k| k.as_str()).map_or(Kind::Other, classify);
    let bad = |e: serde_json::Error| Parsed::Malformed { message: format!("List item: {}", sanitize(&e.to_string())) };
    let p = match kind {
        Kind::Workload(k) => {
            let r = if k == WorkloadKind::Pod {
                serde_json::from_value::<PodDoc>(v).map(|d| (d.metadata, d.spec))
            } else {
                serde_json::from_value::<TemplateDoc>(v).map(|d| {
                    let spec = d.spec.and_then(|s| match k {
                        WorkloadKind::CronJob => s.job_template.and_then(|j| j.spec).and_then(|s| s.template),
                        _ => s.template,
                    });
                    (d.metadata, spec.and_then(|t| t.spec))
                })
            };
            match r {
                Ok((meta, pod)) => record(Record {
                    src,
                    line,
                    kind: k,
                    group,
                    meta: meta.unwrap_or_default(),
                    pod: pod.unwrap_or_default(),
                }),
                Err(e) => bad(e),
            }
        }
        Kind::ConfigMap => match serde_json::from_value::<ConfigMapDoc>(v) {
            Ok(c) => {
                let meta = c.metadata.unwrap_or_default();
                Parsed::ConfigMap {
                    namespace: meta.namespace.unwrap_or_default(),
                    name: meta.name.unwrap_or_default(),
                    data: c.data.unwrap_or_default(),
                }
            }
            Err(e) => bad(e),
        },
        Kind::Policy => match serde_json::from_value::<NatsTransportPolicy>(v) {
            Ok(p) => Parsed::Policy(Box::new(p)),
            Err(e) => bad(e),
        },
        Kind::List => match serde_json::from_value::<ListDoc>(v) {
            Ok(l) => {
                for v in l.items.unwrap_or_default() {
                    from_value(src, group, line, v, out);
                }
                return;
            }
            Err(e) => bad(e),
        },
        Kind::Other | Kind::Unknown => Parsed::Other,
    };
    out.push(p);
}

/// The first line of a text that holds content (for locations).
pub fn content_line(start: usize, text: &str) -> usize {
    text.lines()
        .position(|l| {
            let t = l.trim_start();
            !t.is_empty() && !t.starts_with('#')
        })
        .map_or(start, |i| start + i)
}

/// Whether a document is a Helm template that was not rendered: a `{{ … }}` action that refers
/// to Helm's own objects or functions (`.Values`, `.Release`, `.Chart`, `include`, `toYaml`, …).
/// Other `{{ … }}` (Prometheus and Alertmanager templates, Argo parameters) are rendered
/// manifests' own content and do not count, unless the document does not parse (see `unit`).
pub fn helm_template(text: &str) -> bool {
    const HELM: [&str; 12] = [
        ".Values",
        ".Release",
        ".Chart",
        ".Capabilities",
        ".Files",
        ".Template",
        "include ",
        "toYaml",
        "tpl ",
        "required ",
        "nindent ",
        "fromYaml",
    ];
    let b = text.as_bytes();
    for i in memchr::memmem::find_iter(b, b"{{") {
        let rest = &b[i + 2..];
        let end = memchr::memmem::find(rest, b"}}").unwrap_or(rest.len()).min(512);
        let action = &rest[..end];
        if HELM.iter().any(|h| memchr::memmem::find(action, h.as_bytes()).is_some()) {
            return true;
        }
    }
    false
}

/// serde says ` at line L column C` relative to the text; the caller reports the line relative
/// to the file instead, so the text-relative position is removed.
pub fn strip_location(msg: &str) -> String {
    let mut out = msg.to_owned();
    while let Some(i) = out.find(" at line ") {
        let rest = &out[i + 9..];
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            break;
        }
        let mut end = i + 9 + digits;
        if let Some(col) = out[end..].strip_prefix(" column ") {
            let d = col.bytes().take_while(u8::is_ascii_digit).count();
            if d > 0 {
                end += 8 + d;
            }
        }
        out.replace_range(i..end, "");
    }
    out
}

/// Removes input values that serde quotes in its messages (`invalid type: string "hunter2",
/// expected …`): a malformed document may hold a password, and error messages must not show it.
/// Field names (`unknown field `x``, `missing field `y``) are kept: they come from the schema.
pub fn sanitize(msg: &str) -> String {
    const VALUE_PREFIXES: [&str; 8] = [
        "string \"",
        "integer `",
        "floating point `",
        "boolean `",
        "character `",
        "unit variant ",
        "invalid value: ",
        "unknown variant `",
    ];
    let mut out = String::with_capacity(msg.len());
    let mut rest = msg;
    'outer: while !rest.is_empty() {
        for p in VALUE_PREFIXES {
            if let Some(tail) = rest.strip_prefix(p) {
                let close = match p.chars().last() {
                    Some('"') => '"',
                    Some('`') => '`',
                    _ => {
                        // `invalid value: <unexpected>, expected …` — recurse on the unexpected part.
                        out.push_str(p);
                        rest = tail;
                        continue 'outer;
                    }
                };
                let kind = p.trim_end_matches(['"', '`']).trim_end();
                out.push_str(kind);
                out.push_str(" (value hidden)");
                rest = match tail.find(close) {
                    Some(i) => &tail[i + 1..],
                    None => "",
                };
                continue 'outer;
            }
        }
        let mut chars = rest.chars();
        if let Some(c) = chars.next() {
            out.push(c);
        }
        rest = chars.as_str();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::split::{Event, split};
    use proptest::prelude::*;

    /// Every YAML workload document and List item under tests/fixtures.
    fn fixture_workloads() -> &'static [(String, WorkloadKind)] {
        static DOCS: std::sync::OnceLock<Vec<(String, WorkloadKind)>> = std::sync::OnceLock::new();
        DOCS.get_or_init(read_fixture_workloads)
    }

    fn read_fixture_workloads() -> Vec<(String, WorkloadKind)> {
        let mut found = Vec::new();
        let mut dirs = vec![std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures"))];
        while let Some(d) = dirs.pop() {
            for e in std::fs::read_dir(d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    dirs.push(p);
                } else if p.extension().is_some_and(|x| x == "yaml" || x == "yml") {
                    let text = std::fs::read(&p).unwrap();
                    let mut g = 0;
                    split(&mut text.as_slice(), &mut g, &mut |ev| {
                        if let Event::Unit(u) = ev
                            && let Kind::Workload(k) = sniff_kind(&u.text)
                        {
                            found.push((u.text, k));
                        }
                    });
                }
            }
        }
        found
    }

    /// The property: when the fast reader answers, the full parser answers the same.
    fn same_or_fallback(text: &str, kind: WorkloadKind) -> Result<bool, String> {
        let full = workload_with(text, kind, true);
        match workload_with(text, kind, false) {
            Err(None) => Ok(false),
            Err(Some(e)) => Err(format!("the fast reader failed without stepping aside: {e}")),
            Ok(fast) => match full {
                Ok(full) if full == fast => Ok(true),
                Ok(full) => Err(format!("readers disagree:\nfast {fast:?}\nfull {full:?}\n{text}")),
                Err(e) => Err(format!("fast reader accepted what the full parser rejects ({e:?}):\n{text}")),
            },
        }
    }

    /// `Err(None)`: the fast reader stepped aside.
    fn workload_with(text: &str, kind: WorkloadKind, full: bool) -> Result<(Meta, PodEnv), Option<String>> {
        fn go<T: DeserializeOwned>(text: &str, full: bool) -> Result<T, Option<String>> {
            if full { full_yaml(text).map_err(|e| Some(e.message)) } else { fast::from_str(text).map_err(|_| None) }
        }
        if kind == WorkloadKind::Pod {
            let d: PodDoc = go(text, full)?;
            return Ok((d.metadata.unwrap_or_default(), d.spec.unwrap_or_default()));
        }
        let d: TemplateDoc = go(text, full)?;
        let spec = d.spec.and_then(|s| match kind {
            WorkloadKind::CronJob => s.job_template.and_then(|j| j.spec).and_then(|s| s.template),
            _ => s.template,
        });
        Ok((d.metadata.unwrap_or_default(), spec.and_then(|t| t.spec).unwrap_or_default()))
    }

    #[test]
    fn fast_reader_agrees_with_the_full_parser_on_every_fixture() {
        let docs = fixture_workloads();
        assert!(docs.len() >= 40, "{}", docs.len());
        let mut fast = 0;
        for (text, kind) in docs {
            let took = same_or_fallback(text, *kind).unwrap_or_else(|e| panic!("{e}"));
            fast += usize::from(took);
            // Valid block style without flow collections, block scalars, anchors, aliases or tags
            // (what renderers write) always takes the fast path; hand-written fixtures with
            // `{name: x}` in env do not, by design.
            let block_only = !text.contains(['{', '[', '|', '>', '&', '*', '!', '\t', '\r']);
            let valid = workload_with(text, *kind, true).is_ok();
            assert!(took || !block_only || !valid, "a valid block-style document fell back:\n{text}");
            if !took && std::env::var_os("NATSGUARD_SHOW_FALLBACKS").is_some() {
                eprintln!("---- fell back:\n{text}");
            }
        }
        assert!(fast >= 15, "fast path taken for only {fast} of {}", docs.len());
    }

    /// Edits that push a document towards what the fast reader must not misread.
    const INSERTS: [&str; 24] = [
        ":", ": ", "\"", "'", "-", "- ", "#", " #", "{", "}", "[", "]", "&a ", "*a", "!!str ", "|", ">", "  ", "\t",
        "? ", "\\", "null", "~", ",",
    ];

    proptest! {
        #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

        /// Mutated fixture documents: whatever the edit, the fast reader either steps aside or
        /// reads exactly what the full parser reads (and never accepts what it rejects).
        #[test]
        fn fast_reader_never_misreads_a_mutated_document(
            doc in 0usize..1000,
            edits in proptest::collection::vec((0usize..10_000, 0usize..200, 0usize..INSERTS.len(), 0u8..4), 1..4),
        ) {
            let docs = fixture_workloads();
            let (text, kind) = &docs[doc % docs.len()];
            let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
            for (line, col, ins, op) in edits {
                let l = line % lines.len();
                let s = &mut lines[l];
                let c = (0..=s.len()).filter(|&i| s.is_char_boundary(i)).nth(col % (s.len() + 1)).unwrap_or(s.len());
                match op {
                    0 => s.insert_str(c, INSERTS[ins]),
                    1 => { if c < s.len() { s.remove(c); } }
                    2 => { let dup = s.clone(); lines.insert(l, dup); }
                    _ => *s = format!("{}{}", " ".repeat(col % 5), s.trim_start()),
                }
            }
            let mutated = lines.join("\n") + "\n";
            if let Err(e) = same_or_fallback(&mutated, *kind) {
                prop_assert!(false, "{}", e);
            }
        }
    }

    #[test]
    fn helm_templates_are_told_from_rendered_go_templates() {
        assert!(helm_template("metadata:\n  name: {{ include \"cordum.fullname\" . }}\n"));
        assert!(helm_template("  value: \"{{ .Values.nats.url }}\"\n"));
        assert!(helm_template("{{- if .Values.enabled }}\nkind: Deployment\n{{- end }}\n"));
        // Alertmanager, Prometheus and Argo templates in rendered manifests are content.
        assert!(!helm_template("summary: '{{ $labels.instance }} down'\ntext: '{{ template \"slack.text\" . }}'\n"));
        assert!(!helm_template("args: ['{{inputs.parameters.message}}']\n"));
    }
}
