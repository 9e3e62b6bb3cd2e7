"""One restore drill in the barman container (as postgres): `barman recover` of a backup into a
scratch directory under BACKUP_DIR, a throwaway postgres on it (a unix socket only, no network, no
archiving, no replication), the end of recovery awaited, every table of every database read; the
copy is removed whatever happened. Records are kept beside the backups, so a restart of the
container does not forget the last drill."""

import contextlib
import fcntl
import json
import logging
import shlex
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from postdock_supervisor import db, files, paths, proc
from postdock_supervisor.act import offsite
from postdock_supervisor.act.barman import BARMAN
from postdock_supervisor.config.barman import BarmanSettings
from postdock_supervisor.model.backup import BackupInfo
from postdock_supervisor.model.drill import DrillRecord
from postdock_supervisor.observe.drill import read_records, record_path

logger = logging.getLogger(__name__)

RECOVER_TIMEOUT_S = 24 * 3600.0
REPLAY_TIMEOUT_S = 3600.0
PORT = 5432  # names the socket file only: the copy listens on no TCP address
# Settings given on the command line win over the restored postgresql.auto.conf (the node's ALTER
# SYSTEM values: synchronous standbys, the lease's hold, its upstream).
OVERRIDES = {
    "listen_addresses": "",
    "port": str(PORT),
    "archive_mode": "off",
    "synchronous_standby_names": "",
    "primary_conninfo": "",
    "hot_standby": "off",  # nothing reads it before recovery ends; no parameter checks against the primary's
    "shared_preload_libraries": "",
    "shared_buffers": "32MB",
    "max_connections": "20",
    "max_wal_senders": "0",
    "max_replication_slots": "0",
    "sync_replication_slots": "off",
    "logging_collector": "off",
}
# Tables, materialized views; partitioned parents are read through their partitions.
_TABLES = """
SELECT n.nspname, c.relname FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace
 WHERE c.relkind IN ('r', 'm') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
   AND n.nspname NOT LIKE 'pg_toast%' ORDER BY 1, 2
"""


class DrillBusy(Exception):
    """Another drill runs (the keeper's, or one asked for by hand)."""


def scratch(bm: BarmanSettings) -> Path:
    return Path(bm.backup_dir) / "drill"


def write_record(bm: BarmanSettings, record: DrillRecord) -> None:
    _, success = read_records(bm)
    kept = record if record.ok else success
    state = {"last": record.to_json(), "last_success": kept.to_json() if kept else None}
    files.write_atomic(record_path(bm), json.dumps(state), 0o644)


