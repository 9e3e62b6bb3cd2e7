"""[eventlistener:conf_reload] events=PROCESS_COMMUNICATION_STDOUT: reload on mounted config changes."""

import logging
from collections.abc import Callable

from postdock_supervisor import healing
from postdock_supervisor.act.supervisor import Supervisor
from postdock_supervisor.config import Settings
from postdock_supervisor.decide.conf import ReloadAct, decide_reload
from postdock_supervisor.events.model import Event
from postdock_supervisor.programs.runner import run_events

logger = logging.getLogger(__name__)


def handler(supervisor: Supervisor) -> Callable[[Event], None]:
    def handle(event: Event) -> None:
        decision = decide_reload(event, supervisor.states().get("postgres", "ABSENT"))
        if decision.action is ReloadAct.NOTHING:
            return
        logger.info("%s", decision.reason)
        if decision.action is ReloadAct.RELOAD:
            healing.record("conf_reload", "reload", decision.reason)
            supervisor.signal("postgres", "HUP")

    return handle


def main(settings: Settings) -> None:
    run_events(handler(Supervisor()))
