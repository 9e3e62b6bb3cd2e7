"""Talking to a pgpool container from the host: sessions, SHOW pool_nodes, its health."""

import subprocess
from dataclasses import dataclass
from typing import Any

import psycopg

from tests.e2e.harness import Compose, connect

CHECK = {"user": "pool_check", "password": "pool_check_pass", "dbname": "postgres"}


def pool(compose: Compose, **overrides: Any) -> psycopg.Connection[Any]:
    return connect(compose.ip("pgpool"), **overrides)


def pool_nodes(compose: Compose) -> dict[str, dict[str, str]]:
    """SHOW pool_nodes by host name (gaps in the numbering are left out)."""
    with pool(compose, **CHECK) as conn:
        cur = conn.execute("SHOW pool_nodes")
        names = [c.name for c in cur.description or ()]
        rows = [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
    return {r["hostname"]: r for r in rows if r["status"] != "unused"}


def status_of(compose: Compose) -> dict[str, str]:
    try:
        return {host: row["status"] for host, row in pool_nodes(compose).items()}
    except psycopg.Error:
        return {}


@dataclass(frozen=True)
class Attached:
    """Whether every host is up in pgpool; true or false, a failed wait shows each host's status."""

    status: dict[str, str]
    hosts: tuple[str, ...]

    def __bool__(self) -> bool:
        return all(self.status.get(h) == "up" for h in self.hosts)


def attached(compose: Compose, hosts: list[str]) -> Attached:
    return Attached(status_of(compose), tuple(hosts))


def health(compose: Compose) -> str:
    """'<exit code>: <reason>' of `postdock health` in the pgpool container."""
    done = subprocess.run(
        ["docker", "exec", compose.container("pgpool"), "postdock", "health"], capture_output=True, text=True
    )
    return f"{done.returncode}: {done.stdout.strip()}"


def read_servers(compose: Compose, count: int) -> list[str]:
    """The server of each of `count` fresh sessions' first SELECT (pgpool balances per session)."""
    servers = []
    address = compose.ip("pgpool")  # looked up once: each lookup runs docker-compose
    for _ in range(count):
        with connect(address) as conn:
            row = conn.execute("SELECT host(inet_server_addr())").fetchone()
            assert row is not None
            servers.append(str(row[0]))
    return servers


def pcp_status(compose: Compose) -> dict[str, str]:
    """pgpool's status of every backend through PCP, which answers while a backend is frozen (a SQL
    session through pgpool connects to every backend and would wait for it)."""
    done = subprocess.run(
        ["docker", "exec", "-u", "postgres", "-e", "PCPPASSFILE=/var/lib/postgresql/.pcppass",
         compose.container("pgpool"), "pcp_node_info", "-h", "localhost", "-U", "pcp_user", "-w", "-a"],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    # host port status weight status_name ...
    return {f[0]: f[4] for line in done.stdout.splitlines() if len(f := line.split()) >= 5}
