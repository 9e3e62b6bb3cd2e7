"""When the drill keeper restores the newest backup to prove it (pure).

A backup is proven only by restoring it: a drill restores the newest DONE backup with every archived
WAL segment up to the newest timeline, starts a throwaway postgres on it, waits for the end of
recovery and reads every table (act/drill.py). One drill runs at a time, after every new backup,
after every change of primary (a new timeline: the WAL across the failover must restore too), and
on DRILL_SCHEDULE; a failed one is retried after DRILL_RETRY_S, sooner for a new backup. A drill due
while the archive lacks a WAL file the backup's restore needs fails at once, naming the file."""

import enum
from dataclasses import dataclass, replace

from postdock_supervisor.decide.backup import next_fire
from postdock_supervisor.model.backup import BackupInfo
from postdock_supervisor.model.drill import DrillSnapshot

DRILL_RETRY_S = 3600.0
# Room the restored copy needs beyond the backup's size: the WAL replayed and written after it.
SPACE_FACTOR = 1.2
SPACE_MARGIN = 256 * 1024 * 1024


class DrillAct(enum.Enum):
    WAIT = "wait"
    RUN = "run"
    REFUSE = "refuse"  # due, but it cannot run (free space): recorded as a failed drill


@dataclass(frozen=True)
class DrillMemory:
    last_fire: float = 0.0  # the DRILL_SCHEDULE time last served


@dataclass(frozen=True)
class DrillDecision:
    act: DrillAct
    reason: str
    memory: DrillMemory
    backup: BackupInfo | None = None  # the backup to restore (RUN) or that could not be (REFUSE)
    timeline: int = 0  # restore the archived WAL up to this timeline
    trigger: str = ""

    @property
    def backup_id(self) -> str:
        return self.backup.backup_id if self.backup is not None else ""


def gap_reason(backup_id: str, missing: str) -> str:
    """A restore would stop early, silently (recovery ends where the WAL ends): the drill fails instead,
    naming the file, so the hole is found now and not on restore day."""
    return f"not restoring, the WAL archive lacks {missing} after backup {backup_id}: a restore would stop there"


def needed_bytes(backup_size: int) -> int:
    return int(backup_size * SPACE_FACTOR) + SPACE_MARGIN


def _trigger(snap: DrillSnapshot, schedule: str, memory: DrillMemory, now: float) -> str:
    """Why a drill is due now ('' when none is)."""
    assert snap.newest is not None
    last, newest = snap.last, snap.newest
    if last is None:
        return f"no drill yet: restoring backup {newest.backup_id}"
    if last.backup_id != newest.backup_id:
        return f"new backup {newest.backup_id}"
    if snap.timeline > last.timeline:
        return f"the primary changed (timeline {snap.timeline}; the last drill reached {last.timeline})"
    if not last.ok:
        if now - last.finished_at >= DRILL_RETRY_S:
            return f"retrying the drill that failed {now - last.finished_at:.0f}s ago"
        return ""
    if schedule and next_fire(schedule, memory.last_fire) <= now:
        return "DRILL_SCHEDULE"
    return ""


def decide_drill(snap: DrillSnapshot, schedule: str, memory: DrillMemory, now: float) -> DrillDecision:
    if snap.newest is None:
        return DrillDecision(DrillAct.WAIT, "no DONE backup to restore yet", memory)
    if snap.backup_running:
        return DrillDecision(DrillAct.WAIT, "a base backup runs: the drill waits for it", memory)
    why = _trigger(snap, schedule, memory, now)
    if not why:
        last = snap.last
        assert last is not None
        if not last.ok:
            retry = DRILL_RETRY_S - (now - last.finished_at)
            return DrillDecision(
                DrillAct.WAIT, f"the last drill failed ({last.reason}); retrying in {retry:.0f}s", memory
            )
        return DrillDecision(DrillAct.WAIT, f"backup {last.backup_id} restored and checked; nothing due", memory)
    # A scheduled time is served by any drill that starts after it.
    served = replace(memory, last_fire=now) if schedule else memory
    backup = snap.newest
    if snap.gap:
        return DrillDecision(DrillAct.REFUSE, f"{why}: {gap_reason(backup.backup_id, snap.gap)}", served, backup,
                             snap.timeline, why)  # fmt: skip
    need = needed_bytes(backup.size)
    if snap.free_bytes < need:
        mib = 1024 * 1024
        room = f"{snap.free_bytes // mib} MiB free in BACKUP_DIR and the copy needs {need // mib} MiB"
        return DrillDecision(
            DrillAct.REFUSE,
            f"{why}: not restoring, {room}",
            served,
            backup,
            snap.timeline,
            why,
        )
    run = f"{why}: restore drill of backup {backup.backup_id}"
    return DrillDecision(DrillAct.RUN, run, served, backup, snap.timeline, why)
