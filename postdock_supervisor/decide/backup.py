"""What the backup keeper does next (pure): follow the primary, keep barman's WAL stream alive
and synchronous when asked, and start base backups when due."""

import enum
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from croniter import croniter

from postdock_supervisor.config.barman import BarmanSettings
from postdock_supervisor.decide.stream import Resume, fork_resume, lsn_text
from postdock_supervisor.model.backup import BackupSnapshot

# receive-wal down this long on a reachable primary: its position is not on the primary's
# history (barman got WAL the promoted node never had, or a restore changed history).
RESET_AFTER_S = 30.0
# A failing base backup is retried, but not in a loop.
BACKUP_RETRY_S = 300.0


class Act(enum.Enum):
    POINT_AT = "point-at"  # rewrite the server section for `host`
    STOP_RECEIVER = "stop-receiver"
    DROP_SLOT = "drop-slot"
    RESET_RECEIVER = "reset-receiver"
    RESUME_STREAM = "resume-stream"  # put barman's stream on the primary's timeline at the fork (decide/stream.py)
    CRON = "cron"  # barman cron: (re)starts receive-wal, archives streamed WAL, applies retention
    BACKUP = "backup"
    DISCARD = "discard"  # mark a backup that can never complete FAILED and delete it


@dataclass(frozen=True)
class Memory:
    """What the keeper carries between rounds."""

    host: str = ""  # the node barman points at ('' before the first primary was found)
    down_since: float | None = None  # receive-wal not running since
    backup_due: str = ""  # why a base backup is owed, once the stream runs
    due_at: float = 0.0  # when it became owed: a backup begun after that (by anyone) serves it
    last_fire: float = 0.0  # the BACKUP_SCHEDULE time last served
    last_incremental: float = 0.0  # the INCREMENTAL_SCHEDULE time last served
    failed_at: float | None = None  # when the last base backup failed (retried after BACKUP_RETRY_S)


@dataclass(frozen=True)
class Decision:
    actions: tuple[Act, ...]
    reason: str
    memory: Memory
    host: str = ""
    backup_reason: str = ""
    incremental: bool = False
    discard: str = ""  # the backup id Act.DISCARD removes
    discard_why: str = ""  # why it can never complete (its backup.info's error says so)
    resume: Resume | None = None  # where Act.RESUME_STREAM puts the stream


def next_fire(schedule: str, after: float) -> float:
    start = datetime.fromtimestamp(after, tz=UTC).astimezone()
    return float(croniter(schedule, start).get_next(float))


@dataclass(frozen=True)
class Due:
    """A base backup to start now: why, and whether it is incremental (else full)."""

    why: str
    incremental: bool = False


def owe(memory: Memory, why: str, now: float) -> Memory:
    """A base backup is owed from now on (an older debt keeps its reason and time)."""
    if memory.backup_due:
        return memory
    return replace(memory, backup_due=why, due_at=now)


def _fired(schedule: str, last: float, now: float) -> bool:
    return bool(schedule) and next_fire(schedule, last) <= now


def _backup(snap: BackupSnapshot, bm: BarmanSettings, memory: Memory, timeline: int, now: float) -> tuple[Due, Memory]:
    """Which base backup should start now (why '' = none), and the memory after that choice."""
    if snap.backup_running:
        # Ours, or one taken by hand or by `postdock recover`: barman runs one at a time, and a
        # second one would fail on its lock. What is owed stays owed.
        return Due(""), memory
    if memory.backup_due and any(b.begin_time >= memory.due_at for b in snap.done):
        memory = replace(memory, backup_due="", due_at=0.0, failed_at=None)
    # The schedules count from the keeper's start; missed times are not caught up.
    if not memory.last_fire:
        memory = replace(memory, last_fire=now)
    if not memory.last_incremental:
        memory = replace(memory, last_incremental=now)
    scheduled = _fired(bm.schedule, memory.last_fire, now)
    if scheduled:
        memory = replace(memory, last_fire=now)
    incremental = _fired(bm.incremental_schedule, memory.last_incremental, now)
    if incremental:
        memory = replace(memory, last_incremental=now)
    if memory.failed_at is not None and now - memory.failed_at < BACKUP_RETRY_S and not (scheduled or incremental):
        return Due(""), memory
    if not snap.done and not any(b.status in ("STARTED", "WAITING_FOR_WALS") for b in snap.backups):
        due = Due("no base backup yet")
    elif memory.backup_due:
        due = Due(memory.backup_due)
    elif scheduled:
        due = Due(f"scheduled ({bm.schedule})")
    elif incremental:
        newest = snap.done[-1] if snap.done else None
        if newest is not None and newest.timeline == timeline:
            due = Due(f"incremental, scheduled ({bm.incremental_schedule}), on top of {newest.backup_id}", True)
        else:
            found = f"timeline {newest.timeline}" if newest else "none yet"
            due = Due(f"incremental due, but the newest backup is {found} and the primary on {timeline}: a full one")
    else:
        return Due(""), memory
    return due, replace(memory, backup_due="", due_at=0.0, failed_at=None)


