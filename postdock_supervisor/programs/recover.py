"""`postdock recover`: restore the whole cluster to a moment from barman (runs in the barman container).

Steps, each printed: hold every node still (standbys first, so repmgrd promotes nobody), restore
the chosen base backup onto one node with `barman recover` over SSH, replay WAL up to the target
and promote there, re-clone every other node from it, then point barman at the new history and
take a fresh base backup."""

import json
import logging
import shlex
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from postdock_supervisor import proc
from postdock_supervisor.act import barman as barman_act
from postdock_supervisor.config.barman import BarmanSettings
from postdock_supervisor.errors import PostdockError
from postdock_supervisor.model.backup import BackupInfo
from postdock_supervisor.observe.backup import backups, probe_nodes

logger = logging.getLogger(__name__)


class RecoverError(PostdockError):
    """A recovery that cannot go on; the message says what to do."""


@dataclass(frozen=True)
class Target:
    time: datetime | None = None
    lsn: str = ""
    immediate: bool = False  # the end of the base backup; neither: every WAL barman holds (latest)

    def describe(self) -> str:
        if self.time is not None:
            return f"time {self.time.isoformat()}"
        if self.lsn:
            return f"LSN {self.lsn}"
        return "the end of the base backup" if self.immediate else "the last WAL barman holds"

    def barman_args(self) -> list[str]:
        if self.time is not None:
            return ["--target-time", self.time.isoformat(), "--target-action", "promote"]
        if self.lsn:
            return ["--target-lsn", self.lsn, "--target-action", "promote"]
        if self.immediate:
            return ["--target-immediate", "--target-action", "promote"]
        return []  # no target: replay to the end of the WAL, then promote


def parse_time(raw: str) -> datetime:
    """ISO 8601; a time without a zone is UTC (the containers' zone)."""
    try:
        value = datetime.fromisoformat(raw.strip())
    except ValueError:
        raise RecoverError(
            f"--target-time: found {raw!r}; expected an ISO 8601 time such as 2027-01-15T10:30:00+00:00"
        ) from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def lsn_value(lsn: str) -> int:
    high, _, low = lsn.partition("/")
    try:
        return (int(high, 16) << 32) + int(low, 16)
    except ValueError:
        raise RecoverError(f"--target-lsn: found {lsn!r}; expected an LSN such as 0/7000060") from None


def choose_backup(found: tuple[BackupInfo, ...], target: Target, backup_id: str, now: float) -> BackupInfo:
    """Pure: the given backup, or the newest DONE one that ended before the target."""
    done = [b for b in found if b.status == "DONE"]
    if backup_id:
        chosen = [b for b in done if b.backup_id == backup_id]
        if not chosen:
            raise RecoverError(f"--backup-id: found {backup_id!r}; expected one of the DONE backups: "
                               + (", ".join(b.backup_id for b in done) or "none"))  # fmt: skip
        return chosen[0]
    if not done:
        raise RecoverError("barman holds no DONE base backup yet: nothing to recover from")
    if target.time is not None:
        wanted = target.time.timestamp()
        if wanted > now:
            raise RecoverError(f"--target-time {target.time.isoformat()} is in the future")
        before = [b for b in done if b.end_time and b.end_time < wanted]
        if not before:
            first = datetime.fromtimestamp(done[0].end_time, UTC).isoformat()
            raise RecoverError(
                f"--target-time {target.time.isoformat()} is before the end of the oldest backup ({first}): "
                "no backup can reach it"
            )
        return before[-1]
    if target.lsn:
        wanted_lsn = lsn_value(target.lsn)
        before = [b for b in done if b.end_lsn and lsn_value(b.end_lsn) <= wanted_lsn]
        if not before:
            raise RecoverError(f"--target-lsn {target.lsn} is before the end of the oldest backup")
        return before[-1]
    return done[-1]


