#!/usr/bin/env bash
# A real, local Kubernetes control plane (etcd + kube-apiserver) built from Go modules.
#
#   hack/controlplane.sh build    build (or reuse) the cached etcd and kube-apiserver binaries
#   hack/controlplane.sh up       build if needed, start both, wait until ready; last line: export KUBECONFIG=...
#   hack/controlplane.sh down     stop exactly the processes `up` started (by pid) and remove the state dir
#   hack/controlplane.sh status   up/down, with ports and pids
#   hack/controlplane.sh env      print the export line of a running control plane
#
# Fault injection (the fault suite, tests/e2e_faults.rs, uses these on a control plane of its own;
# each acts only on the processes `up` started in this state dir, by pid):
#   hack/controlplane.sh apiserver-stop [--kill]  stop kube-apiserver alone (SIGTERM, or SIGKILL); etcd and the state stay
#   hack/controlplane.sh apiserver-start          start it again with the same flags, port and certificates; wait for /readyz
#   hack/controlplane.sh etcd-pause               SIGSTOP etcd (requests hang, nothing fails fast)
#   hack/controlplane.sh etcd-resume              SIGCONT etcd
#
# Environment:
#   NATSGUARD_CP_DIR     state dir (certs, data, logs, kubeconfig, pids); default: one per checkout under /tmp
#   NATSGUARD_BIN_CACHE  binary cache; default ${XDG_CACHE_HOME:-$HOME/.cache}/natsguard/bin
#   NATSGUARD_CP_READY_TIMEOUT  seconds to wait for /readyz (default 180)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN_CACHE=${NATSGUARD_BIN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/natsguard/bin}
# One state dir per checkout, so several clones/worktrees on one machine never stop each other's servers.
CHECKOUT_KEY=$(printf '%s' "$ROOT" | sha256sum | cut -c1-8)
STATE=${NATSGUARD_CP_DIR:-${TMPDIR:-/tmp}/natsguard-cp-${CHECKOUT_KEY}}
READY_TIMEOUT=${NATSGUARD_CP_READY_TIMEOUT:-180}

# shellcheck source=lib/k8s-version.sh
source "$ROOT/hack/lib/k8s-version.sh"
# shellcheck source=lib/ports.sh
source "$ROOT/hack/lib/ports.sh"

K8S_DIR=$ROOT/hack/tools/kubernetes
ETCD_DIR=$ROOT/hack/tools/etcd

log() { printf '[controlplane %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() {
  log "ERROR: $*"
  exit 1
}

# The version a wrapper module requires of MODULE (read from its go.mod, no network).
module_version() {
  awk -v m="$2" '($1 == "require" && $2 == m) { print $3; exit } ($1 == m) { print $2; exit }' "$1/go.mod"
}
# A short hash of the wrapper's go.mod + go.sum: any change to the pinned modules means a new binary.
wrapper_hash() { cat "$1/go.mod" "$1/go.sum" | sha256sum | cut -c1-12; }

K8S_VERSION=$(module_version "$K8S_DIR" k8s.io/kubernetes)
ETCD_VERSION=$(module_version "$ETCD_DIR" go.etcd.io/etcd/server/v3)
[[ -n $K8S_VERSION && -n $ETCD_VERSION ]] || die "cannot read the pinned versions from hack/tools/*/go.mod"
APISERVER_BIN=$BIN_CACHE/kube-apiserver-$K8S_VERSION-$(wrapper_hash "$K8S_DIR")
ETCD_BIN=$BIN_CACHE/etcd-$ETCD_VERSION-$(wrapper_hash "$ETCD_DIR")

# ---------------------------------------------------------------------------------------------
# build

