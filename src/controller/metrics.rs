//! Prometheus metrics (docs/configuration.md, "Metrics"), kept with the `prometheus-client`
//! crate and served in the Prometheus text format 0.0.4. Counters and histograms are updated as
//! things happen; the per-policy gauges are a table replaced per policy and rendered at scrape
//! time, so a deleted policy's series disappear with it.

use super::watch::StreamHealth;
use crate::report::Override;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The `Content-Type` of [`Metrics::render`]'s output.
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// Reconcile latency buckets (seconds), as before the move to prometheus-client.
const RECONCILE_BUCKETS: [f64; 9] = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0];
/// Admission latency buckets (seconds): the contract's target is p99 <= 10 ms (docs/configuration.md, "Admission").
const ADMISSION_BUCKETS: [f64; 10] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0];

/// One policy's contribution to the gauges.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PolicyGauges {
    pub violations: u64,
    pub open: u64,
    pub overdue: u64,
    /// (incident name, deployment, override, rollback deadline in unix seconds)
    pub deadlines: Vec<(String, String, Override, i64)>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DecisionLabels {
    decision: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ErrorLabels {
    controller: &'static str,
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EventLabels {
    result: &'static str,
}

pub struct Metrics {
    registry: Registry,
    reconciles: Family<ResultLabels, Counter>,
    events: Family<EventLabels, Counter>,
    events_pending: Gauge,
    evaluated: Counter,
    watches: Arc<WatchTable>,
    errors: Family<ErrorLabels, Counter>,
    reconcile_duration: Histogram,
    admission_duration: Histogram,
    admission_decisions: Family<DecisionLabels, Counter>,
    leader: Gauge,
    policies: Arc<PolicyTable>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        let reconciles = Family::<ResultLabels, Counter>::default();
        // Both series exist from the start, so rate() works from the first scrape.
        for result in ["ok", "error"] {
            let _ = reconciles.get_or_create(&ResultLabels { result });
        }
        registry.register("natsguard_reconcile", "Policy reconciliations by result", reconciles.clone());
        let errors = Family::<ErrorLabels, Counter>::default();
        for controller in ["policy", "incident"] {
            for kind in kind::ALL {
                let _ = errors.get_or_create(&ErrorLabels { controller, kind });
            }
        }
        registry.register(
            "natsguard_reconcile_errors",
            "Failed reconciliations by controller (policy, incident) and kind of failure",
            errors.clone(),
        );
        let reconcile_duration = Histogram::new(RECONCILE_BUCKETS);
        registry.register(
            "natsguard_reconcile_duration_seconds",
            "Time spent reconciling one policy",
            reconcile_duration.clone(),
        );
        let admission_duration = Histogram::new(ADMISSION_BUCKETS);
        registry.register(
            "natsguard_admission_duration_seconds",
            "Time spent answering one admission review",
            admission_duration.clone(),
        );
        let admission_decisions = Family::<DecisionLabels, Counter>::default();
        for decision in decision::ALL {
            let _ = admission_decisions.get_or_create(&DecisionLabels { decision });
        }
        registry.register(
            "natsguard_admission_reviews",
            "Admission reviews answered, by decision",
            admission_decisions.clone(),
        );
        let leader = Gauge::default();
        registry.register(
            "natsguard_leader",
            "1 while this replica is the leader (the only one that writes)",
            leader.clone(),
        );
        let policies = Arc::new(PolicyTable::default());
        registry.register_collector(Box::new(policies.clone()));
        let events = Family::<EventLabels, Counter>::default();
        for result in ["sent", "failed"] {
            let _ = events.get_or_create(&EventLabels { result });
        }
        registry.register("natsguard_events", "Events sent, and sends that failed (they are retried)", events.clone());
        let events_pending = Gauge::default();
        registry.register(
            "natsguard_events_pending",
            "Events decided and not sent yet (queued or waiting for a retry)",
            events_pending.clone(),
        );
        let evaluated = Counter::default();
        registry.register(
            "natsguard_workloads_evaluated",
            "Workload evaluations (a change re-evaluates only the workloads it touches)",
            evaluated.clone(),
        );
        let watches = Arc::new(WatchTable::default());
        registry.register_collector(Box::new(watches.clone()));
        Self {
            registry,
            reconciles,
            events,
            events_pending,
            evaluated,
            watches,
            errors,
            reconcile_duration,
            admission_duration,
            admission_decisions,
            leader,
            policies,
        }
    }
}

/// Kinds of reconcile failure, the `kind` label of `natsguard_reconcile_errors_total`.
pub mod kind {
    /// The API server refused for lack of rights (401, 403).
    pub const FORBIDDEN: &str = "forbidden";
    /// A write lost a race (409).
    pub const CONFLICT: &str = "conflict";
    /// The object to write is gone (404, 410).
    pub const NOT_FOUND: &str = "not_found";
    /// The API server rejected what was written (400, 413, 422).
    pub const INVALID: &str = "invalid";
    /// Throttled or failing API server (429, 5xx).
    pub const SERVER: &str = "server";
    /// No answer: connection refused, TLS, timeout.
    pub const UNREACHABLE: &str = "unreachable";
    /// A write refused because this replica does not lead.
    pub const NOT_LEADER: &str = "not_leader";
    /// Anything else.
    pub const OTHER: &str = "other";
    /// Every kind (their series exist from the start, at 0).
    pub const ALL: [&str; 8] = [FORBIDDEN, CONFLICT, NOT_FOUND, INVALID, SERVER, UNREACHABLE, NOT_LEADER, OTHER];
}

/// Answers of the admission webhook, the `decision` label of `natsguard_admission_reviews_total`
/// (docs/configuration.md, "Admission").
pub mod decision {
    use crate::admission::Outcome;

    /// The caches had not synced yet: admitted with a warning, unchecked.
    pub const NOT_SYNCED: &str = "not_synced";
    /// Not an AdmissionReview (answered 400 or 413).
    pub const MALFORMED: &str = "malformed";
    /// Every decision (their series exist from the start, at 0).
    pub const ALL: [&str; 7] = [
        Outcome::NoOpinion.as_str(),
        Outcome::Allowed.as_str(),
        Outcome::Warned.as_str(),
        Outcome::BreakGlass.as_str(),
        Outcome::Denied.as_str(),
        NOT_SYNCED,
        MALFORMED,
    ];
}

impl Metrics {
    /// A policy reconcile finished (`natsguard_reconcile_total`, `..._duration_seconds`).
    pub fn reconciled(&self, ok: bool, took: Duration) {
        self.reconciles.get_or_create(&ResultLabels { result: if ok { "ok" } else { "error" } }).inc();
        self.reconcile_duration.observe(took.as_secs_f64());
    }

    /// A reconcile of `controller` (`policy`, `incident`) failed with a `kind` from [`kind`].
    pub fn reconcile_failed(&self, controller: &'static str, kind: &'static str) {
        self.errors.get_or_create(&ErrorLabels { controller, kind }).inc();
    }

    /// An admission review was answered with a `decision` from [`decision`]
    /// (`natsguard_admission_duration_seconds`, `natsguard_admission_reviews_total`).
    pub fn admission_reviewed(&self, decision: &'static str, took: Duration) {
        self.admission_duration.observe(took.as_secs_f64());
        self.admission_decisions.get_or_create(&DecisionLabels { decision }).inc();
    }

    /// An Event was sent, or a send failed (`natsguard_events_total`).
    pub fn event_sent(&self, ok: bool) {
        self.events.get_or_create(&EventLabels { result: if ok { "sent" } else { "failed" } }).inc();
    }

    /// `natsguard_events_pending`.
    pub fn events_pending(&self, n: i64) {
        self.events_pending.set(n);
    }

    /// `n` workloads were evaluated (`natsguard_workloads_evaluated_total`).
    pub fn evaluated(&self, n: u64) {
        self.evaluated.inc_by(n);
    }

    /// Report this watch stream in `natsguard_watch_stale_seconds` and `natsguard_watch_errors_total`.
    pub fn watch_health(&self, health: Arc<StreamHealth>) {
        if let Ok(mut w) = self.watches.streams.lock() {
            w.push(health);
        }
    }

    /// `natsguard_leader`.
    pub fn set_leader(&self, leading: bool) {
        self.leader.set(i64::from(leading));
    }

    pub fn set_policy(&self, namespace: &str, policy: &str, gauges: PolicyGauges) {
        if let Ok(mut map) = self.policies.map.lock() {
            map.insert((namespace.to_owned(), policy.to_owned()), gauges);
        }
    }

    pub fn forget_policy(&self, namespace: &str, policy: &str) {
        if let Ok(mut map) = self.policies.map.lock() {
            map.remove(&(namespace.to_owned(), policy.to_owned()));
        }
    }

    /// Keep only the policies for which `keep(namespace, policy)` holds (deleted policies go).
    pub fn retain_policies(&self, mut keep: impl FnMut(&str, &str) -> bool) {
        if let Ok(mut map) = self.policies.map.lock() {
            map.retain(|(ns, policy), _| keep(ns, policy));
        }
    }

    /// Everything, in the Prometheus text format ([`CONTENT_TYPE`]).
    pub fn render(&self) -> String {
        let mut out = String::new();
        if let Err(e) = prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry) {
            tracing::warn!(error = %e, "cannot render metrics");
        }
        out
    }
}

