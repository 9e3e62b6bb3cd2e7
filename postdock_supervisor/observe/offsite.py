"""What the barman role knows of its off-site copy: two small records beside the backups, one kept by
the offsite keeper (base backups), one by the WAL hook (segments), so neither overwrites the other."""

from pathlib import Path

from postdock_supervisor import files
from postdock_supervisor.config.barman import BarmanSettings
from postdock_supervisor.model.offsite import OffsiteRecord, OffsiteState


def backup_record_path(bm: BarmanSettings) -> Path:
    return Path(bm.backup_dir) / ".postdock-offsite-backup.json"


def wal_record_path(bm: BarmanSettings) -> Path:
    return Path(bm.backup_dir) / ".postdock-offsite-wal.json"


def read_state(bm: BarmanSettings) -> OffsiteState:
    backup, wal = files.read_json_object(backup_record_path(bm)), files.read_json_object(wal_record_path(bm))
    missing = wal.get("missing")
    pairs = [(str(m[0]), float(m[1])) for m in missing if _is_pair(m)] if isinstance(missing, list) else []
    copied_at = backup.get("copied_at", 0.0)
    return OffsiteState(
        backup=OffsiteRecord.from_json(backup.get("last")),
        copied_backup=str(backup.get("copied", "")),
        copied_at=float(copied_at) if isinstance(copied_at, int | float) else 0.0,
        wal=OffsiteRecord.from_json(wal.get("last")),
        wal_missing=tuple(pairs),
    )


def _is_pair(raw: object) -> bool:
    return isinstance(raw, list) and len(raw) == 2 and isinstance(raw[1], int | float)
