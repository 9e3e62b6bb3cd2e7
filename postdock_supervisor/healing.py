"""Healing decisions counted by program and action, for the exporter (`postdock_healing_decisions_total`).

Each program keeps its own small JSON file under /run, so two programs never write the same file;
the counts live as long as the container, like any Prometheus counter of a process."""

import json
import time
from pathlib import Path
from typing import Any

from postdock_supervisor import files, paths
from postdock_supervisor.model.failover import FailoverRecord

PREFIX = "healing-"


def record(program: str, action: str, reason: str, now: float | None = None, directory: Path | None = None) -> None:
    """Count one decision that acted (not the many that decided to do nothing)."""
    path = (directory or paths.RUN) / f"{PREFIX}{program}.json"
    state = files.read_json_object(path)
    counts = {str(k): int(v) for k, v in dict(state.get("counts", {})).items()}
    counts[action] = counts.get(action, 0) + 1
    last = {"action": action, "reason": reason, "time": time.time() if now is None else now}
    files.write_atomic(path, json.dumps({"counts": counts, "last": last}), 0o644)


def read_all(directory: Path | None = None) -> dict[str, dict[str, Any]]:
    """program -> {"counts": {action: n}, "last": {...}} for every program that has decided something."""
    found = {}
    for path in sorted((directory or paths.RUN).glob(f"{PREFIX}*.json")):
        state = files.read_json_object(path)
        if state:
            found[path.stem[len(PREFIX) :]] = state
    return found


FAILOVER = "failover.json"  # this node's last promotion by repmgrd (model/failover.py)
RELEASED = "released.json"  # the last time this node's held commits were let through
REJOINED = "rejoined.json"  # when the old primary of this node's last failover streamed here again


def write_failover(record: FailoverRecord, directory: Path | None = None) -> None:
    files.write_atomic((directory or paths.RUN) / FAILOVER, json.dumps(record.to_json()), 0o644)


def read_failover(directory: Path | None = None) -> FailoverRecord | None:
    """The last failover's record, with the moments writes came back and its old primary rejoined, once
    they did."""
    record = FailoverRecord.from_json(files.read_json_object((directory or paths.RUN) / FAILOVER))
    if record is None:
        return None
    released = _moment(directory, RELEASED)
    record = record.with_writable(released) if released is not None else record
    return record.with_rejoined(_moment(directory, REJOINED))


def record_released(at: float, directory: Path | None = None) -> None:
    """Held commits let through (the lease keeper or the promotion's own lease round)."""
    files.write_atomic((directory or paths.RUN) / RELEASED, json.dumps({"at": at}), 0o644)


def record_rejoined(at: float, directory: Path | None = None) -> None:
    """The sync keeper saw the old primary of the last failover streaming here since `at`."""
    files.write_atomic((directory or paths.RUN) / REJOINED, json.dumps({"at": at}), 0o644)


def _moment(directory: Path | None, name: str) -> float | None:
    try:
        return float(files.read_json_object((directory or paths.RUN) / name)["at"])
    except (KeyError, TypeError, ValueError):
        return None
