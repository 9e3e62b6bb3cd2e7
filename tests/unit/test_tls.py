"""TLS=1: the settings, the rendered files, and a certificate really issued by the example's CA
script and the node's own issuing step (the host's openssl stands in for the image's)."""

import os
import socket
import ssl
import subprocess
import threading
from pathlib import Path

import pytest

from postdock_supervisor import files, paths
from postdock_supervisor.act import tls
from postdock_supervisor.config import load_settings
from postdock_supervisor.errors import ActionError, ConfigError
from postdock_supervisor.observe.peers import SSL_REQUEST, postgres_answers
from postdock_supervisor.programs.entrypoint import child_environment
from postdock_supervisor.render.pgpool import pgpool_conf, pool_hba_conf
from postdock_supervisor.render.postgres import pg_hba_conf, postgresql_conf
from postdock_supervisor.render.repmgr import repmgr_conf
from tests.builders import BASE_ENV, make_settings
from tests.unit.test_pgpool import pool_settings

ROOT = Path(__file__).resolve().parents[2]


def stand_in_docker(tmp_path: Path) -> dict[str, str]:
    """An environment whose `docker run -v SRC:DST ... IMAGE ARGS` runs the host's openssl on ARGS with
    each DST/ replaced by SRC/ (the scripts run the image's openssl on mounted folders)."""
    fake = tmp_path / "bin" / "docker"
    fake.parent.mkdir(exist_ok=True)
    fake.write_text(
        "#!/bin/bash\n"
        "maps=()\n"
        "for ((i = 1; i <= $#; i++)); do\n"
        '  case "${!i}" in -v) j=$((i + 1)); maps+=("${!j%:ro}");; postdock/*) start=$((i + 1)); break;; esac\n'
        "done\n"
        'args=("${@:start}")\n'
        'for m in "${maps[@]}"; do args=("${args[@]//"${m#*:}/"/"${m%%:*}/"}"); done\n'
        'exec openssl "${args[@]}"\n'
    )
    fake.chmod(0o755)
    env = {**os.environ, "PATH": f"{fake.parent}:{os.environ['PATH']}"}
    env.pop("POSTDOCK_IMAGE", None)
    return env


def make_ca(directory: Path, tmp_path: Path) -> None:
    """scripts/cluster-tls.sh with a stand-in docker that runs the host's openssl on the mounted folder."""
    script = str(ROOT / "scripts" / "cluster-tls.sh")
    out = subprocess.run(
        ["bash", script, str(directory)], env=stand_in_docker(tmp_path), capture_output=True, text=True, check=True
    )
    assert out.stdout.startswith("cluster TLS authority: made in")


def node_certificate(ca: Path, out: Path, tmp_path: Path, *names: str) -> None:
    """scripts/node-tls.sh: a certificate for `names` from the CA in `ca`, into `out`."""
    script = str(ROOT / "scripts" / "node-tls.sh")
    done = subprocess.run(
        ["bash", script, str(ca), str(out), *names], env=stand_in_docker(tmp_path), capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert (
        done.stdout
        == f"node certificate for {' '.join(names)}: {out} (valid 90 days; mount it at the node's TLS_DIR)\n"
    )


def openssl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["openssl", *args], capture_output=True, text=True, check=False)


