#!/usr/bin/env bash
# Run kubectl built from the same wrapper module as the control plane's kube-apiserver
# (hack/tools/kubernetes), so the tests, the demo and the API server never differ in version (no
# client/server skew, whatever kubectl the machine has or lacks).
#
#   hack/kubectl.sh get natsguard -A
#   hack/kubectl.sh --print-path      # build if needed, print the binary's path
#
# Built and cached by hack/lib/gotool.sh (kubectl-<version>-<hash>) with the version stamping that
# hack/controlplane.sh gives kube-apiserver (hack/lib/k8s-version.sh), so `kubectl version` reports
# the pinned release. A cold build takes minutes on 2 cores (most packages are shared with
# kube-apiserver, so after the control plane it is much shorter) and prints progress lines.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
module_dir="$repo_root/hack/tools/kubernetes"

# shellcheck source=lib/gotool.sh
source "$repo_root/hack/lib/gotool.sh"
# shellcheck source=lib/k8s-version.sh
source "$repo_root/hack/lib/k8s-version.sh"

# Bump when the build recipe changes, so cached binaries built the old way are replaced.
recipe=1

ensure_kubectl() {
  local version
  version="$(gotool_module_version "$module_dir" k8s.io/kubernetes)"
  [ -n "$version" ] || { gotool_log kubectl "error: cannot read the kubernetes version from $module_dir/go.mod"; return 1; }
  gotool_ensure kubectl "$module_dir" k8s.io/kubernetes/cmd/kubectl "$(k8s_version_ldflags "$version")" "$recipe"
}

kubectl_bin="$(ensure_kubectl)"
if [ "${1:-}" = "--print-path" ]; then
  printf '%s\n' "$kubectl_bin"
  exit 0
fi
exec "$kubectl_bin" "$@"
