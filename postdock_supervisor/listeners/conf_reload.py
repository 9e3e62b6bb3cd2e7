"""[eventlistener:conf_reload] events=PROCESS_COMMUNICATION_STDOUT: reload on mounted config changes."""

import logging
from collections.abc import Callable

from postdock_supervisor import healing
from postdock_supervisor.act.supervisor import Supervisor
from postdock_supervisor.decide.conf import decide_reload
from postdock_supervisor.events.model import Event
from postdock_supervisor.events.runner import run_listener

logger = logging.getLogger(__name__)


def handler(supervisor: Supervisor) -> Callable[[Event], None]:
    def handle(event: Event) -> None:
        decision = decide_reload(event, supervisor.states().get("postgres", "ABSENT"))
        if decision.reload:
            logger.info("%s", decision.reason)
            healing.record("conf_reload", "reload", decision.reason)
            supervisor.signal("postgres", "HUP")
        elif "changed" in decision.reason:
            logger.info("%s", decision.reason)

    return handle


def main() -> None:
    run_listener(handler(Supervisor()))
