#!/usr/bin/env bash
# Make the cluster's SSH keys in DIR with the image's own ssh-keygen: the login pair (id_ed25519, the
# postgres user's key between containers) and the host authority (host_ca, which certifies every
# container's host key), each unless DIR already holds it (reused: a folder made before host_ca
# existed gets just that). Keys never go in the repository.
set -euo pipefail
dir="${1:?usage: cluster-key.sh DIR}"
image="${POSTDOCK_IMAGE:-postdock/postdock:latest}"
mkdir -p "$dir"
chmod 700 "$dir"
made=()
for key in id_ed25519:postdock-cluster host_ca:postdock-host-ca; do
  name="${key%%:*}"
  if [ -s "$dir/$name" ] && [ -s "$dir/$name.pub" ]; then
    continue
  fi
  docker run --rm -v "$(cd "$dir" && pwd):/k" --entrypoint ssh-keygen "$image" \
    -q -t ed25519 -N '' -C "${key#*:}" -f "/k/$name"
  made+=("$name")
done
if [ "${#made[@]}" -eq 0 ]; then
  echo "cluster keys: reusing $dir"
else
  echo "cluster keys: made ${made[*]} in $dir (keep them: every container of the cluster mounts them)"
fi
