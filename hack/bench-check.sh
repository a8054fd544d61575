#!/usr/bin/env bash
# Benchmark of `natsguard check` (issue item 7): builds the release binary and the generator,
# generates N realistic Deployments (plus ConfigMaps) for each size, and reports Deployments/s
# (wall clock and per CPU-second) and peak RSS, reading a file and reading a stream on stdin.
# Figures, not a pass/fail test. Sizes: BENCH_SIZES (default "10000 100000").
set -euo pipefail
cd "$(dirname "$0")/.."

sizes=${BENCH_SIZES:-10000 100000}
target=${CARGO_TARGET_DIR:-target}
echo "bench-check: building release natsguard and examples/gen_manifests (first build takes minutes)"
cargo build --release --quiet --bin natsguard --example gen_manifests
bin=$target/release/natsguard
gen=$target/release/examples/gen_manifests
work=$(mktemp -d "${TMPDIR:-/tmp}/natsguard-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT

measure() { # label n cmd...
    local label=$1 n=$2; shift 2
    # %e wall s, %U user s, %S system s, %M peak RSS KiB
    /usr/bin/time -f '%e %U %S %M' -o "$work/time" "$@" >/dev/null
    read -r wall user sys rss <"$work/time"
    awk -v l="$label" -v n="$n" -v w="$wall" -v u="$user" -v s="$sys" -v r="$rss" 'BEGIN {
        cpu = u + s; if (cpu < 0.01) cpu = 0.01; if (w < 0.01) w = 0.01;
        printf "%-22s %8d deployments  wall %6.2fs  cpu %6.2fs  %9.0f deploy/s  %9.0f deploy/cpu-s  peak RSS %6.1f MiB\n",
            l, n, w, cpu, n / w, n / cpu, r / 1024 }'
}

for n in $sizes; do
    f="$work/deployments-$n.yaml"
    echo "bench-check: generating $n Deployments"
    "$gen" "$n" "$f"
    echo "bench-check: $(du -h "$f" | cut -f1) of YAML, $(grep -c '^kind: Deployment' "$f") Deployments"
    # Exit status 1 (findings) is expected; --fail-on never keeps it 0 so set -e holds.
    measure "file, -o json" "$n" "$bin" check -f "$f" -o json --fail-on never
    measure "file, -o text" "$n" "$bin" check -f "$f" -o text --fail-on never
    measure "stdin stream, -o json" "$n" sh -c "exec \"$bin\" check -o json --fail-on never < \"$f\""
done
