"""Keep the primary's synchronous standby set equal to what the consistency mode asks for."""

import logging

import psycopg
from psycopg import sql

from postdock_supervisor import db, healing
from postdock_supervisor.config import PostgresSettings
from postdock_supervisor.decide.sync import SyncDecision, decide_sync
from postdock_supervisor.observe.local import read_sync_snapshot

logger = logging.getLogger(__name__)


def set_standby_names(pg: PostgresSettings, value: str) -> None:
    with db.connect(port=pg.port) as conn:
        conn.execute(sql.SQL("ALTER SYSTEM SET synchronous_standby_names = {}").format(sql.Literal(value)))
        conn.execute("SELECT pg_reload_conf()")


def keep(pg: PostgresSettings) -> SyncDecision | None:
    """Observe, decide, act once; None when the local server does not answer."""
    try:
        is_primary, current, members = read_sync_snapshot(pg)
    except psycopg.Error as exc:
        logger.debug("no sync snapshot: %s", exc)
        return None
    decision = decide_sync(pg.consistency_mode, is_primary, current, members, pg.barman_synchronous)
    if decision.change:
        set_standby_names(pg, decision.value)
        logger.info("%s", decision.reason)
        healing.record("sync_keeper", "set-synchronous-standbys", decision.reason)
    return decision
