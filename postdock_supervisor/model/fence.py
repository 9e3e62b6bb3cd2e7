"""What the fence keeper sees in one round."""

from dataclasses import dataclass


@dataclass(frozen=True)
class FenceSnapshot:
    phase: str  # the bootstrap phase: only "done" is a settled node
    primary: bool  # postgres answers and is not in recovery
    members: tuple[str, ...]  # first-level partners registered and active in repmgr, this node excluded
    reachable: frozenset[str]  # members (or, when fenced, partners) that answered a TCP connect
