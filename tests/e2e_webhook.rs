//! The validating admission webhook (docs/configuration.md, "Admission") through the real API server: the built
//! `natsguard run` binary serves it on 127.0.0.1 with a throwaway CA and serving certificate
//! (openssl), a `ValidatingWebhookConfiguration` with `clientConfig.url` (no Service needed)
//! scoped to the test's namespace sends it every Deployment CREATE and UPDATE there, and kubectl
//! and kube drive it: Deny, Warn, Off, owned / unowned / too-long / overdue break-glass, an update
//! that downgrades a compliant Deployment, server dry-run, the warning text kubectl prints, and
//! `failurePolicy: Ignore` when the webhook is gone.
//!
//! The webhook configuration is deleted at the end of each test, also when it fails (a leftover
//! would send another suite's requests to a process that is gone). Every wait is bounded; only
//! the processes started here are stopped, by pid.

mod support;

use k8s_openapi::api::admissionregistration::v1::ValidatingWebhookConfiguration;
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::{Api, Client};
use natsguard::crd::NatsTransportPolicy;
use serde_json::{Value, json};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::process::get;

/// The webhook's name in the configuration (the API server quotes it in denials).
const WEBHOOK: &str = "deployments.natsguard.io";

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl (a prerequisite) must be installed");
    assert!(out.status.success(), "openssl {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
}

/// A throwaway CA and a serving certificate for 127.0.0.1 signed by it, in `dir`:
/// `ca.crt`, `tls.crt`, `tls.key`. Returns the CA certificate (PEM).
fn certificates(dir: &Path) -> String {
    std::fs::create_dir_all(dir).expect("cert dir");
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    let ca = ["-keyout", "ca.key", "-out", "ca.crt", "-days", "1", "-subj", "/CN=natsguard-e2e-ca"];
    let constraints = ["-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign"];
    openssl(dir, &[&["req", "-x509"][..], &ec, &ca, &constraints].concat());
    openssl(dir, &[&["req"][..], &ec, &["-keyout", "tls.key", "-out", "tls.csr", "-subj", "/CN=127.0.0.1"]].concat());
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=critical,CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .expect("ext.cnf");
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "tls.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "tls.crt",
            "-days",
            "1",
            "-extfile",
            "ext.cnf",
        ],
    );
    std::fs::read_to_string(dir.join("ca.crt")).expect("ca.crt")
}

/// `natsguard run` serving the webhook, killed when dropped if still running.
struct Operator {
    child: Child,
    http_port: u16,
    webhook_port: u16,
    log: PathBuf,
}

impl Operator {
    fn start(ns: &str, dir: &Path) -> Operator {
        let (http_port, webhook_port) = (support::free_port(), support::free_port());
        let log = dir.join("natsguard.log");
        let file = std::fs::File::create(&log).expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_natsguard"))
            .args(["run", "--namespace", ns, "--http-addr", &format!("127.0.0.1:{http_port}")])
            .args(["--webhook-addr", &format!("127.0.0.1:{webhook_port}")])
            .arg("--webhook-tls-dir")
            .arg(dir)
            .args(["--log-format", "json", "--leader-election-namespace", ns])
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .expect("start natsguard run");
        Operator { child, http_port, webhook_port, log }
    }

    fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    async fn ready(&mut self) {
        let start = Instant::now();
        while get(self.http_port, "/readyz").map(|(c, _)| c) != Some(200) {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("natsguard run exited ({status}) before it was ready; log:\n{}", self.logs());
            }
            assert!(start.elapsed() < Duration::from_secs(30), "not ready after 30 s; log:\n{}", self.logs());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The value of `natsguard_admission_reviews_total{decision="..."}`.
    fn decisions(&self, decision: &str) -> u64 {
        let line = format!("natsguard_admission_reviews_total{{decision=\"{decision}\"}} ");
        get(self.http_port, "/metrics")
            .and_then(|(_, b)| b.lines().find_map(|l| l.strip_prefix(&line).and_then(|v| v.parse().ok())))
            .unwrap_or(0)
    }

    fn stop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The `ValidatingWebhookConfiguration` of one test, deleted when dropped (also on panic).
struct Registration {
    name: String,
}

impl Registration {
    /// Deletes registrations left by a test process that was killed (no destructor ran): those
    /// whose namespace is gone or terminating.
    async fn sweep(client: &Client) {
        let api: Api<ValidatingWebhookConfiguration> = Api::all(client.clone());
        let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
        let Ok(list) = api.list(&kube::api::ListParams::default().labels("natsguard.io/test=true")).await else {
            return;
        };
        for config in list {
            let Some(name) = config.metadata.name else { continue };
            let Some(ns) = name.strip_prefix("natsguard-e2e-") else { continue };
            let active =
                namespaces.get_opt(ns).await.ok().flatten().and_then(|n| n.status?.phase).as_deref() == Some("Active");
            if !active {
                let _ = api.delete(&name, &DeleteParams::default()).await;
            }
        }
    }

    async fn create(client: &Client, ns: &str, port: u16, ca_pem: &str) -> Registration {
        let name = format!("natsguard-e2e-{ns}");
        let ca = base64(ca_pem.as_bytes());
        let config: ValidatingWebhookConfiguration = serde_json::from_value(json!({
            "apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
            "metadata": { "name": name, "labels": { "natsguard.io/test": "true" } },
            "webhooks": [{
                "name": WEBHOOK,
                "clientConfig": { "url": format!("https://127.0.0.1:{port}/validate"), "caBundle": ca },
                "rules": [{ "apiGroups": ["apps"], "apiVersions": ["v1"], "operations": ["CREATE", "UPDATE"],
                            "resources": ["deployments"], "scope": "Namespaced" }],
                "namespaceSelector": { "matchLabels": { "kubernetes.io/metadata.name": ns } },
                // Fail here, so that a webhook that does not answer fails the test instead of
                // passing silently; the chart's default is Ignore.
                "failurePolicy": "Fail",
                "sideEffects": "None",
                "admissionReviewVersions": ["v1"],
                "timeoutSeconds": 5
            }]
        }))
        .expect("webhook configuration");
        let api: Api<ValidatingWebhookConfiguration> = Api::all(client.clone());
        let registration = Registration { name };
        api.create(&PostParams::default(), &config).await.expect("create the ValidatingWebhookConfiguration");
        registration
    }

    async fn set_failure_policy(&self, client: &Client, policy: &str) {
        let api: Api<ValidatingWebhookConfiguration> = Api::all(client.clone());
        let patch = json!({ "webhooks": [{ "name": WEBHOOK, "failurePolicy": policy }] });
        api.patch(&self.name, &PatchParams::default(), &Patch::Strategic(&patch)).await.expect("patch failurePolicy");
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        // On a thread of its own: the test's runtime may be shutting down or panicking.
        let name = self.name.clone();
        let handle = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return false };
            rt.block_on(async move {
                let Ok(client) = Client::try_default().await else { return false };
                let api: Api<ValidatingWebhookConfiguration> = Api::all(client);
                match tokio::time::timeout(Duration::from_secs(10), api.delete(&name, &DeleteParams::default())).await {
                    Ok(Ok(_)) => true,
                    Ok(Err(kube::Error::Api(s))) => s.code == 404,
                    _ => false,
                }
            })
        });
        if !handle.join().unwrap_or(false) {
            eprintln!("could not delete ValidatingWebhookConfiguration {}: delete it by hand", self.name);
        }
    }
}

fn base64(bytes: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// kubectl with the test's KUBECONFIG: (success, stdout, stderr).
fn kubectl(args: &[&str], stdin: Option<&str>) -> (bool, String, String) {
    let mut child = Command::new(std::env::var("KUBECTL").unwrap_or_else(|_| "kubectl".into()))
        .args(args)
        .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kubectl (a prerequisite) must be installed");
    if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(input.as_bytes()).expect("kubectl stdin");
    }
    let out = child.wait_with_output().expect("kubectl");
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
}

