//! Writing results as they are produced: readable text, JSON (docs/ci.md) and SARIF 2.1.0.
//!
//! Every format streams: each workload's results are rendered to bytes on their own (on any
//! thread, see `pool`), written in input order, and the summary comes last, so memory does not
//! grow with the input. In JSON and SARIF every rendered item starts with `,\n`; the writer drops
//! the comma of the first one. Nothing written here holds a value from the input other than
//! kinds, names, paths and the evaluator's (redacted) messages.

use crate::evaluate::WorkloadReport;
use crate::findings::{Code, Severity};
use serde::Serialize;
use std::io::{self, Write};

/// One evaluated workload under one policy.
pub struct Entry<'a> {
    /// Source file as shown (`-` for stdin).
    pub source: &'a str,
    /// 1-based line of the document in the source.
    pub line: usize,
    /// Kubernetes kind (`Deployment`, …).
    pub kind: &'a str,
    /// Namespace, empty when the manifest has none.
    pub namespace: &'a str,
    /// Workload name.
    pub name: &'a str,
    /// The policy it was evaluated under; `None` for the built-in default.
    pub policy: Option<&'a str>,
    /// What the evaluator found.
    pub report: &'a WorkloadReport,
}

/// Totals over the whole run.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Summary {
    /// Workloads evaluated (each once, however many policies select it).
    pub workloads: usize,
    /// Containers evaluated (per policy).
    pub containers: usize,
    /// Workload evaluations with at least one violation.
    pub noncompliant: usize,
    /// Findings by severity.
    pub violations: usize,
    pub warnings: usize,
    pub infos: usize,
    /// Workloads that no policy selected (only when policies were given).
    pub unselected: usize,
    /// Documents or sources that could not be read or parsed.
    pub unreadable: usize,
}

impl Summary {
    /// Adds one evaluated workload (under one policy) to the totals.
    pub fn add(&mut self, report: &WorkloadReport) {
        self.containers += report.containers.len();
        let mut violation = false;
        for f in report.containers.iter().flat_map(|c| &c.findings) {
            match f.severity {
                Severity::Violation => {
                    self.violations += 1;
                    violation = true;
                }
                Severity::Warning => self.warnings += 1,
                Severity::Info => self.infos += 1,
            }
        }
        if violation {
            self.noncompliant += 1;
        }
    }

    /// Adds another part's totals.
    pub fn merge(&mut self, o: &Summary) {
        self.workloads += o.workloads;
        self.containers += o.containers;
        self.noncompliant += o.noncompliant;
        self.violations += o.violations;
        self.warnings += o.warnings;
        self.infos += o.infos;
        self.unselected += o.unselected;
        self.unreadable += o.unreadable;
    }
}

/// A format: what comes before the results, each workload's results, and the summary.
pub trait Format: Sync {
    /// Writes whatever comes before the results.
    fn begin(&self, out: &mut dyn Write) -> io::Result<()>;
    /// Renders the results of one workload under one policy (JSON and SARIF: items each
    /// starting with `,\n`).
    fn render(&self, e: &Entry, out: &mut Vec<u8>);
    /// Writes the summary and closes the document.
    fn finish(&self, s: &Summary, out: &mut dyn Write) -> io::Result<()>;
    /// Whether rendered items are comma-separated (the first comma is dropped).
    fn separated(&self) -> bool {
        true
    }
}

/// Writes rendered results in order, then the summary.
pub struct Writer<'f, W> {
    out: W,
    format: &'f dyn Format,
    first: bool,
}

impl<'f, W: Write> Writer<'f, W> {
    /// Writes what comes before the results.
    pub fn new(mut out: W, format: &'f dyn Format) -> io::Result<Self> {
        format.begin(&mut out)?;
        Ok(Writer { out, format, first: true })
    }

    /// Writes rendered results.
    pub fn write(&mut self, rendered: &[u8]) -> io::Result<()> {
        if rendered.is_empty() {
            return Ok(());
        }
        let skip = usize::from(self.first && self.format.separated() && rendered.first() == Some(&b','));
        self.first = false;
        self.out.write_all(&rendered[skip..])
    }

    /// Writes the summary and flushes.
    pub fn finish(mut self, s: &Summary) -> io::Result<()> {
        if !self.first && self.format.separated() {
            self.out.write_all(b"\n")?;
        }
        self.format.finish(s, &mut self.out)?;
        self.out.flush()
    }
}

