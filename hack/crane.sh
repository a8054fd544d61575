#!/usr/bin/env bash
# Run crane (go-containerregistry's daemonless image tool: builds, inspects, pushes and serves OCI
# images without a container engine), building it from Go modules first if needed.
#
#   hack/crane.sh config IMAGE
#   hack/crane.sh --print-path      # build if needed, print the binary's path
#
# The version is pinned by hack/tools/crane/go.mod and go.sum; the binary is built and cached by
# hack/lib/gotool.sh (crane-<version>-<hash>), stamped like crane's own releases
# (cmd/crane/cmd.Version). hack/image.sh uses it to build the natsguard image.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
module_dir="$repo_root/hack/tools/crane"

# shellcheck source=lib/gotool.sh
source "$repo_root/hack/lib/gotool.sh"

# Bump when the build recipe (ldflags below) changes, so cached binaries built the old way are replaced.
recipe=1

ensure_crane() {
  local version
  version="$(gotool_module_version "$module_dir" github.com/google/go-containerregistry)"
  [ -n "$version" ] || { gotool_log crane "error: cannot read the go-containerregistry version from $module_dir/go.mod"; return 1; }
  gotool_ensure crane "$module_dir" github.com/google/go-containerregistry/cmd/crane \
    "-s -w -X github.com/google/go-containerregistry/cmd/crane/cmd.Version=$version" "$recipe"
}

crane_bin="$(ensure_crane)"
if [ "${1:-}" = "--print-path" ]; then
  printf '%s\n' "$crane_bin"
  exit 0
fi
exec "$crane_bin" "$@"
