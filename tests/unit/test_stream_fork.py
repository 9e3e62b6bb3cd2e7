"""Where barman's WAL stream resumes after a failover: decide/stream.py and the keeper's decision."""

from pathlib import Path

from postdock_supervisor.act.barman import resume_stream
from postdock_supervisor.config import load_settings
from postdock_supervisor.config.barman import BarmanSettings
from postdock_supervisor.decide.backup import Act, Memory, decide_backup
from postdock_supervisor.decide.stream import fork_resume, stream_position
from postdock_supervisor.metrics_barman import BarmanSnapshot, barman_metrics
from postdock_supervisor.model.backup import BackupInfo, BackupSnapshot, History, NodeProbe, Receiver
from postdock_supervisor.model.wal import Segment
from postdock_supervisor.status import backup_summary

SEG = 0x1000000  # bytes in one 16 MiB segment


def lsn(text: str) -> int:
    high, low = text.split("/")
    return (int(high, 16) << 32) | int(low, 16)


# The history of a primary on timeline 7: 5 ended at 0/36000000 (the e2e case: a WAL switch right
# before the promotion), 6 ended at 0/37000000, mid-file switches elsewhere.
ON_7 = History(7, ((1, lsn("0/3000000")), (5, lsn("0/36002EB8")), (6, lsn("0/37000000"))))


def test_the_position_follows_pg_receivewals_rule() -> None:
    assert stream_position([]) is None
    assert stream_position(["000000060000000000000036"]) == Segment(6, 0x37)  # after the complete one
    assert stream_position(["000000060000000000000036", "000000060000000000000037.partial"]) == Segment(6, 0x37)
    # The highest number wins over a higher timeline; at the same number the higher timeline wins.
    assert stream_position(["000000070000000000000036.partial", "000000060000000000000037.partial"]) == Segment(6, 0x37)
    assert stream_position(["000000060000000000000037.partial", "000000070000000000000037.partial"]) == Segment(7, 0x37)
    assert stream_position(["00000007.history", "xlog.db", "000000060000000000000036.tmp"]) is None


def test_a_stream_ending_exactly_at_the_switch_resumes_on_the_next_timeline_at_that_segment() -> None:
    resume = fork_resume(["000000060000000000000036"], (), ON_7)
    assert resume is not None
    assert (resume.stopped, resume.start, resume.aside) == (Segment(6, 0x37), Segment(7, 0x37), ())
    assert resume.partial == "000000070000000000000037.partial" and resume.at_fork


def test_a_stream_past_the_switch_resumes_at_the_forks_segment_and_moves_the_branch_aside() -> None:
    names = ["000000050000000000000036", "000000050000000000000037", "000000050000000000000038.partial"]
    resume = fork_resume(names, (), ON_7)
    assert resume is not None
    # 0/36002EB8 is inside segment 0x36: timeline 6's file 36 begins with timeline 5's WAL up to it.
    assert resume.start == Segment(6, 0x36) and resume.fork == lsn("0/36002EB8") and not resume.at_fork
    assert resume.aside == ("000000050000000000000037", "000000050000000000000038.partial")
    # What is left plus the new .partial: pg_receivewal starts exactly there.
    left = [n for n in names if n not in resume.aside] + [resume.partial]
    assert stream_position(left) == Segment(6, 0x36)


def test_a_complete_segment_holding_the_fork_stays_and_the_new_timeline_takes_over_at_its_number() -> None:
    resume = fork_resume(["000000050000000000000036"], (), ON_7)  # 5's whole file 36, the fork inside it
    assert resume is not None and resume.start == Segment(6, 0x36) and resume.aside == ()
    assert stream_position(["000000050000000000000036", resume.partial]) == Segment(6, 0x36)


def test_nothing_to_do_behind_the_switch_on_the_same_timeline_or_off_the_primarys_history() -> None:
    assert fork_resume(["000000060000000000000035"], (), ON_7) is None  # behind 0/37000000: streamed across
    assert fork_resume(["000000060000000000000036.partial"], (), ON_7) is None  # from 0/36000000, behind it
    assert fork_resume(["000000070000000000000040"], (), ON_7) is None
    assert fork_resume(["000000030000000000000036"], (), ON_7) is None  # timeline 3 is not its ancestor
    assert fork_resume(["000000060000000000000036"], (), None) is None  # history unknown


# CI's case: timeline 4 switched to 5 at 0/37000060 and pg_receivewal left 4's .partial of 0x37; barman
# kept it as its position and archived 5's segments 37 to 3C (written past the next fork, 0/3B000000,
# while the standbys were frozen). The new primary, on 6, has no 00000004.history.
ON_6 = History(6, ((1, lsn("0/3000000")), (4, lsn("0/37000060")), (5, lsn("0/3B000000"))))
STALE = ["000000040000000000000037.partial"]
ARCHIVED = [f"0000000500000000000000{n:02X}" for n in range(0x37, 0x3D)] + ["00000005.history", "xlog.db"]


def test_a_stale_partial_left_by_a_timeline_switch_does_not_hide_what_the_archive_holds() -> None:
    resume = fork_resume(STALE, ARCHIVED, ON_6)
    assert resume is not None
    assert (resume.stopped, resume.held) == (Segment(4, 0x37), Segment(5, 0x3D))
    # Past 5's end on the new history: on 6 from the fork's segment; nothing of the branch is in the
    # streaming directory (barman archived it), and the stale marker no longer decides.
    assert (resume.start, resume.fork, resume.aside) == (Segment(6, 0x3B), lsn("0/3B000000"), ())
    assert stream_position([*STALE, resume.partial]) == Segment(6, 0x3B)


