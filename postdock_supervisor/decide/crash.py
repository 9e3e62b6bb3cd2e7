"""What to do when postgres (or a standby's repmgrd) exits without being asked to: pure, `now` passed in.

The answer is never "restart postgres as it was": whether the node may come back as primary
depends on what happened in the cluster meanwhile, which is the start-up decision's job. So a
crash re-runs `bootstrap`, with backoff, and a crash loop ends in a clear unhealthy state.

repmgrd on a standby exits when its upstream is gone and it cannot follow the new primary (seen:
a stale "follow node N" notification left in shared memory from the previous failover sends it
to the dead node; it then refuses to start while its recorded upstream is down). The standby would
stay behind for good, and in partial/strict mode the new primary's commits would wait for it. The
start-up decision follows the current primary and starts repmgrd again."""

import enum
from dataclasses import dataclass, replace

from postdock_supervisor.events.model import Event, ProcessStateEvent, TickEvent

WATCHED = "postgres"
FOLLOWER = "repmgrd"  # watched on standbys only: on a primary supervisord's restart is enough


class Act(enum.Enum):
    NOTHING = "nothing"
    RERUN_BOOTSTRAP = "rerun-bootstrap"
    DEFER = "defer"  # a restart is due, after the backoff
    GIVE_UP = "give-up"


@dataclass(frozen=True)
class CrashPolicy:
    window_s: float = 300.0
    max_restarts: int = 5
    backoff_s: tuple[float, ...] = (0.0, 5.0, 15.0, 30.0, 60.0)


@dataclass(frozen=True)
class GuardState:
    bootstrap_running: bool
    bootstrap_phase: str
    restarts: tuple[float, ...] = ()  # when earlier re-runs were started
    pending_since: float | None = None  # a crash seen, its restart deferred
    gave_up: bool = False
    standby: bool = False  # the local data directory is a standby's (standby.signal)


@dataclass(frozen=True)
class Memory:
    """What the guard carries between events."""

    restarts: tuple[float, ...] = ()  # when earlier re-runs were started
    pending_since: float | None = None
    gave_up: bool = False


@dataclass(frozen=True)
class Decision:
    action: Act
    reason: str
    memory: Memory = Memory()
    crashed_at: float | None = None  # set when postgres crashed on a primary and the re-run is immediate


def remember(memory: Memory, decision: Decision, now: float) -> Decision:
    """The decision with the memory it leaves behind."""
    if decision.action is Act.DEFER:
        memory = replace(memory, pending_since=memory.pending_since or now)
    elif decision.action is Act.RERUN_BOOTSTRAP:
        memory = replace(memory, pending_since=None, restarts=(*memory.restarts, now))
    elif decision.action is Act.GIVE_UP:
        memory = replace(memory, gave_up=True, pending_since=None)
    return replace(decision, memory=memory)


def _due(state: GuardState, policy: CrashPolicy, now: float, why: str = "postgres exited unexpectedly") -> Decision:
    recent = [t for t in state.restarts if now - t < policy.window_s]
    if len(recent) >= policy.max_restarts:
        return Decision(
            Act.GIVE_UP,
            f"postgres or repmgrd exited {len(recent) + 1} times within {policy.window_s:.0f}s: "
            "not restarting it again; the node stays unhealthy until an operator acts",
        )
    wait = policy.backoff_s[min(len(recent), len(policy.backoff_s) - 1)]
    if recent and now - recent[-1] < wait:
        return Decision(Act.DEFER, f"restart {len(recent) + 1} waits {wait - (now - recent[-1]):.0f}s more (backoff)")
    return Decision(Act.RERUN_BOOTSTRAP, f"{why}: running the start-up decision again")


def decide_crash(event: Event, state: GuardState, policy: CrashPolicy, now: float) -> Decision:
    if state.gave_up:
        return Decision(Act.NOTHING, "gave up earlier: waiting for an operator")
    if isinstance(event, TickEvent):
        if state.pending_since is None:
            return Decision(Act.NOTHING, "no restart pending")
        return _due(state, policy, now)
    if not isinstance(event, ProcessStateEvent) or event.name not in (WATCHED, FOLLOWER):
        return Decision(Act.NOTHING, "not a postgres or repmgrd event")
    crashed = event.state == "FATAL" or (event.state == "EXITED" and not event.expected)
    if not crashed:
        return Decision(Act.NOTHING, f"{event.name} {event.state.lower()} as expected")
    if event.name == FOLLOWER and not state.standby:
        return Decision(Act.NOTHING, "repmgrd exited on a primary: supervisord restarts it")
    if state.bootstrap_running or state.bootstrap_phase != "done":
        return Decision(Act.NOTHING, "bootstrap is bringing postgres up: it handles this exit")
    if event.name == FOLLOWER:
        return _due(state, policy, now, "repmgrd exited on a standby (its upstream may be gone)")
    due = _due(state, policy, now)
    if due.action is Act.RERUN_BOOTSTRAP and not state.standby:
        # The start-up decision may restart a primary in place, if it does so at once.
        return replace(due, crashed_at=now)
    return due
