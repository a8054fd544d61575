#!/usr/bin/env bash
# The chart and the binary agree: run the real `natsguard` with exactly the command line and
# environment the chart's Deployment gives it, *as the chart's ServiceAccount with only the chart's
# RBAC* (a token from the TokenRequest API), as a local process against the control plane since
# there is no kubelet, and check what the Deployment relies on:
#   - it starts with those args (--http-addr, --log-format, --namespace, --leader-election,
#     --leader-election-namespace), RUST_LOG, and POD_NAME/POD_NAMESPACE as the downward API sets them;
#   - with the chart's Lease Role it takes the `natsguard` Lease in the release namespace as POD_NAME
#     (natsguard_leader 1), and releases it on SIGTERM;
#   - the least-privilege RBAC is enough: it reconciles a policy in the watched namespace (status
#     written, violation counted in /metrics, an Event emitted) and nothing is forbidden;
#   - --namespace scopes it: a policy in another namespace is left alone;
#   - the liveness and readiness probe paths answer 200 on the chart's port (readiness once synced);
#   - /metrics declares the natsguard_* metrics the PrometheusRule alerts use;
#   - the admission webhook (--webhook-addr, --webhook-tls-dir) serves HTTPS with the chart-generated
#     certificate (the rendered Secret, written where the Deployment mounts it), verified with the
#     rendered caBundle for the Service name the registration calls, and answers an AdmissionReview;
#   - SIGTERM (what the kubelet sends) makes it exit 0 within the chart's terminationGracePeriodSeconds.
#
#   KUBECONFIG=... NATSGUARD_BIN=target/debug/natsguard hack/test-chart-binary.sh
#
# NATSGUARD_BIN defaults to target/debug/natsguard (built by `cargo test`). Fails, never skips, when
# the binary or the control plane is missing. The process it starts is stopped by pid on exit; the
# objects it creates (ServiceAccount, Role, RoleBinding, policies, a Deployment) are deleted on exit.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"
bin="${NATSGUARD_BIN:-$repo_root/target/debug/natsguard}"
ns=natsguard-chart-test
other_ns=natsguard-chart-test-unwatched
release=natsguard-binary-test
suite=test-chart-binary
# shellcheck source=hack/lib/testing.sh
. "$repo_root/hack/lib/testing.sh"
require_apiserver
[ -x "$bin" ] || die "no natsguard binary at $bin (cargo build, or set NATSGUARD_BIN)"
command -v curl >/dev/null || die "curl is required"

