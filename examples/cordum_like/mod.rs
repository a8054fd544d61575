//! Realistic Cordum-like Deployments for the operator benchmarks: Helm-style metadata, 1-3
//! containers, 10-30 env vars in the main container (literal, Secret, ConfigMap, fieldRef and
//! resourceFieldRef values), probes, resources and volumes; about 5 kB of JSON (6.5 kB of YAML)
//! each. Deterministic in the index.
#![allow(dead_code)]

use serde_json::{Value, json};

/// ConfigMaps the Deployments read (`configMapKeyRef`, `envFrom`).
pub const CONFIGMAPS: usize = 8;

pub const SERVICES: [&str; 6] =
    ["scheduler", "api-gateway", "workflow-engine", "safety-kernel", "context-engine", "worker"];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Variant {
    /// tls:// literal with a CA and a token from a Secret: compliant (the changes flip these).
    Literal,
    /// The URL from a ConfigMap key.
    KeyRef,
    /// envFrom a ConfigMap.
    EnvFrom,
    /// Plaintext in production: a violation.
    Plaintext,
}

pub fn variant(i: usize) -> Variant {
    match i % 6 {
        0 | 3 => Variant::Literal,
        1 => Variant::KeyRef,
        2 => Variant::EnvFrom,
        _ => Variant::Plaintext,
    }
}

pub fn name(i: usize) -> String {
    format!("{}-{i:05}", SERVICES[i % SERVICES.len()])
}

pub fn url_of(i: usize) -> &'static str {
    if i.is_multiple_of(12) {
        "tls://nats-0.nats.cordum.svc:4222,tls://nats-1.nats.cordum.svc:4222"
    } else {
        "tls://nats.cordum.svc:4222"
    }
}

pub fn configmap(i: usize) -> Value {
    let scheme = if i % 4 == 3 { "nats" } else { "tls" };
    json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": { "name": format!("cordum-config-{i}"), "labels": { "app.kubernetes.io/part-of": "cordum" } },
        "data": {
            "NATS_URL": format!("{scheme}://nats.cordum.svc:4222"),
            "NATS_TLS_CA": "/etc/nats/tls/ca.crt",
            "CORDUM_ENV": "production",
            "REDIS_ADDR": "redis-master.cordum.svc:6379",
            "LOG_LEVEL": "info",
            "config.yaml": "server:\n  port: 8080\n  timeouts: {read: 30s, write: 30s}\n".repeat(20)
        }
    })
}

