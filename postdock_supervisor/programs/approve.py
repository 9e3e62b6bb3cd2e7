"""repmgr's failover_validation_command (`postdock node approve-promotion`): the candidate repmgrd
elected first defers to a healthy standby of higher NODE_PRIORITY once that one holds all WAL this
node holds (decide/priority.py), then asks every first-level node to approve its promotion, and exits
0 once enough did (decide/lease.py): by then no other node can hold a lease. Exit 1 makes repmgrd
rerun its election after election_rerun_interval on every standby, which elects the preferred
standby on the tie, and also notices a primary that came back.

repmgrd reads one line of the command's standard output and closes the pipe (repmgr's
_local_command): a second line would end this program with a broken pipe, exit 1, and cost a rerun
of the whole election. So progress goes to standard error (repmgrd appends it to its log once the
command ends) and the verdict is the one line on standard output."""

import logging
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

from postdock_supervisor import healing
from postdock_supervisor.act import lease as lease_act
from postdock_supervisor.act.lease import Asker
from postdock_supervisor.config import PostgresSettings, Settings
from postdock_supervisor.decide.lease import Vote, approvals_needed, decide_promotion
from postdock_supervisor.decide.priority import Choice, decide_priority
from postdock_supervisor.model.failover import FailoverRecord
from postdock_supervisor.model.node import format_lsn
from postdock_supervisor.observe.fence import LocalReader
from postdock_supervisor.observe.local import read_primary_last_alive, read_recorded_primary
from postdock_supervisor.observe.node import local_report
from postdock_supervisor.observe.peers import fetch_reports, verified_reports

logger = logging.getLogger(__name__)

PAUSE_S = 0.2
REPORT_TIMEOUT_S = 0.5
CATCH_UP_ASK_S = 3.0  # the standby moves its WAL receiver before it answers (act/lease.stream_from: 2 s at most)


def patience(lease_s: float) -> float:
    """A grant renewed just before the primary died lapses lease_s later; a partner's quiet start
    takes as long again."""
    return 2 * lease_s + 2


def approval_asker(pg: PostgresSettings, status_port: int) -> Asker:
    """Approving takes longer than granting (the standby first moves its WAL receiver): half a lease."""
    return Asker(status_port, pg.control, pg.lease_timeout / 2)


def await_approval(pg: PostgresSettings, status_port: int, out: Callable[[str], None] = print) -> tuple[bool, str]:
    """Ask until enough nodes approve this node's promotion (True), or it is refused (False); with
    the reason. `out` gets the progress (the reason each time it changes, and who refused)."""
    me = pg.network_name
    _, others = LocalReader(pg).read()
    cluster = tuple(sorted({*others, me}))
    ask = approval_asker(pg, status_port)
    began = time.monotonic()
    last = ""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="reports") as pool:
        while True:
            # Who runs as primary is asked meanwhile: an unreachable old primary costs one timeout, not two.
            asking = pool.submit(fetch_reports, [h for h in cluster if h != me], status_port, REPORT_TIMEOUT_S)
            answers = ask.ask("lease-approve", me, cluster, enough=approvals_needed(cluster))
            reports = asking.result()
            approved = [host for host, (ok, _) in answers.items() if ok]
            running = [h for h, r in reports.items() if r is not None and r.postgres.running and r.postgres.is_primary]
            decision = decide_promotion(
                me, approved, cluster, ",".join(running), time.monotonic() - began, patience(pg.lease_timeout)
            )
            if decision.reason != last:
                out(decision.reason)
                last = decision.reason
            if decision.vote is Vote.PROMOTE:
                return True, decision.reason
            if decision.vote is Vote.REFUSE:
                for host, (ok, why) in sorted(answers.items()):
                    if not ok:
                        out(f"  {host}: {why}")
                return False, decision.reason
            time.sleep(PAUSE_S)


def main(settings: Settings) -> int:
    pg = settings.postgres
    assert pg is not None
    if pg.is_cascade:
        print(f"{pg.network_name} is a cascaded standby (not in PARTNER_NODES): never promoted", flush=True)
        return 1
    record = detection(pg, time.time(), healing.read_failover())
    healing.write_failover(record)
    progress = lambda line: print(line, file=sys.stderr, flush=True)  # noqa: E731
    preferred = defer_to(settings, record.deferred_to, progress)
    if preferred:
        healing.write_failover(replace(record, deferred_to=preferred, deferred_at=time.time()))
        print(f"deferring to {preferred}, of higher NODE_PRIORITY: the election is rerun", flush=True)
        return 1
    if not pg.uses_lease:
        healing.write_failover(replace(record, approved_at=time.time()))
        print("no lease (LEASE_TIMEOUT=0 or no partners): repmgrd's timing decides", flush=True)
        return 0
    approved, verdict = await_approval(pg, settings.common.status_port, progress)
    print(verdict, flush=True)  # the one line repmgrd reads
    if approved:
        healing.write_failover(replace(record, approved_at=time.time()))
    return 0 if approved else 1


def defer_to(settings: Settings, deferred_to: str, out: Callable[[str], None]) -> str:
    """The standby of higher NODE_PRIORITY this candidate declines for (decide/priority.py), once it
    holds all WAL this node holds; '' to go on promoting this node."""
    pg = settings.postgres
    assert pg is not None
    port = settings.common.status_port
    _, others = LocalReader(pg).read()
    me = local_report(settings)
    decision = decide_priority(me, verified_reports(pg, others, port, REPORT_TIMEOUT_S), frozenset(others), deferred_to)
    out(decision.reason)
    if decision.choice is Choice.PROMOTE:
        return ""
    if decision.choice is Choice.CATCH_UP and not catch_up(pg, port, decision.preferred, me.lsn, out):
        return ""
    return decision.preferred


def catch_up(pg: PostgresSettings, port: int, target: str, lsn: int, out: Callable[[str], None]) -> bool:
    """Ask `target` to stream from this node until it holds WAL up to `lsn`; False when it did not
    within CATCH_UP_S (it is passed over: a failover is not held up for a preference)."""
    key = pg.control
    deadline = time.monotonic() + catch_up_patience(pg.lease_timeout)
    asked = False
    while time.monotonic() < deadline:
        if not asked:
            asked, why = lease_act.ask_one(target, port, key, "lease-catch-up", pg.network_name, CATCH_UP_ASK_S)
            if not asked:
                out(f"  {target}: {why}")
        else:
            report = verified_reports(pg, [target], port, REPORT_TIMEOUT_S).get(target)
            if report is not None and report.postgres.in_recovery and report.lsn >= lsn:
                out(f"{target} holds WAL up to {format_lsn(report.lsn)} (this node: {format_lsn(lsn)})")
                return True
        time.sleep(PAUSE_S)
    out(f"{target} did not catch up with {format_lsn(lsn)} in time: promoting {pg.network_name} instead")
    return False


def catch_up_patience(lease_s: float) -> float:
    """The old primary's grant on the preferred standby lapses within a lease; streaming the missing
    WAL from a neighbour takes a fraction of a second."""
    return lease_s + 2


def detection(pg: PostgresSettings, now: float, last: FailoverRecord | None) -> FailoverRecord:
    """The flight record of this failover: a rerun election continues the one still unfinished."""
    if last is not None and last.continued_at(now):
        return last
    lost = read_primary_last_alive(pg, now)
    old = read_recorded_primary(pg)
    return FailoverRecord(lost_at=lost if lost is not None else now, detected_at=now, old_primary=old)
