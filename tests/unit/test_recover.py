"""`postdock recover`'s pure parts: which base backup a target needs, and what barman is asked."""

from datetime import UTC, datetime

import pytest

from postdock_supervisor.model.backup import BackupInfo
from postdock_supervisor.programs.recover import RecoverError, Target, choose_backup, parse_time

JAN = datetime(2027, 1, 15, tzinfo=UTC).timestamp()
B1 = BackupInfo("20270115T000000", "DONE", JAN, JAN + 10, end_lsn="0/7000000")
B2 = BackupInfo("20270115T060000", "DONE", JAN + 6 * 3600, JAN + 6 * 3600 + 10, end_lsn="0/2A000000")
FAILED = BackupInfo("20270115T070000", "FAILED", JAN + 7 * 3600)
ALL = (B1, B2, FAILED)
NOW = JAN + 8 * 3600


def at(hours: float) -> Target:
    return Target(time=datetime.fromtimestamp(JAN + hours * 3600, UTC))


def test_the_newest_backup_that_ended_before_the_target_is_chosen() -> None:
    assert choose_backup(ALL, at(3), "", NOW) is B1
    assert choose_backup(ALL, at(7.5), "", NOW) is B2  # a FAILED backup is never used


def test_a_target_before_the_oldest_backup_or_in_the_future_is_refused_with_the_reason() -> None:
    with pytest.raises(RecoverError, match=r"is before the end of the oldest backup \(2027-01-15T00:00:10\+00:00\)"):
        choose_backup(ALL, at(-1), "", NOW)
    with pytest.raises(RecoverError, match="is in the future"):
        choose_backup(ALL, at(9), "", NOW)


def test_lsn_targets_compare_as_positions_not_text() -> None:
    assert choose_backup(ALL, Target(lsn="0/9000000"), "", NOW) is B1  # "0/9..." > "0/2A..." as text
    assert choose_backup(ALL, Target(lsn="1/0"), "", NOW) is B2


def test_a_named_backup_must_be_done() -> None:
    assert choose_backup(ALL, at(7.5), "20270115T000000", NOW) is B1
    with pytest.raises(RecoverError, match="--backup-id: found '20270115T070000'; expected one of the DONE backups"):
        choose_backup(ALL, at(7.5), "20270115T070000", NOW)


def test_what_barman_recover_is_asked_for_each_target() -> None:
    assert at(3).barman_args() == ["--target-time", "2027-01-15T03:00:00+00:00", "--target-action", "promote"]
    assert Target(lsn="0/9000000").barman_args() == ["--target-lsn", "0/9000000", "--target-action", "promote"]
    assert Target(immediate=True).barman_args() == ["--target-immediate", "--target-action", "promote"]
    assert Target().barman_args() == [] and Target().describe() == "the last WAL barman holds"


def test_a_time_without_zone_is_utc_and_nonsense_is_named() -> None:
    assert parse_time("2027-01-15 10:30:00") == datetime(2027, 1, 15, 10, 30, tzinfo=UTC)
    with pytest.raises(RecoverError, match="--target-time: found 'yesterday'"):
        parse_time("yesterday")
