//! `natsguard run`: the controller, a thin I/O shell around the pure core. It watches
//! policies, Deployments, ConfigMaps and incidents, calls the evaluator, the incident
//! lifecycle and the status computation, and writes what they decide. With leader election on
//! (the default, SPEC section 8) every replica keeps its caches warm and only the leader writes.

mod fence;
pub mod http;
mod incidents;
pub mod leader;
pub mod metrics;
mod policy;
mod probe;
mod publish;
pub mod tls;
mod watch;
pub mod webhook;

use crate::crd::NatsTransportPolicy;
use futures::FutureExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Client;
use kube::ResourceExt;
use kube::runtime::reflector::ObjectRef;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch as signal;

pub use http::Health;
pub use leader::{Leadership, LeaseConfig};
pub use metrics::Metrics;

/// How long in-flight reconciles get to finish after shutdown was requested (they are abandoned
/// after that; everything they write is idempotent and the next leader redoes it).
const DRAIN: Duration = Duration::from_secs(5);
/// The same before the caches have synced: policy reconciles do nothing then, and kube-runtime's
/// Controllers never finish a graceful shutdown before their store is ready (issue 10: SIGTERM
/// was ignored until the caches synced), so there is nothing worth waiting for.
const DRAIN_UNSYNCED: Duration = Duration::from_millis(500);
/// How long releasing the Lease may take on shutdown (it expires on its own otherwise).
const RELEASE: Duration = Duration::from_secs(2);
/// How long the async runtime gets to wind down after `run` returned.
const RUNTIME_SHUTDOWN: Duration = Duration::from_secs(1);
/// How often the webhook's certificate directory is checked for a rotated certificate.
const CERT_RELOAD: Duration = Duration::from_secs(10);
/// How long in-flight admission reviews get to finish when `run` returns.
const WEBHOOK_DRAIN: Duration = Duration::from_millis(500);

/// Arguments of `natsguard run`.
#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// Watch only this namespace (repeatable, or comma-separated). Default: all namespaces.
    #[arg(long = "namespace", value_name = "NS", env = "NATSGUARD_NAMESPACES", value_delimiter = ',')]
    pub namespaces: Vec<String>,
    /// Address serving /livez, /readyz and /metrics.
    #[arg(long, value_name = "ADDR", default_value = "0.0.0.0:8080")]
    pub http_addr: SocketAddr,
    /// Log format.
    #[arg(long, value_enum, default_value = "text")]
    pub log_format: LogFormat,
    /// Elect a leader with the `natsguard` Lease; only the leader writes. `false` for a single
    /// local process.
    #[arg(long, value_name = "BOOL", default_value_t = true, num_args = 0..=1, default_missing_value = "true",
          action = clap::ArgAction::Set)]
    pub leader_election: bool,
    /// Namespace of the leader-election Lease [default: $POD_NAMESPACE, else `default`].
    #[arg(long, value_name = "NS", env = "POD_NAMESPACE", hide_env = true)]
    pub leader_election_namespace: Option<String>,
    /// Serve the validating admission webhook (`POST /validate`, HTTPS) on this address, from
    /// every replica. Needs --webhook-tls-dir.
    #[arg(long, value_name = "ADDR", requires = "webhook_tls_dir")]
    pub webhook_addr: Option<SocketAddr>,
    /// Directory holding the webhook's serving certificate, `tls.crt` and `tls.key` (reloaded
    /// when they change).
    #[arg(long, value_name = "DIR", requires = "webhook_addr")]
    pub webhook_tls_dir: Option<PathBuf>,
}

impl RunArgs {
    /// The Lease to campaign for, or `None` with `--leader-election=false`.
    pub fn lease(&self) -> Option<LeaseConfig> {
        let ns = self.leader_election_namespace.as_deref().map(str::trim).filter(|ns| !ns.is_empty());
        self.leader_election.then(|| LeaseConfig::new(ns.unwrap_or("default"), leader::default_identity()))
    }

