"""The node's smaller programs: the switchover steps an agent runs (node_control), role_check,
repmgr's promote command and the entrypoint's refusal. supervisord, repmgr and the local server's
answers are stand-ins; the checks each step makes before acting are the real ones."""

import json
import logging
import time
from pathlib import Path
from typing import Any

import pytest

from postdock_supervisor import healing, paths
from postdock_supervisor.act import node
from postdock_supervisor.config import Role
from postdock_supervisor.control import ControlError
from postdock_supervisor.decide.role import RoleAct
from postdock_supervisor.decide.stalled import STALL_S
from postdock_supervisor.events.model import ProcessStateEvent, TickEvent
from postdock_supervisor.model.failover import FailoverRecord, summary
from postdock_supervisor.model.node import DataState, NodeReport, PostgresState
from postdock_supervisor.proc import Completed
from postdock_supervisor.programs import entrypoint, node_control, promote, role_check
from postdock_supervisor.programs.contract import react
from tests.builders import BASE_ENV, make_pg, make_settings, running_primary, running_standby
from tests.unit.test_programs import FakeSupervisor


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[str]:
    records: list[str] = []
    monkeypatch.setattr(healing, "record", lambda program, action, reason, **_: records.append(action))
    monkeypatch.setattr(paths, "BOOTSTRAP_STATE", tmp_path / "bootstrap.json")
    paths.BOOTSTRAP_STATE.write_text(json.dumps({"phase": "done", "reason": ""}))
    return records


def phase() -> str:
    return str(json.loads(paths.BOOTSTRAP_STATE.read_text())["phase"])


def control_of(monkeypatch: pytest.MonkeyPatch, postgres: PostgresState, data: DataState | None = None) -> Any:
    monkeypatch.setattr(node_control, "read_postgres_state", lambda port: postgres)
    monkeypatch.setattr(node_control, "read_data_state", lambda pgdata: data or DataState())
    supervisor = FakeSupervisor()
    made = node_control.NodeControl(make_pg(), 8008, supervisor)  # type: ignore[arg-type]
    monkeypatch.setattr(made, "_expire_later", lambda _id, reason: supervisor.calls.append(("expires", reason)))
    return made, supervisor


STANDBY = PostgresState(running=True, in_recovery=True, lsn=0x5000100, upstream="pgmaster", streaming=True)
PRIMARY = PostgresState(running=True, in_recovery=False, lsn=0x5000000)


def test_hold_stops_repmgrd_on_a_standby_and_expires_by_itself(monkeypatch: pytest.MonkeyPatch, recorded: Any) -> None:
    control, supervisor = control_of(monkeypatch, STANDBY)
    assert control.handle("hold", {"target": "pgslave3"}) == {"ok": True}
    assert supervisor.calls == [("expires", "held for a switchover to pgslave3"), ("stop", "repmgrd")]
    assert phase() == "held-for-switchover"


def test_a_node_held_by_one_switchover_refuses_another_and_only_its_own_timer_releases_it(
    monkeypatch: pytest.MonkeyPatch, recorded: Any
) -> None:
    monkeypatch.setattr(node_control, "read_postgres_state", lambda port: STANDBY)
    supervisor = FakeSupervisor()
    control = node_control.NodeControl(make_pg(), 8008, supervisor)  # type: ignore[arg-type]
    monkeypatch.setattr(node_control, "HOLD_EXPIRY_S", 60.0)
    control.handle("hold", {"target": "pgslave3", "id": "first"})
    first_timer = control._timer
    with pytest.raises(ControlError, match=r"held by another switchover \(held for a switchover to pgslave3\)"):
        control.handle("hold", {"target": "pgslave1", "id": "second"})
    with pytest.raises(ControlError, match="not released by this one"):
        control.handle("rejoin", {"target": "pgslave1", "id": "second"})
    control.handle("rejoin", {"target": "pgslave3", "id": "first"})  # the first one ends normally
    paths.BOOTSTRAP_STATE.write_text(json.dumps({"phase": "done", "reason": ""}))
    control.handle("hold", {"target": "pgslave1", "id": "second"})
    first_timer.function()  # the first hold's timer firing late, as if its cancel had come too late
    assert phase() == "held-for-switchover"
    assert supervisor.calls.count(("start", "bootstrap")) == 1  # the first rejoin only
    control._end_hold()


