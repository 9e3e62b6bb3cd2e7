#!/usr/bin/env bash
# Make the cluster's SSH key pair in DIR with the image's own ssh-keygen, unless DIR already holds
# one (it is reused: every container certifies its host key with it). Keys never go in the repository.
set -euo pipefail
dir="${1:?usage: cluster-key.sh DIR}"
image="${POSTDOCK_IMAGE:-postdock/postdock:latest}"
if [ -s "$dir/id_ed25519" ] && [ -s "$dir/id_ed25519.pub" ]; then
  echo "cluster key pair: reusing $dir"
  exit 0
fi
mkdir -p "$dir"
chmod 700 "$dir"
docker run --rm -v "$(cd "$dir" && pwd):/k" --entrypoint ssh-keygen "$image" \
  -q -t ed25519 -N '' -C postdock-cluster -f /k/id_ed25519
echo "cluster key pair: made in $dir (keep it: every container of the cluster mounts it)"
