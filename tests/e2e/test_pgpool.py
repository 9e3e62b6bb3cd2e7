"""ROLE=pgpool on real containers (partial mode): one endpoint that follows failovers, balances
reads, re-attaches nodes by itself and never keeps a stale view.

The scenarios run in order on one cluster; each leaves it healthy for the next."""

import json
import re
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.e2e.conftest import started
from tests.e2e.harness import IMAGE, SEED, Compose, health_of, is_primary, primaries, sql, wait_until
from tests.e2e.pool import attached, health, pcp_status, pool, pool_nodes, read_servers, status_of
from tests.e2e.writer import Writer

FIRST_LEVEL = ["pgmaster", "pgslave1", "pgslave3"]
NODES = [*FIRST_LEVEL, "pgslave2"]
SERVICES = [*NODES, "pgpool"]
START = 240


def seed_with_pool_configs(directory: Path) -> Path:
    """The seed, with pgpool CONFIGS given through custom delimiter and assignment symbols."""
    document = yaml.safe_load(SEED.read_text())
    env = document["services"]["pgpool"]["environment"]
    env.update(
        CONFIGS_DELIMITER_SYMBOL="|",
        CONFIGS_ASSIGNMENT_SYMBOL="=",
        CONFIGS="num_init_children=24|max_pool=3|log_min_messages=warning",
    )
    target = directory / "latest.yml"
    target.write_text(yaml.safe_dump(document, sort_keys=False))
    return target


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Compose]:
    compose = Compose(
        seed_with_pool_configs(tmp_path_factory.mktemp("pool")), env={"POSTDOCK_CONSISTENCY_MODE": "partial"}
    )
    # pgslave2 starts later: a backend unreachable when pgpool starts (scenario 7).
    with started(compose, [*FIRST_LEVEL, "pgpool"], logs=SERVICES):
        yield compose


def the_primary(compose: Compose, among: list[str] = FIRST_LEVEL) -> str:
    found = wait_until(
        "exactly one primary", lambda: (p := primaries(compose, among)) and len(p) == 1 and p, timeout=START
    )
    return str(found[0])


def test_pgpool_starts_with_configs_applied_and_writes_to_the_primary(cluster: Compose) -> None:
    wait_until("pgpool healthy", lambda: health(cluster).startswith("0:"), timeout=START)
    wait_until("the first level attached", lambda: attached(cluster, FIRST_LEVEL), timeout=START)
    with pool(cluster) as conn:
        values = {k: conn.execute(f"PGPOOL SHOW {k}").fetchone()[0] for k in ("num_init_children", "max_pool")}
        assert values == {"num_init_children": "24", "max_pool": "3"}
        for table in ("acked", "acked_standby_down", "acked_freeze"):  # a Writer numbers its rows from 1
            conn.execute(f"CREATE TABLE IF NOT EXISTS {table} (id int PRIMARY KEY)")
        row = conn.execute("INSERT INTO acked VALUES (0) RETURNING host(inet_server_addr())").fetchone()
    assert row == (cluster.ip("pgmaster"),)
    assert {host: row["role"] for host, row in pool_nodes(cluster).items() if row["role"] == "primary"} == {
        "pgmaster": "primary"
    }


def test_every_rendered_pgpool_key_is_one_this_pgpool_knows(cluster: Compose) -> None:
    # pgpool ignores a key it does not know without a word (4.4 renamed socket_dir and the socket
    # silently moved to /tmp): compare with the sample configuration its package ships.
    def keys(text: str, commented: bool) -> set[str]:
        pattern = r"^#?\s*([a-z_]+?)\d*\s*=" if commented else r"^([a-z_]+?)\d*\s*="
        return set(re.findall(pattern, text, re.M))

    rendered = keys(cluster.exec("pgpool", "cat", "/run/postdock/pgpool.conf"), commented=False)
    known = keys(cluster.exec("pgpool", "cat", "/usr/share/doc/pgpool2/examples/pgpool.conf.sample"), commented=True)
    assert len(rendered) > 30
    assert rendered - known == set()


