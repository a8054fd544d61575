#!/usr/bin/env bash
# Runs the README's first command (the demo) twice against its own control plane state dir:
# once to the end (the incident must reach Resolved), once interrupted with Ctrl-C (SIGINT)
# mid-incident. Both times nothing may be left running.
set -euo pipefail
cd "$(dirname "$0")/.."
state=$(mktemp -d /tmp/natsguard-demo-test.XXXXXX)
log=$state.log
export NATSGUARD_CP_DIR=$state/cp
fail() { echo "test-demo: FAIL: $*" >&2; tail -n 30 "$log" >&2 || true; exit 1; }
# Only this checkout's processes: other checkouts on the machine may run their own demo.
leftovers() {
  pgrep -af -- "$state" | grep -v pgrep || true
  pgrep -af -- "$PWD/target/[^ ]*/natsguard run --namespace natsguard-demo" | grep -v pgrep || true
}

echo "test-demo: full run"
DEMO_DEADLINE_SECONDS=25 hack/demo.sh >"$log" 2>&1 || fail "the demo exited non-zero"
grep -q "incident Resolved (OverrideRemoved)" "$log" || fail "the demo did not show the incident resolved"
for reason in OverrideActivated OverrideDeadlineApproaching OverrideOverdue OverrideResolved DriftResolved; do
  grep -q "$reason" "$log" || fail "the demo did not show a $reason Event"
done
[[ -z "$(leftovers)" ]] || fail "processes left behind: $(leftovers)"

echo "test-demo: interrupted run (Ctrl-C while the incident is open)"
setsid bash -c 'DEMO_DEADLINE_SECONDS=120 exec hack/demo.sh' >"$log" 2>&1 &
pid=$!
for _ in $(seq 1 300); do grep -q "opened an incident" "$log" && break; sleep 1; done
grep -q "opened an incident" "$log" || fail "the demo never opened an incident"
kill -INT -- "-$pid"
for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
kill -0 "$pid" 2>/dev/null && fail "the demo did not stop within 60 s of Ctrl-C"
sleep 1
[[ -z "$(leftovers)" ]] || fail "processes left behind after Ctrl-C: $(leftovers)"
[[ ! -e $NATSGUARD_CP_DIR ]] || fail "control plane state left behind in $NATSGUARD_CP_DIR"
rm -rf "$state" "$log"
echo "test-demo: ok (full run and Ctrl-C run, nothing left running)"
