//! The API server itself rejects bad specs (OpenAPI schema + CEL rules in the generated CRDs),
//! with a message that names the field. Valid policies, including the documented examples'
//! shapes, are accepted.

mod support;

use kube::Api;
use kube::api::{DynamicObject, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::{Value, json};

fn policy(name: &str, spec: Value) -> DynamicObject {
    serde_json::from_value(json!({
        "apiVersion": "natsguard.io/v1alpha1", "kind": "NatsTransportPolicy",
        "metadata": { "name": name }, "spec": spec
    }))
    .expect("object")
}

async fn create(api: &Api<DynamicObject>, obj: &DynamicObject) -> Result<(), String> {
    match api.create(&PostParams::default(), obj).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) => Err(format!("{} {}", s.code, s.message)),
        Err(e) => panic!("unexpected client error: {e}"),
    }
}

#[tokio::test]
async fn bad_policies_are_rejected_naming_the_field() {
    let client = support::client().await;
    support::install_crds(&client).await;
    let ns = support::TestNamespace::new(&client, "crd-validation").await;
    let gvk = GroupVersionKind::gvk("natsguard.io", "v1alpha1", "NatsTransportPolicy");
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns.name(), &ApiResource::from_gvk(&gvk));

    let cases: &[(&str, Value, &str)] = &[
        ("no-selector", json!({}), "spec.selector"),
        (
            "enum",
            json!({ "selector": {}, "environment": { "production": "Sometimes" } }),
            "spec.environment.production",
        ),
        ("empty-env-name", json!({ "selector": {}, "transport": { "urlVar": "" } }), "spec.transport.urlVar"),
        ("bad-env-name", json!({ "selector": {}, "auth": { "tokenVar": "NATS TOKEN" } }), "spec.auth.tokenVar"),
        (
            "duration-syntax",
            json!({ "selector": {}, "override": { "maxDuration": "4 hours" } }),
            "spec.override.maxDuration",
        ),
        (
            "duration-range",
            json!({ "selector": {}, "override": { "maxDuration": "30s" } }),
            "spec.override.maxDuration",
        ),
        (
            "warn-after-max",
            json!({ "selector": {}, "override": { "maxDuration": "1h", "warnBefore": "2h" } }),
            "spec.override",
        ),
        ("retention", json!({ "selector": {}, "incidents": { "retention": "9000h" } }), "spec.incidents.retention"),
        (
            "required-tls",
            json!({ "selector": {}, "transport": { "requiredTLS": ["Pin"] } }),
            "spec.transport.requiredTLS",
        ),
        ("containers", json!({ "selector": {}, "containers": ["Not_A_Name"] }), "spec.containers"),
        ("auth-required", json!({ "selector": {}, "auth": { "required": "Always" } }), "spec.auth.required"),
        (
            "operator",
            json!({ "selector": { "matchExpressions": [{ "key": "app", "operator": "Like", "values": ["x"] }] } }),
            "spec.selector",
        ),
        ("blank-value", json!({ "selector": {}, "environment": { "values": ["  "] } }), "spec.environment.values"),
        // Label selectors as the API server would reject them for a Deployment.
        ("selector-key", json!({ "selector": { "matchLabels": { "bad key!": "x" } } }), "spec.selector.matchLabels"),
        (
            "selector-key-prefix",
            json!({ "selector": { "matchLabels": { "Example.com/app": "x" } } }),
            "spec.selector.matchLabels",
        ),
        (
            "selector-value",
            json!({ "selector": { "matchLabels": { "app": "not a value!" } } }),
            "spec.selector.matchLabels",
        ),
        (
            "selector-long-value",
            json!({ "selector": { "matchLabels": { "app": "x".repeat(64) } } }),
            "spec.selector.matchLabels",
        ),
        (
            "selector-expression-key",
            json!({ "selector": { "matchExpressions": [{ "key": "a/b/c", "operator": "Exists" }] } }),
            "spec.selector.matchExpressions[0]",
        ),
        (
            "selector-in-without-values",
            json!({ "selector": { "matchExpressions": [{ "key": "app", "operator": "In" }] } }),
            "spec.selector.matchExpressions[0]",
        ),
        (
            "selector-exists-with-values",
            json!({ "selector": { "matchExpressions": [{ "key": "app", "operator": "Exists", "values": ["x"] }] } }),
            "spec.selector.matchExpressions[0]",
        ),
        (
            "selector-expression-value",
            json!({ "selector": { "matchExpressions": [{ "key": "app", "operator": "NotIn", "values": ["ok", "bad value"] }] } }),
            "spec.selector.matchExpressions[0]",
        ),
        ("client-role", json!({ "selector": {}, "clientRoles": { "sidecar": "Maybe" } }), "spec.clientRoles"),
        ("client-role-name", json!({ "selector": {}, "clientRoles": { "Not_A_Name": "Client" } }), "spec.clientRoles"),
        ("admission", json!({ "selector": {}, "admission": "Block" }), "spec.admission"),
        (
            "no-auth-env",
            json!({ "selector": {}, "override": { "noAuthEnv": "ALLOW NOAUTH" } }),
            "spec.override.noAuthEnv",
        ),
        ("unknown-profile", json!({ "selector": {}, "profile": "other" }), "spec.profile"),
    ];
    let mut failures = Vec::new();
    for (name, spec, field) in cases {
        match create(&api, &policy(name, spec.clone())).await {
            Ok(()) => failures.push(format!("{name}: accepted, want rejected naming {field}")),
            Err(msg) if msg.starts_with("422") && msg.contains(field) => {}
            Err(msg) => failures.push(format!("{name}: rejected without naming {field}: {msg}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // Valid ones are accepted, defaults filled in by the server.
    let ok = [
        json!({ "selector": {} }),
        json!({
            "selector": { "matchLabels": { "app.kubernetes.io/part-of": "cordum" } },
            "containers": ["scheduler", "init-config"],
            "environment": { "production": "Always" },
            "transport": { "urlVar": "BUS_URL", "requiredTLS": ["CA", "ServerName"] },
            "auth": { "required": "Enforce" },
            "override": { "maxDuration": "1h30m", "warnBefore": "15m", "requireOwner": false },
            "incidents": { "retention": "168h" },
            "suspend": true
        }),
        json!({
            "selector": {
                "matchLabels": { "app": "", "tier": "control-plane" },
                "matchExpressions": [
                    { "key": "example.com/team", "operator": "In", "values": ["nats", "cordum"] },
                    { "key": "legacy", "operator": "DoesNotExist" }
                ]
            },
            "clientRoles": { "otel-collector": "NotClient", "migrate": "Client" },
            "admission": "Deny",
            "environment": { "capProfileVar": "CAP_PROFILE", "values": ["production", "prod", "live"] },
            "transport": { "mcpUrlVar": "MCP_NATS_URL" },
            "override": { "noAuthEnv": "ALLOW_NOAUTH" }
        }),
    ];
    for (i, spec) in ok.into_iter().enumerate() {
        create(&api, &policy(&format!("ok-{i}"), spec))
            .await
            .unwrap_or_else(|e| panic!("valid policy {i} rejected: {e}"));
    }
    ns.cleanup().await;
}

#[tokio::test]
async fn incident_timestamps_must_be_rfc3339() {
    let client = support::client().await;
    support::install_crds(&client).await;
    let ns = support::TestNamespace::new(&client, "crd-incident").await;
    let gvk = GroupVersionKind::gvk("natsguard.io", "v1alpha1", "NatsTransportIncident");
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns.name(), &ApiResource::from_gvk(&gvk));
    let incident = |rollback_by: &str| -> DynamicObject {
        serde_json::from_value(json!({
            "apiVersion": "natsguard.io/v1alpha1", "kind": "NatsTransportIncident",
            "metadata": { "name": format!("i-{}", rollback_by.len()) },
            "spec": { "policy": "p", "deployment": { "name": "api", "uid": "u-1" },
                      "startedAt": "2026-01-01T00:00:00Z", "rollbackBy": rollback_by }
        }))
        .unwrap()
    };
    let err =
        create(&api, &incident("tomorrow at noon")).await.expect_err("a non-RFC 3339 rollbackBy must be rejected");
    assert!(err.contains("spec.rollbackBy"), "{err}");
    create(&api, &incident("2026-01-01T04:00:00Z")).await.expect("an RFC 3339 rollbackBy is accepted");
    ns.cleanup().await;
}
