"""When a node renews its own TLS certificate (pure): once two thirds of its validity have passed,
so a renewal that fails has a third of the validity left to be retried and noticed."""

import enum
from dataclasses import dataclass
from datetime import UTC, datetime

from postdock_supervisor.model.tls import Certificate

RENEW_AFTER = 2 / 3


class TlsAct(enum.Enum):
    NOTHING = "nothing"
    RENEW = "renew-certificate"


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
