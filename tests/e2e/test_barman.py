"""ROLE=barman on real containers: base backups and continuous WAL, across a failover.

The scenarios run in order on one cluster (three first-level nodes and barman)."""

import json
import os
import re
import subprocess
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from postdock_supervisor import paths
from postdock_supervisor.config.barman import RECEIVER_NAME
from postdock_supervisor.model.wal import parse_segment
from tests.e2e.conftest import started
from tests.e2e.harness import IMAGE, Compose, make_key_pair, primaries, sh, sql, try_sql, wait_until
from tests.e2e.pool import pool

FIRST_LEVEL = ["pgmaster", "pgslave1", "pgslave3"]
NODES = [*FIRST_LEVEL, "pgslave2"]
SERVICES = [*NODES, "pgpool", "backup"]
START = 240
FIRST_BACKUP: dict[str, str] = {}  # the backup taken before the failover, restored across it later


S3_IMAGE = os.environ.get("POSTDOCK_S3_IMAGE", "postdock/postdock-s3:latest")
OFFSITE = "s3://postdock-offsite/cluster"
ENDPOINT = "http://s3:5000"


def with_object_store(compose: Compose) -> None:
    """An S3-compatible server (moto, the test image `s3`) beside the cluster, and barman copying its
    backups and WAL there."""
    document = yaml.safe_load(compose.file.read_text())
    document["services"]["s3"] = {"image": S3_IMAGE, "networks": ["cluster"]}
    document["services"]["backup"]["environment"].update(
        {
            "CLOUD_BACKUP_URL": OFFSITE,
            "CLOUD_ENDPOINT_URL": ENDPOINT,
            "AWS_ACCESS_KEY_ID": "postdock-test",
            "AWS_SECRET_ACCESS_KEY": "offsite-secret-value",
        }  # fmt: skip
    )
    compose.file.write_text(yaml.safe_dump(document, sort_keys=False))


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Compose]:
    keys = make_key_pair(tmp_path_factory.mktemp("ssh"))
    compose = Compose(env={"POSTDOCK_SSH_ENABLE": "1", "POSTDOCK_SSH_KEYS": str(keys)})
    with_object_store(compose)
    with started(compose, [*SERVICES, "s3"]):
        yield compose


def barman(compose: Compose, *args: str) -> Any:
    """A barman command's JSON output, run as postgres (barman_user) in the backup container."""
    return json.loads(compose.exec("backup", "barman", "-f", "json", *args, user="postgres"))


def backups(compose: Compose) -> list[dict[str, Any]]:
    listed: list[dict[str, Any]] = barman(compose, "list-backups", "pg_cluster")["pg_cluster"]
    return listed


def done_backups(compose: Compose) -> list[dict[str, Any]]:
    """Oldest first (ids are timestamps; barman lists the newest first)."""
    return sorted((b for b in backups(compose) if b.get("status") == "DONE"), key=lambda b: str(b["backup_id"]))


def archived_wals(compose: Compose) -> list[str]:
    out = compose.exec("backup", "find", "/var/backups/pg_cluster/wals", "-type", "f", "-name", "0*", user="postgres")
    return sorted(line.rsplit("/", 1)[-1] for line in out.split())


def keeper_host(compose: Compose) -> str:
    state = json.loads(compose.exec("backup", "cat", "/run/postdock/backup-keeper.json"))
    return str(state["memory"]["host"])


@dataclass(frozen=True)
class Seen:
    """A probe's verdict that says what it saw: a timeout then names the state, not just False."""

    ok: bool
    state: str

    def __bool__(self) -> bool:
        return self.ok


def keeper_settled(compose: Compose, primary: str) -> Seen:
    """The backup keeper streams from the primary, owes no base backup (none will start) and runs none
    (its own `postdock backup take` switches WAL before barman's backup begins)."""
    text = compose.exec("backup", "cat", "/run/postdock/backup-keeper.json")
    state = json.loads(text)
    memory = state["memory"]
    settled = bool(
        state["reason"] == f"streaming from {primary}"
        and not memory["backup_due"]
        and memory["down_since"] is None
        and memory["failed_at"] is None
        and not state["own_backup"]
    )
    return Seen(settled, text)


def scrape(compose: Compose, service: str) -> str:
    with urllib.request.urlopen(f"http://{compose.ip(service)}:8080/metrics", timeout=5) as response:
        return str(response.read().decode())


def metric(text: str, name: str) -> float | None:
    found = re.search(rf'^{name}\{{server="pg_cluster"\}} (\S+)$', text, re.M)
    return float(found.group(1)) if found else None


def the_primary(compose: Compose) -> str:
    found = wait_until(
        "exactly one primary", lambda: (p := primaries(compose, FIRST_LEVEL)) and len(p) == 1 and p, timeout=START
    )
    return str(found[0])


