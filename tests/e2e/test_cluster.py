"""The seed topology on real containers: start, failover, rejoin, fast restart, full restart.

The scenarios run in order on one cluster; each leaves it healthy for the next."""

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from postdock_supervisor.model.failover import AFTER, phases, summary
from tests.e2e.conftest import started
from tests.e2e.harness import (
    IMAGE,
    Compose,
    addresses,
    flight_record,
    is_primary,
    local_sql,
    make_key_pair,
    primaries,
    repmgr_upstreams,
    sh,
    sql,
    streaming_children,
    try_sql,
    wait_until,
)
from tests.e2e.writer import Writer

NODES = ["pgmaster", "pgslave1", "pgslave2", "pgslave3", "pgslave4"]
FIRST_LEVEL = ["pgmaster", "pgslave1", "pgslave3"]
NAME = {"pgmaster": "node1", "pgslave1": "node2", "pgslave2": "node3", "pgslave3": "node4", "pgslave4": "node5"}
START = 240  # seconds: a cold start of five nodes on a loaded 2-core machine, with a wide margin


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Compose]:
    keys = make_key_pair(tmp_path_factory.mktemp("ssh"))
    compose = Compose(env={"POSTDOCK_SSH_ENABLE": "1", "POSTDOCK_SSH_KEYS": str(keys)})
    with started(compose, NODES):
        yield compose


def the_primary(compose: Compose) -> str:
    found = wait_until(
        "exactly one primary among the first-level nodes",
        lambda: (p := primaries(compose, FIRST_LEVEL)) and len(p) == 1 and p,
        timeout=START,
    )
    return found[0]


def arrives_everywhere(compose: Compose, primary: str, nodes: list[str], timeout: float = 120) -> str:
    """Write a fresh marker on the primary and wait until every node has it (proof of streaming)."""
    marker = uuid.uuid4().hex
    sql(compose, primary, "CREATE TABLE IF NOT EXISTS markers (m text)")
    sql(compose, primary, "INSERT INTO markers VALUES (%s)", (marker,))
    for node in nodes:
        wait_until(
            f"marker {marker[:8]} on {node}",
            lambda n=node: try_sql(compose, n, f"SELECT 1 FROM markers WHERE m = '{marker}'"),
            timeout=timeout,
        )
    return marker


def status_topology(compose: Compose, run_in: str) -> dict[str, tuple[str, str, str]]:
    """`postdock status --json` as host -> (role, upstream, state)."""
    rows = json.loads(compose.exec(run_in, "postdock", "status", "--json", user="postgres"))
    return {row["host"]: (row["role"], row["upstream"], row["state"]) for row in rows}


def test_start_replicates_to_all_standbys_with_real_cascade_upstreams(cluster: Compose) -> None:
    assert the_primary(cluster) == "pgmaster"
    arrives_everywhere(cluster, "pgmaster", NODES, timeout=START)
    wait_until("pgslave2 streaming from pgslave1", lambda: "node3" in (streaming_children(cluster, "pgslave1") or ()))
    wait_until("pgslave4 streaming from pgslave3", lambda: "node5" in (streaming_children(cluster, "pgslave3") or ()))
    assert streaming_children(cluster, "pgmaster") == {"node2", "node4"}
    # A first-level standby became a lease member only once the primary's agent reached it by name;
    # a cascaded one is no member and does not ask.
    for standby in ("pgslave1", "pgslave3"):
        assert f"before registering: pgmaster reaches {standby}" in cluster.logs(standby)
    assert "before registering: not a lease member" in cluster.logs("pgslave2")
    upstreams = wait_until(
        "all five nodes in repmgr's metadata",
        lambda: (u := repmgr_upstreams(cluster, "pgmaster")) and len(u) == 5 and u,
    )
    assert upstreams == {"node1": "", "node2": "node1", "node3": "node2", "node4": "node1", "node5": "node4"}
    # USE_REPLICATION_SLOTS=1: each standby streams through its own slot on its upstream.
    assert set(sql(cluster, "pgmaster", "SELECT slot_name FROM pg_replication_slots WHERE active")) == {
        ("repmgr_slot_2",),
        ("repmgr_slot_4",),
    }
    assert sql(cluster, "pgslave1", "SELECT slot_name FROM pg_replication_slots WHERE active") == [("repmgr_slot_3",)]
    wanted = {
        "pgmaster": ("primary", "", "running"),
        "pgslave1": ("standby", "pgmaster", "streaming"),
        "pgslave2": ("standby", "pgslave1", "streaming"),
        "pgslave3": ("standby", "pgmaster", "streaming"),
        "pgslave4": ("standby", "pgslave3", "streaming"),
    }
    wait_until("postdock status (run on a cascade) showing the topology",
               lambda: status_topology(cluster, "pgslave4") == wanted)  # fmt: skip


