"""Docker Swarm: docker-compose/stack.yml deployed by scripts/swarm.sh on a one-node swarm (made for
the module and left again when the engine was in none): the seed topology comes up over the overlay
network, a write through pgpool's published port reaches every standby, a killed primary task is
failed over and comes back as a standby when swarm restarts it, and `docker service inspect` shows
no secret.

The scenarios run in order on one stack; each leaves it healthy for the next."""

import os
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e import conftest
from tests.e2e.harness import APP, IMAGE, ROOT, cluster_tls, make_key_pair, sh, swarm_secrets, wait_until
from tests.e2e.writer import Writer

NODES = ["pgmaster", "pgslave1", "pgslave2", "pgslave3", "pgslave4"]
FIRST_LEVEL = ["pgmaster", "pgslave1", "pgslave3"]
SERVICES = [*NODES, "pgpool", "backup"]
START = 300


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Stack:
    """One deployed stack; a service's container is looked up by swarm's labels each time (swarm
    replaces a task's container when it restarts it)."""

    def __init__(self, project: str, env: dict[str, str]) -> None:
        self.project = project
        self.env = env
        self.pool_port = int(env["POSTDOCK_POOL_PORT"])

    def container(self, service: str) -> str | None:
        found = sh("docker", "ps", "-q", "-f", f"label=com.docker.swarm.service.name={self.project}_{service}")
        return found.split()[0] if found.split() else None

    def exec(self, service: str, *cmd: str, user: str = "root", check: bool = True) -> str:
        container = self.container(service)
        if container is None:
            if check:
                raise AssertionError(f"no running task of {service}")
            return ""
        return sh("docker", "exec", "-u", user, container, *cmd, check=check)

    def healthy(self, service: str) -> bool:
        """`postdock health` (readiness) passes in the service's task."""
        container = self.container(service)
        done = subprocess.run(["docker", "exec", container or "-", "postdock", "health"], capture_output=True)
        return container is not None and done.returncode == 0

    def psql(self, service: str, query: str) -> str | None:
        """SQL through the node's own socket (the overlay network is not reachable from the host)."""
        out = self.exec(service, "psql", "-XAtq", "-d", APP["dbname"], "-c", query, user="postgres", check=False)
        return out.strip() or None

    def is_primary(self, service: str) -> bool:
        return self.psql(service, "SELECT pg_is_in_recovery()") == "f"

    def primaries(self) -> list[str]:
        return [n for n in FIRST_LEVEL if self.is_primary(n)]

    def children(self, service: str) -> set[str]:
        out = self.psql(service, "SELECT application_name FROM pg_stat_replication WHERE state = 'streaming'")
        return set((out or "").split())

    def logs(self, service: str) -> str:
        return sh("docker", "service", "logs", "--raw", "--tail", "2000", f"{self.project}_{service}", check=False)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    home = tmp_path_factory.mktemp("swarm")
    secrets = swarm_secrets(home / "secrets")
    env = {
        "POSTDOCK_IMAGE": IMAGE,
        "POSTDOCK_SSH_KEYS": str(make_key_pair(home / "ssh")),
        "POSTDOCK_TLS_DIR": str(cluster_tls()),
        "POSTDOCK_SECRETS": str(secrets),
        "POSTDOCK_POOL_PORT": str(free_port()),
        "XDG_CONFIG_HOME": str(home),
    }
    joined = sh("docker", "info", "--format", "{{.Swarm.LocalNodeState}}").strip() == "active"
    project = f"pds{uuid.uuid4().hex[:6]}"
    stack = Stack(project, env)
    try:
        sh("bash", str(ROOT / "scripts" / "swarm.sh"), "up", project, env={**os.environ, **env})
        conftest._live[project] = (stack, SERVICES)  # type: ignore[assignment]  # logs on any failure
        yield stack
    finally:
        conftest._live.pop(project, None)
        sh("bash", str(ROOT / "scripts" / "swarm.sh"), "down", project, check=False)
        wait_until("the stack's containers gone", lambda: not sh(
            "docker", "ps", "-aq", "-f", f"label=com.docker.stack.namespace={project}"), timeout=120)  # fmt: skip
        volumes = sh("docker", "volume", "ls", "-q", "-f", f"label=com.docker.stack.namespace={project}").split()
        if volumes:
            sh("docker", "volume", "rm", *volumes, check=False)
        if not joined:
            sh("docker", "swarm", "leave", "--force", check=False)


