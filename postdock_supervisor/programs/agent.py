"""The node's status agent: partners and `postdock status` read /status (JSON, no secrets); signed
requests on POST /control run the steps of a switchover (control.py, node_control.py) and grant,
approve or release the quorum lease (lease_desk.py)."""

import contextlib
import json
import logging
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from postdock_supervisor.act import lease as lease_act
from postdock_supervisor.config import Settings
from postdock_supervisor.control import HEADER, ControlError, Verifier, sign_status
from postdock_supervisor.observe.node import local_report
from postdock_supervisor.programs.lease_desk import ACTIONS as LEASE_ACTIONS
from postdock_supervisor.programs.lease_desk import LeaseDesk
from postdock_supervisor.programs.node_control import NodeControl

logger = logging.getLogger(__name__)


class _Cache:
    """A report is at most max_age old, so a burst of requests costs one probe."""

    def __init__(self, settings: Settings, max_age: float = 0.5) -> None:
        self._settings = settings
        self._max_age = max_age
        self._lock = threading.Lock()
        self._at = 0.0
        self._body = b"{}"

    def body(self) -> bytes:
        with self._lock:
            if time.monotonic() - self._at > self._max_age:
                self._body = json.dumps(local_report(self._settings).to_json()).encode()
                self._at = time.monotonic()
            return self._body


MAX_BODY = 65536
MAX_CONNECTIONS = 32  # partners ask a few times a second each; more than this is a misbehaving client
REQUEST_DEADLINE_S = 5.0  # to send a whole request (the action it asks for may take longer)


class _Deadlines:
    """Ends connections whose request is not complete by its deadline: a socket timeout bounds each
    read, so a client sending one byte a second would otherwise hold its thread for ever."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._due: dict[socket.socket, float] = {}
        threading.Thread(target=self._reap, name="agent-deadlines", daemon=True).start()

    def watch(self, conn: socket.socket, seconds: float) -> None:
        with self._lock:
            self._due[conn] = time.monotonic() + seconds

    def forget(self, conn: socket.socket) -> None:
        with self._lock:
            self._due.pop(conn, None)

    def _reap(self) -> None:
        while True:
            time.sleep(0.2)
            now = time.monotonic()
            with self._lock:
                late = [conn for conn, due in self._due.items() if due < now]
                for conn in late:
                    del self._due[conn]
            for conn in late:
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)  # the handler's read returns at once, empty


class _Server(ThreadingHTTPServer):
    """At most MAX_CONNECTIONS at once (the next is closed unanswered), each with a request deadline."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler]) -> None:
        super().__init__(address, handler)
        self.deadlines = _Deadlines()
        self._slots = threading.BoundedSemaphore(MAX_CONNECTIONS)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hung up before its answer was written (a partner's deadline passed, during a
        failover often) is routine: one debug line, not socketserver's traceback on stderr."""
        if isinstance(sys.exc_info()[1], ConnectionError):  # BrokenPipeError, ConnectionResetError...
            logger.debug("client %s hung up before its answer", client_address)
            return
        super().handle_error(request, client_address)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        self.deadlines.watch(request, REQUEST_DEADLINE_S)
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.deadlines.forget(request)
            self._slots.release()


def make_server(
    settings: Settings, control: NodeControl, port: int, desk: LeaseDesk | None = None
) -> ThreadingHTTPServer:
    """The agent's HTTP server on `port` (0: any free one), not yet serving."""
    cache = _Cache(settings)
    assert settings.postgres is not None
    pg = settings.postgres
    lease_desk = desk or LeaseDesk(
        pg.lease_timeout or 1.0, pg.network_name, lambda host, catch_up: lease_act.stream_from(pg, host, catch_up)
    )
    password = pg.replication_password.reveal()
    verifier = Verifier(password, (pg.network_name, pg.node_name), pg.control_accept_legacy)

    class Handler(BaseHTTPRequestHandler):
        timeout = REQUEST_DEADLINE_S  # each read and write; _Deadlines bounds the whole request

        def _answer(self, code: int, payload: dict[str, Any]) -> None:
            body = json.dumps(payload).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            if self.path != "/control":
                self.send_error(404)
                return
            declared = (self.headers.get("Content-Length") or "").strip()
            if not declared.isdigit() or int(declared) > MAX_BODY:
                self._answer(413, {"ok": False, "error": f"a body of 0 to {MAX_BODY} bytes, with its Content-Length"})
                return
            body = self.rfile.read(int(declared))
            assert isinstance(self.server, _Server)
            self.server.deadlines.forget(self.connection)  # the request is in; the action may take long
            try:
                request = verifier.verify(body, self.headers.get(HEADER, ""), "POST", self.path)
            except ControlError as exc:
                logger.warning("control request refused: %s", exc)
                self._answer(403, {"ok": False, "error": str(exc)})
                return
            if request["action"] in LEASE_ACTIONS:  # answered at once, never behind a switchover step
                self._answer(200, lease_desk.handle(request["action"], request["args"]))
                return
            try:
                self._answer(200, control.handle(request["action"], request["args"]))
            except Exception as exc:  # noqa: BLE001 - every failure goes back to the caller, named
                logger.warning("control %s failed: %s", request["action"], exc)
                self._answer(200, {"ok": False, "error": str(exc)})

        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            path, _, query = self.path.partition("?")
            if path != "/status":
                self.send_error(404)
                return
            body = cache.body()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            nonce = query.removeprefix("nonce=")
            if query.startswith("nonce=") and 0 < len(nonce) <= 64 and nonce.isalnum():
                self.send_header(HEADER, sign_status(password, nonce, body))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            logger.debug(format, *args)

    return _Server(("", port), Handler)


def serve(settings: Settings) -> None:
    assert settings.postgres is not None
    control = NodeControl(settings.postgres, settings.common.status_port)
    server = make_server(settings, control, settings.common.status_port)
    logger.info("status agent listening on port %d", settings.common.status_port)
    server.serve_forever()
