"""Snapshots for ROLE=barman: which node is the writable primary, barman's slot there, the WAL
receiver process, and the base backups on disk."""

import ast
import gzip
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import psycopg

from postdock_supervisor import db, proc
from postdock_supervisor.config.barman import RECEIVER_NAME, BarmanSettings
from postdock_supervisor.model.backup import BackupInfo, BackupSnapshot, History, NodeProbe, Receiver
from postdock_supervisor.model.wal import WalContinuity, continuity, parse_history

logger = logging.getLogger(__name__)


_PRIMARY_SQL = """
SELECT s.wal_status, s.active, current_setting('synchronous_standby_names'),
       pg_wal_lsn_diff(pg_current_wal_lsn(), s.restart_lsn)::bigint
  FROM (SELECT 1) AS one
  LEFT JOIN pg_replication_slots AS s ON s.slot_name = %s
"""


def probe_node(bm: BarmanSettings, host: str) -> NodeProbe:
    try:
        # deadline: a node frozen between the connect and the query must not hold the keeper's round.
        with db.connect(host=host, port=bm.port, user=bm.replication_user, timeout=2, deadline=2.0) as conn:
            row = conn.execute(
                "SELECT pg_is_in_recovery(), (SELECT timeline_id FROM pg_control_checkpoint())"
            ).fetchone()
            assert row is not None
            if row[0]:
                return NodeProbe(host, True, False, int(row[1]))
            slot = conn.execute(_PRIMARY_SQL, (bm.slot_name,)).fetchone()
            assert slot is not None
    except psycopg.Error as exc:
        logger.debug("%s does not answer: %s", host, exc)
        return NodeProbe(host, False)
    return NodeProbe(
        host,
        True,
        True,
        int(row[1]),
        slot=str(slot[0] or "") if slot[1] is not None else "",
        slot_active=bool(slot[1]),
        wants_sync=RECEIVER_NAME in str(slot[2] or ""),
        behind_bytes=None if slot[3] is None else max(0, int(slot[3])),
    )


def probe_nodes(bm: BarmanSettings) -> tuple[NodeProbe, ...]:
    with ThreadPoolExecutor(max_workers=len(bm.hosts)) as pool:
        return tuple(pool.map(lambda host: probe_node(bm, host), bm.hosts))


def receiver(bm: BarmanSettings, proc_dir: Path = Path("/proc")) -> Receiver:
    """The pg_receivewal barman started for this server's slot, if any."""
    for entry in proc_dir.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        words = [a.decode(errors="replace") for a in argv if a]
        if not words or os.path.basename(words[0]) != "pg_receivewal":
            continue
        if f"--slot={bm.slot_name}" not in words and bm.slot_name not in words:
            continue
        return Receiver(True, "--synchronous" in words)
    return Receiver(False)


def _info_value(raw: str) -> str:
    return raw.strip().strip("'\"")


def backup_id_of(path: Path) -> str:
    """The id a backup.info stands for: meta/<id>-backup.info (barman 3.12+), base/<id>/backup.info."""
    return path.name.removesuffix("-backup.info") if path.name.endswith("-backup.info") else path.parent.name


