"""HTTP_TLS: the agent's and the exporter's server over real TLS on loopback, with a cluster CA and a
node certificate made by the example's scripts (the host's openssl standing in for the image's), and
the one client (wire.exchange) that every postdock program uses."""

import contextlib
import shutil
import socket
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from postdock_supervisor import httpserve, wire
from postdock_supervisor.programs import agent
from tests.builders import loopback_settings, running_primary
from tests.unit.test_agent import Steps
from tests.unit.test_tls import make_ca, node_certificate


class Hello(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        body = b"tls" if isinstance(self.connection, ssl.SSLSocket) else b"plain"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def pki(tmp_path: Path) -> tuple[Path, Path]:
    """(the cluster CA's folder, this node's folder with tls.crt and tls.key for localhost)."""
    ca = tmp_path / "ca"
    make_ca(ca, tmp_path)
    node = tmp_path / "node"
    node_certificate(ca, node, tmp_path, "localhost")
    return ca, node


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """wire's TLS state restored after the test (use_tls is per process)."""
    monkeypatch.setattr(wire._Tls, "ca_file", "")
    monkeypatch.setattr(wire._Tls, "required", False)
    monkeypatch.setattr(wire._Tls, "_contexts", {})
    yield


@contextlib.contextmanager
def serving(tls: httpserve.ServerTls | None) -> Iterator[int]:
    """A BoundedServer on a free loopback port, for the block."""
    server = httpserve.BoundedServer(("127.0.0.1", 0), Hello, tls)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def get(port: int) -> bytes:
    status, body, _ = wire.exchange("127.0.0.1", port, "GET", "/", timeout=5)
    assert status == 200
    return body


def test_with_http_tls_1_a_server_speaks_tls_to_tls_clients_and_plain_to_the_others(
    pki: tuple[Path, Path], client: None
) -> None:
    ca, node = pki
    with serving(httpserve.ServerTls(node / "tls.crt", node / "tls.key", required=False)) as port:
        assert get(port) == b"plain"  # a client of an older release, a plain scraper
        wire.use_tls(str(ca / "ca.crt"), required=False)
        assert get(port) == b"tls"


def test_required_tls_refuses_plain_clients_and_a_client_requiring_it_never_falls_back(
    pki: tuple[Path, Path], client: None
) -> None:
    ca, node = pki
    tls = httpserve.ServerTls(node / "tls.crt", node / "tls.key", required=True)
    with serving(tls) as port, serving(None) as plain_port:
        with pytest.raises(wire.WireError, match="did not answer HTTP"):
            get(port)  # closed unanswered
        wire.use_tls(str(ca / "ca.crt"), required=False)
        assert get(port) == b"tls"
        assert get(plain_port) == b"plain"  # an older node: asked again without TLS
        wire.use_tls(str(ca / "ca.crt"), required=True)
        with pytest.raises(wire.WireError, match="did not complete a TLS handshake"):
            get(plain_port)


def test_a_certificate_of_another_authority_is_refused_and_never_a_reason_to_fall_back(
    pki: tuple[Path, Path], client: None, tmp_path: Path
) -> None:
    _, node = pki
    other = tmp_path / "other-ca"
    make_ca(other, tmp_path)
    with serving(httpserve.ServerTls(node / "tls.crt", node / "tls.key", required=False)) as port:
        wire.use_tls(str(other / "ca.crt"), required=False)
        with pytest.raises(ssl.SSLCertVerificationError):
            get(port)


def test_a_renewed_certificate_is_served_to_the_next_connection_without_a_restart(
    pki: tuple[Path, Path], client: None, tmp_path: Path
) -> None:
    ca, node = pki
    served = tmp_path / "served"
    shutil.copytree(node, served)
    with serving(httpserve.ServerTls(served / "tls.crt", served / "tls.key", required=True)) as port:
        before = ssl_der(port)
        renewed = tmp_path / "renewed"
        node_certificate(ca, renewed, tmp_path, "localhost")
        for name in ("tls.key", "tls.crt"):
            shutil.copy(renewed / name, served / name)
        after = ssl_der(port)
        assert after != before and after == ssl.PEM_cert_to_DER_cert((renewed / "tls.crt").read_text())


def ssl_der(port: int) -> bytes:
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw, context.wrap_socket(raw) as sock:
        der = sock.getpeercert(binary_form=True)
    assert der is not None
    return der


def test_the_agent_with_http_tls_required_answers_signed_status_over_tls_only(
    pki: tuple[Path, Path], client: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    ca, node = pki
    monkeypatch.setattr(httpserve.paths, "TLS_CERT", node / "tls.crt")
    monkeypatch.setattr(httpserve.paths, "TLS_KEY", node / "tls.key")
    monkeypatch.setattr(agent, "local_report", lambda settings: running_primary("127.0.0.1", 1))
    settings = loopback_settings(TLS="1", HTTP_TLS="required")
    server = agent.make_server(settings, Steps(), 0)  # type: ignore[arg-type]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    try:
        from postdock_supervisor.observe import peers

        assert peers.fetch_report("127.0.0.1", port, timeout=5, keys=("repl-secret",)) is None  # plain: closed
        wire.use_tls(str(ca / "ca.crt"), required=True)
        assert peers.fetch_report("127.0.0.1", port, timeout=5, keys=("repl-secret",)) == running_primary(
            "127.0.0.1", 1
        )
    finally:
        server.shutdown()
        server.server_close()
