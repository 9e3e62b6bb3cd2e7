"""The failover issue's whole table in one invocation: every fault on our cluster and the same writer
and faults on Patroni, run after run on fresh clusters, so both sides meet the same machine load:

- ours: bench.failover (`docker kill`) and bench.faults (kill -9, planned stop, dropped packets, a
  12 s freeze and a 1.5 s blip through pgpool), each with its 100 ms split-brain probe;
- Patroni: bench.patroni (kill, drop, kill -9, stop) at the tightest timing Patroni 4 accepts.

A run that fails is reported as failed (the failing fault's container logs are kept in
bench/results/fault-logs/) and the next one goes on. Prints each figure's median, min and max, then
the issue's targets beside our medians (met or not, a report, never an assertion) and the ratio
ours / Patroni per fault.

Run: .venv/bin/python -m bench.compare --runs 5   (about 12 minutes a run; the image must be built:
scripts/build-image.sh). Figures are written to bench/results/compare.json."""

import json
from pathlib import Path

from bench import failover, faults, patroni
from bench.failover import run_and_report
from tests.e2e.harness import sh

# The targets: (figure, which statistic, at most). Writes lost and split-brain windows: none.
TARGETS = [
    ("failover_s", "median", 3.0),
    ("failover_s", "max", 5.0),
    ("drop_write_gap_s", "median", 6.0),
    ("stop_write_gap_s", "median", 2.0),
    ("kill9_write_gap_s", "median", 3.0),
    ("freeze_pool_after_direct_s", "median", 0.5),
    ("blip_pool_after_thaw_s", "median", 1.0),
]
# Our figure and Patroni's for the same fault, measured the same way (bench/patroni.py).
AGAINST_PATRONI = {
    "kill": "failover_s",
    "drop": "drop_write_gap_s",
    "kill9": "kill9_write_gap_s",
    "stop": "stop_write_gap_s",
}


def one_run() -> dict[str, float]:
    figures = failover.one_run()
    figures.update(faults.one_run())
    figures.update({f"patroni_{key}": value for key, value in patroni.one_run().items()})
    return figures


def report(summary: dict[str, dict[str, float]]) -> None:
    print("| target | ours | met |\n|---|---|---|")
    for key, statistic, most in TARGETS:
        ours = summary[key][statistic]
        print(f"| {key} {statistic} <= {most:g} | {ours:.2f} | {'yes' if ours <= most else 'NO'} |")
    for key in summary:
        if key.endswith(("lost_acked_writes", "split_brain_windows")) and not key.startswith("patroni_"):
            worst = summary[key]["max"]
            print(f"| {key} max = 0 | {worst:g} | {'yes' if worst == 0 else 'NO'} |")
    print("| fault | ours median (s) | Patroni median (s) | ratio ours / Patroni |\n|---|---|---|---|")
    for fault, key in AGAINST_PATRONI.items():
        ours, theirs = summary[key]["median"], summary[f"patroni_{fault}_s"]["median"]
        print(f"| {fault} | {ours:.2f} | {theirs:.2f} | {ours / theirs:.2f} |")


def main() -> None:
    sh("docker", "build", "-q", "-t", patroni.IMAGE, str(patroni.HERE))
    run_and_report("compare", one_run, __doc__ or "", keep_going=True)
    report(json.loads(Path(__file__).with_name("results").joinpath("compare.json").read_text())["summary"])


if __name__ == "__main__":
    main()
