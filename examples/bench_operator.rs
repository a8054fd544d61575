//! Operator figures against the real control plane (run by `hack/bench-operator.sh`):
//! - latency from a Deployment change to its Event being visible (p50/p99 over N changes);
//! - API writes per reconcile when nothing changed;
//! - resident memory of the operator with 1,000 and 10,000 selected Deployments.
//!
//! Usage: bench_operator <path to natsguard binary> [changes=100] [sizes=1000,10000]
//! A benchmark that reports figures, not a test: it asserts nothing about them.

use futures::{StreamExt, TryStreamExt, stream};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, CustomResourceExt, ResourceExt};
use natsguard::crd::{NatsTransportIncident, NatsTransportPolicy};
use serde_json::json;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

#[tokio::main]
async fn main() -> Res<()> {
    let args: Vec<String> = std::env::args().collect();
    let bin = args.get(1).ok_or("usage: bench_operator <natsguard binary> [changes] [sizes]")?.clone();
    let changes: usize = args.get(2).map(|s| s.parse()).transpose()?.unwrap_or(100);
    let sizes: Vec<usize> = args
        .get(3)
        .map(|s| s.split(',').map(str::parse).collect::<Result<_, _>>())
        .transpose()?
        .unwrap_or_else(|| vec![1000, 10000]);
    let client = Client::try_default().await?;
    install_crds(&client).await?;

    // 1. Change -> Event latency.
    let ns = namespace(&client, "latency").await?;
    policy(&client, &ns).await?;
    let mut op = Operator::start(&bin, &ns)?;
    op.wait_ready().await?;
    let deploys: Api<Deployment> = Api::namespaced(client.clone(), &ns);
    let (tx, mut rx) = mpsc::unbounded_channel();
    let events: Api<Event> = Api::namespaced(client.clone(), &ns);
    tokio::spawn(async move {
        let mut s = watcher(events, watcher::Config::default()).applied_objects().boxed();
        while let Ok(Some(ev)) = s.try_next().await {
            let _ = tx.send((ev.reason.clone().unwrap_or_default(), Instant::now()));
        }
    });
    deploys.patch("lat", &PatchParams::apply("bench"), &Patch::Apply(deployment("lat", "tls://nats:4222", 0))).await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    while rx.try_recv().is_ok() {}
    let mut samples = Vec::with_capacity(changes);
    for i in 0..changes {
        let (url, reason) =
            if i % 2 == 0 { ("nats://nats:4222", "PlaintextTransport") } else { ("tls://nats:4222", "DriftResolved") };
        let start = Instant::now();
        deploys.patch("lat", &PatchParams::apply("bench"), &Patch::Apply(deployment("lat", url, 0))).await?;
        let seen = loop {
            let (r, at) = tokio::time::timeout(Duration::from_secs(30), rx.recv()).await?.ok_or("event watch ended")?;
            if r == reason {
                break at;
            }
        };
        samples.push(seen.duration_since(start));
    }
    samples.sort();
    let pct = |p: f64| samples[((samples.len() as f64 - 1.0) * p).round() as usize];
    println!(
        "change-to-Event latency over {} changes: p50 {:?}, p99 {:?}, max {:?}",
        samples.len(),
        pct(0.5),
        pct(0.99),
        samples[samples.len() - 1]
    );

    // 2. Writes per reconcile when nothing changed: poke a referenced ConfigMap's unrelated key.
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    let cm = |n: usize| json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "nats"}, "data": {"url": "tls://nats:4222", "unrelated": n.to_string()}});
    cms.patch("nats", &PatchParams::apply("bench"), &Patch::Apply(cm(0))).await?;
    deploys.patch("cmref", &PatchParams::apply("bench"), &Patch::Apply(deployment("cmref", "", 0))).await?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let before = writes_snapshot(&client, &ns).await?;
    let reconciles_before = op.reconciles()?;
    let pokes = 20;
    for n in 1..=pokes {
        cms.patch("nats", &PatchParams::apply("bench"), &Patch::Apply(cm(n))).await?;
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = writes_snapshot(&client, &ns).await?;
    let reconciles = op.reconciles()? - reconciles_before;
    println!(
        "idle reconciles: {reconciles} triggered by {pokes} unrelated ConfigMap edits; API writes: {} (policy status {}, incidents {}, events {}) => {:.2} writes/reconcile",
        after.total() - before.total(),
        after.policy - before.policy,
        after.incidents - before.incidents,
        after.events - before.events,
        (after.total() - before.total()) as f64 / reconciles.max(1) as f64
    );
    op.stop()?;

    // 3. Resident memory with N selected Deployments.
    for n in sizes {
        let ns = namespace(&client, &format!("rss-{n}")).await?;
        policy(&client, &ns).await?;
        let deploys: Api<Deployment> = Api::namespaced(client.clone(), &ns);
        let started = Instant::now();
        stream::iter(0..n)
            .map(|i| {
                let deploys = deploys.clone();
                async move {
                    let url = if i % 3 == 0 { "nats://nats:4222" } else { "tls://nats:4222" };
                    deploys
                        .create(&PostParams::default(), &serde_json::from_value(deployment(&format!("w{i}"), url, i))?)
                        .await?;
                    Res::Ok(())
                }
            })
            .buffer_unordered(16)
            .try_collect::<Vec<_>>()
            .await?;
        let created = started.elapsed();
        let mut op = Operator::start(&bin, &ns)?;
        op.wait_ready().await?;
        let start = Instant::now();
        let api: Api<NatsTransportPolicy> = Api::namespaced(client.clone(), &ns);
        loop {
            let p = api.get("bench").await?;
            if p.status.as_ref().is_some_and(|s| s.workloads as usize == n) {
                break;
            }
            if start.elapsed() > Duration::from_secs(600) {
                return Err(format!("policy never saw {n} workloads").into());
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        let evaluated = start.elapsed();
        tokio::time::sleep(Duration::from_secs(3)).await;
        let (rss, hwm) = op.memory()?;
        println!(
            "{n} Deployments: created in {created:.1?}; first full evaluation {evaluated:.1?} after ready; operator RSS {:.1} MiB (peak {:.1} MiB)",
            rss as f64 / 1024.0,
            hwm as f64 / 1024.0
        );
        op.stop()?;
    }
    Ok(())
}

struct Writes {
    policy: u64,
    incidents: u64,
    events: u64,
}

impl Writes {
    fn total(&self) -> u64 {
        self.policy + self.incidents + self.events
    }
}

/// Resource versions summed as a change counter (each write bumps one), plus Event count.
async fn writes_snapshot(client: &Client, ns: &str) -> Res<Writes> {
    let rv = |s: Option<String>| s.and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    let p = Api::<NatsTransportPolicy>::namespaced(client.clone(), ns).get("bench").await?;
    let incidents = Api::<NatsTransportIncident>::namespaced(client.clone(), ns).list(&ListParams::default()).await?;
    let events = Api::<Event>::namespaced(client.clone(), ns).list(&ListParams::default()).await?;
    Ok(Writes {
        policy: rv(p.resource_version()),
        incidents: incidents.items.iter().map(|i| rv(i.metadata.resource_version.clone())).sum(),
        events: events.items.iter().map(|e| e.series.as_ref().map_or(1, |s| s.count as u64)).sum(),
    })
}

fn deployment(name: &str, url: &str, i: usize) -> serde_json::Value {
    let url_env = if url.is_empty() {
        json!({"name": "NATS_URL", "valueFrom": {"configMapKeyRef": {"name": "nats", "key": "url"}}})
    } else {
        json!({"name": "NATS_URL", "value": url})
    };
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "labels": {"app": "cordum", "shard": (i % 10).to_string()}},
        "spec": {"selector": {"matchLabels": {"app": name}}, "template": {
            "metadata": {"labels": {"app": name}},
            "spec": {"containers": [{"name": "scheduler", "image": "cordum/scheduler:1",
                "resources": {"requests": {"cpu": "100m"}},
                "env": [
                    {"name": "CORDUM_ENV", "value": "production"},
                    url_env,
                    {"name": "NATS_TOKEN", "valueFrom": {"secretKeyRef": {"name": "nats", "key": "token"}}},
                    {"name": "UNRELATED_SETTING", "value": "x".repeat(64)}
                ]}]}}}
    })
}

