#!/usr/bin/env bash
# The kubectl experience, through the real API server:
#   - printer columns of both kinds show the documented columns (docs/configuration.md) with the right values (`kubectl get ntp`,
#     `kubectl get nti` with OVERRIDE, `-o wide` adds POLICY and REASON);
#   - the short names (ntp, nti) and the `natsguard` category (`kubectl get natsguard`) work;
#   - `kubectl explain` documents every field of both kinds' spec (no `<empty>` description);
#   - kubectl is the API server's own version (hack/kubectl.sh builds both from one module);
#   - what docs/quickstart.md says about kubectl's discovery cache right after installing CRDs: with
#     a cache from before the install, a category (`kubectl get natsguard`) fails once with "the
#     server doesn't have a resource type", the retry works, short names work at once, and
#     `kubectl api-resources` refreshes the cache. Shown with a stand-in CRD under a group and
#     category unique to the run (the natsguard CRDs are installed already), deleted at the end.
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

step "kubectl and the API server are the same Kubernetes version"
versions=$("$kubectl" version -o json | sed -n 's/^ *"gitVersion": "\(.*\)",$/\1/p' | tr '\n' ' ')
# shellcheck disable=SC2086
set -- $versions
if [ "$#" = 2 ] && [ "$1" = "$2" ]; then pass "client and server are both $1"; else
  fail "kubectl and the API server differ (client, server: $versions)"
fi

step "installing the CRDs from crds/"
"$kubectl" apply --server-side --force-conflicts --field-manager=natsguard-kubectl-test -f crds/natsguard.io.yaml >/dev/null ||
  die "the API server rejected crds/natsguard.io.yaml"
"$kubectl" wait --for=condition=Established --timeout=60s \
  crd/natstransportpolicies.natsguard.io crd/natstransportincidents.natsguard.io crd/natstransportledgers.natsguard.io >/dev/null
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

step "kubectl's discovery cache right after installing CRDs (docs/quickstart.md)"
work=$(mktemp -d "${TMPDIR:-/tmp}/natsguard-kubectl-test.XXXXXX")
run_id="r$(date +%s)$RANDOM"
group="$run_id.discovery-test.natsguard.io"
category="natsguard$run_id"
short="nd$run_id"
trap 'cleanup; "$kubectl" delete crd "widgets.$group" --ignore-not-found --wait=false >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
# Three kubectl caches that have seen the cluster before the install, as a user's would.
for c in retry short refresh; do "$kubectl" --cache-dir "$work/$c" api-resources >/dev/null; done
"$kubectl" apply --server-side --field-manager=natsguard-kubectl-test -f - >/dev/null <<EOF
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.$group
spec:
  group: $group
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget, shortNames: [$short], categories: [$category]}
  versions:
    - name: v1
      served: true
      storage: true
      schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
EOF
"$kubectl" wait --for=condition=Established --timeout=60s "crd/widgets.$group" >/dev/null
kc() { "$kubectl" --cache-dir "$work/$1" -n "$ns" "${@:2}"; }
if kc retry get "$category" >"$work/out" 2>&1; then
  fail "kubectl get CATEGORY with a cache from before the install worked at once (the quickstart note is wrong)"
elif grep -q "the server doesn't have a resource type \"$category\"" "$work/out"; then
  pass "with a cache from before the install, kubectl get CATEGORY fails once: $(sed "s/$category/natsguard/" "$work/out")"
else
  fail "kubectl get CATEGORY failed with an unexpected message: $(cat "$work/out")"
fi
if kc retry get "$category" >"$work/out" 2>&1; then pass "the retry works (the failed lookup refreshed the cache)"; else
  fail "the retry failed too: $(cat "$work/out")"
fi
if kc short get "$short" >"$work/out" 2>&1; then pass "a short name works at once (a miss refreshes the cache)"; else
  fail "kubectl get SHORTNAME right after the install failed: $(cat "$work/out")"
fi
kc refresh api-resources >/dev/null
if kc refresh get "$category" >"$work/out" 2>&1; then pass "after kubectl api-resources, kubectl get CATEGORY works"; else
  fail "kubectl get CATEGORY failed after kubectl api-resources: $(cat "$work/out")"
fi

if [ "$failures" -gt 0 ]; then
  step "$failures check(s) failed"
  exit 1
fi
step "all kubectl checks passed"
