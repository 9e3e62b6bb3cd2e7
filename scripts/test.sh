#!/usr/bin/env bash
# The one test command (README, .ci/run): installs what is missing, builds the image, runs
# lint, unit tests and the end-to-end scenarios on real containers.
#   bash scripts/test.sh            everything
#   bash scripts/test.sh unit       lint + unit tests only (no Docker)
set -euo pipefail
cd "$(dirname "$0")/.."
what="${1:-all}"

if ! python3 -m venv --help >/dev/null 2>&1; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
fi
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/pip install -q --disable-pip-version-check -e '.[test]'

echo "== lint"
.venv/bin/ruff check postdock_supervisor tests bench scripts
.venv/bin/ruff format --check --quiet postdock_supervisor tests bench scripts
.venv/bin/mypy postdock_supervisor
if [ "$what" = "unit" ]; then
  # The full run installs shellcheck with the Docker engine below; here use it when present.
  if command -v shellcheck >/dev/null 2>&1; then shellcheck scripts/*.sh .ci/run tests/e2e/*.sh; fi
fi

echo "== tools: helm, promtool"
tools=$(bash scripts/ensure-tools.sh)
export PATH="$tools:$PATH"

echo "== unit tests, and listeners under a real supervisord"
.venv/bin/python -m coverage run --source=postdock_supervisor -m pytest -q tests/unit
# The programs are the product's behaviour: their unit coverage stays above 80 %.
.venv/bin/python -m coverage report --include='postdock_supervisor/programs/*' --fail-under=80 | tail -1
.venv/bin/python -m pytest -q tests/supervised

if [ "$what" = "unit" ]; then exit 0; fi

echo "== machine: docker engine and base image"
bash scripts/ensure-docker.sh
shellcheck scripts/*.sh .ci/run tests/e2e/*.sh

echo "== image"
image=$(bash scripts/build-image.sh)
extended=$(bash scripts/build-image.sh extended)
prometheus=$(bash scripts/build-image.sh prometheus)
s3=$(bash scripts/build-image.sh s3)
echo "built $image, $extended, $prometheus and $s3"

echo "== end-to-end scenarios"
POSTDOCK_IMAGE="$image" POSTDOCK_EXTENDED_IMAGE="$extended" POSTDOCK_PROMETHEUS_IMAGE="$prometheus" POSTDOCK_S3_IMAGE="$s3" \
  .venv/bin/python -m pytest -v -p no:cacheprovider --durations=40 tests/e2e
