"""Small side effects of the barman role: barman commands as the postgres user, the server section."""

import logging
import subprocess
import sys
from pathlib import Path

from postdock_supervisor import files, paths, proc
from postdock_supervisor.config.barman import BarmanSettings
from postdock_supervisor.decide.stream import Resume
from postdock_supervisor.render.barman import server_conf

logger = logging.getLogger(__name__)

BARMAN = "/usr/bin/barman"


def barman(*args: str, timeout: float = 120, quiet: bool = False) -> proc.Completed:
    return proc.run([BARMAN, "-q", *args] if quiet else [BARMAN, *args], timeout=timeout, quiet=quiet)


def point_at(bm: BarmanSettings, host: str) -> None:
    files.write_atomic(paths.BARMAN_SERVERS / f"{bm.server}.conf", server_conf(bm, host), 0o644)


def stop_receiver(bm: BarmanSettings) -> None:
    # barman 3.4 may report "Cannot terminate process" although it stopped: the next
    # snapshot says whether it runs, so the exit code is not trusted here.
    barman("receive-wal", "--stop", bm.server, timeout=30)


def drop_slot(bm: BarmanSettings) -> None:
    barman("receive-wal", "--drop-slot", bm.server, timeout=30)


def reset_receiver(bm: BarmanSettings) -> None:
    barman("receive-wal", "--reset", bm.server, timeout=30)


def resume_stream(bm: BarmanSettings, resume: Resume) -> None:
    """Files of the abandoned branch go to <server>/diverged (kept: what the old primary alone had;
    barman's errors directory would fail `barman check`), then the empty .partial that tells
    pg_receivewal where to start. Only while receive-wal is down (the decision's condition)."""
    server = Path(bm.backup_dir) / bm.server
    streaming, diverged = server / "streaming", server / "diverged"
    for name in resume.aside:
        diverged.mkdir(mode=0o700, exist_ok=True)
        (streaming / name).replace(diverged / name)
        logger.info("moved %s (WAL past the fork) to %s", name, diverged)
    (streaming / resume.partial).touch(mode=0o600)


def discard(bm: BarmanSettings, backup_id: str, why: str) -> bool:
    """A backup that can never complete: FAILED in its backup.info (as barman marks one whose WAL is
    missing), so that barman's commands no longer trip or wait on it, then deleted."""
    server = Path(bm.backup_dir) / bm.server
    info = server / "meta" / f"{backup_id}-backup.info"
    if not info.exists():
        info = server / "base" / backup_id / "backup.info"
    try:
        lines = info.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        logger.warning("backup %s: backup.info unreadable (%s)", backup_id, exc)
        return False
    error = f"error=never complete: {' '.join(why.split())}; deleted by postdock"
    kept = [line for line in lines if not line.startswith(("status=", "error="))]
    files.write_atomic(info, "\n".join([*kept, "status=FAILED", error]) + "\n", 0o600)
    return barman("delete", bm.server, backup_id, timeout=600).ok


def cron() -> bool:
    return barman("cron", timeout=120, quiet=True).ok


def start_backup(reason: str, incremental: bool = False) -> subprocess.Popen[bytes]:
    """`postdock backup take` in the background; its output (barman's progress) goes to the log."""
    logger.info("%s backup starting: %s", "incremental" if incremental else "base", reason)
    argv = [sys.executable, "-m", "postdock_supervisor", "backup", "take"]
    return subprocess.Popen([*argv, "--incremental"] if incremental else argv, stdin=subprocess.DEVNULL)


def switch_wal(bm: BarmanSettings) -> bool:
    """Close the primary's current WAL segment and wait until barman has archived it."""
    argv = [BARMAN, "switch-wal", "--force", "--archive", "--archive-timeout", "120", bm.server]
    return proc.run(argv, timeout=180).ok


def take_backup(bm: BarmanSettings, incremental: bool = False) -> bool:
    """One base backup (incremental: only the blocks changed since the newest backup, from the
    primary's WAL summaries), then a WAL switch so the backup's last segment is complete and
    archived (on an idle cluster it would otherwise wait for the next natural switch)."""
    index = Path(bm.backup_dir) / bm.server / "wals" / "xlog.db"
    if not index.exists() or index.stat().st_size == 0:
        # barman refuses a first backup until its archive holds a WAL file ('WAL archive' check).
        switch_wal(bm)
    parent = ["--incremental", "latest"] if incremental else []
    done = proc.run([BARMAN, "backup", *parent, bm.server], timeout=24 * 3600)
    if not switch_wal(bm):
        logger.warning("switch-wal after the backup failed; the backup completes at the next WAL switch")
    return done.ok
