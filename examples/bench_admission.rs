//! Admission review latency on a warm cache (docs/configuration.md, Admission: p99 <= 10 ms), run by
//! `make bench-admission`. A benchmark that reports figures, not a test.
//!
//! How it measures: the real webhook handler (`controller::webhook::Webhook`) on the real server
//! (`controller::http::serve` with `controller::tls::Tls`, a throwaway certificate made with
//! openssl) on 127.0.0.1, reading reflector stores filled the way the operator's watches fill
//! them, with the same lookups as the operator's cache view (policies of a namespace by a scan of
//! the policy store, each referenced ConfigMap by key). A client sends AdmissionReview v1 bodies
//! as the API server does, over keep-alive HTTPS connections, and times each round trip from the
//! first byte written to the last byte read. The bodies are API-server-shaped Deployments
//! (defaults, managedFields, init containers and sidecars, 5 to 20 KiB), CREATE and UPDATE (with
//! oldObject) of compliant, plaintext, break-glass and unselected workloads, judged by Deny, Warn
//! and Off policies. The handler alone (`Webhook::answer`, no HTTP or TLS) is timed too.
//!
//! Usage: bench_admission [reviews=5000] [namespaces=50] [configmaps=10000] [connections=1,4]

use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::jiff::Timestamp;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::watcher;
use natsguard::controller::Metrics;
use natsguard::controller::http;
use natsguard::controller::tls::{CertDir, Tls};
use natsguard::controller::webhook::{Caches, Coverage, PATH, Webhook};
use natsguard::crd::NatsTransportPolicy;
use natsguard::env::{ConfigMapLookup, Lookup};
use natsguard::workload::PodEnv;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// Reflector stores, read as `controller/mod.rs` reads the operator's.
struct Warm {
    policies: Store<NatsTransportPolicy>,
    configmaps: Store<ConfigMap>,
}

impl Caches for Warm {
    fn coverage(&self, _: &str) -> Coverage {
        Coverage::Synced
    }
    fn policies(&self, namespace: &str) -> Vec<Arc<NatsTransportPolicy>> {
        self.policies.state_filter(|p| p.metadata.namespace.as_deref() == Some(namespace))
    }
    fn configmaps(&self, namespace: &str, pod: &PodEnv) -> Box<dyn ConfigMapLookup + '_> {
        let mut maps = BTreeMap::new();
        for name in pod.configmap_names() {
            maps.entry(name.clone()).or_insert_with(|| self.configmaps.get(&ObjectRef::new(name).within(namespace)));
        }
        Box::new(PodMaps { namespace: namespace.to_owned(), maps, empty: BTreeMap::new() })
    }
}

/// The ConfigMaps one pod refers to, each looked up once by key.
struct PodMaps {
    namespace: String,
    maps: BTreeMap<String, Option<Arc<ConfigMap>>>,
    empty: BTreeMap<String, String>,
}

impl ConfigMapLookup for PodMaps {
    fn lookup(&self, namespace: &str, name: &str) -> Lookup<'_> {
        match self.maps.get(name) {
            Some(Some(cm)) if namespace == self.namespace => Lookup::Found(cm.data.as_ref().unwrap_or(&self.empty)),
            Some(None) if namespace == self.namespace => Lookup::Absent,
            _ => Lookup::Unknown,
        }
    }
}

/// A store holding `objects`, filled through a reflector writer as a watch's initial list is.
fn store<K>(objects: Vec<K>) -> Store<K>
where
    K: kube::Resource<DynamicType = ()> + Clone + 'static,
{
    let (reader, mut writer) = reflector::store();
    writer.apply_watcher_event(&watcher::Event::Init);
    for o in objects {
        writer.apply_watcher_event(&watcher::Event::InitApply(o));
    }
    writer.apply_watcher_event(&watcher::Event::InitDone);
    // The writer may go: the store keeps what it holds.
    drop(writer);
    reader
}

fn namespace(i: usize) -> String {
    format!("team-{i:03}")
}

