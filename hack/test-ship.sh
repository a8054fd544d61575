#!/usr/bin/env bash
# Everything the ship worktree tests, in one call (the Makefile's test target runs this with the
# control plane up and KUBECONFIG exported):
#   1. Argo CD health checks in gopher-lua       (hack/tools/luatest; no cluster needed)
#      and the Dockerfile's structure             (hack/tools/dockerfiletest; no cluster needed)
#   2. the Helm chart: lint, render, accepted by the API server       (hack/test-chart.sh)
#   3. examples and the argocd-cm patch accepted by the API server    (hack/test-examples.sh)
#   4. the kubectl experience: columns, short names, category, explain (hack/test-kubectl.sh)
#   5. the chart's command line and RBAC against the real binary       (hack/test-chart-binary.sh;
#      needs NATSGUARD_BIN or target/debug/natsguard, which `cargo test` builds)
# Runs them all and fails at the end if any failed, so one failure does not hide the others.
set -uo pipefail
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"
failed=()
run() { # NAME COMMAND...
  local name=$1
  shift
  printf '[test-ship] === %s\n' "$name" >&2
  if "$@"; then printf '[test-ship] === %s: ok\n' "$name" >&2; else
    printf '[test-ship] === %s: FAILED\n' "$name" >&2
    failed+=("$name")
  fi
}
run "argo cd health checks (lua)" bash -c 'cd hack/tools/luatest && GOWORK=off GOFLAGS=-mod=readonly go test -count=1 ./...'
run "dockerfile structure" bash -c 'cd hack/tools/dockerfiletest && GOWORK=off GOFLAGS=-mod=readonly go test -count=1 ./...'
run "helm chart" hack/test-chart.sh
run "examples" hack/test-examples.sh
run "kubectl experience" hack/test-kubectl.sh
run "chart vs binary" hack/test-chart-binary.sh
if [ "${#failed[@]}" -gt 0 ]; then
  printf '[test-ship] failed: %s\n' "${failed[*]}" >&2
  exit 1
fi
printf '[test-ship] all passed\n' >&2
