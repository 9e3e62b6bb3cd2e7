"""TLS=1 on real containers (the example's setting): the three first-level nodes, pgpool and barman
with the cluster's authority made by scripts/cluster-tls.sh. Replication, repmgr, pgpool and barman
use TLS and verify the nodes; clients from the network without TLS are refused. The nodes' certificates
are valid two minutes (TLS_CERT_DAYS=2m), so each node renews its own every 80 s meanwhile; pgslave3
instead serves a certificate given for it (scripts/node-tls.sh), and its container holds no CA key.
HTTP_TLS=required: the agents and the exporters speak TLS only, and every postdock client uses it.

The scenarios run in order on one cluster."""

import json
import re
import socket
import ssl
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import yaml

from postdock_supervisor import paths
from postdock_supervisor.config.modes import BARMAN_RECEIVER
from postdock_supervisor.observe.peers import SSL_REQUEST
from tests.e2e.conftest import started
from tests.e2e.harness import IMAGE, ROOT, Compose, connect, sh, sql, streaming_children, wait_until
from tests.e2e.pool import health, pool

FIRST_LEVEL = ["pgmaster", "pgslave1", "pgslave3"]
SERVICES = [*FIRST_LEVEL, "pgpool", "backup"]
START = 240


GIVEN = "pgslave3"  # serves the certificate issued for it, mounted without the CA key


def issue_given(compose: Compose) -> Path:
    """scripts/node-tls.sh: pgslave3's certificate from the cluster CA, in the folder it mounts."""
    given = Path(compose.file).parent / "tls-pgslave3"
    script = str(ROOT / "scripts" / "node-tls.sh")
    sh("bash", script, compose.env["POSTDOCK_TLS_DIR"], str(given), GIVEN, "node4", env={"POSTDOCK_IMAGE": IMAGE})
    return given


def mount_given(compose: Compose, given: Path) -> None:
    document = yaml.safe_load(compose.file.read_text())
    volumes = document["services"][GIVEN]["volumes"]
    [authority] = [i for i, volume in enumerate(volumes) if volume.endswith(":/etc/postdock/tls:ro")]
    volumes[authority] = f"{given}:/etc/postdock/tls:ro"
    compose.file.write_text(yaml.safe_dump(document, sort_keys=False))


@pytest.fixture(scope="module")
def cluster() -> Iterator[Compose]:
    compose = Compose(env={"POSTDOCK_TLS": "1", "POSTDOCK_TLS_CERT_DAYS": "2m", "POSTDOCK_HTTP_TLS": "required"})
    mount_given(compose, issue_given(compose))
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


def https(cluster: Compose, service: str, port: int, path: str) -> tuple[int, str]:
    """GET over TLS, the service's certificate verified by the cluster CA and its name."""
    context = ssl.create_default_context(cafile=str(Path(cluster.env["POSTDOCK_TLS_DIR"]) / "ca.crt"))
    raw = socket.create_connection((cluster.ip(service), port), timeout=5)
    with context.wrap_socket(raw, server_hostname=service) as secured:
        secured.sendall(f"GET {path} HTTP/1.0\r\nHost: {service}\r\n\r\n".encode())
        answer = b"".join(iter(lambda: secured.recv(65536), b""))
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split()[1]), body.decode()


def plain_answer(ip: str, port: int, path: str) -> bytes:
    """What a plain HTTP client gets: the raw answer, empty when the server closed without one."""
    with socket.create_connection((ip, port), timeout=5) as raw:
        raw.sendall(f"GET {path} HTTP/1.0\r\n\r\n".encode())
        try:
            return b"".join(iter(lambda: raw.recv(65536), b""))
        except ConnectionResetError:
            return b""


def scrape(cluster: Compose, service: str) -> str:
    status, body = https(cluster, service, 8080, "/metrics")
    assert status == 200
    return body


def agent_certificate(ip: str, authority: str) -> bytes:
    """The certificate the agent on 8008 serves now (DER), verified against the cluster CA."""
    context = ssl.create_default_context(cafile=authority)
    context.check_hostname = False  # by address from the host: the chain is what is checked here
    with socket.create_connection((ip, 8008), timeout=5) as raw, context.wrap_socket(raw) as secured:
        der = secured.getpeercert(binary_form=True)
    assert der is not None
    return der


def test_the_agents_and_exporters_answer_only_over_tls_verified_by_the_cluster_ca(cluster: Compose) -> None:
    status, body = https(cluster, "pgmaster", 8008, "/status")
    assert status == 200 and '"host": "pgmaster"' in body, body
    assert plain_answer(cluster.ip("pgmaster"), 8008, "/status") == b""  # closed unanswered
    for service in ("pgmaster", "pgpool"):
        assert "postdock_" in scrape(cluster, service)
        assert plain_answer(cluster.ip(service), 8080, "/metrics") == b""
    # barman has no certificate: its exporter stays plain.
    assert b"barman_" in plain_answer(cluster.ip("backup"), 8080, "/metrics")
    # pgpool's container reads every node's agent over TLS (a plain request would be closed unanswered).
    rows = json.loads(cluster.exec("pgpool", "postdock", "status", "--json"))
    assert {r["host"]: r["state"] for r in rows if r["host"] in FIRST_LEVEL} == {
        "pgmaster": "running", "pgslave1": "streaming", "pgslave3": "streaming"}, rows  # fmt: skip


