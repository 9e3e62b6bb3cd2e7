"""The HTTP server of the agent (STATUS_PORT) and of the exporter (EXPORTER_PORT): bounded
connections, a deadline for each whole request, and TLS with the node's own certificate.

With TLS the first byte of a connection says what the client speaks (a TLS handshake starts with
0x16, an HTTP request with a letter): HTTP_TLS=1 serves both on the one port, so nodes of an older
release and plain scrapers keep working while a cluster moves to TLS; `required` closes plain ones.
The handshake and that first read happen in the connection's own thread, under its deadline: a
client that connects and says nothing never holds up the others."""

import contextlib
import logging
import socket
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from postdock_supervisor import paths
from postdock_supervisor.config import Settings

logger = logging.getLogger(__name__)

MAX_CONNECTIONS = 32  # partners ask a few times a second each; more than this is a misbehaving client
REQUEST_DEADLINE_S = 5.0  # to send a whole request (the action it asks for may take longer)
TLS_RECORD = 0x16  # the first byte of a TLS handshake


class _Deadlines:
    """Ends connections whose request is not complete by its deadline: a socket timeout bounds each
    read, so a client sending one byte a second would otherwise hold its thread for ever."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._due: dict[socket.socket, float] = {}
        threading.Thread(target=self._reap, name="http-deadlines", daemon=True).start()

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


class ServerTls:
    """The node's certificate and key for server sockets, loaded again when they change on disk
    (tls_keeper renews them before they expire): new connections get the new one."""

    def __init__(self, cert: Path, key: Path, required: bool) -> None:
        self.cert, self.key, self.required = cert, key, required
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] = (0, 0)
        self._context: ssl.SSLContext | None = None

    def context(self) -> ssl.SSLContext:
        stamp = (self.cert.stat().st_mtime_ns, self.key.stat().st_mtime_ns)
        with self._lock:
            if self._context is None or stamp != self._stamp:
                context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
                context.minimum_version = ssl.TLSVersion.TLSv1_2
                context.load_cert_chain(self.cert, self.key)
                self._context, self._stamp = context, stamp
            return self._context


class BoundedServer(ThreadingHTTPServer):
    """At most MAX_CONNECTIONS at once (the next is closed unanswered), each with a request deadline;
    with `tls`, TLS clients are served over it (and plain ones too unless it is required)."""

    daemon_threads = True

    def __init__(
        self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], tls: ServerTls | None = None
    ) -> None:
        super().__init__(address, handler)
        self.deadlines = _Deadlines()
        self.tls = tls
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
        error = sys.exc_info()[1]
        if isinstance(error, ConnectionError):  # BrokenPipeError, ConnectionResetError...
            logger.debug("client %s hung up before its answer", client_address)
            return
        if isinstance(error, ssl.SSLError | TimeoutError):  # a failed handshake, a silent client
            logger.debug("client %s: %s", client_address, error)
            return
        super().handle_error(request, client_address)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        self.deadlines.watch(request, REQUEST_DEADLINE_S)
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.deadlines.forget(request)
            self._slots.release()

    def finish_request(self, request: Any, client_address: Any) -> None:
        if self.tls is None:
            super().finish_request(request, client_address)
            return
        request.settimeout(REQUEST_DEADLINE_S)
        first = request.recv(1, socket.MSG_PEEK)
        if not first:
            return
        if first[0] != TLS_RECORD:
            if self.tls.required:
                logger.debug("client %s: plain HTTP refused (HTTP_TLS=required)", client_address)
                return
            super().finish_request(request, client_address)
            return
        wrapped = self.tls.context().wrap_socket(request, server_side=True, do_handshake_on_connect=False)
        self.deadlines.forget(request)  # wrap_socket took over its file descriptor
        self.deadlines.watch(wrapped, REQUEST_DEADLINE_S)
        try:
            wrapped.do_handshake()
            super().finish_request(wrapped, client_address)
        finally:
            self.deadlines.forget(wrapped)
            with contextlib.suppress(OSError):
                wrapped.close()


def server_tls(settings: Settings) -> ServerTls | None:
    """The node's certificate on its HTTP ports with HTTP_TLS on (a database node or pgpool; barman has
    no certificate of its own and serves plain HTTP)."""
    mode = settings.common.http_tls
    if mode == "0" or not settings.common.tls or settings.barman is not None:
        return None
    return ServerTls(paths.TLS_CERT, paths.TLS_KEY, required=mode == "required")
