"""TLS=1 on real containers (the example's setting): the three first-level nodes, pgpool and barman
with the cluster's authority made by scripts/cluster-tls.sh. Replication, repmgr, pgpool and barman
use TLS and verify the nodes; clients from the network without TLS are refused.

The scenarios run in order on one cluster."""

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from postdock_supervisor import paths
from postdock_supervisor.config.modes import BARMAN_RECEIVER
from tests.e2e.conftest import started
from tests.e2e.harness import Compose, connect, sql, streaming_children, wait_until
from tests.e2e.pool import health, pool

FIRST_LEVEL = ["pgmaster", "pgslave1", "pgslave3"]
SERVICES = [*FIRST_LEVEL, "pgpool", "backup"]
START = 240


@pytest.fixture(scope="module")
def cluster() -> Iterator[Compose]:
    compose = Compose(env={"POSTDOCK_TLS": "1"})
    ready = lambda: wait_until(  # noqa: E731
        "both standbys streaming from pgmaster",
        lambda: {"node2", "node4"} <= (streaming_children(compose, "pgmaster") or set()),
        timeout=START,
    )
    with started(compose, SERVICES, ready):
        yield compose


def test_replication_runs_over_tls_and_nodes_verify_each_other_by_name(cluster: Compose) -> None:
    senders = sql(
        cluster, "pgmaster", "SELECT s.ssl FROM pg_stat_replication r JOIN pg_stat_ssl s USING (pid)", admin=True
    )
    assert senders and all(ssl for (ssl,) in senders), senders
    verified = f"host=pgmaster sslmode=verify-full sslrootcert={paths.TLS_CA} user=replication_user dbname=postgres"
    query = "SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()"
    answer = cluster.exec("pgslave3", "psql", "-XAtq", "-d", verified, "-c", query, user="postgres")
    assert answer.strip().startswith("t|TLSv1."), answer


def test_a_network_client_without_tls_is_refused_by_postgres(cluster: Compose) -> None:
    with pytest.raises(psycopg.OperationalError, match="no encryption"):
        connect(cluster.ip("pgmaster"), sslmode="disable").close()


def test_pgpool_takes_only_tls_clients_and_speaks_tls_to_the_nodes(cluster: Compose) -> None:
    """A client that asks for no TLS is refused; one that checks pgpool's certificate against the
    cluster CA gets in; pgpool's sessions on the primary are encrypted."""
    wait_until("pgpool healthy", lambda: health(cluster).startswith("0:"), timeout=START)
    with pytest.raises(psycopg.OperationalError):
        pool(cluster, sslmode="disable").close()
    authority = str(Path(cluster.env["POSTDOCK_TLS_DIR"]) / "ca.crt")
    with pool(cluster, sslmode="verify-ca", sslrootcert=authority) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
        assert conn.pgconn.ssl_in_use
    query = "SELECT s.ssl FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid) WHERE a.client_addr = %s::inet"
    sessions = sql(cluster, "pgmaster", query, (cluster.ip("pgpool"),), admin=True)
    assert sessions and all(ssl for (ssl,) in sessions), sessions
    # The pool keeper probes every backend twice a second: a probe that dropped the TLS handshake
    # would make postgres log it each time.
    for node in FIRST_LEVEL:
        assert "could not accept SSL connection" not in cluster.logs(node), node


def test_barmans_wal_stream_arrives_encrypted(cluster: Compose) -> None:
    # A base backup barman takes meanwhile is a second replication connection of its own.
    query = (
        "SELECT r.application_name, s.ssl FROM pg_stat_replication r JOIN pg_stat_ssl s USING (pid) "
        "WHERE r.application_name LIKE 'barman%'"
    )
    streams = wait_until(
        "barman's WAL receiver streaming",
        lambda: (rows := sql(cluster, "pgmaster", query, admin=True)) and BARMAN_RECEIVER in dict(rows) and rows,
        timeout=START,
    )
    assert all(ssl for _, ssl in streams), streams