/// The watch streams' health, rendered at scrape time.
#[derive(Debug, Default)]
struct WatchTable {
    streams: Mutex<Vec<Arc<StreamHealth>>>,
}

impl Collector for WatchTable {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Ok(streams) = self.streams.lock() else { return Ok(()) };
        let mut family = encoder.encode_descriptor(
            "natsguard_watch_stale_seconds",
            "Seconds since a watch stream last made progress, while it fails (0 while it works)",
            None,
            MetricType::Gauge,
        )?;
        for s in streams.iter() {
            let labels = [("resource", s.resource), ("scope", s.scope.as_str())];
            ConstGauge::new(s.stale_seconds()).encode(family.encode_family(&labels)?)?;
        }
        let mut family = encoder.encode_descriptor(
            "natsguard_watch_errors",
            "Errors of a watch stream (each is retried after a short backoff of its own)",
            None,
            MetricType::Counter,
        )?;
        for s in streams.iter() {
            let labels = [("resource", s.resource), ("scope", s.scope.as_str())];
            prometheus_client::metrics::counter::ConstCounter::new(s.errors())
                .encode(family.encode_family(&labels)?)?;
        }
        Ok(())
    }
}

/// The per-policy gauges, rendered at scrape time.
#[derive(Debug, Default)]
struct PolicyTable {
    /// (namespace, policy) -> gauges
    map: Mutex<BTreeMap<(String, String), PolicyGauges>>,
}