fn policy(name: &str, tier: &str, admission: &str) -> NatsTransportPolicy {
    serde_json::from_value(json!({
        "apiVersion": "natsguard.io/v1alpha1", "kind": "NatsTransportPolicy",
        "metadata": { "name": name },
        "spec": { "selector": { "matchLabels": { "tier": tier } }, "admission": admission }
    }))
    .expect("policy")
}

/// A production scheduler Deployment in tier `tier`, with `env` after `CORDUM_ENV=production`.
fn deployment(name: &str, tier: &str, env: Value, annotations: Value) -> Value {
    let mut vars = vec![json!({ "name": "CORDUM_ENV", "value": "production" })];
    vars.extend(env.as_array().cloned().unwrap_or_default());
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": { "name": name, "labels": { "tier": tier }, "annotations": annotations },
        "spec": { "selector": { "matchLabels": { "app": name } }, "template": {
            "metadata": { "labels": { "app": name } },
            "spec": { "containers": [{ "name": "scheduler", "image": "ghcr.io/cordum-io/cordum/scheduler:2.9", "env": vars }] } } }
    })
}

fn plaintext() -> Value {
    json!([{ "name": "NATS_URL", "value": "nats://nats:4222" },
           { "name": "NATS_TOKEN", "valueFrom": { "secretKeyRef": { "name": "nats", "key": "token" } } }])
}

fn compliant() -> Value {
    json!([{ "name": "NATS_URL", "value": "tls://nats:4222" },
           { "name": "NATS_TLS_CA", "value": "/etc/nats/ca.crt" },
           { "name": "NATS_TOKEN", "valueFrom": { "secretKeyRef": { "name": "nats", "key": "token" } } }])
}

/// `plaintext()` with the plaintext break-glass on.
fn break_glass() -> Value {
    let mut env = plaintext();
    if let Some(a) = env.as_array_mut() {
        a.push(json!({ "name": "CORDUM_NATS_ALLOW_PLAINTEXT", "value": "true" }));
    }
    env
}

fn rfc3339_in(secs: i64) -> String {
    let now = k8s_openapi::jiff::Timestamp::now();
    let t = k8s_openapi::jiff::Timestamp::from_second(now.as_second() + secs).expect("time");
    t.to_string()
}

/// The policies, the operator and the registration of one test; `ready` once a Deny-tier
/// plaintext Deployment is rejected through the API server (the registration is in effect).
struct Setup {
    ns: support::TestNamespace,
    operator: Operator,
    registration: Registration,
    dir: PathBuf,
    client: Client,
}