work="$(mktemp -d "${TMPDIR:-/tmp}/natsguard-chart-binary.XXXXXX")"
[ -d "$work" ] || die "mktemp failed"
pid=""
cleanup() {
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
  "$kubectl" -n "$ns" delete deploy/binary-test-plaintext ntp/binary-test --ignore-not-found --wait=false >/dev/null 2>&1 || true
  "$kubectl" -n "$ns" delete nti --all --ignore-not-found --wait=false >/dev/null 2>&1 || true
  "$kubectl" -n "$other_ns" delete ntp/binary-test-unwatched --ignore-not-found --wait=false >/dev/null 2>&1 || true
  "$kubectl" -n "$ns" delete lease/natsguard --ignore-not-found --wait=false >/dev/null 2>&1 || true
  if [ -e "$work/rbac.yaml" ]; then
    "$kubectl" delete -f "$work/rbac.yaml" --ignore-not-found --wait=false >/dev/null 2>&1 || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

# A free loopback port, so the test never collides with anything else on the machine.
port=""
for _ in $(seq 1 50); do
  p=$((20000 + RANDOM % 20000))
  if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
    port=$p
    break
  fi
done
[ -n "$port" ] || die "no free port found"
wport=""
for _ in $(seq 1 50); do
  p=$((20000 + RANDOM % 20000))
  if [ "$p" != "$port" ] && ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
    wport=$p
    break
  fi
done
[ -n "$wport" ] || die "no free port found for the webhook"

"$kubectl" apply --server-side --force-conflicts --field-manager=natsguard-chart-binary-test \
  -f crds/natsguard.io.yaml >/dev/null || die "the API server rejected crds/natsguard.io.yaml"
"$kubectl" wait --for=condition=Established --timeout=60s \
  crd/natstransportpolicies.natsguard.io crd/natstransportincidents.natsguard.io >/dev/null
for n in "$ns" "$other_ns"; do
  "$kubectl" create namespace "$n" --dry-run=client -o yaml |
    "$kubectl" apply --server-side --field-manager=natsguard-chart-binary-test -f - >/dev/null
done

step "applying the chart's ServiceAccount and namespaced RBAC (release $release, watchNamespaces={$ns})"
"$repo_root/hack/helm.sh" template "$release" charts/natsguard --namespace "$ns" --set "watchNamespaces={$ns}" \
  --show-only templates/serviceaccount.yaml --show-only templates/rbac.yaml >"$work/rbac.yaml"
"$kubectl" apply --server-side --field-manager=natsguard-chart-binary-test -f "$work/rbac.yaml" >/dev/null
token=$("$kubectl" -n "$ns" create token "$release" --duration=20m) || die "cannot get a token for the ServiceAccount"
server=$("$kubectl" config view --raw --minify -o jsonpath='{.clusters[0].cluster.server}')
ca=$("$kubectl" config view --raw --minify -o jsonpath='{.clusters[0].cluster.certificate-authority-data}')
[ -n "$server" ] && [ -n "$ca" ] || die "cannot read the server and CA from $KUBECONFIG"
umask 077
printf '%s\n' \
  "apiVersion: v1" "kind: Config" \
  "clusters: [{name: cp, cluster: {server: \"$server\", certificate-authority-data: \"$ca\"}}]" \
  "users: [{name: sa, user: {token: \"$token\"}}]" \
  "contexts: [{name: sa, context: {cluster: cp, user: sa, namespace: $ns}}]" \
  "current-context: sa" >"$work/kubeconfig"
umask 022
if KUBECONFIG="$work/kubeconfig" "$kubectl" get secrets -n "$ns" >/dev/null 2>&1; then
  fail "the ServiceAccount can read Secrets"
else pass "the ServiceAccount cannot read Secrets"; fi

step "a policy and a plaintext production Deployment in $ns, a policy in unwatched $other_ns"
# Events of earlier runs would satisfy the Event check; start from none.
"$kubectl" -n "$ns" delete events.events.k8s.io --all >/dev/null 2>&1 || true
cat >"$work/objects.yaml" <<'YAML'
apiVersion: natsguard.io/v1alpha1
kind: NatsTransportPolicy
metadata:
  name: binary-test
  namespace: NS
spec:
  selector:
    matchLabels:
      natsguard.io/test: chart-binary
---
apiVersion: natsguard.io/v1alpha1
kind: NatsTransportPolicy
metadata:
  name: binary-test-unwatched
  namespace: OTHER_NS
spec:
  selector: {}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: binary-test-plaintext
  namespace: NS
  labels:
    natsguard.io/test: chart-binary
spec:
  replicas: 1
  selector:
    matchLabels:
      app: binary-test-plaintext
  template:
    metadata:
      labels:
        app: binary-test-plaintext
    spec:
      securityContext:
        runAsNonRoot: true
        seccompProfile:
          type: RuntimeDefault
      containers:
        - name: scheduler
          image: example.invalid/cordum-scheduler:1
          securityContext:
            allowPrivilegeEscalation: false
            capabilities:
              drop: ["ALL"]
          env:
            - name: CORDUM_ENV
              value: production
            - name: NATS_URL
              value: nats://nats:4222
YAML
sed -i "s/namespace: OTHER_NS/namespace: $other_ns/; s/namespace: NS\$/namespace: $ns/" "$work/objects.yaml"
"$kubectl" apply --server-side --field-manager=natsguard-chart-binary-test -f "$work/objects.yaml" >/dev/null

step "rendering the Deployment (httpPort=$port, webhook.port=$wport, watchNamespaces={$ns}, logFormat=json, logLevel=debug)"
render_args=(--namespace "$ns" --set httpPort="$port" --set webhook.port="$wport" --set "watchNamespaces={$ns}"
  --set logFormat=json --set logLevel=debug)
"$repo_root/hack/helm.sh" template natsguard charts/natsguard "${render_args[@]}" \
  --show-only templates/deployment.yaml >"$work/deployment.yaml"
# The Secret and the registration come from one rendering (each rendering generates a new CA), without
# watchNamespaces: watching only the release namespace registers nothing.
"$repo_root/hack/helm.sh" template natsguard charts/natsguard --namespace "$ns" --set webhook.port="$wport" \
  --show-only templates/webhook.yaml >"$work/webhook.yaml"
# The container's args and RUST_LOG, read from the rendering (one `- arg` per line under `args:`).
mapfile -t args < <(awk '/^ *args:$/ { on = 1; next } on && /^ *- / { sub(/^ *- /, ""); print; next } on { exit }' "$work/deployment.yaml")
rust_log=$(awk '/- name: RUST_LOG/ { getline; sub(/^ *value: /, ""); gsub(/"/, ""); print; exit }' "$work/deployment.yaml")
grace=$(awk '/terminationGracePeriodSeconds:/ { print $2; exit }' "$work/deployment.yaml")
# The downward API: POD_NAME is the pod's name, POD_NAMESPACE the release namespace.
downward() { awk -v env="$1" '$0 ~ "- name: " env "$" { getline; getline; getline; sub(/^ *fieldPath: /, ""); print; exit }' "$work/deployment.yaml"; }
[ "$(downward POD_NAME)" = metadata.name ] && pass "POD_NAME comes from metadata.name" || fail "POD_NAME is not the downward API's metadata.name"
[ "$(downward POD_NAMESPACE)" = metadata.namespace ] && pass "POD_NAMESPACE comes from metadata.namespace" ||
  fail "POD_NAMESPACE is not the downward API's metadata.namespace"
pod_name=natsguard-binary-test-7d9c5-x2x4q
live=$(awk '/livenessProbe:/ { f = 1 } f && /path:/ { print $2; exit }' "$work/deployment.yaml")
ready=$(awk '/readinessProbe:/ { f = 1 } f && /path:/ { print $2; exit }' "$work/deployment.yaml")
[ "${#args[@]}" -ge 2 ] || die "could not read the container args from the rendered Deployment"

# The webhook's certificate: the rendered Secret's files, where the Deployment mounts them (here a
# local directory standing in for the kubelet's volume).
mount=$(awk '/- name: webhook-tls$/ { getline; sub(/^ *mountPath: /, ""); print; exit }' "$work/deployment.yaml")
tls_arg=""
for i in "${!args[@]}"; do
  case "${args[$i]}" in --webhook-tls-dir=*) tls_arg=${args[$i]#--webhook-tls-dir=}; args[$i]="--webhook-tls-dir=$work/webhook-tls" ;; esac
done
if [ -n "$mount" ] && [ "$tls_arg" = "$mount" ]; then pass "--webhook-tls-dir is the Secret's mount path ($mount)"; else
  fail "--webhook-tls-dir '$tls_arg' is not the webhook-tls mount path '$mount'"
fi
mkdir -p "$work/webhook-tls"
secret_field() { awk -v k="$1" '/^kind: Secret$/ { s = 1 } s && $1 == k":" { print $2; exit }' "$work/webhook.yaml" | base64 -d; }
for f in tls.crt tls.key ca.crt; do secret_field "$f" >"$work/webhook-tls/$f"; done
cabundle=$(awk '/caBundle:/ { print $2; exit }' "$work/webhook.yaml" | base64 -d)
if [ -n "$cabundle" ] && [ "$cabundle" = "$(cat "$work/webhook-tls/ca.crt")" ]; then pass "the registration's caBundle is the Secret's CA"; else
  fail "the caBundle differs from the Secret's ca.crt"
fi
service=$(awk '/^kind: ValidatingWebhookConfiguration$/ { v = 1 } v && /service:/ { getline; sub(/^ *name: /, ""); print; exit }' "$work/webhook.yaml")
step "command line: natsguard ${args[*]} (RUST_LOG=$rust_log, POD_NAME=$pod_name, POD_NAMESPACE=$ns, as ServiceAccount $ns/$release)"

KUBECONFIG="$work/kubeconfig" RUST_LOG="$rust_log" POD_NAME="$pod_name" POD_NAMESPACE="$ns" \
  "$bin" "${args[@]}" >"$work/stdout" 2>"$work/stderr" &
pid=$!

step "waiting up to 60 s for $ready on :$port"
ok=no
for _ in $(seq 1 120); do
  if ! kill -0 "$pid" 2>/dev/null; then break; fi
  if [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port$ready")" = 200 ]; then
    ok=yes
    break
  fi
  sleep 0.5
done
if [ "$ok" = yes ]; then pass "readiness probe $ready answers 200"; else
  tail -n 20 "$work/stderr" "$work/stdout" >&2 || true
  fail "readiness probe $ready never answered 200 (process alive: $(kill -0 "$pid" 2>/dev/null && echo yes || echo no))"
fi
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port$live" || true)
if [ "$code" = 200 ]; then pass "liveness probe $live answers 200"; else fail "liveness probe $live answered $code"; fi

step "the admission webhook on :$wport, as the API server calls $service.$ns.svc"
review='{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"d1e5c2a0-0000-4000-8000-000000000001",
"kind":{"group":"apps","version":"v1","kind":"Deployment"},"resource":{"group":"apps","version":"v1","resource":"deployments"},
"name":"x","namespace":"'"$ns"'","operation":"CREATE","userInfo":{"username":"test"},
"object":{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"x","namespace":"'"$ns"'"},"spec":{"template":{"spec":{"containers":[{"name":"c"}]}}}}}}'
answer=$(curl -sS --max-time 5 --cacert "$work/webhook-tls/ca.crt" --resolve "$service.$ns.svc:$wport:127.0.0.1" \
  -H 'content-type: application/json' --data "$review" "https://$service.$ns.svc:$wport/validate" 2>&1 || true)