def test_a_base_backup_is_taken_and_listed_and_wal_arrives_continuously(cluster: Compose) -> None:
    assert the_primary(cluster) == "pgmaster"
    first = wait_until("a first base backup, DONE", lambda: done_backups(cluster) or None, timeout=START)
    listing = cluster.exec("backup", "barman", "list-backups", "pg_cluster", user="postgres")
    assert first[0]["backup_id"] in listing
    FIRST_BACKUP["id"] = first[0]["backup_id"]
    # barman streams and backs up as the nodes' BARMAN_USER: replication and backup rights, no superuser.
    streamer = "SELECT usename FROM pg_stat_replication WHERE application_name = 'barman_receive_wal'"
    assert wait_until("barman's receiver streaming", lambda: sql(cluster, "pgmaster", streamer, admin=True) or None,
                      timeout=90) == [("barman_user",)]  # fmt: skip
    role = "SELECT rolsuper, rolreplication FROM pg_roles WHERE rolname = 'barman_user'"
    assert sql(cluster, "pgmaster", role, admin=True) == [(False, True)]
    sql(cluster, "pgmaster", "CREATE TABLE IF NOT EXISTS rows_wal (id int PRIMARY KEY, pad text)")
    before = archived_wals(cluster)
    for batch in range(3):
        # 3 x ~40 MB of WAL: full segments are streamed and archived without any switch by hand.
        sql(
            cluster,
            "pgmaster",
            "INSERT INTO rows_wal SELECT g, repeat('x', 200) FROM generate_series(%s, %s) g",
            (batch * 150_000, batch * 150_000 + 149_999),
        )
        wanted = len(before) + batch
        wait_until(
            f"more WAL archived after batch {batch + 1}",
            lambda: len(archived_wals(cluster)) > wanted or None,  # noqa: B023 - polled within the loop
            timeout=120,
        )
    # Polled: right after a segment switch the receiver may be between two `barman cron` rounds.
    health = wait_until(
        "postdock health passing in the barman container",
        lambda: (
            (out := cluster.exec("backup", "postdock", "health", check=False).strip()) == "barman check passes" and out
        ),
        timeout=90,
    )
    assert health == "barman check passes"
    text = wait_until(
        "barman metrics",
        lambda: (t := scrape(cluster, "backup")) and metric(t, "barman_check_is_ok") == 1 and t,
        timeout=90,
    )
    assert metric(text, "barman_backups_amount") == float(len(done_backups(cluster)))
    assert (metric(text, "barman_last_wal_received_age_seconds") or 1e9) < 120
    for secret in ("monkey_pass", "replication_pass", "barman_pass", "example_control_key_replace_me"):
        assert secret not in text
        assert secret not in cluster.exec("backup", "ps", "axww")


def offsite_objects(cluster: Compose, under: str) -> list[str]:
    """Keys in the object store under the cluster's folder, listed by boto3 in the barman container."""
    script = (
        "import boto3, sys; c = boto3.client('s3', endpoint_url=sys.argv[1]); "
        "pages = c.get_paginator('list_objects_v2').paginate(Bucket='postdock-offsite', Prefix=sys.argv[2]); "
        "print('\\n'.join(o['Key'] for p in pages for o in p.get('Contents', [])))"
    )
    listed = cluster.exec("backup", "python3", "-c", script, ENDPOINT, f"cluster/pg_cluster/{under}", user="postgres")
    return listed.split()


def test_the_first_backup_and_the_wal_are_copied_to_the_object_store(cluster: Compose) -> None:
    """barman-cloud copies the newest full backup (hook mode, by the offsite keeper) and every WAL
    segment (barman's pre-archive hook) to the S3-compatible server; the secret stays out of the
    programs' environments and of the metrics."""
    first = FIRST_BACKUP["id"]
    listed = wait_until(
        "the first backup listed in the object store",
        lambda: (out := cluster.exec("backup", "barman-cloud-backup-list", "--format", "json", "--endpoint-url",
                                     ENDPOINT, OFFSITE, "pg_cluster", user="postgres", check=False))
        and first in out and out,
        timeout=START,
    )  # fmt: skip
    [copied] = [b for b in json.loads(listed)["backups_list"] if b["backup_id"] == first]
    assert copied["status"] == "DONE"
    segments = wait_until("WAL segments in the object store", lambda: offsite_objects(cluster, "wals/") or None,
                          timeout=START)  # fmt: skip
    assert all(re.search(r"/[0-9A-F]{24}(\.history)?\.gz$", key) for key in segments), segments
    text = wait_until(
        "the off-site metrics",
        lambda: (t := scrape(cluster, "backup")) and metric(t, "barman_offsite_backup_last_ok") == 1 and t,
        timeout=90,
    )
    assert metric(text, "barman_offsite_wal_last_ok") == 1 and metric(text, "barman_offsite_wal_missing_segments") == 0
    supervised = cluster.exec("backup", "cat", "/proc/1/environ")  # supervisord's, which every program inherits
    assert "offsite-secret-value" not in text + supervised + cluster.exec("backup", "ps", "axww")
    assert "AWS_SHARED_CREDENTIALS_FILE=" in supervised
    assert f"backup {first} copied to {OFFSITE} in " in cluster.logs("backup")
    status = cluster.exec("backup", "postdock", "status", user="postgres")
    assert f"off-site backup: {first} (" in status, status
    # The copy restores: the store's backup and WAL, into a scratch copy started and read to the end.
    # Every row written so far is in a segment barman archived (so copied first) once this one is.
    [(rows,)] = sql(cluster, "pgmaster", "SELECT count(*) FROM rows_wal")
    [(segment,)] = sql(cluster, "pgmaster", "SELECT pg_walfile_name(pg_current_wal_lsn())", admin=True)
    sql(cluster, "pgmaster", "SELECT pg_switch_wal()", admin=True)
    wait_until(f"segment {segment} archived", lambda: segment in archived_wals(cluster) or None, timeout=START)
    drill = cluster("exec", "-T", "-u", "postgres", "backup", "postdock", "backup", "drill", "--from-cloud")
    assert "restore drill passed in " in drill and f"off-site backup {first} restored up to " in drill, drill
    restored = re.search(r"(\d+) rows", drill)
    assert restored is not None and int(restored.group(1)) >= rows >= 450_000, drill  # rows_wal came from WAL


