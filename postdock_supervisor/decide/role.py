"""Periodic role check of a running primary (pure): step down when the cluster has moved on.

With the quorum lease, the lease decides between two running primaries: the one holding it has been
acknowledging writes, the other (a candidate cut off before its first lease, or an old primary whose
lease lapsed) has acknowledged none since, so it is the one that rejoins, even on a newer timeline.
Without a lease on either side, the newer timeline wins as before."""

import enum
from collections.abc import Mapping
from dataclasses import dataclass

from postdock_supervisor.config import PostgresSettings
from postdock_supervisor.model.node import NodeReport


class RoleAct(enum.Enum):
    NOTHING = "nothing"
    STEP_DOWN = "step-down"  # stop postgres; the start-up decision rejoins the cluster
    RECLONE_STANDBY = "reclone-standby"  # a stuck standby: mark its data diverged, stop postgres; re-cloned at start
    RERUN_ELECTION = "rerun-election"  # repmgrd gave its election up: validate and promote as it would (election.py)


@dataclass(frozen=True)
class RoleDecision:
    action: RoleAct
    reason: str
    stalled_since: float | None = None  # memory of decide/stalled.py: since when a standby has not streamed

    @property
    def demote(self) -> bool:
        return self.action is RoleAct.STEP_DOWN


def decide_role(me: NodeReport, peers: Mapping[str, NodeReport | None], pg: PostgresSettings) -> RoleDecision:
    if not me.postgres.is_primary or me.phase != "done":
        return RoleDecision(RoleAct.NOTHING, "not a running primary")
    others = {h: r for h, r in peers.items() if r is not None and h != pg.network_name}
    if pg.uses_lease:
        # The lease says who may acknowledge writes; a primary without one has acknowledged nothing
        # since it lost it (or since its promotion), so it is the one to rejoin, whatever its timeline.
        holders = sorted(h for h, r in others.items() if r.postgres.is_primary and r.lease_left > 0)
        if holders and me.lease_left <= 0:
            host = holders[0]
            return RoleDecision(
                RoleAct.STEP_DOWN,
                f"{host} is a primary holding the write lease ({others[host].lease_left:.1f}s left) and this "
                "node holds none: stepping down to rejoin it",
            )
    newer = sorted(h for h, r in others.items() if r.postgres.is_primary and r.timeline > me.timeline)
    if newer and pg.uses_lease and me.lease_left > 0 and all(others[h].lease_left <= 0 for h in newer):
        host = newer[0]
        return RoleDecision(
            RoleAct.NOTHING,
            f"{host} is primary on timeline {others[host].timeline} but holds no lease, this node does "
            f"({me.lease_left:.1f}s left): {host} steps down, not this one",
        )
    if newer:
        host = newer[0]
        return RoleDecision(
            RoleAct.STEP_DOWN,
            f"{host} is primary on timeline {others[host].timeline}, newer than this "
            f"node's {me.timeline}: stepping down to rejoin it",
        )
    partners = [h for h in pg.partner_nodes if h != pg.network_name]
    followers: dict[str, list[str]] = {}
    for host in partners:
        report = others.get(host)
        if (
            report
            and report.postgres.in_recovery
            and report.postgres.streaming
            and report.postgres.upstream not in ("", pg.network_name)
        ):
            followers.setdefault(report.postgres.upstream, []).append(host)
    for leader, hosts in sorted(followers.items()):
        if len(hosts) * 2 > len(partners):  # most of the other partners
            return RoleDecision(
                RoleAct.STEP_DOWN,
                f"{len(hosts)} of {len(partners)} partners ({','.join(sorted(hosts))}) "
                f"stream from {leader}: stepping down to rejoin it",
            )
    return RoleDecision(RoleAct.NOTHING, "no partner runs a newer primary or follows another node")
