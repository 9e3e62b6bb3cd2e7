#!/usr/bin/env bash
# Make the cluster's TLS certificate authority in DIR (ca.crt, ca.key) with the image's own openssl,
# unless DIR already holds one (it is reused: every node issues its certificate from it at start).
# Keys never go in the repository.
set -euo pipefail
dir="${1:?usage: cluster-tls.sh DIR}"
image="${POSTDOCK_IMAGE:-postdock/postdock:latest}"
days="${POSTDOCK_TLS_CA_DAYS:-3650}"
if [ -s "$dir/ca.crt" ] && [ -s "$dir/ca.key" ]; then
  echo "cluster TLS authority: reusing $dir"
  exit 0
fi
mkdir -p "$dir"
chmod 700 "$dir"
docker run --rm -v "$(cd "$dir" && pwd):/k" --entrypoint openssl "$image" \
  req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -sha256 -days "$days" \
  -subj "/CN=postdock cluster CA" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
  -keyout /k/ca.key -out /k/ca.crt 2>/dev/null
echo "cluster TLS authority: made in $dir (keep it: every container of the cluster mounts it)"
