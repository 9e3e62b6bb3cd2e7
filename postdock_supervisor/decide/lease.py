"""The quorum lease (pure): who may acknowledge writes, and when a standby may be promoted.

The agents grant and approve (programs/lease_desk.py), the primary's lease keeper renews and holds
every commit when its lease is about to lapse (programs/lease_keeper.py), and repmgrd's
failover_validation_command waits for approvals (programs/approve.py); the rules and their proof
live here.

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
- A candidate promotes once enough nodes approved it (its own approval counts like any other) that
  every majority of the cluster contains one of them (`approvals_needed`: a majority of an odd
  cluster, half of an even one, so the one standby of a two-node cluster approves itself), and
  acknowledges writes, like any primary, only once it holds a lease: it promotes with every commit
  held.
- A standby that approves a candidate first stops acknowledging anyone else's WAL: its WAL receiver
  streams from the candidate from then on (`Answer.stream_from`). The primary's hold is applied by
  its lease keeper, a process that a stall of the whole node (a frozen VM, `docker pause`) stops
  together with postgres; after the thaw the sessions may run first, and a standby still streaming
  from it would acknowledge their commits although the lease has gone. It streams from the holder of
  a lease again only when it grants one to a node other than that candidate (the promotion did not
  happen). The candidate renews its approvals while it promotes (repmgr's promotion alone may take
  longer than a lease), and a grant to it as the new primary ends them.
- A holder that has stopped acknowledging writes (a clean stop, a switchover) may release its
  grants at once instead of letting them lapse. Each request names the holder's term (`epoch`, new
  each time it starts renewing), and a release ends only the grant of its own term: delivered late,
  it never ends a lease the same node holds again later. A grantor that restarts remembers nothing, so it
  grants and approves nothing for `lease_s` after it starts (its earlier grants have lapsed by then).

Why no two leases overlap: the primary's majority of grants and the candidate's majority of
approvals share at least one partner. That partner approved only once its grant had lapsed on its
own clock, `lease_s` after it received the request; the request was sent at `asked_at` or later, so
in real time the grant lapsed no earlier than `asked_at + lease_s / (1 + DRIFT)` on the primary's
clock, and the primary stopped counting at `asked_at + lease_s * (1 - DRIFT)`, which is earlier when
clocks run at rates within DRIFT of each other. The one assumption: bounded clock *rate* drift, not
synchronized clocks; a process that stalls does not break it, because it only ever counts from a
past `asked_at`."""

import enum
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
    epoch: str = ""  # the holder's term, named by its release: a late release never ends a newer term
    approved: str = ""
    approval_until: float = 0.0
    quiet_until: float = 0.0  # just started: what it granted before is unknown until then
    moved_for: str = ""  # the candidate this standby's WAL receiver was moved to by an approval


@dataclass(frozen=True)
class Answer:
    ok: bool
    reason: str
    state: Grantor
    stream_from: str = ""  # the node this standby must stream WAL from before the answer goes out
    catch_up: bool = False  # ... without its replication slot: the node is a standby that has none for it


def started(now: float, lease_s: float) -> Grantor:
    """A grantor that has just (re)started: any grant it gave before lapses within lease_s."""
    return Grantor(quiet_until=now + lease_s)


def _quiet(state: Grantor, now: float) -> str:
    left = state.quiet_until - now
    return f"started {left:.1f}s too recently to know its earlier grants" if left > 0 else ""


def decide_grant(state: Grantor, requester: str, now: float, lease_s: float, epoch: str = "", me: str = "") -> Answer:
    """A request for a lease from `requester` in its term `epoch`, received at `now` by node `me`."""
    if quiet := _quiet(state, now):
        return Answer(False, f"{quiet}: no lease for {requester}", state)
    if state.approved and state.approved != requester and now < state.approval_until:
        return Answer(False, f"approved the promotion of {state.approved}: no lease for {requester}", state)
    if state.granted_to and state.granted_to != requester and now < state.grant_until:
        left = state.grant_until - now
        return Answer(False, f"{state.granted_to} holds a lease for {left:.1f}s more: none for {requester}", state)
    granted = replace(state, granted_to=requester, grant_until=now + lease_s, epoch=epoch)
    if state.approved == requester:  # the promoted candidate now asks as the primary
        granted = replace(granted, approved="", approval_until=0.0)
    reason = f"lease granted to {requester} for {lease_s:g}s"
    if state.moved_for and state.moved_for != requester and requester != me:
        # The candidate was not promoted: stream from the lease holder again.
        return Answer(True, f"{reason}; streaming from it again", replace(granted, moved_for=""), requester)
    return Answer(True, reason, replace(granted, moved_for=""))


def decide_release(state: Grantor, holder: str, epoch: str = "") -> Answer:
    """The holder has stopped acknowledging writes in its term `epoch` and gives that term's grant back."""
    if state.granted_to != holder or state.epoch != epoch:
        return Answer(True, f"no grant to {holder} in that term to release", state)
    return Answer(True, f"{holder} released its lease", replace(state, granted_to="", grant_until=0.0, epoch=""))


