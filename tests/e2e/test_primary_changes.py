"""Changes of primary on the seed's three first-level nodes (eventual mode), in order on one cluster:
the primary cut off the network while every node is sampled every 100 ms from inside its container
(fencing), then planned switchovers with `postdock switchover` under continuous writes."""

import time
from collections.abc import Iterator

import pytest

from tests.e2e.conftest import started
from tests.e2e.harness import Compose, addresses, primaries, sql, streaming_children, wait_until
from tests.e2e.probe import WriteProbes, assert_one_writer_at_a_time
from tests.e2e.writer import Writer

NODES = ["pgmaster", "pgslave1", "pgslave3"]
NAME = {"pgmaster": "node1", "pgslave1": "node2", "pgslave3": "node4"}
FENCE_TIMEOUT = 5.0  # the default


@pytest.fixture(scope="module")
def cluster() -> Iterator[Compose]:
    compose = Compose()

    def ready() -> object:
        return wait_until(
            "both standbys streaming from pgmaster",
            lambda: streaming_children(compose, "pgmaster") == {"node2", "node4"},
            timeout=240,
        )

    with started(compose, NODES, ready):
        yield compose


def health(compose: Compose, service: str) -> str:
    return compose.exec(service, "postdock", "health", check=False).strip()


def test_isolated_primary_fences_itself_before_a_new_primary_and_rejoins_it(cluster: Compose) -> None:
    probes = WriteProbes(cluster, NODES).start()
    wait_until("the probes see pgmaster writable", lambda: "t" in {a for _, a in probes.samples()["pgmaster"]})
    cut_at = time.time()
    cluster.disconnect("pgmaster")
    cut_done = time.time()
    try:
        new = wait_until(
            "a new primary among the others", lambda: (p := primaries(cluster, NODES[1:])) and p[0], timeout=120
        )
        wait_until("pgmaster reports itself fenced", lambda: "fenced" in health(cluster, "pgmaster"), timeout=60)
    finally:
        cluster.reconnect("pgmaster")
    wait_until(
        f"pgmaster streaming from {new}",
        lambda: NAME["pgmaster"] in (streaming_children(cluster, new) or ()),
        timeout=240,
    )
    samples = probes.stop()
    # Never two nodes acknowledging at the same moment, sampled every 100 ms.
    spans = assert_one_writer_at_a_time(samples, time.time())
    # The old primary stopped taking writes within FENCE_TIMEOUT of the cut ...
    last_writable_until = max(until for _, until in spans["pgmaster"])
    assert cut_at < last_writable_until <= cut_done + FENCE_TIMEOUT, (cut_at, cut_done, spans["pgmaster"])
    # ... and the new one began only after that, and takes writes now.
    first_new = min(start for start, _ in spans[new])
    print(f"cut {cut_done - cut_at:.2f}s; pgmaster writable until +{last_writable_until - cut_done:.2f}s; "
          f"{new} writable from +{first_new - cut_done:.2f}s")  # fmt: skip
    assert first_new > last_writable_until
    assert samples[new][-1][1] == "t"
    assert primaries(cluster, NODES) == [new]
    fenced_line = "no majority for"
    assert fenced_line in cluster.logs("pgmaster")


def switchover(compose: Compose, run_in: str, *args: str) -> str:
    return compose.exec(run_in, "postdock", "switchover", *args, user="postgres", check=False)


def test_switchover_to_a_cascade_or_to_the_primary_is_refused_with_the_reason(cluster: Compose) -> None:
    for node in NODES:
        wait_until(f"{node} healthy", lambda n=node: health(cluster, n).startswith("postgres and repmgrd running"))
    primary = primaries(cluster, NODES)[0]
    assert switchover(cluster, primary, "--to", "pgslave2").strip() == (
        "switchover refused: pgslave2 is not one of PARTNER_NODES (pgmaster,pgslave1,pgslave3): "
        "only those may be primary"
    )
    refused = switchover(cluster, primary, "--to", primary).strip()
    assert refused == f"switchover refused: {primary} is already the primary"


def test_switchover_under_writes_makes_the_asked_node_primary_and_loses_no_acknowledged_write(cluster: Compose) -> None:
    old = primaries(cluster, NODES)[0]
    target = "pgmaster" if old != "pgmaster" else "pgslave1"
    sql(cluster, old, "CREATE TABLE IF NOT EXISTS acked (id int PRIMARY KEY)")
    writer = Writer(lambda: addresses(cluster, NODES)).start()
    try:
        wait_until("writes before the switchover", lambda: len(writer.acked) >= 20, timeout=120)
        began = time.monotonic()
        output = switchover(cluster, "pgslave3", "--to", target)  # run from any node
        assert f"switchover done: {target} is the primary" in output, output
        wait_until("writes after the switchover", lambda: writer.acked_after(began) >= 20, timeout=120)
    finally:
        writer.stop()
    assert primaries(cluster, NODES) == [target]
    assert NAME[old] in (streaming_children(cluster, target) or ())
    stored = {row[0] for row in sql(cluster, target, "SELECT id FROM acked")}
    assert writer.ids() - stored == set(), "acknowledged writes lost"


