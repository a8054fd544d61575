//! `natsguard check`: the offline CI gate over rendered manifests (SPEC §6).
//!
//! Two passes over the input, neither holding more than one document at a time (besides the
//! ConfigMaps and policies it collects): pass 1 collects ConfigMaps and `NatsTransportPolicy`
//! objects, skipping other documents by their `kind:` line without parsing them; pass 2 parses
//! and evaluates each workload as it is read and writes its results at once. Standard input is
//! spooled to a private temporary file for the second pass.
//!
//! Decisions where the contract is silent:
//! - No `-f`: standard input is read when it is not a terminal; otherwise it is a usage error (2).
//! - Exit status precedence: 2 (unreadable input or bad usage) over 1 (findings at or above
//!   `--fail-on`) over 0. A malformed document is reported on stderr as `file:line: message`,
//!   every other document is still evaluated and reported, and the status is 2.
//! - `production` in JSON is `false` when it cannot be determined; the evaluator then reports an
//!   `Indeterminate` finding on that container.
//! - `namespace` in JSON is `""` for manifests without `metadata.namespace`.
//! - ConfigMaps match by namespace exactly (unset matches unset). ConfigMaps not in the input are
//!   unknown offline, so values they would supply are indeterminate.
//! - A policy selects workloads in its namespace; when either the policy or the workload has no
//!   namespace, namespaces do not constrain. Suspended policies select nothing. A workload
//!   selected by several policies is evaluated under each, and each result names its policy.
//!   When policies are given, JSON results carry an extra `policy` field (`namespace/name`), and
//!   workloads no policy selects are not evaluated (counted in the text summary).
//! - Besides Deployments, StatefulSets, DaemonSets, ReplicaSets, Jobs and CronJobs are evaluated
//!   (their pod templates), selected by the same label selectors.
//! - `now` is the real clock, read once; there is no incident offline, so a `rollback-by`
//!   annotation in the past makes an active override overdue.

mod input;
mod output;
mod prune;
mod select;

use crate::evaluate::{EvalContext, WorkloadInput, evaluate_workload};
use input::{DocReader, InputError, Kind, Object, Origin, Spool, Workload};
use output::{Entry, Sink, Summary};
use select::{ConfigMaps, Policies, Policy};

use crate::findings::Severity;
use k8s_openapi::jiff::Timestamp;
use std::collections::BTreeMap;
use std::io::{self, BufRead, IsTerminal, Write};
use std::process::ExitCode;

/// Output formats.
#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Format {
    /// Readable text grouped per workload (colour on a terminal unless NO_COLOR is set).
    #[default]
    Text,
    /// One JSON object: `results` (one per container) and `summary`.
    Json,
    /// SARIF 2.1.0 for code-scanning tools.
    Sarif,
}

/// The lowest severity that fails the check.
#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FailOn {
    /// Exit 1 when any violation is found.
    #[default]
    Violation,
    /// Exit 1 when any violation or warning is found.
    Warning,
    /// Never exit 1 (still exits 2 on unreadable input).
    Never,
}

/// Arguments of `natsguard check`.
#[derive(clap::Args, Debug, Clone)]
pub struct CheckArgs {
    /// Manifest file, directory (searched recursively for .yaml, .yml, .json) or `-` for stdin.
    /// Repeatable. Without it, stdin is read when it is not a terminal.
    #[arg(short = 'f', long = "filename", value_name = "PATH")]
    pub files: Vec<String>,
    /// File with NatsTransportPolicy objects that select and configure (repeatable). Policies in
    /// the input count too; without any, the cordum profile applies to every workload.
    #[arg(long = "policy", value_name = "FILE")]
    pub policy: Vec<String>,
    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value_t = Format::Text)]
    pub output: Format,
    /// Lowest severity that makes the exit status 1.
    #[arg(long = "fail-on", value_enum, default_value_t = FailOn::Violation)]
    pub fail_on: FailOn,
}