def test_a_hold_left_by_a_switchover_that_died_is_released_by_its_timer(
    monkeypatch: pytest.MonkeyPatch, recorded: Any
) -> None:
    monkeypatch.setattr(node_control, "read_postgres_state", lambda port: STANDBY)
    monkeypatch.setattr(node_control, "HOLD_EXPIRY_S", 0.2)
    supervisor = FakeSupervisor()
    control = node_control.NodeControl(make_pg(), 8008, supervisor)  # type: ignore[arg-type]
    control.handle("hold", {"target": "pgslave3", "id": "gone"})
    deadline = time.monotonic() + 10
    while ("start", "bootstrap") not in supervisor.calls and time.monotonic() < deadline:
        time.sleep(0.05)
    assert ("start", "bootstrap") in supervisor.calls and phase() == "restarting"


def test_a_step_refuses_a_node_that_is_not_what_it_expects(monkeypatch: pytest.MonkeyPatch, recorded: Any) -> None:
    control, supervisor = control_of(monkeypatch, PRIMARY)
    with pytest.raises(ControlError, match="this node is not a running standby"):
        control.handle("hold", {})
    with pytest.raises(ControlError, match="unknown action 'drop'"):
        control.handle("drop", {})
    assert supervisor.calls == []


def test_stop_returns_the_clean_shutdown_position(monkeypatch: pytest.MonkeyPatch, recorded: Any) -> None:
    clean = DataState(initialized=True, cluster_state="shut down", timeline=3, checkpoint_lsn=0x7000028)
    control, supervisor = control_of(monkeypatch, PRIMARY, clean)
    assert control.handle("stop", {"target": "pgslave1"}) == {"ok": True, "lsn": "0/7000028", "timeline": 3}
    assert supervisor.calls[:3] == [
        ("expires", "stopped for a switchover to pgslave1"),
        ("stop", "repmgrd"),
        ("stop", "postgres"),
    ]
    paths.BOOTSTRAP_STATE.write_text(json.dumps({"phase": "done", "reason": ""}))
    unclean = DataState(initialized=True, cluster_state="in production")
    control, _ = control_of(monkeypatch, PRIMARY, unclean)
    with pytest.raises(ControlError, match="postgres stopped but its data says 'in production'"):
        control.handle("stop", {})


def test_promote_waits_for_the_old_primary_end_then_promotes(monkeypatch: pytest.MonkeyPatch, recorded: Any) -> None:
    control, supervisor = control_of(monkeypatch, STANDBY)
    promoted: list[str] = []
    monkeypatch.setattr(node, "repmgr", lambda *args, **kw: promoted.append(" ".join(args)) or Completed(args, 0, ""))
    monkeypatch.setattr(node_control.sync, "keep", lambda pg: None)
    assert control.handle("promote", {"lsn": "0/5000060"}) == {"ok": True}
    assert promoted == ["standby promote"] and supervisor.calls == [("start", "repmgrd")]
    assert phase() == "done" and recorded == ["promote"]


def test_promote_refuses_a_standby_behind_the_old_primary(monkeypatch: pytest.MonkeyPatch, recorded: Any) -> None:
    control, _ = control_of(monkeypatch, STANDBY)
    monkeypatch.setattr(node_control, "CATCH_UP_S", 0.0)
    with pytest.raises(ControlError, match="received WAL up to 0/5000100 only, the old primary ended at 0/6000000"):
        control.handle("promote", {"lsn": "0/6000000"})


