"""TLS=1: the node issues its own certificate from the mounted cluster CA at every start (root, in
the entrypoint, before supervisord starts anything that serves or connects), and again before it
expires (programs/tls_keeper.py)."""

import secrets
import socket
import tempfile
import time
from pathlib import Path

from postdock_supervisor import files, paths, proc
from postdock_supervisor.config import Settings
from postdock_supervisor.errors import ActionError
from postdock_supervisor.render.tls import certificate_extensions


def own_addresses(name: str) -> list[str]:
    """The addresses this container answers on: its name's, and loopback."""
    try:
        found = {info[4][0] for info in socket.getaddrinfo(name, None)}
    except OSError:
        found = set()
    return sorted(str(a) for a in found | {"127.0.0.1", "::1"})


def install_ca(ca_dir: Path) -> None:
    """The CA certificate where every program of the container reads it."""
    files.write_atomic(paths.TLS_CA, (ca_dir / "ca.crt").read_text(encoding="ascii"), 0o644)


def own_names(settings: Settings) -> list[str]:
    """Every name a client may verify this node by: its network and node names, TLS_NAMES, its host name."""
    pg = settings.postgres
    names = [pg.network_name, pg.node_name] if pg is not None else []
    return [*names, *settings.common.tls_names, socket.gethostname(), "localhost"]


def issue_own(settings: Settings) -> None:
    """This node's certificate, for its names and addresses, valid TLS_CERT_DAYS from now."""
    ca_dir = Path(settings.common.tls_dir)
    issue(ca_dir, settings.common.tls_cert_validity_s, own_names(settings), own_addresses(socket.gethostname()))


def issue(ca_dir: Path, validity_s: int, names: list[str], addresses: list[str]) -> None:
    """A fresh key and a certificate for `names` and `addresses`, signed by the cluster CA; the key is
    postgres's alone (postgres and pgpool refuse a key others can read)."""
    install_ca(ca_dir)
    # -not_after (OpenSSL 3.4, the image has it) only for validities shorter than a day (tests of renewal).
    days, part = divmod(validity_s, 86_400)
    not_after = time.strftime("%Y%m%d%H%M%SZ", time.gmtime(time.time() + validity_s))
    until = ["-days", str(days)] if not part else ["-not_after", not_after]
    with tempfile.TemporaryDirectory(prefix="postdock-tls-") as tmp:
        work = Path(tmp)
        (work / "ext.cnf").write_text(certificate_extensions(names, addresses), encoding="ascii")
        steps = [
            ["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", str(work / "server.key"), "-subj", f"/CN={names[0]}", "-out", str(work / "server.csr")],
            ["openssl", "x509", "-req", "-in", str(work / "server.csr"), "-CA", str(ca_dir / "ca.crt"),
             "-CAkey", str(ca_dir / "ca.key"), "-set_serial", "0x" + secrets.token_hex(16), *until,
             "-sha256", "-extfile", str(work / "ext.cnf"), "-out", str(work / "server.crt")],
        ]  # fmt: skip
        for argv in steps:
            done = proc.run(argv, timeout=30, quiet=True)
            if not done.ok:
                last = (done.output.strip().splitlines() or [f"exit {done.returncode}"])[-1]
                raise ActionError(f"openssl {argv[1]} failed ({last})")
        files.write_atomic(
            paths.TLS_KEY, (work / "server.key").read_text(encoding="ascii"), 0o600, "postgres", "postgres"
        )
        files.write_atomic(paths.TLS_CERT, (work / "server.crt").read_text(encoding="ascii"), 0o644)
