#!/bin/sh
# The engine container's entry point. On a cgroup v2 host the container's own processes first move
# out of the root of its cgroup namespace into a child group: a group that holds processes cannot
# hand controllers down, and dockerd makes a group per container below the root. On cgroup v1
# (this machine) there is nothing to do.
set -eu
if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
  mkdir -p /sys/fs/cgroup/engine
  while read -r pid; do
    echo "$pid" > /sys/fs/cgroup/engine/cgroup.procs 2>/dev/null || true
  done < /sys/fs/cgroup/cgroup.procs
  # One line of names separated by spaces: each becomes "+name".
  sed -e 's/ / +/g' -e 's/^/+/' /sys/fs/cgroup/cgroup.controllers > /sys/fs/cgroup/cgroup.subtree_control || true
fi
# On cgroup v1 the engine sees the host's hierarchy: its containers' groups go below the engine's
# own, so that pausing the engine's container freezes them too (a host that stops answering).
parent=$(sed -n 's/^[0-9]*:freezer://p' /proc/self/cgroup)
if [ -n "$parent" ] && [ "$parent" != "/" ]; then
  exec dockerd --host=unix:///var/run/docker.sock --cgroup-parent="$parent/engine"
fi
exec dockerd --host=unix:///var/run/docker.sock
