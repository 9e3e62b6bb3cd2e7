"""The bootstrap program's wiring: each start-up decision runs its steps in order, a failed step
leaves the phase `failing` with a growing backoff, and a rejoin that cannot rewind re-clones.
The repmgr, initdb, clone and supervisord calls are recorded instead of run (the only fakes)."""

import json
from pathlib import Path
from typing import Any

import pytest

from postdock_supervisor import healing, paths
from postdock_supervisor.act import node
from postdock_supervisor.decide.startup import Start
from postdock_supervisor.errors import ActionError
from postdock_supervisor.model.node import NodeReport, PostgresState
from postdock_supervisor.proc import Completed
from postdock_supervisor.programs import bootstrap
from tests.builders import EMPTY, KILLED_PRIMARY_DATA, make_settings, report, running_primary, running_standby
from tests.unit.test_programs import FakeSupervisor


class Recorder:
    def __init__(self, failing: set[str] | None = None) -> None:
        self.calls: list[str] = []
        self.failing = failing or set()

    def step(self, name: str) -> Any:
        def run(*args: Any, **kwargs: Any) -> None:
            self.calls.append(name)
            if name in self.failing:
                raise ActionError(f"{name} failed")

        return run

    def repmgr(self, *args: str, **kwargs: Any) -> Completed:
        command = " ".join(a for a in args if not a.startswith(("-d", "host=")))
        self.calls.append(f"repmgr {command}")
        return Completed(args, 1 if f"repmgr {command}" in self.failing else 0, "")