if [[ $answer == *'"uid":"d1e5c2a0-0000-4000-8000-000000000001"'* && $answer == *'"allowed":true'* ]]; then
  pass "HTTPS with the chart-generated certificate (verified for the Service name) answers the AdmissionReview"
else fail "the webhook did not answer over HTTPS with the chart's certificate: $answer"; fi

step "waiting up to 30 s for the policy in $ns to be reconciled (status written as the ServiceAccount)"
gen=""
for _ in $(seq 1 60); do
  gen=$("$kubectl" -n "$ns" get ntp binary-test -o jsonpath='{.status.observedGeneration}' 2>/dev/null || true)
  [ -n "$gen" ] && break
  sleep 0.5
done
if [ -n "$gen" ]; then pass "policy status written (observedGeneration $gen)"; else fail "the policy in $ns was never reconciled"; fi
viol=$("$kubectl" -n "$ns" get ntp binary-test -o jsonpath='{.status.violations}' 2>/dev/null || true)
if [ "${viol:-0}" -ge 1 ] 2>/dev/null; then pass "the plaintext Deployment is counted as a violation ($viol)"; else
  fail "status.violations is '${viol}', want >= 1"
fi
reasons=""
for _ in $(seq 1 20); do
  reasons=$("$kubectl" -n "$ns" get events.events.k8s.io -o jsonpath='{range .items[*]}{.reason}{"\n"}{end}' 2>/dev/null || true)
  grep -qx PlaintextTransport <<<"$reasons" && break
  sleep 0.5
