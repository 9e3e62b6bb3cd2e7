"""The status agent over real HTTP on loopback: /status serves the node's report, /control runs a
signed request and refuses an unsigned or replayed one. The node's probes and steps are stand-ins."""

import contextlib
import json
import logging
import socket
import socketserver
import struct
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from postdock_supervisor import control, httpserve, wire
from postdock_supervisor.config.control import ControlKeys
from postdock_supervisor.observe import peers
from postdock_supervisor.programs import agent
from tests.builders import loopback_settings, running_primary


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
    server = agent.make_server(loopback_settings(), steps, 0)  # type: ignore[arg-type]
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
    body = control.request_body("stop", {}, "127.0.0.1")
    request = urllib.request.Request(f"http://127.0.0.1:{port}/control", data=body, method="POST")
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=5)
    assert caught.value.code == 403 and steps.asked == []


def raw_request(port: int, data: bytes) -> bytes:
    """Send data as it is and read until the agent closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(data)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
        return received


@pytest.mark.parametrize("length", ["-1", "65537", "1e3", ""])
def test_a_body_of_a_negative_huge_or_unknown_length_is_refused_unread(served: tuple[int, Steps], length: str) -> None:
    port, steps = served
    header = f"Content-Length: {length}\r\n" if length else ""
    answer = raw_request(port, f"POST /control HTTP/1.0\r\n{header}\r\n".encode() + b"x" * 100)
    assert answer.startswith(b"HTTP/1.0 413") and b"a body of 0 to 65536 bytes" in answer
    assert steps.asked == []


def test_a_client_that_drips_its_request_is_cut_off_at_the_request_deadline(
    served: tuple[int, Steps], monkeypatch: pytest.MonkeyPatch
) -> None:
    """One byte every 0.3 s never trips a per-read timeout; the whole-request deadline ends it."""
    monkeypatch.setattr(agent, "REQUEST_DEADLINE_S", 1.0)
    port, _ = served
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sent = 0
        try:
            for byte in b"GET /status HTTP/1.0\r\nX-Slow: " + b"x" * 200:
                sock.sendall(bytes([byte]))
                sent += 1
                time.sleep(0.3)
                if sent > 60:
                    break
        except OSError:
            pass  # the agent closed it: a reset on the next send
        assert sent < 60, "the agent kept reading a request that never ended"


def test_connections_beyond_the_cap_are_closed_and_the_agent_still_answers_after(
    served: tuple[int, Steps], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(agent, "REQUEST_DEADLINE_S", 1.0)
    port, _ = served
    idle = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(httpserve.MAX_CONNECTIONS)]
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as extra:
            assert extra.recv(1) == b""  # closed unanswered: every slot is taken
        # The idle ones reach their deadline and free their slots.
        status = wait_for(lambda: wire.exchange("127.0.0.1", port, "GET", "/status", timeout=2)[0], timeout=15)
        assert status == 200
    finally:
        for sock in idle:
            sock.close()


def wait_for(probe: Any, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return probe()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_a_request_signed_for_another_node_or_dated_ahead_is_refused(served: tuple[int, Steps]) -> None:
    port, steps = served
    with pytest.raises(control.ControlError, match="not this node"):
        control.call("127.0.0.1", port, "repl-secret", "stop", {}, timeout=5, target="pgslave1")
    ahead = control.request_body("stop", {}, "127.0.0.1", now=time.time() + 60)
    signed = {"Content-Type": "application/json", control.HEADER: control.sign("repl-secret", ahead)}
    status, answer, _ = wire.exchange("127.0.0.1", port, "POST", "/control", ahead, signed, timeout=5)
    assert status == 403 and b"outside" in answer
    nan = ahead.replace(str(json.loads(ahead)["at"]).encode(), b"NaN")
    signed = {"Content-Type": "application/json", control.HEADER: control.sign("repl-secret", nan)}
    status, answer, _ = wire.exchange("127.0.0.1", port, "POST", "/control", nan, signed, timeout=5)
    assert status == 403 and b"outside" in answer
    assert steps.asked == []


class Dripping(socketserver.BaseRequestHandler):
    """A peer that answers one byte at a time, slowly."""

    def handle(self) -> None:
        self.request.recv(65536)
        with contextlib.suppress(OSError):
            for byte in b"HTTP/1.0 200 OK\r\n\r\n" + b"{}" * 100:
                self.request.sendall(bytes([byte]))
                time.sleep(0.2)


class Answering(socketserver.BaseRequestHandler):
    body = b"null"

    def handle(self) -> None:
        self.request.recv(65536)
        self.request.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n" + self.body)


def peer(handler: type[socketserver.BaseRequestHandler]) -> socketserver.ThreadingTCPServer:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def test_a_dripping_peer_costs_the_client_its_deadline_not_more() -> None:
    server = peer(Dripping)
    try:
        started = time.monotonic()
        assert peers.fetch_report("127.0.0.1", server.server_address[1], timeout=1.0) is None
        assert time.monotonic() - started < 10  # the drip would last 40 s
        with pytest.raises(wire.WireError, match="no complete answer"):
            wire.exchange("127.0.0.1", server.server_address[1], "GET", "/status", timeout=1.0)
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(
    "body",
    [b"null", b"[]", b'"x"', b"{}", b'{"name": 1, "host": "h", "node_id": 1, "priority": 1}',
     b'{"name": "n", "host": "h", "node_id": true, "priority": 1}',
     b'{"name": "n", "host": "h", "node_id": 1, "priority": 1, "data": []}',
     b'{"name": "n", "host": "h", "node_id": 1, "priority": 1, "lease_left": NaN}',
     b'{"name": "n", "host": "h", "node_id": 1, "priority": 1, "postgres": {"running": "yes"}}', b"\xff"],
)  # fmt: skip
def test_a_malformed_or_forged_report_counts_as_no_report(body: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Answering, "body", body)
    server = peer(Answering)
    try:
        assert peers.fetch_report("127.0.0.1", server.server_address[1], timeout=5) is None
    finally:
        server.shutdown()
        server.server_close()


def test_a_well_formed_report_reads_back_as_sent(served: tuple[int, Steps]) -> None:
    port, _ = served
    report = peers.fetch_report("127.0.0.1", port, timeout=5)
    assert report == running_primary("pgmaster", 1)


GOOD = b'{"name": "node1", "host": "127.0.0.1", "node_id": 1, "priority": 100}'


def test_a_report_a_decision_acts_on_is_signed_for_its_request_and_describes_the_asked_node(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(agent, "local_report", lambda settings: running_primary("127.0.0.1", 1))
    server = agent.make_server(loopback_settings(), Steps(), 0)  # type: ignore[arg-type]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    try:
        signed = peers.fetch_report("127.0.0.1", port, timeout=5, keys=("repl-secret",))
        assert signed == running_primary("127.0.0.1", 1)
        assert peers.fetch_report("127.0.0.1", port, timeout=5, keys=("another-cluster",)) is None
        # A genuine answer of one node passed off as another's (a relay, a reused address) is refused.
        monkeypatch.setattr(agent, "local_report", lambda settings: running_primary("pgslave1", 2))
        deadline = time.monotonic() + 10  # the agent caches its report for 0.5 s
        while (relayed := peers.fetch_report("127.0.0.1", port, timeout=5, keys=("repl-secret",))) is not None:
            assert relayed.host == "127.0.0.1" and time.monotonic() < deadline
            time.sleep(0.1)
    finally:
        server.shutdown()
        server.server_close()


def test_an_unsigned_report_counts_only_without_a_key_or_while_legacy_agents_are_accepted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(Answering, "body", GOOD)
    server = peer(Answering)  # answers well-formed JSON, signs nothing: an impostor or a 0.1.0 agent
    port = server.server_address[1]
    try:
        assert peers.fetch_report("127.0.0.1", port, timeout=5, keys=("repl-secret",)) is None
        assert peers.fetch_report("127.0.0.1", port, timeout=5, keys=("repl-secret",), accept_unsigned=True) is not None
        assert peers.fetch_report("127.0.0.1", port, timeout=5) is not None  # display only (pgpool's status)
    finally:
        server.shutdown()
        server.server_close()


def test_a_client_that_hangs_up_before_its_answer_costs_one_debug_line_and_no_traceback(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    def slow_report(settings: object) -> object:
        time.sleep(0.5)  # the client is gone (reset) before the answer is written
        return running_primary("pgmaster", 1)

    monkeypatch.setattr(agent, "local_report", slow_report)
    server = agent.make_server(loopback_settings(), Steps(), 0)  # type: ignore[arg-type]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with caplog.at_level(logging.DEBUG, logger=httpserve.__name__):
            client = socket.create_connection(("127.0.0.1", server.server_address[1]), timeout=5)
            client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close = reset
            client.sendall(b"GET /status HTTP/1.0\r\n\r\n")
            client.close()
            deadline = time.monotonic() + 5
            while "hung up before its answer" not in caplog.text:
                assert time.monotonic() < deadline, caplog.text
                time.sleep(0.05)
    finally:
        server.shutdown()
        server.server_close()
    assert "Traceback" not in capsys.readouterr().err


NEW_KEY = "a-control-key-of-its-own-0123456789"
OLD_KEY = "the-previous-control-key-0123456789"


def test_with_a_control_key_the_replication_password_signs_nothing_and_a_rotation_keeps_both_keys(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """CONTROL_KEY set: a request or report signed with REPLICATION_PASSWORD is refused (a container
    holding only the database password cannot drive the nodes); CONTROL_KEY_ACCEPTED: the old key's
    requests are taken too, while the agent signs its answers with CONTROL_KEY."""
    monkeypatch.setattr(agent, "local_report", lambda settings: running_primary("127.0.0.1", 1))
    settings = loopback_settings(CONTROL_KEY=NEW_KEY, CONTROL_KEY_ACCEPTED=OLD_KEY)
    steps = Steps()
    server = agent.make_server(settings, steps, 0)  # type: ignore[arg-type]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    try:
        with pytest.raises(control.ControlError, match="refused stop"):
            control.call("127.0.0.1", port, "repl-secret", "stop", {}, timeout=5)
        assert steps.asked == []
        for key in (NEW_KEY, OLD_KEY):
            assert control.call("127.0.0.1", port, key, "stop", {}, timeout=5)["ok"]
        assert peers.fetch_report("127.0.0.1", port, timeout=5, keys=("repl-secret",)) is None
        assert peers.fetch_report("127.0.0.1", port, timeout=5, keys=(OLD_KEY,)) is None
        assert peers.fetch_report("127.0.0.1", port, timeout=5, keys=(OLD_KEY, NEW_KEY)) is not None
    finally:
        server.shutdown()
        server.server_close()


class Relaying(socketserver.BaseRequestHandler):
    """Answers every POST with one fixed body and signature header, as a man in the middle would."""

    body = b'{"ok": true, "reason": "no live grant"}'
    signature = ""

    def handle(self) -> None:
        self.request.recv(65536)
        header = f"{control.HEADER}: {self.signature}\r\n" if self.signature else ""
        self.request.sendall(
            b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n" + header.encode() + b"\r\n" + self.body
        )


def test_a_control_answer_counts_only_signed_by_the_agent_for_this_very_request(
    served: tuple[int, Steps], monkeypatch: pytest.MonkeyPatch
) -> None:
    port, _ = served
    # The genuine agent's answer carries its signature for the request, which the caller checks.
    body = control.request_body("stop", {}, "127.0.0.1")
    signature = control.sign("repl-secret", body)
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/control", data=body, method="POST", headers={control.HEADER: signature}
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        answer, signed = response.read(), response.headers[control.HEADER]
    assert signed == control.sign_answer("repl-secret", signature, answer)
    # An impostor's "no live grant" (unsigned, or replaying that genuine answer and its signature for
    # another request) is no answer; an unsigned one counts only while 0.1.0 agents are accepted.
    server = peer(Relaying)
    relay = server.server_address[1]
    legacy = ControlKeys("repl-secret", ("repl-secret",), accept_unsigned=True)
    try:
        with pytest.raises(control.ControlError, match="not signed with the cluster's key for this request"):
            control.post("127.0.0.1", relay, "repl-secret", "lease-approve", {}, timeout=5)
        assert control.post("127.0.0.1", relay, legacy, "lease-approve", {}, timeout=5)["ok"]
        monkeypatch.setattr(Relaying, "body", answer)
        monkeypatch.setattr(Relaying, "signature", signed)
        for keys in ("repl-secret", legacy):
            with pytest.raises(control.ControlError, match="not signed with the cluster's key for this request"):
                control.post("127.0.0.1", relay, keys, "stop", {}, timeout=5)
    finally:
        server.shutdown()
        server.server_close()
