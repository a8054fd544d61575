//! The environment is real: these talk to the kube-apiserver + etcd that `hack/controlplane.sh up`
//! started (`make test` does it). They fail, never skip, without a control plane.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use kube::api::{ApiResource, DynamicObject, Patch, PatchParams, PostParams, WatchEvent, WatchParams};
use natsguard::crd::{NatsTransportPolicy, NatsTransportPolicySpec};
use serde_json::json;
use support::{TestNamespace, client, install_crds};

fn deployment(name: &str) -> Deployment {
    serde_json::from_value(json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": { "name": name, "labels": { "app": name } },
        "spec": {
            "replicas": 2,
            "selector": { "matchLabels": { "app": name } },
            "template": {
                "metadata": { "labels": { "app": name } },
                "spec": { "containers": [{
                    "name": "scheduler",
                    "image": "cordum/scheduler:1.0",
                    "env": [
                        { "name": "CORDUM_ENV", "value": "production" },
                        { "name": "NATS_URL", "value": "tls://nats:4222" }
                    ]
                }]}
            }
        }
    }))
    .expect("test Deployment is valid")
}

#[tokio::test]
async fn deployment_is_created_and_read_back() {
    let client = client().await;
    let ns = TestNamespace::new(&client, "deploy").await;
    let api = ns.api::<Deployment>();

    let created = api.create(&PostParams::default(), &deployment("sched")).await.expect("create Deployment");
    assert!(created.metadata.uid.is_some(), "the API server assigns a uid");

    let got = api.get("sched").await.expect("read Deployment back");
    assert_eq!(got.metadata.namespace.as_deref(), Some(ns.name()));
    let spec = got.spec.expect("spec");
    assert_eq!(spec.replicas, Some(2));
    let c = &spec.template.spec.expect("pod spec").containers[0];
    let env: Vec<(String, Option<String>)> =
        c.env.clone().unwrap_or_default().into_iter().map(|e| (e.name, e.value)).collect();
    assert_eq!(
        env,
        vec![
            ("CORDUM_ENV".to_owned(), Some("production".to_owned())),
            ("NATS_URL".to_owned(), Some("tls://nats:4222".to_owned()))
        ]
    );
    // Server-side defaulting ran: this is a real API server, not a store.
    assert_eq!(c.image_pull_policy.as_deref(), Some("IfNotPresent"));
    ns.cleanup().await;
}

fn config_map(name: &str, value: &str) -> ConfigMap {
    ConfigMap {
        metadata: kube::api::ObjectMeta { name: Some(name.to_owned()), ..Default::default() },
        data: Some(BTreeMap::from([("NATS_URL".to_owned(), value.to_owned())])),
        ..Default::default()
    }
}

