#!/usr/bin/env bash
# Build the static release binary that the container image ships (hack/image.sh puts it in the image),
# and prove it: it must be statically linked (no ELF interpreter, no shared libraries) and
# `natsguard version` must run.
#
#   hack/build-static.sh            # builds, verifies, prints the binary's path on the last line
#   NATSGUARD_STATIC=glibc hack/build-static.sh   # force the static glibc fallback
#
# Preferred: the musl target (x86_64-unknown-linux-musl). It needs the Rust std for that target
# (`rustup target add x86_64-unknown-linux-musl`) and a musl C compiler for the crates with C/asm
# code (ring): `musl-gcc` from Debian's musl-tools, or `x86_64-linux-musl-gcc`.
# Fallback: a static-pie glibc build (-C target-feature=+crt-static on x86_64-unknown-linux-gnu).
# The script says which one it uses and why.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"
log() { printf '[build-static] %s\n' "$*" >&2; }
die() { printf '[build-static] error: %s\n' "$*" >&2; exit 1; }

musl_target=x86_64-unknown-linux-musl
gnu_target=x86_64-unknown-linux-gnu
mode="${NATSGUARD_STATIC:-auto}"

musl_cc=""
for c in x86_64-linux-musl-gcc musl-gcc; do
  if command -v "$c" >/dev/null 2>&1; then musl_cc="$c"; break; fi
done
musl_std=no
if command -v rustup >/dev/null 2>&1 && rustup target list --installed 2>/dev/null | grep -qx "$musl_target"; then
  musl_std=yes
fi

if [ "$mode" = auto ]; then
  if [ "$musl_std" = yes ] && [ -n "$musl_cc" ]; then
    mode=musl
  else
    mode=glibc
    [ "$musl_std" = yes ] || log "the Rust std for $musl_target is not installed (rustup target add $musl_target)"
    [ -n "$musl_cc" ] || log "no musl C compiler (musl-gcc / x86_64-linux-musl-gcc; Debian: apt-get install musl-tools)"
    log "falling back to a static-pie glibc build"
  fi
fi

start=$(date +%s)
case "$mode" in
  musl)
    target=$musl_target
    log "building the release binary for $target with C compiler $musl_cc (cargo build --release --locked)"
    CC_x86_64_unknown_linux_musl="$musl_cc" \
      cargo build --release --locked --target "$target" --bin natsguard
    ;;
  glibc)
    target=$gnu_target
    log "building a static-pie release binary for $target (+crt-static; cargo build --release --locked)"
    # A separate target dir keeps the static flags from invalidating the normal release build.
    RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+crt-static" CARGO_TARGET_DIR="$repo_root/target/static-glibc" \
      cargo build --release --locked --target "$target" --bin natsguard
    ;;
  *) die "NATSGUARD_STATIC must be auto, musl or glibc (got '$mode')" ;;
esac

if [ "$mode" = glibc ]; then
  bin="$repo_root/target/static-glibc/$target/release/natsguard"
else
  bin="$repo_root/target/$target/release/natsguard"
fi
[ -x "$bin" ] || die "cargo reported success but $bin is missing"
log "built in $(($(date +%s) - start))s"

# Verify: statically linked. `file` must say so, and must not name an interpreter; ldd must find no
# shared libraries (glibc's ldd says "not a dynamic executable", or "statically linked" for static-pie).
desc="$(file -b "$bin")"
log "file: $desc"
case "$desc" in
  *"statically linked"* | *"static-pie linked"*) ;;
  *) die "$bin is not statically linked: $desc" ;;
esac
case "$desc" in
  *interpreter*) die "$bin names an ELF interpreter: $desc" ;;
esac
ldd_out="$(ldd "$bin" 2>&1 || true)"
log "ldd: $ldd_out"
if printf '%s\n' "$ldd_out" | grep -q '=>'; then
  die "$bin links shared libraries: $ldd_out"
fi

# Verify: it runs, in an empty environment (as in a scratch image).
version_out="$(env -i "$bin" version)" || die "'$bin version' failed"
log "natsguard version: $version_out"
case "$version_out" in
  "natsguard "*) ;;
  *) die "unexpected output of 'natsguard version': $version_out" ;;
esac

size=$(stat -c %s "$bin")
log "static binary: $bin ($((size / 1024 / 1024)) MiB, $size bytes)"
printf '%s\n' "$bin"
