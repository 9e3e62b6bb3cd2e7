"""The barman role: its variables, rendered files, the backup keeper's decisions, metrics, health."""

import os
from datetime import datetime
from pathlib import Path

import pytest
from prometheus_client import generate_latest
from prometheus_client.core import CollectorRegistry

from postdock_supervisor.config import load_settings
from postdock_supervisor.decide.backup import BACKUP_RETRY_S, RESET_AFTER_S, Act, Memory, backup_failed, decide_backup
from postdock_supervisor.errors import ConfigError
from postdock_supervisor.health import barman_health
from postdock_supervisor.metrics_barman import BarmanSnapshot, barman_metrics
from postdock_supervisor.model.backup import BackupInfo, BackupSnapshot, NodeProbe, Receiver
from postdock_supervisor.observe.backup import backup_locked, backups_in, read_backup_info
from postdock_supervisor.render.barman import barman_conf, barman_pgpass, server_conf

BARMAN_ENV = {
    "ROLE": "barman",
    "REPLICATION_HOST": "pgmaster,pgslave1,pgslave3",
    "REPLICATION_PASSWORD": "repl-secret",
    "POSTGRES_USER": "monkey_user",  # PostDock's barman read these; an old env file still sets them
    "POSTGRES_PASSWORD": "app-secret",
    "BACKUP_SCHEDULE": "*/30 */5 * * *",
}


def settings(**overrides: str):  # type: ignore[no-untyped-def]
    return load_settings({**BARMAN_ENV, **overrides}, "backup")


