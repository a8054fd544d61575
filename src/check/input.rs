//! Reading manifests: finding the files, splitting YAML streams into documents without holding
//! the whole stream, recognising a document's kind cheaply, and parsing the few kinds `check`
//! needs into Kubernetes types (serde_yaml_ng: measured 2.4x faster than serde-saphyr on
//! generated Deployments, see `examples/yaml_bench.rs`; errors carry line numbers).
//!
//! A YAML stream is split on document markers (`---` / `...` at column 0). YAML forbids those
//! markers inside content, so a line-wise split is exact and costs no parse. A document's kind is
//! sniffed from its top-level `kind:` line; only documents of interest are parsed. Documents
//! that do not show their kind that way (flow style, JSON) are parsed to find out.

use crate::crd::NatsTransportPolicy;
use crate::workload::PodEnv;
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Deserialize;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};

/// Where a document came from, as shown in output (`source`) and error messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// A file, named as given on the command line or found under a given directory.
    File(PathBuf),
    /// Standard input, shown as `-`.
    Stdin,
}

impl Origin {
    /// The name shown for this source.
    pub fn display(&self) -> String {
        match self {
            Origin::File(p) => p.display().to_string(),
            Origin::Stdin => "-".to_owned(),
        }
    }
}

/// Why input could not be read.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// A path given with `-f` does not exist or cannot be opened.
    #[error("{path}: {source}")]
    Open { path: String, source: io::Error },
    /// Reading failed part-way (I/O error or text that is not UTF-8).
    #[error("{path}:{line}: cannot read: {source}")]
    Read { path: String, line: usize, source: io::Error },
    /// A document is not valid YAML/JSON or not a valid object of its kind.
    #[error("{path}:{line}: {message}")]
    Malformed { path: String, line: usize, message: String },
}

/// Expands the `-f` arguments into an ordered list of sources: files as given, directories
/// searched recursively for `.yaml`, `.yml` and `.json` in sorted path order, `-` as stdin.
pub fn expand(paths: &[String]) -> Result<Vec<Origin>, InputError> {
    let mut out = Vec::new();
    for p in paths {
        if p == "-" {
            out.push(Origin::Stdin);
            continue;
        }
        let path = PathBuf::from(p);
        let meta = std::fs::metadata(&path).map_err(|source| InputError::Open { path: p.clone(), source })?;
        if meta.is_dir() {
            let mut found = Vec::new();
            walk(&path, &mut found)?;
            found.sort();
            out.extend(found.into_iter().map(Origin::File));
        } else {
            out.push(Origin::File(path));
        }
    }
    Ok(out)
}

fn walk(dir: &Path, found: &mut Vec<PathBuf>) -> Result<(), InputError> {
    let open_err = |source| InputError::Open { path: dir.display().to_string(), source };
    for entry in std::fs::read_dir(dir).map_err(open_err)? {
        let entry = entry.map_err(|source| InputError::Open { path: dir.display().to_string(), source })?;
        let path = entry.path();
        let ft = entry.file_type().map_err(|source| InputError::Open { path: path.display().to_string(), source })?;
        // Follow symlinks to files, but do not descend into symlinked directories (no loops).
        if ft.is_dir() {
            walk(&path, found)?;
        } else if has_manifest_ext(&path) && (ft.is_file() || path.is_file()) {
            found.push(path);
        }
    }
    Ok(())
}

fn has_manifest_ext(p: &Path) -> bool {
    matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml" | "json"))
}

/// Opens a source for reading. Standard input must be spooled by the caller (see
/// [`Spool`]) because `check` reads every source twice.
pub fn open(origin: &Origin) -> Result<Box<dyn BufRead>, InputError> {
    match origin {
        Origin::File(p) => {
            let f = File::open(p).map_err(|source| InputError::Open { path: p.display().to_string(), source })?;
            Ok(Box::new(BufReader::with_capacity(64 * 1024, f)))
        }
        Origin::Stdin => Ok(Box::new(BufReader::with_capacity(64 * 1024, io::stdin()))),
    }
}

/// Standard input copied to a private temporary file as it is read, so that a second pass can
/// read it again without holding it in memory. The file is removed when dropped.
pub struct Spool {
    path: PathBuf,
}

