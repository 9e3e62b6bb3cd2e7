#!/usr/bin/env bash
# Render the chart into k8s/manifests/postdock.yaml with the official helm (scripts/ensure-tools.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
tools=$(bash scripts/ensure-tools.sh)
sets=(--set existingSecret=postdock-secrets)
{
  echo "# Generated from k8s/helm/postdock by: bash scripts/render-manifests.sh (helm template postdock ${sets[*]})"
  "$tools/helm" template postdock k8s/helm/postdock "${sets[@]}"
} > k8s/manifests/postdock.yaml
