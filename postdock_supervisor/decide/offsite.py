"""When the barman role copies a base backup to the object store (pure): the newest DONE full backup,
once, when it is not there yet; after a failed copy, again RETRY_AFTER_S later. Incremental backups
stay local (barman-cloud copies a backup directory as it is; an incremental one restores only with
its chain, which pg_combinebackup joins on the barman host)."""

import enum
from dataclasses import dataclass

from postdock_supervisor.model.backup import BackupInfo
from postdock_supervisor.model.offsite import OffsiteSnapshot

RETRY_AFTER_S = 300.0


class OffsiteAct(enum.Enum):
    NOTHING = "nothing"
    COPY = "copy-backup"


@dataclass(frozen=True)
class OffsiteDecision:
    act: OffsiteAct
    reason: str
    backup: BackupInfo | None = None


def decide_offsite(snap: OffsiteSnapshot, now: float) -> OffsiteDecision:
    """`now`: wall-clock time, as the records' times."""
    newest = snap.newest_full
    if newest is None:
        return OffsiteDecision(OffsiteAct.NOTHING, "no DONE full backup to copy off-site yet")
    if snap.state.copied_backup == newest.backup_id:
        return OffsiteDecision(OffsiteAct.NOTHING, f"backup {newest.backup_id} is in the object store")
    last = snap.state.backup
    if last is not None and not last.ok and last.subject == newest.backup_id and now - last.at < RETRY_AFTER_S:
        # One reason for the whole wait (the keeper logs a reason when it changes).
        return OffsiteDecision(
            OffsiteAct.NOTHING,
            f"copy of backup {newest.backup_id} failed ({last.error}): retried {RETRY_AFTER_S:.0f}s after the failure",
        )
    return OffsiteDecision(OffsiteAct.COPY, f"backup {newest.backup_id} is not in the object store: copying it", newest)