def test_repmgr_crosscheck_shows_every_node_reaching_every_node(cluster: Compose) -> None:
    def matrix() -> list[list[str]]:
        rows = []
        for line in cluster.repmgr("pgmaster", "cluster", "crosscheck").splitlines():
            cells = [c.strip() for c in line.split("|")]
            if len(cells) > 2 and cells[1].isdigit():
                rows.append(cells[2:])
        return rows

    rows = wait_until("a full crosscheck matrix", lambda: (m := matrix()) and len(m) == 5 and m, timeout=120)
    assert all(cell == "*" for row in rows for cell in row), rows
    assert all(len(row) == 5 for row in rows)


def shell(cluster: Compose, service: str, command: str, user: str = "postgres") -> tuple[int, str]:
    """Run command in service; (exit code, output)."""
    out = cluster.exec(service, "sh", "-c", f'{command} 2>&1; echo "rc=$?"', user=user, check=False)
    body, _, code = out.rstrip().rpartition("rc=")
    return int(code), body


def test_ssh_runs_commands_between_nodes_with_the_cluster_key_only(cluster: Compose) -> None:
    assert shell(cluster, "pgmaster", "ssh pgslave1 cat /etc/hostname") == (
        0,
        cluster.exec("pgslave1", "cat", "/etc/hostname"),
    )
    cluster.exec("pgmaster", "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", "/tmp/wrong", user="postgres")
    strict = "-o StrictHostKeyChecking=yes -o UserKnownHostsFile=/etc/postdock/ssh_known_hosts -o BatchMode=yes"
    code, out = shell(cluster, "pgmaster", f"ssh -F /dev/null {strict} -i /tmp/wrong pgslave1 true")
    assert code != 0 and "Permission denied" in out
    # Host key checking stays on: an address that is not in the host certificate is refused.
    code, out = shell(cluster, "pgmaster", f"ssh {cluster.ip('pgslave1')} true")
    assert code != 0 and "Host key verification failed" in out
    code, out = shell(cluster, "pgmaster", "ssh -l root pgslave1 true", user="root")
    assert code != 0 and "Permission denied" in out


def test_no_private_key_in_inspect_or_logs(cluster: Compose) -> None:
    body = "".join(Path(cluster.env["POSTDOCK_SSH_KEYS"], "id_ed25519").read_text().splitlines()[1:-1])
    assert body
    inspected = sh("docker", "inspect", *[cluster.container(n) for n in NODES])
    logs = cluster("logs", "--no-color", check=False)
    history = sh("docker", "history", "--no-trunc", IMAGE)
    for text in (inspected, logs, history):
        assert body[:40] not in text


def test_the_application_user_owns_its_database_and_is_no_superuser(cluster: Compose) -> None:
    """monkey_user creates and fills tables in monkey_db, but cannot run a program as the postgres
    account (the way a superuser reaches the node's secrets) nor read what only a monitor may."""
    primary = primaries(cluster, ["pgmaster", "pgslave1", "pgslave3"])[0]
    assert sql(cluster, primary, "SELECT rolsuper, rolreplication FROM pg_roles WHERE rolname = current_user") == [
        (False, False)
    ]
    assert sql(cluster, primary, "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'monkey_db'") == [
        ("monkey_user",)
    ]
    sql(cluster, primary, "CREATE TABLE IF NOT EXISTS owned (id int)")
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        sql(cluster, primary, "COPY (SELECT 1) TO PROGRAM 'cat /etc/postdock/secrets/*'")
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        sql(cluster, primary, "SELECT pg_read_file('/etc/passwd')")
    # pgpool's checks run as a role of their own that may only read monitoring views.
    check = "SELECT rolsuper, rolreplication, pg_has_role(oid, 'pg_monitor', 'member') FROM pg_roles WHERE rolname = %s"
    assert sql(cluster, primary, check, ("pool_check",)) == [(False, False, True)]