// ---------------------------------------------------------------------------------------------
// text

/// Readable text, grouped per workload, with colour when enabled.
pub struct Text {
    colour: bool,
}

impl Text {
    /// `colour`: use ANSI colours (only when stdout is a terminal and `NO_COLOR` is unset).
    pub fn new(colour: bool) -> Self {
        Text { colour }
    }

    fn paint(&self, code: &str, s: &str) -> String {
        if self.colour { format!("\x1b[{code}m{s}\x1b[0m") } else { s.to_owned() }
    }
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

impl Text {
    fn render_to(&self, e: &Entry, out: &mut Vec<u8>) -> io::Result<()> {
        let id = if e.namespace.is_empty() { e.name.to_owned() } else { format!("{}/{}", e.namespace, e.name) };
        let header = self.paint("1", &format!("{} {id}", e.kind));
        let policy = e.policy.map(|p| format!(" [policy {p}]")).unwrap_or_default();
        writeln!(out, "{header} ({}:{}){policy}", e.source, e.line)?;
        if e.report.containers.is_empty() {
            writeln!(out, "  (no containers evaluated)")?;
        }
        for c in &e.report.containers {
            let what = if c.init { "init container" } else { "container" };
            let prod = match (c.client, c.production) {
                (false, _) => "not a NATS client",
                (true, Some(true)) => "production",
                (true, Some(false)) => "not production",
                (true, None) => "production unknown",
            };
            if c.findings.is_empty() {
                let ok = self.paint("32", "ok");
                writeln!(out, "  {what} {} ({prod}): {ok}", c.name)?;
                continue;
            }
            writeln!(out, "  {what} {} ({prod}):", c.name)?;
            for f in &c.findings {
                let (colour, label) = match f.severity {
                    Severity::Violation => ("1;31", "violation"),
                    Severity::Warning => ("33", "warning  "),
                    Severity::Info => ("36", "info     "),
                };
                let label = self.paint(colour, label);
                writeln!(out, "    {label} {}: {}", f.code, f.message)?;
            }
        }
        Ok(())
    }
}

impl Format for Text {
    fn begin(&self, _out: &mut dyn Write) -> io::Result<()> {
        Ok(())
    }

    fn separated(&self) -> bool {
        false
    }

    fn render(&self, e: &Entry, out: &mut Vec<u8>) {
        // Writing to a Vec cannot fail.
        let _ = self.render_to(e, out);
    }

    fn finish(&self, s: &Summary, out: &mut dyn Write) -> io::Result<()> {
        if s.workloads > 0 {
            writeln!(out)?;
        }
        // Never "all compliant" when nothing was judged (docs/ci.md).
        let verdict = if s.workloads == 0 {
            "nothing judged".to_owned()
        } else if s.noncompliant == 0 {
            "all compliant".to_owned()
        } else {
            format!("{} not compliant", plural(s.noncompliant, "workload", "workloads"))
        };
        let mut line = format!(
            "{} checked ({}): {}, {}, {}; {verdict}",
            plural(s.workloads, "workload", "workloads"),
            plural(s.containers, "container", "containers"),
            plural(s.violations, "violation", "violations"),
            plural(s.warnings, "warning", "warnings"),
            plural(s.infos, "info", "infos"),
        );
        if s.unselected > 0 {
            line.push_str(&format!("; {} not selected by any policy", plural(s.unselected, "workload", "workloads")));
        }
        if s.unreadable > 0 {
            line.push_str(&format!("; {} unreadable (see stderr)", plural(s.unreadable, "document", "documents")));
        }
        let colour = if s.violations > 0 || s.unreadable > 0 || s.workloads == 0 {
            "1;31"
        } else if s.warnings > 0 {
            "33"
        } else {
            "32"
        };
        let line = self.paint(colour, &line);
        writeln!(out, "{line}")
    }
}

// ---------------------------------------------------------------------------------------------
// json

/// The JSON object of docs/ci.md, one result per line.
pub struct Json {
    with_policy: bool,
}

impl Json {
    /// `with_policy`: add a `policy` field to each result (when policies came from the input).
    pub fn new(with_policy: bool) -> Self {
        Json { with_policy }
    }
}

#[derive(Serialize)]
struct JsonResult<'a> {
    source: &'a str,
    kind: &'a str,
    namespace: &'a str,
    name: &'a str,
    container: &'a str,
    production: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    policy: Option<&'a str>,
    findings: Vec<JsonFinding<'a>>,
}

