"""Docker Swarm across three engines (the multi-engine run of the swarm issue). Each engine is Debian
13's docker.io in a container with every capability this machine grants (bench/swarm/Dockerfile) on
one bridge network; the three
join one swarm as managers (two of them keep it running while the third does not answer), the
postdock image is loaded into each, and docker-compose/stack.yml is deployed with the nodes placed by
label, with bench/swarm/placement.yml on top (pgpool placed too, each first-level node's port
published on its engine so that a writer reaches the nodes directly as well as through pgpool):

    engine1: pgmaster    engine2: pgslave1, pgslave2, pgpool, backup    engine3: pgslave3, pgslave4

Each run deploys a fresh stack and applies two faults to the engine of the primary:

- kill: the primary's task container killed on its engine; swarm starts a new task on its volume;
- pause: the primary's whole engine paused (`docker pause` of the engine's container: a host that
  stops answering, engine and tasks alike) until a new primary has taken direct writes for 10 s,
  then resumed. With the primary on pgpool's engine, a switchover to pgslave3 comes first
  (pausing that engine would stop pgpool as well).

Figures per fault, for a writer through pgpool and one direct (libpq multi-host, read-write), each
committing every 100 ms and giving a write up to 2 s (a frozen node's kernel still answers TCP): the
outage (last write acknowledged before the fault to the first after it), the longest gap between
writes after the outage and before the fault, acknowledged writes lost, and how long after the kill
or the resume the old primary streams from the new one.

Run: .venv/bin/python -m bench.swarm_engines --runs 3 [--keep] [--reuse]   (builds postdock/bench-engine; the
postdock image must be built). Figures are printed and written to bench/results/swarm-engines.json;
nothing asserts a time. The engines are removed at the end unless --keep; --reuse skips making them.

Found on the first run: on a fresh stack the primary may fence itself once at start. A standby that
registers before swarm's DNS publishes its name (only a healthy task's name is published) is a
member the primary cannot reach, and with two members registered it has no majority; the standby,
whose own approval is enough in a two-member cluster, is promoted instead. No two primaries (the
lease), but a failover nobody needed. Since then a first-level standby registers only once its
primary's agent reaches it by name (programs/bootstrap.py await_reached)."""

import argparse
import json
import shutil
import subprocess
import time
import uuid
from pathlib import Path

from bench.failover import run_and_report
from bench.faults import longest_gap
from tests.e2e.harness import APP, IMAGE, ROOT, cluster_tls, make_key_pair, sh, swarm_secrets, wait_until
from tests.e2e.writer import Writer

HERE = Path(__file__).with_name("swarm")
ENGINE_IMAGE = "postdock/bench-engine:latest"
NETWORK = "pdsw-net"
ENGINES = ("pdsw-e1", "pdsw-e2", "pdsw-e3")
PLACED = {
    "pdsw-e1": ("pgmaster",),
    "pdsw-e2": ("pgslave1", "pgslave2", "pgpool", "backup"),
    "pdsw-e3": ("pgslave3", "pgslave4"),
}
POOL_ENGINE = "pdsw-e2"
FIRST_LEVEL = ("pgmaster", "pgslave1", "pgslave3")
NAME = {"pgmaster": "node1", "pgslave1": "node2", "pgslave3": "node4"}
POOL_PORT = 5430
SERVICES = ("pgmaster", "pgslave1", "pgslave2", "pgslave3", "pgslave4", "pgpool", "backup")
LOGS = Path(__file__).with_name("results") / "swarm-logs"  # not in git: bench/results/swarm-logs/<stack>/
STATE = Path("/tmp/postdock-bench-swarm")  # keys, secrets: mounted into engine 1 at the same path
START = 600
# What --privileged would give, less CAP_SYS_RESOURCE: this machine's bounding set lacks it, and runc
# then refuses a privileged container ("unable to apply caps: operation not permitted"). The cgroup
# hierarchy is mounted writable; bench/swarm/start.sh puts the engine's containers below its own group.
ENGINE_RIGHTS = (
    "--cap-add", "ALL", "--cap-drop", "SYS_RESOURCE", "--security-opt", "seccomp=unconfined",
    "--security-opt", "apparmor=unconfined", "--security-opt", "systempaths=unconfined",
    "-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw",
)  # fmt: skip


def on(engine: str, *cmd: str, check: bool = True) -> str:
    return sh("docker", "exec", engine, "docker", *cmd, check=check)