# Prints a progress line every 10 s while PID runs. Args: pid label [log total]: with a total,
# counts the packages `go build -v` has compiled; with only a log, the modules `go` has downloaded.
progress_wait() {
  local pid=$1 label=$2 blog=${3:-} total=${4:-} start=$SECONDS next=$((SECONDS + 10)) n
  while kill -0 "$pid" 2>/dev/null; do
    sleep 1
    if ((SECONDS >= next)); then
      next=$((SECONDS + 10))
      if [[ -n $total ]]; then
        n=$(grep -cv '^go: ' "$blog" 2>/dev/null || true)
        ((n > total)) && n=$total
        log "$label: $n/$total packages compiled ($((SECONDS - start)) s)"
      elif [[ -n $blog ]]; then
        n=$(grep -c '^go: downloading' "$blog" 2>/dev/null || true)
        log "$label: $n modules downloaded so far ($((SECONDS - start)) s)"
      else
        log "$label: still running ($((SECONDS - start)) s)"
      fi
    fi
  done
  wait "$pid"
}

# True when BIN exists, runs, and reports EXPECTED in its --version output.
# (No `| grep -q` here or below: with pipefail, grep quitting early can fail the writer with SIGPIPE.)
binary_ok() {
  local out
  [[ -x $1 ]] && out=$("$1" --version 2>/dev/null) && [[ $out == *"$2"* ]]
}

# build_one NAME WRAPPER_DIR PACKAGE OUT EXPECTED_VERSION_TEXT [LDFLAGS]
build_one() {
  local name=$1 dir=$2 pkg=$3 out=$4 expect=$5 ldflags=${6:-}
  if binary_ok "$out" "$expect"; then
    log "$name: using cached $out"
    return 0
  fi
  mkdir -p "$BIN_CACHE"
  # One builder at a time per binary (other checkouts on this machine may build concurrently).
  exec {lockfd}>"$BIN_CACHE/.$(basename "$out").lock"
  flock "$lockfd"
  if binary_ok "$out" "$expect"; then
    log "$name: using cached $out (built by a concurrent run)"
    exec {lockfd}>&-
    return 0
  fi
  [[ -e $out ]] && log "$name: cached binary is stale or broken; rebuilding"
  rm -f "$out"
  command -v go >/dev/null || die "go is not installed (needed to build $name; see README prerequisites)"
  local tmp="$out.tmp.$$" blog="$out.build.$$.log" total t0=$SECONDS
  # An interrupted or failed build leaves no temporary files and no compiler running.
  BUILD_TMP=("$tmp" "$blog" "$blog.deps")
  trap 'rm -f "${BUILD_TMP[@]}"; [[ -n ${BUILD_PID:-} ]] && kill "$BUILD_PID" 2>/dev/null; exit 130' INT TERM
  trap 'rm -f "${BUILD_TMP[@]}"' EXIT
  export GOWORK=off CGO_ENABLED=0 GOFLAGS='-mod=readonly -buildvcs=false'
  log "$name: downloading modules and resolving packages (first time only; can take minutes)…"
  (cd "$dir" && exec go list -deps "$pkg" >"$blog.deps" 2>"$blog") &
  BUILD_PID=$!
  if ! progress_wait "$BUILD_PID" "$name: resolving" "$blog"; then
    cat "$blog" >&2
    rm -f "$blog" "$blog.deps"
    die "$name: go list failed"
  fi
  total=$(wc -l <"$blog.deps")
  rm -f "$blog.deps"
  log "$name: compiling $total packages (cold: many minutes; progress every 10 s; packages already in the Go build cache are not counted)…"
  (cd "$dir" && exec go build -v -trimpath -ldflags "$ldflags" -o "$tmp" "$pkg" 2>"$blog") &
  BUILD_PID=$!
  if ! progress_wait "$BUILD_PID" "compiling $name" "$blog" "$total"; then
    tail -n 40 "$blog" >&2
    rm -f "$tmp" "$blog"
    die "$name: go build failed"
  fi
  rm -f "$blog"
  if ! binary_ok "$tmp" "$expect"; then
    "$tmp" --version >&2 || true
    rm -f "$tmp"
    die "$name: built binary does not report '$expect' in --version"
  fi
  mv -f "$tmp" "$out"
  BUILD_PID= BUILD_TMP=()
  trap - INT TERM EXIT
  exec {lockfd}>&-
  log "$name: built $out in $((SECONDS - t0)) s"
}

