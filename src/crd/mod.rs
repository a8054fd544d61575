//! The custom resources natsguard serves (group `natsguard.io`, version `v1alpha1`).

// The CustomResource derive repeats `printcolumn(name = …, type_ = …)` keys, which this lint
// mistakes for duplicated attributes.
#[allow(clippy::duplicated_attributes)]
pub mod incident;
#[allow(clippy::duplicated_attributes)]
pub mod ledger;
#[allow(clippy::duplicated_attributes)]
pub mod policy;

pub use incident::{
    DeploymentRef, IncidentState, NatsTransportIncident, NatsTransportIncidentSpec, NatsTransportIncidentStatus,
    Resolution,
};
pub use ledger::{NatsTransportLedger, NatsTransportLedgerSpec};
pub use policy::{
    AuthRequirement, NatsTransportPolicy, NatsTransportPolicySpec, NatsTransportPolicyStatus, ProductionMode, TlsVar,
    WorkloadResult,
};

use kube::CustomResourceExt;

/// Annotation keys on a Deployment, set by whoever enables the override.
pub mod annotations {
    pub const OWNER: &str = "natsguard.io/override-owner";
    pub const REASON: &str = "natsguard.io/override-reason";
    pub const ROLLBACK_BY: &str = "natsguard.io/rollback-by";
}

/// Both CRDs as one multi-document YAML stream, exactly as committed under `crds/`.
pub fn crds_yaml() -> Result<String, serde_json::Error> {
    let mut out = String::new();
    for crd in [NatsTransportPolicy::crd(), NatsTransportIncident::crd(), NatsTransportLedger::crd()] {
        out.push_str("---\n");
        out.push_str(&to_yaml(&serde_json::to_value(&crd)?));
    }
    Ok(out)
}

/// A small, dependency-free YAML emitter for JSON values (block style, strings quoted when
/// needed). The CRDs are the only YAML natsguard writes.
fn to_yaml(v: &serde_json::Value) -> String {
    let mut out = String::new();
    emit(v, 0, &mut out);
    out
}

fn emit(v: &serde_json::Value, indent: usize, out: &mut String) {
    use serde_json::Value;
    let pad = "  ".repeat(indent);
    match v {
        Value::Object(map) if !map.is_empty() => {
            for (k, val) in map {
                out.push_str(&pad);
                out.push_str(&scalar_str(k));
                out.push(':');
                emit_child(val, indent, out);
            }
        }
        Value::Array(items) if !items.is_empty() => {
            for item in items {
                out.push_str(&pad);
                out.push('-');
                match item {
                    Value::Object(m) if !m.is_empty() => {
                        // First key on the dash line, the rest indented under it.
                        let mut first = true;
                        for (k, val) in m {
                            if first {
                                out.push(' ');
                                first = false;
                            } else {
                                out.push_str(&pad);
                                out.push_str("  ");
                            }
                            out.push_str(&scalar_str(k));
                            out.push(':');
                            emit_child(val, indent + 1, out);
                        }
                    }
                    _ => emit_child(item, indent, out),
                }
            }
        }
        other => {
            out.push_str(&pad);
            out.push_str(&scalar(other));
            out.push('\n');
        }
    }
}

fn emit_child(v: &serde_json::Value, indent: usize, out: &mut String) {
    use serde_json::Value;
    match v {
        Value::Object(m) if !m.is_empty() => {
            out.push('\n');
            emit(v, indent + 1, out);
        }
        Value::Array(a) if !a.is_empty() => {
            out.push('\n');
            emit(v, indent + 1, out);
        }
        other => {
            out.push(' ');
            out.push_str(&scalar(other));
            out.push('\n');
        }
    }
}

fn scalar(v: &serde_json::Value) -> String {
    use serde_json::Value;
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => scalar_str(s),
        Value::Array(_) => "[]".into(),
        Value::Object(_) => "{}".into(),
    }
}

/// A string as a YAML scalar: plain when that reads back as the same string, else JSON-quoted
/// (a JSON string is a valid YAML double-quoted scalar).
fn scalar_str(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '/' | ' ' | '(' | ')' | ','))
        && !s.starts_with([' ', '-'])
        && !s.ends_with(' ')
        && !s.chars().all(|c| c.is_ascii_digit() || c == '.' || c == '-')
        && !matches!(
            s.to_ascii_lowercase().as_str(),
            "true" | "false" | "yes" | "no" | "y" | "n" | "on" | "off" | "null" | "~"
        );
    if plain { s.to_owned() } else { serde_json::Value::String(s.to_owned()).to_string() }
}
