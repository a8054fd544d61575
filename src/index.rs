//! One policy's index of its selected workloads: each workload's last report and a fingerprint of
//! what it was computed from, the policy-wide counts kept up to date as entries change, and the
//! workloads with findings in the order `status.results` lists them. A change re-evaluates the
//! workloads it touches; the status is assembled from the index without visiting every workload
//! (docs/configuration.md, "How the operator scales").

use crate::findings::{Code, Finding, Severity};
use crate::report::{ContainerReport, Override, WorkloadReport};
use crate::status::{self, Evaluation};
use k8s_openapi::jiff::Timestamp;
use std::collections::{BTreeSet, HashMap};

/// One selected workload, as last evaluated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The Deployment's uid (a Deployment re-created under the same name is another workload).
    pub uid: String,
    /// Its `metadata.generation` (part of a new incident's name).
    pub generation: u64,
    /// A hash of everything the report was computed from; equal means "no need to evaluate".
    pub fingerprint: u64,
    /// What the index keeps of the report: per container its verdict and finding codes, not the
    /// messages (the whole report is kept only for the Deployments `status.results` lists).
    pub summary: Summary,
    violations: i32,
    listed: bool,
}

impl Entry {
    /// The entry for `report`; the index keeps the report itself while it is listed.
    pub fn new(uid: String, generation: u64, fingerprint: u64, report: &WorkloadReport) -> Self {
        let violations = status::violations(report);
        let listed = report.findings().next().is_some();
        Self { uid, generation, fingerprint, summary: Summary::of(report), violations, listed }
    }

    fn compliant(&self) -> bool {
        self.violations == 0
    }
}

/// A report without its messages.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    containers: Box<[ContainerSummary]>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct ContainerSummary {
    name: Box<str>,
    init: bool,
    client: bool,
    production: Option<bool>,
    gate_accepts: Option<bool>,
    authenticated: Option<bool>,
    plaintext_override: Option<bool>,
    no_auth_override: Option<bool>,
    findings: Box<[(Code, Severity)]>,
}

impl Summary {
    fn of(report: &WorkloadReport) -> Self {
        let containers = report
            .containers
            .iter()
            .map(|c| ContainerSummary {
                name: c.name.as_str().into(),
                init: c.init,
                client: c.client,
                production: c.production,
                gate_accepts: c.gate_accepts,
                authenticated: c.authenticated,
                plaintext_override: c.plaintext_override,
                no_auth_override: c.no_auth_override,
                findings: c.findings.iter().map(|f| (f.code, f.severity)).collect(),
            })
            .collect();
        Self { containers }
    }

    /// The report with its verdicts and finding codes, and empty messages: what incident planning
    /// and the announced record read.
    pub fn report(&self) -> WorkloadReport {
        let containers = self
            .containers
            .iter()
            .map(|c| ContainerReport {
                name: c.name.to_string(),
                init: c.init,
                client: c.client,
                production: c.production,
                gate_accepts: c.gate_accepts,
                authenticated: c.authenticated,
                plaintext_override: c.plaintext_override,
                no_auth_override: c.no_auth_override,
                findings: c
                    .findings
                    .iter()
                    .map(|(code, severity)| Finding {
                        code: *code,
                        severity: *severity,
                        container: c.name.to_string(),
                        message: String::new(),
                    })
                    .collect(),
            })
            .collect();
        WorkloadReport { containers }
    }

    /// Whether a break-glass override is in use.
    pub fn overriding(&self) -> bool {
        let r = self.report();
        Override::ALL.iter().any(|o| r.override_active(*o))
    }
}

/// The index of one policy.
#[derive(Clone, Debug, Default)]
pub struct PolicyIndex {
    entries: HashMap<String, Entry>,
    /// Whole reports of the Deployments `status.results` lists (and of those evaluated since the
    /// last [`PolicyIndex::window`]).
    reports: HashMap<String, WorkloadReport>,
    /// Workloads with findings as `status.results` orders them: violations first, then by name.
    listed: BTreeSet<(bool, String)>,
    compliant: i32,
    violations: i32,
    /// Workloads with a break-glass override in use (each needs its incident, every time round).
    overriding: BTreeSet<String>,
    /// Workloads whose findings change with time alone (an override reaching its deadline).
    timers: BTreeSet<(Timestamp, String)>,
    timer_of: HashMap<String, Timestamp>,
}

