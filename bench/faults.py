"""Measure five faults on the primary under writes, on real containers, over several fresh runs:

- postmaster `kill -9` (the container alive): the node restarts in place;
- `docker stop` of the primary's container: it hands its role over first;
- every packet to and from the primary dropped (iptables in its network namespace): its lease
  lapses and a standby is promoted;
- the primary frozen for 12 s (`docker pause`), writes through pgpool: a standby is promoted
  meanwhile and pgpool follows;
- the primary frozen for 1.5 s, shorter than its 2 s lease (`blip`): no failover; how long after the
  thaw writes come back, through pgpool and on the primary directly.

For each: 100 ms windows in which two nodes acknowledged a commit (a probe commits on every node
every 100 ms, tests/e2e/write_probe.sh), the write gap (longest time between two acknowledged
writes of a writer committing every 100 ms; direct through a libpq multi-host string, through
pgpool for the freezes) and acknowledged writes lost. The freezes also run a direct writer beside
the pgpool one: how much later writes came back through pgpool than on the nodes themselves.

Run: .venv/bin/python -m bench.faults --runs 3 [--faults drop,stop]   (the image must be built:
scripts/build-image.sh)
Figures are printed and written to bench/results/faults.json; nothing here asserts a time."""

import argparse
import time
from pathlib import Path

from bench.failover import run_and_report
from postdock_supervisor.model.failover import phases
from tests.e2e.harness import Compose, addresses, flight_record, primaries, sql, streaming_children, wait_until
from tests.e2e.probe import WriteProbes, split_brain_windows
from tests.e2e.writer import Writer

NODES = ["pgmaster", "pgslave1", "pgslave3"]


def longest_gap(times: list[float]) -> float:
    """The longest time between two consecutive moments (0 for fewer than two)."""
    return max((b - a for a, b in zip(times, times[1:], strict=False)), default=0.0)


def gap(writer: Writer) -> float:
    return longest_gap([w.at for w in writer.acked])


def settled(compose: Compose, services: list[str]) -> None:
    wait_until("both standbys streaming", lambda: streaming_children(compose, "pgmaster") == {"node2", "node4"},
               timeout=300)  # fmt: skip
    wait_until("every node settled", lambda: all(
        compose.exec(n, "postdock", "health", check=False).startswith("postgres and repmgrd running") for n in NODES
    ), timeout=300)  # fmt: skip
    if "pgpool" in services:
        wait_until("pgpool healthy, primary pgmaster", lambda: compose.exec(
            "pgpool", "postdock", "health", check=False).strip().endswith("primary pgmaster"), timeout=300)  # fmt: skip


def resumed(writer: Writer, began: float, pause: float = 0.5) -> float:
    """Seconds from the fault to the write that ended the writer's first stop after it (a gap over
    `pause`, five writes' time), counted from its last write before the fault, or from the fault for
    a writer that had none. The first stop, not the longest: later ones are other events."""
    before = max((w.at for w in writer.acked if w.at <= began), default=began)
    times = [before, *(w.at for w in writer.acked if w.at > began)]
    return next((b - began for a, b in zip(times, times[1:], strict=False) if b - a > pause), 0.0)


