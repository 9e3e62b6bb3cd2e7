"""Configuration on real containers: CONFIGS applied exactly, node id from the name, bad input."""

import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import started
from tests.e2e.harness import IMAGE, ROOT, Compose, cluster_tls, connect, sh, sql, try_sql, wait_until

GOOD_ENV = {
    "ROLE": "postgres",
    "NODE_NAME": "node1",
    "NODE_ID": "1",
    "CLUSTER_NODE_NETWORK_NAME": "db1",
    "PARTNER_NODES": "db1,db2,db3",
    "REPLICATION_PRIMARY_HOST": "db1",
    "POSTGRES_PASSWORD": "app-pw",
    "REPLICATION_PASSWORD": "repl-pw",
}


@pytest.fixture(scope="module")
def conf_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("conf.d")
    directory.chmod(0o755)  # postgres in the container reads it
    return directory


@pytest.fixture(scope="module")
def single(conf_dir: Path) -> Iterator[Compose]:
    compose = Compose(ROOT / "tests" / "e2e" / "compose" / "single.yml", env={"POSTDOCK_CONF_DIR": str(conf_dir)})

    def ready() -> object:
        return wait_until(
            "the one-node cluster to accept writes",
            lambda: try_sql(compose, "postgres_conf", "SELECT NOT pg_is_in_recovery()") == [(True,)],
            timeout=180,
        )

    with started(compose, ["postgres_conf"], ready):
        yield compose


def test_configs_with_custom_symbols_are_applied_exactly(single: Compose) -> None:
    def show(name: str) -> str:
        return str(sql(single, "postgres_conf", f"SHOW {name}")[0][0])

    assert show("hot_standby_feedback") == "on"  # not wiped by the later hot_standby key
    assert show("hot_standby") == "on"
    assert show("max_replication_slots") == "55"
    assert show("work_mem") == "7MB"


def test_a_mounted_configuration_change_is_applied_by_reload(single: Compose, conf_dir: Path) -> None:
    started = sql(single, "postgres_conf", "SELECT pg_postmaster_start_time()")
    assert sql(single, "postgres_conf", "SHOW statement_timeout") == [("0",)]
    extra = conf_dir / "extra.conf"
    extra.write_text("statement_timeout = '42s'\n")
    extra.chmod(0o644)
    wait_until(
        "statement_timeout from the mounted file",
        lambda: try_sql(single, "postgres_conf", "SHOW statement_timeout") == [("42s",)],
        timeout=60,
    )
    assert sql(single, "postgres_conf", "SELECT pg_postmaster_start_time()") == started
    extra.unlink()
    wait_until(
        "the default back once the file is gone",
        lambda: try_sql(single, "postgres_conf", "SHOW statement_timeout") == [("0",)],
        timeout=60,
    )


def test_node_id_comes_from_the_trailing_number_of_node_name(single: Compose) -> None:
    rows = wait_until(
        "node registered in repmgr", lambda: sql_repmgr(single, "SELECT node_id, node_name FROM repmgr.nodes")
    )
    assert rows == [(102, "node-102")]


def sql_repmgr(compose: Compose, query: str) -> list[tuple[object, ...]]:
    with connect(
        compose.ip("postgres_conf"), user="replication_user", password="replication_pass", dbname="replication_db"
    ) as conn:
        return conn.execute(query).fetchall()


def test_a_postgres_that_cannot_start_backs_off_and_reports_unhealthy() -> None:
    name = f"pdt-broken-{uuid.uuid4().hex[:8]}"
    env = {
        "ROLE": "postgres",
        "NODE_NAME": "node1",
        "POSTGRES_PASSWORD": "x",
        "REPLICATION_PASSWORD": "y",
        "CONFIGS": "work_mem:banana",
    }  # valid CONFIGS syntax, a value postgres refuses
    argv = ["docker", "run", "-d", "--name", name]
    for key, value in env.items():
        argv += ["-e", f"{key}={value}"]
    sh(*argv, IMAGE)
    try:

        def health() -> str:
            return subprocess.run(["docker", "exec", name, "postdock", "health"], capture_output=True, text=True).stdout

        report = wait_until(
            "health to report the failing start-up", lambda: "retry 3" in (h := health()) and h, timeout=180
        )
        assert report.startswith("failing: ")
        logs = (
            sh("docker", "logs", name, check=False)
            + subprocess.run(["docker", "logs", name], capture_output=True, text=True).stderr
        )
        waits = [
            int(line.split("observing again in ")[1].rstrip("s"))
            for line in logs.splitlines()
            if "observing again in " in line
        ]
        assert waits[:3] == sorted(waits[:3]) and waits[0] < waits[2], waits  # the retries back off
        assert 'invalid value for parameter "work_mem": "banana"' in logs
    finally:
        sh("docker", "rm", "-f", "-v", name, check=False)


RENDERED = [
    "/etc/supervisor/supervisord.conf",
    "/etc/postdock/postgresql.conf",
    "/etc/postdock/pg_hba.conf",
    "/etc/postdock/repmgr.conf",
    "/var/lib/postgresql/.pgpass",
]


def test_ten_restarts_leave_the_same_rendered_files(single: Compose) -> None:
    def checksums() -> str:
        return single.exec("postgres_conf", "sha256sum", *RENDERED)

    first = checksums()
    for restart in range(10):
        single("restart", "-t", "30", "postgres_conf")
        wait_until(
            f"the node back after restart {restart + 1}",
            lambda: try_sql(single, "postgres_conf", "SELECT NOT pg_is_in_recovery()") == [(True,)],
            timeout=120,
        )
        assert checksums() == first
    assert single.exec("postgres_conf", "grep", "-c", "^hot_standby = ", "/etc/postdock/postgresql.conf") == "1\n"