def address(engine: str) -> str:
    return sh(
        "docker", "inspect", "-f", f'{{{{(index .NetworkSettings.Networks "{NETWORK}").IPAddress}}}}', engine
    ).strip()


def paused(engine: str) -> bool:
    return sh("docker", "inspect", "-f", "{{.State.Paused}}", engine).strip() == "true"


def make_secrets() -> None:
    shutil.rmtree(STATE, ignore_errors=True)
    swarm_secrets(STATE / "secrets")
    make_key_pair(STATE / "ssh")
    shutil.copytree(cluster_tls(), STATE / "tls")


def start_engines() -> None:
    """Three fresh engines in one swarm, each with the postdock image and its labels."""
    remove_engines()
    sh("docker", "build", "-q", "-t", ENGINE_IMAGE, str(HERE))
    sh("docker", "network", "create", NETWORK)
    make_secrets()
    for number, engine in enumerate(ENGINES, 1):
        sh("docker", "run", "-d", *ENGINE_RIGHTS, "--name", engine, "--hostname", f"engine{number}",
           "--network", NETWORK, "-v", f"{engine}-docker:/var/lib/docker", "-v", f"{ROOT}:{ROOT}:ro",
           "-v", f"{STATE}:{STATE}:ro", ENGINE_IMAGE)  # fmt: skip
    for engine in ENGINES:
        wait_until(f"{engine}'s dockerd", lambda e=engine: on(e, "info", "--format", "{{.ID}}", check=False).strip())
        subprocess.run(f"docker save {IMAGE} | docker exec -i {engine} docker load", shell=True, check=True,
                       capture_output=True)  # fmt: skip
    first = ENGINES[0]
    on(first, "swarm", "init", "--advertise-addr", address(first))
    token = on(first, "swarm", "join-token", "-q", "manager").strip()
    for engine in ENGINES[1:]:
        on(engine, "swarm", "join", "--token", token, f"{address(first)}:2377")
    for number, engine in enumerate(ENGINES, 1):
        for service in PLACED[engine]:
            on(first, "node", "update", "--label-add", f"postdock.{service}=true", f"engine{number}")


def remove_engines() -> None:
    for engine in ENGINES:
        sh("docker", "rm", "-f", "-v", engine, check=False)
        sh("docker", "volume", "rm", f"{engine}-docker", check=False)
    sh("docker", "network", "rm", NETWORK, check=False)


