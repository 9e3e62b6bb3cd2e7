"""The extended image: every bundled extension is created on the primary, exists on the standby,
and pg_repack really repacks a table."""

import os
from collections.abc import Iterator

import pytest

from postdock_supervisor import paths
from tests.e2e.conftest import started
from tests.e2e.harness import ADMIN, ROOT, Compose, connect, sql, streaming_children, try_sql, wait_until

EXTENSIONS = {
    "postgis": "monkey_db",
    "pg_repack": "monkey_db",
    "pglogical": "monkey_db",
    "hypopg": "monkey_db",
    "pgaudit": "monkey_db",
    "pg_partman": "monkey_db",
    "pg_cron": "postgres",
    "vector": "monkey_db",
}
EXTENDED_IMAGE = os.environ.get("POSTDOCK_EXTENDED_IMAGE", "postdock/postdock-extended:latest")


@pytest.fixture(scope="module")
def extended() -> Iterator[Compose]:
    compose = Compose(
        ROOT / "tests" / "e2e" / "compose" / "extended.yml", env={"POSTDOCK_EXTENDED_IMAGE": EXTENDED_IMAGE}
    )

    def ready() -> object:
        return wait_until(
            "ext2 streaming from ext1", lambda: "node2" in (streaming_children(compose, "ext1") or ()), timeout=240
        )

    with started(compose, ["ext1", "ext2"], ready):
        yield compose


def test_every_extension_is_created_on_the_primary_and_replicated(extended: Compose) -> None:
    for extension, database in EXTENSIONS.items():
        with connect(extended.ip("ext1"), dbname=database, **ADMIN) as conn:  # extensions are an admin's job
            if extension == "pg_partman":
                conn.execute("CREATE SCHEMA IF NOT EXISTS partman")
                conn.execute("CREATE EXTENSION pg_partman SCHEMA partman")
            else:
                conn.execute(f"CREATE EXTENSION {extension}")
    for extension, database in EXTENSIONS.items():
        wait_until(f"{extension} on the standby", lambda e=extension, d=database: _has_extension(extended, e, d))
    assert sql(extended, "ext2", "SELECT ST_AsText(ST_MakePoint(1, 2))") == [("POINT(1 2)",)]
    assert sql(extended, "ext2", "SELECT '[1,2,2]'::vector <-> '[1,2,0]'::vector") == [(2.0,)]


def _has_extension(compose: Compose, extension: str, database: str) -> bool:
    with connect(compose.ip("ext2"), dbname=database) as conn:
        return conn.execute("SELECT 1 FROM pg_extension WHERE extname = %s", (extension,)).fetchone() is not None


def test_pg_repack_rebuilds_a_table(extended: Compose) -> None:
    sql(extended, "ext1", "CREATE EXTENSION IF NOT EXISTS pg_repack", admin=True)
    sql(extended, "ext1", "CREATE TABLE bloated (id int PRIMARY KEY, v text)")
    sql(extended, "ext1", "INSERT INTO bloated SELECT g, repeat('x', 200) FROM generate_series(1, 20000) g")
    sql(extended, "ext1", "DELETE FROM bloated WHERE id % 2 = 0")
    before = sql(extended, "ext1", "SELECT pg_relation_filenode('bloated')")[0][0]
    out = extended.exec("ext1", "sh", "-c", f"{paths.PG_BIN}/pg_repack -d monkey_db -t bloated 2>&1", user="postgres")
    assert 'repacking table "public.bloated"' in out
    assert sql(extended, "ext1", "SELECT count(*), pg_relation_filenode('bloated') <> %s FROM bloated", (before,)) == [
        (10000, True)
    ]
    wait_until(
        "the repacked table on the standby",
        lambda: try_sql(extended, "ext2", "SELECT count(*) FROM bloated") == [(10000,)],
    )
