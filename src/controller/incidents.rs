//! Incident housekeeping that the policy controller cannot do: resolving the incidents of a
//! deleted policy (`PolicyDeleted`) and deleting resolved incidents after the retention.

use super::metrics::Metrics;
use super::policy::resolve_incident;
use super::publish::{self, Refs};
use super::watch::scope_api;
use super::{Error, Leadership};
use crate::crd::{IncidentState, NatsTransportIncident, NatsTransportPolicy, Resolution};
use crate::lifecycle::{self, Plan};
use crate::notices;
use futures::StreamExt;
use k8s_openapi::jiff::SignedDuration;
use kube::api::DeleteParams;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::Recorder;
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Api, Client, Resource, ResourceExt};
use std::sync::Arc;
use std::time::Duration;

pub struct Context {
    pub client: Client,
    pub recorder: Recorder,
    pub metrics: Arc<Metrics>,
    /// Only the leader reconciles (SPEC section 8).
    pub leadership: Leadership,
}

pub async fn controller(
    ctx: Context,
    namespace: Option<String>,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) {
    let ns = namespace.as_deref();
    let client = ctx.client.clone();
    let ctl =
        Controller::new(scope_api::<NatsTransportIncident>(&client, ns), watcher::Config::default().any_semantic())
            .reconcile_all_on(ctx.leadership.gained());
    let incidents = ctl.store();
    ctl.watches(
        scope_api::<NatsTransportPolicy>(&client, ns),
        watcher::Config::default().any_semantic(),
        move |p: NatsTransportPolicy| {
            let (pns, pname) = (p.namespace(), p.name_any());
            incidents
                .state_filter(|i| i.namespace() == pns && i.spec.policy == pname)
                .iter()
                .map(|i| ObjectRef::from_obj(i.as_ref()))
                .collect::<Vec<_>>()
        },
    )
    .graceful_shutdown_on(shutdown)
    .run(reconcile, error_policy, Arc::new(ctx))
    .for_each(|_| std::future::ready(()))
    .await;
}

fn error_policy(incident: Arc<NatsTransportIncident>, error: &Error, ctx: Arc<Context>) -> Action {
    ctx.metrics.reconcile_failed("incident", error.kind());
    tracing::warn!(incident = %incident.name_any(), error = %error, "incident housekeeping failed");
    Action::requeue(Duration::from_secs(30))
}

async fn reconcile(incident: Arc<NatsTransportIncident>, ctx: Arc<Context>) -> Result<Action, Error> {
    if !ctx.leadership.is_leading() {
        return Ok(Action::await_change());
    }
    let ns = incident.namespace().ok_or_else(|| Error::NoNamespace(incident.name_any()))?;
    let name = incident.name_any();
    let api: Api<NatsTransportIncident> = Api::namespaced(ctx.client.clone(), &ns);
    let policy = Api::<NatsTransportPolicy>::namespaced(ctx.client.clone(), &ns).get_opt(&incident.spec.policy).await?;
    let now = super::policy::now();
    let status = incident.status.as_ref();
    match status.map(|s| s.state) {
        Some(IncidentState::Resolved) => {
            // The policy's retention, or the default one when the policy is gone.
            let retention = policy
                .map(|p| p.spec.incidents)
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
            let notices = notices::incident(&about, recorded, &plan);
            let policy_ref =
                publish::reference("natsguard.io/v1alpha1", "NatsTransportPolicy", &ns, &incident.spec.policy, None);
            let uid = incident.spec.deployment.uid.as_str();
            let deployment_ref = |n: &str| Some(publish::reference("apps/v1", "Deployment", &ns, n, Some(uid)));
            let incident_ref = |_: &str| Some(incident.object_ref(&()));
            let refs = Refs { policy: &policy_ref, deployment: &deployment_ref, incident: &incident_ref };
            publish::notices(&ctx.recorder, &refs, notices).await;
            Ok(Action::await_change())
        }
        _ => Ok(Action::await_change()),
    }
}