#[tokio::test]
async fn server_side_apply_conflicts_between_managers_and_force_takes_ownership() {
    let client = client().await;
    let ns = TestNamespace::new(&client, "ssa").await;
    let api = ns.api::<ConfigMap>();

    api.patch("cfg", &PatchParams::apply("alice"), &Patch::Apply(config_map("cfg", "tls://a:4222")))
        .await
        .expect("alice applies");

    let err = api
        .patch("cfg", &PatchParams::apply("bob"), &Patch::Apply(config_map("cfg", "nats://b:4222")))
        .await
        .expect_err("bob's apply of a field alice owns must conflict");
    let kube::Error::Api(status) = err else { panic!("expected an API error, got {err:?}") };
    assert_eq!(status.code, 409, "{status:?}");
    assert_eq!(status.reason, "Conflict", "{status:?}");
    assert!(status.message.contains(r#"conflict with "alice""#), "{}", status.message);
    let causes = status.details.map(|d| d.causes).unwrap_or_default();
    assert!(
        causes.iter().any(|c| c.field == ".data.NATS_URL" && c.reason == "FieldManagerConflict"),
        "conflict details name the field: {causes:?}"
    );
    assert_eq!(
        api.get("cfg").await.expect("get").data.unwrap_or_default()["NATS_URL"],
        "tls://a:4222",
        "a refused apply changes nothing"
    );

    let forced = api
        .patch("cfg", &PatchParams::apply("bob").force(), &Patch::Apply(config_map("cfg", "nats://b:4222")))
        .await
        .expect("bob forces");
    assert_eq!(forced.data.unwrap_or_default()["NATS_URL"], "nats://b:4222");
    let managers: Vec<String> = forced
        .metadata
        .managed_fields
        .unwrap_or_default()
        .into_iter()
        .filter(|m| m.fields_v1.as_ref().is_some_and(|f| f.0.to_string().contains("NATS_URL")))
        .filter_map(|m| m.manager)
        .collect();
    assert_eq!(managers, vec!["bob".to_owned()], "force moves ownership of the field to bob");
    ns.cleanup().await;
}

#[tokio::test]
async fn a_watch_sees_an_update() {
    let client = client().await;
    let ns = TestNamespace::new(&client, "watch").await;
    let api = ns.api::<ConfigMap>();
    let created = api.create(&PostParams::default(), &config_map("watched", "tls://a:4222")).await.expect("create");
    let rv = created.metadata.resource_version.expect("resourceVersion");

    let stream =
        api.watch(&WatchParams::default().fields("metadata.name=watched").timeout(30), &rv).await.expect("watch");
    let mut stream = stream.boxed();

    let patch = json!({ "data": { "NATS_URL": "nats://plain:4222" } });
    api.patch("watched", &PatchParams::default(), &Patch::Merge(&patch)).await.expect("update");

    let seen = tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(ev) = stream.try_next().await.expect("watch stream") {
            if let WatchEvent::Modified(cm) = ev {
                return cm;
            }
        }
        panic!("watch ended without a Modified event");
    })
    .await
    .expect("a Modified event within 20 s");
    assert_eq!(seen.data.unwrap_or_default()["NATS_URL"], "nats://plain:4222");
    ns.cleanup().await;
}

#[tokio::test]
async fn crd_cel_rule_rejects_a_bad_policy_with_the_rules_message() {
    let client = client().await;
    install_crds(&client).await;
    let ns = TestNamespace::new(&client, "cel").await;
    let api = ns.api::<NatsTransportPolicy>();

    let mut spec = NatsTransportPolicySpec::default();
    spec.r#override.max_duration = "9999h".to_owned();
    let err = api
        .create(&PostParams::default(), &NatsTransportPolicy::new("too-long", spec))
        .await
        .expect_err("maxDuration 9999h must be rejected");
    let kube::Error::Api(status) = err else { panic!("expected an API error, got {err:?}") };
    assert_eq!(status.code, 422, "{status:?}");
    assert_eq!(status.reason, "Invalid", "{status:?}");
    assert!(status.message.contains("spec.override.maxDuration"), "names the field: {}", status.message);
    assert!(status.message.contains("override.maxDuration must be between 1m and 720h"), "{}", status.message);

    // A valid policy is accepted, and the schema's defaults are filled in by the server.
    let minimal: NatsTransportPolicy = serde_json::from_value(json!({
        "apiVersion": "natsguard.io/v1alpha1",
        "kind": "NatsTransportPolicy",
        "metadata": { "name": "ok" },
        "spec": { "selector": { "matchLabels": { "app": "sched" } }, "override": { "maxDuration": "2h" } }
    }))
    .expect("valid policy JSON");
    let created = api.create(&PostParams::default(), &minimal).await.expect("a valid policy is accepted");
    assert_eq!(created.spec.r#override.max_duration, "2h");
    // The server's defaults for every omitted field equal the Rust defaults.
    let mut want = NatsTransportPolicySpec { selector: minimal.spec.selector.clone(), ..Default::default() };
    want.r#override.max_duration = "2h".to_owned();
    assert_eq!(created.spec, want);
    // ... and they were really filled in by the API server (read the raw object).
    let raw: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), ns.name(), &ApiResource::erase::<NatsTransportPolicy>(&()));
    let raw = raw.get("ok").await.expect("read raw policy");
    assert_eq!(raw.data["spec"]["override"]["warnBefore"], "30m", "{:?}", raw.data);
    assert_eq!(raw.data["spec"]["environment"]["values"], json!(["production", "prod"]), "{:?}", raw.data);
    ns.cleanup().await;
}
