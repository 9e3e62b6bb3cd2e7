"""The fence keeper (a supervisor program on first-level postgres nodes): twice a second, observe
(observe/fence.py), decide (decide/fence.py), act. A loop rather than a TICK_5 listener because
fencing must act within seconds, and supervisord's finest tick is 5 s."""

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from postdock_supervisor import healing
from postdock_supervisor.act.phase import rerun_bootstrap, set_phase
from postdock_supervisor.act.supervisor import Supervisor
from postdock_supervisor.config import PostgresSettings, Settings
from postdock_supervisor.decide.fence import FenceAct, FenceDecision, decide_fence, has_majority
from postdock_supervisor.model.fence import FenceSnapshot
from postdock_supervisor.observe.fence import LocalReader, Prober, observe_fence
from postdock_supervisor.programs.contract import step
from postdock_supervisor.programs.runner import run_ticks

logger = logging.getLogger(__name__)

PAUSE_S = 0.5
PROGRAM = "fence_keeper"


def fence(supervisor: Supervisor, reason: str) -> None:
    # The phase first: crash_guard, role_check and health then know this stop is on purpose.
    set_phase("fenced", reason)
    # Fast shutdown: sessions are ended and new ones refused at once; the rest is its checkpoint.
    supervisor.stop("postgres")
    supervisor.stop("repmgrd")


def act(supervisor: Supervisor, decision: FenceDecision) -> None:
    if decision.action is FenceAct.NOTHING:
        return
    logger.warning("%s", decision.reason)
    healing.record(PROGRAM, decision.action.value, decision.reason)
    if decision.action is FenceAct.FENCE:
        fence(supervisor, decision.reason)
    elif decision.action is FenceAct.REJOIN:
        rerun_bootstrap(supervisor, decision.reason)


def still_counts(snapshot: FenceSnapshot) -> bool:
    """Whether this round restarts the clock: only a running primary without a majority lets it run."""
    return snapshot.phase != "done" or not snapshot.primary or has_majority(snapshot)


@dataclass(frozen=True)
class FenceRound:
    decision: FenceDecision
    last_majority: float  # memory: when a round that counts last began
    alone: bool  # memory: this round saw no majority on a running primary


class FenceKeeper:
    """Observe, decide, apply, twice a second; memory: when a majority was last seen, and whether
    the last round was alone (to log the edges, not every round)."""

    def __init__(
        self,
        pg: PostgresSettings,
        status_port: int,
        supervisor: Supervisor,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.pg = pg
        self.supervisor = supervisor
        self.clock = clock
        self.prober = Prober((status_port, pg.port))
        self.local = LocalReader(pg)
        self.last_majority = clock()
        self.alone = False

    def observe(self) -> FenceSnapshot:
        return observe_fence(self.pg, self.local, self.prober)

    def decide(self, snapshot: FenceSnapshot, now: float) -> FenceRound:
        """now: when the round began; the fence clock is read again after the probes (up to 1.2 s)."""
        counts = still_counts(snapshot)
        last_majority = now if counts else self.last_majority
        decision = decide_fence(snapshot, last_majority, self.pg.fence_timeout, self.clock())
        return FenceRound(decision, last_majority, alone=not counts)

    def apply(self, decision: FenceRound) -> None:
        if self.alone != decision.alone:  # log the edges, not every round
            logger.log(logging.WARNING if decision.alone else logging.INFO, "%s", decision.decision.reason)
        self.last_majority, self.alone = decision.last_majority, decision.alone
        act(self.supervisor, decision.decision)


def main(settings: Settings) -> None:
    assert settings.postgres is not None
    keeper = FenceKeeper(settings.postgres, settings.common.status_port, Supervisor())
    run_ticks(lambda began: step(keeper, began), interval=0.0, min_pause=PAUSE_S)
