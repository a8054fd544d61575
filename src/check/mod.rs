//! `natsguard check`: the offline CI gate over rendered manifests (docs/ci.md).
//!
//! The input is read once. Phase 1 splits each source into documents as it is read
//! ([`split`]), parses them on `--jobs` threads ([`parse`], [`fast`]) and, in input order,
//! collects ConfigMaps and policies and keeps each workload as a small record ([`spool`]).
//! Phase 2 evaluates the records on `--jobs` threads and writes their results in input order,
//! so the output is the same bytes for any number of jobs. Memory does not grow with the input:
//! documents, `List` items and records are handled one batch at a time (docs/ci.md, "How fast").
//!
//! Decisions where the contract is silent:
//! - No `-f`: standard input is read when it is not a terminal; otherwise it is a usage error (2).
//! - Exit status precedence: 2 (unreadable input, bad usage, or nothing judged) over 1 (findings
//!   at or above `--fail-on`) over 0. A malformed document is reported on stderr as
//!   `file:line: message`, every other document is still evaluated and reported, and the status
//!   is 2.
//! - Nothing judged: when the input holds workloads and no policy selects any of them, or holds
//!   no workload at all (an empty stream, only ConfigMaps, a chart's values file), the status is
//!   2 and stderr says why, naming each policy and what it selects; `--allow-empty` makes such
//!   a run pass (0). A policy that selects nothing while others select something gets a note.
//! - An unrendered Helm template counts as an unreadable document; its message gives the
//!   `helm template` command. Files a kustomization lists as patches are not read at all.
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
//! - `--jobs` defaults to the number of cores this process may use; results are written in
//!   input order whatever the number.
//! - `now` is the real clock, read once; there is no incident offline, so a `rollback-by`
//!   annotation in the past makes an active override overdue.

mod codec;
pub mod fast;
mod input;
mod kustomize;
mod output;
mod parse;
mod pool;
mod select;
mod split;
mod spool;

use crate::evaluate::{EvalContext, WorkloadInput, evaluate_workload};
use input::{InputError, Origin};
use k8s_openapi::jiff::Timestamp;
use output::{Entry, Format, Summary, Writer};
use parse::{Item, Parsed};
use select::{ConfigMaps, Policies, Policy};
use split::Event;
use spool::Spool;
use std::collections::{BTreeMap, HashSet};
use std::io::{self, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Output formats.
#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OutputFormat {
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
    /// Never exit 1 (still exits 2 on unreadable input or when nothing was judged).
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
    #[arg(short = 'o', long = "output", value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
    /// Lowest severity that makes the exit status 1.
    #[arg(long = "fail-on", value_enum, default_value_t = FailOn::Violation)]
    pub fail_on: FailOn,
    /// Accept a run that judges nothing (no workload in the input, or none selected by the
    /// policies) instead of exiting 2.
    #[arg(long = "allow-empty")]
    pub allow_empty: bool,
    /// Threads that parse and evaluate (default: the number of cores). The output is the same
    /// for any number.
    #[arg(short = 'j', long = "jobs", value_name = "N", value_parser = clap::value_parser!(u16).range(1..=256))]
    pub jobs: Option<u16>,
}

/// Runs `natsguard check` with the real clock, stdin, stdout and stderr.
pub fn main(args: CheckArgs) -> ExitCode {
    let now = Timestamp::now();
    let stdin_tty = io::stdin().is_terminal();
    let colour = io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let stdout = io::stdout().lock();
    let out = io::BufWriter::with_capacity(256 * 1024, stdout);
    let mut err = io::stderr().lock();
    ExitCode::from(run(&args, now, stdin_tty, colour, out, &mut err))
}

/// Text of one batch of documents: about this much before it goes to a thread.
const BATCH: usize = 256 * 1024;

