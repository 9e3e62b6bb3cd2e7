"""What the fence keeper decides on: is this node a running primary, who are the cluster's members
(registered in repmgr), and which of them this node can reach right now."""

import socket
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass

import psycopg
from psycopg.conninfo import conninfo_to_dict

from postdock_supervisor import db
from postdock_supervisor.config import PostgresSettings
from postdock_supervisor.observe.local import read_bootstrap_state

PROBE_TIMEOUT_S = 1.0


@dataclass(frozen=True)
class FenceSnapshot:
    phase: str  # the bootstrap phase: only "done" is a settled node
    primary: bool  # postgres answers and is not in recovery
    members: tuple[str, ...]  # first-level partners registered and active in repmgr, this node excluded
    reachable: frozenset[str]  # members (or, when fenced, partners) that answered a TCP connect


def _local(pg: PostgresSettings) -> tuple[bool, tuple[str, ...]]:
    """(primary, active first-level members other than this node); (False, ()) when postgres is down."""
    try:
        with db.connect(port=pg.port, dbname=pg.replication_db, timeout=2) as conn:
            row = conn.execute("SELECT pg_is_in_recovery()").fetchone()
            in_recovery = True if row is None else bool(row[0])
            try:
                rows = conn.execute("SELECT conninfo FROM repmgr.nodes WHERE active").fetchall()
            except psycopg.Error:
                rows = []  # repmgr's schema is not there yet on a fresh primary
    except psycopg.Error:
        return False, ()
    hosts = {str(conninfo_to_dict(conninfo).get("host") or "") for (conninfo,) in rows}
    members = tuple(sorted(h for h in hosts if h in pg.partner_nodes and h != pg.network_name))
    return not in_recovery, members


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


def observe_fence(pg: PostgresSettings, prober: Prober) -> FenceSnapshot:
    phase, _ = read_bootstrap_state()
    primary, members = _local(pg)
    if phase == "fenced":
        # postgres is stopped, so repmgr's list is out of reach: every partner counts.
        members = tuple(h for h in pg.partner_nodes if h != pg.network_name)
    return FenceSnapshot(phase, primary, members, prober.reachable(members))
