#!/usr/bin/env bash
# What the real NATS client (nats.go) does with NATS_URL values: build the differential harness
# from Go modules first if needed, then run it (docs/natsgo-differential.md).
#
#   hack/natsdiff.sh tests/fixtures/natsurl/corpus.json     # one JSON result per URL list
#   echo '["TLS://a","nats://a,ws://b"]' | hack/natsdiff.sh
#   hack/natsdiff.sh --print-path                           # build if needed, print the binary's path
#
# The versions (nats.go, nats-server) are pinned by hack/tools/natsdiff/go.mod and go.sum. The
# binary is cached outside the repo as hack/lib/gotool.sh describes; the harness's own Go sources
# are part of the cache key, so editing them rebuilds it. A cold build (module downloads included)
# takes a minute or two on 2 cores and prints phase and progress lines while it runs.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
module_dir="$repo_root/hack/tools/natsdiff"

# shellcheck source=lib/gotool.sh
source "$repo_root/hack/lib/gotool.sh"

# The harness is this repository's code, not only a pin: its sources go into the cache key.
recipe="1-$(cat "$module_dir"/*.go | sha256sum | cut -c1-12)"
natsdiff_bin="$(gotool_ensure natsdiff "$module_dir" natsguard.local/tools/natsdiff "-s -w" "$recipe")"
if [ "${1:-}" = "--print-path" ]; then
  printf '%s\n' "$natsdiff_bin"
  exit 0
fi
exec "$natsdiff_bin" "$@"
