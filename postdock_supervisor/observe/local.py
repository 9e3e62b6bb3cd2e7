"""Probe the local node: the data directory (pg_controldata) and the running server (SQL)."""

import logging
from pathlib import Path
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict

from postdock_supervisor import db, files, paths, proc
from postdock_supervisor.config import PostgresSettings
from postdock_supervisor.model.node import DataState, PostgresState, SyncSnapshot, parse_lsn

logger = logging.getLogger(__name__)


def parse_controldata(text: str) -> dict[str, str]:
    values: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            values[key.strip()] = value.strip()
    return values


def data_state_from(pgdata: Path, controldata: dict[str, str] | None, diverged: bool = False) -> DataState:
    has_version = (pgdata / "PG_VERSION").exists()
    has_control = (pgdata / "global" / "pg_control").exists()
    standby_signal = (pgdata / "standby.signal").exists()
    # A clone that stopped half-way: base backup files without the control file (it is sent last),
    # or a finished base backup that repmgr never turned into a standby (would start as a primary).
    partial = (has_version and not has_control) or ((pgdata / "backup_label").exists() and not standby_signal)
    if not has_control or controldata is None:
        return DataState(initialized=False, partial=partial or has_version)
    return DataState(
        initialized=has_version,
        partial=partial,
        cluster_state=controldata.get("Database cluster state", ""),
        timeline=int(controldata.get("Latest checkpoint's TimeLineID", "0") or 0),
        checkpoint_lsn=parse_lsn(controldata.get("Latest checkpoint location", "")),
        system_identifier=controldata.get("Database system identifier", ""),
        standby_signal=standby_signal,
        diverged=diverged and standby_signal,
    )


def read_data_version(pgdata: str) -> str | None:
    """The major version written in the data directory's PG_VERSION; None for a new volume."""
    try:
        return (Path(pgdata) / "PG_VERSION").read_text().strip()
    except FileNotFoundError:
        return None


def read_data_state(pgdata: str) -> DataState:
    path = Path(pgdata)
    controldata = None
    if (path / "global" / "pg_control").exists():
        done = proc.run(
            [str(paths.PG_BIN / "pg_controldata"), "-D", pgdata],
            timeout=10,
            quiet=True,
            env={"LANG": "C", "LC_ALL": "C", "PATH": "/usr/bin:/bin"},
        )
        if done.ok:
            controldata = parse_controldata(done.output)
        else:
            logger.warning("pg_controldata failed: %s", done.output.strip())
    return data_state_from(path, controldata, paths.STANDBY_DIVERGED.exists())


# A standby's LSN is the later of received and replayed WAL: what repmgr's election compares.
_STATE_SQL = """
SELECT pg_is_in_recovery(),
       (SELECT system_identifier::text FROM pg_control_system()),
       CASE WHEN pg_is_in_recovery() THEN greatest(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn())
            ELSE pg_current_wal_lsn() END::text,
       CASE WHEN pg_is_in_recovery()
            THEN coalesce((SELECT received_tli FROM pg_stat_wal_receiver),
                          (SELECT timeline_id FROM pg_control_checkpoint()))
            ELSE ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int END,
       (SELECT sender_host FROM pg_stat_wal_receiver WHERE status = 'streaming'),
       current_setting('primary_conninfo')
"""


def read_postgres_state(port: int) -> PostgresState:
    try:
        with db.connect(port=port, timeout=2) as conn:
            row = conn.execute(_STATE_SQL).fetchone()
    except psycopg.Error:
        return PostgresState(running=False)
    assert row is not None
    in_recovery, sysid, lsn, timeline, sender, primary_conninfo = row
    upstream = sender or ""
    if in_recovery and not upstream and primary_conninfo:
        try:
            upstream = conninfo_to_dict(primary_conninfo).get("host", "") or ""
        except psycopg.ProgrammingError:
            upstream = ""
    return PostgresState(
        running=True,
        in_recovery=bool(in_recovery),
        timeline=int(timeline or 0),
        lsn=parse_lsn(lsn or ""),
        upstream=str(upstream),
        streaming=bool(sender),
        system_identifier=str(sysid),
    )


def _phase_file() -> dict[str, Any]:
    return files.read_json_object(paths.BOOTSTRAP_STATE)


def read_lease_state() -> dict[str, Any]:
    """The lease keeper's last round (programs/lease_keeper.py); {} before its first."""
    return files.read_json_object(paths.LEASE_STATE)


def read_lease_left(now: float) -> float:
    """Seconds of lease this node holds at wall-clock `now`, from its keeper's last record: what the
    record said was left, minus the time since (a frozen node's record runs out while it is frozen)."""
    raw = read_lease_state()
    try:
        left, at = float(raw.get("left_s") or 0), float(raw.get("time") or 0)
    except (TypeError, ValueError):
        return 0.0
    if raw.get("held") is not False:
        return 0.0  # commits held: no lease worth the name
    return max(0.0, left - max(0.0, now - at))


