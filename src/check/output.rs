//! Writing results as they are produced: readable text, JSON (SPEC §6) and SARIF 2.1.0.
//!
//! Every writer streams: one workload's results are written as soon as they are evaluated and
//! the summary comes last, so memory does not grow with the input. Nothing written here holds a
//! value from the input other than kinds, names, paths and the evaluator's (redacted) messages.

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
}

/// A streaming writer of results.
pub trait Sink {
    /// Writes whatever comes before the results.
    fn begin(&mut self) -> io::Result<()>;
    /// Writes the results of one workload under one policy.
    fn workload(&mut self, e: &Entry) -> io::Result<()>;
    /// Writes the summary and closes the document.
    fn finish(&mut self, s: &Summary) -> io::Result<()>;
}

// ---------------------------------------------------------------------------------------------
// text

/// Readable text, grouped per workload, with colour when enabled.
pub struct Text<W> {
    out: W,
    colour: bool,
}

impl<W: Write> Text<W> {
    /// `colour`: use ANSI colours (only when stdout is a terminal and `NO_COLOR` is unset).
    pub fn new(out: W, colour: bool) -> Self {
        Text { out, colour }
    }

    fn paint(&self, code: &str, s: &str) -> String {
        if self.colour { format!("\x1b[{code}m{s}\x1b[0m") } else { s.to_owned() }
    }
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

impl<W: Write> Sink for Text<W> {
    fn begin(&mut self) -> io::Result<()> {
        Ok(())
    }

    fn workload(&mut self, e: &Entry) -> io::Result<()> {
        let id = if e.namespace.is_empty() { e.name.to_owned() } else { format!("{}/{}", e.namespace, e.name) };
        let header = self.paint("1", &format!("{} {id}", e.kind));
        let policy = e.policy.map(|p| format!(" [policy {p}]")).unwrap_or_default();
        writeln!(self.out, "{header} ({}:{}){policy}", e.source, e.line)?;
        if e.report.containers.is_empty() {
            writeln!(self.out, "  (no containers evaluated)")?;
        }
        for c in &e.report.containers {
            let what = if c.init { "init container" } else { "container" };
            let prod = match c.production {
                Some(true) => "production",
                Some(false) => "not production",
                None => "production unknown",
            };
            if c.findings.is_empty() {
                let ok = self.paint("32", "ok");
                writeln!(self.out, "  {what} {} ({prod}): {ok}", c.name)?;
                continue;
            }
            writeln!(self.out, "  {what} {} ({prod}):", c.name)?;
            for f in &c.findings {
                let (colour, label) = match f.severity {
                    Severity::Violation => ("1;31", "violation"),
                    Severity::Warning => ("33", "warning  "),
                    Severity::Info => ("36", "info     "),
                };
                let label = self.paint(colour, label);
                writeln!(self.out, "    {label} {}: {}", f.code, f.message)?;
            }
        }
        Ok(())
    }

