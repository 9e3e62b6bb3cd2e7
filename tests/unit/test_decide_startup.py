"""The start-up role decision, case by case: role, upstream and the reason a human reads."""

from dataclasses import replace
from pathlib import Path

from postdock_supervisor.decide.startup import Start, StartDecision, decide_startup, failover_grace, in_place_window
from postdock_supervisor.model.node import NodeReport
from postdock_supervisor.observe.local import data_state_from
from tests.builders import (
    EMPTY,
    KILLED_PRIMARY_DATA,
    PRIMARY_DATA,
    STANDBY_DATA,
    make_pg,
    report,
    running_primary,
    running_standby,
    stopped,
)

MASTER = make_pg()  # pgmaster, partners pgmaster,pgslave1,pgslave3, initial primary
SLAVE1 = make_pg(NODE_ID="2", NODE_NAME="node2", CLUSTER_NODE_NETWORK_NAME="pgslave1")
SLAVE3 = make_pg(NODE_ID="4", NODE_NAME="node4", CLUSTER_NODE_NETWORK_NAME="pgslave3", NODE_PRIORITY="200")
CASCADE = make_pg(
    NODE_ID="3",
    NODE_NAME="node3",
    CLUSTER_NODE_NETWORK_NAME="pgslave2",
    PARTNER_NODES="",
    REPLICATION_PRIMARY_HOST="pgslave1",
)


def me(pg, data=EMPTY, **kw):  # type: ignore[no-untyped-def]
    return report(pg.network_name, pg.node_id, priority=pg.priority, phase="waiting", data=data, **kw)


def test_fresh_cluster_initial_primary_initialises() -> None:
    d = decide_startup(me(MASTER), {"pgslave1": None, "pgslave3": None}, MASTER, waited=0)
    assert d.action is Start.INIT_PRIMARY
    assert d.reason == (
        "empty data directory, this node is REPLICATION_PRIMARY_HOST and no partner has "
        "data: initialising a new cluster"
    )


def test_fresh_standby_waits_for_its_primary_then_clones_with_the_primary_id() -> None:
    waiting = decide_startup(me(SLAVE1), {"pgmaster": None, "pgslave3": None}, SLAVE1, waited=5)
    assert (waiting.action, waiting.reason) == (Start.WAIT, "waiting for the primary pgmaster to start")
    starting = decide_startup(
        me(SLAVE1),
        {"pgmaster": running_primary("pgmaster", 1, phase="init-primary"), "pgslave3": None},
        SLAVE1,
        waited=5,
    )
    assert starting.action is Start.WAIT and "still setting itself up" in starting.reason
    ready = decide_startup(me(SLAVE1), {"pgmaster": running_primary("pgmaster", 1), "pgslave3": None}, SLAVE1, waited=5)
    assert (ready.action, ready.upstream, ready.upstream_id) == (Start.CLONE, "pgmaster", 1)


def test_cascade_clones_from_its_own_upstream_not_the_primary() -> None:
    d = decide_startup(me(CASCADE), {"pgslave1": running_standby("pgslave1", 2, "pgmaster")}, CASCADE, 0)
    assert (d.action, d.upstream, d.upstream_id) == (Start.CLONE, "pgslave1", 2)
    assert d.reason == "an empty data directory: cloning from pgslave1"


def test_cascade_waits_while_its_upstream_is_down() -> None:
    d = decide_startup(me(CASCADE), {"pgslave1": None}, CASCADE, 0)
    assert (d.action, d.reason) == (Start.WAIT, "waiting for upstream pgslave1 to run")


def test_a_standby_marked_diverged_is_re_cloned_from_its_upstream() -> None:
    diverged = replace(STANDBY_DATA, diverged=True)
    d = decide_startup(me(CASCADE, data=diverged), {"pgslave1": running_standby("pgslave1", 2, "pgslave3")}, CASCADE, 0)
    assert (d.action, d.upstream, d.upstream_id) == (Start.RECLONE, "pgslave1", 2)
    assert d.reason == (
        "this standby could not stream from pgslave1 while it ran (its WAL went past the point where "
        "pgslave1's timeline forked): re-cloning from pgslave1"
    )
    unmarked = decide_startup(me(CASCADE, data=STANDBY_DATA), {"pgslave1": running_standby("pgslave1", 2, "pgslave3")},
                              CASCADE, 0)  # fmt: skip
    assert unmarked.action is Start.START_STANDBY


