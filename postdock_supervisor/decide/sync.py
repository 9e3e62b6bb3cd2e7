"""The primary's synchronous standby set for the consistency mode: pure.

Members are the first-level standbys registered in repmgr (PARTNER_NODES other than the
primary), whoever they follow at the moment: right after a failover the set already names the
standbys that are about to follow, so no commit is acknowledged without a synchronous copy."""

import enum
from collections.abc import Iterable
from dataclasses import dataclass


class Mode(enum.Enum):
    EVENTUAL = "eventual"  # asynchronous
    PARTIAL = "partial"  # at least one first-level standby has every acknowledged commit
    STRICT = "strict"  # every first-level standby has applied every acknowledged commit


def standby_names(mode: Mode, members: Iterable[str]) -> str:
    names = sorted(set(members))
    if mode is Mode.EVENTUAL or not names:
        return ""
    listed = ", ".join('"' + name.replace('"', '""') + '"' for name in names)
    count = 1 if mode is Mode.PARTIAL else len(names)
    return f"ANY {count} ({listed})"


def synchronous_commit(mode: Mode) -> str:
    # remote_apply: a read on any member right after the commit sees it.
    return "remote_apply" if mode is Mode.STRICT else "on"


@dataclass(frozen=True)
class SyncDecision:
    change: bool
    value: str
    reason: str


def decide_sync(mode: Mode, is_primary: bool, current: str, members: Iterable[str]) -> SyncDecision:
    if not is_primary:
        return SyncDecision(False, current, "not the primary")
    wanted = standby_names(mode, members)
    if wanted == current:
        return SyncDecision(False, current, f"synchronous set already {wanted or 'empty'}")
    return SyncDecision(
        True, wanted, f"{mode.value} mode: synchronous_standby_names {current or 'empty'} -> {wanted or 'empty'}"
    )
