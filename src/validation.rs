//! Turning a policy spec into what the controller and the CLI use, or saying precisely what
//! is wrong with it. The API server's schema and CEL rules catch most mistakes; this catches
//! what they cannot (label selector semantics), and protects the CLI, which has no API server.

use crate::crd::NatsTransportPolicySpec;
use crate::lifecycle::Timing;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::jiff::SignedDuration;
use kube::core::{Selector, SelectorExt};
use std::collections::BTreeMap;

/// A policy spec that can be used.
#[derive(Clone, Debug)]
pub struct Compiled {
    pub selector: Selector,
    pub timing: Timing,
    pub retention: SignedDuration,
}

impl Compiled {
    /// Whether a Deployment with these labels is selected.
    pub fn selects(&self, labels: &BTreeMap<String, String>) -> bool {
        self.selector.matches(labels)
    }
}

/// What makes a policy unusable. The message names the field.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[error("spec.{field}: {problem}")]
pub struct InvalidPolicy {
    pub field: String,
    pub problem: String,
}

fn invalid(field: impl Into<String>, problem: impl Into<String>) -> InvalidPolicy {
    InvalidPolicy { field: field.into(), problem: problem.into() }
}

pub fn compile(spec: &NatsTransportPolicySpec) -> Result<Compiled, InvalidPolicy> {
    check_selector(&spec.selector)?;
    let selector = Selector::try_from(spec.selector.clone()).map_err(|e| invalid("selector", e.to_string()))?;
    let max_duration = spec.r#override.max_duration().map_err(|e| invalid("override.maxDuration", e.to_string()))?;
    let warn_before = spec.r#override.warn_before().map_err(|e| invalid("override.warnBefore", e.to_string()))?;
    if max_duration <= SignedDuration::ZERO {
        return Err(invalid("override.maxDuration", "must be longer than 0s"));
    }
    if warn_before >= max_duration {
        return Err(invalid("override.warnBefore", "must be shorter than override.maxDuration"));
    }
    let retention = spec.incidents.retention().map_err(|e| invalid("incidents.retention", e.to_string()))?;
    Ok(Compiled { selector, timing: crate::lifecycle::Timing { max_duration, warn_before }, retention })
}

/// Label selector rules as `metav1.LabelSelectorAsSelector` applies them.
fn check_selector(selector: &LabelSelector) -> Result<(), InvalidPolicy> {
    for (key, value) in selector.match_labels.iter().flatten() {
        check_key(key, &format!("selector.matchLabels[{key:?}]"))?;
        check_value(value, &format!("selector.matchLabels[{key:?}]"))?;
    }
    for (i, req) in selector.match_expressions.iter().flatten().enumerate() {
        let field = format!("selector.matchExpressions[{i}]");
        check_key(&req.key, &format!("{field}.key"))?;
        let values = req.values.as_deref().unwrap_or_default();
        match req.operator.as_str() {
            "In" | "NotIn" if values.is_empty() => {
                return Err(invalid(
                    format!("{field}.values"),
                    format!("must be non-empty for operator {}", req.operator),
                ));
            }
            "Exists" | "DoesNotExist" if !values.is_empty() => {
                return Err(invalid(format!("{field}.values"), format!("must be empty for operator {}", req.operator)));
            }
            "In" | "NotIn" | "Exists" | "DoesNotExist" => {}
            other => {
                return Err(invalid(
                    format!("{field}.operator"),
                    format!("{other:?} is not one of In, NotIn, Exists, DoesNotExist"),
                ));
            }
        }
        for v in values {
            check_value(v, &format!("{field}.values"))?;
        }
    }
    Ok(())
}