/// Runs `natsguard check` with the real clock, stdin, stdout and stderr.
pub fn main(args: CheckArgs) -> ExitCode {
    let now = Timestamp::now();
    let stdin_tty = io::stdin().is_terminal();
    let colour = io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let stdout = io::stdout().lock();
    let out = io::BufWriter::with_capacity(64 * 1024, stdout);
    let mut err = io::stderr().lock();
    ExitCode::from(run(&args, now, stdin_tty, colour, out, &mut err))
}

/// Where each source is read from in the second pass.
struct Source {
    origin: Origin,
    shown: String,
    /// The read failed in pass 1 (already reported): do not report again.
    failed: bool,
}

/// The whole command, with its environment passed in. Returns the exit status.
pub fn run(
    args: &CheckArgs,
    now: Timestamp,
    stdin_tty: bool,
    colour: bool,
    out: impl Write,
    err: &mut dyn Write,
) -> u8 {
    let mut unreadable = 0usize;

    // Sources.
    let mut paths = args.files.clone();
    if paths.is_empty() {
        if stdin_tty {
            let _ = writeln!(
                err,
                "natsguard check: no input: give -f PATH (file, directory or - for stdin) or pipe manifests on stdin"
            );
            return 2;
        }
        paths.push("-".to_owned());
    }
    let mut sources = Vec::new();
    for p in &paths {
        match input::expand(std::slice::from_ref(p)) {
            Ok(found) => {
                sources.extend(found.into_iter().map(|o| Source { shown: o.display(), origin: o, failed: false }))
            }
            Err(e) => {
                input::report(err, &e);
                unreadable += 1;
            }
        }
    }
    let spool = if sources.iter().any(|s| s.origin == Origin::Stdin) {
        match Spool::from_reader(io::stdin().lock()) {
            Ok(s) => Some(s),
            Err(e) => {
                let _ = writeln!(err, "natsguard check: -: cannot read stdin: {e}");
                return 2;
            }
        }
    } else {
        None
    };
    let open = |o: &Origin| -> Result<Box<dyn BufRead>, InputError> {
        match (o, &spool) {
            (Origin::Stdin, Some(s)) => s.open().map_err(|source| InputError::Open { path: "-".into(), source }),
            _ => input::open(o),
        }
    };

    // Pass 1: ConfigMaps and policies.
    let mut cms = ConfigMaps::default();
    let mut policies = Vec::new();
    for file in &args.policy {
        let origin = Origin::File(file.into());
        let before = policies.len();
        let mut scratch = ConfigMaps::default();
        match input::open(&origin) {
            Ok(r) => {
                let (bad, _) = collect(r, file, &mut scratch, &mut policies, err);
                unreadable += bad;
            }
            Err(e) => {
                input::report(err, &e);
                unreadable += 1;
                continue;
            }
        }
        if policies.len() == before {
            let _ = writeln!(err, "natsguard check: {file}: --policy file holds no NatsTransportPolicy");
            return 2;
        }
    }
    for s in &mut sources {
        match open(&s.origin) {
            Ok(r) => {
                let (bad, failed) = collect(r, &s.shown, &mut cms, &mut policies, err);
                unreadable += bad;
                s.failed = failed;
            }
            Err(e) => {
                input::report(err, &e);
                unreadable += 1;
                s.failed = true;
            }
        }
    }
    let policies = Policies::new(policies);

    // Pass 2: evaluate workloads as they are read.
    let ctx = EvalContext::at(now);
    let mut summary = Summary::default();
    let mut sink: Box<dyn Sink> = match args.output {
        Format::Text => Box::new(output::Text::new(out, colour)),
        Format::Json => Box::new(output::Json::new(out, policies.explicit())),
        Format::Sarif => Box::new(output::Sarif::new(out)),
    };
    let mut write_failed = sink.begin().is_err();
    let mut ev = Evaluator {
        policies: &policies,
        cms: &cms,
        ctx: &ctx,
        summary: &mut summary,
        sink: sink.as_mut(),
        write_failed: false,
    };
    for s in &sources {
        let Ok(r) = open(&s.origin) else { continue };
        unreadable += evaluate_source(r, s, &mut ev, err);
    }
    write_failed |= ev.write_failed;
    summary.unreadable = unreadable;
    write_failed |= sink.finish(&summary).is_err();
    if write_failed {
        let _ = writeln!(err, "natsguard check: cannot write the results");
        return 2;
    }

    let threshold = match args.fail_on {
        FailOn::Violation => Some(Severity::Violation),
        FailOn::Warning => Some(Severity::Warning),
        FailOn::Never => None,
    };
    let failing = match threshold {
        Some(Severity::Violation) => summary.violations > 0,
        Some(_) => summary.violations + summary.warnings > 0,
        None => false,
    };
    if unreadable > 0 {
        2
    } else if failing {
        1
    } else {
        0
    }
}