async fn install_crds(client: &Client) -> Res<()> {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    for crd in [NatsTransportPolicy::crd(), NatsTransportIncident::crd()] {
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

async fn policy(client: &Client, ns: &str) -> Res<()> {
    let p: NatsTransportPolicy = serde_json::from_value(json!({
        "apiVersion": "natsguard.io/v1alpha1", "kind": "NatsTransportPolicy",
        "metadata": {"name": "bench"}, "spec": {"selector": {"matchLabels": {"app": "cordum"}}}
    }))?;
    Api::<NatsTransportPolicy>::namespaced(client.clone(), ns).create(&PostParams::default(), &p).await?;
    Ok(())
}

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
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()?;
        Ok(Self { child, port })
    }

    fn get(&self, path: &str) -> Option<String> {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        write!(s, "GET {path} HTTP/1.1\r\nhost: x\r\n\r\n").ok()?;
        let mut out = String::new();
        s.read_to_string(&mut out).ok()?;
        Some(out)
    }

    async fn wait_ready(&self) -> Res<()> {
        for _ in 0..600 {
            if self.get("/readyz").is_some_and(|r| r.starts_with("HTTP/1.1 200")) {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err("operator not ready within 60s".into())
    }

    fn reconciles(&self) -> Res<u64> {
        let body = self.get("/metrics").ok_or("no metrics")?;
        let line = body
            .lines()
            .find(|l| l.starts_with("natsguard_reconcile_total{result=\"ok\"}"))
            .ok_or("no reconcile counter")?;
        Ok(line.rsplit(' ').next().ok_or("bad line")?.parse()?)
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
        let _ = self.child.kill();
    }
}
