//! The operator end to end against the real control plane: each test gets its own namespace
//! and its own operator instance (the library's `run`, scoped to that namespace).

mod support;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::api::events::v1::Event;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Api, Client, ResourceExt};
use natsguard::crd::{IncidentState, NatsTransportIncident, NatsTransportPolicy, Resolution};
use natsguard::report::Override;
use serde_json::{Value, json};
use std::time::Duration;
use support::{Operator, TestNamespace};

const WAIT: Duration = Duration::from_secs(40);

async fn setup(prefix: &str) -> (Client, TestNamespace) {
    let client = support::client().await;
    support::install_crds(&client).await;
    let ns = TestNamespace::new(&client, prefix).await;
    (client, ns)
}

fn deployment(name: &str, env: Value, annotations: Value) -> Deployment {
    serde_json::from_value(json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": { "name": name, "labels": { "app": "cordum" }, "annotations": annotations },
        "spec": {
            "selector": { "matchLabels": { "app": name } },
            "template": {
                "metadata": { "labels": { "app": name } },
                "spec": { "containers": [{ "name": "scheduler", "image": "cordum/scheduler:1", "env": env }] }
            }
        }
    }))
    .expect("valid Deployment")
}

fn prod_env(url: &str, extra: &[(&str, &str)]) -> Value {
    let mut env = vec![
        json!({ "name": "CORDUM_ENV", "value": "production" }),
        json!({ "name": "NATS_URL", "value": url }),
        json!({ "name": "NATS_TLS_CA", "value": "/etc/nats/ca.crt" }),
        json!({ "name": "NATS_TOKEN", "valueFrom": { "secretKeyRef": { "name": "nats", "key": "token" } } }),
    ];
    env.extend(extra.iter().map(|(k, v)| json!({ "name": k, "value": v })));
    Value::Array(env)
}

async fn apply<K>(api: &Api<K>, name: &str, obj: &K)
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + serde::Serialize + std::fmt::Debug,
{
    api.patch(name, &PatchParams::apply("e2e-test").force(), &Patch::Apply(obj)).await.expect("apply");
}

async fn create_policy(client: &Client, ns: &str, name: &str, spec: Value) {
    let api: Api<NatsTransportPolicy> = Api::namespaced(client.clone(), ns);
    let policy: NatsTransportPolicy = serde_json::from_value(json!({
        "apiVersion": "natsguard.io/v1alpha1", "kind": "NatsTransportPolicy",
        "metadata": { "name": name }, "spec": spec
    }))
    .expect("valid policy");
    api.create(&PostParams::default(), &policy).await.expect("create policy");
}

/// Poll until `check` returns Some, or fail after WAIT with `what`.
async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("timed out after {WAIT:?} waiting for: {what}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn policy(client: &Client, ns: &str, name: &str) -> NatsTransportPolicy {
    Api::<NatsTransportPolicy>::namespaced(client.clone(), ns).get(name).await.expect("get policy")
}

fn condition<'a>(p: &'a NatsTransportPolicy, type_: &str) -> Option<&'a str> {
    p.status.as_ref()?.conditions.iter().find(|c| c.type_ == type_).map(|c| c.status.as_str())
}

async fn incidents(client: &Client, ns: &str) -> Vec<NatsTransportIncident> {
    Api::<NatsTransportIncident>::namespaced(client.clone(), ns).list(&ListParams::default()).await.expect("list").items
}

async fn events(client: &Client, ns: &str, reason: &str) -> Vec<Event> {
    Api::<Event>::namespaced(client.clone(), ns)
        .list(&ListParams::default())
        .await
        .expect("list events")
        .items
        .into_iter()
        .filter(|e| e.reason.as_deref() == Some(reason))
        .collect()
}

async fn wait_event(client: &Client, ns: &str, reason: &str, regarding: &str) -> Event {
    eventually(&format!("a {reason} Event about {regarding}"), || async {
        events(client, ns, reason)
            .await
            .into_iter()
            .find(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(regarding))
    })
    .await
}

async fn wait_incident(
    client: &Client,
    ns: &str,
    what: &str,
    f: impl Fn(&NatsTransportIncident) -> bool,
) -> NatsTransportIncident {
    eventually(what, || async { incidents(client, ns).await.into_iter().find(|i| f(i)) }).await
}