def postmaster_pid(cluster: Compose, service: str) -> str:
    return cluster.exec(service, "head", "-1", "/var/lib/postgresql/data/postmaster.pid").strip()


def test_standby_postmaster_killed_with_kill_9_comes_back_as_the_standby_it_was(cluster: Compose) -> None:
    # A leaf (cascaded) standby: while a first-level standby is down its own cascaded child rightly
    # follows the primary instead, which would change the topology the next scenarios check.
    old = postmaster_pid(cluster, "pgslave2")
    cluster.exec("pgslave2", "kill", "-9", old)
    wait_until(
        "a new postmaster on pgslave2", lambda: (p := try_postmaster_pid(cluster, "pgslave2")) and p != old, timeout=120
    )
    wait_until(
        "pgslave2 streaming from pgslave1",
        lambda: "node3" in (streaming_children(cluster, "pgslave1") or ()),
        timeout=120,
    )
    assert primaries(cluster, NODES) == ["pgmaster"]
    arrives_everywhere(cluster, "pgmaster", NODES)


def try_postmaster_pid(cluster: Compose, service: str) -> str | None:
    try:
        return postmaster_pid(cluster, service)
    except AssertionError:
        return None


def test_killed_primary_fails_over_to_the_preferred_standby_even_when_it_was_behind(cluster: Compose) -> None:
    """NODE_PRIORITY: pgslave3 200, pgslave1 100. pgslave3 hears nothing from the primary while commits
    reach pgslave1, then the primary is killed while pgslave3 is frozen: pgslave1's repmgrd sees no
    majority and cancels its election, and once pgslave3 thaws, its own repmgrd elects pgslave1 (more
    WAL) and waits for it. Neither repmgrd runs an election again (repmgr 5.5), so pgslave1, which
    leads, finishes it (decide/election.py): it has pgslave3 fetch the missing WAL from it and
    declines; pgslave3 then leads on the tie and is promoted. Every write pgslave1 held is on
    pgslave3: the writer pauses before the kill until pgslave1 holds every acknowledged write (this is
    `eventual` mode: a commit the primary acknowledged in the last milliseconds before a kill may have
    reached no standby, and that is not what is tested here)."""
    sql(cluster, "pgmaster", "CREATE TABLE acked (id int PRIMARY KEY)")
    candidates = [n for n in FIRST_LEVEL if n != "pgmaster"]
    writer = Writer(lambda: addresses(cluster, FIRST_LEVEL)).start()
    old_address = cluster.ip("pgmaster")
    try:
        wait_until("20 acknowledged writes before the fault", lambda: len(writer.acked) >= 20)
        # Frozen, so that its repmgrd does not start a failover of its own meanwhile; and deaf to the
        # primary, or its kernel would buffer the WAL sent meanwhile and hand it over at the thaw.
        cluster("pause", "pgslave3")
        cluster.drop_from("pgslave3", old_address)
        try:
            deaf_at = time.monotonic()
            wait_until("10 writes pgslave3 has not received", lambda: writer.acked_after(deaf_at) >= 10)
            writer.hold()
            acked = sorted(writer.ids())
            wait_until(
                "pgslave1 holding every acknowledged write",
                lambda: (
                    sql(cluster, "pgslave1", "SELECT count(*) FROM acked WHERE id = ANY(%s)", (acked,))
                    == [(len(acked),)]
                ),
            )
            cluster("kill", "pgmaster")
            killed_at = time.monotonic()
            wait_until(
                "pgslave1's repmgrd cancelling its election",
                lambda: "unable to reach a qualified majority" in cluster.logs("pgslave1"),
                timeout=60,
            )
        finally:
            cluster.undrop_from("pgslave3", old_address)
            cluster("unpause", "pgslave3")
            writer.resume()
        new = wait_until("a first-level standby promoted", lambda: primaries(cluster, candidates), timeout=90)
        wait_until(
            "a write acknowledged by the new primary", lambda: writer.acked_after(killed_at + 0.5) >= 5, timeout=90
        )
    finally:
        writer.stop()
    assert len(new) == 1, f"more than one primary: {new}"
    [winner] = new
    assert winner == "pgslave3", f"{winner} promoted over pgslave3, of higher NODE_PRIORITY"
    assert primaries(cluster, candidates) == [winner]
    declined = cluster.logs("pgslave1")
    assert "holds no election, 2 of 3 first-level nodes answer, none is primary, and this node leads" in declined
    assert "pgslave3 (priority 200 over 100) lacks" in declined
    assert "deferring to pgslave3, of higher NODE_PRIORITY: the election is rerun" in declined
    stored = {row[0] for row in sql(cluster, winner, "SELECT id FROM acked")}
    assert writer.ids() - stored == set(), "acknowledged writes missing on the new primary"
    # The flight recorder never claims a shorter outage than clients saw: from the old primary last
    # known alive to the new one taking writes lies within the writer's gap (clock reads aside).
    record = wait_until("the winner's flight record", lambda: flight_record(cluster, winner), timeout=60)
    last_old = max(w.at for w in writer.acked if w.host == old_address)
    first_new = min(w.at for w in writer.acked if w.host != old_address)
    assert [name for name, _ in phases(record)] == ["detect", "lease", "promote"]
    assert record.total is not None and 0 < record.total <= first_new - last_old + 0.5
    shown = json.loads(cluster.exec(winner, "postdock", "status", "--json", user="postgres"))
    assert [row["last_failover"] for row in shown if row["host"] == winner] == [summary(record)]
    [other] = [n for n in candidates if n != winner]
    wait_until(
        f"{other} following {winner}", lambda: NAME[other] in (streaming_children(cluster, winner) or ()), timeout=120
    )
    arrives_everywhere(cluster, winner, ["pgslave1", "pgslave2", "pgslave3", "pgslave4"])
    # The cascades kept their upstreams, whichever node won.
    assert "node3" in (streaming_children(cluster, "pgslave1") or ())
    assert "node5" in (streaming_children(cluster, "pgslave3") or ())


