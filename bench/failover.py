"""Measure the seed cluster on real containers, over several fresh runs (median, min, max):

- cold start: `docker-compose up` until the primary acknowledges a write;
- failover: primary `docker kill` until the first write committed on the new primary, written
  through a libpq multi-host string (target_session_attrs=read-write) every 100 ms;
- acknowledged writes lost in that failover, and 100 ms windows in which two nodes acknowledged a
  commit (a probe commits on each first-level node every 100 ms, tests/e2e/write_probe.sh);
- the new primary's flight record: each phase (detect, lease, promote) and their sum, which should
  match the writer's figure within a second (the record starts when the old primary was last seen);
- rejoin: `docker start` of the old primary until it streams from the new primary;
- which standby won (NODE_PRIORITY prefers pgslave3), and whether pgslave1, elected on more WAL,
  first had pgslave3 catch up and declined (decide/priority.py).

Run: .venv/bin/python -m bench.failover --runs 3   (the image must be built: scripts/build-image.sh)
With --lagging-preferred, pgslave3 (the preferred standby) misses the last commits before the kill,
so pgslave1 is elected and defers to it after it caught up: the cost of the NODE_PRIORITY rule.
Figures are printed and written to bench/results/failover.json; nothing here asserts a time."""

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

from postdock_supervisor import healing, paths
from postdock_supervisor.model.failover import FailoverRecord, phases
from tests.e2e.harness import (
    Compose,
    addresses,
    flight_record,
    is_primary,
    sh,
    sql,
    streaming_children,
    try_sql,
    wait_until,
)
from tests.e2e.probe import WriteProbes, split_brain_windows
from tests.e2e.writer import Writer

NODES = ["pgmaster", "pgslave1", "pgslave2", "pgslave3", "pgslave4"]
FIRST_LEVEL = ["pgmaster", "pgslave1", "pgslave3"]


def moved(writer: Writer, old_address: str) -> int:
    """Writes acknowledged by another node than the killed primary (one in flight may still be its)."""
    return sum(1 for w in writer.acked if w.host != old_address)


def one_run() -> dict[str, float]:
    compose = Compose()
    try:
        began = time.monotonic()
        compose("up", "-d", *NODES)
        wait_until(
            "a writable primary",
            lambda: try_sql(compose, "pgmaster", "CREATE TABLE IF NOT EXISTS acked (id int PRIMARY KEY) ") is not None,
            timeout=300,
            every=0.1,
        )
        cold_start = time.monotonic() - began
        wait_until(
            "pgslave3 streaming", lambda: "node4" in (streaming_children(compose, "pgmaster") or ()), timeout=300
        )
        writer = Writer(lambda: addresses(compose, FIRST_LEVEL)).start()
        probes = WriteProbes(compose, FIRST_LEVEL).start()
        try:
            wait_until("the probes see pgmaster writable", lambda: "t" in {a for _, a in probes.samples()["pgmaster"]})
            wait_until("40 acknowledged writes", lambda: len(writer.acked) >= 40, timeout=120)
            victim, old_address = compose.container("pgmaster"), compose.ip("pgmaster")
            if LAGGING:
                # The preferred standby misses the last commits (as in the e2e scenario): frozen so its
                # repmgrd starts nothing of its own, deaf to the primary so no WAL waits in its kernel.
                compose("pause", "pgslave3")
                compose.drop_from("pgslave3", old_address)
                deaf_at = time.monotonic()
                wait_until("10 writes pgslave3 lacks", lambda: writer.acked_after(deaf_at) >= 10, timeout=60)
            killed = time.monotonic()  # before the call: the figure is an upper bound, never flattered
            sh("docker", "kill", victim)
            if LAGGING:
                compose.undrop_from("pgslave3", old_address)
                compose("unpause", "pgslave3")
            wait_until("writes on the new primary", lambda: moved(writer, old_address) >= 3, timeout=180, every=0.1)
        finally:
            writer.stop()
        failover = min(w.at for w in writer.acked if w.host != old_address) - killed
        new_primary = next(n for n in ["pgslave3", "pgslave1"] if is_primary(compose, n))
        record = wait_until("the flight record", lambda: flight_record(compose, new_primary), timeout=60)
        # pgslave1 (NODE_PRIORITY 100) declined for pgslave3 (200) when it had been elected on more WAL.
        text = compose.exec("pgslave1", "cat", str(paths.RUN / healing.FAILOVER), check=False)
        declined = FailoverRecord.from_json(json.loads(text)) if text.strip() else None
        stored = {r[0] for r in sql(compose, new_primary, "SELECT id FROM acked")}
        lost = len(writer.ids() - stored)
        started, started_wall = time.monotonic(), time.time()
        compose("start", "pgmaster")
        wait_until(
            "old primary streaming",
            lambda: "node1" in (streaming_children(compose, new_primary) or ()),
            timeout=300,
            every=0.2,
        )
        rejoin = time.monotonic() - started
        two_writers = split_brain_windows(probes.stop_texts())  # the killed node's samples are still on its disk
        rejoined = wait_until(
            "the recorded rejoin", lambda: (r := flight_record(compose, new_primary)) and r.rejoined_at
        )
        return {
            "cold_start_s": cold_start,
            "failover_s": failover,
            "lost_acked_writes": lost,
            "split_brain_windows": float(two_writers),
            "acked_writes": len(writer.acked),
            "rejoin_streaming_s": rejoin,
            # The recorder's rejoin runs from the new primary taking writes; from the start, to compare.
            "recorded_rejoin_after_start_s": rejoined - started_wall,
            **{f"recorded_{name}_s": seconds for name, seconds in phases(record)},
            "recorded_total_s": record.total or 0.0,
            "preferred_pgslave3_won": float(new_primary == "pgslave3"),
            "pgslave1_deferred_to_it": float(declined is not None and declined.deferred_to == "pgslave3"),
        }
    finally:
        compose.down()


