"""TLS=1: the node issues its own certificate from the mounted cluster CA at every start (root, in
the entrypoint, before supervisord starts anything that serves or connects)."""

import secrets
import socket
import tempfile
from pathlib import Path

from postdock_supervisor import files, paths, proc
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


def issue(ca_dir: Path, days: int, names: list[str], addresses: list[str]) -> None:
    """A fresh key and a certificate for `names` and `addresses`, signed by the cluster CA; the key is
    postgres's alone (postgres and pgpool refuse a key others can read)."""
    install_ca(ca_dir)
    with tempfile.TemporaryDirectory(prefix="postdock-tls-") as tmp:
        work = Path(tmp)
        (work / "ext.cnf").write_text(certificate_extensions(names, addresses), encoding="ascii")
        steps = [
            ["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", str(work / "server.key"), "-subj", f"/CN={names[0]}", "-out", str(work / "server.csr")],
            ["openssl", "x509", "-req", "-in", str(work / "server.csr"), "-CA", str(ca_dir / "ca.crt"),
             "-CAkey", str(ca_dir / "ca.key"), "-set_serial", "0x" + secrets.token_hex(16), "-days", str(days),
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
