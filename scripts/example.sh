#!/usr/bin/env bash
# Start the example cluster on a fresh Debian machine: installs Docker if missing, builds the
# image, then `docker-compose up` of the seed topology.  `bash scripts/example.sh down` removes it.
set -euo pipefail
cd "$(dirname "$0")/.."
compose=(docker-compose -f docker-compose/latest.yml)
if [ "${1:-up}" = "down" ]; then
  "${compose[@]}" down -v
  exit 0
fi
bash scripts/ensure-docker.sh
bash scripts/build-image.sh
# The cluster's SSH key pair, made once outside the repository and reused: `postdock recover` and
# repmgr's cluster crosscheck need SSH between the containers.
keys="${POSTDOCK_SSH_KEYS:-${XDG_CONFIG_HOME:-$HOME/.config}/postdock/ssh}"
bash scripts/cluster-key.sh "$keys"
export POSTDOCK_SSH_ENABLE="${POSTDOCK_SSH_ENABLE:-1}" POSTDOCK_SSH_KEYS="$keys"
# The cluster's TLS authority, likewise: every node issues its certificate from it at start.
tls="${POSTDOCK_TLS_DIR:-${XDG_CONFIG_HOME:-$HOME/.config}/postdock/tls}"
bash scripts/cluster-tls.sh "$tls"
export POSTDOCK_TLS="${POSTDOCK_TLS:-1}" POSTDOCK_TLS_DIR="$tls"
"${compose[@]}" up -d pgmaster pgslave1 pgslave2 pgslave3 pgslave4 pgpool backup
echo "started; watch it with: ${compose[*]} exec pgmaster postdock status"