#[derive(Serialize)]
struct JsonFinding<'a> {
    code: Code,
    severity: Severity,
    message: &'a str,
}

impl Format for Json {
    fn begin(&self, out: &mut dyn Write) -> io::Result<()> {
        out.write_all(b"{\"results\":[")
    }

    fn render(&self, e: &Entry, out: &mut Vec<u8>) {
        for c in &e.report.containers {
            let r = JsonResult {
                source: e.source,
                kind: e.kind,
                namespace: e.namespace,
                name: e.name,
                container: &c.name,
                production: c.production.unwrap_or(false),
                policy: if self.with_policy { Some(e.policy.unwrap_or("")) } else { None },
                findings: c
                    .findings
                    .iter()
                    .map(|f| JsonFinding { code: f.code, severity: f.severity, message: &f.message })
                    .collect(),
            };
            out.extend_from_slice(b",\n");
            // Serializing these plain fields to a Vec cannot fail.
            let _ = serde_json::to_writer(&mut *out, &r);
        }
    }

    fn finish(&self, s: &Summary, out: &mut dyn Write) -> io::Result<()> {
        writeln!(
            out,
            "],\"summary\":{{\"workloads\":{},\"violations\":{},\"warnings\":{}}}}}",
            s.workloads, s.violations, s.warnings
        )
    }
}

// ---------------------------------------------------------------------------------------------
// sarif

/// SARIF 2.1.0: one rule per finding code, one result per finding, located at the source file
/// and the line of the workload's document.
pub struct Sarif;

/// What each code means, for SARIF rule descriptions.
pub fn describe(code: Code) -> (&'static str, Severity) {
    (code.summary(), code.severity())
}

fn level(s: Severity) -> &'static str {
    match s {
        Severity::Violation => "error",
        Severity::Warning => "warning",
        Severity::Info => "note",
    }
}

