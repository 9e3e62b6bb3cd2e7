"""Asking the agents of the cluster for lease grants, approvals and releases (signed control
requests, in parallel, each bounded by a short timeout), and holding or releasing this primary's
commits through synchronous_standby_names."""

import logging
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor, wait

import psycopg
from psycopg import sql

from postdock_supervisor import control, db
from postdock_supervisor.config import PostgresSettings

logger = logging.getLogger(__name__)

# A name no standby has: a primary whose synchronous_standby_names is this waits before
# acknowledging any commit, and lets it through the moment the setting changes back.
HOLD_NAME = "postdock_lease_hold"
# Serialises the two writers of synchronous_standby_names (this and the sync keeper).
SYNC_LOCK = 0x504F5354  # "POST"


def _post(host: str, port: int, key: str, action: str, node: str, epoch: str, timeout: float) -> tuple[bool, str]:
    try:
        answer = control.post(host, port, key, action, {"node": node, "epoch": epoch}, timeout)
    except control.ControlError as exc:
        return False, str(exc)
    if not isinstance(answer, dict):
        return False, "malformed answer"
    return bool(answer.get("ok")), str(answer.get("reason") or answer.get("error") or "")


class Asker:
    """Asks many agents at once and returns within the timeout whatever happens: a name lookup is not
    bounded by the connect timeout, so an answer still pending counts as none, and no second request
    to that host starts until the first ends."""

    def __init__(self, port: int, key: str, timeout: float) -> None:
        self.port = port
        self.key = key
        self.timeout = timeout
        self._pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="lease")
        self._running: dict[str, Future[tuple[bool, str]]] = {}

    def ask(self, action: str, node: str, hosts: Iterable[str], epoch: str = "") -> dict[str, tuple[bool, str]]:
        """host -> (ok, reason) for the hosts that answered in time."""
        round_ = {}
        for host in hosts:
            earlier = self._running.get(host)
            if earlier is not None and not earlier.done():
                continue
            future = self._pool.submit(_post, host, self.port, self.key, action, node, epoch, self.timeout)
            round_[host] = self._running[host] = future
        if round_:
            wait(round_.values(), timeout=self.timeout + 0.1)
        return {h: f.result() for h, f in round_.items() if f.done() and not f.exception()}


def set_standby_names(pg: PostgresSettings, value: str) -> None:
    """ALTER SYSTEM synchronous_standby_names and reload, under the lock the sync keeper takes too."""
    with db.connect(port=pg.port, timeout=2) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (SYNC_LOCK,))
        try:
            conn.execute(sql.SQL("ALTER SYSTEM SET synchronous_standby_names = {}").format(sql.Literal(value)))
            conn.execute("SELECT pg_reload_conf()")
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (SYNC_LOCK,))


def current_standby_names(pg: PostgresSettings) -> str | None:
    try:
        with db.connect(port=pg.port, timeout=2) as conn:
            row = conn.execute("SELECT current_setting('synchronous_standby_names')").fetchone()
    except psycopg.Error:
        return None
    return None if row is None else str(row[0])
