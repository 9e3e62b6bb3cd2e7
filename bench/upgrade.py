"""Measure the README's move from PostgreSQL 15 to 17 (pg_dumpall into a new cluster):

- an old cluster (pgmaster, pgslave1) on --old-image with a pgbench database of scale --scale;
- `pg_dumpall` from its primary (timed), the old cluster stopped;
- a new cluster (pgmaster, pgslave1, pgslave3) on the current image, the dump loaded with psql into
  its primary (timed), until every row is on both standbys.

The old image is the previous release, built from its commit, for example:
  git worktree add /tmp/pg15 ebd8bdc && (cd /tmp/pg15 && bash scripts/build-image.sh)
Run: .venv/bin/python -m bench.upgrade --old-image postdock/postdock:0.1.0-postgres15-repmgr53-pgpool43-barman34
Figures are printed and written to bench/results/upgrade.json; nothing here asserts a time."""

import argparse
import json
import subprocess
import tempfile
import time
from pathlib import Path

from bench.failover import summary
from tests.e2e.harness import IMAGE, Compose, primaries, sql, try_sql, wait_until

OLD_NODES = ["pgmaster", "pgslave1"]
NEW_NODES = ["pgmaster", "pgslave1", "pgslave3"]
COUNT = "SELECT count(*) FROM pgbench_accounts"


def one_run(old_image: str, scale: int) -> dict[str, float]:
    old = Compose(env={"POSTDOCK_IMAGE": old_image})
    new = Compose()
    dump = Path(tempfile.mkdtemp(prefix="postdock-upgrade-")) / "dump.sql"
    try:
        old("up", "-d", *OLD_NODES)
        wait_until("old pgmaster primary", lambda: primaries(old, OLD_NODES) == ["pgmaster"], timeout=300)
        pgbench = "/usr/lib/postgresql/15/bin/pgbench"
        old.exec("pgmaster", "env", "PGPASSWORD=monkey_pass", pgbench, "-h", "localhost", "-U", "monkey_user",
                 "-i", "-s", str(scale), "-q", "monkey_db")  # fmt: skip
        sql(old, "pgmaster", "CREATE INDEX ON pgbench_accounts (abalance)")
        size = float(sql(old, "pgmaster", "SELECT pg_database_size('monkey_db')")[0][0])
        rows = sql(old, "pgmaster", COUNT)[0][0]
        started = time.monotonic()
        with dump.open("wb") as out:
            # repmgr's metadata stays the new cluster's own.
            subprocess.run(["docker", "exec", "-u", "postgres", old.container("pgmaster"), "pg_dumpall",
                            "--exclude-database=replication_db"], stdout=out, check=True)  # fmt: skip
        dumped = time.monotonic() - started
        old("stop", "-t", "60")
        new("up", "-d", *NEW_NODES)
        wait_until("new pgmaster primary", lambda: primaries(new, NEW_NODES) == ["pgmaster"], timeout=300)
        started = time.monotonic()
        with dump.open("rb") as source:
            subprocess.run(["docker", "exec", "-i", "-u", "postgres", new.container("pgmaster"),
                            "psql", "-X", "-q", "-d", "postgres"],
                           stdin=source, capture_output=True, check=True)  # fmt: skip
        loaded = time.monotonic() - started
        for node in NEW_NODES:
            wait_until(f"every row on {node}", lambda n=node: try_sql(new, n, COUNT) == [(rows,)], timeout=600)
        replicated = time.monotonic() - started
        return {"database_bytes": size, "dump_s": dumped, "load_s": loaded, "load_and_replicated_s": replicated,
                "dump_bytes": float(dump.stat().st_size)}  # fmt: skip
    finally:
        old.down()
        new.down()
        dump.unlink(missing_ok=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--old-image", required=True)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--scale", type=int, default=20)
    args = parser.parse_args()
    runs = [one_run(args.old_image, args.scale) for _ in range(args.runs)]
    figures = summary(runs)
    out = Path(__file__).parent / "results" / "upgrade.json"
    out.write_text(json.dumps({"old_image": args.old_image, "new_image": IMAGE, "scale": args.scale, "runs": runs,
                               "summary": figures}, indent=2))  # fmt: skip
    for key, f in figures.items():
        print(f"{key}: median {f['median']:.2f} (min {f['min']:.2f}, max {f['max']:.2f})")


if __name__ == "__main__":
    main()
