"""Snapshots for the exporter: what the local postgres says about replication, read in one go."""

from dataclasses import dataclass

from postdock_supervisor import db
from postdock_supervisor.config import PostgresSettings


@dataclass(frozen=True)
class StandbyLag:
    name: str  # application_name: repmgr's node name
    state: str
    sync_state: str
    lag_bytes: int
    lag_seconds: float


@dataclass(frozen=True)
class Slot:
    name: str
    active: bool
    retained_bytes: int


@dataclass(frozen=True)
class ReplicationSnapshot:
    up: bool
    in_recovery: bool = False
    timeline: int = 0
    standbys: tuple[StandbyLag, ...] = ()
    slots: tuple[Slot, ...] = ()
    receiver_streaming: bool = False  # standby: its WAL receiver streams from an upstream


_STATE = """
SELECT pg_is_in_recovery(),
       COALESCE((SELECT received_tli FROM pg_stat_wal_receiver),
                (SELECT timeline_id FROM pg_control_checkpoint())),
       COALESCE((SELECT status = 'streaming' FROM pg_stat_wal_receiver), false)
"""
_STANDBYS = """
SELECT application_name, state, sync_state,
       COALESCE(pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn), 0)::bigint,
       COALESCE(EXTRACT(EPOCH FROM replay_lag), 0)::float8
FROM pg_stat_replication
"""
_SLOTS = """
SELECT slot_name, active,
       COALESCE(pg_wal_lsn_diff(CASE WHEN pg_is_in_recovery() THEN pg_last_wal_receive_lsn()
                                     ELSE pg_current_wal_lsn() END, restart_lsn), 0)::bigint
FROM pg_replication_slots
"""


def replication_snapshot(pg: PostgresSettings) -> ReplicationSnapshot:
    """Raises psycopg.Error when postgres does not answer (the caller reports it as down)."""
    with db.connect(port=pg.port) as conn:
        row = conn.execute(_STATE).fetchone()
        assert row is not None
        in_recovery, timeline = bool(row[0]), int(row[1] or 0)
        standbys = () if in_recovery else tuple(StandbyLag(*r) for r in conn.execute(_STANDBYS).fetchall())
        slots = tuple(Slot(*r) for r in conn.execute(_SLOTS).fetchall())
    return ReplicationSnapshot(True, in_recovery, timeline, standbys, slots, bool(row[2]))
