#!/usr/bin/env bash
# Build the one postdock image and tag it per the convention
#   postdock/postdock:<version>-postgres17-repmgr55-pgpool46-barman313, plus :latest and :edge.
# `build-image.sh extended` builds postdock/postdock-extended:<same tags> (extensions added);
# `build-image.sh prometheus` builds postdock/postdock-prometheus (the monitoring kit's Prometheus);
# `build-image.sh s3` builds postdock/postdock-s3 (the e2e suite's S3-compatible server, moto).
# The package versions are fixed by Debian trixie; the build reuses Docker's layer cache.
set -euo pipefail
cd "$(dirname "$0")/.."
version=$(sed -n 's/^__version__ = "\(.*\)"/\1/p' postdock_supervisor/__init__.py)
components="postgres17-repmgr55-pgpool46-barman313"
repo="${POSTDOCK_REPOSITORY:-postdock/postdock}"
full="$repo:$version-$components"
target="${1:-postdock}"  # postdock | extended | prometheus | s3
if [ "$target" != "postdock" ]; then
  repo="$repo-$target"
  full="$repo:$version-$components"
fi
docker build -q -f images/Dockerfile --target "$target" -t "$full" -t "$repo:latest" -t "$repo:edge" . >/dev/null
echo "$full"
