//! The announced record: per policy and workload, which finding codes have been announced with
//! an Event and whether the workload was announced as having a violation (docs/configuration.md,
//! "What was announced"). Events are decided against this record, not against the bounded
//! `status.results`, so every workload is announced, none twice, and `DriftResolved` only follows
//! a violation that was announced.
//!
//! It is durable in `NatsTransportLedger` objects next to the policy: the workloads are spread over
//! [`SHARDS`] objects by a stable hash of their name, each entry a short string, so that one
//! object stays small (about 30 bytes per workload with findings) and a change rewrites one shard,
//! not the whole record. Info findings are never announced and never recorded.

use crate::crd::NatsTransportPolicyStatus;
use crate::findings::{Code, Severity};
use crate::report::WorkloadReport;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// How many objects one policy's record is spread over.
pub const SHARDS: u32 = 64;

/// What was announced about one workload.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Entry {
    /// Announced as having a violation (so becoming compliant is a `DriftResolved`).
    pub violating: bool,
    /// The warning and violation codes announced (the workload has them now).
    pub codes: BTreeSet<Code>,
}

impl Entry {
    /// What announcing `report` records, or `None` when there is nothing to record (no
    /// violation and no code worth an Event).
    pub fn of(report: &WorkloadReport) -> Option<Entry> {
        let mut e = Entry::default();
        for f in report.findings() {
            if f.severity == Severity::Violation {
                e.violating = true;
            }
            if f.severity >= Severity::Warning {
                e.codes.insert(f.code);
            }
        }
        (e.violating || !e.codes.is_empty()).then_some(e)
    }

    /// `!` when violating, then the codes as the contract spells them, comma-separated:
    /// `!PlaintextTransport,AuthMissing`.
    pub fn encode(&self) -> String {
        let mut out = String::with_capacity(1 + 24 * self.codes.len());
        if self.violating {
            out.push('!');
        }
        for (i, code) in self.codes.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(code.as_str());
        }
        out
    }

    /// The inverse of [`Entry::encode`]. A code this release does not know is skipped (it cannot
    /// appear on a workload either).
    pub fn decode(s: &str) -> Entry {
        let (violating, codes) = match s.strip_prefix('!') {
            Some(rest) => (true, rest),
            None => (false, s),
        };
        let codes = codes.split(',').filter_map(|c| Code::ALL.iter().copied().find(|k| k.as_str() == c)).collect();
        Entry { violating, codes }
    }
}

/// A durable entry string: the [`Entry`] (none for `#n` alone: nothing announced now) and the
/// number of transitions announced (`#n`, 0 when absent).
fn decode_durable(s: &str) -> (Option<Entry>, u32) {
    let (entry, seq) = match s.rsplit_once('#') {
        Some((e, n)) => (e, n.parse().unwrap_or(0)),
        None => (s, 0),
    };
    let entry = (!entry.is_empty()).then(|| Entry::decode(entry));
    (entry, seq)
}

/// The shard a workload's entry lives in: FNV-1a of its name, stable across releases.
pub fn shard_of(workload: &str) -> u32 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in workload.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    (h % u64::from(SHARDS)) as u32
}

/// The object holding `shard` of `policy`'s record: `<policy>-ledger-<shard as 2 hex digits>`,
/// the policy name cut to fit the 253-character limit (the object also names its policy).
pub fn object_name(policy: &str, shard: u32) -> String {
    let stem: String = policy.chars().take(240).collect();
    format!("{}-ledger-{shard:02x}", stem.trim_end_matches(['-', '.']))
}

/// The record of a policy that has none yet, from what an earlier release announced: it
/// announced exactly the codes in `status.results` (and nothing for workloads beyond them).
pub fn seed(status: Option<&NatsTransportPolicyStatus>) -> HashMap<String, Entry> {
    let Some(status) = status else { return HashMap::new() };
    status
        .results
        .iter()
        .filter_map(|r| {
            let codes: BTreeSet<Code> =
                r.findings.iter().filter(|f| f.severity >= Severity::Warning).map(|f| f.code).collect();
            let entry = Entry { violating: !r.compliant, codes };
            (entry.violating || !entry.codes.is_empty()).then(|| (r.name.clone(), entry))
        })
        .collect()
}