def test_ssh_from_backup_to_pgmaster_runs_a_command_with_host_keys_checked(cluster: Compose) -> None:
    # Host key checking stays on: pgmaster proves itself with a certificate from the host authority.
    out = cluster.exec("backup", "ssh", "-o", "BatchMode=yes", "pgmaster", "hostname", user="postgres")
    assert out.strip() == cluster.exec("pgmaster", "hostname").strip()
    keys = Path(cluster.env["POSTDOCK_SSH_KEYS"])
    authority = (keys / "host_ca.pub").read_text().strip()
    assert cluster.exec("backup", "cat", str(paths.SSH_KNOWN_HOSTS)) == f"@cert-authority * {authority}\n"
    # Signed by host_ca, not by the login key, and for a limited time.
    fingerprint = sh("ssh-keygen", "-l", "-f", str(keys / "host_ca.pub")).split()[1]
    shown = cluster.exec("pgmaster", "ssh-keygen", "-L", "-f", "/etc/ssh/host-keys/ssh_host_ed25519_key-cert.pub")
    assert f"Signing CA: ED25519 {fingerprint}" in shown, shown
    [validity] = [line.split() for line in shown.splitlines() if line.strip().startswith("Valid:")]
    assert validity[:2] == ["Valid:", "from"] and validity[3] == "to", validity
    # postgres holds the login key and cannot read the authority.
    assert cluster.exec("pgmaster", "ls", str(paths.POSTGRES_SSH_DIR)).split() == ["id_ed25519"]
    denied = cluster.exec("pgmaster", "sh", "-c", "cat /etc/postdock/ssh/host_ca >/dev/null 2>&1 || echo denied",
                          user="postgres")  # fmt: skip
    assert denied.strip() == "denied"


def test_backups_and_wal_continue_from_the_new_primary_after_a_failover(cluster: Compose) -> None:
    assert keeper_host(cluster) == "pgmaster"
    before = {b["backup_id"] for b in done_backups(cluster)}
    cluster("kill", "pgmaster")
    new = wait_until(
        "another node promoted",
        lambda: (p := primaries(cluster, ["pgslave1", "pgslave3"])) and len(p) == 1 and p[0],
        timeout=START,
    )
    wait_until("barman re-pointed at the new primary", lambda: keeper_host(cluster) == new, timeout=60)
    sql(
        cluster,
        new,
        "CREATE TABLE after_failover AS SELECT g AS id, repeat('y', 200) AS pad FROM generate_series(1, 100000) g",
    )
    wait_until(
        "WAL of timeline 2 archived",
        lambda: [w for w in archived_wals(cluster) if w.startswith("00000002")] or None,
        timeout=120,
    )
    history = cluster.exec("backup", "ls", "/var/backups/pg_cluster/wals", user="postgres")
    assert "00000002.history" in history
    fresh = wait_until(
        "a base backup of the new primary",
        lambda: [b for b in done_backups(cluster) if b["backup_id"] not in before] or None,
        timeout=START,
    )
    assert fresh
    # The archive has no hole across the failover: every segment from the oldest backup's start on,
    # on one timeline or the next, and the new timeline's history (counted by the exporter).
    text = wait_until(
        "the WAL continuity in the metrics",
        lambda: (t := scrape(cluster, "backup")) and metric(t, "barman_wal_missing_segments") is not None and t,
        timeout=90,
    )
    assert (metric(text, "barman_wal_missing_segments"), metric(text, "barman_wal_missing_history_files")) == (0, 0)
    shown = cluster.exec("backup", "postdock", "status", user="postgres")
    assert "wal archive: continuous up to 00000002" in shown, shown
    # barman's slot on the new primary confirms what it writes: a restore now would miss less than
    # one segment (pg_receivewal confirms every 10 s).
    wait_until(
        "barman's slot caught up on the new primary",
        lambda: (b := metric(scrape(cluster, "backup"), "barman_wal_behind_bytes")) is not None and b < 16 * 1024**2,
        timeout=90,
    )
    cluster("start", "pgmaster")