def problems(**overrides: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        settings(**overrides)
    return caught.value.problems


# ---- settings


def test_postdock_names_and_defaults() -> None:
    bm = settings().barman
    assert bm.hosts == ("pgmaster", "pgslave1", "pgslave3")
    assert (bm.slot_name, bm.server, bm.retention_days, bm.backup_dir) == (
        "barman_the_backupper",
        "pg_cluster",
        30,
        "/var/backups",
    )
    assert not hasattr(bm, "postgres_user")  # barman connects as REPLICATION_USER only


def test_a_single_replication_host_still_works() -> None:
    assert settings(REPLICATION_HOST="pgmaster").barman.hosts == ("pgmaster",)


@pytest.mark.parametrize("schedule", ["* * *", "61 * * * *", "every day", "0 0 * * * *"])
def test_a_malformed_schedule_is_one_line_naming_the_variable(schedule: str) -> None:
    found = problems(BACKUP_SCHEDULE=schedule)
    assert len(found) == 1
    assert found[0].startswith(f"BACKUP_SCHEDULE: found {schedule!r}; expected a cron expression of five fields")


def test_every_problem_is_reported_and_passwords_are_required() -> None:
    found = problems(REPLICATION_HOST="", REPLICATION_PASSWORD="", BACKUP_RETENTION_DAYS="0")
    assert found == [
        "REPLICATION_HOST: found nothing; expected a value",
        "REPLICATION_PASSWORD: found nothing; expected a secret "
        "(set REPLICATION_PASSWORD or REPLICATION_PASSWORD_FILE)",
        "BACKUP_RETENTION_DAYS: found '0'; expected a whole number from 1 to 36500",
    ]


def test_barman_synchronous_is_refused_in_strict_mode() -> None:
    env = {
        "NODE_NAME": "node1",
        "REPLICATION_PASSWORD": "r",
        "POSTGRES_PASSWORD": "p",
        "CONSISTENCY_MODE": "strict",
        "BARMAN_SYNCHRONOUS": "1",
    }
    with pytest.raises(ConfigError) as caught:
        load_settings(env, "pgmaster")
    assert caught.value.problems[0].startswith("BARMAN_SYNCHRONOUS: found 1 with CONSISTENCY_MODE=strict")


# ---- rendered files


def test_server_section_points_at_the_given_host_without_passwords() -> None:
    s = settings()
    text = server_conf(s.barman, "pgslave1")
    assert "[pg_cluster]" in text
    assert "conninfo = host=pgslave1 port=5432 user=replication_user dbname=postgres" in text
    assert "streaming_conninfo = host=pgslave1 port=5432 user=replication_user" in text
    assert "slot_name = barman_the_backupper" in text
    assert "streaming_archiver_name = barman_receive_wal" in text
    assert "retention_policy = RECOVERY WINDOW OF 30 DAYS" in text
    assert "secret" not in text and "secret" not in barman_conf(s)
    assert "barman_user = postgres" in barman_conf(s)
    assert barman_pgpass(s) == "*:*:*:replication_user:repl-secret\n"  # the application's password is not here


# ---- decisions

BM = settings().barman
NOW = 1_800_000_000.0
RUNNING = Receiver(True)
DONE = BackupInfo("20270115T000000", "DONE", NOW - 100, NOW - 90, 1000)


def snap(
    *writable: str, slot: str = "reserved", wants_sync: bool = False, receiver: Receiver = RUNNING, **kw: object
) -> BackupSnapshot:
    nodes = tuple(
        NodeProbe(h, True, h in writable, 1, slot if h in writable else "", False, wants_sync) for h in BM.hosts
    )
    fields: dict[str, object] = {"backups": (DONE,), "backup_running": False, **kw}
    return BackupSnapshot(nodes, receiver, fields["backups"], fields["backup_running"])  # type: ignore[arg-type]


STREAMING = Memory(host="pgmaster", last_fire=NOW - 1)


def test_first_primary_found_is_pointed_at_without_a_backup_owed() -> None:
    d = decide_backup(snap("pgmaster"), BM, Memory(last_fire=NOW), NOW)
    assert d.actions == (Act.POINT_AT, Act.STOP_RECEIVER, Act.CRON)
    assert d.host == "pgmaster"
    assert d.reason == "the primary is pgmaster: streaming and backing up from it"
    assert d.memory.backup_due == ""


def test_a_failover_re_points_barman_and_owes_a_backup() -> None:
    d = decide_backup(snap("pgslave3"), BM, STREAMING, NOW)
    assert d.actions == (Act.POINT_AT, Act.STOP_RECEIVER, Act.CRON)
    assert d.reason == "the primary is now pgslave3 (was pgmaster): re-pointing barman's stream and backups"
    assert d.memory.backup_due == "first backup after the primary moved to pgslave3"
    after = decide_backup(snap("pgslave3"), BM, d.memory, NOW + 5)
    assert after.actions == (Act.CRON, Act.BACKUP)
    assert after.backup_reason == "first backup after the primary moved to pgslave3"


def test_a_failover_right_after_a_failed_backup_backs_up_the_new_primary_without_the_retry_pause() -> None:
    """Seen in CI: the first backup failed at its closing WAL switch (`barman switch-wal --archive`
    exited 1 while `barman cron`'s archive-wal ran) and put the keeper in its 5 min pause; the
    failover's backup of the new timeline waited it out."""
    failed = backup_failed(STREAMING, "no base backup yet", NOW)
    moved = decide_backup(snap("pgslave3"), BM, failed, NOW + 30)
    assert (moved.memory.backup_due, moved.memory.failed_at) == (
        "first backup after the primary moved to pgslave3",
        None,
    )
    after = decide_backup(snap("pgslave3"), BM, moved.memory, NOW + 35)
    assert (after.actions, after.backup_reason) == (
        (Act.CRON, Act.BACKUP),
        "first backup after the primary moved to pgslave3",
    )
    # Seen in e2e: the backup started on pgmaster failed only after the keeper had moved to pgslave3
    # (its primary died under it); that failure must not pause the new primary's backup for 5 min.
    late = backup_failed(moved.memory, "first backup after the primary moved to pgmaster", NOW + 40, "pgmaster")
    assert late == moved.memory
    assert backup_failed(moved.memory, "x", NOW + 40, "pgslave3").failed_at == NOW + 40


def test_no_writable_node_or_two_of_them_changes_nothing() -> None:
    none = decide_backup(snap(), BM, STREAMING, NOW)
    assert (none.actions, none.reason) == ((Act.CRON,), "no writable primary among pgmaster,pgslave1,pgslave3: waiting")
    two = decide_backup(snap("pgmaster", "pgslave1"), BM, STREAMING, NOW)
    assert two.reason == "several writable nodes (pgmaster, pgslave1): not switching until one remains"
    assert Act.POINT_AT not in two.actions


def test_a_lost_slot_is_recreated_and_a_backup_owed() -> None:
    d = decide_backup(snap("pgmaster", slot="lost"), BM, STREAMING, NOW)
    assert d.actions == (Act.STOP_RECEIVER, Act.DROP_SLOT, Act.RESET_RECEIVER, Act.CRON)
    assert d.memory.backup_due == "slot barman_the_backupper was lost on pgmaster"


def test_receiver_is_restarted_when_its_synchronous_flag_disagrees_with_the_primary() -> None:
    d = decide_backup(snap("pgmaster", wants_sync=True, receiver=Receiver(True, False)), BM, STREAMING, NOW)
    assert d.actions == (Act.STOP_RECEIVER, Act.CRON)
    assert d.reason == "pgmaster wants barman's receiver synchronous, it runs otherwise: restarting it"
    fine = decide_backup(snap("pgmaster", wants_sync=True, receiver=Receiver(True, True)), BM, STREAMING, NOW)
    assert fine.actions == (Act.CRON,)


def test_a_receiver_down_long_enough_is_reset() -> None:
    down = snap("pgmaster", receiver=Receiver(False))
    first = decide_backup(down, BM, STREAMING, NOW)
    assert first.actions == (Act.CRON,) and first.memory.down_since == NOW
    later = decide_backup(down, BM, first.memory, NOW + RESET_AFTER_S)
    assert later.actions == (Act.RESET_RECEIVER, Act.CRON)
    assert later.reason.startswith("receive-wal has not run for 30s although pgmaster answers")
    assert later.memory.backup_due == "receive-wal reset on pgmaster"


def test_the_first_backup_waits_for_the_stream_then_starts() -> None:
    waiting = decide_backup(snap("pgmaster", backups=(), receiver=Receiver(False)), BM, STREAMING, NOW)
    assert Act.BACKUP not in waiting.actions and waiting.memory.backup_due == "no base backup yet"
    going = decide_backup(snap("pgmaster", backups=()), BM, waiting.memory, NOW + 5)
    assert going.actions == (Act.CRON, Act.BACKUP) and going.backup_reason == "no base backup yet"
    running = decide_backup(snap("pgmaster", backups=(), backup_running=True), BM, going.memory, NOW + 10)
    assert Act.BACKUP not in running.actions


def test_the_schedule_fires_once_at_its_time() -> None:
    # */30 */5 * * *: minutes 0 and 30 of hours 0, 5, 10, 15, 20 (local time of the container).
    start = datetime(2027, 1, 15, 4, 50).timestamp()
    memory = Memory(host="pgmaster", last_fire=start)
    quiet = decide_backup(snap("pgmaster"), BM, memory, start + 5 * 60)
    assert Act.BACKUP not in quiet.actions
    due = datetime(2027, 1, 15, 5, 0, 3).timestamp()
    fired = decide_backup(snap("pgmaster"), BM, quiet.memory, due)
    assert fired.actions == (Act.CRON, Act.BACKUP) and fired.backup_reason == "scheduled (*/30 */5 * * *)"
    again = decide_backup(snap("pgmaster"), BM, fired.memory, due + 60)
    assert Act.BACKUP not in again.actions


def test_an_incremental_backup_fires_on_its_own_schedule_on_top_of_the_newest_backup() -> None:
    inc = settings(INCREMENTAL_SCHEDULE="15 * * * *").barman
    start = datetime(2027, 1, 15, 5, 1).timestamp()
    memory = Memory(host="pgmaster", last_fire=start, last_incremental=start)
    due = datetime(2027, 1, 15, 5, 15, 2).timestamp()  # BACKUP_SCHEDULE fires next at 05:30
    on_timeline = BackupInfo("20270115T000000", "DONE", NOW - 100, NOW - 90, 1000, timeline=1)
    fired = decide_backup(snap("pgmaster", backups=(on_timeline,)), inc, memory, due)
    assert fired.actions == (Act.CRON, Act.BACKUP) and fired.incremental
    assert (
        fired.reason == "starting an incremental backup: incremental, scheduled (15 * * * *), on top of 20270115T000000"
    )
    assert (
        Act.BACKUP not in decide_backup(snap("pgmaster", backups=(on_timeline,)), inc, fired.memory, due + 60).actions
    )


def test_an_incremental_backup_never_starts_a_chain_on_another_timeline() -> None:
    inc = settings(INCREMENTAL_SCHEDULE="15 * * * *").barman
    start = datetime(2027, 1, 15, 5, 1).timestamp()
    memory = Memory(host="pgmaster", last_fire=start, last_incremental=start)
    old = BackupInfo("20270115T000000", "DONE", NOW - 100, NOW - 90, 1000, timeline=0)  # the primary is on 1
    fired = decide_backup(snap("pgmaster", backups=(old,)), inc, memory, datetime(2027, 1, 15, 5, 15, 2).timestamp())
    assert fired.actions == (Act.CRON, Act.BACKUP) and not fired.incremental
    assert fired.backup_reason.endswith("the newest backup is timeline 0 and the primary on 1: a full one")


def test_without_an_incremental_schedule_no_incremental_backup_is_ever_taken() -> None:
    assert BM.incremental_schedule == ""
    d = decide_backup(snap("pgmaster"), BM, STREAMING, NOW + 7 * 24 * 3600)
    assert not d.incremental


def test_a_malformed_incremental_schedule_is_one_line_naming_the_variable() -> None:
    assert problems(INCREMENTAL_SCHEDULE="every hour") == [
        "INCREMENTAL_SCHEDULE: found 'every hour'; expected nothing (never) or a cron expression of five fields, "
        "minute hour day month weekday (e.g. '0 0 * * *')"
    ]


# ---- backup.info, metrics, health


def test_backup_info_is_read_from_barmans_file(tmp_path: Path) -> None:
    info = tmp_path / "backup.info"
    info.write_text(
        "backup_id=20270115T000000\nstatus=DONE\nbegin_time=2027-01-15 00:00:00.100000+00:00\n"
        "end_time=2027-01-15 00:00:10.600000+00:00\nsize=36304273\ntimeline=2\n"
        "copy_stats={'copy_time': 5.25, 'total_time': 10.5}\n"
    )
    b = read_backup_info(info)
    assert b == BackupInfo("20270115T000000", "DONE", 1799971200.1, 1799971210.6, 36304273, 2, 5.25, 10.5)
    assert b is not None and not b.incremental
    with info.open("a") as more:
        more.write("parent_backup_id=None\n")
    assert read_backup_info(info) == b
    info.write_text("backup_id=20270116T000000\nstatus=DONE\nparent_backup_id=20270115T000000\n")
    child = read_backup_info(info)
    assert child is not None and child.incremental and child.parent_backup_id == "20270115T000000"


def test_incremental_backups_are_counted_and_sized_apart_from_full_ones() -> None:
    full = BackupInfo("20270115T000000", "DONE", 100.0, 110.0, 5000, timeline=1)
    inc = BackupInfo("20270116T000000", "DONE", 200.0, 205.0, 300, timeline=1, parent_backup_id=full.backup_id)
    found = {
        m.name: m.samples[0].value for m in barman_metrics("s", BarmanSnapshot(True, (full, inc), 1, 1, None, True))
    }
    assert found["barman_backups_amount"] == 2
    assert found["barman_backups_incremental_amount"] == 1
    assert found["barman_last_backup_incremental"] == 1
    assert found["barman_last_full_backup_size_bytes"] == 5000
    assert found["barman_last_incremental_backup_size_bytes"] == 300


def test_metrics_keep_postdocks_names_with_a_server_label() -> None:
    older = BackupInfo("a", "DONE", 100.0, 110.0, 5)
    newest = BackupInfo("b", "DONE", 200.0, 215.0, 36304273, 1, 5.0, 10.0)
    started = BackupInfo("c", "STARTED", 300.0)
    registry = CollectorRegistry()

    class Fixed:
        def collect(self):  # type: ignore[no-untyped-def]
            return barman_metrics("pg_cluster", BarmanSnapshot(True, (older, newest, started), 7, 9, 3.5, True))

    registry.register(Fixed())
    text = generate_latest(registry).decode()
    for line in (
        'barman_check_is_ok{server="pg_cluster"} 1.0',
        'barman_backups_amount{server="pg_cluster"} 2.0',
        'barman_last_backup_start_time_seconds{server="pg_cluster"} 200.0',
        'barman_last_backup_end_time_seconds{server="pg_cluster"} 215.0',
        'barman_last_backup_size_bytes{server="pg_cluster"} 3.6304273e+07',
        'barman_last_backup_duration_total_seconds{server="pg_cluster"} 10.0',
        'barman_last_backup_duration_copy_seconds{server="pg_cluster"} 5.0',
        'barman_oldest_backup_end_time_seconds{server="pg_cluster"} 110.0',
        'barman_disk_free_bytes{server="pg_cluster"} 7.0',
        'barman_disk_used_bytes{server="pg_cluster"} 9.0',
        'barman_last_wal_received_age_seconds{server="pg_cluster"} 3.5',
        "# TYPE barman_backups_amount gauge",
    ):
        assert line in text, line
    assert "# HELP barman_check_is_ok" in text


def test_no_backup_yet_omits_the_last_backup_series() -> None:
    names = {m.name for m in barman_metrics("s", BarmanSnapshot(None, (), 1, 1, None, False))}
    assert names == {"barman_backups_amount", "barman_disk_free_bytes", "barman_disk_used_bytes",
                     "barman_receive_wal_running", "barman_backups_incremental_amount",
                     "barman_wal_diverged_files"}  # fmt: skip


def test_the_primary_s_wal_past_barman_s_slot_is_exported_when_known() -> None:
    behind = BarmanSnapshot(True, (), 1, 1, None, True, behind_bytes=3 * 16 * 1024 * 1024)
    [value] = [m.samples[0].value for m in barman_metrics("s", behind) if m.name == "barman_wal_behind_bytes"]
    assert value == 50331648.0


def test_barman_health_names_the_failing_check() -> None:
    out = "Server pg_cluster:\n\tPostgreSQL: OK\n\treceive-wal running: FAILED (See the Barman log file)\n"
    assert barman_health({"backup_keeper": "RUNNING"}, False, out).reason == (
        "barman check failed: receive-wal running: FAILED (See the Barman log file)"
    )
    assert barman_health({"backup_keeper": "RUNNING"}, True, "").ok
    assert not barman_health({"backup_keeper": "BACKOFF"}, True, "").ok


def test_a_backup_owed_after_a_failover_is_not_held_back_by_a_recent_backup() -> None:
    just_backed_up = decide_backup(snap("pgmaster", backups=()), BM, STREAMING, NOW)
    assert Act.BACKUP in just_backed_up.actions
    moved = decide_backup(snap("pgslave1"), BM, just_backed_up.memory, NOW + 20)
    after = decide_backup(snap("pgslave1"), BM, moved.memory, NOW + 25)
    assert after.actions == (Act.CRON, Act.BACKUP)


def test_a_failed_backup_is_retried_after_a_pause() -> None:
    failed = backup_failed(STREAMING, "scheduled (*/30 */5 * * *)", NOW)
    assert Act.BACKUP not in decide_backup(snap("pgmaster"), BM, failed, NOW + 60).actions
    retry = decide_backup(snap("pgmaster"), BM, failed, NOW + BACKUP_RETRY_S)
    assert retry.backup_reason == "retry: scheduled (*/30 */5 * * *)"


def test_a_backup_owed_waits_while_another_runs_and_one_begun_after_the_debt_serves_it() -> None:
    moved = decide_backup(snap("pgslave1"), BM, STREAMING, NOW)
    # `postdock recover` or an operator runs `barman backup`: a second one would fail on barman's lock.
    busy = decide_backup(snap("pgslave1", backup_running=True), BM, moved.memory, NOW + 5)
    assert Act.BACKUP not in busy.actions
    assert busy.memory.backup_due == "first backup after the primary moved to pgslave1"
    theirs = BackupInfo("20270115T000100", "DONE", NOW + 3, NOW + 20, 1000)
    served = decide_backup(snap("pgslave1", backups=(DONE, theirs)), BM, busy.memory, NOW + 25)
    assert (served.actions, served.memory.backup_due) == ((Act.CRON,), "")
    older = BackupInfo("20270115T000000", "DONE", NOW - 3, NOW + 20, 1000)  # began before the debt
    still = decide_backup(snap("pgslave1", backups=(older,)), BM, busy.memory, NOW + 25)
    assert still.backup_reason == "first backup after the primary moved to pgslave1"


def test_a_running_barman_backup_is_seen_in_the_kernels_lock_table(tmp_path: Path) -> None:
    bm = settings(BACKUP_DIR=str(tmp_path)).barman
    lock = tmp_path / f".{bm.server}-backup.lock"
    locks = tmp_path / "locks"
    locks.write_text("1: POSIX  ADVISORY  WRITE 7 00:05:12 0 EOF\n")
    assert not backup_locked(bm, locks)  # no lock file: no barman backup ever ran
    lock.write_text("42\n")  # barman leaves the file behind after a backup
    assert not backup_locked(bm, locks)
    st = lock.stat()
    device = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}"
    locks.write_text(
        f"1: POSIX  ADVISORY  WRITE 7 00:05:12 0 EOF\n2: FLOCK  ADVISORY  WRITE 42 {device}:{st.st_ino} 0 EOF\n"
    )
    assert backup_locked(bm, locks)
    locks.write_text(f"2: FLOCK  ADVISORY  WRITE 42 {device}:{st.st_ino + 1} 0 EOF\n")
    assert not backup_locked(bm, locks)


