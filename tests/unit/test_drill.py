"""Restore drills: when one is due, when it is refused, how its record survives a damaged file,
and what the exporter says of it."""

from dataclasses import replace
from pathlib import Path

import pytest

from postdock_supervisor.decide.drill import DRILL_RETRY_S, DrillAct, DrillMemory, decide_drill, needed_bytes
from postdock_supervisor.metrics_barman import drill_metrics
from postdock_supervisor.model.backup import BackupInfo
from postdock_supervisor.model.drill import DrillRecord, DrillSnapshot
from tests.unit.test_metrics import exposition

GIB = 1024**3
NEW = BackupInfo("20261203T120000", "DONE", size=GIB, timeline=1)
PASSED = DrillRecord("20261203T120000", "new backup", 1000.0, 1060.0, True, "read", timeline=1)
ROOM = 10 * GIB
SCHEDULE = "0 12 * * *"
NOON = 1796299200.0  # 2026-12-03 12:00 UTC


def snap(**changes: object) -> DrillSnapshot:
    base = DrillSnapshot(newest=NEW, backup_running=False, free_bytes=ROOM, timeline=1, last=PASSED)
    return replace(base, **changes)  # type: ignore[arg-type]


def test_a_new_backup_a_new_timeline_and_the_schedule_each_start_a_drill() -> None:
    first = decide_drill(snap(last=None), "", DrillMemory(), 2000.0)
    assert (first.act, first.backup_id) == (DrillAct.RUN, NEW.backup_id)
    assert first.reason == "no drill yet: restoring backup 20261203T120000: restore drill of backup 20261203T120000"
    newer = replace(NEW, backup_id="20261204T120000")
    assert decide_drill(snap(newest=newer), "", DrillMemory(), 2000.0).trigger == "new backup 20261204T120000"
    failover = decide_drill(snap(timeline=2), "", DrillMemory(), 2000.0)
    assert failover.trigger == "the primary changed (timeline 2; the last drill reached 1)"
    quiet = decide_drill(snap(), SCHEDULE, DrillMemory(last_fire=NOON - 3600), NOON - 60)
    assert (quiet.act, quiet.reason) == (DrillAct.WAIT, "backup 20261203T120000 restored and checked; nothing due")
    due = decide_drill(snap(), SCHEDULE, DrillMemory(last_fire=NOON - 3600), NOON + 1)
    assert (due.act, due.trigger, due.memory.last_fire) == (DrillAct.RUN, "DRILL_SCHEDULE", NOON + 1)


def test_nothing_runs_without_a_backup_or_while_one_is_taken() -> None:
    assert decide_drill(snap(newest=None), "", DrillMemory(), 0.0).reason == "no DONE backup to restore yet"
    busy = decide_drill(snap(last=None, backup_running=True), "", DrillMemory(), 0.0)
    assert (busy.act, busy.reason) == (DrillAct.WAIT, "a base backup runs: the drill waits for it")


def test_a_failed_drill_is_retried_after_an_hour_or_at_once_for_a_new_backup() -> None:
    failed = replace(PASSED, ok=False, reason="barman recover failed: disk full")
    waits = decide_drill(snap(last=failed), SCHEDULE, DrillMemory(last_fire=0.0), 1060.0 + 600)
    assert waits.act is DrillAct.WAIT
    assert waits.reason == "the last drill failed (barman recover failed: disk full); retrying in 3000s"
    later = decide_drill(snap(last=failed), "", DrillMemory(), 1060.0 + DRILL_RETRY_S)
    assert later.trigger == "retrying the drill that failed 3600s ago"
    newer = replace(NEW, backup_id="20261204T120000")
    assert decide_drill(snap(last=failed, newest=newer), "", DrillMemory(), 1100.0).act is DrillAct.RUN


def test_a_drill_without_room_for_the_copy_is_refused_with_the_figures() -> None:
    short = decide_drill(snap(last=None, free_bytes=GIB), "", DrillMemory(), 0.0)
    assert short.act is DrillAct.REFUSE
    assert short.reason.endswith("not restoring, 1024 MiB free in BACKUP_DIR and the copy needs 1484 MiB")
    assert needed_bytes(GIB) == int(1.2 * GIB) + 256 * 1024 * 1024


def test_a_record_reads_back_and_a_damaged_one_is_no_record() -> None:
    assert DrillRecord.from_json(PASSED.to_json()) == PASSED
    assert DrillRecord.from_json({**PASSED.to_json(), "rows": "7"}) is None
    assert DrillRecord.from_json({**PASSED.to_json(), "ok": 1}) is None
    missing = PASSED.to_json()
    del missing["backup_id"]
    assert DrillRecord.from_json(missing) is None
    assert DrillRecord.from_json([]) is None
    assert DrillRecord.from_json({**PASSED.to_json(), "started_at": 1000}) == PASSED  # JSON's 1000 for 1000.0