impl PolicyIndex {
    pub fn get(&self, name: &str) -> Option<&Entry> {
        self.entries.get(name)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Every indexed workload name.
    pub fn names(&self) -> impl Iterator<Item = &String> {
        self.entries.keys()
    }

    /// Index `entry` (with its whole `report`) under `name`, returning what was there.
    pub fn insert(&mut self, name: &str, entry: Entry, report: WorkloadReport) -> Option<Entry> {
        let old = self.remove(name);
        self.compliant += i32::from(entry.compliant());
        self.violations += entry.violations;
        if entry.listed {
            self.listed.insert((entry.compliant(), name.to_owned()));
            self.reports.insert(name.to_owned(), report);
        }
        if entry.summary.overriding() {
            self.overriding.insert(name.to_owned());
        }
        self.entries.insert(name.to_owned(), entry);
        old
    }

    /// Drop `name` (no longer selected, or gone), returning its entry.
    pub fn remove(&mut self, name: &str) -> Option<Entry> {
        let old = self.entries.remove(name)?;
        self.compliant -= i32::from(old.compliant());
        self.violations -= old.violations;
        if old.listed {
            self.listed.remove(&(old.compliant(), name.to_owned()));
        }
        self.reports.remove(name);
        self.overriding.remove(name);
        self.set_timer(name, None);
        Some(old)
    }

    /// Workloads with a break-glass override in use.
    pub fn overriding(&self) -> impl Iterator<Item = &String> {
        self.overriding.iter()
    }

    /// What the status shows: counts, the first names with violations, and the candidates for
    /// `results`. Visits at most [`status::MAX_RESULTS`] entries.
    pub fn evaluation(&self) -> Evaluation {
        let non_compliant = self
            .listed
            .iter()
            .take_while(|(compliant, _)| !compliant)
            .take(Evaluation::NAMED)
            .map(|(_, n)| n.clone())
            .collect();
        let candidates = self
            .listed
            .iter()
            .take(status::MAX_RESULTS)
            .filter_map(|(_, n)| status::result(n, self.reports.get(n)?))
            .collect();
        Evaluation {
            workloads: self.entries.len() as i32,
            compliant: self.compliant,
            violations: self.violations,
            non_compliant,
            candidates,
            with_findings: self.listed.len() as i32,
        }
    }

    /// Keep whole reports only for the Deployments `status.results` lists, and say which of those
    /// lack theirs (the planner evaluates them again and hands them to [`PolicyIndex::fill`]).
    pub fn window(&mut self) -> Vec<String> {
        let window: Vec<&String> = self.listed.iter().take(status::MAX_RESULTS).map(|(_, n)| n).collect();
        let keep: std::collections::HashSet<&String> = window.iter().copied().collect();
        self.reports.retain(|n, _| keep.contains(n));
        window.into_iter().filter(|n| !self.reports.contains_key(*n)).cloned().collect()
    }

    /// The whole report of a listed workload that [`PolicyIndex::window`] asked for.
    pub fn fill(&mut self, name: &str, report: WorkloadReport) {
        if self.entries.get(name).is_some_and(|e| e.listed) {
            self.reports.insert(name.to_owned(), report);
        }
    }

    /// Evaluate `name` again at `at` (its findings change then), or never (`None`).
    pub fn set_timer(&mut self, name: &str, at: Option<Timestamp>) {
        if let Some(old) = self.timer_of.remove(name) {
            self.timers.remove(&(old, name.to_owned()));
        }
        if let Some(at) = at {
            self.timers.insert((at, name.to_owned()));
            self.timer_of.insert(name.to_owned(), at);
        }
    }

    /// The workloads whose timer is due at `now` (their timers are cleared).
    pub fn due(&mut self, now: Timestamp) -> Vec<String> {
        let mut out = Vec::new();
        while let Some((at, name)) = self.timers.first().cloned() {
            if at > now {
                break;
            }
            self.timers.pop_first();
            self.timer_of.remove(&name);
            out.push(name);
        }
        out
    }

    /// The next timer, if any.
    pub fn next_timer(&self) -> Option<Timestamp> {
        self.timers.first().map(|(at, _)| *at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(codes: &[(Code, Severity)]) -> WorkloadReport {
        WorkloadReport::with_codes(codes)
    }

    fn put(index: &mut PolicyIndex, name: &str, codes: &[(Code, Severity)]) {
        let r = report(codes);
        index.insert(name, Entry::new("uid".into(), 1, 0, &r), r);
    }

    const BAD: &[(Code, Severity)] = &[(Code::PlaintextTransport, Severity::Violation)];
    const WARN: &[(Code, Severity)] = &[(Code::MixedSchemes, Severity::Warning)];

    /// The index agrees with a computation over every report at once, whatever the order of
    /// changes.
    #[test]
    fn incremental_counts_and_results_match_a_full_computation() {
        let mut index = PolicyIndex::default();
        let mut all: std::collections::BTreeMap<String, WorkloadReport> = Default::default();
        let kinds = [BAD, WARN, &[], &[(Code::AuthAmbiguous, Severity::Info)]];
        for step in 0..600u32 {
            let name = format!("w{:03}", (step * 7919) % 257);
            if step % 11 == 0 {
                index.remove(&name);
                all.remove(&name);
            } else {
                let codes = kinds[(step as usize * 31) % kinds.len()];
                put(&mut index, &name, codes);
                all.insert(name, report(codes));
            }
            // Whole reports are kept for the listed window only; the planner fills what it lacks.
            for missing in index.window() {
                index.fill(&missing, all[&missing].clone());
            }
            assert!(index.reports.len() <= status::MAX_RESULTS);
            let full: Vec<(String, WorkloadReport)> = all.iter().map(|(n, r)| (n.clone(), r.clone())).collect();
            assert_eq!(index.evaluation(), Evaluation::of(&full), "after step {step}");
        }
        assert!(index.evaluation().with_findings > status::MAX_RESULTS as i32, "the test covers truncation");
    }

    #[test]
    fn timers_fire_once_in_order() {
        let t = |s: &str| -> Timestamp { s.parse().unwrap() };
        let mut index = PolicyIndex::default();
        put(&mut index, "a", BAD);
        index.set_timer("a", Some(t("2026-01-01T02:00:00Z")));
        index.set_timer("b", Some(t("2026-01-01T01:00:00Z")));
        index.set_timer("a", Some(t("2026-01-01T03:00:00Z")));
        assert_eq!(index.next_timer(), Some(t("2026-01-01T01:00:00Z")));
        assert_eq!(index.due(t("2026-01-01T02:30:00Z")), ["b"]);
        assert!(index.due(t("2026-01-01T02:30:00Z")).is_empty());
        index.remove("a");
        assert_eq!(index.next_timer(), None, "a removed workload has no timer");
    }
}
