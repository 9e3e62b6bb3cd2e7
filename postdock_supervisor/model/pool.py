"""pgpool's view of its backends, and what each backend answers directly."""

from dataclasses import dataclass


@dataclass(frozen=True)
class PoolNode:
    """One row of SHOW pool_nodes."""

    num: int
    host: str
    status: str  # up | waiting | down | unused
    role: str  # primary | standby
    select_count: int = 0

    @property
    def attached(self) -> bool:
        return self.status in ("up", "waiting")


@dataclass(frozen=True)
class BackendProbe:
    """What a backend answers when asked directly."""

    num: int
    answers: bool
    in_recovery: bool = False
    streaming: bool = False  # its WAL receiver streams from an upstream
    application_name: str = ""  # the name it streams under (repmgr's node name)
    sync_names: frozenset[str] = frozenset()  # primary only: standbys in its synchronous set, streaming
    stalled: bool = False  # takes connections but does not answer: frozen (a paused container, a stalled VM)


@dataclass(frozen=True)
class PoolSnapshot:
    nodes: tuple[PoolNode, ...]
    probes: tuple[BackendProbe, ...]
