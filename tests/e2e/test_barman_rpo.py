"""RPO=0 towards barman (BARMAN_SYNCHRONOUS=1): every acknowledged commit survives the loss of
every postgres node, restored from barman alone."""

import subprocess
import time
from collections.abc import Iterator

import psycopg
import pytest

from tests.e2e.conftest import started
from tests.e2e.harness import Compose, connect, make_key_pair, primaries, sql, wait_until
from tests.e2e.test_barman import done_backups

NODES = ["pgmaster", "pgslave1"]
START = 240


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Compose]:
    keys = make_key_pair(tmp_path_factory.mktemp("ssh"))
    compose = Compose(env={"POSTDOCK_SSH_ENABLE": "1", "POSTDOCK_SSH_KEYS": str(keys), "POSTDOCK_BARMAN_SYNC": "1"})
    with started(compose, [*NODES, "backup"]):
        yield compose


def barman_sync_state(cluster: Compose) -> list[tuple[object, ...]] | None:
    try:
        return sql(cluster, "pgmaster", "SELECT sync_state FROM pg_stat_replication WHERE application_name = %s",
                   ("barman_receive_wal",), admin=True)  # fmt: skip
    except psycopg.Error:
        return None


def test_every_acknowledged_commit_is_restored_from_barman_after_losing_every_node(cluster: Compose) -> None:
    wait_until("pgmaster primary", lambda: primaries(cluster, NODES) == ["pgmaster"], timeout=START)
    wait_until("a first base backup", lambda: done_backups(cluster) or None, timeout=START)
    assert wait_until("barman a synchronous standby", lambda: barman_sync_state(cluster) == [("sync",)] or None,
                      timeout=120)  # fmt: skip
    acked: list[int] = []
    with connect(cluster.ip("pgmaster")) as conn:
        conn.execute("CREATE TABLE rpo (id int PRIMARY KEY)")
        deadline = time.monotonic() + 5
        n = 0
        while time.monotonic() < deadline:
            n += 1
            conn.execute("INSERT INTO rpo VALUES (%s)", (n,))
            acked.append(n)  # the commit returned: acknowledged
    assert len(acked) > 50
    cluster("kill", *NODES)
    # From here barman receives nothing more: what the recovery restores is what barman held at the kill.
    cluster.exec("backup", "supervisorctl", "-c", "/etc/supervisor/supervisord.conf", "stop", "backup_keeper")
    cluster.exec("backup", "barman", "receive-wal", "--stop", "pg_cluster", user="postgres", check=False)
    cluster("start", *NODES)
    wait_until("the nodes answer again", lambda: len(primaries(cluster, NODES)) == 1 or None, timeout=START)
    done = subprocess.run(
        ["docker", "exec", cluster.container("backup"), "postdock", "recover", "--latest", "--node", "pgmaster",
         "--yes"],
        capture_output=True, text=True, timeout=1800,
    )  # fmt: skip
    print(done.stdout, done.stderr)
    assert done.returncode == 0, done.stderr
    assert "adding the WAL segment barman was still receiving" in done.stdout
    restored = {row[0] for row in sql(cluster, "pgmaster", "SELECT id FROM rpo")}
    assert set(acked) <= restored, f"lost acknowledged rows: {sorted(set(acked) - restored)[:20]}"
    cluster.exec("backup", "supervisorctl", "-c", "/etc/supervisor/supervisord.conf", "start", "backup_keeper")