def last_drill(compose: Compose) -> dict[str, Any]:
    out = compose.exec("backup", "cat", "/var/backups/.postdock-drills.json", user="postgres", check=False)
    state = json.loads(out) if out.strip().startswith("{") else {}
    return dict(state.get("last") or {})


@dataclass(frozen=True)
class DrillSeen(Seen):
    drill: dict[str, Any]


def drill_seen(compose: Compose, timeline: int) -> DrillSeen:
    """A passing drill up to the timeline; else the last drill, and the last lines of both keepers."""
    drill = last_drill(compose)
    if drill.get("timeline", 0) >= timeline and drill.get("ok"):
        return DrillSeen(True, "", drill)
    keepers = [line for line in compose.logs("backup").splitlines() if "_keeper " in line][-12:]
    return DrillSeen(False, json.dumps(drill) + "\n" + "\n".join(keepers), drill)


def test_the_newest_backup_is_proven_by_a_restore_drill_across_the_failover(cluster: Compose) -> None:
    """The drill keeper restores the newest backup (taken on the new primary) with the WAL of both
    timelines, starts it, reads every table; `postdock backup drill` does the same on demand."""
    newest = done_backups(cluster)[-1]["backup_id"]
    drill = wait_until(
        f"a passing drill of backup {newest} up to timeline 2",
        lambda: (d := last_drill(cluster)) and d["backup_id"] == newest and d["timeline"] >= 2 and d["ok"] and d,
        timeout=300,
    )
    # rows_wal (450,000) and after_failover (100,000) were written before that backup.
    assert drill["rows"] >= 550_000 and drill["databases"] >= 3, drill
    assert drill["reason"].startswith(f"backup {newest} restored up to ")
    # The exporter reads the drill record on its own refresh: polled until it shows this drill.
    text = wait_until(
        "this drill in the metrics",
        lambda: (t := scrape(cluster, "backup")) and metric(t, "barman_drill_last_success_time_seconds") == drill[
            "finished_at"] and t,
        timeout=60,
    )  # fmt: skip
    assert metric(text, "barman_drill_last_ok") == 1
    assert re.search(r'^barman_drill_duration_seconds\{server="pg_cluster",step="replay"\} ', text, re.M)
    # The full backup was checked against its manifest first (barman verify-backup: pg_verifybackup).
    assert drill["verify_seconds"] > 0, drill
    assert "drill" not in cluster.exec("backup", "ls", "/var/backups", user="postgres").split()  # removed
    by_hand = cluster.exec("backup", "postdock", "backup", "drill", user="postgres")
    assert "restore drill passed in " in by_hand and f"backup {newest} restored up to " in by_hand, by_hand
    assert last_drill(cluster)["trigger"] == "asked for by hand"
    shown = cluster.exec("backup", "postdock", "status", user="postgres")
    assert f"restore drill: passed 0.0 h ago: backup {newest} restored up to " in shown, shown


def streaming_nodes(cluster: Compose, primary: str) -> set[str]:
    out = cluster.exec(primary, "postdock", "status", "--json", check=False)
    try:
        rows = json.loads(out)
    except ValueError:
        return set()
    return {r["host"] for r in rows if r["state"] == "streaming"}


def test_point_in_time_recovery_across_the_failover_keeps_exactly_the_rows_before_the_target(cluster: Compose) -> None:
    primary = the_primary(cluster)
    others = [n for n in NODES if n != primary]
    wait_until("every other node streaming", lambda: streaming_nodes(cluster, primary) >= set(others), timeout=START)
    with pool(cluster) as conn:
        conn.execute("CREATE TABLE pitr (id int PRIMARY KEY)")
        conn.execute("INSERT INTO pitr SELECT generate_series(1, 100)")
        target = conn.execute("SELECT now()").fetchone()[0]
        conn.execute("INSERT INTO pitr SELECT generate_series(101, 200)")  # committed after the target
    # The base backup from before the failover: the replay crosses the timeline switch (no WAL gap).
    done = recover(cluster, "--target-time", target.isoformat(), "--backup-id", FIRST_BACKUP["id"])
    assert done.returncode == 0, done.stderr
    assert f"==> done: {primary} is the primary" in done.stdout
    assert the_primary(cluster) == primary

    def written_through_pgpool() -> list[tuple[object, ...]] | None:
        try:
            with pool(cluster) as conn:
                conn.execute("INSERT INTO pitr VALUES (1000)")
                return conn.execute("SELECT count(*), max(id) FROM pitr WHERE id < 1000").fetchall()
        except Exception:  # noqa: BLE001 - pgpool may still be re-attaching the restored primary
            return None

    assert wait_until("a write through pgpool after the recovery", written_through_pgpool, timeout=START) == [
        (100, 100)
    ]
    assert try_sql(cluster, primary, "SELECT count(*) FROM after_failover") == [(100000,)]
    wait_until(
        "every other node streaming again", lambda: streaming_nodes(cluster, primary) >= set(others), timeout=600
    )
    for node in others:
        wait_until(
            f"{node} has the restored rows",
            lambda: try_sql(cluster, node, "SELECT count(*) FROM pitr") == [(101,)],  # noqa: B023 - polled here
            timeout=120,
        )