def decide_approval(state: Grantor, candidate: str, now: float, lease_s: float, me: str = "") -> Answer:
    """A candidate's request to approve its promotion, received at `now` by node `me`."""
    if quiet := _quiet(state, now):
        return Answer(False, f"{quiet}: not approving {candidate}", state)
    if state.granted_to and state.granted_to != candidate and now < state.grant_until:
        left = state.grant_until - now
        return Answer(
            False, f"{state.granted_to} may still hold a lease ({left:.1f}s): not approving {candidate}", state
        )
    if state.approved and state.approved != candidate and now < state.approval_until:
        return Answer(False, f"already approved {state.approved}: not approving {candidate}", state)
    approved = replace(state, approved=candidate, approval_until=now + lease_s)
    reason = f"no live lease: approving the promotion of {candidate}"
    if candidate == me:
        return Answer(True, reason, approved)
    return Answer(True, reason, replace(approved, moved_for=candidate), candidate)


def decide_catch_up(state: Grantor, candidate: str, now: float, me: str = "") -> Answer:
    """repmgrd's candidate asks this standby, preferred by NODE_PRIORITY, to fetch the WAL it lacks
    from the candidate before the election is rerun (decide/priority.py). Only once no grant of its own
    lives: until then the old primary may still count on this standby's acknowledgements."""
    if quiet := _quiet(state, now):
        return Answer(False, f"{quiet}: not catching up from {candidate}", state)
    if state.granted_to and state.granted_to not in (candidate, me) and now < state.grant_until:
        left = state.grant_until - now
        return Answer(
            False, f"{state.granted_to} may still hold a lease ({left:.1f}s): not catching up from {candidate}", state
        )
    if candidate == me:
        return Answer(False, "asked to catch up from itself", state)
    reason = f"no live lease: fetching WAL from {candidate}"
    return Answer(True, reason, replace(state, moved_for=candidate), candidate, catch_up=True)


def lease_until(asked_at: float, granted_by: Iterable[str], cluster: Iterable[str], lease_s: float) -> float:
    """Until when (own clock) a primary may acknowledge writes after asking at `asked_at`, given who
    granted (itself included); 0.0 when the grants are no majority."""
    nodes = set(cluster)
    return asked_at + lease_s * (1 - DRIFT) if len(set(granted_by) & nodes) >= majority(nodes) else 0.0


def approvals_needed(cluster: Iterable[str]) -> int:
    """The fewest approvals that meet every majority: a majority of an odd cluster, half of an even one."""
    nodes = set(cluster)
    return len(nodes) - majority(nodes) + 1


def may_promote(approved_by: Iterable[str], cluster: Iterable[str]) -> bool:
    """Whether the approvals a candidate collected (its own included) meet every majority."""
    nodes = set(cluster)
    return len(set(approved_by) & nodes) >= approvals_needed(nodes)


class Hold(enum.Enum):
    NOTHING = "nothing"
    HOLD = "hold"  # hold every commit: the lease ends before the next renewal could land
    RELEASE = "release"  # the lease is held: commits go through


@dataclass(frozen=True)
class HoldDecision:
    action: Hold
    reason: str


def decide_hold(primary: bool, held: bool, until: float, now: float, margin: float, granted: str) -> HoldDecision:
    """Whether the primary's commits must be held now. `until`: the end of its lease on its own clock
    (0: none); `margin`: one renewal round plus the time a reload takes to reach every session."""
    if not primary:
        return HoldDecision(Hold.NOTHING, "not a running primary")
    left = until - now
    if left > margin:
        if held:
            return HoldDecision(Hold.RELEASE, f"lease for {left:.1f}s (granted by {granted}): taking writes again")
        return HoldDecision(Hold.NOTHING, f"lease for {left:.1f}s (granted by {granted})")
    if held:
        return HoldDecision(Hold.NOTHING, "no lease: every commit held")
    why = f"lease ends in {left:.1f}s" if left > 0 else "no lease"
    return HoldDecision(Hold.HOLD, f"{why} and no majority renewed it (granted by {granted}): holding every commit")


def in_place_window(lease_s: float) -> float:
    """How long after a crash the primary keeps renewing its lease while postgres restarts in place:
    no standby can be approved meanwhile, so the restart never races an election."""
    return 2 * lease_s


class Vote(enum.Enum):
    PROMOTE = "promote"
    WAIT = "wait"
    REFUSE = "refuse"


@dataclass(frozen=True)
class PromotionDecision:
    vote: Vote
    reason: str


def decide_promotion(
    me: str, approved_by: Iterable[str], cluster: Iterable[str], running_primary: str, waited: float, patience: float
) -> PromotionDecision:
    """repmgrd's candidate asks whether it may promote: once enough nodes approved; never while another
    node says it is a running primary (it came back: repmgrd then monitors it again); not after
    `patience` seconds (repmgrd reruns the election)."""
    nodes = set(cluster) | {me}
    approved = sorted(set(approved_by) & nodes)
    needed = approvals_needed(nodes)
    count = f"{len(approved)} of {needed} approvals needed ({','.join(approved) or 'none'})"
    if running_primary:
        return PromotionDecision(Vote.REFUSE, f"{running_primary} is a running primary: not promoting {me}")
    if len(approved) >= needed:
        return PromotionDecision(Vote.PROMOTE, f"{count}: no node holds a lease, promoting {me}")
    if waited >= patience:
        return PromotionDecision(Vote.REFUSE, f"{count} after {waited:.1f}s: not promoting {me}")
    return PromotionDecision(Vote.WAIT, f"{count}: waiting for the old lease to lapse")
