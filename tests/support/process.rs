//! `natsguard run` as a process of its own, as operators run it: replicas of the real binary on
//! 127.0.0.1, their logs, health and metrics endpoints, signals sent by pid; and the RBAC a
//! replica runs with (a ServiceAccount token, Roles granted and revoked). Shared by the
//! leader-election and fault-injection suites. Every wait is bounded; only processes started
//! here are signalled, and a replica still running when dropped is killed.

use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::ServiceAccount;
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::api::{Patch, PatchParams, PostParams};
use kube::config::Kubeconfig;
use kube::{Api, Client};
use serde_json::json;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// A plain HTTP GET on 127.0.0.1; (status, body) or None when nothing answers.
pub fn get(port: u16, path: &str) -> Option<(u16, String)> {
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
pub fn sample(body: &str, name: &str) -> Option<f64> {
    body.lines().find_map(|l| l.strip_prefix(name).and_then(|rest| rest.strip_prefix(' ')).and_then(|v| v.parse().ok()))
}

/// Polls `f` every 100 ms until it returns `Some`; fails the test after `timeout` with `what`.
pub async fn poll<T>(what: &str, timeout: Duration, mut f: impl AsyncFnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(start.elapsed() < timeout, "timed out after {timeout:?} waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A fresh directory under the system temp dir (logs, kubeconfigs).
pub fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(super::unique_name(tag));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// The path in `$KUBECONFIG` (the shared control plane of `make test`).
pub fn kubeconfig_path() -> PathBuf {
    PathBuf::from(std::env::var("KUBECONFIG").expect("KUBECONFIG (support::client checked it)"))
}

/// One `natsguard run` process (JSON logs appended to `<dir>/<name>.log`, so a replica started
/// again under the same name, as a restarted container keeps its pod name, continues the same
/// log), killed when dropped if still running.
pub struct Replica {
    pub name: String,
    pub port: u16,
    pub log: PathBuf,
    pub child: Child,
}

impl Replica {
    /// A replica campaigning for the Lease in `ns` and watching only `ns`, as `POD_NAME=name`.
    pub fn start(name: &str, ns: &str, kubeconfig: &Path, dir: &Path) -> Replica {
        Replica::start_with(name, ns, kubeconfig, dir, &[])
    }

    /// As [`Replica::start`], with extra `natsguard run` arguments.
    pub fn start_with(name: &str, ns: &str, kubeconfig: &Path, dir: &Path, extra: &[&str]) -> Replica {
        let port = super::free_port();
        let log = dir.join(format!("{name}.log"));
        let file = std::fs::File::options().create(true).append(true).open(&log).expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_natsguard"))
            .args(["run", "--namespace", ns, "--http-addr", &format!("127.0.0.1:{port}")])
            .args(["--log-format", "json", "--leader-election-namespace", ns])
            .args(extra)
            .env("KUBECONFIG", kubeconfig)
            .env("POD_NAME", name)
            .env("RUST_LOG", "info,natsguard=debug")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .expect("start natsguard run");
        Replica { name: name.to_owned(), port, log, child }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The last `n` log lines, each cut to 400 bytes (for failure messages).
    pub fn tail(&self, n: usize) -> String {
        let logs = self.logs();
        let lines: Vec<&str> = logs.lines().collect();
        let cut = |l: &&str| match l.char_indices().nth(400) {
            Some((i, _)) => format!("{}…", &l[..i]),
            None => (*l).to_owned(),
        };
        lines[lines.len().saturating_sub(n)..].iter().map(cut).collect::<Vec<_>>().join("\n")
    }

    pub fn leader_gauge(&self) -> Option<f64> {
        get(self.port, "/metrics").and_then(|(_, b)| sample(&b, "natsguard_leader"))
    }

    /// The status code of `/readyz`, or None when nothing answers.
    pub fn readyz(&self) -> Option<u16> {
        get(self.port, "/readyz").map(|(c, _)| c)
    }

    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Sends `sig` (e.g. `-KILL`, `-TERM`) to this replica's pid only.
    pub fn signal(&self, sig: &str) {
        let status = Command::new("kill").args([sig, &self.child.id().to_string()]).status().expect("kill");
        assert!(status.success(), "kill {sig} {}", self.child.id());
    }

    /// Waits (bounded) for the process to exit; the exit status and how long it took.
    pub async fn exited_within(&mut self, bound: Duration) -> (ExitStatus, Duration) {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return (status, start.elapsed());
            }
            assert!(
                start.elapsed() < bound,
                "replica {} still running {bound:?} after the signal; log:\n{}",
                self.name,
                self.tail(40)
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

/// The holder of the `natsguard` Lease, if anyone holds it.
pub async fn holder(leases: &Api<Lease>) -> Option<String> {
    leases
        .get_opt("natsguard")
        .await
        .ok()
        .flatten()
        .and_then(|l| l.spec)
        .and_then(|s| s.holder_identity)
        .filter(|h| !h.is_empty())
}

/// A kubeconfig for the API server of `source` (or `server` instead), authenticating with `token`.
pub fn write_kubeconfig(source: &Path, dir: &Path, file: &str, server: Option<String>, token: &str) -> PathBuf {
    let source = Kubeconfig::read_from(source).expect("read the source kubeconfig");
    let cluster = source.clusters.first().and_then(|c| c.cluster.clone()).expect("a cluster in the kubeconfig");
    let server = server.or(cluster.server).expect("a server in the kubeconfig");
    let ca = cluster.certificate_authority_data.expect("certificate-authority-data in the kubeconfig");
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
pub async fn service_account_token(client: &Client, ns: &str, name: &str) -> String {
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

/// A Role with `rules` in `ns`, bound to ServiceAccount `sa` (both named `name`); applying it
/// again replaces the rules.
pub async fn grant(client: &Client, ns: &str, name: &str, sa: &str, rules: serde_json::Value) {
    let pp = PatchParams::apply(super::FIELD_MANAGER).force();
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
