#!/usr/bin/env bash
# Everything the ship worktree tests, in one call (the Makefile's test target runs this with the
# control plane up and KUBECONFIG exported; every suite uses the kubectl of hack/kubectl.sh unless
# KUBECTL says otherwise):
#   1. Argo CD health checks in gopher-lua       (hack/tools/luatest; no cluster needed)
#   2. the chart's alerts: promtool check rules and promtool test rules (hack/test-alerts.sh;
#      no cluster needed)
#   3. the Helm chart: lint, render, accepted by the API server       (hack/test-chart.sh)
#   4. examples and the argocd-cm patch accepted by the API server    (hack/test-examples.sh)
#   5. the kubectl experience: columns, short names, category, explain, discovery after install
#                                                                      (hack/test-kubectl.sh)
#   6. the chart's command line and RBAC against the real binary       (hack/test-chart-binary.sh;
#      needs NATSGUARD_BIN or target/debug/natsguard, which `cargo test` builds)
#   7. the container image: built without a daemon, its config and layer, pushed to a local
#      registry, run from its own filesystem against the API server   (hack/test-image.sh; the
#      static binary from hack/build-static.sh)
# Runs them all and fails at the end if any failed, so one failure does not hide the others; prints
# each suite's run time.
set -uo pipefail
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"
failed=()
run() { # NAME COMMAND...
  local name=$1 start=$SECONDS
  shift
  printf '[test-ship] === %s\n' "$name" >&2
  if "$@"; then printf '[test-ship] === %s: ok (%s s)\n' "$name" "$((SECONDS - start))" >&2; else
    printf '[test-ship] === %s: FAILED (%s s)\n' "$name" "$((SECONDS - start))" >&2
    failed+=("$name")
  fi
}
run "argo cd health checks (lua)" bash -c 'cd hack/tools/luatest && GOWORK=off GOFLAGS=-mod=readonly go test -count=1 ./...'
run "alerts (promtool)" hack/test-alerts.sh
run "helm chart" hack/test-chart.sh
run "examples" hack/test-examples.sh
run "kubectl experience" hack/test-kubectl.sh
run "chart vs binary" hack/test-chart-binary.sh
run "container image" hack/test-image.sh
if [ "${#failed[@]}" -gt 0 ]; then
  printf '[test-ship] failed: %s\n' "${failed[*]}" >&2
  exit 1
fi
printf '[test-ship] all passed\n' >&2
