"""Which standby wins a failover (pure): no acknowledged write lost, then NODE_PRIORITY.

repmgrd elects the standby that received the most WAL and breaks ties by priority, so a preferred
standby a few bytes behind loses to a sibling that happened to receive the last commit. The rule
users can rely on instead: among the standbys that hold everything any candidate holds, the highest
NODE_PRIORITY wins. repmgrd's candidate enforces it in its failover_validation_command, before it
asks for approvals (programs/approve.py):

- no healthy first-level standby has a higher priority: it promotes itself;
- one does and already holds all WAL the candidate holds: the candidate declines, and repmgrd's
  rerun of the election (every standby reruns it) elects the preferred one on the tie;
- one does but lacks some WAL: it first fetches it from the candidate (its WAL receiver streams
  from the candidate, which stopped receiving when the primary died), then the candidate declines.

A candidate declines once per failover: elected again (the preferred one failed, or fell behind),
it promotes itself. A preferred standby that cannot catch up in time is passed over."""

import enum
from collections.abc import Mapping
from dataclasses import dataclass

from postdock_supervisor.model.node import NodeReport


class Choice(enum.Enum):
    PROMOTE = "promote"  # this candidate goes on to promote itself
    CATCH_UP = "catch-up"  # the preferred standby fetches the missing WAL from here, then DEFER
    DEFER = "defer"  # decline: the election rerun elects the preferred standby


@dataclass(frozen=True)
class PriorityDecision:
    choice: Choice
    reason: str
    preferred: str = ""  # the standby this candidate defers to


def preferred_standby(
    me: NodeReport, peers: Mapping[str, NodeReport | None], members: frozenset[str]
) -> NodeReport | None:
    """The healthy first-level standby of highest priority above this candidate's, if any: running,
    set up, in recovery, of the same cluster and on the same timeline (one it could stream from here)."""
    better = [
        r
        for host, r in peers.items()
        if r is not None
        and host in members
        and host != me.host
        and r.ready
        and r.postgres.in_recovery
        and r.priority > me.priority
        and r.system_identifier == me.system_identifier
        and r.timeline == me.timeline
    ]
    return max(better, key=lambda r: (r.priority, -r.node_id), default=None)


def decide_priority(
    me: NodeReport, peers: Mapping[str, NodeReport | None], members: frozenset[str], deferred_to: str
) -> PriorityDecision:
    """repmgrd elected `me`; `deferred_to` (memory): whom it already declined for in this failover."""
    if deferred_to:
        return PriorityDecision(
            Choice.PROMOTE, f"elected again after deferring to {deferred_to} in this failover: promoting {me.host}"
        )
    best = preferred_standby(me, peers, members)
    if best is None:
        return PriorityDecision(
            Choice.PROMOTE, f"no healthy standby has a higher priority than {me.host} ({me.priority})"
        )
    who = f"{best.host} (priority {best.priority} over {me.priority})"
    if best.lsn >= me.lsn:
        return PriorityDecision(Choice.DEFER, f"{who} holds all WAL {me.host} holds: deferring to it", best.host)
    return PriorityDecision(
        Choice.CATCH_UP,
        f"{who} lacks {me.lsn - best.lsn} bytes of WAL {me.host} holds: it fetches them from {me.host} first",
        best.host,
    )
