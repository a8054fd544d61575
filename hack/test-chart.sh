#!/usr/bin/env bash
# Test the Helm chart: lint, render with default and non-default values, check what the renderings
# contain, then have the real API server accept every rendered object (server-side apply, dry run).
#
#   KUBECONFIG=... hack/test-chart.sh
#
# Needs a running control plane (KUBECONFIG exported); it fails, never skips, without one.
# Side effects on the cluster (idempotent, left in place because namespaces never finish deleting
# without a controller manager): the natsguard CRDs from crds/ (server-side apply), the namespaces
# natsguard-chart-test (labelled to warn on Pod Security "restricted" violations),
# natsguard-chart-team-a and natsguard-chart-team-b, and, only when the real prometheus-operator
# and cert-manager CRDs are absent, stand-in ServiceMonitor/PrometheusRule/Certificate/Issuer CRDs
# (hack/testdata/standin-crd-*.yaml). Every chart object is applied with --dry-run=server, except the
# ServiceAccount and RBAC, which are applied for real under unique release names so the API server's
# authorizer can be asked what they allow (kubectl auth can-i --as), and deleted again at the end.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"
chart=charts/natsguard
release=natsguard
ns=natsguard-chart-test
team_namespaces=(natsguard-chart-team-a natsguard-chart-team-b)
work="$(mktemp -d "${TMPDIR:-/tmp}/natsguard-chart-test.XXXXXX")"
trap 'rm -rf "$work"' EXIT

suite=test-chart
# shellcheck source=hack/lib/testing.sh
. "$repo_root/hack/lib/testing.sh"
helm() { "$repo_root/hack/helm.sh" "$@"; }

# expect_in FILE REGEX WHAT / expect_not_in FILE REGEX WHAT: extended-regex assertions on a rendering.
expect_in() { if grep -Eq -- "$2" "$1"; then pass "$3"; else fail "$3 (no match for /$2/ in $(basename "$1"))"; fi; }
expect_not_in() { if grep -Eq -- "$2" "$1"; then fail "$3 (unexpected /$2/ in $(basename "$1"))"; else pass "$3"; fi; }
count_kind() { grep -Ec "^kind: $2\$" "$1" || true; }

require_apiserver

step "building or reusing helm"
helm_path="$("$repo_root/hack/helm.sh" --print-path)"
step "helm: $("$helm_path" version --short)"

# --- the chart's CRDs are the repository's CRDs ---------------------------------------------------
step "CRDs in the chart match crds/"
if cmp -s crds/natsguard.io.yaml "$chart/files/crds/natsguard.io.yaml"; then
  pass "charts/natsguard/files/crds/natsguard.io.yaml is identical to crds/natsguard.io.yaml"
else
  fail "charts/natsguard/files/crds/natsguard.io.yaml differs from crds/natsguard.io.yaml (cp crds/natsguard.io.yaml $chart/files/crds/)"
fi

# --- every value is documented (a "# --" comment in values.yaml and a row in README.md) -------------
step "every value is documented"
undocumented=0
while read -r path; do
  case "$path" in
    "UNCOMMENTED "*)
      fail "values.yaml: ${path#UNCOMMENTED } has no '# --' comment"
      undocumented=1
      ;;
    *)
      if ! grep -qF "| \`$path\` |" "$chart/README.md"; then
        fail "charts/natsguard/README.md has no row for $path"
        undocumented=1
      fi
      ;;
  esac
done < <(awk -f hack/lib/values-keys.awk "$chart/values.yaml")
[ "$undocumented" = 0 ] && pass "$(awk -f hack/lib/values-keys.awk "$chart/values.yaml" | wc -l) values commented and in the README table"

