"""The off-site copy as the barman role sees it: what went to the object store, and when."""

from dataclasses import dataclass

from postdock_supervisor.model.backup import BackupInfo


@dataclass(frozen=True)
class OffsiteRecord:
    """The outcome of one copy to the object store: a base backup (`subject` is its id) or a WAL
    segment (its name)."""

    ok: bool
    at: float  # Unix time it ended
    subject: str
    error: str = ""
    seconds: float = 0.0

    def to_json(self) -> dict[str, object]:
        return {"ok": self.ok, "at": self.at, "subject": self.subject, "error": self.error, "seconds": self.seconds}

    @staticmethod
    def from_json(raw: object) -> "OffsiteRecord | None":
        if not isinstance(raw, dict):
            return None
        try:
            return OffsiteRecord(bool(raw["ok"]), float(raw["at"]), str(raw["subject"]), str(raw.get("error", "")),
                                 float(raw.get("seconds", 0.0)))  # fmt: skip
        except (KeyError, TypeError, ValueError):
            return None


@dataclass(frozen=True)
class OffsiteState:
    """Kept beside the backups (a restart does not forget it): the last copy of each kind, the last
    backup copied and when, and the WAL segments the object store did not take (name, when)."""

    backup: OffsiteRecord | None = None
    copied_backup: str = ""  # id of the newest backup known to be in the object store
    copied_at: float = 0.0  # when that copy ended
    wal: OffsiteRecord | None = None
    wal_missing: tuple[tuple[str, float], ...] = ()

    @property
    def missing_since_copy(self) -> int:
        """Segments missing off-site after the newest copied backup: those a restore from it needs."""
        return sum(1 for _, at in self.wal_missing if at >= self.copied_at)


@dataclass(frozen=True)
class OffsiteSnapshot:
    newest_full: BackupInfo | None  # the newest DONE full backup barman holds
    state: OffsiteState