/// The whole command, with its environment passed in. Returns the exit status.
pub fn run(
    args: &CheckArgs,
    now: Timestamp,
    stdin_tty: bool,
    colour: bool,
    out: impl Write,
    err: &mut dyn Write,
) -> u8 {
    let jobs = match args.jobs {
        Some(n) => usize::from(n),
        None => std::thread::available_parallelism().map_or(1, std::num::NonZero::get),
    };
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
    let mut expanded = input::Expanded::default();
    for p in &paths {
        if let Err(e) = input::expand(p, &mut expanded) {
            input::report(err, &e);
            unreadable += 1;
        }
    }
    let patches = kustomizations(&expanded, err, &mut unreadable);
    let sources: Vec<Origin> = expanded
        .sources
        .into_iter()
        .filter(|o| match o {
            Origin::File(p) => !p.canonicalize().is_ok_and(|c| patches.contains(&c)),
            Origin::Stdin => true,
        })
        .collect();

    // Policies given with --policy.
    let mut policies = Vec::new();
    for file in &args.policy {
        let before = policies.len();
        let origin = Origin::File(file.into());
        let mut c = Collector::new(vec![origin.clone()], err);
        read_sources(1, std::slice::from_ref(&origin), &mut c);
        unreadable += c.unreadable;
        policies.append(&mut c.policies);
        if policies.len() == before && c.unreadable == 0 {
            let _ = writeln!(err, "natsguard check: {file}: --policy file holds no NatsTransportPolicy");
            return 2;
        }
    }

    // Phase 1: read once, in parallel, collecting in input order.
    let mut c = Collector::new(sources.clone(), err);
    c.policies = policies;
    read_sources(jobs, &sources, &mut c);
    let Collector { cms, policies, mut spool, dropped, unreadable: bad, spool_error, documents, .. } = c;
    unreadable += bad;
    if let Some(e) = spool_error {
        let _ = writeln!(err, "natsguard check: cannot keep the workload records: {e}");
        return 2;
    }
    let policies = Policies::new(policies);

    // Phase 2: evaluate the records, in parallel, writing in input order.
    let format: Box<dyn Format> = match args.output {
        OutputFormat::Text => Box::new(output::Text::new(colour)),
        OutputFormat::Json => Box::new(output::Json::new(policies.explicit())),
        OutputFormat::Sarif => Box::new(output::Sarif),
    };
    let Ok(mut writer) = Writer::new(out, format.as_ref()) else {
        let _ = writeln!(err, "natsguard check: cannot write the results");
        return 2;
    };
    let shown: Vec<String> = sources.iter().map(Origin::display).collect();
    let eval = Eval {
        policies: &policies,
        cms: &cms,
        ctx: &EvalContext::at(now),
        format: format.as_ref(),
        shown: &shown,
        dropped: &dropped,
    };
    let mut totals = Judged { selected: vec![0; policies.list().len()], ..Judged::default() };
    let mut write_failed = false;
    let mut drained = Ok(());
    pool::ordered(
        jobs,
        |emit| drained = spool.drain(128 * 1024, emit),
        |chunk| eval.chunk(&chunk),
        |j| {
            if writer.write(&j.rendered).is_err() {
                write_failed = true;
            }
            totals.merge(&j);
        },
    );
    if let Err(e) = drained {
        let _ = writeln!(err, "natsguard check: cannot read back the workload records: {e}");
        return 2;
    }
    if totals.lost > 0 {
        let _ = writeln!(err, "natsguard check: {} workload records could not be read back", totals.lost);
        unreadable += totals.lost;
    }
    let mut summary = totals.summary.clone();
    summary.unreadable = unreadable;
    write_failed |= writer.finish(&summary).is_err();
    if write_failed {
        let _ = writeln!(err, "natsguard check: cannot write the results");
        return 2;
    }

    let empty = nothing_judged(&policies, &totals, &documents, args.allow_empty, err);

    let failing = match args.fail_on {
        FailOn::Violation => summary.violations > 0,
        FailOn::Warning => summary.violations + summary.warnings > 0,
        FailOn::Never => false,
    };
    if unreadable > 0 || empty {
        2
    } else if failing {
        1
    } else {
        0
    }
}

