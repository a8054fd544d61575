//! The upgrade path on the real control plane: an incident that the release before the no-auth
//! override wrote (CRD without `spec.override`, incident without the field) keeps working after
//! the current CRD and operator take over. It reads as `Plaintext` (also in `kubectl get nti`),
//! keeps its name, `startedAt` and deadline, escalates and resolves, with no duplicate incident
//! and no Event the previous release had already emitted.
//!
//! Its own test binary: it swaps the cluster-wide CRD, which must not happen under the other
//! suites' feet (cargo runs test binaries one after another; this one holds a single test).

mod support;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::{ApiResource, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams, PostParams};
use kube::{Api, Client, ResourceExt};
use natsguard::crd::{IncidentState, NatsTransportIncident, NatsTransportPolicy, Resolution};
use natsguard::report::Override;
use serde_json::{Value, json};
use std::path::Path;
use std::time::Duration;
use support::{Operator, TestNamespace};

const WAIT: Duration = Duration::from_secs(40);
/// The CRD manifest of the previous release, exactly as it shipped (see the file's header).
const PREVIOUS_CRDS: &str = "tests/fixtures/upgrade/natsguard.io-d1d8ec2.yaml";
/// The field manager the previous operator wrote with.
const PREVIOUS_OPERATOR: &str = "natsguard";

/// The previous release's incident name: `<deployment>-<FNV-1a of policy/uid/generation>`.
fn previous_incident_name(deployment: &str, policy: &str, uid: &str, generation: i64) -> String {
    let mut h: u32 = 0x811c_9dc5;
    for b in format!("{policy}/{uid}/{generation}").bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    format!("{deployment}-{h:08x}")
}

fn incidents_resource() -> ApiResource {
    let gvk = GroupVersionKind::gvk("natsguard.io", "v1alpha1", "NatsTransportIncident");
    ApiResource::from_gvk_with_plural(&gvk, "natstransportincidents")
}

/// The incidents as the API server serves them, untyped (no serde default in between).
async fn raw_incident(client: &Client, ns: &str, name: &str) -> Value {
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, &incidents_resource());
    serde_json::to_value(api.get(name).await.expect("get incident")).expect("incident as JSON")
}

/// `kubectl get nti` as the API server renders it: (column names, rows of cells).
async fn incident_table(client: &Client, ns: &str) -> (Vec<String>, Vec<Vec<Value>>) {
    let mut req =
        kube::core::Request::new(format!("/apis/natsguard.io/v1alpha1/namespaces/{ns}/natstransportincidents"))
            .list(&ListParams::default())
            .expect("list request");
    req.headers_mut().insert("accept", "application/json;as=Table;v=v1;g=meta.k8s.io".parse().expect("header"));
    let table: Value = client.request(req).await.expect("incident Table");
    let columns = table["columnDefinitions"]
        .as_array()
        .expect("columnDefinitions")
        .iter()
        .map(|c| c["name"].as_str().unwrap_or_default().to_owned())
        .collect();
    let rows = table["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| r["cells"].as_array().cloned().unwrap_or_default())
        .collect();
    (columns, rows)
}

/// `kubectl get nti -n NS` (kubectl is a prerequisite of `make test`, see README.md).
fn kubectl_get_nti(ns: &str) -> String {
    let out = std::process::Command::new("kubectl")
        .args(["get", "nti", "-n", ns])
        .output()
        .unwrap_or_else(|e| panic!("cannot run kubectl (a prerequisite, see README.md): {e}"));
    assert!(out.status.success(), "kubectl get nti failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The cell under `column` in the first row of `kubectl get` output.
fn cell<'a>(output: &'a str, column: &str) -> Option<&'a str> {
    let mut lines = output.lines();
    let header = lines.next()?;
    let start = header.find(column)?;
    lines.next()?.get(start..)?.split_whitespace().next()
}

async fn events(client: &Client, ns: &str, reason: &str) -> i32 {
    Api::<Event>::namespaced(client.clone(), ns)
        .list(&ListParams::default())
        .await
        .expect("list events")
        .items
        .iter()
        .filter(|e| e.reason.as_deref() == Some(reason))
        .map(|e| e.series.as_ref().map_or(1, |s| s.count))
        .sum()
}

fn env(url: &str, plaintext_override: bool) -> Value {
    let mut env = vec![
        json!({ "name": "CORDUM_ENV", "value": "production" }),
        json!({ "name": "NATS_URL", "value": url }),
        json!({ "name": "NATS_TOKEN", "valueFrom": { "secretKeyRef": { "name": "nats", "key": "token" } } }),
    ];
    if plaintext_override {
        env.push(json!({ "name": "CORDUM_NATS_ALLOW_PLAINTEXT", "value": "true" }));
    }
    Value::Array(env)
}

fn deployment(env: Value, annotations: &Value) -> Deployment {
    serde_json::from_value(json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": { "name": "api", "labels": { "app": "cordum" }, "annotations": annotations },
        "spec": {
            "selector": { "matchLabels": { "app": "api" } },
            "template": {
                "metadata": { "labels": { "app": "api" } },
                "spec": { "containers": [{ "name": "scheduler", "image": "cordum/scheduler:1", "env": env }] }
            }
        }
    }))
    .expect("valid Deployment")
}

