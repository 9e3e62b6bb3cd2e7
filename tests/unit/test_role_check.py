"""A running primary steps down only when the cluster has really moved on."""

from dataclasses import replace

from postdock_supervisor.decide.role import decide_role
from tests.builders import make_pg, running_primary, running_standby

MASTER = make_pg()


def test_steps_down_for_a_primary_on_a_newer_timeline() -> None:
    me = running_primary("pgmaster", 1, timeline=1)
    d = decide_role(me, {"pgslave3": running_primary("pgslave3", 4, timeline=2), "pgslave1": None}, MASTER)
    assert d.demote
    assert d.reason == "pgslave3 is primary on timeline 2, newer than this node's 1: stepping down to rejoin it"


def test_steps_down_when_most_partners_stream_from_another_node() -> None:
    me = running_primary("pgmaster", 1)
    peers = {"pgslave1": running_standby("pgslave1", 2, "pgslave3"), "pgslave3": running_standby("pgslave3", 4, "x")}
    d = decide_role(me, peers, MASTER)
    assert not d.demote  # one of two partners is not most of them
    both = {
        "pgslave1": running_standby("pgslave1", 2, "pgslave9"),
        "pgslave3": running_standby("pgslave3", 4, "pgslave9"),
    }
    d = decide_role(me, both, MASTER)
    assert (d.demote, d.reason) == (
        True,
        "2 of 2 partners (pgslave1,pgslave3) stream from pgslave9: stepping down to rejoin it",
    )


def test_unreachable_partners_and_loyal_standbys_never_demote_a_legitimate_primary() -> None:
    me = running_primary("pgmaster", 1)
    assert not decide_role(me, {"pgslave1": None, "pgslave3": None}, MASTER).demote
    loyal = {"pgslave1": running_standby("pgslave1", 2, "pgmaster"), "pgslave3": None}
    d = decide_role(me, loyal, MASTER)
    assert (d.demote, d.reason) == (False, "no partner runs a newer primary or follows another node")


def test_a_primary_on_an_older_timeline_is_not_a_reason() -> None:
    me = running_primary("pgmaster", 1, timeline=3)
    assert not decide_role(me, {"pgslave3": running_primary("pgslave3", 4, timeline=2)}, MASTER).demote


def test_with_the_lease_the_primary_without_one_rejoins_the_holder_whatever_the_timelines() -> None:
    """A candidate promoted on a newer timeline but cut off before its first lease: the old primary
    won its lease back and took writes; the newer one acknowledged nothing and is the one to rejoin."""
    old = replace(running_primary("pgmaster", 1, timeline=1), lease_left=1.5)
    new = running_primary("pgslave3", 4, timeline=2)
    keeps = decide_role(old, {"pgslave3": new, "pgslave1": None}, MASTER)
    assert (keeps.demote, keeps.reason) == (
        False,
        "pgslave3 is primary on timeline 2 but holds no lease, this node does (1.5s left): pgslave3 steps down, "
        "not this one",
    )
    pg3 = make_pg(CLUSTER_NODE_NETWORK_NAME="pgslave3", NODE_ID="4", NODE_NAME="node4")
    leaves = decide_role(new, {"pgmaster": old, "pgslave1": None}, pg3)
    assert (leaves.demote, leaves.reason) == (
        True,
        "pgmaster is a primary holding the write lease (1.5s left) and this node holds none: stepping down to "
        "rejoin it",
    )


def test_without_a_lease_on_either_side_the_newer_timeline_still_wins() -> None:
    me = running_primary("pgmaster", 1, timeline=1)  # a thawed old primary: its lease ran out frozen
    assert decide_role(me, {"pgslave3": running_primary("pgslave3", 4, timeline=2)}, MASTER).demote
    off = make_pg(LEASE_TIMEOUT="0", RECONNECT_ATTEMPTS="11")
    held = replace(running_primary("pgmaster", 1, timeline=1), lease_left=1.5)
    assert decide_role(held, {"pgslave3": running_primary("pgslave3", 4, timeline=2)}, off).demote
