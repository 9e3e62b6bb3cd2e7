"""Measure `postdock switchover` under writes on real containers, over several fresh runs:

- write gap: the longest time between two acknowledged writes of a writer committing every 100 ms
  through a libpq multi-host string (target_session_attrs=read-write), around the switchover;
- the switchover command's own duration (until every node streams from the new primary);
- acknowledged writes lost.

Run: .venv/bin/python -m bench.switchover --runs 3   (the image must be built: scripts/build-image.sh)
Figures are printed and written to bench/results/switchover.json; nothing here asserts a time."""

import time

from bench.failover import run_and_report
from tests.e2e.harness import Compose, addresses, sql, streaming_children, wait_until
from tests.e2e.writer import Writer

NODES = ["pgmaster", "pgslave1", "pgslave3"]


def one_run() -> dict[str, float]:
    compose = Compose()
    try:
        compose("up", "-d", *NODES)
        wait_until("both standbys streaming", lambda: streaming_children(compose, "pgmaster") == {"node2", "node4"},
                   timeout=300)  # fmt: skip
        wait_until("every node settled", lambda: all(
            compose.exec(n, "postdock", "health", check=False).startswith("postgres and repmgrd running") for n in NODES
        ), timeout=300)  # fmt: skip
        sql(compose, "pgmaster", "CREATE TABLE acked (id int PRIMARY KEY)")
        writer = Writer(lambda: addresses(compose, NODES)).start()
        try:
            wait_until("40 acknowledged writes", lambda: len(writer.acked) >= 40, timeout=120)
            began = time.monotonic()
            output = compose.exec("pgslave1", "postdock", "switchover", "--to", "pgslave3", user="postgres")
            took = time.monotonic() - began
            assert "switchover done" in output, output
            wait_until("writes after", lambda: writer.acked_after(began + took) >= 20, timeout=120)
        finally:
            writer.stop()
        times = [w.at for w in writer.acked]
        gap = max(b - a for a, b in zip(times, times[1:], strict=False))
        stored = {r[0] for r in sql(compose, "pgslave3", "SELECT id FROM acked")}
        return {
            "write_gap_s": gap,
            "switchover_command_s": took,
            "lost_acked_writes": len(writer.ids() - stored),
            "acked_writes": len(writer.acked),
        }
    finally:
        compose.down()


def main() -> None:
    run_and_report("switchover", one_run, __doc__ or "")


if __name__ == "__main__":
    main()