done
if grep -qx PlaintextTransport <<<"$reasons"; then pass "a PlaintextTransport Event was emitted (events.k8s.io RBAC suffices)"; else
  fail "no PlaintextTransport Event in $ns (reasons: $(tr '\n' ' ' <<<"$reasons"))"
fi
other=$("$kubectl" -n "$other_ns" get ntp binary-test-unwatched -o jsonpath='{.status.observedGeneration}' 2>/dev/null || true)
if [ -z "$other" ]; then pass "the policy in unwatched $other_ns was left alone"; else
  fail "the policy in unwatched $other_ns was reconciled (--namespace not honoured)"
fi
if grep -qi 'forbidden' "$work/stderr" "$work/stdout"; then
  grep -i -m3 'forbidden' "$work/stderr" "$work/stdout" >&2 || true
  fail "the operator hit 'forbidden' with the chart's RBAC"
else pass "no 'forbidden' in the operator's log"; fi

holder=$("$kubectl" -n "$ns" get lease natsguard -o jsonpath='{.spec.holderIdentity}' 2>/dev/null || true)
if [ "$holder" = "$pod_name" ]; then pass "it holds the Lease $ns/natsguard as POD_NAME (the chart's Lease Role suffices)"; else
  fail "Lease $ns/natsguard is held by '$holder', want $pod_name"