def test_a_stale_partial_on_the_primarys_own_timeline_resumes_where_the_archive_ends() -> None:
    on_5 = History(5, ON_6.ends[:2])
    resume = fork_resume(STALE, ARCHIVED, on_5)
    assert resume is not None and resume.fork is None and resume.start == Segment(5, 0x3D)
    # A marker that is not stale (the .partial being written is the newest) is left alone.
    assert fork_resume(["00000005000000000000003D.partial"], ARCHIVED, on_5) is None


# ---- the keeper's decision


def barman_settings(**more: str) -> BarmanSettings:
    env = {"ROLE": "barman", "REPLICATION_HOST": "pgmaster,pgslave1", "REPLICATION_PASSWORD": "repl-secret"}
    found = load_settings({**env, **more}, "backup").barman
    assert found is not None
    return found


BM = barman_settings()
NOW = 1_800_000_000.0
DONE = BackupInfo("20270115T000000", "DONE", NOW - 100, NOW - 90, 1000)


def down(streaming: tuple[str, ...], history: History | None) -> BackupSnapshot:
    nodes = (NodeProbe("pgmaster", True, True, 7, "reserved"), NodeProbe("pgslave1", True, False, 7))
    return BackupSnapshot(nodes, Receiver(False), (DONE,), False, streaming, (), history)


def test_the_keeper_resumes_a_stream_stuck_at_the_fork_at_once_and_owes_no_backup() -> None:
    memory = Memory(host="pgmaster", last_fire=NOW - 1)
    d = decide_backup(down(("000000060000000000000036",), ON_7), BM, memory, NOW)
    assert d.actions == (Act.RESUME_STREAM, Act.CRON)
    assert d.resume is not None and d.resume.partial == "000000070000000000000037.partial"
    assert d.reason == (
        "barman's stream stopped on timeline 6 at 0/37000000, where pgmaster's history leaves it: resuming on "
        "timeline 7 at 000000070000000000000037, so that the archive has no hole"
    )
    assert not d.memory.backup_due and d.memory.down_since == NOW
    # Once resumed there, a stream that still does not run falls back to barman's reset after a while.
    after = decide_backup(down(("000000060000000000000036", d.resume.partial), ON_7), BM, d.memory, NOW + 30)
    assert after.actions == (Act.RESET_RECEIVER, Act.CRON)


def test_the_keeper_says_when_it_passes_a_stale_marker() -> None:
    snap = BackupSnapshot(down((), None).nodes, Receiver(False), (DONE,), False, tuple(STALE), tuple(ARCHIVED),
                          History(5, ON_6.ends[:2]))  # fmt: skip
    d = decide_backup(snap, BM, Memory(host="pgmaster", last_fire=NOW - 1), NOW)
    assert d.actions == (Act.RESUME_STREAM, Act.CRON)
    assert d.reason == (
        "barman's stream would restart at 000000040000000000000037 (a stale marker) but its archive already "
        "reaches 00000005000000000000003D, on pgmaster's history: resuming there"
    )


def test_the_reason_counts_the_files_moved_aside() -> None:
    names = ("000000050000000000000036", "000000050000000000000037")
    d = decide_backup(down(names, ON_7), BM, Memory(host="pgmaster", last_fire=NOW - 1), NOW)
    assert d.reason.startswith("barman's stream stopped on timeline 5 past 0/36002EB8, where pgmaster's history")
    assert d.reason.endswith("; 1 file(s) of the abandoned branch moved aside")


def test_resuming_moves_the_branch_into_diverged_and_leaves_an_empty_partial(tmp_path: Path) -> None:
    settings = barman_settings(BACKUP_DIR=str(tmp_path))
    streaming = tmp_path / settings.server / "streaming"
    streaming.mkdir(parents=True)
    names = ["000000050000000000000036", "000000050000000000000037", "000000050000000000000038.partial"]
    for name in names:
        (streaming / name).write_bytes(b"w" * 10)
    resume = fork_resume(names, (), ON_7)
    assert resume is not None
    resume_stream(settings, resume)
    assert sorted(p.name for p in streaming.iterdir()) == ["000000050000000000000036", resume.partial]
    assert (streaming / resume.partial).stat().st_size == 0
    diverged = tmp_path / settings.server / "diverged"
    assert sorted(p.name for p in diverged.iterdir()) == list(resume.aside)
    assert (diverged / "000000050000000000000037").read_bytes() == b"w" * 10


def test_the_branch_kept_aside_is_counted_in_the_metrics_and_shown_in_status() -> None:
    snap = BarmanSnapshot(True, (DONE,), 1, 1, 1.0, True, diverged=2)
    families = {f.name: f.samples[0].value for f in barman_metrics("pg_cluster", snap)}
    assert families["barman_wal_diverged_files"] == 2.0
    shown = backup_summary((DONE,), None, NOW, ("000000050000000000000037", "000000050000000000000038.partial"))
    assert shown["diverged wal"] == (
        "2 file(s) of abandoned branches kept in diverged/ (000000050000000000000037 to "
        "000000050000000000000038.partial): writes no node has, for inspection only"
    )
    assert "diverged wal" not in backup_summary((DONE,), None, NOW)
