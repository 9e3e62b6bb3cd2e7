"""A probe of a server that stops answering after the connect (a frozen container) ends at its
deadline instead of waiting for the thaw. The server here speaks just enough of the protocol to let
libpq in, then swallows the query, as a paused postgres does."""

import socket
import struct
import threading
import time
from collections.abc import Iterator

import psycopg
import pytest

from postdock_supervisor import db

SSL_REQUEST, GSS_REQUEST = 80877103, 80877104


def _serve_then_stall(listener: socket.socket, stop: threading.Event) -> None:
    conn, _ = listener.accept()
    with conn:
        while True:
            length = struct.unpack("!i", conn.recv(4))[0]
            body = conn.recv(length - 4)
            code = struct.unpack("!i", body[:4])[0]
            if code in (SSL_REQUEST, GSS_REQUEST):
                conn.sendall(b"N")  # no encryption: the plain startup message follows
                continue
            break
        version = b"server_version\x0017.0\x00"
        conn.sendall(
            b"R" + struct.pack("!ii", 8, 0)  # AuthenticationOk
            + b"S" + struct.pack("!i", 4 + len(version)) + version
            + b"Z" + struct.pack("!i", 5) + b"I"  # ReadyForQuery
        )  # fmt: skip
        stop.wait(30)  # the query is received and never answered


@pytest.fixture
def stalling_server() -> Iterator[int]:
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()
    thread = threading.Thread(target=_serve_then_stall, args=(listener, stop), daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    listener.close()


def test_a_query_to_a_server_that_stopped_answering_raises_at_the_deadline(stalling_server: int) -> None:
    began = time.monotonic()
    conn = db.connect(host="127.0.0.1", port=stalling_server, password="x", deadline=1.0)
    with conn, pytest.raises(psycopg.OperationalError):
        conn.execute("SELECT 1")
    assert time.monotonic() - began < 10  # bounded; without the deadline it waits the server's 30 s


def test_closing_a_connection_ends_its_deadline_timer(stalling_server: int) -> None:
    conn = db.connect(host="127.0.0.1", port=stalling_server, password="x", deadline=30.0)
    timer = getattr(conn, "_timer", None)
    assert isinstance(timer, threading.Timer) and timer.is_alive()
    conn.close()
    timer.join(timeout=5)  # only the cancel can end it this soon
    assert not timer.is_alive()
