"""Drive real containers: docker-compose projects, SQL from the host to container addresses,
and waiting on conditions with deadlines (never a fixed sleep)."""

import functools
import json
import os
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import psycopg
import yaml

from postdock_supervisor import healing, paths
from postdock_supervisor.model.failover import FailoverRecord

ROOT = Path(__file__).resolve().parents[2]
IMAGE = os.environ.get("POSTDOCK_IMAGE", "postdock/postdock:latest")
SEED = ROOT / "docker-compose" / "latest.yml"
APP = {"user": "monkey_user", "password": "monkey_pass", "dbname": "monkey_db"}
# The application user is no superuser: what it may not see or do (pg_stat_replication's details,
# the WAL receiver's status, untrusted extensions, subscriptions) the tests do as the replication
# superuser, as an operator would.
ADMIN = {"user": "replication_user", "password": "replication_pass"}
T = TypeVar("T")


def sh(*argv: str, check: bool = True, timeout: float = 600, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})})
    if check and done.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return done.stdout


def wait_until(what: str, probe: Callable[[], T | None], timeout: float = 120, every: float = 0.5) -> T:
    """Poll probe until it returns something truthy; fail naming what was awaited and the last value."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = probe()
        except Exception as exc:  # noqa: BLE001 - a probe failing is "not yet"
            last = exc
        else:
            if last:
                return last
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last observation: {last!r}")


def without_published_ports(source: Path) -> Path:
    """The same compose file minus `ports:`, so tests never depend on (or take) host ports."""
    document = yaml.safe_load(source.read_text())
    for service in document.get("services", {}).values():
        service.pop("ports", None)
    target = Path(tempfile.mkdtemp(prefix="postdock-e2e-")) / source.name
    target.write_text(yaml.safe_dump(document, sort_keys=False))
    return target


class Compose:
    """One docker-compose project; names are looked up, never guessed (v1 and v2 differ)."""

    def __init__(self, file: Path = SEED, project: str | None = None, env: dict[str, str] | None = None) -> None:
        self.file = without_published_ports(file)
        self.project = project or f"pdt{uuid.uuid4().hex[:8]}"
        self._network: str | None = None
        self.ids: dict[str, str] = {}  # service -> container id, remembered by addresses()
        self.env = {
            "POSTDOCK_IMAGE": IMAGE,
            "POSTDOCK_SSH_KEYS": str(self.file.parent / "ssh"),
            # The authority is mounted everywhere; TLS itself is on where a scenario asks (test_tls).
            "POSTDOCK_TLS_DIR": str(cluster_tls()),
            **(env or {}),
        }

    def __call__(self, *args: str, check: bool = True, timeout: float = 600) -> str:
        return sh(
            "docker-compose",
            "-p",
            self.project,
            "-f",
            str(self.file),
            *args,
            check=check,
            timeout=timeout,
            env=self.env,
        )

    def container(self, service: str) -> str:
        cid = self("ps", "-q", service).strip()
        assert cid, f"no container for {service}"
        return cid

    def ip(self, service: str) -> str:
        info = json.loads(sh("docker", "inspect", self.container(service)))[0]
        for network in info["NetworkSettings"]["Networks"].values():
            if network.get("IPAddress"):
                return str(network["IPAddress"])
        raise AssertionError(f"{service} has no address (not running?)")

    def network(self) -> str:
        """The compose network the nodes share (the only one: a partition must cut every path)."""
        if self._network is None:
            # Containers of the project, not services of the file: some services may never be started.
            names = {
                n
                for cid in self("ps", "-q").split()
                for n in json.loads(sh("docker", "inspect", cid))[0]["NetworkSettings"]["Networks"]
            }
            [self._network] = names
        return self._network

    def disconnect(self, service: str) -> None:
        """Cut the service off the cluster network (its only path to the others)."""
        network = self.network()
        sh("docker", "network", "disconnect", network, self.container(service))

    def _netns(self, service: str, *rule: str) -> None:
        pid = sh("docker", "inspect", "-f", "{{.State.Pid}}", self.container(service)).strip()
        sh("nsenter", "-t", pid, "-n", "iptables", *rule)

    def drop(self, service: str) -> None:
        """Drop every packet in and out of the service, loopback aside: names still resolve and
        connections time out instead of being refused (the hard kind of partition)."""
        self._netns(service, "-I", "INPUT", "!", "-i", "lo", "-j", "DROP")
        self._netns(service, "-I", "OUTPUT", "!", "-o", "lo", "-j", "DROP")

    def undrop(self, service: str) -> None:
        self._netns(service, "-D", "INPUT", "!", "-i", "lo", "-j", "DROP")
        self._netns(service, "-D", "OUTPUT", "!", "-o", "lo", "-j", "DROP")

    def drop_from(self, service: str, address: str) -> None:
        """Drop every packet the service receives from one address (it no longer hears that node)."""
        self._netns(service, "-I", "INPUT", "-s", address, "-j", "DROP")

    def undrop_from(self, service: str, address: str) -> None:
        self._netns(service, "-D", "INPUT", "-s", address, "-j", "DROP")

    def reconnect(self, service: str) -> None:
        # Without --alias the compose service name would no longer resolve to it.
        sh("docker", "network", "connect", "--alias", service, self.network(), self.container(service))

    def exec(self, service: str, *cmd: str, user: str = "root", check: bool = True) -> str:
        return sh("docker", "exec", "-u", user, self.container(service), *cmd, check=check)

    def repmgr(self, service: str, *args: str) -> str:
        return self.exec(service, f"{paths.PG_BIN}/repmgr", "-f", str(paths.REPMGR_CONF), *args, user="postgres")

    def logs(self, service: str) -> str:
        return self("logs", "--no-color", service, check=False)

    def down(self) -> None:
        self("down", "-v", "--remove-orphans", check=False, timeout=300)


@functools.cache
def cluster_tls() -> Path:
    """One TLS authority for the whole run, made by the example's own script with the image's openssl."""
    directory = Path(tempfile.mkdtemp(prefix="postdock-tls-"))
    sh("bash", str(ROOT / "scripts" / "cluster-tls.sh"), str(directory))
    return directory


def swarm_secrets(directory: Path) -> Path:
    """The stack's password files in `directory`. The application's password is the example's (the
    writers log in with it); the others are random, so that finding one in `docker service inspect`
    is a leak, not a secret's name."""
    directory.mkdir(parents=True, mode=0o700)
    for name, value in {
        "replication_password": f"repl-{uuid.uuid4().hex}",
        "control_key": f"control-{uuid.uuid4().hex}",
        "postgres_password": APP["password"],
        "pcp_password": f"pcp-{uuid.uuid4().hex}",
        "check_password": f"check-{uuid.uuid4().hex}",
        "barman_password": f"barman-{uuid.uuid4().hex}",
        "db_users": f"{APP['user']}:{APP['password']}",
    }.items():
        (directory / name).write_text(value)
    return directory


