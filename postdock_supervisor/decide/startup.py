"""Which role a postgres node takes at start, from its own data and what its partners report.

Pure: no I/O, no clock; `waited` is how long this start has been deciding so far."""

import enum
from collections.abc import Mapping
from dataclasses import dataclass

from postdock_supervisor.config import PostgresSettings
from postdock_supervisor.decide import lease
from postdock_supervisor.decide.election import RERUN_AFTER_S as ELECTION_AFTER_S
from postdock_supervisor.model.node import NodeReport, format_lsn


class Start(enum.Enum):
    WAIT = "wait"  # nothing safe to do yet; observe again
    INIT_PRIMARY = "init-primary"  # initdb a new cluster
    START_PRIMARY = "start-primary"  # existing primary data, no other primary
    PROMOTE = "promote"  # existing standby data is the most advanced: start it and promote
    CLONE = "clone"  # empty data directory: clone from upstream
    START_STANDBY = "start-standby"  # existing standby data: start, follow upstream if it changed
    REJOIN = "rejoin"  # old primary: crash recovery if needed, pg_rewind, follow
    RECLONE = "reclone"  # discard local data and clone


@dataclass(frozen=True)
class StartDecision:
    action: Start
    reason: str
    upstream: str = ""  # host to clone from / follow
    upstream_id: int = 0


def failover_grace(pg: PostgresSettings) -> int:
    """How long repmgrd on the standbys may take to notice a dead primary and promote one."""
    detect = pg.monitor_interval + pg.reconnect_attempts * (pg.reconnect_interval + pg.connect_timeout)
    return detect + 10


def in_place_window(pg: PostgresSettings) -> float:
    """How long after its postgres crashed a primary may restart in place, so a restart never races an
    election: with the lease, while its keeper still renews it (no standby can be approved); without,
    half the time before any standby's repmgrd can promote ((RECONNECT_ATTEMPTS - 1) x
    RECONNECT_INTERVAL, which configuration keeps at FENCE_TIMEOUT + 5 s or more)."""
    if pg.uses_lease:
        return lease.in_place_window(pg.lease_timeout)
    return (pg.reconnect_attempts - 1) * pg.reconnect_interval / 2


def _describe(report: NodeReport) -> str:
    return f"timeline {report.timeline}, LSN {format_lsn(report.lsn)}"


def _election_key(report: NodeReport) -> tuple[int, int, int, int, int]:
    # Newest timeline first; on one timeline a primary is at least as far as its standbys.
    return (report.timeline, int(report.data.was_primary), report.lsn, report.priority, -report.node_id)


def _follow(me: NodeReport, target: NodeReport, host: str, pg: PostgresSettings, first_level: bool) -> StartDecision:
    data = me.data
    if not target.ready:
        return StartDecision(Start.WAIT, f"upstream {host} is running but still setting itself up")
    if not data.usable:
        what = "an interrupted clone" if data.partial else "an empty data directory"
        action = Start.RECLONE if data.partial else Start.CLONE
        return StartDecision(action, f"{what}: cloning from {host}", host, target.node_id)
    if data.system_identifier and target.system_identifier and data.system_identifier != target.system_identifier:
        return StartDecision(
            Start.WAIT,
            f"local data belongs to another cluster (system {data.system_identifier}, "
            f"{host} has {target.system_identifier}); remove the volume to re-clone",
        )
    if data.diverged:
        return StartDecision(
            Start.RECLONE,
            f"this standby could not stream from {host} while it ran (its WAL went past the point where "
            f"{host}'s timeline forked): re-cloning from {host}",
            host,
            target.node_id,
        )
    if data.was_primary:
        if pg.clean_over_rewind or not first_level:
            return StartDecision(
                Start.RECLONE,
                f"old primary data, {host} is the primary now: re-cloning (CLEAN_OVER_REWIND=1)"
                if first_level
                else f"old primary data on a cascaded node: re-cloning from {host}",
                host,
                target.node_id,
            )
        return StartDecision(
            Start.REJOIN, f"old primary, {host} is the primary now: rejoining it with pg_rewind", host, target.node_id
        )
    return StartDecision(Start.START_STANDBY, f"standby data: starting as a standby of {host}", host, target.node_id)