    /// Where to serve the admission webhook, if at all.
    pub fn webhook(&self) -> Option<WebhookConfig> {
        match (self.webhook_addr, &self.webhook_tls_dir) {
            (Some(addr), Some(tls_dir)) => Some(WebhookConfig { addr, tls_dir: tls_dir.clone() }),
            _ => None,
        }
    }
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("Kubernetes API request failed: {0}")]
    Kube(#[from] kube::Error),
    #[error("cannot build a Kubernetes client: {0}")]
    Config(#[source] kube::Error),
    #[error("cannot serve on {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error("{0} has no namespace")]
    NoNamespace(String),
    #[error("no free incident name for Deployment {0}")]
    IncidentName(String),
    #[error("the admission webhook's serving certificate: {0}")]
    Tls(#[from] tls::TlsError),
}

impl Error {
    /// The kind of failure, the `kind` label of `natsguard_reconcile_errors_total`.
    pub fn kind(&self) -> &'static str {
        use metrics::kind;
        match self {
            Error::Kube(kube::Error::Api(s)) => match s.code {
                401 | 403 => kind::FORBIDDEN,
                404 | 410 => kind::NOT_FOUND,
                409 => kind::CONFLICT,
                400 | 413 | 422 => kind::INVALID,
                429 | 500..=599 => kind::SERVER,
                _ => kind::OTHER,
            },
            Error::Kube(kube::Error::Service(e)) if e.is::<fence::NotLeader>() => kind::NOT_LEADER,
            Error::Kube(
                kube::Error::HyperError(_) | kube::Error::Service(_) | kube::Error::RustlsTls(_) | kube::Error::Auth(_),
            ) => kind::UNREACHABLE,
            _ => kind::OTHER,
        }
    }
}

/// What the controller watches, and whether it campaigns for leadership.
#[derive(Clone, Debug, Default)]
pub struct Config {
    /// Namespaces to watch; empty means the whole cluster.
    pub namespaces: Vec<String>,
    /// Campaign for this Lease and write only while leading; `None` writes unconditionally
    /// (leader election off: a single process).
    pub leader_election: Option<LeaseConfig>,
    /// Serve the admission webhook (SPEC section 9).
    pub webhook: Option<WebhookConfig>,
}

/// Where the admission webhook listens and where its serving certificate is.
#[derive(Clone, Debug)]
pub struct WebhookConfig {
    pub addr: SocketAddr,
    /// Holds `tls.crt` and `tls.key`.
    pub tls_dir: PathBuf,
}

pub fn main(args: RunArgs) -> ExitCode {
    init_tracing(args.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!(error = %e, "cannot start the async runtime");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        // Installed before anything else, so SIGTERM is handled in every state.
        let shutdown = shutdown_signal();
        let client = Client::try_default().await.map_err(Error::Config)?;
        let listener =
            TcpListener::bind(args.http_addr).await.map_err(|source| Error::Bind { addr: args.http_addr, source })?;
        let config = Config { leader_election: args.lease(), webhook: args.webhook(), namespaces: args.namespaces };
        run(client, config, Some(listener), shutdown).await
    });
    runtime.shutdown_timeout(RUNTIME_SHUTDOWN);
    match result {
        Ok(()) => {
            tracing::info!("stopped");
            ExitCode::SUCCESS
        }
        Err(e) => {
            tracing::error!(error = %e, "natsguard run failed");
            ExitCode::FAILURE
        }
    }
}

fn init_tracing(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,kube_runtime::controller=warn"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}

/// Resolves on SIGTERM or Ctrl-C. The handlers are installed when this is called (inside the
/// runtime), not when the future is first polled.
fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    let term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate());
    let ctrl_c = tokio::signal::ctrl_c();
    async move {
        #[cfg(unix)]
        match term {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {},
                    _ = term.recv() => {},
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
        #[cfg(not(unix))]
        let _ = ctrl_c.await;
        tracing::info!("shutdown requested; finishing in-flight work");
    }
}

