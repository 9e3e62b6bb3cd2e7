"""A standby that stopped streaming while its upstream runs is re-cloned after a while; one whose
upstream is down or who streams is left alone."""

from dataclasses import replace

from postdock_supervisor.decide.role import RoleAct
from postdock_supervisor.decide.stalled import STALL_S, decide_check, decide_stalled
from postdock_supervisor.model.node import NodeReport
from tests.builders import STANDBY_DATA, make_pg, running_primary, running_standby, stopped

FIRST = make_pg(CLUSTER_NODE_NETWORK_NAME="pgslave1")
CASCADE = make_pg(CLUSTER_NODE_NETWORK_NAME="pgslave2", PARTNER_NODES="", REPLICATION_PRIMARY_HOST="pgslave1")
STUCK = running_standby("pgslave1", 2, "pgmaster", streaming=False, timeline=1)


def peers_with_primary(host: str = "pgslave3") -> dict[str, NodeReport | None]:
    return {host: running_primary(host, 4, timeline=2), "pgmaster": None}


def test_a_standby_stuck_past_the_stall_limit_while_the_primary_runs_is_re_cloned() -> None:
    first = decide_stalled(STUCK, peers_with_primary(), FIRST, None, 100.0)
    assert first.action is RoleAct.NOTHING and first.stalled_since == 100.0
    assert first.reason == "not streaming for 0s while pgslave3 runs: waiting up to 30s for repmgrd"
    later = decide_stalled(STUCK, peers_with_primary(), FIRST, first.stalled_since, 100.0 + STALL_S)
    assert later.action is RoleAct.RECLONE_STANDBY
    assert later.reason == (
        "not streaming for 30s although pgslave3 runs (timeline 2): re-cloning this standby from pgslave3"
    )


def test_streaming_again_forgets_the_stall() -> None:
    streaming = replace(STUCK, postgres=replace(STUCK.postgres, streaming=True))
    d = decide_stalled(streaming, peers_with_primary(), FIRST, 50.0, 100.0)
    assert d.action is RoleAct.NOTHING and d.stalled_since is None and d.reason == "streaming from pgmaster"


def test_no_restart_while_there_is_nothing_to_follow() -> None:
    nobody: dict[str, NodeReport | None] = {"pgslave3": None, "pgmaster": None}
    d = decide_stalled(STUCK, nobody, FIRST, 0.0, 1000.0)
    assert d.action is RoleAct.NOTHING and d.stalled_since is None
    assert d.reason == "no primary in sight, and repmgrd is stopped here (a switchover or a stop)"
    two = {"pgslave3": running_primary("pgslave3", 4, timeline=2), "pgmaster": running_primary("pgmaster", 1)}
    assert decide_stalled(STUCK, two, FIRST, 0.0, 1000.0).action is RoleAct.NOTHING


def test_a_cascade_waits_for_its_own_upstream_to_be_set_up() -> None:
    me = running_standby("pgslave2", 3, "pgslave1", streaming=False, timeline=2)
    rejoining = {"pgslave1": replace(running_standby("pgslave1", 2, "pgslave3", timeline=3), phase="rejoining")}
    waits = decide_stalled(me, rejoining, CASCADE, 0.0, 1000.0)
    assert waits.reason == "not streaming, and upstream pgslave1 is not set up and running: nothing to follow yet"
    ready = {"pgslave1": running_standby("pgslave1", 2, "pgslave3", timeline=3)}
    d = decide_stalled(me, ready, CASCADE, 0.0, 1000.0)
    assert d.action is RoleAct.RECLONE_STANDBY and "although pgslave1 runs (timeline 3)" in d.reason


def test_only_a_running_standby_that_has_finished_starting_is_judged() -> None:
    cloning = replace(STUCK, phase="cloning")
    assert decide_stalled(cloning, peers_with_primary(), FIRST, 0.0, 1000.0).reason == "not a running standby"
    down = stopped("pgslave1", 2, STANDBY_DATA, phase="done")
    assert decide_stalled(down, peers_with_primary(), FIRST, 0.0, 1000.0).action is RoleAct.NOTHING


def test_role_check_judges_a_standby_for_a_stall_and_a_primary_for_stepping_down() -> None:
    stuck = decide_check(STUCK, peers_with_primary(), FIRST, 0.0, 1000.0)
    assert stuck.action is RoleAct.RECLONE_STANDBY
    single = running_primary("pgslave2", 3)
    assert decide_check(single, {}, CASCADE, None, 0.0).reason == (
        "a cascaded node with its own primary data answers to nobody"
    )
    left = decide_check(running_primary("pgslave1", 2), peers_with_primary(), FIRST, None, 0.0)
    assert left.action is RoleAct.STEP_DOWN
