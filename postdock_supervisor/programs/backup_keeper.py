"""The backup keeper (a supervisor program on ROLE=barman): every few seconds observe the nodes,
barman's receiver and backups, decide (decide/backup.py), act through barman. It also copies
barman's own log lines into the container log, and leaves its last decision in a state file."""

import json
import logging
import subprocess
import time
from dataclasses import asdict
from pathlib import Path

from postdock_supervisor import files, paths
from postdock_supervisor.act import barman as act
from postdock_supervisor.config import Settings
from postdock_supervisor.config.barman import BarmanSettings
from postdock_supervisor.decide.backup import Act, Decision, Memory, backup_failed, decide_backup
from postdock_supervisor.model.backup import BackupSnapshot
from postdock_supervisor.observe.backup import snapshot
from postdock_supervisor.programs.contract import step
from postdock_supervisor.programs.runner import run_ticks

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


def write_state(decision: Decision, own_backup: bool) -> None:
    """own_backup: a base backup the keeper started runs (its reason is no longer owed then)."""
    state = {"reason": decision.reason, "memory": asdict(decision.memory), "own_backup": own_backup,
             "time": time.time()}  # fmt: skip
    files.write_atomic(paths.BACKUP_KEEPER_STATE, json.dumps(state), 0o644)


def start_actions(bm: BarmanSettings, decision: Decision) -> subprocess.Popen[bytes] | None:
    """Every action of the decision, in order; the base backup it started, if any."""
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
        elif action is Act.RESUME_STREAM:
            assert decision.resume is not None
            act.resume_stream(bm, decision.resume)
        elif action is Act.CRON:
            act.cron()
        elif action is Act.DISCARD:
            if not act.discard(bm, decision.discard, decision.discard_why):
                logger.warning("backup %s could not be deleted: barman delete failed (see above)", decision.discard)
        elif action is Act.BACKUP:
            job = act.start_backup(decision.backup_reason, decision.incremental)
    return job


class BackupKeeper:
    """Memory between rounds: the decision's memory, the running base backup and its reason, the
    last reason logged, and where barman's log was read up to."""

    def __init__(self, bm: BarmanSettings) -> None:
        self.bm = bm
        self.memory = Memory(last_fire=time.time())
        self.job: subprocess.Popen[bytes] | None = None
        self.job_reason = ""
        self.job_host = ""  # the primary the running base backup was started on
        self.last_reason = ""
        self.last_written: tuple[str, Memory, bool] | None = None
        self.log = LogFollower(paths.BARMAN_LOG)

    def observe(self) -> BackupSnapshot:
        """barman's state, after taking in how a base backup started earlier ended."""
        if self.job is not None and self.job.poll() is not None:
            if self.job.returncode == 0:
                logger.info("base backup done (%s)", self.job_reason)
            else:
                after = backup_failed(self.memory, self.job_reason, time.time(), self.job_host)
                logger.warning("base backup failed with code %d; %s (%s)", self.job.returncode,
                               "retrying later" if after != self.memory else
                               f"its primary {self.job_host} is gone: the new one is backed up without a pause",
                               self.job_reason)  # fmt: skip
                self.memory = after
            self.job = None
        return snapshot(self.bm, self.job is not None)

    def decide(self, snap: BackupSnapshot, now: float) -> Decision:
        # Schedules are wall-clock times: the round's monotonic start is not used here.
        return decide_backup(snap, self.bm, self.memory, time.time())

    def apply(self, decision: Decision) -> None:
        own_backup = self.job is not None or Act.BACKUP in decision.actions
        if (decision.reason, decision.memory, own_backup) != self.last_written:
            # The file says what the keeper owes and waits for, not only its last reason.
            write_state(decision, own_backup)
            self.last_written = (decision.reason, decision.memory, own_backup)
        if decision.reason != self.last_reason:
            logger.info("%s", decision.reason)
            self.last_reason = decision.reason
        self.memory = decision.memory
        started_job = start_actions(self.bm, decision)
        if started_job is not None:
            self.job, self.job_reason, self.job_host = started_job, decision.backup_reason, decision.memory.host
        for line in self.log.lines():
            if worth_showing(line):
                logger.info("barman: %s", line.split("] ", 1)[-1])


def main(settings: Settings) -> None:
    assert settings.barman is not None
    keeper = BackupKeeper(settings.barman)
    run_ticks(lambda began: step(keeper, began), interval=INTERVAL, min_pause=0.5)