impl Spool {
    /// Copies everything from `input` into a new temporary file.
    pub fn from_reader(mut input: impl Read) -> io::Result<Spool> {
        let nanos =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
        let path = std::env::temp_dir().join(format!("natsguard-check-{}-{nanos}.stdin", std::process::id()));
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let spool = Spool { path };
        let mut f = io::BufWriter::new(opts.open(&spool.path)?);
        io::copy(&mut input, &mut f)?;
        f.flush()?;
        Ok(spool)
    }

    /// Opens the spooled copy for reading.
    pub fn open(&self) -> io::Result<Box<dyn BufRead>> {
        Ok(Box::new(BufReader::with_capacity(64 * 1024, File::open(&self.path)?)))
    }
}

impl Drop for Spool {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Splits a YAML stream into documents, one at a time, reusing one buffer.
pub struct DocReader<R> {
    reader: R,
    /// Lines consumed so far.
    line: usize,
    /// Text after a `--- ` marker on the marker's own line, carried into the next document.
    carry: Option<String>,
    done: bool,
    line_buf: String,
}

impl<R: BufRead> DocReader<R> {
    /// Wraps a buffered reader.
    pub fn new(reader: R) -> Self {
        DocReader { reader, line: 0, carry: None, done: false, line_buf: String::new() }
    }

    /// Reads the next document into `doc` (cleared first) and returns the 1-based line number of
    /// its first line, or `None` at the end of the stream. Empty documents (only blank lines and
    /// comments) are returned too; their kind sniffs as `Other`.
    pub fn next_doc(&mut self, doc: &mut String) -> io::Result<Option<usize>> {
        doc.clear();
        if self.done {
            return Ok(None);
        }
        let mut start = self.line + 1;
        if let Some(c) = self.carry.take() {
            // `--- {kind: X}`: the content begins on the marker line itself.
            start = self.line;
            doc.push_str(&c);
            doc.push('\n');
        }
        loop {
            self.line_buf.clear();
            let n = self.reader.read_line(&mut self.line_buf)?;
            if n == 0 {
                self.done = true;
                return Ok(Some(start));
            }
            self.line += 1;
            let l = self.line_buf.as_str();
            if let Some(rest) = marker(l, "---") {
                let rest = rest.trim();
                if !rest.is_empty() && !rest.starts_with('#') {
                    self.carry = Some(format!("   {rest}"));
                }
                return Ok(Some(start));
            }
            if marker(l, "...").is_some() {
                // Document end: what follows until the next `---` is a new document.
                return Ok(Some(start));
            }
            doc.push_str(l);
        }
    }
}

/// `Some(rest of line)` when `line` is the document marker `m` at column 0.
fn marker<'a>(line: &'a str, m: &str) -> Option<&'a str> {
    let rest = line.strip_prefix(m)?;
    if rest.is_empty() || rest.starts_with([' ', '\t', '\r', '\n']) { Some(rest) } else { None }
}

/// A document's kind as far as `check` cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A workload with a pod template that `check` evaluates.
    Workload(WorkloadKind),
    /// A ConfigMap (resolves references).
    ConfigMap,
    /// A NatsTransportPolicy (selects and configures).
    Policy,
    /// A `kind: List` (or `…List`) holding `items`.
    List,
    /// Something else: ignored.
    Other,
    /// Not visible without parsing (flow style, JSON, no top-level `kind:` line).
    Unknown,
}

/// Workload kinds with a pod template.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum WorkloadKind {
    Deployment,
    StatefulSet,
    DaemonSet,
    ReplicaSet,
    Job,
    CronJob,
}

impl WorkloadKind {
    /// The Kubernetes kind name.
    pub fn as_str(self) -> &'static str {
        match self {
            WorkloadKind::Deployment => "Deployment",
            WorkloadKind::StatefulSet => "StatefulSet",
            WorkloadKind::DaemonSet => "DaemonSet",
            WorkloadKind::ReplicaSet => "ReplicaSet",
            WorkloadKind::Job => "Job",
            WorkloadKind::CronJob => "CronJob",
        }
    }
}

/// Maps a kind name to what `check` does with it.
pub fn classify(kind: &str) -> Kind {
    match kind {
        "Deployment" => Kind::Workload(WorkloadKind::Deployment),
        "StatefulSet" => Kind::Workload(WorkloadKind::StatefulSet),
        "DaemonSet" => Kind::Workload(WorkloadKind::DaemonSet),
        "ReplicaSet" => Kind::Workload(WorkloadKind::ReplicaSet),
        "Job" => Kind::Workload(WorkloadKind::Job),
        "CronJob" => Kind::Workload(WorkloadKind::CronJob),
        "ConfigMap" => Kind::ConfigMap,
        "NatsTransportPolicy" => Kind::Policy,
        k if k == "List" || k.ends_with("List") => Kind::List,
        _ => Kind::Other,
    }
}