fn state(i: &NatsTransportIncident) -> Option<IncidentState> {
    i.status.as_ref().map(|s| s.state)
}

#[tokio::test(flavor = "multi_thread")]
async fn an_incident_from_the_previous_release_keeps_working_after_the_upgrade() {
    let client = support::client().await;
    let previous = Path::new(env!("CARGO_MANIFEST_DIR")).join(PREVIOUS_CRDS);
    support::install_crds_from(&client, &previous).await;
    let ns = TestNamespace::new(&client, "upgrade").await;
    let ns_name = ns.name().to_owned();
    // The API server serves the previous schema (no OVERRIDE column) before anything is written.
    support::wait_until(WAIT, "the previous CRD to be served (no Override column)", || async {
        let (columns, _) = incident_table(&client, &ns_name).await;
        (columns.iter().any(|c| c == "Deployment") && !columns.iter().any(|c| c == "Override")).then_some(())
    })
    .await;

    // What the previous release had running: a policy, a Deployment under the plaintext
    // override, its open incident and the policy status recording it.
    let t0 = Timestamp::from_second(Timestamp::now().as_second()).expect("now");
    let started_at = t0 - SignedDuration::from_mins(1);
    let rollback_by = t0 + SignedDuration::from_secs(20);
    let warn_before = SignedDuration::from_secs(5);
    let policies: Api<NatsTransportPolicy> = Api::namespaced(client.clone(), &ns_name);
    let policy: NatsTransportPolicy = serde_json::from_value(json!({
        "apiVersion": "natsguard.io/v1alpha1", "kind": "NatsTransportPolicy",
        "metadata": { "name": "nats" },
        "spec": { "selector": {}, "override": { "warnBefore": "5s" } }
    }))
    .expect("valid policy");
    policies.create(&PostParams::default(), &policy).await.expect("create policy under the previous CRD");
    let annotations = json!({
        "natsguard.io/override-owner": "grace@example.com",
        "natsguard.io/override-reason": "INC-9 certificate rotation",
        "natsguard.io/rollback-by": rollback_by.to_string(),
    });
    let deploys: Api<Deployment> = Api::namespaced(client.clone(), &ns_name);
    let created = deploys
        .create(&PostParams::default(), &deployment(env("nats://nats.prod:4222", true), &annotations))
        .await
        .expect("create Deployment");
    let uid = created.uid().expect("uid");
    let name = previous_incident_name("api", "nats", &uid, created.metadata.generation.unwrap_or(1));

    let raw: Api<DynamicObject> = Api::namespaced_with(client.clone(), &ns_name, &incidents_resource());
    let incident: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "natsguard.io/v1alpha1", "kind": "NatsTransportIncident",
        "metadata": { "name": name },
        "spec": {
            "policy": "nats",
            "deployment": { "name": "api", "uid": uid },
            "containers": ["scheduler"],
            "owner": "grace@example.com",
            "reason": "INC-9 certificate rotation",
            "startedAt": started_at.to_string(),
            "rollbackBy": rollback_by.to_string(),
        }
    }))
    .expect("incident JSON");
    let by_previous = PostParams { field_manager: Some(PREVIOUS_OPERATOR.into()), ..Default::default() };
    raw.create(&by_previous, &incident).await.expect("create the previous release's incident");
    let status = json!({ "apiVersion": "natsguard.io/v1alpha1", "kind": "NatsTransportIncident",
        "status": { "state": "Active" } });
    raw.patch_status(&name, &PatchParams::apply(PREVIOUS_OPERATOR).force(), &Patch::Apply(&status))
        .await
        .expect("the previous release's incident status");
    let condition = |type_: &str, status: &str, reason: &str, message: &str| {
        json!({ "type": type_, "status": status, "reason": reason, "message": message,
            "lastTransitionTime": started_at.to_string(), "observedGeneration": 1 })
    };
    let policy_status = json!({ "apiVersion": "natsguard.io/v1alpha1", "kind": "NatsTransportPolicy", "status": {
        "observedGeneration": 1,
        "conditions": [
            condition("Ready", "True", "Evaluated", "Evaluated 1 selected Deployment"),
            condition("Compliant", "False", "ViolationsFound", "1 of 1 Deployment has violations: api"),
            condition("OverrideActive", "True", "OverrideInUse",
                "Plaintext override in use by api; see the NatsTransportIncidents"),
            condition("IncidentOverdue", "False", "NoneOverdue", "No override is past its rollback deadline"),
        ],
        "workloads": 1, "compliant": 0, "violations": 1, "overrides": 1, "overdue": 0,
        "nextDeadline": rollback_by.to_string(),
        "results": [{ "name": "api", "compliant": false, "findings": [{
            "code": "PlaintextOverrideActive", "severity": "violation", "container": "scheduler",
            "message": "container \"scheduler\": the plaintext override is on" }] }],
    }});
    policies
        .patch_status("nats", &PatchParams::apply(PREVIOUS_OPERATOR).force(), &Patch::Apply(&policy_status))
        .await
        .expect("the previous release's policy status");
    let stored = raw_incident(&client, &ns_name, &name).await;
    assert!(stored["spec"].get("override").is_none(), "written without spec.override: {stored}");
    let before = kubectl_get_nti(&ns_name);
    assert_eq!(cell(&before, "OVERRIDE"), None, "no OVERRIDE column before the upgrade:\n{before}");

    // The upgrade: the current CRD, then the current operator.
    support::install_crds(&client).await;
    support::wait_until(WAIT, "the current CRD to be served (Override column)", || async {
        let (columns, _) = incident_table(&client, &ns_name).await;
        columns.iter().any(|c| c == "Override").then_some(())
    })
    .await;
    let served = raw_incident(&client, &ns_name, &name).await;
    assert_eq!(served["spec"]["override"], "Plaintext", "the API server defaults the field: {served}");
    let (columns, rows) = incident_table(&client, &ns_name).await;
    let column = columns.iter().position(|c| c == "Override").expect("Override column");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0][column], "Plaintext", "{columns:?} {rows:?}");
    let after = kubectl_get_nti(&ns_name);
    assert_eq!(cell(&after, "OVERRIDE"), Some("Plaintext"), "kubectl get nti:\n{after}");
    assert_eq!(cell(&after, "NAME"), Some(name.as_str()), "kubectl get nti:\n{after}");

    let op = Operator::start(&client, &ns_name);
    let incidents: Api<NatsTransportIncident> = Api::namespaced(client.clone(), &ns_name);
    // The current operator has reconciled once it rewrote the condition in its own words.
    support::wait_until(WAIT, "the current operator's first status", || async {
        let p = policies.get("nats").await.ok()?;
        let s = p.status?;
        let c = s.conditions.iter().find(|c| c.type_ == "OverrideActive")?;
        (c.status == "True" && c.message.contains("CORDUM_NATS_ALLOW_PLAINTEXT")).then_some(())
    })
    .await;
    assert!(
        Timestamp::now() < rollback_by - warn_before,
        "setup took too long: the deadline was already approaching when the operator took over"
    );
    let all = incidents.list(&ListParams::default()).await.expect("list incidents").items;
    assert_eq!(all.len(), 1, "no duplicate incident: {:?}", all.iter().map(|i| i.name_any()).collect::<Vec<_>>());
    let kept = &all[0];
    assert_eq!(kept.name_any(), name, "the incident keeps its name");
    assert_eq!(kept.spec.r#override, Override::Plaintext);
    assert_eq!(kept.spec.started_at.0, started_at, "startedAt is kept");
    assert_eq!(kept.spec.rollback_by.0, rollback_by, "the deadline is kept");
    assert_eq!(state(kept), Some(IncidentState::Active));

    // It escalates as any incident does.
    let overdue = support::wait_until(WAIT, "the incident Overdue", || async {
        let i = incidents.get(&name).await.ok()?;
        (state(&i) == Some(IncidentState::Overdue)).then_some(i)
    })
    .await;
    assert_eq!((overdue.spec.started_at.0, overdue.spec.rollback_by.0), (started_at, rollback_by));
    support::wait_until(WAIT, "IncidentOverdue=True", || async {
        let s = policies.get("nats").await.ok()?.status?;
        let c = s.conditions.iter().find(|c| c.type_ == "IncidentOverdue")?;
        (c.status == "True" && s.overdue == 1).then_some(())
    })
    .await;

    // Rolled back: tls:// and the override removed (a merge patch replaces the container list).
    deploys
        .patch(
            "api",
            &PatchParams::default(),
            &Patch::Merge(&deployment(env("tls://nats.prod:4222", false), &annotations)),
        )
        .await
        .expect("roll back");
    let resolved = support::wait_until(WAIT, "the incident Resolved", || async {
        let i = incidents.get(&name).await.ok()?;
        (state(&i) == Some(IncidentState::Resolved)).then_some(i)
    })
    .await;
    assert_eq!(resolved.status.as_ref().and_then(|s| s.resolution), Some(Resolution::OverrideRemoved));
    support::wait_until(WAIT, "OverrideActive=False", || async {
        let s = policies.get("nats").await.ok()?.status?;
        let c = s.conditions.iter().find(|c| c.type_ == "OverrideActive")?;
        (c.status == "False" && s.overrides == 0).then_some(())
    })
    .await;

    // Give a stray repeat the time to show up, then count.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let all = incidents.list(&ListParams::default()).await.expect("list incidents").items;
    assert_eq!(all.len(), 1, "still one incident");
    for (reason, times) in [
        // Already emitted by the previous release: never again.
        ("OverrideActivated", 0),
        ("PlaintextOverrideActive", 0),
        ("OverrideDeadlineApproaching", 1),
        ("OverrideOverdue", 1),
        ("OverrideResolved", 1),
    ] {
        assert_eq!(events(&client, &ns_name, reason).await, times, "{reason}");
    }
    op.stop().await;
    ns.cleanup().await;
}