def test_a_backend_unreachable_at_start_is_attached_once_it_appears(cluster: Compose) -> None:
    assert status_of(cluster).get("pgslave2") == "down"
    cluster("up", "-d", "pgslave2")
    wait_until("pgslave2 attached by pgpool", lambda: attached(cluster, ["pgslave2"]), timeout=START)


def scrape(compose: Compose, service: str) -> str:
    with urllib.request.urlopen(f"http://{compose.ip(service)}:8080/metrics", timeout=5) as response:
        return str(response.read().decode())


SECRETS = ("monkey_pass", "replication_pass", "pcp_pass", "pool_check_pass", "example_control_key_replace_me")


def test_every_container_exports_metrics_with_exactly_one_primary_and_no_secret(cluster: Compose) -> None:
    def primaries_in_metrics() -> list[str]:
        texts = {s: scrape(cluster, s) for s in NODES}
        return [
            s for s, text in texts.items() if re.search(r'postdock_postgres_role\{[^}]*role="primary"\} 1\.0', text)
        ]

    assert wait_until("one primary in the metrics", lambda: primaries_in_metrics() == ["pgmaster"] or None) is True

    def pool_metrics_all_up() -> str | None:
        text = scrape(cluster, "pgpool")
        up = [line for line in text.splitlines() if line.startswith("postdock_pgpool_backend_up{")]
        return text if len(up) == 4 and all(line.endswith(" 1.0") for line in up) else None

    pool_text = wait_until("pgpool metrics with every backend up", pool_metrics_all_up)
    assert 'postdock_pgpool_backend_primary{backend="0",host="pgmaster"} 1.0' in pool_text
    assert re.search(r'postdock_replication_lag_bytes\{node="node1",standby="node2"', scrape(cluster, "pgmaster"))
    for service in SERVICES:
        text = scrape(cluster, service)
        assert not [secret for secret in SECRETS if secret in text], service


def test_a_killed_standby_gets_no_reads_writes_go_on_and_it_is_attached_again(cluster: Compose) -> None:
    victim_ip = cluster.ip("pgslave1")
    writer = Writer(lambda: [cluster.ip("pgpool")], table="acked_standby_down", session_attrs="any").start()
    try:
        cluster("kill", "pgslave1")
        wait_until("pgslave1 down in pgpool", lambda: status_of(cluster).get("pgslave1") == "down", timeout=60)
        servers = read_servers(cluster, 60)
        assert victim_ip not in servers
        assert len(set(servers)) >= 2, servers
        moment = time.monotonic()
        wait_until("writes while pgslave1 is down", lambda: writer.acked_after(moment) >= 5, timeout=60)
        cluster("start", "pgslave1")
        wait_until("pgslave1 attached again (no pcp by hand)", lambda: attached(cluster, ["pgslave1"]), timeout=START)
    finally:
        writer.stop()


def test_primary_killed_writes_resume_on_the_repmgr_primary_and_no_acknowledged_write_is_lost(
    cluster: Compose,
) -> None:
    writer = Writer(lambda: [cluster.ip("pgpool")], session_attrs="any").start()
    try:
        wait_until("writes through pgpool", lambda: len(writer.acked) >= 20, timeout=60)
        cluster("kill", "pgmaster")
        killed_at = time.monotonic()
        new = the_primary(cluster, ["pgslave1", "pgslave3"])
        wait_until("writes resumed through pgpool", lambda: writer.acked_after(killed_at) >= 10, timeout=120)
    finally:
        writer.stop()
    nodes = pool_nodes(cluster)
    assert [h for h, r in nodes.items() if r["role"] == "primary" and r["status"] == "up"] == [new]
    assert nodes["pgmaster"]["status"] == "down"
    stored = {r[0] for r in sql(cluster, new, "SELECT id FROM acked")}
    assert writer.ids() <= stored, sorted(writer.ids() - stored)
    # The flight recorder's pgpool phase: from the new primary taking writes to pgpool sending them
    # there; a part of the gap the writer through pgpool saw.
    gap = min(w.at for w in writer.acked if w.at > killed_at) - max(w.at for w in writer.acked if w.at < killed_at)
    pattern = rf'^postdock_pgpool_switch_after_writable_seconds\{{host="{new}"\}} (\S+)$'
    found = wait_until(
        "pgpool's switch timed by the pool keeper",
        lambda: re.search(pattern, scrape(cluster, "pgpool"), re.M),
        timeout=30,
    )
    lag = float(found.group(1))
    assert 0 <= lag <= gap, (lag, gap)
    cluster("start", "pgmaster")
    wait_until("the old primary attached again as a standby", lambda: attached(cluster, NODES), timeout=START)
    assert is_primary(cluster, "pgmaster") is False
    # `postdock status` in the pgpool container: every backend's own report, and pgpool's view.
    rows = json.loads(cluster.exec("pgpool", "postdock", "status", "--json"))
    assert {r["host"]: (r["role"], r["pool"]) for r in rows} == {
        n: ("primary" if n == new else "standby", "up") for n in NODES
    }


