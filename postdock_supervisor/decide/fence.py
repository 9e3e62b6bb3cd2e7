"""Fencing (pure): a primary that cannot reach a majority of the cluster stops taking writes before
any standby may be promoted, and tries to rejoin once it sees a majority again.

The cluster is this node plus the first-level partners registered and active in repmgr (a partner
that was never started is no member; a failed primary is marked inactive by repmgr's failover), so
a cluster running on fewer nodes than PARTNER_NODES names keeps its primary. repmgrd's election
needs a strict majority of the remaining standbys too, except with a single standby, which wins by
default: a primary with one standby fences when it loses that standby, the price of never having two
primaries. Timing: the keeper fences once no majority was seen for FENCE_TIMEOUT minus LOOP_SLACK_S
(its own probe and loop time), so writes end within FENCE_TIMEOUT; config validation keeps repmgrd's
earliest promotion at least FENCE_MARGIN_S later."""

import enum
from dataclasses import dataclass

from postdock_supervisor.model.fence import FenceSnapshot

LOOP_SLACK_S = 2.5  # one probe round (1.2 s) + one loop pause (0.5 s) + stopping the sessions, with room


class FenceAct(enum.Enum):
    NOTHING = "nothing"
    FENCE = "fence"
    REJOIN = "rejoin"


@dataclass(frozen=True)
class FenceDecision:
    action: FenceAct
    reason: str


def has_majority(snapshot: FenceSnapshot) -> bool:
    seen = 1 + len(snapshot.reachable & set(snapshot.members))
    return seen * 2 > 1 + len(snapshot.members)


def _count(snapshot: FenceSnapshot) -> str:
    missing = sorted(set(snapshot.members) - snapshot.reachable)
    seen = 1 + len(snapshot.reachable & set(snapshot.members))
    return f"{seen} of {1 + len(snapshot.members)} nodes reachable" + (f" ({','.join(missing)} not)" if missing else "")


def fence_after(fence_timeout: float) -> float:
    """Seconds without a majority before the keeper acts."""
    return max(1.0, fence_timeout - LOOP_SLACK_S)


def decide_fence(snapshot: FenceSnapshot, last_majority: float, fence_timeout: float, now: float) -> FenceDecision:
    """last_majority: when the last probe round that saw a majority (or ran on a non-primary) began."""
    if snapshot.phase == "fenced":
        if has_majority(snapshot):
            return FenceDecision(
                FenceAct.REJOIN, f"fenced, and now {_count(snapshot)}: running the start-up decision to rejoin"
            )
        return FenceDecision(FenceAct.NOTHING, f"fenced: {_count(snapshot)}, waiting for a majority")
    if snapshot.phase != "done" or not snapshot.primary:
        return FenceDecision(FenceAct.NOTHING, "not a running primary")
    if has_majority(snapshot):
        return FenceDecision(FenceAct.NOTHING, f"primary with a majority: {_count(snapshot)}")
    alone = now - last_majority
    limit = fence_after(fence_timeout)
    if alone < limit:
        reason = f"no majority for {alone:.1f}s ({_count(snapshot)}): fencing at {limit:.1f}s"
        return FenceDecision(FenceAct.NOTHING, reason)
    return FenceDecision(
        FenceAct.FENCE,
        f"no majority for {alone:.1f}s ({_count(snapshot)}): fencing, postgres stopped so this isolated primary "
        "takes no more writes",
    )