def make_key_pair(directory: Path) -> Path:
    """The cluster key pair, made by the example's own script with the image's ssh-keygen."""
    sh("bash", str(ROOT / "scripts" / "cluster-key.sh"), str(directory))
    return directory


def addresses(compose: Compose, services: Sequence[str]) -> list[str]:
    """Addresses of the services that have one now (a killed container has none). Writers ask at
    every reconnect: one `docker inspect` of remembered container ids, not a docker-compose call per
    service (those took about 2 s, which a writer then counted as write gap)."""
    ids = compose.ids
    for service in services:
        if service not in ids:
            found = compose("ps", "-q", service, check=False).strip()
            if found:
                ids[service] = found
    known = [s for s in services if s in ids]
    if not known:
        return []
    done = subprocess.run(["docker", "inspect", *(ids[s] for s in known)], capture_output=True, text=True)
    infos = {info["Id"]: info for info in json.loads(done.stdout or "[]")}
    found_ips = []
    for service in known:
        info = next((i for cid, i in infos.items() if cid.startswith(ids[service])), None)
        if info is None:  # removed or recreated: look its id up again next time
            del ids[service]
            continue
        ips = [n.get("IPAddress") for n in info["NetworkSettings"]["Networks"].values() if n.get("IPAddress")]
        if info["State"]["Running"] and ips:
            found_ips.append(str(ips[0]))
    return found_ips


