"""The node's status agent: partners and `postdock status` read /status (JSON, no secrets); signed
requests on POST /control run the steps of a switchover (control.py, node_control.py) and grant,
approve or release the quorum lease (lease_desk.py)."""

import json
import logging
import threading
import time
from http.server import BaseHTTPRequestHandler
from typing import Any

from postdock_supervisor.act import lease as lease_act
from postdock_supervisor.config import Settings
from postdock_supervisor.control import HEADER, ControlError, Verifier, sign_answer, sign_status
from postdock_supervisor.httpserve import REQUEST_DEADLINE_S, BoundedServer, server_tls
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


def make_server(settings: Settings, control: NodeControl, port: int, desk: LeaseDesk | None = None) -> BoundedServer:
    """The agent's HTTP server on `port` (0: any free one), not yet serving."""
    cache = _Cache(settings)
    assert settings.postgres is not None
    pg = settings.postgres
    lease_desk = desk or LeaseDesk(
        pg.lease_timeout or 1.0, pg.network_name, lambda host, catch_up: lease_act.stream_from(pg, host, catch_up)
    )
    keys = pg.control
    legacy = pg.replication_password.reveal() if pg.control_accept_legacy else ""  # 0.1.0 signed with it
    verifier = Verifier(keys.accepted, (pg.network_name, pg.node_name), legacy)

    class Handler(BaseHTTPRequestHandler):
        timeout = REQUEST_DEADLINE_S  # each read and write; _Deadlines bounds the whole request

        def _answer(self, code: int, payload: dict[str, Any], request_signature: str = "", key: str = "") -> None:
            """request_signature: a verified request's, which the answer's own signature is bound to,
            under the key that signed the request (a 0.1.0 request's bare password: under CONTROL_KEY)."""
            body = json.dumps(payload).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            if request_signature:
                self.send_header(HEADER, sign_answer(key, request_signature, body))
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
            assert isinstance(self.server, BoundedServer)
            self.server.deadlines.forget(self.connection)  # the request is in; the action may take long
            signature = self.headers.get(HEADER, "")
            try:
                request = verifier.verify(body, signature, "POST", self.path)
            except ControlError as exc:
                logger.warning("control request refused: %s", exc)
                self._answer(403, {"ok": False, "error": str(exc)})
                return
            key = verifier.signer(body, signature) or keys.sign
            if request["action"] in LEASE_ACTIONS:  # answered at once, never behind a switchover step
                self._answer(200, lease_desk.handle(request["action"], request["args"]), signature, key)
                return
            try:
                answer = control.handle(request["action"], request["args"])
            except Exception as exc:  # noqa: BLE001 - every failure goes back to the caller, named
                logger.warning("control %s failed: %s", request["action"], exc)
                answer = {"ok": False, "error": str(exc)}
            self._answer(200, answer, signature, key)

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
                self.send_header(HEADER, sign_status(keys.sign, nonce, body))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            logger.debug(format, *args)

    return BoundedServer(("", port), Handler, server_tls(settings))


def serve(settings: Settings) -> None:
    assert settings.postgres is not None
    control = NodeControl(settings.postgres, settings.common.status_port)
    server = make_server(settings, control, settings.common.status_port)
    logger.info("status agent listening on port %d", settings.common.status_port)
    server.serve_forever()
