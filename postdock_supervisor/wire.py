"""HTTP exchanges with the agents, bounded as a whole.

urllib's timeout bounds each read, so a peer dripping one byte a second held a 2 s request for many
seconds, and with it the program that asked (role_check's listener, bootstrap, health). Here the
timeout is a deadline for the whole exchange, and an answer larger than `limit` is refused. The
agents answer HTTP/1.0 and close, so the answer ends at the end of the stream.

With HTTP_TLS on (use_tls, set once per process from the settings) every exchange is TLS, the peer's
certificate verified by the cluster CA and, except on loopback, by the name asked for. With `1` a
peer that answers the handshake with no TLS at all (an older node) is asked again in plain HTTP; a
certificate that fails verification is never a reason to fall back."""

import contextlib
import ipaddress
import socket
import ssl
import time
from collections.abc import Callable

MAX_ANSWER = 1 << 20
_LOOPBACK = ("localhost",)


class _Tls:
    ca_file = ""
    required = False
    _contexts: dict[bool, ssl.SSLContext] = {}

    @classmethod
    def context(cls, check_hostname: bool) -> ssl.SSLContext:
        if check_hostname not in cls._contexts:  # made at first use: the CA file is installed at start
            context = ssl.create_default_context(cafile=cls.ca_file)
            context.check_hostname = check_hostname
            cls._contexts[check_hostname] = context
        return cls._contexts[check_hostname]


def use_tls(ca_file: str, required: bool) -> None:
    """Every later exchange of this process uses TLS, verified by ca_file (HTTP_TLS=1 or required)."""
    _Tls.ca_file, _Tls.required, _Tls._contexts = ca_file, required, {}


def tls_in_use() -> bool:
    return bool(_Tls.ca_file)


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host in _LOOPBACK


class WireError(OSError):
    """No complete answer within the deadline, or an answer that is not HTTP."""


def exchange(
    host: str,
    port: int,
    method: str,
    path: str,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    timeout: float = 2.0,
    limit: int = MAX_ANSWER,
) -> tuple[int, bytes, dict[str, str]]:
    """(status, body, headers with lower-case names) of one request; WireError when the whole of it
    takes longer than timeout."""
    deadline = time.monotonic() + timeout

    def left() -> float:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise WireError(f"no complete answer from {host} within {timeout:g}s")
        return remaining

    lines = [f"{method} {path} HTTP/1.0", f"Host: {host}", f"Content-Length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    request = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
    if tls_in_use():
        try:
            return _send(host, port, request, left, timeout, limit, tls=True)
        except ssl.SSLCertVerificationError:
            raise
        except ssl.SSLError as exc:
            if _Tls.required:
                raise WireError(f"{host} did not complete a TLS handshake: {exc}") from None
            # An agent of an older release answers a TLS handshake in plain HTTP (an error page).
    return _send(host, port, request, left, timeout, limit, tls=False)


def _send(host: str, port: int, request: bytes, left: Callable[[], float], timeout: float, limit: int,
          tls: bool) -> tuple[int, bytes, dict[str, str]]:  # fmt: skip
    with socket.create_connection((host, port), timeout=left()) as raw:
        raw.settimeout(left())
        # wrap_socket takes the descriptor over (and does the handshake): the wrapped one is closed here.
        sock = _Tls.context(not _is_loopback(host)).wrap_socket(raw, server_hostname=host) if tls else raw
        with contextlib.closing(sock):
            sock.sendall(request)
            received = bytearray()
            while True:
                sock.settimeout(left())
                try:
                    chunk = sock.recv(65536)
                except TimeoutError:
                    raise WireError(f"no complete answer from {host} within {timeout:g}s") from None
                if not chunk:
                    break
                received += chunk
                if len(received) > limit:
                    raise WireError(f"answer from {host} larger than {limit} bytes")
    return _parse(bytes(received), host)


def _parse(raw: bytes, host: str) -> tuple[int, bytes, dict[str, str]]:
    head, separator, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status_line = lines[0].split()
    if not separator or len(status_line) < 2 or not status_line[0].startswith("HTTP/") or not status_line[1].isdigit():
        raise WireError(f"{host} did not answer HTTP")
    headers = {}
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        if colon:
            headers[name.strip().lower()] = value.strip()
    return int(status_line[1]), body, headers