BAD_INPUTS = [
    ({"NODE_ID": "abc"}, "NODE_ID: found 'abc'; expected a whole number from 1 to 2147483647"),
    (
        {"CONFIGS": "work_mem:8MB,shared_buffers"},
        "CONFIGS: found 'work_mem:8MB,shared_buffers'; expected key:value pairs separated by ','; "
        "pair 2 'shared_buffers' has no ':'",
    ),
    ({"ROLE": "webserver"}, "ROLE: found 'webserver'; expected one of postgres, pgpool, barman"),
    (
        {"POSTGRES_PASSWORD": ""},
        "POSTGRES_PASSWORD: found nothing; expected a secret (set POSTGRES_PASSWORD or POSTGRES_PASSWORD_FILE)",
    ),
    (
        {"PARTNER_NODES": "db2,db3", "REPLICATION_PRIMARY_HOST": "db2"},
        "PARTNER_NODES: found 'db2,db3', which does not name this node; expected a list that includes "
        "CLUSTER_NODE_NETWORK_NAME 'db1'",
    ),
    (
        {"SSH_ENABLE": "1", "SSH_KEY_DIR": "/no/keys/here"},
        "SSH_KEY_DIR: found '/no/keys/here' without id_ed25519, id_ecdsa, id_rsa; expected a mounted key pair "
        "(SSH_ENABLE=1)",
    ),
    (
        {"SSH_HOST_KEY_DIR": "/k\nPermitRootLogin yes"},  # would add a line to sshd_config
        "SSH_HOST_KEY_DIR: found '/k\\nPermitRootLogin yes'; expected an absolute path without spaces, quotes "
        "or backslashes",
    ),
]


def in_volume(volume: str, script: str) -> str:
    return sh("docker", "run", "--rm", "-v", f"{volume}:/data", "--entrypoint", "sh", IMAGE, "-c", script)


def volume_listing(volume: str) -> str:
    """Every entry's owner, mode, size and time, and every file's checksum: byte for byte."""
    entries = "find . -printf '%p %u %g %m %s %T@\\n' | sort"
    return in_volume(volume, f"cd /data && {entries} && find . -type f -exec sha256sum {{}} + | sort")


def refused(
    volume: str, seed: str, env: dict[str, str], mounts: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    """Seed the volume, start the image on it with env; the run must leave it unchanged."""
    in_volume(volume, seed)
    before = volume_listing(volume)
    argv = ["docker", "run", "--rm", "-v", f"{volume}:/var/lib/postgresql/data"]
    for mount in mounts:
        argv += ["-v", mount]
    for key, value in env.items():
        argv += ["-e", f"{key}={value}"]
    done = subprocess.run([*argv, IMAGE], capture_output=True, text=True, timeout=120)
    assert volume_listing(volume) == before
    return done


@pytest.fixture
def volume() -> Iterator[str]:
    name = f"pdt-vol-{uuid.uuid4().hex[:8]}"
    sh("docker", "volume", "create", name)
    yield name
    sh("docker", "volume", "rm", "-f", name, check=False)


@pytest.mark.parametrize(
    ("override", "line"), BAD_INPUTS, ids=["node-id", "configs", "role", "password", "partners", "ssh-key", "new-line"]
)
def test_bad_input_stops_the_container_with_one_line_and_touches_no_data(
    volume: str, override: dict[str, str], line: str
) -> None:
    done = refused(volume, "echo precious > /data/marker && chmod 0755 /data", {**GOOD_ENV, **override})
    assert done.returncode == 2
    assert done.stderr.splitlines() == [f"postdock: {line}"]
    assert "app-pw" not in done.stderr + done.stdout and "repl-pw" not in done.stderr + done.stdout


def test_a_data_volume_of_postgresql_15_is_refused_with_one_line_and_left_byte_for_byte(volume: str) -> None:
    # The layout of a PostgreSQL 15 data directory as the previous image left it: the version
    # file is what identifies it; the other files stand for data that must survive untouched.
    seed = (
        "mkdir -p /data/global /data/base/1 /data/pg_wal && echo 15 > /data/PG_VERSION"
        " && head -c 8192 /dev/urandom > /data/global/pg_control && head -c 65536 /dev/urandom > /data/base/1/1259"
        " && head -c 1048576 /dev/urandom > /data/pg_wal/000000010000000000000003"
        " && echo 'postmaster' > /data/postmaster.pid && chown -R postgres:postgres /data && chmod 0700 /data"
    )
    done = refused(volume, seed, GOOD_ENV)
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "postdock: PGDATA: found a PostgreSQL '15' data directory at /var/lib/postgresql/data (PG_VERSION), "
        "but this image runs PostgreSQL 17; nothing in it was changed. Move the data with pg_dumpall into a new "
        "volume (README: Upgrading from PostgreSQL 15) or run the image that matches it"
    ]


def test_a_certificate_given_for_another_name_stops_the_start_with_one_line(volume: str, tmp_path: Path) -> None:
    """TLS=1 with tls.crt and tls.key mounted (no CA key): a certificate that does not name the node is
    refused before anything is written."""
    given = tmp_path / "tls"
    script = str(ROOT / "scripts" / "node-tls.sh")
    sh("bash", script, str(cluster_tls()), str(given), "db2", env={"POSTDOCK_IMAGE": IMAGE})
    env = {**GOOD_ENV, "TLS": "1"}
    done = refused(volume, "echo precious > /data/marker && chmod 0755 /data", env, (f"{given}:/etc/postdock/tls:ro",))
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "postdock: TLS_DIR: found '/etc/postdock/tls/tls.crt' not valid for 'db1'; expected a certificate for every "
        "name this node is reached by (db1)"
    ]