/// The first line of a document that holds content (for locations).
fn content_line(start: usize, doc: &str) -> usize {
    doc.lines()
        .position(|l| {
            let t = l.trim_start();
            !t.is_empty() && !t.starts_with('#')
        })
        .map_or(start, |i| start + i)
}

fn report_malformed(err: &mut dyn Write, shown: &str, start: usize, doc: &str, e: input::ParseError) {
    let line = match e.line {
        Some(l) => start + l - 1,
        None => content_line(start, doc),
    };
    input::report(err, &InputError::Malformed { path: shown.to_owned(), line, message: e.message });
}

/// Pass 1 over one source: collects ConfigMaps and policies. Returns (documents unreadable,
/// whether reading the source failed).
fn collect(
    r: Box<dyn BufRead>,
    shown: &str,
    cms: &mut ConfigMaps,
    policies: &mut Vec<Policy>,
    err: &mut dyn Write,
) -> (usize, bool) {
    let mut docs = DocReader::new(r);
    let mut buf = String::new();
    let mut bad = 0;
    loop {
        let start = match docs.next_doc(&mut buf) {
            Ok(Some(s)) => s,
            Ok(None) => return (bad, false),
            Err(source) => {
                input::report(err, &InputError::Read { path: shown.to_owned(), line: 0, source });
                return (bad + 1, true);
            }
        };
        let kind = input::sniff_kind(&buf);
        if !matches!(kind, Kind::ConfigMap | Kind::Policy | Kind::List | Kind::Unknown) {
            continue;
        }
        match input::parse(&buf, kind) {
            Ok(obj) => bad += take(obj, cms, policies, (shown, content_line(start, &buf)), err),
            Err(e) => {
                report_malformed(err, shown, start, &buf, e);
                bad += 1;
            }
        }
    }
}

/// Keeps ConfigMaps and policies; returns how many `List` items of those kinds were malformed
/// (reported here; malformed workload items are reported in pass 2).
fn take(
    obj: Object,
    cms: &mut ConfigMaps,
    policies: &mut Vec<Policy>,
    loc: (&str, usize),
    err: &mut dyn Write,
) -> usize {
    match obj {
        Object::ConfigMap(cm) => {
            let ns = cm.metadata.namespace.as_deref().unwrap_or("");
            let name = cm.metadata.name.as_deref().unwrap_or("");
            cms.insert(ns, name, cm.data.clone().unwrap_or_default());
        }
        Object::Policy(p) => {
            let name = p.metadata.name.clone().unwrap_or_default();
            match Policy::from_resource(*p) {
                Ok(p) => policies.push(p),
                Err(e) => {
                    let message = format!("NatsTransportPolicy {name} cannot be used: {e}");
                    input::report(err, &InputError::Malformed { path: loc.0.to_owned(), line: loc.1, message });
                    return 1;
                }
            }
        }
        Object::List(items) => {
            let mut bad = 0;
            for item in items {
                // A bad item does not spoil its siblings.
                let kind = item.get("kind").and_then(|k| k.as_str()).map(input::classify);
                match input::from_value(item) {
                    Ok(o) => bad += take(o, cms, policies, loc, err),
                    Err(e) if matches!(kind, Some(Kind::ConfigMap | Kind::Policy)) => {
                        let message = format!("List item: {}", e.message);
                        input::report(err, &InputError::Malformed { path: loc.0.to_owned(), line: loc.1, message });
                        bad += 1;
                    }
                    Err(_) => {}
                }
            }
            return bad;
        }
        Object::Workload(_) | Object::Other => {}
    }
    0
}

