"""`postdock recover --from-cloud`: the whole cluster restored from the object store's copy
(CLOUD_BACKUP_URL), for the day barman's own volume is lost too (runs in the barman container).

The steps of `postdock recover` (programs/recover.py) with another source of data: the backup is
restored here with barman-cloud-restore into a staging directory, the WAL it needs is fetched from
the store into its barman_wal/ (the nodes hold no credentials for the store, and get none), the
recovery settings are written beside them, and the whole is copied onto the held node with rsync
over SSH, as `barman recover --remote-ssh-command` does; the node then replays and is promoted."""

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from postdock_supervisor import proc
from postdock_supervisor.act import offsite
from postdock_supervisor.config.barman import BarmanSettings
from postdock_supervisor.model.backup import BackupInfo
from postdock_supervisor.model.wal import SEGMENTS_PER_LOG, Segment, parse_segment
from postdock_supervisor.programs.recover import RecoverError, Target, choose_backup, step

# barman's backup.info times as BackupInfo.to_json writes them (ctime), or ISO 8601.
_TIME_FORMATS = ("%a %b %d %H:%M:%S %Y", "%Y-%m-%d %H:%M:%S")


def _epoch(raw: object) -> float:
    text = " ".join(str(raw or "").split())
    try:
        moment = datetime.fromisoformat(text)
        return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()
    except ValueError:
        pass
    for layout in _TIME_FORMATS:
        try:
            return datetime.strptime(text, layout).replace(tzinfo=UTC).timestamp()
        except ValueError:
            continue
    return 0.0


def parse_listing(text: str) -> tuple[BackupInfo, ...]:
    """`barman-cloud-backup-list --format json` -> the backups, oldest first (ids are timestamps)."""
    listed: list[dict[str, Any]] = json.loads(text).get("backups_list", [])
    found = [
        BackupInfo(
            backup_id=str(item["backup_id"]),
            status=str(item.get("status", "")),
            end_time=_epoch(item.get("end_time")),
            timeline=int(item.get("timeline") or 0),
            end_lsn=str(item.get("end_xlog") or ""),
            begin_wal=str(item.get("begin_wal") or ""),
        )
        for item in listed
        if isinstance(item, dict) and item.get("backup_id")
    ]
    return tuple(sorted(found, key=lambda b: b.backup_id))


def recovery_settings(target: Target) -> dict[str, str]:
    """postgresql.auto.conf of the restored copy: the WAL from barman_wal/ (in the data directory, the
    restore_command's working directory) to the target on the newest timeline, then a promotion."""
    settings = {
        "restore_command": "cp barman_wal/%f %p",
        "recovery_target_timeline": "latest",
        # The source's own ALTER SYSTEM settings come with the backup: a standby's upstream would make the
        # copy wait for a node of the old cluster after the last WAL instead of promoting.
        "primary_conninfo": "",
        "primary_slot_name": "",
    }
    if target.time is not None:
        settings["recovery_target_time"] = target.time.isoformat()
    elif target.lsn:
        settings["recovery_target_lsn"] = target.lsn
    elif target.immediate:
        settings["recovery_target"] = "immediate"
    if target.time is not None or target.lsn or target.immediate:
        settings["recovery_target_action"] = "promote"
    return settings  # no target: replay all the WAL there is, then promote (recovery.signal, no target)


def auto_conf_lines(settings: dict[str, str]) -> str:
    return "".join(f"{name} = '{value.replace(chr(39), chr(39) * 2)}'\n" for name, value in settings.items())


class CloudSource:
    name = "the object store"

    def __init__(self, bm: BarmanSettings) -> None:
        if not bm.cloud_url:
            raise RecoverError("--from-cloud: CLOUD_BACKUP_URL is empty here; expected the store the backups went to")
        self.bm = bm
        self.staging = Path(bm.backup_dir) / "staging-cloud"

    def _cloud(self, command: str, *args: str, timeout: float = 600) -> proc.Completed:
        bm = self.bm
        return proc.run([command, *offsite.cloud_options(bm), bm.cloud_url, bm.server, *args], timeout=timeout,
                        quiet=True)  # fmt: skip

    def choose(self, target: Target, backup_id: str) -> BackupInfo:
        listed = self._cloud("barman-cloud-backup-list", "--format", "json")
        if not listed.ok:
            raise RecoverError(f"could not list the backups in {self.bm.cloud_url}: {listed.output.strip()[-300:]}")
        return choose_backup(parse_listing(listed.output), target, backup_id, datetime.now(UTC).timestamp())

    def fetch(self, name: str, into: Path) -> bool:
        return self._cloud("barman-cloud-wal-restore", name, str(into / name)).ok

    def fetch_wal(self, chosen: BackupInfo, into: Path) -> int:
        """Every WAL file in the store a restore of `chosen` can use: the history files of the timelines
        after its own, then each segment from its first on, from the newest timeline that has it; up to
        the first segment no timeline has (where the archive ends)."""
        into.mkdir(parents=True, exist_ok=True)
        first = parse_segment(chosen.begin_wal)
        if first is None:
            raise RecoverError(f"backup {chosen.backup_id} names no first WAL segment (begin_wal)")
        newest = first.timeline
        while self.fetch(f"{newest + 1:08X}.history", into):
            newest += 1
        fetched, number = newest - first.timeline, first.number
        while True:
            timelines = range(newest, first.timeline - 1, -1)
            if not any(self.fetch(Segment(t, number).name, into) for t in timelines):  # stops at the first found
                return fetched
            fetched += 1
            number += 1
            if number % (SEGMENTS_PER_LOG * 16) == 0:
                print(f"  fetched {fetched} WAL files so far", flush=True)

    def restore(self, chosen: BackupInfo, target: Target, node: str, pgdata: str, timeout: float) -> None:
        shutil.rmtree(self.staging, ignore_errors=True)
        data = self.staging / "data"
        try:
            step(f"restoring backup {chosen.backup_id} from {self.bm.cloud_url} (barman-cloud-restore)")
            self.staging.mkdir(mode=0o700, parents=True)
            restored = self._cloud("barman-cloud-restore", chosen.backup_id, str(data), timeout=timeout)
            if not restored.ok:
                raise RecoverError(f"barman-cloud-restore failed: {restored.output.strip()[-300:]}")
            data.chmod(0o700)  # rsync gives the node's data directory these permissions; postgres wants them
            step("fetching the WAL it needs from the object store")
            count = self.fetch_wal(chosen, data / "barman_wal")
            print(f"  {count} WAL files", flush=True)
            (data / "recovery.signal").touch()
            with (data / "postgresql.auto.conf").open("a", encoding="utf-8") as conf:
                conf.write(auto_conf_lines(recovery_settings(target)))
            step(f"copying it onto {node} (rsync over SSH)")
            copy = ["rsync", "-a", "--delete", "-e", "ssh", f"{data}/", f"postgres@{node}:{pgdata}/"]
            if proc.stream(copy, timeout, prefix="  rsync: ") != 0:
                raise RecoverError(f"the copy onto {node} failed; it is held with partial data: run recover again")
        finally:
            shutil.rmtree(self.staging, ignore_errors=True)
