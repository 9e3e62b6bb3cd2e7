#!/bin/sh
# Runs inside a node container as postgres: every 100 ms, does the local postgres take writes?
# One line per sample, "<epoch seconds> <t|f|->" (- = no answer), until the stop file exists.
# Every container shares the host's clock, so samples of different nodes compare.
out=$1
stop=$2
query="SELECT NOT pg_is_in_recovery() AND current_setting('transaction_read_only') = 'off'"
while [ ! -e "$stop" ]; do
    now=$(date +%s.%N)
    answer=$(PGCONNECT_TIMEOUT=1 timeout 2 psql -XAtq -d postgres -c "$query" 2>/dev/null)
    echo "$now ${answer:--}" >>"$out"
    sleep 0.1
done
