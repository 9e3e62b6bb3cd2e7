"""A running primary steps down only when the cluster has really moved on."""

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
