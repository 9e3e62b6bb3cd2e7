"""Consistency modes on real containers (the seed's first-level nodes, strict mode)."""

from collections.abc import Iterator

import pytest

from tests.e2e.conftest import started
from tests.e2e.harness import Compose, connect, sql, try_sql, wait_until
from tests.e2e.pool import attached, health, pool

NODES = ["pgmaster", "pgslave1", "pgslave3"]
SERVICES = [*NODES, "pgslave2", "pgpool"]  # a cascade (never synchronous) behind pgpool too
NAME = {"pgmaster": "node1", "pgslave1": "node2", "pgslave3": "node4"}


@pytest.fixture(scope="module")
def strict() -> Iterator[Compose]:
    compose = Compose(env={"POSTDOCK_CONSISTENCY_MODE": "strict"})

    def ready() -> object:
        return wait_until(
            "both standbys in the synchronous set", lambda: sync_set_complete(compose, "pgmaster"), timeout=240
        )

    with started(compose, SERVICES, ready):
        yield compose


def sync_set_complete(compose: Compose, primary: str) -> bool:
    """Every other first-level node streams from primary and is a synchronous (quorum) member."""
    rows = (
        try_sql(
            compose,
            primary,
            "SELECT application_name, sync_state FROM pg_stat_replication WHERE state = 'streaming'",
            admin=True,
        )
        or []
    )
    wanted = {NAME[n] for n in NODES if n != primary}
    return {name for name, state in rows if state in ("sync", "quorum")} == wanted


def test_strict_mode_a_write_acknowledged_is_visible_on_every_first_level_standby_at_once(strict: Compose) -> None:
    sql(strict, "pgmaster", "CREATE TABLE ryw (id int PRIMARY KEY)")
    assert sql(strict, "pgmaster", "SHOW synchronous_commit") == [("remote_apply",)]
    with (
        connect(strict.ip("pgmaster")) as primary,
        connect(strict.ip("pgslave1")) as one,
        connect(strict.ip("pgslave3")) as three,
    ):
        for n in range(200):
            primary.execute("INSERT INTO ryw VALUES (%s)", (n,))
            for standby in (one, three):
                assert standby.execute("SELECT count(*) FROM ryw WHERE id = %s", (n,)).fetchone() == (1,), n


def test_strict_mode_through_pgpool_a_read_sees_the_write_acknowledged_before_it(strict: Compose) -> None:
    wait_until("pgpool healthy (read weights set)", lambda: health(strict).startswith("0:"), timeout=240)
    wait_until("every backend attached", lambda: attached(strict, [*NODES, "pgslave2"]), timeout=240)
    with pool(strict) as conn:
        conn.execute("CREATE TABLE ryw_pool (id int PRIMARY KEY)")
    servers = []
    address = strict.ip("pgpool")  # looked up once: each lookup runs docker-compose
    for n in range(200):
        with connect(address) as writer:
            writer.execute("INSERT INTO ryw_pool VALUES (%s)", (n,))
        with connect(address) as reader:  # a new session: pgpool picks its read node afresh
            row = reader.execute("SELECT count(*), host(inet_server_addr()) FROM ryw_pool WHERE id = %s", (n,))
            found = row.fetchone()
        assert found is not None and found[0] == 1, (n, found)
        servers.append(found[1])
    # Balanced over the synchronous nodes, never the cascade (it may lag).
    assert strict.ip("pgslave2") not in servers
    assert len(set(servers)) >= 2, set(servers)


def test_repmgrd_killed_on_a_standby_reruns_the_start_up_decision(strict: Compose) -> None:
    def repmgrd_pid() -> str:
        return strict.exec("pgslave1", "pgrep", "-x", "repmgrd", check=False).strip()

    old = repmgrd_pid()
    assert old.isdigit()
    # A killed repmgrd (or container) used to leave a PID file whose PID another process soon held;
    # repmgrd then refused to start until FATAL. A file naming a live process (PID 1) must not matter.
    strict.exec("pgslave1", "sh", "-c", "echo 1 > /run/postdock/repmgrd.pid", user="postgres")
    strict.exec("pgslave1", "kill", "-9", old)
    reason = "repmgrd exited on a standby (its upstream may be gone): running the start-up decision again"
    wait_until("crash_guard's decision in the log", lambda: reason in strict.logs("pgslave1"), timeout=60)
    wait_until("bootstrap done again", lambda: "node is up: standby data" in strict.logs("pgslave1"), timeout=120)
    wait_until("a new repmgrd running", lambda: (pid := repmgrd_pid()).isdigit() and pid != old, timeout=60)
    wait_until("pgslave1 still in the synchronous set", lambda: sync_set_complete(strict, "pgmaster"), timeout=60)