def recover(cluster: Compose, *args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        ["docker", "exec", cluster.container("backup"), "postdock", "recover", *args, "--yes"],
        capture_output=True, text=True, timeout=1800,
    )  # fmt: skip
    print(done.stdout, done.stderr)
    return done


def drill_by_hand(cluster: Compose, backup_id: str) -> str:
    """`postdock backup drill --backup-id`'s output, asked again while the keeper's own drill runs (one
    at a time: the keeper drills each new backup and each new timeline by itself)."""
    return str(wait_until(
        f"a drill of backup {backup_id}",
        lambda: (out := cluster("exec", "-T", "-u", "postgres", "backup", "postdock", "backup", "drill",
                                "--backup-id", backup_id, check=False)) and "another restore drill runs" not in out
        and out,
        timeout=300,
    ))  # fmt: skip


def test_an_incremental_backup_holds_only_the_changed_blocks_and_restores_to_a_point_in_time(
    cluster: Compose,
) -> None:
    primary = the_primary(cluster)
    others = [n for n in NODES if n != primary]
    # The keeper may owe a backup after the restore (its stream was reset): wait until it owes nothing,
    # so that no backup of its own lands between our parent and our incremental.
    wait_until(
        "the backup keeper streaming and owing no backup", lambda: keeper_settled(cluster, primary), timeout=START
    )
    # rows_wal came back from WAL replay without hint bits: the first read of a page sets them, and with
    # data checksums that write is logged as a full page, which the WAL summary counts as changed. Freeze
    # the table first, so that the only changed blocks are the ones this test changes.
    sql(cluster, primary, "VACUUM (FREEZE) rows_wal")
    full_id, full = take_backup(cluster)
    assert full["backup_type"] == "full"
    with pool(cluster) as conn:
        conn.execute("UPDATE rows_wal SET pad = 'changed' WHERE id < 2000")  # a few hundred kB of blocks
        conn.execute("CREATE TABLE inc_pitr (id int PRIMARY KEY)")
        conn.execute("INSERT INTO inc_pitr SELECT generate_series(1, 100)")
    newest_id, shown = take_backup(cluster, "--incremental")
    assert shown["backup_type"] == "incremental"
    assert shown["catalog_information"]["parent_backup_id"] == full_id
    inc_bytes = shown["base_backup_information"]["backup_size_bytes"]
    assert inc_bytes * 4 < full["base_backup_information"]["backup_size_bytes"]
    text = wait_until(
        "the incremental backup in the metrics",
        lambda: (t := scrape(cluster, "backup")) and metric(t, "barman_last_backup_incremental") == 1 and t,
        timeout=90,
    )
    assert (metric(text, "barman_backups_incremental_amount") or 0) >= 1
    assert metric(text, "barman_last_incremental_backup_size_bytes") == float(inc_bytes)
    with pool(cluster) as conn:
        conn.execute("INSERT INTO inc_pitr SELECT generate_series(101, 150)")
        target = conn.execute("SELECT now()").fetchone()[0]
        conn.execute("INSERT INTO inc_pitr SELECT generate_series(151, 200)")  # committed after the target
    done = recover(cluster, "--target-time", target.isoformat(), "--backup-id", newest_id)
    assert done.returncode == 0, done.stderr
    assert f"from backup {newest_id}" in done.stdout
    assert f"==> done: {primary} is the primary" in done.stdout
    assert try_sql(cluster, primary, "SELECT count(*), max(id) FROM inc_pitr") == [(150, 150)]
    assert try_sql(cluster, primary, "SELECT count(*) FROM rows_wal WHERE pad = 'changed'") == [(2000,)]
    # The incremental backup is proven by a drill too (its chain combined, then started and read).
    drill = drill_by_hand(cluster, newest_id)
    assert "restore drill passed in " in drill and f"backup {newest_id} restored up to " in drill, drill
    wait_until(
        "every other node streaming again", lambda: streaming_nodes(cluster, primary) >= set(others), timeout=600
    )


def timeline_of(cluster: Compose, node: str) -> int:
    """The primary's current timeline: its WAL file name's (pg_control_checkpoint() keeps the last
    checkpoint's until the first one after a promotion)."""
    [(name,)] = sql(cluster, node, "SELECT pg_walfile_name(pg_current_wal_lsn())", admin=True)
    return int(str(name)[:8], 16)