struct Evaluator<'a> {
    policies: &'a Policies,
    cms: &'a ConfigMaps,
    ctx: &'a EvalContext,
    summary: &'a mut Summary,
    sink: &'a mut dyn Sink,
    write_failed: bool,
}

impl Evaluator<'_> {
    fn workload(&mut self, w: &Workload, shown: &str, line: usize) {
        let namespace = w.metadata.namespace.as_deref().unwrap_or("");
        let name = w.metadata.name.as_deref().unwrap_or("");
        let empty = BTreeMap::new();
        let labels = w.metadata.labels.as_ref().unwrap_or(&empty);
        let annotations = w.metadata.annotations.as_ref().unwrap_or(&empty);
        let input = WorkloadInput { namespace, name, annotations, pod: &w.pod };
        let mut selected = false;
        for p in self.policies.selecting(namespace, labels) {
            selected = true;
            let report = evaluate_workload(&p.spec, &input, self.cms, self.ctx);
            self.summary.add(&report);
            let e = Entry {
                source: shown,
                line,
                kind: w.kind.as_str(),
                namespace,
                name,
                policy: p.id.as_deref(),
                report: &report,
            };
            if self.sink.workload(&e).is_err() {
                self.write_failed = true;
            }
        }
        if selected {
            self.summary.workloads += 1;
        } else {
            self.summary.unselected += 1;
        }
    }
}

/// Pass 2 over one source. Returns the number of documents found unreadable in this pass.
fn evaluate_source(r: Box<dyn BufRead>, s: &Source, ev: &mut Evaluator, err: &mut dyn Write) -> usize {
    let mut docs = DocReader::new(r);
    let mut buf = String::new();
    let mut bad = 0;
    loop {
        let start = match docs.next_doc(&mut buf) {
            Ok(Some(start)) => start,
            Ok(None) => return bad,
            Err(source) => {
                if !s.failed {
                    input::report(err, &InputError::Read { path: s.shown.clone(), line: 0, source });
                    bad += 1;
                }
                return bad;
            }
        };
        let kind = input::sniff_kind(&buf);
        match kind {
            Kind::Workload(_) => match input::parse(&buf, kind) {
                Ok(Object::Workload(w)) => ev.workload(&w, &s.shown, content_line(start, &buf)),
                Ok(_) => {}
                Err(e) => {
                    report_malformed(err, &s.shown, start, &buf, e);
                    bad += 1;
                }
            },
            // Already parsed (and any error reported) in pass 1; parse again for workloads.
            Kind::List | Kind::Unknown => {
                let line = content_line(start, &buf);
                match input::parse(&buf, kind) {
                    Ok(Object::Workload(w)) => ev.workload(&w, &s.shown, line),
                    Ok(Object::List(items)) => {
                        for item in items {
                            let is_workload = item
                                .get("kind")
                                .and_then(|k| k.as_str())
                                .is_some_and(|k| matches!(input::classify(k), Kind::Workload(_)));
                            match input::from_value(item) {
                                Ok(Object::Workload(w)) => ev.workload(&w, &s.shown, line),
                                Ok(_) => {}
                                Err(e) if is_workload => {
                                    report_malformed(err, &s.shown, start, &buf, e);
                                    bad += 1;
                                }
                                Err(_) => {}
                            }
                        }
                    }
                    Ok(_) | Err(_) => {}
                }
            }
            _ => {}
        }
    }
}
