#!/usr/bin/env bash
# Run the example cluster as a Docker Swarm stack (docker-compose/stack.yml).
#   bash scripts/swarm.sh up [STACK]     make a one-node swarm if this engine is in none, label this
#                                        node for every service, make the keys and secrets, deploy
#   bash scripts/swarm.sh down [STACK]   remove the stack (its volumes stay: `docker volume rm`)
# On a swarm of several nodes, label each node for the services whose volumes it keeps instead
# (README "Docker Swarm"); this script labels only the node it runs on.
# Keys and passwords are made once in ~/.config/postdock (POSTDOCK_SSH_KEYS, POSTDOCK_TLS_DIR,
# POSTDOCK_SECRETS) and reused; none is ever in the repository.
set -euo pipefail
cd "$(dirname "$0")/.."
action="${1:-up}"
stack="${2:-postdock}"
conf="${XDG_CONFIG_HOME:-$HOME/.config}/postdock"
export POSTDOCK_SSH_KEYS="${POSTDOCK_SSH_KEYS:-$conf/ssh}"
export POSTDOCK_TLS_DIR="${POSTDOCK_TLS_DIR:-$conf/tls}"
export POSTDOCK_SECRETS="${POSTDOCK_SECRETS:-$conf/swarm-secrets}"
services=(pgmaster pgslave1 pgslave2 pgslave3 pgslave4 backup)

if [ "$action" = "down" ]; then
  docker stack rm "$stack"
  exit 0
fi
if [ "$action" != "up" ]; then
  echo "usage: swarm.sh up|down [STACK]" >&2
  exit 2
fi

if [ "$(docker info --format '{{.Swarm.LocalNodeState}}')" != "active" ]; then
  # One node, reachable on loopback only: nothing outside this machine can join it.
  docker swarm init --advertise-addr 127.0.0.1 --listen-addr 127.0.0.1:2377 >/dev/null
  echo "swarm: made a one-node swarm on this engine (leave it with: docker swarm leave --force)"
fi
self=$(docker info --format '{{.Swarm.NodeID}}')
for service in "${services[@]}"; do
  docker node update --label-add "postdock.$service=true" "$self" >/dev/null
done

bash scripts/cluster-key.sh "$POSTDOCK_SSH_KEYS"
bash scripts/cluster-tls.sh "$POSTDOCK_TLS_DIR"
mkdir -p "$POSTDOCK_SECRETS"
chmod 700 "$POSTDOCK_SECRETS"
secret() { head -c 24 /dev/urandom | base64 | tr -d '/+=\n'; }
# Each one made once and reused: a secret added by a later release is made on the next start.
for name in replication_password control_key postgres_password pcp_password check_password barman_password; do
  if [ ! -s "$POSTDOCK_SECRETS/$name" ]; then
    (umask 077 && secret > "$POSTDOCK_SECRETS/$name")
    echo "swarm: $name made in $POSTDOCK_SECRETS"
  fi
done
if [ ! -s "$POSTDOCK_SECRETS/db_users" ]; then
  (umask 077 && printf 'monkey_user:%s' "$(cat "$POSTDOCK_SECRETS/postgres_password")" > "$POSTDOCK_SECRETS/db_users")
fi
docker stack deploy --resolve-image never -c docker-compose/stack.yml "$stack"
echo "deployed; watch it with: docker exec \$(docker ps -qf name=${stack}_pgmaster) postdock status"
