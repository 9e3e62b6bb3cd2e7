"""[eventlistener:role_check] events=TICK_5: a primary the cluster has left behind steps down, a
standby stuck without streaming while its upstream runs is re-cloned (decide/stalled.py), and an
election repmgrd gave up on is finished by the standby that leads it (decide/election.py)."""

import logging
import re
import time

from postdock_supervisor import files, healing, paths
from postdock_supervisor.act.node import rerun_election
from postdock_supervisor.act.phase import rerun_bootstrap
from postdock_supervisor.act.supervisor import Supervisor
from postdock_supervisor.config import Settings
from postdock_supervisor.decide.role import RoleAct, RoleDecision
from postdock_supervisor.decide.stalled import decide_check
from postdock_supervisor.events.model import Event, TickEvent
from postdock_supervisor.model.node import NodeReport, RepmgrdView
from postdock_supervisor.observe.local import read_upstream_last_seen
from postdock_supervisor.observe.node import observe
from postdock_supervisor.programs.contract import react
from postdock_supervisor.programs.runner import run_events

logger = logging.getLogger(__name__)


class RoleCheck:
    def __init__(self, settings: Settings, supervisor: Supervisor) -> None:
        assert settings.postgres is not None
        self.settings = settings
        self.pg = settings.postgres
        self.supervisor = supervisor
        self.stalled_since: float | None = None  # memory of the standby check
        self.last_kind = ""  # the last reason logged, figures left out: each new situation once

    def observe(self, event: Event) -> tuple[NodeReport, dict[str, NodeReport | None], RepmgrdView] | None:
        if not isinstance(event, TickEvent):
            return None
        me, peers = observe(self.settings)
        repmgrd = RepmgrdView()
        if me.postgres.running and me.postgres.in_recovery:
            running = self.supervisor.states().get("repmgrd") == "RUNNING"
            repmgrd = RepmgrdView(running, read_upstream_last_seen(self.pg) if running else None)
        return me, dict(peers), repmgrd

    def decide(
        self, snapshot: tuple[NodeReport, dict[str, NodeReport | None], RepmgrdView], now: float
    ) -> RoleDecision:
        me, peers, repmgrd = snapshot
        return decide_check(me, peers, self.pg, self.stalled_since, now, repmgrd)

    def apply(self, decision: RoleDecision) -> None:
        self.stalled_since = decision.stalled_since
        kind = re.sub(r"\d+(\.\d+)?", "#", decision.reason)
        changed, self.last_kind = kind != self.last_kind, kind
        if decision.action is RoleAct.NOTHING:
            # Why nothing is done, when that changes: an outage that nobody ends must be explainable.
            if changed:
                logger.info("%s", decision.reason)
            return
        logger.warning("%s", decision.reason)
        healing.record("role_check", decision.action.value, decision.reason)
        if decision.action is RoleAct.RERUN_ELECTION:
            rerun_election()
            return
        if decision.action is RoleAct.RECLONE_STANDBY:
            # Restarted as it is, it would refuse to start or wait again (its WAL went past the fork):
            # the start-up decision re-clones a standby marked so.
            files.write_atomic(paths.STANDBY_DIVERGED, decision.reason + "\n", 0o644)
        # The start-up decision does the rejoin (crash recovery, pg_rewind or re-clone).
        self.supervisor.stop("postgres")
        rerun_bootstrap(self.supervisor, decision.reason)


def main(settings: Settings) -> None:
    check = RoleCheck(settings, Supervisor())
    run_events(lambda event: react(check, event, time.monotonic()))