def test_three_failovers_in_a_row_leave_an_archive_that_restores_across_every_switch(cluster: Compose) -> None:
    """The primary is killed three times, each time once the old one has rejoined; after each failover
    a marker row is committed on the new primary. The first kill comes right after a WAL switch (the
    old timeline then usually ends on a segment boundary, where pg_receivewal cannot resume by itself);
    before the second, barman receives whole segments the frozen standbys never get (its stream is
    past the fork, off the new history). The WAL archive has no hole and every timeline's history;
    the drill keeper proves the newest backup, and a drill of the backup taken before the first kill
    replays all three timeline switches and reads every marker."""
    primary = the_primary(cluster)
    wait_until("the backup keeper settled", lambda: keeper_settled(cluster, primary), timeout=START)
    before = done_backups(cluster)[-1]["backup_id"]
    start = timeline_of(cluster, primary)
    sql(cluster, primary, "CREATE TABLE failover_marks (failover int PRIMARY KEY, node text)")
    for failover in (1, 2, 3):
        others = [n for n in FIRST_LEVEL if n != primary]
        wait_until(f"every node streaming from {primary}",
                   lambda: streaming_nodes(cluster, primary) >= {n for n in NODES if n != primary},  # noqa: B023
                   timeout=600)  # fmt: skip
        if failover == 1:
            sql(cluster, primary, "SELECT pg_switch_wal()", admin=True)
        wait_until(f"the standbys of {primary} caught up with barman",
                   lambda: standbys_hold_what_barman_holds(cluster, primary), timeout=120)  # noqa: B023  # fmt: skip
        if failover == 2:
            barman_ahead_of_frozen_standbys(cluster, primary, others)
        cluster("kill", primary)
        if failover == 2:
            for node in others:
                cluster("unpause", node)
        new = wait_until(
            f"failover {failover}: another node promoted",
            lambda: (p := primaries(cluster, others)) and len(p) == 1 and p[0],  # noqa: B023
            timeout=START,
        )
        sql(cluster, new, f"INSERT INTO failover_marks VALUES ({failover}, '{new}')")
        [(marked,)] = sql(cluster, new, "SELECT pg_current_wal_lsn()", admin=True)
        cluster("start", primary)
        primary = new
    assert timeline_of(cluster, primary) == start + 3
    # The second failover's: barman's stream was past the fork; it resumed at the fork on the new
    # timeline, and the abandoned branch's files it still held were moved aside, not archived.
    logged = cluster.logs("backup")
    resumed = re.search(rf"barman's stream stopped on timeline {start + 1} past \S+, where \w+'s history leaves it: "
                        rf"resuming on timeline {start + 2} at \w+", logged)  # fmt: skip
    assert resumed is not None, logged[-3000:]
    newest_history = f"{start + 3:08X}.history"
    wait_until(
        f"{newest_history} archived",
        lambda: newest_history in cluster.exec("backup", "ls", "/var/backups/pg_cluster/wals", user="postgres"),
        timeout=120,
    )
    [(segment,)] = sql(cluster, primary, "SELECT pg_walfile_name(pg_current_wal_lsn())", admin=True)
    sql(cluster, primary, "SELECT pg_switch_wal()", admin=True)
    wait_until(f"segment {segment} archived", lambda: segment in archived_wals(cluster), timeout=120)
    text = scrape(cluster, "backup")
    assert (metric(text, "barman_wal_missing_segments"), metric(text, "barman_wal_missing_history_files")) == (0, 0)
    # The branch's files barman still held in its streaming directory are moved aside (those it had
    # archived stay there, off the history a restore follows): counted and shown for an operator.
    aside = cluster.exec("backup", "find", "/var/backups/pg_cluster", "-path", "*/diverged/*", "-type", "f",
                         user="postgres").split()  # fmt: skip
    assert metric(text, "barman_wal_diverged_files") == len(aside), text
    status = cluster.exec("backup", "postdock", "status", user="postgres")
    assert ("diverged wal: " in status) == bool(aside), status
    kept = wait_until(
        f"the drill keeper proves a backup up to timeline {start + 3}",
        lambda: drill_seen(cluster, start + 3),
        timeout=600,
    ).drill
    assert kept["trigger"] != "asked for by hand", kept
    by_hand = drill_by_hand(cluster, before)
    assert "restore drill passed in " in by_hand and f"backup {before} restored up to " in by_hand, by_hand
    reached = re.search(rf"backup {before} restored up to (\S+) and read", by_hand)
    assert reached is not None, by_hand
    # The copy's WAL ended past the third marker's commit: the replay crossed all three switches.
    assert lsn(reached.group(1)) >= lsn(str(marked)), (by_hand, marked)
    assert try_sql(cluster, primary, "SELECT count(*) FROM failover_marks") == [(3,)]


def barman_ahead_of_frozen_standbys(cluster: Compose, primary: str, standbys: list[str]) -> None:
    """Freezes the standbys (they hold everything so far), then has the primary write and close three
    segments, which only barman receives (no commit: nothing waits for a standby or the lease, and it
    takes well under the fence's timeout)."""
    [(fork,)] = sql(cluster, primary, "SELECT pg_current_wal_lsn()::text", admin=True)
    for node in standbys:
        cluster("pause", node)
    for _ in range(3):
        sql(cluster, primary, "SELECT pg_logical_emit_message(false, 'postdock-test', repeat('x', 1000)), "
            "pg_switch_wal()", admin=True)  # fmt: skip
    past = (lsn(str(fork)) >> 24) + 2  # the fork's segment number, plus two whole segments
    wait_until(
        "barman holding two whole segments past the frozen standbys",
        lambda: any((s := parse_segment(n)) and s.number >= past for n in received_wals(cluster)),
        timeout=30,
    )