/// Finds the kustomizations next to the input, reports them, and returns the patch files they
/// list (canonical paths), which are not read.
fn kustomizations(expanded: &input::Expanded, err: &mut dyn Write, unreadable: &mut usize) -> HashSet<PathBuf> {
    let mut dirs: Vec<PathBuf> = expanded.dirs.clone();
    for o in &expanded.sources {
        if let Origin::File(p) = o {
            dirs.extend(kustomize::dirs_above(p));
        }
    }
    let mut seen = HashSet::new();
    let mut looked = HashSet::new();
    let mut patches = HashSet::new();
    for d in dirs {
        // Many files share their directories: look at each once.
        if !looked.insert(d.clone()) {
            continue;
        }
        let Ok(canon) = d.canonicalize() else { continue };
        if !seen.insert(canon) {
            continue;
        }
        let Some(k) = kustomize::find(&d) else { continue };
        if let Some(e) = k.error {
            let _ =
                writeln!(err, "natsguard check: {}: cannot read the kustomization's patch list: {e}", k.file.display());
            *unreadable += 1;
            continue;
        }
        let dir = k.dir.display();
        let listed = if k.patches.is_empty() {
            "it lists no patch files".to_owned()
        } else {
            let names: Vec<&str> = k.patches.values().map(String::as_str).collect();
            format!("the files it lists as patches are not judged on their own ({})", names.join(", "))
        };
        let _ = writeln!(
            err,
            "natsguard check: note: {dir} holds a kustomization ({}); {listed}; its other files are judged as written. \
             To check what kustomize renders: kustomize build {dir} | natsguard check -f -",
            k.file.display()
        );
        patches.extend(k.patches.into_keys());
    }
    patches
}

/// Reads `sources` once, on `jobs` threads, into `c` in input order.
fn read_sources(jobs: usize, sources: &[Origin], c: &mut Collector) {
    struct Batch {
        src: usize,
        events: Vec<Event>,
        open_error: Option<InputError>,
    }
    pool::ordered(
        jobs,
        |emit| {
            let mut next_group = 0u64;
            for (src, origin) in sources.iter().enumerate() {
                let mut r = match input::open(origin) {
                    Ok(r) => r,
                    Err(e) => {
                        emit(Batch { src, events: Vec::new(), open_error: Some(e) });
                        continue;
                    }
                };
                let mut batch = Vec::new();
                let mut size = 0;
                split::split(&mut r, &mut next_group, &mut |ev| {
                    if let Event::Unit(u) = &ev {
                        size += u.text.len();
                    }
                    batch.push(ev);
                    if size >= BATCH {
                        size = 0;
                        emit(Batch { src, events: std::mem::take(&mut batch), open_error: None });
                    }
                });
                if !batch.is_empty() {
                    emit(Batch { src, events: batch, open_error: None });
                }
            }
        },
        |b: Batch| {
            let mut out = Vec::with_capacity(b.events.len());
            for ev in b.events {
                match ev {
                    Event::Unit(u) => {
                        let mut items = Vec::new();
                        parse::unit(b.src, u, &mut items);
                        out.extend(items.into_iter().map(Read::Item));
                    }
                    Event::GroupEnd { group, list } => out.push(Read::GroupEnd { group, list }),
                    Event::Unreadable { line, error } => out.push(Read::Unreadable { line, error }),
                    Event::BadJson { line, message } => out.push(Read::BadJson { line, message }),
                }
            }
            (b.src, b.open_error, out)
        },
        |(src, open_error, items)| {
            if let Some(e) = open_error {
                input::report(c.err, &e);
                c.unreadable += 1;
            }
            for r in items {
                c.read(src, r);
            }
        },
    );
}

/// Phase 1's output for one document or event.
enum Read {
    Item(Item),
    GroupEnd { group: u64, list: bool },
    Unreadable { line: usize, error: io::Error },
    BadJson { line: usize, message: String },
}

/// What phase 1 keeps, in input order.
struct Collector<'e> {
    err: &'e mut dyn Write,
    sources: Vec<Origin>,
    cms: ConfigMaps,
    policies: Vec<Policy>,
    spool: Spool,
    spool_error: Option<io::Error>,
    /// Items of the List being read, until it is known to be a List.
    pending: Vec<(usize, Item)>,
    /// Groups that turned out not to be Lists: their records are not evaluated.
    dropped: HashSet<u64>,
    unreadable: usize,
    /// Documents read, by what they are (for the "nothing judged" message).
    documents: BTreeMap<&'static str, usize>,
}

