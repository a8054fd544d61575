#!/usr/bin/env bash
# Build natsguard's container image without a container engine, as an OCI image layout directory.
# This script is the one definition of the image (docs/release.md).
#
#   hack/image.sh [OUT_DIR]     # default target/image/natsguard-oci; the last line printed is the digest
#
# Shape (FROM scratch, like distroless "static" minus what natsguard does not use):
#   - one layer: /usr/local/bin/natsguard (the static binary of hack/build-static.sh, mode 0555,
#     owned by root) and its parent directories; no shell, no libc, no package manager, no /etc.
#     No CA bundle: in a cluster the operator trusts only the API server CA it is given
#     (/var/run/secrets/kubernetes.io/serviceaccount/ca.crt); no /etc/passwd: the user is numeric;
#     no tzdata: every time natsguard prints is UTC. hack/test-image.sh runs the operator from this
#     filesystem plus the container runtime's default devices against the API server to prove it.
#   - config: linux/amd64, USER 65532:65532, ENTRYPOINT the binary, CMD `run --http-addr
#     0.0.0.0:8080 --log-format json` (the chart passes its own args), EXPOSE 8080/tcp, OCI labels
#     title, description, source, version, revision, licenses.
#
# How (go-containerregistry's crane, hack/crane.sh): a deterministic layer tarball (sorted, root-owned,
# mtime SOURCE_DATE_EPOCH, else the commit time), `crane append` onto an empty OCI base and `crane
# mutate` for the config, both against a throwaway in-memory `crane registry serve` on 127.0.0.1 (crane
# edits images in registries), then `crane pull --format=oci` into OUT_DIR. The same binary and commit
# give the same digest.
#
# Environment: NATSGUARD_STATIC_BIN  the static binary (default: build it with hack/build-static.sh)
#              NATSGUARD_IMAGE_SOURCE the org.opencontainers.image.source label
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"
out="${1:-$repo_root/target/image/natsguard-oci}"
log() { printf '[image] %s\n' "$*" >&2; }
die() { printf '[image] error: %s\n' "$*" >&2; exit 1; }
# shellcheck source=hack/lib/registry.sh
. "$repo_root/hack/lib/registry.sh"

command -v tar >/dev/null || die "tar is needed"
crane="$(hack/crane.sh --print-path)"
log "crane $("$crane" version)"

bin="${NATSGUARD_STATIC_BIN:-}"
if [ -z "$bin" ]; then
  log "building the static binary (hack/build-static.sh)"
  bin="$(hack/build-static.sh | tail -n 1)"
fi
[ -x "$bin" ] || die "no static binary at '$bin'"
# The version label is what the binary says it is ("natsguard X.Y.Z"), not a second copy of it.
version="$(env -i "$bin" version)" || die "'$bin version' failed"
version="${version#natsguard }"
[[ $version =~ ^[0-9]+\.[0-9]+\.[0-9]+ ]] || die "unexpected 'natsguard version' output: natsguard $version"
revision="$(git rev-parse HEAD 2>/dev/null || echo unknown)"
[ -z "$(git status --porcelain --untracked-files=no 2>/dev/null)" ] || revision="$revision-dirty"
epoch="${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 0)}"
source_url="${NATSGUARD_IMAGE_SOURCE:-https://github.com/natsguard/natsguard}"

work="$(mktemp -d "${TMPDIR:-/tmp}/natsguard-image.XXXXXX")"
registry_pid=""
cleanup() {
  if [ -n "$registry_pid" ]; then
    kill "$registry_pid" 2>/dev/null || true
    wait "$registry_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log "layer: /usr/local/bin/natsguard ($(stat -c %s "$bin") bytes, natsguard $version, revision $revision)"
mkdir -p "$work/rootfs/usr/local/bin"
install -m 0555 "$bin" "$work/rootfs/usr/local/bin/natsguard"
chmod 0755 "$work/rootfs/usr" "$work/rootfs/usr/local" "$work/rootfs/usr/local/bin"
tar --create --file "$work/layer.tar" --directory "$work/rootfs" --format=ustar --sort=name \
  --owner=0 --group=0 --numeric-owner --mtime="@$epoch" usr

# A throwaway registry on a loopback port the kernel picks; stopped (by pid) on exit.
registry_serve "$crane" "$work/registry.log" || die "no local registry (crane registry serve)"
port=$registry_port
repo="127.0.0.1:$port/natsguard"
log "build registry: $repo (crane registry serve, pid $registry_pid)"

"$crane" append --oci-empty-base --new_layer "$work/layer.tar" --new_tag "$repo:base" >/dev/null 2>"$work/append.log" ||
  { cat "$work/append.log" >&2; die "crane append failed"; }
"$crane" mutate "$repo:base" --tag "$repo:$version" --set-platform linux/amd64 \
  --user 65532:65532 --entrypoint /usr/local/bin/natsguard \
  --cmd run,--http-addr,0.0.0.0:8080,--log-format,json --exposed-ports 8080/tcp \
  --label org.opencontainers.image.title=natsguard \
  --label "org.opencontainers.image.description=Kubernetes operator and CI gate that keeps NATS client transport security from drifting" \
  --label "org.opencontainers.image.source=$source_url" \
  --label "org.opencontainers.image.version=$version" \
  --label "org.opencontainers.image.revision=$revision" \
  --label org.opencontainers.image.licenses=Apache-2.0 >/dev/null 2>"$work/mutate.log" ||
  { cat "$work/mutate.log" >&2; die "crane mutate failed"; }

rm -rf "$out"
mkdir -p "$(dirname "$out")"
"$crane" pull --format=oci "$repo:$version" "$out" 2>"$work/pull.log" || { cat "$work/pull.log" >&2; die "crane pull failed"; }
digest="$("$crane" digest "$repo:$version")"
size="$(du -sb "$out/blobs" | cut -f1)"
log "OCI image layout: $out (natsguard $version, $digest, blobs $size bytes)"
printf '%s\n' "$digest"