class Stack:
    def __init__(self) -> None:
        self.project = f"pdsw{uuid.uuid4().hex[:6]}"

    def deploy(self) -> None:
        env = {"POSTDOCK_IMAGE": IMAGE, "POSTDOCK_SECRETS": str(STATE / "secrets"),
               "POSTDOCK_SSH_KEYS": str(STATE / "ssh"), "POSTDOCK_TLS_DIR": str(STATE / "tls"),
               "POSTDOCK_POOL_PORT": str(POOL_PORT)}  # fmt: skip
        flags = [arg for key, value in env.items() for arg in ("-e", f"{key}={value}")]
        files = ["-c", str(ROOT / "docker-compose" / "stack.yml"), "-c", str(HERE / "placement.yml")]
        sh("docker", "exec", *flags, ENGINES[0], "docker", "stack", "deploy", "--resolve-image", "never", *files,
           self.project)  # fmt: skip

    def save_logs(self, directory: Path) -> None:
        """Every service's log, timestamped, kept after the stack is gone: the figures' why."""
        directory.mkdir(parents=True, exist_ok=True)
        for service in SERVICES:
            # The tasks' standard error (postgres, repmgrd) too, in one stream. Bounded: `service logs`
            # waited for ever once (10 min) on a task whose engine had been paused and resumed.
            command = f"timeout 60 docker service logs --timestamps --no-trunc {self.project}_{service} 2>&1"
            text = sh("docker", "exec", ENGINES[0], "sh", "-c", command, check=False)
            (directory / f"{service}.log").write_text(text)

    def remove(self) -> None:
        on(ENGINES[0], "stack", "rm", self.project, check=False)
        label = f"label=com.docker.stack.namespace={self.project}"
        for engine in ENGINES:
            gone = lambda e=engine: not on(e, "ps", "-aq", "-f", label, check=False).strip()  # noqa: E731
            wait_until(f"the stack's containers gone from {engine}", gone, timeout=180)
            volumes = on(engine, "volume", "ls", "-q", "-f", label, check=False).split()
            if volumes:
                on(engine, "volume", "rm", *volumes, check=False)

    def task(self, service: str) -> tuple[str, str] | None:
        """(engine, container) of the service's running task; a paused engine is not asked."""
        for engine in ENGINES:
            if paused(engine):
                continue
            found = on(engine, "ps", "-q", "-f", f"label=com.docker.swarm.service.name={self.project}_{service}",
                       check=False).split()  # fmt: skip
            if found:
                return engine, found[0]
        return None

    def run(self, service: str, *cmd: str, user: str = "postgres") -> str:
        where = self.task(service)
        if where is None:
            return ""
        return on(where[0], "exec", "-u", user, where[1], *cmd, check=False)

    def psql(self, service: str, query: str) -> str:
        return self.run(service, "psql", "-XAtq", "-d", APP["dbname"], "-c", query).strip()

    def primaries(self) -> list[str]:
        return [n for n in FIRST_LEVEL if self.psql(n, "SELECT pg_is_in_recovery()") == "f"]

    def children(self, service: str) -> set[str]:
        return set(self.psql(service, "SELECT application_name FROM pg_stat_replication WHERE state = 'streaming'")
                   .split())  # fmt: skip

    def engine_of(self, service: str) -> str:
        where = self.task(service)
        assert where is not None, f"no running task of {service}"
        return where[0]

    def settled(self) -> str:
        """The one primary, once the other first-level nodes stream from it and pgpool is healthy."""

        def one_followed() -> str | None:  # asked afresh each time: the primary may change meanwhile
            found = self.primaries()
            if len(found) != 1:
                return None
            others = {NAME[n] for n in FIRST_LEVEL if n != found[0]}
            return found[0] if others <= self.children(found[0]) else None

        primary = str(wait_until("one primary, the other first-level nodes streaming from it", one_followed,
                                 timeout=START))  # fmt: skip
        wait_until("pgpool healthy", lambda: self.healthy("pgpool"), timeout=START)
        return primary

    def healthy(self, service: str) -> bool:
        """`postdock health` (readiness) passes in the service's task."""
        where = self.task(service)
        if where is None:
            return False
        argv = ["docker", "exec", where[0], "docker", "exec", where[1], "postdock", "health"]
        return subprocess.run(argv, capture_output=True).returncode == 0

    def writers(self, fault: str, primary: str) -> tuple[Writer, Writer]:
        """Two writers on tables of their own: a Writer numbers its rows from 1, so a table shared with
        an earlier fault's writer refuses its first rows as duplicates (a gap that is no outage)."""
        tables = (f"acked_{fault}", f"acked_direct_{fault}")
        for table in tables:
            self.psql(primary, f"CREATE TABLE {table} (id int PRIMARY KEY); ALTER TABLE {table} OWNER TO {APP['user']}")
        # A write may take 2 s at most: one to a frozen primary is given up, and the writer reconnects.
        through_pool = Writer(lambda: [address(POOL_ENGINE)], session_attrs="any", port=POOL_PORT, table=tables[0],
                              deadline=2.0)  # fmt: skip
        direct = Writer(lambda: [address(e) for e in ENGINES if not paused(e)], table=tables[1], deadline=2.0)
        return through_pool.start(), direct.start()


def outage(writer: Writer, fault_at: float) -> float:
    """From the last write acknowledged before the fault to the first one after it."""
    before = max(w.at for w in writer.acked if w.at <= fault_at)
    return min(w.at for w in writer.acked if w.at > fault_at) - before


def timeline(stack: Stack, name: str, fault_at: float, resumed_at: float, writers: dict[str, Writer]) -> None:
    """Each writer's longest gap after the outage, with the errors it met inside it, printed and kept
    beside the stack's logs (times in seconds after the fault; the resume too): what a gap was."""
    record: dict[str, object] = {"fault": name, "resumed_s": resumed_at - fault_at}
    for label, writer in writers.items():
        acked = sorted(x.at for x in writer.acked if x.at > fault_at)
        starts = [(b - a, a, b) for a, b in zip(acked, acked[1:], strict=False)]
        outage_end = acked[0] if acked else fault_at
        gap, begin, end = max((g for g in starts if g[1] >= outage_end), default=(0.0, fault_at, fault_at))
        after = [(round(when - fault_at, 2), cause[:160]) for when, cause in writer.errors if when > fault_at]
        inside = [(when, cause) for when, cause in after if begin - fault_at <= when <= end - fault_at]
        record[label] = {"longest_gap_s": gap, "from_s": begin - fault_at, "to_s": end - fault_at,
                         "errors_in_gap": inside, "errors_after_fault": after}  # fmt: skip
        print(f"  {name}/{label}: longest gap {gap:.1f}s from +{begin - fault_at:.1f}s "
              f"(resume +{resumed_at - fault_at:.1f}s); errors in it: {sorted({c for _, c in inside})}",
              flush=True)  # fmt: skip
    out = LOGS / stack.project
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}-writers.json").write_text(json.dumps(record, indent=1))