def test_only_standby_data_carries_the_diverged_mark(tmp_path: Path) -> None:
    (tmp_path / "global").mkdir()
    (tmp_path / "global" / "pg_control").write_bytes(b"")
    (tmp_path / "PG_VERSION").write_text("17\n")
    control = {"Database cluster state": "shut down in recovery", "Latest checkpoint's TimeLineID": "2"}
    assert not data_state_from(tmp_path, control, diverged=True).diverged  # no standby.signal: not a standby
    (tmp_path / "standby.signal").write_text("")
    assert data_state_from(tmp_path, control, diverged=True).diverged


def test_returning_old_primary_rejoins_the_new_primary() -> None:
    peers = {
        "pgslave1": running_standby("pgslave1", 2, "pgslave3", timeline=2),
        "pgslave3": running_primary("pgslave3", 4, timeline=2),
    }
    d = decide_startup(me(MASTER, KILLED_PRIMARY_DATA), peers, MASTER, waited=0)
    assert (d.action, d.upstream, d.upstream_id) == (Start.REJOIN, "pgslave3", 4)
    assert d.reason == "old primary, pgslave3 is the primary now: rejoining it with pg_rewind"


def test_clean_over_rewind_reclones_an_old_primary() -> None:
    pg = make_pg(CLEAN_OVER_REWIND="1")
    d = decide_startup(me(pg, PRIMARY_DATA), {"pgslave3": running_primary("pgslave3", 4, timeline=2)}, pg, 0)
    assert (d.action, d.upstream) == (Start.RECLONE, "pgslave3")


def test_node_never_follows_itself() -> None:
    # Its own agent may answer under its own name (it is in PARTNER_NODES): never an upstream.
    own = running_primary("pgmaster", 1)
    d = decide_startup(
        me(MASTER, PRIMARY_DATA),
        {"pgmaster": own, "pgslave1": stopped("pgslave1", 2, STANDBY_DATA), "pgslave3": None},
        MASTER,
        waited=100,
    )
    assert d.upstream != "pgmaster"
    assert d.action is Start.START_PRIMARY


def test_fast_restart_of_primary_waits_for_repmgrd_while_standbys_run() -> None:
    peers = {
        "pgslave1": running_standby("pgslave1", 2, "pgmaster", streaming=False),
        "pgslave3": running_standby("pgslave3", 4, "pgmaster", streaming=False),
    }
    d = decide_startup(me(MASTER, PRIMARY_DATA), peers, MASTER, waited=1)
    assert d.action is Start.WAIT
    assert d.reason == "standbys pgslave1,pgslave3 run without a primary: waiting for repmgrd to promote one"


def test_restarted_primary_resumes_when_nobody_was_promoted_within_the_grace() -> None:
    peers = {
        "pgslave1": running_standby("pgslave1", 2, "pgmaster", streaming=False),
        "pgslave3": running_standby("pgslave3", 4, "pgmaster", streaming=False),
    }
    grace = failover_grace(MASTER)
    d = decide_startup(me(MASTER, PRIMARY_DATA), peers, MASTER, waited=grace)
    assert d.action is Start.START_PRIMARY
    assert d.reason == (
        f"standbys pgslave1,pgslave3 still point at this node and none was promoted "
        f"within {grace}s: resuming as primary"
    )


def test_old_primary_does_not_resume_when_a_standby_streams_from_elsewhere() -> None:
    peers = {
        "pgslave1": running_standby("pgslave1", 2, "pgslave3", streaming=True),
        "pgslave3": running_standby("pgslave3", 4, "pgmaster", streaming=False),
    }
    d = decide_startup(me(MASTER, PRIMARY_DATA), peers, MASTER, waited=10_000)
    assert d.action is Start.WAIT


def test_full_cluster_restart_elects_the_newest_timeline_over_the_stale_primary() -> None:
    promoted = PRIMARY_DATA.__class__(
        initialized=True, cluster_state="shut down", timeline=2, checkpoint_lsn=0x4800000, system_identifier="42"
    )
    peers = {"pgslave1": stopped("pgslave1", 2, STANDBY_DATA), "pgslave3": stopped("pgslave3", 4, promoted)}
    stale = decide_startup(me(MASTER, PRIMARY_DATA), peers, MASTER, waited=0)
    assert stale.action is Start.WAIT
    assert stale.reason.startswith("pgslave3 is the most advanced (timeline 2, LSN 0/4800000)")
    winner = decide_startup(
        me(SLAVE3, promoted),
        {"pgmaster": stopped("pgmaster", 1, PRIMARY_DATA), "pgslave1": stopped("pgslave1", 2, STANDBY_DATA)},
        SLAVE3,
        waited=0,
    )
    assert winner.action is Start.START_PRIMARY


