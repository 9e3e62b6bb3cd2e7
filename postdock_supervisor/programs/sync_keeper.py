"""[eventlistener:sync_keeper] events=TICK_5. Keep the primary's synchronous standby set equal to
what the consistency mode asks for, and its synchronized_standby_slots equal to the streaming
first-level standbys' slots; after a failover, stamp the flight record's rejoin (the old primary's WAL
sender start, so the 5 s tick does not blur it)."""

import logging
import time
from dataclasses import dataclass, replace

import psycopg
from psycopg import sql

from postdock_supervisor import db, healing
from postdock_supervisor.act import lease
from postdock_supervisor.config import PostgresSettings, Settings
from postdock_supervisor.decide.sync import SyncDecision, decide_conninfo, decide_slots, decide_sync
from postdock_supervisor.events.model import TickEvent
from postdock_supervisor.model.failover import FailoverRecord, summary
from postdock_supervisor.model.node import SyncSnapshot
from postdock_supervisor.observe.local import read_sync_snapshot
from postdock_supervisor.programs.contract import step
from postdock_supervisor.programs.runner import run_events

logger = logging.getLogger(__name__)


def set_parameter(pg: PostgresSettings, name: str, value: str, expected: str) -> None:
    """ALTER SYSTEM, unless the setting changed since it was observed (repmgr may have just
    rewritten it): the next round decides again on what is there then."""
    with db.connect(port=pg.port) as conn:
        # The lease keeper writes synchronous_standby_names too (a hold): one writer at a time.
        conn.execute("SELECT pg_advisory_lock(%s)", (lease.SYNC_LOCK,))
        try:
            row = conn.execute("SELECT current_setting(%s)", (name,)).fetchone()
            if row is None or row[0] != expected:
                return
            conn.execute(sql.SQL("ALTER SYSTEM SET {} = {}").format(sql.Identifier(name), sql.Literal(value)))
            conn.execute("SELECT pg_reload_conf()")
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (lease.SYNC_LOCK,))


@dataclass(frozen=True)
class Change:
    parameter: str
    observed: str  # its value when observed: it is not written over a newer one
    action: str  # the name counted in the healing metrics
    decision: SyncDecision


@dataclass(frozen=True)
class SyncRound:
    synchronous: SyncDecision | None  # None when the server did not answer
    changes: tuple[Change, ...] = ()
    rejoined: FailoverRecord | None = None  # the flight record, once its old primary streams here again


class SyncKeeper:
    def __init__(self, pg: PostgresSettings) -> None:
        self.pg = pg

    def observe(self) -> SyncSnapshot | None:
        try:
            return replace(read_sync_snapshot(self.pg), failover=healing.read_failover())
        except psycopg.Error as exc:
            logger.debug("no sync snapshot: %s", exc)
            return None

    def decide(self, snap: SyncSnapshot | None, now: float) -> SyncRound:
        if snap is None:
            return SyncRound(None)
        pg = self.pg
        if pg.uses_lease and snap.standby_names == lease.HOLD_NAME:
            # Commits are held for want of a lease: the lease keeper puts the set back.
            sync = SyncDecision(False, snap.standby_names, "every commit held by the lease keeper")
        else:
            sync = decide_sync(
                pg.consistency_mode, snap.is_primary, snap.standby_names, snap.members, pg.barman_synchronous
            )
        slots = decide_slots(snap.is_primary, snap.standby_slots, snap.streaming_slots)
        conninfo = decide_conninfo(
            snap.is_primary, snap.slot_sync, snap.primary_conninfo, snap.streaming_from, pg.replication_db
        )
        # The synchronous set first: it is what an acknowledged commit depends on.
        candidates = (
            Change("synchronous_standby_names", snap.standby_names, "set-synchronous-standbys", sync),
            Change("synchronized_standby_slots", snap.standby_slots, "set-standby-slots", slots),
            Change("primary_conninfo", snap.primary_conninfo, "complete-primary-conninfo", conninfo),
        )
        record = snap.failover
        rejoined = None
        if record is not None and snap.is_primary:
            stamped = record.with_rejoined(dict(snap.streaming_since).get(record.old_primary))
            rejoined = stamped if stamped != record else None
        return SyncRound(sync, tuple(c for c in candidates if c.decision.change), rejoined)

    def apply(self, decision: SyncRound) -> None:
        for change in decision.changes:
            set_parameter(self.pg, change.parameter, change.decision.value, expected=change.observed)
            logger.info("%s", change.decision.reason)
            healing.record("sync_keeper", change.action, change.decision.reason)
        if decision.rejoined is not None:
            # Its own file: the promotion writes the record itself (one writer per file).
            healing.record_rejoined(decision.rejoined.rejoined_at)
            logger.info("%s", summary(decision.rejoined))


def keep(pg: PostgresSettings) -> SyncDecision | None:
    """Observe, decide, act once; the synchronous-set decision, or None when the server does not answer."""
    return step(SyncKeeper(pg), time.monotonic()).synchronous


def main(settings: Settings) -> None:
    assert settings.postgres is not None
    keeper = SyncKeeper(settings.postgres)
    run_events(lambda event: step(keeper, time.monotonic()) if isinstance(event, TickEvent) else None)