fi
curl -s "http://127.0.0.1:$port/metrics" >"$work/metrics" || true
if grep -q '^natsguard_leader 1$' "$work/metrics"; then pass "natsguard_leader 1"; else fail "natsguard_leader is not 1 on the only replica"; fi
for m in natsguard_leader natsguard_reconcile_total natsguard_reconcile_duration_seconds natsguard_reconcile_errors_total \
  natsguard_admission_duration_seconds natsguard_admission_reviews_total natsguard_incidents_open \
  natsguard_incidents_overdue natsguard_incident_rollback_deadline_seconds \
  natsguard_policy_violations; do
  if grep -q "^# TYPE $m " "$work/metrics"; then pass "/metrics declares $m"; else fail "/metrics does not declare $m"; fi
done
if grep -q "^natsguard_policy_violations{namespace=\"$ns\",policy=\"binary-test\"} [1-9]" "$work/metrics"; then
  pass "/metrics counts the policy's violations"
else fail "/metrics has no violation count for $ns/binary-test"; fi

if grep -q '^{' "$work/stdout" "$work/stderr" 2>/dev/null; then pass "--log-format=json gives JSON log lines"; else
  fail "no JSON log line with --log-format=json"
fi

step "SIGTERM: must exit 0 within ${grace}s"
if kill -0 "$pid" 2>/dev/null; then
  kill -TERM "$pid"
  start=$SECONDS
  while kill -0 "$pid" 2>/dev/null && [ $((SECONDS - start)) -lt "$grace" ]; do sleep 0.2; done
  if kill -0 "$pid" 2>/dev/null; then
    fail "still running ${grace}s after SIGTERM (the kubelet would SIGKILL it)"
  else
    rc=0
    wait "$pid" || rc=$?
    if [ "$rc" = 0 ]; then pass "exited 0 after SIGTERM in $((SECONDS - start))s"; else fail "exit status $rc after SIGTERM"; fi
    holder=$("$kubectl" -n "$ns" get lease natsguard -o jsonpath='{.spec.holderIdentity}' 2>/dev/null || true)
    if [ -z "$holder" ]; then pass "the Lease was released on SIGTERM"; else fail "the Lease is still held by '$holder' after exit"; fi
  fi
  pid=""
else
  fail "the process had already exited"
fi

if [ "$failures" -gt 0 ]; then
  step "$failures check(s) failed"
  exit 1
fi
step "the chart's command line, RBAC, probes, metrics and shutdown match the binary"
