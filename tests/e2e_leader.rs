//! High availability as operators run it (SPEC section 8): replicas of the real `natsguard run`
//! binary on 127.0.0.1 against the real control plane, campaigning for one Lease.
//!
//! - two replicas: exactly one writes (one incident, each Event once), `natsguard_leader` on both;
//! - SIGKILL on the leader: the standby takes over within the lease duration plus one retry and
//!   finishes the work that came in meanwhile;
//! - SIGTERM on the leader: it releases the Lease and exits 0 within 10 s, and the standby leads
//!   within a few seconds;
//! - a leader that loses its rights on the Lease stops writing within the renew deadline, and
//!   catches up when it leads again;
//! - a replica whose API server is unreachable and one whose ServiceAccount has no rights at all
//!   both exit 0 within 10 s of SIGTERM.
//!
//! The measured figures are printed as `FIGURE ...` lines (`cargo test --test e2e_leader --
//! --nocapture`). Every wait is bounded; only the processes started here are signalled, by pid.

mod support;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::ServiceAccount;
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use kube::config::Kubeconfig;
use kube::{Api, Client, ResourceExt};
use natsguard::crd::{NatsTransportIncident, NatsTransportPolicy};
use serde_json::json;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// Lease duration + retry period (SPEC section 8), plus slack for a loaded 2-core machine.
const CRASH_TAKEOVER_BOUND: Duration = Duration::from_secs(15 + 2 + 1);
/// "Within a few seconds" after a graceful release.
const HANDOVER_BOUND: Duration = Duration::from_secs(6);
/// SPEC section 8: exits within 10 s of SIGTERM in every state.
const EXIT_BOUND: Duration = Duration::from_secs(10);

/// A plain HTTP GET; (status, body) or None when nothing answers.
fn get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "GET {path} HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n").ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    let code = out.split_whitespace().nth(1)?.parse().ok()?;
    let body = out.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    Some((code, body))
}

/// The value of an unlabelled sample in a metrics text, e.g. `natsguard_leader`.
fn sample(body: &str, name: &str) -> Option<f64> {
    body.lines().find_map(|l| l.strip_prefix(name).and_then(|rest| rest.strip_prefix(' ')).and_then(|v| v.parse().ok()))
}

/// One `natsguard run` process, killed when dropped if still running.
struct Replica {
    name: String,
    port: u16,
    log: PathBuf,
    child: Child,
}

impl Replica {
    fn start(name: &str, ns: &str, kubeconfig: &Path, dir: &Path) -> Replica {
        let port = support::free_port();
        let log = dir.join(format!("{name}.log"));
        let file = std::fs::File::create(&log).expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_natsguard"))
            .args(["run", "--namespace", ns, "--http-addr", &format!("127.0.0.1:{port}")])
            .args(["--log-format", "json", "--leader-election-namespace", ns])
            .env("KUBECONFIG", kubeconfig)
            .env("POD_NAME", name)
            .env("RUST_LOG", "info,natsguard=debug")
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .expect("start natsguard run");
        Replica { name: name.to_owned(), port, log, child }
    }

    fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn leader_gauge(&self) -> Option<f64> {
        get(self.port, "/metrics").and_then(|(_, b)| sample(&b, "natsguard_leader"))
    }

    fn signal(&self, sig: &str) {
        let status = Command::new("kill").args([sig, &self.child.id().to_string()]).status().expect("kill");
        assert!(status.success(), "kill {sig} {}", self.child.id());
    }