def test_backups_are_found_in_barmans_meta_directory_and_in_the_older_layout(tmp_path: Path) -> None:
    meta = tmp_path / "new" / "meta"
    meta.mkdir(parents=True)
    for backup_id in ("20270116T000000", "20270115T000000"):
        # barman 3.13 writes no backup_id line there: the file name says it.
        (meta / f"{backup_id}-backup.info").write_text("status=DONE\ntimeline=1\n")
    assert [b.backup_id for b in backups_in(tmp_path / "new")] == ["20270115T000000", "20270116T000000"]
    old = tmp_path / "old" / "base" / "20270115T000000"
    old.mkdir(parents=True)
    (old / "backup.info").write_text("status=FAILED\n")
    assert [(b.backup_id, b.status) for b in backups_in(tmp_path / "old")] == [("20270115T000000", "FAILED")]


# What barman 3.13 left on disk when the primary was killed while it finalised a backup (seen in the
# e2e suite after three failovers in a row): waiting for WAL, with no end position.
CUT_SHORT_INFO = """backup_id=20270115T010000
begin_wal=000000060000000000000038
end_wal=None
end_xlog=None
status=WAITING_FOR_WALS
"""


def test_a_backup_cut_short_by_a_failover_is_discarded_and_a_new_one_owed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    meta = tmp_path / "pg_cluster" / "meta"
    meta.mkdir(parents=True)
    (meta / "20270115T010000-backup.info").write_text(CUT_SHORT_INFO)
    [broken] = backups_in(tmp_path / "pg_cluster")
    assert broken.cut_short and not DONE.cut_short
    d = decide_backup(snap("pgmaster", backups=(DONE, broken)), BM, STREAMING, NOW)
    assert (d.actions, d.discard) == ((Act.DISCARD,), "20270115T010000")
    assert d.reason == (
        "backup 20270115T010000 will never complete: it was cut short (its primary was lost while barman "
        "finalised it: no end position); marking it FAILED and deleting it, so that barman checks the backups "
        "after it and its catalogue again"
    )
    assert d.memory.backup_due == "replacing backup 20270115T010000, which could not complete"
    # A backup still running may be finalising: left alone.
    running = decide_backup(snap("pgmaster", backups=(DONE, broken), backup_running=True), BM, STREAMING, NOW)
    assert Act.DISCARD not in running.actions
    from postdock_supervisor.act import barman as act

    asked: list[tuple[str, ...]] = []
    monkeypatch.setattr(act, "barman", lambda *args, **kw: asked.append(args) or act.proc.Completed(args, 0, ""))
    bm = settings(BACKUP_DIR=str(tmp_path)).barman
    assert act.discard(bm, "20270115T010000", d.discard_why)
    marked = (meta / "20270115T010000-backup.info").read_text()
    assert "status=FAILED\n" in marked and "WAITING_FOR_WALS" not in marked
    assert "error=never complete: it was cut short (its primary was lost" in marked
    assert asked == [("delete", "pg_cluster", "20270115T010000")]
    assert not read_backup_info(meta / "20270115T010000-backup.info").cut_short  # type: ignore[union-attr]


