"""WAL continuity of barman's archive, from file names: holes and missing history files are found."""

import dataclasses
import gzip
from pathlib import Path

from postdock_supervisor.config import load_settings
from postdock_supervisor.metrics_barman import BarmanSnapshot, barman_metrics
from postdock_supervisor.model.wal import Segment, continuity, parse_history, parse_segment
from postdock_supervisor.observe.backup import wal_archive
from tests.unit.test_backup import BARMAN_ENV


def names(timeline: int, numbers: range) -> list[str]:
    return [Segment(timeline, n).name for n in numbers]


START = "000000010000000000000003"


def test_segment_names_read_back_across_a_log_boundary() -> None:
    assert parse_segment("0000000200000001000000FF") == Segment(2, 0x1FF)
    assert Segment(2, 0x200).name == "000000020000000200000000"
    assert parse_segment("000000010000000000000003.00000028.backup") is None
    assert parse_segment("00000002.history") is None


def test_a_whole_archive_on_one_timeline_is_continuous() -> None:
    found = continuity(START, names(1, range(3, 12)))
    assert found.ok and found.newest == "00000001000000000000000B"


def test_a_failover_continues_the_numbers_on_the_next_timeline_with_its_history() -> None:
    archive = [*names(1, range(3, 8)), *names(2, range(7, 10)), "00000002.history"]
    assert continuity(START, archive).ok
    without = continuity(START, [n for n in archive if not n.endswith(".history")])
    assert (without.ok, without.missing_history, without.missing_segments) == (False, (2,), 0)


def test_a_hole_is_counted_and_named_on_the_timeline_before_it() -> None:
    archive = [*names(1, range(3, 6)), *names(2, range(9, 11)), "00000002.history"]
    found = continuity(START, archive)
    assert (found.missing_segments, found.first_missing) == (3, "000000010000000000000006")


def test_segments_before_the_oldest_backup_and_other_files_do_not_count() -> None:
    archive = [*names(1, range(0, 2)), *names(1, range(3, 5)), "000000010000000000000003.00000028.backup"]
    assert continuity(START, archive).ok
    assert continuity(START, []).newest == ""


def test_the_gap_and_history_counts_are_exported() -> None:
    archive = [*names(1, range(3, 5)), *names(2, range(6, 7))]
    snap = BarmanSnapshot(True, (), 1, 1, None, True, continuity(START, archive))
    values = {m.name: m.samples[0].value for m in barman_metrics("pg_cluster", snap)}
    assert values["barman_wal_missing_segments"] == 1.0
    assert values["barman_wal_missing_history_files"] == 1.0
    none_yet = {m.name for m in barman_metrics("pg_cluster", BarmanSnapshot(True, (), 1, 1, None, True))}
    assert "barman_wal_missing_segments" not in none_yet


HISTORY_2 = "1\t0/7000060\tno recovery target specified\n"  # timeline 1 switched to 2 in segment 7


def test_with_the_history_each_number_must_be_on_the_timeline_a_restore_reads() -> None:
    assert parse_history(HISTORY_2 + "2\t1/10\tbefore 2026-12-03\n") == [(1, 0x7000060), (2, 0x100000010)]
    archive = [*names(1, range(3, 8)), *names(2, range(7, 10)), "00000002.history"]
    assert continuity(START, archive, {2: HISTORY_2}).ok
    # barman got timeline 1 beyond the switch (asynchronous), then the receiver was reset past 7-8 of
    # timeline 2: the abandoned branch's 8 and 9 fill no hole of timeline 2.
    branched = [*names(1, range(3, 10)), *names(2, range(9, 11)), "00000002.history"]
    found = continuity(START, branched, {2: HISTORY_2})
    assert (found.missing_segments, found.first_missing) == (2, "000000020000000000000007")
    assert found.newest == "00000002000000000000000A"
    assert continuity(START, branched).missing_segments == 0  # without the history, any timeline counts


def test_a_history_of_an_older_timeline_does_not_stand_for_the_newest() -> None:
    archive = [*names(1, range(3, 8)), *names(2, range(7, 9)), *names(3, range(8, 10)), "00000002.history"]
    found = continuity(START, archive, {2: HISTORY_2})
    assert found.missing_history == (3,) and found.missing_segments == 0  # chain unknown: any timeline


def test_the_barman_status_names_the_hole_or_the_newest_segment() -> None:
    from postdock_supervisor.model.backup import BackupInfo
    from postdock_supervisor.status import backup_summary

    done = BackupInfo("20261203T000000", "DONE", end_time=1000.0, begin_wal=START)
    whole = backup_summary([done], continuity(START, names(1, range(3, 6))), now=1000.0 + 7200)
    assert whole == {
        "backups": 1,
        "incremental": 0,
        "failed": 0,
        "newest": "20261203T000000 (2.0 h ago)",
        "oldest": "20261203T000000",
        "wal archive": "continuous up to 000000010000000000000005",
    }
    holed = backup_summary([done], continuity(START, [*names(1, range(3, 4)), *names(1, range(5, 6))]), 1000.0)
    assert holed["wal archive"] == "1 segments missing from 000000010000000000000004, history missing for timelines -"


def test_an_unreadable_history_leaves_the_chain_unknown_instead_of_failing() -> None:
    archive = [*names(1, range(3, 8)), *names(2, range(7, 10)), "00000002.history"]
    assert continuity(START, archive, {2: "\x1f\x8b garbage"}).ok


def test_the_archive_reader_decompresses_what_barman_gzipped(tmp_path: Path) -> None:
    wals = tmp_path / "pg_cluster" / "wals"
    (wals / "0000000100000000").mkdir(parents=True)
    (wals / "0000000100000000" / "000000010000000000000003").write_bytes(b"")
    (wals / "00000002.history").write_bytes(gzip.compress(HISTORY_2.encode()))
    bm = load_settings(BARMAN_ENV, "backup").barman
    assert bm is not None
    names_found, histories = wal_archive(dataclasses.replace(bm, backup_dir=str(tmp_path)))
    assert sorted(names_found) == ["000000010000000000000003", "00000002.history"]
    assert histories == {2: HISTORY_2}