def test_the_stack_comes_up_with_the_seed_topology_over_the_overlay_network(stack: Stack) -> None:
    wait_until("pgmaster primary", lambda: stack.is_primary("pgmaster"), timeout=START)
    wait_until("both first-level standbys streaming from pgmaster",
               lambda: {"node2", "node4"} <= stack.children("pgmaster"), timeout=START)  # fmt: skip
    wait_until("pgslave2 under pgslave1", lambda: "node3" in stack.children("pgslave1"), timeout=START)
    wait_until("pgslave4 under pgslave3", lambda: "node5" in stack.children("pgslave3"), timeout=START)
    assert stack.primaries() == ["pgmaster"]
    # A first-level standby registers (becomes a lease member) only once pgmaster reaches it by name:
    # swarm publishes the name only once the task is healthy.
    for standby in ("pgslave1", "pgslave3"):
        assert f"before registering: pgmaster reaches {standby}" in stack.logs(standby)
    # Names resolve from task to task, to the task itself (endpoint_mode dnsrr, no virtual IP).
    own = stack.exec("pgslave1", "hostname", "-i").split()
    assert stack.exec("pgmaster", "getent", "hosts", "pgslave1").split()[0] in own


def test_a_write_through_pgpools_published_port_reaches_every_standby(stack: Stack) -> None:
    # Made through the socket (as postgres), written by the application user through pgpool.
    stack.psql(
        "pgmaster", "CREATE TABLE IF NOT EXISTS acked (id int PRIMARY KEY); ALTER TABLE acked OWNER TO monkey_user"
    )
    wait_until("pgpool healthy", lambda: stack.healthy("pgpool"), timeout=START)
    writer = Writer(lambda: ["127.0.0.1"], session_attrs="any", port=stack.pool_port).start()
    try:
        wait_until("20 writes through pgpool", lambda: len(writer.acked) >= 20, timeout=120)
    finally:
        writer.stop()
    last = max(writer.ids())
    for node in NODES:
        wait_until(f"write {last} on {node}", lambda n=node: stack.psql(n, f"SELECT 1 FROM acked WHERE id = {last}")
                   == "1", timeout=60)  # fmt: skip


def test_secrets_never_appear_in_docker_service_inspect(stack: Stack) -> None:
    names = ("replication_password", "control_key", "pcp_password", "check_password", "barman_password")
    values = [Path(stack.env["POSTDOCK_SECRETS"], n).read_text() for n in names]
    values.append(APP["password"])
    values.append("".join(Path(stack.env["POSTDOCK_SSH_KEYS"], "id_ed25519").read_text().splitlines()[1:-1]))
    for service in SERVICES:
        inspected = sh("docker", "service", "inspect", f"{stack.project}_{service}")
        assert "/run/secrets" in inspected
        for value in values:
            assert value not in inspected, f"a secret in docker service inspect of {service}"


def test_a_killed_primary_task_is_failed_over_and_rejoins_when_swarm_restarts_it(stack: Stack) -> None:
    writer = Writer(lambda: ["127.0.0.1"], session_attrs="any", port=stack.pool_port).start()
    try:
        wait_until("20 writes through pgpool", lambda: len(writer.acked) >= 20, timeout=120)
        old = stack.container("pgmaster")
        assert old is not None
        sh("docker", "kill", old)
        killed = time.monotonic()
        new = wait_until("a first-level standby promoted",
                         lambda: (p := [n for n in ("pgslave1", "pgslave3") if stack.is_primary(n)]) and p[0],
                         timeout=120)  # fmt: skip
        wait_until("writes through pgpool after the failover", lambda: writer.acked_after(killed + 1) >= 20,
                   timeout=120)  # fmt: skip
    finally:
        writer.stop()
    # swarm starts a new task for pgmaster (restart_policy any) on the same volume: it rejoins.
    wait_until("pgmaster's task replaced", lambda: (c := stack.container("pgmaster")) and c != old, timeout=120)
    wait_until(f"pgmaster streaming from {new}", lambda: "node1" in stack.children(str(new)), timeout=START)
    assert stack.primaries() == [new]
    stored = set((stack.psql(str(new), "SELECT id FROM acked") or "").split())
    assert {str(i) for i in writer.ids()} - stored == set(), "acknowledged writes missing after the failover"
