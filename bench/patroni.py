"""The same writer and faults against Patroni, for the ratio in the README: Debian 13's patroni
(4.0) with one etcd and three PostgreSQL 17 nodes, at the tightest timing Patroni 4 accepts (ttl 20,
loop_wait 2, retry_timeout 4; bench/patroni/start.sh), over several fresh clusters:

- kill: the leader's container `docker kill`ed, stamped before the call, until the first write
  committed on another node (bench/failover.py's figure for ours);
- drop: every packet to and from the leader dropped, the longest gap between two acknowledged writes
  (bench/faults.py's figure for ours);
- kill9: the leader's postmaster `kill -9`ed, its container alive (Patroni restarts it in place), the
  longest write gap (bench/faults.py's kill9);
- stop: the leader's container `docker stop`ped (Patroni releases its leader key on shutdown), the
  longest write gap (bench/faults.py's stop);
- acknowledged writes lost in each.
Our freeze figure has no counterpart here: it is measured through pgpool, which this cluster lacks.

Run: .venv/bin/python -m bench.patroni --runs 5 [--faults kill9,stop]   (builds postdock/bench-patroni
from bench/patroni/). Figures are printed, compared with bench/results/failover.json and faults.json,
and written to bench/results/patroni.json (patroni-<faults>.json for a subset); nothing here asserts a
time."""

import json
import time
from pathlib import Path

from bench.failover import moved, run_and_report
from bench.faults import chosen_faults, gap
from tests.e2e.harness import APP, Compose, addresses, sh, sql, wait_until
from tests.e2e.writer import Writer

HERE = Path(__file__).with_name("patroni")
IMAGE = "postdock/bench-patroni:latest"
NODES = ["pat1", "pat2", "pat3"]
PSQL = ["/usr/lib/postgresql/17/bin/psql", "-h", "/tmp", "-XAtq", "-d", "postgres", "-c"]


def local(compose: Compose, node: str, query: str) -> str | None:
    out = sh("docker", "exec", compose.container(node), *PSQL, query, check=False)
    return out.strip() or None


def the_leader(compose: Compose) -> str | None:
    found = [n for n in NODES if local(compose, n, "SELECT pg_is_in_recovery()") == "f"]
    return found[0] if len(found) == 1 else None


def ready(compose: Compose) -> str:
    """A fresh cluster: the leader with two streaming replicas and the writer's role and database."""
    compose("up", "-d", "etcd", *NODES)
    leader = wait_until("a Patroni leader", lambda: the_leader(compose), timeout=300)
    wait_until(
        "two replicas streaming",
        lambda: local(compose, leader, "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'") == "2",
        timeout=300,
    )
    user, password, dbname = APP["user"], APP["password"], APP["dbname"]
    local(compose, leader, f"CREATE ROLE {user} LOGIN PASSWORD '{password}'")
    local(compose, leader, f"CREATE DATABASE {dbname} OWNER {user}")
    sql(compose, leader, "CREATE TABLE acked (id int PRIMARY KEY)")
    return leader


def measure(fault: str) -> dict[str, float]:
    compose = Compose(file=HERE / "compose.yml")
    leader, dropped = "", False
    try:
        leader = ready(compose)
        writer = Writer(lambda: addresses(compose, NODES)).start()
        try:
            wait_until("40 acknowledged writes", lambda: len(writer.acked) >= 40, timeout=120)
            victim, old_address = compose.container(leader), compose.ip(leader)
            began = time.monotonic()  # before the call: an upper bound, as for ours
            if fault == "kill":
                sh("docker", "kill", victim)
            elif fault == "drop":
                compose.drop(leader)
                dropped = True
            elif fault == "kill9":
                sh("docker", "exec", victim, "sh", "-c", "kill -9 $(head -1 /var/lib/postgresql/data/postmaster.pid)")
            else:
                sh("docker", "stop", "-t", "60", victim)
            if fault in ("kill", "drop"):
                wait_until("writes on another node", lambda: moved(writer, old_address) >= 20, timeout=300, every=0.2)
            else:  # the leader may stay where it was (kill9) or hand over (stop)
                wait_until("writes after", lambda: writer.acked_after(began + 0.5) >= 20, timeout=300, every=0.2)
        finally:
            writer.stop()
        first_elsewhere = min((w.at for w in writer.acked if w.host != old_address), default=began) - began
        figure = first_elsewhere if fault == "kill" else gap(writer)
        now = wait_until("one leader", lambda: the_leader(compose), timeout=60)
        stored = {r[0] for r in sql(compose, str(now), "SELECT id FROM acked")}
        return {f"{fault}_s": figure, f"{fault}_lost_acked_writes": float(len(writer.ids() - stored))}
    finally:
        if dropped:
            compose.undrop(leader)
        compose.down()


FAULTS = ("kill", "drop", "kill9", "stop")


def one_run() -> dict[str, float]:
    figures: dict[str, float] = {}
    for fault in chosen_faults(FAULTS):
        figures.update(measure(fault))
    return figures


def ours() -> dict[str, float]:
    """Our medians for the same figures, from the last runs of bench.failover and bench.faults."""
    results = Path(__file__).with_name("results")
    failover = json.loads((results / "failover.json").read_text())["summary"]
    faults = json.loads((results / "faults.json").read_text())["summary"]
    return {
        "kill_s": failover["failover_s"]["median"],
        "drop_s": faults["drop_write_gap_s"]["median"],
        "kill9_s": faults["kill9_write_gap_s"]["median"],
        "stop_s": faults["stop_write_gap_s"]["median"],
    }


def main() -> None:
    names = chosen_faults(FAULTS)
    name = "patroni" if names == list(FAULTS) else "patroni-" + "-".join(names)
    sh("docker", "build", "-q", "-t", IMAGE, str(HERE))
    run_and_report(name, one_run, __doc__ or "")
    theirs = json.loads(Path(__file__).with_name("results").joinpath(f"{name}.json").read_text())["summary"]
    print("| fault | postdock median (s) | Patroni median (s) | ratio postdock / Patroni |\n|---|---|---|---|")
    for key, mine in ours().items():
        if key in theirs:
            print(f"| {key[:-2]} | {mine:.2f} | {theirs[key]['median']:.2f} | {mine / theirs[key]['median']:.2f} |")


if __name__ == "__main__":
    main()