/// Run the controller until `shutdown` resolves. Then no new work starts, in-flight
/// reconciliations get [`DRAIN`] to finish, the leader steps down and releases its Lease, and
/// this returns: within 10 s in every state (caches synced or not, API server reachable or not).
/// `listener`, when given, serves `/livez`, `/readyz` and `/metrics`; `config.webhook`, when
/// given, the admission webhook until this returns.
pub async fn run(
    client: Client,
    config: Config,
    listener: Option<TcpListener>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    // The webhook's certificate and address are checked before anything starts.
    let webhook_serving = match &config.webhook {
        Some(w) => {
            let certs = tls::CertDir::load(&w.tls_dir)?;
            let acceptor = tls::Tls::new(certs.clone())?;
            let listener = TcpListener::bind(w.addr).await.map_err(|source| Error::Bind { addr: w.addr, source })?;
            tracing::info!(addr = %w.addr, tls_dir = %w.tls_dir.display(), "serving the admission webhook");
            Some((listener, acceptor, certs))
        }
        None => None,
    };
    let metrics = Arc::new(Metrics::default());
    let health = Arc::new(Health::default());
    let (stop_tx, stop_rx) = signal::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    });
    let server = listener.map(|listener| {
        let ops = Arc::new(http::Ops { health: health.clone(), metrics: metrics.clone() });
        tokio::spawn(http::serve(listener, http::Plain, ops, stopped(stop_rx.clone())))
    });

    let (leadership, elector) = match config.leader_election {
        Some(lease) => {
            let (leadership, elector) = leader::spawn(client.clone(), lease);
            (leadership, Some(elector))
        }
        None => (Leadership::always(), None),
    };
    let follower = tokio::spawn(follow_leadership(leadership.clone(), metrics.clone()));
    // An API server that does not answer shows on /readyz and in the log.
    let prober = tokio::spawn(probe::run(client.clone(), health.clone()));
    // Everything that writes goes through the fence: only the leader writes.
    let writer = fence::fenced(client, leadership.clone());

    let scopes: Vec<Option<String>> =
        if config.namespaces.is_empty() { vec![None] } else { config.namespaces.into_iter().map(Some).collect() };
    let reporter =
        kube::runtime::events::Reporter { controller: "natsguard".into(), instance: std::env::var("POD_NAME").ok() };
    let recorder = kube::runtime::events::Recorder::new(writer.clone(), reporter);

    let mut controllers = Vec::new();
    let mut ready = Vec::new();
    let mut views = Vec::new();
    for scope in scopes {
        let scope_ns = scope.clone();
        let parts = watch::Scope::new(writer.clone(), scope);
        let synced = Arc::new(AtomicBool::new(false));
        let scope_ready = parts.ready();
        let flag = synced.clone();
        views.push(ScopeView { namespace: scope_ns.clone(), stores: parts.stores.clone(), synced: synced.clone() });
        ready.push(async move {
            scope_ready.await;
            flag.store(true, Ordering::Release);
        });
        let ctx = Arc::new(policy::Context {
            client: writer.clone(),
            stores: parts.stores.clone(),
            recorder: recorder.clone(),
            metrics: metrics.clone(),
            failures: Default::default(),
            synced,
            leadership: leadership.clone(),
        });
        controllers.push(policy::controller(parts, ctx, stopped(stop_rx.clone())).boxed());
        let incidents = incidents::Context {
            client: writer.clone(),
            recorder: recorder.clone(),
            metrics: metrics.clone(),
            leadership: leadership.clone(),
        };
        controllers.push(incidents::controller(incidents, scope_ns, stopped(stop_rx.clone())).boxed());
    }
    // Every replica serves the webhook from its own caches, leader or not: it only reads.
    let (webhook_stop, webhook_stopped) = tokio::sync::oneshot::channel::<()>();
    let webhook = webhook_serving.map(|(listener, acceptor, certs)| {
        let handler = Arc::new(webhook::Webhook { caches: CacheView { scopes: views }, metrics: metrics.clone() });
        let server = tokio::spawn(http::serve(listener, acceptor, handler, async move {
            let _ = webhook_stopped.await;
        }));
        (server, tokio::spawn(certs.watch(CERT_RELOAD)))
    });
    let health_flag = health.clone();
    let readiness = tokio::spawn(async move {
        futures::future::join_all(ready).await;
        health_flag.ready.store(true, Ordering::Relaxed);
        tracing::info!("caches synced; ready");
    });

    let mut all = futures::future::join_all(controllers);
    tokio::select! {
        _ = &mut all => {}
        _ = stopped(stop_rx.clone()) => {
            // The Controllers stopped taking new work on the same signal; let in-flight
            // reconciles finish while this replica still holds the Lease.
            let drain = if health.ready.load(Ordering::Relaxed) { DRAIN } else { DRAIN_UNSYNCED };
            if tokio::time::timeout(drain, &mut all).await.is_err() {
                tracing::info!(after = ?drain, "in-flight work did not finish in time; abandoning it");
            }
        }
    }
    // Dropping the Controllers aborts whatever is left and ends every watch.
    drop(all);
    readiness.abort();
    if let Some(elector) = elector {
        elector.step_down(RELEASE).await;
    }
    follower.abort();
    prober.abort();
    if let Some(server) = server {
        server.abort();
    }
    // The webhook answered until now (also while draining), so that the API server never calls
    // a replica that is going away and finds nothing.
    if let Some((mut server, reload)) = webhook {
        reload.abort();
        let _ = webhook_stop.send(());
        if tokio::time::timeout(WEBHOOK_DRAIN, &mut server).await.is_err() {
            server.abort();
        }
    }
    Ok(())
}