def read_backup_info(path: Path) -> BackupInfo | None:
    """One barman backup.info (key=value lines; times as ISO text)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return None
    values = dict(line.split("=", 1) for line in text.splitlines() if "=" in line)

    def stamp(key: str) -> float:
        raw = _info_value(values.get(key, ""))
        try:
            return datetime.fromisoformat(raw).timestamp() if raw and raw != "None" else 0.0
        except ValueError:
            return 0.0

    def number(key: str) -> int:
        raw = _info_value(values.get(key, ""))
        return int(raw) if raw.isdigit() else 0

    try:
        stats = ast.literal_eval(values.get("copy_stats", "").strip() or "None") or {}
    except (ValueError, SyntaxError):
        stats = {}
    if not isinstance(stats, dict):
        stats = {}
    return BackupInfo(
        copy_seconds=float(stats.get("copy_time", 0.0) or 0.0),
        total_seconds=float(stats.get("total_time", 0.0) or 0.0),
        end_lsn=_info_value(values.get("end_xlog", "")).replace("None", ""),
        end_wal=_info_value(values.get("end_wal", "")).replace("None", ""),
        backup_id=_info_value(values.get("backup_id", "")) or backup_id_of(path),
        status=_info_value(values.get("status", "UNKNOWN")),
        begin_time=stamp("begin_time"),
        end_time=stamp("end_time"),
        size=number("size"),
        timeline=number("timeline"),
        parent_backup_id=_info_value(values.get("parent_backup_id", "")).replace("None", ""),
        begin_wal=_info_value(values.get("begin_wal", "")).replace("None", ""),
    )


def backups(bm: BarmanSettings) -> tuple[BackupInfo, ...]:
    """Oldest first (barman's ids are timestamps)."""
    return backups_in(Path(bm.backup_dir) / bm.server)


def backups_in(server: Path) -> tuple[BackupInfo, ...]:
    # barman 3.12 and later keep every backup.info in meta/ as <id>-backup.info; older ones kept
    # it in the backup's own directory. Ids are timestamps, so names sort oldest first.
    infos = sorted(server.glob("meta/*-backup.info")) or sorted(server.glob("base/*/backup.info"))
    found = (read_backup_info(path) for path in infos)
    return tuple(_with_end_partial(server, b) for b in found if b is not None)


def _with_end_partial(server: Path, backup: BackupInfo) -> BackupInfo:
    """A waiting backup's end segment archived only as .partial: the timeline ended inside it."""
    if backup.status != "WAITING_FOR_WALS" or len(backup.end_wal) != 24:
        return backup
    folder = server / "wals" / backup.end_wal[:16]
    partial = (folder / f"{backup.end_wal}.partial").exists() and not (folder / backup.end_wal).exists()
    return replace(backup, end_partial=partial)


def backup_locked(bm: BarmanSettings, locks: Path = Path("/proc/locks")) -> bool:
    """Whether some `barman backup` of this server runs (the keeper's, one by hand, `postdock
    recover`'s): barman holds a flock on .<server>-backup.lock in barman_home while it copies.
    Read from the kernel's lock table, so looking never takes the lock from a starting backup."""
    try:
        st = (Path(bm.backup_dir) / f".{bm.server}-backup.lock").stat()
        table = locks.read_text()
    except OSError:
        return False
    # /proc/locks: "1: FLOCK  ADVISORY  WRITE 123 00:2f:4567 0 EOF" (device in hex, inode in decimal)
    wanted = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    return any(len(f := line.split()) > 5 and f[1] == "FLOCK" and f[5] == wanted for line in table.splitlines())


def timeline_history(bm: BarmanSettings, host: str) -> History | None:
    """The node's current timeline and its history, over a replication connection as barman's own
    stream sees them (pg_control_checkpoint() lags behind a promotion until its first checkpoint)."""
    try:
        with db.connect(host=host, port=bm.port, user=bm.replication_user, timeout=2, deadline=2.0,
                        replication=True) as conn:  # fmt: skip
            identified = conn.execute("IDENTIFY_SYSTEM").fetchone()
            assert identified is not None
            timeline = int(identified[1])
            if timeline == 1:
                return History(1, ())
            row = conn.execute(f"TIMELINE_HISTORY {timeline}").fetchone()
            assert row is not None
    except psycopg.Error as exc:
        logger.debug("no timeline history from %s: %s", host, exc)
        return None
    content = row[1]
    text = bytes(content).decode(errors="replace") if isinstance(content, bytes | memoryview) else str(content)
    return History(timeline, tuple(parse_history(text)))


def streaming_files(bm: BarmanSettings) -> tuple[str, ...]:
    return _names(Path(bm.backup_dir) / bm.server / "streaming")


def diverged_files(bm: BarmanSettings) -> tuple[str, ...]:
    """WAL of abandoned branches the keeper moved aside (act/barman.py resume_stream)."""
    return _names(Path(bm.backup_dir) / bm.server / "diverged")


def _names(folder: Path) -> tuple[str, ...]:
    try:
        return tuple(sorted(p.name for p in folder.iterdir()))
    except OSError:
        return ()


def snapshot(bm: BarmanSettings, own_backup_running: bool) -> BackupSnapshot:
    running = own_backup_running or backup_locked(bm)
    nodes, stream = probe_nodes(bm), receiver(bm)
    writable = [n for n in nodes if n.writable]
    if stream.running or len(writable) != 1:
        return BackupSnapshot(nodes, stream, backups(bm), running)
    # Only while the stream is down: where it can resume (decide/stream.py).
    archived, _ = wal_archive(bm)
    history = timeline_history(bm, writable[0].host)
    return BackupSnapshot(nodes, stream, backups(bm), running, streaming_files(bm), tuple(archived), history)


def newest_wal_mtime(bm: BarmanSettings) -> float | None:
    """When barman last wrote WAL it received (the streaming directory's .partial grows as WAL arrives)."""
    server = Path(bm.backup_dir) / bm.server
    # The archive itself can hold many files: its index (xlog.db) changes with every archived one.
    candidates = [*(server / "streaming").glob("*"), server / "wals" / "xlog.db"]
    times = []
    for path in candidates:
        try:
            times.append(path.stat().st_mtime)
        except OSError:
            continue
    return max(times) if times else None


def wal_archive(bm: BarmanSettings) -> tuple[list[str], dict[int, str]]:
    """The file names in barman's WAL archive (segments in hash directories, .history files beside
    them) and each timeline's .history text."""
    wals = Path(bm.backup_dir) / bm.server / "wals"
    try:
        names = [path.name for path in wals.rglob("*") if path.is_file()]
        histories = {
            int(n.split(".")[0], 16): _text(wals / n)
            for n in names
            if n.endswith(".history") and len(n) == len("00000002.history")
        }
    except (OSError, ValueError, EOFError):
        return [], {}
    return names, histories


def _text(path: Path) -> str:
    """A file of the archive as text; barman compresses what it archives (compression = gzip)."""
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    return raw.decode("utf-8", errors="replace")


def wal_continuity(bm: BarmanSettings, catalogue: tuple[BackupInfo, ...]) -> WalContinuity | None:
    """The archive's continuity from the oldest DONE backup's first segment; None without one."""
    starts = [b.begin_wal for b in catalogue if b.status == "DONE" and b.begin_wal]
    if not starts:
        return None
    names, histories = wal_archive(bm)
    return continuity(starts[0], names, histories)


def check(bm: BarmanSettings, timeout: float) -> proc.Completed:
    """`barman check` for the server (seconds: never in a scrape)."""
    return proc.run(["/usr/bin/barman", "-q", "check", bm.server], timeout=timeout, quiet=True)


def restore_gap(newest: BackupInfo | None, names: list[str], histories: dict[int, str]) -> str:
    """The first WAL file a restore of `newest` to the newest timeline needs and the archive lacks:
    a segment, or a timeline's .history file; '' when nothing is missing."""
    if newest is None or not newest.begin_wal:
        return ""
    found = continuity(newest.begin_wal, names, histories)
    if found.first_missing:
        return found.first_missing
    return f"{found.missing_history[0]:08X}.history" if found.missing_history else ""