    fn finish(&mut self, s: &Summary) -> io::Result<()> {
        if s.workloads > 0 {
            writeln!(self.out)?;
        }
        let mut line = format!(
            "{} checked ({}): {}, {}, {}; {} compliant",
            plural(s.workloads, "workload", "workloads"),
            plural(s.containers, "container", "containers"),
            plural(s.violations, "violation", "violations"),
            plural(s.warnings, "warning", "warnings"),
            plural(s.infos, "info", "infos"),
            if s.noncompliant == 0 {
                "all".to_owned()
            } else {
                format!("{} not", plural(s.noncompliant, "workload", "workloads"))
            },
        );
        if s.unselected > 0 {
            line.push_str(&format!("; {} not selected by any policy", plural(s.unselected, "workload", "workloads")));
        }
        if s.unreadable > 0 {
            line.push_str(&format!("; {} unreadable (see stderr)", plural(s.unreadable, "document", "documents")));
        }
        let colour = if s.violations > 0 || s.unreadable > 0 {
            "1;31"
        } else if s.warnings > 0 {
            "33"
        } else {
            "32"
        };
        let line = self.paint(colour, &line);
        writeln!(self.out, "{line}")?;
        self.out.flush()
    }
}

// ---------------------------------------------------------------------------------------------
// json

/// SPEC §6's JSON object, streamed one result per line.
pub struct Json<W> {
    out: W,
    first: bool,
    with_policy: bool,
}

impl<W: Write> Json<W> {
    /// `with_policy`: add a `policy` field to each result (when policies came from the input).
    pub fn new(out: W, with_policy: bool) -> Self {
        Json { out, first: true, with_policy }
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

impl<W: Write> Sink for Json<W> {
    fn begin(&mut self) -> io::Result<()> {
        self.out.write_all(b"{\"results\":[")
    }

    fn workload(&mut self, e: &Entry) -> io::Result<()> {
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
            self.out.write_all(if self.first { b"\n" } else { b",\n" })?;
            self.first = false;
            serde_json::to_writer(&mut self.out, &r)?;
        }
        Ok(())
    }

    fn finish(&mut self, s: &Summary) -> io::Result<()> {
        if !self.first {
            self.out.write_all(b"\n")?;
        }
        writeln!(
            self.out,
            "],\"summary\":{{\"workloads\":{},\"violations\":{},\"warnings\":{}}}}}",
            s.workloads, s.violations, s.warnings
        )?;
        self.out.flush()
    }
}

// ---------------------------------------------------------------------------------------------
// sarif

/// SARIF 2.1.0: one rule per finding code, one result per finding, located at the source file
/// and the line of the workload's document.
pub struct Sarif<W> {
    out: W,
    first: bool,
}

impl<W: Write> Sarif<W> {
    /// A SARIF writer.
    pub fn new(out: W) -> Self {
        Sarif { out, first: true }
    }
}

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

impl<W: Write> Sink for Sarif<W> {
    fn begin(&mut self) -> io::Result<()> {
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
            self.out,
            "{{\"version\":\"2.1.0\",\"$schema\":\"https://json.schemastore.org/sarif-2.1.0.json\",\"runs\":[{{\"tool\":{{\"driver\":{}}},\"results\":[",
            driver
        )
    }

    fn workload(&mut self, e: &Entry) -> io::Result<()> {
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
                self.out.write_all(if self.first { b"\n" } else { b",\n" })?;
                self.first = false;
                serde_json::to_writer(&mut self.out, &r)?;
            }
        }
        Ok(())
    }

    fn finish(&mut self, s: &Summary) -> io::Result<()> {
        if !self.first {
            self.out.write_all(b"\n")?;
        }
        writeln!(self.out, "],\"invocations\":[{{\"executionSuccessful\":{}}}]}}]}}", s.unreadable == 0)?;
        self.out.flush()
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

    fn render(sink: &mut dyn Sink, r: &WorkloadReport) {
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
        sink.begin().unwrap();
        sink.workload(&e).unwrap();
        sink.finish(&s).unwrap();
    }

    #[test]
    fn json_is_one_object_with_one_result_per_container() {
        let mut buf = Vec::new();
        let r = report();
        render(&mut Json::new(&mut buf, false), &r);
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
        let mut j = Json::new(&mut buf, false);
        j.begin().unwrap();
        j.finish(&Summary::default()).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&buf).unwrap();
        assert_eq!(v["results"], serde_json::json!([]));
    }

    #[test]
    fn sarif_has_rules_and_located_results() {
        let mut buf = Vec::new();
        let r = report();
        render(&mut Sarif::new(&mut buf), &r);
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
        let mut buf = Vec::new();
        let r = report();
        render(&mut Text::new(&mut buf, false), &r);
        let s = String::from_utf8(buf).unwrap();
        assert!(!s.contains('\x1b'));
        assert!(s.contains("Deployment ns/d (a b.yaml:3)"), "{s}");
        assert!(s.contains("violation PlaintextTransport: m"), "{s}");
        assert!(s.contains("container side (production unknown): ok"), "{s}");
        assert!(s.contains("1 workload checked (2 containers): 1 violation"), "{s}");
    }

    #[test]
    fn uris() {
        assert_eq!(path_uri("-"), "stdin");
        assert_eq!(path_uri("/abs/x.yaml"), "file:///abs/x.yaml");
        assert_eq!(path_uri("dir/ü.yaml"), "dir/%C3%BC.yaml");
    }
}
