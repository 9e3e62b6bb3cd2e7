"""Logical replication across a failover (PostgreSQL 17 failover slots): a subscriber in another
postgres keeps receiving every change after the primary is killed.

One cluster (the three first-level nodes, partial mode) and a separate one-node postgres, the
subscriber, on the same network."""

import copy
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.e2e.conftest import started
from tests.e2e.harness import SEED, Compose, addresses, primaries, sql, streaming_children, try_sql, wait_until
from tests.e2e.writer import Writer

FIRST_LEVEL = ["pgmaster", "pgslave1", "pgslave3"]
START = 240
PUBLISHER = (
    "host=pgmaster,pgslave1,pgslave3 port=5432 dbname=monkey_db user=replication_user "
    "password=replication_pass target_session_attrs=read-write connect_timeout=2"
)


def with_subscriber(seed: Path) -> Path:
    """The seed file plus `subscriber`: a one-node cluster of its own on the same network."""
    document = yaml.safe_load(seed.read_text())
    node = copy.deepcopy(document["services"]["pgmaster"])
    node["environment"].update(
        NODE_ID="9",
        NODE_NAME="sub9",
        CLUSTER_NODE_NETWORK_NAME="subscriber",
        PARTNER_NODES="subscriber",
        REPLICATION_PRIMARY_HOST="subscriber",
        CONSISTENCY_MODE="eventual",
    )
    # Its own data volume; the cluster's TLS authority as every node has it.
    node["volumes"] = [
        "subscriber:/var/lib/postgresql/data",
        *[v for v in node["volumes"] if ":/etc/postdock/tls" in v],
    ]
    document["services"]["subscriber"] = node
    document["volumes"]["subscriber"] = {}
    target = Path(tempfile.mkdtemp(prefix="postdock-e2e-")) / "logical.yml"
    target.write_text(yaml.safe_dump(document, sort_keys=False))
    return target


@pytest.fixture(scope="module")
def cluster() -> Iterator[Compose]:
    compose = Compose(with_subscriber(SEED), env={"POSTDOCK_CONSISTENCY_MODE": "partial"})

    def ready() -> None:
        wait_until("the subscriber writable", lambda: primaries(compose, ["subscriber"]), timeout=START)
        wait_until(
            "both first-level standbys streaming",
            lambda: len(streaming_children(compose, "pgmaster") or ()) == 2,
            timeout=START,
        )

    with started(compose, [*FIRST_LEVEL, "subscriber"], ready):
        yield compose


def synced_on(compose: Compose, node: str) -> bool:
    rows = try_sql(compose, node, "SELECT synced AND NOT temporary FROM pg_replication_slots WHERE slot_name = 'sub'")
    return rows == [(True,)]


def ids(compose: Compose, node: str) -> set[int]:
    return {row[0] for row in sql(compose, node, "SELECT id FROM lr")}


def test_a_subscriber_keeps_every_change_across_a_killed_primary(cluster: Compose) -> None:
    sql(cluster, "pgmaster", "CREATE TABLE lr (id int PRIMARY KEY)")
    sql(cluster, "pgmaster", "CREATE PUBLICATION pub FOR TABLE lr")
    sql(cluster, "subscriber", "CREATE TABLE lr (id int PRIMARY KEY)")
    # CREATE SUBSCRIPTION cannot run in a transaction block; psycopg's autocommit connection is fine.
    sql(
        cluster,
        "subscriber",
        f"CREATE SUBSCRIPTION sub CONNECTION '{PUBLISHER}' PUBLICATION pub WITH (failover = true)",
        admin=True,  # a subscription runs as its owner with the publisher's password: an admin's job
    )
    for standby in ("pgslave1", "pgslave3"):
        wait_until(f"the failover slot synchronized to {standby}", lambda s=standby: synced_on(cluster, s), timeout=120)
    writer = Writer(lambda: addresses(cluster, FIRST_LEVEL), table="lr").start()
    try:
        wait_until("20 acknowledged writes", lambda: len(writer.acked) >= 20)
        wait_until("changes arriving at the subscriber", lambda: len(ids(cluster, "subscriber")) >= 10)
        cluster("kill", "pgmaster")
        killed_at = time.monotonic()
        new = wait_until("a standby promoted", lambda: primaries(cluster, ["pgslave1", "pgslave3"]), timeout=START)
        wait_until("writes on the new primary", lambda: writer.acked_after(killed_at + 0.5) >= 20, timeout=START)
    finally:
        writer.stop()
    [primary] = new
    on_primary = ids(cluster, primary)
    assert writer.ids() - on_primary == set(), "acknowledged writes missing on the new primary (partial mode)"
    # Every change of the new primary, those from before the kill and after it, reaches the subscriber
    # exactly once (the primary key would stop the subscription on a duplicate).
    wait_until(
        "the subscriber holding exactly the new primary's rows",
        lambda: ids(cluster, "subscriber") == on_primary,
        timeout=120,
    )
    assert any(w.at > killed_at for w in writer.acked)
    active = try_sql(cluster, primary, "SELECT active FROM pg_replication_slots WHERE slot_name = 'sub'")
    assert active == [(True,)], "the subscriber streams from the promoted node's copy of its slot"
