#!/usr/bin/env bash
# Run helm, building it from Go modules first if needed (no binary downloads on this machine).
#
#   hack/helm.sh lint charts/natsguard
#   hack/helm.sh --print-path      # build if needed, print the binary's path
#
# The version is pinned by hack/tools/helm/go.mod and go.sum. The binary is cached outside the repo,
# next to the control plane's binaries (hack/controlplane.sh), as
# hack/lib/gotool.sh describes (helm-<version>-<hash of go.mod, go.sum, ldflags, recipe>), so a changed
# pin builds a new one and an unchanged pin is never rebuilt. A cold build takes a few minutes on 2
# cores; it prints phase and progress lines while it runs.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
module_dir="$repo_root/hack/tools/helm"

# shellcheck source=lib/gotool.sh
source "$repo_root/hack/lib/gotool.sh"

# Bump when the build recipe (ldflags below) changes, so cached binaries built the old way are replaced.
recipe=2

ensure_helm() {
  local version client_go k8s_major k8s_minor ldflags
  version="$(gotool_module_version "$module_dir" helm.sh/helm/v3)"
  [ -n "$version" ] || { gotool_log helm "error: cannot read the helm version from $module_dir/go.mod"; return 1; }
  # Like helm's own Makefile: the default Kubernetes version of `helm template`/`lint` (.Capabilities)
  # follows the client-go it is built with (v0.37.x => 1.37), otherwise it says v1.20.0.
  client_go="$(gotool_module_version "$module_dir" k8s.io/client-go)"
  client_go="${client_go#v}"
  k8s_major=$((${client_go%%.*} + 1))
  k8s_minor="$(printf '%s' "$client_go" | cut -d. -f2)"
  ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=$version -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
  for p in helm.sh/helm/v3/pkg/chartutil helm.sh/helm/v3/pkg/lint/rules; do
    ldflags="$ldflags -X $p.k8sVersionMajor=$k8s_major -X $p.k8sVersionMinor=$k8s_minor"
  done
  gotool_ensure helm "$module_dir" helm.sh/helm/v3/cmd/helm "$ldflags" "$recipe"
}

helm_bin="$(ensure_helm)"
if [ "${1:-}" = "--print-path" ]; then
  printf '%s\n' "$helm_bin"
  exit 0
fi
exec "$helm_bin" "$@"
