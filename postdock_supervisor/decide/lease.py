"""The quorum lease (pure): who may acknowledge writes, and when a standby may be promoted.

Not wired into the programs yet (issue 16 builds on it); its rules and their proof live here so the
wiring can only call them.

- A primary may acknowledge writes only while it holds a lease granted by a majority of the cluster
  (every first-level node, itself included: each node is a grantor, to itself as to others). It asks
  every node at `asked_at` on its own
  monotonic clock; each grant it receives lets it count the lease until
  `asked_at + lease_s * (1 - DRIFT)`, never from the moment an answer arrived.
- A partner grants for `lease_s` from the moment it *received* the request, on its own clock, to one
  node at a time: while a grant to one node lives, it grants no other. Renewing a live grant to the
  same node is allowed.
- A partner approves the promotion of a candidate only when no grant of its own is alive (to anyone
  but the candidate), and from then on grants to nobody else until that approval lapses (`lease_s`
  after it was given, unless the candidate renews it by asking for a grant as the new primary).
- A candidate promotes once a majority has approved it (its own approval counts like any other),
  and acknowledges writes, like any primary, only once it holds a lease.

Why no two leases overlap: the primary's majority of grants and the candidate's majority of
approvals share at least one partner. That partner approved only once its grant had lapsed on its
own clock, `lease_s` after it received the request; the request was sent at `asked_at` or later, so
in real time the grant lapsed no earlier than `asked_at + lease_s / (1 + DRIFT)` on the primary's
clock, and the primary stopped counting at `asked_at + lease_s * (1 - DRIFT)`, which is earlier when
clocks run at rates within DRIFT of each other. The one assumption: bounded clock *rate* drift, not
synchronized clocks; a process that stalls does not break it, because it only ever counts from a
past `asked_at`."""

from collections.abc import Iterable
from dataclasses import dataclass, replace

DRIFT = 0.05  # clock rates may differ by 5 % (far more than real oscillators)


def majority(cluster: Iterable[str]) -> int:
    """Votes needed in a cluster of these first-level nodes (every node, this one included)."""
    return len(set(cluster)) // 2 + 1


@dataclass(frozen=True)
class Grantor:
    """What a partner remembers about its grants and approvals (times on its own monotonic clock)."""

    granted_to: str = ""
    grant_until: float = 0.0
    approved: str = ""
    approval_until: float = 0.0


@dataclass(frozen=True)
class Answer:
    ok: bool
    reason: str
    state: Grantor


def decide_grant(state: Grantor, requester: str, now: float, lease_s: float) -> Answer:
    """A request for a lease from `requester`, received at `now`."""
    if state.approved and state.approved != requester and now < state.approval_until:
        return Answer(False, f"approved the promotion of {state.approved}: no lease for {requester}", state)
    if state.granted_to and state.granted_to != requester and now < state.grant_until:
        left = state.grant_until - now
        return Answer(False, f"{state.granted_to} holds a lease for {left:.1f}s more: none for {requester}", state)
    granted = replace(state, granted_to=requester, grant_until=now + lease_s)
    if state.approved == requester:  # the promoted candidate now asks as the primary
        granted = replace(granted, approved="", approval_until=0.0)
    return Answer(True, f"lease granted to {requester} for {lease_s:g}s", granted)


def decide_approval(state: Grantor, candidate: str, now: float, lease_s: float) -> Answer:
    """A candidate's request to approve its promotion, received at `now`."""
    if state.granted_to and state.granted_to != candidate and now < state.grant_until:
        left = state.grant_until - now
        return Answer(
            False, f"{state.granted_to} may still hold a lease ({left:.1f}s): not approving {candidate}", state
        )
    if state.approved and state.approved != candidate and now < state.approval_until:
        return Answer(False, f"already approved {state.approved}: not approving {candidate}", state)
    approved = replace(state, approved=candidate, approval_until=now + lease_s)
    return Answer(True, f"no live lease: approving the promotion of {candidate}", approved)


def lease_until(asked_at: float, granted_by: Iterable[str], cluster: Iterable[str], lease_s: float) -> float:
    """Until when (own clock) a primary may acknowledge writes after asking at `asked_at`, given who
    granted (itself included); 0.0 when the grants are no majority."""
    nodes = set(cluster)
    return asked_at + lease_s * (1 - DRIFT) if len(set(granted_by) & nodes) >= majority(nodes) else 0.0


def may_promote(approved_by: Iterable[str], cluster: Iterable[str]) -> bool:
    """Whether the approvals a candidate collected (its own included) make a majority."""
    nodes = set(cluster)
    return len(set(approved_by) & nodes) >= majority(nodes)