def received_wals(cluster: Compose) -> list[str]:
    """Segment names barman holds: archived, or still in its streaming directory (complete only)."""
    out = cluster.exec("backup", "find", "/var/backups/pg_cluster/wals", "/var/backups/pg_cluster/streaming",
                       "-type", "f", "-name", "0*", "!", "-name", "*.partial", user="postgres")  # fmt: skip
    return [line.rsplit("/", 1)[-1] for line in out.split()]


def standbys_hold_what_barman_holds(cluster: Compose, primary: str) -> bool:
    """Every first-level standby has flushed at least what barman's receiver has, as the primary sees it."""
    rows = sql(cluster, primary, "SELECT application_name, flush_lsn::text FROM pg_stat_replication "
               "WHERE state = 'streaming'", admin=True)  # fmt: skip
    flushed = {str(name): lsn(str(at)) for name, at in rows if at is not None}
    barman_at = flushed.pop(RECEIVER_NAME, None)
    standbys = [at for name, at in flushed.items() if name != RECEIVER_NAME]
    return barman_at is not None and len(standbys) >= len(FIRST_LEVEL) - 1 and min(standbys) >= barman_at


def lsn(text: str) -> int:
    high, low = text.split("/")
    return (int(high, 16) << 32) + int(low, 16)


def test_a_backup_left_waiting_across_a_failover_is_discarded_and_later_backups_complete(cluster: Compose) -> None:
    """What a failover during a copy leaves (seen once in this suite): a backup that began on one
    timeline and ended on the next. barman waits for its end segment on the first timeline for ever,
    and its cron checks only the oldest waiting backup, so every later backup waited too. Here a copy
    of the newest backup is made into one (its end moved to the next timeline): the keeper marks it
    FAILED and has barman delete it, and a backup taken afterwards completes."""
    primary = the_primary(cluster)
    wait_until("the backup keeper settled", lambda: keeper_settled(cluster, primary), timeout=START)
    newest = done_backups(cluster)[-1]
    source = str(newest["backup_id"])
    stuck = (datetime.strptime(source, "%Y%m%dT%H%M%S") + timedelta(seconds=1)).strftime("%Y%m%dT%H%M%S")
    server = "/var/backups/pg_cluster"
    info = cluster.exec("backup", "cat", f"{server}/meta/{source}-backup.info", user="postgres")
    values = dict(line.split("=", 1) for line in info.splitlines() if "=" in line)
    timeline = int(values["begin_wal"][:8], 16)
    end_wal = f"{timeline + 1:08X}{values['end_wal'][8:]}"
    edit = "; ".join(
        (
            "s/^status=.*/status=WAITING_FOR_WALS/",
            f"s/^end_wal=.*/end_wal={end_wal}/",
            f"s/^backup_id=.*/backup_id={stuck}/",
        )
    )
    meta = f"{server}/meta/{stuck}-backup.info"
    # Whole before the keeper can see it: the data first, the catalogue entry renamed into place last.
    cluster.exec("backup", "sh", "-ec", f"cp -a {server}/base/{source} {server}/base/{stuck}; "
                 f"sed -e '{edit}' {server}/meta/{source}-backup.info > {meta}.tmp; mv {meta}.tmp {meta}",
                 user="postgres")  # fmt: skip
    reason = f"backup {stuck} will never complete: it began on timeline {timeline} and ended on {timeline + 1}"
    wait_until("the keeper discarding it", lambda: reason in cluster("logs", "--no-color", "backup"), timeout=120)
    wait_until(f"backup {stuck} deleted", lambda: stuck not in {b["backup_id"] for b in backups(cluster)}, timeout=120)
    assert not cluster.exec("backup", "ls", f"{server}/base", user="postgres").count(stuck)
    assert f"backup {stuck} could not be deleted" not in cluster("logs", "--no-color", "backup")
    wait_until("the backup keeper settled again", lambda: keeper_settled(cluster, primary), timeout=START)


def test_a_wal_segment_missing_from_the_archive_is_counted_and_fails_the_drill_naming_it(cluster: Compose) -> None:
    """Last on this cluster: it damages the archive on purpose. One segment archived after the newest
    backup is deleted from barman's volume: the continuity metric counts it and a restore drill of
    that backup fails at once, naming the file, instead of a restore that would silently stop there."""
    primary = the_primary(cluster)
    wait_until("the backup keeper settled", lambda: keeper_settled(cluster, primary), timeout=START)
    backup_id, _ = take_backup(cluster)
    before = set(archived_wals(cluster))
    for _ in range(3):
        sql(cluster, primary, "INSERT INTO rows_wal SELECT g, 'gap' FROM generate_series(1000000, 1000100) g "
            "ON CONFLICT (id) DO UPDATE SET pad = 'gap'")  # fmt: skip
        sql(cluster, primary, "SELECT pg_switch_wal()", admin=True)
    new = wait_until(
        "three more segments archived after the backup",
        lambda: (added := sorted(set(archived_wals(cluster)) - before)) and len(added) >= 3 and added,
        timeout=START,
    )
    scraped = scrape(cluster, "backup")
    missing_before = metric(scraped, "barman_wal_missing_segments") or 0.0
    victim = new[-2]  # neither the backup's first segment nor the newest archived one
    cluster.exec("backup", "find", "/var/backups/pg_cluster/wals", "-name", victim, "-delete")
    wait_until(
        "the missing segment counted",
        lambda: (metric(scrape(cluster, "backup"), "barman_wal_missing_segments") or 0.0) >= missing_before + 1,
        timeout=90,
    )
    drill = cluster("exec", "-T", "-u", "postgres", "backup", "postdock", "backup", "drill", check=False)
    assert f"the WAL archive lacks {victim} after backup {backup_id}: a restore would stop there" in drill, drill
    assert "restore drill FAILED" in drill


