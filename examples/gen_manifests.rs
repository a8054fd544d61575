//! Writes N realistic Cordum-like Deployments (plus the ConfigMaps they reference) for
//! benchmarking `natsguard check` (hack/bench-check.sh). Deterministic: the same arguments give
//! the same bytes.
//!
//! Usage: `cargo run --release --example gen_manifests -- N OUT [FORM]`, FORM one of
//! - `yaml` (default): a multi-document YAML stream, as `helm template` writes it;
//! - `yaml-list`: one `kind: List` YAML document, as `kubectl get -o yaml` writes it;
//! - `json-list`: one `kind: List` JSON document, as `kubectl get -o json` writes it.
//!
//! Each Deployment has 1 to 3 containers (the service, sometimes an OpenTelemetry collector
//! sidecar, sometimes a `validate-secrets` init container) and 10 to 30 environment variables,
//! with probes, resources, volumes, affinity and security contexts around them (about 6.7 KB of
//! YAML each). The mix of NATS settings: mTLS from literal values or a shared ConfigMap
//! (compliant), plaintext in production (violation), the break-glass overrides with incident
//! annotations (some overdue), inline passwords, non-production plaintext, and services that do
//! not dial NATS.

use serde_json::{Value, json};
use std::io::{self, BufWriter, Write};

const CONFIGMAPS: usize = 20;
const NAMESPACES: [&str; 4] = ["cordum", "cordum-staging", "payments", "ops"];
const SERVICES: [&str; 9] = [
    "scheduler",
    "api-gateway",
    "workflow-engine",
    "safety-kernel",
    "context-engine",
    "dashboard",
    "mcp",
    "ledger-worker",
    "audit-exporter",
];

fn main() -> io::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(Ok(n)), Some(out)) = (args.next().map(|a| a.parse::<usize>()), args.next()) else {
        eprintln!("usage: gen_manifests N OUT [yaml|yaml-list|json-list]");
        std::process::exit(2);
    };
    let form = args.next().unwrap_or_else(|| "yaml".to_owned());
    let file: Box<dyn Write> =
        if out == "-" { Box::new(io::stdout().lock()) } else { Box::new(std::fs::File::create(out)?) };
    let mut w = BufWriter::with_capacity(1 << 20, file);
    let objects = (0..CONFIGMAPS).map(configmap).chain((0..n).map(deployment));
    match form.as_str() {
        "yaml" => {
            for o in objects {
                w.write_all(b"---\n")?;
                w.write_all(yaml(&o).as_bytes())?;
            }
        }
        "yaml-list" => {
            w.write_all(b"apiVersion: v1\nitems:\n")?;
            for o in objects {
                for (i, line) in yaml(&o).lines().enumerate() {
                    w.write_all(if i == 0 { b"- " } else { b"  " })?;
                    w.write_all(line.as_bytes())?;
                    w.write_all(b"\n")?;
                }
            }
            w.write_all(b"kind: List\nmetadata:\n  resourceVersion: \"\"\n")?;
        }
        "json-list" => {
            w.write_all(b"{\n    \"apiVersion\": \"v1\",\n    \"items\": [\n")?;
            for (i, o) in objects.enumerate() {
                if i > 0 {
                    w.write_all(b",\n")?;
                }
                serde_json::to_writer_pretty(&mut w, &o)?;
            }
            w.write_all(b"\n    ],\n    \"kind\": \"List\",\n    \"metadata\": {\n        \"resourceVersion\": \"\"\n    }\n}\n")?;
        }
        other => {
            eprintln!("gen_manifests: unknown form {other}");
            std::process::exit(2);
        }
    }
    w.flush()
}

fn yaml(v: &Value) -> String {
    serde_yaml_ng::to_string(v).unwrap_or_default()
}

/// A small deterministic hash, for choices that look random but repeat.
fn pick(i: usize, salt: u64, n: usize) -> usize {
    let mut x = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ salt.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x ^= x >> 31;
    x = x.wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^= x >> 29;
    (x % n as u64) as usize
}

