"""A running standby that has stopped streaming while the node it should stream from runs (pure).

repmgrd makes standbys follow a new primary, but it cannot heal a standby whose WAL went past the
point where the new timeline forked: a cascaded standby that received a commit from a primary
frozen before its synchronous standby confirmed it, or an asynchronous standby ahead of the one
promoted. Such a standby waits forever ("new timeline forked off current database system timeline
before current recovery point") while it answers as a healthy standby. Once it has not streamed for
STALL_S while its upstream runs and is set up, its data is marked diverged and postgres stopped; the
start-up decision re-clones it from the upstream (restarted as it is, postgres would refuse to start:
"requested timeline is not a child of this server's history"). An upstream that is down or
unreachable is no reason: nothing could be cloned, and the standby resumes when it returns."""

from collections.abc import Mapping

from postdock_supervisor.config import PostgresSettings
from postdock_supervisor.decide.election import decide_election
from postdock_supervisor.decide.role import RoleAct, RoleDecision, decide_role
from postdock_supervisor.model.node import NodeReport, RepmgrdView

# repmgrd follows a new primary within a few seconds of noticing it; a standby that still does not
# stream after this is stuck, not slow.
STALL_S = 30.0
NO_REPMGRD = RepmgrdView()  # not observed: no election is rerun


def wanted_upstream(peers: Mapping[str, NodeReport | None], pg: PostgresSettings) -> str:
    """The node this standby should stream from: its configured upstream for a cascade, the one
    running primary otherwise ('' when there is none, or more than one)."""
    if pg.is_cascade:
        return pg.primary_host
    running = sorted(h for h, r in peers.items() if r is not None and r.postgres.is_primary and h != pg.network_name)
    return running[0] if len(running) == 1 else ""


def decide_check(
    me: NodeReport,
    peers: Mapping[str, NodeReport | None],
    pg: PostgresSettings,
    stalled_since: float | None,
    now: float,
    repmgrd: RepmgrdView = NO_REPMGRD,
) -> RoleDecision:
    """role_check's round: a standby is judged by decide_stalled, a first-level primary by decide_role;
    a cascaded node with primary data (a single node of its own) answers to nobody."""
    if me.postgres.in_recovery:
        return decide_stalled(me, peers, pg, stalled_since, now, repmgrd)
    if pg.is_cascade:
        return RoleDecision(RoleAct.NOTHING, "a cascaded node with its own primary data answers to nobody")
    return decide_role(me, peers, pg)


def decide_stalled(
    me: NodeReport,
    peers: Mapping[str, NodeReport | None],
    pg: PostgresSettings,
    stalled_since: float | None,
    now: float,
    repmgrd: RepmgrdView = NO_REPMGRD,
) -> RoleDecision:
    """stalled_since (memory): since when this standby has not streamed although its upstream ran.
    With no primary at all, an election repmgrd gave up on is finished here (decide/election.py)."""
    if not me.postgres.running or not me.postgres.in_recovery or me.phase != "done":
        return RoleDecision(RoleAct.NOTHING, "not a running standby")
    host = wanted_upstream(peers, pg)
    if not host and not pg.is_cascade:
        # Streaming or not: a deferring candidate has its preferred sibling stream from it.
        return decide_election(me, peers, pg, repmgrd)
    if me.postgres.streaming:
        return RoleDecision(RoleAct.NOTHING, f"streaming from {me.postgres.upstream or '?'}")
    upstream = peers.get(host) if host else None
    if upstream is None or not upstream.ready:
        what = f"upstream {host} is not set up and running" if host else "there is no single primary"
        return RoleDecision(RoleAct.NOTHING, f"not streaming, and {what}: nothing to follow yet")
    since = now if stalled_since is None else stalled_since
    if now - since < STALL_S:
        return RoleDecision(
            RoleAct.NOTHING,
            f"not streaming for {now - since:.0f}s while {host} runs: waiting up to {STALL_S:.0f}s for repmgrd",
            stalled_since=since,
        )
    return RoleDecision(
        RoleAct.RECLONE_STANDBY,
        f"not streaming for {now - since:.0f}s although {host} runs (timeline {upstream.timeline}): "
        f"re-cloning this standby from {host}",
    )
