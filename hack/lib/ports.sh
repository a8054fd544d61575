# free_port: prints a TCP port on 127.0.0.1 that nothing listens on now, chosen below the kernel's
# ephemeral range. A port inside that range (say 37452) can be taken by any outgoing connection
# between this check and the server's bind, which CI once saw as "bind: address already in use".
# Returns 1 when none of 100 tries is free. Sourced by hack/controlplane.sh and hack/lib/testing.sh;
# tests/support/mod.rs::free_port is the same rule for the Rust tests.
free_port() {
  local p i low=32768 lo=10000 hi
  read -r low _ </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || true
  hi=$((low - 1))
  ((hi - lo >= 1000)) || lo=1024
  for ((i = 0; i < 100; i++)); do
    p=$((lo + (RANDOM * 32768 + RANDOM) % (hi - lo + 1)))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      printf '%s\n' "$p"
      return 0
    fi
  done
  echo "no free loopback port found below $low" >&2
  return 1
}
