"""The lease keeper (a supervisor program on first-level postgres nodes): four times per lease, a
primary asks every first-level node for a grant (programs/lease_desk.py in their agents), counts its
lease from the moment it asked (decide/lease.py), and holds every commit before the lease lapses
(synchronous_standby_names set to a name no standby has). A primary whose postgres crashed keeps
renewing while it restarts in place, for decide/lease.py `in_place_window`."""

import json
import logging
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import psycopg

from postdock_supervisor import files, healing, paths
from postdock_supervisor.act import lease as act
from postdock_supervisor.config import PostgresSettings, Settings
from postdock_supervisor.decide.lease import (
    Hold,
    HoldDecision,
    decide_hold,
    in_place_window,
    lease_until,
    majority,
)
from postdock_supervisor.decide.sync import standby_names
from postdock_supervisor.model.lease import LeaseSnapshot
from postdock_supervisor.observe.fence import LocalReader
from postdock_supervisor.observe.local import read_crashed_at, read_lease_state, read_sync_snapshot
from postdock_supervisor.programs.contract import step
from postdock_supervisor.programs.runner import run_ticks

logger = logging.getLogger(__name__)

PROGRAM = "lease_keeper"
T = TypeVar("T")
ROUNDS_PER_LEASE = 4
RELOAD_S = 0.1  # from ALTER SYSTEM to every session's next commit waiting
PROMOTED_POLL_S = 0.05


def round_s(lease_s: float) -> float:
    return lease_s / ROUNDS_PER_LEASE


def margin_s(lease_s: float) -> float:
    """How long before the lease ends the commits are held: the next round may end this much later."""
    return 2 * round_s(lease_s) + RELOAD_S


@dataclass(frozen=True)
class LeaseRound:
    hold: HoldDecision
    until: float  # memory: the end of the lease on this node's clock (0: none)
    snapshot: LeaseSnapshot


def asker(pg: PostgresSettings, status_port: int) -> act.Asker:
    timeout = round_s(pg.lease_timeout) - RELOAD_S
    return act.Asker(status_port, pg.control, timeout)


def wanted_standby_names(pg: PostgresSettings) -> str:
    """The synchronous set the consistency mode asks for, to put back when a hold ends."""
    snap = read_sync_snapshot(pg)
    return standby_names(pg.consistency_mode, snap.members, pg.barman_synchronous)


def write_state(decision: LeaseRound, now: float) -> None:
    snap = decision.snapshot
    state = {
        "reason": decision.hold.reason,
        "held": snap.held if decision.hold.action is Hold.NOTHING else decision.hold.action is Hold.HOLD,
        "left_s": round(max(0.0, decision.until - now), 3),
        "granted_by": sorted(snap.granted_by),
        "members": list(snap.members),
        "epoch": snap.epoch,
        "time": time.time(),
    }
    files.write_atomic(paths.LEASE_STATE, json.dumps(state), 0o644)


class LeaseKeeper:
    def __init__(self, pg: PostgresSettings, status_port: int) -> None:
        self.pg = pg
        self.local = LocalReader(pg)
        self.asker = asker(pg, status_port)
        self.until = 0.0
        self.crashed_at: float | None = None
        self.epoch = ""  # this term's name: new each time the keeper starts renewing
        self.last_members: tuple[str, ...] = ()
        self.last_written: tuple[object, ...] = ()
        self.written_at = 0.0

    def observe(self) -> LeaseSnapshot:
        primary, others = self.local.read()
        members = tuple(sorted({*others, self.pg.network_name}))
        crashed = read_crashed_at()
        if primary:
            self.crashed_at = None
        elif crashed is not None:
            self.crashed_at = crashed
        restarting = self.crashed_at is not None and time.monotonic() - self.crashed_at <= in_place_window(
            self.pg.lease_timeout
        )
        # The kept connection of the membership read: no new backend four times per lease.
        held = self.local.setting("synchronous_standby_names") == act.HOLD_NAME if primary else False
        asked_at = time.monotonic()
        granted: frozenset[str] = frozenset()
        if primary or restarting:
            if not primary:
                # postgres is down: the cluster it had as a primary, or every partner (never fewer).
                members = self.last_members or tuple(sorted({*self.pg.partner_nodes, self.pg.network_name}))
            self.epoch = self.epoch or secrets.token_hex(4)
            # A majority is all a lease needs: a partner cut off no longer delays the round by the timeout.
            answers = self.asker.ask("lease-grant", self.pg.network_name, members, self.epoch, majority(members))
            granted = frozenset(host for host, (ok, _) in answers.items() if ok)
        else:
            self.epoch = ""
        if primary:
            self.last_members = members
        return LeaseSnapshot(primary, primary or restarting, members, held, asked_at, granted, self.epoch)

    def decide(self, snap: LeaseSnapshot, now: float) -> LeaseRound:
        fresh = lease_until(snap.asked_at, snap.granted_by, snap.members, self.pg.lease_timeout)
        until = max(self.until, fresh) if snap.renewing else 0.0
        granted = ",".join(sorted(snap.granted_by)) or "nobody"
        # The clock read after the answers came (up to a round later than `now`): the later, the safer.
        hold = decide_hold(snap.primary, snap.held, until, time.monotonic(), margin_s(self.pg.lease_timeout), granted)
        return LeaseRound(hold, until, snap)

    def apply(self, decision: LeaseRound) -> None:
        self.until = decision.until
        action = decision.hold.action
        snap = decision.snapshot
        now = time.monotonic()
        shown = (action, snap.primary, snap.held, snap.granted_by, snap.members)
        if shown != self.last_written or now - self.written_at > 2.0:
            write_state(decision, now)
            self.last_written, self.written_at = shown, now
        if action is Hold.NOTHING:
            return
        logger.warning("%s", decision.hold.reason)
        healing.record(PROGRAM, action.value, decision.hold.reason)
        try:
            if action is Hold.HOLD:
                act.set_standby_names(self.pg, act.HOLD_NAME)
            else:
                act.set_standby_names(self.pg, wanted_standby_names(self.pg))
                healing.record_released(time.time())
        except psycopg.Error as exc:
            # postgres went away; the next round decides again on what is there then.
            logger.warning("could not %s the commits: %s", action.value, exc)


