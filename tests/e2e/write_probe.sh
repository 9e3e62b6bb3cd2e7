#!/bin/sh
# Runs inside a node container as postgres: every 100 ms, does the local postgres acknowledge a
# commit (one that writes WAL, so it waits like any write: for synchronous standbys, or for a lease
# while the commits are held)? One line per sample, "<epoch seconds> <t|->" (- = no
# acknowledgement within 2 s, a standby, or no answer), until the stop file exists.
# Every container shares the host's clock, so samples of different nodes compare.
out=$1
stop=$2
# A commit that writes WAL: one that only takes a transaction id (txid_current()) commits without
# waiting for synchronous standbys, so a held primary would still seem to acknowledge it. On a
# standby both statements fail (read-only): no acknowledgement.
query="CREATE TABLE IF NOT EXISTS postdock_write_probe (at timestamptz); INSERT INTO postdock_write_probe VALUES (now()) RETURNING true"
while [ ! -e "$stop" ]; do
    now=$(date +%s.%N)
    answer=$(PGCONNECT_TIMEOUT=1 timeout 2 psql -XAtq -d postgres -c "$query" 2>/dev/null)
    echo "$now ${answer:--} $(date +%s.%N)" >>"$out"
    sleep 0.1
done
