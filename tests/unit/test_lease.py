"""The quorum lease's rules, case by case, and a property test: random interleavings of lease,
promotion and release requests, with random message delays and clocks running at different rates, never give two
nodes a valid lease at the same real moment."""

import heapq
from dataclasses import dataclass, field

from hypothesis import given, settings
from hypothesis import strategies as st

from postdock_supervisor.decide.lease import (
    DRIFT,
    Grantor,
    Hold,
    approvals_needed,
    decide_approval,
    decide_catch_up,
    decide_grant,
    decide_hold,
    decide_release,
    lease_until,
    majority,
    may_promote,
    started,
)

THREE = ("pgmaster", "pgslave1", "pgslave3")
LEASE = 2.0


def test_a_partner_grants_one_node_at_a_time_and_renews_it() -> None:
    first = decide_grant(Grantor(), "pgmaster", now=10.0, lease_s=LEASE)
    assert (first.ok, first.reason) == (True, "lease granted to pgmaster for 2s")
    other = decide_grant(first.state, "pgslave1", now=11.0, lease_s=LEASE)
    assert (other.ok, other.reason) == (False, "pgmaster holds a lease for 1.0s more: none for pgslave1")
    renewed = decide_grant(first.state, "pgmaster", now=11.5, lease_s=LEASE)
    assert renewed.ok and renewed.state.grant_until == 13.5
    assert decide_grant(first.state, "pgslave1", now=12.0, lease_s=LEASE).ok  # lapsed


def test_no_approval_while_a_grant_lives_and_no_grant_to_others_after_one() -> None:
    granted = decide_grant(Grantor(), "pgmaster", 10.0, LEASE).state
    refused = decide_approval(granted, "pgslave1", 11.9, LEASE)
    assert (refused.ok, refused.reason) == (False, "pgmaster may still hold a lease (0.1s): not approving pgslave1")
    approved = decide_approval(granted, "pgslave1", 12.0, LEASE)
    assert (approved.ok, approved.reason) == (True, "no live lease: approving the promotion of pgslave1")
    locked = decide_grant(approved.state, "pgmaster", 12.5, LEASE)
    assert (locked.ok, locked.reason) == (False, "approved the promotion of pgslave1: no lease for pgmaster")
    assert not decide_approval(approved.state, "pgslave3", 12.5, LEASE).ok
    # The promoted candidate asking for a lease clears its approval.
    as_primary = decide_grant(approved.state, "pgslave1", 12.6, LEASE)
    assert as_primary.ok and as_primary.state.approved == ""


def test_an_approving_standby_streams_from_the_candidate_until_it_grants_another_node() -> None:
    granted = decide_grant(Grantor(), "pgmaster", 10.0, LEASE, me="pgslave3").state
    approved = decide_approval(granted, "pgslave1", 12.0, LEASE, me="pgslave3")
    assert (approved.ok, approved.stream_from, approved.state.moved_for) == (True, "pgslave1", "pgslave1")
    # The candidate's own desk moves nothing.
    assert decide_approval(granted, "pgslave1", 12.0, LEASE, me="pgslave1").stream_from == ""
    # Promoted, it asks as the primary: it is streamed from already, repmgr's follow does the rest.
    as_primary = decide_grant(approved.state, "pgslave1", 12.5, LEASE, me="pgslave3")
    assert (as_primary.stream_from, as_primary.state.moved_for) == ("", "")
    # Not promoted: once the approval lapses the old primary may win a lease again, and is streamed from.
    back = decide_grant(approved.state, "pgmaster", 14.0, LEASE, me="pgslave3")
    assert (back.ok, back.reason, back.stream_from) == (
        True,
        "lease granted to pgmaster for 2s; streaming from it again",
        "pgmaster",
    )
    assert back.state.moved_for == ""
    # Granting itself a lease (it became the primary) never makes a node stream from itself.
    assert decide_grant(approved.state, "pgslave3", 14.0, LEASE, me="pgslave3").stream_from == ""


def test_a_catch_up_waits_for_the_old_lease_to_lapse_and_approves_nobody() -> None:
    granted = decide_grant(Grantor(), "pgmaster", 10.0, LEASE).state
    assert decide_catch_up(granted, "pgslave1", 11.0, "pgslave3").reason == (
        "pgmaster may still hold a lease (1.0s): not catching up from pgslave1"
    )
    assert decide_catch_up(started(10.0, LEASE), "pgslave1", 11.0, "pgslave3").ok is False
    assert decide_catch_up(granted, "pgslave3", 13.0, "pgslave3").ok is False  # from itself
    done = decide_catch_up(granted, "pgslave1", 12.0, "pgslave3")
    assert (done.ok, done.stream_from, done.catch_up) == (True, "pgslave1", True)
    assert (done.state.moved_for, done.state.approved) == ("pgslave1", "")
    # A grant it gave the candidate itself is no reason to wait.
    assert decide_catch_up(decide_grant(Grantor(), "pgslave1", 10.0, LEASE).state, "pgslave1", 11.0).ok


