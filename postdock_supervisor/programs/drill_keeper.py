"""The drill keeper (a supervisor program on ROLE=barman): every half minute, observe barman's
catalogue, archive and disk, decide whether a restore drill is due (decide/drill.py), and run it
(act/drill.py). A drill blocks this program only: one at a time by construction."""

import logging
import shutil
import time
from pathlib import Path

from postdock_supervisor.act import drill as act
from postdock_supervisor.config import Settings
from postdock_supervisor.config.barman import BarmanSettings
from postdock_supervisor.decide.drill import DrillAct, DrillDecision, DrillMemory, decide_drill, gap_reason
from postdock_supervisor.model.backup import BackupInfo
from postdock_supervisor.model.drill import DrillRecord, DrillSnapshot
from postdock_supervisor.observe.backup import backup_locked, backups, restore_gap, wal_archive
from postdock_supervisor.observe.drill import read_records
from postdock_supervisor.observe.offsite import read_state
from postdock_supervisor.programs.contract import step
from postdock_supervisor.programs.runner import run_ticks

logger = logging.getLogger(__name__)

INTERVAL = 30.0


def observe(bm: BarmanSettings) -> DrillSnapshot:
    done = [b for b in backups(bm) if b.status == "DONE"]
    newest = done[-1] if done else None
    names, histories = wal_archive(bm)
    timeline = max([*histories, newest.timeline if newest else 0])
    try:
        free = shutil.disk_usage(Path(bm.backup_dir)).free
    except OSError:
        free = 0
    last, _ = read_records(bm)
    return DrillSnapshot(newest, backup_locked(bm), free, timeline, last, restore_gap(newest, names, histories))


def drill_now(bm: BarmanSettings, trigger: str, backup_id: str = "") -> DrillRecord:
    """A drill whatever is due (`postdock backup drill`), recorded: of the newest DONE backup, or of
    `backup_id` (an older one proves the archive across every timeline switch since)."""
    done = [b for b in backups(bm) if b.status == "DONE"]
    chosen = [b for b in done if b.backup_id == backup_id] if backup_id else done[-1:]
    if not chosen:
        raise act.DrillBusy(f"barman holds no DONE backup {backup_id}" if backup_id else
                            "barman holds no DONE backup to restore yet")  # fmt: skip
    backup = chosen[0]
    names, histories = wal_archive(bm)
    gap = restore_gap(backup, names, histories)
    if gap:
        record = act.refused(backup.backup_id, trigger, gap_reason(backup.backup_id, gap), time.time())
        act.write_record(bm, record)
        return record
    record = act.run_drill(bm, backup, max([*histories, backup.timeline]), trigger)
    act.write_record(bm, record)
    return record


def offsite_drill(bm: BarmanSettings) -> DrillRecord:
    """A drill of the newest backup in the object store, with the WAL there (`postdock backup drill
    --from-cloud`); not recorded: the records are the local drills'."""
    if not bm.cloud_url:
        raise act.DrillBusy("CLOUD_BACKUP_URL is empty: there is no off-site copy to restore")
    copied = read_state(bm).copied_backup
    if not copied:
        raise act.DrillBusy("no backup has been copied to the object store yet")
    known = [b for b in backups(bm) if b.backup_id == copied]
    return act.run_drill(bm, known[0] if known else BackupInfo(copied, "DONE"), 0, "off-site, asked for by hand",
                         from_cloud=True)  # fmt: skip


class DrillKeeper:
    def __init__(self, bm: BarmanSettings) -> None:
        self.bm = bm
        self.memory = DrillMemory(last_fire=time.time())
        self.last_reason = ""

    def observe(self) -> DrillSnapshot:
        return observe(self.bm)

    def decide(self, snap: DrillSnapshot, now: float) -> DrillDecision:
        # DRILL_SCHEDULE is wall-clock time.
        return decide_drill(snap, self.bm.drill_schedule, self.memory, time.time())

    def apply(self, decision: DrillDecision) -> None:
        self.memory = decision.memory
        if decision.reason != self.last_reason:
            logger.info("%s", decision.reason)
            self.last_reason = decision.reason
        if decision.act is DrillAct.REFUSE:
            act.write_record(self.bm, act.refused(decision.backup_id, decision.trigger, decision.reason, time.time()))
        elif decision.act is DrillAct.RUN and decision.backup is not None:
            try:
                record = act.run_drill(self.bm, decision.backup, decision.timeline, decision.trigger)
            except act.DrillBusy as exc:
                logger.info("%s: the keeper's drill waits", exc)
                return
            act.write_record(self.bm, record)
            log = logger.info if record.ok else logger.warning
            steps = ", ".join(f"{name} {seconds:.1f}s" for name, seconds in record.step_seconds())
            log("restore drill %s in %.1fs (%s): %s", "passed" if record.ok else "FAILED", record.seconds, steps,
                record.reason)  # fmt: skip


def main(settings: Settings) -> None:
    assert settings.barman is not None
    keeper = DrillKeeper(settings.barman)
    run_ticks(lambda began: step(keeper, began), interval=INTERVAL, min_pause=1.0)
