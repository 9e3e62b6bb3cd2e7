"""[eventlistener:crash_guard] events=PROCESS_STATE_EXITED,PROCESS_STATE_FATAL,TICK_5"""

import logging
import time
from pathlib import Path

from postdock_supervisor import healing
from postdock_supervisor.act.phase import rerun_bootstrap, set_phase
from postdock_supervisor.act.supervisor import Supervisor
from postdock_supervisor.config import Settings
from postdock_supervisor.decide.crash import Act, CrashPolicy, Decision, GuardState, Memory, decide_crash, remember
from postdock_supervisor.events.model import Event
from postdock_supervisor.observe.local import read_bootstrap_state
from postdock_supervisor.programs.contract import react
from postdock_supervisor.programs.runner import run_events

logger = logging.getLogger(__name__)

PROGRAM = "crash_guard"


class CrashGuard:
    def __init__(self, supervisor: Supervisor, policy: CrashPolicy | None = None, pgdata: str = "") -> None:
        self.supervisor = supervisor
        self.pgdata = pgdata
        self.policy = policy or CrashPolicy()
        self.memory = Memory()

    def observe(self, event: Event) -> tuple[Event, GuardState]:
        phase, _ = read_bootstrap_state()
        running = self.supervisor.states().get("bootstrap") in ("STARTING", "RUNNING")
        return event, GuardState(
            bootstrap_running=running,
            bootstrap_phase=phase,
            restarts=self.memory.restarts,
            pending_since=self.memory.pending_since,
            gave_up=self.memory.gave_up,
            standby=bool(self.pgdata) and (Path(self.pgdata) / "standby.signal").exists(),
        )

    def decide(self, snapshot: tuple[Event, GuardState], now: float) -> Decision:
        event, state = snapshot
        return remember(self.memory, decide_crash(event, state, self.policy, now), now)

    def apply(self, decision: Decision) -> None:
        self.memory = decision.memory
        if decision.action is Act.NOTHING:
            return
        logger.warning("%s: %s", decision.action.value, decision.reason)
        if decision.action is Act.RERUN_BOOTSTRAP:
            healing.record(PROGRAM, decision.action.value, decision.reason)
            rerun_bootstrap(self.supervisor, decision.reason, crashed_at=decision.crashed_at)
        elif decision.action is Act.GIVE_UP:
            healing.record(PROGRAM, decision.action.value, decision.reason)
            set_phase("gave-up", decision.reason)

    def handle(self, event: Event) -> None:
        react(self, event, time.monotonic())


def main(settings: Settings) -> None:
    pgdata = settings.postgres.pgdata if settings.postgres is not None else ""
    run_events(CrashGuard(Supervisor(), pgdata=pgdata).handle)
