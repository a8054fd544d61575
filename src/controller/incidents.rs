//! Incident housekeeping that the policy controller cannot do: resolving the incidents of a
//! deleted policy (`PolicyDeleted`) and deleting resolved incidents after the retention. It reads
//! incidents and policies from the shared cache (`super::cache`), never with a request of its own.

use super::announce::{Item, Outbox, Shared};
use super::cache::Cache;
use super::metrics::Metrics;
use super::policy::resolve_incident;
use super::publish;
use super::{Error, Leadership};
use crate::crd::{IncidentState, NatsTransportIncident, Resolution};
use crate::lifecycle::{self, Plan};
use crate::notices;
use crate::plan::PolicyState;
use futures::StreamExt;
use k8s_openapi::jiff::SignedDuration;
use kube::api::DeleteParams;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Api, Client, Resource, ResourceExt};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

pub struct Context {
    pub client: Client,
    pub cache: Arc<Cache>,
    pub outbox: Outbox,
    pub metrics: Arc<Metrics>,
    /// Only the leader reconciles (docs/configuration.md, "High availability").
    pub leadership: Leadership,
}

pub async fn controller(
    triggers: mpsc::UnboundedReceiver<ObjectRef<NatsTransportIncident>>,
    ctx: Context,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) {
    let triggers = futures::stream::unfold(triggers, |mut rx| async move { rx.recv().await.map(|r| (r, rx)) });
    let none = futures::stream::empty::<Result<NatsTransportIncident, watcher::Error>>();
    Controller::for_stream(none, ctx.cache.incidents.clone())
        .reconcile_on(triggers)
        .reconcile_all_on(ctx.leadership.gained())
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, Arc::new(ctx))
        .for_each(|_| std::future::ready(()))
        .await;
}

fn error_policy(incident: Arc<NatsTransportIncident>, error: &Error, ctx: Arc<Context>) -> Action {
    ctx.metrics.reconcile_failed("incident", error.kind());
    tracing::warn!(incident = %incident.name_any(), error = %error, "incident housekeeping failed");
    Action::requeue(Duration::from_secs(10))
}

async fn reconcile(incident: Arc<NatsTransportIncident>, ctx: Arc<Context>) -> Result<Action, Error> {
    if !ctx.leadership.is_leading() {
        return Ok(Action::await_change());
    }
    if !ctx.cache.synced() {
        return Ok(Action::requeue(Duration::from_millis(500)));
    }
    let ns = incident.namespace().ok_or_else(|| Error::NoNamespace(incident.name_any()))?;
    let name = incident.name_any();
    let api: Api<NatsTransportIncident> = Api::namespaced(ctx.client.clone(), &ns);
    let policy = ctx.cache.policies.get(&ObjectRef::new(&incident.spec.policy).within(&ns));
    let now = super::policy::now();
    let status = incident.status.as_ref();
    match status.map(|s| s.state) {
        Some(IncidentState::Resolved) => {
            // The policy's retention, or the default one when the policy is gone.
            let retention = policy
                .map(|p| p.spec.incidents.clone())
                .unwrap_or_default()
                .retention()
                .unwrap_or(SignedDuration::from_hours(720));
            let resolved_at = status.and_then(|s| s.resolved_at.as_ref()).map_or(now, |t| t.0);
            let due = lifecycle::prune_at(resolved_at, retention);
            if now >= due {
                tracing::info!(incident = %name, namespace = %ns, "deleting resolved incident after retention");
                match api.delete(&name, &DeleteParams::default()).await {
                    Ok(_) => {}
                    Err(kube::Error::Api(s)) if s.is_not_found() => {}
                    Err(e) => return Err(e.into()),
                }
                return Ok(Action::await_change());
            }
            let wait: Duration = due.duration_since(now).try_into().unwrap_or(Duration::from_secs(60));
            Ok(Action::requeue(wait.min(Duration::from_secs(3600)) + Duration::from_secs(1)))
        }
        _ if policy.is_none() => {
            resolve_incident(&api, &name, Resolution::PolicyDeleted, now).await?;
            let recorded = status.map(|s| s.state);
            let plan = Plan::Resolve(Resolution::PolicyDeleted);
            // The policy is gone, and with it any renamed variable: name the contract's default.
            let o = incident.spec.r#override;
            let defaults = crate::crd::policy::OverrideSpec::default();
            let variable = lifecycle::variable(&defaults, o);
            let about =
                notices::About { deployment: &incident.spec.deployment.name, incident: &name, r#override: o, variable };
            let uid = incident.spec.deployment.uid.as_str();
            let regarding = publish::reference("apps/v1", "Deployment", &ns, &incident.spec.deployment.name, Some(uid));
            // Not tied to any policy's record.
            let shared = Arc::new(Shared::new(
                (ns.clone(), incident.spec.policy.clone()),
                String::new(),
                PolicyState::default(),
            ));
            for notice in notices::incident(&about, recorded, &plan) {
                ctx.outbox.send(Item {
                    shared: shared.clone(),
                    workload: None,
                    notice,
                    regarding: regarding.clone(),
                    related: Some(incident.object_ref(&())),
                });
            }
            Ok(Action::await_change())
        }
        _ => Ok(Action::await_change()),
    }
}