# --- lint ------------------------------------------------------------------------------------------
step "helm lint (default values and every ci/*-values.yaml)"
if helm lint --strict "$chart" >"$work/lint.log" 2>&1; then pass "lint default"; else cat "$work/lint.log" >&2; fail "lint default"; fi
for v in "$chart"/ci/*-values.yaml; do
  if helm lint --strict "$chart" -f "$v" >"$work/lint.log" 2>&1; then pass "lint $(basename "$v")"; else
    cat "$work/lint.log" >&2
    fail "lint $(basename "$v")"
  fi
done

# --- render ------------------------------------------------------------------------------------------
render() { # NAME [helm args...]
  local name=$1
  shift
  helm template "$release" "$chart" --namespace "$ns" "$@" >"$work/$name.yaml" 2>"$work/$name.err" ||
    { cat "$work/$name.err" >&2; die "helm template ($name) failed"; }
}
step "helm template"
render default
render namespaced -f "$chart/ci/namespaced-full-values.yaml"
render existing-sa -f "$chart/ci/existing-sa-values.yaml"
render single --set replicaCount=1 --set leaderElection.enabled=false
# The webhook's serving certificate from cert-manager, as when its API is present.
render certmanager --api-versions cert-manager.io/v1
render own-issuer --set webhook.certificate=cert-manager --set webhook.issuerRef.name=corp-ca \
  --set webhook.issuerRef.kind=ClusterIssuer --set webhook.issuerRef.group=cert-manager.io

step "default rendering: cluster-wide, CRDs included, restricted pod security, least privilege"
d="$work/default.yaml"
[ "$(count_kind "$d" CustomResourceDefinition)" = 3 ] && pass "3 CRDs rendered" || fail "expected 3 CRDs, got $(count_kind "$d" CustomResourceDefinition)"
expect_in "$d" 'helm.sh/resource-policy: keep' "CRDs kept on uninstall"
[ "$(count_kind "$d" ClusterRole)" = 1 ] && [ "$(count_kind "$d" ClusterRoleBinding)" = 1 ] &&
  pass "ClusterRole + ClusterRoleBinding" || fail "expected one ClusterRole and one ClusterRoleBinding"
[ "$(count_kind "$d" Role)" = 1 ] && [ "$(count_kind "$d" RoleBinding)" = 1 ] &&
  pass "one Role + RoleBinding (the Lease)" || fail "expected exactly the leader-election Role and RoleBinding"
helm template "$release" "$chart" --namespace "$ns" --show-only templates/rbac.yaml >"$work/default-rbac.yaml"
expect_not_in "$work/default-rbac.yaml" '[Ss]ecrets' "RBAC never mentions Secrets"
expect_not_in "$work/default-rbac.yaml" '"\*"' "RBAC has no wildcards"
expect_in "$d" 'runAsNonRoot: true' "runAsNonRoot"
expect_in "$d" 'readOnlyRootFilesystem: true' "readOnlyRootFilesystem"
expect_in "$d" 'allowPrivilegeEscalation: false' "allowPrivilegeEscalation false"
expect_in "$d" '- ALL' "capabilities drop ALL"
expect_in "$d" 'type: RuntimeDefault' "seccomp RuntimeDefault"
expect_in "$d" 'path: /livez' "liveness probe on /livez"
expect_in "$d" 'path: /readyz' "readiness probe on /readyz"
step "default rendering: high availability (docs/configuration.md, High availability)"
expect_in "$d" '^  replicas: 2$' "2 replicas"
expect_in "$d" 'type: RollingUpdate' "rolling update"
expect_in "$d" 'maxUnavailable: 0' "rolling update never goes below the replica count"
[ "$(count_kind "$d" PodDisruptionBudget)" = 1 ] && pass "PodDisruptionBudget rendered" || fail "no PodDisruptionBudget"
expect_in "$d" '^  minAvailable: 1$' "PodDisruptionBudget minAvailable: 1"
expect_in "$d" 'preferredDuringSchedulingIgnoredDuringExecution:' "preferred pod anti-affinity"
expect_in "$d" 'topologyKey: kubernetes.io/hostname' "anti-affinity across nodes"
expect_in "$d" '- --leader-election=true$' "--leader-election=true"
expect_in "$d" "- --leader-election-namespace=$ns\$" "Lease in the release namespace"
expect_in "$d" 'name: POD_NAME' "POD_NAME env"
expect_in "$d" 'fieldPath: metadata.name' "POD_NAME from the downward API"
expect_in "$d" 'name: POD_NAMESPACE' "POD_NAMESPACE env"
expect_in "$d" 'fieldPath: metadata.namespace' "POD_NAMESPACE from the downward API"
expect_in "$d" 'resourceNames: \["natsguard"\]' "Lease rights narrowed to the natsguard Lease"
s1="$work/single.yaml"
expect_in "$s1" '^  replicas: 1$' "single: 1 replica"
expect_in "$s1" '- --leader-election=false$' "single: --leader-election=false"
expect_not_in "$s1" 'leader-election-namespace' "single: no Lease namespace"
[ "$(count_kind "$s1" PodDisruptionBudget)$(count_kind "$s1" Role)" = 00 ] &&
  pass "single: no PodDisruptionBudget, no Lease Role" || fail "single: PodDisruptionBudget or Lease Role rendered"
expect_in "$d" 'image: "ghcr.io/natsguard/natsguard:0.1.0"' "image tag defaults to appVersion"
expect_in "$d" '- --log-format=json' "log format flag"
expect_not_in "$d" '--namespace=' "no --namespace flag: all namespaces"
[ "$(count_kind "$d" ServiceMonitor)$(count_kind "$d" PrometheusRule)$(count_kind "$d" NetworkPolicy)" = 000 ] &&
  pass "optional objects off by default" || fail "an optional object is rendered by default"

step "default rendering: the admission webhook (docs/configuration.md, Admission) with a chart-generated CA"
[ "$(count_kind "$d" ValidatingWebhookConfiguration)" = 1 ] && pass "ValidatingWebhookConfiguration rendered" ||
  fail "expected one ValidatingWebhookConfiguration"
helm template "$release" "$chart" --namespace "$ns" --show-only templates/webhook.yaml >"$work/default-webhook.yaml"
w="$work/default-webhook.yaml"
expect_in "$w" '^    failurePolicy: Ignore$' "failurePolicy: Ignore by default"
expect_in "$w" '^    sideEffects: None$' "sideEffects: None"
expect_in "$w" '^    admissionReviewVersions: \["v1"\]$' "admissionReviewVersions: [v1]"
expect_in "$w" 'apiGroups: \["apps"\]' "rule: apps"
expect_in "$w" 'apiVersions: \["v1"\]' "rule: v1"
expect_in "$w" 'operations: \["CREATE", "UPDATE"\]' "rule: CREATE and UPDATE"
expect_in "$w" 'resources: \["deployments"\]' "rule: deployments"
expect_in "$w" '^        path: /validate$' "clientConfig path /validate"
expect_in "$w" '^        name: natsguard-webhook$' "clientConfig names the webhook Service"
expect_in "$w" '^      caBundle: [A-Za-z0-9+/=]{100,}$' "caBundle from the chart-generated CA"
expect_in "$w" "operator: NotIn" "namespaceSelector excludes..."
expect_in "$w" "values: \[\"$ns\"\]" "...the release namespace"
expect_in "$w" '^type: kubernetes.io/tls$' "serving certificate in a kubernetes.io/tls Secret"
expect_not_in "$w" 'cert-manager' "no cert-manager objects without its API"
expect_in "$d" '- --webhook-addr=0.0.0.0:9443$' "--webhook-addr flag"
expect_in "$d" '- --webhook-tls-dir=/etc/natsguard/webhook-tls$' "--webhook-tls-dir flag"
expect_in "$d" 'mountPath: /etc/natsguard/webhook-tls$' "the Secret mounted where --webhook-tls-dir points"
expect_in "$d" 'secretName: natsguard-webhook-tls$' "the certificate Secret as a volume"
expect_in "$d" 'targetPort: webhook$' "the webhook Service targets the webhook port"
# The CA is reused across upgrades (lookup), so two renderings without a cluster differ: that is the
# generation path; the reuse path needs a live release and is not exercised here.
step "cert-manager rendering: Issuer, Certificate, CA injected"
c="$work/certmanager.yaml"
[ "$(count_kind "$c" Issuer)$(count_kind "$c" Certificate)" = 11 ] && pass "self-signed Issuer + Certificate" ||
  fail "expected one Issuer and one Certificate with cert-manager.io/v1 present"
expect_in "$c" 'cert-manager.io/inject-ca-from: natsguard-chart-test/natsguard-webhook$' "caBundle injected by cert-manager"
expect_not_in "$c" 'caBundle:' "no chart-generated caBundle"
expect_not_in "$c" '^type: kubernetes.io/tls$' "no chart-generated Secret"
expect_in "$c" '^  secretName: natsguard-webhook-tls$' "the Certificate writes the mounted Secret"
expect_in "$c" '- natsguard-webhook.natsguard-chart-test.svc$' "the Service's DNS name in the certificate"
o="$work/own-issuer.yaml"
[ "$(count_kind "$o" Issuer)$(count_kind "$o" Certificate)" = 01 ] && pass "webhook.issuerRef: no Issuer of the chart's own" ||
  fail "expected only a Certificate with webhook.issuerRef"
expect_in "$o" 'kind: ClusterIssuer$' "the Certificate uses the given issuer"
s0="$work/existing-sa.yaml"
[ "$(count_kind "$s0" ValidatingWebhookConfiguration)" = 0 ] && pass "webhook.enabled=false registers nothing" ||
  fail "a ValidatingWebhookConfiguration with webhook.enabled=false"
expect_not_in "$s0" 'webhook' "webhook.enabled=false: no flag, port, volume or Service"

step "non-default rendering: namespaced RBAC, no CRDs, monitoring and NetworkPolicy"
n="$work/namespaced.yaml"
[ "$(count_kind "$n" CustomResourceDefinition)" = 0 ] && pass "crds.install=false renders no CRD" || fail "CRDs rendered with crds.install=false"
[ "$(count_kind "$n" ClusterRole)$(count_kind "$n" ClusterRoleBinding)" = 00 ] && pass "no cluster-wide RBAC" || fail "cluster-wide RBAC with watchNamespaces"
for t in "${team_namespaces[@]}"; do
  expect_in "$n" "^  namespace: $t\$" "Role/RoleBinding in $t"
  expect_in "$n" "- --namespace=$t\$" "--namespace=$t flag"
done
[ "$(count_kind "$n" Role)" = 3 ] && [ "$(count_kind "$n" RoleBinding)" = 3 ] &&
  pass "3 Roles + 3 RoleBindings (2 watched namespaces, the Lease)" || fail "expected 3 Roles and 3 RoleBindings"
expect_in "$n" '@sha256:0{64}"' "image digest wins over tag"
for k in ServiceMonitor PrometheusRule NetworkPolicy; do
  [ "$(count_kind "$n" $k)" = 1 ] && pass "$k rendered" || fail "$k missing"
done
for a in NatsguardOverrideOverdue NatsguardOverrideDeadlineApproaching NatsguardViolationsPresent \
  NatsguardReconcileErrors NatsguardOperatorDown NatsguardNoLeader NatsguardWatchStale; do
  expect_in "$n" "alert: $a\$" "alert $a"
done
expect_in "$n" 'honorLabels: true' "ServiceMonitor keeps the metrics' own namespace label (honorLabels)"
expect_in "$n" '< 3600 and' "deadline window from prometheusRule.deadlineApproachingSeconds"
expect_in "$n" 'natsguard_incidents_overdue' "overdue alert uses natsguard_incidents_overdue"
expect_in "$n" '^    failurePolicy: Fail$' "webhook.failurePolicy: Fail"
expect_in "$n" '^    timeoutSeconds: 10$' "webhook.timeoutSeconds"
expect_in "$n" 'operator: In$' "the webhook judges only the watched namespaces"
expect_in "$n" 'key: team$' "webhook.namespaceSelectorExpressions added"
expect_in "$n" '- port: 9443$' "NetworkPolicy lets the API server reach the webhook"

step "bring-your-own ServiceAccount, no RBAC"
e="$work/existing-sa.yaml"
[ "$(count_kind "$e" ServiceAccount)$(count_kind "$e" ClusterRole)$(count_kind "$e" Service)" = 000 ] &&
  pass "no ServiceAccount, RBAC or Service" || fail "objects rendered that the values turned off"
expect_in "$e" 'serviceAccountName: natsguard-preexisting' "uses the given ServiceAccount"
expect_not_in "$e" 'resource-policy' "crds.keep=false drops the keep annotation"

step "invalid values are refused"
if helm template "$release" "$chart" --set logFormat=xml >/dev/null 2>"$work/bad.err"; then
  fail "logFormat=xml was accepted"
elif grep -q 'logFormat must be text or json' "$work/bad.err"; then pass "logFormat=xml refused with a clear message"; else
  cat "$work/bad.err" >&2
  fail "logFormat=xml refused without naming logFormat"
fi
if helm template "$release" "$chart" --set leaderElection.enabled=false >/dev/null 2>"$work/bad.err"; then
  fail "2 replicas without leader election were accepted"
elif grep -q 'needs leaderElection.enabled' "$work/bad.err"; then pass "2 replicas need leader election (clear message)"; else
  cat "$work/bad.err" >&2
  fail "2 replicas without leader election refused without naming leaderElection.enabled"
fi
if helm template "$release" "$chart" --set podAntiAffinity=sometimes >/dev/null 2>"$work/bad.err"; then
  fail "podAntiAffinity=sometimes was accepted"
else pass "podAntiAffinity must be preferred or none"; fi
for bad in webhook.failurePolicy=Sometimes webhook.certificate=vault webhook.timeoutSeconds=31; do
  if helm template "$release" "$chart" --set "$bad" >/dev/null 2>"$work/bad.err"; then fail "$bad was accepted"
  elif grep -q "${bad%%=*} must be" "$work/bad.err"; then pass "$bad refused with a clear message"; else
    cat "$work/bad.err" >&2
    fail "$bad refused without naming ${bad%%=*}"
  fi
done
if helm template "$release" "$chart" --set serviceAccount.create=false >/dev/null 2>"$work/bad.err"; then
  fail "serviceAccount.create=false without a name was accepted"
else pass "serviceAccount.create=false needs serviceAccount.name"; fi
if helm template "$release" "$chart" --set image.digest=0123abcd >/dev/null 2>"$work/bad.err"; then
  fail "image.digest=0123abcd was accepted"
elif grep -q 'image.digest must be sha256:' "$work/bad.err"; then pass "a malformed image.digest refused with a clear message"; else
  cat "$work/bad.err" >&2
  fail "image.digest=0123abcd refused without naming image.digest"
fi

# --- the real API server accepts every object ------------------------------------------------------
step "preparing the control plane (namespaces, stand-in monitoring CRDs)"
for n_ in "$ns" "${team_namespaces[@]}"; do
  "$kubectl" create namespace "$n_" --dry-run=client -o yaml | "$kubectl" apply --server-side --field-manager=natsguard-chart-test -f - >/dev/null
done
# Warn (on Deployments and other pod templates) about anything Pod Security "restricted" forbids.
"$kubectl" label namespace "$ns" --overwrite pod-security.kubernetes.io/warn=restricted \
  pod-security.kubernetes.io/warn-version=latest >/dev/null
for crd in servicemonitors.monitoring.coreos.com prometheusrules.monitoring.coreos.com \
  certificates.cert-manager.io issuers.cert-manager.io; do
  kind=${crd%%.*}
  if ! "$kubectl" get crd "$crd" >/dev/null 2>&1 ||
    [ "$("$kubectl" get crd "$crd" -o jsonpath='{.metadata.labels.natsguard\.io/test-standin}')" = true ]; then
    step "applying a stand-in $crd CRD (the real one is not installed)"
    "$kubectl" apply --server-side --field-manager=natsguard-chart-test -f "hack/testdata/standin-crd-$kind.yaml" >/dev/null
    "$kubectl" wait --for=condition=Established --timeout=60s "crd/$crd" >/dev/null
  else
    step "real $crd found: using it"
  fi
done

accept() { # NAME
  local f="$work/$1.yaml" want got
  want=$(grep -Ec '^kind: ' "$f")
  if ! "$kubectl" apply --server-side --dry-run=server --force-conflicts --field-manager=natsguard-chart-test \
    -f "$f" >"$work/$1.apply" 2>"$work/$1.apply.err"; then
    cat "$work/$1.apply.err" >&2
    fail "$1: the API server rejected an object"
    return
  fi
  got=$(grep -c 'serverside-applied (server dry run)' "$work/$1.apply" || true)
  if [ "$got" = "$want" ]; then pass "$1: all $want objects accepted by the API server"; else
    cat "$work/$1.apply" >&2
    fail "$1: $got of $want objects accepted"
  fi
  if grep -q 'PodSecurity' "$work/$1.apply.err"; then
    cat "$work/$1.apply.err" >&2
    fail "$1: Pod Security \"restricted\" warnings"
  else pass "$1: no Pod Security \"restricted\" warning"; fi
}
step "server-side apply (dry run) of every rendered object"
accept default
accept namespaced
accept existing-sa
accept single
accept certmanager
accept own-issuer

# --- RBAC, judged by the API server's own authorizer ------------------------------------------------
# Apply the chart's ServiceAccount and RBAC for real (unique release names), then ask the authorizer
# what the ServiceAccount may do (kubectl auth can-i --as). Removed again at the end.
rbac_cleanup() {
  for f in "$work"/rbac-*.yaml; do
    [ -e "$f" ] && "$kubectl" delete -f "$f" --ignore-not-found --wait=false >/dev/null 2>&1
  done
  return 0
}
trap 'rbac_cleanup; rm -rf "$work"' EXIT
can() { # EXPECT(yes|no) SA_NS SA VERB RESOURCE [kubectl args...]
  local want=$1 sa_ns=$2 sa=$3 verb=$4 res=$5 got
  shift 5
  got=$("$kubectl" auth can-i "$verb" "$res" --as="system:serviceaccount:$sa_ns:$sa" "$@" 2>/dev/null || true)
  if [ "$got" = "$want" ]; then pass "can-i $verb $res $* = $want"; else fail "can-i $verb $res $*: got '$got', want $want"; fi
}
step "RBAC (cluster-wide): what the ServiceAccount may and may not do, per the API server"
# can-i resolves resource names through discovery: the natsguard kinds must exist for real.
"$kubectl" apply --server-side --force-conflicts --field-manager=natsguard-chart-test -f crds/natsguard.io.yaml >/dev/null
"$kubectl" wait --for=condition=Established --timeout=60s \
  crd/natstransportpolicies.natsguard.io crd/natstransportincidents.natsguard.io \
  crd/natstransportledgers.natsguard.io >/dev/null
helm template natsguard-rbac-test "$chart" --namespace "$ns" \
  --show-only templates/serviceaccount.yaml --show-only templates/rbac.yaml >"$work/rbac-cluster.yaml"
"$kubectl" apply --server-side --field-manager=natsguard-chart-test -f "$work/rbac-cluster.yaml" >/dev/null
sa=natsguard-rbac-test
for v in get list watch; do
  can yes "$ns" $sa $v natstransportpolicies.natsguard.io -A
  can yes "$ns" $sa $v natstransportincidents.natsguard.io -A
  can yes "$ns" $sa $v natstransportledgers.natsguard.io -A
  can yes "$ns" $sa $v deployments.apps -A
  can yes "$ns" $sa $v configmaps -A
done
can yes "$ns" $sa patch natstransportpolicies.natsguard.io -n default --subresource=status
can yes "$ns" $sa patch natstransportincidents.natsguard.io -n default --subresource=status
for v in create patch delete; do can yes "$ns" $sa $v natstransportincidents.natsguard.io -n default; done
for v in create patch delete; do can yes "$ns" $sa $v natstransportledgers.natsguard.io -n default; done
for v in create patch; do can yes "$ns" $sa $v events.events.k8s.io -n default; done
for v in get list watch; do can no "$ns" $sa $v secrets -A; done
can no "$ns" $sa patch natstransportpolicies.natsguard.io -n default # never writes spec
can no "$ns" $sa update natstransportpolicies.natsguard.io -n default
can no "$ns" $sa delete natstransportpolicies.natsguard.io -n default
can no "$ns" $sa patch deployments.apps -n default # never changes workloads
can no "$ns" $sa update deployments.apps -n default
can no "$ns" $sa create pods -n default
can no "$ns" $sa create events -n default # core/v1 Events are not needed (events.k8s.io only)
# Leader election: the natsguard Lease in the release namespace, nothing else.
for v in get update; do can yes "$ns" $sa $v leases.coordination.k8s.io/natsguard -n "$ns"; done
can yes "$ns" $sa create leases.coordination.k8s.io -n "$ns"
for v in get update; do can no "$ns" $sa $v leases.coordination.k8s.io/other -n "$ns"; done
for v in list watch delete; do can no "$ns" $sa $v leases.coordination.k8s.io -n "$ns"; done
for v in get create update; do can no "$ns" $sa $v leases.coordination.k8s.io/natsguard -n default; done
can no "$ns" $sa create leases.coordination.k8s.io -n kube-system

step "RBAC (watchNamespaces): rights only in the listed namespaces"
helm template natsguard-rbac-test-ns "$chart" --namespace "$ns" --set "watchNamespaces={${team_namespaces[0]}}" \
  --show-only templates/serviceaccount.yaml --show-only templates/rbac.yaml >"$work/rbac-namespaced.yaml"
"$kubectl" apply --server-side --field-manager=natsguard-chart-test -f "$work/rbac-namespaced.yaml" >/dev/null
sa=natsguard-rbac-test-ns
can yes "$ns" $sa list deployments.apps -n "${team_namespaces[0]}"
can yes "$ns" $sa watch natstransportpolicies.natsguard.io -n "${team_namespaces[0]}"
can yes "$ns" $sa create natstransportincidents.natsguard.io -n "${team_namespaces[0]}"
can yes "$ns" $sa patch natstransportledgers.natsguard.io -n "${team_namespaces[0]}"
can no "$ns" $sa list deployments.apps -n "${team_namespaces[1]}"
can no "$ns" $sa list deployments.apps -A
can no "$ns" $sa get secrets -n "${team_namespaces[0]}"
can yes "$ns" $sa update leases.coordination.k8s.io/natsguard -n "$ns"
can no "$ns" $sa update leases.coordination.k8s.io/natsguard -n "${team_namespaces[0]}"

if [ "$failures" -gt 0 ]; then
  step "$failures check(s) failed"
  exit 1
fi
step "all chart checks passed"
