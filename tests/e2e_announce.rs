//! Events no bounded list drives, and failures that stay isolated, on the real control plane
//! (issue 10): every violating workload is announced once, also past the 100 entries of
//! `status.results` and across a restart; adding one more never produces a false
//! `DriftResolved`; a revoked `create` on incidents shows as `Degraded=True` without stopping
//! the status and Events of anything else, and clears when the right is back; a 1 MB URL in a
//! ConfigMap yields short findings beside an ordinary Deployment.

mod support;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::{ConfigMap, ServiceAccount};
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client, Config};
use natsguard::crd::{NatsTransportIncident, NatsTransportLedger, NatsTransportPolicy};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::Duration;
use support::{Operator, TestNamespace};

const WAIT: Duration = Duration::from_secs(60);

async fn eventually<T, F, Fut>(what: &str, check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    support::wait_until(WAIT, what, check).await
}

fn deployment(name: &str, url: Value, extra: &[(&str, &str)], annotations: Value) -> Deployment {
    let mut env = vec![json!({ "name": "CORDUM_ENV", "value": "production" })];
    env.push(match url {
        Value::String(u) => json!({ "name": "NATS_URL", "value": u }),
        from => json!({ "name": "NATS_URL", "valueFrom": from }),
    });
    env.push(json!({ "name": "NATS_TLS_CA", "value": "/etc/nats/ca.crt" }));
    env.push(json!({ "name": "NATS_TOKEN", "valueFrom": { "secretKeyRef": { "name": "nats", "key": "token" } } }));
    env.extend(extra.iter().map(|(k, v)| json!({ "name": k, "value": v })));
    serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": { "name": name, "labels": { "app": "cordum" }, "annotations": annotations },
        "spec": { "selector": { "matchLabels": { "app": name } }, "template": {
            "metadata": { "labels": { "app": name } },
            "spec": { "containers": [{ "name": "scheduler", "image": "cordum/scheduler:1", "env": env }] } } }
    }))
    .expect("valid Deployment")
}

async fn apply(api: &Api<Deployment>, d: &Deployment) {
    let name = d.metadata.name.clone().expect("name");
    api.patch(&name, &PatchParams::apply("e2e-test").force(), &Patch::Apply(d)).await.expect("apply Deployment");
}

async fn create_policy(client: &Client, ns: &str) {
    let policy: NatsTransportPolicy = serde_json::from_value(json!({
        "apiVersion": "natsguard.io/v1alpha1", "kind": "NatsTransportPolicy",
        "metadata": { "name": "nats" }, "spec": { "selector": { "matchLabels": { "app": "cordum" } } }
    }))
    .expect("valid policy");
    Api::<NatsTransportPolicy>::namespaced(client.clone(), ns)
        .create(&PostParams::default(), &policy)
        .await
        .expect("create policy");
}

/// How many times each (reason, Deployment) was announced (an Event's `series` counts repeats).
async fn announced(client: &Client, ns: &str) -> BTreeMap<(String, String), i32> {
    let list = Api::<Event>::namespaced(client.clone(), ns).list(&ListParams::default()).await.expect("list events");
    let mut by = BTreeMap::new();
    for e in list {
        let regarding = e.regarding.as_ref().and_then(|r| r.name.clone()).unwrap_or_default();
        let n = e.series.as_ref().map_or(1, |s| s.count);
        *by.entry((e.reason.clone().unwrap_or_default(), regarding)).or_default() += n;
    }
    by
}

fn count(by: &BTreeMap<(String, String), i32>, reason: &str) -> usize {
    by.keys().filter(|(r, _)| r == reason).count()
}

fn condition<'a>(
    p: &'a NatsTransportPolicy,
    type_: &str,
) -> Option<&'a k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition> {
    p.status.as_ref()?.conditions.iter().find(|c| c.type_ == type_)
}

async fn policy(client: &Client, ns: &str) -> NatsTransportPolicy {
    Api::<NatsTransportPolicy>::namespaced(client.clone(), ns).get("nats").await.expect("get policy")
}

