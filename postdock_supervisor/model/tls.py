"""This node's TLS certificate as its keeper sees it."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Certificate:
    """Its validity window (wall clock, epoch seconds); both 0 when there is none or it is unreadable."""

    not_before: float = 0.0
    not_after: float = 0.0

    @property
    def readable(self) -> bool:
        return self.not_after > self.not_before


@dataclass(frozen=True)
class MountedCertificate:
    """Where the user gave this node's certificate (tls.crt in TLS_DIR): whether the mounted one is new,
    that is neither the one served nor one already refused."""

    new: bool = False


@dataclass(frozen=True)
class TlsSnapshot:
    """What the TLS keeper sees: the certificate served, and the mounted one when the user gives it."""

    served: Certificate
    mounted: MountedCertificate | None = None
