"""TLS=1: the node serves a certificate of the mounted cluster CA. Either it issues its own at every
start (root, in the entrypoint, before supervisord starts anything that serves or connects) and again
before it expires, or the user gave one for it (tls.crt and tls.key in TLS_DIR): that one is checked
and installed at start and again whenever it changes (programs/tls_keeper.py), and no CA key is in
the container."""

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


def given_pair(ca_dir: Path) -> tuple[Path, Path] | None:
    """The certificate and key mounted for this node, when the user gave them."""
    cert, key = ca_dir / paths.GIVEN_CERT_NAME, ca_dir / paths.GIVEN_KEY_NAME
    return (cert, key) if cert.exists() or key.exists() else None


def required_names(settings: Settings) -> list[str]:
    """The names others verify this node by: a database node's network name (partners, pgpool and
    barman connect by it), pgpool's TLS_NAMES (its clients')."""
    if settings.postgres is not None:
        return [settings.postgres.network_name]
    return list(settings.common.tls_names)


def _openssl(*argv: str) -> tuple[bool, str]:
    done = proc.run(["openssl", *argv], timeout=30, quiet=True)
    return done.ok, done.output.strip()


def check_given(ca: Path, cert: Path, key: Path, names: list[str]) -> None:
    """ActionError, one line saying what was found and what was expected, unless `cert` is signed by
    the cluster CA, valid now, for a server, for every one of `names`, and `key` is its key."""
    chain = ["-CAfile", str(ca), "-untrusted", str(cert), "-purpose", "sslserver"]  # cert-manager adds the chain
    ok, output = _openssl("verify", *chain, str(cert))
    if not ok:
        why = (output.splitlines() or ["openssl verify failed"])[-1]
        raise ActionError(f"found {str(cert)!r} that the cluster CA does not verify ({why}); expected a "
                          f"server certificate signed by {ca.name}, valid now")  # fmt: skip
    for name in names:
        if not _openssl("verify", *chain, "-verify_hostname", name, str(cert))[0]:
            raise ActionError(f"found {str(cert)!r} not valid for {name!r}; expected a certificate for every "
                              f"name this node is reached by ({', '.join(names)})")  # fmt: skip
    ok_cert, public = _openssl("x509", "-noout", "-pubkey", "-in", str(cert))
    ok_key, derived = _openssl("pkey", "-pubout", "-passin", "pass:", "-in", str(key))  # never a prompt
    if not (ok_cert and ok_key and public == derived):
        raise ActionError(f"found {str(key)!r} that is not the key of {cert.name}; expected the unencrypted "
                          f"private key of that certificate")  # fmt: skip


def install_given(settings: Settings) -> None:
    """The certificate the user gave for this node, checked, where postgres and pgpool read theirs."""
    ca_dir = Path(settings.common.tls_dir)
    pair = given_pair(ca_dir)
    if pair is None:
        raise ActionError(f"found no {paths.GIVEN_CERT_NAME} in {ca_dir}")
    cert, key = pair
    check_given(ca_dir / "ca.crt", cert, key, required_names(settings))
    install_ca(ca_dir)
    files.write_atomic(paths.TLS_KEY, key.read_text(encoding="ascii"), 0o600, "postgres", "postgres")
    files.write_atomic(paths.TLS_CERT, cert.read_text(encoding="ascii"), 0o644)


def provide_own(settings: Settings) -> None:
    """The node's certificate at start: the one given for it, or one it issues now."""
    if given_pair(Path(settings.common.tls_dir)) is not None:
        install_given(settings)
        return
    try:
        issue_own(settings)
    except ActionError as exc:
        raise ActionError(f"{exc}; expected a CA certificate and its key that sign") from None


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