def test_full_cluster_restart_all_nodes_agree_on_one_primary() -> None:
    data = {"pgmaster": PRIMARY_DATA, "pgslave1": STANDBY_DATA, "pgslave3": STANDBY_DATA}
    nodes = {"pgmaster": MASTER, "pgslave1": SLAVE1, "pgslave3": SLAVE3}
    winners = []
    for host, pg in nodes.items():
        peers = {h: stopped(h, nodes[h].node_id, data[h], nodes[h].priority) for h in nodes if h != host}
        d = decide_startup(me(pg, data[host]), peers, pg, waited=0)
        if d.action is not Start.WAIT:
            winners.append((host, d.action))
    assert winners == [("pgmaster", Start.START_PRIMARY)]


def test_standby_with_the_most_wal_is_promoted_when_the_primary_is_gone() -> None:
    ahead = STANDBY_DATA.__class__(
        initialized=True,
        cluster_state="shut down in recovery",
        timeline=1,
        checkpoint_lsn=0x4900000,
        system_identifier="42",
        standby_signal=True,
    )
    peers = {"pgmaster": None, "pgslave1": stopped("pgslave1", 2, STANDBY_DATA)}
    early = decide_startup(me(SLAVE3, ahead), peers, SLAVE3, waited=1)
    assert early.action is Start.WAIT and "waiting up to 30s for pgmaster" in early.reason
    late = decide_startup(me(SLAVE3, ahead), peers, SLAVE3, waited=31)
    assert late.action is Start.PROMOTE


def test_no_election_without_a_majority() -> None:
    d = decide_startup(me(SLAVE1, STANDBY_DATA), {"pgmaster": None, "pgslave3": None}, SLAVE1, waited=1000)
    assert d.action is Start.WAIT
    assert d.reason == "no primary and only 1 of 3 partners answer (a majority is 2): waiting"


def test_priority_zero_is_not_elected_while_another_candidate_exists() -> None:
    pg = make_pg(NODE_PRIORITY="0")
    peers = {"pgslave1": stopped("pgslave1", 2, STANDBY_DATA), "pgslave3": stopped("pgslave3", 4, STANDBY_DATA)}
    assert decide_startup(me(pg, PRIMARY_DATA), peers, pg, waited=0).action is Start.WAIT


def test_partners_that_disagree_never_make_this_node_a_second_primary() -> None:
    peers = {
        "pgslave1": running_primary("pgslave1", 2, timeline=2),
        "pgslave3": running_primary("pgslave3", 4, timeline=3),
    }
    d = decide_startup(me(MASTER, PRIMARY_DATA), peers, MASTER, waited=0)
    assert (d.action, d.upstream) == (Start.REJOIN, "pgslave3")
    assert "several primaries answer: pgslave1,pgslave3" in d.reason


def test_standby_restart_keeps_following() -> None:
    d = decide_startup(
        me(SLAVE1, STANDBY_DATA), {"pgmaster": running_primary("pgmaster", 1), "pgslave3": None}, SLAVE1, 0
    )
    assert (d.action, d.upstream) == (Start.START_STANDBY, "pgmaster")


def test_foreign_data_is_never_overwritten() -> None:
    foreign = STANDBY_DATA.__class__(
        initialized=True,
        cluster_state="shut down in recovery",
        timeline=1,
        checkpoint_lsn=1,
        system_identifier="7",
        standby_signal=True,
    )
    d = decide_startup(me(SLAVE1, foreign), {"pgmaster": running_primary("pgmaster", 1)}, SLAVE1, 0)
    assert d.action is Start.WAIT and "belongs to another cluster" in d.reason


def test_interrupted_clone_is_recloned() -> None:
    partial = EMPTY.__class__(initialized=False, partial=True)
    d = decide_startup(me(SLAVE1, partial), {"pgmaster": running_primary("pgmaster", 1)}, SLAVE1, 0)
    assert (d.action, d.reason) == (Start.RECLONE, "an interrupted clone: cloning from pgmaster")


def loyal_standbys() -> dict[str, NodeReport | None]:
    # The primary's postmaster died: its standbys lost their stream and still point at it.
    return {
        "pgslave1": running_standby("pgslave1", 2, "pgmaster", streaming=False),
        "pgslave3": running_standby("pgslave3", 4, "pgmaster", streaming=False),
    }


def test_a_primary_whose_postgres_crashed_a_moment_ago_restarts_in_place() -> None:
    # Defaults: the lease keeper renews for 2 x LEASE_TIMEOUT (2 s) after the crash, so no standby is
    # approved meanwhile; without a lease, half of repmgrd's (RECONNECT_ATTEMPTS - 1) x RECONNECT_INTERVAL.
    assert in_place_window(MASTER) == 4.0
    assert in_place_window(make_pg(LEASE_TIMEOUT="0", RECONNECT_ATTEMPTS="11")) == 5.0
    d = decide_startup(me(MASTER, KILLED_PRIMARY_DATA), loyal_standbys(), MASTER, waited=0.5, crashed_ago=1.5)
    assert d == StartDecision(
        Start.START_PRIMARY,
        "postgres crashed 1.5s ago; standbys pgslave1,pgslave3 still point at this node and none was promoted: "
        "restarting in place (crash recovery)",
    )