def test_promote_refuses_a_node_whose_container_is_stopping(monkeypatch: pytest.MonkeyPatch, recorded: Any) -> None:
    stopped = PostgresState(running=False)
    control, _ = control_of(monkeypatch, stopped)
    paths.BOOTSTRAP_STATE.write_text(json.dumps({"phase": "stopping", "reason": "the container is stopping"}))
    with pytest.raises(ControlError, match="this node's container is stopping: not promoting it"):
        control.handle("promote", {"lsn": "0/6000000"})


def test_rejoin_reruns_the_start_up_decision(monkeypatch: pytest.MonkeyPatch, recorded: Any) -> None:
    control, supervisor = control_of(monkeypatch, STANDBY)
    control.handle("rejoin", {"target": "pgslave3"})
    assert supervisor.calls == [("start", "bootstrap")] and phase() == "restarting" and recorded == ["rejoin"]


def test_role_check_steps_down_a_primary_the_cluster_left(monkeypatch: pytest.MonkeyPatch, recorded: Any) -> None:
    me = running_primary("pgmaster", 1)
    peers: dict[str, NodeReport | None] = {
        "pgslave3": running_primary("pgslave3", 4, timeline=2),
        "pgslave1": running_standby("pgslave1", 2, "pgslave3", timeline=2),
    }
    monkeypatch.setattr(role_check, "observe", lambda settings: (me, peers))
    supervisor = FakeSupervisor()
    check = role_check.RoleCheck(make_settings(), supervisor)  # type: ignore[arg-type]
    assert react(check, ProcessStateEvent("EXITED", "x", "x", "RUNNING", True, 1), 0.0) is None
    decision = react(check, TickEvent(5), 0.0)
    assert decision is not None and decision.action is RoleAct.STEP_DOWN
    assert supervisor.calls == [("stop", "postgres"), ("start", "bootstrap")] and recorded == ["step-down"]


def test_role_check_marks_a_standby_stuck_while_the_primary_runs_for_a_re_clone(
    monkeypatch: pytest.MonkeyPatch, recorded: Any
) -> None:
    me = running_standby("pgmaster", 1, "pgslave1", streaming=False)
    peers: dict[str, NodeReport | None] = {"pgslave3": running_primary("pgslave3", 4, timeline=2), "pgslave1": None}
    monkeypatch.setattr(role_check, "observe", lambda settings: (me, peers))
    supervisor = FakeSupervisor()
    check = role_check.RoleCheck(make_settings(), supervisor)  # type: ignore[arg-type]
    first = react(check, TickEvent(5), 10.0)
    assert first is not None and first.action is RoleAct.NOTHING and supervisor.calls == []
    stuck = react(check, TickEvent(5), 10.0 + STALL_S)
    assert stuck is not None and stuck.action is RoleAct.RECLONE_STANDBY
    assert supervisor.calls == [("stop", "postgres"), ("start", "bootstrap")] and recorded == ["reclone-standby"]
    assert paths.STANDBY_DIVERGED.read_text().startswith("not streaming for 30s although pgslave3 runs")


def test_role_check_finishes_an_election_repmgrd_gave_up(monkeypatch: pytest.MonkeyPatch, recorded: Any) -> None:
    me = running_standby("pgslave1", 2, "pgmaster", streaming=False)
    peers: dict[str, NodeReport | None] = {"pgmaster": None, "pgslave3": running_standby("pgslave3", 4, "pgmaster")}
    monkeypatch.setattr(role_check, "observe", lambda settings: (me, peers))
    monkeypatch.setattr(role_check, "read_upstream_last_seen", lambda pg: 25)
    reruns: list[str] = []
    monkeypatch.setattr(role_check, "rerun_election", lambda: reruns.append("rerun") or True)
    supervisor = FakeSupervisor({"repmgrd": "RUNNING"})
    settings = make_settings(CLUSTER_NODE_NETWORK_NAME="pgslave1", NODE_ID="2")
    decision = react(role_check.RoleCheck(settings, supervisor), TickEvent(5), 0.0)  # type: ignore[arg-type]
    assert decision is not None and decision.action is RoleAct.RERUN_ELECTION
    assert reruns == ["rerun"] and recorded == ["rerun-election"] and supervisor.calls == []
    # repmgrd stopped on purpose (a switchover holds it): nothing is rerun.
    stopped = FakeSupervisor({"repmgrd": "STOPPED"})
    held = react(role_check.RoleCheck(settings, stopped), TickEvent(5), 0.0)  # type: ignore[arg-type]
    assert held is not None and held.action is RoleAct.NOTHING and reruns == ["rerun"]


