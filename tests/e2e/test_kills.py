"""Partial and strict modes under repeated failovers: the primary is killed ten times in a row
under continuous writes, and each old primary rejoins before the next kill."""

import time
from collections.abc import Iterator

import pytest

from tests.e2e.conftest import started
from tests.e2e.harness import Compose, addresses, primaries, sql, wait_until
from tests.e2e.test_consistency import NODES, sync_set_complete
from tests.e2e.writer import Writer

KILLS = 10


@pytest.fixture(scope="module", params=["partial", "strict"])
def cluster(request: pytest.FixtureRequest) -> Iterator[Compose]:
    compose = Compose(env={"POSTDOCK_CONSISTENCY_MODE": request.param})

    def ready() -> object:
        return wait_until("both standbys in the synchronous set", lambda: sync_set_complete(compose, "pgmaster"),
                          timeout=240)  # fmt: skip

    with started(compose, NODES, ready):
        yield compose


def only_primary(compose: Compose, among: list[str]) -> str:
    found = wait_until(
        f"exactly one primary among {','.join(among)}",
        lambda: (p := primaries(compose, among)) and len(p) == 1 and p,
        timeout=120,
    )
    return found[0]


def test_primary_killed_ten_times_loses_no_acknowledged_write(cluster: Compose) -> None:
    sql(cluster, "pgmaster", "CREATE TABLE acked (id int PRIMARY KEY)")
    writer = Writer(lambda: addresses(cluster, NODES)).start()
    try:
        for kill in range(1, KILLS + 1):
            primary = only_primary(cluster, NODES)
            wait_until(f"writes before kill {kill}", lambda k=kill: len(writer.acked) >= 10 * k, timeout=120)
            cluster("kill", primary)
            killed_at = time.monotonic()
            new = only_primary(cluster, [n for n in NODES if n != primary])
            wait_until(f"writes on {new} after kill {kill}", lambda t=killed_at: writer.acked_after(t) >= 3,
                       timeout=120)  # fmt: skip
            cluster("start", primary)
            wait_until(f"{primary} back in {new}'s synchronous set after kill {kill}",
                       lambda n=new: sync_set_complete(cluster, n), timeout=240)  # fmt: skip
    finally:
        writer.stop()
    stored = {row[0] for row in sql(cluster, only_primary(cluster, NODES), "SELECT id FROM acked")}
    assert writer.ids() - stored == set(), "acknowledged writes lost"
    assert len(writer.ids()) >= 10 * KILLS