cmd_build() {
  local ldflags
  ldflags=$(k8s_version_ldflags "$K8S_VERSION")
  build_one etcd "$ETCD_DIR" go.etcd.io/etcd/server/v3 "$ETCD_BIN" "etcd Version: ${ETCD_VERSION#v}" "-s -w"
  build_one kube-apiserver "$K8S_DIR" k8s.io/kubernetes/cmd/kube-apiserver "$APISERVER_BIN" \
    "Kubernetes $K8S_VERSION" "$ldflags"
}

# ---------------------------------------------------------------------------------------------
# processes

# The pid in FILE if that process is alive and is ours (its command line names our state dir).
our_pid() {
  local f=$1 pid
  [[ -f $f ]] || return 1
  pid=$(<"$f")
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  [[ -r /proc/$pid/cmdline ]] || return 1
  local cmdline
  cmdline=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
  [[ $cmdline == *"$STATE/"* ]] || return 1
  printf '%s\n' "$pid"
}

# Stop the process recorded in FILE (SIGNAL, default TERM, then KILL after 20 s) and wait until it
# is gone.
stop_one() {
  local name=$1 f=$2 sig=${3:-TERM} pid i
  if pid=$(our_pid "$f"); then
    log "stopping $name (pid $pid, SIG$sig)"
    # A stopped process cannot act on SIGTERM: continue it first (etcd paused by etcd-pause).
    kill -CONT "$pid" 2>/dev/null || true
    kill "-$sig" "$pid" 2>/dev/null || true
    for ((i = 0; i < 200; i++)); do
      our_pid "$f" >/dev/null || break
      sleep 0.1
    done
    if our_pid "$f" >/dev/null; then
      log "$name did not stop within 20 s; killing"
      kill -KILL "$pid" 2>/dev/null || true
      for ((i = 0; i < 50; i++)); do
        our_pid "$f" >/dev/null || break
        sleep 0.1
      done
    fi
    # Reap it if this shell started it (avoids a zombie until we exit).
    wait "$pid" 2>/dev/null || true
  fi
  rm -f "$f"
}

cmd_down() {
  stop_one kube-apiserver "$STATE/kube-apiserver.pid"
  stop_one etcd "$STATE/etcd.pid"
  if [[ -d $STATE ]]; then
    [[ -f $STATE/.natsguard-cp ]] || die "$STATE exists but was not made by this script; not removing it"
    rm -rf "$STATE"
    log "down (removed $STATE)"
  else
    log "down (nothing was running)"
  fi
}

api_curl() {
  curl -sS --max-time 5 --cacert "$STATE/certs/ca.crt" --cert "$STATE/certs/admin.crt" \
    --key "$STATE/certs/admin.key" "https://127.0.0.1:$(<"$STATE/kube-apiserver.port")$1" "${@:2}"
}

healthy() {
  our_pid "$STATE/etcd.pid" >/dev/null && our_pid "$STATE/kube-apiserver.pid" >/dev/null &&
    [[ -f $STATE/kubeconfig ]] && [[ $(api_curl /readyz 2>/dev/null) == ok ]]
}

gen_certs() {
  local d=$STATE/certs
  mkdir -p "$d"
  (
    cd "$d"
    openssl genrsa -out ca.key 2048
    openssl req -x509 -new -key ca.key -sha256 -days 7 -subj "/CN=natsguard-test-ca" -out ca.crt
    openssl genrsa -out serving.key 2048
    openssl req -new -key serving.key -subj "/CN=kube-apiserver" -out serving.csr
    printf '%s\n' "subjectAltName=DNS:localhost,IP:127.0.0.1" "extendedKeyUsage=serverAuth" \
      "keyUsage=critical,digitalSignature,keyEncipherment" >serving.ext
    openssl x509 -req -in serving.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 7 -sha256 \
      -extfile serving.ext -out serving.crt
    openssl genrsa -out admin.key 2048
    openssl req -new -key admin.key -subj "/O=system:masters/CN=natsguard-admin" -out admin.csr
    printf '%s\n' "extendedKeyUsage=clientAuth" "keyUsage=critical,digitalSignature,keyEncipherment" >admin.ext
    openssl x509 -req -in admin.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 7 -sha256 \
      -extfile admin.ext -out admin.crt
    openssl genrsa -out sa.key 2048
    openssl rsa -in sa.key -pubout -out sa.pub
  ) >"$STATE/openssl.log" 2>&1 || {
    cat "$STATE/openssl.log" >&2
    return 1
  }
}

