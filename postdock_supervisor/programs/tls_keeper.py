"""[eventlistener:tls_keeper] events=TICK_5 (TLS=1, database nodes and pgpool, as root: the CA key
is root's): renew this node's certificate once two thirds of its validity have passed (decide/tls.py).
postgres reloads it on SIGHUP, for new connections, without dropping any; pgpool-II reads its
certificate only at start, so pgpool restarts (its clients reconnect)."""

import logging
import time
from pathlib import Path

from postdock_supervisor import healing, paths
from postdock_supervisor.act import tls
from postdock_supervisor.act.supervisor import Supervisor
from postdock_supervisor.config import Settings
from postdock_supervisor.decide.tls import TlsAct, TlsDecision, decide_renewal
from postdock_supervisor.errors import ActionError
from postdock_supervisor.events.model import Event, TickEvent
from postdock_supervisor.model.tls import Certificate
from postdock_supervisor.observe.tls import CertificateFile
from postdock_supervisor.programs.contract import react
from postdock_supervisor.programs.runner import run_events

logger = logging.getLogger(__name__)


class TlsKeeper:
    def __init__(self, settings: Settings, supervisor: Supervisor, cert: Path = paths.TLS_CERT) -> None:
        self.settings = settings
        self.supervisor = supervisor
        self.cert = CertificateFile(cert)

    def observe(self, event: Event) -> Certificate | None:
        return self.cert.read() if isinstance(event, TickEvent) else None

    def decide(self, snapshot: Certificate, now: float) -> TlsDecision:
        return decide_renewal(snapshot, now)

    def apply(self, decision: TlsDecision) -> None:
        if decision.action is TlsAct.NOTHING:
            return
        logger.info("%s", decision.reason)
        try:
            tls.issue_own(self.settings)
        except (ActionError, OSError) as exc:
            logger.error("certificate renewal failed (%s): retried in 5 s", exc)
            return
        healing.record("tls_keeper", decision.action.value, decision.reason)
        if self.settings.pgpool is not None:
            self.supervisor.stop("pgpool")
            self.supervisor.start("pgpool")
        elif self.supervisor.states().get("postgres") == "RUNNING":
            self.supervisor.signal("postgres", "HUP")


def main(settings: Settings) -> None:
    keeper = TlsKeeper(settings, Supervisor())
    # The certificate's dates are wall-clock times.
    run_events(lambda event: react(keeper, event, time.time()))
