//! Operator figures against the real control plane (run by `hack/bench-operator.sh`, `make
//! bench-operator`). For each size N, in a fresh namespace of N realistic Cordum-like Deployments
//! (1-3 containers, 10-30 env vars each, about 6.5 kB of YAML):
//! - the time of a raw paged LIST of them (the floor for any cache), and the operator's cold start
//!   to its first complete status;
//! - resident memory with the caches only (no policy) and with the policy's index, after settling;
//! - a stream of changes at a fixed rate (each flips one Deployment between compliant and
//!   violating): change-to-Event latency (p50/p99), CPU per change, and Events missing or
//!   spurious (the expected Events are computed with natsguard's own evaluator);
//! - API writes when a restarted operator lists everything again and nothing changed.
//!
//! One JSON line per size, then one summary line with every run and the CPU-per-change ratio of
//! the largest to the smallest size. A benchmark that reports figures, not a test: it asserts
//! nothing about them.
//!
//! Usage: bench_operator <natsguard binary> [sizes=1000,10000] [rate=20] [changes=600]

use futures::{StreamExt, TryStreamExt, stream};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::watcher;
use kube::{Api, Client, CustomResourceExt, ResourceExt};
use natsguard::crd::{NatsTransportIncident, NatsTransportLedger, NatsTransportPolicy, NatsTransportPolicySpec};
use natsguard::env::ConfigMaps;
use natsguard::evaluate::{EvalContext, WorkloadInput, WorkloadReport, evaluate_workload};
use natsguard::ledger::Entry;
use natsguard::workload::PodEnv;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

#[path = "cordum_like/mod.rs"]
mod cordum_like;
use cordum_like::{CONFIGMAPS, SERVICES, Variant, configmap, deployment, name, url_of, variant};

