"""barman metrics under PostDock's names (server label, HELP and TYPE), from snapshots: pure."""

from dataclasses import dataclass

from prometheus_client.core import GaugeMetricFamily, Metric

from postdock_supervisor.model.backup import BackupInfo
from postdock_supervisor.model.drill import DrillRecord
from postdock_supervisor.model.offsite import OffsiteState
from postdock_supervisor.model.wal import WalContinuity


@dataclass(frozen=True)
class BarmanSnapshot:
    check_ok: bool | None  # None: `barman check` has not finished yet
    backups: tuple[BackupInfo, ...]
    disk_free: int
    disk_used: int
    wal_age: float | None  # seconds since the newest WAL barman received was written; None: none yet
    receiver_running: bool
    wal: WalContinuity | None = None  # None: no DONE backup to start from
    behind_bytes: int | None = None  # the primary's WAL past barman's slot; None: no primary or no slot
    drill: DrillRecord | None = None  # the last restore drill
    drill_success: DrillRecord | None = None  # the last one that passed
    offsite: OffsiteState | None = None  # None: no off-site copy (CLOUD_BACKUP_URL empty)
    diverged: int = 0  # WAL files of abandoned branches the backup keeper kept aside (decide/stream.py)


def barman_metrics(server: str, snap: BarmanSnapshot) -> list[Metric]:
    def gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
        family = GaugeMetricFamily(name, doc, labels=["server"])
        family.add_metric([server], value)
        return family

    done = [b for b in snap.backups if b.status == "DONE"]
    metrics: list[Metric] = [
        gauge("barman_backups_amount", "Number of DONE base backups.", float(len(done))),
        gauge("barman_disk_free_bytes", "Free bytes on the filesystem of BACKUP_DIR.", float(snap.disk_free)),
        gauge("barman_disk_used_bytes", "Used bytes on the filesystem of BACKUP_DIR.", float(snap.disk_used)),
        gauge("barman_receive_wal_running", "1 when barman's WAL receiver runs.", float(snap.receiver_running)),
        gauge(
            "barman_wal_diverged_files",
            "WAL files of abandoned branches kept in <server>/diverged: what an old primary wrote after the "
            "fork and the promoted node never had (nothing replays them).",
            float(snap.diverged),
        ),
    ]
    if snap.check_ok is not None:
        metrics.append(gauge("barman_check_is_ok", "1 when `barman check` passes.", float(snap.check_ok)))
    if snap.wal_age is not None:
        metrics.append(
            gauge(
                "barman_last_wal_received_age_seconds",
                "Seconds since barman last wrote received WAL (grows on an idle cluster too).",
                snap.wal_age,
            )
        )
    if snap.behind_bytes is not None:
        metrics.append(
            gauge(
                "barman_wal_behind_bytes",
                "WAL bytes the primary has written that barman's slot has not confirmed: what a restore "
                "from barman would miss now (0 on an idle cluster, unlike the received age).",
                float(snap.behind_bytes),
            )
        )
    incremental = [b for b in done if b.incremental]
    metrics.append(
        gauge(
            "barman_backups_incremental_amount",
            "Number of DONE block-level incremental backups (each needs its chain down to a full one).",
            float(len(incremental)),
        )
    )
    if done:
        last, oldest = done[-1], done[0]
        full = [b for b in done if not b.incremental][-1:]
        metrics += [
            gauge("barman_last_backup_start_time_seconds", "Unix time the newest backup began.", last.begin_time),
            gauge("barman_last_backup_end_time_seconds", "Unix time the newest backup ended.", last.end_time),
            gauge("barman_last_backup_size_bytes", "Size of the newest backup.", float(last.size)),
            gauge(
                "barman_last_backup_duration_total_seconds", "Total duration of the newest backup.", last.total_seconds
            ),
            gauge("barman_last_backup_duration_copy_seconds", "Copy time of the newest backup.", last.copy_seconds),
            gauge("barman_oldest_backup_end_time_seconds", "Unix time the oldest backup ended.", oldest.end_time),
            gauge(
                "barman_last_backup_incremental", "1 when the newest backup is incremental.", float(last.incremental)
            ),
        ]
        for kind, newest in (("full", full), ("incremental", incremental[-1:])):
            if newest:
                metrics.append(
                    gauge(
                        f"barman_last_{kind}_backup_size_bytes",
                        f"Size of the newest {kind} backup (an incremental one holds the changed blocks only).",
                        float(newest[0].size),
                    )
                )
    metrics += drill_metrics(server, snap.drill, snap.drill_success)
    if snap.offsite is not None:
        metrics += offsite_metrics(server, snap.offsite)
    if snap.wal is not None:
        metrics += [
            gauge(
                "barman_wal_missing_segments",
                "WAL segments missing from the archive between the oldest backup's start and the newest "
                "archived segment, on every timeline (a restore past the hole is impossible).",
                float(snap.wal.missing_segments),
            ),
            gauge(
                "barman_wal_missing_history_files",
                "Timelines after the oldest backup's without their .history file in the archive.",
                float(len(snap.wal.missing_history)),
            ),
        ]
    return metrics