def cloud_backup_ids(cluster: Compose) -> list[str]:
    listed = cluster.exec("backup", "barman-cloud-backup-list", "--format", "json", "--endpoint-url", ENDPOINT,
                          OFFSITE, "pg_cluster", user="postgres", check=False)  # fmt: skip
    try:
        return [str(b["backup_id"]) for b in json.loads(listed)["backups_list"] if b.get("status") == "DONE"]
    except (ValueError, KeyError):
        return []


def test_the_cluster_is_restored_from_the_object_store_after_barmans_volume_is_lost(cluster: Compose) -> None:
    """barman's volume is removed with its container; a new barman container, empty, restores the whole
    cluster from the object store's copy: the newest backup there and the WAL after it, rows committed
    just before the loss included."""
    primary = the_primary(cluster)
    newest = done_backups(cluster)[-1]["backup_id"]
    wait_until(f"backup {newest} in the object store", lambda: newest in cloud_backup_ids(cluster), timeout=START)
    with pool(cluster) as conn:
        conn.execute("CREATE TABLE cloud_marker (id int PRIMARY KEY)")
        conn.execute("INSERT INTO cloud_marker SELECT generate_series(1, 500)")
    [(segment,)] = sql(cluster, primary, "SELECT pg_walfile_name(pg_current_wal_lsn())", admin=True)
    sql(cluster, primary, "SELECT pg_switch_wal()", admin=True)
    wait_until(f"segment {segment} in the object store",
               lambda: any(key.endswith(f"/{segment}.gz") for key in offsite_objects(cluster, "wals/")) or None,
               timeout=START)  # fmt: skip
    # Retention ran in the store after every copy, incremental backups (and their full parents) included.
    logged = cluster("logs", "--no-color", "backup")
    assert "retention in the object store failed" not in logged, logged[-3000:]
    volume = next(v for v in sh("docker", "volume", "ls", "-q").split() if v == f"{cluster.project}_backup")
    cluster("rm", "-sf", "backup")
    sh("docker", "volume", "rm", volume)
    cluster("up", "-d", "backup")

    def barman_lost_it() -> bool:
        try:
            return newest not in {b["backup_id"] for b in backups(cluster)}
        except (AssertionError, ValueError):  # the new container is not up yet
            return False

    wait_until("a new barman container without the old backups", barman_lost_it, timeout=START)
    done = recover(cluster, "--from-cloud", "--latest", "--backup-id", newest)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"from backup {newest} (the object store)" in done.stdout
    assert f"==> done: {primary} is the primary" in done.stdout
    assert try_sql(cluster, primary, "SELECT count(*) FROM cloud_marker") == [(500,)]
    others = [n for n in NODES if n != primary]
    wait_until(
        "every other node streaming again", lambda: streaming_nodes(cluster, primary) >= set(others), timeout=600
    )


def take_backup(cluster: Compose, *flags: str) -> tuple[str, dict[str, Any]]:
    """`postdock backup take` in the backup container: the one new backup's id and barman's description
    of it, once DONE."""
    before = {b["backup_id"] for b in backups(cluster)}
    cluster.exec("backup", "postdock", "backup", "take", *flags, user="postgres")
    taken = [b for b in backups(cluster) if b["backup_id"] not in before]
    assert len(taken) == 1, taken  # ours alone: the keeper started none meanwhile
    backup_id = str(taken[0]["backup_id"])
    wait_until(
        f"backup {backup_id} DONE", lambda: any(b["backup_id"] == backup_id for b in done_backups(cluster)), timeout=300
    )
    return backup_id, barman(cluster, "show-backup", "pg_cluster", backup_id)["pg_cluster"]


BAD_SCHEDULE = "61 * * * *"


def test_a_malformed_backup_schedule_stops_the_container_with_one_line() -> None:
    done = subprocess.run(
        ["docker", "run", "--rm", "-e", "ROLE=barman", "-e", "REPLICATION_HOST=pgmaster",
         "-e", "REPLICATION_PASSWORD=r", "-e", "POSTGRES_PASSWORD=p", "-e", f"BACKUP_SCHEDULE={BAD_SCHEDULE}", IMAGE],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"postdock: BACKUP_SCHEDULE: found '{BAD_SCHEDULE}'; expected a cron expression of five fields, "
        "minute hour day month weekday (e.g. '0 0 * * *')"
    ]
    assert done.stdout == ""