/// A qualified name: optional DNS-subdomain prefix and `/`, then a name of at most 63
/// alphanumerics, `-`, `_`, `.`, beginning and ending with an alphanumeric.
fn check_key(key: &str, field: &str) -> Result<(), InvalidPolicy> {
    let name = match key.rsplit_once('/') {
        Some((prefix, name)) => {
            let ok = !prefix.is_empty()
                && prefix.len() <= 253
                && prefix.split('.').all(|l| {
                    !l.is_empty()
                        && l.len() <= 63
                        && l.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                        && !l.starts_with('-')
                        && !l.ends_with('-')
                });
            if !ok {
                return Err(invalid(field, format!("label key prefix {prefix:?} is not a DNS subdomain")));
            }
            name
        }
        None => key,
    };
    if name.is_empty() || !is_label_value(name) {
        return Err(invalid(field, format!("{key:?} is not a valid label key")));
    }
    Ok(())
}

fn check_value(value: &str, field: &str) -> Result<(), InvalidPolicy> {
    if value.is_empty() || is_label_value(value) {
        Ok(())
    } else {
        Err(invalid(
            field,
            format!(
                "{value:?} is not a valid label value (at most 63 of A-Z a-z 0-9 - _ ., alphanumeric at both ends)"
            ),
        ))
    }
}

fn is_label_value(v: &str) -> bool {
    v.len() <= 63
        && v.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && v.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        && v.bytes().last().is_some_and(|b| b.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;

    fn spec_with(selector: LabelSelector) -> NatsTransportPolicySpec {
        NatsTransportPolicySpec { selector, ..Default::default() }
    }

    #[test]
    fn default_spec_compiles_and_selects_everything() {
        let c = compile(&NatsTransportPolicySpec::default()).unwrap();
        assert!(c.selects(&BTreeMap::new()));
        assert_eq!(c.timing.max_duration, SignedDuration::from_hours(4));
        assert_eq!(c.timing.warn_before, SignedDuration::from_mins(30));
        assert_eq!(c.retention, SignedDuration::from_hours(720));
    }

    #[test]
    fn selector_semantics_match_kubernetes() {
        let sel = LabelSelector {
            match_labels: Some([("app".to_string(), "cordum".to_string())].into()),
            match_expressions: Some(vec![LabelSelectorRequirement {
                key: "tier".into(),
                operator: "NotIn".into(),
                values: Some(vec!["dev".into()]),
            }]),
        };
        let c = compile(&spec_with(sel)).unwrap();
        let labels = |pairs: &[(&str, &str)]| pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        assert!(c.selects(&labels(&[("app", "cordum")])));
        assert!(c.selects(&labels(&[("app", "cordum"), ("tier", "prod")])));
        assert!(!c.selects(&labels(&[("app", "cordum"), ("tier", "dev")])));
        assert!(!c.selects(&labels(&[("app", "other")])));
    }

    #[test]
    fn unusable_selectors_name_the_field() {
        let req = |op: &str, values: Option<Vec<String>>| LabelSelector {
            match_expressions: Some(vec![LabelSelectorRequirement { key: "app".into(), operator: op.into(), values }]),
            ..Default::default()
        };
        let err = compile(&spec_with(req("In", None))).unwrap_err();
        assert_eq!(err.field, "selector.matchExpressions[0].values");
        let err = compile(&spec_with(req("Exists", Some(vec!["x".into()])))).unwrap_err();
        assert_eq!(err.field, "selector.matchExpressions[0].values");
        let err = compile(&spec_with(req("Like", None))).unwrap_err();
        assert_eq!(err.field, "selector.matchExpressions[0].operator");
        let bad_value = LabelSelector {
            match_labels: Some([("app".to_string(), "not a value!".to_string())].into()),
            ..Default::default()
        };
        let err = compile(&spec_with(bad_value)).unwrap_err();
        assert!(err.to_string().starts_with("spec.selector.matchLabels[\"app\"]: "), "{err}");
    }

    #[test]
    fn durations_are_checked() {
        let mut spec = NatsTransportPolicySpec::default();
        spec.r#override.warn_before = "5h".into();
        assert_eq!(compile(&spec).unwrap_err().field, "override.warnBefore");
        let mut spec = NatsTransportPolicySpec::default();
        spec.r#override.max_duration = "4 hours".into();
        assert_eq!(compile(&spec).unwrap_err().field, "override.maxDuration");
    }
}
