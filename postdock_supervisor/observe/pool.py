"""Snapshots for the pgpool role: pgpool's view of its backends, and what each backend says."""

import json
import logging
import os
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict

from postdock_supervisor import db, paths, proc
from postdock_supervisor.config import Backend, PgpoolSettings
from postdock_supervisor.model.pool import BackendProbe, PoolNode, PoolSnapshot
from postdock_supervisor.observe.peers import postgres_state

logger = logging.getLogger(__name__)

# A query on a connection already made ends within this: a backend (or pgpool waiting on one) that
# froze after the connect would otherwise hold the keeper's whole round until it thaws.
QUERY_DEADLINE_S = 2.0


def pool_nodes(pool: PgpoolSettings) -> tuple[PoolNode, ...]:
    """pgpool's own view, through pgpool itself (local socket, scram as CHECK_USER)."""
    with db.connect(
        host=str(paths.PG_SOCKET_DIR),
        port=paths.PGPOOL_PORT,
        user=pool.check_user,
        password=pool.check_password.reveal(),
        timeout=2,  # libpq's least: a session waiting for a frozen primary costs no more than that
        deadline=QUERY_DEADLINE_S,
    ) as conn:
        cursor = conn.execute("SHOW pool_nodes")
        names = [column.name for column in cursor.description or ()]
        rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    return tuple(
        PoolNode(int(r["node_id"]), str(r["hostname"]), str(r["status"]), str(r["role"]), int(r.get("select_cnt") or 0))
        for r in rows
    )


def pool_nodes_pcp(pool: PgpoolSettings) -> tuple[PoolNode, ...] | None:
    """pgpool's view through PCP (pcp_node_info -a), which answers when SQL does not: with every
    backend down pgpool refuses sessions ("all backend nodes are down"), and only PCP can see that
    and attach them again. None when PCP does not answer either."""
    done = proc.run(
        ["/usr/sbin/pcp_node_info", "-h", "localhost", "-p", str(paths.PCP_PORT), "-U", pool.pcp_user, "-w", "-a"],
        timeout=15,
        env={**os.environ, "PCPPASSFILE": str(paths.PCPPASS)},
        quiet=True,
    )
    if not done.ok:
        return None
    by_address = {(b.host, b.port): b.num for b in pool.backends}
    nodes = []
    for line in done.output.splitlines():
        # host port status weight status_name actual_status role ...
        fields = line.split()
        if len(fields) >= 7 and fields[1].isdigit() and (fields[0], int(fields[1])) in by_address:
            nodes.append(PoolNode(by_address[(fields[0], int(fields[1]))], fields[0], fields[4], fields[6]))
    return tuple(sorted(nodes, key=lambda n: n.num))


def pool_nodes_or_none(pool: PgpoolSettings) -> tuple[PoolNode, ...] | None:
    """pgpool's view, or None when pgpool does not answer SQL (starting, or no primary found yet)."""
    try:
        return pool_nodes(pool)
    except psycopg.Error:
        return None


_PROBE = """
SELECT pg_is_in_recovery(),
       (SELECT status = 'streaming' FROM pg_stat_wal_receiver),
       (SELECT conninfo FROM pg_stat_wal_receiver),
       ARRAY(SELECT application_name FROM pg_stat_replication
             WHERE state = 'streaming' AND sync_state IN ('sync', 'quorum'))
"""


QUICK_S = 1.0  # a frozen backend is given up after this, not after libpq's 2 s connect timeout


def probe(pool: PgpoolSettings, backend: Backend) -> BackendProbe:
    num = backend.num
    state = postgres_state(backend.host, backend.port, QUICK_S)
    if state != "answers":
        logger.debug("backend %d (%s) does not answer the protocol within %ss (%s)", num, backend.host, QUICK_S, state)
        return BackendProbe(num, answers=False, stalled=state == "silent")
    try:
        with db.connect(
            host=backend.host,
            port=backend.port,
            user=pool.check_user,
            password=pool.check_password.reveal(),
            timeout=2,
            deadline=QUERY_DEADLINE_S,  # it may freeze between the connect and the query
        ) as conn:
            row = conn.execute(_PROBE).fetchone()
    except psycopg.Error as exc:
        logger.debug("backend %d (%s) does not answer: %s", num, backend.host, exc)
        return BackendProbe(num, answers=False)
    assert row is not None
    in_recovery, streaming, conninfo, sync_names = row
    app = conninfo_to_dict(conninfo).get("application_name", "") if conninfo else ""
    return BackendProbe(num, True, bool(in_recovery), bool(streaming), str(app or ""), frozenset(sync_names or ()))


SILENT_WAIT_S = 0.1  # how long a round waits for a backend that did not answer the round before


class Prober:
    """pgpool's view and every backend's own answer, asked at the same time, round after round.

    pgpool no longer checks its backends' health itself, so these probes are what notices a dead
    standby or a new primary, and a round's length is how late pgpool follows a promotion. Two things
    would make a round wait for a frozen node: its probe (QUICK_S), and pgpool's own SQL view, whose
    session waits for a frozen primary until its connect timeout (a round took 5 s while one was
    paused). So a backend silent in the last round is waited for only SILENT_WAIT_S: its probe goes
    on in the background and counts as silent until it answers; and while the node pgpool holds as
    primary is silent, pgpool's view comes from PCP, which answers then (asked only then: each PCP
    call is three lines in pgpool's log)."""

    def __init__(self, pool: PgpoolSettings) -> None:
        self.pool = pool
        self.workers = ThreadPoolExecutor(max_workers=2 * len(pool.backends))
        self.pending: dict[int, Future[BackendProbe]] = {}
        self.silent: set[int] = set()
        self.last: dict[int, BackendProbe] = {}  # each backend's last finished probe
        self.primary: int | None = None  # the backend pgpool held as primary in the last view

    def _probe(self, backend: Backend) -> Future[BackendProbe]:
        running = self.pending.get(backend.num)
        if running is None:
            running = self.pending[backend.num] = self.workers.submit(probe, self.pool, backend)
        return running

    def _answer(self, num: int, future: Future[BackendProbe]) -> BackendProbe:
        try:
            found = future.result(timeout=SILENT_WAIT_S if num in self.silent else None)
        except FutureTimeout:  # still waiting for it: silent, as last time
            return self.last.get(num, BackendProbe(num, answers=False))
        del self.pending[num]
        (self.silent.discard if found.answers else self.silent.add)(num)
        self.last[num] = found
        return found

    def _view(self) -> tuple[PoolNode, ...]:
        if self.primary is None or self.primary not in self.silent:
            try:
                return pool_nodes(self.pool)
            except psycopg.Error:
                pass
        found = pool_nodes_pcp(self.pool)
        if not found:
            raise psycopg.OperationalError("pgpool answers neither SQL nor PCP")
        return found

    def snapshot(self) -> PoolSnapshot:
        futures = [(b.num, self._probe(b)) for b in self.pool.backends]
        probes = tuple(self._answer(num, future) for num, future in futures)
        nodes = self._view()
        self.primary = next((n.num for n in nodes if n.attached and n.role == "primary"), None)
        return PoolSnapshot(nodes, probes)


def read_keeper_state() -> dict[str, Any]:
    """The keeper's last decision ({} before its first)."""
    try:
        state = json.loads(paths.POOL_KEEPER_STATE.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return state if isinstance(state, dict) else {}


def read_keeper_weights() -> dict[int, float]:
    return {int(k): float(v) for k, v in read_keeper_state().get("weights", {}).items()}
