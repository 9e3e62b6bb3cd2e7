"""Restore drills: what the drill keeper sees, and the record each drill leaves. Pure: no I/O."""

from dataclasses import MISSING, dataclass, fields
from typing import Any

from postdock_supervisor.model.backup import BackupInfo

# barman verify-backup (pg_verifybackup of a full backup against its manifest), barman recover, WAL
# replay up to promotion, the queries
STEPS = ("verify", "recover", "replay", "check")


@dataclass(frozen=True)
class DrillRecord:
    """One drill: which backup, why, how it ended, and what the restored copy held."""

    backup_id: str
    trigger: str  # why it ran: a new backup, a change of primary, DRILL_SCHEDULE, a retry, by hand
    started_at: float
    finished_at: float
    ok: bool
    reason: str  # one line: what passed, or where it failed
    timeline: int = 0  # the newest timeline in barman's archive when it started (it recovers up to it)
    verify_seconds: float = 0.0
    recover_seconds: float = 0.0
    replay_seconds: float = 0.0
    check_seconds: float = 0.0
    lsn: str = ""  # where the restored copy's WAL ended
    databases: int = 0
    tables: int = 0
    rows: int = 0

    @property
    def seconds(self) -> float:
        return self.finished_at - self.started_at

    def step_seconds(self) -> list[tuple[str, float]]:
        return [(name, float(getattr(self, f"{name}_seconds"))) for name in STEPS]

    def to_json(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_json(cls, raw: object) -> "DrillRecord | None":
        """None for anything but a whole record of the right types (a damaged file is no record)."""
        if not isinstance(raw, dict):
            return None
        values: dict[str, Any] = {}
        for f in fields(cls):
            if f.name not in raw:
                if f.default is MISSING:
                    return None
                continue
            value, kind = raw[f.name], f.type
            if kind is float and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)
            if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):  # type: ignore[arg-type]
                return None
            values[f.name] = value
        return cls(**values)


@dataclass(frozen=True)
class DrillSnapshot:
    newest: BackupInfo | None  # the newest DONE backup
    backup_running: bool
    free_bytes: int  # on the filesystem of BACKUP_DIR
    timeline: int  # the newest timeline in barman's WAL archive
    last: DrillRecord | None
    gap: str = ""  # the first WAL file (segment or .history) a restore of `newest` needs that the archive lacks
