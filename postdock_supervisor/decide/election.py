"""A first-level standby finishes an election repmgrd gave up on (pure).

repmgrd (5.5) cancels its election when it cannot see a majority of its siblings ("unable to reach a
qualified majority of nodes": a sibling frozen, or too slow to answer within CONNECT_TIMEOUT), then
waits in degraded monitoring for its old upstream to return or another node to become primary. It
never runs the election again, even once the majority answers, and a restarted repmgrd exits at once
while its upstream is down. Cancelling is right; waiting for ever is not.

So once repmgrd has not seen its upstream for RERUN_AFTER_S (a whole election, deferral and lease
included, takes a few seconds), no first-level node answers as a running primary, a majority of the
first-level nodes answers, and this node is the one repmgr's election would pick among the standbys
that answer (most WAL, then NODE_PRIORITY, then the lowest node id), role_check runs the election's
last two steps as repmgrd would: the validation command (NODE_PRIORITY's deferral, the lease's
approvals) and the promote command. The approvals keep it safe: a partner approves one candidate at
a time and none while a lease lives, so a rerun racing repmgrd's own election promotes one node at
most. Only with the lease: without it the validation command proves nothing."""

from collections.abc import Mapping

from postdock_supervisor.config import PostgresSettings
from postdock_supervisor.decide.lease import majority
from postdock_supervisor.decide.role import RoleAct, RoleDecision
from postdock_supervisor.model.node import NodeReport, RepmgrdView, format_lsn

RERUN_AFTER_S = 20


def _election_key(report: NodeReport) -> tuple[int, int, int]:
    return (report.lsn, report.priority, -report.node_id)


def decide_election(
    me: NodeReport, peers: Mapping[str, NodeReport | None], pg: PostgresSettings, repmgrd: RepmgrdView
) -> RoleDecision:
    """A running first-level standby that streams from nobody, with no single primary in sight."""
    if not pg.uses_lease or pg.is_cascade:
        return RoleDecision(RoleAct.NOTHING, "no primary in sight: repmgrd's election alone decides (no lease)")
    if not repmgrd.running:
        why = "no primary in sight, and repmgrd is stopped here (a switchover or a stop)"
        return RoleDecision(RoleAct.NOTHING, why)
    unseen = repmgrd.upstream_unseen_s
    if unseen is None or unseen < RERUN_AFTER_S:
        seen = "never seen its upstream" if unseen is None else f"last seen its upstream {unseen}s ago"
        return RoleDecision(RoleAct.NOTHING, f"no primary in sight; repmgrd has {seen}: its election decides")
    cluster = {*pg.partner_nodes, pg.network_name}
    answering = {h: r for h, r in peers.items() if h in cluster and r is not None}
    answering[pg.network_name] = me
    if any(r.postgres.is_primary for r in answering.values()):
        return RoleDecision(RoleAct.NOTHING, "a first-level node runs as primary: repmgrd follows it")
    if len(answering) < majority(cluster):
        return RoleDecision(
            RoleAct.NOTHING,
            f"repmgrd lost its upstream {unseen}s ago and only {len(answering)} of {len(cluster)} first-level "
            "nodes answer: no majority, no election",
        )
    standbys = {h: r for h, r in answering.items() if r.ready and r.postgres.in_recovery}
    winner = max(standbys, key=lambda h: _election_key(standbys[h]))
    if winner != pg.network_name:
        return RoleDecision(RoleAct.NOTHING, f"repmgrd lost its upstream {unseen}s ago: {winner} leads the election")
    return RoleDecision(
        RoleAct.RERUN_ELECTION,
        f"repmgrd lost its upstream {unseen}s ago and holds no election, {len(answering)} of {len(cluster)} "
        f"first-level nodes answer, none is primary, and this node leads (LSN {format_lsn(me.lsn)}): "
        "running the election's validation and promotion",
    )
