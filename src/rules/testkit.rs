//! Table-test helpers shared by the rule modules' tests: build a container's environment from
//! literal, Secret, ConfigMap and fieldRef entries, evaluate it under a policy, and compare the
//! finding codes.

use super::ContainerInput;
use crate::crd::policy::NatsTransportPolicySpec;
use crate::env::{self, ConfigMaps};
use crate::findings::{Code, Severity};
use crate::report::{ContainerReport, EvalContext};
use crate::workload::ContainerEnv;
use k8s_openapi::jiff::Timestamp;
use serde_json::{Value as J, json};
use std::collections::BTreeMap;

pub const NOW: &str = "2026-06-01T12:00:00Z";
pub const FUTURE: &str = "2026-06-01T16:00:00Z";
pub const PAST: &str = "2026-06-01T11:00:00Z";
pub const V: Severity = Severity::Violation;
pub const W: Severity = Severity::Warning;
pub const I: Severity = Severity::Info;

pub fn ts(s: &str) -> Timestamp {
    s.parse().expect("test timestamp")
}

pub fn lit(name: &str, value: &str) -> J {
    json!({"name": name, "value": value})
}

pub fn secret(name: &str) -> J {
    json!({"name": name, "valueFrom": {"secretKeyRef": {"name": "creds", "key": name.to_lowercase()}}})
}

pub fn from_cm(name: &str, key: &str) -> J {
    json!({"name": name, "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": key}}})
}

pub fn field(name: &str) -> J {
    json!({"name": name, "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['env']"}}})
}

pub fn prod() -> J {
    lit("CORDUM_ENV", "production")
}

pub fn staging() -> J {
    lit("CORDUM_ENV", "staging")
}

/// A token from a Secret: authenticated.
pub fn auth() -> J {
    secret("NATS_TOKEN")
}

/// A CA bundle path: the TLS env, when applied, is not empty.
pub fn ca() -> J {
    lit("NATS_TLS_CA", "/etc/nats/ca.crt")
}

fn config_maps() -> ConfigMaps {
    let mut c = ConfigMaps { complete: true, ..Default::default() };
    c.insert(
        "ns",
        "cfg",
        BTreeMap::from([
            ("token".to_string(), "cm-token-value".to_string()),
            ("url".to_string(), "tls://nats:4222".to_string()),
        ]),
    );
    c
}

/// One container to evaluate: policy, image, annotations, clock, envFrom.
pub struct Run {
    pub spec: NatsTransportPolicySpec,
    pub image: Option<String>,
    pub name: String,
    pub annotations: BTreeMap<String, String>,
    pub ctx: EvalContext,
    pub env_from: J,
}

impl Run {
    /// The Cordum scheduler image.
    pub fn scheduler() -> Self {
        Self::image("ghcr.io/cordum-io/cordum/scheduler:2.9")
    }

    pub fn image(image: &str) -> Self {
        Run {
            spec: NatsTransportPolicySpec::default(),
            image: Some(image.to_owned()),
            name: "app".into(),
            annotations: BTreeMap::new(),
            ctx: EvalContext::at(ts(NOW)),
            env_from: json!([]),
        }
    }

    pub fn annot(mut self, k: &str, v: &str) -> Self {
        self.annotations.insert(k.to_string(), v.to_string());
        self
    }

    pub fn spec(mut self, f: impl FnOnce(&mut NatsTransportPolicySpec)) -> Self {
        f(&mut self.spec);
        self
    }

    pub fn env_from(mut self, v: J) -> Self {
        self.env_from = v;
        self
    }

    pub fn run(&self, env: &[J]) -> ContainerReport {
        let c: ContainerEnv = serde_json::from_value(json!({
            "name": self.name, "image": self.image, "env": env, "envFrom": self.env_from
        }))
        .expect("test container");
        let e = env::resolve("ns", &c, &config_maps());
        let input = ContainerInput {
            name: &c.name,
            image: c.image.as_deref(),
            init: false,
            env: &e,
            annotations: &self.annotations,
        };
        super::evaluate_container(&self.spec, &input, &self.ctx)
    }
}

/// The (code, severity) pairs of a report, in report order.
pub fn codes(r: &ContainerReport) -> Vec<(Code, Severity)> {
    r.findings.iter().map(|f| (f.code, f.severity)).collect()
}

/// The message of the first finding with `code`.
pub fn msg(r: &ContainerReport, code: Code) -> &str {
    r.findings.iter().find(|f| f.code == code).map(|f| f.message.as_str()).unwrap_or_default()
}

/// Each case: (name, (env, expected codes in any order)).
pub type Cases<'a> = Vec<(&'a str, (Vec<J>, Vec<(Code, Severity)>))>;

pub fn check(run: &Run, cases: Cases<'_>) {
    for (name, (env, mut want)) in cases {
        let r = run.run(&env);
        let mut got = codes(&r);
        let key = |p: &(Code, Severity)| (std::cmp::Reverse(p.1), p.0.as_str());
        got.sort_by_key(key);
        want.sort_by_key(key);
        assert_eq!(got, want, "case {name:?}: {:#?}", r.findings);
    }
}