def test_a_restarted_grantor_grants_nothing_until_its_old_grants_have_lapsed() -> None:
    fresh = started(now=50.0, lease_s=LEASE)
    assert decide_grant(fresh, "pgmaster", 51.0, LEASE).reason == (
        "started 1.0s too recently to know its earlier grants: no lease for pgmaster"
    )
    assert not decide_approval(fresh, "pgslave1", 51.9, LEASE).ok
    assert decide_approval(fresh, "pgslave1", 52.0, LEASE).ok


def test_a_released_grant_frees_the_partner_at_once_and_only_the_holder_releases() -> None:
    granted = decide_grant(Grantor(), "pgmaster", 10.0, LEASE, epoch="b").state
    assert not decide_approval(granted, "pgslave1", 10.5, LEASE).ok
    assert decide_release(granted, "pgslave3", "b").state == granted
    assert decide_release(granted, "pgmaster", "a").state == granted  # an earlier term's, delivered late
    released = decide_release(granted, "pgmaster", "b")
    assert released.reason == "pgmaster released its lease"
    assert decide_approval(released.state, "pgslave1", 10.5, LEASE).ok


def test_approvals_meet_every_majority() -> None:
    assert [approvals_needed(("n",) * 0 + tuple(f"n{i}" for i in range(k))) for k in (1, 2, 3, 4, 5)] == [1, 1, 2, 2, 3]
    # Two nodes: the standby's own approval is enough, since every lease needs its grant.
    assert may_promote({"pgslave1"}, ("pgmaster", "pgslave1"))


def test_commits_are_held_before_the_lease_ends_and_released_once_it_is_renewed() -> None:
    holding = decide_hold(True, held=False, until=101.0, now=100.5, margin=0.7, granted="pgmaster")
    assert (holding.action, holding.reason) == (
        Hold.HOLD,
        "lease ends in 0.5s and no majority renewed it (granted by pgmaster): holding every commit",
    )
    assert decide_hold(True, held=True, until=0.0, now=100.5, margin=0.7, granted="").action is Hold.NOTHING
    back = decide_hold(True, held=True, until=102.4, now=100.5, margin=0.7, granted="pgmaster,pgslave1")
    assert (back.action, back.reason) == (
        Hold.RELEASE,
        "lease for 1.9s (granted by pgmaster,pgslave1): taking writes again",
    )
    assert decide_hold(False, held=False, until=0.0, now=100.5, margin=0.7, granted="").action is Hold.NOTHING


def test_a_lease_counts_from_the_request_and_needs_a_majority() -> None:
    assert majority(THREE) == 2 and majority((*THREE, "a", "b")) == 3 and majority(("pgmaster", "pgslave1")) == 2
    assert lease_until(100.0, {"pgmaster", "pgslave3"}, THREE, LEASE) == 100.0 + LEASE * (1 - DRIFT)
    assert lease_until(100.0, {"pgmaster"}, THREE, LEASE) == 0.0
    assert lease_until(100.0, {"pgmaster", "stranger"}, THREE, LEASE) == 0.0
    assert may_promote({"pgslave1", "pgslave3"}, THREE) and not may_promote({"pgslave1"}, THREE)


# The simulation: real time t; node i's clock reads offset_i + rate_i * t. Rates differ by at most
# the ratio the proof allows: (1 + d) / (1 - d) <= 1 / (1 - DRIFT).
RATE_SPREAD = 0.02


@dataclass(order=True)
class Event:
    at: float
    order: int
    kind: str = field(compare=False)  # request | reply
    request: int = field(compare=False)
    node: str = field(compare=False)  # who handles it
    ok: bool = field(compare=False, default=False)


@dataclass
class Request:
    sender: str
    kind: str  # lease | approve | release
    sent_local: float
    sent_real: float
    epoch: str = ""  # the sender's term: a new one after each of its releases
    answers: dict[str, bool] = field(default_factory=dict)


requests_strategy = st.lists(
    st.tuples(
        st.sampled_from(["lease", "approve", "release"]),
        st.integers(0, 2),  # sender
        st.floats(0, 10),  # real send time
        st.lists(st.floats(0, 1), min_size=3, max_size=3),  # request delays
        st.lists(st.floats(0, 1), min_size=3, max_size=3),  # reply delays
    ),
    min_size=1,
    max_size=25,
)


Plan = list[tuple[str, int, float, list[float], list[float]]]