def test_the_exporter_shows_the_last_drill_and_the_last_that_passed() -> None:
    done = replace(PASSED, verify_seconds=4.0, recover_seconds=20.0, replay_seconds=30.0, check_seconds=5.0, rows=1234)
    failed = replace(PASSED, ok=False, finished_at=5000.0)

    text = exposition(drill_metrics("pg_cluster", failed, done))
    assert 'barman_drill_last_ok{server="pg_cluster"} 0.0' in text
    assert 'barman_drill_last_time_seconds{server="pg_cluster"} 5000.0' in text
    assert 'barman_drill_last_success_time_seconds{server="pg_cluster"} 1060.0' in text
    assert 'barman_drill_restored_rows{server="pg_cluster"} 1234.0' in text
    assert 'barman_drill_duration_seconds{server="pg_cluster",step="replay"} 30.0' in text
    assert 'barman_drill_duration_seconds{server="pg_cluster",step="verify"} 4.0' in text
    assert 'barman_drill_duration_seconds{server="pg_cluster",step="total"} 60.0' in text
    assert drill_metrics("pg_cluster", None, None) == []


def test_status_in_the_barman_container_says_how_the_last_drill_ended() -> None:
    from postdock_supervisor.status import drill_summary

    assert drill_summary(None, None, 0.0) == {"restore drill": "none yet"}
    assert drill_summary(PASSED, PASSED, 1060.0 + 7200) == {"restore drill": "passed 2.0 h ago: read"}
    failed = replace(PASSED, ok=False, finished_at=9000.0, reason="barman recover failed: disk full")
    assert drill_summary(failed, PASSED, 9000.0 + 360) == {
        "restore drill": "FAILED 0.1 h ago: barman recover failed: disk full",
        "last passing drill": "20261203T120000 (2.3 h ago)",
    }


def test_a_drill_due_while_the_archive_lacks_a_file_the_restore_needs_fails_naming_it() -> None:
    gap = decide_drill(snap(last=None, gap="000000010000000000000007"), "", DrillMemory(), 2000.0)
    assert (gap.act, gap.backup_id) == (DrillAct.REFUSE, NEW.backup_id)
    assert gap.reason == (
        "no drill yet: restoring backup 20261203T120000: not restoring, the WAL archive lacks "
        "000000010000000000000007 after backup 20261203T120000: a restore would stop there"
    )


def test_the_gap_a_restore_meets_is_counted_from_the_newest_backup_on() -> None:
    from postdock_supervisor.observe.backup import restore_gap

    newest = replace(NEW, begin_wal="000000010000000000000005")
    archive = [f"0000000100000000000000{n:02X}" for n in (3, 5, 6, 8)]  # 4 is before the backup: no matter
    assert restore_gap(newest, archive, {}) == "000000010000000000000007"
    assert restore_gap(newest, archive[:3], {}) == ""
    after_failover = [*archive[:3], "000000020000000000000007"]  # timeline 2 without its history file
    assert restore_gap(newest, after_failover, {}) == "00000002.history"
    assert restore_gap(replace(NEW, begin_wal=""), archive, {}) == ""


def test_a_drill_by_hand_of_an_older_backup_checks_the_archive_from_that_backup_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`postdock backup drill --backup-id`: the gap is looked for from the chosen backup's first
    segment, so a hole the newest backup no longer needs still fails the older one's drill."""
    from postdock_supervisor.act.drill import DrillBusy
    from postdock_supervisor.programs import drill_keeper
    from tests.unit.test_backup import settings

    bm = settings(BACKUP_DIR=str(tmp_path)).barman
    assert bm is not None
    old = replace(NEW, backup_id="20261201T120000", begin_wal="000000010000000000000002")
    new = replace(NEW, begin_wal="000000010000000000000005")
    monkeypatch.setattr(drill_keeper, "backups", lambda _: [old, new])
    wals = tmp_path / bm.server / "wals" / "0000000100000000"
    wals.mkdir(parents=True)
    for segment in (2, 4, 5):  # 3 is missing: after the old backup, before the new one
        (wals / f"00000001000000000000000{segment}").write_bytes(b"")
    record = drill_keeper.drill_now(bm, "asked for by hand", old.backup_id)
    assert (record.backup_id, record.ok) == (old.backup_id, False)
    assert record.reason == (
        "not restoring, the WAL archive lacks 000000010000000000000003 after backup 20261201T120000: "
        "a restore would stop there"
    )
    with pytest.raises(DrillBusy, match="barman holds no DONE backup 20261130T000000"):
        drill_keeper.drill_now(bm, "asked for by hand", "20261130T000000")


def test_a_restored_copy_gets_the_empty_directories_postgres_needs(tmp_path: Path) -> None:
    """barman 3.13's restore of a combined incremental backup leaves empty directories out; postgres
    then stops at once (`could not open directory "pg_tblspc"`, seen in the e2e suite)."""
    from postdock_supervisor.act.drill import EMPTY_DIRS, complete_empty_dirs

    (tmp_path / "pg_wal").mkdir()
    (tmp_path / "pg_xact").mkdir()
    made = complete_empty_dirs(tmp_path)
    assert "pg_tblspc" in made and "pg_xact" not in made
    assert all((tmp_path / name).is_dir() for name in EMPTY_DIRS)
    assert complete_empty_dirs(tmp_path) == []