# Seen in the e2e suite (a flaky run): a backup began on pgmaster (timeline 5), pgslave1 was promoted
# while it copied, and barman recorded its end on timeline 6. barman 3.13 waits for that end segment in
# timeline 5's archive, so it waited for ever, and its cron (which checks only the oldest waiting
# backup) left every later backup WAITING_FOR_WALS too.
ACROSS_INFO = """begin_wal=000000050000000000000036
end_wal=000000060000000000000037
end_xlog=0/3700CDB8
status=WAITING_FOR_WALS
timeline=5
"""


def test_a_waiting_backup_that_barman_can_never_complete_is_discarded(tmp_path: Path) -> None:
    server = tmp_path / "pg_cluster"
    (server / "meta").mkdir(parents=True)
    (server / "meta" / "20270115T010000-backup.info").write_text(ACROSS_INFO)
    # Its timeline ended inside the end segment: only the .partial of it reaches the archive.
    (server / "meta" / "20270115T020000-backup.info").write_text(
        "begin_wal=000000070000000000000040\nend_wal=000000070000000000000041\nstatus=WAITING_FOR_WALS\n"
    )
    # Waiting as usual: its end segment is still being streamed.
    (server / "meta" / "20270115T030000-backup.info").write_text(
        "begin_wal=000000080000000000000050\nend_wal=000000080000000000000051\nstatus=WAITING_FOR_WALS\n"
    )
    wals = server / "wals" / "0000000700000000"
    wals.mkdir(parents=True)
    (wals / "000000070000000000000041.partial").write_text("")
    across, partial, waiting = backups_in(server)
    assert across.stranded == (
        "it began on timeline 5 and ended on 6 (a failover during the copy): barman waits for its end segment "
        "on timeline 5, which never comes"
    )
    assert partial.stranded == (
        "its timeline ended inside its last segment 000000070000000000000041 (only a .partial of it is archived): "
        "barman never sees that segment whole"
    )
    assert not waiting.stranded and not DONE.stranded
    d = decide_backup(snap("pgmaster", backups=(DONE, across, partial, waiting)), BM, STREAMING, NOW)
    assert (d.actions, d.discard, d.discard_why) == ((Act.DISCARD,), "20270115T010000", across.stranded)
    d = decide_backup(snap("pgmaster", backups=(DONE, partial, waiting)), BM, STREAMING, NOW)
    assert d.discard == "20270115T020000"
    assert Act.DISCARD not in decide_backup(snap("pgmaster", backups=(DONE, waiting)), BM, STREAMING, NOW).actions
    # Once the whole segment is archived too, the same backup completes as usual.
    (wals / "000000070000000000000041").write_text("")
    assert not backups_in(server)[1].stranded