#[tokio::test(flavor = "multi_thread")]
async fn every_violating_workload_is_announced_once_also_past_the_status_list_and_across_a_restart() {
    let client = support::client().await;
    support::install_crds(&client).await;
    let ns = TestNamespace::new(&client, "announce").await;
    let n = ns.name();
    create_policy(&client, n).await;
    let deploys: Api<Deployment> = Api::namespaced(client.clone(), n);
    const N: usize = 125;
    for i in 0..N {
        apply(&deploys, &deployment(&format!("d{i:03}"), json!("nats://nats:4222"), &[], json!({}))).await;
    }
    let op = Operator::start(&client, n);
    eventually(&format!("PlaintextTransport announced for all {N} Deployments"), || async {
        let by = announced(&client, n).await;
        (count(&by, "PlaintextTransport") == N).then_some(())
    })
    .await;
    let p = policy(&client, n).await;
    let s = p.status.as_ref().expect("status");
    assert_eq!((s.workloads, s.compliant), (N as i32, 0));
    assert_eq!(s.results.len() + s.results_omitted as usize, N, "results bounded, the rest counted");
    assert!(s.results.len() <= 100);

    // One more: its own Event, and no DriftResolved for anybody (the 101st used to shift d099 out
    // of the list and announce it as resolved).
    apply(&deploys, &deployment("d125", json!("nats://nats:4222"), &[], json!({}))).await;
    eventually("PlaintextTransport for d125", || async {
        let by = announced(&client, n).await;
        by.contains_key(&("PlaintextTransport".into(), "d125".into())).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let by = announced(&client, n).await;
    assert_eq!(count(&by, "DriftResolved"), 0, "no false DriftResolved: {by:?}");
    let repeated: Vec<_> = by.iter().filter(|(_, c)| **c > 1).collect();
    assert!(repeated.is_empty(), "announced more than once: {repeated:?}");
    let ledgers = Api::<NatsTransportLedger>::namespaced(client.clone(), n).list(&ListParams::default()).await.unwrap();
    let entries: usize = ledgers.items.iter().map(|l| l.spec.entries.len()).sum();
    assert_eq!(entries, N + 1, "the record holds every announced workload");
    op.stop().await;

    // A restart (a new leader would do the same): nothing is announced again.
    let before = announced(&client, n).await;
    let op = Operator::start(&client, n);
    eventually("the restarted operator's status", || async {
        let p = policy(&client, n).await;
        (p.status?.workloads == N as i32 + 1).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(announced(&client, n).await, before, "no Event repeated after a restart");

    // d050 fixed: DriftResolved for d050 only.
    apply(&deploys, &deployment("d050", json!("tls://nats:4222"), &[], json!({}))).await;
    eventually("DriftResolved for d050", || async {
        let by = announced(&client, n).await;
        by.contains_key(&("DriftResolved".into(), "d050".into())).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(count(&announced(&client, n).await, "DriftResolved"), 1);
    op.stop().await;
    ns.cleanup().await;
}

/// A client authenticating as ServiceAccount `sa` of `ns` (created here with a token).
async fn client_as(admin: &Client, ns: &str, sa: &str) -> Client {
    let sas: Api<ServiceAccount> = Api::namespaced(admin.clone(), ns);
    let account: ServiceAccount = serde_json::from_value(json!({ "metadata": { "name": sa } })).unwrap();
    sas.create(&PostParams::default(), &account).await.expect("create ServiceAccount");
    let request = TokenRequest {
        spec: TokenRequestSpec { expiration_seconds: Some(1200), ..Default::default() },
        ..Default::default()
    };
    let token = support::wait_until(Duration::from_secs(10), "a ServiceAccount token", || async {
        sas.create_token_request(sa, &PostParams::default(), &request)
            .await
            .ok()
            .and_then(|t| t.status)
            .map(|s| s.token)
    })
    .await;
    let path = std::env::var("KUBECONFIG").expect("KUBECONFIG");
    let mut kubeconfig = Kubeconfig::read_from(&path).expect("read KUBECONFIG");
    for user in &mut kubeconfig.auth_infos {
        if let Some(auth) = user.auth_info.as_mut() {
            auth.client_certificate_data = None;
            auth.client_key_data = None;
            auth.client_certificate = None;
            auth.client_key = None;
            auth.token = Some(token.clone().into());
        }
    }
    let config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default()).await.expect("config");
    Client::try_from(config).expect("client")
}

/// The operator's rights in `ns`, with or without `create` on incidents and on Events.
async fn grant(admin: &Client, ns: &str, sa: &str, incident_create: bool, events: bool) {
    let mut incident_verbs = vec!["get", "list", "watch", "patch", "delete"];
    if incident_create {
        incident_verbs.push("create");
    }
    let event_verbs: Vec<&str> = if events { vec!["create", "patch"] } else { vec!["get"] };
    let rules = json!([
        { "apiGroups": ["natsguard.io"], "resources": ["natstransportpolicies"], "verbs": ["get", "list", "watch"] },
        { "apiGroups": ["natsguard.io"], "resources": ["natstransportpolicies/status", "natstransportincidents/status"], "verbs": ["get", "patch"] },
        { "apiGroups": ["natsguard.io"], "resources": ["natstransportincidents"], "verbs": incident_verbs },
        { "apiGroups": ["natsguard.io"], "resources": ["natstransportledgers"], "verbs": ["get", "list", "watch", "create", "patch", "delete"] },
        { "apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get", "list", "watch"] },
        { "apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list", "watch"] },
        { "apiGroups": ["events.k8s.io"], "resources": ["events"], "verbs": event_verbs }
    ]);
    let pp = PatchParams::apply(support::FIELD_MANAGER).force();
    let role = json!({ "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
        "metadata": { "name": "operator" }, "rules": rules });
    Api::<Role>::namespaced(admin.clone(), ns).patch("operator", &pp, &Patch::Apply(role)).await.expect("Role");
    let binding = json!({ "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
        "metadata": { "name": "operator" },
        "roleRef": { "apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "operator" },
        "subjects": [{ "kind": "ServiceAccount", "name": sa, "namespace": ns }] });
    Api::<RoleBinding>::namespaced(admin.clone(), ns)
        .patch("operator", &pp, &Patch::Apply(binding))
        .await
        .expect("RoleBinding");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_revoked_incident_create_is_degraded_without_stopping_the_rest_and_clears() {
    let admin = support::client().await;
    support::install_crds(&admin).await;
    let ns = TestNamespace::new(&admin, "degraded").await;
    let n = ns.name();
    grant(&admin, n, "operator", false, true).await;
    let client = client_as(&admin, n, "operator").await;
    create_policy(&admin, n).await;
    let deploys: Api<Deployment> = Api::namespaced(admin.clone(), n);
    apply(&deploys, &deployment("plain", json!("nats://nats:4222"), &[], json!({}))).await;
    let owner = json!({ "natsguard.io/override-owner": "oncall@example.com" });
    let breakglass = [("CORDUM_NATS_ALLOW_PLAINTEXT", "true")];
    apply(&deploys, &deployment("breakglass", json!("nats://nats:4222"), &breakglass, owner)).await;
    let op = Operator::start(&client, n);

    let p = eventually("Degraded=True naming the incident that cannot be written", || async {
        let p = policy(&admin, n).await;
        let c = condition(&p, "Degraded")?;
        (c.status == "True" && c.reason == "IncidentWriteFailed" && c.message.contains("breakglass")).then_some(p)
    })
    .await;
    let s = p.status.as_ref().unwrap();
    assert_eq!(s.workloads, 2, "the status is written for everything else");
    assert_eq!(condition(&p, "Ready").map(|c| c.status.as_str()), Some("True"), "evaluated");
    assert_eq!(condition(&p, "OverrideActive").map(|c| c.status.as_str()), Some("True"), "the override is in use");
    assert!(condition(&p, "Degraded").unwrap().message.len() <= 1024);
    eventually("the other Deployment's Events, and the break-glass finding", || async {
        let by = announced(&admin, n).await;
        (by.contains_key(&("PlaintextTransport".into(), "plain".into()))
            && by.contains_key(&("PlaintextOverrideActive".into(), "breakglass".into())))
        .then_some(())
    })
    .await;
    let incidents = Api::<NatsTransportIncident>::namespaced(admin.clone(), n);
    assert!(incidents.list(&ListParams::default()).await.unwrap().items.is_empty());

    // The right is back: the incident opens, is announced, and Degraded clears.
    grant(&admin, n, "operator", true, true).await;
    eventually("the incident opened and Degraded=False", || async {
        let open = incidents.list(&ListParams::default()).await.ok()?.items.len();
        let p = policy(&admin, n).await;
        (open == 1 && condition(&p, "Degraded")?.status == "False").then_some(())
    })
    .await;
    eventually("OverrideActivated for breakglass", || async {
        let by = announced(&admin, n).await;
        by.contains_key(&("OverrideActivated".into(), "breakglass".into())).then_some(())
    })
    .await;
    let by = announced(&admin, n).await;
    assert!(by.values().all(|c| *c == 1), "each Event once: {by:?}");
    op.stop().await;
    ns.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_event_send_is_retried_until_it_goes_through_once() {
    let admin = support::client().await;
    support::install_crds(&admin).await;
    let ns = TestNamespace::new(&admin, "event-retry").await;
    let n = ns.name();
    grant(&admin, n, "operator", true, false).await;
    let client = client_as(&admin, n, "operator").await;
    create_policy(&admin, n).await;
    let deploys: Api<Deployment> = Api::namespaced(admin.clone(), n);
    apply(&deploys, &deployment("plain", json!("nats://nats:4222"), &[], json!({}))).await;
    let op = Operator::start(&client, n);
    let p = eventually("Degraded=True: Events not sent", || async {
        let p = policy(&admin, n).await;
        let c = condition(&p, "Degraded")?;
        (c.status == "True" && c.reason == "EventsNotSent").then_some(p)
    })
    .await;
    assert_eq!(p.status.as_ref().unwrap().workloads, 1, "the status is written meanwhile");
    assert!(announced(&admin, n).await.is_empty());

    grant(&admin, n, "operator", true, true).await;
    eventually("the Event sent on a retry, and Degraded cleared", || async {
        let by = announced(&admin, n).await;
        let p = policy(&admin, n).await;
        (by.contains_key(&("PlaintextTransport".into(), "plain".into()))
            && condition(&p, "Degraded")?.status == "False")
            .then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let by = announced(&admin, n).await;
    assert!(by.values().all(|c| *c == 1), "each Event once: {by:?}");
    op.stop().await;
    ns.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_one_megabyte_configmap_url_stays_bounded_beside_an_ordinary_deployment() {
    let client = support::client().await;
    support::install_crds(&client).await;
    let ns = TestNamespace::new(&client, "huge").await;
    let n = ns.name();
    let url = format!("nats://user:s3cret@{}:4222", "h".repeat(1_000_000));
    let cm: ConfigMap = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": { "name": "big" }, "data": { "url": url }
    }))
    .unwrap();
    Api::<ConfigMap>::namespaced(client.clone(), n).create(&PostParams::default(), &cm).await.expect("1 MB ConfigMap");
    create_policy(&client, n).await;
    let deploys: Api<Deployment> = Api::namespaced(client.clone(), n);
    let from = json!({ "configMapKeyRef": { "name": "big", "key": "url" } });
    apply(&deploys, &deployment("huge", from, &[], json!({}))).await;
    apply(&deploys, &deployment("plain", json!("nats://nats:4222"), &[], json!({}))).await;
    let op = Operator::start(&client, n);
    let p = eventually("a status with both Deployments", || async {
        let p = policy(&client, n).await;
        (p.status.as_ref()?.workloads == 2 && p.status.as_ref()?.results.len() == 2).then_some(p)
    })
    .await;
    let bytes = serde_json::to_vec(p.status.as_ref().unwrap()).unwrap().len();
    assert!(bytes < 32 * 1024, "status of {bytes} bytes");
    let messages: Vec<&str> =
        p.status.as_ref().unwrap().results.iter().flat_map(|r| &r.findings).map(|f| f.message.as_str()).collect();
    assert!(messages.iter().all(|m| m.len() <= 600 && !m.contains("s3cret")), "{messages:?}");
    eventually("Events for both", || async {
        let by = announced(&client, n).await;
        let about = |d: &str| by.keys().any(|(_, r)| r == d);
        (about("huge") && about("plain")).then_some(())
    })
    .await;
    let events = Api::<Event>::namespaced(client.clone(), n).list(&ListParams::default()).await.unwrap();
    for e in events {
        let note = e.note.unwrap_or_default();
        assert!(note.len() <= 1024 && !note.contains("s3cret"), "{} bytes", note.len());
    }
    op.stop().await;
    ns.cleanup().await;
}