def test_pgpool_restarted_after_a_failover_writes_to_the_new_primary_at_once(cluster: Compose) -> None:
    primary = the_primary(cluster)
    assert primary != "pgmaster"
    cluster("restart", "pgpool")
    wait_until("pgpool accepts sessions", lambda: pool(cluster).close() is None, timeout=START)
    with pool(cluster) as conn:
        row = conn.execute("INSERT INTO acked VALUES (-1) RETURNING host(inet_server_addr())").fetchone()
    assert row == (cluster.ip(primary),)
    wait_until("every backend attached after the restart", lambda: attached(cluster, NODES), timeout=START)


def test_a_primary_frozen_shorter_than_its_lease_keeps_its_role_and_pgpool_never_detaches_it(
    cluster: Compose,
) -> None:
    """A stall shorter than the lease (1.5 s of `docker pause` against LEASE_TIMEOUT 2 s) is no failover:
    pgpool takes no decision of its own (its old health check detached a frozen primary and then
    searched for a new one, 136 s of failed writes for a 25 s freeze), and writes go on after the thaw."""
    primary = the_primary(cluster)
    wait_until("every backend attached", lambda: attached(cluster, NODES), timeout=START)
    writer = Writer(lambda: [cluster.ip("pgpool")], table="acked_freeze", session_attrs="any").start()
    try:
        wait_until("writes through pgpool", lambda: len(writer.acked) >= 10, timeout=60)
        cluster("pause", primary)
        frozen_at = time.monotonic()
        seen: set[str] = set()
        while time.monotonic() - frozen_at < 1.5:
            seen.add(pcp_status(cluster).get(primary, "?"))
        cluster("unpause", primary)
        thawed_at = time.monotonic()
        wait_until("writes through pgpool after the thaw", lambda: writer.acked_after(thawed_at) >= 5, timeout=30)
    finally:
        writer.stop()
    assert seen == {"up"}, f"pgpool's status of the frozen primary: {seen}"
    assert the_primary(cluster) == primary
    assert pcp_status(cluster).get(primary) == "up"
    stored = {r[0] for r in sql(cluster, primary, "SELECT id FROM acked_freeze")}
    assert writer.ids() <= stored, sorted(writer.ids() - stored)


