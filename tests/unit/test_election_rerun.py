"""A standby whose repmgrd cancelled its election (no majority visible at that moment) and then waits
for ever finishes the election itself once a majority answers and it leads; never otherwise."""

from dataclasses import replace

from postdock_supervisor.decide.election import RERUN_AFTER_S, decide_election
from postdock_supervisor.decide.role import RoleAct
from postdock_supervisor.decide.stalled import decide_check
from postdock_supervisor.model.node import NodeReport, RepmgrdView
from tests.builders import make_pg, running_primary, running_standby

PG = make_pg(CLUSTER_NODE_NETWORK_NAME="pgslave1", NODE_ID="2")


def standby(host: str, node_id: int, lsn: int, priority: int = 100) -> NodeReport:
    base = running_standby(host, node_id, "pgmaster", streaming=False)
    return replace(base, priority=priority, postgres=replace(base.postgres, lsn=lsn))


ME = standby("pgslave1", 2, 0x7000000)
GAVE_UP = RepmgrdView(running=True, upstream_unseen_s=RERUN_AFTER_S)


def siblings(lsn: int = 0x7000000, priority: int = 100) -> dict[str, NodeReport | None]:
    return {"pgmaster": None, "pgslave3": standby("pgslave3", 3, lsn, priority)}


def test_the_leading_standby_reruns_an_election_repmgrd_gave_up() -> None:
    d = decide_check(ME, siblings(), PG, None, 1000.0, GAVE_UP)
    assert d.action is RoleAct.RERUN_ELECTION
    assert d.reason == (
        "repmgrd lost its upstream 20s ago and holds no election, 2 of 3 first-level nodes answer, none is "
        "primary, and this node leads (LSN 0/7000000): running the election's validation and promotion"
    )


def test_an_election_younger_than_the_limit_is_repmgrds() -> None:
    young = RepmgrdView(running=True, upstream_unseen_s=RERUN_AFTER_S - 1)
    d = decide_election(ME, siblings(), PG, young)
    assert d.action is RoleAct.NOTHING
    assert d.reason == "no primary in sight; repmgrd has last seen its upstream 19s ago: its election decides"
    never = decide_election(ME, siblings(), PG, RepmgrdView(running=True))
    assert never.reason == "no primary in sight; repmgrd has never seen its upstream: its election decides"


def test_without_a_majority_nobody_is_promoted() -> None:
    alone: dict[str, NodeReport | None] = {"pgmaster": None, "pgslave3": None}
    d = decide_election(ME, alone, PG, GAVE_UP)
    assert d.action is RoleAct.NOTHING
    assert d.reason == (
        "repmgrd lost its upstream 20s ago and only 1 of 3 first-level nodes answer: no majority, no election"
    )


def test_the_standby_the_election_would_pick_is_the_only_one_to_act() -> None:
    ahead = decide_election(ME, siblings(lsn=0x7000100), PG, GAVE_UP)
    assert ahead.action is RoleAct.NOTHING
    assert ahead.reason == "repmgrd lost its upstream 20s ago: pgslave3 leads the election"
    preferred = decide_election(ME, siblings(priority=200), PG, GAVE_UP)
    assert preferred.reason == "repmgrd lost its upstream 20s ago: pgslave3 leads the election"
    # On a full tie the lower node id leads, as in repmgr's election.
    tie = replace(ME, node_id=4)
    assert decide_election(tie, siblings(), PG, GAVE_UP).reason.endswith("pgslave3 leads the election")


def test_a_running_primary_or_a_held_repmgrd_is_left_alone() -> None:
    with_primary = {**siblings(), "pgslave3": running_primary("pgslave3", 3, timeline=2)}
    d = decide_election(ME, with_primary, PG, GAVE_UP)
    assert d.reason == "a first-level node runs as primary: repmgrd follows it"
    held = decide_election(ME, siblings(), PG, RepmgrdView(running=False, upstream_unseen_s=60))
    assert held.reason == "no primary in sight, and repmgrd is stopped here (a switchover or a stop)"


def test_no_lease_and_cascades_leave_it_to_repmgrd() -> None:
    no_lease = make_pg(CLUSTER_NODE_NETWORK_NAME="pgslave1", NODE_ID="2", LEASE_TIMEOUT="0", RECONNECT_ATTEMPTS="11")
    assert decide_election(ME, siblings(), no_lease, GAVE_UP).action is RoleAct.NOTHING
    cascade = make_pg(CLUSTER_NODE_NETWORK_NAME="pgslave2", PARTNER_NODES="", REPLICATION_PRIMARY_HOST="pgslave1")
    assert decide_election(ME, siblings(), cascade, GAVE_UP).action is RoleAct.NOTHING