def decide_startup(
    me: NodeReport,
    peers: Mapping[str, NodeReport | None],
    pg: PostgresSettings,
    waited: float,
    crashed_ago: float | None = None,
) -> StartDecision:
    """me: this node's own report; peers: host -> report (None = unreachable), self excluded;
    crashed_ago: seconds since this node's postgres crashed, when this start follows that crash in the
    same container (None otherwise)."""
    others = {host: report for host, report in peers.items() if host != pg.network_name}
    data = me.data
    if pg.is_cascade:
        return _decide_cascade(me, others, pg)
    reachable = {host: r for host, r in others.items() if r is not None}

    primaries = {host: r for host, r in reachable.items() if r.postgres.is_primary}
    if primaries:
        host = max(primaries, key=lambda h: (primaries[h].timeline, primaries[h].lsn))
        decision = _follow(me, primaries[host], host, pg, first_level=True)
        if len(primaries) > 1:
            decision = StartDecision(
                decision.action,
                decision.reason + " (several primaries answer: "
                f"{','.join(sorted(primaries))}; chose the newest timeline)",
                decision.upstream,
                decision.upstream_id,
            )
        return decision

    standbys = {host: r for host, r in reachable.items() if r.postgres.running}
    if standbys:
        names = ",".join(sorted(standbys))
        # The cluster runs without a primary: repmgrd on those standbys elects one. Only an old
        # primary that they all still point at may take its place back, once nobody was promoted.
        loyal = all(
            r.postgres.upstream in ("", pg.network_name) and not r.postgres.streaming for r in standbys.values()
        )
        newest = max(r.timeline for r in standbys.values())
        grace = failover_grace(pg)
        majority = 1 + len(reachable) >= len(pg.partner_nodes) // 2 + 1
        if (
            data.was_primary
            and loyal
            and majority
            and data.timeline >= newest
            and crashed_ago is not None
            and crashed_ago <= in_place_window(pg)
        ):
            return StartDecision(
                Start.START_PRIMARY,
                f"postgres crashed {crashed_ago:.1f}s ago; standbys {names} still point at this node and none was "
                "promoted: restarting in place (crash recovery)",
            )
        if data.was_primary and loyal and data.timeline >= newest and waited >= grace:
            return StartDecision(
                Start.START_PRIMARY,
                f"standbys {names} still point at this node and none was promoted within {grace}s: resuming as primary",
            )
        if pg.uses_lease and data.usable and not data.was_primary and majority and waited >= ELECTION_AFTER_S:
            return _elect_among_standbys(me, standbys, pg, waited)
        return StartDecision(Start.WAIT, f"standbys {names} run without a primary: waiting for repmgrd to promote one")

    with_data = {host: r for host, r in reachable.items() if r.data.usable}
    if not data.usable:
        if with_data:
            return StartDecision(
                Start.WAIT,
                f"no primary yet; partners with data: {','.join(sorted(with_data))}; waiting for one to become primary",
            )
        if pg.primary_host in ("", pg.network_name):
            if data.partial:
                return StartDecision(Start.WAIT, "an interrupted clone and no primary to clone from")
            return StartDecision(
                Start.INIT_PRIMARY,
                "empty data directory, this node is "
                "REPLICATION_PRIMARY_HOST and no partner has data: initialising a new cluster",
            )
        return StartDecision(Start.WAIT, f"waiting for the primary {pg.primary_host} to start")

    # A whole-cluster start with data: elect the most advanced node among those that report.
    missing = sorted(host for host, r in others.items() if r is None)
    quorum = len(pg.partner_nodes) // 2 + 1
    seen = 1 + len(reachable)
    if seen < quorum:
        return StartDecision(
            Start.WAIT,
            f"no primary and only {seen} of {len(pg.partner_nodes)} partners answer (a majority is {quorum}): waiting",
        )
    if missing and waited < pg.partner_wait:
        return StartDecision(
            Start.WAIT,
            f"no primary; waiting up to {pg.partner_wait}s for {','.join(missing)} to report before electing",
        )
    same_cluster = {host: r for host, r in with_data.items() if r.system_identifier == data.system_identifier}
    candidates = {pg.network_name: me, **same_cluster}
    eligible = {host: r for host, r in candidates.items() if r.priority > 0} or candidates
    winner = max(eligible, key=lambda h: _election_key(eligible[h]))
    if winner != pg.network_name:
        return StartDecision(
            Start.WAIT,
            f"{winner} is the most advanced ({_describe(eligible[winner])}): waiting for it to start as primary",
        )
    basis = f"most advanced of {','.join(sorted(eligible))} ({_describe(me)})"
    if data.was_primary:
        return StartDecision(Start.START_PRIMARY, f"no primary running; this node is the {basis}")
    return StartDecision(Start.PROMOTE, f"no primary running; this standby is the {basis}: promoting it")


def _elect_among_standbys(
    me: NodeReport, standbys: Mapping[str, NodeReport], pg: PostgresSettings, waited: float
) -> StartDecision:
    """Standbys have run without a primary for ELECTION_AFTER_S while this one starts: repmgrd is not
    running here, and may have exited on the others too (it exits when its upstream does not answer
    as it starts), so nobody would end the outage. The standby repmgr's election would pick among
    them promotes itself, with the partners' approvals: safe against a racing election."""
    same = {h: r for h, r in standbys.items() if r.postgres.in_recovery and r.system_identifier == me.system_identifier}
    eligible = {h: r for h, r in {pg.network_name: me, **same}.items() if r.priority > 0}
    names = ",".join(sorted(standbys))
    if pg.network_name not in eligible:
        return StartDecision(Start.WAIT, f"standbys {names} run without a primary; NODE_PRIORITY 0: never promoted")
    winner = max(eligible, key=lambda h: _election_key(eligible[h]))
    if winner != pg.network_name:
        why = f"{winner} leads the election ({_describe(eligible[winner])})"
        return StartDecision(Start.WAIT, f"standbys {names} run without a primary for {waited:.0f}s: {why}")
    return StartDecision(
        Start.PROMOTE,
        f"standbys {names} run without a primary for {waited:.0f}s and no election ended it; this standby "
        f"leads ({_describe(me)}): promoting it once the partners approve",
    )


def _decide_cascade(me: NodeReport, others: Mapping[str, NodeReport | None], pg: PostgresSettings) -> StartDecision:
    upstream = pg.primary_host
    if upstream in ("", pg.network_name):
        if me.data.usable:
            if me.data.was_primary:
                return StartDecision(Start.START_PRIMARY, "single node with primary data: starting it")
            return StartDecision(Start.PROMOTE, "single node with standby data: promoting it")
        return StartDecision(Start.INIT_PRIMARY, "single node with an empty data directory: initialising")
    target = others.get(upstream)
    if target is None or not target.postgres.running:
        return StartDecision(Start.WAIT, f"waiting for upstream {upstream} to run")
    return _follow(me, target, upstream, pg, first_level=False)
