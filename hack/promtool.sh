#!/usr/bin/env bash
# Run promtool (Prometheus's rule checker and rule unit-test runner), building it from Go modules
# first if needed (no binary downloads on this machine).
#
#   hack/promtool.sh check rules FILE
#   hack/promtool.sh --print-path      # build if needed, print the binary's path
#
# The version is pinned by hack/tools/promtool/go.mod and go.sum; the binary is built and cached by
# hack/lib/gotool.sh (promtool-<version>-<hash>), with the version stamping of Prometheus's own
# release builds (.promu.yml: github.com/prometheus/common/version), so `promtool --version` tells
# which Prometheus checked the rules. A cold build takes several minutes on 2 cores and prints progress.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
module_dir="$repo_root/hack/tools/promtool"

# shellcheck source=lib/gotool.sh
source "$repo_root/hack/lib/gotool.sh"

# Bump when the build recipe (ldflags below) changes, so cached binaries built the old way are replaced.
recipe=1

ensure_promtool() {
  local module version ldflags v=github.com/prometheus/common/version
  module="$(gotool_module_version "$module_dir" github.com/prometheus/prometheus)"
  [ -n "$module" ] || { gotool_log promtool "error: cannot read the prometheus version from $module_dir/go.mod"; return 1; }
  # The Go module v0.3XX.Y is Prometheus 3.XX.Y (the project's tagging since 3.0: v0.316.0 = 3.16.0).
  if [[ $module =~ ^v0\.(3[0-9][0-9])\.([0-9]+)$ ]]; then
    version="3.$((10#${BASH_REMATCH[1]} - 300)).${BASH_REMATCH[2]}"
  else
    version="${module#v}"
  fi
  ldflags="-s -w -X $v.Version=$version -X $v.Revision=$module -X $v.Branch=HEAD -X $v.BuildUser=natsguard -X $v.BuildDate=19700101-00:00:00"
  # remove_all_sd: Prometheus's documented build tag that leaves out the optional service discoveries
  # (AWS, Azure, GCE, Consul, ...; README "Building the Prometheus binary"). Rule checks and rule unit
  # tests never discover targets, and the cold build compiles ~250 fewer packages.
  gotool_ensure promtool "$module_dir" github.com/prometheus/prometheus/cmd/promtool "$ldflags" "$recipe" remove_all_sd
}

promtool_bin="$(ensure_promtool)"
if [ "${1:-}" = "--print-path" ]; then
  printf '%s\n' "$promtool_bin"
  exit 0
fi
exec "$promtool_bin" "$@"