def drill_metrics(server: str, last: DrillRecord | None, success: DrillRecord | None) -> list[Metric]:
    """The restore drills: the last one's outcome, and what the last successful one took and read."""
    metrics: list[Metric] = []

    def gauge(name: str, doc: str, value: float) -> None:
        family = GaugeMetricFamily(name, doc, labels=["server"])
        family.add_metric([server], value)
        metrics.append(family)

    if last is not None:
        gauge("barman_drill_last_ok", "1 when the last restore drill passed, 0 when it failed or was refused.",
              float(last.ok))  # fmt: skip
        gauge("barman_drill_last_time_seconds", "Unix time the last restore drill ended.", last.finished_at)
    if success is not None:
        gauge("barman_drill_last_success_time_seconds", "Unix time the last passing restore drill ended.",
              success.finished_at)  # fmt: skip
        gauge("barman_drill_restored_rows", "Rows the last passing drill read in the restored copy.",
              float(success.rows))  # fmt: skip
        steps = GaugeMetricFamily(
            "barman_drill_duration_seconds",
            "Seconds each step of the last passing drill took (recover: barman recover; replay: WAL up to "
            "the end of recovery; check: reading every table; total).",
            labels=["server", "step"],
        )
        for name, seconds in [*success.step_seconds(), ("total", success.seconds)]:
            steps.add_metric([server, name], seconds)
        metrics.append(steps)
    return metrics


def offsite_metrics(server: str, state: OffsiteState) -> list[Metric]:
    """The off-site copy (CLOUD_BACKUP_URL): the last copy of a backup and of a WAL segment, and the
    segments the object store lacks after its newest backup."""
    metrics: list[Metric] = []

    def gauge(name: str, doc: str, value: float) -> None:
        family = GaugeMetricFamily(name, doc, labels=["server"])
        family.add_metric([server], value)
        metrics.append(family)

    if state.backup is not None:
        gauge("barman_offsite_backup_last_ok", "1 when the last copy of a base backup to the object store "
              "succeeded, 0 when it failed.", float(state.backup.ok))  # fmt: skip
    if state.copied_at:
        gauge("barman_offsite_backup_last_success_time_seconds", "Unix time the newest backup in the object "
              "store was copied there.", state.copied_at)  # fmt: skip
    if state.wal is not None:
        gauge("barman_offsite_wal_last_ok", "1 when the last WAL segment went to the object store, 0 when it "
              "did not.", float(state.wal.ok))  # fmt: skip
        gauge("barman_offsite_wal_last_time_seconds", "Unix time of the last copy of a WAL segment, or of its "
              "last failed try.", state.wal.at)  # fmt: skip
    gauge("barman_offsite_wal_missing_segments", "WAL segments the object store did not take since its newest "
          "backup was copied: a restore from the object store stops at the first.",
          float(state.missing_since_copy))  # fmt: skip
    return metrics
