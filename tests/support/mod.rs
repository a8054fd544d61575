//! Shared support for the end-to-end tests: a client for the real control plane that
//! `hack/controlplane.sh up` started (`make test` does it for you), a fresh namespace per test,
//! and installation of natsguard's CRDs.
//!
//! Use it from an integration test with `mod support;`. Tests that need the control plane FAIL
//! (never skip) when it is missing. There is no kube-controller-manager: no garbage collection,
//! no Pods from Deployments, and deleted namespaces stay `Terminating` (their objects remain).
#![allow(dead_code)] // each test binary uses a different part of this module

pub mod controlplane;
pub mod process;

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{DeleteParams, ObjectMeta, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client, Config};

/// A TCP port on 127.0.0.1 that nothing listens on now, below the kernel's ephemeral range (the
/// rule of hack/lib/ports.sh). Port 0's answer lies inside that range, where any outgoing
/// connection can take it between this call and the server's bind. Never hands out the same
/// port twice in one test process.
pub fn free_port() -> u16 {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|p| p.parse::<u32>().ok()))
        .unwrap_or(32768);
    let (lo, hi) = if low > 11_000 { (10_000, low - 1) } else { (1024, low - 1) };
    let seed = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0)
        ^ std::process::id().wrapping_mul(2_654_435_761);
    for _ in 0..200 {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = lo + (seed.wrapping_add(n.wrapping_mul(7_919))) % (hi - lo + 1);
        let Ok(port) = u16::try_from(port) else { continue };
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free loopback port below {low}");
}

/// How to get a control plane, shown in every "no control plane" failure.
const HOW: &str = "start one with `eval \"$(hack/controlplane.sh up)\"` (stop it with \
                   `hack/controlplane.sh down`), or run every test with `make test`";

/// Field manager used for everything the test support applies.
pub const FIELD_MANAGER: &str = "natsguard-tests";

/// A client for the control plane in `$KUBECONFIG`. Panics with a clear message when KUBECONFIG
/// is unset or the API server does not answer: these tests fail, they never skip.
pub async fn client() -> Client {
    let path = match std::env::var("KUBECONFIG") {
        Ok(p) if !p.trim().is_empty() => p,
        _ => panic!("KUBECONFIG is not set: the end-to-end tests need a running control plane; {HOW}"),
    };
    match try_client(&path).await {
        Ok(c) => c,
        Err(e) => panic!("no usable control plane at KUBECONFIG={path}: {e}; {HOW}"),
    }
}

/// A client for the kubeconfig file at `path`, checked by asking the API server for its version
/// (10 s timeout). The error says what failed.
pub async fn try_client(path: &str) -> Result<Client, String> {
    let kubeconfig = Kubeconfig::read_from(path).map_err(|e| format!("cannot read kubeconfig {path}: {e}"))?;
    let config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .map_err(|e| format!("invalid kubeconfig {path}: {e}"))?;
    let server = config.cluster_url.to_string();
    let client = Client::try_from(config).map_err(|e| format!("cannot build a client for {server}: {e}"))?;
    match tokio::time::timeout(Duration::from_secs(10), client.apiserver_version()).await {
        Ok(Ok(_)) => Ok(client),
        Ok(Err(e)) => Err(format!("API server {server} is unreachable: {e}")),
        Err(_) => Err(format!("API server {server} did not answer within 10 s")),
    }
}

/// A uniquely named namespace: `name()` is `ng-<prefix>-<unique>` (prefix trimmed to fit).
pub fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mix = (std::process::id() as u64) << 32 ^ (nanos as u64) ^ ((n as u64) << 20);
    let prefix: String =
        prefix.to_ascii_lowercase().chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).take(40).collect();
    format!("ng-{}-{:08x}{n:x}", prefix.trim_matches('-'), (mix % 0xffff_ffff) as u32)
}

/// A fresh namespace for one test, so tests run in parallel without interfering.
///
/// Call `cleanup().await` at the end of the test. If the test panics first, the namespace is
/// kept (and its name printed) for inspection; if `cleanup` was simply not called, `Drop`
/// deletes it best-effort.
pub struct TestNamespace {
    client: Client,
    name: String,
    cleaned: bool,
}

