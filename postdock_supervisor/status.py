"""`postdock status`: the cluster as a table, from every node's status agent."""

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from postdock_supervisor.config.barman import BarmanSettings
from postdock_supervisor.model.backup import BackupInfo
from postdock_supervisor.model.drill import DrillRecord
from postdock_supervisor.model.node import NodeReport, format_lsn
from postdock_supervisor.model.offsite import OffsiteState
from postdock_supervisor.model.wal import WalContinuity

COLUMNS = ("node", "id", "host", "role", "upstream", "state", "timeline", "lsn", "lag_bytes")


def rows(reports: Mapping[str, NodeReport | None]) -> list[dict[str, Any]]:
    """Pure: host -> report (None = no answer) to table rows, primaries first."""
    primary_lsn = max((r.lsn for r in reports.values() if r and r.postgres.is_primary), default=0)
    out: list[dict[str, Any]] = []
    for host, report in reports.items():
        if report is None:
            out.append(
                {
                    "node": "?",
                    "id": "",
                    "host": host,
                    "role": "unknown",
                    "upstream": "",
                    "state": "unreachable",
                    "timeline": "",
                    "lsn": "",
                    "lag_bytes": "",
                }
            )
            continue
        pg = report.postgres
        role = ("primary" if pg.is_primary else "standby") if pg.running else "-"
        if not pg.running:
            state = f"down ({report.phase})" if report.phase == "done" else report.phase
        elif pg.in_recovery:
            state = "streaming" if pg.streaming else "not streaming"
        else:
            state = "running"
        lag = max(primary_lsn - report.lsn, 0) if pg.running and pg.in_recovery and primary_lsn else ""
        out.append(
            {
                "node": report.name,
                "id": report.node_id,
                "host": host,
                "role": role,
                "upstream": pg.upstream if pg.in_recovery else "",
                "state": state,
                "timeline": report.timeline or "",
                "lsn": format_lsn(report.lsn) if report.lsn else "",
                "lag_bytes": lag,
                "last_failover": report.last_failover,
            }
        )
    order = {"primary": 0, "standby": 1}
    return sorted(out, key=lambda row: (order.get(row["role"], 2), str(row["node"])))


def with_pool_view(items: list[dict[str, Any]], pool_status: Mapping[str, str]) -> list[dict[str, Any]]:
    """Pure: add pgpool's view of each host (status in SHOW pool_nodes) as a column."""
    return [{**row, "pool": pool_status.get(str(row["host"]), "?")} for row in items]


def table(items: Iterable[Mapping[str, Any]]) -> str:
    items = list(items)
    columns = COLUMNS + (("pool",) if items and "pool" in items[0] else ())
    widths = {c: max([len(c)] + [len(str(i[c])) for i in items]) for c in columns}
    lines = ["  ".join(c.upper().ljust(widths[c]) for c in columns)]
    lines += ["  ".join(str(i[c]).ljust(widths[c]) for c in columns) for i in items]
    # The flight recorder: each promoted node's last failover, phase by phase.
    lines += [f"{i['node']}: {i['last_failover']}" for i in items if i.get("last_failover")]
    return "\n".join(line.rstrip() for line in lines)


def backup_summary(
    backups: Sequence[BackupInfo], wal: WalContinuity | None, now: float, diverged: Sequence[str] = ()
) -> dict[str, Any]:
    """The barman container's `postdock status`: its backups, whether the WAL archive is whole, and
    the WAL of abandoned branches kept aside."""
    done = [b for b in backups if b.status == "DONE"]
    summary: dict[str, Any] = {
        "backups": len(done),
        "incremental": sum(1 for b in done if b.incremental),
        "failed": sum(1 for b in backups if b.status == "FAILED"),
    }
    if done:
        summary["newest"] = f"{done[-1].backup_id} ({(now - done[-1].end_time) / 3600:.1f} h ago)"
        summary["oldest"] = done[0].backup_id
    if wal is not None:
        summary["wal archive"] = (
            f"continuous up to {wal.newest}"
            if wal.ok
            else f"{wal.missing_segments} segments missing from {wal.first_missing or '-'}, "
            f"history missing for timelines {list(wal.missing_history) or '-'}"
        )
    if diverged:
        summary["diverged wal"] = (
            f"{len(diverged)} file(s) of abandoned branches kept in diverged/ ({diverged[0]} to {diverged[-1]}): "
            "writes no node has, for inspection only"
        )
    return summary


def drill_summary(last: DrillRecord | None, success: DrillRecord | None, now: float) -> dict[str, Any]:
    """The restore drills, for the barman container's `postdock status`."""
    if last is None:
        return {"restore drill": "none yet"}
    ago = f"{(now - last.finished_at) / 3600:.1f} h ago"
    shown = {"restore drill": f"{'passed' if last.ok else 'FAILED'} {ago}: {last.reason}"}
    if not last.ok and success is not None:
        shown["last passing drill"] = f"{success.backup_id} ({(now - success.finished_at) / 3600:.1f} h ago)"
    return shown


def offsite_summary(state: OffsiteState, now: float) -> dict[str, Any]:
    """The off-site copy (CLOUD_BACKUP_URL), for the barman container's `postdock status`."""
    copied = state.copied_backup
    shown = {"off-site backup": f"{copied} ({(now - state.copied_at) / 3600:.1f} h ago)" if copied else "none yet"}
    if state.backup is not None and not state.backup.ok:
        shown["off-site backup"] += f"; last copy FAILED: {state.backup.error}"
    if state.wal is not None:
        wal = "last segment copied" if state.wal.ok else f"last segment FAILED: {state.wal.error}"
        shown["off-site wal"] = f"{wal}; {state.missing_since_copy} missing since the newest off-site backup"
    return shown


def barman_status(bm: BarmanSettings, now: float) -> dict[str, Any]:
    from postdock_supervisor.observe.backup import backups, diverged_files, wal_continuity
    from postdock_supervisor.observe.drill import read_records
    from postdock_supervisor.observe.offsite import read_state

    catalogue = backups(bm)
    summary = backup_summary(catalogue, wal_continuity(bm, catalogue), now, diverged_files(bm))
    shown = {**summary, **drill_summary(*read_records(bm), now)}
    return {**shown, **offsite_summary(read_state(bm), now)} if bm.cloud_url else shown