def simulate(plan: Plan, rates: list[float], offsets: list[float]) -> list[tuple[str, float, float]]:
    """Every lease held, as (node, real start, real end): requests (kind, sender, real send time,
    delay to each node, delay of each reply) delivered in real-time order to real grantors."""
    nodes = list(THREE)

    def local(node: str, t: float) -> float:
        i = nodes.index(node)
        return offsets[i] + rates[i] * t

    def real(node: str, clock: float) -> float:
        i = nodes.index(node)
        return (clock - offsets[i]) / rates[i]

    grantors = {n: Grantor() for n in nodes}
    requests: list[Request] = []
    replies: list[list[float]] = []
    queue: list[Event] = []
    order = 0
    released_at = {n: sorted(t for k, i, t, _, _ in plan if k == "release" and nodes[i] == n) for n in nodes}
    for kind, sender_index, sent_at, there, back in plan:
        sender = nodes[sender_index]
        epoch = str(sum(t < sent_at for t in released_at[sender]))
        requests.append(Request(sender, kind, local(sender, sent_at), sent_at, epoch))
        replies.append(back)
        for target, delay in zip(nodes, there, strict=True):
            order += 1
            heapq.heappush(queue, Event(sent_at + delay, order, "request", len(requests) - 1, target))
    leases: list[tuple[str, float, float, float]] = []
    while queue:
        event = heapq.heappop(queue)
        request = requests[event.request]
        if event.kind == "request":
            at = local(event.node, event.at)
            if request.kind == "release":
                answer = decide_release(grantors[event.node], request.sender, request.epoch)
            elif request.kind == "lease":
                answer = decide_grant(grantors[event.node], request.sender, at, LEASE, request.epoch)
            else:
                answer = decide_approval(grantors[event.node], request.sender, at, LEASE)
            grantors[event.node] = answer.state
            order += 1
            back = replies[event.request][nodes.index(event.node)]
            heapq.heappush(queue, Event(event.at + back, order, "reply", event.request, event.node, answer.ok))
            continue
        request.answers[event.node] = event.ok
        granted = {n for n, ok in request.answers.items() if ok}
        if request.kind == "lease" and event.ok:
            # The lease holds from the reply that completes a majority (each later one changes nothing).
            until = lease_until(request.sent_local, granted, nodes, LEASE)
            before = lease_until(request.sent_local, granted - {event.node}, nodes, LEASE)
            start, end = event.at, real(request.sender, until)
            if until and not before and start < end:
                leases.append((request.sender, start, end, request.sent_real))
    # A holder releases only once it has stopped acknowledging: its leases end when it sends the
    # release, and it counts no lease from a request it sent before that.
    releases = [(r.sender, r.sent_real) for r in requests if r.kind == "release"]
    held = []
    for node, start, end, sent in leases:
        cut = min((t for who, t in releases if who == node and t >= sent), default=end)
        if start < cut:
            held.append((node, start, min(end, cut)))
    return held


def assert_no_overlap(leases: list[tuple[str, float, float]]) -> None:
    for i, (a, a_start, a_end) in enumerate(leases):
        for b, b_start, b_end in leases[i + 1 :]:
            if a != b:
                assert a_end <= b_start or b_end <= a_start, (a, a_start, a_end, b, b_start, b_end)


@settings(max_examples=600, deadline=None)
@given(
    requests_strategy,
    st.lists(st.floats(1 - RATE_SPREAD, 1 + RATE_SPREAD), min_size=3, max_size=3),
    st.lists(st.floats(-100, 100), min_size=3, max_size=3),
)
def test_no_two_nodes_ever_hold_a_lease_at_the_same_real_moment(
    plan: Plan, rates: list[float], offsets: list[float]
) -> None:
    assert_no_overlap(simulate(plan, rates, offsets))


def test_the_worst_clock_rates_with_instant_messages_still_leave_no_overlap() -> None:
    """The old primary's clock runs slow, every grantor's fast, messages take no time, and the
    candidate asks the moment the grants lapse: the drift margin is what keeps the leases apart."""
    slow, fast = 1 - RATE_SPREAD, 1 + RATE_SPREAD
    lapsed = LEASE / fast + 0.001  # real time when the fast grantors' grants have lapsed
    instant = [0.0, 0.0, 0.0]
    plan: Plan = [
        ("lease", 0, 0.0, instant, instant),  # pgmaster
        ("approve", 1, lapsed, [10.0, 0.0, 0.0], instant),  # pgslave1; pgmaster hears late
        ("lease", 1, lapsed + 0.001, [10.0, 0.0, 0.0], instant),
    ]
    leases = simulate(plan, [slow, fast, fast], [0.0, 0.0, 0.0])
    assert [node for node, _, _ in leases] == ["pgmaster", "pgslave1"]
    assert_no_overlap(leases)
