"""When a node renews its own TLS certificate (pure): once two thirds of its validity have passed,
so a renewal that fails has a third of the validity left to be retried and noticed. A certificate the
user gave is theirs to renew: the node installs the mounted one whenever it changes."""

import enum
from dataclasses import dataclass
from datetime import UTC, datetime

from postdock_supervisor.model.tls import Certificate, MountedCertificate, TlsSnapshot

RENEW_AFTER = 2 / 3


class TlsAct(enum.Enum):
    NOTHING = "nothing"
    RENEW = "renew-certificate"
    INSTALL = "install-certificate"


@dataclass(frozen=True)
class TlsDecision:
    action: TlsAct
    reason: str


def _when(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def decide_renewal(cert: Certificate, now: float) -> TlsDecision:
    """`now`: the wall clock, which the certificate's dates are in."""
    if not cert.readable:
        return TlsDecision(TlsAct.RENEW, "no readable certificate: issuing one")
    start, end = cert.not_before, cert.not_after
    due = start + (end - start) * RENEW_AFTER
    if now < due:
        return TlsDecision(TlsAct.NOTHING, f"certificate valid until {_when(end)}, renewed from {_when(due)}")
    left = end - now
    state = f"expires in {left:.0f}s" if left > 0 else f"expired {-left:.0f}s ago"
    return TlsDecision(TlsAct.RENEW, f"certificate valid until {_when(end)} ({state}): renewing it")


def decide_mounted(served: Certificate, mounted: MountedCertificate, now: float) -> TlsDecision:
    """A node serving the certificate given for it: install the mounted one once it is new. Its
    renewal is up to its issuer; PostdockCertificateNotRenewed fires when that is late."""
    if mounted.new:
        return TlsDecision(TlsAct.INSTALL, "a new certificate is mounted in TLS_DIR: installing it")
    if not served.readable:
        return TlsDecision(TlsAct.NOTHING, "no readable certificate served, and none new mounted")
    left = served.not_after - now
    state = f"expires in {left:.0f}s" if left > 0 else f"expired {-left:.0f}s ago"
    return TlsDecision(
        TlsAct.NOTHING, f"serving the mounted certificate, valid until {_when(served.not_after)} ({state})"
    )


def decide_tls(snapshot: TlsSnapshot, now: float) -> TlsDecision:
    if snapshot.mounted is None:
        return decide_renewal(snapshot.served, now)
    return decide_mounted(snapshot.served, snapshot.mounted, now)
