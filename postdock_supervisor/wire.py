"""HTTP exchanges with the agents, bounded as a whole.

urllib's timeout bounds each read, so a peer dripping one byte a second held a 2 s request for many
seconds, and with it the program that asked (role_check's listener, bootstrap, health). Here the
timeout is a deadline for the whole exchange, and an answer larger than `limit` is refused. The
agents answer HTTP/1.0 and close, so the answer ends at the end of the stream."""

import socket
import time

MAX_ANSWER = 1 << 20


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
    with socket.create_connection((host, port), timeout=left()) as sock:
        sock.settimeout(left())
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