def measure(compose: Compose, fault: str, table: str) -> dict[str, float]:
    through_pool = fault in ("freeze", "blip")
    sql(compose, "pgmaster", f"CREATE TABLE {table} (id int PRIMARY KEY)")
    hosts = (lambda: [compose.ip("pgpool")]) if through_pool else (lambda: addresses(compose, NODES))
    writer = Writer(hosts, table=table, session_attrs="any" if through_pool else "read-write").start()
    direct = None
    if through_pool:
        # Writes on the new primary itself, the moment it takes them: a read-write client of the
        # standbys first, so it finds a promoted one without waiting for the frozen node, and of the
        # frozen node last, so a freeze that ends without a failover (the lease lapsed, but repmgrd's
        # election did not finish before the thaw: allowed, the old primary then takes writes again)
        # is measured too instead of waiting for ever. pgpool's own delay is the difference.
        sql(compose, "pgmaster", f"CREATE TABLE {table}_direct (id int PRIMARY KEY)")
        # After a blip the primary stays: the direct writer then writes to it alone.
        nodes = NODES[:1] if fault == "blip" else [*NODES[1:], NODES[0]]
        direct = Writer(
            lambda: addresses(compose, nodes), table=f"{table}_direct", deadline=None if fault == "blip" else 2.0
        )
        direct.start()
    probes = WriteProbes(compose, NODES).start()
    try:
        wait_until("40 acknowledged writes", lambda: len(writer.acked) >= 40, timeout=120)
        wait_until("the probes see pgmaster writable", lambda: "t" in {a for _, a in probes.samples()["pgmaster"]})
        began = thawed = time.monotonic()
        if fault == "kill9":
            pid = compose.exec("pgmaster", "head", "-1", "/var/lib/postgresql/data/postmaster.pid").strip()
            compose.exec("pgmaster", "kill", "-9", pid)
        elif fault == "stop":
            compose("stop", "-t", "60", "pgmaster")
        elif fault == "drop":
            compose.drop("pgmaster")
        else:
            compose("pause", "pgmaster")
            time.sleep(BLIP_S if fault == "blip" else 12)  # the fault's length, not a wait for a condition
            compose("unpause", "pgmaster")
            thawed = time.monotonic()
        wait_until("writes after", lambda: writer.acked_after(began + 0.5) >= 20, timeout=180)
        if direct is not None:
            wait_until("direct writes after", lambda: direct.acked_after(began + 0.5) >= 20, timeout=180)
    finally:
        writer.stop()
        if direct is not None:
            direct.stop()
        if fault == "drop":
            compose.undrop("pgmaster")
    primary = wait_until("one primary", lambda: (p := primaries(compose, NODES)) and len(p) == 1 and p[0])
    stored = {r[0] for r in sql(compose, str(primary), f"SELECT id FROM {table}")}
    figures = {
        f"{fault}_write_gap_s": gap(writer),
        f"{fault}_lost_acked_writes": float(len(writer.ids() - stored)),
        f"{fault}_split_brain_windows": float(split_brain_windows(probes.stop_texts())),
    }
    if direct is not None:
        kept = {r[0] for r in sql(compose, str(primary), f"SELECT id FROM {table}_direct")}
        figures.update({
            f"{fault}_direct_write_gap_s": gap(direct),
            f"{fault}_direct_lost_acked_writes": float(len(direct.ids() - kept)),
            # > 0: writes came back through pgpool that much later than on the nodes themselves
            f"{fault}_pool_after_direct_s": resumed(writer, began) - resumed(direct, began),
        })  # fmt: skip
    if fault == "blip":
        thaw = thawed - began  # docker's pause and unpause take a moment each: counted from the unpause's return
        figures.update({f"{fault}_pool_after_thaw_s": resumed(writer, began) - thaw,
                        f"{fault}_direct_after_thaw_s": resumed(direct, began) - thaw if direct else 0.0})  # fmt: skip
    if fault == "freeze":
        figures[f"{fault}_failed_over"] = float(primary != "pgmaster")  # 0: the thawed primary went on
    if fault in ("drop", "freeze") and primary != "pgmaster":  # a standby was promoted: its flight record
        record = wait_until("the flight record", lambda: flight_record(compose, str(primary)), timeout=60)
        figures.update({f"{fault}_recorded_{name}_s": seconds for name, seconds in phases(record)})
    return figures


FAULTS = ("kill9", "stop", "drop", "freeze", "blip")
BLIP_S = 1.5


def chosen_faults(known: tuple[str, ...] = FAULTS) -> list[str]:
    """--faults a,b: the faults to run, all of `known` by default."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--faults", default=",".join(known), help="a comma list of " + ", ".join(known))
    names = parser.parse_known_args()[0].faults.split(",")
    unknown = sorted(set(names) - set(known))
    if unknown:
        parser.error(f"--faults: found {unknown}; expected some of {', '.join(known)}")
    return names


LOGS = Path(__file__).with_name("results") / "fault-logs"  # not in git


def save_logs(compose: Compose, services: list[str], fault: str) -> None:
    """A run that did not end as expected keeps its containers' logs: the why of a bench failure."""
    folder = LOGS / f"{fault}-{time.strftime('%Y%m%d-%H%M%S')}"
    folder.mkdir(parents=True, exist_ok=True)
    for service in services:
        (folder / f"{service}.log").write_text(compose.logs(service))
    print(f"{fault}: failed; the containers' logs are in {folder}", flush=True)


def one_run() -> dict[str, float]:
    figures: dict[str, float] = {}
    for fault in chosen_faults():
        services = [*NODES, "pgpool"] if fault in ("freeze", "blip") else NODES
        env = {"POSTDOCK_CONSISTENCY_MODE": "partial"} if fault in ("freeze", "blip") else None
        compose = Compose(env=env) if env else Compose()
        try:
            compose("up", "-d", *services)
            settled(compose, services)
            figures.update(measure(compose, fault, f"acked_{fault}"))
        except AssertionError:
            save_logs(compose, services, fault)
            raise
        finally:
            compose.down()
    return figures


def main() -> None:
    names = chosen_faults()
    # A subset gets its own results file: the full table stays whole.
    run_and_report("faults" if names == list(FAULTS) else "faults-" + "-".join(names), one_run, __doc__ or "")


if __name__ == "__main__":
    main()