#[tokio::main]
async fn main() -> Res<()> {
    let args: Vec<String> = std::env::args().collect();
    let bin = args.get(1).ok_or("usage: bench_operator <natsguard binary> [sizes] [rate] [changes]")?.clone();
    let sizes: Vec<usize> = args
        .get(2)
        .map(|s| s.split(',').map(str::parse).collect::<Result<_, _>>())
        .transpose()?
        .unwrap_or_else(|| vec![1000, 10000]);
    let rate: f64 = args.get(3).map(|s| s.parse()).transpose()?.unwrap_or(20.0);
    let changes: usize = args.get(4).map(|s| s.parse()).transpose()?.unwrap_or(600);
    let client = Client::try_default().await?;
    install_crds(&client).await?;
    let mut runs = Vec::new();
    for n in sizes {
        let run = bench(&client, &bin, n, rate, changes).await?;
        println!("{run}");
        runs.push(run);
    }
    let cpu = |r: &Value| r["cpu_ms_per_change"].as_f64().unwrap_or(0.0);
    let ratio = match (runs.first(), runs.last()) {
        (Some(a), Some(b)) if runs.len() > 1 && cpu(a) > 0.0 => Some(cpu(b) / cpu(a)),
        _ => None,
    };
    println!("{}", json!({ "bench": "operator", "runs": runs, "cpu_per_change_ratio_largest_to_smallest": ratio }));
    Ok(())
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

async fn bench(client: &Client, bin: &str, n: usize, rate: f64, changes: usize) -> Res<Value> {
    let load_start = loadavg();
    let ns = namespace(client, &format!("n{n}")).await?;
    eprintln!("[bench {n}] namespace {ns}: creating {CONFIGMAPS} ConfigMaps and {n} Deployments");
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    let mut cm_data = ConfigMaps { complete: true, ..Default::default() };
    for i in 0..CONFIGMAPS {
        let cm = configmap(i);
        cms.create(&PostParams::default(), &serde_json::from_value(cm.clone())?).await?;
        let data: BTreeMap<String, String> = serde_json::from_value(cm["data"].clone())?;
        cm_data.insert(&ns, &format!("cordum-config-{i}"), data);
    }
    let deploys: Api<Deployment> = Api::namespaced(client.clone(), &ns);
    let started = Instant::now();
    let bytes: usize = stream::iter(0..n)
        .map(|i| {
            let deploys = deploys.clone();
            async move {
                let d = deployment(i);
                let size = serde_json::to_vec(&d)?.len();
                deploys.create(&PostParams::default(), &serde_json::from_value(d)?).await?;
                Res::Ok(size)
            }
        })
        .buffer_unordered(24)
        .try_fold(0, |a, b| async move { Ok(a + b) })
        .await?;
    eprintln!(
        "[bench {n}] created in {:.1?} ({} kB of JSON per Deployment)",
        started.elapsed(),
        bytes / n.max(1) / 1000
    );

    let raw_list = raw_list(client, &ns).await?;
    eprintln!("[bench {n}] raw paged LIST: {raw_list:.2?}");

    // Caches only: no policy yet.
    let mut op = Operator::start(bin, &ns)?;
    op.wait_ready(Duration::from_secs(600)).await?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (rss_caches, _) = op.memory()?;
    op.stop()?;

    // Cold start with the policy: to the first complete status.
    let spec = NatsTransportPolicySpec {
        selector: serde_json::from_value(json!({"matchLabels": {"app.kubernetes.io/part-of": "cordum"}}))?,
        ..Default::default()
    };
    policy(client, &ns, &spec).await?;
    let started = Instant::now();
    let mut op = Operator::start(bin, &ns)?;
    let policies: Api<NatsTransportPolicy> = Api::namespaced(client.clone(), &ns);
    loop {
        let p = policies.get("bench").await?;
        if p.status.as_ref().is_some_and(|s| s.workloads as usize == n) {
            break;
        }
        if started.elapsed() > Duration::from_secs(900) {
            return Err(format!("policy never saw {n} workloads").into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let cold_start = started.elapsed();
    eprintln!("[bench {n}] cold start to the first complete status: {cold_start:.2?}; announcing");
    op.wait_idle(Duration::from_secs(1800)).await?;
    eprintln!("[bench {n}] announced everything after {:.1?}", started.elapsed());
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (rss_settled, _) = op.memory()?;

    // The Deployments as natsguard's own evaluator sees them: what each change should announce.
    let flips: Vec<usize> = (0..n).filter(|i| variant(*i) == Variant::Literal).collect();
    let mut reports: HashMap<usize, WorkloadReport> = HashMap::new();
    let now = k8s_openapi::jiff::Timestamp::now();
    let evaluate = |i: usize, url: &str| -> Res<WorkloadReport> {
        let mut d = deployment(i);
        d["spec"]["template"]["spec"]["containers"][0]["env"][1]["value"] = json!(url);
        let pod: PodEnv = serde_json::from_value(d["spec"]["template"]["spec"].clone())?;
        let a = BTreeMap::new();
        let input = WorkloadInput { namespace: &ns, name: &name(i), annotations: &a, pod: &pod };
        Ok(evaluate_workload(&spec, &input, &cm_data, &EvalContext::at(now)))
    };

    // Changes at `rate`, each expecting the Events natsguard's rules say it causes.
    let seen: Arc<Mutex<Vec<(String, String, Instant)>>> = Arc::default();
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
    let watch = tokio::spawn(watch_events(client.clone(), ns.clone(), seen.clone(), ready_tx));
    let _ = tokio::time::timeout(Duration::from_secs(300), ready_rx).await;
    let cpu_before = op.cpu_ms()?;
    let mut expected: Vec<(usize, Vec<String>, Instant)> = Vec::with_capacity(changes);
    let interval = Duration::from_secs_f64(1.0 / rate);
    let churn_started = Instant::now();
    let mut state: HashMap<usize, bool> = HashMap::new();
    for c in 0..changes {
        let due = churn_started + interval.mul_f64(c as f64);
        tokio::time::sleep_until(due.into()).await;
        let i = flips[(c * 7919) % flips.len()];
        let violating = !state.get(&i).copied().unwrap_or(false);
        let url = if violating { "nats://nats.cordum.svc:4222" } else { url_of(i) };
        let before = match reports.remove(&i) {
            Some(r) => r,
            None => evaluate(i, url_of(i))?,
        };
        let after = evaluate(i, url)?;
        let (_, notices) = natsguard::notices::workload(&name(i), Entry::of(&before).as_ref(), &after);
        reports.insert(i, after);
        state.insert(i, violating);
        let svc = SERVICES[i % SERVICES.len()];
        let patch = json!({"spec": {"template": {"spec": {"containers": [
            {"name": svc, "env": [{"name": "NATS_URL", "value": url}]}
        ]}}}});
        let t = Instant::now();
        deploys.patch(&name(i), &PatchParams::default(), &Patch::Strategic(&patch)).await?;
        expected.push((i, notices.into_iter().map(|n| n.reason).collect(), t));
    }
    let last = Instant::now();
    // Wait for every expected Event (bounded).
    loop {
        let missing = unmatched(&expected, &seen.lock().map_err(|_| "lock")?.clone()).0;
        if missing == 0 || last.elapsed() > Duration::from_secs(60) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    op.wait_idle(Duration::from_secs(60)).await?;
    let cpu_ms = op.cpu_ms()? - cpu_before;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let events = seen.lock().map_err(|_| "lock")?.clone();
    let (missing, spurious, mut latencies) = unmatched(&expected, &events);
    latencies.sort();
    let pct = |p: f64| {
        latencies.get(((latencies.len() as f64 - 1.0) * p).round() as usize).map_or(-1.0, |d| d.as_secs_f64() * 1000.0)
    };
    let (rss, hwm) = op.memory()?;
    eprintln!(
        "[bench {n}] {changes} changes at {rate}/s: p50 {:.0} ms, p99 {:.0} ms, {cpu_ms} CPU ms, {missing} missing, {spurious} spurious",
        pct(0.5),
        pct(0.99)
    );

    // A restart that lists everything again: nothing changed, so nothing is written.
    op.stop()?;
    let writes_before = snapshot(client, &ns).await?;
    let events_before = seen.lock().map_err(|_| "lock")?.len();
    let mut op = Operator::start(bin, &ns)?;
    op.wait_ready(Duration::from_secs(600)).await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    op.wait_idle(Duration::from_secs(60)).await?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let relist_writes = written(&writes_before, &snapshot(client, &ns).await?)
        + (seen.lock().map_err(|_| "lock")?.len() - events_before);
    op.stop()?;
    watch.abort();
    let load_end = loadavg();

    // Leave the control plane as it was (there is no namespace controller to do it).
    let dp = DeleteParams::default();
    let _ = deploys.delete_collection(&dp, &ListParams::default()).await;
    let _ = Api::<Event>::namespaced(client.clone(), &ns).delete_collection(&dp, &ListParams::default()).await;
    let _ = cms.delete_collection(&dp, &ListParams::default()).await;
    let _ = Api::<Namespace>::all(client.clone()).delete(&ns, &dp).await;

    let mib = |kib: u64| (kib as f64 / 1024.0 * 10.0).round() / 10.0;
    Ok(json!({
        "n": n,
        "rate": rate,
        "changes": changes,
        "deployment_json_bytes": bytes / n.max(1),
        "raw_list_s": round(raw_list.as_secs_f64()),
        "cold_start_s": round(cold_start.as_secs_f64()),
        "cold_start_target_s": round(1.5 * raw_list.as_secs_f64() + 2.0),
        "rss_mib": mib(rss),
        "rss_peak_mib": mib(hwm),
        "rss_caches_only_mib": mib(rss_caches),
        "rss_settled_after_cold_start_mib": mib(rss_settled),
        "p50_ms": round(pct(0.5)),
        "p99_ms": round(pct(0.99)),
        "cpu_ms_per_change": round(cpu_ms as f64 / changes as f64),
        "missing": missing,
        "spurious": spurious,
        "noop_relist_writes": relist_writes,
        "load_start": load_start,
        "load_end": load_end,
    }))
}

fn round(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// (expected Events never seen, Events seen that no change explains, latency of each change to
/// its first Event).
fn unmatched(
    expected: &[(usize, Vec<String>, Instant)],
    seen: &[(String, String, Instant)],
) -> (usize, usize, Vec<Duration>) {
    let mut pool: Vec<Option<&(String, String, Instant)>> = seen.iter().map(Some).collect();
    let mut missing = 0;
    let mut latencies = Vec::new();
    for (i, reasons, at) in expected {
        let d = name(*i);
        let mut first: Option<Instant> = None;
        for reason in reasons {
            let found = pool.iter_mut().find(|e| e.is_some_and(|(r, who, t)| r == reason && *who == d && t >= at));
            match found {
                Some(slot) => {
                    let t = slot.map(|e| e.2);
                    *slot = None;
                    first = match (first, t) {
                        (Some(a), Some(b)) => Some(a.min(b)),
                        (None, b) => b,
                        (a, None) => a,
                    };
                }
                None => missing += 1,
            }
        }
        if let Some(t) = first {
            latencies.push(t.duration_since(*at));
        }
    }
    let spurious = pool.iter().filter(|e| e.is_some()).count();
    (missing, spurious, latencies)
}

/// Records every Event created after the watch's initial list: (reason, regarding, when seen).
async fn watch_events(
    client: Client,
    ns: String,
    seen: Arc<Mutex<Vec<(String, String, Instant)>>>,
    ready: tokio::sync::oneshot::Sender<()>,
) {
    let api: Api<Event> = Api::namespaced(client, &ns);
    let mut ready = Some(ready);
    let mut s = watcher(api, watcher::Config::default()).boxed();
    while let Some(e) = s.next().await {
        match e {
            Ok(watcher::Event::InitDone) => {
                if let Some(r) = ready.take() {
                    let _ = r.send(());
                }
            }
            Ok(watcher::Event::Apply(ev)) => {
                let who = ev.regarding.as_ref().and_then(|r| r.name.clone()).unwrap_or_default();
                if let Ok(mut v) = seen.lock() {
                    v.push((ev.reason.clone().unwrap_or_default(), who, Instant::now()));
                }
            }
            _ => {}
        }
    }
}

/// What natsguard writes to besides Events (counted by the watch): the policy, the ledgers and
/// the incidents, by resourceVersion.
async fn snapshot(client: &Client, ns: &str) -> Res<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    let p = Api::<NatsTransportPolicy>::namespaced(client.clone(), ns).get("bench").await?;
    out.insert("policy".to_owned(), p.resource_version().unwrap_or_default());
    for l in Api::<NatsTransportLedger>::namespaced(client.clone(), ns).list(&ListParams::default()).await? {
        out.insert(format!("ledger/{}", l.name_any()), l.resource_version().unwrap_or_default());
    }
    for i in Api::<NatsTransportIncident>::namespaced(client.clone(), ns).list(&ListParams::default()).await? {
        out.insert(format!("incident/{}", i.name_any()), i.resource_version().unwrap_or_default());
    }
    Ok(out)
}

/// Objects written between two snapshots.
fn written(before: &BTreeMap<String, String>, after: &BTreeMap<String, String>) -> usize {
    let changed = after.iter().filter(|(k, v)| before.get(*k) != Some(*v)).count();
    changed + before.keys().filter(|k| !after.contains_key(*k)).count()
}

/// A paged LIST of every Deployment (500 per page, as the operator's watch lists), reading each
/// page and nothing more: the floor for any cache.
async fn raw_list(client: &Client, ns: &str) -> Res<Duration> {
    #[derive(serde::Deserialize)]
    struct Page {
        metadata: PageMeta,
        items: Vec<serde::de::IgnoredAny>,
    }
    #[derive(serde::Deserialize)]
    struct PageMeta {
        #[serde(rename = "continue")]
        cont: Option<String>,
    }
    let started = Instant::now();
    let mut cont: Option<String> = None;
    let mut items = 0;
    loop {
        let mut url = format!("/apis/apps/v1/namespaces/{ns}/deployments?limit=500");
        if let Some(c) = &cont {
            url.push_str(&format!("&continue={c}"));
        }
        let req = http::Request::get(url).body(Vec::new())?;
        let text = client.request_text(req).await?;
        let page: Page = serde_json::from_str(&text)?;
        items += page.items.len();
        cont = page.metadata.cont.filter(|c| !c.is_empty());
        if cont.is_none() {
            break;
        }
    }
    let took = started.elapsed();
    eprintln!("[bench] raw LIST read {items} Deployments");
    Ok(took)
}

async fn install_crds(client: &Client) -> Res<()> {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    for crd in [NatsTransportPolicy::crd(), NatsTransportIncident::crd(), NatsTransportLedger::crd()] {
        api.patch(&crd.name_any(), &PatchParams::apply("bench").force(), &Patch::Apply(&crd)).await?;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    Ok(())
}

async fn namespace(client: &Client, prefix: &str) -> Res<String> {
    let name = format!("bench-{prefix}-{}", std::process::id());
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": name}}))?;
    Api::<Namespace>::all(client.clone()).create(&PostParams::default(), &ns).await?;
    Ok(name)
}

async fn policy(client: &Client, ns: &str, spec: &NatsTransportPolicySpec) -> Res<()> {
    let p = NatsTransportPolicy::new("bench", spec.clone());
    Api::<NatsTransportPolicy>::namespaced(client.clone(), ns).create(&PostParams::default(), &p).await?;
    Ok(())
}

// ---- The operator process ------------------------------------------------------------------

struct Operator {
    child: Child,
    port: u16,
}

impl Operator {
    fn start(bin: &str, ns: &str) -> Res<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let child = Command::new(bin)
            .args(["run", "--namespace", ns, "--http-addr", &format!("127.0.0.1:{port}")])
            // One local process: no Lease to wait for if an earlier run was killed holding one.
            .arg("--leader-election=false")
            .env("RUST_LOG", std::env::var("NATSGUARD_BENCH_LOG").unwrap_or_else(|_| "warn".into()))
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()?;
        Ok(Self { child, port })
    }

    fn get(&self, path: &str) -> Option<String> {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        write!(s, "GET {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n").ok()?;
        let mut out = String::new();
        s.read_to_string(&mut out).ok()?;
        Some(out)
    }

    async fn wait_ready(&self, limit: Duration) -> Res<()> {
        let started = Instant::now();
        while started.elapsed() < limit {
            if self.get("/readyz").is_some_and(|r| r.starts_with("HTTP/1.1 200")) {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err("operator not ready in time".into())
    }

    fn sample(&self, name: &str) -> Option<f64> {
        let body = self.get("/metrics")?;
        body.lines().find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix(' ')).and_then(|v| v.parse().ok()))
    }

    /// Until no Event is pending and the reconcile counter stood still for a second.
    async fn wait_idle(&self, limit: Duration) -> Res<()> {
        let started = Instant::now();
        let mut last = None;
        while started.elapsed() < limit {
            let pending = self.sample("natsguard_events_pending").unwrap_or(1.0);
            let reconciles = self.sample("natsguard_reconcile_total{result=\"ok\"}");
            if pending == 0.0 && reconciles.is_some() && reconciles == last {
                return Ok(());
            }
            last = reconciles;
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        Err("operator never went idle".into())
    }

    /// User + system CPU of the process so far, in ms.
    fn cpu_ms(&self) -> Res<u64> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id()))?;
        let after = stat.rsplit_once(')').map(|(_, r)| r).ok_or("bad stat")?;
        let fields: Vec<&str> = after.split_whitespace().collect();
        // utime and stime are fields 14 and 15 of stat (11 and 12 after the command name).
        let ticks: u64 =
            fields.get(11).ok_or("utime")?.parse::<u64>()? + fields.get(12).ok_or("stime")?.parse::<u64>()?;
        Ok(ticks * 10)
    }

    /// (VmRSS, VmHWM) in KiB.
    fn memory(&self) -> Res<(u64, u64)> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))?;
        let field = |name: &str| {
            status
                .lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
        };
        Ok((field("VmRSS:"), field("VmHWM:")))
    }

    fn stop(&mut self) -> Res<()> {
        Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status()?;
        self.child.wait()?;
        Ok(())
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
