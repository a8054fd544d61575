#!/usr/bin/env bash
# Run helm, building it from Go modules first if needed (no binary downloads on this machine).
#
#   hack/helm.sh lint charts/natsguard
#   hack/helm.sh --print-path      # build if needed, print the binary's path
#
# The version is pinned by hack/tools/helm/go.mod and go.sum. The binary is cached outside the repo,
# next to the control plane's binaries (hack/controlplane.sh), as
# ${NATSGUARD_BIN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/natsguard/bin}/helm-<version>-<hash of go.mod, go.sum, recipe>,
# so a changed pin builds a new one and an unchanged pin is never rebuilt. A cold build takes a few
# minutes on 2 cores; it prints phase and progress lines while it runs.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
module_dir="$repo_root/hack/tools/helm"
bin_cache="${NATSGUARD_BIN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/natsguard/bin}"

log() { printf '[helm] %s\n' "$*" >&2; }
die() { printf '[helm] error: %s\n' "$*" >&2; exit 1; }

# module_version MODULE_DIR MODULE_PATH -> the version MODULE_DIR/go.mod requires.
module_version() {
  awk -v m="$2" '$1 == m { print $2; exit } $1 == "require" && $2 == m { print $3; exit }' "$1/go.mod"
}

# go_build_with_progress MODULE_DIR PACKAGE OUTPUT LDFLAGS
# Builds PACKAGE inside MODULE_DIR into OUTPUT (atomically), printing "compiled N/M packages" lines
# and a heartbeat every 30 s so a long compile or link is never silent.
go_build_with_progress() {
  local dir="$1" pkg="$2" out="$3" ldflags="$4"
  local total start tmp hb_pid rc
  start=$(date +%s)
  command -v go >/dev/null || die "go is not on PATH; install Go 1.26 or newer"
  log "resolving the package graph of $pkg (downloads modules on the first run)"
  total=$(cd "$dir" && GOWORK=off GOFLAGS=-mod=readonly go list -deps "$pkg" | wc -l) \
    || die "go list failed in $dir (is the module cache reachable?)"
  log "compiling up to $total packages (cached packages are skipped)"
  tmp="$out.tmp.$$"
  (
    while sleep 30; do
      printf '[helm] still building (%ss elapsed)\n' "$(($(date +%s) - start))" >&2
    done
  ) &
  hb_pid=$!
  set +e
  (cd "$dir" && GOWORK=off GOFLAGS=-mod=readonly CGO_ENABLED=0 \
    go build -v -trimpath -ldflags "$ldflags" -o "$tmp" "$pkg" 2>&1) |
    awk -v total="$total" -v start="$start" '
      /^(#|[a-z]+:)|\.go:[0-9]+/ { print "[helm] " $0; fflush(); next }   # diagnostics pass through
      { n++; if (n % 50 == 0) { printf "[helm] compiled %d/%d packages (%ds)\n", n, total, systime() - start; fflush() } }
      END { printf "[helm] compiled and linked (%d packages compiled, the rest came from the Go build cache)\n", n }' >&2
  rc=${PIPESTATUS[0]}
  set -e
  kill "$hb_pid" 2>/dev/null || true
  wait "$hb_pid" 2>/dev/null || true
  if [ "$rc" -ne 0 ]; then
    rm -f "$tmp"
    die "go build of $pkg failed (exit $rc)"
  fi
  mv -f "$tmp" "$out"
  log "built $out in $(($(date +%s) - start))s"
}

# Bump when the build recipe (ldflags below) changes, so cached binaries built the old way are replaced.
recipe=2

ensure_helm() {
  local version sum_hash bin client_go k8s_major k8s_minor ldflags
  version="$(module_version "$module_dir" helm.sh/helm/v3)"
  [ -n "$version" ] || die "cannot read the helm version from $module_dir/go.mod"
  # Like helm's own Makefile: the default Kubernetes version of `helm template`/`lint` (.Capabilities)
  # follows the client-go it is built with (v0.37.x => 1.37), otherwise it says v1.20.0.
  client_go="$(module_version "$module_dir" k8s.io/client-go)"
  client_go="${client_go#v}"
  k8s_major=$((${client_go%%.*} + 1))
  k8s_minor="$(printf '%s' "$client_go" | cut -d. -f2)"
  ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=$version -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
  for p in helm.sh/helm/v3/pkg/chartutil helm.sh/helm/v3/pkg/lint/rules; do
    ldflags="$ldflags -X $p.k8sVersionMajor=$k8s_major -X $p.k8sVersionMinor=$k8s_minor"
  done
  sum_hash="$( (cat "$module_dir/go.mod" "$module_dir/go.sum"; echo "recipe=$recipe") | sha256sum | cut -c1-12)"
  bin="$bin_cache/helm-$version-$sum_hash"
  if [ ! -x "$bin" ]; then
    mkdir -p "$bin_cache"
    # One build at a time per pin, even when several scripts ask at once.
    exec 9>"$bin_cache/.helm-$version-$sum_hash.lock"
    flock 9
    if [ ! -x "$bin" ]; then
      log "building helm $version from Go modules into $bin (first run only)"
      go_build_with_progress "$module_dir" helm.sh/helm/v3/cmd/helm "$bin" "$ldflags"
    fi
    exec 9>&-
  fi
  printf '%s\n' "$bin"
}

helm_bin="$(ensure_helm)"
if [ "${1:-}" = "--print-path" ]; then
  printf '%s\n' "$helm_bin"
  exit 0
fi
exec "$helm_bin" "$@"
