//! What the operator's memory holds per workload, measured with a counting allocator on the
//! benchmark's Cordum-like Deployments (no cluster needed): the slim records of the cache (and,
//! for comparison, whole Deployments as the cache kept them before), one policy's index with every
//! report, and the announced record. Live heap bytes, not RSS: the difference is the allocator's
//! and the runtime's (see README, "Operator figures").
//!
//! Usage: cargo run --release --example rss_breakdown -- [N=10000]

#[path = "cordum_like/mod.rs"]
mod cordum_like;

use k8s_openapi::api::apps::v1::Deployment;
use natsguard::crd::NatsTransportPolicySpec;
use natsguard::env::ConfigMaps;
use natsguard::evaluate::{EvalContext, WorkloadInput, evaluate_workload};
use natsguard::index::{Entry, PolicyIndex};
use natsguard::ledger::{self, Record};
use natsguard::slim::{DeploymentRecord, Interner, Relevance, SlimWorkload};
use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicIsize, Ordering};

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every call is forwarded to the system allocator unchanged; only a counter is added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: forwarded with the caller's layout.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: forwarded with the caller's pointer and layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn live() -> isize {
    LIVE.load(Ordering::Relaxed)
}

fn mib(b: isize) -> f64 {
    (b as f64 / 1024.0 / 1024.0 * 10.0).round() / 10.0
}

fn main() {
    let n: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(10000);
    let relevance = Relevance::default();
    let spec = NatsTransportPolicySpec::default();
    let mut cms = ConfigMaps { complete: true, ..Default::default() };
    for i in 0..cordum_like::CONFIGMAPS {
        let cm = cordum_like::configmap(i);
        let data: BTreeMap<String, String> = serde_json::from_value(cm["data"].clone()).unwrap_or_default();
        cms.insert("ns", &format!("cordum-config-{i}"), data);
    }

    // The cache: slim records by name.
    let before = live();
    let mut cache: HashMap<String, Arc<SlimWorkload>> = HashMap::new();
    let mut interner = Interner::default();
    let mut json_bytes = 0;
    for i in 0..n {
        let mut d = cordum_like::deployment(i);
        d["metadata"]["namespace"] = "ns".into();
        d["metadata"]["uid"] = format!("{:08x}-2f7a-4b9c-9d55-0f3c5a0e7a11", i).into();
        let text = serde_json::to_string(&d).unwrap_or_default();
        json_bytes += text.len();
        let Ok(record) = serde_json::from_str::<DeploymentRecord>(&text) else { continue };
        cache.insert(cordum_like::name(i), Arc::new(relevance.slim(record, &mut interner)));
    }
    let slim = live() - before;

    // For comparison: whole Deployments (1,000, scaled), as a cache of Deployment objects holds them.
    let sample = n.min(1000);
    let before = live();
    let whole: Vec<Deployment> =
        (0..sample).filter_map(|i| serde_json::from_value(cordum_like::deployment(i)).ok()).collect();
    let whole_bytes = (live() - before) * n as isize / sample.max(1) as isize;
    drop(whole);

    // One policy's index: every report.
    let before = live();
    let mut index = PolicyIndex::default();
    let now = "2026-12-01T00:00:00Z".parse().unwrap_or(k8s_openapi::jiff::Timestamp::UNIX_EPOCH);
    let mut reports = Vec::new();
    for (name, w) in &cache {
        let pod = w.pod.to_pod_env();
        let input = WorkloadInput { namespace: "ns", name, annotations: w.annotations(), pod: &pod };
        let report = evaluate_workload(&spec, &input, &cms, &EvalContext::at(now));
        reports.push((name.clone(), ledger::Entry::of(&report)));
        if reports.len() % 100 == 0 {
            // As the planner leaves it after each reconcile: whole reports only for the listed window.
            let _ = index.window();
        }
        let entry = Entry::new(w.uid().to_owned(), 1, 0, &report);
        index.insert(name, entry, report);
    }
    let _ = index.window();
    let index_bytes = live() - before;
    let findings: usize =
        cache.keys().filter_map(|n| index.get(n)).map(|e| e.summary.report().findings().count()).sum();

    // The announced record.
    let before = live();
    let mut record = Record::default();
    for (name, entry) in reports.drain(..) {
        record.decide(&name, entry, 0);
    }
    let _ = record.take_dirty();
    let record_bytes = live() - before;

    println!(
        "{}",
        serde_json::json!({
            "n": n,
            "deployment_json_bytes": json_bytes / n.max(1),
            "whole_deployments_mib": mib(whole_bytes),
            "slim_records_mib": mib(slim),
            "slim_bytes_per_workload": slim / n.max(1) as isize,
            "interned_strings": interner.len(),
            "index_mib": mib(index_bytes),
            "index_bytes_per_workload": index_bytes / n.max(1) as isize,
            "findings_per_workload": findings as f64 / n.max(1) as f64,
            "record_mib": mib(record_bytes),
        })
    );
}