/// Four policies per namespace: Deny for tier=prod, Warn for tier=staging, Off for tier=dev, and
/// a Deny policy with a short maxDuration for the gateways.
fn policies(namespaces: usize) -> Res<Vec<NatsTransportPolicy>> {
    let mut out = Vec::new();
    for n in 0..namespaces {
        let ns = namespace(n);
        for (name, selector, admission, max) in [
            ("prod", json!({ "matchLabels": { "tier": "prod" } }), "Deny", "4h"),
            ("staging", json!({ "matchLabels": { "tier": "staging" } }), "Warn", "4h"),
            ("dev", json!({ "matchLabels": { "tier": "dev" } }), "Off", "4h"),
            (
                "gateways",
                json!({ "matchExpressions": [{ "key": "app", "operator": "In", "values": ["gateway"] }] }),
                "Deny",
                "1h",
            ),
        ] {
            out.push(serde_json::from_value(json!({
                "apiVersion": "natsguard.io/v1alpha1", "kind": "NatsTransportPolicy",
                "metadata": { "name": name, "namespace": ns, "uid": format!("{ns}-{name}"), "generation": 1 },
                "spec": { "selector": selector, "admission": admission,
                          "override": { "maxDuration": max, "warnBefore": "10m" },
                          "transport": { "requiredTLS": ["CA"] } }
            }))?);
        }
    }
    Ok(out)
}

fn configmaps(namespaces: usize, total: usize) -> Res<Vec<ConfigMap>> {
    (0..total)
        .map(|i| {
            let scheme = if i % 5 == 0 { "nats" } else { "tls" };
            let cm = json!({
                "apiVersion": "v1", "kind": "ConfigMap",
                "metadata": { "name": format!("nats-{}", i / namespaces), "namespace": namespace(i % namespaces) },
                "data": { "NATS_URL": format!("{scheme}://nats-0.nats:4222,{scheme}://nats-1.nats:4222"),
                          "NATS_TLS_CA": "/etc/nats/ca.crt", "CORDUM_ENV": "production", "LOG_LEVEL": "info" }
            });
            Ok(serde_json::from_value(cm)?)
        })
        .collect()
}

