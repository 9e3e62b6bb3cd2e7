"""Snapshots of a node: its data directory, its running postgres, and the report partners read."""

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from postdock_supervisor.model.failover import FailoverRecord

CLEAN_STATES = ("shut down", "shut down in recovery")
PRIMARY_STATES = ("in production", "shut down", "in crash recovery")


def parse_lsn(text: str) -> int:
    """'16/B374D848' -> an integer; '' -> 0."""
    if not text or "/" not in text:
        return 0
    high, low = text.split("/", 1)
    return (int(high, 16) << 32) | int(low, 16)


def format_lsn(value: int) -> str:
    return f"{value >> 32:X}/{value & 0xFFFFFFFF:X}"


@dataclass(frozen=True)
class DataState:
    """What the data directory says, read without a running server (pg_controldata)."""

    initialized: bool = False  # PG_VERSION and global/pg_control exist
    partial: bool = False  # an interrupted clone: files without a control file, or never-started backup
    cluster_state: str = ""
    timeline: int = 0
    checkpoint_lsn: int = 0
    system_identifier: str = ""
    standby_signal: bool = False
    diverged: bool = False  # a standby that could not stream from its running upstream (decide/stalled.py)

    @property
    def usable(self) -> bool:
        return self.initialized and not self.partial

    @property
    def was_primary(self) -> bool:
        return self.usable and not self.standby_signal and self.cluster_state in PRIMARY_STATES

    @property
    def clean(self) -> bool:
        return self.cluster_state in CLEAN_STATES


@dataclass(frozen=True)
class PostgresState:
    """What the running server answers over SQL."""

    running: bool = False
    in_recovery: bool = False
    timeline: int = 0
    lsn: int = 0
    upstream: str = ""  # host a standby streams from (or is configured to)
    streaming: bool = False
    system_identifier: str = ""

    @property
    def is_primary(self) -> bool:
        return self.running and not self.in_recovery


@dataclass(frozen=True)
class NodeReport:
    """One node as its status agent describes it to partners."""

    name: str
    host: str
    node_id: int
    priority: int
    phase: str = "starting"  # bootstrap phase: starting, waiting, cloning, ..., done
    reason: str = ""
    data: DataState = DataState()
    postgres: PostgresState = PostgresState()
    lease_left: float = 0.0  # seconds of write lease this primary holds, as its lease keeper last counted
    last_failover: str = ""  # the flight record of this node's last promotion by repmgrd, one line
    writable_at: float = 0.0  # when that promotion's first lease let writes through (wall clock; 0: none)

    @property
    def ready(self) -> bool:
        """Running and fully set up (registered in repmgr): safe to clone from or follow."""
        return self.postgres.running and self.phase == "done"

    @property
    def lsn(self) -> int:
        return self.postgres.lsn if self.postgres.running else self.data.checkpoint_lsn

    @property
    def timeline(self) -> int:
        return self.postgres.timeline if self.postgres.running and self.postgres.timeline else self.data.timeline

    @property
    def system_identifier(self) -> str:
        return self.postgres.system_identifier or self.data.system_identifier

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, raw: object) -> "NodeReport":
        """A report as a peer sent it, every field of the right type; ValueError otherwise (a forged or
        broken answer must never reach a decision, nor raise anything else)."""
        report = _typed(cls, raw, "report")
        assert isinstance(report, NodeReport)
        return report


def _typed(cls: type, raw: object, where: str) -> object:
    """An instance of the dataclass cls from JSON: unknown keys ignored, missing ones defaulted,
    a missing required one or a value of another type refused."""
    if not isinstance(raw, dict):
        raise ValueError(f"{where}: expected an object, found {type(raw).__name__}")
    values: dict[str, Any] = {}
    for field in dataclasses.fields(cls):
        if field.name not in raw:
            if field.default is dataclasses.MISSING:
                raise ValueError(f"{where}.{field.name}: missing")
            continue
        value, kind = raw[field.name], field.type
        if dataclasses.is_dataclass(kind):
            values[field.name] = _typed(kind, value, f"{where}.{field.name}")  # type: ignore[arg-type]
            continue
        number = isinstance(value, int | float) and not isinstance(value, bool)
        ok = (
            (kind is bool and isinstance(value, bool))
            or (kind is int and number and isinstance(value, int))
            or (kind is float and number and math.isfinite(value))
            or (kind is str and isinstance(value, str))
        )
        if not ok:
            raise ValueError(f"{where}.{field.name}: expected {getattr(kind, '__name__', kind)}, found {value!r:.40}")
        values[field.name] = float(value) if kind is float else value
    return cls(**values)


@dataclass(frozen=True)
class SyncSnapshot:
    """What the sync keeper reads on the local server."""

    is_primary: bool
    standby_names: str  # synchronous_standby_names now
    members: tuple[str, ...]  # first-level standbys registered in repmgr (node names)
    standby_slots: str  # synchronized_standby_slots now
    streaming_slots: tuple[str, ...]  # physical slots of the members that stream now
    primary_conninfo: str = ""  # a standby's, as repmgr wrote it
    streaming_from: str = ""  # the host its WAL receiver streams from now ('' when not streaming)
    slot_sync: bool = False  # sync_replication_slots is on
    # each streaming standby's application name (repmgr's node name) -> when its WAL sender started
    streaming_since: tuple[tuple[str, float], ...] = ()
    failover: FailoverRecord | None = None  # this node's last promotion, for the rejoin of its old primary


@dataclass(frozen=True)
class RepmgrdView:
    """repmgrd on this standby, as role_check sees it: whether supervisord runs it, and how many seconds
    ago it last saw its upstream (repmgr.get_upstream_last_seen(); None: never since postgres started)."""

    running: bool = False
    upstream_unseen_s: int | None = None
