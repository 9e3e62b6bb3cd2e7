"""The fence keeper (a supervisor program on first-level postgres nodes): twice a second, observe
(observe/fence.py), decide (decide/fence.py), act. A loop rather than a TICK_5 listener because
fencing must act within seconds, and supervisord's finest tick is 5 s."""

import logging
import time

from postdock_supervisor import healing
from postdock_supervisor.act.phase import rerun_bootstrap, set_phase
from postdock_supervisor.act.supervisor import Supervisor
from postdock_supervisor.config import PostgresSettings, Settings
from postdock_supervisor.decide.fence import FenceAct, FenceDecision, decide_fence, has_majority
from postdock_supervisor.model.fence import FenceSnapshot
from postdock_supervisor.observe.fence import LocalReader, Prober, observe_fence
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


class FenceKeeper:
    """Observe, decide, apply, twice a second; memory: when a majority was last seen, and whether
    the last round was alone (to log the edges, not every round)."""

    def __init__(self, pg: PostgresSettings, status_port: int, supervisor: Supervisor) -> None:
        self.pg = pg
        self.supervisor = supervisor
        self.prober = Prober((status_port, pg.port))
        self.local = LocalReader(pg)
        self.last_majority = time.monotonic()
        self.alone = False

    def observe(self) -> FenceSnapshot:
        return observe_fence(self.pg, self.local, self.prober)

    def round(self, began: float) -> FenceDecision:
        snapshot = self.observe()
        counts = still_counts(snapshot)
        if counts:
            self.last_majority = began
        decision = decide_fence(snapshot, self.last_majority, self.pg.fence_timeout, time.monotonic())
        if self.alone != (not counts):
            self.alone = not counts
            logger.log(logging.WARNING if self.alone else logging.INFO, "%s", decision.reason)
        act(self.supervisor, decision)
        return decision


def main(settings: Settings) -> None:
    assert settings.postgres is not None
    keeper = FenceKeeper(settings.postgres, settings.common.status_port, Supervisor())
    run_ticks(keeper.round, interval=0.0, min_pause=PAUSE_S)