def served_certificate(ip: str, authority: str) -> bytes:
    """The certificate postgres serves now (DER), verified against the cluster CA."""
    context = ssl.create_default_context(cafile=authority)
    context.check_hostname = False  # by address from the host: the chain is what is checked here
    with socket.create_connection((ip, 5432), timeout=5) as raw:
        raw.sendall(SSL_REQUEST)
        assert raw.recv(1) == b"S"
        secured = context.wrap_socket(raw)
        der = secured.getpeercert(binary_form=True)
        secured.unwrap()  # close_notify: postgres logs nothing for a client that ends cleanly
    assert der is not None
    return der


def test_a_node_given_its_certificate_serves_it_holds_no_ca_key_and_installs_a_renewed_one(
    cluster: Compose,
) -> None:
    """pgslave3 streams (the fixture waited for it) with the certificate issued for it, verified by
    name from a partner; renewing the mounted pair gets the new one served without a failed session."""
    authority = str(Path(cluster.env["POSTDOCK_TLS_DIR"]) / "ca.crt")
    given = Path(cluster.file).parent / "tls-pgslave3"

    def mounted() -> bytes:
        return ssl.PEM_cert_to_DER_cert((given / "tls.crt").read_text())

    ip = cluster.ip(GIVEN)
    assert served_certificate(ip, authority) == mounted()
    assert cluster.exec(GIVEN, "ls", "/etc/postdock/tls").split() == ["ca.crt", "tls.crt", "tls.key"]
    verified = f"host={GIVEN} sslmode=verify-full sslrootcert={paths.TLS_CA} user=replication_user dbname=postgres"
    answer = cluster.exec("pgmaster", "psql", "-XAtq", "-d", verified, "-c", "SELECT pg_is_in_recovery()",
                          user="postgres")  # fmt: skip
    assert answer.strip() == "t", answer
    issue_given(cluster)
    failures: list[str] = []
    sessions = 0
    deadline = time.monotonic() + 60  # the keeper looks every 5 s
    while served_certificate(ip, authority) != mounted():
        assert time.monotonic() < deadline, "pgslave3 did not serve its renewed certificate within 60 s"
        try:
            with connect(ip, sslmode="verify-ca", sslrootcert=authority) as conn:  # by address: the chain
                conn.execute("SELECT 1")
            sessions += 1
        except psycopg.Error as exc:
            failures.append(str(exc).strip())
        time.sleep(0.2)
    assert failures == [] and sessions > 0
    assert "a new certificate is mounted in TLS_DIR: installing it" in cluster.logs(GIVEN)
    assert "node4" in (streaming_children(cluster, "pgmaster") or set())  # its WAL receiver streams on


def test_a_renewed_certificate_is_served_without_one_failed_connection(cluster: Compose) -> None:
    """Each node reissues its two-minute certificate once 80 s of it have passed and postgres reloads
    it: new sessions get the new one, verified by name and address, and none fails meanwhile."""
    authority = str(Path(cluster.env["POSTDOCK_TLS_DIR"]) / "ca.crt")
    ip = cluster.ip("pgmaster")
    first = served_certificate(ip, authority)
    failures: list[str] = []
    sessions = 0
    deadline = time.monotonic() + 150  # renewed 80 s after it was issued, seen by a 5 s tick
    while served_certificate(ip, authority) == first:
        assert time.monotonic() < deadline, "pgmaster served the same certificate for 150 s"
        try:
            with connect(ip, sslmode="verify-full", sslrootcert=authority) as conn:
                conn.execute("SELECT 1")
            sessions += 1
        except psycopg.Error as exc:
            failures.append(str(exc).strip())
        time.sleep(0.2)
    with connect(ip, sslmode="verify-full", sslrootcert=authority) as conn:
        assert conn.execute("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").fetchone() == (True,)
    assert failures == [] and sessions > 0
    assert "): renewing it" in cluster.logs("pgmaster")
    # The agent serves the renewed certificate to its next connection, without a restart.
    assert agent_certificate(ip, authority) == served_certificate(ip, authority)
    # The WAL senders started before the renewal stream on.
    assert {"node2", "node4"} <= (streaming_children(cluster, "pgmaster") or set())
    # The exporter shows the new certificate's end (the old one had under 40 s left when renewed).
    expiry = wait_until("the renewed certificate's end in the metrics", lambda: (
        (found := re.search(r'^postdock_tls_certificate_expiry_timestamp_seconds\{node="node1"\} (\S+)$',
                            scrape(cluster, "pgmaster"), re.M))
        and float(found.group(1)) > time.time() + 60 and float(found.group(1))), timeout=30)  # fmt: skip
    assert expiry <= time.time() + 120