def main(settings: Settings) -> None:
    pg = settings.postgres
    assert pg is not None
    keeper = LeaseKeeper(pg, settings.common.status_port)
    run_ticks(lambda began: step(keeper, began), interval=round_s(pg.lease_timeout), min_pause=0.05)


def acquire(pg: PostgresSettings, status_port: int) -> bool:
    """One round right after a promotion: ask for a lease and, if a majority grants it, let the held
    commits through at once instead of at the keeper's next round."""
    reader = LocalReader(pg)
    primary, others = reader.read()
    if not primary:
        return False
    if reader.setting("synchronous_standby_names") != act.HOLD_NAME:
        return True  # the lease keeper's round was first
    members = tuple(sorted({*others, pg.network_name}))
    asked_at = time.monotonic()
    answers = asker(pg, status_port).ask(
        "lease-grant", pg.network_name, members, secrets.token_hex(4), majority(members)
    )
    granted = {host for host, (ok, _) in answers.items() if ok}
    if lease_until(asked_at, granted, members, pg.lease_timeout) - time.monotonic() <= margin_s(pg.lease_timeout):
        logger.warning(
            "no lease yet after the promotion (granted by %s): commits stay held", ",".join(granted) or "nobody"
        )
        return False
    act.set_standby_names(pg, wanted_standby_names(pg))
    healing.record_released(time.time())
    logger.info("lease granted by %s: taking writes", ",".join(sorted(granted)))
    return True


def _renew_approvals(pg: PostgresSettings, status_port: int, stop: threading.Event) -> None:
    """Keep this candidate's approvals alive while it promotes: one lapsing would let the old primary
    win a lease back while this node is not yet asking for one."""
    _, others = LocalReader(pg).read()
    cluster = tuple(sorted({*others, pg.network_name}))
    ask = asker(pg, status_port)
    while not stop.is_set():
        ask.ask("lease-approve", pg.network_name, cluster)
        stop.wait(round_s(pg.lease_timeout))


def _acquire_once_promoted(pg: PostgresSettings, status_port: int, stop: threading.Event) -> None:
    """Ask for the first lease as soon as postgres has left recovery: `repmgr standby promote` itself
    returns only at its next once-a-second check, and the keeper's next round may be half a lease away."""
    reader = LocalReader(pg)
    while not stop.is_set():
        primary, _ = reader.read()
        if primary:
            try:
                acquire(pg, status_port)
            except psycopg.Error as exc:
                logger.warning("no lease round right after the promotion: %s", exc)
            return
        stop.wait(PROMOTED_POLL_S)


def promote_held(pg: PostgresSettings, status_port: int, promote: Callable[[], T], approved: bool = False) -> T:
    """Promote with every commit held until the new primary holds a lease (decide/lease.py). After
    approvals (a failover), renew them meanwhile; a switchover has none to renew: the old primary
    stopped and gave its grants back, and nobody else asks for a lease."""
    if not pg.uses_lease:
        return promote()
    try:
        act.set_standby_names(pg, act.HOLD_NAME)  # no WAL: allowed on a standby
    except psycopg.Error as exc:
        logger.warning("could not hold commits before the promotion: %s", exc)
    stop = threading.Event()
    helpers = [threading.Thread(target=_acquire_once_promoted, args=(pg, status_port, stop), name="lease-first")]
    if approved:
        helpers.append(threading.Thread(target=_renew_approvals, args=(pg, status_port, stop), name="lease-renew"))
    for helper in helpers:
        helper.daemon = True
        helper.start()
    try:
        done = promote()
        try:
            acquire(pg, status_port)  # a grant to this node ends its approvals; nothing if already taken
        except psycopg.Error as exc:
            logger.warning("no lease round after the promotion: %s", exc)
    finally:
        stop.set()
        for helper in helpers:
            helper.join(timeout=round_s(pg.lease_timeout) + 1)
    return done


def release(pg: PostgresSettings, status_port: int) -> None:
    """After this primary's postgres stopped cleanly (a switchover, a hand-over): give its grants back,
    so the next primary need not wait for them to lapse. Best effort: unanswered ones lapse."""
    if not pg.uses_lease:
        return
    state = read_lease_state()
    members, epoch = state.get("members"), str(state.get("epoch") or "")
    if epoch and isinstance(members, list) and members:
        answers = asker(pg, status_port).ask("lease-release", pg.network_name, members, epoch)
        logger.info("lease released: %s", ", ".join(f"{h}: {why}" for h, (_, why) in sorted(answers.items())))
