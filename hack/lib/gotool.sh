# Build a Go program from a pinned wrapper module under hack/tools/ and cache the binary outside the
# repository (no binary downloads on this machine). Sourced by hack/helm.sh and the other tool
# scripts; one copy of the recipe for every Go-built tool.
#
#   source hack/lib/gotool.sh
#   bin=$(gotool_ensure NAME MODULE_DIR PACKAGE [LDFLAGS [RECIPE [TAGS]]])
#
# The binary lands in ${NATSGUARD_BIN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/natsguard/bin} as
# NAME-<version of the module that provides PACKAGE>-<hash of go.mod, go.sum, ldflags, recipe, tags>, so a
# changed pin builds a new one and an unchanged pin is never rebuilt. Builds are atomic (a temporary
# file renamed into place), one at a time per binary (flock), and print phase and progress lines so a
# cold build is never silent. Bump RECIPE when the way a tool is built changes.

gotool_cache="${NATSGUARD_BIN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/natsguard/bin}"

gotool_log() { printf '[%s] %s\n' "$1" "$2" >&2; }

# gotool_module_version MODULE_DIR MODULE_PATH -> the version MODULE_DIR/go.mod requires.
gotool_module_version() {
  awk -v m="$2" '$1 == m { print $2; exit } $1 == "require" && $2 == m { print $3; exit }' "$1/go.mod"
}

# gotool_package_version MODULE_DIR PACKAGE -> the version of the module that provides PACKAGE: the
# longest module path in MODULE_DIR/go.mod that is PACKAGE or a prefix of it (a replacement's version
# when the module is replaced). Read from go.mod alone: `go list` would load the whole package graph
# (seconds) on every call, also when the binary is cached.
gotool_package_version() {
  awk -v pkg="$2" '
    function consider(path, version) {
      if ((pkg == path || index(pkg, path "/") == 1) && length(path) >= length(best)) { best = path; v[path] = version }
    }
    function replaced(path, version) { if (pkg == path || index(pkg, path "/") == 1) r[path] = version }
    $1 == "require" && $2 != "(" { consider($2, $3); next }
    $1 == "require" && $2 == "(" { block = "require"; next }
    $1 == "replace" && $2 != "(" { if ($3 == "=>") replaced($2, $5); else if ($4 == "=>") replaced($2, $6); next }
    $1 == "replace" && $2 == "(" { block = "replace"; next }
    $1 == ")" { block = ""; next }
    block == "require" && NF >= 2 { consider($1, $2) }
    block == "replace" && $2 == "=>" { replaced($1, $4) }
    block == "replace" && $3 == "=>" { replaced($1, $5) }
    END { if (best != "") print ((best in r && r[best] != "") ? r[best] : v[best]) }' "$1/go.mod"
}

# gotool_build NAME MODULE_DIR PACKAGE OUTPUT LDFLAGS [TAGS]: compile with progress lines, atomically.
gotool_build() {
  local name="$1" dir="$2" pkg="$3" out="$4" ldflags="$5" tags="${6:-}"
  local total start tmp hb_pid rc
  start=$(date +%s)
  command -v go >/dev/null || { gotool_log "$name" "error: go is not on PATH; install Go 1.26 or newer"; return 1; }
  gotool_log "$name" "resolving the package graph of $pkg (downloads modules on the first run)"
  total=$(cd "$dir" && GOWORK=off GOFLAGS=-mod=readonly go list -tags "$tags" -deps "$pkg" | wc -l) || {
    gotool_log "$name" "error: go list failed in $dir (is the module cache reachable?)"
    return 1
  }
  gotool_log "$name" "compiling up to $total packages (cached packages are skipped)"
  tmp="$out.tmp.$$"
  (
    while sleep 30; do
      printf '[%s] still building (%ss elapsed)\n' "$name" "$(($(date +%s) - start))" >&2
    done
  ) &
  hb_pid=$!
  set +e
  (cd "$dir" && GOWORK=off GOFLAGS=-mod=readonly CGO_ENABLED=0 \
    go build -v -trimpath -tags "$tags" -ldflags "$ldflags" -o "$tmp" "$pkg" 2>&1) |
    awk -v total="$total" -v start="$start" -v name="$name" '
      /^(#|[a-z]+:)|\.go:[0-9]+/ { print "[" name "] " $0; fflush(); next }   # diagnostics pass through
      { n++; if (n % 50 == 0) { printf "[%s] compiled %d/%d packages (%ds)\n", name, n, total, systime() - start; fflush() } }
      END { printf "[%s] compiled and linked (%d packages compiled, the rest came from the Go build cache)\n", name, n }' >&2
  rc=${PIPESTATUS[0]}
  set -e
  kill "$hb_pid" 2>/dev/null || true
  wait "$hb_pid" 2>/dev/null || true
  if [ "$rc" -ne 0 ]; then
    rm -f "$tmp"
    gotool_log "$name" "error: go build of $pkg failed (exit $rc)"
    return 1
  fi
  mv -f "$tmp" "$out"
  gotool_log "$name" "built $out in $(($(date +%s) - start))s"
}

# gotool_ensure NAME MODULE_DIR PACKAGE [LDFLAGS [RECIPE [TAGS]]] -> prints the cached binary's path.
# The version in the file name is that of the module in MODULE_DIR/go.mod whose path prefixes PACKAGE.
# TAGS: comma-separated Go build tags (e.g. a project's documented tags that leave out unused parts).
gotool_ensure() {
  local name="$1" dir="$2" pkg="$3" ldflags="${4:--s -w}" recipe="${5:-1}" tags="${6:-}"
  local version hash bin
  version=$(gotool_package_version "$dir" "$pkg") || version=""
  [ -n "$version" ] || version=local
  hash="$( (cat "$dir/go.mod" "$dir/go.sum" 2>/dev/null; echo "ldflags=$ldflags recipe=$recipe pkg=$pkg${tags:+ tags=$tags}") | sha256sum | cut -c1-12)"
  bin="$gotool_cache/$name-$version-$hash"
  if [ ! -x "$bin" ]; then
    mkdir -p "$gotool_cache"
    exec 9>"$gotool_cache/.$name-$version-$hash.lock"
    flock 9
    if [ ! -x "$bin" ]; then
      gotool_log "$name" "building $name $version from Go modules into $bin (first run only)"
      gotool_build "$name" "$dir" "$pkg" "$bin" "$ldflags" "$tags" || { exec 9>&-; return 1; }
    fi
    exec 9>&-
  fi
  printf '%s\n' "$bin"
}