/// Finds the kind from a top-level `kind:` line without parsing the document.
pub fn sniff_kind(doc: &str) -> Kind {
    for l in doc.lines() {
        if let Some(rest) = l.strip_prefix("kind:") {
            let v = rest.split(" #").next().unwrap_or("").trim();
            let v = v.trim_matches(|c| c == '"' || c == '\'');
            return classify(v);
        }
    }
    // A block mapping without a top-level `kind:` is no Kubernetes object; anything else
    // (flow style, JSON) must be parsed to tell.
    let first = doc.lines().map(str::trim_start).find(|t| !t.is_empty() && !t.starts_with('#') && !t.starts_with('%'));
    match first {
        Some(t) if t.starts_with('{') || t.starts_with('[') || t.starts_with('!') || t.starts_with('&') => {
            Kind::Unknown
        }
        _ => Kind::Other,
    }
}

/// A workload with the parts of it that `check` reads.
#[derive(Debug)]
pub struct Workload {
    /// Its kind.
    pub kind: WorkloadKind,
    /// Name, namespace, labels and annotations.
    pub metadata: ObjectMeta,
    /// The pod template's containers (none when the manifest has no template).
    pub pod: PodEnv,
}

/// A parsed document (or `List` item) of interest.
#[derive(Debug)]
pub enum Object {
    Workload(Box<Workload>),
    ConfigMap(Box<ConfigMap>),
    Policy(Box<NatsTransportPolicy>),
    List(Vec<serde_json::Value>),
    Other,
}

/// A parse failure, with the line relative to the start of the document (1-based) when known.
#[derive(Debug)]
pub struct ParseError {
    /// 1-based line within the document, when the parser knows it.
    pub line: Option<usize>,
    /// What is wrong, without any value from the input.
    pub message: String,
}

/// Parses one document of a known kind. `Kind::Unknown` documents are parsed generically first.
pub fn parse(doc: &str, kind: Kind) -> Result<Object, ParseError> {
    if looks_like_json(doc) {
        return parse_json(doc);
    }
    match kind {
        Kind::Workload(w) => parse_workload_yaml(doc, w).map(|w| Object::Workload(Box::new(w))),
        Kind::ConfigMap => yaml::<ConfigMap>(doc).map(|c| Object::ConfigMap(Box::new(c))),
        Kind::Policy => yaml::<NatsTransportPolicy>(doc).map(|p| Object::Policy(Box::new(p))),
        Kind::List => yaml::<ListDoc>(doc).map(|l| Object::List(l.items)),
        Kind::Other => Ok(Object::Other),
        Kind::Unknown => {
            let v = yaml::<serde_json::Value>(doc)?;
            from_value(v)
        }
    }
}

fn looks_like_json(doc: &str) -> bool {
    doc.lines().map(str::trim_start).find(|t| !t.is_empty() && !t.starts_with('#')).is_some_and(|t| t.starts_with('{'))
}

fn parse_json(doc: &str) -> Result<Object, ParseError> {
    match serde_json::from_str::<serde_json::Value>(doc) {
        Ok(v) => from_value(v),
        // Flow-style YAML that is not JSON: let the YAML parser have it.
        Err(e) if e.is_syntax() || e.is_eof() => match yaml::<serde_json::Value>(doc) {
            Ok(v) => from_value(v),
            Err(_) => Err(ParseError { line: Some(e.line()), message: sanitize(&strip_location(&e.to_string())) }),
        },
        Err(e) => Err(ParseError { line: Some(e.line()), message: sanitize(&strip_location(&e.to_string())) }),
    }
}

/// Converts a generic value (a JSON document or a `List` item) to an object by its `kind`.
pub fn from_value(v: serde_json::Value) -> Result<Object, ParseError> {
    let kind = v.get("kind").and_then(|k| k.as_str()).map(classify).unwrap_or(Kind::Other);
    let json_err = |e: serde_json::Error| ParseError { line: None, message: sanitize(&e.to_string()) };
    Ok(match kind {
        Kind::Workload(w) => Object::Workload(Box::new(workload_from_value(v, w).map_err(json_err)?)),
        Kind::ConfigMap => Object::ConfigMap(Box::new(serde_json::from_value(v).map_err(json_err)?)),
        Kind::Policy => Object::Policy(Box::new(serde_json::from_value(v).map_err(json_err)?)),
        Kind::List => Object::List(serde_json::from_value::<ListDoc>(v).map_err(json_err)?.items),
        Kind::Other | Kind::Unknown => Object::Other,
    })
}

