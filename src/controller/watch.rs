//! Watch streams: one per kind and scope, shared by every controller through the cache
//! (`super::cache`). Each stream backs off on its own, with a short cap, so an error on one
//! never delays another and nothing waits minutes after an API server restart or a 410
//! (docs/configuration.md, "Watches"). A stream that keeps failing is visible: a log line when it
//! starts failing, every 30 s while it fails and when it recovers, and the gauge
//! `natsguard_watch_stale_seconds`.

use futures::StreamExt;
use k8s_openapi::NamespaceResourceScope;
use kube::runtime::watcher;
use kube::{Api, Client, Resource};
use serde::de::DeserializeOwned;
use std::fmt::Debug;
use std::future::Future;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tokio::sync::watch as signal;

/// First retry after a stream error.
const BACKOFF_MIN: Duration = Duration::from_millis(250);
/// Longest wait between retries: a restarted API server is noticed within this.
const BACKOFF_MAX: Duration = Duration::from_secs(3);
/// A stream that was retried and raised no error for this long is working again.
const RECOVERED_AFTER: Duration = Duration::from_secs(2);
/// How often a failing stream says so again in the log.
const REPEAT_LOG: Duration = Duration::from_secs(30);

/// `Api::all` for the whole cluster, else `Api::namespaced`.
pub fn scope_api<K>(client: &Client, namespace: Option<&str>) -> Api<K>
where
    K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>,
{
    match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

/// Whether a stream is making progress.
#[derive(Debug)]
pub struct StreamHealth {
    /// The resource, e.g. `deployments` (the metric's label).
    pub resource: &'static str,
    /// The scope (namespace, or empty for the cluster).
    pub scope: String,
    state: Mutex<HealthState>,
}

#[derive(Debug, Default)]
struct HealthState {
    /// Since when the stream fails (first error of the current streak).
    failing_since: Option<Instant>,
    /// When the stream is retried after the last error.
    retry_at: Option<Instant>,
    logged: Option<Instant>,
    errors: u64,
}

impl StreamHealth {
    pub fn new(resource: &'static str, scope: Option<&str>) -> Self {
        Self { resource, scope: scope.unwrap_or_default().to_owned(), state: Mutex::default() }
    }

    /// Seconds since the stream last made progress while it is failing; 0 while it works.
    pub fn stale_seconds(&self) -> f64 {
        self.state.lock().ok().and_then(|s| s.failing_since).map_or(0.0, |t| t.elapsed().as_secs_f64())
    }

    /// Errors seen so far.
    pub fn errors(&self) -> u64 {
        self.state.lock().map_or(0, |s| s.errors)
    }

    fn failed(&self, error: &watcher::Error, retry_in: Duration) {
        let Ok(mut s) = self.state.lock() else { return };
        let now = Instant::now();
        s.errors += 1;
        s.retry_at = Some(now + retry_in);
        let since = *s.failing_since.get_or_insert(now);
        if s.logged.is_none_or(|t| now.duration_since(t) >= REPEAT_LOG) {
            s.logged = Some(now);
            tracing::warn!(
                resource = self.resource,
                scope = %self.scope,
                error = %error,
                failing_for = ?now.duration_since(since),
                retry_in = ?retry_in,
                "watch stream failing; retrying"
            );
        }
    }

    /// The stream produced something, or was retried and raised no error for a while.
    fn progressed(&self) {
        let Ok(mut s) = self.state.lock() else { return };
        if let Some(since) = s.failing_since.take() {
            tracing::info!(
                resource = self.resource,
                scope = %self.scope,
                after = ?since.elapsed(),
                "watch stream recovered"
            );
        }
        s.retry_at = None;
        s.logged = None;
    }

    fn quiet_since_error(&self) -> bool {
        self.state.lock().ok().and_then(|s| s.retry_at).is_some_and(|t| Instant::now() >= t + RECOVERED_AFTER)
    }

    fn failing(&self) -> bool {
        self.state.lock().is_ok_and(|s| s.failing_since.is_some())
    }
}

/// Run one watch until `stop` resolves, handing every event to `handle`. The stream is created
/// again (a fresh list) whenever `restart` changes. Errors are retried after a short, capped,
/// jittered backoff of this stream's own.
pub async fn run<K>(
    api: Api<K>,
    config: watcher::Config,
    health: std::sync::Arc<StreamHealth>,
    mut restart: Option<signal::Receiver<u64>>,
    mut handle: impl FnMut(watcher::Event<K>) + Send,
    stop: impl Future<Output = ()> + Send,
) where
    K: Resource + Clone + DeserializeOwned + Debug + Send + 'static,
    K::DynamicType: Default + Eq + std::hash::Hash + Clone,
{
    let mut stop = std::pin::pin!(stop);
    let backoff_builder = backon::ExponentialBuilder::default()
        .with_min_delay(BACKOFF_MIN)
        .with_max_delay(BACKOFF_MAX)
        .with_jitter()
        .without_max_times();
    'outer: loop {
        let mut stream = watcher(api.clone(), config.clone()).boxed();
        let mut backoff = backon::BackoffBuilder::build(backoff_builder);
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            let restarted = async {
                match restart.as_mut() {
                    Some(rx) => rx.changed().await.is_ok(),
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = &mut stop => break 'outer,
                again = restarted => {
                    if again {
                        tracing::info!(resource = health.resource, scope = %health.scope, "listing again");
                        continue 'outer;
                    }
                    restart = None;
                }
                _ = tick.tick() => {
                    // Retried, and no error since: the stream is open again.
                    if health.failing() && health.quiet_since_error() {
                        health.progressed();
                    }
                }
                item = stream.next() => match item {
                    Some(Ok(event)) => {
                        // `Init` starts every list attempt, also one about to fail: not progress.
                        if !matches!(event, watcher::Event::Init) {
                            health.progressed();
                            backoff = backon::BackoffBuilder::build(backoff_builder);
                        }
                        handle(event);
                    }
                    Some(Err(e)) => {
                        let delay = backoff.next().unwrap_or(BACKOFF_MAX);
                        health.failed(&e, delay);
                        tokio::select! {
                            _ = &mut stop => break 'outer,
                            _ = tokio::time::sleep(delay) => {}
                        }
                    }
                    None => continue 'outer,
                },
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Against an address nobody listens on, a stream keeps retrying on its own short backoff
    /// (never a long wait), reports itself stale, and stops at once when asked.
    #[tokio::test]
    async fn a_failing_stream_retries_quickly_and_shows_as_stale() {
        let config = kube::Config::new("http://127.0.0.1:9".parse().unwrap());
        let client = Client::try_from(config).unwrap();
        let api: Api<k8s_openapi::api::core::v1::ConfigMap> = Api::namespaced(client, "x");
        let health = std::sync::Arc::new(StreamHealth::new("configmaps", Some("x")));
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(run(api, watcher::Config::default(), health.clone(), None, |_| {}, async move {
            let _ = stop_rx.await;
        }));
        tokio::time::sleep(Duration::from_secs(4)).await;
        // 0.25 + 0.5 + 1 + 2 (with jitter) fit in 4 s: at least 3 attempts, however unlucky.
        assert!(health.errors() >= 3, "{} errors in 4 s", health.errors());
        assert!(
            health.stale_seconds() >= 3.5,
            "stale for {} s after {} errors",
            health.stale_seconds(),
            health.errors()
        );
        let _ = stop_tx.send(());
        tokio::time::timeout(Duration::from_secs(1), task).await.expect("stops at once").unwrap();
    }

    #[test]
    fn a_stream_is_stale_only_while_it_fails() {
        let h = StreamHealth::new("deployments", Some("ns"));
        assert_eq!(h.stale_seconds(), 0.0);
        h.failed(&watcher::Error::NoResourceVersion, BACKOFF_MIN);
        std::thread::sleep(Duration::from_millis(20));
        assert!(h.stale_seconds() > 0.0);
        assert!(h.failing() && !h.quiet_since_error());
        h.progressed();
        assert_eq!(h.stale_seconds(), 0.0);
        assert_eq!(h.errors(), 1);
    }
}
