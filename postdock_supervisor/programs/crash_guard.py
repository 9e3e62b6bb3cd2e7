"""[eventlistener:crash_guard] events=PROCESS_STATE_EXITED,PROCESS_STATE_FATAL,TICK_5"""

import logging
import time
from pathlib import Path

from postdock_supervisor import healing
from postdock_supervisor.act.phase import rerun_bootstrap, set_phase
from postdock_supervisor.act.supervisor import Supervisor
from postdock_supervisor.config import Settings
from postdock_supervisor.decide.crash import Act, CrashPolicy, GuardState, decide_crash
from postdock_supervisor.events.model import Event
from postdock_supervisor.observe.local import read_bootstrap_state
from postdock_supervisor.programs.runner import run_events

logger = logging.getLogger(__name__)


class CrashGuard:
    def __init__(self, supervisor: Supervisor, policy: CrashPolicy | None = None, pgdata: str = "") -> None:
        self.supervisor = supervisor
        self.pgdata = pgdata
        self.policy = policy or CrashPolicy()
        self.restarts: list[float] = []
        self.pending_since: float | None = None
        self.gave_up = False

    def snapshot(self) -> GuardState:
        phase, _ = read_bootstrap_state()
        running = self.supervisor.states().get("bootstrap") in ("STARTING", "RUNNING")
        return GuardState(
            bootstrap_running=running,
            bootstrap_phase=phase,
            restarts=tuple(self.restarts),
            pending_since=self.pending_since,
            gave_up=self.gave_up,
            standby=bool(self.pgdata) and (Path(self.pgdata) / "standby.signal").exists(),
        )

    def handle(self, event: Event) -> None:
        now = time.monotonic()
        decision = decide_crash(event, self.snapshot(), self.policy, now)
        if decision.action is Act.NOTHING:
            return
        logger.warning("%s: %s", decision.action.value, decision.reason)
        if decision.action is not Act.DEFER:
            healing.record("crash_guard", decision.action.value, decision.reason)
        if decision.action is Act.DEFER:
            self.pending_since = self.pending_since or now
        elif decision.action is Act.RERUN_BOOTSTRAP:
            self.pending_since = None
            self.restarts.append(now)
            rerun_bootstrap(self.supervisor, decision.reason)
        elif decision.action is Act.GIVE_UP:
            self.gave_up = True
            self.pending_since = None
            set_phase("gave-up", decision.reason)


def main(settings: Settings) -> None:
    pgdata = settings.postgres.pgdata if settings.postgres is not None else ""
    run_events(CrashGuard(Supervisor(), pgdata=pgdata).handle)