def test_old_primary_comes_back_as_a_streaming_standby_of_the_new_one(cluster: Compose) -> None:
    new = the_primary(cluster)
    assert new != "pgmaster"
    started = time.time()
    cluster("start", "pgmaster")
    wait_until(
        f"pgmaster streaming from {new}",
        lambda: "node1" in (streaming_children(cluster, new) or ()),
        timeout=START,
    )
    seen = time.time()
    # The flight recorder's last phase: the start of the old primary's WAL sender on the new one. Once
    # it streams, the old primary's sync keeper completes its primary_conninfo (slot sync needs the
    # dbname) and its WAL receiver reconnects once, within one 5 s round; the new primary's keeper,
    # also every 5 s, may see that second connection instead of the first.
    record = wait_until(
        "the rejoin in the flight record", lambda: (r := flight_record(cluster, new)) and r.rejoined_at and r
    )
    assert record.old_primary == "node1"
    assert started - 1 <= record.rejoined_at <= seen + 5 + 1
    assert [name for name, _ in phases(record, AFTER)] == ["rejoin"]
    assert "node1 rejoined" in summary(record)
    assert is_primary(cluster, "pgmaster") is False
    assert primaries(cluster, NODES) == [new]
    arrives_everywhere(cluster, new, NODES)
    assert repmgr_upstreams(cluster, new)["node1"] == NAME[new]
    other = next(n for n in FIRST_LEVEL if n not in ("pgmaster", new))
    wanted = {
        new: ("primary", "", "running"),
        "pgmaster": ("standby", new, "streaming"),
        other: ("standby", new, "streaming"),
        "pgslave2": ("standby", "pgslave1", "streaming"),
        "pgslave4": ("standby", "pgslave3", "streaming"),
    }
    wait_until("postdock status showing the topology after the failover",
               lambda: status_topology(cluster, "pgmaster") == wanted)  # fmt: skip