/// A path as a SARIF `uri`: relative paths as relative references, absolute ones as `file://`,
/// with characters outside the unreserved set percent-encoded.
pub fn path_uri(path: &str) -> String {
    if path == "-" {
        return "stdin".to_owned();
    }
    let mut out = String::with_capacity(path.len() + 8);
    if path.starts_with('/') {
        out.push_str("file://");
    }
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl Format for Sarif {
    fn begin(&self, out: &mut dyn Write) -> io::Result<()> {
        let rules: Vec<serde_json::Value> = Code::ALL
            .iter()
            .map(|&c| {
                let (text, sev) = describe(c);
                serde_json::json!({
                    "id": c.as_str(),
                    "name": c.as_str(),
                    "shortDescription": {"text": text},
                    "defaultConfiguration": {"level": level(sev)},
                })
            })
            .collect();
        let driver = serde_json::json!({
            "name": "natsguard",
            "version": env!("CARGO_PKG_VERSION"),
            "rules": rules,
        });
        write!(
            out,
            "{{\"version\":\"2.1.0\",\"$schema\":\"https://json.schemastore.org/sarif-2.1.0.json\",\"runs\":[{{\"tool\":{{\"driver\":{}}},\"results\":[",
            driver
        )
    }

    fn render(&self, e: &Entry, out: &mut Vec<u8>) {
        let id = if e.namespace.is_empty() { e.name.to_owned() } else { format!("{}/{}", e.namespace, e.name) };
        let uri = path_uri(e.source);
        for c in &e.report.containers {
            for f in &c.findings {
                let idx = Code::ALL.iter().position(|&x| x == f.code).unwrap_or(0);
                let policy = e.policy.map(|p| format!(" (policy {p})")).unwrap_or_default();
                let r = serde_json::json!({
                    "ruleId": f.code.as_str(),
                    "ruleIndex": idx,
                    "level": level(f.severity),
                    "message": {"text": format!("{} {id}, container {}{policy}: {}", e.kind, c.name, f.message)},
                    "locations": [{
                        "physicalLocation": {
                            "artifactLocation": {"uri": uri},
                            "region": {"startLine": e.line.max(1)},
                        },
                        "logicalLocations": [{
                            "fullyQualifiedName": format!("{}/{id}/{}", e.kind, c.name),
                            "kind": "object",
                        }],
                    }],
                });
                out.extend_from_slice(b",\n");
                let _ = serde_json::to_writer(&mut *out, &r);
            }
        }
    }

    fn finish(&self, s: &Summary, out: &mut dyn Write) -> io::Result<()> {
        writeln!(out, "],\"invocations\":[{{\"executionSuccessful\":{}}}]}}]}}", s.unreadable == 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evaluate::ContainerReport;
    use crate::findings::Finding;

    fn report() -> WorkloadReport {
        WorkloadReport {
            containers: vec![
                ContainerReport {
                    name: "app".into(),
                    client: true,
                    production: Some(true),
                    gate_accepts: Some(false),
                    plaintext_override: Some(false),
                    findings: vec![Finding {
                        code: Code::PlaintextTransport,
                        severity: Severity::Violation,
                        container: "app".into(),
                        message: "m".into(),
                    }],
                    ..Default::default()
                },
                ContainerReport { name: "side".into(), ..Default::default() },
            ],
        }
    }

    fn render(format: &dyn Format, r: &WorkloadReport) -> Vec<u8> {
        let e = Entry {
            source: "a b.yaml",
            line: 3,
            kind: "Deployment",
            namespace: "ns",
            name: "d",
            policy: None,
            report: r,
        };
        let mut s = Summary { workloads: 1, ..Default::default() };
        s.add(r);
        let mut buf = Vec::new();
        let mut w = Writer::new(&mut buf, format).unwrap();
        let mut rendered = Vec::new();
        format.render(&e, &mut rendered);
        w.write(&rendered).unwrap();
        w.finish(&s).unwrap();
        buf
    }

    #[test]
    fn json_is_one_object_with_one_result_per_container() {
        let r = report();
        let buf = render(&Json::new(false), &r);
        let v: serde_json::Value = serde_json::from_slice(&buf).unwrap();
        assert_eq!(v["results"].as_array().unwrap().len(), 2);
        assert_eq!(v["results"][0]["findings"][0]["code"], "PlaintextTransport");
        assert_eq!(v["results"][1]["production"], false);
        assert!(v["results"][0].get("policy").is_none());
        assert_eq!(v["summary"], serde_json::json!({"workloads":1,"violations":1,"warnings":0}));
    }

    #[test]
    fn empty_json_is_valid() {
        let mut buf = Vec::new();
        Writer::new(&mut buf, &Json::new(false)).unwrap().finish(&Summary::default()).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&buf).unwrap();
        assert_eq!(v["results"], serde_json::json!([]));
    }

    #[test]
    fn sarif_has_rules_and_located_results() {
        let r = report();
        let buf = render(&Sarif, &r);
        let v: serde_json::Value = serde_json::from_slice(&buf).unwrap();
        assert_eq!(v["version"], "2.1.0");
        let run = &v["runs"][0];
        assert_eq!(run["tool"]["driver"]["rules"].as_array().unwrap().len(), Code::ALL.len());
        let res = &run["results"][0];
        assert_eq!(res["level"], "error");
        assert_eq!(res["locations"][0]["physicalLocation"]["artifactLocation"]["uri"], "a%20b.yaml");
        assert_eq!(res["locations"][0]["physicalLocation"]["region"]["startLine"], 3);
        let idx = res["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(run["tool"]["driver"]["rules"][idx]["id"], "PlaintextTransport");
    }

    #[test]
    fn text_without_colour_has_no_escape_codes() {
        let r = report();
        let buf = render(&Text::new(false), &r);
        let s = String::from_utf8(buf).unwrap();
        assert!(!s.contains('\x1b'));
        assert!(s.contains("Deployment ns/d (a b.yaml:3)"), "{s}");
        assert!(s.contains("violation PlaintextTransport: m"), "{s}");
        assert!(s.contains("container side (not a NATS client): ok"), "{s}");
        assert!(s.contains("1 workload checked (2 containers): 1 violation"), "{s}");
    }

    #[test]
    fn uris() {
        assert_eq!(path_uri("-"), "stdin");
        assert_eq!(path_uri("/abs/x.yaml"), "file:///abs/x.yaml");
        assert_eq!(path_uri("dir/ü.yaml"), "dir/%C3%BC.yaml");
    }
}
