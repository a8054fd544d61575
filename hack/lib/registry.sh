# registry_serve CRANE LOG: starts `crane registry serve` on a loopback port the kernel picks (its
# log in LOG) and waits (at most 10 s) until it says which; sets registry_pid and registry_port. The
# caller stops it by pid. Not to be called in $(...): the registry must be this shell's child.
# Sourced by hack/image.sh and hack/test-image.sh.
registry_serve() {
  "$1" registry serve --address 127.0.0.1:0 2>"$2" &
  registry_pid=$!
  registry_port=""
  local _
  for _ in $(seq 1 100); do
    registry_port="$(sed -n 's/.*serving on port \([0-9][0-9]*\).*/\1/p' "$2")"
    [ -n "$registry_port" ] && return 0
    kill -0 "$registry_pid" 2>/dev/null || {
      cat "$2" >&2
      echo "crane registry serve exited" >&2
      return 1
    }
    sleep 0.1
  done
  echo "crane registry serve did not report its port within 10 s" >&2
  return 1
}
