#!/usr/bin/env bash
# The chart's alerts, checked by Prometheus's own tools (promtool, built from Go modules by
# hack/promtool.sh):
#   1. render the PrometheusRule (charts/natsguard/templates/prometheusrule.yaml) with default and
#      non-default values and extract its `spec` as a Prometheus rule file;
#   2. `promtool check rules --lint=all --lint-fatal` on every rendering;
#   3. `promtool test rules` with the unit tests in hack/testdata/alerts/natsguard.test.yaml
#      (synthetic series: a deadline approaching, an overdue incident, violations, reconcile
#      errors, a silent operator);
#   4. every alert of the rule file has a unit test, and the tests can fail: a rule file with a
#      deliberately wrong threshold must fail them.
# Needs no cluster.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"
chart=charts/natsguard
tests=hack/testdata/alerts/natsguard.test.yaml
work="$(mktemp -d "${TMPDIR:-/tmp}/natsguard-alerts-test.XXXXXX")"
trap 'rm -rf "$work"' EXIT

suite=test-alerts
# shellcheck source=hack/lib/testing.sh
. "$repo_root/hack/lib/testing.sh"

step "building or reusing promtool (hack/promtool.sh)"
promtool="$(hack/promtool.sh --print-path)"
step "$("$promtool" --version 2>&1 | head -n 1)"

# rules NAME [helm args...]: render the PrometheusRule and write its spec (groups) to $work/NAME/rules.yaml.
rules() {
  local name=$1
  shift
  mkdir -p "$work/$name"
  hack/helm.sh template natsguard "$chart" --namespace natsguard-system --set prometheusRule.enabled=true \
    --show-only templates/prometheusrule.yaml "$@" >"$work/$name/rendered.yaml" 2>"$work/$name/helm.err" ||
    { cat "$work/$name/helm.err" >&2; die "helm template ($name) failed"; }
  # The spec is the last top-level key of the manifest: its lines, one indentation level less.
  awk '/^spec:$/ { on = 1; next } on && /^[^ ]/ { on = 0 } on { sub(/^  /, ""); print }' \
    "$work/$name/rendered.yaml" >"$work/$name/rules.yaml"
  grep -q '^groups:$' "$work/$name/rules.yaml" || die "no spec.groups in the $name rendering"
}

step "render the PrometheusRule and extract its spec"
rules default
rules custom -f "$chart/ci/namespaced-full-values.yaml" --set 'prometheusRule.scrapeSelector=job="natsguard"' \
  --set prometheusRule.silentOperatorFor=5m --set prometheusRule.silentOperatorSeverity=page
alerts=$(sed -nE 's/^ *- alert: ([A-Za-z]+)$/\1/p' "$work/default/rules.yaml")
pass "$(wc -w <<<"$alerts") alerts: $(tr '\n' ' ' <<<"$alerts")"

step "promtool check rules (lint fatal)"
for r in default custom; do
  if "$promtool" check rules --lint=all --lint-fatal "$work/$r/rules.yaml" >"$work/$r/check.log" 2>&1; then
    pass "$r rendering: $(grep -o 'SUCCESS: [0-9]* rules found' "$work/$r/check.log")"
  else
    cat "$work/$r/check.log" >&2
    fail "promtool check rules rejected the $r rendering"
  fi
done
expect_text() { if grep -qF -- "$2" "$work/$1/rules.yaml"; then pass "$3"; else fail "$3 (no '$2' in the $1 rendering)"; fi; }
expect_text custom 'absent(up{job="natsguard"} == 1)' "prometheusRule.scrapeSelector selects the operator's target"
expect_text custom 'severity: page' "prometheusRule.silentOperatorSeverity"
expect_text custom 'team: platform' "additionalAlertLabels on every alert"

step "every alert has unit tests"
for a in $alerts; do
  if grep -qE "alertname: $a\$" "$tests"; then pass "$a is tested"; else fail "$a has no alert_rule_test in $tests"; fi
done

step "promtool test rules $tests"
cp "$tests" "$work/default/"
if "$promtool" test rules "$work/default/$(basename "$tests")" >"$work/test.log" 2>&1; then
  pass "$(grep -c 'eval_time' "$tests") alert checks in $(grep -c '^  - name:' "$tests") test groups: $(grep -o 'SUCCESS' "$work/test.log" | head -n 1)"
else
  cat "$work/test.log" >&2
  fail "promtool test rules failed"
fi

step "the unit tests can fail (a rule file with the overdue threshold at > 1 instead of > 0)"
mkdir -p "$work/broken"
sed 's/(natsguard_incidents_overdue) > 0/(natsguard_incidents_overdue) > 1/' "$work/default/rules.yaml" >"$work/broken/rules.yaml"
cmp -s "$work/default/rules.yaml" "$work/broken/rules.yaml" && die "could not break the overdue rule (its expression changed?)"
cp "$tests" "$work/broken/"
if "$promtool" test rules "$work/broken/$(basename "$tests")" >"$work/broken.log" 2>&1; then
  fail "promtool test rules passed against a broken rule file"
elif grep -q 'NatsguardOverrideOverdue' "$work/broken.log"; then
  pass "the broken rule file fails the NatsguardOverrideOverdue tests"
else
  cat "$work/broken.log" >&2
  fail "the broken rule file failed, but not on NatsguardOverrideOverdue"
fi

if [ "$failures" -gt 0 ]; then
  step "$failures check(s) FAILED"
  exit 1
fi
step "all alert checks passed"
