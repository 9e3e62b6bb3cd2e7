"""The status agent over real HTTP on loopback: /status serves the node's report, /control runs a
signed request and refuses an unsigned or replayed one. The node's probes and steps are stand-ins."""

import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from postdock_supervisor import control
from postdock_supervisor.programs import agent
from tests.builders import make_settings, running_primary


class Steps:
    def __init__(self) -> None:
        self.asked: list[tuple[str, dict[str, Any]]] = []

    def handle(self, action: str, args: dict[str, Any]) -> dict[str, Any]:
        self.asked.append((action, args))
        if action == "promote":
            raise control.ControlError("this node is not a running standby")
        return {"ok": True, "lsn": "0/3000000"}


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[int, Steps]]:
    monkeypatch.setattr(agent, "local_report", lambda settings: running_primary("pgmaster", 1))
    steps = Steps()
    server = agent.make_server(make_settings(), steps, 0)  # type: ignore[arg-type]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1], steps
    server.shutdown()
    server.server_close()


def test_status_is_the_node_report_as_json(served: tuple[int, Steps]) -> None:
    port, _ = served
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/status", timeout=5) as response:
        report = json.loads(response.read())
    assert (report["host"], report["postgres"]["in_recovery"]) == ("pgmaster", False)
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(f"http://127.0.0.1:{port}/secrets", timeout=5)
    assert caught.value.code == 404


def test_a_signed_request_runs_its_step_and_a_failing_step_names_its_reason(served: tuple[int, Steps]) -> None:
    port, steps = served
    answer = control.call("127.0.0.1", port, "repl-secret", "stop", {"target": "pgslave1"}, timeout=5)
    assert answer == {"ok": True, "lsn": "0/3000000"}
    assert steps.asked == [("stop", {"target": "pgslave1"})]
    with pytest.raises(control.ControlError, match="promote failed: this node is not a running standby"):
        control.call("127.0.0.1", port, "repl-secret", "promote", {}, timeout=5)


def test_a_request_signed_with_another_key_is_refused_and_runs_nothing(served: tuple[int, Steps]) -> None:
    port, steps = served
    with pytest.raises(control.ControlError, match="refused stop"):
        control.call("127.0.0.1", port, "wrong-key", "stop", {}, timeout=5)
    body = control.request_body("stop", {})
    request = urllib.request.Request(f"http://127.0.0.1:{port}/control", data=body, method="POST")
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=5)
    assert caught.value.code == 403 and steps.asked == []