/// One policy's record in memory: what has been decided (`announced`), and what is durable
/// (`durable`, per shard): a workload's durable entry only moves once every Event decided for it
/// has been sent, so a restart re-sends what was never sent and nothing that was.
#[derive(Clone, Debug, Default)]
pub struct Record {
    announced: HashMap<String, Entry>,
    /// Per workload, how many transitions were announced (kept when its entry goes, as `#n`, while
    /// the Deployment exists): the Events of the next one are named after `n + 1`.
    seq: HashMap<String, u32>,
    durable: BTreeMap<u32, BTreeMap<String, String>>,
    /// Events decided and not yet sent, per workload.
    unsent: HashMap<String, u32>,
    /// Shards whose durable content changed since the last [`Record::take_dirty`].
    dirty: BTreeSet<u32>,
}

impl Record {
    /// A record loaded from the durable shards (entry strings by workload).
    pub fn load<'a>(shards: impl IntoIterator<Item = (&'a String, &'a String)>) -> Self {
        let mut r = Record::default();
        for (name, encoded) in shards {
            let (entry, seq) = decode_durable(encoded);
            if let Some(entry) = entry {
                r.announced.insert(name.clone(), entry);
            }
            if seq > 0 {
                r.seq.insert(name.clone(), seq);
            }
            r.durable.entry(shard_of(name)).or_default().insert(name.clone(), encoded.clone());
        }
        r
    }

    /// A record seeded from an earlier release's status; every seeded entry is to be written.
    pub fn seeded(entries: HashMap<String, Entry>) -> Self {
        let mut r = Record::default();
        for (name, entry) in entries {
            r.set_durable(&name, Some(&entry));
            r.announced.insert(name, entry);
        }
        r
    }

    /// What was announced about `workload`.
    pub fn get(&self, workload: &str) -> Option<&Entry> {
        self.announced.get(workload)
    }

    /// Workloads with an entry or a count of announced transitions.
    pub fn workloads(&self) -> impl Iterator<Item = &String> {
        self.announced.keys().chain(self.seq.keys().filter(|w| !self.announced.contains_key(*w)))
    }

    /// How many transitions were announced for `workload`.
    pub fn seq(&self, workload: &str) -> u32 {
        self.seq.get(workload).copied().unwrap_or(0)
    }

    /// Forget `workload` entirely (its Deployment is gone: a new one of that name has a new uid).
    pub fn forget(&mut self, workload: &str) {
        self.announced.remove(workload);
        self.seq.remove(workload);
        self.unsent.remove(workload);
        self.set_durable(workload, None);
    }

    pub fn len(&self) -> usize {
        self.announced.len()
    }

    pub fn is_empty(&self) -> bool {
        self.announced.is_empty()
    }

    /// Decide `entry` for `workload`, with `events` Events about to be sent for it; returns the
    /// number of this transition (what its Events are named after) when there are any. With
    /// none pending, the durable record follows at once.
    pub fn decide(&mut self, workload: &str, entry: Option<Entry>, events: u32) -> u32 {
        if events > 0 {
            *self.seq.entry(workload.to_owned()).or_insert(0) += 1;
        }
        match &entry {
            Some(e) => {
                self.announced.insert(workload.to_owned(), e.clone());
            }
            None => {
                self.announced.remove(workload);
            }
        }
        let unsent = self.unsent.entry(workload.to_owned()).or_insert(0);
        *unsent += events;
        if *unsent == 0 {
            self.unsent.remove(workload);
            self.set_durable(workload, entry.as_ref());
        }
        self.seq(workload)
    }

    /// One Event decided for `workload` was sent: once none is left, its durable entry follows
    /// what was decided.
    pub fn sent(&mut self, workload: &str) {
        let Some(unsent) = self.unsent.get_mut(workload) else { return };
        *unsent = unsent.saturating_sub(1);
        if *unsent == 0 {
            self.unsent.remove(workload);
            let entry = self.announced.get(workload).cloned();
            self.set_durable(workload, entry.as_ref());
        }
    }

    /// Whether Events for `workload` are still to be sent.
    pub fn pending(&self, workload: &str) -> bool {
        self.unsent.contains_key(workload)
    }

    fn set_durable(&mut self, workload: &str, entry: Option<&Entry>) {
        let shard = shard_of(workload);
        let map = self.durable.entry(shard).or_default();
        let seq = self.seq.get(workload).copied().unwrap_or(0);
        let encoded = match (entry, seq) {
            (None, 0) => None,
            (None, n) => Some(format!("#{n}")),
            (Some(e), 0) => Some(e.encode()),
            (Some(e), n) => Some(format!("{}#{n}", e.encode())),
        };
        let changed = match encoded {
            Some(encoded) => {
                if map.get(workload) == Some(&encoded) {
                    false
                } else {
                    map.insert(workload.to_owned(), encoded);
                    true
                }
            }
            None => map.remove(workload).is_some(),
        };
        if changed {
            self.dirty.insert(shard);
        }
    }

    /// The shards to write since the last call, with their whole content (empty: the shard
    /// can go).
    pub fn take_dirty(&mut self) -> Vec<(u32, BTreeMap<String, String>)> {
        let dirty = std::mem::take(&mut self.dirty);
        dirty.into_iter().map(|s| (s, self.durable.get(&s).cloned().unwrap_or_default())).collect()
    }

    /// Put shards back that could not be written (they are written with the next batch).
    pub fn unwritten(&mut self, shards: impl IntoIterator<Item = u32>) {
        self.dirty.extend(shards);
    }

    /// Whether shards are waiting to be written.
    pub fn has_dirty(&self) -> bool {
        !self.dirty.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::WorkloadResult;
    use crate::findings::Finding;

    fn report(codes: &[(Code, Severity)]) -> WorkloadReport {
        WorkloadReport::with_codes(codes)
    }

    #[test]
    fn entries_record_announced_codes_never_info() {
        assert_eq!(Entry::of(&report(&[(Code::AuthAmbiguous, Severity::Info)])), None);
        assert_eq!(Entry::of(&report(&[])), None);
        let e = Entry::of(&report(&[
            (Code::PlaintextTransport, Severity::Violation),
            (Code::AuthIncomplete, Severity::Warning),
            (Code::NotNatsClient, Severity::Info),
        ]))
        .unwrap();
        assert!(e.violating);
        assert_eq!(e.encode(), "!PlaintextTransport,AuthIncomplete");
        assert_eq!(Entry::decode(&e.encode()), e);
        let w = Entry::of(&report(&[(Code::MixedSchemes, Severity::Warning)])).unwrap();
        assert_eq!(w.encode(), "MixedSchemes");
        assert_eq!(Entry::decode("MixedSchemes,NoSuchCode"), w);
        assert_eq!(Entry::decode("!"), Entry { violating: true, codes: BTreeSet::new() });
    }

    #[test]
    fn shards_are_stable_and_spread() {
        // Golden values: a changed hash would move every entry on upgrade.
        assert_eq!(shard_of("d000"), shard_of("d000"));
        let got: Vec<u32> = ["api", "scheduler", "d099"].iter().map(|n| shard_of(n)).collect();
        assert_eq!(got, [7, 58, 59]);
        let used: BTreeSet<u32> = (0..1000).map(|i| shard_of(&format!("w{i}"))).collect();
        assert_eq!(used.len(), SHARDS as usize, "1000 names use every shard");
        let long = object_name(&"p".repeat(253), 63);
        assert!(long.len() <= 253 && long.ends_with("-ledger-3f"), "{long}");
    }

    #[test]
    fn durable_entries_follow_only_once_every_event_is_sent() {
        let mut r = Record::default();
        let bad = Entry { violating: true, codes: [Code::PlaintextTransport].into() };
        assert_eq!(r.decide("api", Some(bad.clone()), 1), 1, "the first announced transition");
        assert_eq!(r.get("api"), Some(&bad));
        assert!(r.take_dirty().is_empty(), "nothing durable before the Event is sent");
        r.sent("api");
        let dirty = r.take_dirty();
        assert_eq!(
            dirty,
            [(shard_of("api"), BTreeMap::from([("api".to_string(), "!PlaintextTransport#1".to_string())]))]
        );
        // A removal without an Event is durable at once; the count stays (the next transition
        // of this Deployment is the second, whatever happened in between).
        r.decide("api", None, 0);
        assert_eq!(r.take_dirty(), [(shard_of("api"), BTreeMap::from([("api".to_string(), "#1".to_string())]))]);
        assert_eq!(r.decide("api", Some(bad.clone()), 1), 2);
        assert!(r.workloads().any(|w| w == "api"));
        // A Deployment that is gone is forgotten, count and all.
        r.forget("api");
        assert_eq!(r.take_dirty(), [(shard_of("api"), BTreeMap::new())]);
        assert_eq!((r.seq("api"), r.workloads().count()), (0, 0));
        // Unchanged: nothing to write.
        assert_eq!(r.decide("web", Some(bad.clone()), 0), 0);
        r.take_dirty();
        r.decide("web", Some(bad), 0);
        assert!(!r.has_dirty());
    }

    #[test]
    fn durable_strings_carry_the_count() {
        let stored = [
            ("a".to_string(), "!PlaintextTransport#3".to_string()),
            ("b".to_string(), "#2".to_string()),
            ("c".to_string(), "MixedSchemes".to_string()),
        ];
        let r = Record::load(stored.iter().map(|(a, b)| (a, b)));
        assert!(r.get("a").is_some_and(|e| e.violating) && r.seq("a") == 3);
        assert!(r.get("b").is_none() && r.seq("b") == 2);
        assert!(r.get("c").is_some_and(|e| !e.violating) && r.seq("c") == 0);
        let mut names: Vec<&String> = r.workloads().collect();
        names.sort();
        assert_eq!(names, ["a", "b", "c"]);
        assert!(!r.has_dirty());
    }

    #[test]
    fn a_loaded_record_knows_what_was_announced() {
        let stored = [("api".to_string(), "!PlaintextTransport".to_string())];
        let r = Record::load(stored.iter().map(|(a, b)| (a, b)));
        assert!(r.get("api").is_some_and(|e| e.violating));
        assert!(!r.has_dirty());
    }

    #[test]
    fn an_earlier_release_status_seeds_the_record() {
        let status = NatsTransportPolicyStatus {
            results: vec![
                WorkloadResult {
                    name: "api".into(),
                    compliant: false,
                    findings: vec![Finding {
                        code: Code::PlaintextOverrideActive,
                        severity: Severity::Violation,
                        container: "c".into(),
                        message: "m".into(),
                    }],
                },
                WorkloadResult {
                    name: "info".into(),
                    compliant: true,
                    findings: vec![Finding {
                        code: Code::AuthAmbiguous,
                        severity: Severity::Info,
                        container: "c".into(),
                        message: "m".into(),
                    }],
                },
            ],
            ..Default::default()
        };
        let seeded = seed(Some(&status));
        assert_eq!(seeded.len(), 1);
        assert_eq!(seeded["api"], Entry { violating: true, codes: [Code::PlaintextOverrideActive].into() });
        let mut r = Record::seeded(seeded);
        assert_eq!(r.take_dirty().len(), 1, "the seed is written");
    }
}
