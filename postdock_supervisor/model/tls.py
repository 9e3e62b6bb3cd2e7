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
