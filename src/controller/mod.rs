//! `natsguard run`: the controller, a thin I/O shell around the pure core. It watches
//! policies, Deployments, ConfigMaps and incidents, calls the evaluator, the incident
//! lifecycle and the status computation, and writes what they decide. With leader election on
//! (the default; docs/configuration.md, "High availability") every replica keeps its caches warm and only the leader writes.

mod announce;
pub mod cache;
mod fence;
pub mod http;
mod incidents;
pub mod leader;
mod memory;
pub mod metrics;
mod policy;
mod probe;
mod publish;
pub mod tls;
mod watch;
pub mod webhook;

use crate::crd::NatsTransportPolicy;
use crate::env::{ConfigMapLookup, ConfigMaps};
use crate::workload::PodEnv;
use futures::FutureExt;
use kube::Client;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch as signal;

pub use http::Health;
pub use leader::{Leadership, LeaseConfig};
pub use metrics::Metrics;

/// The manager name on everything natsguard writes with server-side apply.
pub const FIELD_MANAGER: &str = "natsguard";

/// How long in-flight reconciles get to finish after shutdown was requested (they are abandoned
/// after that; everything they write is idempotent and the next leader redoes it).
const DRAIN: Duration = Duration::from_secs(5);
/// How long decided Events get to go out once the reconciles are done (those left are decided
/// again by the next leader, from the durable record).
const ANNOUNCE_DRAIN: Duration = Duration::from_secs(1);
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
    #[error("internal: {0}")]
    Internal(String),
    #[error("the admission webhook's serving certificate: {0}")]
    Tls(#[from] tls::TlsError),
}