def latest_timeline(bm: BarmanSettings) -> int:
    """The newest timeline barman has a history file for (1 when none: no failover yet)."""
    found = [int(h.name.split(".")[0], 16) for h in (Path(bm.backup_dir) / bm.server / "wals").rglob("*.history")]
    return max(found, default=1)


def newest_partial(bm: BarmanSettings) -> Path | None:
    found = sorted((Path(bm.backup_dir) / bm.server / "streaming").glob("*.partial"))
    return found[-1] if found else None


def ssh(host: str, *command: str, timeout: float = 600) -> int:
    # The remote shell splits the command again: each word is quoted.
    return proc.stream(["ssh", f"postgres@{host}", shlex.join(command)], timeout, prefix=f"  {host}: ")


def node_pgdata(host: str) -> str:
    """The data directory of that node, from its own effective configuration (PGDATA may differ)."""
    done = proc.run(["ssh", f"postgres@{host}", "postdock config show"], timeout=60, quiet=True)
    for line in done.output.splitlines():
        if line.startswith("PGDATA="):
            return line.removeprefix("PGDATA=").strip()
    raise RecoverError(f"could not read PGDATA of {host} over SSH: {done.output.strip()[-300:]}")


def status_rows(host: str) -> list[dict[str, Any]] | None:
    """`postdock status --json` on that node over SSH: every node it knows, cascades included."""
    done = proc.run(["ssh", f"postgres@{host}", "postdock", "status", "--json"], timeout=60, quiet=True)
    if not done.ok:
        return None
    rows: list[dict[str, Any]] = json.loads(done.output)
    return rows


def cluster_nodes(primary: str) -> list[dict[str, Any]]:
    rows = status_rows(primary)
    if rows is None:
        raise RecoverError(f"could not read the cluster's nodes over SSH from {primary}")
    return rows


def step(text: str) -> None:
    print(f"==> {text}", flush=True)


class Source(Protocol):
    """Where the restored data comes from: barman's catalogue, or the object store's copy."""

    name: str

    def choose(self, target: Target, backup_id: str) -> BackupInfo: ...

    def restore(self, chosen: BackupInfo, target: Target, node: str, pgdata: str, timeout: float) -> None: ...


class BarmanSource:
    name = "barman"

    def __init__(self, bm: BarmanSettings) -> None:
        self.bm = bm

    def choose(self, target: Target, backup_id: str) -> BackupInfo:
        return choose_backup(backups(self.bm), target, backup_id, time.time())

    def restore(self, chosen: BackupInfo, target: Target, node: str, pgdata: str, timeout: float) -> None:
        bm = self.bm
        step("archiving the WAL barman has streamed")
        barman_act.barman("archive-wal", bm.server, timeout=600)
        step(f"restoring backup {chosen.backup_id} onto {node} (barman recover over SSH)")
        # Without --target-tli barman copies only the WAL of the backup's own timeline, so a target after a
        # failover could not be reached: follow the history to the newest timeline (PostgreSQL's default).
        tli = latest_timeline(bm)
        follow = ["--target-tli", str(tli)] if tli > chosen.timeline and not target.immediate else []
        recover = ["barman", "recover", "--remote-ssh-command", f"ssh postgres@{node}", *target.barman_args(),
                   *follow, bm.server, chosen.backup_id, pgdata]  # fmt: skip
        if proc.stream(recover, timeout, prefix="  barman: ") != 0:
            raise RecoverError(f"barman recover failed; {node} is held with partial data: run recover again")
        partial = newest_partial(bm)
        if partial is not None:
            # The segment being streamed is not in the archive yet; with BARMAN_SYNCHRONOUS it holds the
            # last acknowledged commits. Offered to the replay under its final name (recovery stops at the
            # target anyway). -O: the classic protocol; sshd here serves no SFTP subsystem.
            name = partial.name.removesuffix(".partial")
            step(f"adding the WAL segment barman was still receiving ({name}) to the replay")
            # With a target barman writes a recovery configuration reading barman_wal/; with none it puts
            # the WAL straight into pg_wal (a plain crash recovery to its end).
            where = "barman_wal" if [*target.barman_args(), *follow] else "pg_wal"
            copy = ["scp", "-O", "-q", str(partial), f"postgres@{node}:{pgdata}/{where}/{name}"]
            if proc.stream(copy, 600, prefix="  scp: ") != 0:
                raise RecoverError(f"could not copy {partial.name} to {node}")