def test_no_restart_in_place_once_an_election_may_have_begun_or_without_a_majority() -> None:
    late = decide_startup(me(MASTER, KILLED_PRIMARY_DATA), loyal_standbys(), MASTER, waited=0.5, crashed_ago=4.5)
    assert late.action is Start.WAIT
    alone = {"pgslave1": running_standby("pgslave1", 2, "pgmaster", streaming=False), "pgslave3": None}
    five = make_pg(PARTNER_NODES="pgmaster,pgslave1,pgslave3,pgslave4,pgslave5")
    d = decide_startup(me(five, KILLED_PRIMARY_DATA), {**alone, "pgslave4": None, "pgslave5": None}, five, 0.5, 1.0)
    assert d.action is Start.WAIT
    # A container that started again (no crash seen in it) waits for the election, as before.
    assert decide_startup(me(MASTER, KILLED_PRIMARY_DATA), loyal_standbys(), MASTER, waited=0.5).action is Start.WAIT


def test_a_crashed_primary_replaced_meanwhile_rejoins_instead() -> None:
    peers = {
        "pgslave1": running_standby("pgslave1", 2, "pgslave3", timeline=2),
        "pgslave3": running_primary("pgslave3", 4, timeline=2),
    }
    d = decide_startup(me(MASTER, KILLED_PRIMARY_DATA), peers, MASTER, waited=0.5, crashed_ago=1.0)
    assert (d.action, d.upstream) == (Start.REJOIN, "pgslave3")


def _outage(slave3_lsn: int) -> dict[str, NodeReport | None]:
    """pgmaster (the primary) does not answer; pgslave3 runs as a standby of it, not streaming."""
    slave3 = running_standby("pgslave3", 4, "pgmaster", streaming=False, priority=200)
    return {"pgmaster": None, "pgslave3": replace(slave3, postgres=replace(slave3.postgres, lsn=slave3_lsn))}


def test_a_restarted_standby_ends_an_outage_nobody_ends_when_it_leads_the_election() -> None:
    # Its bootstrap reran (repmgrd exited while the primary did not answer): after ELECTION_AFTER_S
    # it promotes itself when repmgr's ordering (LSN, then priority) picks it, with approvals.
    mine = report("pgslave1", 2, data=STANDBY_DATA, running=True, in_recovery=True, timeline=1, lsn=0x5000100,
                  system_identifier="42")  # fmt: skip
    early = decide_startup(mine, _outage(0x5000000), SLAVE1, waited=5)
    assert (early.action, early.reason) == (
        Start.WAIT,
        "standbys pgslave3 run without a primary: waiting for repmgrd to promote one",
    )
    late = decide_startup(mine, _outage(0x5000000), SLAVE1, waited=25)
    assert (late.action, late.reason) == (
        Start.PROMOTE,
        "standbys pgslave3 run without a primary for 25s and no election ended it; this standby leads "
        "(timeline 1, LSN 0/5000100): promoting it once the partners approve",
    )


def test_a_restarted_standby_waits_for_the_standby_that_leads_and_never_elects_without_the_lease() -> None:
    mine = report("pgslave1", 2, data=STANDBY_DATA, running=True, in_recovery=True, timeline=1, lsn=0x5000000,
                  system_identifier="42")  # fmt: skip
    behind = decide_startup(mine, _outage(0x5000000), SLAVE1, waited=25)  # same LSN: pgslave3's priority 200 wins
    assert (behind.action, behind.reason) == (
        Start.WAIT,
        "standbys pgslave3 run without a primary for 25s: pgslave3 leads the election (timeline 1, LSN 0/5000000)",
    )
    ahead = replace(mine, postgres=replace(mine.postgres, lsn=0x6000000))
    no_lease = make_pg(
        NODE_ID="2", NODE_NAME="node2", CLUSTER_NODE_NETWORK_NAME="pgslave1", LEASE_TIMEOUT="0", RECONNECT_ATTEMPTS="11"
    )
    assert decide_startup(ahead, _outage(0x5000000), no_lease, waited=100).action is Start.WAIT
    alone = decide_startup(ahead, {"pgmaster": None, "pgslave3": None}, SLAVE1, waited=100)
    assert alone.action is Start.WAIT  # no majority answers