def test_promote_command_sets_the_synchronous_set_and_records_the_failover(
    monkeypatch: pytest.MonkeyPatch, recorded: Any, tmp_path: Path
) -> None:
    kept: list[str] = []
    monkeypatch.setattr(healing.paths, "RUN", tmp_path)
    monkeypatch.setattr(node.paths, "PROMOTE_ALIASES", tmp_path / "aliases")
    ran: list[tuple[list[str], dict[str, str]]] = []
    monkeypatch.setattr(node.proc, "run", lambda argv, timeout, env: ran.append((argv, env)) or Completed(argv, 0, ""))
    monkeypatch.setattr(promote, "unreachable_nodes", lambda pg: ["pgmaster"])
    monkeypatch.setattr(promote.sync_keeper, "keep", lambda pg: kept.append(pg.node_name))
    # What approve-promotion and the lease keeper wrote before: detected, approved, commits let through.
    now = time.time()
    healing.write_failover(FailoverRecord(lost_at=now - 3.0, detected_at=now - 2.5, approved_at=now - 1.0), tmp_path)
    healing.record_released(now - 0.6, tmp_path)
    assert promote.main(make_settings()) == 0
    assert kept == ["node1"] and recorded == ["promote"]
    # repmgr would wait CONNECT_TIMEOUT for the cut-off old primary before promoting: its name fails at once.
    [(argv, env)] = ran
    assert argv[-2:] == ["standby", "promote"] and env["HOSTALIASES"] == str(tmp_path / "aliases")
    assert (tmp_path / "aliases").read_text() == "pgmaster unreachable.invalid\n"
    record = healing.read_failover(tmp_path)
    assert record is not None and record.promoted_at >= now
    assert record.total == pytest.approx(2.4)
    assert summary(record).endswith(
        "writable 2.40s after the old primary was last seen (detect 0.50s, lease 1.50s, promote 0.40s)"
    )


def test_only_names_without_a_dot_can_be_made_unresolvable_for_repmgrs_promotion() -> None:
    from postdock_supervisor.render.repmgr import host_aliases

    assert host_aliases(["pgslave2", "pgmaster", "pg-0.pg.default.svc", "pgmaster"]) == (
        "pgmaster unreachable.invalid\npgslave2 unreachable.invalid\n"
    )
    assert host_aliases([]) == ""


