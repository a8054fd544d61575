#!/usr/bin/env bash
# The container image, built and tested without a container engine (docs/release.md):
#   1. hack/image.sh builds it from the static binary as an OCI image layout, twice: same digest
#      (reproducible);
#   2. its config and layer, read with go-containerregistry (hack/tools/crane/imagetest): numeric
#      non-root USER, ENTRYPOINT the binary, default CMD, OCI labels (version = the crate's), one layer
#      holding only the static binary (no shell), and that binary runs `natsguard version`;
#   3. published as a release would publish it: `crane push` of the tested layout to a registry
#      (`crane registry serve` on 127.0.0.1), whose digest is the layout's; the chart rendered with
#      `image.digest` names exactly that image (`crane manifest` resolves it);
#   4. the image's filesystem runs the operator: the pushed image is exported (`crane export`), the
#      OCI runtime's default devices (/dev/null, urandom, ...) are bind-mounted in a private mount
#      namespace, and natsguard runs chrooted into it as user 65532, with the in-cluster configuration
#      a kubelet provides (service account token and CA file, KUBERNETES_SERVICE_HOST/PORT) and an
#      empty environment, against the real API server until /readyz answers 200; SIGTERM ends it
#      with 0. This proves it needs no CA bundle, /etc/passwd or tzdata. It needs root or an
#      unprivileged user namespace (unshare -r -m); where neither exists, NATSGUARD_IMAGE_NO_CHROOT=1
#      opts out of step 4 explicitly (the suite says so); without it the suite fails.
#
#   KUBECONFIG=... [NATSGUARD_STATIC_BIN=...] hack/test-image.sh
#
# NATSGUARD_STATIC_BIN defaults to the output of hack/build-static.sh (a no-op when it is built).
# Processes it starts (two throwaway registries, the operator) are stopped by pid; the
# ClusterRoleBinding it creates is deleted on exit.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"
ns=natsguard-image-test
suite=test-image
# shellcheck source=hack/lib/testing.sh
. "$repo_root/hack/lib/testing.sh"
# shellcheck source=hack/lib/registry.sh
. "$repo_root/hack/lib/registry.sh"
require_apiserver
command -v curl >/dev/null || die "curl is required"

