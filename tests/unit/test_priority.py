"""Which standby wins: repmgrd's candidate defers to a healthy standby of higher NODE_PRIORITY once
that standby holds all the WAL the candidate holds, and declines only once per failover."""

from dataclasses import replace

from postdock_supervisor.decide.priority import Choice, decide_priority, preferred_standby
from postdock_supervisor.model.node import NodeReport
from tests.builders import running_primary, running_standby

MEMBERS = frozenset({"pgmaster", "pgslave1", "pgslave3"})


def standby(host: str, node_id: int, priority: int, lsn: int, **changes: object) -> NodeReport:
    r = running_standby(host, node_id, "pgmaster", streaming=False)
    return replace(r, priority=priority, postgres=replace(r.postgres, lsn=lsn), **changes)  # type: ignore[arg-type]


ME = standby("pgslave1", 2, 100, 0x5000100)


def test_a_preferred_standby_a_few_bytes_behind_fetches_them_first() -> None:
    peers = {"pgmaster": None, "pgslave3": standby("pgslave3", 4, 200, 0x5000000)}
    d = decide_priority(ME, peers, MEMBERS, "")
    assert (d.choice, d.preferred) == (Choice.CATCH_UP, "pgslave3")
    assert d.reason == (
        "pgslave3 (priority 200 over 100) lacks 256 bytes of WAL pgslave1 holds: it fetches them from pgslave1 first"
    )


def test_a_preferred_standby_holding_everything_wins_the_rerun() -> None:
    for lsn in (0x5000100, 0x5000200):
        d = decide_priority(ME, {"pgslave3": standby("pgslave3", 4, 200, lsn)}, MEMBERS, "")
        assert (d.choice, d.preferred) == (Choice.DEFER, "pgslave3")
        assert d.reason == "pgslave3 (priority 200 over 100) holds all WAL pgslave1 holds: deferring to it"


def test_the_candidate_promotes_when_nobody_healthy_ranks_higher() -> None:
    cases: list[dict[str, NodeReport | None]] = [
        {"pgslave3": standby("pgslave3", 4, 100, 0)},  # equal priority: the WAL decided
        {"pgslave3": standby("pgslave3", 4, 50, 0)},
        {"pgslave3": None},  # unreachable
        {"pgslave3": replace(standby("pgslave3", 4, 200, 0), phase="cloning")},  # not set up
        {"pgslave3": replace(standby("pgslave3", 4, 200, 0), postgres=replace(ME.postgres, system_identifier="7"))},
        {"pgslave3": replace(standby("pgslave3", 4, 200, 0), postgres=replace(ME.postgres, timeline=2))},
        {"pgslave3": running_primary("pgslave3", 4, lsn=0)},  # a primary is no standby to defer to
        {"pgslave2": standby("pgslave2", 3, 300, 0)},  # a cascade is no member
    ]
    for peers in cases:
        d = decide_priority(ME, peers, MEMBERS, "")
        assert d.choice is Choice.PROMOTE, peers
        assert d.reason == "no healthy standby has a higher priority than pgslave1 (100)"


def test_the_highest_priority_wins_and_ties_go_to_the_lower_node_id() -> None:
    peers: dict[str, NodeReport | None] = {
        "a": standby("a", 5, 150, 0),
        "b": standby("b", 6, 300, 0),
        "c": standby("c", 4, 300, 0),
    }
    best = preferred_standby(ME, peers, frozenset(peers))
    assert best is not None and best.host == "c"


def test_elected_again_after_deferring_it_promotes_instead_of_declining_for_ever() -> None:
    peers = {"pgslave3": standby("pgslave3", 4, 200, 0x5000000)}
    d = decide_priority(ME, peers, MEMBERS, "pgslave3")
    assert d.choice is Choice.PROMOTE
    assert d.reason == "elected again after deferring to pgslave3 in this failover: promoting pgslave1"
