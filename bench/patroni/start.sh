#!/bin/sh
# ROLE=etcd: a single-member etcd. Otherwise a Patroni node named $NAME, with the tightest timing
# Patroni 4 accepts (it raises a ttl below 20 to 20): ttl 20, loop_wait 2, retry_timeout 4.
set -eu
if [ "${ROLE:-patroni}" = "etcd" ]; then
  exec etcd --name etcd --data-dir /var/lib/postgresql/etcd \
    --listen-client-urls http://0.0.0.0:2379 --advertise-client-urls http://etcd:2379 \
    --listen-peer-urls http://0.0.0.0:2380 --initial-advertise-peer-urls http://etcd:2380 \
    --initial-cluster etcd=http://etcd:2380
fi
cat > /var/lib/postgresql/patroni.yml <<YAML
scope: bench
name: ${NAME}
restapi:
  listen: 0.0.0.0:8008
  connect_address: ${NAME}:8008
etcd3:
  host: etcd:2379
bootstrap:
  dcs:
    ttl: 20
    loop_wait: 2
    retry_timeout: 4
    maximum_lag_on_failover: 1048576
    postgresql:
      use_pg_rewind: true
      use_slots: true
      parameters:
        wal_log_hints: "on"
        password_encryption: scram-sha-256
        unix_socket_directories: /tmp
  initdb:
    - encoding: UTF8
    - data-checksums
postgresql:
  listen: 0.0.0.0:5432
  connect_address: ${NAME}:5432
  data_dir: /var/lib/postgresql/data
  bin_dir: /usr/lib/postgresql/17/bin
  pgpass: /var/lib/postgresql/pgpass
  authentication:
    superuser:
      username: postgres
      password: bench_pass
    replication:
      username: replicator
      password: bench_pass
  pg_hba:
    - local all all trust
    - host replication replicator 0.0.0.0/0 scram-sha-256
    - host all all 0.0.0.0/0 scram-sha-256
YAML
exec patroni /var/lib/postgresql/patroni.yml