/// What a failed API request says, short enough for a condition message: the API server's own
/// message and code for a refused request (not kube's debug form of the whole Status).
pub fn brief(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) if !s.message.is_empty() => format!("{} ({} {})", s.message, s.code, s.reason),
        other => other.to_string(),
    }
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
    /// Serve the admission webhook (docs/configuration.md, "Admission").
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
    memory::limit_arenas();
    init_tracing(args.log_format);
    // Few blocking threads: they run the planner, and each thread the allocator sees gets an
    // arena of its own.
    let runtime = match tokio::runtime::Builder::new_multi_thread().max_blocking_threads(4).enable_all().build() {
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
    let reporter = publish::Reporter {
        controller: "natsguard".into(),
        instance: std::env::var("POD_NAME").ok().filter(|p| !p.is_empty()).unwrap_or_else(|| "natsguard".into()),
    };

    let mut controllers = Vec::new();
    let mut announcers = Vec::new();
    let mut caches = Vec::new();
    let (announce_stop_tx, announce_stop_rx) = signal::channel(false);
    for scope in scopes {
        let stop = stop_rx.clone();
        let (cache, triggers, watches) =
            cache::Cache::new(writer.clone(), scope, &metrics, move || Box::pin(stopped(stop.clone())));
        for task in watches.tasks {
            tokio::spawn(task);
        }
        caches.push(cache.clone());
        let (outbox, outbox_rx) = announce::Outbox::channel();
        let states: announce::States = Default::default();
        let announcer = announce::Announcer {
            client: writer.clone(),
            reporter: reporter.clone(),
            states: states.clone(),
            cache: cache.clone(),
            metrics: metrics.clone(),
            leadership: leadership.clone(),
        };
        announcers.push(tokio::spawn(announcer.run(outbox_rx, stopped(announce_stop_rx.clone()), ANNOUNCE_DRAIN)));
        let ctx = Arc::new(policy::Context {
            client: writer.clone(),
            cache: cache.clone(),
            metrics: metrics.clone(),
            outbox: outbox.clone(),
            states,
            failures: Default::default(),
            leadership: leadership.clone(),
        });
        controllers.push(policy::controller(triggers.policies, ctx, stopped(stop_rx.clone())).boxed());
        let incidents = incidents::Context {
            client: writer.clone(),
            cache,
            outbox,
            metrics: metrics.clone(),
            leadership: leadership.clone(),
        };
        controllers.push(incidents::controller(triggers.incidents, incidents, stopped(stop_rx.clone())).boxed());
    }
    let handle = Caches { scopes: caches.clone() };
    // Every replica serves the webhook from its own caches, leader or not: it only reads.
    let (webhook_stop, webhook_stopped) = tokio::sync::oneshot::channel::<()>();
    let webhook = webhook_serving.map(|(listener, acceptor, certs)| {
        let handler = Arc::new(webhook::Webhook { caches: handle.clone(), metrics: metrics.clone() });
        let server = tokio::spawn(http::serve(listener, acceptor, handler, async move {
            let _ = webhook_stopped.await;
        }));
        (server, tokio::spawn(certs.watch(CERT_RELOAD)))
    });
    let health_flag = health.clone();
    let readiness = tokio::spawn(async move {
        loop {
            if handle.scopes.iter().all(|c| c.synced()) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        health_flag.ready.store(true, Ordering::Relaxed);
        let (workloads, configmaps) =
            handle.scopes.iter().map(|c| c.sizes()).fold((0, 0), |(a, b), (c, d)| (a + c, b + d));
        tracing::info!(workloads, configmaps, "caches synced; ready");
        memory::release_free();
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
    // Dropping the Controllers aborts whatever is left; the watches end on the same signal.
    drop(all);
    readiness.abort();
    // The Events decided so far go out (briefly), and the record is written, while still leading.
    let _ = announce_stop_tx.send(true);
    for a in announcers {
        let _ = tokio::time::timeout(ANNOUNCE_DRAIN + Duration::from_millis(250), a).await;
    }
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

/// The operator's caches, as the admission webhook reads them: the policies of a namespace and
/// the ConfigMaps a pod reads there (docs/configuration.md, "How the operator scales").
#[derive(Clone)]
pub struct Caches {
    scopes: Vec<Arc<cache::Cache>>,
}

impl Caches {
    /// The scope that watches `namespace`: its own, else the cluster-wide one.
    fn scope(&self, namespace: &str) -> Option<&Arc<cache::Cache>> {
        self.scopes
            .iter()
            .find(|s| s.namespace.as_deref() == Some(namespace))
            .or_else(|| self.scopes.iter().find(|s| s.namespace.is_none()))
    }
}

impl webhook::Caches for Caches {
    fn coverage(&self, namespace: &str) -> webhook::Coverage {
        match self.scope(namespace) {
            None => webhook::Coverage::NotWatched,
            Some(s) if s.synced() => webhook::Coverage::Synced,
            Some(_) => webhook::Coverage::Syncing,
        }
    }

    fn policies(&self, namespace: &str) -> Vec<Arc<NatsTransportPolicy>> {
        self.scope(namespace).map(|s| s.policies_in(namespace)).unwrap_or_default()
    }

    fn configmaps(&self, namespace: &str, pod: &PodEnv) -> Box<dyn ConfigMapLookup + '_> {
        match self.scope(namespace) {
            Some(s) => Box::new(s.configmaps_for(namespace, pod)),
            None => Box::new(ConfigMaps::unknown()),
        }
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

    #[tokio::test]
    async fn the_webhook_reads_the_scope_that_watches_the_namespace() {
        use webhook::{Caches as _, Coverage};
        let client = Client::try_from(kube::Config::new("http://127.0.0.1:9".parse().unwrap())).unwrap();
        let metrics = Metrics::default();
        // The watch tasks are not spawned: nothing has synced.
        let scope = |ns: Option<&str>| {
            cache::Cache::new(client.clone(), ns.map(String::from), &metrics, || Box::pin(std::future::pending())).0
        };
        let per_namespace = Caches { scopes: vec![scope(Some("a")), scope(Some("b"))] };
        assert_eq!(per_namespace.coverage("a"), Coverage::Syncing);
        assert_eq!(per_namespace.coverage("b"), Coverage::Syncing);
        assert_eq!(per_namespace.coverage("c"), Coverage::NotWatched);
        assert!(per_namespace.policies("c").is_empty());
        let pod = PodEnv::default();
        assert!(matches!(per_namespace.configmaps("c", &pod).lookup("c", "nats"), crate::env::Lookup::Unknown));
        // A cluster-wide scope answers for every namespace.
        let all = Caches { scopes: vec![scope(None)] };
        assert_eq!(all.coverage("anything"), Coverage::Syncing);
    }

    #[test]
    fn a_refused_request_is_told_briefly() {
        let status = kube::core::Status::failure("incidents are forbidden", "Forbidden").with_code(403).boxed();
        assert_eq!(brief(&kube::Error::Api(status)), "incidents are forbidden (403 Forbidden)");
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