write_kubeconfig() {
  local port=$1 b64='base64 -w0'
  cat >"$STATE/kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: natsguard
  cluster:
    server: https://127.0.0.1:$port
    certificate-authority-data: $($b64 <"$STATE/certs/ca.crt")
users:
- name: natsguard-admin
  user:
    client-certificate-data: $($b64 <"$STATE/certs/admin.crt")
    client-key-data: $($b64 <"$STATE/certs/admin.key")
contexts:
- name: natsguard
  context:
    cluster: natsguard
    user: natsguard-admin
current-context: natsguard
EOF
  chmod 600 "$STATE/kubeconfig"
}

# start NAME BIN ARGS...: in its own session (Ctrl-C on the caller does not reach it); pid to NAME.pid.
start() {
  local name=$1
  shift
  # Appends: a restarted server (apiserver-start) keeps the log of its previous life.
  rm -f "$STATE/$name.pid"
  setsid bash -c 'echo $$ >"$0"; exec "$@"' "$STATE/$name.pid" "$@" </dev/null >>"$STATE/$name.log" 2>&1 &
  local i
  for ((i = 0; i < 50; i++)); do
    [[ -s $STATE/$name.pid ]] && return 0
    sleep 0.1
  done
  return 1
}

fail_up() {
  log "ERROR: $*"
  local n
  for n in etcd kube-apiserver; do
    if [[ -f $STATE/$n.log ]]; then
      log "last lines of $n.log:"
      tail -n 25 "$STATE/$n.log" >&2
    fi
  done
  cmd_down || true
  exit 1
}

# Start kube-apiserver with the flags, port and certificates of this state dir and wait until
# /readyz answers ok and the default namespace exists (bounded). Used by `up` and `apiserver-start`,
# so a restart is exactly the same server. Returns 1 (after printing why) on failure, 75 when its
# port was taken (cmd_up then retries with new ports).
start_apiserver() {
  local c=$STATE/certs api_port etcd_port t0=$SECONDS
  api_port=$(<"$STATE/kube-apiserver.port")
  etcd_port=$(<"$STATE/etcd.port")
  start kube-apiserver "$APISERVER_BIN" \
    --etcd-servers="http://127.0.0.1:$etcd_port" \
    --bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port="$api_port" \
    --cert-dir="$c" --tls-cert-file="$c/serving.crt" --tls-private-key-file="$c/serving.key" \
    --client-ca-file="$c/ca.crt" \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --service-account-key-file="$c/sa.pub" --service-account-signing-key-file="$c/sa.key" \
    --service-cluster-ip-range=10.0.0.0/24 \
    --authorization-mode=RBAC --disable-admission-plugins=ServiceAccount --allow-privileged=true || {
    log "kube-apiserver did not start"
    return 1
  }
  local deadline=$((SECONDS + READY_TIMEOUT)) next=$((SECONDS + 10)) out i
  while :; do
    our_pid "$STATE/kube-apiserver.pid" >/dev/null || {
      port_taken kube-apiserver && return 75
      log "kube-apiserver exited during start-up"
      return 1
    }
    our_pid "$STATE/etcd.pid" >/dev/null || {
      log "etcd exited during start-up"
      return 1
    }
    [[ $(api_curl /readyz 2>/dev/null) == ok ]] && break
    ((SECONDS < deadline)) || {
      log "kube-apiserver not ready after $READY_TIMEOUT s"
      return 1
    }
    if ((SECONDS >= next)); then
      next=$((SECONDS + 10))
      out=$(api_curl '/readyz?verbose' 2>/dev/null | grep '^\[-\]' | cut -c4- | cut -d' ' -f1 | tr '\n' ' ' || true)
      log "waiting for kube-apiserver /readyz ($((SECONDS - t0)) s)${out:+; not ready yet: $out}"
    fi
    sleep 0.5
  done
  for ((i = 0; ; i++)); do
    [[ $(api_curl /api/v1/namespaces/default -o /dev/null -w '%{http_code}' 2>/dev/null) == 200 ]] && break
    ((i < 600)) || {
      log "namespace default not found within 60 s of /readyz"
      return 1
    }
    sleep 0.1
  done
}

