//! Prometheus metrics, rendered in the text exposition format. Small and dependency-free:
//! counters, a duration histogram and labelled gauges that are replaced per policy.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

const BUCKETS: [f64; 9] = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0];

/// One policy's contribution to the gauges.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PolicyGauges {
    pub violations: u64,
    pub open: u64,
    pub overdue: u64,
    /// (incident name, deployment, rollback deadline in unix seconds)
    pub deadlines: Vec<(String, String, i64)>,
}

#[derive(Default)]
pub struct Metrics {
    reconcile_ok: AtomicU64,
    reconcile_error: AtomicU64,
    duration_buckets: [AtomicU64; BUCKETS.len()],
    duration_count: AtomicU64,
    duration_sum_micros: AtomicU64,
    /// (namespace, policy) -> gauges
    policies: Mutex<BTreeMap<(String, String), PolicyGauges>>,
}

impl Metrics {
    pub fn reconciled(&self, ok: bool, took: Duration) {
        if ok { &self.reconcile_ok } else { &self.reconcile_error }.fetch_add(1, Ordering::Relaxed);
        let secs = took.as_secs_f64();
        for (i, upper) in BUCKETS.iter().enumerate() {
            if secs <= *upper {
                self.duration_buckets[i].fetch_add(1, Ordering::Relaxed);
            }
        }
        self.duration_count.fetch_add(1, Ordering::Relaxed);
        self.duration_sum_micros.fetch_add(took.as_micros() as u64, Ordering::Relaxed);
    }

    pub fn set_policy(&self, namespace: &str, policy: &str, gauges: PolicyGauges) {
        if let Ok(mut map) = self.policies.lock() {
            map.insert((namespace.to_owned(), policy.to_owned()), gauges);
        }
    }

    pub fn forget_policy(&self, namespace: &str, policy: &str) {
        if let Ok(mut map) = self.policies.lock() {
            map.remove(&(namespace.to_owned(), policy.to_owned()));
        }
    }

    /// Keep only the policies for which `keep(namespace, policy)` holds (deleted policies go).
    pub fn retain_policies(&self, mut keep: impl FnMut(&str, &str) -> bool) {
        if let Ok(mut map) = self.policies.lock() {
            map.retain(|(ns, policy), _| keep(ns, policy));
        }
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        let ok = self.reconcile_ok.load(Ordering::Relaxed);
        let err = self.reconcile_error.load(Ordering::Relaxed);
        let _ = writeln!(out, "# HELP natsguard_reconcile_total Policy reconciliations by result.");
        let _ = writeln!(out, "# TYPE natsguard_reconcile_total counter");
        let _ = writeln!(out, "natsguard_reconcile_total{{result=\"ok\"}} {ok}");
        let _ = writeln!(out, "natsguard_reconcile_total{{result=\"error\"}} {err}");
        let _ = writeln!(out, "# HELP natsguard_reconcile_errors_total Failed policy reconciliations.");
        let _ = writeln!(out, "# TYPE natsguard_reconcile_errors_total counter");
        let _ = writeln!(out, "natsguard_reconcile_errors_total {err}");
        let _ = writeln!(out, "# HELP natsguard_reconcile_duration_seconds Time spent reconciling one policy.");
        let _ = writeln!(out, "# TYPE natsguard_reconcile_duration_seconds histogram");
        for (i, upper) in BUCKETS.iter().enumerate() {
            let n = self.duration_buckets[i].load(Ordering::Relaxed);
            let _ = writeln!(out, "natsguard_reconcile_duration_seconds_bucket{{le=\"{upper}\"}} {n}");
        }
        let count = self.duration_count.load(Ordering::Relaxed);
        let sum = self.duration_sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "natsguard_reconcile_duration_seconds_bucket{{le=\"+Inf\"}} {count}");
        let _ = writeln!(out, "natsguard_reconcile_duration_seconds_sum {sum}");
        let _ = writeln!(out, "natsguard_reconcile_duration_seconds_count {count}");

        let Ok(map) = self.policies.lock() else { return out };
        let _ = writeln!(out, "# HELP natsguard_policy_violations Violation findings across a policy's Deployments.");
        let _ = writeln!(out, "# TYPE natsguard_policy_violations gauge");
        for ((ns, policy), g) in map.iter() {
            let _ = writeln!(
                out,
                "natsguard_policy_violations{{namespace=\"{}\",policy=\"{}\"}} {}",
                esc(ns),
                esc(policy),
                g.violations
            );
        }
        let mut open: BTreeMap<&str, u64> = BTreeMap::new();
        let mut overdue: BTreeMap<&str, u64> = BTreeMap::new();
        for ((ns, _), g) in map.iter() {
            *open.entry(ns).or_default() += g.open;
            *overdue.entry(ns).or_default() += g.overdue;
        }
        let _ = writeln!(out, "# HELP natsguard_incidents_open Open plaintext override incidents.");
        let _ = writeln!(out, "# TYPE natsguard_incidents_open gauge");
        for (ns, n) in &open {
            let _ = writeln!(out, "natsguard_incidents_open{{namespace=\"{}\"}} {n}", esc(ns));
        }
        let _ = writeln!(out, "# HELP natsguard_incidents_overdue Open incidents past their rollback deadline.");
        let _ = writeln!(out, "# TYPE natsguard_incidents_overdue gauge");
        for (ns, n) in &overdue {
            let _ = writeln!(out, "natsguard_incidents_overdue{{namespace=\"{}\"}} {n}", esc(ns));
        }
        let _ = writeln!(
            out,
            "# HELP natsguard_incident_rollback_deadline_seconds Rollback deadline of an open incident (unix seconds)."
        );
        let _ = writeln!(out, "# TYPE natsguard_incident_rollback_deadline_seconds gauge");
        for ((ns, _), g) in map.iter() {
            for (incident, deployment, at) in &g.deadlines {
                let _ = writeln!(
                    out,
                    "natsguard_incident_rollback_deadline_seconds{{namespace=\"{}\",incident=\"{}\",deployment=\"{}\"}} {at}",
                    esc(ns),
                    esc(incident),
                    esc(deployment)
                );
            }
        }
        out
    }
}

fn esc(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_histogram_and_gauges() {
        let m = Metrics::default();
        m.reconciled(true, Duration::from_millis(3));
        m.reconciled(false, Duration::from_millis(300));
        m.set_policy(
            "prod",
            "nats",
            PolicyGauges {
                violations: 2,
                open: 1,
                overdue: 1,
                deadlines: vec![("api-1a".into(), "api".into(), 1_800_000_000)],
            },
        );
        let text = m.render();
        assert!(text.contains("natsguard_reconcile_total{result=\"ok\"} 1\n"));
        assert!(text.contains("natsguard_reconcile_errors_total 1\n"));
        assert!(text.contains("natsguard_reconcile_duration_seconds_bucket{le=\"0.005\"} 1\n"));
        assert!(text.contains("natsguard_reconcile_duration_seconds_count 2\n"));
        assert!(text.contains("natsguard_policy_violations{namespace=\"prod\",policy=\"nats\"} 2\n"));
        assert!(text.contains("natsguard_incidents_overdue{namespace=\"prod\"} 1\n"));
        assert!(text.contains(
            "natsguard_incident_rollback_deadline_seconds{namespace=\"prod\",incident=\"api-1a\",deployment=\"api\"} 1800000000\n"
        ));
        m.forget_policy("prod", "nats");
        assert!(!m.render().contains("policy=\"nats\""));
    }
}