/// One watched scope, as the webhook reads it.
struct ScopeView {
    /// `None`: the whole cluster.
    namespace: Option<String>,
    stores: watch::Stores,
    synced: Arc<AtomicBool>,
}

/// The operator's caches as the admission webhook reads them ([`webhook::Caches`]).
struct CacheView {
    scopes: Vec<ScopeView>,
}

impl CacheView {
    /// The scope that watches `namespace`: its own, else the cluster-wide one.
    fn scope(&self, namespace: &str) -> Option<&ScopeView> {
        self.scopes
            .iter()
            .find(|s| s.namespace.as_deref() == Some(namespace))
            .or_else(|| self.scopes.iter().find(|s| s.namespace.is_none()))
    }
}

impl webhook::Caches for CacheView {
    fn coverage(&self, namespace: &str) -> webhook::Coverage {
        match self.scope(namespace) {
            None => webhook::Coverage::NotWatched,
            Some(s) if s.synced.load(Ordering::Acquire) => webhook::Coverage::Synced,
            Some(_) => webhook::Coverage::Syncing,
        }
    }

    fn policies(&self, namespace: &str) -> Vec<Arc<NatsTransportPolicy>> {
        self.scope(namespace)
            .map_or_else(Vec::new, |s| s.stores.policies.state_filter(|p| p.namespace().as_deref() == Some(namespace)))
    }

    fn configmap(&self, namespace: &str, name: &str) -> Option<Arc<ConfigMap>> {
        self.scope(namespace)?.stores.configmaps.get(&ObjectRef::new(name).within(namespace))
    }
}

/// Mirrors leadership into `natsguard_leader` and the log; a replica that stops leading drops
/// the per-policy gauges (the new leader reports them).
async fn follow_leadership(mut leadership: Leadership, metrics: Arc<Metrics>) {
    metrics.set_leader(leadership.is_leading());
    while let Some(leading) = leadership.changed().await {
        metrics.set_leader(leading);
        if !leading {
            metrics.retain_policies(|_, _| false);
        }
    }
}