def node_with_ca(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """A cluster CA made by the example's script, and this node's TLS files redirected to `node/`
    (written without an owner: this machine has no postgres account)."""
    ca = tmp_path / "ca"
    make_ca(ca, tmp_path)
    node = tmp_path / "node"
    monkeypatch.setattr(paths, "TLS_CERT", node / "server.crt")
    monkeypatch.setattr(paths, "TLS_KEY", node / "server.key")
    monkeypatch.setattr(paths, "TLS_CA", node / "ca.crt")
    real_write = files.write_atomic
    monkeypatch.setattr(files, "write_atomic", lambda path, content, mode=0o644, owner=None, group=None: real_write(
        path, content, mode))  # fmt: skip
    return ca, node


def test_a_node_certificate_from_the_cluster_ca_verifies_for_its_names_and_addresses_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ca, node = node_with_ca(tmp_path, monkeypatch)
    assert "CA:TRUE" in openssl("x509", "-in", str(ca / "ca.crt"), "-noout", "-ext", "basicConstraints").stdout
    tls.issue(ca, 90 * 86_400, ["pgmaster", "node1", "localhost"], ["10.0.0.5", "127.0.0.1"])
    crt = str(node / "server.crt")
    assert openssl("verify", "-CAfile", str(node / "ca.crt"), crt).returncode == 0
    for name in ("pgmaster", "node1", "localhost"):
        assert "does match" in openssl("x509", "-in", crt, "-noout", "-checkhost", name).stdout
    assert "does NOT match" in openssl("x509", "-in", crt, "-noout", "-checkhost", "pgslave1").stdout
    assert "does match" in openssl("x509", "-in", crt, "-noout", "-checkip", "10.0.0.5").stdout
    assert "CA:FALSE" in openssl("x509", "-in", crt, "-noout", "-ext", "basicConstraints").stdout
    assert (node / "server.key").stat().st_mode & 0o777 == 0o600
    # A key that is not the CA's signs nothing: the start stops on one line (entrypoint, exit 2).
    other = tmp_path / "other"
    make_ca(other, tmp_path)
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    (mixed / "ca.crt").write_text((ca / "ca.crt").read_text())
    (mixed / "ca.key").write_text((other / "ca.key").read_text())
    with pytest.raises(ActionError, match=r"^openssl x509 failed \("):
        tls.issue(mixed, 90 * 86_400, ["pgmaster"], [])
    # The script reuses what it made: every container of the cluster must trust the same CA.
    before = (ca / "ca.crt").read_text()
    make_ca_again = subprocess.run(
        ["bash", str(ROOT / "scripts" / "cluster-tls.sh"), str(ca)], capture_output=True, text=True, check=True
    )
    assert make_ca_again.stdout == f"cluster TLS authority: reusing {ca}\n" and (ca / "ca.crt").read_text() == before


def test_with_tls_postgres_and_pgpool_serve_it_and_refuse_tcp_clients_without_it() -> None:
    on = make_settings(TLS="1")
    conf = postgresql_conf(on)
    assert "ssl = on" in conf and f"ssl_key_file = '{paths.TLS_KEY}'" in conf
    hba = pg_hba_conf(on).splitlines()
    network = [line for line in hba if line.startswith("host") and "127.0.0.1" not in line and "::1/128" not in line]
    assert network and all(line.startswith("hostssl ") for line in network)
    assert "sslmode=verify-full" in repmgr_conf(on) and f"sslrootcert={paths.TLS_CA}" in repmgr_conf(on)
    off = make_settings()
    assert "ssl = on" not in postgresql_conf(off) and "hostssl" not in pg_hba_conf(off)
    assert "sslmode" not in repmgr_conf(off)
    pool = pool_settings(TLS="1")
    assert "ssl = on" in pgpool_conf(pool) and f"ssl_cert = '{paths.TLS_CERT}'" in pgpool_conf(pool)
    assert [line.split()[0] for line in pool_hba_conf(pool).splitlines()[1:]] == ["local", "hostssl", "hostssl"]
    # Every program's libpq verifies the nodes too, whatever its connection string says.
    child = child_environment({"ROLE": "postgres"}, on.role, tls=True)
    assert child["PGSSLMODE"] == "verify-full" and child["PGSSLROOTCERT"] == str(paths.TLS_CA)


def test_tls_without_a_mounted_authority_is_one_line_naming_the_variable(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings({**BASE_ENV, "TLS": "1", "TLS_DIR": str(tmp_path)}, "h", read_ssh_key=True)
    assert raised.value.problems == [
        f"TLS_DIR: found no readable '{tmp_path}/{name}' (No such file or directory); "
        f"expected the cluster CA's {name} (TLS=1)"
        for name in ("ca.crt", "ca.key")
    ]
    (tmp_path / "ca.crt").write_text("not a certificate")
    (tmp_path / "ca.key").write_text("-----BEGIN PRIVATE KEY-----\n")
    with pytest.raises(ConfigError) as raised:
        load_settings({**BASE_ENV, "TLS": "1", "TLS_DIR": str(tmp_path)}, "h", read_ssh_key=True)
    assert raised.value.problems == [
        f"TLS_DIR: found '{tmp_path}/ca.crt' without a PEM block; expected the cluster CA's ca.crt (TLS=1)"
    ]


def test_the_liveness_probe_of_a_tls_server_completes_the_handshake_and_closes_cleanly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """postgres with ssl=on answers the probe's SSLRequest with 'S'; dropping the connection then
    makes it log 'could not accept SSL connection' at every probe (twice a second per node, from the
    pool keeper), a clean TLS close makes it log nothing."""
    ca, node = node_with_ca(tmp_path, monkeypatch)
    tls.issue(ca, 86_400, ["localhost"], ["127.0.0.1"])
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(node / "server.crt", node / "server.key")
    seen: dict[str, object] = {}

    def serve(listener: socket.socket) -> None:
        conn, _ = listener.accept()
        conn.settimeout(5)
        seen["request"] = conn.recv(8) == SSL_REQUEST
        conn.sendall(b"S")
        with server.wrap_socket(conn, server_side=True) as secured:
            try:
                seen["after"] = secured.recv(1)  # b"": the client's close_notify, a clean end
            except (ssl.SSLError, OSError) as exc:
                seen["after"] = exc

    with socket.create_server(("127.0.0.1", 0)) as listener:
        thread = threading.Thread(target=serve, args=(listener,), daemon=True)
        thread.start()
        assert postgres_answers("127.0.0.1", listener.getsockname()[1], timeout=2)
        thread.join(timeout=5)
    assert seen == {"request": True, "after": b""}
