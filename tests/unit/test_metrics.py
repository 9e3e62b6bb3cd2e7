"""Metric families built from snapshots, as Prometheus text: names, labels, HELP and TYPE."""

from collections.abc import Iterator

from prometheus_client import generate_latest
from prometheus_client.core import CollectorRegistry, Metric

from postdock_supervisor.metrics import pgpool_metrics, postgres_metrics, program_metrics
from postdock_supervisor.model.pool import PoolNode
from postdock_supervisor.observe.metrics import ReplicationSnapshot, Slot, StandbyLag


def exposition(metrics: list[Metric]) -> str:
    class Fixed:
        def collect(self) -> Iterator[Metric]:
            yield from metrics

    registry = CollectorRegistry(auto_describe=False)
    registry.register(Fixed())  # type: ignore[arg-type]
    return generate_latest(registry).decode()


def test_primary_reports_role_lag_sync_and_slots() -> None:
    snap = ReplicationSnapshot(
        up=True,
        in_recovery=False,
        timeline=3,
        standbys=(
            StandbyLag("node2", "streaming", "quorum", 0, 0.0),
            StandbyLag("node4", "catchup", "async", 4096, 1.5),
        ),
        slots=(Slot("repmgr_slot_2", True, 0), Slot("repmgr_slot_4", False, 16777216)),
    )
    text = exposition(postgres_metrics("node1", snap))
    assert "# TYPE postdock_postgres_role gauge" in text
    assert 'postdock_postgres_role{node="node1",role="primary"} 1.0' in text
    assert 'postdock_postgres_role{node="node1",role="standby"} 0.0' in text
    assert 'postdock_postgres_timeline{node="node1"} 3.0' in text
    assert 'postdock_replication_lag_bytes{node="node1",standby="node4",state="catchup"} 4096.0' in text
    assert 'postdock_replication_lag_seconds{node="node1",standby="node4"} 1.5' in text
    assert 'postdock_replication_synchronous{node="node1",standby="node2",sync_state="quorum"} 1.0' in text
    assert 'postdock_replication_synchronous{node="node1",standby="node4",sync_state="async"} 0.0' in text
    assert (
        'postdock_replication_slot_retained_bytes{active="false",node="node1",slot="repmgr_slot_4"} 1.6777216e+07'
        in text
    )


def test_a_node_whose_postgres_is_down_reports_only_that() -> None:
    text = exposition(postgres_metrics("node2", ReplicationSnapshot(up=False)))
    assert 'postdock_postgres_up{node="node2"} 0.0' in text
    assert "postdock_postgres_role" not in text


def test_program_states_and_phase() -> None:
    text = exposition(program_metrics("node1", {"postgres": "RUNNING", "repmgrd": "BACKOFF"}, "done"))
    assert 'postdock_program_running{node="node1",program="repmgrd",state="BACKOFF"} 0.0' in text
    assert 'postdock_node_phase{node="node1",phase="done"} 1.0' in text


def test_pgpool_backends() -> None:
    nodes = (
        PoolNode(0, "pgmaster", "down", "standby", 10),
        PoolNode(1, "pgslave1", "up", "primary", 5),
        PoolNode(2, "", "unused", "standby"),
    )
    text = exposition(pgpool_metrics(nodes, {0: 1.0, 1: 2.0}))
    assert "postdock_pgpool_up 1.0" in text
    assert 'postdock_pgpool_backend_up{backend="0",host="pgmaster"} 0.0' in text
    assert 'postdock_pgpool_backend_primary{backend="1",host="pgslave1"} 1.0' in text
    assert 'postdock_pgpool_backend_weight{backend="1",host="pgslave1"} 2.0' in text
    assert "# TYPE postdock_pgpool_backend_selects_total counter" in text
    assert 'postdock_pgpool_backend_selects_total{backend="0",host="pgmaster"} 10.0' in text
    assert 'backend="2"' not in text
    assert exposition(pgpool_metrics(None, {})).strip().endswith("postdock_pgpool_up 0.0")


def test_a_standby_reports_whether_its_wal_receiver_streams() -> None:
    streaming = exposition(postgres_metrics("node2", ReplicationSnapshot(True, True, 1, receiver_streaming=True)))
    assert 'postdock_wal_receiver_streaming{node="node2"} 1.0' in streaming
    stalled = exposition(postgres_metrics("node2", ReplicationSnapshot(True, True, 1, receiver_streaming=False)))
    assert 'postdock_wal_receiver_streaming{node="node2"} 0.0' in stalled
    primary = exposition(postgres_metrics("node1", ReplicationSnapshot(True, False, 1)))
    assert 'postdock_wal_receiver_streaming{node="node1"}' not in primary