#[derive(Deserialize)]
struct ListDoc {
    #[serde(default)]
    items: Vec<serde_json::Value>,
}

fn yaml<T: serde::de::DeserializeOwned>(doc: &str) -> Result<T, ParseError> {
    serde_yaml_ng::from_str::<T>(doc).map_err(|e| {
        let line = e.location().map(|l| l.line()).filter(|l| *l > 0);
        ParseError { line, message: sanitize(&strip_location(&e.to_string())) }
    })
}

/// serde_yaml_ng says ` at line L column C` relative to the document; the caller reports the
/// line relative to the file instead, so the document-relative position is removed.
fn strip_location(msg: &str) -> String {
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

/// The parts of a workload that `check` reads. Deserializing only these (with the Kubernetes
/// types for metadata, env and envFrom) skips the rest of the document cheaply: `check` is a
/// transport gate, not a schema validator, so a malformed field it does not read is not an error.
#[derive(Deserialize)]
struct SlimWorkload {
    #[serde(default)]
    metadata: ObjectMeta,
    #[serde(default)]
    spec: Option<SlimSpec>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SlimSpec {
    /// Deployment, StatefulSet, DaemonSet, ReplicaSet, Job.
    #[serde(default)]
    template: Option<SlimTemplate>,
    /// CronJob: `spec.jobTemplate.spec.template`.
    #[serde(default)]
    job_template: Option<SlimJobTemplate>,
}

#[derive(Deserialize)]
struct SlimJobTemplate {
    #[serde(default)]
    spec: Option<Box<SlimSpec>>,
}

#[derive(Deserialize)]
struct SlimTemplate {
    #[serde(default)]
    spec: Option<PodEnv>,
}

impl SlimWorkload {
    fn into_workload(self, kind: WorkloadKind) -> Workload {
        let spec = self.spec.and_then(|s| match kind {
            WorkloadKind::CronJob => s.job_template.and_then(|j| j.spec).and_then(|s| s.template),
            _ => s.template,
        });
        let pod = spec.and_then(|t| t.spec).unwrap_or_default();
        Workload { kind, metadata: self.metadata, pod }
    }
}

fn parse_workload_yaml(doc: &str, kind: WorkloadKind) -> Result<Workload, ParseError> {
    let mut pruned = String::new();
    super::prune::prune(doc, &mut pruned);
    match yaml::<SlimWorkload>(&pruned) {
        Ok(w) => Ok(w.into_workload(kind)),
        // Report errors exactly as the original document has them.
        Err(_) => Ok(yaml::<SlimWorkload>(doc)?.into_workload(kind)),
    }
}

fn workload_from_value(v: serde_json::Value, kind: WorkloadKind) -> Result<Workload, serde_json::Error> {
    Ok(serde_json::from_value::<SlimWorkload>(v)?.into_workload(kind))
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

/// Writes a malformed-document error to `err` in the `file:line: message` form.
pub fn report(err: &mut dyn Write, e: &InputError) {
    let _ = writeln!(err, "natsguard check: {e}");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn docs(s: &str) -> Vec<(usize, String)> {
        let mut r = DocReader::new(s.as_bytes());
        let mut out = Vec::new();
        let mut buf = String::new();
        while let Some(line) = r.next_doc(&mut buf).unwrap() {
            out.push((line, buf.clone()));
        }
        out
    }

    #[test]
    fn splits_on_markers_with_line_numbers() {
        let d = docs("a: 1\n---\nb: 2\nc: 3\n--- # comment\nd: 4\n...\n---\ne: 5\n");
        let got: Vec<(usize, &str)> = d.iter().map(|(l, t)| (*l, t.as_str())).collect();
        assert_eq!(got, vec![(1, "a: 1\n"), (3, "b: 2\nc: 3\n"), (6, "d: 4\n"), (8, ""), (9, "e: 5\n")]);
    }

    #[test]
    fn leading_marker_and_markers_that_are_not() {
        let d = docs("---\nkind: ConfigMap\ndata:\n  x: ---\n  y: |\n    ----\n");
        assert_eq!(d.len(), 2);
        assert_eq!(d[0], (1, String::new()));
        assert_eq!(d[1].0, 2);
        assert!(d[1].1.contains("----"));
    }

    #[test]
    fn content_on_the_marker_line() {
        let d = docs("--- {kind: ConfigMap}\n");
        assert_eq!(d.len(), 2);
        assert_eq!(d[1].0, 1);
        assert_eq!(sniff_kind(&d[1].1), Kind::Unknown);
    }

    #[test]
    fn sniffs_top_level_kind_only() {
        assert_eq!(sniff_kind("apiVersion: apps/v1\nkind: Deployment\n"), Kind::Workload(WorkloadKind::Deployment));
        assert_eq!(sniff_kind("kind: \"ConfigMap\" # cm\n"), Kind::ConfigMap);
        assert_eq!(sniff_kind("apiVersion: v1\nkind: List\nitems: []\n"), Kind::List);
        assert_eq!(sniff_kind("metadata:\n  kind: Deployment\n"), Kind::Other);
        assert_eq!(sniff_kind("{\"kind\": \"Deployment\"}"), Kind::Unknown);
        assert_eq!(sniff_kind("kind: Service\n"), Kind::Other);
        assert_eq!(sniff_kind("kind: NatsTransportPolicy\n"), Kind::Policy);
    }

    #[test]
    fn sanitize_hides_values_keeps_field_names() {
        let m = sanitize("invalid type: string \"hunter2\", expected a sequence at line 3");
        assert!(!m.contains("hunter2"), "{m}");
        assert!(m.contains("expected a sequence"));
        let m = sanitize("invalid type: integer `123456`, expected a string");
        assert!(!m.contains("123456"), "{m}");
        assert_eq!(sanitize("missing field `name`"), "missing field `name`");
        assert_eq!(sanitize("unknown field `foo`, expected one of `a`"), "unknown field `foo`, expected one of `a`");
    }

    #[test]
    fn document_relative_positions_are_removed() {
        assert_eq!(
            strip_location("did not find expected ',' at line 11 column 1, while parsing a flow mapping"),
            "did not find expected ',', while parsing a flow mapping"
        );
        assert_eq!(strip_location("missing field `name` at line 3 column 5"), "missing field `name`");
        assert_eq!(strip_location("at line x"), "at line x");
    }

    #[test]
    fn parses_deployment_and_reports_line_of_error() {
        let ok = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: a\nspec:\n  selector: {}\n  template:\n    spec:\n      containers:\n      - name: c\n        image: x\n";
        match parse(ok, sniff_kind(ok)) {
            Ok(Object::Workload(w)) => {
                assert_eq!(w.metadata.name.as_deref(), Some("a"));
                assert_eq!(w.pod.containers.len(), 1);
            }
            other => panic!("{other:?}"),
        }
        let bad = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: a\nspec:\n  template:\n    spec:\n      containers: [\n";
        let e = match parse(bad, sniff_kind(bad)) {
            Err(e) => e,
            Ok(o) => panic!("{o:?}"),
        };
        assert!(e.line.is_some_and(|l| l >= 8), "{e:?}");
    }

    #[test]
    fn pruning_never_changes_what_is_read() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
        let files = expand(&[dir.to_owned()]).unwrap();
        let mut compared = 0;
        for f in files {
            let mut r = DocReader::new(open(&f).unwrap());
            let mut doc = String::new();
            while r.next_doc(&mut doc).unwrap().is_some() {
                let Kind::Workload(kind) = sniff_kind(&doc) else {
                    continue;
                };
                let Ok(full) = yaml::<SlimWorkload>(&doc) else {
                    continue;
                };
                let full = full.into_workload(kind);
                let pruned = parse_workload_yaml(&doc, kind).unwrap();
                assert_eq!(full.metadata, pruned.metadata, "{f:?}");
                assert_eq!(full.pod, pruned.pod, "{f:?}");
                compared += 1;
            }
        }
        assert!(compared >= 10, "{compared}");
    }

    #[test]
    fn parses_json_and_lists() {
        let j = r#"{"apiVersion":"v1","kind":"List","items":[{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"},"data":{"k":"v"}}]}"#;
        match parse(j, sniff_kind(j)) {
            Ok(Object::List(items)) => {
                assert!(matches!(from_value(items[0].clone()), Ok(Object::ConfigMap(_))));
            }
            other => panic!("{other:?}"),
        }
    }
}
