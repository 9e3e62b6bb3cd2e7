"""[eventlistener:tls_keeper] events=TICK_5 (TLS=1, database nodes and pgpool, as root: the CA key
and the mounted certificates are root's). A node that issues its own certificate renews it once two
thirds of its validity have passed; a node given its certificate (tls.crt and tls.key in TLS_DIR,
rotated by the user or cert-manager) installs the mounted one when it changes, after checking it: a
refused one is logged once and the previous one stays served (decide/tls.py).
postgres reloads it on SIGHUP, for new connections, without dropping any; pgpool-II reads its
certificate only at start, so pgpool restarts (its clients reconnect)."""

import hashlib
import logging
import time
from pathlib import Path

from postdock_supervisor import healing, paths
from postdock_supervisor.act import tls
from postdock_supervisor.act.supervisor import Supervisor
from postdock_supervisor.config import Settings
from postdock_supervisor.decide.tls import TlsAct, TlsDecision, decide_tls
from postdock_supervisor.errors import ActionError
from postdock_supervisor.events.model import Event, TickEvent
from postdock_supervisor.model.tls import MountedCertificate, TlsSnapshot
from postdock_supervisor.observe.tls import CertificateFile
from postdock_supervisor.programs.contract import react
from postdock_supervisor.programs.runner import run_events

logger = logging.getLogger(__name__)


def _digest(cert: Path, key: Path) -> str:
    """Of the pair, so that a certificate copied before its key is checked again once the key arrives."""
    try:
        return hashlib.sha256(cert.read_bytes() + b"\0" + key.read_bytes()).hexdigest()
    except OSError:
        return ""


class TlsKeeper:
    def __init__(
        self, settings: Settings, supervisor: Supervisor, cert: Path = paths.TLS_CERT, key: Path = paths.TLS_KEY
    ) -> None:
        self.settings = settings
        self.supervisor = supervisor
        self.served = (cert, key)
        self.cert = CertificateFile(cert)
        # Fixed at start, as the entrypoint chose: a pair that disappears later is not a reason to issue.
        self.given = tls.given_pair(Path(settings.common.tls_dir))
        self.mounted = ""  # digest of the mounted certificate last seen
        self.refused = ""  # digest of the last mounted certificate that failed its check

    def observe(self, event: Event) -> TlsSnapshot | None:
        if not isinstance(event, TickEvent):
            return None
        if self.given is None:
            return TlsSnapshot(self.cert.read())
        self.mounted = _digest(*self.given)
        new = bool(self.mounted) and self.mounted not in (_digest(*self.served), self.refused)
        return TlsSnapshot(self.cert.read(), MountedCertificate(new))

    def decide(self, snapshot: TlsSnapshot, now: float) -> TlsDecision:
        return decide_tls(snapshot, now)

    def apply(self, decision: TlsDecision) -> None:
        if decision.action is TlsAct.NOTHING:
            return
        logger.info("%s", decision.reason)
        try:
            if decision.action is TlsAct.INSTALL:
                tls.install_given(self.settings)
            else:
                tls.issue_own(self.settings)
        except (ActionError, OSError) as exc:
            if decision.action is TlsAct.INSTALL:
                self.refused = self.mounted
                logger.error("the certificate mounted in TLS_DIR is refused: %s; still serving the previous one", exc)
            else:
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