def test_a_primary_frozen_past_its_lease_is_replaced_and_after_the_thaw_acknowledges_nothing(
    cluster: Compose,
) -> None:
    """Frozen until a standby is promoted: its lease lapses, a standby is approved and promoted, pgpool
    writes to it; the thawed old primary acknowledges nothing, not even to a client connected to it
    directly (a commit begun before the freeze included: no standby streams from it any more), until
    it rejoins as a standby, and no write acknowledged through pgpool or directly is lost (partial
    mode). The frozen primary is pgslave1, the cascade's upstream: pgslave2 has to leave it too, and
    every standby streams again in the end."""
    if the_primary(cluster) != "pgslave1":
        switched = cluster.exec("pgpool", "postdock", "switchover", "--to", "pgslave1", user="postgres", check=False)
        assert "switchover done: pgslave1 is the primary" in switched, switched
    primary = the_primary(cluster)
    wait_until("every backend attached", lambda: attached(cluster, NODES), timeout=START)
    for table in ("acked_long_freeze", "acked_direct"):
        sql(cluster, primary, f"CREATE TABLE IF NOT EXISTS {table} (id int PRIMARY KEY)")
    writer = Writer(lambda: [cluster.ip("pgpool")], table="acked_long_freeze", session_attrs="any").start()
    direct = Writer(lambda: [cluster.ip(primary)], table="acked_direct", session_attrs="any").start()
    others = [n for n in FIRST_LEVEL if n != primary]
    try:
        wait_until("writes through pgpool and directly", lambda: min(len(writer.acked), len(direct.acked)) >= 10)
        cluster("pause", primary)
        try:
            new = wait_until(
                "a standby promoted while the primary is frozen",
                lambda: (p := primaries(cluster, others)) and p[0],
                timeout=START,  # a deadline for a deadlock, not a figure: bench/faults.py times it
            )
        except AssertionError as exc:
            seen = {n: (is_primary(cluster, n), health) for n, health in health_of(cluster, others).items()}
            raise AssertionError(f"{exc}; the standbys (primary?, health): {seen}") from None
        finally:
            cluster("unpause", primary)
        thawed_at = time.monotonic()
        wait_until(f"writes through pgpool on {new}", lambda: writer.acked_after(thawed_at) >= 10, timeout=120)
        wait_until(f"{primary} a standby again", lambda: is_primary(cluster, primary) is False, timeout=START)
    finally:
        writer.stop()
        direct.stop()
    late = [w.id for w in direct.acked if w.at > thawed_at]
    assert late == [], f"{primary} acknowledged writes after the thaw: {late}"
    assert primaries(cluster, FIRST_LEVEL) == [new]
    for table, client in (("acked_long_freeze", writer), ("acked_direct", direct)):
        stored = {r[0] for r in sql(cluster, new, f"SELECT id FROM {table}")}
        assert client.ids() <= stored, (table, sorted(client.ids() - stored))
    wait_until("every backend attached again", lambda: attached(cluster, NODES), timeout=START)


def test_switchover_from_the_pgpool_container_moves_writes_through_pgpool_to_the_new_primary(cluster: Compose) -> None:
    old = the_primary(cluster)
    target = next(n for n in FIRST_LEVEL if n != old)  # a standby now
    wait_until("every backend attached", lambda: attached(cluster, NODES), timeout=START)
    output = cluster.exec("pgpool", "postdock", "switchover", "--to", target, user="postgres", check=False)
    assert f"switchover done: {target} is the primary" in output, output
    assert the_primary(cluster) == target
    wait_until(f"pgpool writing to {target}", lambda: pool_primary(cluster) == cluster.ip(target), timeout=START)
    assert old != target


def pool_primary(compose: Compose) -> str:
    with pool(compose) as conn:
        row = conn.execute("INSERT INTO acked VALUES (-2) ON CONFLICT DO NOTHING RETURNING host(inet_server_addr())")
        found = row.fetchone()
        conn.execute("DELETE FROM acked WHERE id = -2")
    return str(found[0]) if found else ""


def test_malformed_backends_stop_the_container_with_the_entry_named() -> None:
    done = subprocess.run(
        [
            "docker", "run", "--rm", "-e", "ROLE=pgpool", "-e", "CHECK_PASSWORD=x",
            "-e", "BACKENDS=0:pgmaster::::,1:pgslave1:notaport:::", IMAGE,
        ],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "postdock: BACKENDS: found '0:pgmaster::::,1:pgslave1:notaport:::'; expected entries "
        "num:host:port:weight:data_directory:flag (num 0-127, a host, a port, a finite weight >= 0, an absolute path); "
        "entry 2 '1:pgslave1:notaport:::' is not"
    ]
