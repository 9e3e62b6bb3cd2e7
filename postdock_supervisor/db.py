"""The only module that opens database connections."""

import os
import socket
import threading
from typing import Any

import psycopg
from psycopg.conninfo import make_conninfo

from postdock_supervisor import paths


class _Bounded(psycopg.Connection[Any]):
    """A connection that is cut once its deadline passes. A frozen server (a paused container, a VM
    stall) still acknowledges at the TCP level, so no keepalive, TCP user timeout or server-side
    statement timeout ever ends a query sent to it: the client waits until the server thaws. Shutting
    the socket wakes libpq, and the query raises psycopg.OperationalError."""

    _timer: threading.Timer | None = None
    _lock = threading.Lock()  # one for all: held only around a flag and a shutdown() call
    _open = True

    def start_deadline(self, seconds: float) -> None:
        self._timer = threading.Timer(seconds, self._cut)
        self._timer.daemon = True
        self._timer.start()

    def _cut(self) -> None:
        with self._lock:
            if not self._open or self.closed:
                return
            # A duplicate descriptor: shutdown() acts on the socket itself, and closing the duplicate
            # leaves libpq's descriptor alone (closing that one could let another socket reuse it).
            try:
                with socket.socket(fileno=os.dup(self.pgconn.socket)) as sock:
                    sock.shutdown(socket.SHUT_RDWR)
            except (OSError, psycopg.Error):
                pass  # already gone: nothing is waiting on it

    def close(self) -> None:
        with self._lock:
            self._open = False
        if self._timer is not None:
            self._timer.cancel()
        super().close()


LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})


def connect(
    host: str = "",
    port: int = 5432,
    user: str = "postgres",
    dbname: str = "postgres",
    password: str | None = None,
    timeout: int = 2,
    autocommit: bool = True,
    options: str | None = None,
    deadline: float | None = None,
    replication: bool = False,
) -> psycopg.Connection[Any]:
    """host '' means the local unix socket (peer authentication as the OS user). With a deadline, the
    connection is cut that many seconds after it is made (see _Bounded): for probes of other nodes,
    which may freeze between the connect and the query. replication: a physical replication connection
    (walsender commands such as IDENTIFY_SYSTEM, not SQL)."""
    conninfo = make_conninfo(
        host=host or str(paths.PG_SOCKET_DIR),
        port=port,
        user=user,
        dbname=dbname,
        connect_timeout=max(2, timeout),
        application_name="postdock",
        options=options,
        replication="true" if replication else None,
        passfile=str(paths.PGPASS),
        # Loopback never leaves the container: no TLS there, so no certificate must name 127.0.0.1 (one
        # given by the user for the node's DNS names need not; TLS=1 sets PGSSLMODE=verify-full).
        sslmode="disable" if host in LOOPBACK else None,
    )
    kwargs: dict[str, Any] = {"autocommit": autocommit}
    if password is not None:
        kwargs["password"] = password
    if deadline is None:
        return psycopg.connect(conninfo, **kwargs)
    conn = _Bounded.connect(conninfo, **kwargs)
    conn.start_deadline(deadline)
    return conn