impl<'e> Collector<'e> {
    fn new(sources: Vec<Origin>, err: &'e mut dyn Write) -> Self {
        Collector {
            err,
            sources,
            cms: ConfigMaps::default(),
            policies: Vec::new(),
            spool: Spool::default(),
            spool_error: None,
            pending: Vec::new(),
            dropped: HashSet::new(),
            unreadable: 0,
            documents: BTreeMap::new(),
        }
    }

    fn shown(&self, src: usize) -> String {
        self.sources.get(src).map(Origin::display).unwrap_or_default()
    }

    fn read(&mut self, src: usize, r: Read) {
        match r {
            Read::Item(it) => {
                if it.group.is_some() && !matches!(it.parsed, Parsed::Workload(_)) {
                    self.pending.push((src, it));
                } else {
                    self.item(src, it);
                }
            }
            Read::GroupEnd { group, list } => {
                let pending = std::mem::take(&mut self.pending);
                if list {
                    for (src, it) in pending {
                        self.item(src, it);
                    }
                } else {
                    self.dropped.insert(group);
                }
            }
            Read::Unreadable { line, error } => {
                let e = InputError::Read { path: self.shown(src), line, source: error };
                input::report(self.err, &e);
                self.unreadable += 1;
            }
            Read::BadJson { line, message } => {
                let message = parse::sanitize(&parse::strip_location(&message));
                let e = InputError::Malformed { path: self.shown(src), line, message };
                input::report(self.err, &e);
                self.unreadable += 1;
            }
        }
    }

    fn item(&mut self, src: usize, it: Item) {
        let count = |c: &mut Self, what: &'static str| *c.documents.entry(what).or_default() += 1;
        match it.parsed {
            Parsed::Workload(line) => {
                if self.spool_error.is_none()
                    && let Err(e) = self.spool.push(&line)
                {
                    self.spool_error = Some(e);
                }
            }
            Parsed::ConfigMap { namespace, name, data } => {
                count(self, "ConfigMap");
                self.cms.insert(&namespace, &name, data);
            }
            Parsed::Policy(p) => {
                count(self, "NatsTransportPolicy");
                let name = p.metadata.name.clone().unwrap_or_default();
                match Policy::from_resource(*p) {
                    Ok(p) => self.policies.push(p),
                    Err(e) => {
                        let message = format!("NatsTransportPolicy {name} cannot be used: {e}");
                        let e = InputError::Malformed { path: self.shown(src), line: it.line, message };
                        input::report(self.err, &e);
                        self.unreadable += 1;
                    }
                }
            }
            Parsed::Malformed { message } => {
                let e = InputError::Malformed { path: self.shown(src), line: it.line, message };
                input::report(self.err, &e);
                self.unreadable += 1;
            }
            Parsed::Template => {
                let command = helm_command(self.sources.get(src));
                let message = format!(
                    "an unrendered Helm template ({{{{ … }}}}), not a manifest: natsguard checks what the cluster would get; \
                     render the chart first: {command}"
                );
                let e = InputError::Malformed { path: self.shown(src), line: it.line, message };
                input::report(self.err, &e);
                self.unreadable += 1;
            }
            Parsed::Other => count(self, "other"),
        }
    }
}

/// The `helm template` command for a template file: the chart directory above it when there
/// is one (its name as the release name), placeholders otherwise.
fn helm_command(origin: Option<&Origin>) -> String {
    let chart = match origin {
        Some(Origin::File(p)) => p.ancestors().skip(1).find(|d| d.join("Chart.yaml").is_file()).map(Path::to_owned),
        _ => None,
    };
    match chart {
        Some(dir) => {
            let shown = if dir.as_os_str().is_empty() { PathBuf::from(".") } else { dir };
            let release = shown
                .canonicalize()
                .ok()
                .and_then(|c| c.file_name().map(|n| n.to_string_lossy().into_owned()))
                .unwrap_or_else(|| "RELEASE".to_owned());
            format!("helm template {release} {} | natsguard check -f -", shown.display())
        }
        None => "helm template RELEASE CHART | natsguard check -f -".to_owned(),
    }
}

/// What phase 2 shares between threads.
struct Eval<'a> {
    policies: &'a Policies,
    cms: &'a ConfigMaps,
    ctx: &'a EvalContext,
    format: &'a dyn Format,
    shown: &'a [String],
    dropped: &'a HashSet<u64>,
}

