#!/usr/bin/env bash
# Admission review latency on a warm cache (docs/configuration.md "Admission": p99 <= 10 ms): the real webhook handler
# and HTTPS server on 127.0.0.1, reflector stores filled as the operator's watches fill them, and
# API-server-shaped AdmissionReviews over keep-alive connections. Figures, not a pass/fail test;
# no control plane needed (how it measures: the header of examples/bench_admission.rs).
# Usage: hack/bench-admission.sh [reviews=5000] [namespaces=50] [configmaps=10000] [connections=1,4]
set -euo pipefail
cd "$(dirname "$0")/.."
echo "==> building the benchmark (release; the first build takes minutes)"
cargo build --release --locked --example bench_admission
echo "==> measuring"
target/release/examples/bench_admission "${1:-5000}" "${2:-50}" "${3:-10000}" "${4:-1,4}"
