#!/usr/bin/env bash
# Regenerate argocd-cm.yaml from the .lua files (the Lua test fails when they differ).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
{
  cat <<'HDR'
# Argo CD health checks for natsguard's custom resources, as an argocd-cm patch.
# Generated from health-*.lua by gen-argocd-cm.sh; do not edit by hand.
#
# Apply as a strategic-merge patch of the argocd-cm ConfigMap (kustomize `patches:`), or copy the two
# keys into the argo-cd Helm chart's `configs.cm`. Tested by hack/tools/luatest (gopher-lua, the engine
# Argo CD uses, with the same restricted libraries).
apiVersion: v1
kind: ConfigMap
metadata:
  name: argocd-cm
  namespace: argocd
  labels:
    app.kubernetes.io/name: argocd-cm
    app.kubernetes.io/part-of: argocd
data:
HDR
  for kind in NatsTransportPolicy NatsTransportIncident; do
    lower=$(printf '%s' "$kind" | tr '[:upper:]' '[:lower:]')
    printf '  resource.customizations.health.natsguard.io_%s: |\n' "$kind"
    sed 's/^/    /; s/^    $//' "health-$lower.lua"
  done
} >argocd-cm.yaml