/// One realistic Deployment: Helm-style metadata, 1-3 containers, 10-30 env vars in the main
/// container, probes, resources, volumes. Deterministic in `i`.
pub fn deployment(i: usize) -> Value {
    let svc = SERVICES[i % SERVICES.len()];
    let n = name(i);
    let cm = format!("cordum-config-{}", i % CONFIGMAPS);
    let mut env = vec![json!({"name": "CORDUM_ENV", "value": "production"})];
    match variant(i) {
        Variant::Literal => env.push(json!({"name": "NATS_URL", "value": url_of(i)})),
        Variant::KeyRef => {
            env.push(json!({"name": "NATS_URL", "valueFrom": {"configMapKeyRef": {"name": cm, "key": "NATS_URL"}}}))
        }
        Variant::EnvFrom => env.push(json!({"name": "SERVICE_NAME", "value": svc})),
        Variant::Plaintext => env.push(json!({"name": "NATS_URL", "value": "nats://nats.cordum.svc:4222"})),
    }
    env.push(json!({"name": "NATS_TLS_CA", "value": "/etc/nats/tls/ca.crt"}));
    env.push(
        json!({"name": "NATS_TOKEN", "valueFrom": {"secretKeyRef": {"name": format!("{svc}-nats"), "key": "token"}}}),
    );
    let extra = 6 + (i * 13) % 25; // 10-30 in all
    let pool: [(&str, Value); 16] = [
        ("POD_NAME", json!({"valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}})),
        ("POD_IP", json!({"valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}})),
        ("LOG_LEVEL", json!({"value": "info"})),
        ("LOG_FORMAT", json!({"value": "json"})),
        ("REDIS_ADDR", json!({"valueFrom": {"configMapKeyRef": {"name": cm, "key": "REDIS_ADDR"}}})),
        ("REDIS_PASSWORD", json!({"valueFrom": {"secretKeyRef": {"name": "redis", "key": "password"}}})),
        ("POSTGRES_DSN", json!({"valueFrom": {"secretKeyRef": {"name": "postgres", "key": "dsn"}}})),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", json!({"value": "http://otel-collector.observability.svc:4317"})),
        ("OTEL_SERVICE_NAME", json!({"value": svc})),
        (
            "OTEL_RESOURCE_ATTRIBUTES",
            json!({"value": format!("service.namespace=cordum,service.instance.id=$(POD_NAME),deployment={n}")}),
        ),
        ("GOMAXPROCS", json!({"valueFrom": {"resourceFieldRef": {"resource": "limits.cpu"}}})),
        ("GOMEMLIMIT", json!({"value": "900MiB"})),
        ("CORDUM_FEATURE_FLAGS", json!({"value": "workflows.v2=true,scheduler.preemption=false,audit.stream=true"})),
        ("CORDUM_HTTP_ADDR", json!({"value": ":8080"})),
        ("CORDUM_METRICS_ADDR", json!({"value": ":9090"})),
        ("CORDUM_SHUTDOWN_GRACE", json!({"value": "25s"})),
    ];
    for k in 0..extra {
        let (key, v) = &pool[k % pool.len()];
        let mut v = v.clone();
        v["name"] = json!(if k < pool.len() { key.to_string() } else { format!("{key}_{k}") });
        env.push(v);
    }
    let env_from = if variant(i) == Variant::EnvFrom { json!([{"configMapRef": {"name": cm}}]) } else { json!([]) };
    let mut containers = vec![json!({
        "name": svc, "image": format!("ghcr.io/cordum-io/cordum/{svc}:2.9.{}", i % 7),
        "imagePullPolicy": "IfNotPresent",
        "args": ["--config=/etc/cordum/config.yaml", "--log-level=info"],
        "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}, {"name": "metrics", "containerPort": 9090, "protocol": "TCP"}],
        "env": env, "envFrom": env_from,
        "resources": {"requests": {"cpu": "250m", "memory": "256Mi"}, "limits": {"cpu": "1", "memory": "1Gi"}},
        "livenessProbe": {"httpGet": {"path": "/healthz", "port": "http"}, "initialDelaySeconds": 10, "periodSeconds": 10},
        "readinessProbe": {"httpGet": {"path": "/readyz", "port": "http"}, "periodSeconds": 5, "failureThreshold": 3},
        "securityContext": {"allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true, "runAsNonRoot": true, "capabilities": {"drop": ["ALL"]}},
        "volumeMounts": [{"name": "config", "mountPath": "/etc/cordum"}, {"name": "nats-tls", "mountPath": "/etc/nats/tls", "readOnly": true}, {"name": "tmp", "mountPath": "/tmp"}]
    })];
    if !i.is_multiple_of(3) {
        containers.push(json!({
            "name": "otel-agent", "image": "otel/opentelemetry-collector-contrib:0.104.0",
            "args": ["--config=/conf/agent.yaml"],
            "env": [
                {"name": "K8S_NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
                {"name": "K8S_POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                {"name": "OTEL_RESOURCE_ATTRIBUTES", "value": "k8s.pod.name=$(K8S_POD_NAME),k8s.node.name=$(K8S_NODE_NAME)"},
                {"name": "GOMEMLIMIT", "value": "160MiB"}
            ],
            "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"cpu": "200m", "memory": "200Mi"}},
            "volumeMounts": [{"name": "otel-conf", "mountPath": "/conf"}]
        }));
    }
    if i.is_multiple_of(5) {
        containers.push(json!({
            "name": "envoy", "image": "envoyproxy/envoy:v1.30.2",
            "args": ["-c", "/etc/envoy/envoy.yaml", "--service-cluster", svc],
            "ports": [{"name": "proxy", "containerPort": 15001}],
            "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}}
        }));
    }
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {
            "name": n,
            "labels": {
                "app.kubernetes.io/name": svc, "app.kubernetes.io/instance": "cordum", "app.kubernetes.io/part-of": "cordum",
                "app.kubernetes.io/component": "control-plane", "app.kubernetes.io/managed-by": "Helm", "helm.sh/chart": "cordum-2.9.0"
            },
            "annotations": {
                "meta.helm.sh/release-name": "cordum", "meta.helm.sh/release-namespace": "cordum",
                "checksum/config": format!("{:064x}", (i as u128).wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835))
            }
        },
        "spec": {
            "replicas": 2, "revisionHistoryLimit": 5,
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 0}},
            "selector": {"matchLabels": {"app.kubernetes.io/name": svc, "app.kubernetes.io/instance": n}},
            "template": {
                "metadata": {
                    "labels": {"app.kubernetes.io/name": svc, "app.kubernetes.io/instance": n, "app.kubernetes.io/part-of": "cordum"},
                    "annotations": {"prometheus.io/scrape": "true", "prometheus.io/port": "9090", "checksum/secret": format!("{:032x}", i * 2_654_435_761)}
                },
                "spec": {
                    "serviceAccountName": svc, "terminationGracePeriodSeconds": 30, "priorityClassName": "cordum-control-plane",
                    "securityContext": {"runAsUser": 65532, "runAsGroup": 65532, "fsGroup": 65532, "seccompProfile": {"type": "RuntimeDefault"}},
                    "affinity": {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 100, "podAffinityTerm": {
                        "topologyKey": "kubernetes.io/hostname", "labelSelector": {"matchLabels": {"app.kubernetes.io/name": svc}}}}]}},
                    "tolerations": [{"key": "cordum.io/dedicated", "operator": "Equal", "value": "control-plane", "effect": "NoSchedule"}],
                    "topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone", "whenUnsatisfiable": "ScheduleAnyway",
                        "labelSelector": {"matchLabels": {"app.kubernetes.io/name": svc}}}],
                    "containers": containers,
                    "volumes": [
                        {"name": "config", "configMap": {"name": cm}},
                        {"name": "nats-tls", "secret": {"secretName": "nats-client-tls"}},
                        {"name": "otel-conf", "configMap": {"name": "otel-agent"}},
                        {"name": "tmp", "emptyDir": {"medium": "Memory", "sizeLimit": "64Mi"}}
                    ]
                }
            }
        }
    })
}
