"""TLS=1: what clients add to a connection string, and the extensions of a node's certificate.
Pure text from settings and names."""

from collections.abc import Iterable

from postdock_supervisor import paths


def client_options(tls: bool) -> dict[str, str]:
    """libpq options of a connection to another node: verify the server's certificate and name."""
    return {"sslmode": "verify-full", "sslrootcert": str(paths.TLS_CA)} if tls else {}


def client_environment(tls: bool) -> dict[str, str]:
    """The same as libpq's defaults for every program of the container (pg_receivewal, pg_basebackup,
    the keepers' probes): a connection string that says nothing about TLS still verifies."""
    return {"PGSSLMODE": "verify-full", "PGSSLROOTCERT": str(paths.TLS_CA)} if tls else {}


def certificate_extensions(names: Iterable[str], addresses: Iterable[str]) -> str:
    """An openssl -extfile: a server and client certificate for these DNS names and IP addresses,
    which is no CA."""
    alt = [f"DNS:{n}" for n in dict.fromkeys(names) if n] + [f"IP:{a}" for a in dict.fromkeys(addresses) if a]
    return (
        "basicConstraints = critical, CA:FALSE\n"
        "keyUsage = critical, digitalSignature, keyEncipherment\n"
        "extendedKeyUsage = serverAuth, clientAuth\n"
        f"subjectAltName = {', '.join(alt)}\n"
    )
