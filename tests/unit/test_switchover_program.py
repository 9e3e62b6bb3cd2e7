"""`postdock switchover`'s steps against a scripted cluster: the signed calls it makes, in order, and
what it puts back when a step fails. The agents are replaced by a recorder of control calls (the
plan is the real decide_switchover on the reports)."""

from typing import Any

import pytest

from postdock_supervisor import control
from postdock_supervisor.config.control import ControlKeys
from postdock_supervisor.model.node import NodeReport
from postdock_supervisor.programs import switchover
from tests.builders import running_primary, running_standby

PARTNERS = ("pgmaster", "pgslave1", "pgslave3")

# In the middle of a rotation: requests are signed with the new key, answers under either are taken.
KEYS = ControlKeys("new-control-key", ("new-control-key", "old-control-key"))


class Cluster:
    def __init__(self, failing: str = "") -> None:
        self.calls: list[str] = []
        self.failing = failing
        self.switched = False
        self.signed_with: set[str] = set()
        self.verified_with: set[tuple[str, ...]] = set()

    def call(
        self, host: str, port: int, key: ControlKeys, action: str, args: dict[str, Any], timeout: float = 0
    ) -> dict[str, Any]:
        self.calls.append(f"{host} {action}")
        self.signed_with.add(key.sign)
        if f"{host} {action}" == self.failing:
            raise control.ControlError(f"{host}: {action} failed: boom")
        if action == "promote":
            self.switched = True
        return {"ok": True, "lsn": "0/5000060"}

    def reports(
        self, hosts: Any, port: int, timeout: float = 2.0, keys: tuple[str, ...] = ()
    ) -> dict[str, NodeReport | None]:
        self.verified_with.add(keys)
        if not self.switched:
            every = {
                "pgmaster": running_primary("pgmaster", 1),
                "pgslave1": running_standby("pgslave1", 2, "pgmaster"),
                "pgslave3": running_standby("pgslave3", 4, "pgmaster"),
            }
        else:
            every = {
                "pgmaster": running_standby("pgmaster", 1, "pgslave3", timeline=2),
                "pgslave1": running_standby("pgslave1", 2, "pgslave3", timeline=2),
                "pgslave3": running_primary("pgslave3", 4, timeline=2),
            }
        return {h: every[h] for h in hosts}


@pytest.fixture
def cluster(monkeypatch: pytest.MonkeyPatch) -> Cluster:
    made = Cluster()
    monkeypatch.setattr(control, "call", made.call)
    monkeypatch.setattr(switchover, "fetch_reports", made.reports)
    return made


def run(target: str | None) -> tuple[int, list[str]]:
    lines: list[str] = []
    return switchover.run(PARTNERS, KEYS, 8008, target, lines.append, timeout=5), lines


def test_a_switchover_holds_stops_promotes_then_every_node_follows(cluster: Cluster) -> None:
    code, lines = run("pgslave3")
    assert code == 0
    assert cluster.calls == [
        "pgslave3 hold",
        "pgslave1 hold",
        "pgmaster stop",
        "pgslave3 promote",
        "pgmaster rejoin",
        "pgslave1 rejoin",
    ]
    assert lines[-1] == "switchover done: pgslave3 is the primary, pgmaster, pgslave1 stream from it"
    assert (cluster.signed_with, cluster.verified_with) == ({"new-control-key"}, {KEYS.accepted})


def test_a_failed_stop_releases_the_held_standbys_and_promotes_nobody(cluster: Cluster) -> None:
    cluster.failing = "pgmaster stop"
    code, lines = run("pgslave3")
    assert code == 1
    assert cluster.calls[-2:] == ["pgslave3 rejoin", "pgslave1 rejoin"]
    assert not any("promote" in call for call in cluster.calls)
    assert lines[-1].startswith("switchover failed before the primary stopped: pgmaster: stop failed")


def test_a_failed_promotion_gives_the_old_primary_its_place_back(cluster: Cluster) -> None:
    cluster.failing = "pgslave3 promote"
    code, lines = run("pgslave3")
    assert code == 1
    assert cluster.calls[-3:] == ["pgmaster rejoin", "pgslave3 rejoin", "pgslave1 rejoin"]
    assert lines[-1] == "switchover failed: pgslave3: promote failed: boom; pgmaster takes its place back"


def test_a_refused_plan_calls_no_node(cluster: Cluster) -> None:
    code, lines = run("pgmaster")
    assert (code, cluster.calls) == (1, [])
    assert lines == ["switchover refused: pgmaster is already the primary"]


def test_delegation_asks_the_next_node_when_one_does_not_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[str] = []

    def call(host: str, port: int, key: str, action: str, args: dict[str, Any], timeout: float = 0) -> dict[str, Any]:
        asked.append(host)
        if host == "pgmaster":
            raise control.ControlError("pgmaster did not answer switchover: timed out")
        return {"ok": True, "code": 0, "output": ["switchover done: ..."]}

    monkeypatch.setattr(control, "call", call)
    lines: list[str] = []
    assert switchover.delegate(PARTNERS, "key", 8008, None, lines.append) == 0
    assert asked == ["pgmaster", "pgslave1"]
    assert lines == ["(pgmaster did not answer switchover: timed out; asking the next node)", "switchover done: ..."]


def test_a_hand_over_stops_the_primary_itself_and_waits_for_nobody(cluster: Cluster) -> None:
    stopped: list[str] = []

    def stop_here(target: str) -> dict[str, Any]:
        stopped.append(target)
        return {"ok": True, "lsn": "0/5000060"}

    lines: list[str] = []
    code = switchover.run(PARTNERS, KEYS, 8008, None, lines.append, timeout=5, stop_primary=stop_here)
    assert code == 0
    # No target asked: the most advanced streaming standby, then the higher priority, then the lower
    # node id; both standbys here hold the same WAL with the same priority: pgslave1 (node 2).
    assert stopped == ["pgslave1"]
    target, other = "pgslave1", "pgslave3"
    assert cluster.calls == [f"{target} hold", f"{other} hold", f"{target} promote", f"{other} rejoin"]
    assert lines[-1] == f"hand-over done: {target} is the primary"
