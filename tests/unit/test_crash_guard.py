"""Crash policy (pure) and the crash_guard listener driven through real protocol text."""

import io

from postdock_supervisor.decide.crash import Act, CrashPolicy, GuardState, decide_crash
from postdock_supervisor.events.model import ProcessStateEvent, TickEvent
from postdock_supervisor.programs import crash_guard
from postdock_supervisor.programs.runner import run_events

POLICY = CrashPolicy(window_s=300, max_restarts=3, backoff_s=(0, 5, 15))
UP = GuardState(bootstrap_running=False, bootstrap_phase="done")


def killed(expected: bool = False) -> ProcessStateEvent:
    return ProcessStateEvent("EXITED", "postgres", "postgres", "RUNNING", expected, 42)


def test_first_crash_reruns_the_start_up_decision_at_once() -> None:
    d = decide_crash(killed(), UP, POLICY, now=1000)
    assert (d.action, d.reason) == (
        Act.RERUN_BOOTSTRAP,
        "postgres exited unexpectedly: running the start-up decision again",
    )


def test_a_crash_on_a_primary_carries_its_time_so_the_node_may_restart_in_place() -> None:
    assert decide_crash(killed(), UP, POLICY, now=1000).crashed_at == 1000
    standby = GuardState(bootstrap_running=False, bootstrap_phase="done", standby=True)
    assert decide_crash(killed(), standby, POLICY, now=1000).crashed_at is None
    # A restart deferred by the backoff is no longer "at once": the election may have begun.
    once = GuardState(False, "done", restarts=(1000.0,), pending_since=1001.0)
    later = decide_crash(TickEvent(1010), once, POLICY, now=1010)
    assert later.action is Act.RERUN_BOOTSTRAP and later.crashed_at is None


def test_expected_exit_and_stop_are_left_alone() -> None:
    assert decide_crash(killed(expected=True), UP, POLICY, 1000).action is Act.NOTHING
    stopped = ProcessStateEvent("STOPPED", "postgres", "postgres", "STOPPING", True, 42)
    assert decide_crash(stopped, UP, POLICY, 1000).action is Act.NOTHING


def test_exit_during_bootstrap_is_bootstraps_business() -> None:
    busy = GuardState(bootstrap_running=True, bootstrap_phase="rejoin")
    d = decide_crash(killed(), busy, POLICY, 1000)
    assert (d.action, d.reason) == (Act.NOTHING, "bootstrap is bringing postgres up: it handles this exit")


def test_quick_second_crash_is_deferred_then_restarted_on_a_tick() -> None:
    once = GuardState(False, "done", restarts=(1000.0,))
    deferred = decide_crash(killed(), once, POLICY, now=1002)
    assert deferred == decide_crash(killed(), once, POLICY, now=1002)
    assert (deferred.action, deferred.reason) == (Act.DEFER, "restart 2 waits 3s more (backoff)")
    pending = GuardState(False, "done", restarts=(1000.0,), pending_since=1002)
    assert decide_crash(TickEvent(1004), pending, POLICY, now=1004).action is Act.DEFER
    assert decide_crash(TickEvent(1005), pending, POLICY, now=1005).action is Act.RERUN_BOOTSTRAP


def test_crash_loop_gives_up_with_a_clear_reason() -> None:
    looping = GuardState(False, "done", restarts=(1000.0, 1010.0, 1030.0))
    d = decide_crash(ProcessStateEvent("FATAL", "postgres", "postgres", "BACKOFF", False, 0), looping, POLICY, 1100)
    assert d.action is Act.GIVE_UP
    assert d.reason.startswith("postgres or repmgrd exited 4 times within 300s: not restarting it again")


def repmgrd_exited(state: str = "EXITED") -> ProcessStateEvent:
    return ProcessStateEvent(state, "repmgrd", "repmgrd", "RUNNING", False, 43)


def test_repmgrd_exiting_on_a_standby_reruns_the_start_up_decision() -> None:
    standby = GuardState(bootstrap_running=False, bootstrap_phase="done", standby=True)
    d = decide_crash(repmgrd_exited(), standby, POLICY, now=1000)
    assert (d.action, d.reason) == (
        Act.RERUN_BOOTSTRAP,
        "repmgrd exited on a standby (its upstream may be gone): running the start-up decision again",
    )
    assert decide_crash(repmgrd_exited("FATAL"), standby, POLICY, now=1000).action is Act.RERUN_BOOTSTRAP


def test_repmgrd_exiting_on_a_primary_or_during_bootstrap_is_left_to_others() -> None:
    assert decide_crash(repmgrd_exited(), UP, POLICY, 1000).reason == (
        "repmgrd exited on a primary: supervisord restarts it"
    )
    busy = GuardState(bootstrap_running=True, bootstrap_phase="start-standby", standby=True)
    assert decide_crash(repmgrd_exited(), busy, POLICY, 1000).action is Act.NOTHING


class FakeSupervisor:
    def __init__(self) -> None:
        self.started: list[str] = []

    def states(self) -> dict[str, str]:
        return {"bootstrap": "EXITED", "postgres": "EXITED"}

    def start(self, name: str) -> bool:
        self.started.append(name)
        return True


def envelope(eventname: str, payload: str) -> str:
    return (
        f"ver:3.0 server:supervisor serial:1 pool:crash_guard poolserial:1 eventname:{eventname} "
        f"len:{len(payload)}\n{payload}"
    )


def test_listener_acknowledges_every_event_and_reruns_bootstrap(monkeypatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    state = tmp_path / "bootstrap.json"
    state.write_text('{"phase": "done", "reason": "up"}')
    monkeypatch.setattr("postdock_supervisor.paths.BOOTSTRAP_STATE", state)
    crash = "processname:postgres groupname:postgres from_state:RUNNING expected:0 pid:4711"
    stdin = io.StringIO(envelope("PROCESS_STATE_EXITED", crash) + envelope("TICK_5", "when:1 ünïcode"))
    stdout = io.StringIO()
    fake = FakeSupervisor()
    run_events(crash_guard.CrashGuard(fake, POLICY).handle, stdin, stdout, max_events=2)  # type: ignore[arg-type]
    assert stdout.getvalue() == "READY\nRESULT 2\nOKREADY\nRESULT 2\nOK"
    assert fake.started == ["bootstrap"]
    assert '"phase": "restarting"' in state.read_text()


def test_conf_watch_message_through_the_protocol_becomes_a_reload() -> None:
    from postdock_supervisor.decide.conf import ReloadAct, decide_reload
    from postdock_supervisor.events.model import parse_event

    payload = (
        'processname:conf_watch groupname:conf_watch pid:9\n{"kind": "conf-changed", '
        '"path": "/etc/postdock/conf.d/x.conf", "event": "IN_CLOSE_WRITE"}'
    )
    event = parse_event({"eventname": "PROCESS_COMMUNICATION_STDOUT"}, payload)
    decision = decide_reload(event, "RUNNING")
    assert (decision.action, decision.reason) == (
        ReloadAct.RELOAD,
        "/etc/postdock/conf.d/x.conf changed (IN_CLOSE_WRITE): reloading postgres",
    )
    assert decide_reload(event, "STOPPED").action is ReloadAct.NOTE


def test_capture_mode_message_is_framed_with_supervisors_markers() -> None:
    from postdock_supervisor.events import protocol

    out = io.StringIO()
    protocol.send('{"kind": "conf-changed"}', out)
    assert out.getvalue() == '<!--XSUPERVISOR:BEGIN-->{"kind": "conf-changed"}<!--XSUPERVISOR:END-->'
