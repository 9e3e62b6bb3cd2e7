"""The off-site copy (CLOUD_BACKUP_URL): its variables, the files rendered for it, when a backup is
copied, and the copies themselves with stand-in barman-cloud commands on PATH (the e2e suite runs
the real ones against an S3-compatible server)."""

import json
import os
from pathlib import Path

import pytest

from postdock_supervisor import paths
from postdock_supervisor.act import offsite
from postdock_supervisor.config import Role, secret_names
from postdock_supervisor.config.barman import BarmanSettings, wal_hook_segment
from postdock_supervisor.decide.offsite import RETRY_AFTER_S, OffsiteAct, decide_offsite
from postdock_supervisor.metrics_barman import offsite_metrics
from postdock_supervisor.model.backup import BackupInfo
from postdock_supervisor.model.offsite import OffsiteRecord, OffsiteSnapshot, OffsiteState
from postdock_supervisor.observe.offsite import read_state
from postdock_supervisor.programs import offsite_keeper
from postdock_supervisor.programs.entrypoint import child_environment
from postdock_supervisor.render import render_all
from postdock_supervisor.render.barman import server_conf
from postdock_supervisor.roles import programs_for
from postdock_supervisor.status import offsite_summary
from tests.unit.test_backup import problems, settings

CLOUD = {"CLOUD_BACKUP_URL": "s3://postdock-backups/cluster-a/", "CLOUD_ENDPOINT_URL": "http://s3:5000",
         "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "s3-secret"}  # fmt: skip


def cloud_settings(tmp_path: Path, **more: str) -> BarmanSettings:
    bm = settings(**CLOUD, BACKUP_DIR=str(tmp_path), **more).barman
    assert bm is not None
    return bm


def test_the_off_site_variables_are_checked_together() -> None:
    bm = settings(**CLOUD).barman
    assert (bm.cloud_url, bm.cloud_endpoint, bm.cloud_key_id.reveal()) == ("s3://postdock-backups/cluster-a", "http://s3:5000",
                                                                 "AKIDEXAMPLE")  # fmt: skip
    assert problems(CLOUD_BACKUP_URL="postdock-backups") == [
        "CLOUD_BACKUP_URL: found 'postdock-backups'; expected empty, or s3://BUCKET[/FOLDER] (a bucket name of "
        "lower-case letters, digits, '.' and '-')"
    ]
    assert problems(CLOUD_BACKUP_URL="s3://b-1", CLOUD_ENDPOINT_URL="s3:5000") == [
        "CLOUD_ENDPOINT_URL: found 's3:5000'; expected empty, or http(s)://HOST[:PORT][/PATH]"
    ]
    assert problems(CLOUD_BACKUP_URL="s3://b-1", AWS_ACCESS_KEY_ID="AKID") == [
        "AWS_SECRET_ACCESS_KEY: found nothing; expected it with AWS_ACCESS_KEY_ID (or neither, for boto3's own chain)"
    ]
    assert problems(AWS_ACCESS_KEY_ID="AKID", AWS_SECRET_ACCESS_KEY="x") == [
        "CLOUD_BACKUP_URL: found nothing; expected s3://BUCKET[/FOLDER] where AWS_ACCESS_KEY_ID is set"
    ]
    assert "AWS_SECRET_ACCESS_KEY" in secret_names(Role.BARMAN)


def test_the_secret_goes_to_a_file_barman_reads_and_leaves_every_environment() -> None:
    on = settings(**CLOUD)
    rendered = {f.path: f for f in render_all(on)}
    credentials = rendered[paths.AWS_CREDENTIALS]
    assert credentials.content == "[default]\naws_access_key_id = AKIDEXAMPLE\naws_secret_access_key = s3-secret\n"
    assert (credentials.mode, credentials.owner) == (0o600, "postgres")
    assert "s3-secret" not in "".join(f.content for f in rendered.values() if f.path != paths.AWS_CREDENTIALS)
    assert "AWS_SECRET_ACCESS_KEY" not in child_environment({"AWS_SECRET_ACCESS_KEY": "s3-secret"}, Role.POSTGRES)
    conf = server_conf(on.barman, "pgmaster")  # type: ignore[arg-type]
    assert f"pre_archive_retry_script = {paths.POSTDOCK_CLI} backup offsite-wal\n" in conf
    assert [p.name for p in programs_for(on) if p.name == "offsite_keeper"] == ["offsite_keeper"]
    off = settings()
    assert "pre_archive_retry_script" not in server_conf(off.barman, "pgmaster")  # type: ignore[arg-type]
    assert paths.AWS_CREDENTIALS not in {f.path for f in render_all(off)}
    assert not [p for p in programs_for(off) if p.name == "offsite_keeper"]


FULL = BackupInfo("20261205T040000", "DONE", timeline=2)
INCREMENTAL = BackupInfo("20261205T050000", "DONE", timeline=2, parent_backup_id=FULL.backup_id)


def test_the_newest_full_backup_is_copied_once_and_a_failed_copy_is_retried_later() -> None:
    nothing = decide_offsite(OffsiteSnapshot(None, OffsiteState()), 0.0)
    assert (nothing.act, nothing.reason) == (OffsiteAct.NOTHING, "no DONE full backup to copy off-site yet")
    due = decide_offsite(OffsiteSnapshot(FULL, OffsiteState()), 0.0)
    assert (due.act, due.reason, due.backup) == (
        OffsiteAct.COPY, "backup 20261205T040000 is not in the object store: copying it", FULL)  # fmt: skip
    copied = OffsiteState(OffsiteRecord(True, 10.0, FULL.backup_id), FULL.backup_id, 10.0)
    assert decide_offsite(OffsiteSnapshot(FULL, copied), 20.0).reason == "backup 20261205T040000 is in the object store"
    failed = OffsiteState(OffsiteRecord(False, 100.0, FULL.backup_id, "access denied"))
    waits = decide_offsite(OffsiteSnapshot(FULL, failed), 160.0)
    said = "copy of backup 20261205T040000 failed (access denied): retried 300s after the failure"
    assert (waits.act, waits.reason) == (OffsiteAct.NOTHING, said)
    assert decide_offsite(OffsiteSnapshot(FULL, failed), 100.0 + RETRY_AFTER_S).act is OffsiteAct.COPY


def stand_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, script: str) -> Path:
    """`name` on PATH: a shell script that logs its arguments and BARMAN_* environment to `name`.log."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    log = tmp_path / f"{name}.log"
    fake = bin_dir / name
    fake.write_text(f'#!/bin/sh\necho "$*" >> {log}\nenv | grep ^BARMAN_ | sort >> {log}\n{script}\n')
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    return log


def test_a_backup_is_copied_in_barman_clouds_hook_mode_then_the_retention_applies_there(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bm = cloud_settings(tmp_path)
    uploaded = tmp_path / "uploaded.info"
    log = stand_in(tmp_path, monkeypatch, "barman-cloud-backup", f'cp "$BARMAN_BACKUP_INFO_PATH" {uploaded}')
    deleted = stand_in(tmp_path, monkeypatch, "barman-cloud-backup-delete", "exit 0")
    monkeypatch.setattr(offsite_keeper, "backups", lambda bm: (FULL, INCREMENTAL))
    meta = tmp_path / "pg_cluster" / "meta"
    meta.mkdir(parents=True)
    info = f"backup_id={FULL.backup_id}\nchildren_backup_ids={INCREMENTAL.backup_id}\nstatus=DONE\n"
    (meta / f"{FULL.backup_id}-backup.info").write_text(info)
    keeper = offsite_keeper.OffsiteKeeper(bm)
    snap = keeper.observe()
    assert snap.newest_full == FULL  # the incremental one stays local
    keeper.apply(keeper.decide(snap, 0.0))
    called = log.read_text().splitlines()
    directory = tmp_path / "pg_cluster" / "base" / FULL.backup_id
    assert called[0] == ("--gzip --cloud-provider aws-s3 --endpoint-url http://s3:5000 "
                         "s3://postdock-backups/cluster-a pg_cluster")  # fmt: skip
    assert {"BARMAN_HOOK=backup_script", "BARMAN_PHASE=post", "BARMAN_STATUS=DONE", f"BARMAN_BACKUP_DIR={directory}",
            f"BARMAN_BACKUP_ID={FULL.backup_id}"} <= set(called[1:])  # fmt: skip
    assert deleted.read_text().splitlines()[0] == (
        "--cloud-provider aws-s3 --endpoint-url http://s3:5000 --retention-policy RECOVERY WINDOW OF 30 DAYS "
        "s3://postdock-backups/cluster-a pg_cluster"
    )
    # The store's copy names no incremental children: it holds none, and barman-cloud-backup-delete
    # 3.13 fails on a copy that does.
    assert uploaded.read_text() == f"backup_id={FULL.backup_id}\nchildren_backup_ids=None\nstatus=DONE\n"
    state = read_state(bm)
    assert state.copied_backup == FULL.backup_id and state.backup is not None and state.backup.ok
    assert keeper.decide(keeper.observe(), 0.0).act is OffsiteAct.NOTHING  # copied once


def test_a_wal_segment_the_store_refuses_is_let_through_and_counted_until_a_newer_backup_is_copied(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bm = cloud_settings(tmp_path)
    monkeypatch.setattr(offsite.time, "sleep", lambda seconds: None)
    log = stand_in(tmp_path, monkeypatch, "barman-cloud-wal-archive", "echo 'An error occurred (AccessDenied)'; exit 1")
    hook = {**os.environ, "BARMAN_SEGMENT": "000000020000000000000007", "BARMAN_FILE": "/x/000000020000000000000007"}
    assert wal_hook_segment(hook) == "000000020000000000000007"
    assert offsite.copy_wal(bm, hook, "000000020000000000000007") == offsite.ABORT_CONTINUE
    assert log.read_text().count("--gzip --cloud-provider aws-s3") == offsite.WAL_ATTEMPTS
    state = read_state(bm)
    assert state.wal is not None and (state.wal.ok, state.wal.error) == (False, "An error occurred (AccessDenied)")
    shown = {m.name: m.samples[0].value for m in offsite_metrics("pg_cluster", state)}
    assert (shown["barman_offsite_wal_last_ok"], shown["barman_offsite_wal_missing_segments"]) == (0.0, 1.0)
    stand_in(tmp_path, monkeypatch, "barman-cloud-wal-archive", "exit 0")
    assert offsite.copy_wal(bm, hook, "000000020000000000000008") == 0
    assert read_state(bm).missing_since_copy == 1  # still missing off-site
    offsite.write_backup_record(bm, OffsiteRecord(True, read_state(bm).wal_missing[0][1] + 1, FULL.backup_id))
    assert read_state(bm).missing_since_copy == 0  # the newer copied backup does not need it
    raw = json.loads((tmp_path / ".postdock-offsite-wal.json").read_text())
    assert raw["missing"] == [["000000020000000000000007", pytest.approx(raw["missing"][0][1])]]


def test_postdock_status_says_what_is_off_site() -> None:
    assert offsite_summary(OffsiteState(), 0.0) == {"off-site backup": "none yet"}
    failing = OffsiteState(
        backup=OffsiteRecord(False, 7000.0, "20261205T050000", "access denied"),
        copied_backup=FULL.backup_id,
        copied_at=0.0,
        wal=OffsiteRecord(True, 7100.0, "000000020000000000000009"),
        wal_missing=(("000000020000000000000007", 60.0),),
    )
    assert offsite_summary(failing, 7200.0) == {
        "off-site backup": "20261205T040000 (2.0 h ago); last copy FAILED: access denied",
        "off-site wal": "last segment copied; 1 missing since the newest off-site backup",
    }


def test_an_off_site_drill_restores_the_stores_copy_and_replays_the_wal_kept_there(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from postdock_supervisor.act import drill
    from postdock_supervisor.act.drill import DrillBusy
    from postdock_supervisor.programs.drill_keeper import offsite_drill

    bm = cloud_settings(tmp_path)
    log = stand_in(tmp_path, monkeypatch, "barman-cloud-restore", 'for last; do :; done; mkdir -p "$last"')
    root = tmp_path / "drill"
    root.mkdir()
    done, replay = drill._restore_from_cloud(bm, FULL, root)
    assert done.ok and (root / "data" / "recovery.signal").exists()
    assert log.read_text().splitlines()[0] == (
        f"--cloud-provider aws-s3 --endpoint-url http://s3:5000 s3://postdock-backups/cluster-a pg_cluster "
        f"{FULL.backup_id} {root / 'data'}"
    )
    assert replay == {
        "restore_command": "barman-cloud-wal-restore --cloud-provider aws-s3 --endpoint-url http://s3:5000 "
        "s3://postdock-backups/cluster-a pg_cluster %f %p",
        "recovery_target_timeline": "latest",
    }
    with pytest.raises(DrillBusy, match="no backup has been copied to the object store yet"):
        offsite_drill(bm)
    with pytest.raises(DrillBusy, match="CLOUD_BACKUP_URL is empty"):
        offsite_drill(settings(BACKUP_DIR=str(tmp_path)).barman)  # type: ignore[arg-type]
