"""The backup keeper (a supervisor program on ROLE=barman): every few seconds observe the nodes,
barman's receiver and backups, decide (decide/backup.py), act through barman. It also copies
barman's own log lines into the container log, and leaves its last decision in a state file."""

import json
import logging
import subprocess
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from postdock_supervisor import files, paths
from postdock_supervisor.act import barman as act
from postdock_supervisor.config.barman import BarmanSettings
from postdock_supervisor.decide.backup import Act, Decision, Memory, backup_failed, decide_backup
from postdock_supervisor.observe.backup import snapshot

logger = logging.getLogger(__name__)

INTERVAL = 5.0


# barman's INFO lines worth a place in the container log; its WARNING and ERROR lines always are,
# except the failed checks of `barman check` runs (health and the barman_check_is_ok metric say those).
_KEPT_INFO = ("barman.command_wrappers", "barman.backup", "barman.retention_policies", "replication slot")


def worth_showing(line: str) -> bool:
    if "] barman.server ERROR: Check '" in line:
        return False
    if any(f" {level}: " in line for level in ("WARNING", "ERROR", "CRITICAL")):
        return True
    return " INFO: " in line and any(word in line for word in _KEPT_INFO)


class LogFollower:
    """New lines of barman's log file, from where it ended when the keeper started."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = path.stat().st_size if path.exists() else 0

    def lines(self) -> list[str]:
        try:
            with self.path.open("rb") as handle:
                size = handle.seek(0, 2)
                if size < self.offset:  # rotated or truncated
                    self.offset = 0
                handle.seek(self.offset)
                data = handle.read(size - self.offset)
        except OSError:
            return []
        complete = data.rfind(b"\n") + 1
        self.offset += complete
        return data[:complete].decode(errors="replace").splitlines()


def write_state(decision: Decision) -> None:
    state = {"reason": decision.reason, "memory": asdict(decision.memory), "time": time.time()}
    files.write_atomic(paths.BACKUP_KEEPER_STATE, json.dumps(state), 0o644)


def read_state() -> dict[str, Any]:
    try:
        state = json.loads(paths.BACKUP_KEEPER_STATE.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return state if isinstance(state, dict) else {}


def apply(bm: BarmanSettings, decision: Decision) -> subprocess.Popen[bytes] | None:
    job = None
    for action in decision.actions:
        if action is Act.POINT_AT:
            act.point_at(bm, decision.host)
        elif action is Act.STOP_RECEIVER:
            act.stop_receiver(bm)
        elif action is Act.DROP_SLOT:
            act.drop_slot(bm)
        elif action is Act.RESET_RECEIVER:
            act.reset_receiver(bm)
        elif action is Act.CRON:
            act.cron()
        elif action is Act.BACKUP:
            job = act.start_backup(decision.backup_reason, decision.incremental)
    return job


def run(bm: BarmanSettings) -> None:
    memory = Memory(last_fire=time.time())
    job: subprocess.Popen[bytes] | None = None
    log = LogFollower(paths.BARMAN_LOG)
    last_reason = job_reason = ""
    while True:
        started = time.monotonic()
        if job is not None and job.poll() is not None:
            if job.returncode == 0:
                logger.info("base backup done (%s)", job_reason)
            else:
                logger.warning("base backup failed with code %d; retrying later (%s)", job.returncode, job_reason)
                memory = backup_failed(memory, job_reason, time.time())
            job = None
        decision = decide_backup(snapshot(bm, job is not None), bm, memory, time.time())
        if decision.reason != last_reason:
            logger.info("%s", decision.reason)
            last_reason = decision.reason
            write_state(decision)
        memory = decision.memory
        started_job = apply(bm, decision)
        if started_job is not None:
            job, job_reason = started_job, decision.backup_reason
        for line in log.lines():
            if worth_showing(line):
                logger.info("barman: %s", line.split("] ", 1)[-1])
        time.sleep(max(0.5, INTERVAL - (time.monotonic() - started)))
