"""The failover flight recorder's record: when each phase of this node's last promotion by repmgrd
ended, on the wall clock (the same clock an external writer reads). Pure: no I/O."""

from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime
from typing import Any

RERUN_WITHIN_S = 60.0  # an election rerun this soon continues the failover recorded before

# phase name, the moment it starts, the moment it ends
PHASES = (
    ("detect", "lost_at", "detected_at"),  # the old primary gone until repmgrd elected this node
    ("lease", "detected_at", "approved_at"),  # until a majority said no lease is live
    ("promote", "approved_at", "writable_at"),  # until this node took writes under its own lease
)
# after the outage, not part of it: until the old primary streamed from this node again
AFTER = (("rejoin", "writable_at", "rejoined_at"),)


@dataclass(frozen=True)
class FailoverRecord:
    lost_at: float  # the old primary last known alive: a lower bound (its last replayed commit, repmgrd's last check)
    detected_at: float  # repmgrd elected this node and it asked for approvals
    approved_at: float = 0.0
    writable_at: float = 0.0  # its first lease after the promotion let the held commits through
    promoted_at: float = 0.0  # `repmgr standby promote` returned (it polls: often after writable_at)
    deferred_to: str = ""  # the standby of higher NODE_PRIORITY this node declined for (decide/priority.py)
    deferred_at: float = 0.0
    old_primary: str = ""  # repmgr's primary when this node was elected (its node name)
    rejoined_at: float = 0.0  # that node's WAL sender here started (pg_stat_replication.backend_start)

    @classmethod
    def from_json(cls, raw: Any) -> "FailoverRecord | None":
        try:
            values: dict[str, Any] = {
                f.name: (str if f.type is str else float)(raw[f.name]) for f in fields(cls) if f.name in raw
            }
            return cls(**values)
        except (KeyError, TypeError, ValueError):
            return None

    def to_json(self) -> dict[str, float | str]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def with_writable(self, released_at: float) -> "FailoverRecord":
        """The first release of held commits at or after the approval is when writes came back."""
        if self.approved_at and released_at >= self.approved_at and not self.writable_at:
            return replace(self, writable_at=released_at)
        return self

    def with_rejoined(self, since: float | None) -> "FailoverRecord":
        """The old primary streaming from this node since a moment after this node took writes: the
        start of that connection ends the rejoin (a later reconnect is not this failover's)."""
        if self.writable_at and not self.rejoined_at and since is not None and since >= self.writable_at:
            return replace(self, rejoined_at=since)
        return self

    def continued_at(self, now: float) -> bool:
        """Whether an election starting now is a rerun of this failover (not finished, and recent)."""
        return not self.writable_at and now - self.detected_at < RERUN_WITHIN_S

    @property
    def total(self) -> float | None:
        return self.writable_at - self.lost_at if self.writable_at else None


def phases(record: FailoverRecord, table: tuple[tuple[str, str, str], ...] = PHASES) -> list[tuple[str, float]]:
    """Seconds each phase of the outage took (or of the AFTER table), for those whose end is known."""
    out = []
    for name, start, end in table:
        began, ended = getattr(record, start), getattr(record, end)
        if began and ended:
            out.append((name, max(0.0, ended - began)))
    return out


def summary(record: FailoverRecord) -> str:
    """One line for logs and `postdock status`."""
    when = datetime.fromtimestamp(record.detected_at, UTC).strftime("%Y-%m-%d %H:%M:%S")
    steps = ", ".join(f"{name} {seconds:.2f}s" for name, seconds in phases(record))
    total = record.total
    if total is None and record.deferred_to:
        return (
            f"failover at {when} UTC: deferred to {record.deferred_to} (higher NODE_PRIORITY) "
            f"{record.deferred_at - record.detected_at:.2f}s after the election"
        )
    if total is None:
        return f"failover at {when} UTC not finished: {steps or 'detected'}"
    line = f"failover at {when} UTC: writable {total:.2f}s after the old primary was last seen ({steps})"
    for _, seconds in phases(record, AFTER):
        line += f"; {record.old_primary} rejoined {seconds:.2f}s later"
    return line


def pgpool_lag(switched_at: float, writable_at: float) -> float | None:
    """Seconds from the new primary taking writes to pgpool sending writes there (0 when pgpool was
    first); None when that primary's last failover is not this one (a switchover, an old record)."""
    if not writable_at or not -RERUN_WITHIN_S < switched_at - writable_at < RERUN_WITHIN_S:
        return None
    return max(0.0, switched_at - writable_at)