fn state(i: &NatsTransportIncident) -> Option<IncidentState> {
    i.status.as_ref().map(|s| s.state)
}

#[tokio::test(flavor = "multi_thread")]
async fn compliant_tls_workload_is_ready_and_compliant() {
    let (client, ns) = setup("tls").await;
    let op = Operator::start(&client, ns.name());
    create_policy(&client, ns.name(), "nats", json!({ "selector": { "matchLabels": { "app": "cordum" } } })).await;
    let deploys: Api<Deployment> = Api::namespaced(client.clone(), ns.name());
    apply(&deploys, "api", &deployment("api", prod_env("tls://nats.prod:4222", &[]), json!({}))).await;

    let p = eventually("Ready=True, Compliant=True with 1 workload", || async {
        let p = policy(&client, ns.name(), "nats").await;
        let s = p.status.as_ref()?;
        (condition(&p, "Ready") == Some("True") && condition(&p, "Compliant") == Some("True") && s.workloads == 1)
            .then_some(p)
    })
    .await;
    let s = p.status.as_ref().unwrap();
    assert_eq!((s.compliant, s.violations, s.overrides, s.overdue), (1, 0, 0, 0));
    assert_eq!(s.observed_generation, p.metadata.generation);
    assert!(s.conditions.iter().all(|c| c.observed_generation == p.metadata.generation));
    assert_eq!(condition(&p, "OverrideActive"), Some("False"));
    assert!(incidents(&client, ns.name()).await.is_empty());
    op.stop().await;
    ns.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn plaintext_in_production_is_a_violation_with_an_event() {
    let (client, ns) = setup("plain").await;
    let op = Operator::start(&client, ns.name());
    create_policy(&client, ns.name(), "nats", json!({ "selector": {} })).await;
    let deploys: Api<Deployment> = Api::namespaced(client.clone(), ns.name());
    apply(&deploys, "api", &deployment("api", prod_env("nats://nats.prod:4222", &[]), json!({}))).await;

    let p = eventually("Compliant=False", || async {
        let p = policy(&client, ns.name(), "nats").await;
        (condition(&p, "Compliant") == Some("False")).then_some(p)
    })
    .await;
    let s = p.status.as_ref().unwrap();
    assert_eq!(s.violations, 1);
    let codes: Vec<&str> = s.results[0].findings.iter().map(|f| f.code.as_str()).collect();
    assert!(codes.contains(&"PlaintextTransport"), "{codes:?}");
    let ev = wait_event(&client, ns.name(), "PlaintextTransport", "api").await;
    assert_eq!(ev.type_.as_deref(), Some("Warning"));
    assert_eq!(ev.related.as_ref().and_then(|r| r.kind.as_deref()), Some("NatsTransportPolicy"));
    op.stop().await;
    ns.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn override_lifecycle_active_overdue_then_removed() {
    let (client, ns) = setup("override").await;
    let op = Operator::start(&client, ns.name());
    create_policy(&client, ns.name(), "nats", json!({ "selector": {}, "override": { "warnBefore": "2s" } })).await;
    let deploys: Api<Deployment> = Api::namespaced(client.clone(), ns.name());
    let rollback_by = k8s_openapi::jiff::Timestamp::now() + k8s_openapi::jiff::SignedDuration::from_secs(8);
    let rollback_by = k8s_openapi::jiff::Timestamp::from_second(rollback_by.as_second()).unwrap();
    let annotations = json!({
        "natsguard.io/override-owner": "alice@example.com",
        "natsguard.io/override-reason": "INC-42 TLS cert rotation",
        "natsguard.io/rollback-by": rollback_by.to_string(),
    });
    let overridden = prod_env("nats://nats.prod:4222", &[("CORDUM_NATS_ALLOW_PLAINTEXT", "true")]);
    apply(&deploys, "api", &deployment("api", overridden, annotations.clone())).await;

    let active =
        wait_incident(&client, ns.name(), "an Active incident", |i| state(i) == Some(IncidentState::Active)).await;
    assert_eq!(active.spec.owner.as_deref(), Some("alice@example.com"));
    assert_eq!(active.spec.reason.as_deref(), Some("INC-42 TLS cert rotation"));
    assert_eq!(active.spec.deployment.name, "api");
    assert_eq!(active.spec.rollback_by.0, rollback_by);
    assert_eq!(active.spec.containers, vec!["scheduler".to_string()]);
    wait_event(&client, ns.name(), "OverrideActivated", "api").await;
    wait_event(&client, ns.name(), "PlaintextOverrideActive", "api").await;

    // The deadline passes with nothing else changing.
    let overdue =
        wait_incident(&client, ns.name(), "the incident Overdue", |i| state(i) == Some(IncidentState::Overdue)).await;
    assert_eq!(overdue.name_any(), active.name_any(), "the same incident escalates");
    wait_event(&client, ns.name(), "OverrideDeadlineApproaching", "api").await;
    let ev = wait_event(&client, ns.name(), "OverrideOverdue", "api").await;
    assert_eq!(ev.related.as_ref().and_then(|r| r.name.as_deref()), Some(active.name_any().as_str()));
    eventually("IncidentOverdue=True", || async {
        let p = policy(&client, ns.name(), "nats").await;
        (condition(&p, "IncidentOverdue") == Some("True") && p.status.as_ref()?.overdue == 1).then_some(())
    })
    .await;

    // Roll back: override removed and tls:// restored.
    apply(&deploys, "api", &deployment("api", prod_env("tls://nats.prod:4222", &[]), annotations)).await;
    let resolved =
        wait_incident(&client, ns.name(), "the incident Resolved", |i| state(i) == Some(IncidentState::Resolved)).await;
    let status = resolved.status.unwrap();
    assert_eq!(status.resolution, Some(Resolution::OverrideRemoved));
    assert!(status.resolved_at.is_some());
    wait_event(&client, ns.name(), "OverrideResolved", "api").await;
    wait_event(&client, ns.name(), "DriftResolved", "api").await;
    eventually("OverrideActive=False", || async {
        let p = policy(&client, ns.name(), "nats").await;
        (condition(&p, "OverrideActive") == Some("False") && condition(&p, "Compliant") == Some("True")).then_some(())
    })
    .await;
    assert_eq!(incidents(&client, ns.name()).await.len(), 1, "no second incident");
    op.stop().await;
    ns.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn switching_to_tls_resolves_and_deleting_resolves() {
    let (client, ns) = setup("switch").await;
    let op = Operator::start(&client, ns.name());
    create_policy(&client, ns.name(), "nats", json!({ "selector": {} })).await;
    let deploys: Api<Deployment> = Api::namespaced(client.clone(), ns.name());
    let owner = json!({ "natsguard.io/override-owner": "bob" });
    let on = |url: &str| prod_env(url, &[("CORDUM_NATS_ALLOW_PLAINTEXT", "yes")]);
    apply(&deploys, "a", &deployment("a", on("nats://nats:4222"), owner.clone())).await;
    apply(&deploys, "b", &deployment("b", on("nats://nats:4222"), owner.clone())).await;
    eventually("two open incidents", || async {
        (incidents(&client, ns.name()).await.iter().filter(|i| state(i) == Some(IncidentState::Active)).count() == 2)
            .then_some(())
    })
    .await;

    // a: the URL moves to tls:// while the override stays set.
    apply(&deploys, "a", &deployment("a", on("tls://nats:4222"), owner)).await;
    let a = wait_incident(&client, ns.name(), "a resolved", |i| {
        i.spec.deployment.name == "a" && state(i) == Some(IncidentState::Resolved)
    })
    .await;
    assert_eq!(a.status.unwrap().resolution, Some(Resolution::SwitchedToTLS));

    // b: the Deployment is deleted.
    deploys.delete("b", &DeleteParams::default()).await.expect("delete b");
    let b = wait_incident(&client, ns.name(), "b resolved", |i| {
        i.spec.deployment.name == "b" && state(i) == Some(IncidentState::Resolved)
    })
    .await;
    assert_eq!(b.status.unwrap().resolution, Some(Resolution::WorkloadDeleted));
    op.stop().await;
    ns.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn configmap_url_and_policy_edits_are_reevaluated() {
    let (client, ns) = setup("cm").await;
    let op = Operator::start(&client, ns.name());
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), ns.name());
    let cm = |url: &str| -> ConfigMap {
        serde_json::from_value(json!({ "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": { "name": "nats" }, "data": { "url": url } }))
        .unwrap()
    };
    apply(&cms, "nats", &cm("tls://nats:4222")).await;
    create_policy(&client, ns.name(), "nats", json!({ "selector": {} })).await;
    let env = json!([
        { "name": "CORDUM_ENV", "value": "production" },
        { "name": "NATS_URL", "valueFrom": { "configMapKeyRef": { "name": "nats", "key": "url" } } },
        { "name": "NATS_TLS_CA", "value": "/etc/nats/ca.crt" },
        { "name": "NATS_TOKEN", "valueFrom": { "secretKeyRef": { "name": "nats", "key": "token" } } }
    ]);
    let deploys: Api<Deployment> = Api::namespaced(client.clone(), ns.name());
    apply(&deploys, "api", &deployment("api", env, json!({}))).await;
    let compliant = |want: &'static str| {
        let client = client.clone();
        let ns = ns.name().to_owned();
        move || {
            let client = client.clone();
            let ns = ns.clone();
            async move {
                let p = policy(&client, &ns, "nats").await;
                (condition(&p, "Compliant") == Some(want) && p.status.as_ref()?.workloads == 1).then_some(p)
            }
        }
    };
    eventually("compliant with the ConfigMap's tls:// URL", compliant("True")).await;

    apply(&cms, "nats", &cm("nats://nats:4222")).await;
    eventually("violation after the ConfigMap switched to nats://", compliant("False")).await;

    // Editing the policy (production: Never) re-evaluates; generation is observed.
    let api: Api<NatsTransportPolicy> = Api::namespaced(client.clone(), ns.name());
    api.patch(
        "nats",
        &PatchParams::default(),
        &Patch::Merge(json!({ "spec": { "environment": { "production": "Never" } } })),
    )
    .await
    .expect("edit policy");
    let p = eventually("compliant after production: Never", compliant("True")).await;
    assert_eq!(p.status.as_ref().unwrap().observed_generation, Some(2));
    op.stop().await;
    ns.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn restart_keeps_the_incident_and_writes_nothing_new() {
    let (client, ns) = setup("restart").await;
    let op = Operator::start(&client, ns.name());
    create_policy(&client, ns.name(), "nats", json!({ "selector": {} })).await;
    let deploys: Api<Deployment> = Api::namespaced(client.clone(), ns.name());
    let env = prod_env("nats://nats:4222", &[("CORDUM_NATS_ALLOW_PLAINTEXT", "1")]);
    apply(&deploys, "api", &deployment("api", env, json!({ "natsguard.io/override-owner": "carol" }))).await;
    let first =
        wait_incident(&client, ns.name(), "an Active incident", |i| state(i) == Some(IncidentState::Active)).await;
    wait_event(&client, ns.name(), "OverrideActivated", "api").await;
    // Let the first operator settle (status reflects the incident's deadline), then stop it.
    eventually("status showing the incident and its deadline", || async {
        let p = policy(&client, ns.name(), "nats").await;
        let s = p.status?;
        let settled = s.overrides == 1
            && s.next_deadline.as_ref() == Some(&first.spec.rollback_by)
            && s.results
                .iter()
                .flat_map(|r| &r.findings)
                .any(|f| f.message.contains(&first.spec.rollback_by.0.to_string()));
        settled.then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    op.stop().await;
    let before = policy(&client, ns.name(), "nats").await;
    let before_policy = before.metadata.resource_version.clone();
    let before_events =
        Api::<Event>::namespaced(client.clone(), ns.name()).list(&ListParams::default()).await.unwrap().items.len();

    let op = Operator::start(&client, ns.name());
    tokio::time::sleep(Duration::from_secs(5)).await;
    let all = incidents(&client, ns.name()).await;
    assert_eq!(all.len(), 1, "no duplicate incident after restart");
    assert_eq!(all[0].name_any(), first.name_any());
    assert_eq!(all[0].spec.started_at, first.spec.started_at, "startedAt is durable");
    assert_eq!(all[0].metadata.resource_version, first.metadata.resource_version, "incident untouched");
    let after = policy(&client, ns.name(), "nats").await;
    assert_eq!(after.status, before.status, "status unchanged");
    if after.metadata.resource_version != before_policy {
        panic!(
            "policy rewritten:\nBEFORE {}\nAFTER {}",
            serde_json::to_string(&before).unwrap(),
            serde_json::to_string(&after).unwrap()
        );
    }
    let after_events =
        Api::<Event>::namespaced(client.clone(), ns.name()).list(&ListParams::default()).await.unwrap().items.len();
    assert_eq!(after_events, before_events, "no Event re-emitted after restart");
    op.stop().await;
    ns.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn unusable_policy_is_not_ready_with_an_event() {
    let (client, ns) = setup("invalid").await;
    let op = Operator::start(&client, ns.name());
    // The API server's CEL rules reject most bad selectors outright; a label key prefix longer than
    // a DNS subdomain (253) still within the schema's 317-character bound gets through, like a
    // policy stored before the CRD tightened, and the operator must say it cannot use it.
    let long_prefix = vec!["p".repeat(60); 5].join(".");
    let key = format!("{long_prefix}/app");
    create_policy(&client, ns.name(), "bad", json!({ "selector": { "matchLabels": { key: "x" } } })).await;
    let p = eventually("Ready=False", || async {
        let p = policy(&client, ns.name(), "bad").await;
        (condition(&p, "Ready") == Some("False")).then_some(p)
    })
    .await;
    let ready = p.status.as_ref().unwrap().conditions.iter().find(|c| c.type_ == "Ready").unwrap().clone();
    assert_eq!(ready.reason, "InvalidPolicy");
    assert!(ready.message.contains("spec.selector.matchLabels"), "{}", ready.message);
    let ev = wait_event(&client, ns.name(), "PolicyInvalid", "bad").await;
    assert_eq!(ev.type_.as_deref(), Some("Warning"));
    op.stop().await;
    ns.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn deleting_the_policy_resolves_and_retention_prunes() {
    let (client, ns) = setup("prune").await;
    let op = Operator::start(&client, ns.name());
    create_policy(&client, ns.name(), "keep", json!({ "selector": {} })).await;
    create_policy(&client, ns.name(), "short", json!({ "selector": {}, "incidents": { "retention": "0s" } })).await;
    let deploys: Api<Deployment> = Api::namespaced(client.clone(), ns.name());
    let env = prod_env("nats://nats:4222", &[("CORDUM_NATS_ALLOW_PLAINTEXT", "true")]);
    apply(&deploys, "api", &deployment("api", env, json!({ "natsguard.io/override-owner": "dave" }))).await;
    // One incident per policy selecting the Deployment.
    eventually("an open incident under each policy", || async {
        let open = incidents(&client, ns.name()).await;
        (open.iter().filter(|i| state(i) == Some(IncidentState::Active)).count() == 2).then_some(())
    })
    .await;

    // Deleting a policy resolves its incident; the other policy's incident is untouched.
    let policies: Api<NatsTransportPolicy> = Api::namespaced(client.clone(), ns.name());
    policies.delete("keep", &DeleteParams::default()).await.expect("delete policy");
    let resolved = wait_incident(&client, ns.name(), "the deleted policy's incident resolved", |i| {
        i.spec.policy == "keep" && state(i) == Some(IncidentState::Resolved)
    })
    .await;
    assert_eq!(resolved.status.unwrap().resolution, Some(Resolution::PolicyDeleted));
    let other = incidents(&client, ns.name()).await.into_iter().find(|i| i.spec.policy == "short").unwrap();
    assert_eq!(state(&other), Some(IncidentState::Active));

    // With retention 0s, a resolved incident is deleted right away.
    apply(&deploys, "api", &deployment("api", prod_env("tls://nats:4222", &[]), json!({}))).await;
    eventually("the short-retention incident deleted after it resolved", || async {
        let left = incidents(&client, ns.name()).await;
        (!left.iter().any(|i| i.spec.policy == "short")).then_some(())
    })
    .await;
    wait_event(&client, ns.name(), "OverrideResolved", "api").await;
    op.stop().await;
    ns.cleanup().await;
}

/// How many times an Event with this reason about this Deployment was emitted (a repeat of the
/// same Event is counted in its `series`), optionally only those related to one incident.
async fn occurrences(client: &Client, ns: &str, reason: &str, regarding: &str, related: Option<&str>) -> i32 {
    events(client, ns, reason)
        .await
        .iter()
        .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(regarding))
        .filter(|e| related.is_none_or(|n| e.related.as_ref().and_then(|r| r.name.as_deref()) == Some(n)))
        .map(|e| e.series.as_ref().map_or(1, |s| s.count))
        .sum()
}

/// A production workload with a valid `tls://` URL and TLS settings, so that authentication is
/// the only thing that can fail; `token` adds a Secret-sourced `NATS_TOKEN`.
fn tls_env(token: bool, extra: &[(&str, &str)]) -> Value {
    let mut env = vec![
        json!({ "name": "CORDUM_ENV", "value": "production" }),
        json!({ "name": "NATS_URL", "value": "tls://nats.prod:4222" }),
        json!({ "name": "NATS_TLS_CA", "value": "/etc/nats/ca.crt" }),
    ];
    if token {
        env.push(json!({ "name": "NATS_TOKEN", "valueFrom": { "secretKeyRef": { "name": "nats", "key": "token" } } }));
    }
    env.extend(extra.iter().map(|(k, v)| json!({ "name": k, "value": v })));
    Value::Array(env)
}

fn in_seconds(secs: i64) -> k8s_openapi::jiff::Timestamp {
    let t = k8s_openapi::jiff::Timestamp::now() + k8s_openapi::jiff::SignedDuration::from_secs(secs);
    k8s_openapi::jiff::Timestamp::from_second(t.as_second()).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn noauth_override_incident_whole_life() {
    let (client, ns) = setup("noauth").await;
    let op = Operator::start(&client, ns.name());
    let spec = json!({ "selector": {}, "override": { "maxDuration": "1h", "warnBefore": "3s" } });
    create_policy(&client, ns.name(), "nats", spec).await;
    let deploys: Api<Deployment> = Api::namespaced(client.clone(), ns.name());
    let rollback_by = in_seconds(10);
    let annotations = json!({
        "natsguard.io/override-owner": "erin@example.com",
        "natsguard.io/override-reason": "INC-77 broker auth migration",
        "natsguard.io/rollback-by": rollback_by.to_string(),
    });
    let no_auth = [("CORDUM_NATS_ALLOW_NOAUTH", "true")];
    apply(&deploys, "api", &deployment("api", tls_env(false, &no_auth), annotations.clone())).await;

    let active = wait_incident(&client, ns.name(), "an Active NoAuth incident", |i| {
        i.spec.r#override == Override::NoAuth && state(i) == Some(IncidentState::Active)
    })
    .await;
    let name = active.name_any();
    assert!(name.starts_with("api-noauth-"), "{name}");
    assert_eq!(active.spec.owner.as_deref(), Some("erin@example.com"));
    assert_eq!(active.spec.reason.as_deref(), Some("INC-77 broker auth migration"));
    assert_eq!(active.spec.rollback_by.0, rollback_by);
    assert_eq!((active.spec.policy.as_str(), active.spec.deployment.name.as_str()), ("nats", "api"));
    assert_eq!(active.spec.containers, vec!["scheduler".to_string()]);
    let ev = wait_event(&client, ns.name(), "OverrideActivated", "api").await;
    assert_eq!(ev.type_.as_deref(), Some("Warning"));
    assert_eq!(ev.related.as_ref().and_then(|r| r.name.as_deref()), Some(name.as_str()));
    let note = ev.note.unwrap_or_default();
    assert!(note.contains("CORDUM_NATS_ALLOW_NOAUTH") && note.contains("erin@example.com"), "{note}");
    wait_event(&client, ns.name(), "NoAuthOverrideActive", "api").await;
    eventually("OverrideActive=True naming the no-auth override", || async {
        let p = policy(&client, ns.name(), "nats").await;
        let message = p.status.as_ref()?.conditions.iter().find(|c| c.type_ == "OverrideActive")?.message.clone();
        let s = p.status.as_ref()?;
        (condition(&p, "OverrideActive") == Some("True")
            && message.contains("CORDUM_NATS_ALLOW_NOAUTH")
            && s.overrides == 1
            && s.next_deadline.as_ref().map(|t| t.0) == Some(rollback_by))
        .then_some(())
    })
    .await;

    // The deadline approaches and passes with nothing else changing.
    let overdue = wait_incident(&client, ns.name(), "the NoAuth incident Overdue", |i| {
        i.spec.r#override == Override::NoAuth && state(i) == Some(IncidentState::Overdue)
    })
    .await;
    assert_eq!(overdue.name_any(), name, "the same incident escalates");
    assert_eq!(overdue.spec.started_at, active.spec.started_at);
    wait_event(&client, ns.name(), "OverrideDeadlineApproaching", "api").await;
    let ev = wait_event(&client, ns.name(), "OverrideOverdue", "api").await;
    assert!(ev.note.unwrap_or_default().contains("CORDUM_NATS_ALLOW_NOAUTH"));
    eventually("IncidentOverdue=True", || async {
        let p = policy(&client, ns.name(), "nats").await;
        (condition(&p, "IncidentOverdue") == Some("True") && p.status.as_ref()?.overdue == 1).then_some(())
    })
    .await;

    // A token from a Secret: authentication is configured, the incident resolves.
    apply(&deploys, "api", &deployment("api", tls_env(true, &no_auth), annotations)).await;
    let resolved = wait_incident(&client, ns.name(), "the NoAuth incident Resolved", |i| {
        i.spec.r#override == Override::NoAuth && state(i) == Some(IncidentState::Resolved)
    })
    .await;
    assert_eq!(resolved.name_any(), name);
    let status = resolved.status.unwrap();
    assert_eq!(status.resolution, Some(Resolution::AuthConfigured));
    assert!(status.resolved_at.is_some());
    let ev = wait_event(&client, ns.name(), "OverrideResolved", "api").await;
    assert_eq!(ev.type_.as_deref(), Some("Normal"));
    let note = ev.note.unwrap_or_default();
    assert!(note.contains("CORDUM_NATS_ALLOW_NOAUTH") && note.contains("AuthConfigured"), "{note}");
    eventually("OverrideActive=False, IncidentOverdue=False", || async {
        let p = policy(&client, ns.name(), "nats").await;
        let s = p.status.as_ref()?;
        (condition(&p, "OverrideActive") == Some("False")
            && condition(&p, "IncidentOverdue") == Some("False")
            && (s.overrides, s.overdue) == (0, 0)
            && s.next_deadline.is_none())
        .then_some(())
    })
    .await;

    // Give a stray repeat the time to show up, then count: every incident Event once.
    tokio::time::sleep(Duration::from_secs(2)).await;
    for reason in ["OverrideActivated", "OverrideDeadlineApproaching", "OverrideOverdue", "OverrideResolved"] {
        assert_eq!(occurrences(&client, ns.name(), reason, "api", Some(&name)).await, 1, "{reason} once");
    }
    assert_eq!(incidents(&client, ns.name()).await.len(), 1, "no second incident");
    op.stop().await;
    ns.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn both_overrides_on_one_deployment_are_two_incidents_resolved_independently() {
    let (client, ns) = setup("both").await;
    let op = Operator::start(&client, ns.name());
    // The policy renames the no-auth variable: the operator follows the policy, and says so.
    let spec = json!({ "selector": {}, "override": { "noAuthEnv": "NATS_BREAKGLASS_NOAUTH" } });
    create_policy(&client, ns.name(), "nats", spec).await;
    let deploys: Api<Deployment> = Api::namespaced(client.clone(), ns.name());
    let owner = json!({ "natsguard.io/override-owner": "frank" });
    let env = |url: &str, token: bool| {
        let mut env = vec![
            json!({ "name": "CORDUM_ENV", "value": "production" }),
            json!({ "name": "NATS_URL", "value": url }),
            json!({ "name": "NATS_TLS_CA", "value": "/etc/nats/ca.crt" }),
            json!({ "name": "CORDUM_NATS_ALLOW_PLAINTEXT", "value": "true" }),
            json!({ "name": "NATS_BREAKGLASS_NOAUTH", "value": "true" }),
        ];
        if token {
            env.push(json!({ "name": "NATS_TOKEN", "valueFrom": { "secretKeyRef": { "name": "nats", "key": "t" } } }));
        }
        Value::Array(env)
    };
    apply(&deploys, "api", &deployment("api", env("nats://nats.prod:4222", false), owner.clone())).await;
    let uid = deploys.get("api").await.expect("get api").uid().expect("uid");

    let (plaintext, no_auth) = eventually("two open incidents, one per override", || async {
        let all = incidents(&client, ns.name()).await;
        let of = |o: Override| {
            all.iter().find(|i| i.spec.r#override == o && state(i) == Some(IncidentState::Active)).cloned()
        };
        Some((of(Override::Plaintext)?, of(Override::NoAuth)?))
    })
    .await;
    assert_ne!(plaintext.name_any(), no_auth.name_any());
    assert!(no_auth.name_any().starts_with("api-noauth-"), "{}", no_auth.name_any());
    assert!(!plaintext.name_any().contains("noauth"), "{}", plaintext.name_any());
    for i in [&plaintext, &no_auth] {
        assert_eq!(i.spec.deployment.uid, uid);
        assert_eq!(i.spec.owner.as_deref(), Some("frank"));
    }
    let p = eventually("status counting both incidents", || async {
        let p = policy(&client, ns.name(), "nats").await;
        (p.status.as_ref()?.overrides == 2).then_some(p)
    })
    .await;
    let message = &p.status.as_ref().unwrap().conditions.iter().find(|c| c.type_ == "OverrideActive").unwrap().message;
    assert!(message.contains("CORDUM_NATS_ALLOW_PLAINTEXT") && message.contains("NATS_BREAKGLASS_NOAUTH"), "{message}");
    for (incident, var) in [(&plaintext, "CORDUM_NATS_ALLOW_PLAINTEXT"), (&no_auth, "NATS_BREAKGLASS_NOAUTH")] {
        let iname = incident.name_any();
        let ev = eventually(&format!("OverrideActivated related to {iname}"), || async {
            events(&client, ns.name(), "OverrideActivated")
                .await
                .into_iter()
                .find(|e| e.related.as_ref().and_then(|r| r.name.as_deref()) == Some(iname.as_str()))
        })
        .await;
        assert!(ev.note.as_deref().unwrap_or_default().contains(var), "{:?}", ev.note);
    }

    // A token: the no-auth incident resolves, the plaintext one stays open and untouched.
    apply(&deploys, "api", &deployment("api", env("nats://nats.prod:4222", true), owner.clone())).await;
    let resolved = wait_incident(&client, ns.name(), "the NoAuth incident resolved", |i| {
        i.spec.r#override == Override::NoAuth && state(i) == Some(IncidentState::Resolved)
    })
    .await;
    assert_eq!(resolved.name_any(), no_auth.name_any());
    assert_eq!(resolved.status.unwrap().resolution, Some(Resolution::AuthConfigured));
    eventually("status counting one open incident", || async {
        (policy(&client, ns.name(), "nats").await.status?.overrides == 1).then_some(())
    })
    .await;
    let still = Api::<NatsTransportIncident>::namespaced(client.clone(), ns.name())
        .get(&plaintext.name_any())
        .await
        .expect("get the plaintext incident");
    assert_eq!(state(&still), Some(IncidentState::Active));
    assert_eq!(still.spec, plaintext.spec, "the plaintext incident is unchanged");

    // tls://: the plaintext incident resolves too.
    apply(&deploys, "api", &deployment("api", env("tls://nats.prod:4222", true), owner)).await;
    let resolved = wait_incident(&client, ns.name(), "the Plaintext incident resolved", |i| {
        i.spec.r#override == Override::Plaintext && state(i) == Some(IncidentState::Resolved)
    })
    .await;
    assert_eq!(resolved.name_any(), plaintext.name_any());
    assert_eq!(resolved.status.unwrap().resolution, Some(Resolution::SwitchedToTLS));
    eventually("OverrideActive=False", || async {
        let p = policy(&client, ns.name(), "nats").await;
        (condition(&p, "OverrideActive") == Some("False") && p.status?.overrides == 0).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(incidents(&client, ns.name()).await.len(), 2, "exactly two incidents, no reopening");
    for i in [&plaintext, &no_auth] {
        let n = i.name_any();
        assert_eq!(occurrences(&client, ns.name(), "OverrideActivated", "api", Some(&n)).await, 1, "{n}");
        assert_eq!(occurrences(&client, ns.name(), "OverrideResolved", "api", Some(&n)).await, 1, "{n}");
    }
    op.stop().await;
    ns.cleanup().await;
}
