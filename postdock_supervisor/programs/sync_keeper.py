"""[eventlistener:sync_keeper] events=TICK_5. Keep the primary's synchronous standby set equal to
what the consistency mode asks for, and its synchronized_standby_slots equal to the streaming
first-level standbys' slots."""

import logging

import psycopg
from psycopg import sql

from postdock_supervisor import db, healing
from postdock_supervisor.config import PostgresSettings, Settings
from postdock_supervisor.decide.sync import SyncDecision, decide_conninfo, decide_slots, decide_sync
from postdock_supervisor.events.model import Event, TickEvent
from postdock_supervisor.observe.local import read_sync_snapshot
from postdock_supervisor.programs.runner import run_events

logger = logging.getLogger(__name__)


def set_parameter(pg: PostgresSettings, name: str, value: str, expected: str) -> None:
    """ALTER SYSTEM, unless the setting changed since it was observed (repmgr may have just
    rewritten it): the next round decides again on what is there then."""
    with db.connect(port=pg.port) as conn:
        row = conn.execute("SELECT current_setting(%s)", (name,)).fetchone()
        if row is None or row[0] != expected:
            return
        conn.execute(sql.SQL("ALTER SYSTEM SET {} = {}").format(sql.Identifier(name), sql.Literal(value)))
        conn.execute("SELECT pg_reload_conf()")


def keep(pg: PostgresSettings) -> SyncDecision | None:
    """Observe, decide, act once; the synchronous-set decision, or None when the server does not answer."""
    try:
        snap = read_sync_snapshot(pg)
    except psycopg.Error as exc:
        logger.debug("no sync snapshot: %s", exc)
        return None
    decision = decide_sync(
        pg.consistency_mode, snap.is_primary, snap.standby_names, snap.members, pg.barman_synchronous
    )
    # The synchronous set first: it is what an acknowledged commit depends on.
    for parameter, observed, action, chosen in (
        ("synchronous_standby_names", snap.standby_names, "set-synchronous-standbys", decision),
        (
            "synchronized_standby_slots",
            snap.standby_slots,
            "set-standby-slots",
            decide_slots(snap.is_primary, snap.standby_slots, snap.streaming_slots),
        ),
        (
            "primary_conninfo",
            snap.primary_conninfo,
            "complete-primary-conninfo",
            decide_conninfo(
                snap.is_primary, snap.slot_sync, snap.primary_conninfo, snap.streaming_from, pg.replication_db
            ),
        ),
    ):
        if chosen.change:
            set_parameter(pg, parameter, chosen.value, expected=observed)
            logger.info("%s", chosen.reason)
            healing.record("sync_keeper", action, chosen.reason)
    return decision


def main(settings: Settings) -> None:
    pg = settings.postgres
    assert pg is not None

    def handle(event: Event) -> None:
        if isinstance(event, TickEvent):
            keep(pg)

    run_events(handle)
