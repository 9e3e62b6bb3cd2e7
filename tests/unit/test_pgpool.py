"""The pgpool role: its variables, rendered files, the pool keeper's decisions and health."""

import pytest

from postdock_supervisor.config import load_settings
from postdock_supervisor.decide.pool import decide_pool, unthawed
from postdock_supervisor.errors import ConfigError
from postdock_supervisor.health import pool_health
from postdock_supervisor.model.pool import BackendProbe, PoolNode, PoolSnapshot
from postdock_supervisor.render.pgpool import pcp_conf, pcppass, pgpool_conf, pool_hba_conf
from tests.unit.test_render import conf_values

POOL_ENV = {
    "ROLE": "pgpool",
    "BACKENDS": "0:pgmaster::::,1:pgslave1::::,3:pgslave3:5433:2::DISALLOW_TO_FAILOVER",
    "DB_USERS": "monkey_user:monkey_pass,other:p:with:colons",
    "CHECK_PASSWORD": "check-secret",
}


def pool_settings(**overrides: str):  # type: ignore[no-untyped-def]
    return load_settings({**POOL_ENV, **overrides}, "pgpool")


def pool_problems(**overrides: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        pool_settings(**overrides)
    return caught.value.problems


def test_backends_take_the_documented_defaults_for_empty_fields() -> None:
    pool = pool_settings().pgpool
    assert [(b.num, b.host, b.port, b.weight, b.data_directory, b.flag) for b in pool.backends] == [
        (0, "pgmaster", 5432, 1.0, "/var/lib/postgresql/data", "ALLOW_TO_FAILOVER"),
        (1, "pgslave1", 5432, 1.0, "/var/lib/postgresql/data", "ALLOW_TO_FAILOVER"),
        (3, "pgslave3", 5433, 2.0, "/var/lib/postgresql/data", "DISALLOW_TO_FAILOVER"),
    ]
    assert dict((u, p.reveal()) for u, p in pool.db_users) == {"monkey_user": "monkey_pass", "other": "p:with:colons"}


def test_malformed_backend_entry_is_named_with_its_position() -> None:
    [line] = pool_problems(BACKENDS="0:pgmaster::::,x:pgslave1::::")
    assert line.startswith("BACKENDS: found '0:pgmaster::::,x:pgslave1::::'; expected entries num:host:port")
    assert line.endswith("entry 2 'x:pgslave1::::' is not")


def test_unknown_backend_flag_and_duplicate_numbers() -> None:
    assert "has 'SOMETIMES'" in pool_problems(BACKENDS="0:a::::SOMETIMES")[0]
    assert pool_problems(BACKENDS="0:a,0:b")[0].endswith("expected distinct backend numbers")


def test_db_users_errors_mask_every_password() -> None:
    [line] = pool_problems(DB_USERS="alice:topsecret,bob")
    assert "topsecret" not in line
    assert line == (
        "DB_USERS: found '***'; expected user:password pairs (a user name, ':', a non-empty password "
        "without control characters); pair 2 'b***' is not"
    )


def test_min_backends_cannot_exceed_the_backends_and_check_password_is_required() -> None:
    found = pool_problems(REQUIRE_MIN_BACKENDS="4", CHECK_PASSWORD="")
    assert "REQUIRE_MIN_BACKENDS: found 4; expected at most the 3 entries of BACKENDS" in found
    assert any(line.startswith("CHECK_PASSWORD: found nothing") for line in found)


def test_pgpool_conf_has_every_backend_no_password_and_configs_win() -> None:
    settings = pool_settings(CONFIGS="num_init_children:64,health_check_period:3")
    text = pgpool_conf(settings)
    values = conf_values(text)
    assert values["backend_hostname3"] == "'pgslave3'" and values["backend_port3"] == "5433"
    assert values["backend_flag3"] == "'DISALLOW_TO_FAILOVER'" and values["backend_weight3"] == "2"
    assert values["num_init_children"] == "64" and values["health_check_period"] == "3"
    assert values["backend_clustering_mode"] == "'streaming_replication'"
    assert values["failover_command"] == "''" and values["detach_false_primary"] == "on"
    for secret in ("check-secret", "monkey_pass"):
        assert secret not in text and secret not in pool_hba_conf(settings)
    assert values["sr_check_password"] == "''" and values["health_check_password"] == "''"


def test_strict_mode_starts_with_no_standby_reads_until_the_keeper_has_looked() -> None:
    values = conf_values(pgpool_conf(pool_settings(CONSISTENCY_MODE="strict")))
    assert {values[f"backend_weight{n}"] for n in (0, 1, 3)} == {"0"}
    assert conf_values(pgpool_conf(pool_settings(), {0: 1.0, 1: 0.0, 3: 2.0}))["backend_weight1"] == "0"


def test_pcp_files() -> None:
    # pg_md5's documented example: "foo" -> acbd18db4cc2f85cedef654fccc4a4d8
    assert pcp_conf("admin", "foo") == "admin:acbd18db4cc2f85cedef654fccc4a4d8\n"
    assert pcppass("admin", "a:b\\c") == "*:9898:admin:a\\:b\\\\c\n"


def node(num: int, host: str, status: str = "up", role: str = "standby") -> PoolNode:
    return PoolNode(num, host, status, role)


def standby(num: int, app: str, streaming: bool = True) -> BackendProbe:
    return BackendProbe(num, True, in_recovery=True, streaming=streaming, application_name=app)


def primary(num: int, sync: frozenset[str] = frozenset()) -> BackendProbe:
    return BackendProbe(num, True, in_recovery=False, sync_names=sync)


def test_a_recovered_standby_is_attached_again() -> None:
    pool = pool_settings().pgpool
    snap = PoolSnapshot(
        (node(0, "pgmaster", role="primary"), node(1, "pgslave1", "down"), node(3, "pgslave3", "down")),
        (primary(0), standby(1, "node2"), standby(3, "node4", streaming=False)),
    )
    decision = decide_pool(snap, pool, {0: 1.0, 1: 1.0, 3: 2.0})
    assert decision.attach == (1,)
    assert decision.reason == "attach backend 1 (pgslave1): down in pgpool but streaming as a standby"


def test_an_isolated_old_primary_is_never_attached_while_another_is_writable() -> None:
    pool = pool_settings().pgpool
    snap = PoolSnapshot(
        (node(0, "pgmaster", "down"), node(1, "pgslave1"), node(3, "pgslave3", role="primary")),
        (primary(0), standby(1, "node2"), primary(3)),
    )
    assert decide_pool(snap, pool, {0: 1.0, 1: 1.0, 3: 2.0}).attach == ()


def test_the_only_writable_backend_is_attached_when_pgpool_has_no_primary() -> None:
    pool = pool_settings().pgpool
    snap = PoolSnapshot(
        (node(0, "pgmaster", "down"), node(1, "pgslave1"), node(3, "pgslave3", "down")),
        (primary(0), standby(1, "node2"), BackendProbe(3, False)),
    )
    decision = decide_pool(snap, pool, {0: 1.0, 1: 1.0, 3: 2.0})
    assert decision.attach == (0,)
    assert "the only writable backend and pgpool has no primary" in decision.reason


def test_pgpool_follows_the_primary_repmgr_promoted_once_its_own_is_gone() -> None:
    pool = pool_settings().pgpool
    nodes = (node(0, "pgmaster", role="primary"), node(1, "pgslave1"), node(3, "pgslave3"))
    snap = PoolSnapshot(nodes, (BackendProbe(0, False), standby(1, "node2", streaming=False), primary(3)))
    decision = decide_pool(snap, pool, {0: 1.0, 1: 1.0, 3: 2.0})
    assert (decision.promote, decision.attach, decision.detach) == (3, (), ())
    assert decision.reason == (
        "backend 3 (pgslave3) is the only writable one and pgpool's primary 0 does not answer: "
        "pgslave3 becomes pgpool's primary"
    )
    # The old primary back as a standby of the new one: the same move.
    rejoined = PoolSnapshot(nodes, (standby(0, "node1"), standby(1, "node2"), primary(3)))
    assert decide_pool(rejoined, pool, {0: 1.0, 1: 1.0, 3: 2.0}).promote == 3


def test_a_new_primary_down_in_pgpool_is_attached_first_and_promoted_next() -> None:
    pool = pool_settings().pgpool
    nodes = (node(0, "pgmaster", role="primary"), node(1, "pgslave1"), node(3, "pgslave3", "down"))
    snap = PoolSnapshot(nodes, (BackendProbe(0, False), standby(1, "node2"), primary(3)))
    decision = decide_pool(snap, pool, {0: 1.0, 1: 1.0, 3: 2.0})
    assert (decision.attach, decision.promote) == ((3,), None)
    assert "attach backend 3 (pgslave3): the only writable backend, down in pgpool" in decision.reason


def test_a_frozen_primary_is_neither_detached_nor_replaced_while_nobody_else_is_writable() -> None:
    pool = pool_settings().pgpool
    nodes = (node(0, "pgmaster", role="primary"), node(1, "pgslave1"), node(3, "pgslave3"))
    snap = PoolSnapshot(nodes, (BackendProbe(0, False), standby(1, "node2"), standby(3, "node4")))
    decision = decide_pool(snap, pool, {0: 1.0, 1: 1.0, 3: 2.0})
    assert (decision.promote, decision.detach, decision.attach) == (None, (), ())
    assert decision.reason == "pool as wanted"


def test_a_standby_that_stops_answering_is_detached() -> None:
    pool = pool_settings().pgpool
    nodes = (node(0, "pgmaster", role="primary"), node(1, "pgslave1"), node(3, "pgslave3", "waiting"))
    snap = PoolSnapshot(nodes, (primary(0), BackendProbe(1, False), BackendProbe(3, False)))
    decision = decide_pool(snap, pool, {0: 1.0, 1: 1.0, 3: 2.0})
    assert decision.detach == (1, 3) and decision.promote is None
    assert "detach backend 1 (pgslave1): a standby that does not answer" in decision.reason


def test_two_writable_backends_are_left_to_pgpools_false_primary_check() -> None:
    pool = pool_settings().pgpool
    nodes = (node(0, "pgmaster", role="primary"), node(1, "pgslave1"), node(3, "pgslave3"))
    snap = PoolSnapshot(nodes, (primary(0), standby(1, "node2"), primary(3)))
    decision = decide_pool(snap, pool, {0: 1.0, 1: 1.0, 3: 2.0})
    assert (decision.promote, decision.detach) == (None, ())


def test_strict_mode_reads_only_from_the_primary_and_its_synchronous_standbys() -> None:
    pool = pool_settings(CONSISTENCY_MODE="strict").pgpool
    nodes = (node(0, "pgmaster", role="primary"), node(1, "pgslave1"), node(3, "pgslave3"))
    snap = PoolSnapshot(nodes, (primary(0, frozenset({"node2"})), standby(1, "node2"), standby(3, "node4")))
    decision = decide_pool(snap, pool, {0: 0.0, 1: 0.0, 3: 0.0})
    assert dict(decision.weights) == {0: 1.0, 1: 1.0, 3: 0.0}
    assert decision.reason == "strict mode: read weights 0: 0 -> 1, 1: 0 -> 1"
    assert decide_pool(snap, pool, decision.weights).reason == "pool as wanted"


def test_strict_mode_trusts_no_standby_while_two_backends_are_writable() -> None:
    pool = pool_settings(CONSISTENCY_MODE="strict").pgpool
    nodes = (node(0, "pgmaster", role="primary"), node(1, "pgslave1"), node(3, "pgslave3"))
    snap = PoolSnapshot(nodes, (primary(0, frozenset({"node2"})), standby(1, "node2"), primary(3)))
    assert set(decide_pool(snap, pool, {}).weights.values()) == {0.0}


def test_eventual_mode_keeps_the_configured_weights() -> None:
    pool = pool_settings().pgpool
    snap = PoolSnapshot((node(0, "pgmaster", role="primary"),), (primary(0), standby(1, "x"), standby(3, "y")))
    assert dict(decide_pool(snap, pool, {}).weights) == {0: 1.0, 1: 1.0, 3: 2.0}


def test_pool_health() -> None:
    running = {"pgpool": "RUNNING"}
    nodes = (node(0, "pgmaster", role="primary"), node(1, "pgslave1", "down"), node(2, "", "unused"))
    assert pool_health(running, nodes, 1, False, {}).reason == "1 of 2 backends up, primary pgmaster"
    assert pool_health(running, nodes, 2, False, {}).reason == "1 backends up, REQUIRE_MIN_BACKENDS is 2"
    assert not pool_health(running, (node(0, "pgmaster"),), 0, False, {}).ok
    assert pool_health(running, nodes, 1, True, {}).reason.startswith("strict mode: read weights not yet set")
    assert pool_health(running, nodes, 1, True, {"weights_applied": True}).ok
    assert not pool_health({"pgpool": "BACKOFF"}, nodes, 1, False, {}).ok
    assert pool_health(running, None, 1, False, {}).reason.startswith("pgpool does not answer")
    keeper_down = pool_health({**running, "pool_keeper": "FATAL"}, nodes, 1, False, {}, ("pool_keeper",))
    assert keeper_down.reason == "safety programs not running: pool_keeper (FATAL)"
    assert pool_health({**running, "pool_keeper": "RUNNING"}, nodes, 1, False, {}, ("pool_keeper",)).ok


def test_the_pgpool_role_runs_pgpool_its_keeper_and_the_exporter() -> None:
    import re

    from postdock_supervisor import paths
    from postdock_supervisor.render import render_all

    [conf] = [f for f in render_all(pool_settings()) if f.path == paths.SUPERVISOR_CONF]
    assert re.findall(r"^\[program:(\w+)\]", conf.content, re.M) == ["pgpool", "pool_keeper", "exporter"]
    pgpool = conf.content.split("[program:pgpool]")[1].split("[")[0]
    assert "user=postgres" in pgpool and "stopsignal=INT" in pgpool


def test_pcp_view_is_read_when_pgpool_refuses_sessions(monkeypatch: pytest.MonkeyPatch) -> None:
    """With every backend down pgpool refuses SQL; pcp_node_info -a still answers (lines measured on 4.3.5)."""
    from postdock_supervisor import proc
    from postdock_supervisor.observe import pool as observe_pool

    output = (
        "pgmaster 5432 3 0.250000 down down standby unknown 0 none none 2026-11-26 04:19:18\n"
        "pgslave1 5432 3 0.250000 down down standby unknown 0 none none 2026-11-26 04:19:18\n"
        "pgslave3 5433 1 0.250000 waiting up standby standby 0 none none 2026-11-26 04:19:18\n"
    )
    monkeypatch.setattr(observe_pool.proc, "run", lambda argv, **kw: proc.Completed(tuple(argv), 0, output))
    nodes = observe_pool.pool_nodes_pcp(pool_settings().pgpool)
    assert nodes == (
        PoolNode(0, "pgmaster", "down", "standby"),
        PoolNode(1, "pgslave1", "down", "standby"),
        PoolNode(3, "pgslave3", "waiting", "standby"),
    )


def test_a_round_waits_for_no_frozen_node_and_reads_pgpools_view_by_pcp_while_its_primary_is_silent(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A frozen primary used to stretch every round of the pool keeper to seconds (its probe, and the
    SQL session through pgpool that waits for it), so pgpool followed the new primary that late."""
    import threading
    import time

    from postdock_supervisor.observe import pool as observe_pool

    pool = pool_settings().pgpool
    thawed = threading.Event()
    asked: list[str] = []
    frozen = {0}  # pgmaster: its first probe says silent at once, later ones hang until the thaw

    def probe(_pool: object, backend: object) -> BackendProbe:
        num = backend.num  # type: ignore[attr-defined]
        asked.append(f"probe {num}")
        if num in frozen and asked.count(f"probe {num}") > 1:
            thawed.wait(10)
        return BackendProbe(num, answers=num not in frozen, in_recovery=num != 3, streaming=num != 3)

    sql_view = tuple(PoolNode(b.num, b.host, "up", "primary" if b.num == 0 else "standby") for b in pool.backends)
    monkeypatch.setattr(observe_pool, "probe", probe)
    monkeypatch.setattr(observe_pool, "pool_nodes", lambda _pool: asked.append("sql") or sql_view)
    monkeypatch.setattr(observe_pool, "pool_nodes_pcp", lambda _pool: asked.append("pcp") or sql_view)
    prober = observe_pool.Prober(pool)
    first = prober.snapshot()
    assert [p.answers for p in first.probes] == [b.num != 0 for b in pool.backends]
    assert asked.count("sql") == 1  # pgpool's primary was not known silent yet
    for _ in range(3):
        began = time.monotonic()
        snap = prober.snapshot()
        assert time.monotonic() - began < 1.0  # not the frozen probe's length (it hangs 10 s here)
        assert not next(p for p in snap.probes if p.num == 0).answers
    assert asked.count("probe 0") == 2  # the hanging probe is not asked again while it runs
    assert (asked.count("sql"), asked.count("pcp")) == (1, 3)
    frozen.clear()
    thawed.set()
    wait = time.monotonic() + 5
    while not next(p for p in prober.snapshot().probes if p.num == 0).answers:
        assert time.monotonic() < wait
    prober.snapshot()
    assert asked[-1] == "sql"  # pgpool's primary answers again: its SQL view again


def test_no_standby_is_attached_while_a_frozen_node_would_hold_pgpools_search_for_its_primary() -> None:
    """Measured (bench.faults freeze): an attach during the freeze left pgpool searching for its primary
    until the thaw, and every session waited with it. A frozen node takes connections, a gone one not."""
    pool = pool_settings().pgpool
    frozen = BackendProbe(0, False, stalled=True)
    nodes = (node(0, "pgmaster", "down"), node(1, "pgslave1", "down"), node(3, "pgslave3", role="primary"))
    decision = decide_pool(PoolSnapshot(nodes, (frozen, standby(1, "node2"), primary(3))), pool, {})
    assert decision.attach == ()
    assert decision.reasons[0] == (
        "not attaching backend 1 (pgslave1) yet: backend 0 (pgmaster) takes connections but does not answer "
        "(frozen?), and pgpool's search for a primary after an attach would wait for it"
    )
    gone = BackendProbe(0, False)
    assert decide_pool(PoolSnapshot(nodes, (gone, standby(1, "node2"), primary(3))), pool, {}).attach == (1,)
    thawed = standby(0, "node1")
    both = decide_pool(PoolSnapshot(nodes, (thawed, standby(1, "node2"), primary(3))), pool, {}).attach
    assert both == (0, 1)
    # Frozen, then gone from the name service (its engine paused on swarm): pgpool's connections made
    # while it was frozen still wait (its replication check waited 5 minutes for the SSL answer), so the
    # hold stands until the node answers again.
    seen = unthawed(PoolSnapshot(nodes, (frozen, standby(1, "node2"), primary(3))), frozenset())
    assert seen == {0}
    snap = PoolSnapshot(nodes, (gone, standby(1, "node2"), primary(3)))
    seen = unthawed(snap, seen)
    assert seen == {0}
    decision = decide_pool(snap, pool, {}, seen)
    assert decision.attach == ()
    assert decision.reasons[0] == (
        "not attaching backend 1 (pgslave1) yet: backend 0 (pgmaster) was frozen and has not answered since, "
        "and pgpool's search for a primary after an attach would wait for it"
    )
    snap = PoolSnapshot(nodes, (thawed, standby(1, "node2"), primary(3)))
    assert unthawed(snap, seen) == frozenset()
    # The new primary, down in pgpool while the old one is frozen: attached all the same (writes need it).
    nodes = (node(0, "pgmaster", role="primary"), node(1, "pgslave1"), node(3, "pgslave3", "down"))
    decision = decide_pool(PoolSnapshot(nodes, (frozen, standby(1, "node2"), primary(3))), pool, {})
    assert decision.attach == (3,)
    # Promoted while pgpool holds it as an up standby, with a standby's attach held in the same round:
    # each reason says its own thing.
    nodes = (node(0, "pgmaster", role="primary"), node(1, "pgslave1", "down"), node(3, "pgslave3"))
    decision = decide_pool(PoolSnapshot(nodes, (frozen, standby(1, "node2"), primary(3))), pool, {})
    assert (decision.attach, decision.promote) == ((), 3)
    assert decision.reasons[0].startswith("not attaching backend 1 (pgslave1) yet: backend 0 (pgmaster) takes")
    assert decision.reasons[1] == (
        "backend 3 (pgslave3) is the only writable one and pgpool's primary 0 does not answer: "
        "pgslave3 becomes pgpool's primary"
    )
