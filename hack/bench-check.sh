#!/usr/bin/env bash
# Benchmark of `natsguard check` against `opa eval` (issue 11; figures, not a pass/fail test).
#
#   make bench-check                      # N = 10000 and 50000
#   BENCH_SIZES="10000" make bench-check  # one size
#
# Builds the release natsguard, the generator (examples/gen_manifests.rs) and opa (from the Go module
# proxy, pinned by hack/tools/opa, cached by hack/lib/gotool.sh). For each N it generates the same
# Cordum-like Deployments in three forms (a multi-document YAML stream, a kubectl YAML List, a
# kubectl JSON List) and measures, with /usr/bin/time (user+sys CPU seconds, peak RSS):
#   natsguard on every input form: file, stdin, directory (the stream cut into 100 files), YAML List,
#   JSON List; --jobs 1 for CPU figures, and the default --jobs for wall time;
#   opa eval with hack/bench/natsguard.rego (five rules, see the file) on the JSON List, the same
#   objects (first N only; OPA needs the whole input in memory).
# Ends with one JSON line for the first N: bytes of YAML, CPU seconds of natsguard (YAML stream,
# --jobs 1) and OPA (JSON List), their ratio, MB/s of YAML per core, wall seconds with all cores,
# and peak RSS per input form at the first and at the last N (flat when memory does not grow).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

sizes=${BENCH_SIZES:-10000 50000}
target=${CARGO_TARGET_DIR:-target}
log() { printf '[bench-check] %s\n' "$*" >&2; }

log "building release natsguard and examples/gen_manifests (a cold build takes minutes)"
cargo build --release --quiet --bin natsguard --example gen_manifests
bin=$target/release/natsguard
gen=$target/release/examples/gen_manifests

# shellcheck source=lib/gotool.sh
source "$repo/hack/lib/gotool.sh"
log "building opa from Go modules if needed (first run only, several minutes)"
opa=$(gotool_ensure opa "$repo/hack/tools/opa" github.com/open-policy-agent/opa)
policy=$repo/hack/bench/natsguard.rego

