//! Where manifests come from: the `-f` arguments expanded into an ordered list of sources
//! (files as given, directories searched recursively in sorted path order, `-` for stdin), the
//! kustomizations found on the way (see [`super::kustomize`]), and what a document's kind means
//! to `check`.

use std::fs::File;
use std::io::{self, Read, Write};
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

/// What the `-f` arguments expand to.
#[derive(Debug, Default)]
pub struct Expanded {
    /// Sources in the order they are read.
    pub sources: Vec<Origin>,
    /// Every directory searched (for kustomizations).
    pub dirs: Vec<PathBuf>,
}

/// Expands one `-f` argument: a file as given, a directory searched recursively for `.yaml`,
/// `.yml` and `.json` in sorted path order, `-` as stdin.
pub fn expand(p: &str, out: &mut Expanded) -> Result<(), InputError> {
    if p == "-" {
        out.sources.push(Origin::Stdin);
        return Ok(());
    }
    let path = PathBuf::from(p);
    let meta = std::fs::metadata(&path).map_err(|source| InputError::Open { path: p.to_owned(), source })?;
    if meta.is_dir() {
        let mut found = Vec::new();
        walk(&path, &mut found, &mut out.dirs)?;
        found.sort();
        out.sources.extend(found.into_iter().map(Origin::File));
    } else {
        out.sources.push(Origin::File(path));
    }
    Ok(())
}

fn walk(dir: &Path, found: &mut Vec<PathBuf>, dirs: &mut Vec<PathBuf>) -> Result<(), InputError> {
    dirs.push(dir.to_owned());
    let open_err = |source| InputError::Open { path: dir.display().to_string(), source };
    for entry in std::fs::read_dir(dir).map_err(open_err)? {
        let entry = entry.map_err(|source| InputError::Open { path: dir.display().to_string(), source })?;
        let path = entry.path();
        let ft = entry.file_type().map_err(|source| InputError::Open { path: path.display().to_string(), source })?;
        // Follow symlinks to files, but do not descend into symlinked directories (no loops).
        if ft.is_dir() {
            walk(&path, found, dirs)?;
        } else if has_manifest_ext(&path) && (ft.is_file() || path.is_file()) {
            found.push(path);
        }
    }
    Ok(())
}

fn has_manifest_ext(p: &Path) -> bool {
    matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml" | "json"))
}

/// Opens a source for reading (unbuffered: the reader reads large blocks itself).
pub fn open(origin: &Origin) -> Result<Box<dyn Read + Send>, InputError> {
    match origin {
        Origin::File(p) => {
            let f = File::open(p).map_err(|source| InputError::Open { path: p.display().to_string(), source })?;
            Ok(Box::new(f))
        }
        Origin::Stdin => Ok(Box::new(io::stdin())),
    }
}

/// A document's kind as far as `check` cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A workload with a pod spec that `check` evaluates.
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

/// Workload kinds with a pod spec (docs/ci.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum WorkloadKind {
    Deployment,
    StatefulSet,
    DaemonSet,
    ReplicaSet,
    Job,
    CronJob,
    /// `spec` is the pod spec itself.
    Pod,
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
            WorkloadKind::Pod => "Pod",
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
        "Pod" => Kind::Workload(WorkloadKind::Pod),
        "ConfigMap" => Kind::ConfigMap,
        "NatsTransportPolicy" => Kind::Policy,
        k if k == "List" || k.ends_with("List") => Kind::List,
        _ => Kind::Other,
    }
}

/// Finds the kind of a block-style document from its top-level `kind:` line (at the
/// indentation of the document's first content line) without parsing the document.
pub fn sniff_kind(doc: &str) -> Kind {
    let mut base: Option<usize> = None;
    for l in doc.lines() {
        let indent = l.bytes().take_while(|&b| b == b' ').count();
        let t = &l[indent..];
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        if *base.get_or_insert(indent) != indent {
            continue;
        }
        if let Some(rest) = t.strip_prefix("kind:") {
            let v = rest.split(" #").next().unwrap_or("").trim();
            let v = v.trim_matches(|c| c == '"' || c == '\'');
            return classify(v);
        }
        if matches!(t.as_bytes()[0], b'{' | b'[' | b'!' | b'&' | b'%' | b'-') {
            // Flow style, tags, anchors, directives, a sequence: only a parse can tell.
            return Kind::Unknown;
        }
    }
    // A block mapping without a top-level `kind:` is no Kubernetes object.
    Kind::Other
}

/// Writes an input error to `err` in the `file:line: message` form.
pub fn report(err: &mut dyn Write, e: &InputError) {
    let _ = writeln!(err, "natsguard check: {e}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_top_level_kind_only() {
        assert_eq!(sniff_kind("apiVersion: apps/v1\nkind: Deployment\n"), Kind::Workload(WorkloadKind::Deployment));
        assert_eq!(sniff_kind("kind: \"ConfigMap\" # cm\n"), Kind::ConfigMap);
        assert_eq!(sniff_kind("apiVersion: v1\nkind: List\nitems: []\n"), Kind::List);
        assert_eq!(sniff_kind("metadata:\n  kind: Deployment\n"), Kind::Other);
        assert_eq!(sniff_kind("{\"kind\": \"Deployment\"}"), Kind::Unknown);
        assert_eq!(sniff_kind("   {kind: ConfigMap}\n"), Kind::Unknown);
        assert_eq!(sniff_kind("kind: Service\n"), Kind::Other);
        assert_eq!(sniff_kind("kind: NatsTransportPolicy\n"), Kind::Policy);
        assert_eq!(sniff_kind("apiVersion: v1\nkind: Pod\n"), Kind::Workload(WorkloadKind::Pod));
        // A List item re-based as a document: the kind is at the item's indentation.
        assert_eq!(sniff_kind("  apiVersion: v1\n  kind: ConfigMap\n  metadata:\n    kind: x\n"), Kind::ConfigMap);
        assert_eq!(sniff_kind("# only a comment\n"), Kind::Other);
    }
}
