#!/usr/bin/env bash
# Issue a certificate for one node from the cluster TLS authority (made by cluster-tls.sh), with the
# image's own openssl, into OUT: ca.crt, tls.crt and tls.key, the files a node serves as they are when
# they are mounted at its TLS_DIR. The CA key then stays here, out of every container. Run it again
# (before the certificate expires) to renew: the node installs the new pair within seconds.
#   bash scripts/node-tls.sh CA_DIR OUT_DIR NAME [NAME ...]    (the first NAME is the node's network name)
# POSTDOCK_TLS_NODE_DAYS: validity in days (90).
set -euo pipefail
ca="${1:?usage: node-tls.sh CA_DIR OUT_DIR NAME [NAME ...]}"
out="${2:?usage: node-tls.sh CA_DIR OUT_DIR NAME [NAME ...]}"
shift 2
[ "$#" -gt 0 ] || { echo "usage: node-tls.sh CA_DIR OUT_DIR NAME [NAME ...]" >&2; exit 2; }
image="${POSTDOCK_IMAGE:-postdock/postdock:latest}"
days="${POSTDOCK_TLS_NODE_DAYS:-90}"
if [ ! -s "$ca/ca.crt" ] || [ ! -s "$ca/ca.key" ]; then
  echo "node-tls.sh: no ca.crt and ca.key in $ca" >&2
  exit 2
fi
mkdir -p "$out"
chmod 700 "$out"
alt=""
for name in "$@"; do alt="${alt:+$alt, }DNS:$name"; done
printf '%s\n' "basicConstraints = critical, CA:FALSE" "keyUsage = critical, digitalSignature, keyEncipherment" \
  "extendedKeyUsage = serverAuth, clientAuth" "subjectAltName = $alt" > "$out/.ext.cnf"
run() { docker run --rm -v "$(cd "$ca" && pwd):/ca:ro" -v "$(cd "$out" && pwd):/out" --entrypoint openssl "$image" "$@"; }
run req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=$1" \
  -keyout /out/.tls.key -out /out/.tls.csr 2>/dev/null
run x509 -req -in /out/.tls.csr -CA /ca/ca.crt -CAkey /ca/ca.key -set_serial "0x$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')" \
  -days "$days" -sha256 -extfile /out/.ext.cnf -out /out/.tls.crt 2>/dev/null
cp "$ca/ca.crt" "$out/ca.crt"
chmod 600 "$out/.tls.key"
# The key first: a node that reads the pair between the two moves refuses it and retries once both are new.
mv -f "$out/.tls.key" "$out/tls.key"
mv -f "$out/.tls.crt" "$out/tls.crt"
rm -f "$out/.tls.csr" "$out/.ext.cnf"
echo "node certificate for $*: $out (valid $days days; mount it at the node's TLS_DIR)"
