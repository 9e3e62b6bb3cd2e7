"""`postdock recover --from-cloud`: which backup the store offers, the recovery settings written beside
the restored copy, and which WAL files are fetched from the store (the e2e suite restores a cluster
from a real S3-compatible server after wiping barman's volume)."""

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from postdock_supervisor.model.backup import BackupInfo
from postdock_supervisor.programs.recover import RecoverError, Target
from postdock_supervisor.programs.recover_cloud import CloudSource, auto_conf_lines, parse_listing, recovery_settings
from tests.unit.test_backup import settings

LISTING = json.dumps({"backups_list": [
    {"backup_id": "20261205T050000", "status": "DONE", "end_time": "Sat Dec  5 05:00:42 2026", "timeline": 2,
     "end_xlog": "0/9000100", "begin_wal": "000000020000000000000008"},
    {"backup_id": "20261205T040000", "status": "DONE", "end_time": "2026-12-05 04:00:30+00:00", "timeline": 1,
     "end_xlog": "0/5000100", "begin_wal": "000000010000000000000004"},
    {"backup_id": "20261205T060000", "status": "FAILED", "end_time": None},
]})  # fmt: skip


def test_the_stores_listing_is_read_oldest_first_with_its_times_and_positions() -> None:
    found = parse_listing(LISTING)
    assert [b.backup_id for b in found] == ["20261205T040000", "20261205T050000", "20261205T060000"]
    assert found[1].end_time == datetime(2026, 12, 5, 5, 0, 42, tzinfo=UTC).timestamp()
    assert found[0].end_time == datetime(2026, 12, 5, 4, 0, 30, tzinfo=UTC).timestamp()
    assert (found[1].timeline, found[1].end_lsn, found[1].begin_wal) == (2, "0/9000100", "000000020000000000000008")
    assert found[2].end_time == 0.0


def test_the_restored_copy_replays_from_barman_wal_to_the_target_then_promotes() -> None:
    moment = datetime(2026, 12, 5, 4, 30, tzinfo=UTC)
    assert recovery_settings(Target(time=moment)) == {
        "restore_command": "cp barman_wal/%f %p",
        "recovery_target_timeline": "latest",
        "primary_conninfo": "",
        "primary_slot_name": "",
        "recovery_target_time": "2026-12-05T04:30:00+00:00",
        "recovery_target_action": "promote",
    }
    assert recovery_settings(Target(lsn="0/7000060"))["recovery_target_lsn"] == "0/7000060"
    assert recovery_settings(Target(immediate=True))["recovery_target"] == "immediate"
    latest = recovery_settings(Target())
    assert "recovery_target_action" not in latest and latest["primary_conninfo"] == ""
    assert auto_conf_lines({"restore_command": "cp 'a' %p"}) == "restore_command = 'cp ''a'' %p'\n"


def test_the_wal_fetched_follows_the_timelines_and_ends_where_the_store_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bm = settings(CLOUD_BACKUP_URL="s3://b-1/c", BACKUP_DIR=str(tmp_path)).barman
    source = CloudSource(bm)  # type: ignore[arg-type]
    # Timeline 2 forked in segment 6: the store has 4, 5, 6 on timeline 1 and 6, 7 on timeline 2.
    stored = {"00000002.history", *(f"0000000100000000000000{n:02X}" for n in (4, 5, 6)),
              "000000020000000000000006", "000000020000000000000007"}  # fmt: skip
    asked: list[str] = []

    def fetch(name: str, into: Path) -> bool:
        asked.append(name)
        return name in stored

    monkeypatch.setattr(source, "fetch", fetch)
    backup = BackupInfo("20261205T040000", "DONE", timeline=1, begin_wal="000000010000000000000004")
    assert source.fetch_wal(backup, tmp_path / "wal") == 5  # the history file and four segment numbers
    fetched = [n for n in asked if n in stored]
    assert fetched == ["00000002.history", "000000010000000000000004", "000000010000000000000005",
                       "000000020000000000000006", "000000020000000000000007"]  # fmt: skip
    assert asked[-2:] == ["000000020000000000000008", "000000010000000000000008"]  # where the store ends
    with pytest.raises(RecoverError, match="names no first WAL segment"):
        source.fetch_wal(BackupInfo("x", "DONE"), tmp_path / "wal")
    with pytest.raises(RecoverError, match="CLOUD_BACKUP_URL is empty"):
        CloudSource(settings().barman)  # type: ignore[arg-type]
