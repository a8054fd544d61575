//! `natsguard run`: the controller, a thin I/O shell around the pure core. It watches
//! policies, Deployments, ConfigMaps and incidents, calls the evaluator, the incident
//! lifecycle and the status computation, and writes what they decide.

mod http;
mod incidents;
pub mod metrics;
mod policy;
mod publish;
mod watch;

use futures::FutureExt;
use kube::Client;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::net::TcpListener;
use tokio::sync::watch as signal;

pub use http::Health;
pub use metrics::Metrics;

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
}

/// What the controller watches.
#[derive(Clone, Debug, Default)]
pub struct Config {
    /// Namespaces to watch; empty means the whole cluster.
    pub namespaces: Vec<String>,
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
        let client = Client::try_default().await.map_err(Error::Config)?;
        let listener =
            TcpListener::bind(args.http_addr).await.map_err(|source| Error::Bind { addr: args.http_addr, source })?;
        let config = Config { namespaces: args.namespaces };
        run(client, config, Some(listener), shutdown_signal()).await
    });
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

/// Resolves on SIGTERM or Ctrl-C.
async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
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
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
    tracing::info!("shutdown requested; finishing in-flight work");
}

/// Run the controller until `shutdown` resolves; in-flight reconciliations finish first.
/// `listener`, when given, serves `/livez`, `/readyz` and `/metrics`.
pub async fn run(
    client: Client,
    config: Config,
    listener: Option<TcpListener>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    let metrics = Arc::new(Metrics::default());
    let health = Arc::new(Health::default());
    if let Some(listener) = listener {
        tokio::spawn(http::serve(listener, health.clone(), metrics.clone()));
    }
    let (stop_tx, stop_rx) = signal::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    });

    let scopes: Vec<Option<String>> =
        if config.namespaces.is_empty() { vec![None] } else { config.namespaces.into_iter().map(Some).collect() };
    let reporter =
        kube::runtime::events::Reporter { controller: "natsguard".into(), instance: std::env::var("POD_NAME").ok() };
    let recorder = kube::runtime::events::Recorder::new(client.clone(), reporter);

    let mut controllers = Vec::new();
    let mut ready = Vec::new();
    for scope in scopes {
        let scope_ns = scope.clone();
        let parts = watch::Scope::new(client.clone(), scope);
        let synced = Arc::new(AtomicBool::new(false));
        let scope_ready = parts.ready();
        let flag = synced.clone();
        ready.push(async move {
            scope_ready.await;
            flag.store(true, Ordering::Release);
        });
        let ctx = Arc::new(policy::Context {
            client: client.clone(),
            stores: parts.stores.clone(),
            recorder: recorder.clone(),
            metrics: metrics.clone(),
            failures: Default::default(),
            synced,
        });
        controllers.push(policy::controller(parts, ctx, stopped(stop_rx.clone())).boxed());
        controllers
            .push(incidents::controller(client.clone(), scope_ns, recorder.clone(), stopped(stop_rx.clone())).boxed());
    }
    let health_flag = health.clone();
    tokio::spawn(async move {
        futures::future::join_all(ready).await;
        health_flag.ready.store(true, Ordering::Relaxed);
        tracing::info!("caches synced; ready");
    });
    futures::future::join_all(controllers).await;
    Ok(())
}

/// Resolves once shutdown was requested.
async fn stopped(mut rx: signal::Receiver<bool>) {
    let _ = rx.wait_for(|stop| *stop).await;
}
