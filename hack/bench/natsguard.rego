# The cordum profile's main rules in Rego, for comparing `opa eval` with `natsguard check` on the
# same Deployments (hack/bench-check.sh, docs/ci.md "How fast"). Input: a `kind: List` of
# Deployments as JSON (`kubectl get deploy -o json`). Five rules, over every init container and
# container:
#   PlaintextTransport       production, the start-up gate refuses the URL (not every entry
#                            tls://), no entry encrypts (tls:// or wss://), no plaintext override
#   PlaintextOverrideActive  production, the gate refuses the URL, CORDUM_NATS_ALLOW_PLAINTEXT truthy
#   SecretInPlainEnv         NATS_PASSWORD or NATS_TOKEN given as a literal non-blank value
#   AuthMissing              production, no username+password, token, nkey or client certificate,
#                            CORDUM_NATS_ALLOW_NOAUTH not truthy
#   TLSSettingsIgnored       a NATS_TLS_* path set while the gate refuses the URL
# Simpler than natsguard on purpose (in OPA's favour): literal `env` values only — no envFrom, no
# ConfigMap lookups, no $(VAR) expansion, no URL parsing, no client roles by image.
package natsguard.check

import rego.v1

truthy(v) if lower(trim_space(v)) in {"1", "true", "yes", "y", "on"}

pod(d) := d.spec.template.spec

containers(d) := array.concat(object.get(pod(d), "initContainers", []), object.get(pod(d), "containers", []))

literal(c, name) := v if {
	some e in object.get(c, "env", [])
	e.name == name
	v := e.value
}

present(c, name) if {
	some e in object.get(c, "env", [])
	e.name == name
	e.valueFrom
}

present(c, name) if trim_space(literal(c, name)) != ""

# A literal override variable that is truthy. (A helper, because `not truthy(literal(…))` would
# be undefined, not true, when the variable is absent.)
enabled(c, name) if truthy(literal(c, name))

production(c) if enabled(c, "CORDUM_PRODUCTION")

production(c) if lower(trim_space(literal(c, "CORDUM_ENV"))) in {"production", "prod"}

declared(c, name) if {
	some e in object.get(c, "env", [])
	e.name == name
}

url(c) := literal(c, "NATS_URL")

url(c) := "nats://nats:4222" if not declared(c, "NATS_URL")

gate_passes(u) if every e in split(u, ",") {
	startswith(lower(trim_space(e)), "tls://")
}

encrypts(u) if {
	some e in split(u, ",")
	s := lower(trim_space(e))
	regex.match(`^(tls|wss)://`, s)
}

authenticated(c) if {
	present(c, "NATS_USERNAME")
	present(c, "NATS_PASSWORD")
}

authenticated(c) if present(c, "NATS_TOKEN")

authenticated(c) if present(c, "NATS_NKEY")

authenticated(c) if {
	present(c, "NATS_TLS_CERT")
	present(c, "NATS_TLS_KEY")
}

finding(d, c, code) := {"namespace": object.get(d.metadata, "namespace", ""), "name": d.metadata.name, "container": c.name, "code": code}

findings contains f if {
	some d in input.items
	some c in containers(d)
	production(c)
	u := url(c)
	not gate_passes(u)
	not encrypts(u)
	not enabled(c, "CORDUM_NATS_ALLOW_PLAINTEXT")
	f := finding(d, c, "PlaintextTransport")
}

findings contains f if {
	some d in input.items
	some c in containers(d)
	production(c)
	not gate_passes(url(c))
	enabled(c, "CORDUM_NATS_ALLOW_PLAINTEXT")
	f := finding(d, c, "PlaintextOverrideActive")
}

findings contains f if {
	some d in input.items
	some c in containers(d)
	some name in ["NATS_PASSWORD", "NATS_TOKEN"]
	trim_space(literal(c, name)) != ""
	f := finding(d, c, "SecretInPlainEnv")
}

findings contains f if {
	some d in input.items
	some c in containers(d)
	production(c)
	declared(c, "NATS_URL")
	not authenticated(c)
	not enabled(c, "CORDUM_NATS_ALLOW_NOAUTH")
	f := finding(d, c, "AuthMissing")
}

findings contains f if {
	some d in input.items
	some c in containers(d)
	not gate_passes(url(c))
	some name in ["NATS_TLS_CA", "NATS_TLS_CERT", "NATS_TLS_KEY", "NATS_TLS_SERVER_NAME"]
	present(c, name)
	f := finding(d, c, "TLSSettingsIgnored")
}