@pytest.fixture
def steps(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Recorder:
    recorder = Recorder()
    for name in (
        "initdb",
        "start_postgres",
        "create_cluster_roles",
        "crash_recovery",
        "checkpoint_on",
        "wipe",
        "clone",
    ):
        monkeypatch.setattr(node, name, recorder.step(name))
    monkeypatch.setattr(node, "wait_ready", lambda pg, timeout=120: None)
    monkeypatch.setattr(node, "wait_registered", lambda pg, timeout=120: None)
    monkeypatch.setattr(node, "repmgr", recorder.repmgr)
    monkeypatch.setattr(bootstrap.control, "post", lambda *args, **kwargs: {"ok": True})  # the upstream reaches it
    monkeypatch.setattr(bootstrap.sync, "keep", lambda pg: recorder.calls.append("sync keep"))
    monkeypatch.setattr(bootstrap, "read_postgres_state", lambda port: PostgresState(running=True, upstream="x"))
    monkeypatch.setattr(healing, "record", lambda *args, **kwargs: None)
    monkeypatch.setattr(paths, "BOOTSTRAP_STATE", tmp_path / "bootstrap.json")
    return recorder


def phase() -> tuple[str, str]:
    state = json.loads(paths.BOOTSTRAP_STATE.read_text())
    return state["phase"], state["reason"]


def program(supervisor: FakeSupervisor, now: list[float]) -> bootstrap.Bootstrap:
    return bootstrap.Bootstrap(make_settings(), supervisor, clock=lambda: now[0])  # type: ignore[arg-type]


def me(**kw: Any) -> NodeReport:
    return report("pgmaster", 1, phase="starting", **kw)


def test_an_empty_first_node_initialises_registers_and_starts_repmgrd(steps: Recorder) -> None:
    supervisor = FakeSupervisor()
    boot = program(supervisor, [0.0])
    boot.apply(boot.decide((me(data=EMPTY), {"pgslave1": None, "pgslave3": None}), 0.0))
    assert boot.done and phase()[0] == "done"
    assert steps.calls == [
        "initdb",
        "start_postgres",
        "create_cluster_roles",
        "repmgr primary register --force",
        "sync keep",
    ]
    assert supervisor.calls == [("start", "repmgrd")]


def test_a_failed_step_leaves_the_node_failing_with_a_growing_backoff_then_it_recovers(steps: Recorder) -> None:
    steps.failing = {"repmgr primary register --force"}
    boot = program(FakeSupervisor(), [0.0])
    snapshot = (me(data=EMPTY), {"pgslave1": None, "pgslave3": None})
    boot.apply(boot.decide(snapshot, 0.0))
    assert (boot.done, boot.failures, boot.pause) == (False, 1, 3.0)
    assert phase() == ("failing", "init-primary failed (repmgr primary register failed); retry 1 in 3s")
    boot.apply(boot.decide(snapshot, 1.0))
    assert (boot.failures, boot.pause) == (2, 6.0)
    steps.failing = set()
    boot.apply(boot.decide(snapshot, 2.0))
    assert boot.done and phase()[0] == "done"


def test_an_old_primary_that_cannot_rewind_is_recloned_from_the_new_primary(steps: Recorder) -> None:
    steps.failing = {"repmgr node rejoin --force-rewind --verbose"}
    supervisor = FakeSupervisor()
    boot = program(supervisor, [0.0])
    peers: dict[str, NodeReport | None] = {
        "pgslave1": running_primary("pgslave1", 2, timeline=2),
        "pgslave3": running_standby("pgslave3", 4, "pgslave1", timeline=2),
    }
    decision = boot.decide((me(data=KILLED_PRIMARY_DATA), peers), 0.0)
    assert decision.decision.action is Start.REJOIN
    boot.apply(decision)
    assert steps.calls == [
        "crash_recovery",
        "checkpoint_on",
        "repmgr node rejoin --force-rewind --verbose",
        "wipe",
        "clone",
        "start_postgres",
        "repmgr standby register --force --upstream-node-id=2",
    ]
    assert ("stop", "postgres") in supervisor.calls and supervisor.calls[-1] == ("start", "repmgrd")
    assert boot.done


def test_waiting_says_why_and_polls(steps: Recorder) -> None:
    boot = program(FakeSupervisor(), [0.0])
    peers: dict[str, NodeReport | None] = {"pgslave1": None, "pgslave3": None}
    boot.apply(boot.decide((me(data=KILLED_PRIMARY_DATA), peers), 0.0), poll=0.25)
    assert not boot.done and boot.pause == 0.25
    assert phase()[0] == "waiting" and steps.calls == []


@pytest.mark.parametrize(
    ("state", "follows"),
    [
        (PostgresState(running=True, in_recovery=True, upstream="pgslave1", streaming=True), False),
        # Moved to pgslave1 by an approval before it was promoted: no slot there yet, so no stream.
        (PostgresState(running=True, in_recovery=True, upstream="pgslave1", streaming=False), True),
        (PostgresState(running=True, in_recovery=True, upstream="pgmaster", streaming=True), True),
    ],
)
def test_a_standby_follows_its_upstream_unless_it_already_streams_from_it(
    steps: Recorder, monkeypatch: pytest.MonkeyPatch, state: PostgresState, follows: bool
) -> None:
    from postdock_supervisor.decide.startup import StartDecision

    monkeypatch.setattr(bootstrap, "read_postgres_state", lambda port: state)
    monkeypatch.setattr(bootstrap, "STREAM_WAIT_S", 0.0)
    pg = make_settings(NODE_ID="3", NODE_NAME="node3", CLUSTER_NODE_NETWORK_NAME="pgslave3").postgres
    assert pg is not None
    decision = StartDecision(Start.START_STANDBY, "standby data", "pgslave1", 2)
    bootstrap.start_standby(pg, decision, FakeSupervisor())  # type: ignore[arg-type]
    followed = ["repmgr standby follow --upstream-node-id=2"] if follows else []
    assert steps.calls == ["start_postgres", *followed, "repmgr standby register --force --upstream-node-id=2"]


def test_a_first_level_standby_registers_once_its_primary_reaches_it_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    """On swarm a task's name is published only once it is healthy: a member registered before that
    is one its primary cannot reach, and costs it its majority (found by bench/swarm_engines.py)."""
    answers = [{"ok": False}, {"ok": False}, {"ok": True}]
    asked: list[tuple[str, dict[str, Any]]] = []
    waited: list[float] = []

    def post(host: str, port: int, key: str, action: str, args: dict[str, Any], timeout: float) -> Any:
        asked.append((f"{host}:{port} {action}", args))
        return answers.pop(0)

    monkeypatch.setattr(bootstrap.control, "post", post)
    pg = make_settings(CLUSTER_NODE_NETWORK_NAME="pgslave3").postgres
    assert pg is not None
    outcome = bootstrap.await_reached(pg, "pgmaster", 8008, clock=lambda: 0.0, sleep=waited.append)
    assert outcome == "pgmaster reaches pgslave3"
    assert asked == [("pgmaster:8008 reach", {"host": "pgslave3"})] * 3
    assert waited == [bootstrap.REACH_POLL_S] * 2


def test_a_standby_registers_all_the_same_when_the_primary_cannot_tell_or_never_reaches_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pg = make_settings(CLUSTER_NODE_NETWORK_NAME="pgslave3").postgres
    assert pg is not None
    monkeypatch.setattr(bootstrap.control, "post", lambda *a: {"ok": False, "error": "unknown action 'reach'"})
    assert (
        bootstrap.await_reached(pg, "pgmaster", 8008) == "pgmaster cannot tell whether it reaches pgslave3: registering"
    )

    def refused(*args: Any) -> Any:
        raise bootstrap.control.ControlError("pgmaster refused reach: bad signature")

    monkeypatch.setattr(bootstrap.control, "post", refused)
    assert "cannot tell" in bootstrap.await_reached(pg, "pgmaster", 8008)
    now = [0.0]
    monkeypatch.setattr(bootstrap.control, "post", lambda *a: {"ok": False})
    sleep = lambda s: now.__setitem__(0, now[0] + s)  # noqa: E731
    outcome = bootstrap.await_reached(pg, "pgmaster", 8008, clock=lambda: now[0], sleep=sleep)
    assert outcome == "pgmaster does not reach pgslave3: registered all the same"
    assert now[0] == bootstrap.REACH_WAIT_S


def test_a_cascaded_standby_or_a_cluster_without_the_lease_does_not_ask(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bootstrap.control, "post", lambda *a: pytest.fail("asked"))
    cascaded = make_settings(CLUSTER_NODE_NETWORK_NAME="pgslave2", PARTNER_NODES="").postgres
    no_lease = make_settings(CLUSTER_NODE_NETWORK_NAME="pgslave3", LEASE_TIMEOUT="0", RECONNECT_ATTEMPTS="12").postgres
    assert cascaded is not None and no_lease is not None
    assert bootstrap.await_reached(cascaded, "pgslave1", 8008) == "not a lease member"
    assert bootstrap.await_reached(no_lease, "pgmaster", 8008) == "not a lease member"
