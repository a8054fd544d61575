# Shared by the hack/test-*.sh suites: report lines, failure counting, and the precondition that a
# real API server is there (the suites fail, never skip, without one).
# Set `suite` (the prefix of every line) before sourcing.
#
# `$kubectl` is $KUBECTL when set, else the kubectl that hack/kubectl.sh builds from the control
# plane's own Kubernetes module (no client/server version skew, no kubectl needed on the machine);
# require_apiserver resolves it, so suites without a cluster never build it.
failures=0
kubectl="${KUBECTL:-}"
step() { printf '[%s] %s\n' "$suite" "$*" >&2; }
pass() { printf '[%s]   ok: %s\n' "$suite" "$*" >&2; }
fail() {
  printf '[%s]   FAIL: %s\n' "$suite" "$*" >&2
  failures=$((failures + 1))
}
die() {
  printf '[%s] error: %s\n' "$suite" "$*" >&2
  exit 1
}
require_apiserver() {
  [ -n "${KUBECONFIG:-}" ] || die "KUBECONFIG is not set: start the control plane first"
  if [ -z "$kubectl" ]; then
    kubectl="$("$(dirname "${BASH_SOURCE[0]}")/../kubectl.sh" --print-path)" || die "cannot build kubectl (hack/kubectl.sh)"
  fi
  "$kubectl" get --raw /readyz >/dev/null 2>&1 || die "the API server in $KUBECONFIG is not ready"
}