def run(bm: BarmanSettings, target: Target, backup_id: str, node: str, timeout: float,
        source: Source | None = None) -> None:  # fmt: skip
    source = source or BarmanSource(bm)
    chosen = source.choose(target, backup_id)
    probes = {p.host: p for p in probe_nodes(bm)}
    writable = [h for h, p in probes.items() if p.writable]
    node = node or (writable[0] if writable else bm.hosts[0])
    if node not in bm.hosts:
        raise RecoverError(f"--node: found {node!r}; expected one of REPLICATION_HOST: {', '.join(bm.hosts)}")
    source_node = writable[0] if writable else node
    pgdata = node_pgdata(node)
    nodes = cluster_nodes(source_node)
    absent = [str(r["host"]) for r in nodes if r["state"] == "unreachable" and r["host"] != node]
    if absent:
        print(f"  not answering, left alone: {', '.join(absent)} (its data is from before the restore: once it "
              "runs, re-clone it with `postdock node reclone` in that container)", flush=True)  # fmt: skip
    others = [str(r["host"]) for r in nodes if r["host"] != node and r["host"] not in absent]
    # Cascaded standbys first, then first-level ones (the restore target among them), the primary
    # last: no standby is left running for repmgrd to promote while the others stop.
    order = sorted([*others, node], key=lambda h: (h in bm.hosts, h in writable))
    step(f"recovering to {target.describe()} from backup {chosen.backup_id} ({source.name}) onto {node}; "
         f"every other node ({', '.join(others) or 'none'}) is re-cloned from it")  # fmt: skip
    step("holding every node (repmgrd and postgres stopped)")
    for host in order:
        wipe = ["--wipe"] if host == node else []
        if ssh(host, "postdock", "node", "hold", *wipe, "--reason", "postdock recover") != 0:
            raise RecoverError(f"could not hold {host}; the nodes held so far stay stopped (phase 'held')")
    source.restore(chosen, target, node, pgdata, timeout)
    step(f"replaying WAL on {node} up to the target, then promoting it")
    if ssh(node, "postdock", "node", "finish-restore", "--timeout", str(int(timeout)), timeout=timeout + 60) != 0:
        raise RecoverError(f"the restored node {node} did not come up as primary: see its log")
    step("re-cloning every other node from the restored primary")
    for host in sorted(others, key=lambda h: h not in bm.hosts):
        if ssh(host, "postdock", "node", "reclone") != 0:
            raise RecoverError(f"could not start the re-clone of {host}")
    step("pointing barman at the restored history")
    barman_act.stop_receiver(bm)
    barman_act.reset_receiver(bm)
    barman_act.cron()
    wait_streaming(node, others, timeout)
    step("taking a base backup of the restored cluster")
    if not barman_act.take_backup(bm):
        print("  the base backup failed; the backup keeper retries it", flush=True)
    step(f"done: {node} is the primary at {target.describe()}; writes made after it are not in the cluster "
         f"(they stay in the {source.name} archive on the old timeline)")  # fmt: skip


def wait_streaming(primary: str, others: list[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        rows = status_rows(primary) or []
        states = {str(r["host"]): str(r["state"]) for r in rows}
        waiting = [h for h in others if states.get(h) != "streaming"]
        if not waiting:
            print(f"  every node streams from the restored primary {primary}", flush=True)
            return
        if time.monotonic() > deadline:
            raise RecoverError(f"nodes not streaming after {timeout:.0f}s: {', '.join(waiting)}")
        shown = ", ".join(f"{h} ({states.get(h, '?')})" for h in waiting)
        print(f"  waiting for {shown}", flush=True)
        time.sleep(5)