/// Phase 2's output for one chunk of records.
#[derive(Default)]
struct Judged {
    rendered: Vec<u8>,
    summary: Summary,
    /// Workloads each policy selected (by index).
    selected: Vec<usize>,
    /// Workloads read (selected or not).
    workloads: usize,
    /// Records that could not be read back (never expected).
    lost: usize,
}

impl Judged {
    fn merge(&mut self, o: &Judged) {
        self.summary.merge(&o.summary);
        for (a, b) in self.selected.iter_mut().zip(&o.selected) {
            *a += b;
        }
        self.workloads += o.workloads;
        self.lost += o.lost;
    }
}

impl Eval<'_> {
    fn chunk(&self, chunk: &[u8]) -> Judged {
        let mut j = Judged { selected: vec![0; self.policies.list().len()], ..Judged::default() };
        let empty = BTreeMap::new();
        for frame in codec::frames(chunk) {
            let Some(r) = frame.and_then(codec::decode) else {
                j.lost += 1;
                continue;
            };
            if r.group.is_some_and(|g| self.dropped.contains(&g)) {
                continue;
            }
            j.workloads += 1;
            let namespace = r.meta.namespace.as_deref().unwrap_or("");
            let name = r.meta.name.as_deref().unwrap_or("");
            let labels = r.meta.labels.as_ref().unwrap_or(&empty);
            let annotations = r.meta.annotations.as_ref().unwrap_or(&empty);
            let input = WorkloadInput { namespace, name, annotations, pod: &r.pod };
            let mut selected = false;
            for (i, p) in self.policies.selecting(namespace, labels) {
                selected = true;
                j.selected[i] += 1;
                let report = evaluate_workload(&p.spec, &input, self.cms, self.ctx);
                j.summary.add(&report);
                let e = Entry {
                    source: self.shown.get(r.src).map_or("", String::as_str),
                    line: r.line,
                    kind: r.kind.as_str(),
                    namespace,
                    name,
                    policy: p.id.as_deref(),
                    report: &report,
                };
                self.format.render(&e, &mut j.rendered);
            }
            if selected {
                j.summary.workloads += 1;
            } else {
                j.summary.unselected += 1;
            }
        }
        j
    }
}

/// Says why nothing was judged, when nothing was (docs/ci.md); returns whether that fails the run.
/// Also notes a policy that selects nothing while others select something.
fn nothing_judged(
    policies: &Policies,
    j: &Judged,
    documents: &BTreeMap<&'static str, usize>,
    allow_empty: bool,
    err: &mut dyn Write,
) -> bool {
    let n = j.workloads;
    let judged = j.summary.workloads;
    if judged > 0 {
        if policies.explicit() {
            for (p, &count) in policies.list().iter().zip(&j.selected) {
                if count == 0 {
                    let id = p.id.as_deref().unwrap_or("");
                    let _ = writeln!(
                        err,
                        "natsguard check: note: policy {id} selects none of the {n} workloads ({})",
                        p.describe()
                    );
                }
            }
        }
        return false;
    }
    let (prefix, fails) = if allow_empty {
        ("natsguard check: note: nothing was judged (accepted with --allow-empty)", false)
    } else {
        ("natsguard check: nothing was judged", true)
    };
    if n > 0 {
        let _ = writeln!(err, "{prefix}: the input holds {n} workloads and no policy selects any of them:");
        for p in policies.list() {
            let id = p.id.as_deref().unwrap_or("(built-in cordum profile)");
            let _ = writeln!(err, "  policy {id} selects 0 of {n} ({})", p.describe());
        }
    } else {
        let read: Vec<String> = documents.iter().map(|(k, v)| format!("{v} {k}")).collect();
        let read = if read.is_empty() { "no Kubernetes object".to_owned() } else { read.join(", ") };
        let _ = writeln!(
            err,
            "{prefix}: the input holds no workload (Deployment, StatefulSet, DaemonSet, ReplicaSet, Job, CronJob or Pod); it holds {read}"
        );
    }
    if fails {
        let _ = writeln!(err, "natsguard check: pass --allow-empty to accept a run that judges nothing");
    }
    fails
}