/// One container as the API server stores it (defaults filled in).
fn container(name: &str, image: &str, env: Value, env_from: Value) -> Value {
    json!({
        "name": name, "image": image, "imagePullPolicy": "IfNotPresent",
        "env": env, "envFrom": env_from,
        "ports": [{ "name": "http", "containerPort": 8080, "protocol": "TCP" }, { "name": "metrics", "containerPort": 9090, "protocol": "TCP" }],
        "resources": { "limits": { "cpu": "1", "memory": "512Mi" }, "requests": { "cpu": "100m", "memory": "128Mi" } },
        "livenessProbe": { "httpGet": { "path": "/livez", "port": "http", "scheme": "HTTP" }, "initialDelaySeconds": 5, "periodSeconds": 10, "timeoutSeconds": 1, "successThreshold": 1, "failureThreshold": 3 },
        "readinessProbe": { "httpGet": { "path": "/readyz", "port": "http", "scheme": "HTTP" }, "periodSeconds": 5, "timeoutSeconds": 1, "successThreshold": 1, "failureThreshold": 3 },
        "volumeMounts": [{ "name": "nats-tls", "mountPath": "/etc/nats", "readOnly": true }, { "name": "tmp", "mountPath": "/tmp" }],
        "securityContext": { "allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true, "runAsNonRoot": true, "capabilities": { "drop": ["ALL"] } },
        "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File"
    })
}

/// A Deployment as the API server sends it in a review. `kind`: 0 compliant, 1 plaintext,
/// 2 owned break-glass, 3 URL from a ConfigMap, 4 literal password; `tier` picks the policy.
fn deployment(i: usize, ns: &str, tier: &str, kind: usize, replicas: u32) -> Value {
    let app = ["scheduler", "gateway", "worker", "audit", "billing"][i % 5];
    let name = format!("{app}-{i}");
    let base = vec![
        json!({ "name": "CORDUM_ENV", "value": "production" }),
        json!({ "name": "POD_NAME", "valueFrom": { "fieldRef": { "apiVersion": "v1", "fieldPath": "metadata.name" } } }),
        json!({ "name": "NATS_TOKEN", "valueFrom": { "secretKeyRef": { "name": format!("{app}-nats"), "key": "token" } } }),
        json!({ "name": "LOG_FORMAT", "value": "json" }),
        json!({ "name": "OTEL_EXPORTER_OTLP_ENDPOINT", "value": "http://otel-collector.observability:4317" }),
    ];
    let mut env = base;
    let mut env_from = json!([]);
    let mut annotations = json!({ "deployment.kubernetes.io/revision": "3", "meta.helm.sh/release-name": "cordum" });
    match kind {
        0 => {
            env.push(json!({ "name": "NATS_URL", "value": format!("tls://nats.{ns}.svc:4222") }));
            env.push(json!({ "name": "NATS_TLS_CA", "value": "/etc/nats/ca.crt" }));
        }
        1 => env.push(json!({ "name": "NATS_URL", "value": format!("nats://nats.{ns}.svc:4222") })),
        2 => {
            env.push(json!({ "name": "NATS_URL", "value": format!("nats://nats.{ns}.svc:4222") }));
            env.push(json!({ "name": "CORDUM_NATS_ALLOW_PLAINTEXT", "value": "true" }));
            let deadline = Timestamp::now().as_second() + 1800;
            let deadline = Timestamp::from_second(deadline).map(|t| t.to_string()).unwrap_or_default();
            annotations["natsguard.io/override-owner"] = json!("oncall@example.com");
            annotations["natsguard.io/override-reason"] = json!("INC-4711 NATS certificate rotation");
            annotations["natsguard.io/rollback-by"] = json!(deadline);
        }
        3 => {
            env_from = json!([{ "configMapRef": { "name": format!("nats-{}", i % 100) } }, { "secretRef": { "name": format!("{app}-extra") } }]);
            env.push(json!({ "name": "NATS_URL", "valueFrom": { "configMapKeyRef": { "name": format!("nats-{}", (i + 1) % 100), "key": "NATS_URL" } } }));
        }
        _ => {
            env.push(json!({ "name": "NATS_URL", "value": "tls://nats:4222" }));
            env.push(json!({ "name": "NATS_TLS_CA", "value": "/etc/nats/ca.crt" }));
            env.push(json!({ "name": "NATS_USERNAME", "value": app }));
            env.push(json!({ "name": "NATS_PASSWORD", "value": "correct-horse-battery" }));
        }
    }
    let image = format!("ghcr.io/cordum-io/cordum/{app}:2.9.{}", i % 7);
    // The migration runs the same image with the same settings.
    let migrate = container("migrate", &image, Value::Array(env.clone()), env_from.clone());
    let mut containers = vec![container(app, &image, Value::Array(env), env_from)];
    containers.push(container("otel", "otel/opentelemetry-collector:0.100.0", json!([]), json!([])));
    if i.is_multiple_of(3) {
        containers.push(container(
            "envoy",
            "envoyproxy/envoy:v1.30.1",
            json!([{ "name": "ENVOY_UID", "value": "0" }]),
            json!([]),
        ));
    }
    let init = vec![
        migrate,
        container(
            "wait-for-nats",
            "busybox:1.36",
            json!([{ "name": "NATS_URL", "value": "tls://nats:4222" }]),
            json!([]),
        ),
    ];
    let fields = json!({ "f:metadata": { "f:labels": { ".": {}, "f:app": {}, "f:tier": {} } },
        "f:spec": { "f:replicas": {}, "f:template": { "f:spec": { "f:containers": { format!("k:{{\"name\":\"{app}\"}}"): { ".": {}, "f:env": {}, "f:image": {} } } } } } });
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {
            "name": name, "namespace": ns, "uid": format!("0d8c3b5e-{i:04}-4f1a-9c1e-5b0e7c2d9a41"),
            "resourceVersion": "123456", "generation": 3, "creationTimestamp": "2026-11-01T10:00:00Z",
            "labels": { "app": app, "tier": tier, "app.kubernetes.io/part-of": "cordum", "app.kubernetes.io/managed-by": "Helm" },
            "annotations": annotations,
            "managedFields": [
                { "manager": "helm", "operation": "Update", "apiVersion": "apps/v1", "time": "2026-11-01T10:00:00Z", "fieldsType": "FieldsV1", "fieldsV1": fields },
                { "manager": "kube-controller-manager", "operation": "Update", "apiVersion": "apps/v1", "time": "2026-11-01T10:00:05Z", "fieldsType": "FieldsV1", "fieldsV1": { "f:status": { "f:replicas": {} } }, "subresource": "status" }
            ]
        },
        "spec": {
            "replicas": replicas, "revisionHistoryLimit": 10, "progressDeadlineSeconds": 600,
            "selector": { "matchLabels": { "app": app } },
            "strategy": { "type": "RollingUpdate", "rollingUpdate": { "maxSurge": "25%", "maxUnavailable": "25%" } },
            "template": {
                "metadata": { "labels": { "app": app, "tier": tier }, "annotations": { "prometheus.io/scrape": "true" } },
                "spec": {
                    "initContainers": init, "containers": containers,
                    "volumes": [{ "name": "nats-tls", "secret": { "secretName": "nats-client-tls", "defaultMode": 420 } }, { "name": "tmp", "emptyDir": {} }],
                    "restartPolicy": "Always", "terminationGracePeriodSeconds": 30, "dnsPolicy": "ClusterFirst",
                    "serviceAccountName": app, "serviceAccount": app, "schedulerName": "default-scheduler",
                    "securityContext": { "runAsNonRoot": true, "seccompProfile": { "type": "RuntimeDefault" } }
                }
            }
        },
        "status": { "replicas": replicas, "readyReplicas": replicas, "observedGeneration": 3 }
    })
}

