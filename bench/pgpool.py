"""Measure pgpool on real containers (the seed's first level, pgslave2 and pgpool):

- read-only pgbench (`-S`, 4 clients, 20 s, a new connection per transaction with -C off) through
  pgpool versus straight to one node, as a ratio of transactions per second;
- failover through pgpool: primary `docker kill` until the first write committed through pgpool
  (one INSERT every 100 ms), and acknowledged writes lost.

pgbench runs in the pgpool container (the image ships it), so both paths cross the same network.
Run: .venv/bin/python -m bench.pgpool --runs 3   (the image must be built: scripts/build-image.sh)
Figures are printed and written to bench/results/pgpool.json; nothing here asserts a time."""

import argparse
import json
import re
import statistics
import time
from pathlib import Path

from postdock_supervisor import paths
from tests.e2e.harness import Compose, primaries, sh, sql, wait_until
from tests.e2e.pool import attached, health
from tests.e2e.writer import Writer

FIRST_LEVEL = ["pgmaster", "pgslave1", "pgslave3"]
SERVICES = [*FIRST_LEVEL, "pgslave2", "pgpool"]
PGBENCH = f"{paths.PG_BIN}/pgbench"


def pgbench_tps(compose: Compose, host: str, *args: str) -> float:
    out = compose.exec(
        "pgpool", "env", "PGPASSWORD=monkey_pass", PGBENCH, "-h", host, "-U", "monkey_user", *args, "monkey_db"
    )
    match = re.search(r"tps = ([0-9.]+) \(without initial connection time\)", out)
    assert match, out
    return float(match.group(1))


def one_run() -> dict[str, float]:
    compose = Compose()
    try:
        compose("up", "-d", *SERVICES)
        wait_until("pgpool healthy", lambda: health(compose).startswith("0:"), timeout=300)
        wait_until("all backends attached", lambda: attached(compose, [*FIRST_LEVEL, "pgslave2"]), timeout=300)
        compose.exec("pgpool", "env", "PGPASSWORD=monkey_pass", PGBENCH, "-h", "pgmaster", "-U", "monkey_user",
                     "-i", "-s", "10", "-q", "monkey_db")  # fmt: skip
        read = ("-S", "-c", "4", "-j", "2", "-T", "20")
        direct = pgbench_tps(compose, "pgslave1", *read)
        pooled = pgbench_tps(compose, "localhost", *read)
        sql(compose, "pgmaster", "CREATE TABLE IF NOT EXISTS acked (id int PRIMARY KEY)")
        writer = Writer(lambda: [compose.ip("pgpool")], session_attrs="any").start()
        wait_until("writes through pgpool", lambda: len(writer.acked) >= 30, timeout=60)
        sh("docker", "kill", compose.container("pgmaster"))  # not docker-compose: its ~0.5 s start would flatter
        killed = time.monotonic()
        wait_until("a write through pgpool after the kill", lambda: writer.acked_after(killed) >= 1, timeout=120)
        failover = min(w.at for w in writer.acked if w.at > killed) - killed
        writer.stop()
        [new] = wait_until("one primary", lambda: (p := primaries(compose, FIRST_LEVEL)) and len(p) == 1 and p)
        stored = {r[0] for r in sql(compose, new, "SELECT id FROM acked")}
        return {
            "read_tps_direct": direct,
            "read_tps_pgpool": pooled,
            "read_ratio": pooled / direct,
            "failover_through_pgpool_s": failover,
            "lost_acknowledged": float(len(writer.ids() - stored)),
            "acknowledged": float(len(writer.ids())),
        }
    finally:
        compose.down()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    runs = [one_run() for _ in range(parser.parse_args().runs)]
    summary = {
        key: {
            "median": statistics.median(r[key] for r in runs),
            "min": min(r[key] for r in runs),
            "max": max(r[key] for r in runs),
        }
        for key in runs[0]
    }
    out = Path(__file__).parent / "results" / "pgpool.json"
    out.write_text(json.dumps({"runs": runs, "summary": summary}, indent=2))
    for key, figures in summary.items():
        print(f"{key}: median {figures['median']:.2f} (min {figures['min']:.2f}, max {figures['max']:.2f})")


if __name__ == "__main__":
    main()