# True when NAME's log says it could not bind its port (another process took it first).
port_taken() {
  grep -q 'address already in use' "$STATE/$1.log" 2>/dev/null
}

# Chooses ports and starts etcd, then kube-apiserver, until it is ready. Returns 75 when a process
# exited because its port was taken (cmd_up retries), 1 when kube-apiserver failed otherwise;
# an etcd failure ends in fail_up.
start_processes() {
  local t0=$SECONDS etcd_port peer_port api_port
  etcd_port=$(free_port) || fail_up "no free loopback port"
  peer_port=$(free_port) || fail_up "no free loopback port"
  api_port=$(free_port) || fail_up "no free loopback port"
  while [[ $peer_port == "$etcd_port" ]]; do peer_port=$(free_port) || fail_up "no free loopback port"; done
  while [[ $api_port == "$etcd_port" || $api_port == "$peer_port" ]]; do api_port=$(free_port) || fail_up "no free loopback port"; done
  echo "$etcd_port" >"$STATE/etcd.port"
  echo "$api_port" >"$STATE/kube-apiserver.port"

  log "starting etcd $ETCD_VERSION on 127.0.0.1:$etcd_port"
  start etcd "$ETCD_BIN" --name=natsguard --data-dir="$STATE/etcd-data" \
    --listen-client-urls="http://127.0.0.1:$etcd_port" --advertise-client-urls="http://127.0.0.1:$etcd_port" \
    --listen-peer-urls="http://127.0.0.1:$peer_port" --initial-advertise-peer-urls="http://127.0.0.1:$peer_port" \
    --initial-cluster="natsguard=http://127.0.0.1:$peer_port" --unsafe-no-fsync --log-level=warn ||
    fail_up "etcd did not start"
  local i
  for ((i = 0; ; i++)); do
    our_pid "$STATE/etcd.pid" >/dev/null || { port_taken etcd && return 75; fail_up "etcd exited during start-up"; }
    [[ $(curl -sS --max-time 2 "http://127.0.0.1:$etcd_port/health" 2>/dev/null) == *'"health":"true"'* ]] && break
    ((i < 300)) || fail_up "etcd not healthy after 30 s"
    sleep 0.1
  done
  log "etcd healthy after $((SECONDS - t0)) s; starting kube-apiserver $K8S_VERSION on 127.0.0.1:$api_port"
  start_apiserver
}

cmd_up() {
  if [[ -d $STATE ]]; then
    if healthy; then
      log "already up and healthy; reusing $STATE"
      printf 'export KUBECONFIG=%s\n' "$STATE/kubeconfig"
      return 0
    fi
    log "a previous control plane in $STATE is not healthy; restarting it cleanly"
    cmd_down
  fi
  cmd_build
  command -v openssl >/dev/null || die "openssl is not installed"
  command -v curl >/dev/null || die "curl is not installed"
  local t0=$SECONDS
  mkdir -p "$STATE"
  chmod 700 "$STATE"
  : >"$STATE/.natsguard-cp"
  # From here on, an interrupt or error leaves nothing running.
  trap 'fail_up "interrupted"' INT TERM
  gen_certs || fail_up "certificate generation failed"
  local attempt rc api_port
  for attempt in 1 2 3; do
    rc=0
    start_processes || rc=$?
    ((rc == 0)) && break
    ((rc == 75 && attempt < 3)) || fail_up "kube-apiserver did not become ready"
    log "a port was taken between choosing and binding it; stopping and retrying with new ports"
    stop_one kube-apiserver "$STATE/kube-apiserver.pid"
    stop_one etcd "$STATE/etcd.pid"
    rm -rf "$STATE/etcd-data"
    : >"$STATE/etcd.log"
    : >"$STATE/kube-apiserver.log"
  done
  api_port=$(<"$STATE/kube-apiserver.port")
  write_kubeconfig "$api_port"
  trap - INT TERM
  log "ready in $((SECONDS - t0)) s: etcd pid $(<"$STATE/etcd.pid") :$(<"$STATE/etcd.port")," \
    "kube-apiserver pid $(<"$STATE/kube-apiserver.pid") https://127.0.0.1:$api_port; stop with: hack/controlplane.sh down"
  printf 'export KUBECONFIG=%s\n' "$STATE/kubeconfig"
}