/// The review bodies: a deterministic mix of CREATEs and UPDATEs across namespaces and tiers.
fn reviews(n: usize, namespaces: usize) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| {
            let ns = namespace(i % namespaces);
            let tier = ["prod", "prod", "prod", "staging", "dev", "batch"][i % 6];
            let kind = [0, 0, 3, 1, 2, 4, 0, 3][i % 8];
            let object = deployment(i, &ns, tier, kind, 2);
            let (op, old) = match i % 4 {
                // Scaling: the same Deployment with another replica count.
                1 => ("UPDATE", deployment(i, &ns, tier, kind, 3)),
                // An edit of the environment.
                3 => ("UPDATE", deployment(i, &ns, tier, (kind + 1) % 5, 2)),
                _ => ("CREATE", Value::Null),
            };
            let review = json!({
                "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
                "request": {
                    "uid": format!("b1a7c0de-0000-4000-8000-{i:012}"),
                    "kind": { "group": "apps", "version": "v1", "kind": "Deployment" },
                    "resource": { "group": "apps", "version": "v1", "resource": "deployments" },
                    "requestKind": { "group": "apps", "version": "v1", "kind": "Deployment" },
                    "requestResource": { "group": "apps", "version": "v1", "resource": "deployments" },
                    "name": object["metadata"]["name"], "namespace": ns, "operation": op,
                    "userInfo": { "username": "system:serviceaccount:argocd:argocd-application-controller", "uid": "9f0c", "groups": ["system:serviceaccounts", "system:serviceaccounts:argocd", "system:authenticated"] },
                    "object": object, "oldObject": old, "dryRun": i.is_multiple_of(10),
                    "options": { "apiVersion": "meta.k8s.io/v1", "kind": if op == "CREATE" { "CreateOptions" } else { "UpdateOptions" }, "fieldManager": "argocd-controller" }
                }
            });
            serde_json::to_vec(&review).unwrap_or_default()
        })
        .collect()
}

fn certificate(dir: &Path) -> Res<Vec<u8>> {
    std::fs::create_dir_all(dir)?;
    let status = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"])
        .args(["-keyout", "tls.key", "-out", "tls.crt", "-days", "1", "-subj", "/CN=127.0.0.1"])
        .args(["-addext", "subjectAltName=IP:127.0.0.1", "-addext", "basicConstraints=critical,CA:FALSE"])
        .current_dir(dir)
        .stderr(std::process::Stdio::null())
        .status()?;
    if !status.success() {
        return Err("openssl req failed".into());
    }
    Ok(std::fs::read(dir.join("tls.crt"))?)
}

/// An HTTPS client that speaks to the webhook as the API server does (one keep-alive connection).
async fn connect(port: u16, ca_pem: &[u8]) -> Res<tokio_rustls::client::TlsStream<tokio::net::TcpStream>> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem) {
        roots.add(cert?)?;
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    tcp.set_nodelay(true)?;
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1")?;
    Ok(tokio_rustls::TlsConnector::from(Arc::new(config)).connect(name, tcp).await?)
}

/// Send each body, read each answer; the round-trip times and the decisions seen.
async fn drive(
    port: u16,
    ca: Vec<u8>,
    bodies: Arc<Vec<Vec<u8>>>,
    which: Vec<usize>,
) -> Res<(Vec<Duration>, Vec<String>)> {
    let stream = connect(port, &ca).await?;
    let mut stream = BufReader::new(stream);
    let mut times = Vec::with_capacity(which.len());
    let mut decisions = Vec::with_capacity(which.len());
    let mut line = String::new();
    for i in which {
        let body = &bodies[i];
        let head = format!(
            "POST {PATH}?timeout=10s HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\naccept: application/json\r\ncontent-length: {}\r\n\r\n",
            body.len()
        );
        let start = Instant::now();
        stream.get_mut().write_all(head.as_bytes()).await?;
        stream.get_mut().write_all(body).await?;
        stream.get_mut().flush().await?;
        let mut length = 0usize;
        let mut status = String::new();
        loop {
            line.clear();
            stream.read_line(&mut line).await?;
            if status.is_empty() {
                status = line.trim().to_owned();
            }
            if line == "\r\n" || line.is_empty() {
                break;
            }
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                length = v.trim().parse()?;
            }
        }
        let mut answer = vec![0; length];
        stream.read_exact(&mut answer).await?;
        times.push(start.elapsed());
        if !status.contains(" 200 ") {
            return Err(format!("{status}: {}", String::from_utf8_lossy(&answer)).into());
        }
        let v: Value = serde_json::from_slice(&answer)?;
        let r = &v["response"];
        decisions.push(match (r["allowed"].as_bool(), r.get("warnings").is_some()) {
            (Some(false), _) => "denied".into(),
            (_, true) => "admitted with warnings".into(),
            _ => "admitted".into(),
        });
    }
    Ok((times, decisions))
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn report(label: &str, mut times: Vec<Duration>) {
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "{label:<44} n={:<6} p50 {:>6.3} ms  p90 {:>6.3} ms  p99 {:>6.3} ms  max {:>7.3} ms",
        times.len(),
        ms(percentile(&times, 50.0)),
        ms(percentile(&times, 90.0)),
        ms(percentile(&times, 99.0)),
        ms(times.last().copied().unwrap_or_default()),
    );
}