    /// Waits (bounded) for the process to exit; the exit status and how long it took.
    async fn exited_within(&mut self, bound: Duration) -> (ExitStatus, Duration) {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return (status, start.elapsed());
            }
            assert!(
                start.elapsed() < bound,
                "replica {} still running {bound:?} after the signal; log:\n{}",
                self.name,
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

async fn poll<T>(what: &str, timeout: Duration, mut f: impl AsyncFnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(start.elapsed() < timeout, "timed out after {timeout:?} waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn holder(leases: &Api<Lease>) -> Option<String> {
    leases
        .get_opt("natsguard")
        .await
        .ok()
        .flatten()
        .and_then(|l| l.spec)
        .and_then(|s| s.holder_identity)
        .filter(|h| !h.is_empty())
}

fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(support::unique_name(tag));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

fn kubeconfig_path() -> PathBuf {
    PathBuf::from(std::env::var("KUBECONFIG").expect("KUBECONFIG (support::client checked it)"))
}

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

/// Events per (reason, regarding name), and who reported them.
async fn events(client: &Client, ns: &str) -> (BTreeMap<(String, String), usize>, Vec<String>) {
    let list = Api::<Event>::namespaced(client.clone(), ns).list(&ListParams::default()).await.expect("list events");
    let mut by = BTreeMap::new();
    let mut reporters = Vec::new();
    for e in list {
        let regarding = e.regarding.as_ref().and_then(|r| r.name.clone()).unwrap_or_default();
        *by.entry((e.reason.clone().unwrap_or_default(), regarding)).or_default() += 1;
        reporters.extend(e.reporting_instance.clone());
    }
    (by, reporters)
}

fn assert_each_event_once(by: &BTreeMap<(String, String), usize>) {
    let repeated: Vec<_> = by.iter().filter(|(_, n)| **n > 1).collect();
    assert!(repeated.is_empty(), "Events emitted more than once: {repeated:?} (all: {by:?})");
}

#[tokio::test(flavor = "multi_thread")]
async fn one_writer_crash_takeover_and_graceful_handover() {
    let client = support::client().await;
    support::install_crds(&client).await;
    let ns = support::TestNamespace::new(&client, "leader").await;
    let n = ns.name();
    let dir = temp_dir("leader-logs");
    let kubeconfig = kubeconfig_path();
    let leases: Api<Lease> = Api::namespaced(client.clone(), n);
    let policy: NatsTransportPolicy = serde_json::from_value(json!({
        "apiVersion": "natsguard.io/v1alpha1", "kind": "NatsTransportPolicy",
        "metadata": { "name": "nats" }, "spec": { "selector": { "matchLabels": { "app": "cordum" } } }
    }))
    .expect("valid policy");
    Api::<NatsTransportPolicy>::namespaced(client.clone(), n)
        .create(&PostParams::default(), &policy)
        .await
        .expect("create policy");
    apply_deployment(&client, n, "api").await;

    // Two replicas at once.
    let mut a = Replica::start("replica-a", n, &kubeconfig, &dir);
    let mut b = Replica::start("replica-b", n, &kubeconfig, &dir);
    let first = poll("a leader", Duration::from_secs(30), async || holder(&leases).await).await;
    for r in [&a, &b] {
        poll(&format!("{} ready", r.name), Duration::from_secs(30), async || {
            get(r.port, "/readyz").filter(|(c, _)| *c == 200)
        })
        .await;
    }
    let (leader, standby) = if first == a.name { (&mut a, &mut b) } else { (&mut b, &mut a) };
    assert_eq!(first, leader.name);
    poll("natsguard_leader 1 on the leader", Duration::from_secs(10), async || {
        leader.leader_gauge().filter(|v| *v == 1.0)
    })
    .await;
    assert_eq!(standby.leader_gauge(), Some(0.0), "the standby must report natsguard_leader 0");

    // The leader writes: one incident, each Event once, all reported by the leader.
    poll("the incident for api", Duration::from_secs(30), async || {
        incidents(&client, n).await.get("api").copied().filter(|c| *c >= 1)
    })
    .await;
    poll("OverrideActivated for api", Duration::from_secs(30), async || {
        let (by, _) = events(&client, n).await;
        by.contains_key(&("OverrideActivated".to_owned(), "api".to_owned())).then_some(())
    })
    .await;
    // Both replicas had time to reconcile (and, were the standby to write, to duplicate).
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(incidents(&client, n).await.get("api"), Some(&1), "exactly one incident for api");
    let (by, reporters) = events(&client, n).await;
    assert_each_event_once(&by);
    assert!(reporters.iter().all(|r| *r == leader.name), "Events reported by {reporters:?}, leader {}", leader.name);
    let standby_metrics = get(standby.port, "/metrics").map(|(_, b)| b).unwrap_or_default();
    assert!(!standby_metrics.contains("natsguard_incidents_open{"), "a standby reports no policy gauges");

    // Crash: SIGKILL the leader, then give the cluster work while nobody leads.
    leader.signal("-KILL");
    let killed = Instant::now();
    let (status, _) = leader.exited_within(Duration::from_secs(5)).await;
    assert!(!status.success());
    apply_deployment(&client, n, "worker").await;
    let standby_name = standby.name.clone();
    poll("the standby to take the Lease", CRASH_TAKEOVER_BOUND, async || {
        holder(&leases).await.filter(|h| *h == standby_name)
    })
    .await;
    let crash_takeover = killed.elapsed();
    println!("FIGURE crash takeover (SIGKILL to new holder): {:.1} s", crash_takeover.as_secs_f64());
    poll("natsguard_leader 1 on the new leader", Duration::from_secs(5), async || {
        standby.leader_gauge().filter(|v| *v == 1.0)
    })
    .await;
    // It finishes what came in meanwhile, without duplicating what was done.
    poll("the incident for worker", Duration::from_secs(20), async || {
        incidents(&client, n).await.get("worker").copied().filter(|c| *c >= 1)
    })
    .await;
    let after_crash = killed.elapsed();
    println!("FIGURE crash to pending work done (incident for the new Deployment): {:.1} s", after_crash.as_secs_f64());
    tokio::time::sleep(Duration::from_secs(2)).await;
    let by_deployment = incidents(&client, n).await;
    assert_eq!(by_deployment.get("api"), Some(&1), "{by_deployment:?}");
    assert_eq!(by_deployment.get("worker"), Some(&1), "{by_deployment:?}");

    // A fresh standby, then SIGTERM on the leader: it releases the Lease and exits 0.
    let mut c = Replica::start("replica-c", n, &kubeconfig, &dir);
    poll("replica-c ready", Duration::from_secs(30), async || get(c.port, "/readyz").filter(|(code, _)| *code == 200))
        .await;
    assert_eq!(c.leader_gauge(), Some(0.0));
    let (leader, standby) = (standby, &mut c);
    leader.signal("-TERM");
    let termed = Instant::now();
    // Watch both at once: when the standby holds the Lease, and when the old leader exited.
    let (mut handover, mut exited) = (None, None);
    while handover.is_none() || exited.is_none() {
        assert!(
            termed.elapsed() < EXIT_BOUND,
            "after {EXIT_BOUND:?}: handover {handover:?}, exit {exited:?}; log:\n{}",
            leader.logs()
        );
        if exited.is_none()
            && let Some(status) = leader.child.try_wait().expect("try_wait")
        {
            exited = Some((status, termed.elapsed()));
        }
        if handover.is_none() && holder(&leases).await.as_deref() == Some(standby.name.as_str()) {
            handover = Some(termed.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (Some(handover), Some((status, exit_time))) = (handover, exited) else { unreachable!() };
    assert!(handover < HANDOVER_BOUND, "handover took {handover:?}");
    assert!(status.success(), "exit status {status:?} after SIGTERM; log:\n{}", leader.logs());
    assert!(leader.logs().contains("released the leader Lease"), "{}", leader.logs());
    println!("FIGURE graceful handover (SIGTERM to new holder): {:.1} s", handover.as_secs_f64());
    println!("FIGURE leader exit after SIGTERM: {:.2} s", exit_time.as_secs_f64());
    poll("natsguard_leader 1 on replica-c", Duration::from_secs(5), async || {
        standby.leader_gauge().filter(|v| *v == 1.0)
    })
    .await;

    // Across both leader changes: still one incident per Deployment, each Event once.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let by_deployment = incidents(&client, n).await;
    assert_eq!(by_deployment.get("api"), Some(&1), "{by_deployment:?}");
    assert_eq!(by_deployment.get("worker"), Some(&1), "{by_deployment:?}");
    let (by, _) = events(&client, n).await;
    assert_each_event_once(&by);

    standby.signal("-TERM");
    let (status, exit_time) = standby.exited_within(EXIT_BOUND).await;
    assert!(status.success(), "exit status {status:?}; log:\n{}", standby.logs());
    println!("FIGURE last replica exit after SIGTERM: {:.2} s", exit_time.as_secs_f64());
    assert_eq!(holder(&leases).await, None, "the last leader released the Lease");
    drop((a, b, c));
    let _ = std::fs::remove_dir_all(&dir);
    ns.cleanup().await;
}

/// A kubeconfig for the test's API server (or `server` instead), authenticating with `token`.
fn write_kubeconfig(dir: &Path, file: &str, server: Option<String>, token: &str) -> PathBuf {
    let source = Kubeconfig::read_from(kubeconfig_path()).expect("read KUBECONFIG");
    let cluster = source.clusters.first().and_then(|c| c.cluster.clone()).expect("a cluster in KUBECONFIG");
    let server = server.or(cluster.server).expect("a server in KUBECONFIG");
    let ca = cluster.certificate_authority_data.expect("certificate-authority-data in KUBECONFIG");
    // JSON is YAML.
    let config = json!({
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{ "name": "cp", "cluster": { "server": server, "certificate-authority-data": ca } }],
        "users": [{ "name": "u", "user": { "token": token } }],
        "contexts": [{ "name": "c", "context": { "cluster": "cp", "user": "u" } }],
        "current-context": "c"
    });
    let path = dir.join(file);
    std::fs::write(&path, config.to_string()).expect("write kubeconfig");
    path
}

/// A token for ServiceAccount `name` in `ns` (created here).
async fn service_account_token(client: &Client, ns: &str, name: &str) -> String {
    let sas: Api<ServiceAccount> = Api::namespaced(client.clone(), ns);
    let sa: ServiceAccount = serde_json::from_value(json!({ "metadata": { "name": name } })).expect("sa");
    sas.create(&PostParams::default(), &sa).await.expect("create ServiceAccount");
    let request = TokenRequest {
        spec: TokenRequestSpec { expiration_seconds: Some(1200), ..Default::default() },
        ..Default::default()
    };
    poll("a token for the ServiceAccount", Duration::from_secs(10), async || {
        sas.create_token_request(name, &PostParams::default(), &request)
            .await
            .ok()
            .and_then(|t| t.status)
            .map(|s| s.token)
    })
    .await
}

/// A Role with `rules` in `ns`, bound to ServiceAccount `sa` (both named `name`).
async fn grant(client: &Client, ns: &str, name: &str, sa: &str, rules: serde_json::Value) {
    let pp = PatchParams::apply(support::FIELD_MANAGER);
    let role = json!({ "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
        "metadata": { "name": name }, "rules": rules });
    Api::<Role>::namespaced(client.clone(), ns).patch(name, &pp, &Patch::Apply(role)).await.expect("apply Role");
    let binding = json!({ "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
        "metadata": { "name": name },
        "roleRef": { "apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name },
        "subjects": [{ "kind": "ServiceAccount", "name": sa, "namespace": ns }] });
    Api::<RoleBinding>::namespaced(client.clone(), ns)
        .patch(name, &pp, &Patch::Apply(binding))
        .await
        .expect("apply RoleBinding");
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
    let kubeconfig = write_kubeconfig(&dir, "operator", None, &token);
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
    let unreachable = write_kubeconfig(&dir, "unreachable", Some(format!("https://127.0.0.1:{closed}")), "x");
    // No rights: a ServiceAccount with no RoleBinding at all (every request is 403).
    let token = service_account_token(&client, n, "no-rights").await;
    let forbidden = write_kubeconfig(&dir, "forbidden", None, &token);

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