cmd_status() {
  local e a
  if e=$(our_pid "$STATE/etcd.pid") && a=$(our_pid "$STATE/kube-apiserver.pid"); then
    local state=up
    healthy || state="up but NOT ready"
    echo "$state: etcd pid $e port $(<"$STATE/etcd.port"); kube-apiserver pid $a" \
      "https://127.0.0.1:$(<"$STATE/kube-apiserver.port"); state $STATE"
    echo "export KUBECONFIG=$STATE/kubeconfig"
  elif e=$(our_pid "$STATE/etcd.pid"); then
    echo "kube-apiserver stopped, etcd pid $e up (start it with: hack/controlplane.sh apiserver-start); state $STATE"
    return 1
  elif [[ -d $STATE ]]; then
    echo "down (stale state in $STATE; run: hack/controlplane.sh down)"
    return 1
  else
    echo "down"
    return 1
  fi
}

cmd_env() {
  healthy || die "the control plane is not up (run: hack/controlplane.sh up)"
  printf 'export KUBECONFIG=%s\n' "$STATE/kubeconfig"
}

# The fault-injection commands need a control plane that `up` started in this state dir.
require_state() {
  [[ -f $STATE/.natsguard-cp && -f $STATE/kube-apiserver.port && -f $STATE/etcd.port ]] ||
    die "no control plane in $STATE (run: hack/controlplane.sh up)"
}

cmd_apiserver_stop() {
  require_state
  local sig=TERM
  case ${1:-} in
    --kill) sig=KILL ;;
    "") ;;
    *) die "usage: $0 apiserver-stop [--kill]" ;;
  esac
  our_pid "$STATE/kube-apiserver.pid" >/dev/null || die "kube-apiserver is not running (state $STATE)"
  stop_one kube-apiserver "$STATE/kube-apiserver.pid" "$sig"
  log "kube-apiserver stopped; etcd and $STATE kept (start it again with: hack/controlplane.sh apiserver-start)"
}

cmd_apiserver_start() {
  require_state
  our_pid "$STATE/kube-apiserver.pid" >/dev/null && die "kube-apiserver is already running (state $STATE)"
  our_pid "$STATE/etcd.pid" >/dev/null || die "etcd is not running (state $STATE)"
  local t0=$SECONDS
  start_apiserver || die "kube-apiserver did not come back (log: $STATE/kube-apiserver.log)"
  log "kube-apiserver ready again in $((SECONDS - t0)) s (pid $(<"$STATE/kube-apiserver.pid"))"
}

# etcd-pause / etcd-resume: SIGSTOP / SIGCONT etcd by pid.
cmd_etcd_signal() {
  require_state
  local pid
  pid=$(our_pid "$STATE/etcd.pid") || die "etcd is not running (state $STATE)"
  kill "-$1" "$pid"
  log "etcd (pid $pid): SIG$1"
}

case ${1:-} in
  build) cmd_build ;;
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  env) cmd_env ;;
  apiserver-stop) cmd_apiserver_stop "${@:2}" ;;
  apiserver-start) cmd_apiserver_start ;;
  etcd-pause) cmd_etcd_signal STOP ;;
  etcd-resume) cmd_etcd_signal CONT ;;
  *)
    echo "usage: $0 build|up|down|status|env|apiserver-stop [--kill]|apiserver-start|etcd-pause|etcd-resume" >&2
    exit 2
    ;;
esac
