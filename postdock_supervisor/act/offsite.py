"""The off-site copy with barman-cloud (CLOUD_BACKUP_URL), as postgres in the barman container.

Base backups: barman-cloud-backup in its hook mode (the environment barman gives a post-backup
hook: the backup's directory, id and DONE status), started by the offsite keeper rather than by
barman, so a slow or unreachable object store never holds a `barman backup` up; then
barman-cloud-backup-delete applies BACKUP_RETENTION_DAYS there. WAL: barman-cloud-wal-archive as
barman's pre-archive retry hook, bounded here: a segment the store does not take within
WAL_ATTEMPTS tries is let through (barman's own archive must not stall) and recorded as missing
off-site (a metric and an alert; the next copied backup makes the older ones moot)."""

import json
import logging
import os
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

from postdock_supervisor import files, paths, proc
from postdock_supervisor.config.barman import BarmanSettings
from postdock_supervisor.model.backup import BackupInfo
from postdock_supervisor.model.offsite import OffsiteRecord
from postdock_supervisor.observe.offsite import backup_record_path, read_state, wal_record_path

logger = logging.getLogger(__name__)

BACKUP_TIMEOUT_S = 6 * 3600.0
WAL_TIMEOUT_S = 60.0
WAL_ATTEMPTS = 3
ABORT_CONTINUE = 62  # barman's retry-hook code: stop retrying, go on with the archive


def cloud_options(bm: BarmanSettings) -> list[str]:
    endpoint = ["--endpoint-url", bm.cloud_endpoint] if bm.cloud_endpoint else []
    return ["--cloud-provider", "aws-s3", *endpoint]


def _last_line(output: str, fallback: str) -> str:
    """The last line barman-cloud wrote, without its log prefix (time, pid, level)."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    return lines[-1].split(" ERROR: ", 1)[-1] if lines else fallback


def hook_environment(bm: BarmanSettings, backup: BackupInfo) -> dict[str, str]:
    """What barman gives a post-backup retry hook, for barman-cloud-backup's hook mode."""
    server = Path(bm.backup_dir) / bm.server
    directory = server / "base" / backup.backup_id
    # barman 3.12 and later keep backup.info in meta/ (observe/backup.py reads it there too)
    info = server / "meta" / f"{backup.backup_id}-backup.info"
    return {
        "BARMAN_HOOK": "backup_script",
        "BARMAN_PHASE": "post",
        "BARMAN_RETRY": "1",
        "BARMAN_SERVER": bm.server,
        "BARMAN_CONFIGURATION": str(paths.BARMAN_CONF),
        "BARMAN_BACKUP_ID": backup.backup_id,
        "BARMAN_BACKUP_DIR": str(directory),
        "BARMAN_BACKUP_INFO_PATH": str(info if info.exists() else directory / "backup.info"),
        "BARMAN_STATUS": backup.status,
    }


def without_children(info: str) -> str:
    """backup.info as the store gets it: naming no incremental children, which the store never holds
    (only full backups are copied). barman-cloud-backup-delete 3.13 fails on every retention run
    once one copy names children (it walks them as local backups: no `walk_backups_tree`)."""
    lines = info.splitlines(keepends=True)
    return "".join("children_backup_ids=None\n" if line.startswith("children_backup_ids=") else line for line in lines)


def copy_backup(bm: BarmanSettings, backup: BackupInfo) -> OffsiteRecord:
    started = time.monotonic()
    env = {**os.environ, **hook_environment(bm, backup)}
    with tempfile.TemporaryDirectory(prefix="postdock-offsite-") as scratch:
        try:
            info = Path(env["BARMAN_BACKUP_INFO_PATH"]).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            return OffsiteRecord(False, time.time(), backup.backup_id, f"backup.info unreadable: {exc}", 0.0)
        env["BARMAN_BACKUP_INFO_PATH"] = str(Path(scratch) / "backup.info")
        Path(env["BARMAN_BACKUP_INFO_PATH"]).write_text(without_children(info), encoding="utf-8")
        done = proc.run(["barman-cloud-backup", "--gzip", *cloud_options(bm), bm.cloud_url, bm.server],
                        timeout=BACKUP_TIMEOUT_S, env=env)  # fmt: skip
    seconds = time.monotonic() - started
    if not done.ok:
        return OffsiteRecord(False, time.time(), backup.backup_id, _last_line(done.output, f"exit {done.returncode}"),
                             seconds)  # fmt: skip
    policy = f"RECOVERY WINDOW OF {bm.retention_days} DAYS"
    kept = proc.run(["barman-cloud-backup-delete", *cloud_options(bm), "--retention-policy", policy, bm.cloud_url,
                     bm.server], timeout=3600)  # fmt: skip
    if not kept.ok:
        logger.warning("retention in the object store failed (%s): older copies stay until the next backup",
                       _last_line(kept.output, f"exit {kept.returncode}"))  # fmt: skip
    return OffsiteRecord(True, time.time(), backup.backup_id, "", seconds)


def write_backup_record(bm: BarmanSettings, record: OffsiteRecord) -> None:
    before = read_state(bm)
    copied, at = (record.subject, record.at) if record.ok else (before.copied_backup, before.copied_at)
    state = {"last": record.to_json(), "copied": copied, "copied_at": at}
    files.write_atomic(backup_record_path(bm), json.dumps(state), 0o644)


def copy_wal(bm: BarmanSettings, hook_env: Mapping[str, str], segment: str) -> int:
    """One WAL segment in barman's pre-archive hook (its environment names the file): 0 once the store
    has it, ABORT_CONTINUE after WAL_ATTEMPTS failures (the segment is recorded as missing there)."""
    argv = ["barman-cloud-wal-archive", "--gzip", *cloud_options(bm), bm.cloud_url, bm.server]
    error = ""
    started = time.monotonic()
    for attempt in range(1, WAL_ATTEMPTS + 1):
        done = proc.run(argv, timeout=WAL_TIMEOUT_S, env=hook_env, quiet=True)
        if done.ok:
            _write_wal_record(bm, OffsiteRecord(True, time.time(), segment, "", time.monotonic() - started))
            return 0
        error = _last_line(done.output, f"exit {done.returncode}")
        logger.warning("copy of WAL %s to the object store failed (attempt %d): %s", segment, attempt, error)
        if attempt < WAL_ATTEMPTS:
            time.sleep(min(5.0 * attempt, 10.0))
    _write_wal_record(bm, OffsiteRecord(False, time.time(), segment, error, time.monotonic() - started))
    logger.error("WAL %s is not in the object store (%s); barman archives it locally", segment, error)
    return ABORT_CONTINUE


MISSING_KEPT = 1000  # the newest segments the store did not take, for the metric and the log


def _write_wal_record(bm: BarmanSettings, record: OffsiteRecord) -> None:
    missing = list(read_state(bm).wal_missing)
    if not record.ok:
        missing = [*missing, (record.subject, record.at)][-MISSING_KEPT:]
    state = {"last": record.to_json(), "missing": [list(pair) for pair in missing]}
    files.write_atomic(wal_record_path(bm), json.dumps(state), 0o644)
