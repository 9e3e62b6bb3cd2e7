"""The primary's synchronous standby set for the consistency mode, and the physical slots logical
decoding waits for: pure.

Members are the first-level standbys registered in repmgr (PARTNER_NODES other than the
primary), whoever they follow at the moment: right after a failover the set already names the
standbys that are about to follow, so no commit is acknowledged without a synchronous copy.

synchronized_standby_slots (PostgreSQL 17) holds back logical decoding until the listed standbys
have the WAL, so a logical slot synchronized to them (failover = true) is never behind its
consumer when one of them is promoted. It lists the slots of the first-level standbys that stream
now: a standby that is down would otherwise stop every logical consumer until it returns."""

from collections.abc import Iterable
from dataclasses import dataclass

from psycopg.conninfo import conninfo_to_dict, make_conninfo

from postdock_supervisor.config.modes import BARMAN_RECEIVER, Mode


def _quoted(names: Iterable[str]) -> str:
    return ", ".join('"' + name.replace('"', '""') + '"' for name in names)


def standby_names(mode: Mode, members: Iterable[str], barman: bool = False) -> str:
    names = sorted(set(members))
    if barman:
        # Barman first: while it is connected it is always one of the synchronous standbys, so an
        # acknowledged commit is in barman; partial mode adds the first streaming standby. PG has no
        # "barman AND any one standby": FIRST is the closest (with barman away, two standbys are needed).
        wanted = 2 if mode is Mode.PARTIAL and names else 1
        return f"FIRST {wanted} ({_quoted([BARMAN_RECEIVER, *names])})"
    if mode is Mode.EVENTUAL or not names:
        return ""
    count = 1 if mode is Mode.PARTIAL else len(names)
    return f"ANY {count} ({_quoted(names)})"


def synchronous_commit(mode: Mode) -> str:
    # remote_apply: a read on any member right after the commit sees it.
    return "remote_apply" if mode is Mode.STRICT else "on"


@dataclass(frozen=True)
class SyncDecision:
    change: bool
    value: str
    reason: str


def decide_sync(
    mode: Mode, is_primary: bool, current: str, members: Iterable[str], barman: bool = False
) -> SyncDecision:
    if not is_primary:
        return SyncDecision(False, current, "not the primary")
    wanted = standby_names(mode, members, barman)
    if wanted == current:
        return SyncDecision(False, current, f"synchronous set already {wanted or 'empty'}")
    what = f"{mode.value} mode" + (" with barman synchronous" if barman else "")
    return SyncDecision(True, wanted, f"{what}: synchronous_standby_names {current or 'empty'} -> {wanted or 'empty'}")


def standby_slots(streaming_slots: Iterable[str]) -> str:
    return ", ".join(sorted(set(streaming_slots)))


def decide_slots(is_primary: bool, current: str, streaming_slots: Iterable[str]) -> SyncDecision:
    if not is_primary:
        return SyncDecision(False, current, "not the primary")
    wanted = standby_slots(streaming_slots)
    if wanted == current:
        return SyncDecision(False, current, f"standby slots already {wanted or 'empty'}")
    return SyncDecision(
        True,
        wanted,
        f"logical decoding waits for the streaming first-level standbys: "
        f"synchronized_standby_slots {current or 'empty'} -> {wanted or 'empty'}",
    )


def decide_conninfo(is_primary: bool, slot_sync: bool, conninfo: str, streaming_from: str, dbname: str) -> SyncDecision:
    """Slot synchronization connects to a database on the upstream, named in primary_conninfo;
    repmgr writes that string without one (at every clone, follow and rejoin).

    Only a standby that streams from the host its primary_conninfo names is completed: while repmgr
    makes it follow another node (a failover, a switchover) the string is repmgr's to change, and
    writing back what was read a moment earlier would point it at the old upstream again."""
    if is_primary or not slot_sync or not conninfo:
        return SyncDecision(False, conninfo, "no primary_conninfo to complete")
    values = conninfo_to_dict(conninfo)
    if values.get("dbname"):
        return SyncDecision(False, conninfo, "primary_conninfo names a database")
    if not streaming_from or values.get("host") != streaming_from:
        return SyncDecision(False, conninfo, "not streaming from the upstream primary_conninfo names: left to repmgr")
    return SyncDecision(
        True,
        make_conninfo(conninfo, dbname=dbname),
        f"slot synchronization needs a database in primary_conninfo: adding dbname={dbname}",
    )