def local_sql(compose: Compose, service: str, query: str) -> str:
    """SQL through the container's own socket: works while the container is cut off the network."""
    return compose.exec(service, "psql", "-XAtq", "-d", "monkey_db", "-c", query, user="postgres").strip()


def connect(ip: str, timeout: int = 3, **overrides: Any) -> psycopg.Connection[Any]:
    params = {**APP, **overrides}
    return psycopg.connect(host=ip, port=5432, connect_timeout=max(2, timeout), autocommit=True, **params)


def sql(
    compose: Compose, service: str, query: str, params: Sequence[Any] | None = None, *, admin: bool = False
) -> list[tuple[Any, ...]]:
    with connect(compose.ip(service), **(ADMIN if admin else {})) as conn:
        cur = conn.execute(query, params)
        return cur.fetchall() if cur.description else []


def try_sql(compose: Compose, service: str, query: str, *, admin: bool = False) -> list[tuple[Any, ...]] | None:
    try:
        return sql(compose, service, query, admin=admin)
    except (psycopg.Error, AssertionError, subprocess.SubprocessError):
        return None


def is_primary(compose: Compose, service: str) -> bool | None:
    """True/False for a node that answers; None when it does not."""
    rows = try_sql(compose, service, "SELECT pg_is_in_recovery()")
    return None if rows is None else not rows[0][0]


def primaries(compose: Compose, services: Sequence[str]) -> list[str]:
    return [s for s in services if is_primary(compose, s)]


def health_of(compose: Compose, services: Sequence[str]) -> dict[str, str]:
    """`postdock health` in each service (phase, programs not running): what a failure message needs
    when a cluster did not do what was awaited."""
    return {s: compose.exec(s, "postdock", "health", check=False).strip() for s in services}


def streaming_children(compose: Compose, service: str) -> set[str] | None:
    """application_name (repmgr node name) of every standby streaming from service."""
    rows = try_sql(
        compose, service, "SELECT application_name FROM pg_stat_replication WHERE state = 'streaming'", admin=True
    )
    return None if rows is None else {r[0] for r in rows}


def streams(compose: Compose, service: str) -> bool:
    """Whether the node's WAL receiver is streaming (a standby that waits for WAL it cannot get is not)."""
    rows = try_sql(compose, service, "SELECT status = 'streaming' FROM pg_stat_wal_receiver", admin=True)
    return bool(rows and rows[0][0])


def repmgr_upstreams(compose: Compose, service: str) -> dict[str, str]:
    """node name -> upstream name, from `repmgr cluster show`."""
    out: dict[str, str] = {}
    for line in compose.repmgr(service, "cluster", "show").splitlines():
        cells = [c.strip() for c in line.split("|")]
        if len(cells) > 4 and cells[0].isdigit():
            out[cells[1]] = cells[4]
    return out


def flight_record(compose: Compose, node: str) -> FailoverRecord | None:
    """The promoted node's record once writes came back (paths as the image has them)."""
    found = {}
    for name in (healing.FAILOVER, healing.RELEASED, healing.REJOINED):
        text = compose.exec(node, "cat", str(paths.RUN / name), check=False)
        found[name] = json.loads(text) if text.strip() else {}
    record = FailoverRecord.from_json(found[healing.FAILOVER])
    if record is not None and "at" in found[healing.RELEASED]:
        record = record.with_writable(float(found[healing.RELEASED]["at"]))
    if record is not None and "at" in found[healing.REJOINED]:
        record = record.with_rejoined(float(found[healing.REJOINED]["at"]))
    return record if record is not None and record.total is not None else None
