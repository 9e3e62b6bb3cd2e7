"""The programs' wiring: each observes, decides and applies through the one contract, and its apply
carries out exactly the actions its decision names. Supervisord, pcp, barman and the database are
replaced by recorders (the only fakes here); the decisions are the real ones."""

import json
import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from postdock_supervisor import healing, paths
from postdock_supervisor.act import barman as barman_act
from postdock_supervisor.act import pgpool as pool_act
from postdock_supervisor.decide.backup import Act as BackupAct
from postdock_supervisor.decide.backup import Decision as BackupDecision
from postdock_supervisor.decide.backup import Memory as BackupMemory
from postdock_supervisor.decide.crash import Act as CrashAct
from postdock_supervisor.decide.crash import CrashPolicy
from postdock_supervisor.decide.fence import FenceAct
from postdock_supervisor.events.model import CommunicationEvent, ProcessStateEvent, TickEvent
from postdock_supervisor.model.failover import FailoverRecord
from postdock_supervisor.model.fence import FenceSnapshot
from postdock_supervisor.model.node import SyncSnapshot
from postdock_supervisor.model.pool import BackendProbe, PoolNode, PoolSnapshot
from postdock_supervisor.programs import backup_keeper, conf_reload, crash_guard, fence_keeper, pool_keeper, sync_keeper
from postdock_supervisor.programs.contract import react, step
from tests.builders import make_pg, make_settings
from tests.unit.test_backup import settings as barman_settings
from tests.unit.test_pgpool import pool_settings


class FakeSupervisor:
    def __init__(self, states: dict[str, str] | None = None) -> None:
        self.calls: list[tuple[str, ...]] = []
        self._states = states or {}

    def start(self, name: str, timeout: float = 120) -> bool:
        self.calls.append(("start", name))
        return True

    def stop(self, name: str, timeout: float = 120) -> bool:
        self.calls.append(("stop", name))
        return True

    def signal(self, name: str, signal: str) -> bool:
        self.calls.append(("signal", name, signal))
        return True

    def states(self) -> dict[str, str]:
        return dict(self._states)


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[tuple[str, str, str]]:
    """Healing records, and the phase file in a temporary directory."""
    records: list[tuple[str, str, str]] = []
    monkeypatch.setattr(
        healing, "record", lambda program, action, reason, **_: records.append((program, action, reason))
    )
    monkeypatch.setattr(paths, "BOOTSTRAP_STATE", tmp_path / "bootstrap.json")
    return records


def phase() -> str:
    return str(json.loads(paths.BOOTSTRAP_STATE.read_text())["phase"])


class ScriptedFence(fence_keeper.FenceKeeper):
    """The real keeper with its probes replaced by a script, and a clock the test sets."""

    def __init__(self, snapshots: list[FenceSnapshot], supervisor: FakeSupervisor) -> None:
        self.time = 0.0
        super().__init__(make_pg(FENCE_TIMEOUT="5"), 8008, supervisor, clock=lambda: self.time)  # type: ignore[arg-type]
        self.snapshots = snapshots

    def observe(self) -> FenceSnapshot:
        self.time += 0.5  # the probes take time: the decision reads the clock after them
        return self.snapshots.pop(0)

    def round(self, began: float) -> fence_keeper.FenceRound:
        self.time = began
        return step(self, began)


def fence_snap(reachable: tuple[str, ...], phase: str = "done") -> FenceSnapshot:
    return FenceSnapshot(phase=phase, primary=True, members=("pgslave1", "pgslave3"), reachable=frozenset(reachable))


def test_fence_keeper_fences_once_the_majority_is_gone_long_enough_then_rejoins(
    recorded: list[tuple[str, str, str]],
) -> None:
    supervisor = FakeSupervisor()
    keeper = ScriptedFence(
        [fence_snap(("pgslave1",)), fence_snap(()), fence_snap(()), fence_snap(("pgslave1",), phase="fenced")],
        supervisor,
    )
    assert keeper.round(100.0).decision.action is FenceAct.NOTHING
    assert (keeper.last_majority, keeper.alone) == (100.0, False)
    # Alone 1.5 s after the last round that counted: FENCE_TIMEOUT 5 acts after 2.5 s.
    alone = keeper.round(101.0)
    assert alone.decision.action is FenceAct.NOTHING and (keeper.last_majority, keeper.alone) == (100.0, True)
    assert supervisor.calls == []
    fenced = keeper.round(102.5)
    assert fenced.decision.action is FenceAct.FENCE
    assert supervisor.calls == [("stop", "postgres"), ("stop", "repmgrd")] and phase() == "fenced"
    rejoin = keeper.round(110.0)
    assert rejoin.decision.action is FenceAct.REJOIN
    assert supervisor.calls[-1] == ("start", "bootstrap") and phase() == "restarting"
    assert [action for _, action, _ in recorded] == ["fence", "rejoin"]