def backup_failed(memory: Memory, reason: str, now: float, started_on: str = "") -> Memory:
    """A base backup ended in failure: owe it again, after a pause. One started on a primary that is
    gone since (it died under the backup) delays nothing: the move already owes a backup of the new one."""
    if started_on and started_on != memory.host:
        return memory
    return replace(owe(memory, f"retry: {reason}", now), failed_at=now)


def _resume_reason(resume: Resume, host: str) -> str:
    held, start = resume.held, resume.start
    if resume.fork is None:
        return (f"barman's stream would restart at {resume.stopped.name} (a stale marker) but its archive already "
                f"reaches {held.name}, on {host}'s history: resuming there")  # fmt: skip
    where = "at" if resume.at_fork else "past"
    moved = f"; {len(resume.aside)} file(s) of the abandoned branch moved aside" if resume.aside else ""
    return (f"barman's stream stopped on timeline {held.timeline} {where} {lsn_text(resume.fork)}, where "
            f"{host}'s history leaves it: resuming on timeline {start.timeline} at {start.name}, "
            f"so that the archive has no hole{moved}")  # fmt: skip


def decide_backup(snap: BackupSnapshot, bm: BarmanSettings, memory: Memory, now: float) -> Decision:
    broken = [b for b in snap.backups if b.stranded]
    if broken and not snap.backup_running:
        # barman can never restore it as DONE, and while it waits, later backups wait behind it (and a
        # cut-short one stops barman from listing anything).
        return Decision(
            (Act.DISCARD,),
            f"backup {broken[0].backup_id} will never complete: {broken[0].stranded}; marking it FAILED and "
            "deleting it, so that barman checks the backups after it and its catalogue again",
            owe(memory, f"replacing backup {broken[0].backup_id}, which could not complete", now),
            discard=broken[0].backup_id,
            discard_why=broken[0].stranded,
        )
    writable = snap.writable
    if not writable:
        hosts = ",".join(n.host for n in snap.nodes)
        return Decision((Act.CRON,), f"no writable primary among {hosts}: waiting", memory)
    if len(writable) > 1:
        names = ", ".join(n.host for n in writable)
        return Decision((Act.CRON,), f"several writable nodes ({names}): not switching until one remains", memory)
    primary = writable[0]
    if primary.host != memory.host:
        moved = replace(memory, host=primary.host, down_since=None)
        if memory.host:
            reason = f"the primary is now {primary.host} (was {memory.host}): re-pointing barman's stream and backups"
            # A new debt on a new timeline: a failure against the old primary neither names nor delays it.
            fresh = replace(moved, backup_due="", due_at=0.0, failed_at=None)
            moved = owe(fresh, f"first backup after the primary moved to {primary.host}", now)
        else:
            reason = f"the primary is {primary.host}: streaming and backing up from it"
        return Decision((Act.POINT_AT, Act.STOP_RECEIVER, Act.CRON), reason, moved, host=primary.host)
    if primary.slot == "lost":
        lost = owe(replace(memory, down_since=None), f"slot {bm.slot_name} was lost on {primary.host}", now)
        return Decision(
            (Act.STOP_RECEIVER, Act.DROP_SLOT, Act.RESET_RECEIVER, Act.CRON),
            f"slot {bm.slot_name} on {primary.host} lost WAL barman had not received (max_slot_wal_keep_size): "
            "recreating it; the archive has a gap until the next base backup, taken now",
            lost,
        )
    receiver = snap.receiver
    if receiver.running and receiver.synchronous != primary.wants_sync:
        how = "synchronous" if primary.wants_sync else "asynchronous"
        return Decision(
            (Act.STOP_RECEIVER, Act.CRON),
            f"{primary.host} wants barman's receiver {how}, it runs otherwise: restarting it",
            memory,
        )
    if not receiver.running and not primary.slot_active:
        since = memory.down_since if memory.down_since is not None else now
        resume = fork_resume(snap.streaming, snap.archived, snap.history)
        if resume is not None:
            return Decision((Act.RESUME_STREAM, Act.CRON), _resume_reason(resume, primary.host),
                            replace(memory, down_since=since), resume=resume)  # fmt: skip
        if now - since >= RESET_AFTER_S:
            reset = owe(replace(memory, down_since=None), f"receive-wal reset on {primary.host}", now)
            return Decision(
                (Act.RESET_RECEIVER, Act.CRON),
                f"receive-wal has not run for {now - since:.0f}s although {primary.host} answers: "
                "resetting it to the primary's current WAL file",
                reset,
            )
        memory = replace(memory, down_since=since)
    elif memory.down_since is not None:
        memory = replace(memory, down_since=None)
    owed, memory = _backup(snap, bm, memory, primary.timeline, now)
    if owed.why and receiver.running:
        kind = "an incremental" if owed.incremental else "a base"
        return Decision(
            (Act.CRON, Act.BACKUP),
            f"starting {kind} backup: {owed.why}",
            memory,
            backup_reason=owed.why,
            incremental=owed.incremental,
        )
    if owed.why and not owed.incremental:
        # The stream must run first: a backup needs its WAL.
        memory = owe(memory, owed.why, now)
    return Decision((Act.CRON,), f"streaming from {primary.host}", memory)