work=$(mktemp -d "${TMPDIR:-/tmp}/natsguard-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT

# measure LABEL CMD... -> prints "cpu_s wall_s rss_kib" for the command (output discarded)
measure() {
    local label=$1; shift
    /usr/bin/time -f '%U %S %e %M' -o "$work/time" "$@" >/dev/null 2>"$work/stderr" || true
    local user sys wall rss
    # The last line: time says "Command exited with non-zero status 1" first when there are findings.
    read -r user sys wall rss < <(tail -n 1 "$work/time")
    awk -v u="$user" -v s="$sys" -v w="$wall" -v r="$rss" 'BEGIN { printf "%.2f %.2f %d\n", u + s, w, r }'
    log "$(printf '%-34s' "$label") $(awk -v u="$user" -v s="$sys" -v w="$wall" -v r="$rss" \
        'BEGIN { printf "cpu %6.2fs  wall %6.2fs  peak RSS %7.1f MiB", u + s, w, r / 1024 }')"
}

declare -A cpu wall rss bytes
first=""
last=""
for n in $sizes; do
    [ -n "$first" ] || first=$n
    last=$n
    log "generating $n Deployments in three forms"
    "$gen" "$n" "$work/stream-$n.yaml" yaml
    "$gen" "$n" "$work/list-$n.yaml" yaml-list
    "$gen" "$n" "$work/list-$n.json" json-list
    mkdir -p "$work/dir-$n"
    awk -v dir="$work/dir-$n" -v n="$n" '/^---$/ { d++ } { f = sprintf("%s/part-%03d.yaml", dir, int(d * 100 / (n + 21))); print > f }' \
        "$work/stream-$n.yaml"
    bytes[$n]=$(stat -c %s "$work/stream-$n.yaml")
    log "$n: $((bytes[$n] / 1000000)) MB of YAML stream, $(($(stat -c %s "$work/list-$n.json") / 1000000)) MB of JSON List"

    # Exit status 1 (findings) is expected; measure ignores it.
    read -r c w r < <(measure "natsguard $n stream --jobs 1" "$bin" check -f "$work/stream-$n.yaml" -o json --jobs 1)
    cpu[$n,stream]=$c; wall[$n,stream]=$w; rss[$n,stream]=$r
    read -r c w r < <(measure "natsguard $n stream (all cores)" "$bin" check -f "$work/stream-$n.yaml" -o json)
    wall[$n,stream_all]=$w; cpu[$n,stream_all]=$c; rss[$n,stream_all]=$r
    read -r c w r < <(measure "natsguard $n stdin --jobs 1" sh -c "exec \"$bin\" check -o json --jobs 1 < \"$work/stream-$n.yaml\"")
    cpu[$n,stdin]=$c; rss[$n,stdin]=$r
    read -r c w r < <(measure "natsguard $n directory --jobs 1" "$bin" check -f "$work/dir-$n" -o json --jobs 1)
    cpu[$n,dir]=$c; rss[$n,dir]=$r
    read -r c w r < <(measure "natsguard $n YAML List --jobs 1" "$bin" check -f "$work/list-$n.yaml" -o json --jobs 1)
    cpu[$n,yaml_list]=$c; rss[$n,yaml_list]=$r
    read -r c w r < <(measure "natsguard $n JSON List --jobs 1" "$bin" check -f "$work/list-$n.json" -o json --jobs 1)
    cpu[$n,json_list]=$c; rss[$n,json_list]=$r
    read -r c w r < <(measure "natsguard $n text output --jobs 1" "$bin" check -f "$work/stream-$n.yaml" -o text --jobs 1)
    cpu[$n,text]=$c
    if [ "$n" = "$first" ]; then
        read -r c w r < <(measure "opa eval $n JSON List" "$opa" eval --format json -d "$policy" -i "$work/list-$n.json" \
            'data.natsguard.check.findings')
        cpu[$n,opa]=$c; wall[$n,opa]=$w; rss[$n,opa]=$r
        "$opa" eval --format json -d "$policy" -i "$work/list-$n.json" 'count(data.natsguard.check.findings)' |
            awk -F'"value": ' '/"value"/ { print "[bench-check] opa findings: " $2 }' >&2 || true
    fi
    rm -rf "$work/dir-$n" "$work/stream-$n.yaml" "$work/list-$n.yaml" "$work/list-$n.json"
done

n=$first
awk -v n="$n" -v bytes="${bytes[$n]}" -v ng="${cpu[$n,stream]}" -v opa="${cpu[$n,opa]}" \
    -v wall_all="${wall[$n,stream_all]}" -v last="$last" \
    -v r1="${rss[$n,stream]} ${rss[$n,stdin]} ${rss[$n,dir]} ${rss[$n,yaml_list]} ${rss[$n,json_list]} ${rss[$n,opa]}" \
    -v r2="${rss[$last,stream]} ${rss[$last,stdin]} ${rss[$last,dir]} ${rss[$last,yaml_list]} ${rss[$last,json_list]}" \
    -v c1="${cpu[$n,stdin]} ${cpu[$n,dir]} ${cpu[$n,yaml_list]} ${cpu[$n,json_list]} ${cpu[$n,text]}" 'BEGIN {
    split(r1, a, " "); split(r2, b, " "); split(c1, c, " ");
    if (ng < 0.01) ng = 0.01;
    printf "{\"n\":%d,\"bytes\":%d,\"natsguard_cpu_s\":%.2f,\"opa_cpu_s\":%.2f,\"ratio\":%.1f,\"mb_per_s_per_core\":%.1f,", n, bytes, ng, opa, opa / ng, bytes / 1e6 / ng
    printf "\"wall_s_all_cores\":%.2f,\"cpu_s_by_form\":{\"stdin\":%.2f,\"directory\":%.2f,\"yaml_list\":%.2f,\"json_list\":%.2f,\"text_output\":%.2f},", wall_all, c[1], c[2], c[3], c[4], c[5]
    printf "\"rss_mib\":{\"stream\":%.1f,\"stdin\":%.1f,\"directory\":%.1f,\"yaml_list\":%.1f,\"json_list\":%.1f,\"opa\":%.1f},", a[1]/1024, a[2]/1024, a[3]/1024, a[4]/1024, a[5]/1024, a[6]/1024
    printf "\"rss_mib_at_%d\":{\"stream\":%.1f,\"stdin\":%.1f,\"directory\":%.1f,\"yaml_list\":%.1f,\"json_list\":%.1f}}\n", last, b[1]/1024, b[2]/1024, b[3]/1024, b[4]/1024, b[5]/1024
}'