def test_entrypoint_refuses_bad_input_with_one_line_each_and_writes_nothing(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    written: list[str] = []
    monkeypatch.setattr(entrypoint, "prepare", lambda settings, env: written.append("prepare") or {})
    with pytest.raises(SystemExit) as caught:
        entrypoint.main({**BASE_ENV, "NODE_ID": "x"}, "host")
    assert caught.value.code == 2 and written == []
    assert capsys.readouterr().err.startswith("postdock: NODE_ID: found 'x'; expected a whole number")


def test_secrets_leave_the_child_environment_as_files(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(paths, "SECRETS", tmp_path)
    monkeypatch.setattr(entrypoint.files, "write_atomic", lambda path, text, mode, *owner: Path(path).write_text(text))
    shared = {**BASE_ENV, "CHECK_PASSWORD": "check-secret", "DB_USERS": "app:app-secret", "PCP_PASSWORD": "pcp"}
    child = entrypoint.child_environment(shared, make_settings().role)
    assert "POSTGRES_PASSWORD" not in child and "REPLICATION_PASSWORD" not in child
    assert Path(child["REPLICATION_PASSWORD_FILE"]).read_text() == "repl-secret"
    assert Path(child["CHECK_PASSWORD_FILE"]).read_text() == "check-secret"  # the node creates that role
    # Another role's secrets from a shared env file are dropped, not kept and not written.
    assert not {"CHECK_PASSWORD", "DB_USERS", "PCP_PASSWORD"} & child.keys()
    assert not (tmp_path / "PCP_PASSWORD").exists()
    pool_child = entrypoint.child_environment({**shared, "ROLE": "pgpool"}, Role.PGPOOL)
    assert "POSTGRES_PASSWORD" not in pool_child and "REPLICATION_PASSWORD" not in pool_child
    assert Path(pool_child["CHECK_PASSWORD_FILE"]).read_text() == "check-secret"


def test_restore_hold_stops_the_start_up_decision_repmgrd_and_postgres_and_wipes_only_the_target(
    monkeypatch: pytest.MonkeyPatch, recorded: Any
) -> None:
    from postdock_supervisor.programs import restore_node

    supervisor = FakeSupervisor()
    wiped: list[str] = []
    monkeypatch.setattr(restore_node, "Supervisor", lambda: supervisor)
    monkeypatch.setattr(node, "wipe", lambda pg, why: wiped.append(why))
    restore_node.hold(make_pg(), "postdock recover", wipe=False)
    # The start-up decision first: still running, it would promote a held standby once no primary runs.
    assert supervisor.calls == [("stop", "bootstrap"), ("stop", "repmgrd"), ("stop", "postgres")]
    assert wiped == [] and phase() == "held"
    restore_node.hold(make_pg(), "postdock recover", wipe=True)
    assert wiped == ["postdock recover"]
    restore_node.reclone(make_pg())
    assert supervisor.calls[-2:] == [("stop", "postgres"), ("start", "bootstrap")] and phase() == "restarting"


def test_role_check_logs_why_it_does_nothing_once_per_situation(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    me = running_standby("pgslave1", 2, "pgmaster", streaming=False)
    peers: dict[str, NodeReport | None] = {"pgmaster": None, "pgslave3": running_standby("pgslave3", 4, "pgmaster")}
    monkeypatch.setattr(role_check, "observe", lambda settings: (me, peers))
    unseen = iter([3, 8, 13])
    monkeypatch.setattr(role_check, "read_upstream_last_seen", lambda pg: next(unseen))
    settings = make_settings(CLUSTER_NODE_NETWORK_NAME="pgslave1", NODE_ID="2")
    check = role_check.RoleCheck(settings, FakeSupervisor({"repmgrd": "RUNNING"}))  # type: ignore[arg-type]
    with caplog.at_level(logging.INFO, logger=role_check.__name__):
        for tick in range(3):
            react(check, TickEvent(5), 5.0 * tick)
    assert [r.getMessage() for r in caplog.records] == [
        "no primary in sight; repmgrd has last seen its upstream 3s ago: its election decides"
    ]


def test_reach_tells_whether_a_partners_agent_answers_by_its_name_and_tries_no_other_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tried: list[tuple[str, int]] = []

    def fetch(host: str, port: int, timeout: float) -> NodeReport | None:
        tried.append((host, port))
        return running_standby("pgslave3", 4, "pgmaster") if host == "pgslave3" else None

    monkeypatch.setattr(node_control, "fetch_report", fetch)
    control = node_control.NodeControl(make_pg(), 8008, FakeSupervisor())  # type: ignore[arg-type]
    assert control.handle("reach", {"host": "pgslave3"}) == {"ok": True}
    assert control.handle("reach", {"host": "pgslave1"}) == {"ok": False}  # not published yet, or down
    refused = control.handle("reach", {"host": "db.example.com"})
    assert refused == {"ok": False, "error": "reach: 'db.example.com' is not in PARTNER_NODES"}
    assert tried == [("pgslave3", 8008), ("pgslave1", 8008)]