def read_bootstrap_state() -> tuple[str, str]:
    raw = _phase_file()
    return str(raw.get("phase", "starting")), str(raw.get("reason", ""))


def read_crashed_at() -> float | None:
    """When postgres crashed on this primary (monotonic clock), if the pending start follows that crash."""
    raw = _phase_file()
    value = raw.get("crashed_at") if raw.get("phase") == "restarting" else None
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def repmgr_hosts(pg: PostgresSettings) -> list[str]:
    """Hosts of every node registered in repmgr's metadata (read on the local server)."""
    try:
        with db.connect(
            host="127.0.0.1",
            port=pg.port,
            user=pg.replication_user,
            dbname=pg.replication_db,
            password=pg.replication_password.reveal(),
            timeout=pg.connect_timeout,
        ) as conn:
            rows = conn.execute("SELECT conninfo FROM repmgr.nodes ORDER BY node_id").fetchall()
    except psycopg.Error:
        return []
    hosts = []
    for (conninfo,) in rows:
        host = conninfo_to_dict(conninfo).get("host")
        if host:
            hosts.append(str(host))
    return hosts


def read_sync_snapshot(pg: PostgresSettings) -> SyncSnapshot:
    """The primary's synchronous set and standby slots, and the first-level standbys in repmgr."""
    with db.connect(port=pg.port, dbname=pg.replication_db) as conn:
        in_recovery, current, slots, primary_conninfo, slot_sync, streaming_from = conn.execute(
            "SELECT pg_is_in_recovery(), current_setting('synchronous_standby_names'),"
            " current_setting('synchronized_standby_slots'), current_setting('primary_conninfo'),"
            " current_setting('sync_replication_slots') = 'on',"
            " (SELECT sender_host FROM pg_stat_wal_receiver WHERE status = 'streaming')"
        ).fetchone() or (True, "", "", "", False, None)
        rows = conn.execute("SELECT node_name, conninfo FROM repmgr.nodes WHERE type = 'standby' AND active").fetchall()
        members = [
            name
            for name, conninfo in rows
            if conninfo_to_dict(conninfo).get("host") in pg.partner_nodes
            and conninfo_to_dict(conninfo).get("host") != pg.network_name
        ]
        streaming = conn.execute(
            "SELECT s.slot_name FROM pg_replication_slots AS s JOIN pg_stat_replication AS r ON r.pid = s.active_pid"
            " WHERE s.slot_type = 'physical' AND r.state = 'streaming' AND r.application_name = ANY(%s)",
            (members,),
        ).fetchall()
        since = conn.execute(
            "SELECT application_name, extract(epoch FROM backend_start)"
            " FROM pg_stat_replication WHERE state = 'streaming'"
        ).fetchall()
    return SyncSnapshot(
        not in_recovery,
        str(current),
        tuple(members),
        str(slots),
        tuple(r[0] for r in streaming),
        primary_conninfo=str(primary_conninfo),
        streaming_from=str(streaming_from or ""),
        slot_sync=bool(slot_sync),
        streaming_since=tuple((str(name), float(at)) for name, at in since),
    )


def read_upstream_last_seen(pg: PostgresSettings) -> int | None:
    """Seconds since repmgrd on this standby last saw its upstream; None when unknown."""
    try:
        with db.connect(port=pg.port, dbname=pg.replication_db) as conn:
            row = conn.execute("SELECT repmgr.get_upstream_last_seen()").fetchone()
    except psycopg.Error:
        return None
    seen = None if row is None or row[0] is None else int(row[0])
    return seen if seen is not None and seen >= 0 else None


def read_recorded_primary(pg: PostgresSettings) -> str:
    """The node repmgr's metadata here names primary ('' when unknown): on a standby just elected,
    the old primary."""
    try:
        with db.connect(port=pg.port, dbname=pg.replication_db) as conn:
            query = "SELECT node_name FROM repmgr.nodes WHERE type = 'primary' AND active LIMIT 1"
            row = conn.execute(query).fetchone()
    except psycopg.Error:
        return ""
    return str(row[0]) if row is not None else ""


def read_primary_last_alive(pg: PostgresSettings, now: float) -> float | None:
    """On a standby: when its primary was last known alive (wall clock), a lower bound: the later of
    its last replayed commit and repmgrd's last check (whole seconds, so one more)."""
    try:
        with db.connect(port=pg.port, dbname=pg.replication_db) as conn:
            row = conn.execute(
                "SELECT extract(epoch FROM pg_last_xact_replay_timestamp()), repmgr.get_upstream_last_seen()"
            ).fetchone()
    except psycopg.Error:
        return None
    if row is None:
        return None
    replayed = float(row[0]) if row[0] is not None else None
    seen = now - (int(row[1]) + 1) if row[1] is not None and int(row[1]) >= 0 else None
    known = [t for t in (replayed, seen) if t is not None]
    return min(max(known), now) if known else None
