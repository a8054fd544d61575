//! Whether a container runs in production (docs/reference.md, "Production"): `CORDUM_PRODUCTION`
//! truthy, or `CORDUM_ENV` (trimmed, lower-cased) one of the policy's values (`production`,
//! `prod`); or the policy decides (`production: Always|Never`).

use super::vars::{Out, State};
use crate::crd::policy::{NatsTransportPolicySpec, ProductionMode};
use crate::env::EffectiveEnv;
use crate::findings::{Code, Severity};

/// Production per the policy; `None` (with an `Indeterminate` finding) when it cannot be told.
pub fn decide(spec: &NatsTransportPolicySpec, env: &EffectiveEnv, out: &mut Out<'_>) -> Option<bool> {
    let e = &spec.environment;
    match e.production {
        ProductionMode::Always => return Some(true),
        ProductionMode::Never => return Some(false),
        ProductionMode::Auto => {}
    }
    let env_state = State::of(env, &e.env_var);
    let by_env = match env_state {
        State::Unset => Some(false),
        State::Known(s) => {
            let v = s.trim().to_lowercase();
            Some(e.values.iter().any(|p| p.trim().to_lowercase() == v))
        }
        State::Unknown(_) | State::Maybe(_) => None,
    };
    let flag_state = State::of(env, &e.flag_var);
    let by_flag = flag_state.truthy();
    match (by_env, by_flag) {
        (Some(true), _) | (_, Some(true)) => Some(true),
        (Some(false), Some(false)) => Some(false),
        _ => {
            let mut why = Vec::new();
            if by_env.is_none() {
                why.push(env_state.why_unreadable(&e.env_var));
            }
            if by_flag.is_none() {
                why.push(flag_state.why_unreadable(&e.flag_var));
            }
            out.push(
                Code::Indeterminate,
                Severity::Warning,
                format!(
                    "cannot tell whether the workload runs in production: {}; set {} and {} from a literal value or a ConfigMap, or set the policy's environment.production to Always or Never",
                    why.join("; "),
                    e.env_var,
                    e.flag_var
                ),
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkit::*;
    use crate::crd::policy::ProductionMode;
    use crate::findings::Code::*;

    #[test]
    fn production_is_read_from_the_environment() {
        // docs/reference.md, "Production": every example.
        for (env, want) in [
            (vec![lit("CORDUM_ENV", "production")], Some(true)),
            (vec![lit("CORDUM_ENV", "prod")], Some(true)),
            (vec![lit("CORDUM_ENV", " PROD ")], Some(true)),
            (vec![lit("CORDUM_ENV", "Production")], Some(true)),
            (vec![lit("CORDUM_ENV", "staging")], Some(false)),
            (vec![lit("CORDUM_ENV", "production-eu")], Some(false)),
            (vec![lit("CORDUM_ENV", "")], Some(false)),
            (vec![lit("CORDUM_PRODUCTION", "true")], Some(true)),
            (vec![lit("CORDUM_PRODUCTION", " Y ")], Some(true)),
            (vec![lit("CORDUM_PRODUCTION", "on")], Some(true)),
            (vec![lit("CORDUM_PRODUCTION", "enabled")], Some(false)),
            (vec![lit("CORDUM_PRODUCTION", "0"), lit("CORDUM_ENV", "prod")], Some(true)),
            (vec![lit("CORDUM_ENV", "dev"), lit("CORDUM_PRODUCTION", "1")], Some(true)),
            (vec![], Some(false)),
            (vec![secret("CORDUM_ENV")], None),
            (vec![secret("CORDUM_ENV"), lit("CORDUM_PRODUCTION", "yes")], Some(true)),
            (vec![field("CORDUM_ENV")], None),
        ] {
            let r = Run::scheduler().run(&env);
            assert_eq!(r.production, want, "{env:?}");
            assert_eq!(
                r.findings.iter().any(|f| f.code == Indeterminate),
                want.is_none(),
                "{env:?}: {:#?}",
                r.findings
            );
        }
    }

    #[test]
    fn the_policy_can_decide() {
        let always = Run::scheduler().spec(|s| s.environment.production = ProductionMode::Always);
        assert_eq!(always.run(&[lit("CORDUM_ENV", "dev")]).production, Some(true));
        // Always: the production-only findings are raised whatever the workload says.
        let r = always.run(&[lit("CORDUM_ENV", "dev"), auth(), lit("NATS_URL", "nats://n")]);
        assert_eq!(codes(&r), vec![(PlaintextTransport, super::super::testkit::V)]);
        let never = Run::scheduler().spec(|s| s.environment.production = ProductionMode::Never);
        let r = never.run(&[prod(), lit("NATS_URL", "nats://n"), lit("CORDUM_NATS_ALLOW_PLAINTEXT", "bogus")]);
        assert_eq!(codes(&r), vec![], "outside production the refusals and override findings are not raised");
        assert_eq!(never.run(&[lit("CORDUM_ENV", "production")]).production, Some(false));
        let renamed = Run::scheduler().spec(|s| {
            s.environment.env_var = "STAGE".into();
            s.environment.values = vec!["live".into()];
        });
        assert_eq!(renamed.run(&[lit("STAGE", "LIVE")]).production, Some(true));
        assert_eq!(renamed.run(&[lit("CORDUM_ENV", "production")]).production, Some(false));
    }
}