@contextlib.contextmanager
def one_at_a_time(bm: BarmanSettings) -> Iterator[None]:
    with open(Path(bm.backup_dir) / ".postdock-drill.lock", "a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise DrillBusy("another restore drill runs") from None
        yield


def refused(backup_id: str, trigger: str, reason: str, now: float) -> DrillRecord:
    return DrillRecord(backup_id, trigger, now, now, False, reason)


def run_drill(
    bm: BarmanSettings, backup: BackupInfo, timeline: int, trigger: str, from_cloud: bool = False
) -> DrillRecord:
    """Restore `backup` with the archived WAL up to `timeline`, start it, read it, remove it.
    from_cloud: the copy of it in the object store (CLOUD_BACKUP_URL) with the WAL there."""
    with one_at_a_time(bm):
        root = scratch(bm)
        shutil.rmtree(root, ignore_errors=True)  # a drill cut short by a restart leaves its copy
        root.mkdir(mode=0o700)
        record = DrillRecord(backup.backup_id, trigger, time.time(), 0.0, False, "", timeline)
        try:
            record = _restore_and_check(bm, backup, root, record, from_cloud)
        except Exception as exc:  # noqa: BLE001 - any failure is the drill's result, named
            record = replace(record, reason=f"{type(exc).__name__}: {exc}")
        finally:
            shutil.rmtree(root, ignore_errors=True)
        return replace(record, finished_at=time.time())


# Directories a data directory must hold even when empty. barman 3.13's restore of a combined
# incremental backup leaves the empty ones out, and postgres then stops at once ("could not open
# directory "pg_tblspc""); pg_basebackup itself always writes them.
EMPTY_DIRS = ("pg_commit_ts", "pg_dynshmem", "pg_logical/mappings", "pg_logical/snapshots", "pg_multixact/members",
              "pg_multixact/offsets", "pg_notify", "pg_replslot", "pg_serial", "pg_snapshots", "pg_stat",
              "pg_stat_tmp", "pg_subtrans", "pg_tblspc", "pg_twophase", "pg_wal/archive_status",
              "pg_wal/summaries", "pg_xact")  # fmt: skip


def complete_empty_dirs(data: Path) -> list[str]:
    """Create the empty directories a restored copy lacks; their names."""
    made = [name for name in EMPTY_DIRS if not (data / name).is_dir()]
    for name in made:
        (data / name).mkdir(mode=0o700, parents=True)
    return made


def _restore_locally(bm: BarmanSettings, backup: BackupInfo, root: Path, timeline: int) -> proc.Completed:
    # Without --target-tli barman restores the WAL of the backup's own timeline only.
    follow = ["--target-tli", str(timeline)] if timeline > backup.timeline else []
    # Its own staging directory: an incremental chain is combined there, and `postdock recover` running
    # meanwhile combines into the server's (BACKUP_DIR/staging); sharing it corrupts both restores.
    (root / "staging").mkdir(mode=0o700, exist_ok=True)
    staging = ["--local-staging-path", str(root / "staging")]
    argv = [BARMAN, "recover", *follow, *staging, bm.server, backup.backup_id, str(root / "data")]
    done = proc.run(argv, timeout=RECOVER_TIMEOUT_S)
    if done.ok and (made := complete_empty_dirs(root / "data")):
        logger.info("the restored copy lacked %s: made empty", ", ".join(made))
    return done


def _restore_from_cloud(bm: BarmanSettings, backup: BackupInfo, root: Path) -> tuple[proc.Completed, dict[str, str]]:
    """The object store's copy of the backup, and the settings that replay the WAL stored there
    (barman-cloud-wal-restore as restore_command, to the newest timeline, then promote)."""
    options = offsite.cloud_options(bm)
    argv = ["barman-cloud-restore", *options, bm.cloud_url, bm.server, backup.backup_id, str(root / "data")]
    done = proc.run(argv, timeout=RECOVER_TIMEOUT_S)
    if done.ok:
        (root / "data" / "recovery.signal").touch()
    fetch = shlex.join(["barman-cloud-wal-restore", *options, bm.cloud_url, bm.server]) + " %f %p"
    return done, {"restore_command": fetch, "recovery_target_timeline": "latest"}


def _restore_and_check(
    bm: BarmanSettings, backup: BackupInfo, root: Path, record: DrillRecord, from_cloud: bool
) -> DrillRecord:
    data = root / "data"
    if not from_cloud and not backup.incremental:
        # Every file against the backup's manifest (pg_verifybackup -n: the WAL is checked by the replay).
        began = time.monotonic()
        checked = proc.run([BARMAN, "verify-backup", bm.server, backup.backup_id], timeout=RECOVER_TIMEOUT_S)
        record = replace(record, verify_seconds=time.monotonic() - began)
        if not checked.ok:
            last = (checked.output.strip().splitlines() or ["no output"])[-1]
            return replace(record, reason=f"barman verify-backup failed: {last}")
    began = time.monotonic()
    if from_cloud:
        done, replay = _restore_from_cloud(bm, backup, root)
    else:
        done, replay = _restore_locally(bm, backup, root, record.timeline), {}
    record = replace(record, recover_seconds=time.monotonic() - began)
    if not done.ok:
        last = (done.output.strip().splitlines() or ["no output"])[-1]
        return replace(record, reason=f"{'barman-cloud-restore' if from_cloud else 'barman recover'} failed: {last}")
    began = time.monotonic()
    with _server(root, data, replay) as server:
        ended = _await_promotion(root, server)
        record = replace(record, replay_seconds=time.monotonic() - began)
        if ended:
            return replace(record, reason=f"the restored copy did not come up: {ended}")
        began = time.monotonic()
        counted = _read_everything(root)
        record = replace(record, check_seconds=time.monotonic() - began, **counted)
    return replace(
        record,
        ok=True,
        reason=(
            f"{'off-site ' if from_cloud else ''}backup {backup.backup_id} restored up to {record.lsn} and read: "
            f"{record.databases} databases, {record.tables} tables, {record.rows} rows"
        ),
    )


@contextlib.contextmanager
def _server(root: Path, data: Path, replay: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    empty = root / "empty.conf"
    hba = root / "hba.conf"
    empty.write_text("", encoding="utf-8")
    hba.write_text("local all all trust\n", encoding="utf-8")  # the socket is in a 0700 directory
    settings = {
        **OVERRIDES,
        "config_file": str(empty),
        "hba_file": str(hba),
        "ident_file": str(empty),
        "unix_socket_directories": str(root),
        **replay,
    }
    argv = [str(paths.PG_BIN / "postgres"), "-D", str(data)]
    for name, value in settings.items():
        argv += ["-c", f"{name}={value}"]
    with (root / "postgres.log").open("ab") as log:
        server = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
    try:
        yield server
    finally:
        server.send_signal(signal.SIGINT)  # fast shutdown: nothing of the copy is kept
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def _connect(root: Path, dbname: str = "postgres") -> psycopg.Connection[Any]:
    return db.connect(host=str(root), port=PORT, user="postgres", dbname=dbname, timeout=5)


def _await_promotion(root: Path, server: subprocess.Popen[bytes]) -> str:
    """'' once the copy has replayed its WAL and takes connections as a primary; else why not."""
    deadline = time.monotonic() + REPLAY_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            return f"postgres exited with code {server.returncode}: {_last_line(root / 'postgres.log')}"
        with contextlib.suppress(psycopg.Error), _connect(root) as conn:
            row = conn.execute("SELECT pg_is_in_recovery()").fetchone()
            if row is not None and not row[0]:
                return ""
        time.sleep(0.5)
    return f"recovery did not end within {REPLAY_TIMEOUT_S:.0f}s: {_last_line(root / 'postgres.log')}"


def _read_everything(root: Path) -> dict[str, Any]:
    """Every table of every database read to its end (a damaged page fails the query)."""
    with _connect(root) as conn:
        names = [str(r[0]) for r in conn.execute("SELECT datname FROM pg_database WHERE datallowconn ORDER BY 1")]
        lsn = conn.execute("SELECT pg_current_wal_lsn()::text").fetchone()
    tables = rows = 0
    for name in names:
        with _connect(root, name) as conn:
            for schema, table in conn.execute(_TABLES).fetchall():
                query = sql.SQL("SELECT count(*) FROM {}.{}").format(sql.Identifier(schema), sql.Identifier(table))
                counted = conn.execute(query).fetchone()
                tables += 1
                rows += int(counted[0]) if counted else 0
    return {"lsn": str(lsn[0]) if lsn else "", "databases": len(names), "tables": tables, "rows": rows}


def _last_line(path: Path) -> str:
    """The log's last FATAL or PANIC line (why postgres stopped), else its last line."""
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").strip().splitlines()
    except OSError:
        return "no log"
    telling = [line for line in lines if " FATAL: " in line or " PANIC: " in line]
    return (telling or lines or ["empty log"])[-1]
