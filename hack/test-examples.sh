#!/usr/bin/env bash
# The shipped examples are accepted by the real API server: every NatsTransportPolicy under
# examples/policies/, every kustomize overlay under examples/gitops/policies/overlays/, and the Argo CD
# argocd-cm patch (deploy/argocd/argocd-cm.yaml) as a ConfigMap, and the Argo CD health-check test
# fixtures (hack/tools/luatest/testdata). Server-side apply, dry run.
#
#   KUBECONFIG=... hack/test-examples.sh
#
# Needs a running control plane; fails, never skips, without one. Side effects (idempotent): installs
# the CRDs from crds/ (server-side apply, as a GitOps tool would) and creates the example namespaces.
# The Argo CD Application/ApplicationSet and Flux objects are not applied: their CRDs are not here.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"
suite=test-examples
# shellcheck source=hack/lib/testing.sh
. "$repo_root/hack/lib/testing.sh"
require_apiserver
work="$(mktemp -d "${TMPDIR:-/tmp}/natsguard-examples-test.XXXXXX")"
trap 'rm -rf "$work"' EXIT

step "installing the CRDs from crds/ (server-side apply)"
if ! "$kubectl" apply --server-side --force-conflicts --field-manager=natsguard-examples-test \
  -f crds/natsguard.io.yaml >"$work/crds.log" 2>&1; then
  cat "$work/crds.log" >&2
  echo "[test-examples] error: the API server rejected crds/natsguard.io.yaml" >&2
  exit 1
fi
"$kubectl" wait --for=condition=Established --timeout=60s \
  crd/natstransportpolicies.natsguard.io crd/natstransportincidents.natsguard.io crd/natstransportledgers.natsguard.io >/dev/null

for n in cordum-prod cordum-staging billing events argocd payments; do
  "$kubectl" create namespace "$n" --dry-run=client -o yaml |
    "$kubectl" apply --server-side --field-manager=natsguard-examples-test -f - >/dev/null
done

accept() { # LABEL FILE
  if "$kubectl" apply --server-side --dry-run=server --field-manager=natsguard-examples-test -f "$2" \
    >"$work/out" 2>&1; then
    pass "$1: $(grep -c 'server dry run' "$work/out") object(s) accepted"
  else
    cat "$work/out" >&2
    fail "$1 rejected"
  fi
}

step "examples/policies"
for f in examples/policies/*.yaml; do accept "$f" "$f"; done

step "examples/gitops/policies overlays (kustomize)"
for o in examples/gitops/policies/overlays/*/; do
  if "$kubectl" kustomize "$o" >"$work/overlay.yaml" 2>"$work/overlay.err"; then
    accept "$o" "$work/overlay.yaml"
  else
    cat "$work/overlay.err" >&2
    fail "kustomize build $o"
  fi
done

step "Argo CD health-check fixtures are objects the API server accepts (spec; status is a subresource)"
for f in hack/tools/luatest/testdata/*/*.yaml; do accept "$f" "$f"; done

step "deploy/argocd/argocd-cm.yaml"
accept deploy/argocd/argocd-cm.yaml deploy/argocd/argocd-cm.yaml

if [ "$failures" -gt 0 ]; then
  step "$failures check(s) failed"
  exit 1
fi
step "all example checks passed"