def lost(stack: Stack, primary: str, *writers: Writer) -> int:
    missing = 0
    for writer in writers:
        stored = set(stack.psql(primary, f"SELECT id FROM {writer.table}").split())
        missing += len({str(i) for i in writer.ids()} - stored)
    return missing


def fault(stack: Stack, name: str) -> dict[str, float]:
    primary = stack.settled()
    if name == "pause" and stack.engine_of(primary) == POOL_ENGINE:
        stack.run("pgslave3", "postdock", "switchover", "--to", "pgslave3")
        primary = stack.settled()
    engine = stack.engine_of(primary)
    pool, direct = stack.writers(name, primary)
    try:
        wait_until("20 writes each way", lambda: len(pool.acked) >= 20 and len(direct.acked) >= 20)
        if name == "kill":
            where = stack.task(primary)
            assert where is not None
            on(engine, "kill", where[1])
        else:
            sh("docker", "pause", engine)
        at = fault_at = time.monotonic()
        new = str(wait_until("a new primary", lambda: (p := [n for n in stack.primaries() if n != primary]) and p[0],
                             timeout=START))  # fmt: skip
        wait_until("10 s of direct writes on it", lambda: direct.acked_after(at) >= 100, timeout=START)
        if name == "pause":
            # Resumed after 10 s of writes on the new primary: the thawed old primary must then
            # acknowledge nothing and rejoin, while writes go on.
            sh("docker", "unpause", engine)
            at = time.monotonic()
        wait_until("writes through pgpool", lambda: pool.acked_after(at) >= 20, timeout=START)
        for label, writer in (("pool", pool), ("direct", direct)):
            seen = sorted({cause[:90] for when, cause in writer.errors if when > fault_at})
            print(f"  {name}/{label}: errors after the fault: {seen}", flush=True)
    finally:
        pool.stop()
        direct.stop()
    timeline(stack, name, fault_at, at, {"pool": pool, "direct": direct})
    rejoined = wait_until(f"{primary} streaming from {new}",
                          lambda: NAME[primary] in stack.children(new) and time.monotonic(), timeout=START)  # fmt: skip
    assert stack.primaries() == [new], f"primaries after the {name}: {stack.primaries()}"
    writers = (pool, direct)
    return {
        f"{name}_pool_outage_s": outage(pool, fault_at),
        f"{name}_direct_outage_s": outage(direct, fault_at),
        # After the outage (from the first write after the fault on) and before the fault.
        f"{name}_longest_gap_after_s": max(longest_gap([x.at for x in w.acked if x.at > fault_at]) for w in writers),
        f"{name}_longest_gap_before_s": max(longest_gap([x.at for x in w.acked if x.at <= fault_at]) for w in writers),
        f"{name}_rejoin_s": rejoined - at,
        f"{name}_lost_acked_writes": float(lost(stack, new, pool, direct)),
    }


def one_run() -> dict[str, float]:
    stack = Stack()
    try:
        stack.deploy()
        stack.settled()
        return {**fault(stack, "kill"), **fault(stack, "pause")}
    finally:
        for engine in ENGINES:
            if paused(engine):
                sh("docker", "unpause", engine, check=False)
        stack.save_logs(LOGS / stack.project)
        stack.remove()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--keep", action="store_true", help="leave the engines running at the end")
    parser.add_argument("--reuse", action="store_true", help="use the engines a --keep run left")
    options = parser.parse_known_args()[0]
    keep = options.keep
    if not options.reuse:
        start_engines()
    try:
        run_and_report("swarm-engines", one_run, __doc__ or "")
    finally:
        if not keep:
            remove_engines()


if __name__ == "__main__":
    main()