def test_stopping_the_primary_hands_its_role_over_first_and_loses_no_acknowledged_write(cluster: Compose) -> None:
    """`docker stop` (a rolling update, a pod deleted): the stopping primary hands over to a healthy
    first-level standby before postgres stops, instead of leaving the others to notice it gone."""
    old = primaries(cluster, NODES)[0]
    wait_until(
        "both standbys streaming",
        lambda: len(streaming_children(cluster, old) or ()) == 2,
        timeout=240,
    )
    sql(cluster, old, "CREATE TABLE acked_handover (id int PRIMARY KEY)")
    writer = Writer(lambda: addresses(cluster, NODES), table="acked_handover").start()
    try:
        wait_until("writes before the stop", lambda: len(writer.acked) >= 20, timeout=120)
        cluster("stop", "-t", "60", old)
        stopped_at = time.monotonic()
        new = wait_until("a standby took over", lambda: primaries(cluster, NODES), timeout=60)
        wait_until("writes after the hand-over", lambda: writer.acked_after(stopped_at) >= 20, timeout=120)
    finally:
        writer.stop()
    [target] = new
    assert target != old
    log = cluster("logs", "--no-color", old)
    assert f"hand-over done: {target} is the primary" in log, log[-3000:]
    stored = {row[0] for row in sql(cluster, target, "SELECT id FROM acked_handover")}
    assert writer.ids() - stored == set(), "acknowledged writes lost"
    [other] = [n for n in NODES if n not in (old, target)]
    wait_until(f"{other} following {target}", lambda: NAME[other] in (streaming_children(cluster, target) or ()))
    cluster("start", old)
    wait_until(
        f"{old} back as a standby of {target}",
        lambda: NAME[old] in (streaming_children(cluster, target) or ()),
        timeout=240,
    )
    assert primaries(cluster, NODES) == [target]


def test_a_primary_cut_off_by_dropped_packets_holds_its_commits_before_another_is_promoted(cluster: Compose) -> None:
    """The hard partition: every packet to and from the primary dropped (names resolve, connections
    time out). Its lease lapses, it holds every commit, and only then is another node promoted."""
    old = primaries(cluster, NODES)[0]
    others = [n for n in NODES if n != old]
    wait_until("both standbys streaming", lambda: len(streaming_children(cluster, old) or ()) == 2, timeout=240)
    probes = WriteProbes(cluster, NODES).start()
    wait_until(f"the probes see {old} writable", lambda: "t" in {a for _, a in probes.samples()[old]})
    cluster.drop(old)
    cut_at = time.time()
    try:
        new = wait_until(
            "a new primary among the others", lambda: (p := primaries(cluster, others)) and p[0], timeout=120
        )
        wait_until(f"{new} takes writes", lambda: probes.samples()[new][-1][1] == "t", timeout=60)
    finally:
        cluster.undrop(old)
    wait_until(
        f"{old} streaming from {new}", lambda: NAME[old] in (streaming_children(cluster, new) or ()), timeout=240
    )
    spans = assert_one_writer_at_a_time(probes.stop(), time.time())
    last_old = max(until for _, until in spans[old])
    first_new = min(start for start, _ in spans[new])
    print(f"{old} acknowledging until +{last_old - cut_at:.2f}s; {new} from +{first_new - cut_at:.2f}s")
    assert first_new > last_old
    assert primaries(cluster, NODES) == [new]


def test_a_stopped_safety_program_makes_the_node_unready_until_it_runs_again(cluster: Compose) -> None:
    standby = next(n for n in NODES if primaries(cluster, NODES) != [n])
    ctl = ["supervisorctl", "-c", "/etc/supervisor/supervisord.conf"]
    wait_until(f"{standby} healthy", lambda: health(cluster, standby).startswith("postgres and repmgrd running"))
    cluster.exec(standby, *ctl, "stop", "role_check")
    try:
        assert health(cluster, standby) == "safety programs not running: role_check (STOPPED)"
    finally:
        cluster.exec(standby, *ctl, "start", "role_check")
    wait_until(f"{standby} healthy again", lambda: health(cluster, standby).startswith("postgres and repmgrd running"))
    # Programs reach supervisord as postgres, but postgres cannot plant a file where root writes its own.
    assert "RUNNING" in cluster.exec(standby, *ctl, "status", "role_check", user="postgres")
    plant = "ln -s /etc/shadow /run/postdock-root/x 2>&1; echo exit=$?"
    planted = cluster.exec(standby, "sh", "-c", plant, user="postgres")
    assert "Permission denied" in planted and "exit=1" in planted, planted
