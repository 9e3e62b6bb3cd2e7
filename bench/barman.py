"""Measure barman on real containers (pgmaster, pgslave1, backup; SSH on):

- base backup time and size of a pgbench database of each scale in --scales (scale 7 is about
  100 MiB, 67 about 1 GiB), with `postdock backup take` (barman backup plus the closing WAL switch);
- the restore drill the drill keeper runs on that new backup by itself (barman recover into a scratch
  copy, replay to promotion, every table read), its whole time and each step's;
- then, after a small change set (1000 pgbench transactions), the time and size of a block-level
  incremental backup on top of it (`postdock backup take --incremental`);
- restore time of the whole cluster with `postdock recover --immediate` from the newest backup (the
  incremental one, combined with its full parent): the restored node replays and is promoted, the
  standby re-cloned, every node streaming.

Run: .venv/bin/python -m bench.barman --runs 3 --scales 7,67   (the image must be built)
Figures are printed and written to bench/results/barman.json; nothing here asserts a time."""

import argparse
import json
import subprocess
import time
from pathlib import Path
from typing import Any

from bench.failover import summary
from postdock_supervisor import paths
from tests.e2e.harness import Compose, make_key_pair, primaries, sql, wait_until
from tests.e2e.test_barman import barman, done_backups, last_drill

NODES = ["pgmaster", "pgslave1"]
PGBENCH = f"{paths.PG_BIN}/pgbench"


def timed(compose: Compose, *command: str) -> float:
    started = time.monotonic()
    done = subprocess.run(["docker", "exec", compose.container("backup"), *command], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    return time.monotonic() - started


def newest_size(compose: Compose, before: int) -> float:
    """Size of the newest backup, once it is DONE (`before`: how many were DONE before it)."""
    done = wait_until("the new backup DONE", lambda: (d := done_backups(compose)) and len(d) > before and d)
    newest = done[-1]["backup_id"]
    shown = barman(compose, "show-backup", "pg_cluster", newest)["pg_cluster"]
    return float(shown["base_backup_information"]["backup_size_bytes"])


def keepers_drill(compose: Compose, backup_id: str) -> dict[str, float]:
    """The drill keeper's drill of `backup_id` (it starts one after every new backup): its times."""
    record: dict[str, Any] = wait_until(
        f"the drill of backup {backup_id}",
        lambda: (d := last_drill(compose)) and d["backup_id"] == backup_id and d,
        timeout=3600,
    )
    assert record["ok"], record
    seconds = {f"drill_{step}_s": float(record[f"{step}_seconds"]) for step in ("recover", "replay", "check")}
    return {"drill_s": float(record["finished_at"]) - float(record["started_at"]), **seconds}


def pgbench(compose: Compose, *args: str) -> None:
    compose.exec("pgmaster", "env", "PGPASSWORD=monkey_pass", PGBENCH, "-h", "localhost", "-U", "monkey_user",
                 *args, "monkey_db")  # fmt: skip


def one_run(scale: int, keys: Path) -> dict[str, float]:
    compose = Compose(env={"POSTDOCK_SSH_ENABLE": "1", "POSTDOCK_SSH_KEYS": str(keys)})
    try:
        compose("up", "-d", *NODES, "backup")
        wait_until("pgmaster primary", lambda: primaries(compose, NODES) == ["pgmaster"], timeout=300)
        wait_until("the first base backup", lambda: done_backups(compose) or None, timeout=300)
        pgbench(compose, "-i", "-s", str(scale), "-q")
        size = float(sql(compose, "pgmaster", "SELECT pg_database_size('monkey_db')")[0][0])
        count = len(done_backups(compose))
        backup = timed(compose, "postdock", "backup", "take")
        full_bytes = newest_size(compose, count)
        drill = keepers_drill(compose, done_backups(compose)[-1]["backup_id"])
        pgbench(compose, "-n", "-t", "1000", "-c", "1")
        incremental = timed(compose, "postdock", "backup", "take", "--incremental")
        incremental_bytes = newest_size(compose, count + 1)
        restore = timed(compose, "postdock", "recover", "--immediate", "--node", "pgmaster", "--yes")
        return {
            "database_bytes": size,
            "base_backup_s": backup,
            "base_backup_bytes": full_bytes,
            **drill,
            "incremental_backup_s": incremental,
            "incremental_backup_bytes": incremental_bytes,
            "restore_cluster_s": restore,
        }
    finally:
        compose.down()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--scales", default="7,67", help="pgbench scales, comma-separated")
    args = parser.parse_args()
    keys = make_key_pair(Path("/tmp") / f"bench-barman-keys-{int(time.time())}")
    results = []
    for scale in (int(s) for s in args.scales.split(",")):
        runs = [one_run(scale, keys) for _ in range(args.runs)]
        figures = summary(runs)
        results.append({"scale": scale, "runs": runs, "summary": figures})
        print(f"scale {scale}:")
        for key, f in figures.items():
            print(f"  {key}: median {f['median']:.2f} (min {f['min']:.2f}, max {f['max']:.2f})")
    out = Path(__file__).parent / "results" / "barman.json"
    out.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
