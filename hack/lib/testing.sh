# Shared by the hack/test-*.sh suites: report lines, failure counting, and the precondition that a
# real API server is there (the suites fail, never skip, without one).
# Set `suite` (the prefix of every line) before sourcing.
failures=0
kubectl="${KUBECTL:-kubectl}"
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
  "$kubectl" get --raw /readyz >/dev/null 2>&1 || die "the API server in $KUBECONFIG is not ready"
}
