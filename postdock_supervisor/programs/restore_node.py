"""The node's side of `postdock recover` (run over SSH by the barman container, as postgres):
hold the node still, finish a restore on the chosen node, re-clone the others.

A held node is in phase "held": the crash guard and the role check leave a node alone while its
phase is not "done", and the bootstrap program has exited, so nothing restarts what was stopped."""

import logging
import shutil
import time
from pathlib import Path

import psycopg
from psycopg import sql

from postdock_supervisor import db
from postdock_supervisor.act import node
from postdock_supervisor.act.phase import rerun_bootstrap, set_phase
from postdock_supervisor.act.supervisor import Supervisor
from postdock_supervisor.config import PostgresSettings
from postdock_supervisor.errors import ActionError
from postdock_supervisor.programs import sync_keeper as sync

logger = logging.getLogger(__name__)

# What barman's recover writes into postgresql.auto.conf: after the promotion it must go, or a
# node cloned from this one would stop replaying at the old target.
RECOVERY_SETTINGS = (
    "restore_command",
    "recovery_end_command",
    "recovery_target",
    "recovery_target_time",
    "recovery_target_lsn",
    "recovery_target_xid",
    "recovery_target_name",
    "recovery_target_inclusive",
    "recovery_target_action",
    "recovery_target_timeline",
)


def hold(pg: PostgresSettings, reason: str, wipe: bool) -> None:
    supervisor = Supervisor()
    set_phase("held", reason)
    # A start-up decision still running would promote this node once it sees no primary left.
    for program in ("bootstrap", "repmgrd", "postgres"):
        if not supervisor.stop(program):
            raise ActionError(f"supervisord could not stop {program}")
    if wipe:
        node.wipe(pg, reason)
    print(f"held: repmgrd and postgres stopped{' and data removed' if wipe else ''} ({reason})", flush=True)


def _replay_progress(pg: PostgresSettings) -> tuple[bool, str]:
    """(still in recovery, last replayed LSN and time)."""
    try:
        with db.connect(port=pg.port) as conn:
            row = conn.execute(
                "SELECT pg_is_in_recovery(), pg_last_wal_replay_lsn()::text, pg_last_xact_replay_timestamp()::text"
            ).fetchone()
    except psycopg.Error:
        raise ActionError(
            "postgres stopped during the WAL replay; its log says why (a target after the last WAL barman holds "
            "ends in 'recovery ended before configured recovery target was reached': use --latest)"
        ) from None
    assert row is not None
    return bool(row[0]), f"replayed up to {row[1] or '?'} (last commit {row[2] or '?'})"


def finish_restore(pg: PostgresSettings, timeout: float) -> None:
    """Start the restored data, wait for the promotion at the target, make it the cluster's primary."""
    supervisor = Supervisor()
    set_phase("restoring", "replaying WAL from barman up to the recovery target")
    if not supervisor.start("postgres"):
        raise ActionError("supervisord could not start postgres on the restored data")
    node.wait_ready(pg, timeout=timeout)
    deadline = time.monotonic() + timeout
    last_report = 0.0
    while True:
        in_recovery, progress = _replay_progress(pg)
        if not in_recovery:
            break
        if time.monotonic() > deadline:
            raise ActionError(f"still replaying after {timeout:.0f}s: {progress}")
        if time.monotonic() - last_report >= 5:
            print(f"replaying: {progress}", flush=True)
            last_report = time.monotonic()
        time.sleep(1)
    print("recovery target reached: promoted", flush=True)
    with db.connect(port=pg.port) as conn:
        for name in RECOVERY_SETTINGS:
            conn.execute(sql.SQL("ALTER SYSTEM RESET {}").format(sql.Identifier(name)))
        conn.execute("SELECT pg_reload_conf()")
    shutil.rmtree(Path(pg.pgdata) / "barman_wal", ignore_errors=True)
    # synchronous_commit=local: the restored synchronous_standby_names may name standbys (or barman)
    # that are not connected yet; this commit must not wait for them.
    with db.connect(port=pg.port, dbname=pg.replication_db, options="-c synchronous_commit=local") as conn:
        # The metadata is as it was at the target: the other nodes register again when they re-clone.
        conn.execute("UPDATE repmgr.nodes SET active = false WHERE node_id <> %s", (pg.node_id,))
    if not node.repmgr("primary", "register", "--force").ok:
        raise ActionError("repmgr primary register failed on the restored node")
    sync.keep(pg)
    if not supervisor.start("repmgrd"):
        raise ActionError("supervisord could not start repmgrd")
    set_phase("done", "restored from barman and promoted")
    print("restored node is the primary", flush=True)


def reclone(pg: PostgresSettings) -> None:
    """Discard this node's data and run the start-up decision again: it clones the current primary."""
    supervisor = Supervisor()
    supervisor.stop("postgres")
    node.wipe(pg, "the cluster was restored from barman")
    rerun_bootstrap(supervisor, "re-cloning after a restore from barman")
    print("re-cloning from the restored primary", flush=True)