impl TestNamespace {
    /// Creates `ng-<prefix>-<unique>` and waits until it is `Active`.
    pub async fn new(client: &Client, prefix: &str) -> TestNamespace {
        let name = unique_name(prefix);
        let api: Api<Namespace> = Api::all(client.clone());
        let ns = Namespace {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                labels: Some([("natsguard.io/test".to_owned(), "true".to_owned())].into()),
                ..Default::default()
            },
            ..Default::default()
        };
        if let Err(e) = api.create(&PostParams::default(), &ns).await {
            panic!("cannot create test namespace {name}: {e}");
        }
        TestNamespace { client: client.clone(), name, cleaned: false }
    }

    /// The namespace's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A namespaced API for `K` in this namespace.
    pub fn api<K>(&self) -> Api<K>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>,
        <K as kube::Resource>::DynamicType: Default,
    {
        Api::namespaced(self.client.clone(), &self.name)
    }

    /// Deletes the namespace (it stays `Terminating`: there is no namespace controller).
    pub async fn cleanup(mut self) {
        self.cleaned = true;
        let api: Api<Namespace> = Api::all(self.client.clone());
        match api.delete(&self.name, &DeleteParams::default()).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(e) => panic!("cannot delete test namespace {}: {e}", self.name),
        }
    }
}

impl Drop for TestNamespace {
    fn drop(&mut self) {
        if self.cleaned {
            return;
        }
        if std::thread::panicking() {
            eprintln!("test failed: namespace {} kept for inspection", self.name);
            return;
        }
        // Best effort, on a thread of its own: the test's runtime may be shutting down.
        let name = self.name.clone();
        let handle = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else {
                return;
            };
            rt.block_on(async move {
                let Ok(client) = Client::try_default().await else {
                    return;
                };
                let api: Api<Namespace> = Api::all(client);
                let _ =
                    tokio::time::timeout(Duration::from_secs(10), api.delete(&name, &DeleteParams::default())).await;
            });
        });
        let _ = handle.join();
    }
}

/// Path of the committed CRD manifest.
pub fn crds_path() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("crds/natsguard.io.yaml")
}

/// Server-side applies every CRD in `crds/natsguard.io.yaml` and waits (up to 30 s) until each is
/// `Established`. Safe to call from many tests at once.
pub async fn install_crds(client: &Client) {
    install_crds_from(client, &crds_path()).await
}

/// Server-side applies every CRD in the manifest at `path` (as [`install_crds`] does; the same
/// field manager, so applying another version of the manifest replaces this one).
pub async fn install_crds_from(client: &Client, path: &std::path::Path) {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let docs: Vec<serde_json::Value> =
        serde_saphyr::from_multiple(&text).unwrap_or_else(|e| panic!("{} is not valid YAML: {e}", path.display()));
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let mut names = Vec::new();
    for doc in docs.into_iter().filter(|d| !d.is_null()) {
        let crd: CustomResourceDefinition = serde_json::from_value(doc)
            .unwrap_or_else(|e| panic!("{} holds something that is not a CRD: {e}", path.display()));
        let name = crd.metadata.name.clone().unwrap_or_else(|| panic!("a CRD in {} has no name", path.display()));
        if let Err(e) = api.patch(&name, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(&crd)).await {
            panic!("the API server refused CRD {name} from {}: {e}", path.display());
        }
        names.push(name);
    }
    for name in names {
        wait_until(Duration::from_secs(30), &format!("CRD {name} to be Established"), || {
            let api = api.clone();
            let name = name.clone();
            async move {
                let crd = api.get(&name).await.ok()?;
                let established =
                    crd.status?.conditions?.iter().any(|c| c.type_ == "Established" && c.status == "True");
                established.then_some(())
            }
        })
        .await;
    }
}

/// Polls `f` every 100 ms until it returns `Some`, panicking after `timeout` with `what`.
pub async fn wait_until<T, F, Fut>(timeout: Duration, what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        if tokio::time::Instant::now() >= deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// natsguard's controller run in this test process, watching one namespace; stopped gracefully
/// (and within 20 s) on [`Operator::stop`].
pub struct Operator {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Operator {
    pub fn start(client: &Client, ns: &str) -> Self {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let config = natsguard::controller::Config { namespaces: vec![ns.to_owned()], ..Default::default() };
        let client = client.clone();
        let task = tokio::spawn(async move {
            natsguard::controller::run(client, config, None, async move {
                let _ = rx.await;
            })
            .await
            .expect("operator run failed");
        });
        Self { stop: Some(tx), task }
    }

    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        tokio::time::timeout(Duration::from_secs(20), &mut self.task)
            .await
            .expect("operator did not stop within 20s of shutdown")
            .expect("operator task panicked");
    }
}
