"""What the fence keeper decides on: is this node a running primary, who are the cluster's members
(registered in repmgr), and which of them this node can reach right now."""

import socket
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Any, TypeVar

import psycopg
from psycopg.conninfo import conninfo_to_dict

from postdock_supervisor import db
from postdock_supervisor.config import PostgresSettings
from postdock_supervisor.model.fence import FenceSnapshot
from postdock_supervisor.observe.local import read_bootstrap_state

PROBE_TIMEOUT_S = 1.0
T = TypeVar("T")


class LocalReader:
    """Whether this node is a running primary, and its active first-level members, over one kept
    connection: the keeper asks twice a second, and a new backend for each round is wasted work."""

    def __init__(self, pg: PostgresSettings) -> None:
        self.pg = pg
        self._conn: psycopg.Connection[Any] | None = None

    def _query(self, conn: psycopg.Connection[Any]) -> tuple[bool, tuple[str, ...]]:
        row = conn.execute("SELECT pg_is_in_recovery()").fetchone()
        in_recovery = True if row is None else bool(row[0])
        try:
            rows = conn.execute("SELECT conninfo FROM repmgr.nodes WHERE active").fetchall()
        except psycopg.Error:
            rows = []  # repmgr's schema is not there yet on a fresh primary
        hosts = {str(conninfo_to_dict(conninfo).get("host") or "") for (conninfo,) in rows}
        members = tuple(sorted(h for h in hosts if h in self.pg.partner_nodes and h != self.pg.network_name))
        return not in_recovery, members

    def _kept(self, query: Callable[[psycopg.Connection[Any]], T], down: T) -> T:
        for _ in range(2):  # the kept connection may have ended with a restart: one fresh try
            try:
                if self._conn is None or self._conn.closed:
                    self._conn = db.connect(port=self.pg.port, dbname=self.pg.replication_db, timeout=2)
                return query(self._conn)
            except psycopg.Error:
                if self._conn is not None:
                    self._conn.close()
                self._conn = None
        return down

    def read(self) -> tuple[bool, tuple[str, ...]]:
        """(primary, members); (False, ()) when postgres is down."""
        down: tuple[bool, tuple[str, ...]] = (False, ())
        return self._kept(self._query, down)

    def setting(self, name: str) -> str | None:
        """A setting's current value over the same kept connection; None when postgres is down."""

        def query(conn: psycopg.Connection[Any]) -> str | None:
            row = conn.execute("SELECT current_setting(%s)", (name,)).fetchone()
            return None if row is None else str(row[0])

        return self._kept(query, None)


def answers(host: str, ports: Iterable[int], timeout: float = PROBE_TIMEOUT_S) -> bool:
    """A TCP connect to any of the ports: the network path works (the programs may be busy)."""
    for port in ports:
        try:
            with socket.create_connection((host, port), timeout=timeout):
                return True
        except OSError:
            continue
    return False


class Prober:
    """Probes hosts in parallel and answers within the timeout, whatever happens: a name lookup is
    not bounded by the connect timeout (resolv.conf may retry for 10 s), so a probe still running
    counts as unreachable and no second probe of that host starts until it ends."""

    def __init__(self, ports: tuple[int, ...], timeout: float = PROBE_TIMEOUT_S) -> None:
        self.ports = ports
        self.timeout = timeout
        self._pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="probe")
        self._running: dict[str, Future[bool]] = {}

    def reachable(self, hosts: Iterable[str]) -> frozenset[str]:
        round_ = {}
        for host in hosts:
            earlier = self._running.get(host)
            if earlier is not None and not earlier.done():
                continue
            round_[host] = self._running[host] = self._pool.submit(answers, host, self.ports, self.timeout)
        if round_:
            wait(round_.values(), timeout=self.timeout + 0.2)
        return frozenset(h for h, f in round_.items() if f.done() and not f.exception() and f.result())


def observe_fence(pg: PostgresSettings, local: LocalReader, prober: Prober) -> FenceSnapshot:
    phase, _ = read_bootstrap_state()
    primary, members = local.read()
    if phase == "fenced":
        # postgres is stopped, so repmgr's list is out of reach: every partner counts.
        members = tuple(h for h in pg.partner_nodes if h != pg.network_name)
    return FenceSnapshot(phase, primary, members, prober.reachable(members))