fn configmap(i: usize) -> Value {
    let ns = NAMESPACES[i % NAMESPACES.len()];
    let scheme = if i.is_multiple_of(4) { "nats" } else { "tls" };
    json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": format!("cordum-nats-{i}"), "namespace": ns, "labels": {"app.kubernetes.io/part-of": "cordum"}},
        "data": {
            "NATS_URL": format!("{scheme}://nats-{i}.nats.svc:4222,{scheme}://nats-{i}-b.nats.svc:4222"),
            "NATS_TLS_CA": "/etc/cordum/tls/client/ca.crt",
            "NATS_TLS_SERVER_NAME": "nats",
            "CORDUM_ENV": "production",
            "REDIS_URL": "rediss://redis:6379",
        }
    })
}

fn lit(name: &str, value: impl Into<String>) -> Value {
    json!({"name": name, "value": value.into()})
}

fn secret(name: &str, secret: &str, key: &str) -> Value {
    json!({"name": name, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}})
}

fn deployment(i: usize) -> Value {
    let ns = NAMESPACES[i % NAMESPACES.len()];
    let svc = SERVICES[pick(i, 1, SERVICES.len())];
    let name = format!("cordum-{svc}-{i}");
    let version = format!("2.{}.{}", pick(i, 2, 10), pick(i, 3, 20));
    let image = if svc.ends_with("worker") || svc.ends_with("exporter") {
        format!("registry.example.com/payments/{svc}:{version}")
    } else {
        format!("ghcr.io/cordum-io/cordum/{svc}:{version}")
    };
    let variant = pick(i, 4, 20);
    let prod = variant != 19;
    let cm = format!("cordum-nats-{}", i % CONFIGMAPS);
    let mut annotations = json!({
        "meta.helm.sh/release-name": "cordum",
        "meta.helm.sh/release-namespace": ns,
        "deployment.kubernetes.io/revision": format!("{}", 1 + pick(i, 5, 40)),
    });
    let mut env = vec![
        lit("CORDUM_ENV", if prod { "production" } else { "development" }),
        json!({"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}),
        json!({"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}}),
        json!({"name": "GOMAXPROCS", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu"}}}),
    ];
    let mut env_from = Vec::new();
    match variant {
        // mTLS with literal values and a Secret-sourced password: compliant.
        0..=6 => env.extend([
            lit("NATS_URL", format!("tls://nats.{ns}.svc:4222")),
            lit("NATS_TLS_CA", "/etc/cordum/tls/client/ca.crt"),
            lit("NATS_TLS_CERT", "/etc/cordum/tls/client/tls.crt"),
            lit("NATS_TLS_KEY", "/etc/cordum/tls/client/tls.key"),
            lit("NATS_TLS_SERVER_NAME", "nats"),
            lit("NATS_USERNAME", svc),
            secret("NATS_PASSWORD", &format!("{svc}-nats"), "password"),
        ]),
        // URL from a shared ConfigMap key, a token from a Secret.
        7..=9 => env.extend([
            json!({"name": "NATS_URL", "valueFrom": {"configMapKeyRef": {"name": cm, "key": "NATS_URL"}}}),
            json!({"name": "NATS_TLS_CA", "valueFrom": {"configMapKeyRef": {"name": cm, "key": "NATS_TLS_CA"}}}),
            secret("NATS_TOKEN", &format!("{svc}-nats"), "token"),
        ]),
        // The whole NATS environment from the shared ConfigMap and a Secret.
        10..=11 => {
            env_from.push(json!({"configMapRef": {"name": cm}}));
            env_from.push(json!({"secretRef": {"name": format!("{svc}-nats")}, "prefix": "NATS_"}));
        }
        // Plaintext in production: violation.
        12..=13 => env.extend([
            lit("NATS_URL", format!("nats://nats.{ns}.svc:4222")),
            secret("NATS_NKEY", &format!("{svc}-nats"), "nkey"),
        ]),
        // Inline password.
        14..=15 => env.extend([
            lit("NATS_URL", format!("tls://nats.{ns}.svc:4222")),
            lit("NATS_TLS_CA", "/etc/cordum/tls/client/ca.crt"),
            lit("NATS_USERNAME", svc),
            lit("NATS_PASSWORD", format!("s3cr3t-{i}")),
        ]),
        // Break-glass overrides with incident annotations; odd ones are overdue.
        16..=18 => {
            let by = if i.is_multiple_of(2) { "2999-01-01T00:00:00Z" } else { "2020-01-01T00:00:00Z" };
            annotations["natsguard.io/override-owner"] = json!(format!("oncall-{svc}@example.com"));
            annotations["natsguard.io/override-reason"] = json!(format!("INC-{i} broker certificate rotation"));
            annotations["natsguard.io/rollback-by"] = json!(by);
            env.extend([
                lit("NATS_URL", format!("nats://nats.{ns}.svc:4222")),
                lit("CORDUM_NATS_ALLOW_PLAINTEXT", "true"),
                secret("NATS_TOKEN", &format!("{svc}-nats"), "token"),
            ]);
            if i.is_multiple_of(3) {
                env.push(lit("CORDUM_NATS_ALLOW_NOAUTH", "true"));
            }
        }
        // Not production, plaintext: allowed.
        _ => env.push(lit("NATS_URL", format!("nats://nats.{ns}.svc:4222"))),
    }
    // The rest of a Cordum service's environment.
    let extra = [
        lit("REDIS_URL", "rediss://redis:6379"),
        lit("REDIS_TLS_CA", "/etc/cordum/tls/client/ca.crt"),
        lit("REDIS_TLS_CERT", "/etc/cordum/tls/client/tls.crt"),
        lit("REDIS_TLS_KEY", "/etc/cordum/tls/client/tls.key"),
        lit("REDIS_TLS_SERVER_NAME", "redis"),
        lit("NATS_USE_JETSTREAM", "1"),
        lit("NATS_JS_REPLICAS", "3"),
        lit("SAFETY_KERNEL_ADDR", "cordum-safety-kernel:50051"),
        lit("POOL_CONFIG_PATH", "/etc/cordum/pools.yaml"),
        lit("TIMEOUT_CONFIG_PATH", "/etc/cordum/timeouts.yaml"),
        lit("OTEL_EXPORTER_OTLP_ENDPOINT", "http://localhost:4317"),
        lit("OTEL_SERVICE_NAME", svc),
        lit("OTEL_RESOURCE_ATTRIBUTES", format!("service.namespace={ns},deployment.environment=prod")),
        lit("LOG_LEVEL", "info"),
        lit("LOG_FORMAT", "json"),
        lit("CORDUM_API_ADDR", ":8080"),
        lit("CORDUM_METRICS_ADDR", ":9090"),
        secret("CORDUM_API_KEY", "cordum-api-key", "API_KEY"),
        lit("CORDUM_TENANT", format!("tenant-{}", pick(i, 6, 50))),
        lit("CORDUM_WORKERS", format!("{}", 2 + pick(i, 7, 14))),
    ];
    let n_extra = 2 + pick(i, 8, extra.len() - 1);
    env.extend(extra.into_iter().take(n_extra));
    let env_count = env.len();

    let sidecar = pick(i, 9, 3) == 0;
    let init = pick(i, 10, 3) == 0;
    let mut containers = vec![json!({
        "name": svc,
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "args": ["--config", "/etc/cordum/config.yaml"],
        "ports": [
            {"name": "http", "containerPort": 8080, "protocol": "TCP"},
            {"name": "metrics", "containerPort": 9090, "protocol": "TCP"},
        ],
        "envFrom": env_from,
        "env": env,
        "resources": {"requests": {"cpu": "150m", "memory": "256Mi"}, "limits": {"cpu": "750m", "memory": "768Mi"}},
        "livenessProbe": {"httpGet": {"path": "/healthz", "port": "http"}, "initialDelaySeconds": 5, "periodSeconds": 10},
        "readinessProbe": {"httpGet": {"path": "/readyz", "port": "http"}, "initialDelaySeconds": 5, "periodSeconds": 10},
        "securityContext": {"allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true, "capabilities": {"drop": ["ALL"]}},
        "volumeMounts": [
            {"name": "cordum-client-tls", "mountPath": "/etc/cordum/tls/client", "readOnly": true},
            {"name": "cordum-pools", "mountPath": "/etc/cordum/pools.yaml", "subPath": "pools.yaml", "readOnly": true},
            {"name": "tmp", "mountPath": "/tmp"},
        ],
    })];
    if containers[0]["envFrom"].as_array().is_some_and(Vec::is_empty)
        && let Some(c) = containers[0].as_object_mut()
    {
        c.remove("envFrom");
    }
    if sidecar || env_count < 10 {
        containers.push(json!({
            "name": "otel-collector",
            "image": "otel/opentelemetry-collector-contrib:0.104.0",
            "args": ["--config=/etc/otel/config.yaml"],
            "env": [
                lit("OTEL_EXPORTER_OTLP_ENDPOINT", "otel-gateway.observability.svc:4317"),
                lit("GOMEMLIMIT", "160MiB"),
                json!({"name": "K8S_NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}),
            ],
            "resources": {"requests": {"cpu": "20m", "memory": "64Mi"}, "limits": {"memory": "192Mi"}},
            "volumeMounts": [{"name": "otel-config", "mountPath": "/etc/otel"}],
        }));
    }
    let mut spec = json!({
        "serviceAccountName": format!("cordum-{svc}"),
        "securityContext": {"runAsNonRoot": true, "runAsUser": 65532, "runAsGroup": 65532, "fsGroup": 65532, "seccompProfile": {"type": "RuntimeDefault"}},
        "affinity": {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{
            "weight": 100,
            "podAffinityTerm": {"topologyKey": "kubernetes.io/hostname", "labelSelector": {"matchLabels": {"app.kubernetes.io/name": format!("cordum-{svc}")}}},
        }]}},
        "topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone", "whenUnsatisfiable": "ScheduleAnyway",
            "labelSelector": {"matchLabels": {"app.kubernetes.io/name": format!("cordum-{svc}")}}}],
        "containers": containers,
        "volumes": [
            {"name": "cordum-client-tls", "secret": {"secretName": "cordum-client-tls", "defaultMode": 288}},
            {"name": "cordum-pools", "configMap": {"name": "cordum-pools"}},
            {"name": "otel-config", "configMap": {"name": "otel-collector-sidecar"}},
            {"name": "tmp", "emptyDir": {"medium": "Memory", "sizeLimit": "64Mi"}},
        ],
        "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "cordum", "effect": "NoSchedule"}],
    });
    if init {
        spec["initContainers"] = json!([{
            "name": "validate-secrets",
            "image": "busybox:1.36",
            "command": ["sh", "-c", "test -s /etc/cordum/tls/client/tls.crt && test -n \"$CORDUM_API_KEY\""],
            "env": [secret("CORDUM_API_KEY", "cordum-api-key", "API_KEY")],
            "volumeMounts": [{"name": "cordum-client-tls", "mountPath": "/etc/cordum/tls/client", "readOnly": true}],
        }]);
    }
    let labels = json!({
        "app.kubernetes.io/name": format!("cordum-{svc}"),
        "app.kubernetes.io/instance": name,
        "app.kubernetes.io/component": svc,
        "app.kubernetes.io/part-of": "cordum",
        "app.kubernetes.io/managed-by": "Helm",
        "app.kubernetes.io/version": version,
        "helm.sh/chart": format!("cordum-{version}"),
    });
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": ns, "labels": labels, "annotations": annotations},
        "spec": {
            "replicas": 1 + pick(i, 11, 3),
            "revisionHistoryLimit": 5,
            "selector": {"matchLabels": {"app.kubernetes.io/name": format!("cordum-{svc}"), "app.kubernetes.io/instance": name}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 0}},
            "template": {
                "metadata": {
                    "labels": {"app.kubernetes.io/name": format!("cordum-{svc}"), "app.kubernetes.io/instance": name, "app.kubernetes.io/part-of": "cordum"},
                    "annotations": {"prometheus.io/scrape": "true", "prometheus.io/port": "9090", "checksum/config": format!("{:064x}", (i as u128).wrapping_mul(0x9E37_79B9_7F4A_7C15_F39C_C060_5CED_C834))},
                },
                "spec": spec,
            },
        },
    })
}
