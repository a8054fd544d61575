#!/usr/bin/env bash
# The kubectl experience, through the real API server:
#   - printer columns of both kinds show the SPEC columns with the right values (`kubectl get ntp`,
#     `kubectl get nti`, `-o wide` adds POLICY and REASON);
#   - the short names (ntp, nti) and the `natsguard` category (`kubectl get natsguard`) work;
#   - `kubectl explain` documents every field of both kinds' spec (no `<empty>` description).
#
#   KUBECONFIG=... hack/test-kubectl.sh
#
# Needs a running control plane; fails, never skips, without one. Installs the CRDs from crds/
# (server-side apply), and creates objects in the namespace natsguard-kubectl-test (left in place:
# namespaces never finish deleting without a controller manager; the objects are deleted at the end).
# The status values are written by this script through the status subresource, so the columns are
# checked independently of the operator; the test policy is suspended so a running operator leaves it alone.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"
ns=natsguard-kubectl-test
suite=test-kubectl
# shellcheck source=hack/lib/testing.sh
. "$repo_root/hack/lib/testing.sh"
require_apiserver
k() { "$kubectl" -n "$ns" "$@"; }

# expect_eq WHAT GOT WANT
expect_eq() { if [ "$2" = "$3" ]; then pass "$1"; else fail "$1: got '$2', want '$3'"; fi; }
# squeeze: collapse runs of spaces so columns compare as single-space separated words.
squeeze() { tr -s ' ' | sed 's/ *$//'; }

step "installing the CRDs from crds/"
"$kubectl" apply --server-side --force-conflicts --field-manager=natsguard-kubectl-test -f crds/natsguard.io.yaml >/dev/null ||
  die "the API server rejected crds/natsguard.io.yaml"
"$kubectl" wait --for=condition=Established --timeout=60s \
  crd/natstransportpolicies.natsguard.io crd/natstransportincidents.natsguard.io >/dev/null
"$kubectl" create namespace "$ns" --dry-run=client -o yaml |
  "$kubectl" apply --server-side --field-manager=natsguard-kubectl-test -f - >/dev/null

cleanup() { k delete ntp,nti --all --ignore-not-found --wait=false >/dev/null 2>&1 || true; }
trap cleanup EXIT
cleanup

step "creating a policy and an incident, with status written through the status subresource"
k apply --server-side --field-manager=natsguard-kubectl-test -f - >/dev/null <<'EOF'
apiVersion: natsguard.io/v1alpha1
kind: NatsTransportPolicy
metadata:
  name: cordum
spec:
  selector:
    matchLabels:
      app.kubernetes.io/part-of: cordum
  suspend: true
---
apiVersion: natsguard.io/v1alpha1
kind: NatsTransportIncident
metadata:
  name: scheduler-20261128t080000z
spec:
  policy: cordum
  deployment:
    name: scheduler
    uid: 6b1f0c1e-2f7a-4b9c-9d55-0f3c5a0e7a11
  containers: [scheduler]
  owner: alice@example.com
  reason: INC-4711
  startedAt: "2026-11-28T08:00:00Z"
  rollbackBy: "2026-11-28T12:00:00Z"
EOF
cond() { printf '{"type":"%s","status":"%s","reason":"%s","message":"m","lastTransitionTime":"2026-11-28T08:00:00Z","observedGeneration":1}' "$@"; }
k patch ntp cordum --subresource=status --type=merge -p "{\"status\":{\"observedGeneration\":1,
  \"workloads\":3,\"compliant\":2,\"violations\":4,\"overrides\":1,\"overdue\":0,
  \"nextDeadline\":\"2026-11-28T12:00:00Z\",
  \"conditions\":[$(cond Ready True Evaluated),$(cond Compliant False Violations),
  $(cond OverrideActive True OverrideActive),$(cond IncidentOverdue False NoOverdueIncident)]}}" >/dev/null
k patch nti scheduler-20261128t080000z --subresource=status --type=merge \
  -p '{"status":{"state":"Overdue"}}' >/dev/null

step "printer columns"
out=$(k get ntp cordum | squeeze)
expect_eq "kubectl get ntp: header" "$(sed -n 1p <<<"$out")" \
  "NAME READY COMPLIANT WORKLOADS VIOLATIONS OVERRIDES NEXT-DEADLINE AGE"
row=$(sed -n 2p <<<"$out")
expect_eq "kubectl get ntp: values" "${row% *}" "cordum True False 3 4 1 2026-11-28T12:00:00Z"

out=$(k get nti | squeeze)
expect_eq "kubectl get nti: header" "$(sed -n 1p <<<"$out")" "NAME DEPLOYMENT OVERRIDE OWNER STATE ROLLBACK-BY AGE"
row=$(sed -n 2p <<<"$out")
# The fixture incident carries no spec.override (as the previous release wrote incidents): the
# server's schema default makes it read as Plaintext.
expect_eq "kubectl get nti: values" "${row% *}" \
  "scheduler-20261128t080000z scheduler Plaintext alice@example.com Overdue 2026-11-28T12:00:00Z"

out=$(k get nti -o wide | squeeze)
expect_eq "kubectl get nti -o wide: header" "$(sed -n 1p <<<"$out")" \
  "NAME DEPLOYMENT OVERRIDE OWNER STATE ROLLBACK-BY AGE POLICY REASON"
row=$(sed -n 2p <<<"$out")
expect_eq "kubectl get nti -o wide: policy and reason" "$(awk '{print $(NF-1), $NF}' <<<"$row")" "cordum INC-4711"

step "short names and the natsguard category"
for name in ntp natstransportpolicy natstransportpolicies nti natstransportincident natstransportincidents; do
  if k get "$name" -o name >/dev/null 2>&1; then pass "kubectl get $name"; else fail "kubectl get $name"; fi
done
got=$(k get natsguard -o name | sort | tr '\n' ' ')
expect_eq "kubectl get natsguard lists both kinds" "$got" \
  "natstransportincident.natsguard.io/scheduler-20261128t080000z natstransportpolicy.natsguard.io/cordum "

step "kubectl explain documents every spec field"
# Field paths from `explain --recursive` (two spaces of indent per level), then one explain per field.
explain_paths() { # RESOURCE
  "$kubectl" explain "$1.spec" --recursive | awk '
    /^FIELDS:/ { on = 1; next }
    on && /^ +[A-Za-z][A-Za-z0-9]*\t/ {
      match($0, /^ +/); depth = RLENGTH / 2
      name = $1
      path[depth] = name
      p = path[1]; for (i = 2; i <= depth; i++) p = p "." path[i]
      print p
    }'
}
for res in natstransportpolicy natstransportincident; do
  paths=$(explain_paths "$res")
  n=$(wc -l <<<"$paths")
  [ "$n" -ge 5 ] || fail "$res: kubectl explain --recursive listed only $n fields"
  missing=()
  while read -r p; do
    if "$kubectl" explain "$res.spec.$p" | grep -q '<empty>'; then missing+=("spec.$p"); fi
  done <<<"$paths"
  if [ "${#missing[@]}" -eq 0 ]; then pass "$res: all $n spec fields have a description"; else
    fail "$res: no description for ${missing[*]} (add doc comments in src/crd/ and regenerate crds/)"
  fi
done

if [ "$failures" -gt 0 ]; then
  step "$failures check(s) failed"
  exit 1
fi
step "all kubectl checks passed"
