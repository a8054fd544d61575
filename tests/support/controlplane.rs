//! A control plane of a test's own (etcd + kube-apiserver on loopback, started by
//! `hack/controlplane.sh up` in a state dir of its own), for tests that break it on purpose: kill
//! and restart its kube-apiserver, pause its etcd. Nothing else on the machine shares it, so the
//! faults injected here cannot disturb other suites. Every action goes through
//! `hack/controlplane.sh`, which signals only the processes `up` started in that state dir, by pid.
//!
//! Starting it fails the test (never skips) when it cannot be started. It is stopped when dropped
//! (etcd continued first if paused), also when the test fails.

use kube::Client;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub struct ControlPlane {
    state: PathBuf,
    kubeconfig: PathBuf,
}

/// Where fault-suite control planes live: `$NATSGUARD_FAULTS_DIR`, else `target/tmp/faults-cp`
/// (one per checkout; `make test` stops whatever an interrupted run left there).
pub fn faults_dir() -> PathBuf {
    match std::env::var_os("NATSGUARD_FAULTS_DIR") {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => Path::new(env!("CARGO_TARGET_TMPDIR")).join("faults-cp"),
    }
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("hack/controlplane.sh")
}

/// Runs `hack/controlplane.sh ARGS` on `state`; its progress lines go to the test's stderr.
fn run(state: &Path, args: &[&str]) -> Result<String, String> {
    let out = Command::new(script())
        .args(args)
        .env("NATSGUARD_CP_DIR", state)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", script().display()))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!("hack/controlplane.sh {} failed ({}) for {}", args.join(" "), out.status, state.display()))
    }
}

impl ControlPlane {
    /// Starts a fresh control plane in `<faults_dir>/<name>` (a leftover of an interrupted run in
    /// that dir is stopped first). Panics, failing the test, when it cannot.
    pub fn start(name: &str) -> ControlPlane {
        let state = faults_dir().join(name);
        if let Some(parent) = state.parent() {
            std::fs::create_dir_all(parent).unwrap_or_else(|e| panic!("cannot create {}: {e}", parent.display()));
        }
        if let Err(e) = run(&state, &["down"]) {
            panic!("cannot clear the previous control plane: {e}");
        }
        let started = Instant::now();
        if let Err(e) = run(&state, &["up"]) {
            panic!("the fault suite needs a control plane of its own and could not start one: {e}");
        }
        eprintln!("[faults] control plane {name} up in {:.1} s", started.elapsed().as_secs_f64());
        let kubeconfig = state.join("kubeconfig");
        ControlPlane { state, kubeconfig }
    }

    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }

    /// A client for this control plane (fails the test when it does not answer).
    pub async fn client(&self) -> Client {
        let path = self.kubeconfig.to_str().expect("UTF-8 state path");
        match super::try_client(path).await {
            Ok(c) => c,
            Err(e) => panic!("the fault suite's control plane does not answer: {e}"),
        }
    }

    fn pid(&self, name: &str) -> Option<u32> {
        std::fs::read_to_string(self.state.join(format!("{name}.pid"))).ok()?.trim().parse().ok()
    }

    pub fn apiserver_pid(&self) -> Option<u32> {
        self.pid("kube-apiserver")
    }

    pub fn etcd_pid(&self) -> Option<u32> {
        self.pid("etcd")
    }

    /// SIGKILL kube-apiserver (etcd and the state stay).
    pub fn kill_apiserver(&self) {
        run(&self.state, &["apiserver-stop", "--kill"]).unwrap_or_else(|e| panic!("{e}"));
    }

    /// Starts kube-apiserver again with the same flags, port and certificates; returns once
    /// `/readyz` is ok, with the time it took.
    pub fn start_apiserver(&self) -> Duration {
        let t = Instant::now();
        run(&self.state, &["apiserver-start"]).unwrap_or_else(|e| panic!("{e}"));
        t.elapsed()
    }

    /// SIGSTOP etcd.
    pub fn pause_etcd(&self) {
        run(&self.state, &["etcd-pause"]).unwrap_or_else(|e| panic!("{e}"));
    }

    /// SIGCONT etcd.
    pub fn resume_etcd(&self) {
        run(&self.state, &["etcd-resume"]).unwrap_or_else(|e| panic!("{e}"));
    }

    /// The last `n` lines of kube-apiserver's log.
    pub fn apiserver_log_tail(&self, n: usize) -> String {
        let text = std::fs::read_to_string(self.state.join("kube-apiserver.log")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        // `down` continues a paused etcd before stopping it.
        if let Err(e) = run(&self.state, &["down"]) {
            eprintln!("[faults] {e}");
        }
    }
}
