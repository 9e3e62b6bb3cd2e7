"""[eventlistener:conf_reload] events=PROCESS_COMMUNICATION_STDOUT: reload on mounted config changes."""

import logging
import time
from collections.abc import Callable

from postdock_supervisor import healing
from postdock_supervisor.act.supervisor import Supervisor
from postdock_supervisor.config import Settings
from postdock_supervisor.decide.conf import ReloadAct, ReloadDecision, decide_reload
from postdock_supervisor.events.model import Event
from postdock_supervisor.programs.contract import react
from postdock_supervisor.programs.runner import run_events

logger = logging.getLogger(__name__)


class ConfReload:
    def __init__(self, supervisor: Supervisor) -> None:
        self.supervisor = supervisor

    def observe(self, event: Event) -> tuple[Event, str]:
        return event, self.supervisor.states().get("postgres", "ABSENT")

    def decide(self, snapshot: tuple[Event, str], now: float) -> ReloadDecision:
        return decide_reload(*snapshot)

    def apply(self, decision: ReloadDecision) -> None:
        if decision.action is ReloadAct.NOTHING:
            return
        logger.info("%s", decision.reason)
        if decision.action is ReloadAct.RELOAD:
            healing.record("conf_reload", decision.action.value, decision.reason)
            self.supervisor.signal("postgres", "HUP")


def handler(supervisor: Supervisor) -> Callable[[Event], object]:
    program = ConfReload(supervisor)
    return lambda event: react(program, event, time.monotonic())


def main(settings: Settings) -> None:
    run_events(handler(Supervisor()))
