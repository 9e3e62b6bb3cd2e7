"""Whether a planned switchover is safe now, and between whom (pure).

Refused while the cluster is degraded (a partner does not answer or is not settled), when there
is not exactly one primary, or when the target is not a first-level standby streaming from the
primary within max_lag bytes: the old primary's clean stop waits for its standbys to receive all of
its WAL, and a lagging target would make that wait, and the write outage, long."""

from collections.abc import Mapping
from dataclasses import dataclass

from postdock_supervisor.model.node import NodeReport


@dataclass(frozen=True)
class SwitchoverPlan:
    ok: bool
    reason: str
    primary: str = ""
    target: str = ""
    others: tuple[str, ...] = ()  # first-level standbys that follow the target afterwards


def _refuse(reason: str) -> SwitchoverPlan:
    return SwitchoverPlan(False, reason)


def decide_switchover(
    reports: Mapping[str, NodeReport | None], partners: tuple[str, ...], target: str | None, max_lag: int
) -> SwitchoverPlan:
    silent = [h for h in partners if reports.get(h) is None]
    if silent:
        return _refuse(f"cluster degraded: {','.join(silent)} does not answer")
    nodes = {h: r for h in partners if (r := reports.get(h)) is not None}
    unsettled = [f"{h} ({r.phase})" for h, r in nodes.items() if r.phase != "done" or not r.postgres.running]
    if unsettled:
        return _refuse(f"cluster degraded: {', '.join(unsettled)} not running and settled")
    primaries = sorted(h for h, r in nodes.items() if r.postgres.is_primary)
    if len(primaries) != 1:
        return _refuse(f"{len(primaries)} primaries ({','.join(primaries) or 'none'}): expected exactly one")
    primary = primaries[0]
    streaming = {
        h: r for h, r in nodes.items() if h != primary and r.postgres.streaming and r.postgres.upstream == primary
    }
    if target is None:
        if not streaming:
            return _refuse(f"no standby streams from {primary}")
        target = max(streaming, key=lambda h: (streaming[h].lsn, streaming[h].priority, -streaming[h].node_id))
    if target not in partners:
        return _refuse(f"{target} is not one of PARTNER_NODES ({','.join(partners)}): only those may be primary")
    if target == primary:
        return _refuse(f"{target} is already the primary")
    if target not in streaming:
        return _refuse(f"{target} does not stream from the primary {primary}")
    lag = max(0, nodes[primary].lsn - nodes[target].lsn)
    if lag > max_lag:
        return _refuse(f"{target} is {lag} bytes behind {primary} (at most {max_lag} allowed)")
    others = tuple(sorted(h for h in nodes if h not in (primary, target)))
    return SwitchoverPlan(
        True, f"switching over from {primary} to {target} ({lag} bytes behind)", primary, target, others
    )
