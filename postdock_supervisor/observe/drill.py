"""What the restore drills left: the last drill and the last successful one, kept beside the backups
(a restart of the container does not forget them)."""

import json
from pathlib import Path

from postdock_supervisor.config.barman import BarmanSettings
from postdock_supervisor.model.drill import DrillRecord


def record_path(bm: BarmanSettings) -> Path:
    return Path(bm.backup_dir) / ".postdock-drills.json"


def read_records(bm: BarmanSettings) -> tuple[DrillRecord | None, DrillRecord | None]:
    """The last drill and the last successful one."""
    try:
        raw = json.loads(record_path(bm).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None, None
    if not isinstance(raw, dict):
        return None, None
    return DrillRecord.from_json(raw.get("last")), DrillRecord.from_json(raw.get("last_success"))