impl Setup {
    async fn new(prefix: &str) -> Setup {
        let client = support::client().await;
        support::install_crds(&client).await;
        Registration::sweep(&client).await;
        let ns = support::TestNamespace::new(&client, prefix).await;
        let policies: Api<NatsTransportPolicy> = ns.api();
        for p in [policy("deny", "deny", "Deny"), policy("warn", "warn", "Warn"), policy("off", "off", "Off")] {
            policies.create(&PostParams::default(), &p).await.expect("create policy");
        }
        let dir = std::env::temp_dir().join(format!("natsguard-e2e-webhook-{}", ns.name()));
        let ca = certificates(&dir);
        let mut operator = Operator::start(ns.name(), &dir);
        operator.ready().await;
        let registration = Registration::create(&client, ns.name(), operator.webhook_port, &ca).await;
        let setup = Setup { ns, operator, registration, dir, client };
        // The API server picks up a new configuration within a second or so.
        let deployments: Api<Deployment> = setup.ns.api();
        let probe: Deployment = serde_json::from_value(deployment("probe", "deny", plaintext(), json!({}))).unwrap();
        let start = Instant::now();
        loop {
            let dry = PostParams { dry_run: true, ..Default::default() };
            match deployments.create(&dry, &probe).await {
                Err(kube::Error::Api(s)) if s.message.contains("natsguard policy") => break,
                other => {
                    assert!(
                        start.elapsed() < Duration::from_secs(30),
                        "the webhook registration never took effect: {other:?}; log:\n{}",
                        setup.operator.logs()
                    );
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
        setup
    }

    fn deployments(&self) -> Api<Deployment> {
        self.ns.api()
    }

    fn kubectl_apply(&self, manifest: &Value, extra: &[&str]) -> (bool, String, String) {
        let text = serde_json::to_string(manifest).expect("manifest");
        let args = [&["apply", "-n", self.ns.name(), "-f", "-"][..], extra].concat();
        kubectl(&args, Some(&text))
    }

    async fn finish(self) {
        let Setup { ns, mut operator, registration, dir, .. } = self;
        drop(registration);
        operator.stop();
        let _ = std::fs::remove_dir_all(&dir);
        ns.cleanup().await;
    }
}

async fn create(api: &Api<Deployment>, manifest: Value) -> Result<Deployment, kube::Error> {
    let d: Deployment = serde_json::from_value(manifest).expect("deployment");
    api.create(&PostParams::default(), &d).await
}

fn denial(result: Result<Deployment, kube::Error>) -> String {
    match result {
        Err(kube::Error::Api(s)) => {
            assert_eq!(s.code, 403, "{s:?}");
            s.message
        }
        other => panic!("expected a denial, got {other:?}"),
    }
}

/// Deny rejects (with a message naming each violation), Warn and Off admit, an update that
/// downgrades a compliant Deployment is rejected, an update that changes nothing natsguard
/// evaluates is not, server dry-run writes nothing, and the metrics count each decision.
#[tokio::test(flavor = "multi_thread")]
async fn deny_warn_off_and_updates_through_the_api_server() {
    let setup = Setup::new("webhook-modes").await;
    let api = setup.deployments();
    let denied_before = setup.operator.decisions("denied");

    let m = denial(create(&api, deployment("plain", "deny", plaintext(), json!({}))).await);
    assert!(m.starts_with(&format!("admission webhook \"{WEBHOOK}\" denied the request: natsguard policy \"deny\" (admission: Deny): PlaintextTransport in container \"scheduler\": make every NATS_URL entry tls://")), "{m}");
    assert!(api.get_opt("plain").await.expect("get").is_none(), "a denied Deployment was stored");

    // Warn and Off admit the same Deployment.
    create(&api, deployment("plain-warn", "warn", plaintext(), json!({}))).await.expect("Warn admits");
    create(&api, deployment("plain-off", "off", plaintext(), json!({}))).await.expect("Off admits");
    // A Deployment no policy selects is admitted.
    create(&api, deployment("plain-none", "none", plaintext(), json!({}))).await.expect("unselected admitted");

    // A compliant Deployment under Deny, then an update that downgrades it.
    create(&api, deployment("good", "deny", compliant(), json!({}))).await.expect("compliant admitted");
    let downgrade = json!({ "spec": { "template": { "spec": { "containers": [
        { "name": "scheduler", "env": [{ "name": "NATS_URL", "value": "nats://nats:4222" }] }] } } } });
    let m = match api.patch("good", &PatchParams::default(), &Patch::Strategic(&downgrade)).await {
        Err(kube::Error::Api(s)) => s.message,
        other => panic!("the downgrade was not denied: {other:?}"),
    };
    assert!(m.contains("PlaintextTransport in container \"scheduler\""), "{m}");
    let stored = api.get("good").await.expect("get good");
    let env = serde_json::to_string(&stored.spec.unwrap().template.spec.unwrap().containers[0].env).unwrap();
    assert!(env.contains("tls://nats:4222") && !env.contains("nats://nats:4222"), "{env}");

    // A violating Deployment admitted under Warn, then its policy turns Deny: scaling it is an
    // update that changes nothing natsguard evaluates, so it is admitted (with warnings), while
    // an edit of its environment is denied.
    let policies: Api<NatsTransportPolicy> = setup.ns.api();
    let to_deny = json!({ "spec": { "admission": "Deny" } });
    policies.patch("warn", &PatchParams::default(), &Patch::Merge(&to_deny)).await.expect("warn -> Deny");
    let scale = json!({ "spec": { "replicas": 3 } });
    let start = Instant::now();
    loop {
        // Until the operator's cache has the policy change, an env edit is still admitted.
        let edit = json!({ "spec": { "template": { "spec": { "containers": [
            { "name": "scheduler", "env": [{ "name": "NATS_URL", "value": "nats://other:4222" }] }] } } } });
        let dry = PatchParams { dry_run: true, ..Default::default() };
        if api.patch("plain-warn", &dry, &Patch::Strategic(&edit)).await.is_err() {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "the policy change never reached the webhook");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    api.patch("plain-warn", &PatchParams::default(), &Patch::Merge(&scale)).await.expect("scaling is admitted");

    // Server dry-run: the same answers, nothing stored.
    let dry = PostParams { dry_run: true, ..Default::default() };
    let d: Deployment = serde_json::from_value(deployment("dry-deny", "deny", plaintext(), json!({}))).unwrap();
    denial(api.create(&dry, &d).await);
    let d: Deployment = serde_json::from_value(deployment("dry-off", "off", plaintext(), json!({}))).unwrap();
    api.create(&dry, &d).await.expect("dry-run admitted");
    for name in ["dry-deny", "dry-off"] {
        assert!(api.get_opt(name).await.expect("get").is_none(), "dry-run stored {name}");
    }

    let denied = setup.operator.decisions("denied") - denied_before;
    assert!(denied >= 3, "natsguard_admission_reviews_total{{decision=\"denied\"}} grew by {denied}");
    assert!(setup.operator.decisions("warned") >= 1);
    let (_, metrics) = get(setup.operator.http_port, "/metrics").expect("metrics");
    assert!(metrics.contains("natsguard_admission_duration_seconds_count "), "{metrics}");
    assert!(!setup.operator.logs().contains("nats://nats"), "URLs in the log");
    setup.finish().await;
}

/// Break-glass under Deny with kubectl: owned and time-boxed is admitted with a warning naming
/// the deadline; unowned, too long, overdue and unparseable are rejected with the reason; Warn
/// prints one warning per violation; `--dry-run=server` gives the same answers.
#[tokio::test(flavor = "multi_thread")]
async fn break_glass_and_warnings_with_kubectl() {
    let setup = Setup::new("webhook-glass").await;
    let deadline = rfc3339_in(3600);

    // Owned and time-boxed: admitted, with a warning naming the deadline.
    let owned = json!({ "natsguard.io/override-owner": "oncall@example.com", "natsguard.io/rollback-by": deadline,
                        "natsguard.io/override-reason": "INC-1234" });
    let (ok, out, err) = setup.kubectl_apply(&deployment("glass", "deny", break_glass(), owned), &[]);
    assert!(ok, "{out}{err}");
    assert!(out.contains("deployment.apps/glass created"), "{out}");
    let deadline_utc: k8s_openapi::jiff::Timestamp = deadline.parse().unwrap();
    assert!(
        err.contains(&format!("Warning: natsguard \"deny\": break-glass PlaintextOverrideActive in container \"scheduler\" admitted; owner \"oncall@example.com\"; roll back by {deadline_utc}")),
        "{err}"
    );

    // The refusals, each with its reason.
    let cases = [
        ("unowned", json!({ "natsguard.io/rollback-by": deadline }), "natsguard.io/override-owner is not set"),
        (
            "too-long",
            json!({ "natsguard.io/override-owner": "oncall", "natsguard.io/rollback-by": rfc3339_in(5 * 3600) }),
            "is later than now + override.maxDuration 4h",
        ),
        (
            "overdue",
            json!({ "natsguard.io/override-owner": "oncall", "natsguard.io/rollback-by": rfc3339_in(-60) }),
            "PlaintextOverrideOverdue in container \"scheduler\": past its rollback deadline",
        ),
        (
            "unparseable",
            json!({ "natsguard.io/override-owner": "oncall", "natsguard.io/rollback-by": "next tuesday" }),
            "natsguard.io/rollback-by \"next tuesday\" is not an RFC 3339 time",
        ),
        ("no-deadline", json!({ "natsguard.io/override-owner": "oncall" }), "natsguard.io/rollback-by is not set"),
    ];
    for (name, annotations, reason) in cases {
        let (ok, out, err) = setup.kubectl_apply(&deployment(name, "deny", break_glass(), annotations), &[]);
        assert!(!ok, "{name} was admitted: {out}");
        assert!(
            err.contains(&format!(
                "admission webhook \"{WEBHOOK}\" denied the request: natsguard policy \"deny\" (admission: Deny): "
            )),
            "{name}: {err}"
        );
        assert!(err.contains(reason), "{name}: {err}");
    }
    // Mixed with another violation (no credentials): rejected even though owned and time-boxed.
    let env = json!([{ "name": "NATS_URL", "value": "nats://nats:4222" },
                     { "name": "CORDUM_NATS_ALLOW_PLAINTEXT", "value": "true" }]);
    let owned = json!({ "natsguard.io/override-owner": "oncall", "natsguard.io/rollback-by": deadline });
    let (ok, _, err) = setup.kubectl_apply(&deployment("mixed", "deny", env, owned), &[]);
    assert!(
        !ok && err.contains("AuthMissing in container") && err.contains("other violations remain (AuthMissing)"),
        "{err}"
    );

    // Warn: one warning per violation, printed by kubectl.
    let (ok, out, err) = setup.kubectl_apply(&deployment("warned", "warn", plaintext(), json!({})), &[]);
    assert!(ok, "{out}{err}");
    assert!(
        err.contains("Warning: natsguard \"warn\": PlaintextTransport in container \"scheduler\": make every NATS_URL entry tls:// with TLS settings and credentials"),
        "{err}"
    );
    assert_eq!(err.matches("Warning: natsguard").count(), 1, "{err}");
    // Off: nothing printed.
    let (ok, _, err) = setup.kubectl_apply(&deployment("quiet", "off", plaintext(), json!({})), &[]);
    assert!(ok && !err.contains("natsguard"), "{err}");

    // --dry-run=server: the same answers, nothing stored.
    let (ok, _, err) =
        setup.kubectl_apply(&deployment("dry-deny", "deny", plaintext(), json!({})), &["--dry-run=server"]);
    assert!(!ok && err.contains("PlaintextTransport"), "{err}");
    let (ok, out, err) =
        setup.kubectl_apply(&deployment("dry-warn", "warn", plaintext(), json!({})), &["--dry-run=server"]);
    assert!(ok && out.contains("(server dry run)") && err.contains("Warning: natsguard \"warn\""), "{out}{err}");
    let api = setup.deployments();
    for name in ["dry-deny", "dry-warn", "unowned", "too-long", "overdue"] {
        assert!(api.get_opt(name).await.expect("get").is_none(), "{name} was stored");
    }
    assert!(api.get_opt("glass").await.expect("get").is_some());
    setup.finish().await;
}

/// With `failurePolicy: Ignore` (the chart's default) a webhook that is gone does not block
/// anything; with `Fail` it would.
#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_webhook_is_ignored_with_the_default_failure_policy() {
    let mut setup = Setup::new("webhook-gone").await;
    setup.registration.set_failure_policy(&setup.client, "Ignore").await;
    setup.operator.stop();
    let api = setup.deployments();
    let start = Instant::now();
    // The API server may still use the previous configuration (Fail) for a moment.
    loop {
        match create(&api, deployment("plain", "deny", plaintext(), json!({}))).await {
            Ok(_) => break,
            Err(e) => {
                assert!(start.elapsed() < Duration::from_secs(15), "still rejected with the webhook gone: {e}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
    setup.finish().await;
}