#[tokio::main]
async fn main() -> Res<()> {
    let args: Vec<String> = std::env::args().collect();
    let arg =
        |i: usize, default: usize| -> Res<usize> { Ok(args.get(i).map(|s| s.parse()).transpose()?.unwrap_or(default)) };
    let (n, namespaces, total_cms) = (arg(1, 5000)?, arg(2, 50)?.max(1), arg(3, 10_000)?);
    let connections: Vec<usize> = match args.get(4) {
        Some(s) => s.split(',').map(str::parse).collect::<Result<_, _>>()?,
        None => vec![1, 4],
    };

    let policies = policies(namespaces)?;
    let caches = Warm { policies: store(policies.clone()), configmaps: store(configmaps(namespaces, total_cms)?) };
    let bodies = Arc::new(reviews(n, namespaces));
    let sizes: Vec<usize> = bodies.iter().map(Vec::len).collect();
    println!(
        "bench-admission: warm cache of {} policies in {namespaces} namespaces (Deny, Warn, Off) and {total_cms} ConfigMaps; \
         {n} AdmissionReviews of {}..{} KiB (CREATE and UPDATE with oldObject)",
        policies.len(),
        sizes.iter().min().copied().unwrap_or(0) / 1024,
        sizes.iter().max().copied().unwrap_or(0).div_ceil(1024),
    );

    let metrics = Arc::new(Metrics::default());
    let webhook = Arc::new(Webhook { caches, metrics: metrics.clone() });

    // The handler alone: parse, select, evaluate, decide, encode.
    let now = Timestamp::now();
    for body in bodies.iter().take(200) {
        let _ = webhook.answer(body, now);
    }
    let mut handler = Vec::with_capacity(n);
    let mut tally: BTreeMap<&'static str, usize> = BTreeMap::new();
    for body in bodies.iter() {
        let start = Instant::now();
        let answer = webhook.answer(body, now);
        handler.push(start.elapsed());
        *tally.entry(answer.decision).or_default() += 1;
    }
    report("handler only (Webhook::answer)", handler);
    println!("decisions: {tally:?}");

    // Over HTTPS, as the API server calls it.
    let dir = std::env::temp_dir().join(format!("natsguard-bench-admission-{}", std::process::id()));
    let ca = certificate(&dir)?;
    let certs = CertDir::load(&dir)?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(http::serve(listener, Tls::new(certs)?, webhook, async move {
        let _ = stopped.await;
    }));
    // Warm-up: connections, TLS sessions, allocator.
    drive(port, ca.clone(), bodies.clone(), (0..n.min(200)).collect()).await?;
    for c in connections {
        let c = c.max(1);
        let mut tasks = Vec::new();
        let start = Instant::now();
        for k in 0..c {
            let which: Vec<usize> = (k..n).step_by(c).collect();
            tasks.push(tokio::spawn(drive(port, ca.clone(), bodies.clone(), which)));
        }
        let mut all = Vec::with_capacity(n);
        for t in tasks {
            all.extend(t.await??.0);
        }
        let took = start.elapsed();
        report(&format!("HTTPS round trip, {c} keep-alive connection(s)"), all);
        println!("  throughput {:.0} reviews/s", n as f64 / took.as_secs_f64());
    }
    let _ = stop.send(());
    let _ = server.await;
    let _ = std::fs::remove_dir_all(&dir);
    let text = metrics.render();
    if let Some(count) = text.lines().find(|l| l.starts_with("natsguard_admission_duration_seconds_count")) {
        println!("server side: {count}");
    }
    for l in text.lines().filter(|l| l.starts_with("natsguard_admission_duration_seconds_bucket{le=\"0.01\"}")) {
        println!("server side: {l} (answered within 10 ms)");
    }
    Ok(())
}