def summary(runs: list[dict[str, float]]) -> dict[str, dict[str, float]]:
    keys = runs[0].keys()
    return {
        k: {
            "median": statistics.median(r[k] for r in runs),
            "min": min(r[k] for r in runs),
            "max": max(r[k] for r in runs),
        }
        for k in keys
    }


def run_and_report(name: str, one_run: Callable[[], dict[str, float]], doc: str, keep_going: bool = False) -> None:
    """--runs fresh runs: print each, write bench/results/<name>.json, print the summary as a table.
    keep_going: a run that fails is printed and listed in the results (`failed_runs`), and the others
    go on; the summary is over the runs that completed."""
    parser = argparse.ArgumentParser(description=doc)
    parser.add_argument("--runs", type=int, default=3)
    args, _ = parser.parse_known_args()  # a bench may take options of its own
    runs: list[dict[str, float]] = []
    failed: list[str] = []
    for index in range(args.runs):
        try:
            runs.append(one_run())
        except AssertionError as exc:  # kept_going: the run is reported as failed, never dropped silently
            if not keep_going:
                raise
            failed.append(str(exc))
            print(f"run {index + 1}: FAILED: {exc}", flush=True)
            continue
        print(f"run {index + 1}: " + ", ".join(f"{k}={v:.2f}" for k, v in runs[-1].items()), flush=True)
    result = {"runs": runs, "summary": summary(runs), "when": time.strftime("%Y-%m-%d %H:%M:%S")}
    if keep_going:
        result["failed_runs"] = failed
    Path(__file__).with_name("results").mkdir(exist_ok=True)
    Path(__file__).with_name("results").joinpath(f"{name}.json").write_text(json.dumps(result, indent=2))
    print("| measure | median | min | max |\n|---|---|---|---|")
    for key, figures in result["summary"].items():
        print(f"| {key} | {figures['median']:.2f} | {figures['min']:.2f} | {figures['max']:.2f} |")


LAGGING = "--lagging-preferred" in sys.argv


def main() -> None:
    run_and_report("failover-lagging" if LAGGING else "failover", one_run, __doc__ or "")


if __name__ == "__main__":
    main()
