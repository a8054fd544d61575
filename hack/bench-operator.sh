#!/usr/bin/env bash
# Operator figures against the local control plane: change-to-Event latency, API writes per idle
# reconcile, and resident memory with 1,000 and 10,000 selected Deployments.
# Usage: hack/bench-operator.sh [changes=100] [sizes=1000,10000]
set -euo pipefail
cd "$(dirname "$0")/.."
echo "==> building natsguard and the benchmark (release)"
cargo build --release --locked --bin natsguard --example bench_operator
started_here=""
if ! hack/controlplane.sh status >/dev/null 2>&1; then started_here=1; fi
eval "$(hack/controlplane.sh up | tail -n 1)"
trap '[[ -n "$started_here" ]] && hack/controlplane.sh down' EXIT
echo "==> measuring (creating up to 10,000 Deployments takes a few minutes)"
target/release/examples/bench_operator target/release/natsguard "${1:-100}" "${2:-1000,10000}"