work="$(mktemp -d "${TMPDIR:-/tmp}/natsguard-image-test.XXXXXX")"
registry_pid=""
op_pid=""
cleanup() {
  for p in "$op_pid" "$registry_pid"; do
    if [ -n "$p" ] && kill -0 "$p" 2>/dev/null; then
      kill -KILL "$p" 2>/dev/null || true
      wait "$p" 2>/dev/null || true
    fi
  done
  "$kubectl" delete clusterrolebinding natsguard-image-test --ignore-not-found --wait=false >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# alive PID: the process runs (a zombie, exited but not yet reaped by this shell, does not count).
alive() { [ -r "/proc/$1/stat" ] && [ "$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null)" != Z ]; }

crane="$(hack/crane.sh --print-path)"
bin="${NATSGUARD_STATIC_BIN:-}"
if [ -z "$bin" ]; then
  step "static binary (hack/build-static.sh)"
  bin="$(hack/build-static.sh | tail -n 1)"
fi
[ -x "$bin" ] || die "no static binary at '$bin'"
version="$(awk -F'"' '/^\[package\]/ { p = 1 } p && /^version *=/ { print $2; exit }' Cargo.toml)"
[ -n "$version" ] || die "cannot read the crate version from Cargo.toml"
app_version="$(sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' charts/natsguard/Chart.yaml)"
[ "$app_version" = "$version" ] && pass "the chart's appVersion (its default image tag) is the crate's version $version" ||
  fail "charts/natsguard/Chart.yaml appVersion '$app_version' differs from Cargo.toml version $version: the chart would install another image"
revision="$(git rev-parse HEAD)"
[ -z "$(git status --porcelain --untracked-files=no)" ] || revision="$revision-dirty"

# --- 1. build, twice -------------------------------------------------------------------------------
step "building the image (hack/image.sh)"
start=$SECONDS
digest="$(NATSGUARD_STATIC_BIN="$bin" hack/image.sh "$work/oci")" || die "hack/image.sh failed"
pass "built $work/oci in $((SECONDS - start)) s: $digest"
digest2="$(NATSGUARD_STATIC_BIN="$bin" hack/image.sh "$work/oci-again" 2>/dev/null)" || die "the second hack/image.sh failed"
if [ "$digest2" = "$digest" ]; then pass "reproducible: a second build has the same digest"; else
  fail "a second build of the same binary and commit has digest $digest2, the first $digest"
fi
layout_digest="$(grep -o '"digest": *"sha256:[0-9a-f]*"' "$work/oci/index.json" | head -n 1 | cut -d'"' -f4)"
[ "$layout_digest" = "$digest" ] && pass "the layout's index.json names $digest" ||
  fail "the layout's index.json names '$layout_digest', the build reported $digest"

# --- 2. config and layer ---------------------------------------------------------------------------
step "the image's config and layer (go test ./imagetest in hack/tools/crane)"
if (cd hack/tools/crane && NATSGUARD_IMAGE_LAYOUT="$work/oci" NATSGUARD_IMAGE_VERSION="$version" \
  NATSGUARD_IMAGE_REVISION="$revision" GOWORK=off GOFLAGS=-mod=readonly go test -count=1 -v ./imagetest/ \
  >"$work/imagetest.log" 2>&1); then
  pass "$(grep -c '^--- PASS' "$work/imagetest.log") Go checks passed: $(grep '^--- PASS' "$work/imagetest.log" | awk '{print $3}' | tr '\n' ' ')"
else
  cat "$work/imagetest.log" >&2
  fail "the image's config or layer check failed"
fi

# --- 3. publish to a local registry, pin the digest in the chart -----------------------------------
step "publishing to a local registry (crane registry serve on 127.0.0.1, as a release pushes)"
registry_serve "$crane" "$work/registry.log" || die "no local registry (crane registry serve)"
port=$registry_port
repo="127.0.0.1:$port/natsguard/natsguard"
pushed="$("$crane" push "$work/oci" "$repo:$version" 2>"$work/push.log")" || { cat "$work/push.log" >&2; die "crane push failed"; }
[ "$pushed" = "$repo@$digest" ] && pass "crane push printed $pushed" || fail "crane push printed '$pushed', want $repo@$digest"
remote_digest="$("$crane" digest "$repo:$version")"
[ "$remote_digest" = "$digest" ] && pass "the registry serves $repo:$version as $digest" ||
  fail "the registry serves $repo:$version as $remote_digest, the layout is $digest"
chart_image="$(hack/helm.sh template natsguard charts/natsguard --set "image.repository=$repo" \
  --set "image.digest=$digest" --show-only templates/deployment.yaml | sed -n 's/^ *image: "\(.*\)"$/\1/p')"
[ "$chart_image" = "$repo@$digest" ] && pass "the chart renders image: $chart_image" ||
  fail "the chart renders image '$chart_image', want $repo@$digest"
if "$crane" manifest "$chart_image" >"$work/manifest.json" 2>"$work/manifest.err"; then
  pass "the chart's image reference resolves in the registry"
else
  cat "$work/manifest.err" >&2
  fail "the chart's image reference does not resolve"
fi

# --- figures -----------------------------------------------------------------------------------------
layer_bytes="$(grep -o '"size": *[0-9]*' "$work/manifest.json" | tail -n 1 | tr -dc 0-9)"
step "image size: $(du -sb "$work/oci/blobs" | cut -f1) bytes of blobs (layer $layer_bytes bytes compressed," \
  "binary $(stat -c %s "$bin") bytes uncompressed)"

# --- 4. the operator runs from the image's filesystem alone ------------------------------------------
step "running the operator from the image's filesystem (crane export, chroot, in-cluster config)"
# What a container runtime gives every container besides the image (the OCI runtime spec's default
# devices: /dev/null, zero, full, random, urandom, tty) is bind-mounted into the exported filesystem in
# a private mount namespace, then natsguard runs chrooted into it. Absolute paths: the operator runs
# under env -i (no PATH).
chroot_bin="$(command -v chroot || true)"
unshare_bin="$(command -v unshare || true)"
mount_bin="$(command -v mount || true)"
chroot_run=()
if [ -n "$chroot_bin" ] && [ -n "$unshare_bin" ] && [ -n "$mount_bin" ]; then
  cat >"$work/launch.sh" <<EOF
#!/bin/sh
# launch.sh ROOTFS CMD...: bind the runtime's default devices into ROOTFS/dev, then exec CMD.
set -e
for d in null zero full random urandom tty; do $mount_bin --bind "/dev/\$d" "\$1/dev/\$d"; done
shift
exec "\$@"
EOF
  if [ "$(id -u)" = 0 ]; then
    chroot_run=("$unshare_bin" --mount /bin/sh "$work/launch.sh" "$work/rootfs" "$chroot_bin" --userspec=65532:65532)
    how="chroot as user 65532"
  elif "$unshare_bin" --map-root-user --mount true 2>/dev/null; then
    chroot_run=("$unshare_bin" --map-root-user --mount /bin/sh "$work/launch.sh" "$work/rootfs" "$chroot_bin")
    how="an unprivileged user namespace (unshare -r) and chroot"
  fi
fi
if [ "${#chroot_run[@]}" = 0 ]; then
  if [ "${NATSGUARD_IMAGE_NO_CHROOT:-}" = 1 ]; then
    step "NOT RUN: the operator from the image's filesystem (no root, no user namespaces; NATSGUARD_IMAGE_NO_CHROOT=1)"
  else
    fail "cannot chroot (not root, and unprivileged user namespaces are off); set NATSGUARD_IMAGE_NO_CHROOT=1 to run without this check"
  fi
else
  rootfs="$work/rootfs"
  mkdir -p "$rootfs"
  "$crane" export "$chart_image" "$work/rootfs.tar" || die "crane export failed"
  tar -xf "$work/rootfs.tar" -C "$rootfs"
  found="$(cd "$rootfs" && find . -mindepth 1 | sort | tr '\n' ' ')"
  [ "$found" = "./usr ./usr/local ./usr/local/bin ./usr/local/bin/natsguard " ] &&
    pass "exported filesystem: $found" || fail "exported filesystem has more than the binary: $found"

  "$kubectl" apply --server-side --force-conflicts --field-manager=natsguard-image-test -f crds/natsguard.io.yaml >/dev/null
  "$kubectl" wait --for=condition=Established --timeout=60s \
    crd/natstransportpolicies.natsguard.io crd/natstransportincidents.natsguard.io >/dev/null
  "$kubectl" create namespace "$ns" --dry-run=client -o yaml |
    "$kubectl" apply --server-side --field-manager=natsguard-image-test -f - >/dev/null
  "$kubectl" -n "$ns" create serviceaccount natsguard --dry-run=client -o yaml |
    "$kubectl" apply --server-side --field-manager=natsguard-image-test -f - >/dev/null
  # Broad rights on purpose: this step tests the image's filesystem, hack/test-chart-binary.sh the RBAC.
  "$kubectl" create clusterrolebinding natsguard-image-test --clusterrole=cluster-admin \
    --serviceaccount="$ns:natsguard" --dry-run=client -o yaml |
    "$kubectl" apply --server-side --field-manager=natsguard-image-test -f - >/dev/null
  # What the kubelet mounts for the pod's ServiceAccount.
  sa_dir="$rootfs/var/run/secrets/kubernetes.io/serviceaccount"
  mkdir -p "$sa_dir"
  "$kubectl" -n "$ns" create token natsguard --duration=20m >"$sa_dir/token" || die "cannot get a token"
  "$kubectl" config view --raw --minify -o jsonpath='{.clusters[0].cluster.certificate-authority-data}' |
    base64 -d >"$sa_dir/ca.crt"
  printf '%s' "$ns" >"$sa_dir/namespace"
  chmod -R a+rX "$rootfs/var"
  mkdir -p "$rootfs/dev"
  for d in null zero full random urandom tty; do : >"$rootfs/dev/$d"; done
  server="$("$kubectl" config view --raw --minify -o jsonpath='{.clusters[0].cluster.server}')"
  api_port="${server##*:}"
  http_port="$(free_port)" || die "no free loopback port"
  # The image's entrypoint with the chart's kind of arguments (loopback and a free port here).
  env -i KUBERNETES_SERVICE_HOST=127.0.0.1 KUBERNETES_SERVICE_PORT="$api_port" POD_NAMESPACE="$ns" \
    POD_NAME=natsguard-image-test RUST_LOG=info \
    "${chroot_run[@]}" "$rootfs" /usr/local/bin/natsguard run --http-addr "127.0.0.1:$http_port" --log-format json \
    >"$work/operator.log" 2>&1 &
  op_pid=$!
  ready=""
  for _ in $(seq 1 120); do
    alive "$op_pid" || break
    if [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$http_port/readyz" || true)" = 200 ]; then
      ready=1
      break
    fi
    sleep 0.5
  done
  if [ -n "$ready" ]; then
    pass "ready (/readyz 200) in the image's filesystem via $how, with only the in-cluster token and CA"
    if curl -s --max-time 5 "http://127.0.0.1:$http_port/metrics" | grep -q '^natsguard_'; then
      pass "/metrics serves natsguard_* metrics"
    else fail "/metrics serves no natsguard_* metric"; fi
  else
    tail -n 30 "$work/operator.log" >&2
    fail "the operator did not become ready from the image's filesystem within 60 s"
  fi
  if alive "$op_pid"; then
    kill -TERM "$op_pid"
    rc=""
    for _ in $(seq 1 30); do
      alive "$op_pid" || { wait "$op_pid" && rc=0 || rc=$?; break; }
      sleep 0.5
    done
    if [ "$rc" = 0 ]; then pass "SIGTERM: exited 0"; else
      tail -n 20 "$work/operator.log" >&2
      fail "SIGTERM: exit status '${rc:-still running after 15 s}'"
    fi
    op_pid=""
  fi
  if grep -Eqi 'certificate|native root|passwd|tzdata|time ?zone' "$work/operator.log"; then
    grep -Ei 'certificate|native root|passwd|tzdata|time ?zone' "$work/operator.log" | head -n 5 >&2
    fail "the operator's log mentions certificates, passwd or time zones (something missing from the image?)"
  else pass "no complaint about CA roots, passwd or time zones in the log"; fi
fi

if [ "$failures" -gt 0 ]; then
  step "$failures check(s) FAILED"
  exit 1
fi
step "all image checks passed"