fn gauge(v: u64) -> ConstGauge<i64> {
    ConstGauge::new(i64::try_from(v).unwrap_or(i64::MAX))
}

impl Collector for PolicyTable {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Ok(map) = self.map.lock() else { return Ok(()) };
        let mut family = encoder.encode_descriptor(
            "natsguard_policy_violations",
            "Violation findings across a policy's Deployments",
            None,
            MetricType::Gauge,
        )?;
        for ((ns, policy), g) in map.iter() {
            gauge(g.violations)
                .encode(family.encode_family(&[("namespace", ns.as_str()), ("policy", policy.as_str())])?)?;
        }
        let mut open: BTreeMap<&str, u64> = BTreeMap::new();
        let mut overdue: BTreeMap<&str, u64> = BTreeMap::new();
        for ((ns, _), g) in map.iter() {
            *open.entry(ns).or_default() += g.open;
            *overdue.entry(ns).or_default() += g.overdue;
        }
        let mut family = encoder.encode_descriptor(
            "natsguard_incidents_open",
            "Open break-glass override incidents",
            None,
            MetricType::Gauge,
        )?;
        for (ns, n) in &open {
            gauge(*n).encode(family.encode_family(&[("namespace", *ns)])?)?;
        }
        let mut family = encoder.encode_descriptor(
            "natsguard_incidents_overdue",
            "Open incidents past their rollback deadline",
            None,
            MetricType::Gauge,
        )?;
        for (ns, n) in &overdue {
            gauge(*n).encode(family.encode_family(&[("namespace", *ns)])?)?;
        }
        let mut family = encoder.encode_descriptor(
            "natsguard_incident_rollback_deadline_seconds",
            "Rollback deadline of an open incident (unix seconds)",
            None,
            MetricType::Gauge,
        )?;
        for ((ns, _), g) in map.iter() {
            for (incident, deployment, which, at) in &g.deadlines {
                let labels = [
                    ("namespace", ns.as_str()),
                    ("incident", incident.as_str()),
                    ("deployment", deployment.as_str()),
                    ("override", which.as_str()),
                ];
                ConstGauge::new(*at).encode(family.encode_family(&labels)?)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_histograms_and_gauges_in_the_prometheus_text_format() {
        let m = Metrics::default();
        let text = m.render();
        // Every family is declared before anything happened.
        for family in [
            "# TYPE natsguard_reconcile_total counter",
            "# TYPE natsguard_reconcile_errors_total counter",
            "# TYPE natsguard_reconcile_duration_seconds histogram",
            "# TYPE natsguard_admission_duration_seconds histogram",
            "# TYPE natsguard_admission_reviews_total counter",
            "# TYPE natsguard_leader gauge",
            "# TYPE natsguard_policy_violations gauge",
            "# TYPE natsguard_incidents_open gauge",
            "# TYPE natsguard_incidents_overdue gauge",
            "# TYPE natsguard_incident_rollback_deadline_seconds gauge",
        ] {
            assert!(text.contains(family), "{family} missing in:\n{text}");
        }
        assert!(text.contains("natsguard_reconcile_total{result=\"error\"} 0\n"), "{text}");
        assert!(text.contains("natsguard_leader 0\n"), "{text}");

        m.reconciled(true, Duration::from_millis(3));
        m.reconciled(false, Duration::from_millis(300));
        m.reconcile_failed("policy", kind::FORBIDDEN);
        m.reconcile_failed("policy", kind::FORBIDDEN);
        m.reconcile_failed("incident", kind::UNREACHABLE);
        m.admission_reviewed(decision::MALFORMED, Duration::from_micros(700));
        m.admission_reviewed(crate::admission::Outcome::Denied.as_str(), Duration::from_micros(2));
        m.set_leader(true);
        m.set_policy(
            "prod",
            "nats",
            PolicyGauges {
                violations: 2,
                open: 1,
                overdue: 1,
                deadlines: vec![("api-1a".into(), "api".into(), Override::NoAuth, 1_800_000_000)],
            },
        );
        m.set_policy("prod", "other", PolicyGauges { open: 2, ..Default::default() });
        let text = m.render();
        for line in [
            "natsguard_reconcile_total{result=\"ok\"} 1\n",
            "natsguard_reconcile_total{result=\"error\"} 1\n",
            "natsguard_reconcile_errors_total{controller=\"policy\",kind=\"forbidden\"} 2\n",
            "natsguard_reconcile_errors_total{controller=\"incident\",kind=\"unreachable\"} 1\n",
            "natsguard_reconcile_duration_seconds_bucket{le=\"0.005\"} 1\n",
            "natsguard_reconcile_duration_seconds_bucket{le=\"+Inf\"} 2\n",
            "natsguard_reconcile_duration_seconds_count 2\n",
            "natsguard_admission_duration_seconds_bucket{le=\"0.001\"} 2\n",
            "natsguard_admission_reviews_total{decision=\"malformed\"} 1\n",
            "natsguard_admission_reviews_total{decision=\"denied\"} 1\n",
            "natsguard_admission_reviews_total{decision=\"break_glass\"} 0\n",
            "natsguard_leader 1\n",
            "natsguard_policy_violations{namespace=\"prod\",policy=\"nats\"} 2\n",
            "natsguard_incidents_open{namespace=\"prod\"} 3\n",
            "natsguard_incidents_overdue{namespace=\"prod\"} 1\n",
            "natsguard_incident_rollback_deadline_seconds{namespace=\"prod\",incident=\"api-1a\",deployment=\"api\",override=\"NoAuth\"} 1800000000\n",
        ] {
            assert!(text.contains(line), "{line} missing in:\n{text}");
        }
        m.forget_policy("prod", "nats");
        assert!(!m.render().contains("policy=\"nats\""));
        m.retain_policies(|_, _| false);
        assert!(!m.render().contains("namespace=\"prod\""));
    }

    #[test]
    fn label_values_are_escaped() {
        let m = Metrics::default();
        m.set_policy("ns", "a\"b\\c\nd", PolicyGauges { violations: 1, ..Default::default() });
        let text = m.render();
        assert!(text.contains(r#"policy="a\"b\\c\nd""#), "{text}");
    }
}
