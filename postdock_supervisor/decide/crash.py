"""What to do when postgres exits without being asked to: pure, `now` passed in.

The answer is never "restart postgres as it was": whether the node may come back as primary
depends on what happened in the cluster meanwhile, which is the start-up decision's job. So a
crash re-runs `bootstrap`, with backoff, and a crash loop ends in a clear unhealthy state."""

import enum
from dataclasses import dataclass

from postdock_supervisor.events.model import Event, ProcessStateEvent, TickEvent

WATCHED = "postgres"


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


@dataclass(frozen=True)
class Decision:
    action: Act
    reason: str


def _due(state: GuardState, policy: CrashPolicy, now: float) -> Decision:
    recent = [t for t in state.restarts if now - t < policy.window_s]
    if len(recent) >= policy.max_restarts:
        return Decision(
            Act.GIVE_UP,
            f"postgres exited {len(recent) + 1} times within {policy.window_s:.0f}s: "
            "not restarting it again; the node stays unhealthy until an operator acts",
        )
    wait = policy.backoff_s[min(len(recent), len(policy.backoff_s) - 1)]
    if recent and now - recent[-1] < wait:
        return Decision(Act.DEFER, f"restart {len(recent) + 1} waits {wait - (now - recent[-1]):.0f}s more (backoff)")
    return Decision(Act.RERUN_BOOTSTRAP, "postgres exited unexpectedly: running the start-up decision again")


def decide_crash(event: Event, state: GuardState, policy: CrashPolicy, now: float) -> Decision:
    if state.gave_up:
        return Decision(Act.NOTHING, "gave up earlier: waiting for an operator")
    if isinstance(event, TickEvent):
        if state.pending_since is None:
            return Decision(Act.NOTHING, "no restart pending")
        return _due(state, policy, now)
    if not isinstance(event, ProcessStateEvent) or event.name != WATCHED:
        return Decision(Act.NOTHING, "not a postgres event")
    crashed = event.state == "FATAL" or (event.state == "EXITED" and not event.expected)
    if not crashed:
        return Decision(Act.NOTHING, f"postgres {event.state.lower()} as expected")
    if state.bootstrap_running or state.bootstrap_phase != "done":
        return Decision(Act.NOTHING, "bootstrap is bringing postgres up: it handles this exit")
    return _due(state, policy, now)