def test_crash_guard_remembers_its_restarts_and_gives_up(recorded: list[tuple[str, str, str]]) -> None:
    paths.BOOTSTRAP_STATE.write_text(json.dumps({"phase": "done", "reason": ""}))
    supervisor = FakeSupervisor({"bootstrap": "EXITED"})
    guard = crash_guard.CrashGuard(supervisor, CrashPolicy(window_s=60, max_restarts=1, backoff_s=(0.0,)))  # type: ignore[arg-type]
    crash = ProcessStateEvent("EXITED", "postgres", "postgres", "RUNNING", expected=False, pid=7)
    first = react(guard, crash, 10.0)
    assert first is not None and first.action is CrashAct.RERUN_BOOTSTRAP
    assert guard.memory.restarts == (10.0,) and supervisor.calls == [("start", "bootstrap")]
    paths.BOOTSTRAP_STATE.write_text(json.dumps({"phase": "done", "reason": ""}))
    second = react(guard, crash, 20.0)
    assert second is not None and second.action is CrashAct.GIVE_UP and guard.memory.gave_up
    assert phase() == "gave-up"
    assert [a for _, a, _ in recorded] == ["rerun-bootstrap", "give-up"]
    nothing = react(guard, TickEvent(30), 30.0)
    assert nothing is not None and nothing.action is CrashAct.NOTHING and len(supervisor.calls) == 1


def test_conf_reload_signals_postgres_only_when_it_runs(recorded: list[tuple[str, str, str]]) -> None:
    message = json.dumps({"kind": "conf-changed", "path": "/etc/postdock/conf.d/a.conf", "event": "IN_MOVED_TO"})
    event = CommunicationEvent("conf_watch", message)
    stopped = FakeSupervisor({"postgres": "STOPPED"})
    react(conf_reload.ConfReload(stopped), event, 0.0)  # type: ignore[arg-type]
    assert stopped.calls == [] and recorded == []
    running = FakeSupervisor({"postgres": "RUNNING"})
    react(conf_reload.ConfReload(running), event, 0.0)  # type: ignore[arg-type]
    assert running.calls == [("signal", "postgres", "HUP")]
    assert recorded == [
        ("conf_reload", "reload", "/etc/postdock/conf.d/a.conf changed (IN_MOVED_TO): reloading postgres")
    ]


def test_sync_keeper_writes_only_what_changed_over_the_value_it_observed(
    monkeypatch: pytest.MonkeyPatch, recorded: list[tuple[str, str, str]]
) -> None:
    written: list[tuple[str, str, str]] = []
    monkeypatch.setattr(
        sync_keeper, "set_parameter", lambda pg, name, value, expected: written.append((name, value, expected))
    )
    keeper = sync_keeper.SyncKeeper(make_pg(CONSISTENCY_MODE="partial"))
    snap = SyncSnapshot(
        is_primary=True,
        standby_names="",
        members=("node2", "node3"),
        standby_slots="repmgr_slot_2, repmgr_slot_3",
        streaming_slots=("repmgr_slot_2", "repmgr_slot_3"),
    )
    done = keeper.decide(snap, 0.0)
    keeper.apply(done)
    assert written == [("synchronous_standby_names", 'ANY 1 ("node2", "node3")', "")]
    assert [a for _, a, _ in recorded] == ["set-synchronous-standbys"]
    assert keeper.decide(None, 0.0).synchronous is None


