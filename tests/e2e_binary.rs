//! `natsguard run` as users run it: the binary, its health and metrics endpoints, and a graceful
//! exit 0 on SIGTERM — against the real control plane.

mod support;

use k8s_openapi::api::apps::v1::Deployment;
use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};
use natsguard::crd::NatsTransportPolicy;
use serde_json::json;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A plain HTTP GET; returns (status code, body) or None when nothing answers yet.
fn get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "GET {path} HTTP/1.1\r\nhost: localhost\r\n\r\n").ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    let code = out.split_whitespace().nth(1)?.parse().ok()?;
    let body = out.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    Some((code, body))
}

/// Kills the operator if the test fails before stopping it, so no process outlives the test.
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

async fn poll<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(start.elapsed() < timeout, "timed out after {timeout:?} waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn run_serves_health_and_metrics_and_exits_cleanly_on_sigterm() {
    let client = support::client().await;
    support::install_crds(&client).await;
    let ns = support::TestNamespace::new(&client, "binary").await;
    let policies: Api<NatsTransportPolicy> = Api::namespaced(client.clone(), ns.name());
    let policy: NatsTransportPolicy = serde_json::from_value(json!({
        "apiVersion": "natsguard.io/v1alpha1", "kind": "NatsTransportPolicy",
        "metadata": { "name": "nats" }, "spec": { "selector": {} }
    }))
    .unwrap();
    policies.create(&PostParams::default(), &policy).await.expect("create policy");
    let deployment: Deployment = serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": { "name": "api" },
        "spec": { "selector": { "matchLabels": { "app": "api" } }, "template": {
            "metadata": { "labels": { "app": "api" } },
            "spec": { "containers": [{ "name": "scheduler", "image": "x", "env": [
                { "name": "CORDUM_PRODUCTION", "value": "true" },
                { "name": "NATS_URL", "value": "nats://nats:4222" },
                { "name": "CORDUM_NATS_ALLOW_PLAINTEXT", "value": "on" }
            ] }] } } }
    }))
    .unwrap();
    Api::<Deployment>::namespaced(client.clone(), ns.name())
        .patch("api", &PatchParams::apply("e2e-test"), &Patch::Apply(&deployment))
        .await
        .expect("apply deployment");

    let port = support::free_port();
    let mut running = Running(
        Command::new(env!("CARGO_BIN_EXE_natsguard"))
            .args([
                "run",
                "--namespace",
                ns.name(),
                "--http-addr",
                &format!("127.0.0.1:{port}"),
                "--log-format",
                "json",
                "--leader-election-namespace",
                ns.name(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start natsguard run"),
    );
    let child = &mut running.0;

    poll("/livez 200", Duration::from_secs(20), || get(port, "/livez").filter(|(c, _)| *c == 200)).await;
    poll("/readyz 200 (caches synced)", Duration::from_secs(30), || get(port, "/readyz").filter(|(c, _)| *c == 200))
        .await;
    let metrics = poll("metrics with the open incident", Duration::from_secs(30), || {
        get(port, "/metrics")
            .map(|(_, b)| b)
            .filter(|b| b.contains(&format!("natsguard_incidents_open{{namespace=\"{}\"}} 1", ns.name())))
    })
    .await;
    assert!(metrics.contains("natsguard_reconcile_total{result=\"ok\"}"), "{metrics}");
    assert!(metrics.contains("# TYPE natsguard_reconcile_duration_seconds histogram"), "{metrics}");
    assert!(metrics.contains("natsguard_incident_rollback_deadline_seconds{"), "{metrics}");
    assert_eq!(get(port, "/nope").map(|(c, _)| c), Some(404));

    // Status-only churn (replica counts, rollout progress) and unrelated annotations cause no
    // reconcile work at all.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let reconciles = || {
        get(port, "/metrics").and_then(|(_, b)| {
            b.lines()
                .find(|l| l.starts_with("natsguard_reconcile_total{result=\"ok\"}"))
                .and_then(|l| l.rsplit(' ').next())
                .and_then(|n| n.parse::<u64>().ok())
        })
    };
    let before = reconciles().expect("reconcile counter");
    let deploys: Api<Deployment> = Api::namespaced(client.clone(), ns.name());
    for replicas in 1..=5 {
        let status = json!({ "status": { "replicas": replicas, "readyReplicas": replicas, "observedGeneration": 1 } });
        deploys.patch_status("api", &PatchParams::default(), &Patch::Merge(&status)).await.expect("status churn");
        let meta =
            json!({ "metadata": { "annotations": { "deployment.kubernetes.io/revision": replicas.to_string() } } });
        deploys.patch("api", &PatchParams::default(), &Patch::Merge(&meta)).await.expect("annotation churn");
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(reconciles(), Some(before), "status-only churn must not trigger reconciles");

    // SIGTERM: in-flight work finishes and the process exits 0.
    let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().expect("kill");
    assert!(status.success());
    let exit =
        poll("natsguard to exit after SIGTERM", Duration::from_secs(20), || child.try_wait().ok().flatten()).await;
    let mut logs = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut logs);
    }
    assert!(exit.success(), "exit status {exit:?}; logs:\n{logs}");
    // JSON logs: every line is a JSON object.
    for line in logs.lines().filter(|l| !l.trim().is_empty()) {
        assert!(serde_json::from_str::<serde_json::Value>(line).is_ok(), "not a JSON log line: {line}");
    }
    assert!(logs.contains("shutdown requested"), "{logs}");
    ns.cleanup().await;
}
