#!/usr/bin/env bash
# Make this Debian machine able to build and run the project's containers:
# Debian packages, a running dockerd, and the offline debian:trixie-slim base image.
# Idempotent: every step is skipped when its result already exists.
set -euo pipefail

log() { printf 'ensure-docker: %s\n' "$*" >&2; }

need_pkgs=()
command -v dockerd >/dev/null 2>&1 || need_pkgs+=(docker.io)
command -v docker-compose >/dev/null 2>&1 || need_pkgs+=(docker-compose)
command -v debootstrap >/dev/null 2>&1 || need_pkgs+=(debootstrap)
command -v shellcheck >/dev/null 2>&1 || need_pkgs+=(shellcheck)
if [ "${#need_pkgs[@]}" -gt 0 ]; then
  log "installing ${need_pkgs[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_pkgs[@]}" >/dev/null
fi

if ! docker info >/dev/null 2>&1; then
  log "starting dockerd"
  mkdir -p /var/log
  nohup dockerd >/var/log/postdock-dockerd.log 2>&1 &
  for _ in $(seq 1 60); do
    docker info >/dev/null 2>&1 && break
    sleep 1
  done
  docker info >/dev/null 2>&1 || { log "dockerd did not start; see /var/log/postdock-dockerd.log"; exit 1; }
fi

# The first deb URI of the machine's own apt sources (deb822 or one-line format).
apt_mirror() {
  local uri
  uri=$(grep -hE '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}' | grep -v security | head -n1 || true)
  if [ -z "$uri" ] && [ -f /etc/apt/sources.list ]; then
    uri=$(grep -E '^deb ' /etc/apt/sources.list | grep -v security | awk '{print $2}' | head -n1 || true)
  fi
  printf '%s' "$uri"
}

if ! docker image inspect debian:trixie-slim >/dev/null 2>&1; then
  mirror=$(apt_mirror)
  [ -n "$mirror" ] || { log "no Debian mirror found in /etc/apt/sources*"; exit 1; }
  root=$(mktemp -d /tmp/postdock-rootfs.XXXXXX)
  log "debootstrap trixie into $root"
  debootstrap --variant=minbase trixie "$root" "$mirror" >/tmp/postdock-debootstrap.log 2>&1 \
    || { log "debootstrap failed; see /tmp/postdock-debootstrap.log"; exit 1; }
  tar -C "$root" -c . | docker import - debian:trixie-slim >/dev/null
  rm -rf "$root"
  log "imported debian:trixie-slim"
fi
