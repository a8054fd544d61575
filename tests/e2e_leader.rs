//! High availability as operators run it (docs/configuration.md, "High availability"): replicas of the real `natsguard run`
//! binary on 127.0.0.1 against the real control plane, campaigning for one Lease.
//!
//! - a leader that loses its rights on the Lease stops writing within the renew deadline, and
//!   catches up when it leads again;
//! - a replica whose API server is unreachable and one whose ServiceAccount has no rights at all
//!   both exit 0 within 10 s of SIGTERM.
//!
//! Two replicas with a leader crash (SIGKILL) and a graceful handover (SIGTERM) are a scenario of
//! the fault-injection suite (tests/e2e_faults.rs), on a control plane of its own.
//!
//! The measured figures are printed as `FIGURE ...` lines (`cargo test --test e2e_leader --
//! --nocapture`). Every wait is bounded; only the processes started here are signalled, by pid.

mod support;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::rbac::v1::RoleBinding;
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use kube::{Api, Client, ResourceExt};
use natsguard::crd::{NatsTransportIncident, NatsTransportPolicy};
use serde_json::json;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use support::process::{Replica, get, grant, kubeconfig_path, poll, service_account_token, temp_dir, write_kubeconfig};

/// docs/configuration.md "High availability": exits within 10 s of SIGTERM in every state.
const EXIT_BOUND: Duration = Duration::from_secs(10);

fn plaintext_deployment(name: &str) -> Deployment {
    serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": { "name": name, "labels": { "app": "cordum" } },
        "spec": { "selector": { "matchLabels": { "app": name } }, "template": {
            "metadata": { "labels": { "app": name } },
            "spec": { "containers": [{ "name": "scheduler", "image": "x", "env": [
                { "name": "CORDUM_PRODUCTION", "value": "true" },
                { "name": "NATS_URL", "value": "nats://nats:4222" },
                { "name": "CORDUM_NATS_ALLOW_PLAINTEXT", "value": "on" }
            ] }] } } }
    }))
    .expect("valid Deployment")
}

async fn apply_deployment(client: &Client, ns: &str, name: &str) {
    Api::<Deployment>::namespaced(client.clone(), ns)
        .patch(name, &PatchParams::apply(support::FIELD_MANAGER), &Patch::Apply(plaintext_deployment(name)))
        .await
        .expect("apply deployment");
}

/// Open incidents per Deployment name.
async fn incidents(client: &Client, ns: &str) -> BTreeMap<String, usize> {
    let list = Api::<NatsTransportIncident>::namespaced(client.clone(), ns)
        .list(&ListParams::default())
        .await
        .expect("list incidents");
    let mut by = BTreeMap::new();
    for i in list {
        *by.entry(i.spec.deployment.name.clone()).or_default() += 1;
    }
    by
}

