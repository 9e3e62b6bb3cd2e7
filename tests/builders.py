"""Small builders for settings, snapshots and reports used across unit tests."""

from typing import Any

from postdock_supervisor.config import PostgresSettings, Settings, load_settings
from postdock_supervisor.model.node import DataState, NodeReport, PostgresState

BASE_ENV = {
    "ROLE": "postgres",
    "NODE_NAME": "node1",
    "NODE_ID": "1",
    "CLUSTER_NODE_NETWORK_NAME": "pgmaster",
    "PARTNER_NODES": "pgmaster,pgslave1,pgslave3",
    "REPLICATION_PRIMARY_HOST": "pgmaster",
    "POSTGRES_PASSWORD": "app-secret",
    "REPLICATION_PASSWORD": "repl-secret",
}


def make_settings(**overrides: str) -> Settings:
    env = {**BASE_ENV, **overrides}
    return load_settings({k: v for k, v in env.items() if v is not None}, "container-host")


def loopback_settings(**overrides: str) -> Settings:
    """A node whose name is 127.0.0.1: its agent, served on loopback, accepts requests signed for it."""
    loop = {"CLUSTER_NODE_NETWORK_NAME": "127.0.0.1", "REPLICATION_PRIMARY_HOST": "127.0.0.1"}
    return make_settings(**{**loop, "PARTNER_NODES": "127.0.0.1,pgslave1,pgslave3", **overrides})


def make_pg(**overrides: str) -> PostgresSettings:
    pg = make_settings(**overrides).postgres
    assert pg is not None
    return pg


PRIMARY_DATA = DataState(
    initialized=True, cluster_state="shut down", timeline=1, checkpoint_lsn=0x5000000, system_identifier="42"
)
KILLED_PRIMARY_DATA = DataState(
    initialized=True, cluster_state="in production", timeline=1, checkpoint_lsn=0x4000000, system_identifier="42"
)
STANDBY_DATA = DataState(
    initialized=True,
    cluster_state="shut down in recovery",
    timeline=1,
    checkpoint_lsn=0x4000000,
    system_identifier="42",
    standby_signal=True,
)
EMPTY = DataState()


def report(
    host: str, node_id: int, *, priority: int = 100, phase: str = "done", data: DataState = EMPTY, **postgres: Any
) -> NodeReport:
    return NodeReport(
        name=f"node{node_id}",
        host=host,
        node_id=node_id,
        priority=priority,
        phase=phase,
        data=data,
        postgres=PostgresState(**postgres),
    )


def running_primary(host: str, node_id: int, timeline: int = 1, lsn: int = 0x6000000, **kw: Any) -> NodeReport:
    return report(
        host,
        node_id,
        data=PRIMARY_DATA,
        running=True,
        in_recovery=False,
        timeline=timeline,
        lsn=lsn,
        system_identifier="42",
        **kw,
    )


def running_standby(
    host: str, node_id: int, upstream: str, streaming: bool = True, timeline: int = 1, **kw: Any
) -> NodeReport:
    return report(
        host,
        node_id,
        data=STANDBY_DATA,
        running=True,
        in_recovery=True,
        timeline=timeline,
        lsn=0x5000000,
        upstream=upstream,
        streaming=streaming,
        system_identifier="42",
        **kw,
    )


def stopped(host: str, node_id: int, data: DataState, priority: int = 100, phase: str = "waiting") -> NodeReport:
    return report(host, node_id, priority=priority, phase=phase, data=data)
