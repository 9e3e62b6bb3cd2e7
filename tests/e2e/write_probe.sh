#!/bin/sh
# Runs inside a node container as postgres: every 100 ms, does the local postgres acknowledge a
# commit (one that takes a transaction id, so it waits like any write: for synchronous standbys, or
# for a lease while the commits are held)? One line per sample, "<epoch seconds> <t|->" (- = no
# acknowledgement within 2 s, a standby, or no answer), until the stop file exists.
# Every container shares the host's clock, so samples of different nodes compare.
out=$1
stop=$2
query="SELECT txid_current() IS NOT NULL"
while [ ! -e "$stop" ]; do
    now=$(date +%s.%N)
    answer=$(PGCONNECT_TIMEOUT=1 timeout 2 psql -XAtq -d postgres -c "$query" 2>/dev/null)
    echo "$now ${answer:--}" >>"$out"
    sleep 0.1
done
