"""The hand-over on stop: a running primary stops itself cleanly with pg_ctl (supervisord refuses
requests while it shuts down) and hands over; anything else stops plainly."""

import json
from pathlib import Path
from typing import Any

import pytest

from postdock_supervisor import paths, proc
from postdock_supervisor.control import ControlError
from postdock_supervisor.model.node import DataState, PostgresState
from postdock_supervisor.programs import handover
from postdock_supervisor.roles import programs_for
from tests.builders import make_pg, make_settings


@pytest.fixture
def phase_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    path = tmp_path / "bootstrap.json"
    monkeypatch.setattr(paths, "BOOTSTRAP_STATE", path)
    path.write_text(json.dumps({"phase": "done", "reason": ""}))
    return path


def test_the_primary_stops_with_pg_ctl_and_reports_its_shutdown_checkpoint(
    monkeypatch: pytest.MonkeyPatch, phase_file: Path
) -> None:
    ran: list[list[str]] = []
    monkeypatch.setattr(
        proc, "run", lambda argv, timeout=60, **kw: ran.append(list(argv)) or proc.Completed(tuple(argv), 0, "")
    )
    clean = DataState(initialized=True, cluster_state="shut down", timeline=2, checkpoint_lsn=0x9000028)
    monkeypatch.setattr(handover, "read_data_state", lambda pgdata: clean)
    released: list[int] = []
    monkeypatch.setattr(handover.lease_keeper, "release", lambda pg, port: released.append(port))
    assert handover.stop_postgres(make_pg(), "pgslave3", 8008) == {"ok": True, "lsn": "0/9000028", "timeline": 2}
    assert ran == [[f"{paths.PG_BIN}/pg_ctl", "stop", "-D", make_pg().pgdata, "-m", "fast", "-w", "-t", "60"]]
    assert released == [8008]  # stopped cleanly: its lease goes back at once
    assert json.loads(phase_file.read_text())["phase"] == "handing-over"
    monkeypatch.setattr(
        handover, "read_data_state", lambda pgdata: DataState(initialized=True, cluster_state="in production")
    )
    with pytest.raises(ControlError, match="postgres did not stop cleanly"):
        handover.stop_postgres(make_pg(), "pgslave3", 8008)
    assert released == [8008]  # not stopped cleanly: nothing released


def test_only_a_settled_primary_hands_over(monkeypatch: pytest.MonkeyPatch, phase_file: Path) -> None:
    asked: list[Any] = []
    monkeypatch.setattr(handover.switchover, "run", lambda *args, **kw: asked.append(args) or 0)
    monkeypatch.setattr(handover, "read_postgres_state", lambda port: PostgresState(running=True, in_recovery=True))
    assert handover.hand_over(make_settings()) == 1 and asked == []
    monkeypatch.setattr(handover, "read_postgres_state", lambda port: PostgresState(running=True, in_recovery=False))
    assert handover.hand_over(make_settings()) == 0
    [(partners, _key, _port, target, _out)] = asked
    assert partners == ("pgmaster", "pgslave1", "pgslave3") and target is None
    phase_file.write_text(json.dumps({"phase": "fenced", "reason": ""}))
    assert handover.hand_over(make_settings()) == 1


def test_the_hand_over_program_runs_on_first_level_nodes_of_a_cluster_only() -> None:
    names = lambda settings: {p.name for p in programs_for(settings)}  # noqa: E731
    assert "handover" in names(make_settings())
    cascade = make_settings(PARTNER_NODES="", REPLICATION_PRIMARY_HOST="pgslave1", CLUSTER_NODE_NETWORK_NAME="pgslave2")
    assert "handover" not in names(cascade)
    [spec] = [p for p in programs_for(make_settings()) if p.name == "handover"]
    # supervisord stops the highest priority number first, and waits for it.
    assert spec.priority > max(p.priority for p in programs_for(make_settings()) if p.name != "handover")


def test_a_stopping_standby_says_so_and_a_program_stopped_by_hand_does_nothing(
    monkeypatch: pytest.MonkeyPatch, phase_file: Path
) -> None:
    asked: list[Any] = []
    monkeypatch.setattr(handover.switchover, "run", lambda *args, **kw: asked.append(args) or 0)
    monkeypatch.setattr(handover, "read_postgres_state", lambda port: PostgresState(running=True, in_recovery=True))
    assert handover.on_stop(make_settings(), container_stopping=False) == 1
    assert json.loads(phase_file.read_text())["phase"] == "done"
    # The container stops: a standby leaves phase done, so no primary's hand-over picks it; a held
    # one too, so a promotion asked of it is refused at once.
    assert handover.on_stop(make_settings(), container_stopping=True) == 1
    assert json.loads(phase_file.read_text())["phase"] == "stopping" and asked == []
    phase_file.write_text(json.dumps({"phase": "held-for-switchover", "reason": ""}))
    assert handover.on_stop(make_settings(), container_stopping=True) == 1
    assert json.loads(phase_file.read_text())["phase"] == "stopping"


def test_supervisord_shutting_down_is_told_from_one_program_stopped_by_hand() -> None:
    import xmlrpc.client

    from postdock_supervisor.observe.supervisor import shutting_down

    class Server:
        def __init__(self, answer: object) -> None:
            self.answer = answer
            self.supervisor = self

        def getState(self) -> object:  # noqa: N802 (supervisor's name)
            if isinstance(self.answer, Exception):
                raise self.answer
            return self.answer

    assert shutting_down(Server(xmlrpc.client.Fault(6, "SHUTDOWN_STATE")))
    assert not shutting_down(Server({"statecode": 1, "statename": "RUNNING"}))
    assert shutting_down(Server(ConnectionRefusedError()))
