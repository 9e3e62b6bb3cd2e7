"""[eventlistener:role_check] events=TICK_5: a primary the cluster has left behind steps down."""

import logging

from postdock_supervisor import healing
from postdock_supervisor.act.phase import rerun_bootstrap
from postdock_supervisor.act.supervisor import Supervisor
from postdock_supervisor.config import Settings
from postdock_supervisor.decide.role import RoleAct, decide_role
from postdock_supervisor.events.model import Event, TickEvent
from postdock_supervisor.observe.node import observe
from postdock_supervisor.programs.runner import run_events

logger = logging.getLogger(__name__)


def main(settings: Settings) -> None:
    assert settings.postgres is not None
    pg = settings.postgres
    supervisor = Supervisor()

    def handle(event: Event) -> None:
        if not isinstance(event, TickEvent) or pg.is_cascade:
            return
        me, peers = observe(settings)
        decision = decide_role(me, peers, pg)
        if decision.action is RoleAct.NOTHING:
            return
        logger.warning("%s", decision.reason)
        healing.record("role_check", decision.action.value, decision.reason)
        # The start-up decision does the rejoin (crash recovery, pg_rewind or re-clone).
        supervisor.stop("postgres")
        rerun_bootstrap(supervisor, decision.reason)

    run_events(handle)
