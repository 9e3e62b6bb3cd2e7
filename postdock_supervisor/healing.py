"""Healing decisions counted by program and action, for the exporter (`postdock_healing_decisions_total`).

Each program keeps its own small JSON file under /run, so two programs never write the same file;
the counts live as long as the container, like any Prometheus counter of a process."""

import json
import time
from pathlib import Path
from typing import Any

from postdock_supervisor import files, paths

PREFIX = "healing-"


def _read(path: Path) -> dict[str, Any]:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return raw if isinstance(raw, dict) else {}


def record(program: str, action: str, reason: str, now: float | None = None, directory: Path = paths.RUN) -> None:
    """Count one decision that acted (not the many that decided to do nothing)."""
    path = directory / f"{PREFIX}{program}.json"
    state = _read(path)
    counts = {str(k): int(v) for k, v in dict(state.get("counts", {})).items()}
    counts[action] = counts.get(action, 0) + 1
    last = {"action": action, "reason": reason, "time": time.time() if now is None else now}
    files.write_atomic(path, json.dumps({"counts": counts, "last": last}), 0o644)


def read_all(directory: Path = paths.RUN) -> dict[str, dict[str, Any]]:
    """program -> {"counts": {action: n}, "last": {...}} for every program that has decided something."""
    found = {}
    for path in sorted(directory.glob(f"{PREFIX}*.json")):
        state = _read(path)
        if state:
            found[path.stem[len(PREFIX) :]] = state
    return found


FAILOVER = "failover.json"


def record_failover(lost_at: float, promoted_at: float, directory: Path = paths.RUN) -> None:
    """On the promoted node: when its old primary was last seen, and when the promotion ended."""
    content = json.dumps({"lost_at": lost_at, "promoted_at": promoted_at})
    files.write_atomic(directory / FAILOVER, content, 0o644)


def read_failover(directory: Path = paths.RUN) -> tuple[float, float] | None:
    state = _read(directory / FAILOVER)
    try:
        return float(state["lost_at"]), float(state["promoted_at"])
    except (KeyError, TypeError, ValueError):
        return None