def test_fast_restart_of_the_primary_ends_with_one_primary_and_everyone_streaming(cluster: Compose) -> None:
    old = the_primary(cluster)
    cluster("restart", "-t", "30", old)
    primary = the_primary(cluster)
    arrives_everywhere(cluster, primary, NODES, timeout=START)
    children = set().union(*(streaming_children(cluster, n) or set() for n in NODES))
    assert children == {NAME[n] for n in NODES if n != primary}
    assert primaries(cluster, NODES) == [primary]


def test_whole_cluster_stop_and_start_keeps_one_primary_and_all_data(cluster: Compose) -> None:
    primary = the_primary(cluster)
    marker = arrives_everywhere(cluster, primary, NODES)
    acked_before = sql(cluster, primary, "SELECT count(*) FROM acked")[0][0]
    cluster("stop", "-t", "60")
    cluster("start")
    primary = the_primary(cluster)
    assert primaries(cluster, NODES) == [primary]
    assert sql(cluster, primary, "SELECT count(*) FROM markers WHERE m = %s", (marker,)) == [(1,)]
    assert sql(cluster, primary, "SELECT count(*) FROM acked") == [(acked_before,)]
    arrives_everywhere(cluster, primary, NODES, timeout=START)


def test_primary_postmaster_killed_with_kill_9_restarts_in_place_without_a_failover(cluster: Compose) -> None:
    """The container, its agent and the majority are intact: the node restarts postgres at once
    (crash recovery) instead of waiting for an election it would win anyway. No failover: the same
    node is primary on the same timeline, and no acknowledged write is lost."""
    primary = the_primary(cluster)
    timeline = sql(cluster, primary, "SELECT timeline_id FROM pg_control_checkpoint()")[0][0]
    sql(cluster, primary, "CREATE TABLE acked_crash (id int PRIMARY KEY)")
    writer = Writer(lambda: addresses(cluster, FIRST_LEVEL), table="acked_crash").start()
    try:
        wait_until("20 acknowledged writes before the fault", lambda: len(writer.acked) >= 20)
        cluster.exec(primary, "kill", "-9", postmaster_pid(cluster, primary))
        killed_at = time.monotonic()
        wait_until("writes acknowledged again", lambda: writer.acked_after(killed_at + 0.5) >= 5, timeout=START)
    finally:
        writer.stop()
    assert primaries(cluster, NODES) == [primary]
    assert sql(cluster, primary, "SELECT timeline_id FROM pg_control_checkpoint()")[0][0] == timeline
    stored = {row[0] for row in sql(cluster, primary, "SELECT id FROM acked_crash")}
    assert writer.ids() - stored == set(), "acknowledged writes missing after the restart in place"
    log = cluster("logs", "--no-color", primary)
    assert "restarting in place (crash recovery)" in log
    arrives_everywhere(cluster, primary, NODES, timeout=START)


def test_isolated_standby_never_promotes_and_streams_again_after_reconnection(cluster: Compose) -> None:
    # Last in the module: while it is cut off, its cascaded standby (rightly) follows the primary.
    primary = the_primary(cluster)
    standby = next(n for n in FIRST_LEVEL if n != primary)
    cluster.disconnect(standby)
    try:
        deadline = time.monotonic() + 30  # three failover windows (10 s each) of watching
        while time.monotonic() < deadline:
            assert local_sql(cluster, standby, "SELECT pg_is_in_recovery()") == "t"
            time.sleep(0.5)  # the sampling period of an observation, not a wait for a condition
        assert primaries(cluster, [n for n in FIRST_LEVEL if n != standby]) == [primary]
    finally:
        cluster.reconnect(standby)
    marker = arrives_everywhere(cluster, primary, [primary])
    wait_until(
        f"the marker on {standby} after reconnection",
        lambda: local_sql(cluster, standby, f"SELECT count(*) FROM markers WHERE m = '{marker}'") == "1",
        timeout=120,
    )
    wait_until(
        f"{standby} streaming again",
        lambda: NAME[standby] in set().union(*(streaming_children(cluster, n) or set() for n in NODES)),
        timeout=120,
    )
    assert primaries(cluster, NODES) == [primary]
