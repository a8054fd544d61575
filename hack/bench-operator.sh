#!/usr/bin/env bash
# Operator figures against the local control plane (examples/bench_operator.rs): per size, cold
# start against a raw paged LIST, resident memory, change-to-Event latency and CPU per change at a
# fixed rate, missing and spurious Events, and API writes on a no-op relist. Ends with one JSON
# line. A benchmark: it reports figures and asserts nothing about them.
# Usage: hack/bench-operator.sh [sizes=1000,10000] [rate=20] [changes=600]
set -euo pipefail
cd "$(dirname "$0")/.."
echo "==> building natsguard and the benchmark (release)"
cargo build --release --locked --bin natsguard --example bench_operator
started_here=""
if ! hack/controlplane.sh status >/dev/null 2>&1; then started_here=1; fi
eval "$(hack/controlplane.sh up | tail -n 1)"
trap '[[ -n "$started_here" ]] && hack/controlplane.sh down' EXIT
echo "==> measuring (creating 10,000 Deployments takes a few minutes on 2 cores; progress on stderr)"
target/release/examples/bench_operator target/release/natsguard "${1:-1000,10000}" "${2:-20}" "${3:-600}"