#[tokio::test(flavor = "multi_thread")]
async fn a_leader_that_cannot_renew_stops_writing_within_the_renew_deadline() {
    let client = support::client().await;
    support::install_crds(&client).await;
    let ns = support::TestNamespace::new(&client, "leader-renew").await;
    let n = ns.name();
    let dir = temp_dir("leader-renew");
    let token = service_account_token(&client, n, "operator").await;
    let work = json!([
        { "apiGroups": ["natsguard.io"], "resources": ["*"], "verbs": ["get", "list", "watch", "create", "patch", "delete"] },
        { "apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get", "list", "watch"] },
        { "apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list", "watch"] },
        { "apiGroups": ["events.k8s.io"], "resources": ["events"], "verbs": ["create", "patch"] }
    ]);
    grant(&client, n, "work", "operator", work).await;
    let lease_rules = json!([
        { "apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["get", "create", "update"] }
    ]);
    grant(&client, n, "lease", "operator", lease_rules.clone()).await;
    let kubeconfig = write_kubeconfig(&kubeconfig_path(), &dir, "operator", None, &token);
    let policy: NatsTransportPolicy = serde_json::from_value(json!({
        "apiVersion": "natsguard.io/v1alpha1", "kind": "NatsTransportPolicy",
        "metadata": { "name": "nats" }, "spec": { "selector": { "matchLabels": { "app": "cordum" } } }
    }))
    .expect("valid policy");
    Api::<NatsTransportPolicy>::namespaced(client.clone(), n)
        .create(&PostParams::default(), &policy)
        .await
        .expect("create policy");

    let mut r = Replica::start("lonely", n, &kubeconfig, &dir);
    poll("the replica to lead", Duration::from_secs(30), async || r.leader_gauge().filter(|v| *v == 1.0)).await;
    apply_deployment(&client, n, "api").await;
    poll("the incident for api", Duration::from_secs(30), async || {
        incidents(&client, n).await.get("api").copied().filter(|c| *c >= 1)
    })
    .await;

    // Revoke the Lease rights: renewals fail with 403 and the replica must stop writing before
    // anybody else could take over (renew deadline 10 s < lease duration 15 s).
    let revoked = Instant::now();
    Api::<RoleBinding>::namespaced(client.clone(), n).delete("lease", &Default::default()).await.expect("revoke");
    poll("natsguard_leader 0 after the renew deadline", Duration::from_secs(10 + 2 + 2), async || {
        r.leader_gauge().filter(|v| *v == 0.0)
    })
    .await;
    let stepped_down = revoked.elapsed();
    println!("FIGURE leader stopped writing after losing Lease rights: {:.1} s", stepped_down.as_secs_f64());
    assert!(stepped_down < Duration::from_secs(15), "it kept leading past the lease duration: {stepped_down:?}");
    assert!(r.logs().contains("could not renew the leader Lease in time"), "{}", r.logs());
    // It no longer writes: a new override gets no incident.
    apply_deployment(&client, n, "worker").await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(incidents(&client, n).await.get("worker"), None, "a replica that does not lead wrote an incident");

    // Rights back: it takes the Lease again and catches up.
    let restored = Instant::now();
    grant(&client, n, "lease", "operator", lease_rules).await;
    poll("the incident for worker after regaining the Lease", Duration::from_secs(20), async || {
        incidents(&client, n).await.get("worker").copied().filter(|c| *c >= 1)
    })
    .await;
    println!("FIGURE rights restored to pending work done: {:.1} s", restored.elapsed().as_secs_f64());
    assert_eq!(r.leader_gauge(), Some(1.0));

    r.signal("-TERM");
    let (status, _) = r.exited_within(EXIT_BOUND).await;
    assert!(status.success(), "exit status {status:?}; log:\n{}", r.logs());
    drop(r);
    let _ = std::fs::remove_dir_all(&dir);
    ns.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn replicas_that_cannot_reach_or_use_the_api_exit_within_10s_of_sigterm() {
    let client = support::client().await;
    support::install_crds(&client).await;
    let ns = support::TestNamespace::new(&client, "leader-faults").await;
    let n = ns.name();
    let dir = temp_dir("leader-faults");

    // No API server: a closed loopback port.
    let closed = support::free_port();
    let unreachable =
        write_kubeconfig(&kubeconfig_path(), &dir, "unreachable", Some(format!("https://127.0.0.1:{closed}")), "x");
    // No rights: a ServiceAccount with no RoleBinding at all (every request is 403).
    let token = service_account_token(&client, n, "no-rights").await;
    let forbidden = write_kubeconfig(&kubeconfig_path(), &dir, "forbidden", None, &token);

    let mut replicas =
        vec![Replica::start("unreachable", n, &unreachable, &dir), Replica::start("forbidden", n, &forbidden, &dir)];
    for r in &replicas {
        poll(&format!("{} /livez", r.name), Duration::from_secs(20), async || {
            get(r.port, "/livez").filter(|(c, _)| *c == 200)
        })
        .await;
    }
    // Long enough to be in the middle of retries and backoff.
    tokio::time::sleep(Duration::from_secs(4)).await;
    for r in &replicas {
        assert_eq!(get(r.port, "/readyz").map(|(c, _)| c), Some(503), "{} cannot have synced caches", r.name);
        assert_eq!(r.leader_gauge(), Some(0.0), "{} cannot lead", r.name);
    }
    let forbidden_log = replicas[1].logs();
    assert!(forbidden_log.contains("forbidden"), "the no-rights replica saw no 403:\n{forbidden_log}");

    for r in &mut replicas {
        r.signal("-TERM");
        let (status, took) = r.exited_within(EXIT_BOUND).await;
        assert!(status.success(), "{} exit status {status:?}; log:\n{}", r.name, r.logs());
        println!("FIGURE {} replica exit after SIGTERM: {:.2} s", r.name, took.as_secs_f64());
    }
    let leases: Api<Lease> = Api::namespaced(client.clone(), n);
    assert_eq!(leases.get_opt("natsguard").await.expect("get lease").map(|l| l.name_any()), None);
    drop(replicas);
    let _ = std::fs::remove_dir_all(&dir);
    ns.cleanup().await;
}
