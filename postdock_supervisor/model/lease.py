"""What the lease keeper sees in one round."""

from dataclasses import dataclass


@dataclass(frozen=True)
class LeaseSnapshot:
    primary: bool  # postgres answers and is not in recovery
    renewing: bool  # a primary, or one restarting in place after a crash: it asked for grants
    members: tuple[str, ...]  # first-level nodes registered and active in repmgr, this one included
    held: bool  # synchronous_standby_names holds every commit now
    asked_at: float  # when this round's requests were sent (monotonic)
    granted_by: frozenset[str]  # who granted this round
    epoch: str = ""  # the term the requests named
