"""[eventlistener:ssh_keeper] events=TICK_60 (SSH_ENABLE=1, as root: the host authority is root's):
certify this container's SSH host key again once two thirds of its certificate's validity have passed
(decide/tls.py's rule, SSH_CERT_DAYS), and have sshd read it again (SIGHUP)."""

import logging
import time

from postdock_supervisor import healing
from postdock_supervisor.act import ssh
from postdock_supervisor.act.supervisor import Supervisor
from postdock_supervisor.config import Settings
from postdock_supervisor.decide.tls import TlsAct, TlsDecision, decide_renewal
from postdock_supervisor.errors import ActionError
from postdock_supervisor.events.model import Event, TickEvent
from postdock_supervisor.model.tls import Certificate
from postdock_supervisor.observe.ssh import read_host_certificate
from postdock_supervisor.observe.tls import CertificateFile
from postdock_supervisor.programs.contract import react
from postdock_supervisor.programs.runner import run_events

logger = logging.getLogger(__name__)


class SshKeeper:
    def __init__(self, settings: Settings, supervisor: Supervisor) -> None:
        self.settings = settings
        self.supervisor = supervisor
        self.cert = CertificateFile(ssh.host_certificate_path(settings), read_host_certificate)

    def observe(self, event: Event) -> Certificate | None:
        return self.cert.read() if isinstance(event, TickEvent) else None

    def decide(self, snapshot: Certificate, now: float) -> TlsDecision:
        return decide_renewal(snapshot, now)

    def apply(self, decision: TlsDecision) -> None:
        if decision.action is TlsAct.NOTHING:
            return
        logger.info("SSH host %s", decision.reason)
        try:
            ssh.certify_host_key(self.settings)
        except (ActionError, OSError) as exc:
            logger.error("SSH host certificate renewal failed (%s): retried in a minute", exc)
            return
        healing.record("ssh_keeper", decision.action.value, decision.reason)
        if self.supervisor.states().get("sshd") == "RUNNING":
            self.supervisor.signal("sshd", "HUP")


def main(settings: Settings) -> None:
    keeper = SshKeeper(settings, Supervisor())
    run_events(lambda event: react(keeper, event, time.time()))  # the certificate's dates are wall-clock times