def test_sync_keeper_stamps_the_rejoin_once_the_old_primary_streams_here_again(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(paths, "RUN", tmp_path)
    keeper = sync_keeper.SyncKeeper(make_pg(CONSISTENCY_MODE="eventual"))
    record = FailoverRecord(1000.0, 1000.4, 1001.9, 1002.3, old_primary="node1")
    snap = SyncSnapshot(True, "", ("node1", "node4"), "", (), streaming_since=(("node4", 1003.0),), failover=record)
    assert keeper.decide(snap, 0.0).rejoined is None  # node4 was never the primary
    back = replace(snap, streaming_since=(("node4", 1003.0), ("node1", 1011.5)))
    done = keeper.decide(back, 0.0)
    assert done.rejoined is not None and done.rejoined.rejoined_at == 1011.5
    keeper.apply(done)
    assert healing.read_failover(tmp_path) is None  # the record itself is the promotion's to write
    healing.write_failover(record, tmp_path)
    assert healing.read_failover(tmp_path) == done.rejoined
    # Stamped once: the next round's record already has it.
    assert keeper.decide(replace(back, failover=done.rejoined), 0.0).rejoined is None
    assert keeper.decide(replace(back, is_primary=False), 0.0).rejoined is None


def test_pool_keeper_attaches_a_streaming_standby_and_keeps_weights_it_could_not_apply(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    attached: list[int] = []
    monkeypatch.setattr(pool_act, "attach", lambda pool, num: attached.append(num) or True)
    monkeypatch.setattr(pool_act, "apply_weights", lambda settings, weights: False)
    monkeypatch.setattr(paths, "POOL_KEEPER_STATE", tmp_path / "pool-keeper.json")
    keeper = pool_keeper.PoolKeeper(pool_settings(CONSISTENCY_MODE="eventual"))
    before = dict(keeper.weights)
    snap = PoolSnapshot(
        nodes=(
            PoolNode(0, "pgmaster", "up", "primary"),
            PoolNode(1, "pgslave1", "down", "standby"),
            PoolNode(3, "pgslave3", "up", "standby"),
        ),
        probes=(
            BackendProbe(0, True, in_recovery=False),
            BackendProbe(1, True, in_recovery=True, streaming=True, application_name="node2"),
            BackendProbe(3, True, in_recovery=True, streaming=True, application_name="node4"),
        ),
    )
    decision = step_with(keeper, snap)
    assert decision is not None and decision.attach == (1,)
    assert attached == [1] and keeper.weights == before
    state = json.loads((tmp_path / "pool-keeper.json").read_text())
    assert state["weights_applied"] is (decision.weights == before)
    assert keeper.decide(None, 0.0) is None


def test_pool_keeper_says_a_standing_reason_once(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                  caplog: pytest.LogCaptureFixture) -> None:  # fmt: skip
    """An attach held back while a node is frozen stands for the whole freeze: said once, not twice a second."""
    monkeypatch.setattr(paths, "POOL_KEEPER_STATE", tmp_path / "pool-keeper.json")
    keeper = pool_keeper.PoolKeeper(pool_settings(CONSISTENCY_MODE="eventual"))
    snap = PoolSnapshot(
        nodes=(
            PoolNode(0, "pgmaster", "down", "standby"),
            PoolNode(1, "pgslave1", "down", "standby"),
            PoolNode(3, "pgslave3", "up", "primary"),
        ),  # fmt: skip
        probes=(
            BackendProbe(0, False, stalled=True),
            BackendProbe(1, True, in_recovery=True, streaming=True, application_name="node2"),
            BackendProbe(3, True, in_recovery=False),
        ),
    )
    with caplog.at_level(logging.INFO, logger=pool_keeper.logger.name):
        for _ in range(3):
            step_with(keeper, snap)
    held = [r for r in caplog.messages if r.startswith("not attaching backend 1 (pgslave1) yet")]
    assert len(held) == 1, caplog.messages


def step_with(keeper: pool_keeper.PoolKeeper, snap: PoolSnapshot) -> Any:
    decision = keeper.decide(snap, 0.0)
    keeper.apply(decision)
    return decision


def test_backup_keeper_applies_every_action_in_order_and_starts_the_backup(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    calls: list[str] = []
    for name in ("point_at", "stop_receiver", "drop_slot", "reset_receiver"):
        monkeypatch.setattr(barman_act, name, lambda *args, _n=name: calls.append(_n))
    monkeypatch.setattr(barman_act, "cron", lambda: calls.append("cron") or True)
    monkeypatch.setattr(barman_act, "start_backup", lambda reason, incremental=False: calls.append(f"backup {reason}"))
    monkeypatch.setattr(paths, "BACKUP_KEEPER_STATE", tmp_path / "backup-keeper.json")
    monkeypatch.setattr(paths, "BARMAN_LOG", tmp_path / "barman.log")
    keeper = backup_keeper.BackupKeeper(barman_settings())
    decision = BackupDecision(
        (BackupAct.POINT_AT, BackupAct.STOP_RECEIVER, BackupAct.CRON, BackupAct.BACKUP),
        "the primary is pgslave1",
        BackupMemory(host="pgslave1"),
        host="pgslave1",
        backup_reason="no base backup yet",
    )
    keeper.apply(decision)
    assert calls == ["point_at", "stop_receiver", "cron", "backup no base backup yet"]
    assert keeper.memory.host == "pgslave1"
    state = json.loads((tmp_path / "backup-keeper.json").read_text())
    assert (state["reason"], state["own_backup"]) == ("the primary is pgslave1", True)
    # Same reason, a new debt: the file says what the keeper owes (tests and operators wait on it).
    owing = BackupDecision((), "the primary is pgslave1", BackupMemory(host="pgslave1", backup_due="slot lost"))
    keeper.apply(owing)
    state = json.loads((tmp_path / "backup-keeper.json").read_text())
    assert (state["memory"]["backup_due"], state["own_backup"]) == ("slot lost", False)  # the job was never made


def test_every_recurring_program_has_the_three_parts() -> None:
    for program in (
        fence_keeper.FenceKeeper,
        pool_keeper.PoolKeeper,
        backup_keeper.BackupKeeper,
        sync_keeper.SyncKeeper,
        crash_guard.CrashGuard,
        conf_reload.ConfReload,
    ):
        assert all(callable(getattr(program, part, None)) for part in ("observe", "decide", "apply")), program
    assert make_settings().postgres is not None


def test_backup_keeper_takes_in_how_its_base_backup_ended_and_follows_barmans_log(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    log = tmp_path / "barman.log"
    log.write_text("2027-01-15 10:00:00,000 [1] barman.backup INFO: old line\n")
    monkeypatch.setattr(paths, "BARMAN_LOG", log)
    monkeypatch.setattr(backup_keeper, "snapshot", lambda bm, running: running)
    keeper = backup_keeper.BackupKeeper(barman_settings())

    class Job:
        returncode = 3

        def poll(self) -> int:
            return self.returncode

    keeper.job, keeper.job_reason = Job(), "scheduled"  # type: ignore[assignment]
    assert keeper.observe() is False  # type: ignore[comparison-overlap]
    assert keeper.job is None and keeper.memory.backup_due == "retry: scheduled"
    with log.open("a") as handle:
        handle.write("2027-01-15 10:00:01,000 [1] barman.backup ERROR: backup failed\n")
        handle.write("2027-01-15 10:00:02,000 [1] barman.server ERROR: Check 'replication slot' failed\n")
        handle.write("2027-01-15 10:00:03,000 [1] barman.wal INFO: quiet\npartial")
    shown = [line for line in keeper.log.lines() if backup_keeper.worth_showing(line)]
    assert shown == ["2027-01-15 10:00:01,000 [1] barman.backup ERROR: backup failed"]
    log.write_text("")  # rotated: read again from the start
    assert keeper.log.lines() == []


def test_conf_watch_sends_each_change_as_one_capture_mode_message(monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    from postdock_supervisor.events.model import parse_event
    from postdock_supervisor.programs import conf_watch

    out = io.StringIO()
    monkeypatch.setattr(conf_watch.sys, "stdout", out)

    class Seen:
        pathname = "/etc/postdock/conf.d/a.conf"
        maskname = "IN_CLOSE_WRITE"

    conf_watch._Handler().process_default(Seen())
    text = out.getvalue()
    assert text.startswith("<!--XSUPERVISOR:BEGIN-->") and text.endswith("<!--XSUPERVISOR:END-->")
    body = text.removeprefix("<!--XSUPERVISOR:BEGIN-->").removesuffix("<!--XSUPERVISOR:END-->")
    event = parse_event(
        {"eventname": "PROCESS_COMMUNICATION_STDOUT"}, f"processname:conf_watch groupname:x pid:1\n{body}"
    )
    decision = conf_reload.ConfReload(FakeSupervisor({"postgres": "RUNNING"})).decide(  # type: ignore[arg-type]
        (event, "RUNNING"), 0.0
    )
    assert decision.reason == "/etc/postdock/conf.d/a.conf changed (IN_CLOSE_WRITE): reloading postgres"
