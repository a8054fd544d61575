//! Writes N realistic Deployments (plus a few ConfigMaps) as one multi-document YAML stream, for
//! benchmarking `natsguard check`. Deterministic: the same N gives the same bytes.
//!
//! Usage: `cargo run --release --example gen_manifests -- N [OUT]` (OUT defaults to stdout).
//!
//! The mix: TLS from a ConfigMap or literal (compliant), plaintext in production (violation),
//! the break-glass override with incident annotations (some overdue), URLs from ConfigMaps,
//! inline passwords, non-production plaintext, init containers and sidecars.

use std::io::{self, BufWriter, Write};

const CONFIGMAPS: usize = 20;

fn main() -> io::Result<()> {
    let mut args = std::env::args().skip(1);
    let n: usize = match args.next().map(|a| a.parse()) {
        Some(Ok(n)) => n,
        _ => {
            eprintln!("usage: gen_manifests N [OUT]");
            std::process::exit(2);
        }
    };
    let out: Box<dyn Write> = match args.next() {
        Some(p) if p != "-" => Box::new(std::fs::File::create(p)?),
        _ => Box::new(io::stdout().lock()),
    };
    let mut w = BufWriter::with_capacity(1 << 20, out);
    for i in 0..CONFIGMAPS {
        let ns = namespace(i);
        let scheme = if i % 4 == 0 { "nats" } else { "tls" };
        writeln!(
            w,
            "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: nats-config-{i}\n  namespace: {ns}\n  labels:\n    app.kubernetes.io/part-of: cordum\ndata:\n  NATS_URL: \"{scheme}://nats-{i}.nats.svc:4222,{scheme}://nats-{i}-b.nats.svc:4222\"\n  NATS_TLS_CA: /etc/nats/ca.crt\n  CORDUM_ENV: production"
        )?;
    }
    for i in 0..n {
        deployment(&mut w, i)?;
    }
    w.flush()
}

fn namespace(i: usize) -> &'static str {
    ["cordum-prod", "cordum-staging", "payments", "ops"][i % 4]
}

