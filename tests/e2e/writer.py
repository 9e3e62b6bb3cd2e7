"""A client writing one row every 100 ms through a libpq multi-host connection string
(target_session_attrs=read-write), remembering which writes were acknowledged and when."""

import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import psycopg

from tests.e2e.harness import APP


@dataclass
class Write:
    id: int
    at: float
    host: str = ""  # the address of the node that acknowledged it


@dataclass
class Writer:
    hosts: Callable[[], list[str]]  # asked again at every reconnect: a restarted node may get a new address
    table: str = "acked"
    # "any" for pgpool: it routes writes itself, and a balanced SHOW may land on a standby.
    session_attrs: str = "read-write"
    interval: float = 0.1
    port: int = 5432  # a swarm's pgpool is reached on the port it publishes
    # Seconds a write may take before the writer gives it up and reconnects; None waits (the e2e
    # scenarios watch what a stalled commit does after a thaw). A frozen server's kernel still
    # answers TCP, keepalives included, so without a deadline a write to it waits for the thaw.
    deadline: float | None = None
    acked: list[Write] = field(default_factory=list)
    errors: list[tuple[float, str]] = field(default_factory=list)  # when, and the error's first line
    _stop: threading.Event = field(default_factory=threading.Event)
    _hold: threading.Event = field(default_factory=threading.Event)
    _idle: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def _connect(self) -> psycopg.Connection[object]:
        return psycopg.connect(
            host=",".join(self.hosts()),
            port=self.port,
            target_session_attrs=self.session_attrs,
            connect_timeout=2,
            tcp_user_timeout=1000,
            keepalives=1,
            keepalives_idle=1,
            keepalives_interval=1,
            keepalives_count=2,
            autocommit=True,
            **APP,
        )

    def _run(self) -> None:
        conn: psycopg.Connection[object] | None = None
        n = 0
        while not self._stop.is_set():
            if self._hold.is_set():
                self._idle.set()  # no write in flight
                self._stop.wait(0.01)
                continue
            n += 1
            try:
                if conn is None:
                    conn = self._connect()
                self._insert(conn, n)
                self.acked.append(Write(n, time.monotonic(), conn.info.host))
            except (psycopg.Error, AssertionError) as exc:
                self.errors.append((time.monotonic(), str(exc).strip().split("\n")[0]))
                if conn is not None:
                    conn.close()
                conn = None
            self._stop.wait(self.interval)  # pacing of the load, not a wait for a condition
        if conn is not None:
            conn.close()

    def _insert(self, conn: psycopg.Connection[object], n: int) -> None:
        timer = None if self.deadline is None else threading.Timer(self.deadline, _abandon, (conn.pgconn.socket,))
        if timer is not None:
            timer.start()
        try:
            conn.execute(f"INSERT INTO {self.table} (id) VALUES (%s)", (n,))
        finally:
            if timer is not None:
                timer.cancel()

    def start(self) -> "Writer":
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def hold(self) -> None:
        """Stop writing; returns once no write is in flight."""
        self._idle.clear()
        self._hold.set()
        if not self._idle.wait(timeout=30):
            raise AssertionError("the writer did not pause within 30 s")

    def resume(self) -> None:
        self._hold.clear()

    def acked_after(self, moment: float) -> int:
        return sum(1 for w in self.acked if w.at > moment)

    def ids(self) -> set[int]:
        return {w.id for w in self.acked}


def _abandon(fd: int) -> None:
    """Shut the connection's socket down under the waiting write: it fails at once (an error, never
    counted as acknowledged) and the writer reconnects. A cancel request would wait on the frozen
    server too."""
    try:
        with socket.socket(fileno=os.dup(fd)) as sock:
            sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # the write ended meanwhile and the connection is gone
