"""The one shape of a program: observe, decide, apply.

- `observe` builds a frozen snapshot (for a listener, from the event and what it reads; None when the
  event is not for it);
- `decide` calls the program's pure function in decide/ with the snapshot, the memory the program
  carries and `now`, and returns its decision (an action, a one-line reason);
- `apply` is the one place the decision's actions are carried out, logged and counted.

`step` and `react` are what the runners call: one round of a loop, one supervisor event."""

from typing import Protocol, TypeVar

from postdock_supervisor.events.model import Event

S = TypeVar("S")
D = TypeVar("D")


class Program(Protocol[S, D]):
    def observe(self) -> S: ...

    def decide(self, snapshot: S, now: float) -> D: ...

    def apply(self, decision: D) -> None: ...


class Reaction(Protocol[S, D]):
    def observe(self, event: Event) -> S | None: ...

    def decide(self, snapshot: S, now: float) -> D: ...

    def apply(self, decision: D) -> None: ...


def step(program: Program[S, D], now: float) -> D:
    decision = program.decide(program.observe(), now)
    program.apply(decision)
    return decision


def react(program: Reaction[S, D], event: Event, now: float) -> D | None:
    snapshot = program.observe(event)
    if snapshot is None:
        return None
    decision = program.decide(snapshot, now)
    program.apply(decision)
    return decision