fn deployment(w: &mut impl Write, i: usize) -> io::Result<()> {
    let ns = namespace(i);
    let app = ["scheduler", "gateway", "worker", "audit", "billing"][i % 5];
    let variant = i % 20;
    let prod = variant != 19;
    let mut annotations = String::new();
    let mut env = String::new();
    let mut env_from = String::new();
    let cm = i % CONFIGMAPS;
    match variant {
        // TLS, literal URL, credentials from a Secret: compliant.
        0..=6 => {
            env.push_str(&format!(
                "        - name: NATS_URL\n          value: tls://nats.{ns}.svc:4222\n        - name: NATS_TLS_CA\n          value: /etc/nats/tls/ca.crt\n        - name: NATS_TLS_CERT\n          value: /etc/nats/tls/tls.crt\n        - name: NATS_TLS_KEY\n          value: /etc/nats/tls/tls.key\n        - name: NATS_USERNAME\n          value: {app}\n        - name: NATS_PASSWORD\n          valueFrom:\n            secretKeyRef:\n              name: {app}-nats\n              key: password\n"
            ));
        }
        // URL from a ConfigMap key (some of them plaintext).
        7..=9 => {
            env.push_str(&format!(
                "        - name: NATS_URL\n          valueFrom:\n            configMapKeyRef:\n              name: nats-config-{cm}\n              key: NATS_URL\n        - name: NATS_TOKEN\n          valueFrom:\n            secretKeyRef:\n              name: {app}-nats\n              key: token\n"
            ));
        }
        // Whole environment from a ConfigMap with envFrom.
        10..=11 => {
            env_from.push_str(&format!(
                "        envFrom:\n        - configMapRef:\n            name: nats-config-{cm}\n        - secretRef:\n            name: {app}-nats\n"
            ));
        }
        // Plaintext in production: violation.
        12..=13 => {
            env.push_str(&format!(
                "        - name: NATS_URL\n          value: nats://nats.{ns}.svc:4222\n        - name: NATS_NKEY\n          valueFrom:\n            secretKeyRef:\n              name: {app}-nats\n              key: nkey\n"
            ));
        }
        // Inline password (and a plaintext URL with the userinfo in it).
        14..=15 => {
            env.push_str(&format!(
                "        - name: NATS_URL\n          value: tls://nats.{ns}.svc:4222\n        - name: NATS_USERNAME\n          value: {app}\n        - name: NATS_PASSWORD\n          value: s3cr3t-{i}\n"
            ));
        }
        // Break-glass override, with incident annotations; odd ones are overdue.
        16..=18 => {
            let by = if i.is_multiple_of(2) { "2999-01-01T00:00:00Z" } else { "2020-01-01T00:00:00Z" };
            annotations.push_str(&format!(
                "  annotations:\n    natsguard.io/override-owner: oncall-{app}@example.com\n    natsguard.io/override-reason: INC-{i} broker certificate rotation\n    natsguard.io/rollback-by: \"{by}\"\n"
            ));
            env.push_str(&format!(
                "        - name: NATS_URL\n          value: nats://nats.{ns}.svc:4222\n        - name: CORDUM_NATS_ALLOW_PLAINTEXT\n          value: \"true\"\n        - name: NATS_TOKEN\n          valueFrom:\n            secretKeyRef:\n              name: {app}-nats\n              key: token\n"
            ));
        }
        // Not production, plaintext: fine.
        _ => {
            env.push_str(&format!("        - name: NATS_URL\n          value: nats://nats.{ns}.svc:4222\n"));
        }
    }
    let env_name = if prod { "production" } else { "development" };
    write!(
        w,
        r#"---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: cordum-{app}-{i}
  namespace: {ns}
  labels:
    app.kubernetes.io/name: cordum-{app}
    app.kubernetes.io/instance: cordum-{app}-{i}
    app.kubernetes.io/part-of: cordum
    app.kubernetes.io/managed-by: Helm
    helm.sh/chart: cordum-1.{v}.0
{annotations}spec:
  replicas: 3
  revisionHistoryLimit: 5
  selector:
    matchLabels:
      app.kubernetes.io/name: cordum-{app}
      app.kubernetes.io/instance: cordum-{app}-{i}
  strategy:
    type: RollingUpdate
    rollingUpdate:
      maxSurge: 25%
      maxUnavailable: 0
  template:
    metadata:
      labels:
        app.kubernetes.io/name: cordum-{app}
        app.kubernetes.io/instance: cordum-{app}-{i}
      annotations:
        prometheus.io/scrape: "true"
        prometheus.io/port: "9090"
    spec:
      serviceAccountName: cordum-{app}
      securityContext:
        runAsNonRoot: true
        runAsUser: 10001
        fsGroup: 10001
      initContainers:
      - name: wait-for-nats
        image: busybox:1.36
        command: ["sh", "-c", "until nc -z nats 4222; do sleep 1; done"]
      containers:
      - name: {app}
        image: registry.example.com/cordum/{app}:1.{v}.3
        imagePullPolicy: IfNotPresent
        args: ["--config", "/etc/cordum/config.yaml", "--log-level", "info"]
        ports:
        - name: http
          containerPort: 8080
          protocol: TCP
        - name: metrics
          containerPort: 9090
          protocol: TCP
{env_from}        env:
        - name: CORDUM_ENV
          value: {env_name}
        - name: POD_NAME
          valueFrom:
            fieldRef:
              fieldPath: metadata.name
        - name: GOMAXPROCS
          valueFrom:
            resourceFieldRef:
              resource: limits.cpu
{env}        resources:
          requests:
            cpu: 100m
            memory: 128Mi
          limits:
            cpu: "1"
            memory: 512Mi
        readinessProbe:
          httpGet:
            path: /readyz
            port: http
          periodSeconds: 10
        livenessProbe:
          httpGet:
            path: /healthz
            port: http
          initialDelaySeconds: 10
        volumeMounts:
        - name: nats-tls
          mountPath: /etc/nats/tls
          readOnly: true
        - name: config
          mountPath: /etc/cordum
      - name: log-shipper
        image: fluent/fluent-bit:3.0
        resources:
          requests:
            cpu: 10m
            memory: 32Mi
      volumes:
      - name: nats-tls
        secret:
          secretName: {app}-nats-tls
      - name: config
        configMap:
          name: cordum-{app}-config
"#,
        v = i % 7,
    )
}
