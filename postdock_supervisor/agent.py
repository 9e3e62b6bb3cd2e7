"""The node's status agent: partners and `postdock status` read /status (JSON, no secrets)."""

import json
import logging
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from postdock_supervisor.config import Settings
from postdock_supervisor.observe.node import local_report

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


def serve(settings: Settings) -> None:
    cache = _Cache(settings)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            if self.path.split("?")[0] != "/status":
                self.send_error(404)
                return
            body = cache.body()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            logger.debug(format, *args)

    server = ThreadingHTTPServer(("", settings.common.status_port), Handler)
    server.daemon_threads = True
    logger.info("status agent listening on port %d", settings.common.status_port)
    server.serve_forever()