/// Resolves once shutdown was requested.
async fn stopped(mut rx: signal::Receiver<bool>) {
    let _ = rx.wait_for(|stop| *stop).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        run: RunArgs,
    }

    fn parse(args: &[&str]) -> Result<RunArgs, clap::Error> {
        Cli::try_parse_from(std::iter::once("run").chain(args.iter().copied())).map(|c| c.run)
    }

    #[test]
    fn leader_election_flags() {
        let on = parse(&["--leader-election-namespace", "ops"]).unwrap().lease().unwrap();
        assert_eq!((on.namespace.as_str(), on.name.as_str()), ("ops", "natsguard"));
        assert_eq!(on.timing, crate::election::Timing::DEFAULT);
        assert!(parse(&["--leader-election", "--leader-election-namespace", "ops"]).unwrap().lease().is_some());
        assert!(parse(&["--leader-election=true"]).unwrap().lease().is_some());
        assert!(parse(&["--leader-election=false"]).unwrap().lease().is_none());
        assert!(parse(&["--leader-election=maybe"]).is_err());
        let blank = parse(&["--leader-election-namespace="]).unwrap().lease().unwrap();
        assert_eq!(blank.namespace, "default");
    }

    #[test]
    fn webhook_flags() {
        let w = parse(&["--webhook-addr", "127.0.0.1:9443", "--webhook-tls-dir", "/tls"]).unwrap().webhook().unwrap();
        assert_eq!((w.addr.port(), w.tls_dir), (9443, PathBuf::from("/tls")));
        assert!(parse(&[]).unwrap().webhook().is_none());
        // Each needs the other; the address must be one.
        assert!(parse(&["--webhook-addr", "127.0.0.1:9443"]).is_err());
        assert!(parse(&["--webhook-tls-dir", "/tls"]).is_err());
        assert!(parse(&["--webhook-addr", "localhost", "--webhook-tls-dir", "/tls"]).is_err());
    }

    /// A store holding `objects`, as a watch's initial list fills it.
    fn filled<K>(objects: Vec<K>) -> kube::runtime::reflector::Store<K>
    where
        K: kube::Resource<DynamicType = ()> + Clone + 'static,
    {
        use kube::runtime::watcher::Event;
        let (store, mut writer) = kube::runtime::reflector::store();
        writer.apply_watcher_event(&Event::Init);
        for o in objects {
            writer.apply_watcher_event(&Event::InitApply(o));
        }
        writer.apply_watcher_event(&Event::InitDone);
        store
    }

    #[test]
    fn the_webhook_reads_the_scope_that_watches_the_namespace() {
        use webhook::{Caches, Coverage};
        let policy = |ns: &str, name: &str| -> NatsTransportPolicy {
            serde_json::from_value(serde_json::json!({
                "apiVersion": "natsguard.io/v1alpha1", "kind": "NatsTransportPolicy",
                "metadata": {"name": name, "namespace": ns}, "spec": {"selector": {}}
            }))
            .unwrap()
        };
        let cm = |ns: &str, name: &str| -> ConfigMap {
            serde_json::from_value(serde_json::json!({"metadata": {"name": name, "namespace": ns}})).unwrap()
        };
        let stores = |policies, configmaps| watch::Stores {
            policies: filled(policies),
            deployments: filled(Vec::new()),
            configmaps: filled(configmaps),
            incidents: filled(Vec::new()),
        };
        let view = CacheView {
            scopes: vec![
                ScopeView {
                    namespace: Some("a".into()),
                    stores: stores(vec![policy("a", "p1"), policy("a", "p2")], vec![cm("a", "nats")]),
                    synced: Arc::new(AtomicBool::new(true)),
                },
                ScopeView {
                    namespace: Some("b".into()),
                    stores: stores(vec![policy("b", "p3")], Vec::new()),
                    synced: Arc::new(AtomicBool::new(false)),
                },
            ],
        };
        assert_eq!(view.coverage("a"), Coverage::Synced);
        assert_eq!(view.coverage("b"), Coverage::Syncing);
        assert_eq!(view.coverage("c"), Coverage::NotWatched);
        let mut names: Vec<String> = view.policies("a").iter().map(|p| p.name_any()).collect();
        names.sort();
        assert_eq!(names, ["p1", "p2"]);
        assert!(view.policies("c").is_empty());
        assert!(view.configmap("a", "nats").is_some());
        assert!(view.configmap("a", "other").is_none() && view.configmap("b", "nats").is_none());
        // A cluster-wide scope answers for every namespace.
        let all = CacheView {
            scopes: vec![ScopeView {
                namespace: None,
                stores: stores(vec![policy("a", "p1"), policy("b", "p3")], vec![cm("b", "nats")]),
                synced: Arc::new(AtomicBool::new(true)),
            }],
        };
        assert_eq!(all.coverage("anything"), Coverage::Synced);
        assert_eq!(all.policies("b").len(), 1);
        assert!(all.configmap("b", "nats").is_some());
    }

    #[test]
    fn errors_are_classified_for_the_error_counter() {
        let api = |code| Error::Kube(kube::Error::Api(kube::core::Status::failure("x", "y").with_code(code).boxed()));
        assert_eq!(api(403).kind(), metrics::kind::FORBIDDEN);
        assert_eq!(api(409).kind(), metrics::kind::CONFLICT);
        assert_eq!(api(413).kind(), metrics::kind::INVALID);
        assert_eq!(api(503).kind(), metrics::kind::SERVER);
        assert_eq!(api(410).kind(), metrics::kind::NOT_FOUND);
        let fenced = fence::NotLeader { method: ::http::Method::PATCH, path: "/x".into() };
        assert_eq!(Error::Kube(kube::Error::Service(Box::new(fenced))).kind(), metrics::kind::NOT_LEADER);
        assert_eq!(Error::NoNamespace("p".into()).kind(), metrics::kind::OTHER);
        assert!(metrics::kind::ALL.contains(&api(403).kind()));
    }
}
